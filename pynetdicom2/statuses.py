"""DIMSE status codes (PS3.7 Annex C, PS3.4 service annexes) and their meanings.

This module owns the status registry: which type (Success, Pending, Cancel, Warning,
Failure) and which description a Status (0000,0900) value has, generally or for one DIMSE
command. It imports :mod:`pynetdicom2.dimsemessages` (commands are keyed by their response
class); ``dimsemessages`` must never import it.

Lookup order for ``Status(code, command)``: an exact code registered for that command, a
range registered for that command, an exact general code, a general range, and finally
:data:`UNKNOWN` (a failure). Ranges are stored as intervals, never expanded.

Usage::

    from pynetdicom2 import statuses, dimsemessages as dm

    status = statuses.Status(rsp.status, dm.CFindRSPMessage)
    if status.is_pending:
        ...
    return statuses.C_STORE_OUT_OF_RESOURCES       # from an on_receive_store handler
    statuses.add_status(0xC123, 'Failure', 'Site specific', command=dm.CStoreRSPMessage)
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Union

from pynetdicom2 import dimsemessages as dm

StatusType = Literal['Success', 'Pending', 'Failure', 'Warning', 'Cancel']


@dataclasses.dataclass(frozen=True)
class _Status:
    """What a status code means: its type and a description ('' when none is needed)."""

    code_type: StatusType
    description: str


_Range = tuple[int, int, _Status]

_general_status_dict: dict[int, _Status] = {}
_status_dict: dict[tuple[int, int], _Status] = {}
_general_status_ranges: list[_Range] = []
_status_ranges: dict[int, list[_Range]] = {}

UNKNOWN = _Status('Failure', 'Unknown Status')


def _find_in_ranges(ranges: list[_Range], value: int) -> _Status | None:
    """Return the status of the first ``(start, end, status)`` interval holding ``value``.

    >>> _find_in_ranges([(0xC000, 0xCFFF, UNKNOWN)], 0xC123) is UNKNOWN
    True
    """
    for start, end, status in ranges:
        if start <= value <= end:
            return status
    return None


def add_status(
    code: int,
    code_type: StatusType,
    description: str,
    end: int | None = None,
    command: type[dm.DIMSEMessage] | None = None,
) -> None:
    """Register a status code, or the inclusive range ``code``..``end``.

    ``command`` is a DIMSE message class (normally the ``*RSPMessage``); its
    ``command_field`` keys the entry. Without it the status is general. Registering the
    same code or range again replaces the earlier meaning.

    >>> add_status(0xC201, 'Failure', 'Site specific: archive offline',
    ...            command=dm.CStoreRSPMessage)
    >>> Status(0xC201, dm.CStoreRSPMessage).description
    'Site specific: archive offline'
    """
    status = _Status(code_type, description)
    if end is None:
        if command is None:
            _general_status_dict[code] = status
        else:
            _status_dict[(command.command_field, code)] = status
        return
    if end < code:
        raise ValueError(f'a status range must end at or after its start: {code:#06x}..{end:#06x}')
    if command is None:
        ranges = _general_status_ranges
    else:
        ranges = _status_ranges.setdefault(command.command_field, [])
    for index, (start, stop, _old) in enumerate(ranges):
        if (start, stop) == (code, end):
            ranges[index] = (code, end, status)
            return
    ranges.append((code, end, status))


def _lookup(value: int, command: type[dm.DIMSEMessage] | None) -> _Status:
    if command is not None:
        field = command.command_field
        found = _status_dict.get((field, value))
        if found is None:
            found = _find_in_ranges(_status_ranges.get(field, []), value)
        if found is not None:
            return found
    found = _general_status_dict.get(value)
    if found is None:
        found = _find_in_ranges(_general_status_ranges, value)
    return found if found is not None else UNKNOWN


class Status:
    """A DIMSE status code with its type and description.

    Two statuses are equal when their codes are; the command only chooses the meaning.

    >>> status = Status(0xFF00, dm.CFindRSPMessage)
    >>> status.is_pending, int(status), str(Status(0))
    (True, 65280, '(0x0) Success: -')
    """

    __slots__ = ('value', 'command', 'status_type', 'description')

    def __init__(self, value: int, command: type[dm.DIMSEMessage] | None = None) -> None:
        self.value = int(value)
        self.command = command
        found = _lookup(self.value, command)
        self.status_type: StatusType = found.code_type
        self.description: str = found.description

    @property
    def is_success(self) -> bool:
        return self.status_type == 'Success'

    @property
    def is_pending(self) -> bool:
        return self.status_type == 'Pending'

    @property
    def is_failure(self) -> bool:
        return self.status_type == 'Failure'

    @property
    def is_warning(self) -> bool:
        return self.status_type == 'Warning'

    @property
    def is_cancel(self) -> bool:
        return self.status_type == 'Cancel'

    def __int__(self) -> int:
        return self.value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __str__(self) -> str:
        return f'(0x{self.value:X}) {self.status_type}: {self.description or "-"}'

    def __repr__(self) -> str:
        return f'Status(0x{self.value:X})'


_Code = Union[int, tuple[int, int]]

#: Every status the library knows: ``(code or (start, end), type, description, command)``.
KNOWN_STATUSES: list[tuple[_Code, StatusType, str, type[dm.DIMSEMessage] | None]] = [
    # PS3.7 C.1, C.2, C.3: success, pending and cancel, whatever the service.
    (0x0000, 'Success', '', None),
    (0xFF00, 'Pending', 'Operation is continuing', None),
    (0xFE00, 'Cancel', 'Operation terminated due to a cancel request', None),
    # PS3.7 C.4: warnings.
    (0x0001, 'Warning', 'Requested optional attributes are not supported', None),
    (0x0107, 'Warning', 'Attribute list error', None),
    (0x0116, 'Warning', 'Attribute value out of range', None),
    ((0xB000, 0xBFFF), 'Warning', 'Warning', None),
    # PS3.7 C.5: failures.
    (0x0105, 'Failure', 'No such attribute', None),
    (0x0106, 'Failure', 'Invalid attribute value', None),
    (0x0110, 'Failure', 'Processing failure', None),
    (0x0111, 'Failure', 'Duplicate SOP instance', None),
    (0x0112, 'Failure', 'No such object instance', None),
    (0x0113, 'Failure', 'No such event type', None),
    (0x0114, 'Failure', 'No such argument', None),
    (0x0115, 'Failure', 'Invalid argument value', None),
    (0x0117, 'Failure', 'Invalid object instance', None),
    (0x0118, 'Failure', 'No such SOP class', None),
    (0x0119, 'Failure', 'Class-instance conflict', None),
    (0x0120, 'Failure', 'Missing attribute', None),
    (0x0121, 'Failure', 'Missing attribute value', None),
    (0x0122, 'Failure', 'Refused: SOP class not supported', None),
    (0x0123, 'Failure', 'No such action', None),
    (0x0124, 'Failure', 'Refused: not authorized', None),
    (0x0210, 'Failure', 'Duplicate invocation', None),
    (0x0211, 'Failure', 'Unrecognized operation', None),
    (0x0212, 'Failure', 'Mistyped argument', None),
    (0x0213, 'Failure', 'Resource limitation', None),
    ((0xA700, 0xA7FF), 'Failure', 'Refused: out of resources', None),
    ((0xA900, 0xA9FF), 'Failure', 'Data set does not match SOP class', None),
    ((0xC000, 0xCFFF), 'Failure', 'Cannot understand', None),
    # PS3.7 10.1: for the N-services 0112H names the SOP instance.
    (0x0112, 'Failure', 'No Such SOP Instance', dm.NEventReportRSPMessage),
    (0x0112, 'Failure', 'No Such SOP Instance', dm.NGetRSPMessage),
    (0x0112, 'Failure', 'No Such SOP Instance', dm.NSetRSPMessage),
    (0x0112, 'Failure', 'No Such SOP Instance', dm.NActionRSPMessage),
    (0x0112, 'Failure', 'No Such SOP Instance', dm.NCreateRSPMessage),
    (0x0112, 'Failure', 'No Such SOP Instance', dm.NDeleteRSPMessage),
    # PS3.4 B.2.3 (Table B.2-1): C-STORE.
    ((0xA700, 0xA7FF), 'Failure', 'Refused: Out of Resources', dm.CStoreRSPMessage),
    ((0xA900, 0xA9FF), 'Failure', 'Error: Data Set Does Not Match SOP Class',
     dm.CStoreRSPMessage),
    ((0xC000, 0xCFFF), 'Failure', 'Error: Cannot understand', dm.CStoreRSPMessage),
    (0xB000, 'Warning', 'Coercion of Data Elements', dm.CStoreRSPMessage),
    (0xB006, 'Warning', 'Elements Discarded', dm.CStoreRSPMessage),
    (0xB007, 'Warning', 'Data Set does not match SOP Class', dm.CStoreRSPMessage),
    # PS3.4 C.4.1.1.4 (Table C.4-1): C-FIND.
    (0xA700, 'Failure', 'Refused: Out of Resources', dm.CFindRSPMessage),
    (0xA900, 'Failure', 'Identifier does not match SOP Class', dm.CFindRSPMessage),
    ((0xC000, 0xCFFF), 'Failure', 'Unable to process', dm.CFindRSPMessage),
    (0xFE00, 'Cancel', 'Matching terminated due to Cancel request', dm.CFindRSPMessage),
    (0xFF00, 'Pending', 'Matches are continuing - Current Match is supplied and any Optional '
     'Keys were supported in the same manner as Required Keys', dm.CFindRSPMessage),
    (0xFF01, 'Pending', 'Matches are continuing - Warning that one or more Optional Keys were '
     'not supported for existence and/or matching for this Identifier', dm.CFindRSPMessage),
    # PS3.4 C.4.3.1.4 (Table C.4-3): C-GET; AA00-AA04 from the frame-level and
    # composite-instance-root retrieve tables (PS3.4 Y, Z).
    (0xA701, 'Failure', 'Refused: Out of Resources - Unable to calculate number of matches',
     dm.CGetRSPMessage),
    (0xA702, 'Failure', 'Refused: Out of Resources - Unable to perform sub-operations',
     dm.CGetRSPMessage),
    (0xA900, 'Failure', 'Identifier does not match SOP Class', dm.CGetRSPMessage),
    (0xAA00, 'Failure', 'None of the frames requested were found in the SOP Instance',
     dm.CGetRSPMessage),
    (0xAA01, 'Failure', 'Unable to create new object for this SOP class', dm.CGetRSPMessage),
    (0xAA02, 'Failure', 'Unable to extract frames', dm.CGetRSPMessage),
    (0xAA03, 'Failure', 'Time-based request received for a non-time-based original SOP '
     'Instance', dm.CGetRSPMessage),
    (0xAA04, 'Failure', 'Invalid Request', dm.CGetRSPMessage),
    ((0xC000, 0xCFFF), 'Failure', 'Unable to process', dm.CGetRSPMessage),
    (0xFE00, 'Cancel', 'Sub-operations terminated due to Cancel Indication', dm.CGetRSPMessage),
    (0xB000, 'Warning', 'Sub-operations Complete - One or more Failures or Warnings',
     dm.CGetRSPMessage),
    (0xFF00, 'Pending', 'Sub-operations are continuing', dm.CGetRSPMessage),
    # PS3.4 C.4.2.1.5 (Table C.4-2): C-MOVE.
    (0xA701, 'Failure', 'Refused: Out of Resources - Unable to calculate number of matches',
     dm.CMoveRSPMessage),
    (0xA702, 'Failure', 'Refused: Out of Resources - Unable to perform sub-operations',
     dm.CMoveRSPMessage),
    (0xA801, 'Failure', 'Refused: Move Destination unknown', dm.CMoveRSPMessage),
    (0xA900, 'Failure', 'Identifier does not match SOP Class', dm.CMoveRSPMessage),
    (0xAA00, 'Failure', 'None of the frames requested were found in the SOP Instance',
     dm.CMoveRSPMessage),
    (0xAA01, 'Failure', 'Unable to create new object for this SOP class', dm.CMoveRSPMessage),
    (0xAA02, 'Failure', 'Unable to extract frames', dm.CMoveRSPMessage),
    (0xAA03, 'Failure', 'Time-based request received for a non-time-based original SOP '
     'Instance', dm.CMoveRSPMessage),
    (0xAA04, 'Failure', 'Invalid Request', dm.CMoveRSPMessage),
    ((0xC000, 0xCFFF), 'Failure', 'Unable to process', dm.CMoveRSPMessage),
    (0xFE00, 'Cancel', 'Sub-operations terminated due to Cancel Indication',
     dm.CMoveRSPMessage),
    (0xB000, 'Warning', 'Sub-operations Complete - One or more Failures or Warnings',
     dm.CMoveRSPMessage),
    (0xFF00, 'Pending', 'Sub-operations are continuing', dm.CMoveRSPMessage),
]


def register_statuses() -> None:
    """Register :data:`KNOWN_STATUSES` (done at import; running it again changes nothing)."""
    for code, code_type, description, command in KNOWN_STATUSES:
        if isinstance(code, tuple):
            start, end = code
            add_status(start, code_type, description, end=end, command=command)
        else:
            add_status(code, code_type, description, command=command)


register_statuses()

SUCCESS = Status(0x0000)
PROCESSING_FAILURE = Status(0x0110)
SOP_CLASS_NOT_SUPPORTED = Status(0x0122)

C_STORE_CANNOT_UNDERSTAND = Status(0xC000, dm.CStoreRSPMessage)
#: The original's misspelling, kept for old scripts: the very same object.
C_STORE_CANNON_UNDERSTAND = C_STORE_CANNOT_UNDERSTAND
C_STORE_OUT_OF_RESOURCES = Status(0xA700, dm.CStoreRSPMessage)
C_STORE_ELEMENTS_DISCARDED = Status(0xB006, dm.CStoreRSPMessage)
#: PS3.4 B.2.3: the data set's SOP Class or Instance UID is not the command's.
C_STORE_DATA_SET_MISMATCH = Status(0xA900, dm.CStoreRSPMessage)

C_FIND_PENDING = Status(0xFF00, dm.CFindRSPMessage)
C_FIND_PENDING_WARNING = Status(0xFF01, dm.CFindRSPMessage)
C_FIND_UNABLE_TO_PROCESS = Status(0xC000, dm.CFindRSPMessage)
C_FIND_OUT_OF_RESOURCES = Status(0xA700, dm.CFindRSPMessage)
C_FIND_CANCEL = Status(0xFE00, dm.CFindRSPMessage)

C_GET_PENDING = Status(0xFF00, dm.CGetRSPMessage)
C_GET_WARNING = Status(0xB000, dm.CGetRSPMessage)
C_GET_UNABLE_TO_PROCESS = Status(0xC000, dm.CGetRSPMessage)
C_GET_CANCEL = Status(0xFE00, dm.CGetRSPMessage)

C_MOVE_PENDING = Status(0xFF00, dm.CMoveRSPMessage)
C_MOVE_WARNING = Status(0xB000, dm.CMoveRSPMessage)
C_MOVE_UNABLE_TO_PROCESS = Status(0xC000, dm.CMoveRSPMessage)
C_MOVE_DESTINATION_UNKNOWN = Status(0xA801, dm.CMoveRSPMessage)
C_MOVE_CANCEL = Status(0xFE00, dm.CMoveRSPMessage)
