"""Modality Worklist (PS3.4 Annex K) against DCMTK 3.6.

* our ``modality_work_list_scu`` -> ``wlmscpfs``: a worklist directory made by the test with
  pydicom (``<dir>/<called AE title>/*.wl`` and the ``lockfile`` wlmscpfs wants); matching by
  modality, by patient name wildcard, return keys filled in, and a query closed early (a
  C-CANCEL-RQ) followed by another on the same association;
* DCMTK ``findscu -W`` -> our ``modality_work_list_scp``: the responses findscu writes
  (``-X``) hold our items.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids
from pynetdicom2.dsutils import save_part10

pytestmark = pytest.mark.interop

MWL = uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS
WLM_AET = 'WLMSCP'
OUR_AET = 'OURRIS'


def worklist_item(patient: str, patient_id: str, modality: str, accession: str,
                  start_date: str = '20240131') -> Dataset:
    """A complete worklist item (PS3.4 K.6.1.2.2), so that wlmscpfs does not reject it."""
    ds = Dataset()
    ds.SpecificCharacterSet = 'ISO_IR 100'
    ds.AccessionNumber = accession
    ds.ReferringPhysicianName = 'Who^Doctor'
    ds.PatientName = patient
    ds.PatientID = patient_id
    ds.PatientBirthDate = '19700101'
    ds.PatientSex = 'O'
    ds.StudyInstanceUID = generate_uid()
    ds.RequestedProcedureDescription = f'{modality} examination'
    ds.RequestedProcedureID = f'RP-{accession}'
    ds.RequestedProcedurePriority = 'ROUTINE'
    step = Dataset()
    step.ScheduledStationAETitle = 'MODALITY'
    step.ScheduledProcedureStepStartDate = start_date
    step.ScheduledProcedureStepStartTime = '090000'
    step.Modality = modality
    step.ScheduledPerformingPhysicianName = 'Tech^Nician'
    step.ScheduledProcedureStepDescription = f'{modality} step'
    step.ScheduledProcedureStepID = f'SPS-{accession}'
    step.ScheduledStationName = 'STATION1'
    step.ScheduledProcedureStepLocation = 'ROOM1'
    ds.ScheduledProcedureStepSequence = [step]
    return ds


ITEMS = [
    worklist_item('Doe^John', 'P1', 'CT', 'ACC1'),
    worklist_item('Roe^Jane', 'P2', 'MR', 'ACC2'),
    worklist_item('Doe^Jane', 'P3', 'CT', 'ACC3'),
    worklist_item('Poe^Edgar', 'P4', 'CT', 'ACC4', start_date='20240201'),
]


def write_worklist(directory: Path) -> Path:
    """``directory/WLMSCP`` with one ``.wl`` file per item, and wlmscpfs's lockfile."""
    folder = directory / WLM_AET
    folder.mkdir(parents=True)
    (folder / 'lockfile').touch()
    for index, item in enumerate(ITEMS):
        item.file_meta = FileMetaDataset()
        item.file_meta.MediaStorageSOPClassUID = MWL
        item.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        item.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        save_part10(item, folder / f'item{index}.wl')
    return directory


def query(modality: str = '', patient: str = '', start_date: str = '') -> Dataset:
    """A worklist query asking for the usual return keys."""
    q = Dataset()
    q.PatientName = patient
    q.PatientID = ''
    q.AccessionNumber = ''
    q.RequestedProcedureID = ''
    step = Dataset()
    step.ScheduledStationAETitle = ''
    step.ScheduledProcedureStepStartDate = start_date
    step.Modality = modality
    step.ScheduledProcedureStepID = ''
    q.ScheduledProcedureStepSequence = [step]
    return q


def client() -> ae.ClientAE:
    scu = ae.ClientAE('MODALITY')
    scu.dcm_timeout = scu.artim_timeout = scu.connect_timeout = 10
    return scu.add_scu(sc.modality_work_list_scu)


@pytest.fixture
def wlmscpfs(dcmtk, free_port, tmp_path):
    """wlmscpfs serving the test's worklist directory; yields its port."""
    root = write_worklist(tmp_path / 'worklists')
    port = free_port()
    with dcmtk.server('wlmscpfs', '-v', '-dfp', root, '-ta', 10, '-td', 10,
                      port=port) as server:
        yield server


def ask(port: int, q: Dataset) -> list[tuple[Dataset | None, statuses.Status]]:
    remote = {'aet': WLM_AET, 'address': '127.0.0.1', 'port': port}
    with client().request_association(remote) as assoc:
        return list(assoc.get_scu(MWL)(q, 1))


def test_our_scu_queries_wlmscpfs_by_modality(wlmscpfs):
    responses = ask(wlmscpfs.port, query(modality='CT', start_date='20240131'))
    *pending, (final, status) = responses
    assert status == statuses.SUCCESS and final is None, wlmscpfs.log()
    assert all(s.is_pending for _, s in pending)
    assert sorted(ds.AccessionNumber for ds, _ in pending) == ['ACC1', 'ACC3'], wlmscpfs.log()
    for ds, _ in pending:
        step = ds.ScheduledProcedureStepSequence[0]
        assert step.Modality == 'CT' and step.ScheduledStationAETitle == 'MODALITY'
        assert step.ScheduledProcedureStepID == f'SPS-{ds.AccessionNumber}'
        assert ds.RequestedProcedureID == f'RP-{ds.AccessionNumber}'
        assert ds.PatientID in ('P1', 'P3')


def test_our_scu_queries_wlmscpfs_by_patient_name_wildcard(wlmscpfs):
    responses = ask(wlmscpfs.port, query(patient='Doe*'))
    assert responses[-1][1] == statuses.SUCCESS, wlmscpfs.log()
    assert sorted(str(ds.PatientName) for ds, _ in responses[:-1]) == ['Doe^Jane', 'Doe^John']


def test_our_scu_cancels_a_wlmscpfs_query_and_queries_again(wlmscpfs):
    remote = {'aet': WLM_AET, 'address': '127.0.0.1', 'port': wlmscpfs.port}
    with client().request_association(remote) as assoc:
        results = assoc.get_scu(MWL)(query(modality='CT'), 1)
        first, status = next(results)
        assert status.is_pending and first.ScheduledProcedureStepSequence[0].Modality == 'CT'
        results.close()  # C-CANCEL-RQ, and the remaining responses are read
        again = list(assoc.get_scu(MWL)(query(modality='MR'), 2))
    assert [ds.AccessionNumber for ds, _ in again[:-1]] == ['ACC2'], wlmscpfs.log()
    assert again[-1][1] == statuses.SUCCESS


class RIS(ae.AE):
    """Our worklist SCP: answers with the ITEMS whose modality matches."""

    def __init__(self) -> None:
        super().__init__(OUR_AET, 0, bind_and_activate=False)
        self.add_scp(sc.modality_work_list_scp)
        self.asked: list[Dataset] = []

    def on_receive_find(self, context, ds):
        assert context.sop_class == MWL
        self.asked.append(ds)
        wanted = ds.ScheduledProcedureStepSequence[0].Modality
        for item in ITEMS:
            if item.ScheduledProcedureStepSequence[0].Modality == wanted:
                answer = Dataset()
                for keyword in ('PatientName', 'PatientID', 'AccessionNumber'):
                    setattr(answer, keyword, item.get(keyword))
                answer.ScheduledProcedureStepSequence = item.ScheduledProcedureStepSequence
                yield answer, statuses.C_FIND_PENDING


def test_findscu_worklist_query_to_our_scp(dcmtk, serve, tmp_path):
    out = tmp_path / 'responses'
    out.mkdir()
    ris = RIS()
    with serve(ris) as port:
        done = dcmtk.run(
            'findscu', '-v', '-W', '-aet', 'DCMTKSCU', '-aec', OUR_AET,
            '-to', 10, '-ta', 10, '-td', 10, '-X', '-od', out,
            '-k', 'PatientName', '-k', 'PatientID', '-k', 'AccessionNumber',
            '-k', 'ScheduledProcedureStepSequence[0].Modality=CT',
            '-k', 'ScheduledProcedureStepSequence[0].ScheduledProcedureStepID',
            '127.0.0.1', port,
        )
    assert done.returncode == 0, done.explain()
    assert len(ris.asked) == 1
    received = [dcmread(path) for path in sorted(out.iterdir())]
    assert sorted(ds.AccessionNumber for ds in received) == ['ACC1', 'ACC3', 'ACC4'], (
        done.explain())
    for ds in received:
        assert ds.ScheduledProcedureStepSequence[0].Modality == 'CT'
    assert 'Received Final Find Response (Success)' in done.output, done.explain()
