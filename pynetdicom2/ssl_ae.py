"""DICOM over TLS (PS3.15 B.1, the Basic TLS Secure Transport Connection Profile).

The association machinery is the same as over plain TCP; only the transport differs:

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

Usage::

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

import contextlib
import logging
import os
import socket
import socketserver
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

from . import applicationentity, pdu
from .asceprovider import AEBaseProto, AssociationRequester, RemoteAEConfig
from .dulprovider import DULServiceProvider
from .exceptions import AssociationAbortedError, AssociationError, NetDICOMError
from .fsm import GetFileCB

__all__ = [
    'SSLApplicationEntity',
    'SSLAssociationRequester',
    'SSLClientAE',
    'SSLDULProvider',
    'client_context',
    'server_context',
]

logger = logging.getLogger('pynetdicom2.ssl')

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


class SSLDULProvider(DULServiceProvider):
    """A DUL service provider whose transport is TLS over TCP (requestor side).

    ``context`` is the :class:`ssl.SSLContext` that wraps the connection; the other arguments
    are those of :class:`~pynetdicom2.dulprovider.DULServiceProvider`: ``connect_timeout``
    (default :data:`~pynetdicom2.dulprovider.SOCKET_TIMEOUT`) bounds the TCP connection and
    then the TLS handshake.

    Usage (``ctx`` from :func:`client_context`)::

        dul = SSLDULProvider(ctx, set(), None, called_address=('pacs', 2762))
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        store_in_file: Any,
        get_file_cb: GetFileCB | None,
        dul_socket: socket.socket | None = None,
        max_pdu_length: int = 65536,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.context = context
        super().__init__(store_in_file, get_file_cb, dul_socket, max_pdu_length, *args, **kwargs)

    def create_socket(self) -> socket.socket:
        """Connect to the called address and complete the TLS handshake (client side).

        Raises :class:`NetDICOMError` when no address is set; an :class:`OSError` (including
        :class:`ssl.SSLError`) closes the raw socket and is re-raised.
        """
        raw = super().create_socket()  # connect_timeout and TCP_NODELAY, as without TLS
        try:
            if getattr(self.context, 'check_hostname', False) is True:
                host = self.called_presentation_address[0]  # type: ignore[index]
                return self.context.wrap_socket(raw, server_hostname=host)
            return self.context.wrap_socket(raw)
        except OSError:
            raw.close()
            raise

    def _end_of_stream(self, error: BaseException | None) -> None:
        # With TLS 1.3 the server checks our certificate after our side of the handshake has
        # finished: its refusal arrives as an SSLError (or a reset) on the first read. Kept as
        # the transport error, the requester reports it ("cannot connect ...: certificate
        # required") rather than a bare A-P-ABORT.
        if isinstance(error, OSError) and self.transport_error is None:
            self.transport_error = error
        super()._end_of_stream(error)


class SSLAssociationRequester(AssociationRequester):
    """An association requester over TLS: ``context`` wraps its connection.

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
        self.context = context
        super().__init__(local_ae, max_pdu_length, remote_ae)

    def _create_dul(
        self, local_ae: AEBaseProto, dul_socket: socket.socket | None, max_pdu_length: int
    ) -> DULServiceProvider:
        return SSLDULProvider(
            self.context,
            frozenset(local_ae.store_in_file),
            self._get_file,
            dul_socket,
            max_pdu_length,
            local_ae.artim_timeout,
            **self._dul_options(),
        )

    def request(self) -> pdu.AAssociateAcPDU:
        """Request the association over TLS (see ``AssociationRequester.request``).

        A connection that ends before the answer without saying why (the server closed it
        after checking our certificate under TLS 1.3) is reported as such.
        """
        try:
            return super().request()
        except AssociationAbortedError as exc:
            if exc.__cause__ is not None or exc.source != 2 or exc.reason_diag != 0:
                raise
            remote = self.remote_ae
            raise AssociationAbortedError(
                exc.source,
                exc.reason_diag,
                f'the TLS connection to {remote.address}:{remote.port} ended before the '
                'A-ASSOCIATE-AC: the server may have refused our client certificate (none '
                'presented, or one it does not trust)',
            ) from exc


class _SSLRequesting:
    """Mixin: associations requested by this AE run over TLS with its requesting context:
    ``self.client_context`` when set, else ``self.context``."""

    context: ssl.SSLContext
    client_context: ssl.SSLContext | None = None
    max_pdu_length: int

    def _create_association(
        self, remote_ae: RemoteAEConfig | Mapping[str, Any]
    ) -> AssociationRequester:
        context = self.client_context or self.context
        if getattr(context, 'protocol', None) == ssl.PROTOCOL_TLS_SERVER:
            raise AssociationError(
                f'AE {getattr(self, "ae_title", "")!r} has only a server TLS context and cannot '
                'request associations (C-MOVE sub-operations, storage commitment results): '
                'pass client_context=ssl_ae.client_context(...) to SSLApplicationEntity'
            )
        return SSLAssociationRequester(
            context, self, self.max_pdu_length, remote_ae  # type: ignore[arg-type]
        )


class SSLClientAE(_SSLRequesting, applicationentity.ClientAE):
    """A client AE (SCU only) whose associations run over TLS.

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
        self.context = context
        super().__init__(ae_title, supported_ts, max_pdu_length)


# --- accepting ----------------------------------------------------------------------------------


class _SSLCPServer(socketserver.TCPServer):
    """A TCP server whose accepted sockets are wrapped with ``context`` (``server_side=True``).

    The handshake is not done in :meth:`get_request` (that would let one slow client stall
    the accept loop); the wrapped socket completes it on first use, or explicitly in
    :class:`_SSLThreadingTCPServer`.
    """

    def __init__(self, context: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        self.context = context
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        try:
            wrapped = self.context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        except OSError:
            sock.close()
            raise
        return wrapped, address


class _SSLThreadingTCPServer(_SSLCPServer, applicationentity._ThreadingTCPServer):
    """The AE's threading server over TLS: handshake on the association's thread, bounded.

    A failed handshake (no or an untrusted client certificate, not TLS at all, a timeout) is
    logged and closes the connection. :meth:`close_associations` also interrupts handshakes
    in progress.
    """

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        self._handshaking: set[socket.socket] = set()
        super().__init__(context, *args, **kwargs)

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            if self._closing:
                return
            self._handshaking.add(request)
        try:
            request.settimeout(self.local_ae.artim_timeout)
            request.do_handshake()
        except (OSError, ValueError) as exc:
            logger.warning('TLS handshake with %s failed: %s', client_address, exc)
            return
        finally:
            with self._lock:
                self._handshaking.discard(request)
        super().finish_request(request, client_address)

    def close_associations(self, timeout: float = applicationentity._JOIN_TIMEOUT) -> None:
        with self._lock:
            self._closing = True
            pending = list(self._handshaking)
        for sock in pending:  # wakes a thread blocked in do_handshake()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        super().close_associations(timeout)


class SSLApplicationEntity(_SSLRequesting, applicationentity.AE):
    """An AE that accepts (and requests) associations over TLS.

    ``context`` is a server context (:func:`server_context`, ``ssl.PROTOCOL_TLS_SERVER``).
    With ``context.verify_mode = ssl.CERT_REQUIRED`` only clients with a certificate signed by
    a CA the context trusts get as far as the A-ASSOCIATE-RQ. The associations this AE
    requests itself (C-MOVE sub-operations, storage commitment results) run over TLS with
    ``client_context`` (:func:`client_context`); without one, a request raises
    :class:`~pynetdicom2.exceptions.AssociationError` saying so, unless ``context`` can also
    act as a client.

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
        self.context = context
        self.client_context = client_context
        super().__init__(
            ae_title, port, supported_ts, max_pdu_length, bind_and_activate, host=host
        )

    def _create_server(
        self, port: int, bind_and_activate: bool, max_pdu_length: int
    ) -> applicationentity._ThreadingTCPServer:
        return _SSLThreadingTCPServer(
            self.context, (self.host, port), self, max_pdu_length, bind_and_activate
        )

