"""The Q/R SCP of :mod:`pynetdicom2.qrscp`, in process: our client, our destinations.

Store, then find (Patient Root and Study Root, every level), move to a destination from the
INI file, get; the index surviving a restart; the command line's options and one-line errors.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest

from pynetdicom2 import apps, uids
from pynetdicom2.exceptions import AssociationRejectedError, NetDICOMError
from pynetdicom2.filestorage import StudySeriesNaming
from pynetdicom2.loopback import LoopbackClient, LoopbackSCP, make_study, query, write_dataset
from pynetdicom2.qrscp import QRSCP, load_destinations, qrscp

TIMEOUT = 10.0


@pytest.fixture
def pacs(tmp_path):
    """A QRSCP on 127.0.0.1 (port 0) over tmp_path/pacs; a move destination 'DEST'."""
    with LoopbackSCP(tmp_path / 'dest', 'DEST') as dest:
        scp = QRSCP(tmp_path / 'pacs', 'PACS', 0, host='127.0.0.1',
                    destinations={'DEST': dest.remote})
        with scp:
            yield scp, dest
        scp.quit()


def client(scp: QRSCP, tmp_path, aet: str = 'SCU') -> LoopbackClient:
    remote = {'aet': 'PACS', 'address': '127.0.0.1', 'port': scp.local_ae.port}
    return LoopbackClient(remote, tmp_path / 'client', aet)


def test_echo_store_find_move_get(pacs, tmp_path):
    scp, dest = pacs
    scu = client(scp, tmp_path)
    assert scu.echo().is_success
    study = make_study(2, 2, PatientID='P1', PatientName='Doe^Jane', StudyDate='20240115')
    other = make_study(1, 1, PatientID='P2', PatientName='Roe^Rick', StudyDate='20230101')
    assert all(status.is_success for status in scu.store(*study, *other))
    assert len(scp.db) == 5
    assert sorted(p.name for p in scp.storage_dir.glob('*.dcm')) == sorted(
        f'{ds.SOPInstanceUID}.dcm' for ds in study + other)

    # C-FIND, Study Root: wildcard and range (PS3.4 C.2.2.2.4, C.2.2.2.5).
    found = scu.find(query('STUDY', PatientName='Doe*', StudyDate='20240101-',
                           StudyInstanceUID=''))
    assert [m.StudyInstanceUID for m in found] == [study[0].StudyInstanceUID]
    # Patient Root, PATIENT and SERIES levels.
    patients = scu.find(query('PATIENT', PatientID='', PatientName=''),
                        uids.PATIENT_ROOT_FIND_SOP_CLASS)
    assert sorted(str(m.PatientName) for m in patients) == ['Doe^Jane', 'Roe^Rick']
    series = scu.find(query('SERIES', PatientID='P1', StudyInstanceUID=study[0].StudyInstanceUID,
                            SeriesInstanceUID=''), uids.PATIENT_ROOT_FIND_SOP_CLASS)
    assert len(series) == 2

    # C-MOVE to the configured destination.
    moved = scu.move(query('STUDY', StudyInstanceUID=study[0].StudyInstanceUID), 'DEST')
    assert (moved.num_of_completed_sub_ops, moved.num_of_failed_sub_ops) == (4, 0)
    assert {ds.SOPInstanceUID for ds in dest.received} == {ds.SOPInstanceUID for ds in study}

    # C-GET back on the same association, Patient Root IMAGE level.
    got = scu.get(query('IMAGE', PatientID='P2', StudyInstanceUID=other[0].StudyInstanceUID,
                        SeriesInstanceUID=other[0].SeriesInstanceUID,
                        SOPInstanceUID=other[0].SOPInstanceUID), uids.PATIENT_ROOT_GET_SOP_CLASS)
    assert (got.num_of_completed_sub_ops, got.num_of_failed_sub_ops) == (1, 0)
    assert (tmp_path / 'client' / f'{other[0].SOPInstanceUID}.dcm').exists()


def test_failures_are_dicom_statuses(pacs, tmp_path):
    scp, _ = pacs
    scu = client(scp, tmp_path)
    scu.store(*make_study(1, 1, PatientID='P1'))
    with pytest.raises(NetDICOMError, match='C-FIND ended with'):  # C.6.2: no PATIENT level
        scu.find(query('PATIENT', PatientID=''))
    with pytest.raises(NetDICOMError, match='C-MOVE to .* ended with'):  # unknown destination
        scu.move(query('PATIENT', PatientID='P1'), 'NOWHERE', uids.PATIENT_ROOT_MOVE_SOP_CLASS)


def test_index_is_built_from_the_folder_and_kept(tmp_path):
    folder = tmp_path / 'pacs'
    folder.mkdir()
    for ds in make_study(1, 3, PatientID='ONDISK'):
        write_dataset(ds, folder)
    db_path = tmp_path / 'elsewhere.sqlite'
    scp = QRSCP(folder, 'PACS', 0, host='127.0.0.1', db_path=db_path)
    try:
        assert scp.wait_indexed(TIMEOUT)  # indexed in the background
        assert len(scp.db) == 3 and db_path.exists()
        with scp:
            found = client(scp, tmp_path).find(query('STUDY', PatientID='ONDISK',
                                                     StudyInstanceUID=''))
        assert len(found) == 1
    finally:
        scp.quit()
    assert not (folder / 'index.sqlite').exists()


def test_calling_aet_list_and_association_limit(tmp_path):
    scp = QRSCP(tmp_path / 'pacs', 'PACS', 0, host='127.0.0.1', accept=['GOOD'])
    try:
        with scp:
            assert client(scp, tmp_path, 'GOOD').echo().is_success
            with pytest.raises(AssociationRejectedError) as rejected:
                client(scp, tmp_path, 'BAD').echo()
            assert rejected.value.diagnostic == 3
    finally:
        scp.quit()
    # A fresh server: the threads of the associations above may still be ending, and count.
    busy_scp = QRSCP(tmp_path / 'pacs', 'PACS', 0, host='127.0.0.1')
    busy_scp.maximum_associations = 1
    try:
        with busy_scp:
            with client(busy_scp, tmp_path, 'GOOD').associate():
                with pytest.raises(AssociationRejectedError) as busy:
                    client(busy_scp, tmp_path, 'GOOD').echo()
                assert busy.value.result == 2
    finally:
        busy_scp.quit()


# --- destinations file --------------------------------------------------------------------------


def test_load_destinations(tmp_path):
    ini = tmp_path / 'dest.ini'
    ini.write_text('[destinations]\nWs1 = 127.0.0.1:11113\nVIEWER = viewer.local:104\n')
    found = load_destinations(ini)
    assert set(found) == {'Ws1', 'VIEWER'}
    assert (found['VIEWER'].address, found['VIEWER'].port) == ('viewer.local', 104)


@pytest.mark.parametrize(('text', 'message'), [
    ('[other]\nA = h:1\n', 'no [destinations] section'),
    ('[destinations]\nA = nohost\n', "destination A: 'nohost' is not host:port"),
    ('[destinations]\nA = h:99999\n', 'is not host:port'),
    ('[destinations]\nA_TITLE_FAR_TOO_LONG = h:1\n', 'is not an AE title'),
    ('no section\n', 'not an INI file'),
])
def test_bad_destinations(tmp_path, text, message):
    ini = tmp_path / 'dest.ini'
    ini.write_text(text)
    with pytest.raises(ValueError, match=message.replace('[', r'\[')) as raised:
        load_destinations(ini)
    assert str(raised.value).startswith(f'--destinations {ini}: ')  # names the file to fix


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def run_qrscp():
    """Run qrscp() in a thread; return its QRSCP once it listens; quit and join at the end."""
    running: list[tuple[QRSCP, threading.Thread]] = []

    def start(*argv: str) -> QRSCP:
        ready = threading.Event()
        started: list[QRSCP] = []

        def on_ready(scp: QRSCP) -> None:
            started.append(scp)
            ready.set()

        thread = threading.Thread(target=qrscp, args=([*argv, '--bind', '127.0.0.1', '0'],),
                                  kwargs={'ready': on_ready}, name='pynetdicom2-test-qrscp')
        thread.start()
        assert ready.wait(TIMEOUT), 'qrscp did not start'
        running.append((started[0], thread))
        return started[0]

    yield start
    for scp, thread in running:
        scp.quit()
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def test_cli_serves_and_moves(run_qrscp, tmp_path):
    with LoopbackSCP(tmp_path / 'dest', 'DEST') as dest:
        ini = tmp_path / 'dest.ini'
        ini.write_text(f'[destinations]\nDEST = 127.0.0.1:{dest.port}\n')
        (tmp_path / 'pacs').mkdir()
        scp = run_qrscp('-aet', 'PACS', '-od', str(tmp_path / 'pacs'), '--destinations',
                        str(ini), '--db', str(tmp_path / 'i.sqlite'), '-ta', '5')
        port = str(scp.local_ae.port)
        assert apps.echoscu(['-aec', 'PACS', '127.0.0.1', port]) == 0
        study = make_study(1, 2, PatientID='CLI')
        client(scp, tmp_path).store(*study)
        assert apps.movescu(['-aec', 'PACS', '-aem', 'DEST', '-S', '-k', 'QueryRetrieveLevel=STUDY',
                             '-k', f'StudyInstanceUID={study[0].StudyInstanceUID}',
                             '127.0.0.1', port]) == 0
        assert len(dest.received) == 2


def test_cli_fsync_syncs_each_stored_file_and_its_directory(run_qrscp, tmp_path, monkeypatch):
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, 'fsync', lambda fd: (synced.append(fd), real_fsync(fd))[1])
    (tmp_path / 'pacs').mkdir()
    scp = run_qrscp('-od', str(tmp_path / 'pacs'), '--fsync')
    assert scp.fsync
    client(scp, tmp_path).store(*make_study(1, 2))
    assert len(synced) == 4  # each file, then its directory


def test_cli_help_reads_like_dcmtk(capsys):
    with pytest.raises(SystemExit) as done:
        qrscp(['--help'])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for flag in ('-aet', '-od', '--storage-dir', '--db', '--destinations', '--max-associations',
                 '-v', '-d', 'network options'):
        assert flag in out


def test_cli_missing_directory(tmp_path, capsys):
    assert qrscp(['-od', str(tmp_path / 'nope'), '0']) == 1
    assert capsys.readouterr().err.strip() == f'E: -od {tmp_path / "nope"}: no such directory'


def test_cli_bad_destinations(tmp_path, capsys):
    assert qrscp(['-od', str(tmp_path), '--destinations', str(tmp_path / 'none.ini'), '0']) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith('E: --destinations') and '\n' not in err


def test_cli_port_in_use(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert qrscp(['-od', str(tmp_path), '--bind', '127.0.0.1', str(port)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'E: cannot listen on port {port}:') and '\n' not in err


def test_cli_bad_database(tmp_path, capsys):
    assert qrscp(['-od', str(tmp_path), '--db', str(tmp_path / 'no' / 'x.sqlite'),
                  '--bind', '127.0.0.1', '0']) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith('E: cannot open the index database') and '\n' not in err


def test_stores_replace_and_another_naming_policy_is_indexed_too(tmp_path):
    scp = QRSCP(tmp_path / 'pacs', 'PACS', 0, host='127.0.0.1')
    try:
        with scp:
            scu = client(scp, tmp_path)
            first = make_study(1, 1, PatientID='P1')
            scu.store(*first, *first)  # the same instance twice: one file, one row
            assert [p.name for p in scp.storage_dir.glob('*.dcm')] == [
                f'{first[0].SOPInstanceUID}.dcm']
            scp.file_naming = StudySeriesNaming(replace=True)
            second = make_study(1, 2, PatientID='P2')
            scu.store(*second)
            found = scu.find(query('IMAGE', PatientID='P2', SOPInstanceUID=''),
                             uids.PATIENT_ROOT_FIND_SOP_CLASS)
            assert len(found) == 2 and len(scp.db) == 3
            folder = scp.storage_dir / second[0].StudyInstanceUID / second[0].SeriesInstanceUID
            assert sorted(p.name for p in folder.iterdir()) == sorted(
                f'{ds.SOPInstanceUID}.dcm' for ds in second)
    finally:
        scp.quit()
