"""The transport connection of one association, owned by one thread (PS3.8 9.1, 9.3.1).

:class:`TransportThread` is the socket half of :class:`pynetdicom2.dulprovider.DULServiceProvider`
(its one subclass): connecting the socket (TCP, or TLS in :mod:`pynetdicom2.ssl_ae`), reading it
into a :class:`~pynetdicom2.framing.Framer`, writing what the state machine's actions queue with
as few system calls as possible, waking the thread from other threads, and closing the socket.
Deciding what to do with a PDU, and when, is the provider's: this class knows no event, state
or primitive.

The socket is non-blocking and watched by one selector, together with the read end of a
socketpair that :meth:`TransportThread._wake` pokes, so the thread blocks in one place and
wakes exactly when bytes arrive or another thread wants it. Writes are gathered and flushed
with one scatter-gather ``sendmsg`` where the socket has it (a P-DATA-TF's payloads go to the
kernel without a copy, see :meth:`pynetdicom2.pdu.PDataTfPDU.encode_parts`); while a write
waits for room the thread keeps reading, so two peers writing large data sets at each other
cannot deadlock, and ARTIM (PS3.8 9.1.5) or a kill abandons it.

Usage (a subclass drives it; the names are this class's)::

    self._attach(sock)             # connected: non-blocking, watched for reading
    self.write_pdu(pdu)            # queued
    self._flush()                  # on the wire
    for key, _ in self._selector.select(timeout):
        ...                        # key.data None: a wake-up; else self._read() fills _incoming
"""

from __future__ import annotations

import collections
import contextlib
import errno
import ipaddress
import logging
import os
import selectors
import socket
import threading
from typing import TYPE_CHECKING, Any

from pynetdicom2 import pdudump
from pynetdicom2.events import NOBODY, Event, Observers
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.framing import HEADER_LENGTH, PDU_LENGTH, EndOfStream, Framer, Incoming
from pynetdicom2.pdu import PDataTfPDU

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.fsm import Timer
    from pynetdicom2.metrics import AEMetrics

try:  # pragma: no cover - Python without ssl support
    import ssl

    _WOULD_BLOCK: tuple[type[BaseException], ...] = (
        BlockingIOError,
        ssl.SSLWantReadError,
        ssl.SSLWantWriteError,
    )
except ImportError:  # pragma: no cover
    _WOULD_BLOCK = (BlockingIOError,)

__all__ = [
    'TransportThread', 'check_bind_address', 'connect', 'format_address', 'plain_host',
    'unmapped_address',
]

logger = logging.getLogger('pynetdicom2.dul')
_pdu_dump = pdudump.logger

# Pending outgoing bytes that trigger a flush before the thread would block anyway: 64
# P-DATA-TFs of 16 KiB, one sendmsg (as few lock hand-offs as the receiving ring allows).
_FLUSH_SIZE = 1024 * 1024
# Buffers per sendmsg call: the system's IOV_MAX (1024 on Linux), at most 1024, at least the
# POSIX minimum of 16. A P-DATA-TF of one PDV is two buffers (headers, payload).
try:
    _MAX_GATHER = max(16, min(1024, os.sysconf('SC_IOV_MAX')))
except (AttributeError, ValueError, OSError):  # pragma: no cover - no sysconf (Windows)
    _MAX_GATHER = 16



def plain_host(host: Any) -> str:
    """``host`` as a string, without the brackets of a bracketed IPv6 address.

    >>> plain_host('[::1]'), plain_host('10.0.0.5'), plain_host('pacs.example.org')
    ('::1', '10.0.0.5', 'pacs.example.org')
    """
    text = str(host).strip()
    if text.startswith('[') and text.endswith(']'):
        return text[1:-1]
    return text


def unmapped_address(address: Any) -> Any:
    """An IPv4 peer of a dual-stack socket as IPv4: ``('::ffff:10.0.0.7', p, 0, 0)`` ->
    ``('10.0.0.7', p)``; any other address as it is.

    >>> unmapped_address(('::ffff:10.0.0.7', 104, 0, 0)), unmapped_address(('::1', 104, 0, 0))
    (('10.0.0.7', 104), ('::1', 104, 0, 0))
    """
    if isinstance(address, tuple) and len(address) == 4 and ':' in str(address[0]):
        with contextlib.suppress(ValueError):
            mapped = ipaddress.IPv6Address(str(address[0]).split('%', 1)[0]).ipv4_mapped
            if mapped is not None:
                return (str(mapped), address[1])
    return address


def format_address(host: Any, port: Any) -> str:
    """``host:port`` for logs, messages and thread names; an IPv6 address in brackets, as
    in URIs (RFC 3986 3.2.2), so the port stands apart from its colons.

    >>> format_address('10.0.0.5', 104), format_address('::1', 104), format_address('[::1]', 11112)
    ('10.0.0.5:104', '[::1]:104', '[::1]:11112')
    """
    text = plain_host(host)
    return f'[{text}]:{port}' if ':' in text else f'{text}:{port}'


def check_bind_address(value: Any) -> tuple[str, int] | None:
    """A requester's ``bind_address``: None (the system chooses), or ``(host, port)``, the
    local address its connections start from: an address of this machine, IPv4 or IPv6
    (``''``: any), and a port 0 (any free one) to 65535. Else :class:`NetDICOMError`.

    >>> check_bind_address(('127.0.0.1', 0)), check_bind_address(('[::1]', 4000))
    (('127.0.0.1', 0), ('::1', 4000))
    >>> check_bind_address(('127.0.0.1', 70000))
    Traceback (most recent call last):
    ...
    pynetdicom2.exceptions.NetDICOMError: bind_address ('127.0.0.1', 70000): expected (host, ...
    """
    if value is None:
        return None
    try:
        host, port = value
        valid = (isinstance(host, str) and isinstance(port, int)
                 and not isinstance(port, bool) and 0 <= port <= 0xFFFF)
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise NetDICOMError(
            f'bind_address {value!r}: expected (host, port), host an address of this machine '
            "('' for any) and port 0 (any free port) to 65535"
        )
    return (plain_host(host), port)


def connect(
    address: tuple[str, int], timeout: float, bind_address: tuple[str, int] | None = None
) -> socket.socket:
    """A TCP connection to ``address``, ``(host, port)``, IPv4 or IPv6, with TCP_NODELAY.

    Each address the host resolves to is tried in turn, each within ``timeout`` seconds
    (:func:`socket.create_connection`). With ``bind_address`` (see
    :func:`check_bind_address`) the socket is bound to it first, and only the peer's
    addresses of its IP version are tried. Raises :class:`OSError` (:class:`socket.gaierror`
    for a name that does not resolve), whose message says what failed: the binding, or the
    connection.
    """
    peer = (plain_host(address[0]), address[1])
    if bind_address is None:
        sock = socket.create_connection(peer, timeout=timeout)
    else:
        sock = _connect_from(peer, timeout, bind_address)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        sock.close()
        raise
    return sock


def _connect_from(
    peer: tuple[str, int], timeout: float, bind_address: tuple[str, int]
) -> socket.socket:
    """:func:`connect` from ``bind_address``: each of the peer's addresses of a family the
    local address resolves to, bound to that local address, until one connects."""
    local = f'the local address {format_address(*bind_address)}'
    try:
        sources = socket.getaddrinfo(plain_host(bind_address[0]) or None, bind_address[1],
                                     0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(exc.errno, f'cannot bind to {local}: {exc.strerror}') from exc
    error: OSError | None = None
    for family, kind, proto, _, target in socket.getaddrinfo(*peer, 0, socket.SOCK_STREAM):
        source = next((info[4] for info in sources if info[0] == family), None)
        if source is None:
            error = OSError(errno.EAFNOSUPPORT,
                            f'{local} and {target[0]} are not of the same IP version')
            continue
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            try:
                sock.bind(source)
            except OSError as exc:
                raise OSError(exc.errno, f'cannot bind to {local}: {exc.strerror}') from exc
            sock.connect(target)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error if error is not None else OSError(f'{peer[0]} resolves to no address')


def _peer_name(sock: socket.socket) -> str:
    """``host:port`` of a TCP peer; for other sockets (AF_UNIX, a socketpair) what names it."""
    try:
        address = sock.getpeername()
    except OSError:
        return 'acceptor'
    if isinstance(address, tuple) and len(address) >= 2:
        return format_address(address[0], address[1])
    if isinstance(address, bytes):  # an abstract AF_UNIX name
        address = address.decode('ascii', 'backslashreplace')
    return address or 'local'


class TransportThread(threading.Thread):
    """A daemon thread that owns the socket of one association: the transport of PS3.8 9.1.

    ``dul_socket`` is a connected socket (acceptor side) or None (requestor side:
    :meth:`create_socket` connects to ``called_address`` within ``connect_timeout``, and the
    subclass attaches the result). ``timer`` is the ARTIM timer: a write still blocked when it
    expires is abandoned. ``pdata_cap`` and ``other_cap`` bound the PDU-length a received
    P-DATA-TF and any other PDU may declare (see :class:`~pynetdicom2.framing.Framer`). The
    thread is named after ``name``, or after the peer, with the prefix ``pynetdicom2-``.

    Received PDUs, framing errors and the end of the stream are appended to ``_incoming`` in
    order, for the subclass to handle; a failed write sets ``_transport_lost``, for the
    subclass to turn into Evt17 once its current action is done; setting ``_kill_requested``
    abandons a blocked write.
    """

    #: Requestor side: the local ``(host, port)`` to connect from (None: the system's choice),
    #: set before the thread connects (:func:`check_bind_address`, :func:`connect`).
    bind_address: tuple[str, int] | None = None

    def __init__(
        self,
        dul_socket: socket.socket | None,
        called_address: tuple[str, int] | None,
        connect_timeout: float,
        timer: Timer,
        pdata_cap: int,
        other_cap: int,
        name: str | None,
    ) -> None:
        self.dul_socket = dul_socket
        self.called_presentation_address = called_address
        self.connect_timeout = connect_timeout
        self.timer = timer
        super().__init__(name=self._thread_name(name), daemon=True)
        self._incoming: collections.deque[Incoming] = collections.deque()
        self._pending_out: list[Any] = []  # buffers written by actions, not yet on the socket
        self._pending_size = 0
        self._gather = False  # sendmsg usable on this socket (plain sockets on POSIX)
        # Association-phase sizes until the subclass says the association exists: a
        # connection that never becomes one costs what its peer sent (PS3.8 9.3.1 headers
        # declare lengths; nothing is allocated for them up front).
        self._framer = Framer(pdata_cap, other_cap, self._incoming, association_phase=True)
        self._data_phase = False
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        for end in (self._wake_r, self._wake_w):
            end.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._kill_requested = False
        # Set when a blocked write consumed a wake-up meant for the main loop (a send, stop or
        # kill that arrived meanwhile): the loop must look at its queues before it sleeps.
        self._wake_consumed = False
        self._closed = False  # the transport was closed (by us or by the peer)
        self._transport_lost = False  # a write failed: Evt17 after the current action
        self._framer_eof = False  # the peer closed its side; nothing more to read
        #: Bytes read from and written to the socket (:mod:`pynetdicom2.metrics` sums them).
        self.bytes_received = 0
        self.bytes_sent = 0
        #: Who watches (:mod:`pynetdicom2.events`), what counts, and the association the
        #: notices name: set by the association before the thread starts.
        self.observers: Observers = NOBODY
        self.metrics: AEMetrics | None = None
        self.association: Any = None
        self._counted = False  # metrics.connection_opened was called
        self._peer_address: Any = None

    def _thread_name(self, name: str | None) -> str:
        if name is None:
            peer = 'requestor'
            if self.dul_socket is not None:
                peer = _peer_name(self.dul_socket)
            elif self.called_presentation_address is not None:
                peer = format_address(*self.called_presentation_address[:2])
            name = f'dul-{peer}'
        return name if name.startswith('pynetdicom2') else f'pynetdicom2-{name}'

    # --- what the state machine's actions call (ProviderProto) ----------------------------

    def create_socket(self) -> socket.socket:
        """Connect to ``called_presentation_address`` (TLS subclasses wrap the result).

        IPv4 or IPv6, from :attr:`bind_address` if set (:func:`connect`). Raises
        :class:`NetDICOMError` when no address is set, :class:`OSError` when the connection
        fails (the state machine turns that into Evt17, an A-P-ABORT indication).
        """
        address = self.called_presentation_address
        if address is None:
            raise NetDICOMError(
                'no called presentation address: pass called_address=(host, port) or set '
                'called_presentation_address before sending the A-ASSOCIATE-RQ'
            )
        return connect(address, self.connect_timeout, self.bind_address)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` for the transport; a failure becomes Evt17 after the current action.

        Writes are gathered and flushed, with one scatter-gather ``sendmsg`` where the socket
        has it, just before the thread blocks (or when _FLUSH_SIZE bytes are pending, or the
        transport is about to close). That keeps system calls few on a data-set stream and
        lets the woken peer thread find the interpreter lock free.
        """
        if self.dul_socket is None or self._closed or self._transport_lost:
            return
        self._pending_out.append(data)
        self._pending_size += len(data)
        if self._pending_size >= _FLUSH_SIZE:
            self._flush()

    def write_pdu(self, primitive: Any) -> None:
        """Queue one PDU for the transport: what the state machine's actions call.

        Where ``write`` takes the bytes of ``primitive.encode()``, a P-DATA-TF on a socket
        that gathers is queued as :meth:`~pynetdicom2.pdu.PDataTfPDU.encode_parts`: a new
        header and the payloads themselves, which ``sendmsg`` hands to the kernel without
        any copy. Only ``bytes`` payloads are kept as they are (nothing can change them
        before the flush, even if the iterator that made them goes on); any other buffer is
        copied, as ``encode`` would have done. A subclass that overrides ``write`` gets every
        PDU through it.
        """
        if _pdu_dump.isEnabledFor(logging.DEBUG):
            pdudump.log_pdu(self.name, 'sent', primitive)
        if self.observers.pdu_sent:
            self.observers.notify(Event.PDU_SENT, association=self.association, pdu=primitive)
        if not self._gather or type(primitive) is not PDataTfPDU:
            self.write(primitive.encode())
            return
        parts = primitive.encode_parts()
        if self._closed or self._transport_lost:
            return
        for index in range(1, len(parts), 2):  # the payloads; the rest are new headers
            value = parts[index]
            if type(value) is not bytes:
                parts[index] = bytes(value)
        self._pending_out += parts
        # PDU-length (PS3.8 9.3.1) plus the 6-byte header: the size of all the parts.
        self._pending_size += PDU_LENGTH.unpack_from(parts[0], 2)[0] + HEADER_LENGTH
        if self._pending_size >= _FLUSH_SIZE:
            self._flush()

    def close_transport(self) -> None:
        """Close the socket (idempotent). Called by the actions that close the transport."""
        if self._closed:
            return
        if self._pending_out:
            # Best effort, never blocking: whatever an earlier flush could not place.
            self._flush(wait=False)
        self._closed = True
        sock = self.dul_socket
        if sock is None:
            return
        self._stop_watching(sock)
        try:
            sock.close()
        except OSError:  # pragma: no cover - close() of a valid socket
            pass
        self._connection_ended()

    # --- the socket -----------------------------------------------------------------------

    def _attach(self, sock: socket.socket) -> None:
        """Make the connected socket ours: TCP_NODELAY, non-blocking, watched for reading."""
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # e.g. a socket that is not TCP in a test
            pass
        sock.setblocking(False)
        # Scatter-gather writes need a plain POSIX socket (SSLSocket has no sendmsg), and a
        # subclass that overrides write() must see every byte.
        self._gather = (
            type(sock) is socket.socket
            and hasattr(sock, 'sendmsg')
            and type(self).write is TransportThread.write
        )
        self._selector.register(sock, selectors.EVENT_READ, True)
        if self.metrics is not None:
            self._counted = True
            self.metrics.connection_opened(self)
        if self.observers.connection_opened:
            self.observers.notify(
                Event.CONNECTION_OPENED, association=self.association, address=self.peer_address()
            )

    def _connection_ended(self) -> None:
        if self._counted and self.metrics is not None:
            self._counted = False
            self.metrics.connection_closed(self, self._transport_lost)
        if self.observers.connection_closed:
            self.observers.notify(
                Event.CONNECTION_CLOSED, association=self.association, address=self.peer_address()
            )

    def peer_address(self) -> Any:
        """The peer's transport address (``(host, port)`` for TCP), None when unknown."""
        address = self._peer_address
        if address is None and self.dul_socket is not None:
            try:
                address = self._peer_address = unmapped_address(self.dul_socket.getpeername())
            except OSError:
                return None
        return address

    def _flush(self, wait: bool = True) -> None:
        """Send every pending buffer; wait for room if needed, staying responsive meanwhile.

        ``wait=False``: one attempt, whatever does not fit is dropped (the transport is
        about to close).

        While waiting for room we keep reading (so two peers writing big data sets at each
        other cannot deadlock); what arrives is handled after the current action. A kill()
        or an ARTIM expiry abandons the write.
        """
        pending = self._pending_out
        sock = self.dul_socket
        if sock is None or self._closed or self._transport_lost:
            pending.clear()
            self._pending_size = 0
            return
        gather = self._gather
        waiting = False
        try:
            while pending:
                try:
                    if gather:
                        sent = sock.sendmsg(pending[:_MAX_GATHER])
                    else:
                        sent = sock.send(pending[0])
                except _WOULD_BLOCK:
                    sent = 0
                except OSError as exc:
                    self._lose_transport(exc)
                    return
                self._pending_size -= sent
                self.bytes_sent += sent
                done = 0
                while sent:
                    head = pending[done]
                    size = head.nbytes if type(head) is memoryview else len(head)
                    if sent >= size:
                        sent -= size
                        done += 1
                    else:
                        pending[done] = memoryview(head).cast('B')[sent:]
                        sent = 0
                if done:
                    del pending[:done]
                if not pending:
                    return
                if not wait:
                    pending.clear()
                    self._pending_size = 0
                    return
                if not waiting:
                    waiting = True
                    self._selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, True)
                if not self._wait_writable(sock):
                    return
        finally:
            if self._transport_lost or self._kill_requested:
                pending.clear()
                self._pending_size = 0
            if waiting and not self._closed:
                try:
                    self._selector.modify(sock, selectors.EVENT_READ, True)
                except (KeyError, ValueError, OSError):
                    pass

    def _wait_writable(self, sock: socket.socket) -> bool:
        """Block until the socket may take more (True) or the write must be abandoned."""
        if self._kill_requested:
            return False
        if not self.timer.check():
            self._lose_transport(None)
            return False
        for key, mask in self._selector.select(self.timer.remaining()):
            if key.data is None:
                self._drain_wake()
                self._wake_consumed = True
            elif mask & selectors.EVENT_READ and not self._framer_eof:
                self._read()
        if self._framer_eof:
            # The peer closed: it will not read the rest either. Evt17 follows.
            self._lose_transport(None)
        return not (self._closed or self._transport_lost or self._kill_requested)

    def _enter_data_phase(self) -> None:
        """The association is established: the framer may use its data-phase buffers."""
        if not self._data_phase:
            self._data_phase = True
            self._framer.enter_data_phase()

    def _lose_transport(self, exc: BaseException | None) -> None:
        if exc is not None:
            logger.info('%s: the transport failed: %s', self.name, exc)
        self._transport_lost = True

    def _read(self) -> None:
        """Read what the socket has into the framer (one recv, more only for TLS buffers)."""
        sock = self.dul_socket
        if sock is None or self._closed or self._framer_eof:
            return
        framer = self._framer
        while True:
            try:
                count = sock.recv_into(framer.target())
            except _WOULD_BLOCK:
                return
            except OSError as exc:  # e.g. ECONNRESET: the transport is gone
                self._end_of_stream(exc)
                return
            if count == 0:
                self._end_of_stream(None)
                return
            self.bytes_received += count
            framer.advance(count)
            pending = getattr(sock, 'pending', None)
            if pending is None or not pending():
                return

    def _end_of_stream(self, error: BaseException | None) -> None:
        self._framer_eof = True
        self._incoming.append(EndOfStream(error))
        sock = self.dul_socket
        if sock is not None:
            self._stop_watching(sock)  # at EOF it would stay readable forever

    def _stop_watching(self, sock: socket.socket) -> None:
        """Take ``sock`` out of the selector (a socket already out, or closed, is fine)."""
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass

    def _wake(self) -> None:
        try:
            self._wake_w.send(b'\0')
        except OSError:  # full (a wake-up is pending anyway) or already closed
            pass

    def _drain_wake(self) -> None:
        try:
            self._wake_r.recv(4096)
        except OSError:
            pass
