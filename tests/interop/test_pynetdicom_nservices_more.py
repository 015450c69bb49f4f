"""Application Event Logging (PS3.4 P), Storage Management (KK), Display System Management
(EE), Media Creation Management (S) and RT Machine Verification (DD) against pynetdicom, both
roles, each side through its public API.

* pynetdicom's ``send_n_*`` -> our SCPs, with their checks and the AE's hooks; the
  N-EVENT-REPORTs our Inventory Creation and RT Machine Verification SCPs send reach
  pynetdicom's ``EVT_N_EVENT_REPORT`` handler on its association;
* our SCUs -> pynetdicom's SCPs (``EVT_N_*`` handlers): the SOP classes, instances and action
  types our requests carry; reports pynetdicom sends while it handles our N-ACTION are
  answered through our ``on_n_event_report`` hook (and the RT verification result is read
  from them).
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
PROCEDURAL = uids.PROCEDURAL_EVENT_LOGGING_SOP_CLASS
PROCEDURAL_INSTANCE = uids.PROCEDURAL_EVENT_LOGGING_SOP_INSTANCE
INVENTORY = uids.INVENTORY_CREATION_SOP_CLASS
STORAGE_MANAGEMENT = uids.STORAGE_MANAGEMENT_SOP_INSTANCE
DISPLAY = uids.DISPLAY_SYSTEM_SOP_CLASS
DISPLAY_INSTANCE = uids.DISPLAY_SYSTEM_SOP_INSTANCE
MEDIA = uids.MEDIA_CREATION_MANAGEMENT_SOP_CLASS
RT = uids.RT_CONVENTIONAL_MACHINE_VERIFICATION_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE
CLASSES = [PROCEDURAL, INVENTORY, DISPLAY, MEDIA, RT]


def procedural_event() -> Dataset:
    ds = Dataset()
    ds.PatientID = 'PAT1'
    ds.StudyInstanceUID = '1.2.3'
    ds.StudyID = ''
    ds.SynchronizationFrameOfReferenceUID = ''
    ds.PerformedLocation = 'CATH LAB 1'
    ds.ValueType = 'CONTAINER'
    ds.ContentSequence = []
    return ds


def inventory_request(tuid: str) -> Dataset:
    ds = Dataset()
    ds.TransactionUID = tuid
    ds.InventoryLevel = 'STUDY'
    ds.ScopeOfInventorySequence = []
    return ds


def display() -> Dataset:
    subsystem = Dataset()
    subsystem.DisplaySubsystemID = 1
    subsystem.SystemStatus = 'OK'
    ds = Dataset()
    ds.Manufacturer = 'ACME'
    ds.DisplaySubsystemSequence = [subsystem]
    return ds


def rt_creation() -> Dataset:
    plan = Dataset()
    plan.ReferencedSOPClassUID = uids.RT_PLAN_STORAGE
    plan.ReferencedSOPInstanceUID = '1.2.3.9'
    ds = Dataset()
    ds.ReferencedRTPlanSequence = [plan]
    ds.PatientID = 'PAT1'
    ds.GeneralMachineVerificationSequence = []
    ds.ConventionalMachineVerificationSequence = []
    return ds


def beam() -> Dataset:
    general = Dataset()
    general.TreatmentMachineName = 'LINAC1'
    ds = Dataset()
    ds.GeneralMachineVerificationSequence = [general]
    return ds


# --- pynetdicom -> us ---------------------------------------------------------------------------


class Ours(ae.AE):
    """Our SCPs for the five classes; the hooks that decide answer as a site would."""

    def __init__(self) -> None:
        super().__init__(OUR_AET, 0, bind_and_activate=False)
        bounded(self)
        self.inventory = sc.InventoryCreation()
        self.media = sc.MediaCreationManagement()
        self.verifier = sc.RTMachineVerification()
        for scp in (sc.ApplicationEventLogging(), self.inventory, sc.DisplaySystem(display()),
                    self.media, self.verifier):
            self.add_scp(scp)
        self.actions: list[tuple] = []

    def on_n_action(self, context, sop_instance_uid, action_type_id, information):
        self.actions.append((context.sop_class, sop_instance_uid, action_type_id))
        if context.sop_class == PROCEDURAL:
            reply = Dataset()
            reply.StudyInstanceUID = information.StudyInstanceUID
            reply.PatientID = information.PatientID
            return statuses.SUCCESS, reply
        if context.sop_class == RT:
            result = Dataset()
            result.TreatmentVerificationStatus = 'VERIFIED'
            return statuses.SUCCESS, result
        return statuses.SUCCESS


def test_pynetdicom_scus_to_our_scps(serve):
    reports: queue.Queue[tuple] = queue.Queue()

    def on_report(event):
        info = event.event_information
        reports.put((event.request.AffectedSOPClassUID, event.event_type,
                     info.get('TransactionUID') or info.get('TreatmentVerificationStatus')))
        return 0x0000, None

    ours = Ours()
    peer = their_ae('PYNDSCU')
    for uid in CLASSES:
        peer.add_requested_context(uid)
    tuid, media_uid, rt_uid = generate_uid(), generate_uid(), generate_uid()
    with serve(ours) as port:
        assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET,
                               evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
        try:
            assert assoc.is_established
            logged = assoc.send_n_action(procedural_event(), 1, PROCEDURAL, PROCEDURAL_INSTANCE)
            initiated = assoc.send_n_action(inventory_request(tuid), 11, INVENTORY,
                                            STORAGE_MANAGEMENT)
            status = Dataset()
            status.TransactionStatus = 'FAILURE'
            answered = ours.inventory.report(tuid, sc.InventoryEvent.TERMINATED_WITHOUT_INSTANCES,
                                             status)
            inventory_report = reports.get(timeout=PEER_TIMEOUT)
            shown = assoc.send_n_get([0x00080070, 0x00287023], DISPLAY, DISPLAY_INSTANCE)
            request = sc.media_request([(CT, '1.2.3.4')], 'Doe^Jane')
            created = assoc.send_n_create(request, MEDIA, media_uid)
            copies = Dataset()
            copies.NumberOfCopies = 2
            started = assoc.send_n_action(copies, 1, MEDIA, media_uid)
            media_state = assoc.send_n_get([0x21000020, 0x20000010], MEDIA, media_uid)
            rt_created = assoc.send_n_create(rt_creation(), RT, rt_uid)
            rt_set = assoc.send_n_set(beam(), RT, rt_uid)
            verify = assoc.send_n_action(None, 1, RT, rt_uid)
            rt_report = reports.get(timeout=PEER_TIMEOUT)
            rt_state = assoc.send_n_get([0x3008002C, 0x00741048], RT, rt_uid)
            rt_deleted = assoc.send_n_delete(RT, rt_uid)
        finally:
            finish(assoc)
    assert logged[0].Status == 0 and logged[1].StudyInstanceUID == '1.2.3'
    assert initiated[0].Status == 0
    assert answered.is_success
    assert inventory_report == (INVENTORY, 13, tuid)
    assert shown[0].Status == 0 and shown[1].DisplaySubsystemSequence[0].SystemStatus == 'OK'
    assert created[0].Status == 0 and started[0].Status == 0
    assert media_state[1].ExecutionStatus == 'PENDING' and media_state[1].NumberOfCopies == 2
    assert rt_created[0].Status == 0 and rt_set[0].Status == 0 and verify[0].Status == 0
    assert rt_report == (RT, 2, 'VERIFIED')
    assert rt_state[1].TreatmentVerificationStatus == 'VERIFIED'
    assert rt_state[1].FailedAttributesSequence == []
    assert rt_deleted.Status == 0
    assert ours.actions == [(PROCEDURAL, PROCEDURAL_INSTANCE, 1),
                            (INVENTORY, STORAGE_MANAGEMENT, 11),
                            (MEDIA, media_uid, 1), (RT, rt_uid, 1)]


# --- us -> pynetdicom ---------------------------------------------------------------------------


def test_our_scus_to_pynetdicom_scps():
    seen: list[tuple] = []
    media_uid = generate_uid()

    def on_action(event):
        cls = event.request.RequestedSOPClassUID
        instance = event.request.RequestedSOPInstanceUID
        seen.append(('action', cls, instance, event.action_type))
        if cls == INVENTORY:  # a status report before the response (PS3.4 KK.2.3.2)
            info = Dataset()
            info.TransactionUID = event.action_information.TransactionUID
            info.TransactionStatus = 'PENDING'
            status, _ = event.assoc.send_n_event_report(info, 12, INVENTORY, STORAGE_MANAGEMENT)
            seen.append(('inventory report answered', status.Status))
        if cls == RT:  # the result before the response: the SCU still gets it
            info = Dataset()
            info.TreatmentVerificationStatus = 'VERIFIED_OVR'
            status, _ = event.assoc.send_n_event_report(info, 2, RT, instance)
            seen.append(('rt report answered', status.Status))
        if cls == PROCEDURAL:
            reply = Dataset()
            reply.StudyInstanceUID = '1.2.3'
            return 0x0000, reply
        return 0x0000, None

    def on_get(event):
        cls = event.request.RequestedSOPClassUID
        seen.append(('get', cls, event.request.RequestedSOPInstanceUID))
        if cls == DISPLAY:
            return 0x0000, display()
        ds = Dataset()
        ds.ExecutionStatus = 'DONE'
        return 0x0000, ds

    def on_create(event):
        cls = event.request.AffectedSOPClassUID
        seen.append(('create', cls))
        reply = Dataset()
        reply.AffectedSOPInstanceUID = media_uid if cls == MEDIA else '1.2.3.77'
        return 0x0000, reply

    def on_set(event):
        seen.append(('set', event.request.RequestedSOPClassUID,
                     event.modification_list.GeneralMachineVerificationSequence[0]
                     .TreatmentMachineName))
        return 0x0000, None

    def on_delete(event):
        seen.append(('delete', event.request.RequestedSOPClassUID))
        return 0x0000

    handlers = [(evt.EVT_N_ACTION, on_action), (evt.EVT_N_GET, on_get),
                (evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set),
                (evt.EVT_N_DELETE, on_delete)]
    events: queue.Queue[tuple] = queue.Queue()

    class Client(ae.ClientAE):
        def on_n_event_report(self, context, sop_instance_uid, event_type_id, information):
            events.put((context.sop_class, sop_instance_uid, event_type_id))
            return statuses.SUCCESS

    client = bounded(Client('OURSCU'))
    for scu in (sc.event_logging_scu, sc.inventory_creation_scu, sc.display_system_scu,
                sc.media_creation_scu):
        client.add_scu(scu)
    client.add_scu(sc.rt_verification_scu, [RT])
    tuid = generate_uid()
    with TheirServer(CLASSES, handlers) as port:
        with client.request_association({'aet': THEIR_AET, 'address': '127.0.0.1',
                                         'port': port}) as assoc:
            logged = assoc.get_scu(PROCEDURAL)(procedural_event(), 1)
            initiated = assoc.get_scu(INVENTORY)('initiate', tuid, 2)
            shown = assoc.get_scu(DISPLAY)(3, ['DisplaySubsystemSequence'])
            media = assoc.get_scu(MEDIA)
            created = media('create', sc.media_request([(CT, '1.2.3.4')]), 4)
            started = media('initiate', created.sop_instance_uid, 5, copies=1)
            done = media('get', created.sop_instance_uid, 6, ['ExecutionStatus'])
            mv = assoc.get_scu(RT)
            rt_uid = mv('create', uids.RT_PLAN_STORAGE, '1.2.3.9', 'PAT1', 7).sop_instance_uid
            mv('set', rt_uid, beam(), 8)
            verified = mv('verify', rt_uid, 9)
            deleted = mv('delete', rt_uid, 10)
    assert logged.status.is_success and logged.data_set.StudyInstanceUID == '1.2.3'
    assert initiated.status.is_success
    assert shown.data_set.DisplaySubsystemSequence[0].SystemStatus == 'OK'
    assert created.sop_instance_uid == media_uid and started.status.is_success
    assert done.data_set.ExecutionStatus == 'DONE'
    assert rt_uid == '1.2.3.77'
    assert verified.report.information.TreatmentVerificationStatus == 'VERIFIED_OVR'
    assert deleted.status.is_success
    assert [events.get_nowait() for _ in range(2)] == [
        (INVENTORY, STORAGE_MANAGEMENT, 12), (RT, '1.2.3.77', 2)]
    assert seen == [
        ('action', PROCEDURAL, PROCEDURAL_INSTANCE, 1),
        ('action', INVENTORY, STORAGE_MANAGEMENT, 11),
        ('inventory report answered', 0x0000),
        ('get', DISPLAY, DISPLAY_INSTANCE),
        ('create', MEDIA),
        ('action', MEDIA, media_uid, 1),
        ('get', MEDIA, media_uid),
        ('create', RT),
        ('set', RT, 'LINAC1'),
        ('action', RT, '1.2.3.77', 1),
        ('rt report answered', 0x0000),
        ('delete', RT),
    ]
