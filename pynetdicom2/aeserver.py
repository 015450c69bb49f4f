"""The listening side of an AE: one named thread per incoming association, tracked and joined.

:class:`AssociationServer` accepts connections for an :class:`~pynetdicom2.applicationentity.AE`
(``ae.server``) and runs each on its own thread through :class:`RequestHandler`, which builds
the :class:`~pynetdicom2.asceprovider.AssociationAcceptor` first, so that the server can abort
it at any time. It blocks in a selector over the listening socket and a wake-up socketpair
(no polling), wraps accepted sockets for TLS when the AE has an ``ssl_context`` (PS3.15 B.1),
counts what it serves (the AE's ``maximum_associations``) and, when the AE quits, aborts the
associations still running and joins their threads, each with a bound.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import socketserver
import ssl
import threading
from typing import Any

from pynetdicom2 import tls
from pynetdicom2.asceprovider_acceptor import AssociationAcceptor
from pynetdicom2.asceprovider_types import AEBaseProto

__all__ = ['JOIN_TIMEOUT', 'AssociationServer', 'RequestHandler']

logger = logging.getLogger('pynetdicom2.applicationentity')

#: Bound, in seconds, for joining one association's thread when the AE quits.
JOIN_TIMEOUT = 10.0


class RequestHandler(socketserver.StreamRequestHandler):
    """Runs one incoming association on its connection's thread.

    The :class:`~pynetdicom2.asceprovider.AssociationAcceptor` is built before the base
    class runs :meth:`handle`, so the server can abort it at any time.
    """

    server: AssociationServer

    def __init__(
        self,
        request: Any,
        client_address: Any,
        server: Any,
        local_ae: AEBaseProto,
        max_pdu_length: int,
    ) -> None:
        self.asce = AssociationAcceptor(request, client_address, local_ae, max_pdu_length)
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        # The association's DUL thread owns the socket; no file objects over it here.
        self.server.track(self.asce)

    def handle(self) -> None:
        self.asce.handle()

    def finish(self) -> None:
        self.server.untrack(self.asce)


class AssociationServer(socketserver.ThreadingTCPServer):
    """A TCP server with one named thread per association, tracked, and no polling.

    ``serve_forever`` blocks in a selector over the listening socket and a wake-up
    socketpair, so :meth:`shutdown` returns at once. :meth:`close_associations` aborts the
    associations still running and joins their threads.

    With ``ssl_context`` every accepted socket is wrapped (``server_side=True``) and its
    handshake completed on the association's thread within the AE's ``artim_timeout``
    (:func:`pynetdicom2.tls.server_handshake`): a failure is logged and closes that
    connection only; :meth:`close_associations` also interrupts handshakes in progress.
    """

    allow_reuse_address = True
    daemon_threads = True
    #: Connections the kernel holds until accepted (socketserver's default is 5): a burst of
    #: associations (a study sent one association per image, many modalities at once) must
    #: not have connections dropped while the accepting thread waits for the interpreter.
    request_queue_size = 128

    def __init__(
        self,
        server_address: tuple[str, int],
        local_ae: AEBaseProto,
        max_pdu_length: int,
        bind_and_activate: bool = True,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.local_ae = local_ae
        self.max_pdu_length = max_pdu_length
        self.ssl_context = ssl_context
        self._handshaking: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._association_threads: set[threading.Thread] = set()
        self._associations: set[AssociationAcceptor] = set()
        self._closing = False
        self._running = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._wake_r, self._wake_w = socket.socketpair()
        self._shutdown_requested = False
        # finish_request builds the handler itself, with the AE: the class is never called.
        super().__init__(server_address, RequestHandler, bind_and_activate)  # type: ignore[arg-type]

    # -- accepting -------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept connections until :meth:`shutdown` (``poll_interval`` is not used).

        Once shut down, the server stays down (:meth:`AE.quit` closes it next).
        """
        self._stopped.clear()
        self._running.set()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while not self._shutdown_requested:
                    for key, _ in selector.select():
                        if key.fileobj is self._wake_r:
                            with contextlib.suppress(OSError):
                                self._wake_r.recv(64)
                        elif not self._shutdown_requested:
                            self._handle_request_noblock()  # type: ignore[attr-defined]
        finally:
            self._running.clear()
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait for it to return (at once if not running)."""
        self._shutdown_requested = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b'\0')
        if self._running.is_set():
            self._stopped.wait()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            return tls.wrap_accepted(self.ssl_context, sock), address
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        host, port = client_address[:2]
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f'pynetdicom2-association-{host}:{port}',
            daemon=True,
        )
        with self._lock:
            if self._closing:
                self.shutdown_request(request)
                return
            self._association_threads.add(thread)
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._association_threads.discard(threading.current_thread())

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is not None and not self._handshake(request, client_address):
            return
        RequestHandler(request, client_address, self, self.local_ae, self.max_pdu_length)

    def _handshake(self, request: Any, client_address: Any) -> bool:
        with self._lock:
            if self._closing:
                return False
            self._handshaking.add(request)
        try:
            return tls.server_handshake(request, self.local_ae.artim_timeout, client_address)
        finally:
            with self._lock:
                self._handshaking.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception('serving the association from %s failed', client_address)

    # -- tracking --------------------------------------------------------------------------

    def track(self, asce: AssociationAcceptor) -> None:
        with self._lock:
            self._associations.add(asce)
            closing = self._closing
        if closing:
            asce.kill()

    def untrack(self, asce: AssociationAcceptor) -> None:
        with self._lock:
            self._associations.discard(asce)

    def association_count(self) -> int:
        """How many associations are being served now (each counted from its connection)."""
        with self._lock:
            return len(self._associations)

    def close_associations(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Abort the associations still running and join their threads (each with a bound)."""
        with self._lock:
            self._closing = True
            associations = list(self._associations)
            threads = list(self._association_threads)
            handshaking = list(self._handshaking)
        for sock in handshaking:  # wakes a thread blocked in do_handshake()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for asce in associations:
            asce.kill()
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning('%s did not end within %s s', thread.name, timeout)

    def server_close(self) -> None:
        super().server_close()
        self._wake_r.close()
        self._wake_w.close()
