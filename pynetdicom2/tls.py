"""DICOM over TLS (PS3.15 B.1, the Basic TLS Secure Transport Connection Profile): the transport.

The association machinery is the same as over plain TCP; only the socket differs. Every AE
takes ``ssl_context`` (and, for one that also requests associations, ``client_ssl_context``;
see :mod:`pynetdicom2.applicationentity`); this module holds what they use:

* :class:`TLSDULProvider`: the requester's DUL, which connects (``connect_timeout``,
  ``TCP_NODELAY``, as without TLS) and then wraps the socket, with ``server_hostname`` when
  the context checks host names;
* :func:`requesting_context`: the context an AE's requests run over, or an error saying why
  it has none usable;
* :func:`wrap_accepted` and :func:`server_handshake`: the acceptor wraps each accepted socket
  (``server_side=True``) and completes the handshake on the association's own thread,
  bounded by the AE's ``artim_timeout``; a failure is logged on the ``pynetdicom2.ssl``
  logger and the server carries on.

Contexts are built by :func:`pynetdicom2.ssl_ae.server_context` and
:func:`pynetdicom2.ssl_ae.client_context`; tests: ``tests/test_ssl_ae.py``,
``tests/test_tls_parameter.py`` and ``tests/interop/test_dcmtk_tls.py``.
"""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Any

from pynetdicom2.dulprovider import DULServiceProvider
from pynetdicom2.exceptions import AssociationError
from pynetdicom2.fsm import GetFileCB
from pynetdicom2.transport import plain_host

__all__ = ['TLSDULProvider', 'logger', 'requesting_context', 'server_handshake', 'wrap_accepted']

#: Where TLS failures are reported (a refused handshake, a client that never completes it).
logger = logging.getLogger('pynetdicom2.ssl')


class TLSDULProvider(DULServiceProvider):
    """A DUL service provider whose transport is TLS over TCP (requestor side).

    ``context`` is the :class:`ssl.SSLContext` that wraps the connection; the other arguments
    are those of :class:`~pynetdicom2.dulprovider.DULServiceProvider`: ``connect_timeout``
    (default :data:`~pynetdicom2.dulprovider.SOCKET_TIMEOUT`) bounds the TCP connection and
    then the TLS handshake.

    Usage (``ctx`` from :func:`pynetdicom2.ssl_ae.client_context`)::

        dul = TLSDULProvider(ctx, set(), None, called_address=('pacs', 2762))
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

        Raises :class:`~pynetdicom2.exceptions.NetDICOMError` when no address is set; an
        :class:`OSError` (including :class:`ssl.SSLError`) closes the raw socket and is
        re-raised.
        """
        raw = super().create_socket()  # connect_timeout and TCP_NODELAY, as without TLS
        try:
            if getattr(self.context, 'check_hostname', False) is True:
                host = plain_host(self.called_presentation_address[0])  # type: ignore[index]
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


def requesting_context(ae: Any) -> ssl.SSLContext | None:
    """The context the associations ``ae`` requests run over: ``ae.client_ssl_context`` when
    set, else ``ae.ssl_context``; None for plain TCP.

    Raises :class:`~pynetdicom2.exceptions.AssociationError` when that is a server-only
    context (``ssl.PROTOCOL_TLS_SERVER``), which cannot request anything (C-MOVE
    sub-operations, storage commitment results).

    >>> class Plain:
    ...     ssl_context = client_ssl_context = None
    >>> requesting_context(Plain()) is None
    True
    """
    context = getattr(ae, 'client_ssl_context', None) or getattr(ae, 'ssl_context', None)
    if getattr(context, 'protocol', None) == ssl.PROTOCOL_TLS_SERVER:
        raise AssociationError(
            f'AE {getattr(ae, "ae_title", "")!r} has only a server TLS context and cannot '
            'request associations (C-MOVE sub-operations, storage commitment results): '
            'pass client_ssl_context=ssl_ae.client_context(...) to the AE (with '
            'SSLApplicationEntity: pass client_context=ssl_ae.client_context(...))'
        )
    return context


def wrap_accepted(context: ssl.SSLContext, sock: socket.socket) -> ssl.SSLSocket:
    """Wrap an accepted socket (``server_side=True``), the handshake left for later.

    The handshake is not done here, on the accept loop, where one slow client would stall
    the others: :func:`server_handshake` does it on the association's thread. On an error the
    raw socket is closed and the error re-raised.
    """
    try:
        return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    except OSError:
        sock.close()
        raise


def server_handshake(sock: ssl.SSLSocket, timeout: float, client_address: Any) -> bool:
    """Complete the handshake of an accepted connection within ``timeout`` seconds.

    False (logged as a warning on :data:`logger`) when it fails: no or an untrusted client
    certificate, not TLS at all, a timeout, the socket shut down by the server's quit.
    """
    try:
        sock.settimeout(timeout)
        sock.do_handshake()
    except (OSError, ValueError) as exc:
        logger.warning('TLS handshake with %s failed: %s', client_address, exc)
        return False
    return True
