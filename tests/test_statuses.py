"""Tests of pynetdicom2.statuses, against the status tables of PS3.7 Annex C and PS3.4
(C-STORE B.2.3, C-FIND C.4.1.1.4, C-MOVE C.4.2.1.5, C-GET C.4.3.1.4)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing

import pytest

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses
from pynetdicom2.statuses import Status


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register statuses without leaking them into the other tests."""
    monkeypatch.setattr(statuses, '_general_status_dict', dict(statuses._general_status_dict))
    monkeypatch.setattr(statuses, '_status_dict', dict(statuses._status_dict))
    monkeypatch.setattr(statuses, '_general_status_ranges',
                        list(statuses._general_status_ranges))
    monkeypatch.setattr(statuses, '_status_ranges',
                        {k: list(v) for k, v in statuses._status_ranges.items()})


class ProbeRSP(dm.DIMSEResponseMessage):
    """A command field no real message uses, for lookup-order tests."""

    command_field = 0x8777


def test_status_type_literal() -> None:
    assert set(typing.get_args(statuses.StatusType)) == {
        'Success', 'Pending', 'Failure', 'Warning', 'Cancel'}


def test_private_status_is_a_frozen_dataclass() -> None:
    status = statuses._Status('Failure', 'x')
    assert [f.name for f in dataclasses.fields(status)] == ['code_type', 'description']
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.description = 'y'  # type: ignore[misc]
    assert statuses.UNKNOWN == statuses._Status('Failure', 'Unknown Status')


def test_ranges_are_intervals_not_expanded() -> None:
    assert len(statuses._general_status_dict) < 64
    assert all(len(entry) == 3 for entry in statuses._general_status_ranges)
    store = statuses._status_ranges[dm.CStoreRSPMessage.command_field]
    assert (0xC000, 0xCFFF) in [(start, end) for start, end, _ in store]
    assert (dm.CStoreRSPMessage.command_field, 0xC123) not in statuses._status_dict


def test_find_in_ranges() -> None:
    a, b = statuses._Status('Warning', 'a'), statuses._Status('Failure', 'b')
    ranges = [(0x10, 0x1F, a), (0x20, 0x20, b)]
    assert statuses._find_in_ranges(ranges, 0x10) is a
    assert statuses._find_in_ranges(ranges, 0x1F) is a
    assert statuses._find_in_ranges(ranges, 0x20) is b
    assert statuses._find_in_ranges(ranges, 0x21) is None
    assert statuses._find_in_ranges([], 0) is None


@pytest.mark.usefixtures('registry')
def test_lookup_order() -> None:
    statuses.add_status(0xD000, 'Warning', 'general range', end=0xD0FF)
    statuses.add_status(0xD001, 'Pending', 'general exact')
    statuses.add_status(0xD000, 'Cancel', 'command range', end=0xD00F, command=ProbeRSP)
    statuses.add_status(0xD002, 'Success', 'command exact', command=ProbeRSP)
    assert Status(0xD002, ProbeRSP).description == 'command exact'
    assert Status(0xD001, ProbeRSP).description == 'command range'  # beats general exact
    assert Status(0xD001).description == 'general exact'
    assert Status(0xD0F0, ProbeRSP).description == 'general range'
    assert Status(0xD002).description == 'general range'
    assert Status(0xD100, ProbeRSP).description == 'Unknown Status'
    assert Status(0xD100).is_failure


@pytest.mark.usefixtures('registry')
def test_add_status_replaces_and_validates() -> None:
    statuses.add_status(0xD000, 'Warning', 'first', end=0xD0FF, command=ProbeRSP)
    statuses.add_status(0xD000, 'Failure', 'second', end=0xD0FF, command=ProbeRSP)
    assert len(statuses._status_ranges[ProbeRSP.command_field]) == 1
    assert Status(0xD010, ProbeRSP).description == 'second'
    with pytest.raises(ValueError):
        statuses.add_status(0xD0FF, 'Failure', 'backwards', end=0xD000)


@pytest.mark.usefixtures('registry')
def test_register_statuses_is_idempotent() -> None:
    before = (dict(statuses._general_status_dict), list(statuses._general_status_ranges),
              dict(statuses._status_dict),
              {k: list(v) for k, v in statuses._status_ranges.items()})
    statuses.register_statuses()
    after = (statuses._general_status_dict, statuses._general_status_ranges,
             statuses._status_dict, statuses._status_ranges)
    assert before == after


def test_known_statuses_shape() -> None:
    for code, code_type, description, command in statuses.KNOWN_STATUSES:
        assert isinstance(code, int) or (isinstance(code, tuple) and len(code) == 2)
        assert code_type in typing.get_args(statuses.StatusType)
        assert isinstance(description, str)
        assert command is None or issubclass(command, dm.DIMSEMessage)


def test_status_attributes() -> None:
    expected = {
        0x0000: 'Success', 0xFF00: 'Pending', 0xFE00: 'Cancel', 0xB000: 'Warning',
        0x0110: 'Failure',
    }
    for code, code_type in expected.items():
        status = Status(code, dm.CFindRSPMessage)
        assert status.status_type == code_type
        flags = {
            'Success': status.is_success, 'Pending': status.is_pending,
            'Failure': status.is_failure, 'Warning': status.is_warning,
            'Cancel': status.is_cancel,
        }
        assert [name for name, flag in flags.items() if flag] == [code_type]


def test_int_eq_hash() -> None:
    assert int(Status(0xA700)) == 0xA700
    assert Status(0xC000, dm.CStoreRSPMessage) == Status(0xC000)  # the code alone
    assert Status(0xC000) != Status(0xC001)
    assert hash(Status(0xC000, dm.CFindRSPMessage)) == hash(Status(0xC000))
    assert len({Status(0), Status(0), statuses.SUCCESS}) == 1
    assert Status(0).__eq__(0) is NotImplemented
    assert Status(0) != 0 and 0 != Status(0)


def test_str_and_repr() -> None:
    assert str(Status(0)) == '(0x0) Success: -'
    assert str(statuses.C_STORE_OUT_OF_RESOURCES) == '(0xA700) Failure: Refused: Out of Resources'
    assert str(Status(0x1234)) == '(0x1234) Failure: Unknown Status'
    assert repr(Status(0xFF00)) == 'Status(0xFF00)'
    assert repr(Status(0)) == 'Status(0x0)'


# --- the registered codes -------------------------------------------------------------------


def _type(code: int, command: type[dm.DIMSEMessage] | None = None) -> str:
    return Status(code, command).status_type


def test_general_codes() -> None:
    # PS3.7 Annex C
    assert _type(0x0000) == 'Success'
    failures = [0x0105, 0x0106, *range(0x0110, 0x011A), *range(0x0120, 0x0125),
                *range(0x0210, 0x0214)]
    for code in failures:
        if code == 0x0116:
            continue
        status = Status(code)
        assert status.is_failure and status.description != 'Unknown Status', hex(code)
    assert _type(0x0107) == 'Warning' and _type(0x0116) == 'Warning'
    assert Status(0x0122).description == 'Refused: SOP class not supported'
    assert Status(0x0211).description == 'Unrecognized operation'


@pytest.mark.parametrize('command', [
    dm.NEventReportRSPMessage, dm.NGetRSPMessage, dm.NSetRSPMessage, dm.NActionRSPMessage,
    dm.NCreateRSPMessage, dm.NDeleteRSPMessage])
def test_no_such_sop_instance_for_n_services(command: type[dm.DIMSEMessage]) -> None:
    status = Status(0x0112, command)
    assert status.is_failure and status.description == 'No Such SOP Instance'


def test_c_store_codes() -> None:
    # PS3.4 Table B.2-1
    rsp = dm.CStoreRSPMessage
    for code in (0xA700, 0xA7FF, 0xA900, 0xA9FF, 0xC000, 0xC5A5, 0xCFFF):
        assert _type(code, rsp) == 'Failure', hex(code)
    for code in (0xB000, 0xB006, 0xB007):
        assert _type(code, rsp) == 'Warning', hex(code)
    assert Status(0xB006, rsp).description == 'Elements Discarded'
    assert Status(0xB007, rsp).description == 'Data Set does not match SOP Class'
    assert Status(0xB000, rsp).description == 'Coercion of Data Elements'


def test_c_find_codes() -> None:
    # PS3.4 Table C.4-1
    rsp = dm.CFindRSPMessage
    for code in (0xA700, 0xA900, 0xC000, 0xCFFF):
        assert _type(code, rsp) == 'Failure', hex(code)
    assert _type(0xFF00, rsp) == 'Pending' and _type(0xFF01, rsp) == 'Pending'
    assert _type(0xFE00, rsp) == 'Cancel'
    assert _type(0x0000, rsp) == 'Success'


def test_c_get_codes() -> None:
    # PS3.4 Table C.4-3
    rsp = dm.CGetRSPMessage
    for code in (0xA701, 0xA702, 0xA900, 0xC000, 0xCFFF):
        assert _type(code, rsp) == 'Failure', hex(code)
    assert _type(0xB000, rsp) == 'Warning'
    assert _type(0xFF00, rsp) == 'Pending'
    assert _type(0xFE00, rsp) == 'Cancel'


def test_c_move_codes() -> None:
    # PS3.4 Table C.4-2
    rsp = dm.CMoveRSPMessage
    for code in (0xA701, 0xA702, 0xA801, 0xA900, 0xC000, 0xCFFF, *range(0xAA00, 0xAA05)):
        status = Status(code, rsp)
        assert status.is_failure and status.description != 'Unknown Status', hex(code)
    assert Status(0xA801, rsp).description == 'Refused: Move Destination unknown'
    assert _type(0xB000, rsp) == 'Warning'
    assert _type(0xFF00, rsp) == 'Pending'
    assert _type(0xFE00, rsp) == 'Cancel'


def test_constants() -> None:
    expected = {
        'SUCCESS': (0x0000, None, 'Success'),
        'PROCESSING_FAILURE': (0x0110, None, 'Failure'),
        'SOP_CLASS_NOT_SUPPORTED': (0x0122, None, 'Failure'),
        'C_STORE_CANNOT_UNDERSTAND': (0xC000, dm.CStoreRSPMessage, 'Failure'),
        'C_STORE_OUT_OF_RESOURCES': (0xA700, dm.CStoreRSPMessage, 'Failure'),
        'C_STORE_ELEMENTS_DISCARDED': (0xB006, dm.CStoreRSPMessage, 'Warning'),
        'C_FIND_PENDING': (0xFF00, dm.CFindRSPMessage, 'Pending'),
        'C_FIND_PENDING_WARNING': (0xFF01, dm.CFindRSPMessage, 'Pending'),
        'C_FIND_UNABLE_TO_PROCESS': (0xC000, dm.CFindRSPMessage, 'Failure'),
        'C_FIND_OUT_OF_RESOURCES': (0xA700, dm.CFindRSPMessage, 'Failure'),
        'C_FIND_CANCEL': (0xFE00, dm.CFindRSPMessage, 'Cancel'),
        'C_GET_PENDING': (0xFF00, dm.CGetRSPMessage, 'Pending'),
        'C_GET_WARNING': (0xB000, dm.CGetRSPMessage, 'Warning'),
        'C_GET_UNABLE_TO_PROCESS': (0xC000, dm.CGetRSPMessage, 'Failure'),
        'C_GET_CANCEL': (0xFE00, dm.CGetRSPMessage, 'Cancel'),
        'C_MOVE_PENDING': (0xFF00, dm.CMoveRSPMessage, 'Pending'),
        'C_MOVE_WARNING': (0xB000, dm.CMoveRSPMessage, 'Warning'),
        'C_MOVE_UNABLE_TO_PROCESS': (0xC000, dm.CMoveRSPMessage, 'Failure'),
        'C_MOVE_DESTINATION_UNKNOWN': (0xA801, dm.CMoveRSPMessage, 'Failure'),
        'C_MOVE_CANCEL': (0xFE00, dm.CMoveRSPMessage, 'Cancel'),
    }
    for name, (code, command, code_type) in expected.items():
        status = getattr(statuses, name)
        assert isinstance(status, Status), name
        assert (int(status), status.command, status.status_type) == (code, command, code_type)
    assert statuses.C_STORE_CANNON_UNDERSTAND is statuses.C_STORE_CANNOT_UNDERSTAND


def test_dimsemessages_does_not_import_statuses() -> None:
    # The package itself imports everything, so look at the module's own import statements.
    tree = ast.parse(inspect.getsource(dm))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or '')
            imported.update(f'{node.module}.{alias.name}' for alias in node.names)
    assert not any('statuses' in name for name in imported), imported
