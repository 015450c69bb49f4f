"""The DICOM upper layer service provider: one thread per association that owns its socket.

What this module owns: the thread of one association that drives
:class:`pynetdicom2.fsm.StateMachine` with the events it observes, the ARTIM timer, and the
queues between that thread and its service user. Its transport (connecting, reading and
writing the socket, closing it) is :class:`pynetdicom2.transport.TransportThread`, the base
class of :class:`DULServiceProvider`; cutting the received bytes into PDUs is
:class:`pynetdicom2.framing.Framer`'s. What it must not do: decide
anything Table 9-10 decides (that is ``fsm``), encode or decode PDUs or DIMSE messages itself
(``pdu``, ``dimsemessages``), or negotiate anything (the association layer).

Threading design (and why). The DUL thread is the only one that touches the socket. It blocks
in a selector over two file descriptors: the association's socket and the read end of a
socketpair whose write end :meth:`DULServiceProvider.send`, :meth:`~DULServiceProvider.stop`
and :meth:`~DULServiceProvider.kill` poke. There is no polling interval and no sleep: the
thread wakes exactly when bytes arrive, when the user hands it something, or when ARTIM is due
(the selector timeout). We chose this over a second "reader" thread feeding one queue because
a reader thread adds a thread hand-off to every incoming PDU: a DIMSE round trip through two
providers then costs six hand-offs instead of four, and each hand-off between Python threads
on a loaded two-core machine costs tens of microseconds (benchmarks/bench_dul.py measures
both the provider and the plain-socket limit). The socket is non-blocking, so a peer that
stops reading or writing mid-PDU can never pin the thread: stop/kill always get through.

Framing (PS3.8 9.3.1): every read lands in the framer's receive ring, each PDU header is
checked before anything is allocated, and a complete P-DATA-TF is handed on as a ``memoryview``
of the ring, without a copy, until the thread has handled it. Until the association is
established (Sta6) the framer's buffers start small and grow only with the bytes that arrive,
so a connection that announces a large PDU and sends nothing more costs a few KiB.

Usage, requestor side (the association layer does this)::

    dul = DULServiceProvider(store_in_file=set(), get_file_cb=None,
                             called_address=('pacs.example.org', 104))
    dul.send(a_associate_rq_pdu)                 # connects, then sends the RQ
    ac = dul.receive(timeout=30)                 # AAssociateAcPDU / AAssociateRjPDU / AAbortPDU
    dul.accepted_contexts = {1: PContextDef(1, sop_class, ts)}
    dul.send(c_echo_rq.encode(1, peer_max_pdu))  # an iterator of P-DATA-TF, consumed lazily
    msg, pc_id = dul.receive(timeout=15)
    dul.send(AReleaseRqPDU())
    dul.receive(timeout=10)                      # AReleaseRpPDU; the transport is then closed
    dul.kill()

Acceptor side: ``DULServiceProvider(store_in_file, get_file_cb, dul_socket=accepted_socket)``;
``start()`` it (or call ``receive``) at once so ARTIM runs, then ``receive()`` the
A-ASSOCIATE-RQ and ``send`` an A-ASSOCIATE-AC or -RJ.
"""

from __future__ import annotations

import collections
import logging
import queue
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from pynetdicom2 import pdu, pdudump
from pynetdicom2.events import Event, Observers
from pynetdicom2.exceptions import DCMTimeoutError, NetDICOMError, PDUProcessingError
from pynetdicom2.framing import HEADER_LENGTH, EndOfStream
from pynetdicom2.fsm import (
    LOCAL_EVENT_BY_PDU_TYPE,
    PEER_EVENT_BY_PDU_TYPE,
    Events,
    GetFileCB,
    Indication,
    PContextDef,
    StateMachine,
    States,
    Timer,
)
from pynetdicom2.metrics import AEMetrics, association_outcomes
from pynetdicom2.transport import TransportThread
from pynetdicom2.wirecodec import BytesLike

_OUTCOME_EVENTS = {
    'requested': Event.ASSOCIATION_REQUESTED,
    'accepted': Event.ASSOCIATION_ACCEPTED,
    'rejected': Event.ASSOCIATION_REJECTED,
    'released': Event.ASSOCIATION_RELEASED,
    'aborted': Event.ASSOCIATION_ABORTED,
}

__all__ = [
    'DULServiceProvider',
    'MAX_ASSOCIATION_PDU_LENGTH',
    'SOCKET_TIMEOUT',
    'UNLIMITED_PDATA_CAP',
]

logger = logging.getLogger('pynetdicom2.dul')
_pdu_dump = pdudump.logger

#: Default seconds to wait for a TCP connection (and the TLS handshake) to complete.
SOCKET_TIMEOUT = 15
#: Largest PDU-length accepted for A-ASSOCIATE-RQ/AC/RJ, A-RELEASE and A-ABORT PDUs: far above
#: any real negotiation (a few KiB, tens with identity tokens), far below memory trouble.
MAX_ASSOCIATION_PDU_LENGTH = 1024 * 1024
#: P-DATA-TF PDU-length cap when we announce a Maximum Length of 0 (unlimited, PS3.8 D.1).
#: A cap on what a PDU may declare, not an allocation: the framer's buffer for one grows with
#: the bytes that arrive (from 1 MiB), so a declared 64 MiB costs nothing until it is sent.
UNLIMITED_PDATA_CAP = 64 * 1024 * 1024
#: Default bound for joining the thread in :meth:`DULServiceProvider.kill`.
JOIN_TIMEOUT = 5.0

# An outgoing P-DATA iterator yields this many PDUs between two looks at the socket and the
# wake-up pipe, so a long data set never hides an incoming A-ABORT or a kill().
_STREAM_BATCH = 64
# P-DATA primitives queued or being sent beyond which a sender waits until the queue is down
# to the low mark (a few hundred small messages, or as many data set streams, at the most).
_QUEUE_HIGH = 256
_QUEUE_LOW = 128
# Seconds between two looks at the provider's state while a sender waits for room.
_ROOM_CHECK = 0.5
# Queued primitives served before the thread looks at the socket again, so a user thread
# that keeps the queue full (an SCP streaming C-FIND responses) cannot starve what the peer
# sends meanwhile (a C-CANCEL-RQ, an A-ABORT).
_PRIMITIVE_BATCH = 64
# States in which an association exists (so a kill() owes the peer an A-ABORT).
_ASSOCIATED = frozenset(States) - {States.STA_1, States.STA_2, States.STA_4, States.STA_13}
# Enum members read on every PDU (a module global is cheaper than the class attribute).
_STA_1 = States.STA_1
_STA_4 = States.STA_4
_STA_6 = States.STA_6
_EVT_9 = Events.EVT_9
_EVT_10 = Events.EVT_10
_decode_pdata = pdu.PDataTfPDU.decode


class _End:
    """Queued for the service user when the provider's thread has ended."""


_END = _End()


class DULServiceProvider(TransportThread):
    """The DICOM UL service provider of one association (PS3.8 9): a daemon thread.

    ``dul_socket`` given: acceptor side, the transport is already connected (Evt5 at start).
    Otherwise: requestor side, connecting to ``called_presentation_address`` (``called_address``
    keyword) when the user sends the A-ASSOCIATE-RQ.

    ``max_pdu_length`` is the Maximum Length we announce (0: unlimited): a P-DATA-TF declaring
    more is refused. ``store_in_file``, ``get_file_cb``: see
    :class:`~pynetdicom2.dimsemessages.DIMSEDecoder`. ``artim_timeout``: seconds for ARTIM.

    Keywords beyond the original's: ``called_address=(host, port)``, ``connect_timeout``
    (default :data:`SOCKET_TIMEOUT`), ``name`` (prefixed with ``pynetdicom2-`` if needed),
    ``max_association_pdu_length``, ``join_timeout`` (bound for :meth:`kill`).

    The thread starts on :meth:`start`, or on the first :meth:`send` / :meth:`receive`.

    Usage (``a_associate_rq`` is an :class:`~pynetdicom2.pdu.AAssociateRqPDU`)::

        dul = DULServiceProvider(set(), None, called_address=('127.0.0.1', 11112))
        dul.send(a_associate_rq)
        reply = dul.receive(timeout=10)      # an A-ASSOCIATE-AC, -RJ or A-ABORT
    """

    def __init__(
        self,
        store_in_file: Any,
        get_file_cb: GetFileCB | None,
        dul_socket: socket.socket | None = None,
        max_pdu_length: int = 65536,
        artim_timeout: float = 10,
        *,
        called_address: tuple[str, int] | None = None,
        connect_timeout: float = SOCKET_TIMEOUT,
        name: str | None = None,
        max_association_pdu_length: int = MAX_ASSOCIATION_PDU_LENGTH,
        join_timeout: float = JOIN_TIMEOUT,
    ) -> None:
        self.is_acceptor = dul_socket is not None
        self.max_pdu_length = max_pdu_length
        self.artim_timeout = artim_timeout
        self.join_timeout = join_timeout
        #: The OSError (or NetDICOMError) that made connecting fail, for the association layer.
        self.transport_error: BaseException | None = None
        #: What the current event carries; set and read by the DUL thread only.
        self.primitive: Any = None
        self.to_service_user: queue.SimpleQueue[Indication | _End] = queue.SimpleQueue()
        #: (event, primitive) pairs handed to :meth:`send`, in order.
        self.from_service_user: collections.deque[tuple[Events, Any]] = collections.deque()
        pdata_cap = max_pdu_length + HEADER_LENGTH if max_pdu_length else UNLIMITED_PDATA_CAP
        # PS3.8 D.1 counts the PDV items only; the slack of one header tolerates peers that
        # count a PDV header against our limit.
        super().__init__(dul_socket, called_address, connect_timeout, Timer(artim_timeout),
                         pdata_cap, max_association_pdu_length, name)
        self.state_machine = StateMachine(self, self.timer, store_in_file, get_file_cb)
        # Indications collected by the thread, handed over just before it blocks.
        self._pending_up: list[Any] = []
        self.state_machine.deliver = self._pending_up.append
        self._send_lock = threading.Lock()
        # Senders far ahead of the socket wait here (see _wait_for_room).
        self._room = threading.Condition(self._send_lock)
        self._waiting_for_room = 0
        self._thread_started = False
        self._unfinished = 0  # primitives handed to send() whose action has not completed
        self._aborts_queued = 0
        self._stream: Iterator[pdu.PDataTfPDU] | None = None
        self._stop_requested = False
        self._left_idle = False  # the association's life began (Evt1 or Evt5)
        self._in_action = False
        self._finished = False
        self._resources_released = False
        #: Set once the transport connection is made or has failed (acceptor: at once), so a
        #: requester can time the A-ASSOCIATE-AC from the connection on (DCMTK's ``-ta``).
        self.connected = threading.Event()
        if dul_socket is not None:
            self.connected.set()
            # Evt5, transport connection indication: the connection exists from now on, so
            # ARTIM runs from now on (AE-5) and the state is Sta2 before send/receive can look.
            self._left_idle = True
            self.state_machine.action(Events.EVT_5)

    # --- public API ---------------------------------------------------------------------------

    @property
    def state(self) -> States:
        """The current state of the protocol machine (PS3.8 9.2.1)."""
        return self.state_machine.current_state

    @property
    def ended(self) -> bool:
        """True once the transport is closed or the provider has finished: nothing more can be
        sent, whatever state the machine shows while it handles the last event."""
        return self._finished or self._closed

    @property
    def accepted_contexts(self) -> dict[int, PContextDef]:
        """Accepted presentation contexts by ID; set by the association after negotiation."""
        return self.state_machine.accepted_contexts

    @accepted_contexts.setter
    def accepted_contexts(self, value: dict[int, PContextDef]) -> None:
        self.state_machine.accepted_contexts = value

    def observe(self, observers: Observers, metrics: AEMetrics | None, association: Any) -> None:
        """Report to ``observers`` and count in ``metrics`` (:mod:`pynetdicom2.events`,
        :mod:`pynetdicom2.metrics`), naming ``association``; before the thread starts."""
        self.observers = observers
        self.metrics = metrics
        self.association = association

    def start(self) -> None:
        """Start the thread; calling it again (or after send/receive started it) is harmless."""
        with self._send_lock:
            if self._thread_started or self._finished:
                return
            self._thread_started = True
            # Under the lock: a kill() from another thread that sees the flag can join at once.
            super().start()

    def send(self, primitive: pdu.PDataTfPDU | Iterable[pdu.PDataTfPDU] | Any) -> None:
        """Hand a primitive to the provider: a PDU, or an iterator of P-DATA-TF PDUs.

        A-ASSOCIATE-RQ (Evt1; requestor: connects first), -AC (Evt7), -RJ (Evt8), P-DATA
        (Evt9: a ``PDataTfPDU`` or an iterator of them, e.g. ``msg.encode(pc_id, max_pdu)``,
        consumed lazily by the DUL thread), A-RELEASE-RQ (Evt11), -RP (Evt14), A-ABORT (Evt15,
        which also discards whatever P-DATA is still queued). Returns at once.

        Raises :class:`NetDICOMError` naming event and state when the primitive is not
        allowed in the current state (and nothing sent before it is still pending), or when
        the provider has ended. The exception is an A-ABORT when no association exists any
        more (or yet): it is ignored, since racing the peer's own abort or close is normal.
        Use :meth:`kill` to drop a connection.

        Usage (``msg`` a :class:`~pynetdicom2.dimsemessages.DIMSEMessage`)::

            dul.send(msg.encode(pc_id, peer_max_pdu_length))
        """
        event = self._local_event(primitive)
        machine = self.state_machine
        with self._send_lock:
            if event is Events.EVT_15 and (
                self._finished
                or self._closed
                or (self._unfinished == 0 and not machine.is_legal(event))
            ):
                logger.debug('%s: A-ABORT in %s: no association to abort', self.name, self.state)
                return
            if self._finished or self._closed or (self._left_idle and self.state is States.STA_1):
                raise NetDICOMError(
                    f'cannot send {type(primitive).__name__}: the association is over '
                    f'({self.state.name}, provider {self.name} has ended)'
                )
            if self._unfinished == 0 and not machine.is_legal(event):
                state = machine.current_state
                raise NetDICOMError(
                    f'{event.name} ({event.__doc__}) is not allowed in {state.name} '
                    f'({state.__doc__}); PS3.8 Table 9-10 has no transition for it'
                )
            self._unfinished += 1
            if event is Events.EVT_15:
                self._aborts_queued += 1
            self.from_service_user.append((event, primitive))
            crowded = event is _EVT_9 and self._unfinished > _QUEUE_HIGH
        if not self._thread_started:
            self.start()
        self._wake()
        if crowded and threading.current_thread() is not self:
            self._wait_for_room()

    def _wait_for_room(self) -> None:
        """Hold a sender that is far ahead of the socket until the queue has room again.

        Without it a service producing responses faster than the peer reads them (a C-FIND
        with many matches) would queue them all: memory grows with the result, and the peer's
        C-CANCEL-RQ is read only after the last one was produced. An ending provider lets the
        sender go (its next send raises).
        """
        with self._room:
            self._waiting_for_room += 1
            try:
                while self._unfinished > _QUEUE_LOW and not (
                    self._finished or self._closed or self._kill_requested
                ):
                    self._room.wait(_ROOM_CHECK)  # also wakes for a closed transport
            finally:
                self._waiting_for_room -= 1

    def receive(self, timeout: float | None = None) -> Any:
        """The next indication: a PDU (see :mod:`pynetdicom2.fsm`) or ``(msg, pc_id)``.

        Raises :class:`DCMTimeoutError` when nothing arrives within ``timeout`` seconds
        (None: wait forever) and :class:`NetDICOMError` once the provider has ended and every
        indication was received.

        Usage::

            msg, pc_id = dul.receive(timeout=15)
        """
        if not self._thread_started:
            self.start()
        indications = self.to_service_user
        try:
            item = indications.get_nowait()
        except queue.Empty:
            # CPython before 3.11: SimpleQueue.get(timeout=t) entered with the queue empty and
            # its internal lock free can compute a negative wait and block until the next
            # put, for ever if none comes (a C-MOVE SCP polling for C-CANCEL hung so). The
            # get_nowait() above leaves that lock taken, which rules the case out.
            try:
                if timeout is not None and timeout <= 0:
                    raise
                item = indications.get(timeout=timeout)
            except queue.Empty:
                raise DCMTimeoutError(
                    f'nothing from the peer within {timeout} s ({self.state.name}: '
                    f'{self.state.__doc__})'
                ) from None
        if item is _END:
            self.to_service_user.put(_END)  # every later receive() ends the same way
            raise NetDICOMError(
                f'the association is over: provider {self.name} has ended in {self.state.name}'
            )
        return item

    def stop(self, timeout: float | None = None) -> bool:
        """End gracefully and join; return True when the thread has ended.

        What was already sent is still sent; an association that still exists is aborted
        (A-ABORT, service-user source); in Sta13 the provider waits for the peer to close the
        transport, at most ARTIM (PS3.8 9.1.5). ``timeout`` defaults to ARTIM plus
        ``join_timeout``; past it, :meth:`kill` ends the thread.
        """
        self._stop_requested = True
        if timeout is None:
            timeout = self.artim_timeout + self.join_timeout
        if self._wake_and_join(timeout):
            return True
        # e.g. a peer that stopped reading mid data set: graceful is no longer an option.
        return threading.current_thread() is not self and self.kill()

    def kill(self, timeout: float | None = None) -> bool:
        """End now and join (at most ``timeout``, default ``join_timeout``); True when ended.

        Queued primitives are dropped; an association that still exists gets a best-effort
        A-ABORT (service-user source) before the transport is closed.
        """
        self._kill_requested = True
        return self._wake_and_join(self.join_timeout if timeout is None else timeout)

    # --- the thread ---------------------------------------------------------------------------

    def run(self) -> None:
        try:
            if self.dul_socket is not None:
                self._attach(self.dul_socket)
            self._loop()
        except Exception:
            logger.exception('%s: unexpected error; closing the association', self.name)
        finally:
            self._release_resources()

    def _loop(self) -> None:
        machine = self.state_machine
        selector = self._selector
        while True:
            if self._kill_requested:
                self._kill_now()
                return
            self._serve_outgoing()
            if self._left_idle and machine.current_state is States.STA_1:
                return
            if self._stop_requested and self._stream is None and not self.from_service_user:
                if self._stop_step():
                    return
            if self._pending_out:
                self._flush()
                if self._transport_lost:
                    self._transport_failed()
                    continue
            if self._pending_up:
                self._hand_up()
            if self._kill_requested:  # its wake-up may have been consumed by a blocked write
                continue
            if (self._stream is not None or self._wake_consumed or self.from_service_user
                    or self._incoming):  # PDUs a blocked write read: no new event announces them
                timeout: float | None = 0.0
            else:
                timeout = self.timer.remaining()
            self._wake_consumed = False
            for key, _mask in selector.select(timeout):
                if key.data is None:
                    self._drain_wake()
                else:
                    self._read()
            self._drain_incoming()
            if not self.timer.check():
                self._artim_expired()

    def _event(self, event: Events, primitive: Any) -> bool:
        """Run one event through the machine; False when Table 9-10 refused it (local only)."""
        machine = self.state_machine
        before = machine.current_state
        self.primitive = primitive
        self._in_action = True
        try:
            after = machine.action(event)
        except NetDICOMError as exc:
            logger.warning('%s: dropping a local primitive: %s', self.name, exc)
            return False
        finally:
            self._in_action = False
            self.primitive = None
        if after is not before:
            self._state_changed(event, before, after, primitive)
        if not self._data_phase and machine.current_state is _STA_6:
            self._enter_data_phase()  # established: P-DATA may come, at full speed
        if machine.current_state is _STA_4:
            # AE-1 just ran: the transport service confirms (Evt2) or reports failure (Evt17).
            self.connected.set()
            if self.dul_socket is not None:
                self._attach(self.dul_socket)
                return self._event(Events.EVT_2, None)
            self._closed = True
            return self._event(Events.EVT_17, None)
        if self._transport_lost:
            self._transport_failed()
        return True

    def _state_changed(self, event: Events, before: States, after: States, primitive: Any
                       ) -> None:
        """Count and report a transition, and what it means for the association."""
        observers = self.observers
        if observers.state_changed:
            observers.notify(
                Event.STATE_CHANGED, association=self.association,
                transition=(event.name, before.name, after.name),
            )
        for outcome in association_outcomes(event, before, after):
            if self.metrics is not None:
                self.metrics.association(outcome)
            notice_of = _OUTCOME_EVENTS[outcome]
            if not getattr(observers, notice_of.name.lower()):
                continue
            fields: dict[str, Any] = {}
            if isinstance(primitive, (pdu.AAssociateRqPDU, pdu.AAssociateAcPDU,
                                      pdu.AAssociateRjPDU)):
                fields['pdu'] = primitive
            if outcome in ('aborted', 'rejected'):
                fields['reason'] = primitive
            observers.notify(notice_of, association=self.association, **fields)

    def _transport_failed(self) -> None:
        """A write failed: close our end and tell the machine (Evt17)."""
        self._transport_lost = False
        self._pending_out.clear()
        self._pending_size = 0
        self.close_transport()
        self._incoming.clear()
        if self.state_machine.current_state is not States.STA_1:
            self._event(Events.EVT_17, None)

    # -- outgoing --------------------------------------------------------------------------

    def _serve_outgoing(self) -> None:
        queue_ = self.from_service_user
        for _ in range(_PRIMITIVE_BATCH):
            if self._stream is not None:
                if self._aborts_queued:
                    self._drop_stream('an A-ABORT was requested')
                elif not self._pump_stream():
                    return
                continue
            try:
                event, primitive = queue_.popleft()
            except IndexError:
                return
            if event is Events.EVT_15:
                with self._send_lock:
                    self._aborts_queued -= 1
            elif self._aborts_queued:
                self._discard_primitive(primitive)
                self._primitive_done()
                continue
            if event is Events.EVT_9 and not isinstance(primitive, pdu.PDataTfPDU):
                self._stream = iter(primitive)
                continue
            if event is Events.EVT_1:
                self._left_idle = True
            self._event(event, primitive)
            self._primitive_done()
            self._drain_incoming()

    def _pump_stream(self) -> bool:
        """Send up to _STREAM_BATCH PDUs of the current P-DATA iterator; True when it ended."""
        stream = self._stream
        assert stream is not None
        machine = self.state_machine
        incoming = self._incoming
        for _ in range(_STREAM_BATCH):
            if self._kill_requested or self._closed:
                self._drop_stream('the transport is closed')
                return True
            try:
                p_data = next(stream)
            except StopIteration:
                self._stream = None
                self._primitive_done()
                return True
            except Exception:
                # Half a DIMSE message is on the wire and the rest cannot come: the association
                # cannot recover. Abort it and tell our user (an A-P-ABORT indication).
                logger.exception('%s: the outgoing P-DATA iterator failed; aborting', self.name)
                self._stream = None
                self._primitive_done()
                if machine.is_legal(Events.EVT_15):
                    self._event(Events.EVT_15, pdu.AAbortPDU(0, 0))
                self._pending_up.append(pdu.AAbortPDU(2, 0))  # after what came before it
                return True
            if not self._event(_EVT_9, p_data):
                self._drop_stream(f'P-DATA is not allowed in {machine.current_state.name}')
                return True
            if incoming:
                self._drain_incoming()
        return False

    def _drop_stream(self, why: str) -> None:
        stream, self._stream = self._stream, None
        logger.debug('%s: dropping the rest of a P-DATA iterator: %s', self.name, why)
        self._discard_primitive(stream)
        self._primitive_done()

    @staticmethod
    def _discard_primitive(primitive: Any) -> None:
        close = getattr(primitive, 'close', None)
        if close is not None:
            try:
                close()  # e.g. closes the data-set file of a message being encoded
            except Exception:
                logger.exception('closing a discarded P-DATA iterator failed')

    def _primitive_done(self) -> None:
        with self._send_lock:
            self._unfinished -= 1
            if self._waiting_for_room and self._unfinished <= _QUEUE_LOW:
                self._room.notify_all()

    def _hand_up(self) -> None:
        put = self.to_service_user.put
        metrics = self.metrics
        observers = self.observers
        for indication in self._pending_up:
            if type(indication) is tuple:  # (DIMSE message, context ID)
                if metrics is not None:
                    metrics.message('received', indication[0])
                if observers.dimse_received:
                    observers.notify(
                        Event.DIMSE_RECEIVED, association=self.association,
                        message=indication[0], context_id=indication[1],
                    )
            put(indication)
        self._pending_up.clear()

    # -- incoming --------------------------------------------------------------------------

    def _drain_incoming(self) -> None:
        """Turn received items into events, in order, unless an action is running."""
        incoming = self._incoming
        while incoming and not self._in_action:
            item = incoming.popleft()
            if type(item) is memoryview or type(item) is bytearray:  # the framer's PDUs
                if not self._closed:
                    self._peer_pdu(item)
                continue
            if self._closed and not isinstance(item, EndOfStream):
                continue
            if isinstance(item, (bytes, bytearray, memoryview)):
                self._peer_pdu(item)
            elif isinstance(item, EndOfStream):
                if item.error is not None:
                    logger.info('%s: the transport failed: %s', self.name, item.error)
                if self.state_machine.current_state is not States.STA_1:
                    self.close_transport()
                    self._event(Events.EVT_17, None)
            else:
                logger.warning('%s: invalid PDU from the peer: %s', self.name, item.message)
                error = PDUProcessingError(item.message, abort_reason=item.reason)
                self._event(Events.EVT_19, error)
        if not incoming and not self._in_action:
            # Every PDU cut out of the ring was handled (the reassembler copied what it
            # keeps): its views are done with.
            self._framer.release()

    def _peer_pdu(self, raw: BytesLike) -> None:
        decoded: pdu.PDU
        try:
            if raw[0] == 0x04:  # P-DATA-TF, the hot path: no need to dispatch on the type
                decoded = _decode_pdata(raw)
                event = _EVT_10
            else:
                decoded = pdu.decode_pdu(raw)
                event = PEER_EVENT_BY_PDU_TYPE[decoded.pdu_type]
        except PDUProcessingError as exc:
            logger.warning('%s: undecodable PDU from the peer: %s', self.name, exc)
            if _pdu_dump.isEnabledFor(logging.DEBUG):
                pdudump.log_undecodable(self.name, raw)
            self._event(Events.EVT_19, exc)
            return
        except Exception as exc:
            # A codec bug must not kill the thread: the PDU is invalid as far as we can tell.
            logger.exception('%s: decoding a PDU failed', self.name)
            self._event(Events.EVT_19, PDUProcessingError(str(exc), abort_reason=6))
            return
        if _pdu_dump.isEnabledFor(logging.DEBUG):
            pdudump.log_pdu(self.name, 'received', decoded, raw)
        if self.observers.pdu_received:
            self.observers.notify(Event.PDU_RECEIVED, association=self.association, pdu=decoded)
        self._event(event, decoded)

    # -- timers, wake-ups, stop and kill ---------------------------------------------------

    def _artim_expired(self) -> None:
        machine = self.state_machine
        if machine.is_legal(Events.EVT_18):
            logger.info('%s: ARTIM expired in %s', self.name, machine.current_state.name)
            self._event(Events.EVT_18, None)
        else:  # pragma: no cover - ARTIM runs only in Sta2 and Sta13
            logger.warning('%s: ARTIM expired in %s; ignored', self.name, machine.current_state)
            self.timer.stop()

    def _wake_and_join(self, timeout: float) -> bool:
        with self._send_lock:
            started = self._thread_started
        if not started:
            self._release_resources()
            return True
        self._wake()
        if threading.current_thread() is self:
            return False  # called from our own thread (e.g. a callback): the loop will end
        self.join(timeout)
        if self.is_alive():
            logger.warning('%s did not end within %s s', self.name, timeout)
            return False
        return True

    def _stop_step(self) -> bool:
        """Graceful stop, once nothing is left to send; True when the thread may end."""
        machine = self.state_machine
        state = machine.current_state
        if state is States.STA_1:
            return True
        if state is States.STA_13:
            return False  # PS3.8: wait for the peer to close the transport (ARTIM bounds it)
        if state in _ASSOCIATED:
            self._event(Events.EVT_15, pdu.AAbortPDU(0, 0))
            return machine.current_state is States.STA_1
        # Sta2 (no A-ASSOCIATE-RQ yet): just close, as if the transport went away.
        self.close_transport()
        self._event(Events.EVT_17, None)
        return True

    def _kill_now(self) -> None:
        machine = self.state_machine
        if machine.current_state in _ASSOCIATED and not self._closed:
            # Best effort: write() tries once without waiting, since _kill_requested is set.
            self._event(Events.EVT_15, pdu.AAbortPDU(0, 0))
        if machine.current_state is not States.STA_1:
            self.close_transport()
            self._event(Events.EVT_17, None)

    def _release_resources(self) -> None:
        with self._send_lock:
            if self._resources_released:
                return
            self._resources_released = True
            self._finished = True
            self._room.notify_all()
            dropped = list(self.from_service_user)
            self.from_service_user.clear()
        self.close_transport()
        if self._stream is not None:
            self._discard_primitive(self._stream)
            self._stream = None
        for _event, primitive in dropped:
            self._discard_primitive(primitive)
        self.state_machine.dimse_decoder.discard()
        self._hand_up()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        self.to_service_user.put(_END)

    @staticmethod
    def _local_event(primitive: Any) -> Events:
        pdu_type = getattr(primitive, 'pdu_type', None)
        if pdu_type is not None:
            event = LOCAL_EVENT_BY_PDU_TYPE.get(pdu_type)
            if event is None:
                raise NetDICOMError(f'cannot send a PDU of type {pdu_type!r}')
            return event
        if isinstance(primitive, Iterable) and not isinstance(primitive, (bytes, str)):
            return Events.EVT_9
        raise NetDICOMError(
            f'cannot send {type(primitive).__name__}: expected a PDU or an iterator of '
            f'P-DATA-TF PDUs'
        )
