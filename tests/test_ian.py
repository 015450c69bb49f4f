"""Instance Availability Notification (PS3.4 Annex R) on loopback: ``ian_scu`` (N-CREATE)
against ``InstanceAvailabilityNotification``, which checks the type 1 attributes of PS3.4
Table R.3.2-1 and hands the notification to the AE's ``on_n_create`` hook."""

from __future__ import annotations

import queue
from typing import Any

import pytest
from aetools import fast, remote, serving
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import EventHandlingError
from pynetdicom2.services import ian

IAN = uids.INSTANCE_AVAILABILITY_NOTIFICATION_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE
STUDY, SERIES = '1.2.826.0.1.3680043.8.498.7', '1.2.826.0.1.3680043.8.498.7.1'


def notification(**sop: Any) -> Dataset:
    ds = sc.instance_availability(
        STUDY, {SERIES: [(CT, f'{SERIES}.1'), (CT, f'{SERIES}.2')]}, 'ARCHIVE',
        performed_procedure_steps=[(sc.MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS, '1.2.3')])
    item = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    for keyword, value in sop.items():
        if value is None:
            delattr(item.ReferencedSOPSequence[0], keyword)
        else:
            setattr(item.ReferencedSOPSequence[0], keyword, value)
    return ds


class RIS(ae.AE):
    def __init__(self, answer: Any = statuses.SUCCESS) -> None:
        super().__init__('RIS', 0, host='127.0.0.1')
        self.add_scp(sc.InstanceAvailabilityNotification())
        self.notifications: queue.Queue[tuple] = queue.Queue()
        self.answer = answer

    def on_n_create(self, context, sop_instance_uid, attribute_list):
        self.notifications.put((context.sop_class, sop_instance_uid, attribute_list))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def archive() -> ae.ClientAE:
    return fast(ae.ClientAE('ARCHIVE')).add_scu(sc.ian_scu)


def test_notification_reaches_the_hook():
    uid = generate_uid()
    ris = RIS()
    with serving(ris), archive().request_association(remote(ris)) as assoc:
        rsp = assoc.get_scu(IAN)(notification(), 1, uid)
        generated = assoc.get_scu(IAN)(notification(), 2)
    assert rsp.status.is_success and rsp.sop_instance_uid == uid
    assert generated.status.is_success and generated.sop_instance_uid
    sop_class, instance, ds = ris.notifications.get_nowait()
    assert (sop_class, instance) == (IAN, uid)
    study = ds.CurrentRequestedProcedureEvidenceSequence[0]
    assert study.StudyInstanceUID == STUDY
    refs = study.ReferencedSeriesSequence[0].ReferencedSOPSequence
    assert [(r.ReferencedSOPInstanceUID, r.InstanceAvailability, r.RetrieveAETitle)
            for r in refs] == [(f'{SERIES}.1', 'ONLINE', 'ARCHIVE'),
                               (f'{SERIES}.2', 'ONLINE', 'ARCHIVE')]
    assert ds.ReferencedPerformedProcedureStepSequence[0].ReferencedSOPInstanceUID == '1.2.3'


@pytest.mark.parametrize('change, expected', [
    ({'InstanceAvailability': 'SOMEWHERE'}, 0x0106),
    ({'RetrieveAETitle': None}, 0x0121),
    ({'ReferencedSOPInstanceUID': None}, 0x0121),
])
def test_incomplete_notifications_are_refused_without_the_hook(change, expected):
    ris = RIS()
    with serving(ris), archive().request_association(remote(ris)) as assoc:
        rsp = assoc.get_scu(IAN)(notification(**change), 1)
    assert int(rsp.status) == expected
    assert ris.notifications.empty()


def test_missing_evidence_sequence_is_0120():
    ris = RIS()
    with serving(ris), archive().request_association(remote(ris)) as assoc:
        empty = Dataset()
        empty.ReferencedPerformedProcedureStepSequence = []
        rsp = assoc.get_scu(IAN)(empty, 1)
    assert int(rsp.status) == 0x0120


def test_the_hook_decides_and_an_ae_without_it_answers_0211():
    refusing = RIS(EventHandlingError('not ours', status=0x0124))
    plain = ae.AE('PLAIN', 0, host='127.0.0.1').add_scp(sc.InstanceAvailabilityNotification())
    with serving(refusing), serving(plain):
        with archive().request_association(remote(refusing)) as assoc:
            refused = assoc.get_scu(IAN)(notification(), 1)
        with archive().request_association(remote(plain)) as assoc:
            unhandled = assoc.get_scu(IAN)(notification(), 1)
    assert int(refused.status) == 0x0124
    assert int(unhandled.status) == 0x0211


def test_other_operations_are_unrecognized():
    ris = RIS()
    client = fast(ae.ClientAE('ARCHIVE')).add_scu(sc.NServiceSCU([IAN]))
    with serving(ris), client.request_association(remote(ris)) as assoc:
        scu = assoc.get_scu(IAN)
        answers = [scu('n_get', '1.2.3', 1), scu('n_set', '1.2.3', notification(), 2),
                   scu('n_action', '1.2.3', 1, 3), scu('n_delete', '1.2.3', 4)]
    assert [int(rsp.status) for rsp in answers] == [0x0211] * 4


def test_notification_problem_names_what_is_missing():
    assert ian.notification_problem(notification()) is None
    ds = notification()
    ds.CurrentRequestedProcedureEvidenceSequence = []
    status, why = ian.notification_problem(ds)
    assert int(status) == 0x0121 and 'empty' in why
    ds = notification()
    del ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
    assert int(ian.notification_problem(ds)[0]) == 0x0121
