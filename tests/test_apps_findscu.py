"""``pynetdicom2-findscu`` (:mod:`pynetdicom2.app_findscu`): DCMTK's ``-W``, ``-X``, query
files, ``--cancel`` and ``-k`` keys without a value or through sequence items, in process
against our own SCPs (the loopback archive, a worklist SCP, a Q/R SCP that never runs out of
matches).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from aetools import serving
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset

from pynetdicom2 import app_findscu, apps, dsutils, statuses, uids
from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2.loopback import make_study

MWL = uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS
#: The endless SCP gives up after this long, so that a cancel that does not work fails the
#: test instead of hanging it.
BOUND_SECONDS = 10.0


def to(ae_: ae.AE) -> list[str]:
    return ['-aec', ae_.ae_title, '-to', '5', '-ta', '5', '-td', '5', '127.0.0.1',
            str(ae_.local_ae.port)]


def scheduled(patient: str, modality: str, accession: str) -> Dataset:
    ds = Dataset()
    ds.PatientName = patient
    ds.AccessionNumber = accession
    step = Dataset()
    step.Modality = modality
    step.ScheduledProcedureStepStartDate = '20240131'
    ds.ScheduledProcedureStepSequence = [step]
    return ds


WORKLIST = [scheduled('Doe^John', 'CT', 'ACC1'), scheduled('Roe^Jane', 'MR', 'ACC2'),
            scheduled('Poe^Edgar', 'CT', 'ACC3')]


class RIS(ae.AE):
    """A worklist SCP answering by the modality of the first scheduled step."""

    def __init__(self) -> None:
        super().__init__('RIS', 0, host='127.0.0.1')
        self.add_scp(sc.modality_work_list_scp)
        self.asked: list[Dataset] = []

    def on_receive_find(self, context, ds):
        assert context.sop_class == MWL
        self.asked.append(ds)
        wanted = ds.ScheduledProcedureStepSequence[0].Modality
        for item in WORKLIST:
            if item.ScheduledProcedureStepSequence[0].Modality == wanted:
                yield item, statuses.C_FIND_PENDING


class Endless(ae.AE):
    """A Study Root C-FIND SCP whose matches never run out (until BOUND_SECONDS)."""

    def __init__(self) -> None:
        super().__init__('ENDLESS', 0, host='127.0.0.1')
        self.add_scp(sc.qr_find_scp)
        self.closed = threading.Event()

    def on_receive_find(self, context, ds):
        deadline = time.monotonic() + BOUND_SECONDS
        number = 0
        try:
            while time.monotonic() < deadline:
                number += 1
                match = Dataset()
                match.QueryRetrieveLevel = 'STUDY'
                match.StudyID = str(number)
                yield match, statuses.C_FIND_PENDING
        finally:
            self.closed.set()


# --- -W ------------------------------------------------------------------------------------------


def test_worklist_query_with_sequence_keys_and_return_keys(capsys):
    with serving(RIS()) as ris:
        assert apps.findscu(['-W', '-k', 'ScheduledProcedureStepSequence[0].Modality=CT',
                             '-k', '(0040,0100)[0].ScheduledProcedureStepStartDate',
                             '-k', 'PatientName', '-k', '0008,0050', *to(ris)]) == 0
    out = capsys.readouterr().out
    assert 'ACC1' in out and 'ACC3' in out and 'ACC2' not in out
    assert out.strip().endswith('2 match(es)')
    asked = ris.asked[0]
    assert 'QueryRetrieveLevel' not in asked  # PS3.4 K.6.1.2: a worklist query has none
    assert asked['PatientName'].is_empty and asked['AccessionNumber'].is_empty
    step = asked.ScheduledProcedureStepSequence[0]
    assert step.Modality == 'CT' and step['ScheduledProcedureStepStartDate'].is_empty


def test_extract_writes_each_response_to_a_numbered_file(tmp_path, capsys):
    with serving(RIS()) as ris:
        assert apps.findscu(['-W', '-X', '-od', str(tmp_path),
                             '-k', 'ScheduledProcedureStepSequence[0].Modality=CT',
                             *to(ris)]) == 0
    assert capsys.readouterr().out.strip() == '2 match(es)'  # the matches are in the files
    written = sorted(tmp_path.glob('rsp*.dcm'))
    assert [p.name for p in written] == ['rsp0001.dcm', 'rsp0002.dcm']
    responses = [dcmread(path) for path in written]
    assert [ds.AccessionNumber for ds in responses] == ['ACC1', 'ACC3']
    assert responses[0].file_meta.MediaStorageSOPClassUID == MWL


def test_extract_needs_an_existing_directory(tmp_path, capsys):
    with serving(RIS()) as ris:
        assert apps.findscu(['-W', '-X', '-od', str(tmp_path / 'nope'), *to(ris)]) == 1
    assert capsys.readouterr().err.strip() == f'E: -od {tmp_path / "nope"}: no such directory'


# --- query files ---------------------------------------------------------------------------------


def query_file(path: Path, part10: bool = True, **keys: str) -> Path:
    ds = Dataset()
    ds.QueryRetrieveLevel = 'STUDY'
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    if part10:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = uids.STUDY_ROOT_FIND_SOP_CLASS
        ds.file_meta.MediaStorageSOPInstanceUID = '1.2.3.4'
        ds.file_meta.TransferSyntaxUID = uids.ExplicitVRLittleEndian
        dsutils.save_part10(ds, path)
    else:  # a bare data set, as dump2dcm -F writes it
        path.write_bytes(dsutils.encode(ds, True, True))
    return path


def test_query_files_each_make_a_c_find_and_keys_override_them(dicom_scp, tmp_path, capsys):
    dicom_scp.add(*make_study(1, 1, PatientName='Doe^Jane', PatientID='P1'))
    dicom_scp.add(*make_study(1, 1, PatientName='Roe^Rick', PatientID='P2'))
    doe = query_file(tmp_path / 'doe.dcm', PatientName='Doe*', StudyInstanceUID='')
    bare = query_file(tmp_path / 'bare.dcm', part10=False, PatientName='*', StudyInstanceUID='')
    assert apps.findscu([*to(dicom_scp), str(doe), str(bare)]) == 0
    out = capsys.readouterr().out
    assert out.count('Doe^Jane') == 2 and out.count('Roe^Rick') == 1
    assert out.strip().endswith('3 match(es)')
    assert len(dicom_scp.associations) == 1  # both C-FINDs on one association
    assert apps.findscu(['-k', 'PatientName=Roe*', '-k', 'PatientID', *to(dicom_scp),
                         str(doe)]) == 0
    out = capsys.readouterr().out
    assert 'Roe^Rick' in out and 'Doe' not in out and "'P2'" in out
    assert dicom_scp.requests[-1].dataset.PatientName == 'Roe*'


def test_an_unreadable_query_file_is_one_line(dicom_scp, tmp_path, capsys):
    missing = tmp_path / 'missing.dcm'
    assert apps.findscu([*to(dicom_scp), str(missing)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'E: cannot read query file {missing}')
    assert dicom_scp.associations == []


# --- -k ------------------------------------------------------------------------------------------


@pytest.mark.parametrize('key, message', [
    ('ScheduledProcedureStepSequence.Modality=CT', 'needs an item number'),
    ('PatientName[0].PatientID=x', 'PatientName is not a sequence'),
    ('(0040,0100)=CT', 'a sequence takes no value'),
    ('(0040,0100)[0]=x', 'an item takes no value'),
    ('Patient Name=x', 'is not a keyword, a tag'),
    ('PatientNmae=x', "unknown attribute 'PatientNmae'"),
    ('Rows=many', "'many' is not a valid US value"),
])
def test_bad_keys_are_one_line(dicom_scp, capsys, key, message):
    assert apps.findscu(['-k', key, *to(dicom_scp)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert dicom_scp.associations == []


def test_keys_without_a_value_and_empty_sequences():
    ds = app_findscu.build_query(None, ['PatientID', 'StudyInstanceUID=',
                                        'ReferencedStudySequence', 'Rows=512',
                                        '(0040,0100)[1].Modality=MR'], 'patient')
    assert ds.QueryRetrieveLevel == 'STUDY'
    assert ds['PatientID'].is_empty and ds['StudyInstanceUID'].is_empty
    assert ds['ReferencedStudySequence'].VR == 'SQ' and len(ds.ReferencedStudySequence) == 0
    assert ds.Rows == 512
    assert len(ds.ScheduledProcedureStepSequence) == 2  # item 0 made before item 1
    assert ds.ScheduledProcedureStepSequence[1].Modality == 'MR'
    level = app_findscu.build_query(None, ['QueryRetrieveLevel=series'], 'study')
    assert level.QueryRetrieveLevel == 'SERIES'


# --- --cancel ------------------------------------------------------------------------------------


def test_cancel_after_n_responses(capsys):
    with serving(Endless()) as scp:
        assert apps.findscu(['--cancel', '3', '-k', 'StudyID', *to(scp)]) == 0
        assert scp.closed.wait(BOUND_SECONDS)  # the C-CANCEL-RQ closed its iterator
    out = capsys.readouterr().out
    count = int(out.strip().splitlines()[-1].split()[0])
    # Matches sent before the C-CANCEL-RQ arrived are received and counted too.
    assert count >= 3 and '# match 3' in out


def test_cancel_needs_a_positive_number(capsys):
    with pytest.raises(SystemExit) as done:
        apps.findscu(['--cancel', '0', '127.0.0.1', '104'])
    assert done.value.code == 2
    assert 'give 1 or more responses' in capsys.readouterr().err


def test_a_final_failure_is_an_error(capsys):
    class Broken(ae.AE):
        def __init__(self) -> None:
            super().__init__('BROKEN', 0, host='127.0.0.1')
            self.add_scp(sc.qr_find_scp)

        def on_receive_find(self, context, ds):
            yield None, statuses.C_FIND_UNABLE_TO_PROCESS

    with serving(Broken()) as scp:
        assert apps.findscu(['-k', 'StudyID', *to(scp)]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == '0 match(es)'
    assert captured.err.startswith('E: C-FIND ended with')


def test_help_spells_the_flags_as_dcmtk(capsys):
    with pytest.raises(SystemExit):
        apps.findscu(['--help'])
    out = capsys.readouterr().out
    for flag in ('-W, --worklist', '-X, --extract', '--cancel [n]umber', '-od',
                 '[dcmfile-in ...]'):
        assert flag in out, flag
