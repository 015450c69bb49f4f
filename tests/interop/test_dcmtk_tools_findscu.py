"""The new flags of ``pynetdicom2-findscu`` against real peers.

* ``-W`` against DCMTK 3.6's ``wlmscpfs`` (a worklist directory written by the test): keys
  through the Scheduled Procedure Step Sequence, return keys without a value, ``-X`` writing
  each response to ``rsp0001.dcm``..., and a query file whose keys ``-k`` overrides;
* ``--cancel`` against a ``pynetdicom2-qrscp`` process holding many studies: the C-CANCEL-RQ
  goes out after the N-th response, the C-FIND ends (Cancel, or Success when the archive had
  sent everything before the cancel arrived) and findscu exits 0; DCMTK's ``findscu
  --cancel`` against the same process too.
"""

from __future__ import annotations

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import generate_uid
from test_app_processes import stop_cleanly

from pynetdicom2 import apps, uids
from pynetdicom2.dsutils import save_part10
from pynetdicom2.loopback import make_dataset, write_dataset

from .conftest import PEER_TIMEOUT
from .test_dcmtk_worklist import WLM_AET, write_worklist

pytestmark = pytest.mark.interop

TIMEOUTS = ['-to', str(PEER_TIMEOUT), '-ta', str(PEER_TIMEOUT), '-td', str(PEER_TIMEOUT)]
#: Studies in the archive that --cancel queries: far more responses than the cancel waits for.
STUDIES = 40


@pytest.fixture
def wlmscpfs(dcmtk, free_port, tmp_path):
    root = write_worklist(tmp_path / 'worklists')
    port = free_port()
    with dcmtk.server('wlmscpfs', '-v', '-dfp', root, '-ta', 10, '-td', 10,
                      port=port) as server:
        yield server


def worklist_query_file(path, modality: str) -> None:
    ds = Dataset()
    ds.PatientName = ''
    ds.AccessionNumber = ''
    step = Dataset()
    step.Modality = modality
    step.ScheduledStationAETitle = ''
    ds.ScheduledProcedureStepSequence = [step]
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = uids.ExplicitVRLittleEndian
    save_part10(ds, path)


def test_worklist_query_of_wlmscpfs_extracted_to_files(wlmscpfs, tmp_path, capsys):
    out = tmp_path / 'responses'
    out.mkdir()
    argv = ['-W', '-X', '-od', str(out), '-aec', WLM_AET, *TIMEOUTS,
            '-k', 'ScheduledProcedureStepSequence[0].Modality=CT',
            '-k', 'ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20240131',
            '-k', '(0040,0100)[0].ScheduledProcedureStepID',
            '-k', 'PatientName', '-k', 'PatientID', '-k', 'AccessionNumber',
            '127.0.0.1', str(wlmscpfs.port)]
    assert apps.findscu(argv) == 0, wlmscpfs.log()
    assert capsys.readouterr().out.strip() == '2 match(es)'
    written = sorted(out.iterdir())
    assert [p.name for p in written] == ['rsp0001.dcm', 'rsp0002.dcm']
    responses = [dcmread(p) for p in written]
    assert sorted(ds.AccessionNumber for ds in responses) == ['ACC1', 'ACC3']
    for ds in responses:
        step = ds.ScheduledProcedureStepSequence[0]
        assert step.Modality == 'CT'
        assert step.ScheduledProcedureStepID == f'SPS-{ds.AccessionNumber}'
        assert ds.PatientID in ('P1', 'P3')


def test_worklist_query_file_with_an_overriding_key(wlmscpfs, tmp_path, capsys):
    query = tmp_path / 'query.dcm'
    worklist_query_file(query, 'CT')
    argv = ['-W', '-aec', WLM_AET, *TIMEOUTS, '127.0.0.1', str(wlmscpfs.port)]
    assert apps.findscu([*argv, str(query)]) == 0, wlmscpfs.log()
    out = capsys.readouterr().out
    assert out.strip().endswith('3 match(es)') and 'ACC2' not in out  # every CT step
    assert apps.findscu(['-k', 'ScheduledProcedureStepSequence[0].Modality=MR',
                         *argv, str(query)]) == 0, wlmscpfs.log()
    out = capsys.readouterr().out
    assert out.strip().endswith('1 match(es)') and 'ACC2' in out


@pytest.fixture
def archive(tmp_path, start_server):
    """A pynetdicom2-qrscp process holding STUDIES studies, stored through our storescu."""
    pacs = tmp_path / 'pacs'
    pacs.mkdir()
    incoming = tmp_path / 'in'
    incoming.mkdir()
    for number in range(STUDIES):
        write_dataset(make_dataset(PatientID=f'P{number}', StudyID=str(number)), incoming)
    server = start_server('qrscp', '-aet', 'PACS', '-od', pacs)
    assert apps.storescu(['-aec', 'PACS', *TIMEOUTS, '+sd', '127.0.0.1', str(server.port),
                          str(incoming)]) == 0
    yield server
    stop_cleanly(server)


def test_our_findscu_cancels_a_query_of_our_qrscp(archive, capsys):
    argv = ['-v', '--cancel', '3', '-aec', 'PACS', *TIMEOUTS, '-k', 'StudyInstanceUID',
            '-k', 'PatientID', '127.0.0.1', str(archive.port)]
    assert apps.findscu(argv) == 0
    captured = capsys.readouterr()
    count = int(captured.out.strip().splitlines()[-1].split()[0])
    assert 3 <= count <= STUDIES
    assert 'sending C-CANCEL-RQ for message 1' in captured.err
    # The archive answers the next association as ever.
    assert apps.findscu(['-aec', 'PACS', *TIMEOUTS, '-k', 'StudyInstanceUID', '127.0.0.1',
                         str(archive.port)]) == 0
    assert capsys.readouterr().out.strip().endswith(f'{STUDIES} match(es)')


def test_dcmtk_findscu_cancels_a_query_of_our_qrscp(dcmtk, archive):
    done = dcmtk.run('findscu', '-v', '-S', '--cancel', '2', '-aec', 'PACS', '-ta', 10,
                     '-td', 10, '-k', 'QueryRetrieveLevel=STUDY', '-k', 'StudyInstanceUID',
                     '127.0.0.1', archive.port)
    assert done.returncode == 0, done.explain()
    assert 'Sending Cancel Request' in done.output, done.explain()
    assert 'Received Final Find Response' in done.output, done.explain()
