"""The DIMSE-N service classes of PS3.4 P, KK, EE, S and DD on loopback, each SCU against
its SCP: Application Event Logging, Storage Management (Inventory Creation), Display System
Management, Media Creation Management and RT Machine Verification.

Each SCP checks what its annex requires before anything else (refusals with the standard's
statuses, the hook never asked) and hands the rest to the AE's ``on_n_*`` hooks; the
N-EVENT-REPORTs of Storage Management and RT Machine Verification reach the SCU's
``on_n_event_report`` hook.
"""

from __future__ import annotations

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
from pynetdicom2.exceptions import EventHandlingError, NetDICOMError
from pynetdicom2.services import eventlogging, mediacreation, rtverification, storagemanagement

PROCEDURAL = uids.PROCEDURAL_EVENT_LOGGING_SOP_CLASS
SUBSTANCE = uids.SUBSTANCE_ADMINISTRATION_LOGGING_SOP_CLASS
INVENTORY = uids.INVENTORY_CREATION_SOP_CLASS
DISPLAY = uids.DISPLAY_SYSTEM_SOP_CLASS
MEDIA = uids.MEDIA_CREATION_MANAGEMENT_SOP_CLASS
RT_CONVENTIONAL = uids.RT_CONVENTIONAL_MACHINE_VERIFICATION_SOP_CLASS
RT_ION = uids.RT_ION_MACHINE_VERIFICATION_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE


class Server(ae.AE):
    """An AE whose ``on_n_*`` hooks record their calls and answer ``answers[name]`` (a status,
    a ``(status, data set)``, or an exception to raise); 0211H when not given."""

    def __init__(self, *scps: Any, answers: dict[str, Any] | None = None) -> None:
        super().__init__('SERVER', 0, host='127.0.0.1')
        for scp in scps:
            self.add_scp(scp)
        self.answers = answers or {}
        self.calls: queue.Queue[tuple] = queue.Queue()

    def _hook(self, name: str, context, *args):
        self.calls.put((name, context.sop_class, *args))
        answer = self.answers.get(name, sc.UNRECOGNIZED_OPERATION)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def on_n_get(self, context, sop_instance_uid, attribute_identifier_list):
        return self._hook('get', context, sop_instance_uid)

    def on_n_set(self, context, sop_instance_uid, modification_list):
        return self._hook('set', context, sop_instance_uid)

    def on_n_action(self, context, sop_instance_uid, action_type_id, action_information):
        return self._hook('action', context, sop_instance_uid, action_type_id,
                          action_information)

    def on_n_create(self, context, sop_instance_uid, attribute_list):
        return self._hook('create', context, sop_instance_uid, attribute_list)

    def on_n_delete(self, context, sop_instance_uid):
        return self._hook('delete', context, sop_instance_uid)

    def calls_made(self) -> list[tuple]:
        found = []
        while not self.calls.empty():
            found.append(self.calls.get_nowait())
        return found


class Client(ae.ClientAE):
    """An SCU recording the N-EVENT-REPORTs its hook is given (answered ``answer``)."""

    def __init__(self, *scus: Any, answer: Any = statuses.SUCCESS) -> None:
        super().__init__('CLIENT')
        fast(self)
        for scu in scus:
            self.add_scu(scu)
        self.answer = answer
        self.reports: queue.Queue[tuple] = queue.Queue()

    def on_n_event_report(self, context, sop_instance_uid, event_type_id, event_information):
        self.reports.put((context.sop_class, sop_instance_uid, event_type_id, event_information))
        return self.answer


# --- Application Event Logging (PS3.4 P) -------------------------------------------------------


def procedural_event(**change: Any) -> Dataset:
    ds = Dataset()
    ds.PatientID = 'PAT1'
    ds.StudyInstanceUID = '1.2.3'
    ds.StudyID = ''
    ds.SynchronizationFrameOfReferenceUID = ''
    ds.PerformedLocation = 'CATH LAB 1'
    ds.ValueType = 'CONTAINER'
    ds.ContentSequence = []
    for keyword, value in change.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def substance_event(**change: Any) -> Dataset:
    ds = Dataset()
    ds.PatientID = 'PAT1'
    ds.PatientName = 'Doe^Jane'
    ds.ProductName = 'Iohexol'
    ds.SubstanceAdministrationDateTime = '20240131101500'
    ds.AdministrationRouteCodeSequence = []
    operator = Dataset()
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = 'N1', 'L', 'Nurse'
    operator.PersonIdentificationCodeSequence = [code]
    ds.OperatorIdentificationSequence = [operator]
    for keyword, value in change.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def test_event_logging_records_both_kinds_through_the_hook():
    reply = Dataset()
    reply.StudyInstanceUID = '1.2.3'
    reply.PatientID = 'PAT1'
    server = Server(sc.ApplicationEventLogging(), answers={'action': (statuses.SUCCESS, reply)})
    client = Client(sc.event_logging_scu)
    with serving(server), client.request_association(remote(server)) as assoc:
        logged = assoc.get_scu(PROCEDURAL)(procedural_event(), 1)
        substance = assoc.get_scu(SUBSTANCE)(substance_event(), 2)
    assert logged.status.is_success and logged.data_set.StudyInstanceUID == '1.2.3'
    assert logged.message.action_type_id == 1
    assert substance.status.is_success
    calls = server.calls_made()
    assert [(name, cls, uid, action) for name, cls, uid, action, _ in calls] == [
        ('action', PROCEDURAL, uids.PROCEDURAL_EVENT_LOGGING_SOP_INSTANCE, 1),
        ('action', SUBSTANCE, uids.SUBSTANCE_ADMINISTRATION_LOGGING_SOP_INSTANCE, 1)]
    assert calls[1][4].ProductName == 'Iohexol'


@pytest.mark.parametrize('sop_class, event, expected', [
    (PROCEDURAL, procedural_event(StudyID=None), 0x0120),
    (PROCEDURAL, procedural_event(ValueType='TEXT'), 0xC102),
    (SUBSTANCE, substance_event(PatientID=None), 0x0120),
    (SUBSTANCE, substance_event(ProductName=None), 0x0120),
    (SUBSTANCE, substance_event(SubstanceAdministrationDateTime=''), 0x0121),
    (SUBSTANCE, substance_event(OperatorIdentificationSequence=[Dataset()]), 0x0121),
])
def test_incomplete_events_are_refused_without_the_hook(sop_class, event, expected):
    server = Server(sc.ApplicationEventLogging(), answers={'action': statuses.SUCCESS})
    client = Client(sc.event_logging_scu)
    with serving(server), client.request_association(remote(server)) as assoc:
        rsp = assoc.get_scu(sop_class)(event, 1)
    assert int(rsp.status) == expected
    assert server.calls_made() == []
    assert int(eventlogging.logging_problem(sop_class, event)[0]) == expected


def test_event_logging_instance_action_and_other_operations():
    server = Server(sc.ApplicationEventLogging(), answers={'action': statuses.SUCCESS})
    plain = ae.AE('PLAIN', 0, host='127.0.0.1').add_scp(sc.ApplicationEventLogging())
    client = Client(sc.NServiceSCU([PROCEDURAL]))
    with serving(server), serving(plain):
        with client.request_association(remote(server)) as assoc:
            scu = assoc.get_scu(PROCEDURAL)
            wrong = scu('n_action', generate_uid(), 1, 1, procedural_event())
            action = scu('n_action', uids.PROCEDURAL_EVENT_LOGGING_SOP_INSTANCE, 2, 2,
                         procedural_event())
            others = [scu('n_get', uids.PROCEDURAL_EVENT_LOGGING_SOP_INSTANCE, 3),
                      scu('n_create', procedural_event(), 4)]
        with Client(sc.event_logging_scu).request_association(remote(plain)) as assoc:
            unhandled = assoc.get_scu(PROCEDURAL)(procedural_event(), 1)
    assert int(wrong.status) == 0x0112 and int(action.status) == 0x0123
    assert [int(rsp.status) for rsp in others] == [0x0211, 0x0211]
    assert int(unhandled.status) == 0x0211
    assert statuses.Status(0xC10E, sc.dm.NActionRSPMessage).description.startswith('Operator')


# --- Storage Management: Inventory Creation (PS3.4 KK) ---------------------------------------


def test_inventory_creation_and_its_reports():
    scp = sc.InventoryCreation()
    server = Server(scp, answers={'action': statuses.SUCCESS})
    client = Client(sc.inventory_creation_scu)
    tuid = generate_uid()
    scope = Dataset()
    scope.StudyDate = '20240101-20240131'
    with serving(server), client.request_association(remote(server)) as assoc:
        inventory = assoc.get_scu(INVENTORY)
        started = inventory('initiate', tuid, 1, 'SERIES', [scope], purpose='audit',
                            status_interval=60)
        status = inventory('request_status', tuid, 2)
        paused = inventory('pause', tuid, 3)
        resumed = inventory('resume', tuid, 4)
        result = Dataset()
        result.TransactionStatus = 'COMPLETE'
        result.ReferencedSOPClassUID = uids.INVENTORY_STORAGE
        result.ReferencedSOPInstanceUID = '1.2.3.4'
        result.RetrieveAETitle = 'SERVER'
        answered: queue.Queue[statuses.Status] = queue.Queue()
        reporter = threading.Thread(target=lambda: answered.put(scp.report(
            tuid, sc.InventoryEvent.TERMINATED_WITH_INSTANCES, result)))
        reporter.start()
        try:
            report = inventory('receive_event', 5)
        finally:
            reporter.join(10)
        cancelled = inventory('cancel', tuid, 5, retain_instances=True)
    assert [rsp.status.is_success for rsp in (started, status, paused, resumed, cancelled)] \
        == [True] * 5
    assert answered.get_nowait().is_success
    assert report.event_type_id == 11 and report.sop_class_uid == INVENTORY
    assert report.sop_instance_uid == uids.STORAGE_MANAGEMENT_SOP_INSTANCE
    assert report.information.TransactionUID == tuid
    assert report.information.ReferencedSOPInstanceUID == '1.2.3.4'
    assert client.reports.get_nowait()[2] == 11
    calls = server.calls_made()
    assert [call[3] for call in calls] == [11, 12, 14, 15, 13]
    initiate = calls[0][4]
    assert (initiate.InventoryLevel, initiate.InventoryPurpose,
            initiate.RequestedStatusInterval) == ('SERIES', 'audit', 60)
    assert initiate.ScopeOfInventorySequence[0].StudyDate == '20240101-20240131'
    assert calls[-1][4].RetainInstances == 'YES'


def test_inventory_refusals():
    server = Server(sc.InventoryCreation(), answers={'action': statuses.SUCCESS})
    client = Client(sc.NServiceSCU([INVENTORY]))
    instance = uids.STORAGE_MANAGEMENT_SOP_INSTANCE
    no_level = Dataset()
    no_level.TransactionUID = generate_uid()
    no_level.ScopeOfInventorySequence = []
    no_retain = Dataset()
    no_retain.TransactionUID = generate_uid()
    with serving(server), client.request_association(remote(server)) as assoc:
        scu = assoc.get_scu(INVENTORY)
        wrong_instance = scu('n_action', generate_uid(), 12, 1, no_retain)
        unknown = scu('n_action', instance, 16, 2, no_retain)
        level = scu('n_action', instance, 11, 3, no_level)
        retain = scu('n_action', instance, 13, 4, no_retain)
        nothing = scu('n_action', instance, 12, 5)
    assert [int(rsp.status) for rsp in (wrong_instance, unknown, level, retain, nothing)] == [
        0x0112, 0x0123, 0x0120, 0x0120, 0x0120]
    assert server.calls_made() == []
    with pytest.raises(NetDICOMError, match='no open association'):
        sc.InventoryCreation().report(generate_uid(), 12)
    assert storagemanagement.action_problem(12, no_retain) is None


# --- Display System Management (PS3.4 EE) -------------------------------------------------------


def display_attributes() -> Dataset:
    subsystem = Dataset()
    subsystem.DisplaySubsystemID = 1
    subsystem.SystemStatus = 'OK'
    ds = Dataset()
    ds.Manufacturer = 'ACME'
    ds.NumberOfDisplaySubsystems = 1
    ds.DisplaySubsystemSequence = [subsystem]
    return ds


def test_display_system_answers_from_its_instance_or_the_hook():
    scp = sc.DisplaySystem(display_attributes())
    server = Server(scp)
    hooked = Server(sc.DisplaySystem(), answers={'get': (statuses.SUCCESS, display_attributes())})
    client = Client(sc.display_system_scu)
    with serving(server), serving(hooked):
        with client.request_association(remote(server)) as assoc:
            some = assoc.get_scu(DISPLAY)(1, ['Manufacturer', 0x00287023])
            everything = assoc.get_scu(DISPLAY)(2)
            changed = display_attributes()
            changed.Manufacturer = 'OTHER'
            scp.update(changed)
            after = assoc.get_scu(DISPLAY)(3, ['Manufacturer'])
        with client.request_association(remote(hooked)) as assoc:
            from_hook = assoc.get_scu(DISPLAY)(1, ['Manufacturer'])
    assert some.status.is_success
    assert sorted(e.keyword for e in some.data_set) == ['DisplaySubsystemSequence',
                                                        'Manufacturer']
    assert everything.data_set.NumberOfDisplaySubsystems == 1
    assert after.data_set.Manufacturer == 'OTHER'
    # The hook's answer is sent as it is (it chose to send everything).
    assert from_hook.data_set.NumberOfDisplaySubsystems == 1


def test_display_system_instance_and_other_operations():
    server = Server(sc.DisplaySystem(display_attributes()))
    empty = Server(sc.DisplaySystem())
    client = Client(sc.NServiceSCU([DISPLAY]))
    with serving(server), serving(empty):
        with client.request_association(remote(server)) as assoc:
            wrong = assoc.get_scu(DISPLAY)('n_get', generate_uid(), 1)
            set_ = assoc.get_scu(DISPLAY)('n_set', uids.DISPLAY_SYSTEM_SOP_INSTANCE,
                                          display_attributes(), 2)
        with client.request_association(remote(empty)) as assoc:
            nothing = assoc.get_scu(DISPLAY)('n_get', uids.DISPLAY_SYSTEM_SOP_INSTANCE, 1)
    assert int(wrong.status) == 0x0112 and int(set_.status) == 0x0211
    assert int(nothing.status) == 0x0211


# --- Media Creation Management (PS3.4 S) --------------------------------------------------------


def test_media_creation_life():
    scp = sc.MediaCreationManagement()
    server = Server(scp)
    client = Client(sc.media_creation_scu)
    request = sc.media_request([(CT, '1.2.3.4'), (CT, '1.2.3.5')], 'Doe^Jane', 'STD-GEN-CD',
                               StorageMediaFileSetID='STUDY1')
    chosen = generate_uid()
    with serving(server), client.request_association(remote(server)) as assoc:
        media = assoc.get_scu(MEDIA)
        created = media('create', request, 1)
        idle = media('get', created.sop_instance_uid, 2, ['ExecutionStatus',
                                                            'ExecutionStatusInfo'])
        initiated = media('initiate', created.sop_instance_uid, 3, copies=2, priority='HIGH')
        again = media('initiate', created.sop_instance_uid, 4)
        pending = media('get', created.sop_instance_uid, 5)
        scp.update(created.sop_instance_uid, sc.MediaExecutionStatus.CREATING)
        busy = media('cancel', created.sop_instance_uid, 6)
        scp.update(created.sop_instance_uid, sc.MediaExecutionStatus.DONE,
                   TotalNumberOfPiecesOfMediaCreated=1)
        done = media('get', created.sop_instance_uid, 7, ['ExecutionStatus',
                                                            'TotalNumberOfPiecesOfMediaCreated'])
        completed = media('cancel', created.sop_instance_uid, 8)
        second = media('create', request, 9, chosen)
        duplicate = media('create', request, 10, chosen)
        cancelled = media('cancel', chosen, 11)
        gone = media('get', chosen, 12)
    assert created.status.is_success and created.sop_instance_uid
    assert (idle.data_set.ExecutionStatus, idle.data_set.ExecutionStatusInfo) == ('IDLE',
                                                                                  'NORMAL')
    assert initiated.status.is_success
    assert int(again.status) == 0xA510
    assert pending.data_set.ExecutionStatus == 'PENDING'
    assert (pending.data_set.NumberOfCopies, pending.data_set.RequestPriority) == (2, 'HIGH')
    assert pending.data_set.ReferencedSOPSequence[1].ReferencedSOPInstanceUID == '1.2.3.5'
    assert pending.data_set.StorageMediaFileSetID == 'STUDY1'
    assert int(busy.status) == 0xC202
    assert done.data_set.ExecutionStatus == 'DONE'
    assert done.data_set.TotalNumberOfPiecesOfMediaCreated == 1
    assert int(completed.status) == 0xC201
    assert second.status.is_success and second.sop_instance_uid == chosen
    assert int(duplicate.status) == 0x0111
    assert cancelled.status.is_success and int(gone.status) == 0x0112
    assert scp.request(chosen) is None
    # The hooks were offered every request they could act on, none refused.
    assert [call[0] for call in server.calls_made()] == [
        'create', 'get', 'action', 'get', 'get', 'create', 'action']


def test_media_creation_refusals_and_the_hook():
    refusing = Server(sc.MediaCreationManagement(),
                      answers={'create': EventHandlingError('no blank media', status=0xC203)})
    server = Server(sc.MediaCreationManagement())
    client = Client(sc.media_creation_scu)
    no_items = Dataset()
    no_items.ReferencedSOPSequence = []
    with serving(refusing), serving(server):
        with client.request_association(remote(refusing)) as assoc:
            refused = assoc.get_scu(MEDIA)('create', sc.media_request([(CT, '1.2.3')]), 1)
        with client.request_association(remote(server)) as assoc:
            media = assoc.get_scu(MEDIA)
            missing = media('create', Dataset(), 1)
            empty = media('create', no_items, 2)
            unknown = media('initiate', generate_uid(), 3)
            uid = media('create', sc.media_request([(CT, '1.2.3')]), 4).sop_instance_uid
            copies = media('initiate', uid, 5, copies=0)
    assert int(refused.status) == 0xC203
    assert int(missing.status) == 0x0120 and int(empty.status) == 0x0121
    assert int(unknown.status) == 0x0112 and int(copies.status) == 0x0106
    assert mediacreation.request_problem(sc.media_request([(CT, '1.2.3')])) is None


# --- RT Machine Verification (PS3.4 DD) ---------------------------------------------------------


def beam_parameters(machine: str = 'LINAC1') -> Dataset:
    general = Dataset()
    general.TreatmentMachineName = machine
    general.RadiationType = 'PHOTON'
    ds = Dataset()
    ds.GeneralMachineVerificationSequence = [general]
    ds.ConventionalMachineVerificationSequence = [Dataset()]
    return ds


class Verifier(Server):
    """An MPV whose on_n_action compares the machine name with 'LINAC1'."""

    def __init__(self, **kwargs: Any) -> None:
        self.scp = sc.RTMachineVerification()
        super().__init__(self.scp, **kwargs)

    def on_n_action(self, context, sop_instance_uid, action_type_id, action_information):
        self.calls.put(('action', context.sop_class, sop_instance_uid))
        instance = self.scp.instance(sop_instance_uid)
        machine = instance.GeneralMachineVerificationSequence[0].TreatmentMachineName
        result = Dataset()
        if machine == 'LINAC1':
            result.TreatmentVerificationStatus = 'VERIFIED'
        else:
            result.TreatmentVerificationStatus = 'NOT_VERIFIED'
            failed = Dataset()
            failed.SelectorAttribute = 0x300A00B2
            result.FailedAttributesSequence = [failed]
        return statuses.SUCCESS, result


def test_rt_machine_verification_session():
    mpv = Verifier()
    client = Client(sc.rt_verification_scu)
    with serving(mpv), client.request_association(remote(mpv)) as assoc:
        mv = assoc.get_scu(RT_CONVENTIONAL)
        created = mv('create', uids.RT_PLAN_STORAGE, '1.2.3.9', 'PAT1', 1, fraction_group=1)
        uid = created.sop_instance_uid
        set_ = mv('set', uid, beam_parameters(), 2)
        verified = mv('verify', uid, 3)
        got = mv('get', uid, 4, ['TreatmentVerificationStatus', 'ReferencedRTPlanSequence'])
        mv('set', uid, beam_parameters('LINAC2'), 5)
        not_verified = mv('verify', uid, 6)
        failed = mv('get', uid, 7, ['FailedAttributesSequence'])
        deleted = mv('delete', uid, 8)
        gone = mv('get', uid, 9)
    assert created.status.is_success and uid
    assert set_.status.is_success
    assert verified.response.status.is_success
    assert verified.report.event_type_id == sc.VerificationEvent.DONE
    assert verified.report.sop_class_uid == RT_CONVENTIONAL
    assert verified.report.information.TreatmentVerificationStatus == 'VERIFIED'
    assert got.data_set.TreatmentVerificationStatus == 'VERIFIED'
    assert got.data_set.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == '1.2.3.9'
    assert not_verified.report.information.TreatmentVerificationStatus == 'NOT_VERIFIED'
    assert failed.data_set.FailedAttributesSequence[0].SelectorAttribute == 0x300A00B2
    assert deleted.status.is_success and int(gone.status) == 0xC112
    assert [report[2] for report in list(client.reports.queue)] == [2, 2]
    stored = mpv.scp.instance(uid)
    assert stored is None


def test_rt_verification_without_a_verifier_is_not_verified():
    server = Server(sc.RTMachineVerification())
    client = Client(sc.rt_verification_scu)
    with serving(server), client.request_association(remote(server)) as assoc:
        mv = assoc.get_scu(RT_ION)
        uid = mv('create', uids.RT_ION_PLAN_STORAGE, '1.2.3', 'PAT1', 1).sop_instance_uid
        result = mv('verify', uid, 2)
        got = mv('get', uid, 3)
    assert result.report.information.TreatmentVerificationStatus == 'NOT_VERIFIED'
    assert 'IonMachineVerificationSequence' in got.data_set
    assert got.data_set.GeneralMachineVerificationSequence == []


def test_rt_verification_refusals():
    server = Server(sc.RTMachineVerification(),
                    answers={'create': EventHandlingError('unknown plan', status=0xC227)})
    plain = Server(sc.RTMachineVerification())
    client = Client(sc.rt_verification_scu)
    two_plans = Dataset()
    plan = Dataset()
    plan.ReferencedSOPClassUID, plan.ReferencedSOPInstanceUID = uids.RT_PLAN_STORAGE, '1.2'
    two_plans.ReferencedRTPlanSequence = [plan, plan]
    two_plans.PatientID = 'PAT1'
    with serving(server), serving(plain):
        with client.request_association(remote(server)) as assoc:
            mv = assoc.get_scu(RT_CONVENTIONAL)
            no_plan = mv('create', uids.RT_PLAN_STORAGE, '1.2.3', 'PAT1', 1)
        with client.request_association(remote(plain)) as assoc:
            mv = assoc.get_scu(RT_CONVENTIONAL)
            two = rtverification.creation_problem(two_plans)
            uid = mv('create', uids.RT_PLAN_STORAGE, '1.2.3', 'PAT1', 1).sop_instance_uid
            patient = Dataset()
            patient.PatientID = 'OTHER'
            not_allowed = mv('set', uid, patient, 2)
            unknown_set = mv('set', generate_uid(), beam_parameters(), 3)
            unknown_action = mv('verify', generate_uid(), 4)
            wrong_class = assoc.get_scu(RT_ION)('get', uid, 5)
    assert int(no_plan.status) == 0xC227
    assert int(two[0]) == 0x0106
    assert int(not_allowed.status) == 0x0106
    assert int(unknown_set.status) == 0x0112
    assert int(unknown_action.response.status) == 0xC112 and unknown_action.report is None
    assert int(wrong_class.status) == 0xC112  # an RT Conventional instance, asked as Ion


def test_event_report_receiver_answers_through_the_hook():
    """A listening SCU takes reports on associations the SCP opens (PS3.4 KK.2.3)."""
    reports: queue.Queue[tuple] = queue.Queue()

    class Listener(ae.AE):
        def on_n_event_report(self, context, sop_instance_uid, event_type_id, information):
            reports.put((context.sop_class, event_type_id, information.TransactionUID))
            return statuses.SUCCESS

    listener = Listener('LISTENER', 0, host='127.0.0.1')
    listener.add_scp(sc.EventReportReceiver([INVENTORY]))
    reporter = fast(ae.ClientAE('ARCHIVE')).add_scu(sc.NServiceSCU([INVENTORY]))
    with serving(listener), reporter.request_association(remote(listener)) as assoc:
        pc_id, ts = assoc.sop_classes_as_scu[INVENTORY]
        ctx = sc.PContextDef(pc_id, INVENTORY, ts)
        status = sc.inventory_event_report(assoc, ctx, sc.InventoryEvent.STATUS, '1.2.3')
        other = assoc.get_scu(INVENTORY)('n_get', uids.STORAGE_MANAGEMENT_SOP_INSTANCE, 1)
    assert status.is_success
    assert reports.get_nowait() == (INVENTORY, 12, '1.2.3')
    assert int(other.status) == 0x0122
