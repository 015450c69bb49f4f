"""Modality Worklist (PS3.4 Annex K), both roles on loopback: the worklist SCU and SCP are
the C-FIND machinery registered for 1.2.840.10008.5.1.4.31, answering through
``on_receive_find``."""

from __future__ import annotations

import threading

from aetools import fast, remote, serving
from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import EventHandlingError

MWL = uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS


def scheduled_item(patient: str, modality: str, accession: str) -> Dataset:
    """A worklist item (PS3.4 K.6.1.2.2): patient, request and one scheduled step."""
    ds = Dataset()
    ds.PatientName = patient
    ds.PatientID = accession.replace('ACC', 'P')
    ds.AccessionNumber = accession
    ds.RequestedProcedureID = 'RP1'
    step = Dataset()
    step.Modality = modality
    step.ScheduledStationAETitle = 'MODALITY'
    step.ScheduledProcedureStepStartDate = '20240131'
    step.ScheduledProcedureStepID = 'SPS1'
    ds.ScheduledProcedureStepSequence = [step]
    return ds


WORKLIST = [
    scheduled_item('Doe^John', 'CT', 'ACC1'),
    scheduled_item('Roe^Jane', 'MR', 'ACC2'),
    scheduled_item('Poe^Edgar', 'CT', 'ACC3'),
]


class RIS(ae.AE):
    """Answers worklist queries by modality; records what it was asked."""

    def __init__(self) -> None:
        super().__init__('RIS', 0, host='127.0.0.1')
        self.add_scp(sc.modality_work_list_scp)
        self.queries: list[tuple] = []
        self.closed = threading.Event()
        self.fail = False

    def on_receive_find(self, context, ds):
        self.queries.append((context.sop_class, ds))
        if self.fail:
            raise EventHandlingError('the RIS database is down')
        wanted = ds.ScheduledProcedureStepSequence[0].Modality
        try:
            for item in WORKLIST:
                if item.ScheduledProcedureStepSequence[0].Modality == wanted:
                    yield item, statuses.C_FIND_PENDING
        finally:
            self.closed.set()


def query(modality: str) -> Dataset:
    q = Dataset()
    q.PatientName = ''
    q.AccessionNumber = ''
    step = Dataset()
    step.Modality = modality
    step.ScheduledProcedureStepStartDate = ''
    q.ScheduledProcedureStepSequence = [step]
    return q


def modality() -> ae.ClientAE:
    return fast(ae.ClientAE('MODALITY')).add_scu(sc.modality_work_list_scu)


def test_the_worklist_services_are_c_find_for_the_worklist_class():
    assert sc.modality_work_list_scu.sop_classes == [MWL]
    assert sc.modality_work_list_scp.sop_classes == [MWL]
    assert sc.modality_work_list_scp.store_in_file is False
    # Their registration does not touch the Query/Retrieve services they delegate to.
    assert MWL not in sc.qr_find_scu.sop_classes and MWL not in sc.qr_find_scp.sop_classes


def test_worklist_query_returns_the_matching_items_then_success():
    ris = RIS()
    with serving(ris) as srv:
        with modality().request_association(remote(srv)) as assoc:
            responses = list(assoc.get_scu(MWL)(query('CT'), 1))
    assert [status for _, status in responses] == [
        statuses.C_FIND_PENDING, statuses.C_FIND_PENDING, statuses.SUCCESS]
    assert [ds.AccessionNumber for ds, _ in responses[:2]] == ['ACC1', 'ACC3']
    assert responses[0][0].ScheduledProcedureStepSequence[0].ScheduledStationAETitle == 'MODALITY'
    assert responses[-1][0] is None
    (sop_class, asked), = ris.queries
    assert sop_class == MWL
    assert asked.ScheduledProcedureStepSequence[0].Modality == 'CT'


def test_closing_the_query_early_cancels_it_and_the_association_goes_on():
    ris = RIS()
    with serving(ris) as srv:
        with modality().request_association(remote(srv)) as assoc:
            results = assoc.get_scu(MWL)(query('CT'), 1)
            first, status = next(results)
            assert status.is_pending and first.AccessionNumber == 'ACC1'
            results.close()  # C-CANCEL-RQ, then the remaining responses are read
            again = [status for _, status in assoc.get_scu(MWL)(query('MR'), 2)]
            assert again == [statuses.C_FIND_PENDING, statuses.SUCCESS]
    assert ris.closed.is_set()


def test_a_failing_handler_is_a_c000_answer():
    ris = RIS()
    ris.fail = True
    with serving(ris) as srv:
        with modality().request_association(remote(srv)) as assoc:
            (identifier, status), = list(assoc.get_scu(MWL)(query('CT'), 1))
    assert int(status) == 0xC000 and status.is_failure
