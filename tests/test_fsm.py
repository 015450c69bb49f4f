"""The PS3.8 state machine against Table 9-10, cell by cell, with a recording fake provider.

The table below is transcribed from PS3.8 Table 9-10 (rows: events, columns: states, '.' for
a blank cell); the expected effect of each action from PS3.8 Tables 9-6 to 9-9. Every cell
is run on a fresh machine forced into its state, and the test asserts the next state, the
exact bytes written, the indications handed up, whether the transport was closed and what
ARTIM does.
"""

from __future__ import annotations

import io
import queue
import time
from typing import Any

import pytest
from ulpeer import A_RELEASE_RP, A_RELEASE_RQ, a_abort, a_associate_rj

from pynetdicom2 import dimsemessages, fsm, pdu
from pynetdicom2.exceptions import NetDICOMError, PDUProcessingError
from pynetdicom2.fsm import Events, PContextDef, StateMachine, States, Timer

TABLE_9_10 = """
        Sta1 Sta2 Sta3 Sta4 Sta5 Sta6 Sta7 Sta8 Sta9 Sta10 Sta11 Sta12 Sta13
Evt1    AE-1 .    .    .    .    .    .    .    .    .     .     .     .
Evt2    .    .    .    AE-2 .    .    .    .    .    .     .     .     .
Evt3    .    AA-1 AA-8 .    AE-3 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8  AA-8  AA-6
Evt4    .    AA-1 AA-8 .    AE-4 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8  AA-8  AA-6
Evt5    AE-5 .    .    .    .    .    .    .    .    .     .     .     .
Evt6    .    AE-6 AA-8 .    AA-8 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8  AA-8  AA-7
Evt7    .    .    AE-7 .    .    .    .    .    .    .     .     .     .
Evt8    .    .    AE-8 .    .    .    .    .    .    .     .     .     .
Evt9    .    .    .    .    .    DT-1 .    AR-7 .    .     .     .     .
Evt10   .    AA-1 AA-8 .    AA-8 DT-2 AR-6 AA-8 AA-8 AA-8  AA-8  AA-8  AA-6
Evt11   .    .    .    .    .    AR-1 .    .    .    .     .     .     .
Evt12   .    AA-1 AA-8 .    AA-8 AR-2 AR-8 AA-8 AA-8 AA-8  AA-8  AA-8  AA-6
Evt13   .    AA-1 AA-8 .    AA-8 AA-8 AR-3 AA-8 AA-8 AR-10 AR-3  AA-8  AA-6
Evt14   .    .    .    .    .    .    .    AR-4 AR-9 .     .     AR-4  .
Evt15   .    .    AA-1 AA-2 AA-1 AA-1 AA-1 AA-1 AA-1 AA-1  AA-1  AA-1  .
Evt16   .    AA-2 AA-3 .    AA-3 AA-3 AA-3 AA-3 AA-3 AA-3  AA-3  AA-3  AA-2
Evt17   .    AA-5 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4  AA-4  AA-4  AR-5
Evt18   .    AA-2 .    .    .    .    .    .    .    .     .     .     AA-2
Evt19   .    AA-1 AA-8 .    AA-8 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8  AA-8  AA-7
"""


def _parse_table(text: str) -> dict[tuple[Events, States], str]:
    lines = [line.split() for line in text.strip().splitlines()]
    states = [States[f'STA_{name[3:]}'] for name in lines[0]]
    table = {}
    for row in lines[1:]:
        event = Events[f'EVT_{row[0][3:]}']
        assert len(row) == 14, row
        for state, cell in zip(states, row[1:]):
            if cell != '.':
                table[event, state] = cell
    return table


STANDARD = _parse_table(TABLE_9_10)
ALL_CELLS = [(event, state) for event in Events for state in States]

VERIFICATION = '1.2.840.10008.1.1'
CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2'
IMPLICIT_LE = '1.2.840.10008.1.2'
CONTEXTS = {
    1: PContextDef(1, VERIFICATION, IMPLICIT_LE),
    3: PContextDef(3, CT_IMAGE_STORAGE, IMPLICIT_LE),
}


def _items() -> list[Any]:
    return [pdu.ApplicationContextItem('1.2.840.10008.3.1.1.1')]


def _echo_pdata() -> pdu.PDataTfPDU:
    msg = dimsemessages.CEchoRQMessage()
    msg.message_id = 7
    msg.sop_class_uid = VERIFICATION
    (p_data,) = msg.encode(1, 0)
    return p_data


# The primitive each event carries in these tests.
PRIMITIVES: dict[Events, Any] = {
    Events.EVT_1: pdu.AAssociateRqPDU('CALLED', 'CALLING', _items()),
    Events.EVT_2: pdu.AAssociateRqPDU('CALLED', 'CALLING', _items()),  # AE-2 sends Evt1's RQ
    Events.EVT_3: pdu.AAssociateAcPDU('CALLED', 'CALLING', _items()),
    Events.EVT_4: pdu.AAssociateRjPDU(1, 1, 3),
    Events.EVT_5: None,
    Events.EVT_6: pdu.AAssociateRqPDU('CALLED', 'CALLING', _items()),
    Events.EVT_7: pdu.AAssociateAcPDU('CALLED', 'CALLING', _items()),
    Events.EVT_8: pdu.AAssociateRjPDU(1, 1, 7),
    Events.EVT_9: _echo_pdata(),
    Events.EVT_10: _echo_pdata(),
    Events.EVT_11: pdu.AReleaseRqPDU(),
    Events.EVT_12: pdu.AReleaseRqPDU(),
    Events.EVT_13: pdu.AReleaseRpPDU(),
    Events.EVT_14: pdu.AReleaseRpPDU(),
    Events.EVT_15: pdu.AAbortPDU(0, 0),
    Events.EVT_16: pdu.AAbortPDU(0, 0),
    Events.EVT_17: None,
    Events.EVT_18: None,
    Events.EVT_19: PDUProcessingError('a bad item length', abort_reason=4),
}


class RecordingProvider:
    """A provider that records what the machine asks of it instead of doing I/O."""

    def __init__(self, is_acceptor: bool = False) -> None:
        self.dul_socket: Any = object()
        self.primitive: Any = None
        self.is_acceptor = is_acceptor
        self.transport_error: BaseException | None = None
        self.to_service_user: queue.Queue[Any] = queue.Queue()
        self.from_service_user: queue.Queue[Any] = queue.Queue()
        self.written = bytearray()
        self.closed = 0
        self.connects = 0
        self.connect_error: BaseException | None = None

    def create_socket(self) -> Any:
        self.connects += 1
        if self.connect_error is not None:
            raise self.connect_error
        return 'connected socket'

    def write(self, data: bytes) -> None:
        self.written += data

    def close_transport(self) -> None:
        self.closed += 1

    def indications(self) -> list[Any]:
        found = []
        while not self.to_service_user.empty():
            found.append(self.to_service_user.get_nowait())
        return found


def _machine(state: States, is_acceptor: bool = False) -> tuple[StateMachine, RecordingProvider]:
    provider = RecordingProvider(is_acceptor)
    machine = StateMachine(provider, Timer(10), {CT_IMAGE_STORAGE}, None)
    machine.accepted_contexts = CONTEXTS
    machine.current_state = state
    return machine, provider


def _expected(action: str, event: Events, state: States, is_acceptor: bool) -> dict[str, Any]:
    """What PS3.8 Tables 9-6 to 9-9 say ``action`` does: next state, wire, indications..."""
    primitive = PRIMITIVES[event]
    sent = primitive.encode() if hasattr(primitive, 'encode') else b''
    unexpected = 4 if event is Events.EVT_19 else 2  # the error's reason, or 'unexpected PDU'
    p_abort = pdu.AAbortPDU(2, 0)
    message = ('message', 1)
    table: dict[str, tuple[States, bytes, list[Any], bool, str]] = {
        # action: next state, bytes written, indications, transport closed, ARTIM afterwards
        'AE-1': (States.STA_4, b'', [], False, 'stopped'),
        'AE-2': (States.STA_5, sent, [], False, 'stopped'),
        'AE-3': (States.STA_6, b'', [primitive], False, 'stopped'),
        'AE-4': (States.STA_1, b'', [primitive], True, 'stopped'),
        'AE-5': (States.STA_2, b'', [], False, 'running'),
        'AE-6': (States.STA_3, b'', [primitive], False, 'stopped'),
        'AE-7': (States.STA_6, sent, [], False, 'stopped'),
        'AE-8': (States.STA_13, sent, [], False, 'running'),
        'DT-1': (States.STA_6, sent, [], False, 'stopped'),
        'DT-2': (States.STA_6, b'', [message], False, 'stopped'),
        'AR-1': (States.STA_7, sent, [], False, 'stopped'),
        'AR-2': (States.STA_8, b'', [primitive], False, 'stopped'),
        'AR-3': (States.STA_1, b'', [primitive], True, 'stopped'),
        'AR-4': (States.STA_13, sent, [], False, 'running'),
        'AR-5': (States.STA_1, b'', [], True, 'stopped'),
        'AR-6': (States.STA_7, b'', [message], False, 'stopped'),
        'AR-7': (States.STA_8, sent, [], False, 'stopped'),
        'AR-8': (
            States.STA_10 if is_acceptor else States.STA_9,
            b'',
            [primitive],
            False,
            'stopped',
        ),
        'AR-9': (States.STA_11, sent, [], False, 'stopped'),
        'AR-10': (States.STA_12, b'', [primitive], False, 'stopped'),
        # AA-1: the user's own A-ABORT for Evt15; the service-user source (reason 00H, 'not
        # significant', PS3.8 9.3.8) for the unexpected or invalid PDUs of Sta2.
        'AA-1': (
            States.STA_13,
            sent if event is Events.EVT_15 else a_abort(0, 0),
            [],
            False,
            'running',
        ),
        'AA-2': (States.STA_1, b'', [], True, 'stopped'),
        'AA-3': (States.STA_1, b'', [primitive], True, 'stopped'),
        'AA-4': (States.STA_1, b'', [p_abort], True, 'stopped'),
        'AA-5': (States.STA_1, b'', [], True, 'stopped'),
        'AA-6': (States.STA_13, b'', [], False, 'unchanged'),
        'AA-7': (States.STA_13, a_abort(2, unexpected), [], False, 'unchanged'),
        'AA-8': (
            States.STA_13,
            a_abort(2, unexpected),
            [pdu.AAbortPDU(2, unexpected)],
            False,
            'running',
        ),
    }
    next_state, wire, indications, closed, timer = table[action]
    return dict(state=next_state, wire=wire, indications=indications, closed=closed, timer=timer)


def _normalise(indications: list[Any]) -> list[Any]:
    """Replace a (DIMSE message, pc_id) by ('message', pc_id) after checking the message."""
    result = []
    for item in indications:
        if isinstance(item, tuple):
            msg, pc_id = item
            assert isinstance(msg, dimsemessages.CEchoRQMessage)
            assert msg.message_id == 7
            result.append(('message', pc_id))
        else:
            result.append(item)
    return result


def _cells() -> list[Any]:
    cells = []
    for (event, state), action in STANDARD.items():
        roles = (False, True) if action == 'AR-8' else (False,)
        for is_acceptor in roles:
            role = 'acceptor' if is_acceptor else 'requestor'
            name = f'{event.name}-{state.name}-{role}'
            cells.append(pytest.param(event, state, action, is_acceptor, id=name))
    return cells


def test_table_is_the_standard() -> None:
    """TRANSITIONS has exactly the standard's cells, each naming the standard's action."""
    ours = {
        key: function.__name__.upper().replace('_', '-')
        for key, function in StateMachine.TRANSITIONS.items()
    }
    assert ours == STANDARD
    machine, _ = _machine(States.STA_1)
    assert set(machine.transition_table) == set(STANDARD)
    assert all(
        bound.__self__ is machine and bound.__func__ is StateMachine.TRANSITIONS[key]
        for key, bound in machine.transition_table.items()
    )
    print(
        f'\nPS3.8 Table 9-10: {len(ours)} transitions defined by the standard, '
        f'{len(STANDARD)} covered by test_cell ({len(ALL_CELLS)} cells, '
        f'{len(ALL_CELLS) - len(STANDARD)} blank)'
    )


@pytest.mark.parametrize('event, state, action, is_acceptor', _cells())
def test_cell(event: Events, state: States, action: str, is_acceptor: bool) -> None:
    machine, provider = _machine(state, is_acceptor)
    if action in ('AA-6', 'AA-7'):
        machine.timer.start()  # in Sta13 ARTIM runs; these actions leave it alone
    timer_before = machine.timer._start_time
    provider.primitive = PRIMITIVES[event]
    expected = _expected(action, event, state, is_acceptor)

    assert machine.action(event) is expected['state']

    assert machine.current_state is expected['state']
    assert bytes(provider.written) == expected['wire']
    assert _normalise(provider.indications()) == expected['indications']
    assert bool(provider.closed) == expected['closed']
    if expected['timer'] == 'unchanged':
        assert machine.timer._start_time == timer_before
    else:
        assert machine.timer.is_running == (expected['timer'] == 'running')
    if action == 'AE-1':
        assert provider.connects == 1
        assert provider.dul_socket == 'connected socket'


LOCAL_BLANKS = [
    (event, state)
    for event, state in ALL_CELLS
    if (event, state) not in STANDARD and event not in fsm.PEER_PDU_EVENTS
]
PEER_BLANKS = [
    (event, state)
    for event, state in ALL_CELLS
    if (event, state) not in STANDARD and event in fsm.PEER_PDU_EVENTS
]


@pytest.mark.parametrize('event, state', LOCAL_BLANKS, ids=lambda v: v.name)
def test_illegal_local_event_raises_naming_event_and_state(event: Events, state: States) -> None:
    machine, provider = _machine(state)
    provider.primitive = PRIMITIVES[event]
    with pytest.raises(NetDICOMError) as info:
        machine.action(event)
    assert event.name in str(info.value) and state.name in str(info.value)
    assert machine.current_state is state
    assert provider.written == b'' and provider.indications() == [] and not provider.closed


@pytest.mark.parametrize('event, state', PEER_BLANKS, ids=lambda v: v.name)
def test_peer_pdu_without_transition_is_a_provider_abort(event: Events, state: States) -> None:
    # Only Sta1 and Sta4 (no connection) are blank for peer PDUs: a provider bug, not a peer's.
    assert state in (States.STA_1, States.STA_4)
    machine, provider = _machine(state)
    provider.primitive = PRIMITIVES[event]
    assert machine.action(event) is States.STA_13
    reason = 4 if event is Events.EVT_19 else 2
    assert bytes(provider.written) == a_abort(2, reason)


def test_counts() -> None:
    assert len(STANDARD) == 123
    assert len(LOCAL_BLANKS) + len(PEER_BLANKS) + len(STANDARD) == 13 * 19


# --- actions whose outcome depends on more than the event ------------------------------------


@pytest.mark.parametrize('version', [0, 2, 0xFFFE])
def test_ae_6_rejects_a_protocol_version_without_bit_0(version: int) -> None:
    machine, provider = _machine(States.STA_2)
    machine.timer.start()
    rq = pdu.AAssociateRqPDU('CALLED', 'CALLING', _items(), protocol_version=version)
    provider.primitive = rq
    assert machine.action(Events.EVT_6) is States.STA_13
    # PS3.8 AE-6 and 9.3.4: rejected-permanent (1), ACSE provider (2), protocol version (2).
    assert bytes(provider.written) == a_associate_rj(1, 2, 2)
    assert provider.indications() == []
    assert machine.timer.is_running


def test_ae_6_tests_only_bit_0() -> None:
    machine, provider = _machine(States.STA_2)
    rq = pdu.AAssociateRqPDU('CALLED', 'CALLING', _items(), protocol_version=3)
    provider.primitive = rq
    assert machine.action(Events.EVT_6) is States.STA_3
    assert provider.indications() == [rq]


def test_ae_1_connection_failure_is_recorded_for_evt17() -> None:
    machine, provider = _machine(States.STA_1)
    provider.dul_socket = None
    provider.connect_error = ConnectionRefusedError(111, 'refused')
    provider.primitive = PRIMITIVES[Events.EVT_1]
    assert machine.action(Events.EVT_1) is States.STA_4
    assert provider.dul_socket is None
    assert provider.transport_error is provider.connect_error
    assert machine.action(Events.EVT_17) is States.STA_1
    assert provider.indications() == [pdu.AAbortPDU(2, 0)]


def test_ae_2_sends_the_request_of_evt1() -> None:
    machine, provider = _machine(States.STA_1)
    rq = pdu.AAssociateRqPDU('FIRST', 'CALLING', _items())
    provider.primitive = rq
    machine.action(Events.EVT_1)
    provider.primitive = None
    assert machine.action(Events.EVT_2) is States.STA_5
    assert bytes(provider.written) == rq.encode()


@pytest.mark.parametrize('state', [States.STA_6, States.STA_7])
def test_malformed_dimse_is_a_provider_abort_with_reason_6(state: States) -> None:
    machine, provider = _machine(state)
    # A data-set fragment with no command set before it (PS3.7 6.3).
    provider.primitive = pdu.PDataTfPDU([pdu.PresentationDataValueItem(1, b'\x02data')])
    assert machine.action(Events.EVT_10) is States.STA_13
    assert bytes(provider.written) == a_abort(2, 6)
    assert provider.indications() == [pdu.AAbortPDU(2, 6)]
    assert machine.timer.is_running


def test_a_failing_get_file_callback_aborts_without_killing_the_machine() -> None:
    def get_file(context: Any, command_set: Any) -> Any:
        raise ValueError('a bug in the user callback')

    provider = RecordingProvider()
    machine = StateMachine(provider, Timer(10), {CT_IMAGE_STORAGE}, get_file)
    machine.accepted_contexts = CONTEXTS
    machine.current_state = States.STA_6
    provider.primitive = next(_store_rq().encode(3, 0))
    assert machine.action(Events.EVT_10) is States.STA_13
    assert bytes(provider.written) == a_abort(2, 0)


def _store_rq() -> dimsemessages.CStoreRQMessage:
    msg = dimsemessages.CStoreRQMessage()
    msg.message_id = 1
    msg.sop_class_uid = CT_IMAGE_STORAGE
    msg.affected_sop_instance_uid = '1.2.3.4'
    msg.priority = 0
    msg.data_set = b'\x08\x00\x16\x00' + bytes(60)
    return msg


def test_end_of_association_closes_the_file_in_progress() -> None:
    files: list[io.BytesIO] = []

    def get_file(context: Any, command_set: Any) -> Any:
        files.append(io.BytesIO())
        return files[-1], 0

    provider = RecordingProvider()
    machine = StateMachine(provider, Timer(10), {CT_IMAGE_STORAGE}, get_file)
    machine.accepted_contexts = CONTEXTS
    machine.current_state = States.STA_6
    command = next(_store_rq().encode(3, 0)).data_value_items[0]  # the command set only
    provider.primitive = pdu.PDataTfPDU([command])
    machine.action(Events.EVT_10)
    provider.primitive = pdu.PDataTfPDU([pdu.PresentationDataValueItem(3, b'\x00half')])
    machine.action(Events.EVT_10)
    assert files and not files[0].closed
    provider.primitive = pdu.AAbortPDU(0, 0)
    machine.action(Events.EVT_16)  # AA-3: the peer aborted mid data set
    assert files[0].closed
    assert not machine.dimse_decoder.receiving


def test_indications_are_handed_up_after_the_state_changes() -> None:
    seen: list[States] = []
    machine, provider = _machine(States.STA_5)

    class Spy(queue.Queue):  # type: ignore[type-arg]
        def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
            seen.append(machine.current_state)
            super().put(item, block, timeout)

    provider.to_service_user = Spy()
    provider.primitive = PRIMITIVES[Events.EVT_3]
    machine.action(Events.EVT_3)
    assert seen == [States.STA_6]


def test_deliver_hook_replaces_the_queue() -> None:
    machine, provider = _machine(States.STA_6)
    delivered: list[Any] = []
    machine.deliver = delivered.append
    provider.primitive = pdu.AReleaseRqPDU()
    machine.action(Events.EVT_12)
    assert delivered == [pdu.AReleaseRqPDU()] and provider.indications() == []


class PDUWritingProvider(RecordingProvider):
    """A provider with the optional ``write_pdu``: it gets the PDUs themselves."""

    def __init__(self) -> None:
        super().__init__()
        self.pdus: list[Any] = []

    def write_pdu(self, primitive: Any) -> None:
        self.pdus.append(primitive)


def test_write_pdu_hook_gets_every_pdu_the_actions_send() -> None:
    provider = PDUWritingProvider()
    machine = StateMachine(provider, Timer(10), set(), None)
    machine.current_state = States.STA_6
    p_data = pdu.PDataTfPDU([pdu.PresentationDataValueItem(1, b'\x03cmd')])
    provider.primitive = p_data
    assert machine.action(Events.EVT_9) is States.STA_6  # DT-1
    provider.primitive = pdu.AReleaseRqPDU()
    assert machine.action(Events.EVT_11) is States.STA_7  # AR-1
    provider.primitive = PDUProcessingError('bad', abort_reason=4)
    machine.action(Events.EVT_19)  # AA-8: an A-ABORT the machine makes itself
    assert provider.pdus == [p_data, pdu.AReleaseRqPDU(), pdu.AAbortPDU(2, 4)]
    assert provider.written == b''  # write() is for providers without write_pdu


def test_accepted_contexts_feed_the_reassembler() -> None:
    machine, _ = _machine(States.STA_1)
    machine.accepted_contexts = {5: PContextDef(5, VERIFICATION, IMPLICIT_LE)}
    assert machine.dimse_decoder.accepted_contexts == {5: PContextDef(5, VERIFICATION, IMPLICIT_LE)}
    assert machine.accepted_contexts is machine.dimse_decoder.accepted_contexts


def test_provider_proxies() -> None:
    machine, provider = _machine(States.STA_1)
    machine.primitive = 'x'
    assert provider.primitive == 'x' and machine.primitive == 'x'
    machine.dul_socket = 'sock'
    assert provider.dul_socket == 'sock' and machine.dul_socket == 'sock'
    assert machine.to_service_user is provider.to_service_user
    with pytest.raises(AttributeError):
        machine.to_service_user = queue.Queue()  # type: ignore[misc]


# --- the rest of the module's contract -------------------------------------------------------


def test_states_and_events() -> None:
    assert [state.value for state in States] == list(range(13))
    assert [event.value for event in Events] == list(range(19))
    assert [state.name for state in States] == [f'STA_{n}' for n in range(1, 14)]
    assert [event.name for event in Events] == [f'EVT_{n}' for n in range(1, 20)]
    assert all(member.__doc__ and member.__doc__ != type(member).__doc__ for member in States)
    assert all(member.__doc__ and member.__doc__ != type(member).__doc__ for member in Events)
    assert States.STA_1.__doc__ == 'Idle'
    assert Events.EVT_18.__doc__.startswith('ARTIM timer expired')
    assert fsm.PEER_PDU_EVENTS == {
        Events.EVT_3,
        Events.EVT_4,
        Events.EVT_6,
        Events.EVT_10,
        Events.EVT_12,
        Events.EVT_13,
        Events.EVT_16,
        Events.EVT_19,
    }


def test_pcontextdef_is_a_named_tuple() -> None:
    ctx = PContextDef(1, VERIFICATION, IMPLICIT_LE)
    assert isinstance(ctx, tuple) and ctx == (1, VERIFICATION, IMPLICIT_LE)
    assert (ctx.id, ctx.sop_class, ctx.supported_ts) == (ctx[0], ctx[1], ctx[2])
    with pytest.raises(AttributeError):
        ctx.id = 3  # type: ignore[misc]


def test_dimse_decoder_is_the_one_reassembler() -> None:
    assert fsm.DIMSEDecoder is dimsemessages.DIMSEDecoder


def test_timer() -> None:
    timer = Timer(10)
    assert timer.check() and timer.remaining() is None and not timer.is_running
    timer.start()
    assert timer.check() and timer.is_running and 9 < timer.remaining() <= 10
    timer.stop()
    assert timer.check() and timer._start_time is None
    expired = Timer(0)
    expired.start()
    assert not expired.check() and expired.remaining() == 0.0
    expired.max_seconds = 10
    expired.restart()
    assert expired.check()


def test_timer_uses_a_monotonic_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    timer = Timer(5)
    now = [100.0]
    monkeypatch.setattr(time, 'monotonic', lambda: now[0])
    timer.start()
    now[0] = 104.9
    assert timer.check()
    now[0] = 105.0
    assert not timer.check()


def test_abort_reason_for_a_valid_release_pdu_is_unexpected_pdu() -> None:
    machine, provider = _machine(States.STA_5)
    provider.primitive = pdu.AReleaseRpPDU()
    machine.action(Events.EVT_13)
    assert bytes(provider.written) == a_abort(2, 2)
    assert A_RELEASE_RP == pdu.AReleaseRpPDU().encode()
    assert A_RELEASE_RQ == pdu.AReleaseRqPDU().encode()
