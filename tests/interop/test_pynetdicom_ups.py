"""Unified Procedure Step (PS3.4 Annex CC) and Instance Availability Notification (PS3.4
Annex R) against pynetdicom, both roles, each side through its public API.

* pynetdicom's UPS SCU (``send_n_create``, ``send_n_get``, ``send_n_set``, ``send_n_action``,
  ``send_c_find``) -> our ``UnifiedProcedureStepSCP``: the state rules answer it with the
  standard's statuses, and its subscription brings N-EVENT-REPORTs on its own association to
  its ``EVT_N_EVENT_REPORT`` handler;
* our ``ups_scu`` -> pynetdicom's UPS SCP (``EVT_N_CREATE``, ``EVT_N_GET``, ``EVT_N_SET``,
  ``EVT_N_ACTION``, ``EVT_C_FIND`` handlers): every request names the UPS Push class
  (PS3.4 CC.3.1), whichever context it uses; an N-EVENT-REPORT pynetdicom sends while it
  handles our subscription is answered before the N-ACTION response;
* IAN: pynetdicom's N-CREATE -> our ``InstanceAvailabilityNotification``, and our
  ``ian_scu`` -> pynetdicom's ``EVT_N_CREATE``.
"""

from __future__ import annotations

import queue

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids

from .conftest import PEER_TIMEOUT, interop_required

try:
    from pynetdicom import evt
except ImportError:  # pragma: no cover - pynetdicom is a test dependency
    if interop_required('pynetdicom'):
        raise
    pytest.skip('pynetdicom is not installed (pip install pynetdicom): no peer',
                allow_module_level=True)

from .pynetdicom_peers import TheirServer, bounded, finish, their_ae  # noqa: E402

pytestmark = pytest.mark.interop

OUR_AET = 'OURSCP'
THEIR_AET = 'PYNDSCP'
PUSH = uids.UNIFIED_PROCEDURE_STEP_PUSH_SOP_CLASS
PULL = uids.UNIFIED_PROCEDURE_STEP_PULL_SOP_CLASS
WATCH = uids.UNIFIED_PROCEDURE_STEP_WATCH_SOP_CLASS
EVENT = uids.UNIFIED_PROCEDURE_STEP_EVENT_SOP_CLASS
QUERY = uids.UNIFIED_PROCEDURE_STEP_QUERY_SOP_CLASS
UPS = [PUSH, PULL, WATCH, EVENT, QUERY]
IAN = uids.INSTANCE_AVAILABILITY_NOTIFICATION_SOP_CLASS


def remote(port: int) -> dict:
    return {'aet': THEIR_AET, 'address': '127.0.0.1', 'port': port}


def workitem(label: str = 'Recon') -> Dataset:
    ds = Dataset()
    ds.ProcedureStepState = 'SCHEDULED'
    ds.InputReadinessState = 'READY'
    ds.ProcedureStepLabel = label
    ds.WorklistLabel = 'CT'
    return ds


def state(value: str, transaction_uid: str) -> Dataset:
    ds = Dataset()
    ds.ProcedureStepState = value
    ds.TransactionUID = transaction_uid
    return ds


def performed(transaction_uid: str) -> Dataset:
    item = Dataset()
    item.PerformedProcedureStepStartDateTime = '20240131101500'
    item.PerformedProcedureStepEndDateTime = '20240131103000'
    ds = Dataset()
    ds.UnifiedProcedureStepPerformedProcedureSequence = [item]
    ds.TransactionUID = transaction_uid
    return ds


# --- UPS: pynetdicom -> us --------------------------------------------------------------------


def test_pynetdicom_ups_scu_to_our_scp(serve):
    reports: queue.Queue[tuple] = queue.Queue()

    def on_report(event):
        reports.put((event.request.AffectedSOPClassUID, event.request.AffectedSOPInstanceUID,
                     event.event_type, event.event_information.ProcedureStepState))
        return 0x0000, None

    scp = sc.UnifiedProcedureStepSCP()
    ours = bounded(ae.AE(OUR_AET, 0, bind_and_activate=False)).add_scp(scp)
    peer = their_ae('PYNDSCU')
    for uid in UPS:
        peer.add_requested_context(uid)
    uid, tuid = generate_uid(), generate_uid()
    with serve(ours) as port:
        assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET,
                               evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
        try:
            assert assoc.is_established
            created = assoc.send_n_create(workitem(), PUSH, uid)
            subscribe = Dataset()
            subscribe.ReceivingAE = 'PYNDSCU'
            subscribe.DeletionLock = 'FALSE'
            subscribed = assoc.send_n_action(subscribe, 3, PUSH, uid, meta_uid=WATCH)
            initial = reports.get(timeout=PEER_TIMEOUT)
            early = assoc.send_n_action(state('COMPLETED', tuid), 1, PUSH, uid, meta_uid=PULL)
            claimed = assoc.send_n_action(state('IN PROGRESS', tuid), 1, PUSH, uid,
                                          meta_uid=PULL)
            started = reports.get(timeout=PEER_TIMEOUT)
            again = assoc.send_n_action(state('IN PROGRESS', generate_uid()), 1, PUSH, uid,
                                        meta_uid=PULL)
            wrong = assoc.send_n_set(performed(generate_uid()), PUSH, uid, meta_uid=PULL)
            changed = assoc.send_n_set(performed(tuid), PUSH, uid, meta_uid=PULL)
            got = assoc.send_n_get([0x00741000, 0x00081195], PUSH, uid, meta_uid=PULL)
            query = Dataset()
            query.ProcedureStepLabel = 'Re*'
            query.ProcedureStepState = ''
            found = list(assoc.send_c_find(query, QUERY))
            done = assoc.send_n_action(state('COMPLETED', tuid), 1, PUSH, uid, meta_uid=PULL)
            completed = reports.get(timeout=PEER_TIMEOUT)
        finally:
            finish(assoc)
    assert created[0].Status == 0
    assert subscribed[0].Status == 0
    assert initial == (PUSH, uid, 1, 'SCHEDULED')  # PS3.4 CC.2.4.3: the Push class
    assert early[0].Status == 0xC310
    assert claimed[0].Status == 0 and started[3] == 'IN PROGRESS'
    assert again[0].Status == 0xC302
    assert wrong[0].Status == 0xC301
    assert changed[0].Status == 0
    assert got[0].Status == 0 and got[1].ProcedureStepState == 'IN PROGRESS'
    assert 'TransactionUID' not in got[1]  # PS3.4 CC.2.7.3
    matches = [identifier for status, identifier in found if status.Status == 0xFF00]
    assert [m.ProcedureStepState for m in matches] == ['IN PROGRESS']
    assert found[-1][0].Status == 0
    assert done[0].Status == 0 and completed[3] == 'COMPLETED'


# --- UPS: us -> pynetdicom ----------------------------------------------------------------------


def test_our_ups_scu_to_pynetdicom_scp():
    seen: list[tuple] = []
    uid = generate_uid()

    def on_create(event):
        seen.append(('create', event.request.AffectedSOPClassUID,
                     event.request.AffectedSOPInstanceUID, event.attribute_list.ProcedureStepState))
        return 0x0000, None

    def on_get(event):
        seen.append(('get', event.request.RequestedSOPClassUID, event.context.abstract_syntax))
        ds = workitem()
        return 0x0000, ds

    def on_set(event):
        seen.append(('set', event.request.RequestedSOPClassUID,
                     event.modification_list.TransactionUID))
        return 0x0000, None

    def on_action(event):
        info = event.action_information
        seen.append(('action', event.request.RequestedSOPClassUID, event.action_type,
                     event.context.abstract_syntax))
        if event.action_type == 3:  # subscribe: report the state before answering
            report = Dataset()
            report.ProcedureStepState = 'SCHEDULED'
            report.InputReadinessState = 'READY'
            status, _ = event.assoc.send_n_event_report(report, 1, PUSH, uid, meta_uid=EVENT)
            seen.append(('report answered', status.Status, info.ReceivingAE))
        return 0x0000, None

    def on_find(event):
        seen.append(('find', event.request.AffectedSOPClassUID))
        match = workitem()
        match.SOPInstanceUID = uid
        yield 0xFF00, match

    handlers = [(evt.EVT_N_CREATE, on_create), (evt.EVT_N_GET, on_get),
                (evt.EVT_N_SET, on_set), (evt.EVT_N_ACTION, on_action),
                (evt.EVT_C_FIND, on_find)]
    events: queue.Queue[tuple] = queue.Queue()

    class Client(ae.ClientAE):
        def on_n_event_report(self, context, sop_instance_uid, event_type_id, information):
            events.put((context.sop_class, sop_instance_uid, event_type_id,
                        information.ProcedureStepState))
            return statuses.SUCCESS

    client = bounded(Client('OURSCU')).add_scu(sc.ups_scu)
    tuid = generate_uid()
    with TheirServer(UPS, handlers) as port:
        with client.request_association(remote(port)) as assoc:
            created = assoc.get_scu(PUSH)('create', workitem(), 1, uid)
            got = assoc.get_scu(PULL)('get', uid, 2, ['ProcedureStepState'])
            claimed = assoc.get_scu(PULL)('change_state', uid, 'IN PROGRESS', tuid, 3)
            changed = assoc.get_scu(PULL)('set', uid, tuid, performed(tuid), 4)
            subscribed = assoc.get_scu(WATCH)('subscribe', uid, 5)
            query = Dataset()
            query.ProcedureStepLabel = ''
            found = list(assoc.get_scu(QUERY)('find', query, 6))
    assert created.status.is_success and created.sop_instance_uid == uid
    assert got.status.is_success and got.data_set.ProcedureStepState == 'SCHEDULED'
    assert claimed.status.is_success and changed.status.is_success
    assert subscribed.status.is_success
    assert events.get_nowait() == (EVENT, uid, 1, 'SCHEDULED')
    assert [m.SOPInstanceUID for m, s in found if s.is_pending] == [uid]
    assert seen == [
        ('create', PUSH, uid, 'SCHEDULED'),
        ('get', PUSH, PULL),
        ('action', PUSH, 1, PULL),
        ('set', PUSH, tuid),
        ('action', PUSH, 3, WATCH),
        ('report answered', 0x0000, 'OURSCU'),
        ('find', QUERY),
    ]


# --- Instance Availability Notification ---------------------------------------------------------


def notification() -> Dataset:
    return sc.instance_availability(
        '1.2.826.0.1.3680043.8.498.5', {'1.2.826.0.1.3680043.8.498.5.1': [
            (uids.CT_IMAGE_STORAGE, '1.2.826.0.1.3680043.8.498.5.1.1')]}, 'ARCHIVE')


def test_pynetdicom_ian_to_our_scp(serve):
    received: queue.Queue[tuple] = queue.Queue()

    class RIS(ae.AE):
        def on_n_create(self, context, sop_instance_uid, attribute_list):
            study = attribute_list.CurrentRequestedProcedureEvidenceSequence[0]
            received.put((context.sop_class, sop_instance_uid, study.StudyInstanceUID))
            return statuses.SUCCESS

    ours = bounded(RIS(OUR_AET, 0, bind_and_activate=False))
    ours.add_scp(sc.InstanceAvailabilityNotification())
    peer = their_ae('PYNDSCU')
    peer.add_requested_context(IAN)
    uid = generate_uid()
    with serve(ours) as port:
        assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET)
        try:
            assert assoc.is_established
            status, _ = assoc.send_n_create(notification(), IAN, uid)
            # (Not an empty data set: pynetdicom announces one, then sends no fragment.)
            lacking = Dataset()
            lacking.ReferencedPerformedProcedureStepSequence = []
            incomplete, _ = assoc.send_n_create(lacking, IAN, generate_uid())
        finally:
            finish(assoc)
    assert status.Status == 0
    assert incomplete.Status == 0x0120
    assert received.get_nowait() == (IAN, uid, '1.2.826.0.1.3680043.8.498.5')
    assert received.empty()


def test_our_ian_scu_to_pynetdicom():
    seen: list[tuple] = []

    def on_create(event):
        study = event.attribute_list.CurrentRequestedProcedureEvidenceSequence[0]
        sop = study.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
        seen.append((event.request.AffectedSOPClassUID, event.request.AffectedSOPInstanceUID,
                     sop.InstanceAvailability, sop.RetrieveAETitle))
        return 0x0000, None

    client = bounded(ae.ClientAE('OURSCU')).add_scu(sc.ian_scu)
    uid = generate_uid()
    with TheirServer([IAN], [(evt.EVT_N_CREATE, on_create)]) as port:
        with client.request_association(remote(port)) as assoc:
            rsp = assoc.get_scu(IAN)(notification(), 1, uid)
    assert rsp.status.is_success and rsp.sop_instance_uid == uid
    assert seen == [(IAN, uid, 'ONLINE', 'ARCHIVE')]
