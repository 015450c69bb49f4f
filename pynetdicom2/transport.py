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
import logging
import os
import selectors
import socket
import threading
from typing import TYPE_CHECKING, Any

from pynetdicom2 import pdudump
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.framing import HEADER_LENGTH, PDU_LENGTH, EndOfStream, Framer, Incoming
from pynetdicom2.pdu import PDataTfPDU

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.fsm import Timer

try:  # pragma: no cover - Python without ssl support
    import ssl

    _WOULD_BLOCK: tuple[type[BaseException], ...] = (
        BlockingIOError,
        ssl.SSLWantReadError,
        ssl.SSLWantWriteError,
    )
except ImportError:  # pragma: no cover
    _WOULD_BLOCK = (BlockingIOError,)

__all__ = ['TransportThread']

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



def _peer_name(sock: socket.socket) -> str:
    """``host:port`` of a TCP peer; for other sockets (AF_UNIX, a socketpair) what names it."""
    try:
        address = sock.getpeername()
    except OSError:
        return 'acceptor'
    if isinstance(address, tuple) and len(address) >= 2:
        return f'{address[0]}:{address[1]}'
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

    def _thread_name(self, name: str | None) -> str:
        if name is None:
            peer = 'requestor'
            if self.dul_socket is not None:
                peer = _peer_name(self.dul_socket)
            elif self.called_presentation_address is not None:
                host, port = self.called_presentation_address[:2]
                peer = f'{host}:{port}'
            name = f'dul-{peer}'
        return name if name.startswith('pynetdicom2') else f'pynetdicom2-{name}'

    # --- what the state machine's actions call (ProviderProto) ----------------------------

    def create_socket(self) -> socket.socket:
        """Connect to ``called_presentation_address`` (TLS subclasses wrap the result).

        Raises :class:`NetDICOMError` when no address is set, :class:`OSError` when the
        connection fails (the state machine turns that into Evt17, an A-P-ABORT indication).
        """
        address = self.called_presentation_address
        if address is None:
            raise NetDICOMError(
                'no called presentation address: pass called_address=(host, port) or set '
                'called_presentation_address before sending the A-ASSOCIATE-RQ'
            )
        sock = socket.create_connection(address, timeout=self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            sock.close()
            raise
        return sock

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
