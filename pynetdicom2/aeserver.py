"""The listening side of an AE: one named thread per incoming association, tracked and joined.

:class:`AssociationServer` accepts connections for an :class:`~pynetdicom2.applicationentity.AE`
(``ae.server``) and runs each on its own thread through :class:`RequestHandler`, which builds
the :class:`~pynetdicom2.asceprovider.AssociationAcceptor` first, so that the server can abort
it at any time. It blocks in a selector over the listening socket and a wake-up socketpair
(no polling), wraps accepted sockets for TLS when the AE has an ``ssl_context`` (PS3.15 B.1),
counts what it serves and, when the AE quits, aborts the associations still running and joins
their threads, each with a bound.

Resources before authentication. A connection is *unnegotiated* from its accept until the
A-ASSOCIATE-AC is sent (the TLS handshake, waiting for the A-ASSOCIATE-RQ, checking it, and
a rejected request until the peer closes). Those are capped on their own by the AE's
``maximum_unnegotiated`` (default :data:`MAXIMUM_UNNEGOTIATED`): a connection beyond it is
closed at once, without a thread, and logged (at most one warning per
:data:`_REFUSAL_LOG_INTERVAL` seconds, saying how many). The AE's ``maximum_associations``
counts only associations whose request passed that check (:meth:`AssociationServer.admit`), so
silent sockets cannot lock real associations out. ARTIM (PS3.8 9.1.5, the AE's
``artim_timeout``) bounds how long an unnegotiated connection may stay. Failed user identity
checks are throttled per calling address by :class:`IdentityThrottle`. The listen backlog is
the AE's ``listen_backlog`` (default: the system's maximum, :data:`socket.SOMAXCONN`), so a
burst of connects is not dropped and retried by the client's TCP a second later.

IPv4 and IPv6. The AE's ``host`` chooses the socket's family (:func:`listening_family`): ``''``
(the default) listens on every IPv4 interface, as it always did; an IPv6 address (``'::1'``,
``'[::1]'``, a link-local ``'fe80::1%eth0'``) on IPv6; ``'::'`` on every interface, IPv6 and
IPv4 on one socket, where the system has dual-stack sockets (``IPV6_V6ONLY`` turned off:
Linux, macOS, Windows; on systems that keep IPv6 sockets IPv6-only, OpenBSD for one, ``'::'``
is IPv6 only, and a warning says so). An IPv4 peer of a dual-stack socket is presented as IPv4
(``('10.0.0.7', 50123)``, not ``::ffff:10.0.0.7``) to the hooks, the logs and
:class:`IdentityThrottle`; peers are named ``host:port``, an IPv6 one ``[::1]:50123``.
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import logging
import selectors
import socket
import socketserver
import ssl
import struct
import threading
import time
from typing import Any, Callable

from pynetdicom2 import tls
from pynetdicom2.asceprovider_acceptor import AssociationAcceptor
from pynetdicom2.asceprovider_types import AEBaseProto
from pynetdicom2.transport import format_address, plain_host, unmapped_address

__all__ = [
    'JOIN_TIMEOUT',
    'MAXIMUM_UNNEGOTIATED',
    'AssociationServer',
    'IdentityThrottle',
    'RequestHandler',
    'listening_family',
]

logger = logging.getLogger('pynetdicom2.applicationentity')

#: Bound, in seconds, for joining one association's thread when the AE quits.
JOIN_TIMEOUT = 10.0
#: Default of the AE's ``maximum_unnegotiated``: connections not yet associations, at once.
#: Each costs two threads and some 70 KiB until ARTIM ends it; a few hundred is far more than
#: real peers have in set-up at once, and a few dozen MiB at most.
MAXIMUM_UNNEGOTIATED = 200
# Seconds between two warnings about connections refused beyond maximum_unnegotiated: a flood
# must not flood the log too.
_REFUSAL_LOG_INTERVAL = 5.0
# SO_LINGER on, zero seconds: close() resets the connection instead of lingering.
_RESET_ON_CLOSE = struct.pack('ii', 1, 0)


def listening_family(host: str) -> socket.AddressFamily:
    """The address family a server listening on ``host`` needs: IPv4 for ``''`` and IPv4
    addresses, IPv6 for IPv6 addresses; a host name, IPv4 if it has an IPv4 address, else IPv6.

    >>> [listening_family(host).name for host in ('', '127.0.0.1', '::1', '[::]')]
    ['AF_INET', 'AF_INET', 'AF_INET6', 'AF_INET6']
    """
    host = plain_host(host)
    if not host:
        return socket.AF_INET
    try:
        address = ipaddress.ip_address(host.split('%', 1)[0])
    except ValueError:  # a host name
        try:
            socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror:
            try:
                socket.getaddrinfo(host, None, socket.AF_INET6, socket.SOCK_STREAM)
            except socket.gaierror:
                return socket.AF_INET  # binding will say the name is unknown
            return socket.AF_INET6
        return socket.AF_INET
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


def _name(address: Any) -> str:
    """A peer's ``host:port`` (``[::1]:50123`` for IPv6), for thread names and logs."""
    if isinstance(address, tuple) and len(address) >= 2:
        return format_address(address[0], address[1])
    return str(address)


class IdentityThrottle:
    """Failed user identity checks, per calling address: a back-off against password guessing.

    The policy (PS3.7 D.3.3.7 leaves verification, and so its rate, to the acceptor):

    * an address whose record is clean is never held back;
    * the first ``free_failures`` failures (the ``on_user_identity`` hook saying no) cost
      nothing; each further one blocks the address for ``first_backoff`` seconds, doubled per
      failure, at most ``max_backoff``. While blocked, its requests are rejected transient
      (A-ASSOCIATE-RJ 2/1/1, PS3.8 9.3.4) without the hook being asked; those do not count
      as failures, so a legitimate user behind the same address gets in once the window
      is over;
    * once an address has failed, at most the failures it has left (at least one) may be
      checked at once, so parallel connections cannot all guess in the same window;
    * a success clears the address's record, and a record with no failure for
      ``forget_after`` seconds is forgotten;
    * at most ``max_addresses`` records are kept (the oldest failures go first): memory stays
      bounded whatever the number of addresses.

    IPv6 addresses count per /64 network (one host usually owns a whole /64). ``clock`` is
    for tests. The AE's server holds one (``ae.server.identity_throttle``); set it to None
    to disable throttling, or to another instance to tune it.

    >>> now = [0.0]
    >>> throttle = IdentityThrottle(free_failures=1, first_backoff=2, clock=lambda: now[0])
    >>> throttle.attempt('10.0.0.7'), throttle.failed('10.0.0.7')
    (0.0, None)
    >>> throttle.attempt('10.0.0.7'), throttle.failed('10.0.0.7')  # the second failure
    (0.0, None)
    >>> throttle.attempt('10.0.0.7')       # blocked for 2 s: the hook is not asked
    2.0
    >>> now[0] = 2.0
    >>> throttle.attempt('10.0.0.7'), throttle.succeeded('10.0.0.7'), throttle.blocked_count()
    (0.0, None, 0)
    """

    def __init__(
        self,
        free_failures: int = 5,
        first_backoff: float = 1.0,
        max_backoff: float = 60.0,
        forget_after: float = 600.0,
        max_addresses: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.forget_after = forget_after
        self.max_addresses = max_addresses
        self._clock = clock
        self._lock = threading.Lock()
        # key -> [failures, blocked until, last failure, checks in progress]; oldest first.
        self._records: collections.OrderedDict[str, list[float]] = collections.OrderedDict()

    @staticmethod
    def _key(host: str) -> str:
        try:
            address = ipaddress.ip_address(host.split('%', 1)[0])
        except ValueError:
            return host  # not an IP address (a test's socketpair): its own name
        if isinstance(address, ipaddress.IPv6Address):
            mapped = address.ipv4_mapped
            if mapped is not None:
                return str(mapped)
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        return str(address)

    def attempt(self, host: str) -> float:
        """0.0 when a check from ``host`` may go on (it is then in progress until
        :meth:`failed` or :meth:`succeeded`), else the seconds it should wait."""
        key = self._key(host)
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return 0.0
            failures, until, _last, checking = record
            wait = until - self._clock()
            if wait > 0:
                return wait
            if checking >= max(1, self.free_failures - failures):
                return self.first_backoff
            record[3] = checking + 1
            return 0.0

    def failed(self, host: str) -> None:
        """A check from ``host`` failed: count it, and block the address past the free ones."""
        key = self._key(host)
        now = self._clock()
        with self._lock:
            record = self._records.pop(key, None) or [0, 0.0, now, 0]
            failures = int(record[0]) + 1
            record[0], record[2], record[3] = failures, now, max(0, record[3] - 1)
            beyond = failures - self.free_failures
            if beyond > 0:
                backoff = self.first_backoff * 2 ** min(beyond - 1, 32)
                record[1] = now + min(self.max_backoff, backoff)
            self._records[key] = record  # now the newest
            self._prune(now)

    def succeeded(self, host: str) -> None:
        """A check from ``host`` succeeded: its record goes."""
        with self._lock:
            self._records.pop(self._key(host), None)

    def blocked_count(self) -> int:
        """How many addresses are blocked now (for logs and tests)."""
        now = self._clock()
        with self._lock:
            return sum(1 for record in self._records.values() if record[1] > now)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def _prune(self, now: float) -> None:
        """Forget stale records, then the oldest beyond ``max_addresses`` (lock held)."""
        records = self._records
        while records:
            key, record = next(iter(records.items()))
            stale = max(record[1], record[2]) + self.forget_after <= now and not record[3]
            if not stale and len(records) <= self.max_addresses:
                break
            del records[key]


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
        self.server.track(self.asce, self.request)

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
    #: Connections the kernel holds until accepted, when the AE sets no ``listen_backlog``
    #: (socketserver's default is 5). A burst of associations (a study sent one association
    #: per image, many modalities at once) must not have connects dropped while the accepting
    #: thread waits for the interpreter: a dropped SYN is retried by the client's TCP only a
    #: second later. The system's maximum (Linux caps it at ``net.core.somaxconn``).
    request_queue_size = socket.SOMAXCONN

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
        # Every acceptor being served, with its connection's socket.
        self._associations: dict[AssociationAcceptor, Any] = {}
        # Sockets of the connections not yet associations (see the module's documentation).
        self._unnegotiated: set[Any] = set()
        # Acceptors counted against the AE's maximum_associations.
        self._admitted: set[AssociationAcceptor] = set()
        #: Places counted with other processes serving the same socket (None: this process
        #: alone): :class:`pynetdicom2.workers.SharedAdmissions`.
        self.admissions: Any = None
        self._idle = threading.Condition(self._lock)  # notified as connections end
        self._refused_since_log = 0
        self._last_refusal_log = float('-inf')
        self._backlog = self.request_queue_size
        #: Failed user identity checks per calling address (None: no throttling).
        self.identity_throttle: IdentityThrottle | None = IdentityThrottle()
        self._closing = False
        self._running = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._wake_r, self._wake_w = socket.socketpair()
        self._shutdown_requested = False
        # The family follows the host (socketserver creates the socket with it, next).
        self.address_family = listening_family(server_address[0])
        server_address = (plain_host(server_address[0]), server_address[1])
        # finish_request builds the handler itself, with the AE: the class is never called.
        super().__init__(server_address, RequestHandler, bind_and_activate)  # type: ignore[arg-type]

    # -- accepting -------------------------------------------------------------------------

    def server_bind(self) -> None:
        """Bind to ``server_address``; an IPv6 socket dual stack where the system allows it
        (see the module's documentation), its address resolved with its scope (``%eth0``)."""
        if self.address_family == socket.AF_INET6:
            host, port = self.server_address[:2]
            resolved: Any = socket.getaddrinfo(
                plain_host(host), port, socket.AF_INET6, socket.SOCK_STREAM, 0,
                socket.AI_PASSIVE,
            )[0][4]
            self.server_address = resolved
            try:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except (AttributeError, OSError) as exc:
                if ipaddress.ip_address(str(self.server_address[0])).is_unspecified:
                    logger.warning('listening on %s for IPv6 only: this system has no '
                                   'dual-stack sockets (%s)', format_address(host, port), exc)
        super().server_bind()

    def bind_and_listen(self) -> None:
        """Bind and listen, for a server made with ``bind_and_activate=False`` (``with ae:``
        does it); on a failure the server is closed and the error raised."""
        try:
            self.server_bind()
            self.server_activate()
        except BaseException:
            self.server_close()
            raise

    def server_activate(self) -> None:
        """Listen, with the AE's ``listen_backlog`` (default :attr:`request_queue_size`)."""
        self._backlog = self._wanted_backlog()
        self.socket.listen(self._backlog)

    def _wanted_backlog(self) -> int:
        backlog = getattr(self.local_ae, 'listen_backlog', None)
        return self.request_queue_size if backlog is None else max(1, int(backlog))

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept connections until :meth:`shutdown` (``poll_interval`` is not used).

        Once shut down, the server stays down (:meth:`AE.quit` closes it next). A
        ``listen_backlog`` set on the AE after it bound its port applies from here on
        (listening again only changes the backlog).
        """
        backlog = self._wanted_backlog()
        if backlog != self._backlog:
            with contextlib.suppress(OSError):
                self.socket.listen(backlog)
                self._backlog = backlog
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
        address = unmapped_address(address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            return tls.wrap_accepted(self.ssl_context, sock), address
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f'pynetdicom2-association-{_name(client_address)}',
            daemon=True,
        )
        limit = getattr(self.local_ae, 'maximum_unnegotiated', MAXIMUM_UNNEGOTIATED)
        with self._lock:
            refused = self._closing or (limit is not None and len(self._unnegotiated) >= limit)
            if not refused:
                self._unnegotiated.add(request)
                self._association_threads.add(thread)
        if refused:
            if not self._closing:
                self._log_refusal(client_address, limit)
            self._drop(request)
            return
        thread.start()

    @staticmethod
    def _drop(request: Any) -> None:
        """Close a connection we will not serve, at once: nothing is sent, nothing waited for
        (a reset, so the socket does not linger in TIME_WAIT on our side)."""
        with contextlib.suppress(OSError):
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        with contextlib.suppress(OSError):
            request.close()

    def _log_refusal(self, client_address: Any, limit: int) -> None:
        """One warning per _REFUSAL_LOG_INTERVAL at most, counting the refusals in between."""
        now = time.monotonic()
        self._refused_since_log += 1
        if now - self._last_refusal_log < _REFUSAL_LOG_INTERVAL:
            return
        logger.warning(
            'closed the connection from %s at once: maximum_unnegotiated (%d) connections '
            'are not yet associations; %d closed so since the last warning',
            _name(client_address), limit, self._refused_since_log,
        )
        self._refused_since_log = 0
        self._last_refusal_log = now

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._association_threads.discard(threading.current_thread())
                self._unnegotiated.discard(request)
                if not self._association_threads:
                    self._idle.notify_all()

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
        logger.exception('serving the association from %s failed', _name(client_address))

    # -- tracking --------------------------------------------------------------------------

    def track(self, asce: AssociationAcceptor, request: Any = None) -> None:
        """Serve ``asce`` (on the connection ``request``): :meth:`close_associations` kills it."""
        with self._lock:
            self._associations[asce] = request
            closing = self._closing
        if closing:
            asce.kill()

    def untrack(self, asce: AssociationAcceptor) -> None:
        with self._lock:
            request = self._associations.pop(asce, None)
            self._unnegotiated.discard(request)
            self._release_place(asce)

    def admit(self, asce: AssociationAcceptor, limit: int | None) -> bool:
        """Count ``asce`` among the associations, unless ``limit`` of them already are.

        Called with the A-ASSOCIATE-RQ, before the other checks: False means the request
        is to be rejected transient, local limit exceeded (A-ASSOCIATE-RJ 2/3/2, PS3.8
        9.3.4). Checking and counting under one lock: two requests cannot both take the
        last place. :meth:`dismiss` gives the place back when the request is rejected
        after all.
        """
        with self._lock:
            if asce in self._admitted:
                return True
            if self.admissions is not None:
                if not self.admissions.admit(limit):
                    return False
            elif limit is not None and len(self._admitted) >= limit:
                return False
            self._admitted.add(asce)
            return True

    def dismiss(self, asce: AssociationAcceptor) -> None:
        """The request :meth:`admit` counted was rejected: its place is free again."""
        with self._lock:
            self._release_place(asce)

    def _release_place(self, asce: AssociationAcceptor) -> None:
        """Under the lock: ``asce`` no longer counts against maximum_associations."""
        if asce in self._admitted:
            self._admitted.discard(asce)
            if self.admissions is not None:
                self.admissions.release()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no connection is being served (True), at most ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._association_threads, timeout)

    def prepare_worker(self) -> None:
        """In a process forked to serve this socket alongside others
        (:class:`pynetdicom2.workers.WorkerPool`): a wake-up channel of its own, and accepting
        that never blocks (another worker may take the connection first)."""
        self._wake_r.close()
        self._wake_w.close()
        self._wake_r, self._wake_w = socket.socketpair()
        self.socket.setblocking(False)

    def negotiated(self, asce: AssociationAcceptor) -> None:
        """The A-ASSOCIATE-AC went out: the connection no longer counts as unnegotiated."""
        with self._lock:
            self._unnegotiated.discard(self._associations.get(asce))

    def association_count(self) -> int:
        """How many associations are being served now: counted from their A-ASSOCIATE-RQ
        passing the limit (:meth:`admit`), not from their connection."""
        with self._lock:
            return len(self._admitted)

    def connection_count(self) -> int:
        """How many connections are being served now, associations or not yet."""
        with self._lock:
            return len(self._association_threads)

    def unnegotiated_count(self) -> int:
        """How many connections are not yet associations (``maximum_unnegotiated`` caps them)."""
        with self._lock:
            return len(self._unnegotiated)

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
