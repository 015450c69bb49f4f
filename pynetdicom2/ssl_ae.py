"""DICOM over TLS (PS3.15 B.1, the Basic TLS Secure Transport Connection Profile).

TLS is a parameter of every AE (``ssl_context=``, and ``client_ssl_context=`` for the
requests of an AE that also serves; see :mod:`pynetdicom2.applicationentity`); the transport
is :mod:`pynetdicom2.tls`. This module builds the contexts (:func:`server_context`,
:func:`client_context`) and keeps the original's classes, each a thin subclass that passes
its ``context`` on as that parameter:

* :class:`SSLDULProvider` connects, then wraps the socket with an :class:`ssl.SSLContext`;
* :class:`SSLAssociationRequester` and :class:`SSLClientAE` request associations over it;
* :class:`SSLApplicationEntity` listens: every accepted connection is wrapped
  (``server_side=True``); the TLS handshake runs on the association's own thread, bounded by
  the AE's ``artim_timeout``, so a client that never completes it holds up nobody else. The
  acceptor's DUL is a plain :class:`~pynetdicom2.dulprovider.DULServiceProvider` running over
  the wrapped socket.

Who may connect is decided by the contexts: a server context whose ``verify_mode`` is
``ssl.CERT_REQUIRED`` (``server_context(..., cafile=...)``) verifies client certificates
against its CA file, and a connection without a valid certificate fails in the handshake,
before any DICOM PDU is read.

Usage (the same with ``AE(..., ssl_context=server_ctx)`` and
``ClientAE(..., ssl_context=client_ctx)``)::

    import ssl
    from pynetdicom2 import ssl_ae, sopclass as sc, uids

    server_ctx = ssl_ae.server_context('server.pem', 'server.key', cafile='ca.pem')
    with ssl_ae.SSLApplicationEntity(server_ctx, 'TLSSCP', 2762).add_scp(sc.verification_scp):
        client_ctx = ssl_ae.client_context('ca.pem', 'client.pem', 'client.key')
        client = ssl_ae.SSLClientAE(client_ctx, 'TLSSCU').add_scu(sc.verification_scu)
        remote = {'aet': 'TLSSCP', 'address': 'localhost', 'port': 2762}
        with client.request_association(remote) as assoc:
            assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)

The client wraps with ``context.wrap_socket(raw)``; with a context whose ``check_hostname``
is True, the called address is passed as ``server_hostname`` (the host name is checked
against the server certificate), so connect by the name the certificate carries.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

from pynetdicom2 import tls
from pynetdicom2.applicationentity import AE, ClientAE
from pynetdicom2.asceprovider_requester import AssociationRequester
from pynetdicom2.asceprovider_types import AEBaseProto, RemoteAEConfig
from pynetdicom2.exceptions import NetDICOMError

__all__ = [
    'SSLApplicationEntity',
    'SSLAssociationRequester',
    'SSLClientAE',
    'SSLDULProvider',
    'client_context',
    'server_context',
]

#: TLS failures are reported here (the same logger as :data:`pynetdicom2.tls.logger`).
logger = tls.logger


def server_context(
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str] | None = None,
    cafile: str | os.PathLike[str] | None = None,
    require_client_cert: bool | None = None,
) -> ssl.SSLContext:
    """A server context (TLS 1.2 or later) presenting ``certfile`` / ``keyfile``.

    With ``cafile``, client certificates are verified against it and, unless
    ``require_client_cert`` is False, required (``ssl.CERT_REQUIRED``); with
    ``require_client_cert=False`` a client may present none (``ssl.CERT_OPTIONAL``).

    Example (PEM files of your own)::

        ctx = server_context('server.pem', 'server.key', cafile='ca.pem')
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if cafile is not None:
        context.load_verify_locations(cafile)
        context.verify_mode = (
            ssl.CERT_OPTIONAL if require_client_cert is False else ssl.CERT_REQUIRED
        )
    elif require_client_cert:
        raise NetDICOMError('require_client_cert needs cafile: the CA that signs the clients')
    return context


def client_context(
    cafile: str | os.PathLike[str] | None = None,
    certfile: str | os.PathLike[str] | None = None,
    keyfile: str | os.PathLike[str] | None = None,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A client context (TLS 1.2 or later) verifying servers against ``cafile``.

    Without ``cafile`` the system's default CAs are trusted. ``certfile`` / ``keyfile``: our
    certificate, for servers that verify clients. ``check_hostname`` (default True) checks
    the called address against the server certificate.

    Example (PEM files of your own)::

        ctx = client_context('ca.pem', 'client.pem', 'client.key')

    Without files, the system's CAs verify the server:

    >>> ctx = client_context()
    >>> ctx.minimum_version, ctx.verify_mode, ctx.check_hostname
    (<TLSVersion.TLSv1_2: 771>, <VerifyMode.CERT_REQUIRED: 2>, True)
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.load_verify_locations(cafile)
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile)
    context.check_hostname = check_hostname
    return context


# --- requesting -------------------------------------------------------------------------------


class SSLDULProvider(tls.TLSDULProvider):
    """A DUL service provider whose transport is TLS over TCP (requestor side).

    The original's name for :class:`pynetdicom2.tls.TLSDULProvider`: ``context`` wraps the
    connection; the other arguments are those of
    :class:`~pynetdicom2.dulprovider.DULServiceProvider` (``connect_timeout`` bounds the TCP
    connection and then the TLS handshake).

    Usage (``ctx`` from :func:`client_context`)::

        dul = SSLDULProvider(ctx, set(), None, called_address=('pacs', 2762))
    """


class SSLAssociationRequester(AssociationRequester):
    """An association requester over TLS: ``context`` wraps its connection.

    ``AssociationRequester(local_ae, max_pdu_length, remote_ae, ssl_context=context)``
    under the original's signature.

    Usage (normally created by :meth:`SSLClientAE.request_association`)::

        remote = {'aet': 'PACS', 'address': 'pacs.example.org', 'port': 2762}
        assoc = SSLAssociationRequester(client_context('ca.pem'), client, 65536, remote)
        assoc.request()
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        local_ae: AEBaseProto,
        max_pdu_length: int,
        remote_ae: RemoteAEConfig | Mapping[str, Any],
    ) -> None:
        super().__init__(local_ae, max_pdu_length, remote_ae, ssl_context=context)

    @property
    def context(self) -> ssl.SSLContext:
        """The TLS context (``ssl_context``)."""
        return self.ssl_context  # type: ignore[return-value]


class _SSLRequesting:
    """Mixin: the original's names for the contexts, and requests made by the original's
    requester class (:class:`SSLAssociationRequester`)."""

    ssl_context: ssl.SSLContext | None
    client_ssl_context: ssl.SSLContext | None
    max_pdu_length: int

    @property
    def context(self) -> ssl.SSLContext | None:
        """The TLS context of the AE's own role (``ssl_context``)."""
        return self.ssl_context

    @context.setter
    def context(self, value: ssl.SSLContext | None) -> None:
        self.ssl_context = value

    @property
    def client_context(self) -> ssl.SSLContext | None:
        """The TLS context of the AE's requests, if it differs (``client_ssl_context``)."""
        return self.client_ssl_context

    @client_context.setter
    def client_context(self, value: ssl.SSLContext | None) -> None:
        self.client_ssl_context = value

    def _create_association(
        self, remote_ae: RemoteAEConfig | Mapping[str, Any]
    ) -> AssociationRequester:
        context = tls.requesting_context(self)
        if context is None:
            raise NetDICOMError(f'{getattr(self, "ae_title", "")!r} has no TLS context')
        return SSLAssociationRequester(
            context, self, self.max_pdu_length, remote_ae  # type: ignore[arg-type]
        )


class SSLClientAE(_SSLRequesting, ClientAE):
    """A client AE (SCU only) whose associations run over TLS.

    ``ClientAE(ae_title, supported_ts, max_pdu_length, ssl_context=context)`` under the
    original's signature.

    Example::

        client = SSLClientAE(client_context('ca.pem'), 'TLSSCU').add_scu(sc.verification_scu)
        remote = {'aet': 'TLSSCP', 'address': 'pacs.example.org', 'port': 2762}
        with client.request_association(remote) as assoc:
            assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        ae_title: str,
        supported_ts: Iterable[str] | None = None,
        max_pdu_length: int = 65536,
    ) -> None:
        super().__init__(ae_title, supported_ts, max_pdu_length, ssl_context=context)


# --- accepting ----------------------------------------------------------------------------------


class SSLApplicationEntity(_SSLRequesting, AE):
    """An AE that accepts (and requests) associations over TLS.

    ``AE(ae_title, port, ..., ssl_context=context, client_ssl_context=client_context)`` under
    the original's signature. ``context`` is a server context (:func:`server_context`,
    ``ssl.PROTOCOL_TLS_SERVER``). With ``context.verify_mode = ssl.CERT_REQUIRED`` only
    clients with a certificate signed by a CA the context trusts get as far as the
    A-ASSOCIATE-RQ. The associations this AE requests itself (C-MOVE sub-operations, storage
    commitment results) run over TLS with ``client_context`` (:func:`client_context`);
    without one, a request raises :class:`~pynetdicom2.exceptions.AssociationError` saying
    so, unless ``context`` can also act as a client.

    Example::

        srv = SSLApplicationEntity(server_context('s.pem', 's.key'), 'TLSSCP', 2762)
        with srv.add_scp(sc.verification_scp):
            ...                          # serving in a background thread
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        ae_title: str,
        port: int,
        supported_ts: Iterable[str] | None = None,
        max_pdu_length: int = 65536,
        bind_and_activate: bool = True,
        *,
        host: str = '',
        client_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(
            ae_title, port, supported_ts, max_pdu_length, bind_and_activate, host=host,
            ssl_context=context, client_ssl_context=client_context,
        )
