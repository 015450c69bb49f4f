"""Unified Procedure Step (PS3.4 Annex CC) on loopback: ``ups_scu`` against
``UnifiedProcedureStepSCP``, and the worklist's rules (``WorkitemStore``) on their own.

* each operation: N-CREATE (Push), N-GET, N-SET, N-ACTION (change state, request cancel,
  subscribe, unsubscribe, suspend global subscription), C-FIND;
* the state rules of CC.1.1 and the statuses of CC.2 (C300H ... C314H, B300H, B304H, B306H);
* event reports (CC.2.4.3): on the subscriber's own association (read with
  ``'receive_event'``, or served while it waits for a response), and on a new association the
  SCP opens to a listening subscriber, proposing the SCP role of the UPS Event class.

Every wait is bounded (``fast`` AEs, queue timeouts); nothing sleeps.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import pytest
from aetools import fast, remote, serving
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import DCMTimeoutError, EventHandlingError, NetDICOMError
from pynetdicom2.services import ups, upsstate
from pynetdicom2.services.upsstate import ProcedureStepState as State
from pynetdicom2.services.upsstate import UPSEventType as Event
from pynetdicom2.userdataitems import ScpScuRoleSelectionSubItem

PUSH = uids.UNIFIED_PROCEDURE_STEP_PUSH_SOP_CLASS
PULL = uids.UNIFIED_PROCEDURE_STEP_PULL_SOP_CLASS
WATCH = uids.UNIFIED_PROCEDURE_STEP_WATCH_SOP_CLASS
EVENT = uids.UNIFIED_PROCEDURE_STEP_EVENT_SOP_CLASS
QUERY = uids.UNIFIED_PROCEDURE_STEP_QUERY_SOP_CLASS
GLOBAL = uids.UPS_GLOBAL_SUBSCRIPTION_SOP_INSTANCE
FILTERED = uids.UPS_FILTERED_GLOBAL_SUBSCRIPTION_SOP_INSTANCE
WAIT = 5.0


def workitem(**elements: Any) -> Dataset:
    ds = Dataset()
    ds.ProcedureStepState = 'SCHEDULED'
    ds.InputReadinessState = 'READY'
    ds.ProcedureStepLabel = 'Recon'
    ds.WorklistLabel = 'CT'
    ds.PatientName = 'Doe^Jane'
    ds.ScheduledProcedureStepStartDateTime = '20240131101500'
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def performed() -> Dataset:
    """What a COMPLETED workitem records (the store's final state requirements)."""
    item = Dataset()
    item.PerformedProcedureStepStartDateTime = '20240131101500'
    item.PerformedProcedureStepEndDateTime = '20240131103000'
    mods = Dataset()
    mods.UnifiedProcedureStepPerformedProcedureSequence = [item]
    return mods


def code(value: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = '99LOCAL'
    item.CodeMeaning = value
    return item


class Worklist(ae.AE):
    def __init__(self, **options: Any) -> None:
        super().__init__('WORKLIST', 0, host='127.0.0.1')
        self.ups = sc.UnifiedProcedureStepSCP(**options)
        self.add_scp(self.ups)


class Watcher(ae.ClientAE):
    """A subscriber that reads its reports on its own associations (the AE hook)."""

    def __init__(self, title: str = 'WATCHER', classes: Any = None) -> None:
        super().__init__(title)
        fast(self)
        self.add_scu(sc.ups_scu, classes)
        self.events: queue.Queue[tuple] = queue.Queue()

    def on_n_event_report(self, context, sop_instance_uid, event_type_id, event_information):
        self.events.put((context.sop_class, sop_instance_uid, event_type_id, event_information))
        return statuses.SUCCESS


class RecordingReceiver(sc.UPSEventReceiver):
    def __init__(self) -> None:
        self.messages: queue.Queue[Any] = queue.Queue()

    def n_event_report(self, asce, ctx, msg):  # type: ignore[override]
        self.messages.put((msg, ctx))
        super().n_event_report(asce, ctx, msg)


class Listener(ae.AE):
    """A subscriber that listens: the SCP opens associations to it for its reports."""

    def __init__(self, title: str = 'LISTENER') -> None:
        super().__init__(title, 0, host='127.0.0.1')
        self.receiver = RecordingReceiver()
        self.add_scp(self.receiver)
        self.events: queue.Queue[tuple] = queue.Queue()
        self.requests: list = []

    def on_association_request(self, asce, rq):
        self.requests.append(rq)

    def on_n_event_report(self, context, sop_instance_uid, event_type_id, event_information):
        self.events.put((sop_instance_uid, event_type_id, event_information))
        return statuses.SUCCESS


def performer() -> ae.ClientAE:
    return fast(ae.ClientAE('PERFORMER')).add_scu(sc.ups_scu)


def code_of(rsp: Any) -> int:
    return int(rsp.status)


def create(assoc: Any, msg_id: int = 1, **elements: Any) -> str:
    rsp = assoc.get_scu(PUSH)('create', workitem(**elements), msg_id)
    assert rsp.status.is_success, rsp.status
    return str(rsp.sop_instance_uid)


def claim(assoc: Any, uid: str) -> str:
    tuid = generate_uid()
    assert assoc.get_scu(PULL)('change_state', uid, State.IN_PROGRESS, tuid, 20).status.is_success
    return tuid


def complete(assoc: Any, uid: str, tuid: str) -> None:
    assert assoc.get_scu(PULL)('set', uid, tuid, performed(), 21).status.is_success
    assert assoc.get_scu(PULL)('change_state', uid, State.COMPLETED, tuid, 22).status.is_success


def next_event(watcher_assoc: Any) -> sc.UPSEventReport:
    report = watcher_assoc.get_scu(EVENT)('receive_event', WAIT)
    assert report.status.is_success
    return report


# --- the operations ------------------------------------------------------------------------------


def test_push_create_then_get_and_find():
    with serving(Worklist()) as srv, performer().request_association(remote(srv)) as assoc:
        first = create(assoc, 1, ProcedureStepLabel='CT head')
        create(assoc, 2, ProcedureStepLabel='MR knee', WorklistLabel='MR')
        got = assoc.get_scu(PUSH)('get', first, 3, ['ProcedureStepLabel', 'ProcedureStepState'])
        everything = assoc.get_scu(PULL)('get', first, 4)
        query = Dataset()
        query.ProcedureStepLabel = 'CT*'
        query.ProcedureStepState = ''
        query.SOPInstanceUID = ''
        found = list(assoc.get_scu(QUERY)('find', query, 5))
        everyone = Dataset()
        everyone.SOPInstanceUID = ''
        by_pull = list(assoc.get_scu(PULL)('find', everyone, 6))
    assert got.status.is_success and got.data_set.ProcedureStepLabel == 'CT head'
    assert set(got.data_set.keys()) == {0x00741000, 0x00741204}
    assert everything.data_set.SOPClassUID == PUSH  # PS3.4 CC.3.1
    assert everything.data_set.SOPInstanceUID == first
    assert [(m.SOPInstanceUID, m.ProcedureStepState) for m, s in found if s.is_pending] == [
        (first, 'SCHEDULED')]
    assert found[-1][1].is_success
    assert len([m for m, s in by_pull if s.is_pending]) == 2


def test_create_refusals_and_modifications():
    with serving(Worklist()) as srv, performer().request_association(remote(srv)) as assoc:
        push = assoc.get_scu(PUSH)
        wrong = push('create', workitem(ProcedureStepState='IN PROGRESS'), 1)
        uid = generate_uid()
        assert push('create', workitem(), 2, uid).status.is_success
        duplicate = push('create', workitem(), 3, uid)
        changed = workitem(TransactionUID=generate_uid())
        del changed.InputReadinessState
        modified = push('create', changed, 4)
        kept = assoc.get_scu(PUSH)('get', modified.sop_instance_uid, 5)
    assert code_of(wrong) == 0xC309
    assert code_of(duplicate) == 0x0111
    assert code_of(modified) == 0xB300 and modified.status.is_warning
    assert kept.data_set.InputReadinessState == 'READY'
    assert 'TransactionUID' not in kept.data_set


def test_state_rules_and_transaction_uid():
    with serving(Worklist(keep_final=True)) as srv, \
            performer().request_association(remote(srv)) as assoc:
        pull = assoc.get_scu(PULL)
        uid = create(assoc)
        tuid = generate_uid()
        codes = [
            code_of(pull('change_state', uid, State.COMPLETED, tuid, 2)),        # C310
            code_of(pull('change_state', uid, State.CANCELED, tuid, 3)),         # C310
            code_of(pull('change_state', uid, State.SCHEDULED, tuid, 4)),        # C303
            code_of(pull('set', uid, tuid, performed(), 5)),                     # C310
            code_of(pull('change_state', uid, State.IN_PROGRESS, tuid, 6)),      # claimed
            code_of(pull('change_state', uid, State.IN_PROGRESS, tuid, 7)),      # C302
            code_of(pull('change_state', uid, State.IN_PROGRESS, generate_uid(), 8)),  # C302
            code_of(pull('set', uid, generate_uid(), performed(), 9)),           # C301
            code_of(pull('change_state', uid, State.COMPLETED, generate_uid(), 10)),  # C301
            code_of(pull('change_state', uid, State.COMPLETED, tuid, 11)),       # C304
            code_of(pull('set', uid, tuid, performed(), 12)),                    # set
            code_of(pull('change_state', uid, State.COMPLETED, tuid, 13)),       # completed
            code_of(pull('change_state', uid, State.COMPLETED, tuid, 14)),       # B306
            code_of(pull('change_state', uid, State.CANCELED, tuid, 15)),        # C300
            code_of(pull('set', uid, tuid, performed(), 16)),                    # C300
        ]
        got = pull('get', uid, 17)
    assert codes == [0xC310, 0xC310, 0xC303, 0xC310, 0, 0xC302, 0xC302, 0xC301, 0xC301,
                     0xC304, 0, 0, 0xB306, 0xC300, 0xC300]
    assert got.data_set.ProcedureStepState == 'COMPLETED'
    assert 'TransactionUID' not in got.data_set  # PS3.4 CC.2.7.3
    assert srv.ups.store.workitem(uid).TransactionUID  # kept, never given out


def test_canceled_by_its_performer_and_already_canceled():
    with serving(Worklist(keep_final=True)) as srv, \
            performer().request_association(remote(srv)) as assoc:
        pull = assoc.get_scu(PULL)
        uid = create(assoc)
        tuid = claim(assoc, uid)
        first = pull('change_state', uid, State.CANCELED, tuid, 2)
        again = pull('change_state', uid, State.CANCELED, tuid, 3)
        stored = srv.ups.store.workitem(uid)
    assert first.status.is_success and code_of(again) == 0xB304
    progress = stored.ProcedureStepProgressInformationSequence[0]
    assert progress.ProcedureStepCancellationDateTime


def test_n_set_may_not_change_the_state_and_unknown_instances_are_c307():
    with serving(Worklist()) as srv, performer().request_association(remote(srv)) as assoc:
        pull = assoc.get_scu(PULL)
        uid = create(assoc)
        tuid = claim(assoc, uid)
        mods = Dataset()
        mods.ProcedureStepState = 'COMPLETED'
        state_by_set = pull('set', uid, tuid, mods, 2)
        nobody = generate_uid()
        unknown = [code_of(pull('get', nobody, 3)),
                   code_of(pull('set', nobody, tuid, performed(), 4)),
                   code_of(pull('change_state', nobody, State.IN_PROGRESS, tuid, 5)),
                   code_of(assoc.get_scu(WATCH)('subscribe', nobody, 6)),
                   code_of(assoc.get_scu(PUSH)('request_cancel', nobody, 7))]
    assert code_of(state_by_set) == 0x0106
    assert unknown == [0xC307] * 5


def test_unknown_action_and_operations_outside_their_class():
    with serving(Worklist()) as srv, performer().request_association(remote(srv)) as assoc:
        uid = create(assoc)
        rsp = ups.ups_exchange(assoc, _context(assoc, PULL), _action(uid, 9), _action_rsp(), None)
        with pytest.raises(NetDICOMError, match='not an operation'):
            assoc.get_scu(PUSH)('set', uid, generate_uid(), performed(), 2)
        with pytest.raises(NetDICOMError, match='not an operation'):
            assoc.get_scu(QUERY)('create', workitem(), 3)
    assert code_of(rsp) == 0x0123


def _context(assoc: Any, sop_class: str) -> Any:
    from pynetdicom2.fsm import PContextDef

    pc_id, ts = assoc.sop_classes_as_scu[sop_class]
    return PContextDef(pc_id, sop_class, ts)


def _action(uid: str, action_type: int) -> Any:
    from pynetdicom2 import dimsemessages as dm

    rq = dm.NActionRQMessage()
    rq.message_id = 99
    rq.sop_class_uid = PUSH
    rq.requested_sop_instance_uid = uid
    rq.action_type_id = action_type
    return rq


def _action_rsp() -> Any:
    from pynetdicom2 import dimsemessages as dm

    return dm.NActionRSPMessage


# --- event reports -------------------------------------------------------------------------------


def test_subscriber_hears_on_its_own_association():
    watcher = Watcher()
    with serving(Worklist()) as srv, performer().request_association(remote(srv)) as work, \
            watcher.request_association(remote(srv)) as watch:
        uid = create(work)
        assert watch.get_scu(WATCH)('subscribe', uid, 1).status.is_success
        initial = next_event(watch)
        tuid = claim(work, uid)
        started = next_event(watch)
        complete(work, uid, tuid)
        done = next_event(watch)
    assert (initial.sop_instance_uid, initial.event_type_id) == (uid, Event.STATE_REPORT)
    assert initial.information.ProcedureStepState == 'SCHEDULED'
    assert initial.information.InputReadinessState == 'READY'
    assert started.information.ProcedureStepState == 'IN PROGRESS'
    assert done.information.ProcedureStepState == 'COMPLETED'
    hooked = [watcher.events.get_nowait() for _ in range(3)]
    assert [(c, i, t) for c, i, t, _info in hooked] == [(EVENT, uid, 1)] * 3


def test_reports_are_served_while_the_subscriber_waits_for_a_response():
    """The SCP reports on the association it answered on; the SCU's next exchange takes the
    N-EVENT-REPORT-RQ that arrives before its response (PS3.7 10.1.1)."""
    watcher = Watcher()
    with serving(Worklist()) as srv, watcher.request_association(remote(srv)) as assoc:
        uid = create(assoc)
        assert assoc.get_scu(WATCH)('subscribe', uid, 2).status.is_success
        # The initial report is on its way; N-GET is answered only after it is.
        got = assoc.get_scu(PULL)('get', uid, 3, ['ProcedureStepState'])
        first = watcher.events.get_nowait()
        tuid = claim(assoc, uid)  # the report of IN PROGRESS is served by the next exchange
        query = Dataset()
        query.ProcedureStepState = ''
        found = list(assoc.get_scu(PULL)('find', query, 4))
        second = watcher.events.get_nowait()
    assert got.status.is_success
    assert first[1:3] == (uid, Event.STATE_REPORT)
    assert second[3].ProcedureStepState == 'IN PROGRESS' and tuid
    assert found[-1][1].is_success


def test_reports_on_a_new_association_to_a_listening_subscriber():
    listener = Listener()
    with serving(listener), serving(Worklist()) as srv:
        srv.ups.destinations['LISTENER'] = remote(listener)
        subscriber = Watcher('LISTENER', [PUSH, PULL, WATCH])  # no UPS Event context
        with subscriber.request_association(remote(srv)) as assoc:
            uid = create(assoc)
            assert assoc.get_scu(WATCH)('subscribe', uid, 2).status.is_success
        initial = listener.events.get(timeout=WAIT)
        with performer().request_association(remote(srv)) as work:
            tuid = claim(work, uid)
            started = listener.events.get(timeout=WAIT)
            complete(work, uid, tuid)
            done = listener.events.get(timeout=WAIT)
        msg, ctx = listener.receiver.messages.get(timeout=WAIT)
    assert [e[:2] for e in (initial, started, done)] == [(uid, Event.STATE_REPORT)] * 3
    assert [e[2].ProcedureStepState for e in (initial, started, done)] == [
        'SCHEDULED', 'IN PROGRESS', 'COMPLETED']
    # PS3.4 CC.2.4.3: the report names the Push class; it came on a UPS Event context.
    assert msg.sop_class_uid == PUSH and ctx.sop_class == EVENT
    request = listener.requests[0]
    assert request.calling_ae_title.strip() == 'WORKLIST'
    roles = [item for variable in request.variable_items if hasattr(variable, 'user_data')
             for item in variable.user_data if isinstance(item, ScpScuRoleSelectionSubItem)]
    assert [(r.sop_class_uid, r.scu_role, r.scp_role) for r in roles] == [(EVENT, 0, 1)]


def test_global_subscription_with_lock_keeps_final_workitems():
    watcher = Watcher()
    with serving(Worklist()) as srv, performer().request_association(remote(srv)) as work, \
            watcher.request_association(remote(srv)) as watch:
        existing = create(work)
        rsp = watch.get_scu(WATCH)('subscribe', GLOBAL, 1, deletion_lock=True)
        initial = next_event(watch)
        later = create(work, 2)
        created = next_event(watch)
        tuid = claim(work, later)
        next_event(watch)
        complete(work, later, tuid)
        next_event(watch)
        locked = work.get_scu(PULL)('get', later, 30)
        assert watch.get_scu(WATCH)('unsubscribe', GLOBAL, 3).status.is_success
        released = work.get_scu(PULL)('get', later, 31)
    assert rsp.status.is_success
    assert (initial.sop_instance_uid, initial.event_type_id) == (existing, Event.STATE_REPORT)
    assert created.sop_instance_uid == later
    assert created.information.ProcedureStepState == 'SCHEDULED'
    assert locked.data_set.ProcedureStepState == 'COMPLETED'
    assert code_of(released) == 0xC307  # no lock left: deleted
    assert srv.ups.store.global_subscribers() == {}


def test_without_a_lock_a_final_workitem_is_deleted():
    with serving(Worklist()) as srv, performer().request_association(remote(srv)) as work:
        uid = create(work)
        complete(work, uid, claim(work, uid))
        assert code_of(work.get_scu(PULL)('get', uid, 5)) == 0xC307
    assert uid not in srv.ups.store


def test_filtered_global_subscription_and_suspension():
    watcher = Watcher()
    keys = Dataset()
    keys.WorklistLabel = 'MR'
    with serving(Worklist()) as srv, performer().request_association(remote(srv)) as work, \
            watcher.request_association(remote(srv)) as watch:
        rsp = watch.get_scu(WATCH)('subscribe', FILTERED, 1, matching_keys=keys)
        create(work, 2, WorklistLabel='CT')
        mr = create(work, 3, WorklistLabel='MR')
        heard = next_event(watch)
        suspend = watch.get_scu(WATCH)('suspend_global_subscription', 4)
        create(work, 5, WorklistLabel='MR')  # not subscribed to any more
        tuid = claim(work, mr)  # still subscribed to this one
        still = next_event(watch)
        specific = watch.get_scu(WATCH)('subscribe', mr, 6)
        next_event(watch)
        not_global = _suspend(watch, mr)
        complete(work, mr, tuid)
        next_event(watch)
        with pytest.raises(DCMTimeoutError):
            watch.get_scu(EVENT)('receive_event', 0.2)
    assert rsp.status.is_success and suspend.status.is_success
    assert heard.sop_instance_uid == mr
    assert still.information.ProcedureStepState == 'IN PROGRESS'
    assert specific.status.is_success
    assert code_of(not_global) == 0xC314


def _suspend(assoc: Any, uid: str) -> Any:
    information = Dataset()
    information.ReceivingAE = 'WATCHER'
    rq = _action(uid, 5)
    return ups.ups_exchange(assoc, _context(assoc, WATCH), rq, _action_rsp(), information)


def test_request_cancel():
    watcher = Watcher()
    with serving(Worklist(keep_final=True)) as srv, \
            performer().request_association(remote(srv)) as work, \
            watcher.request_association(remote(srv)) as watch:
        push = work.get_scu(PUSH)
        scheduled = create(work)
        assert watch.get_scu(WATCH)('subscribe', scheduled, 1).status.is_success
        next_event(watch)
        canceled = push('request_cancel', scheduled, 2, reason='wrong patient')
        through = next_event(watch)
        final = next_event(watch)
        already = push('request_cancel', scheduled, 3)
        running = create(work, 4)
        claim(work, running)
        unreachable = push('request_cancel', running, 5)
        assert watch.get_scu(WATCH)('subscribe', running, 6).status.is_success
        next_event(watch)
        asked = watch.get_scu(WATCH)('request_cancel', running, 7, reason='stop',
                                     contact_display_name='Dr X', contact_uri='tel:123')
        request = next_event(watch)
        finished = create(work, 8)
        complete(work, finished, claim(work, finished))
        too_late = push('request_cancel', finished, 9)
    assert canceled.status.is_success
    assert [through.information.ProcedureStepState, final.information.ProcedureStepState] == [
        'IN PROGRESS', 'CANCELED']
    assert final.information.ReasonForCancellation == 'wrong patient'
    assert code_of(already) == 0xB304
    assert code_of(unreachable) == 0xC312
    assert asked.status.is_success
    assert request.event_type_id == Event.CANCEL_REQUESTED
    info = request.information
    assert (info.RequestingAE, info.ReasonForCancellation, info.ContactDisplayName,
            info.ContactURI) == ('WATCHER', 'stop', 'Dr X', 'tel:123')
    assert code_of(too_late) == 0xC311


def test_progress_and_assigned_reports():
    watcher = Watcher()
    with serving(Worklist()) as srv, performer().request_association(remote(srv)) as work, \
            watcher.request_association(remote(srv)) as watch:
        assert watch.get_scu(WATCH)('subscribe', GLOBAL, 1).status.is_success
        uid = create(work, 2, ScheduledStationNameCodeSequence=[code('CT1')])
        state = next_event(watch)
        assigned = next_event(watch)
        tuid = claim(work, uid)
        next_event(watch)
        progress = Dataset()
        item = Dataset()
        item.ProcedureStepProgress = 50
        progress.ProcedureStepProgressInformationSequence = [item]
        progress.ScheduledStationNameCodeSequence = [code('CT2')]
        assert work.get_scu(PULL)('set', uid, tuid, progress, 3).status.is_success
        reported = next_event(watch)
        reassigned = next_event(watch)
    assert state.event_type_id == Event.STATE_REPORT
    assert assigned.event_type_id == Event.ASSIGNED
    assert assigned.information.ScheduledStationNameCodeSequence[0].CodeValue == 'CT1'
    assert reported.event_type_id == Event.PROGRESS_REPORT
    assert reported.information.ProcedureStepProgressInformationSequence[0].ProcedureStepProgress \
        == 50
    assert reassigned.event_type_id == Event.ASSIGNED
    assert reassigned.information.ScheduledStationNameCodeSequence[0].CodeValue == 'CT2'


def test_scp_status_change_and_scp_created_workitems():
    watcher = Watcher()
    with serving(Worklist()) as srv, watcher.request_association(remote(srv)) as watch:
        assert watch.get_scu(WATCH)('subscribe', GLOBAL, 1).status.is_success
        # The SCP's own changes block until each subscriber has answered: another thread.
        uid = generate_uid()
        creating = threading.Thread(target=srv.ups.create_workitem, args=(srv, workitem(), uid))
        creating.start()
        created = next_event(watch)
        creating.join(WAIT)
        stopping = threading.Thread(target=srv.ups.report_scp_status, args=(srv, 'GOING DOWN'))
        stopping.start()
        going = next_event(watch)
        stopping.join(WAIT)
    assert not creating.is_alive() and not stopping.is_alive()
    assert created.sop_instance_uid == uid
    assert (going.sop_instance_uid, going.event_type_id) == (GLOBAL, Event.SCP_STATUS_CHANGE)
    assert going.information.SCPStatus == 'GOING DOWN'


def test_subscribing_an_unknown_receiving_ae_is_c308():
    with serving(Worklist()) as srv, Watcher().request_association(remote(srv)) as watch:
        unknown = watch.get_scu(WATCH)('subscribe', GLOBAL, 1, receiving_ae='ELSEWHERE')
        srv.ups.destinations['ELSEWHERE'] = {'aet': 'ELSEWHERE', 'address': '127.0.0.1',
                                            'port': 1}
        known = watch.get_scu(WATCH)('subscribe', GLOBAL, 2, receiving_ae='ELSEWHERE')
    assert code_of(unknown) == 0xC308
    assert known.status.is_success


def test_undeliverable_reports_are_logged_not_raised(caplog):
    caplog.set_level(logging.WARNING, logger='pynetdicom2.sopclass')
    with serving(Worklist()) as srv, performer().request_association(remote(srv)) as work:
        uid = create(work)
        lonely = Watcher('LONELY', [WATCH])  # no UPS Event context, no address
        with lonely.request_association(remote(srv)) as watch:
            refused = watch.get_scu(WATCH)('subscribe', uid, 1)
        gone = Watcher('GONE')  # hears on its association, then leaves
        with gone.request_association(remote(srv)) as watch:
            assert watch.get_scu(WATCH)('subscribe', uid, 1).status.is_success
            next_event(watch)
        assert claim(work, uid)
    assert code_of(refused) == 0xC308
    assert '1 UPS event report(s) for GONE dropped' in caplog.text


def test_hook_refusal_and_accept_workitem():
    class Picky(sc.UnifiedProcedureStepSCP):
        def accept_workitem(self, asce, sop_instance_uid, attributes):
            if attributes.get('WorklistLabel') == 'NO':
                raise EventHandlingError('not here', status=0x0124)

    class Grumpy(Watcher):
        def on_n_event_report(self, context, sop_instance_uid, event_type_id, information):
            raise EventHandlingError('busy')

    srv = ae.AE('WORKLIST', 0, host='127.0.0.1').add_scp(Picky())
    grumpy = Grumpy()
    with serving(srv), grumpy.request_association(remote(srv)) as assoc:
        refused = assoc.get_scu(PUSH)('create', workitem(WorklistLabel='NO'), 1)
        uid = create(assoc, 2)
        assert assoc.get_scu(WATCH)('subscribe', uid, 3).status.is_success
        report = assoc.get_scu(EVENT)('receive_event', WAIT)
    assert code_of(refused) == 0x0124
    assert int(report.status) == 0x0110


# --- the store on its own ------------------------------------------------------------------------


def _store_with(state: str, keep_final: bool = True) -> tuple[upsstate.WorkitemStore, str]:
    store = upsstate.WorkitemStore(keep_final=keep_final)
    store.create('1.2.3', workitem())
    if state != State.SCHEDULED:
        store.change_state('1.2.3', State.IN_PROGRESS, '9.9')
    if state in State.FINAL:
        store.set('1.2.3', _with_tuid(performed()))
        store.change_state('1.2.3', state, '9.9')
    return store, '1.2.3'


def _with_tuid(ds: Dataset) -> Dataset:
    ds.TransactionUID = '9.9'
    return ds


#: PS3.4 Table CC.1.1-2 as this SCP applies it: (current, requested, Transaction UID) ->
#: the status code.
TRANSITIONS = [
    (State.SCHEDULED, State.IN_PROGRESS, '9.9', 0x0000),
    (State.SCHEDULED, State.SCHEDULED, '9.9', 0xC303),
    (State.SCHEDULED, State.COMPLETED, '9.9', 0xC310),
    (State.SCHEDULED, State.CANCELED, '9.9', 0xC310),
    (State.IN_PROGRESS, State.IN_PROGRESS, '9.9', 0xC302),
    (State.IN_PROGRESS, State.CANCELED, '9.9', 0x0000),
    (State.IN_PROGRESS, State.CANCELED, '1.1', 0xC301),
    (State.IN_PROGRESS, State.COMPLETED, '1.1', 0xC301),
    (State.IN_PROGRESS, State.COMPLETED, '9.9', 0xC304),  # nothing performed recorded
    (State.IN_PROGRESS, State.SCHEDULED, '9.9', 0xC303),
    (State.COMPLETED, State.COMPLETED, '9.9', 0xB306),
    (State.COMPLETED, State.CANCELED, '9.9', 0xC300),
    (State.COMPLETED, State.IN_PROGRESS, '9.9', 0xC300),
    (State.CANCELED, State.CANCELED, '9.9', 0xB304),
    (State.CANCELED, State.COMPLETED, '9.9', 0xC300),
    (State.CANCELED, State.IN_PROGRESS, '9.9', 0xC300),
]


@pytest.mark.parametrize('current, requested, tuid, expected', TRANSITIONS)
def test_transition_table(current, requested, tuid, expected):
    store, uid = _store_with(current)
    try:
        status = int(store.change_state(uid, requested, tuid).status)
    except EventHandlingError as exc:
        status = int(exc.status)
    assert status == expected


def test_store_refuses_unknown_states_and_reports_to_subscribers():
    store, uid = _store_with(State.SCHEDULED)
    with pytest.raises(EventHandlingError) as refused:
        store.change_state(uid, 'PAUSED', '9.9')
    assert int(refused.value.status) == 0x0115
    outcome = store.subscribe('A', uid)
    assert [(n.receivers, n.event_type_id) for n in outcome.notifications] == [(('A',), 1)]
    notes = store.change_state(uid, State.IN_PROGRESS, '9.9').notifications
    assert [n.receivers for n in notes] == [('A',)]
    assert store.subscribers(uid) == {'A': False}


@pytest.mark.parametrize('keys, expected', [
    ({'ProcedureStepLabel': 'Recon'}, True),
    ({'ProcedureStepLabel': 'Re*'}, True),
    ({'ProcedureStepLabel': 'R?con'}, True),
    ({'ProcedureStepLabel': 'Other'}, False),
    ({'ProcedureStepLabel': ''}, True),
    ({'PatientName': 'Doe*'}, True),
    ({'ScheduledProcedureStepStartDateTime': '20240101-20240201'}, True),
    ({'ScheduledProcedureStepStartDateTime': '20240201-'}, False),
    ({'ScheduledProcedureStepStartDateTime': '-20240131'}, True),
    ({'SOPInstanceUID': '1.2.3\\1.2.4'}, True),
    ({'SOPInstanceUID': '1.2.5\\1.2.4'}, False),
    ({'AdmissionID': 'X'}, False),
])
def test_matching(keys, expected):
    store, uid = _store_with(State.SCHEDULED)
    query = Dataset()
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    assert bool(store.find(query)) is expected


def test_sequence_matching():
    item = workitem(ScheduledStationNameCodeSequence=[code('CT1'), code('CT2')])
    keys = Dataset()
    keys.ScheduledStationNameCodeSequence = [code('CT2')]
    assert upsstate.matches(item, keys)
    keys.ScheduledStationNameCodeSequence = [code('CT3')]
    assert not upsstate.matches(item, keys)
    keys.ScheduledStationNameCodeSequence = []
    assert upsstate.matches(item, keys)


def test_receivers_answer_reports_and_nothing_else():
    """A report sent to the SCP (as to any subscriber) reaches the AE hook; an AE with only
    ``UPSEventReceiver`` answers other requests 0122H."""
    listener = Listener()
    client = fast(ae.ClientAE('SENDER')).add_scu(sc.NServiceSCU([PUSH]))
    info = Dataset()
    info.ProcedureStepState = 'SCHEDULED'
    with serving(Worklist()) as srv, serving(listener):
        with client.request_association(remote(srv)) as assoc:
            to_scp = assoc.get_scu(PUSH)('n_event_report', '1.2.3', 1, 1, info)
        with client.request_association(remote(listener)) as assoc:
            report = assoc.get_scu(PUSH)('n_event_report', '1.2.3', 1, 1, info)
            other = assoc.get_scu(PUSH)('n_get', '1.2.3', 2)
        heard = listener.events.get(timeout=WAIT)
    assert to_scp.status.is_success  # the AE's hook is not overridden: accepted
    assert report.status.is_success and heard[:2] == ('1.2.3', Event.STATE_REPORT)
    assert int(other.status) == 0x0122
