"""The DICOM upper layer state machine (PS3.8 9.2): states, events, Table 9-10 and its actions.

Rules of this file:

* Everything that decides what the upper layer does next lives here: the thirteen states, the
  nineteen events, the transition table of PS3.8 Table 9-10 and the actions AE-1 ... AA-8.
  Nothing else in the library changes ``current_state``.
* This file does no I/O and starts no thread. An action acts through its *provider* (see
  :class:`ProviderProto`): ``write(bytes)`` puts bytes on the transport, ``close_transport()``
  closes it, ``create_socket()`` connects, and ``to_service_user`` receives the indications.
  ``dulprovider.DULServiceProvider`` is the real provider; the tests use a recording fake.
* This file does not know which role it plays until an action must (AR-8 asks
  ``provider.is_acceptor``), nor what is in a PDU beyond what the table needs: the protocol
  version bit (AE-6) and the abort source/reason it builds.

Theory of operation:

The provider turns whatever happens into one :class:`Events` member, sets
``provider.primitive`` to what the event carries (a PDU the user gave to ``send``, a PDU
decoded from the peer, a P-DATA-TF to send, or the exception of an undecodable PDU) and calls
:meth:`StateMachine.action`. ``action`` looks ``(event, current_state)`` up in the table, runs
the named action, which returns the next state, sets ``current_state`` to it and only then
hands the indications the action produced to the service user. That order matters: a user
thread woken by an indication must already see the state that indication leads to (e.g. a
P-DATA request right after the A-ASSOCIATE-AC confirmation is legal at once).

A combination the table leaves blank is an error. For a local primitive the caller misused the
API, so :class:`~pynetdicom2.exceptions.NetDICOMError` names the event and the state. For a
peer PDU (impossible with a correct provider: every blank PDU cell is in Sta1 or Sta4, where
there is no connection) the machine defends itself with AA-8.

What reaches the service user through ``to_service_user``:

* the PDU objects themselves as indications and confirmations: ``AAssociateRqPDU`` (A-ASSOCIATE
  indication), ``AAssociateAcPDU`` / ``AAssociateRjPDU`` (A-ASSOCIATE confirmation),
  ``AReleaseRqPDU`` (A-RELEASE indication), ``AReleaseRpPDU`` (A-RELEASE confirmation) and
  ``AAbortPDU`` (the peer's A-ABORT; an A-P-ABORT indication is an ``AAbortPDU`` with
  ``source == 2`` that the provider made up);
* complete DIMSE messages as ``(message, presentation_context_id)``: P-DATA-TF PDUs are fed to
  the one reassembler, :class:`~pynetdicom2.dimsemessages.DIMSEDecoder`, never handed up raw.

Usage::

    from pynetdicom2.fsm import Events, StateMachine, States, Timer

    machine = StateMachine(provider, Timer(10), store_in_file=set(), get_file_cb=None)
    provider.primitive = a_associate_rq_pdu
    machine.action(Events.EVT_1)          # AE-1: provider.create_socket(); now Sta4
    machine.action(Events.EVT_2)          # AE-2: the A-ASSOCIATE-RQ goes out; now Sta5
    assert machine.current_state is States.STA_5
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from enum import Enum
from typing import (
    Any,
    BinaryIO,
    Callable,
    ClassVar,
    NamedTuple,
    Protocol,
    Union,
    runtime_checkable,
)

from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import pdu
from pynetdicom2.dimsedecoder import DEFAULT_MAX_DATA_SET_IN_MEMORY
from pynetdicom2.dimsemessages import DIMSEDecoder, DIMSEMessage
from pynetdicom2.exceptions import DIMSEProcessingError, NetDICOMError, PDUProcessingError

__all__ = [
    'ASCEType',
    'DIMSEDecoder',
    'DecodablePDU',
    'Events',
    'GetFileCB',
    'IncomingQueue',
    'Indication',
    'OutgoingQueue',
    'PContextDef',
    'PDUType',
    'PEER_PDU_EVENTS',
    'ProviderProto',
    'StateMachine',
    'States',
    'Timer',
]

logger = logging.getLogger('pynetdicom2.dul')


class PContextDef(NamedTuple):
    """An accepted presentation context: its ID, abstract syntax and the negotiated TS.

    A named tuple, as the seed documents (fields 0, 1 and 2); ``supported_ts`` is the single
    transfer syntax the acceptor chose.

    >>> from pynetdicom2 import uids
    >>> ctx = PContextDef(1, uids.VERIFICATION_SOP_CLASS, uids.ImplicitVRLittleEndian)
    >>> pc_id, sop_class, ts = ctx
    >>> ctx.id, ctx[2] == ctx.supported_ts == ts
    (1, True)
    """

    id: int
    sop_class: UID
    supported_ts: UID


# --- typing ----------------------------------------------------------------------------------

#: Any PDU of PS3.8 9.3.
PDUType = Union[
    pdu.AAssociateRqPDU,
    pdu.AAssociateAcPDU,
    pdu.AAssociateRjPDU,
    pdu.PDataTfPDU,
    pdu.AReleaseRqPDU,
    pdu.AReleaseRpPDU,
    pdu.AAbortPDU,
]
#: The PDUs of the association control service element (everything but P-DATA-TF).
ASCEType = Union[
    pdu.AAssociateRqPDU,
    pdu.AAssociateAcPDU,
    pdu.AAssociateRjPDU,
    pdu.AReleaseRqPDU,
    pdu.AReleaseRpPDU,
    pdu.AAbortPDU,
]
#: What the service user receives: a PDU (indication/confirmation) or a complete DIMSE message.
Indication = Union[PDUType, 'tuple[DIMSEMessage, int]']
#: What the service user sends: a PDU, or an iterator of P-DATA-TF PDUs consumed lazily.
Primitive = Union[PDUType, Iterator[pdu.PDataTfPDU]]
#: The queues between the provider and its user (the DUL uses the faster SimpleQueue).
IncomingQueue = Union[queue.Queue[Indication], queue.SimpleQueue[Indication]]
OutgoingQueue = Union[queue.Queue[Primitive], queue.SimpleQueue[Primitive]]
#: ``get_file(context, command_set) -> (file object, start offset)`` for store-in-file classes.
GetFileCB = Callable[[PContextDef, Dataset], 'tuple[BinaryIO, int]']


@runtime_checkable
class DecodablePDU(Protocol):
    """What every PDU class offers: its type byte, ``encode()`` and ``decode(raw)``."""

    pdu_type: ClassVar[int]

    def encode(self) -> bytes: ...

    @classmethod
    def decode(cls, raw: Any) -> Any: ...


class ProviderProto(Protocol):
    """What the state machine needs from its provider (the DUL thread or a test double).

    Beyond the original provider's members (``dul_socket``, ``primitive``, ``to_service_user``,
    ``from_service_user``, ``is_acceptor``, ``create_socket()``), actions do their I/O through
    ``write(data)`` and ``close_transport()``, so that the provider alone decides how the
    socket is driven (non-blocking, woken for stop/kill) and a write that fails becomes Evt17.

    Optionally, ``write_pdu(pdu)``: the actions then hand it each PDU to send instead of
    ``write(pdu.encode())``, so the provider may send it without joining it into one buffer
    (see :meth:`pynetdicom2.pdu.PDataTfPDU.encode_parts`). Looked up once, when the machine is
    built.
    """

    dul_socket: Any
    primitive: Any
    is_acceptor: bool
    #: Set by AE-1 when connecting failed, so the association layer can say why.
    transport_error: BaseException | None

    @property
    def to_service_user(self) -> Any: ...

    @property
    def from_service_user(self) -> Any: ...

    def create_socket(self) -> Any: ...

    def write(self, data: bytes) -> None: ...

    def close_transport(self) -> None: ...


# --- states and events -----------------------------------------------------------------------


class _Documented(Enum):
    """An enum whose members carry the standard's wording as their docstring."""

    def __new__(cls, value: int, doc: str) -> _Documented:
        member = object.__new__(cls)
        member._value_ = value
        member.__doc__ = doc
        return member

    def __repr__(self) -> str:
        return f'<{type(self).__name__}.{self.name}: {self.__doc__}>'

    # Members are singletons compared by identity, so the identity hash is consistent and
    # spares Enum's Python-level __hash__ on every table lookup (two per event).
    __hash__ = object.__hash__


class States(_Documented):
    """The states of the DICOM UL protocol machine, PS3.8 Tables 9-1 to 9-5 (values 0-12)."""

    STA_1 = 0, 'Idle'
    STA_2 = 1, 'Transport connection open (Awaiting A-ASSOCIATE-RQ PDU)'
    STA_3 = 2, 'Awaiting local A-ASSOCIATE response primitive (from local user)'
    STA_4 = 3, 'Awaiting transport connection opening to complete (from local transport service)'
    STA_5 = 4, 'Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU'
    STA_6 = 5, 'Association established and ready for data transfer'
    STA_7 = 6, 'Awaiting A-RELEASE-RP PDU'
    STA_8 = 7, 'Awaiting local A-RELEASE response primitive (from local user)'
    STA_9 = 8, 'Release collision requestor side; awaiting A-RELEASE response (from local user)'
    STA_10 = 9, 'Release collision acceptor side; awaiting A-RELEASE-RP PDU'
    STA_11 = 10, 'Release collision requestor side; awaiting A-RELEASE-RP PDU'
    STA_12 = 11, (
        'Release collision acceptor side; awaiting A-RELEASE response primitive (from local user)'
    )
    STA_13 = 12, 'Awaiting Transport Connection Close Indication (Association no longer exists)'


class Events(_Documented):
    """The events of the DICOM UL protocol machine, PS3.8 Table 9-10 (values 0-18)."""

    EVT_1 = 0, 'A-ASSOCIATE Request (local user)'
    EVT_2 = 1, 'Transport Conn. Confirm (local transport service)'
    EVT_3 = 2, 'A-ASSOCIATE-AC PDU (received on transport connection)'
    EVT_4 = 3, 'A-ASSOCIATE-RJ PDU (received on transport connection)'
    EVT_5 = 4, 'Transport Connection Indication (local transport service)'
    EVT_6 = 5, 'A-ASSOCIATE-RQ PDU (received on transport connection)'
    EVT_7 = 6, 'A-ASSOCIATE response primitive (accept)'
    EVT_8 = 7, 'A-ASSOCIATE response primitive (reject)'
    EVT_9 = 8, 'P-DATA request primitive'
    EVT_10 = 9, 'P-DATA-TF PDU'
    EVT_11 = 10, 'A-RELEASE Request primitive'
    EVT_12 = 11, 'A-RELEASE-RQ PDU (received on open transport connection)'
    EVT_13 = 12, 'A-RELEASE-RP PDU (received on transport connection)'
    EVT_14 = 13, 'A-RELEASE response primitive'
    EVT_15 = 14, 'A-ABORT Request primitive'
    EVT_16 = 15, 'A-ABORT PDU (received on open transport connection)'
    EVT_17 = 16, 'Transport connection closed indication (local transport service)'
    EVT_18 = 17, 'ARTIM timer expired (Association reject/release timer)'
    EVT_19 = 18, 'Unrecognized or invalid PDU received'


#: Events caused by something the peer sent (the rest are local primitives or transport/timer).
PEER_PDU_EVENTS = frozenset(
    {
        Events.EVT_3,
        Events.EVT_4,
        Events.EVT_6,
        Events.EVT_10,
        Events.EVT_12,
        Events.EVT_13,
        Events.EVT_16,
        Events.EVT_19,
    }
)

#: The event a PDU received from the peer raises, by PDU type (PS3.8 9.3.1).
PEER_EVENT_BY_PDU_TYPE: dict[int, Events] = {
    0x01: Events.EVT_6,
    0x02: Events.EVT_3,
    0x03: Events.EVT_4,
    0x04: Events.EVT_10,
    0x05: Events.EVT_12,
    0x06: Events.EVT_13,
    0x07: Events.EVT_16,
}

#: The event a primitive from the local service user raises, by PDU type.
LOCAL_EVENT_BY_PDU_TYPE: dict[int, Events] = {
    0x01: Events.EVT_1,
    0x02: Events.EVT_7,
    0x03: Events.EVT_8,
    0x04: Events.EVT_9,
    0x05: Events.EVT_11,
    0x06: Events.EVT_14,
    0x07: Events.EVT_15,
}

# PS3.8 9.3.8: A-ABORT source and provider reasons.
SOURCE_SERVICE_USER = 0
SOURCE_SERVICE_PROVIDER = 2
REASON_NOT_SPECIFIED = 0
REASON_UNEXPECTED_PDU = 2
REASON_INVALID_PARAMETER_VALUE = 6


class Timer:
    """The ARTIM timer (PS3.8 9.1.5) on :func:`time.monotonic`, immune to clock changes.

    :meth:`check` returns False once the timer has run ``max_seconds`` since :meth:`start`,
    and True otherwise, including while it is stopped.

    >>> artim = Timer(10)
    >>> artim.start()
    >>> artim.check()
    True
    >>> artim.stop()
    >>> artim.remaining() is None
    True
    """

    def __init__(self, max_seconds: float) -> None:
        self.max_seconds = max_seconds
        self._start_time: float | None = None

    @property
    def is_running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._start_time is not None

    def start(self) -> None:
        """Start the timer now (restarting it if it runs)."""
        self._start_time = time.monotonic()

    def stop(self) -> None:
        """Stop the timer; :meth:`check` is True until the next :meth:`start`."""
        self._start_time = None

    def restart(self) -> None:
        """Start again from now: PS3.8 AA-1 'start (or restart if already started)'."""
        self.start()

    def check(self) -> bool:
        """False when the timer runs and ``max_seconds`` have passed, else True."""
        start = self._start_time
        return start is None or time.monotonic() - start < self.max_seconds

    def remaining(self) -> float | None:
        """Seconds until expiry (0.0 once expired), or None while stopped."""
        start = self._start_time
        if start is None:
            return None
        return max(0.0, self.max_seconds - (time.monotonic() - start))


# --- the machine -----------------------------------------------------------------------------

_ASSOCIATION_GONE = frozenset({States.STA_1, States.STA_13})
_STA_6 = States.STA_6  # returned by DT-1 and DT-2 on every P-DATA-TF


class StateMachine:
    """The PS3.8 9.2 protocol machine of one association, driven by its provider.

    ``transition_table`` is :attr:`TRANSITIONS` (PS3.8 Table 9-10, written out below as a
    literal dict) with each action bound to this machine. :meth:`action` runs one event.

    The provider here is a stand-in with the attributes AE-5 touches; a real one is a
    :class:`~pynetdicom2.dulprovider.DULServiceProvider` whose ``dul_socket`` is the
    accepted connection.

    >>> import queue, types
    >>> provider = types.SimpleNamespace(dul_socket=None, primitive=None, is_acceptor=True,
    ...                                  to_service_user=queue.Queue())
    >>> machine = StateMachine(provider, Timer(10), set(), None)
    >>> machine.action(Events.EVT_5)     # AE-5: ARTIM starts
    <States.STA_2: Transport connection open (Awaiting A-ASSOCIATE-RQ PDU)>
    >>> machine.timer.is_running, machine.current_state is States.STA_2
    (True, True)
    """

    def __init__(
        self,
        provider: ProviderProto,
        timer: Timer,
        store_in_file: Any,
        get_file_cb: GetFileCB | None,
        max_data_set_in_memory: int | None = DEFAULT_MAX_DATA_SET_IN_MEMORY,
    ) -> None:
        self.current_state = States.STA_1
        self.provider = provider
        self.timer = timer
        self.store_in_file = store_in_file
        self.get_file_cb = get_file_cb
        self._accepted_contexts: dict[int, PContextDef] = {}
        self.dimse_decoder = DIMSEDecoder(
            self._accepted_contexts, store_in_file, get_file_cb, max_data_set_in_memory
        )
        self.transition_table: dict[tuple[Events, States], Callable[[], States]] = {
            key: function.__get__(self, StateMachine) for key, function in self.TRANSITIONS.items()
        }
        # Indications an action produced; handed up only after current_state is updated.
        self._indications: list[Any] = []
        # The A-ASSOCIATE-RQ of Evt1, sent by AE-2 once the transport is up (Evt2).
        self._association_rq: Any = None
        #: Where indications go once the state is updated; None: ``to_service_user.put``. The
        #: DUL thread collects them here and hands them over just before it blocks, so the
        #: woken user thread does not wait for the interpreter lock.
        self.deliver: Callable[[Any], None] | None = None
        write_pdu = getattr(provider, 'write_pdu', None)
        self._write_pdu: Callable[[Any], None] = (
            write_pdu if write_pdu is not None else self._write_encoded
        )

    # -- provider proxies ----------------------------------------------------------------------

    @property
    def primitive(self) -> Any:
        """What the current event carries (a PDU, or the error of an undecodable PDU)."""
        return self.provider.primitive

    @primitive.setter
    def primitive(self, value: Any) -> None:
        self.provider.primitive = value

    @property
    def dul_socket(self) -> Any:
        """The provider's socket (None before AE-1 on the requestor side)."""
        return self.provider.dul_socket

    @dul_socket.setter
    def dul_socket(self, value: Any) -> None:
        self.provider.dul_socket = value

    @property
    def to_service_user(self) -> Any:
        """The provider's indication queue (read-only here)."""
        return self.provider.to_service_user

    @property
    def max_data_set_in_memory(self) -> int | None:
        """The reassembler's bound on a data set joined in memory, in bytes (None: none).

        The association sets it from its AE's ``max_data_set_in_memory`` before any PDU can
        arrive (see :mod:`pynetdicom2.dimsedecoder`).
        """
        return self.dimse_decoder.max_data_set_in_memory

    @max_data_set_in_memory.setter
    def max_data_set_in_memory(self, value: int | None) -> None:
        self.dimse_decoder.max_data_set_in_memory = value

    @property
    def accepted_contexts(self) -> dict[int, PContextDef]:
        """Accepted presentation contexts by ID; they feed the DIMSE reassembler."""
        return self._accepted_contexts

    @accepted_contexts.setter
    def accepted_contexts(self, value: dict[int, PContextDef]) -> None:
        self._accepted_contexts = dict(value)
        self.dimse_decoder.accepted_contexts = self._accepted_contexts

    # -- running an event ----------------------------------------------------------------------

    def is_legal(self, event: Events, state: States | None = None) -> bool:
        """True when Table 9-10 has an entry for ``event`` in ``state`` (default: now)."""
        return (event, self.current_state if state is None else state) in self.transition_table

    def action(self, event: Events) -> States:
        """Run ``event`` in the current state; return (and enter) the next state.

        Raises :class:`NetDICOMError` naming event and state when Table 9-10 has no entry
        for a local event; a peer PDU without an entry gets AA-8.
        """
        state = self.current_state
        action = self.transition_table.get((event, state))
        if action is None:
            if event not in PEER_PDU_EVENTS:
                raise NetDICOMError(
                    f'{event.name} ({event.__doc__}) is not allowed in {state.name} '
                    f'({state.__doc__}); PS3.8 Table 9-10 has no transition for it'
                )
            logger.warning('%s in %s has no transition; aborting (AA-8)', event.name, state.name)
            action = self.aa_8
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug('%s in %s: %s', event.name, state.name, action.__name__)
        try:
            next_state = action()
        except BaseException:
            self._indications.clear()
            raise
        self.current_state = next_state
        if next_state in _ASSOCIATION_GONE and state not in _ASSOCIATION_GONE:
            # The association ended: close any data-set file the reassembler has open.
            self.dimse_decoder.discard()
        if self._indications:
            deliver = self.deliver or self.provider.to_service_user.put
            for indication in self._indications:
                deliver(indication)
            self._indications.clear()
        return next_state

    # -- helpers -------------------------------------------------------------------------------

    def _send_primitive(self, primitive: Any = None) -> None:
        """Hand a PDU (default: the current primitive) to the transport."""
        self._write_pdu(self.provider.primitive if primitive is None else primitive)

    def _write_encoded(self, primitive: Any) -> None:
        self.provider.write(primitive.encode())

    def _indicate(self, indication: Any) -> None:
        self._indications.append(indication)

    def _pdata_indication(self, next_state: States) -> States:
        """Feed the received P-DATA-TF to the reassembler; hand up each completed message.

        A DIMSE error is the peer's fault: provider abort, AA-8 with reason 6 (invalid PDU
        parameter value: the PDV content is what is wrong, not the PDU's framing).
        """
        try:
            completed = self.dimse_decoder.process(self.provider.primitive)
        except DIMSEProcessingError as exc:
            logger.warning('malformed DIMSE data from the peer, aborting: %s', exc)
            return self.aa_8(REASON_INVALID_PARAMETER_VALUE)
        except Exception:
            # A bug or a non-OSError from the user's get_file callback: this association cannot
            # go on, but the process (and other associations) must.
            logger.exception('receiving a DIMSE message failed, aborting the association')
            return self.aa_8(REASON_NOT_SPECIFIED)
        for completed_message in completed:
            self._indicate(completed_message)
        return next_state

    def _abort_reason(self) -> int:
        """The A-ABORT provider reason (PS3.8 9.3.8) that fits the current primitive."""
        primitive = self.primitive
        if isinstance(primitive, PDUProcessingError):
            return primitive.abort_reason
        if isinstance(primitive, DIMSEProcessingError):
            return REASON_INVALID_PARAMETER_VALUE
        if isinstance(primitive, DecodablePDU):
            return REASON_UNEXPECTED_PDU  # a valid PDU at the wrong time
        return REASON_NOT_SPECIFIED

    # -- association establishment (PS3.8 Table 9-6) -------------------------------------------

    def ae_1(self) -> States:
        """AE-1: issue a TRANSPORT CONNECT request to the local transport service; Sta4.

        The provider connects (``create_socket``); it then raises Evt2 when ``dul_socket`` is
        set, or Evt17 when the connection failed.
        """
        self._association_rq = self.primitive
        try:
            self.provider.dul_socket = self.provider.create_socket()
        except (OSError, NetDICOMError) as exc:
            logger.warning('cannot connect: %s', exc)
            self.provider.dul_socket = None
            self.provider.transport_error = exc
        return States.STA_4

    def ae_2(self) -> States:
        """AE-2: send the A-ASSOCIATE-RQ PDU (of Evt1); Sta5."""
        rq = self._association_rq if self._association_rq is not None else self.primitive
        self._send_primitive(rq)
        return States.STA_5

    def ae_3(self) -> States:
        """AE-3: issue the A-ASSOCIATE confirmation (accept) primitive; Sta6."""
        self._indicate(self.primitive)
        return States.STA_6

    def ae_4(self) -> States:
        """AE-4: issue the A-ASSOCIATE confirmation (reject) and close the transport; Sta1."""
        self._indicate(self.primitive)
        self.provider.close_transport()
        return States.STA_1

    def ae_5(self) -> States:
        """AE-5: issue the transport connection response; start ARTIM; Sta2."""
        self.timer.start()
        return States.STA_2

    def ae_6(self) -> States:
        """AE-6: stop ARTIM; indicate an acceptable A-ASSOCIATE-RQ (Sta3) or reject it (Sta13).

        The provider's own test is the protocol version: PS3.8 9.3.2 says a receiver of this
        version tests only that bit 0 is set. Without it: A-ASSOCIATE-RJ result 1 (permanent),
        source 2 (service provider, ACSE), reason 2 (protocol version not supported), ARTIM.
        Everything else (called AE title, application context, ...) is the service user's
        decision.
        """
        self.timer.stop()
        rq = self.primitive
        if not rq.protocol_version & 1:
            logger.warning(
                'A-ASSOCIATE-RQ with protocol version %#06x (bit 0 clear): rejecting',
                rq.protocol_version,
            )
            self._send_primitive(pdu.AAssociateRjPDU(1, 2, 2))
            self.timer.start()
            return States.STA_13
        self._indicate(rq)
        return States.STA_3

    def ae_7(self) -> States:
        """AE-7: send the A-ASSOCIATE-AC PDU; Sta6."""
        self._send_primitive()
        return States.STA_6

    def ae_8(self) -> States:
        """AE-8: send the A-ASSOCIATE-RJ PDU and start ARTIM; Sta13."""
        self._send_primitive()
        self.timer.start()
        return States.STA_13

    # -- data transfer (PS3.8 Table 9-7) -------------------------------------------------------

    def dt_1(self) -> States:
        """DT-1: send the P-DATA-TF PDU; Sta6."""
        self._write_pdu(self.provider.primitive)  # _send_primitive(), one call less per PDU
        return _STA_6

    def dt_2(self) -> States:
        """DT-2: send the P-DATA indication (each completed DIMSE message); Sta6."""
        return self._pdata_indication(_STA_6)

    # -- association release (PS3.8 Table 9-8) -------------------------------------------------

    def ar_1(self) -> States:
        """AR-1: send the A-RELEASE-RQ PDU; Sta7."""
        self._send_primitive()
        return States.STA_7

    def ar_2(self) -> States:
        """AR-2: issue the A-RELEASE indication (the A-RELEASE-RQ PDU); Sta8."""
        self._indicate(self.primitive)
        return States.STA_8

    def ar_3(self) -> States:
        """AR-3: issue the A-RELEASE confirmation and close the transport; Sta1."""
        self._indicate(self.primitive)
        self.provider.close_transport()
        return States.STA_1

    def ar_4(self) -> States:
        """AR-4: issue the A-RELEASE-RP PDU and start ARTIM; Sta13."""
        self._send_primitive()
        self.timer.start()
        return States.STA_13

    def ar_5(self) -> States:
        """AR-5: stop ARTIM; Sta1 (the peer closed the transport; we release our end)."""
        self.timer.stop()
        self.provider.close_transport()
        return States.STA_1

    def ar_6(self) -> States:
        """AR-6: issue the P-DATA indication while awaiting the A-RELEASE-RP; Sta7."""
        return self._pdata_indication(States.STA_7)

    def ar_7(self) -> States:
        """AR-7: issue the P-DATA-TF PDU while the A-RELEASE response is pending; Sta8."""
        self._send_primitive()
        return States.STA_8

    def ar_8(self) -> States:
        """AR-8: issue the A-RELEASE indication (release collision); Sta9 or Sta10.

        Sta9 on the association-requestor side, Sta10 on the acceptor side.
        """
        self._indicate(self.primitive)
        return States.STA_10 if self.provider.is_acceptor else States.STA_9

    def ar_9(self) -> States:
        """AR-9: send the A-RELEASE-RP PDU; Sta11."""
        self._send_primitive()
        return States.STA_11

    def ar_10(self) -> States:
        """AR-10: issue the A-RELEASE confirmation primitive; Sta12."""
        self._indicate(self.primitive)
        return States.STA_12

    # -- association abort (PS3.8 Table 9-9) ---------------------------------------------------

    def aa_1(self) -> States:
        """AA-1: send an A-ABORT PDU (service-user source), (re)start ARTIM; Sta13.

        For Evt15 the user's own A-ABORT goes out as given. For the unexpected or invalid
        PDUs that lead here in Sta2, PS3.8 Table 9-9 prescribes the service-user source, whose
        reason 'shall not be significant' and is sent as 00H (PS3.8 9.3.8).
        """
        primitive = self.primitive
        if isinstance(primitive, pdu.AAbortPDU) and self.current_state is not States.STA_2:
            self._send_primitive(primitive)
        else:
            self._send_primitive(pdu.AAbortPDU(SOURCE_SERVICE_USER, REASON_NOT_SPECIFIED))
        self.timer.restart()
        return States.STA_13

    def aa_2(self) -> States:
        """AA-2: stop ARTIM if running; close the transport; Sta1."""
        self.timer.stop()
        self.provider.close_transport()
        return States.STA_1

    def aa_3(self) -> States:
        """AA-3: issue the A-ABORT (source 0) or A-P-ABORT indication; close; Sta1.

        The peer's A-ABORT PDU is the indication: its ``source`` tells which one it is.
        """
        self._indicate(self.primitive)
        self.provider.close_transport()
        return States.STA_1

    def aa_4(self) -> States:
        """AA-4: issue an A-P-ABORT indication (transport lost); Sta1."""
        self._indicate(pdu.AAbortPDU(SOURCE_SERVICE_PROVIDER, REASON_NOT_SPECIFIED))
        self.provider.close_transport()
        return States.STA_1

    def aa_5(self) -> States:
        """AA-5: stop ARTIM; Sta1 (the peer closed before asking anything)."""
        self.timer.stop()
        self.provider.close_transport()
        return States.STA_1

    def aa_6(self) -> States:
        """AA-6: ignore the PDU (the association no longer exists); Sta13."""
        return States.STA_13

    def aa_7(self) -> States:
        """AA-7: send an A-ABORT PDU (service-provider source, the reason that fits); Sta13."""
        self._send_primitive(pdu.AAbortPDU(SOURCE_SERVICE_PROVIDER, self._abort_reason()))
        return States.STA_13

    def aa_8(self, reason: int | None = None) -> States:
        """AA-8: send an A-ABORT (service-provider source), indicate A-P-ABORT, start ARTIM.

        The reason is the one that fits (PS3.8 9.3.8): 1 unrecognised PDU, 2 unexpected PDU,
        4/5/6 parameter errors of an undecodable PDU, 6 malformed DIMSE data, else 0. Sta13.
        """
        if reason is None:
            reason = self._abort_reason()
        self._send_primitive(pdu.AAbortPDU(SOURCE_SERVICE_PROVIDER, reason))
        self._indicate(pdu.AAbortPDU(SOURCE_SERVICE_PROVIDER, reason))
        self.timer.restart()
        return States.STA_13

    # -- PS3.8 Table 9-10 ----------------------------------------------------------------------
    # One row per event, its cells in state order. A cell the standard leaves blank is absent:
    # a local primitive there is an error, a peer PDU there is impossible (no connection).

    TRANSITIONS: ClassVar[dict[tuple[Events, States], Callable[..., States]]] = {
        # Evt1: A-ASSOCIATE request (local user)
        (Events.EVT_1, States.STA_1): ae_1,
        # Evt2: transport connection confirm (local transport service)
        (Events.EVT_2, States.STA_4): ae_2,
        # Evt3: A-ASSOCIATE-AC PDU received
        (Events.EVT_3, States.STA_2): aa_1,
        (Events.EVT_3, States.STA_3): aa_8,
        (Events.EVT_3, States.STA_5): ae_3,
        (Events.EVT_3, States.STA_6): aa_8,
        (Events.EVT_3, States.STA_7): aa_8,
        (Events.EVT_3, States.STA_8): aa_8,
        (Events.EVT_3, States.STA_9): aa_8,
        (Events.EVT_3, States.STA_10): aa_8,
        (Events.EVT_3, States.STA_11): aa_8,
        (Events.EVT_3, States.STA_12): aa_8,
        (Events.EVT_3, States.STA_13): aa_6,
        # Evt4: A-ASSOCIATE-RJ PDU received
        (Events.EVT_4, States.STA_2): aa_1,
        (Events.EVT_4, States.STA_3): aa_8,
        (Events.EVT_4, States.STA_5): ae_4,
        (Events.EVT_4, States.STA_6): aa_8,
        (Events.EVT_4, States.STA_7): aa_8,
        (Events.EVT_4, States.STA_8): aa_8,
        (Events.EVT_4, States.STA_9): aa_8,
        (Events.EVT_4, States.STA_10): aa_8,
        (Events.EVT_4, States.STA_11): aa_8,
        (Events.EVT_4, States.STA_12): aa_8,
        (Events.EVT_4, States.STA_13): aa_6,
        # Evt5: transport connection indication (local transport service)
        (Events.EVT_5, States.STA_1): ae_5,
        # Evt6: A-ASSOCIATE-RQ PDU received
        (Events.EVT_6, States.STA_2): ae_6,
        (Events.EVT_6, States.STA_3): aa_8,
        (Events.EVT_6, States.STA_5): aa_8,
        (Events.EVT_6, States.STA_6): aa_8,
        (Events.EVT_6, States.STA_7): aa_8,
        (Events.EVT_6, States.STA_8): aa_8,
        (Events.EVT_6, States.STA_9): aa_8,
        (Events.EVT_6, States.STA_10): aa_8,
        (Events.EVT_6, States.STA_11): aa_8,
        (Events.EVT_6, States.STA_12): aa_8,
        (Events.EVT_6, States.STA_13): aa_7,
        # Evt7: A-ASSOCIATE response primitive (accept)
        (Events.EVT_7, States.STA_3): ae_7,
        # Evt8: A-ASSOCIATE response primitive (reject)
        (Events.EVT_8, States.STA_3): ae_8,
        # Evt9: P-DATA request primitive
        (Events.EVT_9, States.STA_6): dt_1,
        (Events.EVT_9, States.STA_8): ar_7,
        # Evt10: P-DATA-TF PDU received
        (Events.EVT_10, States.STA_2): aa_1,
        (Events.EVT_10, States.STA_3): aa_8,
        (Events.EVT_10, States.STA_5): aa_8,
        (Events.EVT_10, States.STA_6): dt_2,
        (Events.EVT_10, States.STA_7): ar_6,
        (Events.EVT_10, States.STA_8): aa_8,
        (Events.EVT_10, States.STA_9): aa_8,
        (Events.EVT_10, States.STA_10): aa_8,
        (Events.EVT_10, States.STA_11): aa_8,
        (Events.EVT_10, States.STA_12): aa_8,
        (Events.EVT_10, States.STA_13): aa_6,
        # Evt11: A-RELEASE request primitive
        (Events.EVT_11, States.STA_6): ar_1,
        # Evt12: A-RELEASE-RQ PDU received
        (Events.EVT_12, States.STA_2): aa_1,
        (Events.EVT_12, States.STA_3): aa_8,
        (Events.EVT_12, States.STA_5): aa_8,
        (Events.EVT_12, States.STA_6): ar_2,
        (Events.EVT_12, States.STA_7): ar_8,
        (Events.EVT_12, States.STA_8): aa_8,
        (Events.EVT_12, States.STA_9): aa_8,
        (Events.EVT_12, States.STA_10): aa_8,
        (Events.EVT_12, States.STA_11): aa_8,
        (Events.EVT_12, States.STA_12): aa_8,
        (Events.EVT_12, States.STA_13): aa_6,
        # Evt13: A-RELEASE-RP PDU received
        (Events.EVT_13, States.STA_2): aa_1,
        (Events.EVT_13, States.STA_3): aa_8,
        (Events.EVT_13, States.STA_5): aa_8,
        (Events.EVT_13, States.STA_6): aa_8,
        (Events.EVT_13, States.STA_7): ar_3,
        (Events.EVT_13, States.STA_8): aa_8,
        (Events.EVT_13, States.STA_9): aa_8,
        (Events.EVT_13, States.STA_10): ar_10,
        (Events.EVT_13, States.STA_11): ar_3,
        (Events.EVT_13, States.STA_12): aa_8,
        (Events.EVT_13, States.STA_13): aa_6,
        # Evt14: A-RELEASE response primitive
        (Events.EVT_14, States.STA_8): ar_4,
        (Events.EVT_14, States.STA_9): ar_9,
        (Events.EVT_14, States.STA_12): ar_4,
        # Evt15: A-ABORT request primitive
        (Events.EVT_15, States.STA_3): aa_1,
        (Events.EVT_15, States.STA_4): aa_2,
        (Events.EVT_15, States.STA_5): aa_1,
        (Events.EVT_15, States.STA_6): aa_1,
        (Events.EVT_15, States.STA_7): aa_1,
        (Events.EVT_15, States.STA_8): aa_1,
        (Events.EVT_15, States.STA_9): aa_1,
        (Events.EVT_15, States.STA_10): aa_1,
        (Events.EVT_15, States.STA_11): aa_1,
        (Events.EVT_15, States.STA_12): aa_1,
        # Evt16: A-ABORT PDU received
        (Events.EVT_16, States.STA_2): aa_2,
        (Events.EVT_16, States.STA_3): aa_3,
        (Events.EVT_16, States.STA_5): aa_3,
        (Events.EVT_16, States.STA_6): aa_3,
        (Events.EVT_16, States.STA_7): aa_3,
        (Events.EVT_16, States.STA_8): aa_3,
        (Events.EVT_16, States.STA_9): aa_3,
        (Events.EVT_16, States.STA_10): aa_3,
        (Events.EVT_16, States.STA_11): aa_3,
        (Events.EVT_16, States.STA_12): aa_3,
        (Events.EVT_16, States.STA_13): aa_2,
        # Evt17: transport connection closed indication (local transport service)
        (Events.EVT_17, States.STA_2): aa_5,
        (Events.EVT_17, States.STA_3): aa_4,
        (Events.EVT_17, States.STA_4): aa_4,
        (Events.EVT_17, States.STA_5): aa_4,
        (Events.EVT_17, States.STA_6): aa_4,
        (Events.EVT_17, States.STA_7): aa_4,
        (Events.EVT_17, States.STA_8): aa_4,
        (Events.EVT_17, States.STA_9): aa_4,
        (Events.EVT_17, States.STA_10): aa_4,
        (Events.EVT_17, States.STA_11): aa_4,
        (Events.EVT_17, States.STA_12): aa_4,
        (Events.EVT_17, States.STA_13): ar_5,
        # Evt18: ARTIM timer expired
        (Events.EVT_18, States.STA_2): aa_2,
        (Events.EVT_18, States.STA_13): aa_2,
        # Evt19: unrecognized or invalid PDU received
        (Events.EVT_19, States.STA_2): aa_1,
        (Events.EVT_19, States.STA_3): aa_8,
        (Events.EVT_19, States.STA_5): aa_8,
        (Events.EVT_19, States.STA_6): aa_8,
        (Events.EVT_19, States.STA_7): aa_8,
        (Events.EVT_19, States.STA_8): aa_8,
        (Events.EVT_19, States.STA_9): aa_8,
        (Events.EVT_19, States.STA_10): aa_8,
        (Events.EVT_19, States.STA_11): aa_8,
        (Events.EVT_19, States.STA_12): aa_8,
        (Events.EVT_19, States.STA_13): aa_7,
    }
