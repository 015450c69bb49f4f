"""DIMSE-N services (PS3.7 10): the generic SCU functions, NServiceSCU/NServiceSCP, and the
Modality Performed Procedure Step SCU/SCP (PS3.4 Annex F), on loopback.

A test SCP records every call of its ``on_n_*`` methods and answers what the test tells it,
so each operation is checked in both directions: what the SCU sent is what the SCP saw, and
what the SCP answered is what the SCU returns.
"""

from __future__ import annotations

import queue
import threading

import pytest
from aetools import fast, remote, serving
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import DIMSEProcessingError, EventHandlingError, NetDICOMError

#: A private SOP class for the generic tests (the 1.2.826.0.1.3680043.8.498 root is pydicom's).
THING = '1.2.826.0.1.3680043.8.498.999.71'
MPPS = sc.MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS
IMPLICIT = uids.ImplicitVRLittleEndian
EXPLICIT = uids.ExplicitVRLittleEndian
BIG = uids.ExplicitVRBigEndian
DEFLATED = uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN


def attributes(**elements) -> Dataset:
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


class Thing(sc.NServiceSCP):
    """Records each call as (operation, arguments) and answers ``self.answer``."""

    sop_classes = [THING]

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []
        self.answer: object = (statuses.SUCCESS, None)

    def _reply(self, *call):
        self.calls.append(call)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def on_n_get(self, asce, ctx, sop_instance_uid, attribute_identifiers):
        return self._reply('n_get', sop_instance_uid, attribute_identifiers)

    def on_n_set(self, asce, ctx, sop_instance_uid, modification_list):
        return self._reply('n_set', sop_instance_uid, modification_list)

    def on_n_action(self, asce, ctx, sop_instance_uid, action_type_id, action_information):
        return self._reply('n_action', sop_instance_uid, action_type_id, action_information)

    def on_n_create(self, asce, ctx, sop_instance_uid, attribute_list):
        return self._reply('n_create', sop_instance_uid, attribute_list)

    def on_n_delete(self, asce, ctx, sop_instance_uid):
        return self._reply('n_delete', sop_instance_uid)

    def on_n_event_report(self, asce, ctx, sop_instance_uid, event_type_id, event_information):
        return self._reply('n_event_report', sop_instance_uid, event_type_id, event_information)


def thing_server(scp: sc.NServiceSCP, supported_ts=None) -> ae.AE:
    return ae.AE('NSCP', 0, supported_ts, host='127.0.0.1').add_scp(scp)


def thing_client(supported_ts=None, operations=None) -> ae.ClientAE:
    return fast(ae.ClientAE('NSCU', supported_ts)).add_scu(sc.NServiceSCU([THING], operations))


@pytest.mark.parametrize('ts', [IMPLICIT, EXPLICIT, BIG, DEFLATED])
def test_every_operation_both_ways(ts):
    scp = Thing()
    instance = generate_uid()
    reply = attributes(PatientName='Doe^John', PatientID='42')
    with serving(thing_server(scp, [ts])) as srv:
        with thing_client([ts]).request_association(remote(srv)) as assoc:
            thing = assoc.get_scu(THING)
            scp.answer = (statuses.SUCCESS, reply)
            got = thing('n_get', instance, 1, ['PatientName', 0x00100020])
            assert got.status.is_success and got.data_set == reply
            assert got.sop_instance_uid == instance
            assert isinstance(got.message, dm.NGetRSPMessage)
            assert got.message.message_id_being_responded_to == 1

            mods = attributes(PatientName='Roe^Jane')
            scp.answer = (0x0107, None)  # attribute list error: a warning
            got = thing('n_set', instance, mods, 2)
            assert got.status.is_warning and got.data_set is None

            scp.answer = (statuses.SUCCESS, attributes(ExecutionStatus='DONE'))
            got = thing('n_action', instance, 3, 3, attributes(NumberOfCopies=2))
            assert got.data_set.ExecutionStatus == 'DONE'
            assert got.message.action_type_id == 3

            scp.answer = (statuses.SUCCESS, None)
            created = thing('n_create', attributes(PatientID='7'), 4)
            assert created.status.is_success and created.sop_instance_uid
            given = generate_uid()
            assert thing('n_create', None, 5, sop_instance_uid=given).sop_instance_uid == given

            assert thing('n_delete', instance, 6).status.is_success
            got = thing('n_event_report', instance, 2, 7, attributes(EventTimerNames='x'))
            assert got.status.is_success and got.message.event_type_id == 2

    names = [call[0] for call in scp.calls]
    assert names == ['n_get', 'n_set', 'n_action', 'n_create', 'n_create', 'n_delete',
                     'n_event_report']
    assert scp.calls[0][1:] == (instance, [Tag('PatientName'), Tag(0x00100020)])
    assert scp.calls[1][1:] == (instance, mods)
    assert scp.calls[2][1:] == (instance, 3, attributes(NumberOfCopies=2))
    assert scp.calls[3][1] == created.sop_instance_uid  # assigned by the SCP
    assert scp.calls[3][2] == attributes(PatientID='7')
    assert scp.calls[4][1:] == (given, None)
    assert scp.calls[5][1:] == (instance,)
    assert scp.calls[6][1:] == (instance, 2, attributes(EventTimerNames='x'))


def test_generic_functions_register_directly_and_have_no_classes():
    for function in (sc.n_get_scu, sc.n_set_scu, sc.n_action_scu, sc.n_create_scu,
                     sc.n_delete_scu, sc.n_event_report_scu):
        assert function.sop_classes == [] and function.store_in_file is False
    scp = Thing()
    with serving(thing_server(scp)) as srv:
        client = fast(ae.ClientAE('NSCU')).add_scu(sc.n_get_scu, [THING])
        with client.request_association(remote(srv)) as assoc:
            assert assoc.get_scu(THING)('1.2.3', 9).status.is_success
    assert scp.calls == [('n_get', '1.2.3', [])]


def test_failures_carry_no_data_set_and_hook_errors_are_processing_failures():
    scp = Thing()
    with serving(thing_server(scp)) as srv:
        with thing_client().request_association(remote(srv)) as assoc:
            thing = assoc.get_scu(THING)
            scp.answer = (0x0112, attributes(PatientID='leak'))
            got = thing('n_get', '1.2.3', 1)
            assert int(got.status) == 0x0112 and got.data_set is None
            assert got.status.description == 'No Such SOP Instance'
            scp.answer = EventHandlingError('no')
            assert int(thing('n_delete', '1.2.3', 2).status) == 0x0110
            scp.answer = (statuses.SUCCESS, None)
            assert thing('n_delete', '1.2.3', 3).status.is_success


def test_a_bare_status_is_an_answer_without_a_data_set():
    scp = Thing()
    with serving(thing_server(scp)) as srv:
        with thing_client().request_association(remote(srv)) as assoc:
            thing = assoc.get_scu(THING)
            scp.answer = statuses.SUCCESS
            assert thing('n_delete', '1.2.3', 1).status.is_success
            scp.answer = 0x0107
            got = thing('n_set', '1.2.3', attributes(PatientID='1'), 2)
            assert got.status.is_warning and got.data_set is None


def test_default_methods_answer_unrecognized_operation_and_c_requests_0122():
    plain = sc.NServiceSCP([THING])
    assert plain.sop_classes == [THING] and sc.NServiceSCP.sop_classes == []
    with serving(thing_server(plain)) as srv:
        with thing_client().request_association(remote(srv)) as assoc:
            thing = assoc.get_scu(THING)
            assert int(thing('n_get', '1.2.3', 1).status) == 0x0211
            assert thing('n_get', '1.2.3', 1).status == sc.UNRECOGNIZED_OPERATION
            assert int(thing('n_create', None, 2).status) == 0x0211
            echo = dm.CEchoRQMessage()
            echo.message_id = 3
            echo.sop_class_uid = THING
            assoc.send(echo, assoc.sop_classes_as_scu[THING][0])
            rsp, _ = assoc.receive()
            assert isinstance(rsp, dm.CEchoRSPMessage) and rsp.status == 0x0122


def test_an_unreadable_or_missing_data_set_is_a_processing_failure():
    scp = Thing()
    with serving(thing_server(scp, [EXPLICIT])) as srv:
        with thing_client([EXPLICIT]).request_association(remote(srv)) as assoc:
            pc_id = assoc.sop_classes_as_scu[THING][0]
            for msg_id, data_set in ((1, None), (2, b'\x10\x00\x10\x00ZZ\x03\x00Doe')):
                rq = dm.NSetRQMessage()
                rq.message_id = msg_id
                rq.sop_class_uid = THING
                rq.requested_sop_instance_uid = '1.2.3'
                rq.data_set = data_set
                assoc.send(rq, pc_id)
                rsp, _ = assoc.receive()
                assert isinstance(rsp, dm.NSetRSPMessage)
                assert (rsp.message_id_being_responded_to, rsp.status) == (msg_id, 0x0110)
                assert rsp.affected_sop_instance_uid == '1.2.3'
    assert scp.calls == []


def test_an_unreadable_response_data_set_is_a_protocol_error():
    class Garbage(Thing):
        def n_get(self, asce, ctx, msg):
            rsp = dm.NGetRSPMessage()
            rsp.message_id_being_responded_to = msg.message_id
            rsp.status = 0
            rsp.data_set = b'\x10\x00\x10\x00ZZ\x03\x00Doe'
            asce.send(rsp, ctx.id)

    with serving(thing_server(Garbage(), [EXPLICIT])) as srv:
        with pytest.raises(DIMSEProcessingError, match='cannot decode'):
            with thing_client([EXPLICIT]).request_association(remote(srv)) as assoc:
                assoc.get_scu(THING)('n_get', '1.2.3', 1)


def test_nservice_scu_refuses_unknown_or_unlisted_operations():
    with pytest.raises(NetDICOMError, match='unknown DIMSE-N operations'):
        sc.NServiceSCU([THING], ['n_get', 'n_frobnicate'])
    assert sc.mpps_scu.operations == ('n_create', 'n_set')
    assert sc.mpps_scu.sop_classes == [MPPS]
    with serving(thing_server(Thing())) as srv:
        with thing_client(operations=['n_get']).request_association(remote(srv)) as assoc:
            with pytest.raises(NetDICOMError, match="'n_delete' is not an operation"):
                assoc.get_scu(THING)('n_delete', '1.2.3', 1)
            assert assoc.get_scu(THING)('n_get', '1.2.3', 1).status.is_success


# --- Modality Performed Procedure Step --------------------------------------------------------


class RecordingMPPS(sc.ModalityPerformedProcedureStep):
    def __init__(self) -> None:
        super().__init__()
        self.events: queue.Queue[tuple] = queue.Queue()
        self.refuse_update = False

    def step_created(self, asce, sop_instance_uid, attributes):
        self.events.put(('created', sop_instance_uid, attributes))

    def step_updated(self, asce, sop_instance_uid, attributes):
        if self.refuse_update:
            raise EventHandlingError('billing is down')
        self.events.put(('updated', sop_instance_uid, attributes))


def in_progress(**extra) -> Dataset:
    """The N-CREATE attributes of a step as a modality starts it (PS3.4 F.7.2.1)."""
    elements = dict(
        PatientName='Doe^John',
        PatientID='42',
        Modality='CT',
        PerformedStationAETitle='MODALITY',
        PerformedProcedureStepID='PPS1',
        PerformedProcedureStepStartDate='20240131',
        PerformedProcedureStepStartTime='101010',
        PerformedProcedureStepStatus='IN PROGRESS',
        PerformedProcedureStepEndDate='',
        PerformedProcedureStepEndTime='',
    )
    ds = attributes(**{**elements, **extra})
    attribute = Dataset()
    attribute.StudyInstanceUID = generate_uid()
    attribute.AccessionNumber = 'ACC1'
    ds.ScheduledStepAttributesSequence = [attribute]
    return ds


def mpps_server(scp: sc.ModalityPerformedProcedureStep) -> ae.AE:
    return ae.AE('MPPSSCP', 0, host='127.0.0.1').add_scp(scp)


def mpps_client() -> ae.ClientAE:
    return fast(ae.ClientAE('MODALITY')).add_scu(sc.mpps_scu)


def test_mpps_create_then_complete():
    scp = RecordingMPPS()
    with serving(mpps_server(scp)) as srv:
        with mpps_client().request_association(remote(srv)) as assoc:
            mpps = assoc.get_scu(MPPS)
            created = mpps('n_create', in_progress(), 1)
            assert created.status.is_success
            step = created.sop_instance_uid
            progress = attributes(PerformedProcedureStepDescription='half way')
            assert mpps('n_set', step, progress, 2).status.is_success
            done = attributes(
                PerformedProcedureStepStatus='COMPLETED',
                PerformedProcedureStepEndDate='20240131',
                PerformedProcedureStepEndTime='103000',
            )
            assert mpps('n_set', step, done, 3).status.is_success
            # PS3.4 F.7.2.2.2: a completed step may no longer be changed.
            assert int(mpps('n_set', step, progress, 4).status) == 0x0110
    assert list(scp.instances) == [step]
    final = scp.instances[step]
    assert final.PerformedProcedureStepStatus == 'COMPLETED'
    assert final.PerformedProcedureStepDescription == 'half way'
    assert final.PatientID == '42'
    events = [scp.events.get_nowait() for _ in range(3)]
    assert [(kind, uid) for kind, uid, _ in events] == [
        ('created', step), ('updated', step), ('updated', step)]
    assert events[0][2].PerformedProcedureStepStatus == 'IN PROGRESS'
    assert events[2][2].PerformedProcedureStepEndTime == '103000'


def test_mpps_refusals():
    scp = RecordingMPPS()
    with serving(mpps_server(scp)) as srv:
        with mpps_client().request_association(remote(srv)) as assoc:
            mpps = assoc.get_scu(MPPS)
            step = generate_uid()
            assert mpps('n_create', in_progress(), 1, sop_instance_uid=step).status.is_success
            # duplicate, missing status, status not IN PROGRESS
            assert int(mpps('n_create', in_progress(), 2, sop_instance_uid=step).status) == 0x0111
            no_status = in_progress()
            del no_status.PerformedProcedureStepStatus
            assert int(mpps('n_create', no_status, 3).status) == 0x0120
            assert int(mpps('n_create', None, 4).status) == 0x0120
            wrong = in_progress(PerformedProcedureStepStatus='COMPLETED')
            assert int(mpps('n_create', wrong, 5).status) == 0x0106
            # unknown step, a status that does not exist, completing without an end
            unknown = mpps('n_set', generate_uid(), attributes(PatientID='1'), 6)
            assert int(unknown.status) == 0x0112
            bogus = attributes(PerformedProcedureStepStatus='PAUSED')
            assert int(mpps('n_set', step, bogus, 7).status) == 0x0106
            endless = attributes(PerformedProcedureStepStatus='DISCONTINUED')
            assert int(mpps('n_set', step, endless, 8).status) == 0x0121
            # a hook that refuses undoes the change
            scp.refuse_update = True
            assert int(mpps('n_set', step, attributes(PatientID='99'), 9).status) == 0x0110
            with pytest.raises(NetDICOMError, match='not an operation'):
                mpps('n_delete', step, 10)
    assert scp.instances[step].PatientID == '42'
    assert scp.instances[step].PerformedProcedureStepStatus == 'IN PROGRESS'
    assert len(scp.instances) == 1


def test_mpps_steps_from_several_associations_at_once():
    scp = RecordingMPPS()
    errors: list[BaseException] = []
    made: list = []
    lock = threading.Lock()

    def modality(index: int) -> None:
        try:
            with mpps_client().request_association(remote(srv)) as assoc:
                mpps = assoc.get_scu(MPPS)
                for n in range(5):
                    rsp = mpps('n_create', in_progress(PatientID=f'{index}-{n}'), n + 1)
                    assert rsp.status.is_success
                    with lock:
                        made.append(rsp.sop_instance_uid)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    with serving(mpps_server(scp)) as srv:
        threads = [threading.Thread(target=modality, args=(i,), name=f'test-modality-{i}')
                   for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert not errors
    assert sorted(made) == sorted(scp.instances) and len(made) == 20
