"""Unified Procedure Step (PS3.4 Annex CC): the worklist's rules, without the network.

:class:`WorkitemStore` keeps UPS instances (workitems) in memory and applies to them what the
standard asks of a UPS SCP: the states and their transitions (PS3.4 CC.1.1), the Transaction
UID that locks an IN PROGRESS workitem to its performer (CC.2.1.3), what N-CREATE, N-SET and
N-GET may do (CC.2.5.3, CC.2.6.3, CC.2.7.3), subscriptions, global or to one workitem, with
or without a deletion lock (CC.2.3.3), and which N-EVENT-REPORTs each change calls for, to
whom (CC.2.4.3). It sends nothing: every change returns the :class:`Notification` records that
:class:`~pynetdicom2.services.ups.UnifiedProcedureStepSCP` delivers.

Failures are raised as :class:`~pynetdicom2.exceptions.EventHandlingError` carrying the
standard's status (an SCP answers with it); warnings are returned. The status codes of the
tables of PS3.4 CC.2 are named here (``UPS_*``), with their meanings in
:data:`UPS_STATUS_MEANINGS`.

>>> from pydicom.dataset import Dataset
>>> store = WorkitemStore()
>>> item = Dataset(); item.ProcedureStepState = 'SCHEDULED'; item.InputReadinessState = 'READY'
>>> store.create('1.2.3', item).status.is_success
True
>>> store.change_state('1.2.3', ProcedureStepState.COMPLETED, '9.9')
Traceback (most recent call last):
...
pynetdicom2.exceptions.EventHandlingError: 1.2.3 is SCHEDULED, not yet IN PROGRESS
>>> store.change_state('1.2.3', ProcedureStepState.IN_PROGRESS, '9.9').status.is_success
True
"""

from __future__ import annotations

import datetime
import enum
import re
import threading
from collections.abc import Iterable
from typing import NamedTuple

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.dsutils import deep_copy
from pynetdicom2.exceptions import EventHandlingError
from pynetdicom2.services.base import logger

GLOBAL = uids.UPS_GLOBAL_SUBSCRIPTION_SOP_INSTANCE
FILTERED_GLOBAL = uids.UPS_FILTERED_GLOBAL_SUBSCRIPTION_SOP_INSTANCE
#: The well-known instances a subscription may name instead of one workitem (PS3.4 CC.2.3).
GLOBAL_INSTANCES = frozenset({GLOBAL, FILTERED_GLOBAL})


class ProcedureStepState:
    """The values of Procedure Step State (0074,1000) (PS3.3 C.30.1; PS3.4 CC.1.1)."""

    SCHEDULED = 'SCHEDULED'
    IN_PROGRESS = 'IN PROGRESS'
    CANCELED = 'CANCELED'
    COMPLETED = 'COMPLETED'
    #: The states a workitem never leaves.
    FINAL = frozenset({CANCELED, COMPLETED})
    ALL = frozenset({SCHEDULED, IN_PROGRESS, CANCELED, COMPLETED})


class UPSAction(enum.IntEnum):
    """N-ACTION Action Type IDs of the UPS SOP classes (PS3.4 CC.2.1.1, CC.2.2.1, CC.2.3.1)."""

    CHANGE_STATE = 1
    REQUEST_CANCEL = 2
    SUBSCRIBE = 3
    UNSUBSCRIBE = 4
    SUSPEND_GLOBAL_SUBSCRIPTION = 5


class UPSEventType(enum.IntEnum):
    """N-EVENT-REPORT Event Type IDs of the UPS Event SOP class (PS3.4 Table CC.2.4-1)."""

    STATE_REPORT = 1
    CANCEL_REQUESTED = 2
    PROGRESS_REPORT = 3
    SCP_STATUS_CHANGE = 4
    ASSIGNED = 5


# --- statuses (PS3.4 Tables CC.2.1-2, CC.2.2-2, CC.2.3-3, CC.2.5-4, CC.2.6-1) ---------------------

#: The meaning of each UPS status code, as the tables of PS3.4 CC.2 word it.
UPS_STATUS_MEANINGS: dict[int, str] = {
    0xB300: 'The UPS was created with modifications',
    0xB301: 'Deletion Lock not granted',
    0xB304: 'The UPS is already in the requested state of CANCELED',
    0xB305: 'Coerced invalid values to valid values',
    0xB306: 'The UPS is already in the requested state of COMPLETED',
    0xC300: 'The UPS may no longer be updated',
    0xC301: 'The correct Transaction UID was not provided',
    0xC302: 'The UPS is already IN PROGRESS',
    0xC303: 'The UPS may only become SCHEDULED via N-CREATE, not N-SET or N-ACTION',
    0xC304: 'The UPS has not met final state requirements for the requested state change',
    0xC307: 'Specified SOP Instance UID does not exist or is not a UPS Instance managed by '
            'this SCP',
    0xC308: 'Receiving AE-TITLE is Unknown to this SCP',
    0xC309: 'The provided value of UPS State was not "SCHEDULED"',
    0xC310: 'The UPS is not yet in the "IN PROGRESS" state',
    0xC311: 'The UPS is already COMPLETED',
    0xC312: 'The performer cannot be contacted',
    0xC313: 'Performer chooses not to cancel',
    0xC314: 'Specified action not appropriate for specified instance',
    0xC315: 'SCP does not support Event Reports',
}

# Registered for the responses of the DIMSE-N services UPS uses, so that a status shows its
# UPS meaning wherever it is printed or logged (PS3.4 CC.2's tables).
def _register_statuses() -> None:
    for code, meaning in UPS_STATUS_MEANINGS.items():
        for response in (dm.NCreateRSPMessage, dm.NSetRSPMessage, dm.NGetRSPMessage,
                         dm.NActionRSPMessage):
            statuses.add_status(code, 'Warning' if code < 0xC000 else 'Failure', meaning,
                                command=response)


_register_statuses()

#: N-CREATE: the UPS was created with modifications (CC.2.5-4).
UPS_CREATED_WITH_MODIFICATIONS = statuses.Status(0xB300, dm.NCreateRSPMessage)
#: Subscribe: the deletion lock was not granted (CC.2.3-3).
UPS_DELETION_LOCK_NOT_GRANTED = statuses.Status(0xB301, dm.NActionRSPMessage)
#: Change state, request cancel: already CANCELED (CC.2.1-2, CC.2.2-2).
UPS_ALREADY_CANCELED = statuses.Status(0xB304, dm.NActionRSPMessage)
#: N-SET: invalid values were coerced to valid ones (CC.2.6-1).
UPS_COERCED = statuses.Status(0xB305, dm.NSetRSPMessage)
#: Change state: already COMPLETED (CC.2.1-2).
UPS_ALREADY_COMPLETED = statuses.Status(0xB306, dm.NActionRSPMessage)
#: Change state, N-SET: the UPS may no longer be updated (it is COMPLETED or CANCELED).
UPS_MAY_NO_LONGER_BE_UPDATED = statuses.Status(0xC300)
#: Change state, N-SET: the correct Transaction UID was not provided.
UPS_WRONG_TRANSACTION_UID = statuses.Status(0xC301)
#: Change state: the UPS is already IN PROGRESS.
UPS_ALREADY_IN_PROGRESS = statuses.Status(0xC302, dm.NActionRSPMessage)
#: Change state: a UPS becomes SCHEDULED only by N-CREATE.
UPS_SCHEDULED_ONLY_BY_CREATE = statuses.Status(0xC303, dm.NActionRSPMessage)
#: Change state: the final state requirements are not met.
UPS_FINAL_STATE_NOT_MET = statuses.Status(0xC304, dm.NActionRSPMessage)
#: Every operation: no such UPS instance is managed here.
UPS_NO_SUCH_INSTANCE = statuses.Status(0xC307)
#: Subscribe: the Receiving AE is unknown to this SCP.
UPS_RECEIVING_AE_UNKNOWN = statuses.Status(0xC308, dm.NActionRSPMessage)
#: N-CREATE: the Procedure Step State was not SCHEDULED.
UPS_NOT_SCHEDULED = statuses.Status(0xC309, dm.NCreateRSPMessage)
#: Change state, N-SET: the UPS is not (yet) IN PROGRESS.
UPS_NOT_IN_PROGRESS = statuses.Status(0xC310)
#: Request cancel: the UPS is already COMPLETED.
UPS_CANCEL_ALREADY_COMPLETED = statuses.Status(0xC311, dm.NActionRSPMessage)
#: Request cancel: the performer cannot be contacted.
UPS_PERFORMER_UNREACHABLE = statuses.Status(0xC312, dm.NActionRSPMessage)
#: Request cancel: the performer chooses not to cancel.
UPS_PERFORMER_WILL_NOT_CANCEL = statuses.Status(0xC313, dm.NActionRSPMessage)
#: Subscription actions: the action is not appropriate for the instance.
UPS_ACTION_NOT_APPROPRIATE = statuses.Status(0xC314, dm.NActionRSPMessage)
#: Subscribe: this SCP does not send event reports.
UPS_NO_EVENT_REPORTS = statuses.Status(0xC315, dm.NActionRSPMessage)

_MISSING_ATTRIBUTE = statuses.Status(0x0120)
_INVALID_ATTRIBUTE_VALUE = statuses.Status(0x0106)
_DUPLICATE_INSTANCE = statuses.Status(0x0111)
_INVALID_ARGUMENT_VALUE = statuses.Status(0x0115, dm.NActionRSPMessage)


def refuse(status: statuses.Status, message: str) -> EventHandlingError:
    """The error that makes an SCP answer ``status`` (a failure), logged."""
    logger.info('UPS request refused with 0x%04X: %s', int(status), message)
    return EventHandlingError(message, status=int(status))


class Notification(NamedTuple):
    """One N-EVENT-REPORT to send (PS3.4 CC.2.4.3): to the AEs ``receivers``, about workitem
    ``sop_instance_uid``, of type ``event_type_id``, with ``information``."""

    receivers: tuple[str, ...]
    sop_instance_uid: UID
    event_type_id: int
    information: Dataset


class Outcome(NamedTuple):
    """What a change of the store gives: the status to answer and the reports it calls for."""

    status: statuses.Status
    notifications: list[Notification]


# --- matching (PS3.4 C.2.2.2, as the UPS C-FIND and filtered subscriptions use it) -------------

_WILDCARD_VRS = frozenset({'AE', 'CS', 'LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UR', 'UT'})
_RANGE_VRS = frozenset({'DA', 'TM', 'DT'})


def _text(value: object) -> str:
    return str(value).rstrip(' \0')


def _match_value(key: DataElement, value: object) -> bool:
    wanted = _text(key.value)
    if key.VR in _RANGE_VRS and '-' in wanted:
        low, _, high = wanted.partition('-')
        found = _text(value)
        return (not low or found >= low) and (not high or found[:len(high)] <= high)
    if key.VR in _WILDCARD_VRS and ('*' in wanted or '?' in wanted):
        pattern = ''.join('.*' if c == '*' else '.' if c == '?' else re.escape(c) for c in wanted)
        return re.fullmatch(pattern, _text(value), re.DOTALL) is not None
    if isinstance(key.value, (int, float)) or key.VR in {'DS', 'IS'}:
        return str(key.value) == str(value)
    return wanted == _text(value)


def matches(workitem: Dataset, keys: Dataset) -> bool:
    """Whether ``workitem`` matches the matching keys ``keys`` (PS3.4 C.2.2.2).

    Empty keys match anything (universal matching); otherwise single value matching, with
    ``*`` and ``?`` wildcards for text, a backslash-separated list of UIDs, ``low-high``
    ranges of dates and times, and a sequence key matches when one item of the workitem's
    sequence matches its item.

    >>> item = Dataset(); item.ProcedureStepLabel = 'CT head'; item.WorklistLabel = 'CT'
    >>> keys = Dataset(); keys.ProcedureStepLabel = 'CT*'; keys.WorklistLabel = ''
    >>> matches(item, keys)
    True
    """
    for key in keys:
        if (key.tag.is_private or key.tag in (0x00080005, 0x00081195)
                or key.tag.group in (0x0000, 0x0002)):
            continue  # the Transaction UID (0008,1195) is never matched: PS3.4 CC.2.7.3
        if key.VR == 'SQ':
            if not key.value or not len(key.value[0]):
                continue
            found = workitem.get(key.tag)
            if found is None or found.VR != 'SQ' or not any(
                matches(candidate, key.value[0]) for candidate in found.value
            ):
                return False
            continue
        if key.value is None or key.value == '' or key.is_empty:
            continue
        found = workitem.get(key.tag)
        if found is None or found.value is None or found.is_empty:
            return False
        values = list(found.value) if found.VM > 1 else [found.value]
        if key.VM > 1:  # a list of values (of UIDs: PS3.4 C.2.2.2.2): any of them
            if not {_text(v) for v in key.value} & {_text(v) for v in values}:
                return False
        elif not any(_match_value(key, value) for value in values):
            return False
    return True


def _response(workitem: Dataset, keys: Dataset) -> Dataset:
    """The identifier of a match: the keys asked for, with the workitem's values."""
    answer = Dataset()
    if 'SpecificCharacterSet' in workitem:
        answer.SpecificCharacterSet = workitem.SpecificCharacterSet
    for key in keys:
        if key.tag == 0x00081195:  # Transaction UID: never given out (PS3.4 CC.2.7.3)
            continue
        found = workitem.get(key.tag)
        answer[key.tag] = deep_copy(found) if found is not None else DataElement(
            key.tag, key.VR, [] if key.VR == 'SQ' else None
        )
    return answer


# --- the store --------------------------------------------------------------------------------


def _now() -> str:
    return datetime.datetime.now().strftime('%Y%m%d%H%M%S')


def _state_report(workitem: Dataset) -> Dataset:
    """UPS State Report information (PS3.4 Table CC.2.4-1)."""
    info = Dataset()
    info.ProcedureStepState = workitem.get('ProcedureStepState', '')
    info.InputReadinessState = workitem.get('InputReadinessState', '')
    progress = workitem.get('ProcedureStepProgressInformationSequence')
    if info.ProcedureStepState == ProcedureStepState.CANCELED and progress:
        item = progress[0]
        if 'ReasonForCancellation' in item:
            info.ReasonForCancellation = item.ReasonForCancellation
        if 'ProcedureStepDiscontinuationReasonCodeSequence' in item:
            info.ProcedureStepDiscontinuationReasonCodeSequence = deep_copy(
                item.ProcedureStepDiscontinuationReasonCodeSequence)
    return info


def _assignment(workitem: Dataset) -> Dataset:
    """UPS Assigned information (PS3.4 Table CC.2.4-1)."""
    info = Dataset()
    for keyword in ('ScheduledStationNameCodeSequence', 'ScheduledHumanPerformersSequence',
                    'InputReadinessState'):
        if keyword in workitem:
            info[keyword] = deep_copy(workitem[keyword])
    return info


def _is_assigned(workitem: Dataset) -> bool:
    return bool(workitem.get('ScheduledStationNameCodeSequence')
                or workitem.get('ScheduledHumanPerformersSequence'))


class WorkitemStore:
    """The workitems of one UPS SCP, their subscriptions and the rules of PS3.4 Annex CC.

    Thread-safe: every method takes :attr:`lock`. ``keep_final``: keep COMPLETED and CANCELED
    workitems; by default one is deleted as soon as no subscriber holds a deletion lock on it
    (PS3.4 CC.2.1.3 forbids deleting it before; when to delete it after is the SCP's choice).
    Subclass to change :meth:`final_state_problem`.
    """

    def __init__(self, *, keep_final: bool = False) -> None:
        self.lock = threading.RLock()
        self.keep_final = keep_final
        self._items: dict[UID, Dataset] = {}
        #: Workitem -> subscribed AE title -> deletion lock.
        self._subscribers: dict[UID, dict[str, bool]] = {}
        #: AE title -> (deletion lock, matching keys of a filtered subscription or None).
        self._global: dict[str, tuple[bool, Dataset | None]] = {}

    # -- reading -------------------------------------------------------------------------------

    def __contains__(self, sop_instance_uid: object) -> bool:
        with self.lock:
            return sop_instance_uid in self._items

    def __len__(self) -> int:
        with self.lock:
            return len(self._items)

    def instance_uids(self) -> list[UID]:
        """The workitems' SOP Instance UIDs, in creation order."""
        with self.lock:
            return list(self._items)

    def workitem(self, sop_instance_uid: str) -> Dataset | None:
        """A copy of a workitem, Transaction UID included (None: no such workitem)."""
        with self.lock:
            found = self._items.get(UID(sop_instance_uid))
            return deep_copy(found) if found is not None else None

    def subscribers(self, sop_instance_uid: str) -> dict[str, bool]:
        """The AE titles subscribed to a workitem, each with its deletion lock."""
        with self.lock:
            return dict(self._subscribers.get(UID(sop_instance_uid), {}))

    def global_subscribers(self) -> dict[str, bool]:
        """The AE titles with a (possibly filtered) global subscription, with their lock."""
        with self.lock:
            return {aet: lock for aet, (lock, _keys) in self._global.items()}

    def _item(self, sop_instance_uid: str) -> Dataset:
        found = self._items.get(UID(sop_instance_uid))
        if found is None:
            raise refuse(UPS_NO_SUCH_INSTANCE, f'no workitem {sop_instance_uid}')
        return found

    def get(self, sop_instance_uid: str, tags: Iterable[int] = ()) -> Dataset:
        """N-GET (PS3.4 CC.2.7.3): the attributes asked for (all for none), never the
        Transaction UID; C307H for an unknown workitem."""
        wanted = [Tag(tag) for tag in tags]
        with self.lock:
            item = self._item(sop_instance_uid)
            if not wanted:
                answer: Dataset = deep_copy(item)
            else:
                answer = Dataset()
                for tag in wanted:
                    if tag in item:
                        answer[tag] = deep_copy(item[tag])
                    elif not tag.is_private:
                        try:
                            vr = dictionary_VR(tag)
                        except KeyError:
                            continue
                        answer[tag] = DataElement(tag, vr, [] if vr == 'SQ' else None)
        answer.pop(0x00081195, None)
        return answer

    def find(self, keys: Dataset) -> list[Dataset]:
        """C-FIND (PS3.4 CC.2.8): an identifier per matching workitem, in creation order."""
        with self.lock:
            return [_response(item, keys) for item in self._items.values() if matches(item, keys)]

    # -- the rules ------------------------------------------------------------------------------

    def final_state_problem(self, workitem: Dataset, state: str) -> str | None:
        """Why ``workitem`` may not become ``state`` (COMPLETED or CANCELED), or None.

        PS3.4 CC.2.1.3 refuses the change (C304H) until the Final State requirements of Table
        CC.2.5-3 are met. This checks the core of them: a COMPLETED workitem records what was
        performed, a Unified Procedure Step Performed Procedure Sequence (0074,1216) whose
        item has the Performed Procedure Step Start and End DateTime (0040,4050/4051). Nothing
        is asked of a CANCELED one: this store records its Procedure Step Cancellation
        DateTime (0040,4052) itself. Override for the full table.
        """
        if state != ProcedureStepState.COMPLETED:
            return None
        performed = workitem.get('UnifiedProcedureStepPerformedProcedureSequence')
        if not performed:
            return 'no Unified Procedure Step Performed Procedure Sequence (0074,1216)'
        item = performed[0]
        for keyword in ('PerformedProcedureStepStartDateTime', 'PerformedProcedureStepEndDateTime'):
            if not item.get(keyword):
                return f'no {keyword} in the performed procedure item'
        return None

    def _receivers(self, sop_instance_uid: UID) -> tuple[str, ...]:
        return tuple(self._subscribers.get(sop_instance_uid, {}))

    def _note(self, uid: UID, event: UPSEventType, info: Dataset,
              receivers: tuple[str, ...] | None = None) -> list[Notification]:
        chosen = self._receivers(uid) if receivers is None else receivers
        return [Notification(chosen, uid, int(event), info)] if chosen else []

    def _release_final(self, uid: UID) -> None:
        """Delete a final workitem no deletion lock holds (unless ``keep_final``)."""
        item = self._items.get(uid)
        if (item is None or self.keep_final
                or item.get('ProcedureStepState') not in ProcedureStepState.FINAL
                or any(self._subscribers.get(uid, {}).values())):
            return
        del self._items[uid]
        self._subscribers.pop(uid, None)
        logger.info('UPS %s is %s and not locked: deleted', uid, item.ProcedureStepState)

    def create(self, sop_instance_uid: str, attributes: Dataset) -> Outcome:
        """N-CREATE (PS3.4 CC.2.5.3): a new workitem, SCHEDULED.

        C309H unless its Procedure Step State is SCHEDULED; 0111H for a UID already used. A
        Transaction UID is dropped and a missing Input Readiness State set to READY, answered
        B300H (created with modifications). The AEs with a global subscription (those whose
        filter it matches, for a filtered one) are subscribed to it and get a UPS State
        Report, and a UPS Assigned when it names a station or human performers (CC.2.4.3).
        """
        uid = UID(sop_instance_uid)
        item = deep_copy(attributes)
        if item.get('ProcedureStepState') != ProcedureStepState.SCHEDULED:
            raise refuse(UPS_NOT_SCHEDULED, f'N-CREATE of {uid} with Procedure Step State '
                         f'{item.get("ProcedureStepState")!r}, not SCHEDULED')
        status = statuses.SUCCESS
        if 'TransactionUID' in item:
            del item.TransactionUID
            status = UPS_CREATED_WITH_MODIFICATIONS
        if not item.get('InputReadinessState'):
            item.InputReadinessState = 'READY'
            status = UPS_CREATED_WITH_MODIFICATIONS
        item.SOPClassUID = uids.UNIFIED_PROCEDURE_STEP_PUSH_SOP_CLASS
        item.SOPInstanceUID = uid
        with self.lock:
            if uid in self._items or uid in GLOBAL_INSTANCES:
                raise refuse(_DUPLICATE_INSTANCE, f'workitem {uid} exists already')
            self._items[uid] = item
            subscribed = {aet: lock for aet, (lock, keys) in self._global.items()
                          if keys is None or matches(item, keys)}
            self._subscribers[uid] = subscribed
            notes = self._note(uid, UPSEventType.STATE_REPORT, _state_report(item))
            if _is_assigned(item):
                notes += self._note(uid, UPSEventType.ASSIGNED, _assignment(item))
        return Outcome(status, notes)

    def set(self, sop_instance_uid: str, modifications: Dataset) -> Outcome:
        """N-SET (PS3.4 CC.2.6.3): change an IN PROGRESS workitem, given its Transaction UID.

        C307H unknown, C300H final, C310H SCHEDULED, C301H without the right Transaction UID
        (0008,1195) in the modification list; 0106H for a change of the Procedure Step State
        (that is N-ACTION's, CC.2.1) or of the SOP Class or Instance UID. Subscribers get a
        UPS Progress Report when the progress information changes, a UPS Assigned when the
        station or human performers do.
        """
        uid = UID(sop_instance_uid)
        with self.lock:
            item = self._item(uid)
            state = item.get('ProcedureStepState')
            if state in ProcedureStepState.FINAL:
                raise refuse(UPS_MAY_NO_LONGER_BE_UPDATED, f'{uid} is {state}')
            if state != ProcedureStepState.IN_PROGRESS:
                raise refuse(UPS_NOT_IN_PROGRESS, f'{uid} is {state}, not IN PROGRESS')
            if modifications.get('TransactionUID') != item.get('TransactionUID'):
                raise refuse(UPS_WRONG_TRANSACTION_UID, f'N-SET of {uid} without its '
                             'Transaction UID')
            for keyword in ('ProcedureStepState', 'SOPClassUID', 'SOPInstanceUID'):
                if keyword in modifications and modifications[keyword].value != item.get(keyword):
                    raise refuse(_INVALID_ATTRIBUTE_VALUE, f'N-SET may not change {keyword}')
            before = (item.get('ProcedureStepProgressInformationSequence'), _assignment(item))
            for element in modifications:
                if element.tag != 0x00081195:
                    item[element.tag] = deep_copy(element)
            notes: list[Notification] = []
            if item.get('ProcedureStepProgressInformationSequence') != before[0]:
                info = Dataset()
                info.ProcedureStepProgressInformationSequence = deep_copy(
                    item.get('ProcedureStepProgressInformationSequence', []))
                notes += self._note(uid, UPSEventType.PROGRESS_REPORT, info)
            if _assignment(item) != before[1] and _is_assigned(item):
                notes += self._note(uid, UPSEventType.ASSIGNED, _assignment(item))
        return Outcome(statuses.SUCCESS, notes)

    def change_state(self, sop_instance_uid: str, state: str, transaction_uid: str | None
                     ) -> Outcome:
        """Change UPS State (N-ACTION type 1, PS3.4 CC.2.1.3; Table CC.1.1-2).

        SCHEDULED becomes IN PROGRESS, recording ``transaction_uid``; IN PROGRESS becomes
        COMPLETED or CANCELED with that same UID once :meth:`final_state_problem` has nothing
        to say. Refused: C303H (to SCHEDULED), C310H (from SCHEDULED to a final state), C302H
        (IN PROGRESS again), C301H (wrong Transaction UID), C304H (final state requirements),
        C300H (from a final state to another); B304H and B306H warn that a workitem is already
        CANCELED or COMPLETED. Subscribers get a UPS State Report.
        """
        uid = UID(sop_instance_uid)
        with self.lock:
            item = self._item(uid)
            current = item.get('ProcedureStepState')
            if state not in ProcedureStepState.ALL:
                raise refuse(_INVALID_ARGUMENT_VALUE, f'no such Procedure Step State {state!r}')
            if state == ProcedureStepState.SCHEDULED:
                raise refuse(UPS_SCHEDULED_ONLY_BY_CREATE, f'{uid} cannot become SCHEDULED')
            if current in ProcedureStepState.FINAL:
                if state == current:
                    warning = (UPS_ALREADY_CANCELED if state == ProcedureStepState.CANCELED
                               else UPS_ALREADY_COMPLETED)
                    return Outcome(warning, [])
                raise refuse(UPS_MAY_NO_LONGER_BE_UPDATED, f'{uid} is {current}')
            if current == ProcedureStepState.SCHEDULED:
                if state != ProcedureStepState.IN_PROGRESS:
                    raise refuse(UPS_NOT_IN_PROGRESS, f'{uid} is SCHEDULED, not yet IN PROGRESS')
                if not transaction_uid:
                    raise refuse(UPS_WRONG_TRANSACTION_UID, f'{uid}: no Transaction UID given')
                item.TransactionUID = transaction_uid
            else:
                if state == ProcedureStepState.IN_PROGRESS:
                    raise refuse(UPS_ALREADY_IN_PROGRESS, f'{uid} is IN PROGRESS already')
                if transaction_uid != item.get('TransactionUID'):
                    raise refuse(UPS_WRONG_TRANSACTION_UID, f'{uid}: wrong Transaction UID')
                problem = self.final_state_problem(item, state)
                if problem is not None:
                    raise refuse(UPS_FINAL_STATE_NOT_MET, f'{uid} cannot be {state}: {problem}')
                if state == ProcedureStepState.CANCELED:
                    self._record_cancellation(item, None)
            item.ProcedureStepState = state
            notes = self._note(uid, UPSEventType.STATE_REPORT, _state_report(item))
            self._release_final(uid)
        return Outcome(statuses.SUCCESS, notes)

    @staticmethod
    def _record_cancellation(item: Dataset, request: Dataset | None) -> None:
        """Note when (and, from a cancel request, why) a workitem was canceled (PS3.3
        C.30.1: in the Procedure Step Progress Information Sequence)."""
        if not item.get('ProcedureStepProgressInformationSequence'):
            item.ProcedureStepProgressInformationSequence = [Dataset()]
        progress = item.ProcedureStepProgressInformationSequence[0]
        if not progress.get('ProcedureStepCancellationDateTime'):
            progress.ProcedureStepCancellationDateTime = _now()
        for keyword in ('ReasonForCancellation', 'ProcedureStepDiscontinuationReasonCodeSequence'):
            if request is not None and keyword in request and keyword not in progress:
                progress[keyword] = deep_copy(request[keyword])

    def request_cancel(self, sop_instance_uid: str, requesting_ae: str,
                       request: Dataset | None = None) -> Outcome:
        """Request UPS Cancel (N-ACTION type 2, PS3.4 CC.2.2.3).

        A SCHEDULED workitem is canceled here and now, through IN PROGRESS (two UPS State
        Reports). For an IN PROGRESS one, its subscribers (the performer among them, if it
        subscribed) get a UPS Cancel Requested naming ``requesting_ae``, with the reason and
        contact given in ``request``; with no subscriber nobody can tell the performer:
        C312H. C311H for a COMPLETED workitem, B304H for a CANCELED one.
        """
        uid = UID(sop_instance_uid)
        request = request if request is not None else Dataset()
        with self.lock:
            item = self._item(uid)
            current = item.get('ProcedureStepState')
            if current == ProcedureStepState.CANCELED:
                return Outcome(UPS_ALREADY_CANCELED, [])
            if current == ProcedureStepState.COMPLETED:
                raise refuse(UPS_CANCEL_ALREADY_COMPLETED, f'{uid} is COMPLETED')
            if current == ProcedureStepState.IN_PROGRESS:
                info = Dataset()
                info.RequestingAE = requesting_ae
                for keyword in ('ReasonForCancellation',
                                'ProcedureStepDiscontinuationReasonCodeSequence',
                                'ContactURI', 'ContactDisplayName'):
                    if keyword in request:
                        info[keyword] = deep_copy(request[keyword])
                notes = self._note(uid, UPSEventType.CANCEL_REQUESTED, info)
                if not notes:
                    raise refuse(UPS_PERFORMER_UNREACHABLE, f'nobody subscribed to {uid} could '
                                 'tell its performer')
                return Outcome(statuses.SUCCESS, notes)
            item.ProcedureStepState = ProcedureStepState.IN_PROGRESS
            notes = self._note(uid, UPSEventType.STATE_REPORT, _state_report(item))
            self._record_cancellation(item, request)
            item.ProcedureStepState = ProcedureStepState.CANCELED
            notes += self._note(uid, UPSEventType.STATE_REPORT, _state_report(item))
            self._release_final(uid)
        return Outcome(statuses.SUCCESS, notes)

    def subscribe(self, receiving_ae: str, sop_instance_uid: str, deletion_lock: bool = False,
                  matching_keys: Dataset | None = None) -> Outcome:
        """Subscribe to Receive UPS Event Reports (N-ACTION type 3, PS3.4 CC.2.3.3).

        To one workitem (C307H if unknown), which the AE then hears of, starting with a UPS
        State Report now; to the UPS Global Subscription instance, every workitem, present and
        to come (with a deletion lock, a State Report of each now, CC.2.4.3); to the Filtered
        Global Subscription instance, those that match ``matching_keys``.
        """
        uid = UID(sop_instance_uid)
        aet = receiving_ae.strip()
        with self.lock:
            if uid not in GLOBAL_INSTANCES:
                item = self._item(uid)
                self._subscribers.setdefault(uid, {})[aet] = deletion_lock
                return Outcome(statuses.SUCCESS, self._note(
                    uid, UPSEventType.STATE_REPORT, _state_report(item), (aet,)))
            keys = matching_keys if uid == FILTERED_GLOBAL else None
            self._global[aet] = (deletion_lock, deep_copy(keys))
            notes: list[Notification] = []
            for instance, item in self._items.items():
                if keys is not None and not matches(item, keys):
                    continue
                self._subscribers.setdefault(instance, {}).setdefault(aet, deletion_lock)
                if deletion_lock:
                    notes += self._note(instance, UPSEventType.STATE_REPORT,
                                        _state_report(item), (aet,))
        return Outcome(statuses.SUCCESS, notes)

    def unsubscribe(self, receiving_ae: str, sop_instance_uid: str) -> Outcome:
        """Unsubscribe from Receive UPS Event Reports (N-ACTION type 4, PS3.4 CC.2.3.3).

        From one workitem (C307H if unknown); from a global subscription instance: from
        everything, the global subscription and every workitem's. Deletion locks go with the
        subscriptions, so a final workitem nobody else locks is deleted.
        """
        uid = UID(sop_instance_uid)
        aet = receiving_ae.strip()
        with self.lock:
            if uid in GLOBAL_INSTANCES:
                self._global.pop(aet, None)
                affected = [i for i, subs in self._subscribers.items() if subs.pop(aet, None)
                            is not None]
            else:
                self._item(uid)
                self._subscribers.get(uid, {}).pop(aet, None)
                affected = [uid]
            for instance in affected:
                self._release_final(instance)
        return Outcome(statuses.SUCCESS, [])

    def suspend_global_subscription(self, receiving_ae: str, sop_instance_uid: str) -> Outcome:
        """Suspend Global Subscription (N-ACTION type 5, PS3.4 CC.2.3.3): no new workitem is
        subscribed to, those already are stay. C314H for any instance but the two global
        subscription ones."""
        uid = UID(sop_instance_uid)
        if uid not in GLOBAL_INSTANCES:
            raise refuse(UPS_ACTION_NOT_APPROPRIATE, f'{uid} is not a global subscription '
                         'instance')
        with self.lock:
            self._global.pop(receiving_ae.strip(), None)
        return Outcome(statuses.SUCCESS, [])

    def scp_status_change(self, scp_status: str, subscription_list_status: str | None = None,
                          ups_list_status: str | None = None) -> list[Notification]:
        """SCP Status Change reports (PS3.4 Table CC.2.4-1, event type 4) for every AE with a
        subscription: SCP Status (0074,1242) ``'GOING DOWN'`` or ``'RESTARTED'``, and on a
        restart the Subscription List Status (0074,1244) and UPS List Status (0074,1246)
        (``'WARM START'`` or ``'COLD START'``). The reports name the UPS Global Subscription
        instance."""
        info = Dataset()
        info.SCPStatus = scp_status
        if subscription_list_status is not None:
            info.SubscriptionListStatus = subscription_list_status
        if ups_list_status is not None:
            info.UnifiedProcedureStepListStatus = ups_list_status
        with self.lock:
            receivers = dict.fromkeys(self._global)
            for subscribed in self._subscribers.values():
                receivers.update(dict.fromkeys(subscribed))
        return self._note(GLOBAL, UPSEventType.SCP_STATUS_CHANGE, info, tuple(receivers))


def deletion_lock(information: Dataset | None) -> bool:
    """The Deletion Lock (0074,1230) of a subscribe request: ``'TRUE'`` or not."""
    value = information.get('DeletionLock', '') if information is not None else ''
    return _text(value).upper() == 'TRUE'

