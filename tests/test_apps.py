"""The DCMTK-style tools of :mod:`pynetdicom2.apps`: echoscu, storescu, storescp.

In process, against the plugin's loopback SCP and against ``storescp`` run in a thread:
DCMTK's flag spellings, the summary and exit codes of storescu, directory scanning (``+sd``,
``+r``), storescp's atomic ``<SOPInstanceUID>.dcm`` files and calling AE title list, and
one-line errors. DCMTK's own tools against these are in ``interop/test_dcmtk_apps.py``.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest

from pynetdicom2 import apps, toolsupport
from pynetdicom2.exceptions import AssociationRejectedError
from pynetdicom2.filestorage import TemplateNaming
from pynetdicom2.loopback import make_dataset, make_study, write_dataset


def peer(scp) -> list[str]:
    return ['-aec', scp.ae_title, '-to', '5', '-ta', '5', '-td', '5', scp.address, str(scp.port)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def test_echoscu(dicom_scp, capsys):
    assert apps.echoscu(['-aet', 'MYSCU', '--repeat', '3', *peer(dicom_scp)]) == 0
    assert [r.command for r in dicom_scp.requests] == ['C-ECHO'] * 3
    assert dicom_scp.associations[0].calling_aet == 'MYSCU'
    assert capsys.readouterr().err == ''


def test_echoscu_errors_are_one_line(dicom_scp, capsys):
    assert apps.echoscu(['-aec', 'WRONG', '-ta', '5', '127.0.0.1', str(dicom_scp.port)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('E: association rejected') and '-aec' in err[0]
    assert apps.echoscu(['-to', '5', '127.0.0.1', str(free_port())]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'cannot connect' in err[0]


def test_echoscu_debug_raises(dicom_scp):
    with pytest.raises(AssociationRejectedError):
        apps.echoscu(['-d', '-aec', 'WRONG', '127.0.0.1', str(dicom_scp.port)])


def test_storescu_files_and_directories(dicom_scp, tmp_path, capsys):
    top = tmp_path / 'in'
    nested = top / 'series2'
    nested.mkdir(parents=True)
    study = make_study(2, 2)
    for ds in study[:2]:
        write_dataset(ds, top)
    for ds in study[2:]:
        write_dataset(ds, nested)
    (top / 'README').write_text('not DICOM')

    assert apps.storescu([*peer(dicom_scp), str(top)]) == 1  # a directory needs +sd
    err = capsys.readouterr().err
    assert '+sd' in err and 'E: no input files to be sent' in err

    # As DCMTK's storescu, a file that is not DICOM halts the run (here: before sending).
    assert apps.storescu(['+sd', *peer(dicom_scp), str(top)]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == 'sent 0, failed 0, skipped 1, not sent 2'
    assert 'README: not a DICOM Part-10 file: nothing sent (-nh skips such files)' in captured.err
    assert dicom_scp.stored_files() == []

    assert apps.storescu(['+sd', '-nh', *peer(dicom_scp), str(top)]) == 1  # README not stored
    captured = capsys.readouterr()
    assert captured.out.strip() == 'sent 2, failed 0, skipped 1'
    assert 'W: skipped' in captured.err and 'README: not a DICOM Part-10 file' in captured.err

    (top / 'README').unlink()
    assert apps.storescu(['+sd', '+r', *peer(dicom_scp), str(top)]) == 0
    assert capsys.readouterr().out.strip() == 'sent 4, failed 0, skipped 0'
    assert len(dicom_scp.stored_files()) == 4


def test_storescu_failures_set_the_exit_code(dicom_scp, tmp_path, capsys):
    path = write_dataset(make_dataset('1.2.3.4.5.6'), tmp_path)  # a class nobody knows
    assert apps.storescu([*peer(dicom_scp), str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == 'sent 0, failed 1, skipped 0'
    assert 'refused 1.2.3.4.5.6' in captured.err


@pytest.fixture
def storescp_thread(tmp_path):
    """Run apps.storescp in a thread; yield (scp AE, output dir, extra argv setter)."""
    started = []

    def start(*argv: str):
        ready = threading.Event()

        def on_ready(scp):
            started.append(scp)
            ready.set()

        thread = threading.Thread(
            target=apps.storescp, args=([*argv, '0'],), kwargs={'ready': on_ready},
            name='pynetdicom2-test-storescp',
        )
        thread.start()
        assert ready.wait(10), 'storescp did not start'
        started.append(thread)
        return started[-2]

    yield start
    for item in started:
        if isinstance(item, threading.Thread):
            continue
        item.quit()
    for item in started:
        if isinstance(item, threading.Thread):
            item.join(10)
            assert not item.is_alive()


def test_storescp_receives_into_od(storescp_thread, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    scp = storescp_thread('-aet', 'STORESCP', '-od', str(out), '--bind', '127.0.0.1')
    study = make_study(1, 3)
    files = [write_dataset(ds, tmp_path) for ds in study]
    argv = ['-aec', 'STORESCP', '127.0.0.1', str(scp.local_ae.port)]
    assert apps.echoscu(argv) == 0
    assert apps.storescu([*argv[:2], *argv[2:], *map(str, files)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f'{ds.SOPInstanceUID}.dcm'
                                                           for ds in study)


def test_storescp_accepts_only_listed_calling_aets(storescp_thread, tmp_path, capsys):
    scp = storescp_thread('-od', str(tmp_path), '--accept', 'GOOD', '--bind', '127.0.0.1')
    port = str(scp.local_ae.port)
    assert apps.echoscu(['-aet', 'GOOD', '-aec', 'STORESCP', '127.0.0.1', port]) == 0
    assert apps.echoscu(['-aet', 'BAD', '-aec', 'STORESCP', '127.0.0.1', port]) == 1
    assert 'reason 3' in capsys.readouterr().err


def test_storescp_missing_output_directory(tmp_path, capsys):
    assert apps.storescp(['-od', str(tmp_path / 'nope'), '0']) == 1
    assert capsys.readouterr().err.strip() == f'E: -od {tmp_path / "nope"}: no such directory'


@pytest.mark.parametrize('tool', [apps.echoscu, apps.storescu, apps.storescp, apps.findscu,
                                  apps.movescu, apps.getscu])
def test_help_reads_like_dcmtk(tool, capsys):
    with pytest.raises(SystemExit) as done:
        tool(['--help'])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for flag in ('-aet', '-to', '-ta', '-td', '-pdu', '-v', '-d', 'network options'):
        assert flag in out


# --- findscu, movescu, getscu -------------------------------------------------------------------


def test_findscu(dicom_scp, capsys):
    dicom_scp.add(*make_study(1, 2, PatientID='P1', PatientName='Doe^Jane'))
    dicom_scp.add(*make_study(1, 1, PatientID='P2', PatientName='Roe^Rick'))
    assert apps.findscu(['-S', '-k', 'PatientName=Doe*', '-k', 'StudyInstanceUID=',
                         *peer(dicom_scp)]) == 0
    out = capsys.readouterr().out
    assert 'Doe^Jane' in out and 'Roe' not in out
    assert out.strip().endswith('1 match(es)')
    assert apps.findscu(['-P', '-k', 'QueryRetrieveLevel=PATIENT', '-k', 'PatientID=',
                         *peer(dicom_scp)]) == 0
    assert capsys.readouterr().out.strip().endswith('2 match(es)')
    assert dicom_scp.requests[-1].dataset.QueryRetrieveLevel == 'PATIENT'


def test_findscu_unknown_key_is_one_line(dicom_scp, capsys):
    assert apps.findscu(['-k', 'PatientNmae=x', *peer(dicom_scp)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown attribute 'PatientNmae'" in err[0]


def test_getscu(dicom_scp, tmp_path, capsys):
    study = make_study(1, 3)
    dicom_scp.add(*study)
    assert apps.getscu(['-k', f'StudyInstanceUID={study[0].StudyInstanceUID}',
                        '-od', str(tmp_path), *peer(dicom_scp)]) == 0
    assert 'completed 3, failed 0' in capsys.readouterr().out
    assert len(list(tmp_path.glob('*.dcm'))) == 3


def test_movescu_with_its_own_receiver(dicom_scp, tmp_path, capsys):
    study = make_study(1, 2, PatientID='P9')
    dicom_scp.add(*study)
    port = free_port()
    dicom_scp.destinations['WS1'] = {'aet': 'WS1', 'address': '127.0.0.1', 'port': port}
    assert apps.movescu(['-P', '-aem', 'WS1', '+P', str(port), '-od', str(tmp_path),
                         '-k', 'QueryRetrieveLevel=PATIENT', '-k', 'PatientID=P9',
                         *peer(dicom_scp)]) == 0
    assert 'C-MOVE to WS1: completed 2, failed 0' in capsys.readouterr().out
    assert len(list(tmp_path.glob('*.dcm'))) == 2


def test_movescu_to_an_unknown_destination_fails(dicom_scp, capsys):
    assert apps.movescu(['-aem', 'NOBODY', '-k', 'StudyInstanceUID=1.2.3',
                         *peer(dicom_scp)]) == 1
    assert 'E: C-MOVE ended with' in capsys.readouterr().err


def test_storescp_filepath_template(storescp_thread, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    scp = storescp_thread('-od', str(out), '--bind', '127.0.0.1', '--filepath',
                          '{PatientID}/{StudyInstanceUID}/{Modality}-{SOPInstanceUID}.dcm')
    ds = make_dataset(PatientID='../P/1', Modality='MR')
    path = write_dataset(ds, tmp_path)
    assert apps.storescu(['-aec', 'STORESCP', '127.0.0.1', str(scp.local_ae.port), str(path)]) == 0
    expected = out / '.._P_1' / ds.StudyInstanceUID / f'MR-{ds.SOPInstanceUID}.dcm'
    assert expected.is_file()
    assert [p for p in out.rglob('*') if p.is_file()] == [expected]


def test_filepath_template_stays_inside():
    ds = make_dataset(PatientID='..')
    assert TemplateNaming('{PatientID}/{Nonexistent}/x.dcm').render(ds).parts == ('_', '_',
                                                                                  'x.dcm')


def test_storescp_max_associations(storescp_thread, tmp_path, capsys):
    from pynetdicom2 import sopclass
    from pynetdicom2.applicationentity import ClientAE

    scp = storescp_thread('-od', str(tmp_path), '--bind', '127.0.0.1', '--max-associations', '1')
    port = scp.local_ae.port
    client = ClientAE('ONE').add_scu(sopclass.verification_scu)
    remote = {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': port}
    with client.request_association(remote):
        assert apps.echoscu(['-aec', 'STORESCP', '127.0.0.1', str(port)]) == 1
        assert 'result 2, source 3, reason 2' in capsys.readouterr().err


def test_dimse_timeout_also_bounds_an_idle_association_of_a_server():
    from pynetdicom2.applicationentity import AE

    parser = toolsupport.dcmtk_parser('pynetdicom2-storescp', 'test')
    toolsupport.add_network(parser, 'STORESCP')
    ns = parser.parse_args(['-td', '7'])
    server = toolsupport.configure(AE('SCP', 0, bind_and_activate=False), ns)
    try:
        assert (server.dcm_timeout, server.network_timeout) == (7, 7)
    finally:
        server.quit()


def test_storescp_bad_filepath_template_is_one_line(tmp_path, capsys):
    assert apps.storescp(['-od', str(tmp_path), '--filepath', '{0}/x.dcm', '0']) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("E: file name template '{0}/x.dcm'")


def test_a_connection_failure_is_told_by_its_type(monkeypatch, capsys):
    """The hint comes with ConnectionFailedError, whatever its text; not with other aborts."""
    from pynetdicom2.applicationentity import ClientAE
    from pynetdicom2.exceptions import AssociationAbortedError, ConnectionFailedError

    def failing(error):
        def request_association(self, remote):
            raise error
        return request_association

    monkeypatch.setattr(ClientAE, 'request_association',
                        failing(ConnectionFailedError(2, 0, 'no route to PACS')))
    assert apps.echoscu(['127.0.0.1', '104']) == 1
    assert capsys.readouterr().err.strip() == (
        'E: no route to PACS: check the peer and port, and that the peer is listening')
    monkeypatch.setattr(ClientAE, 'request_association',
                        failing(AssociationAbortedError(2, 0, 'cannot connect, said the peer')))
    assert apps.echoscu(['127.0.0.1', '104']) == 1
    assert capsys.readouterr().err.strip() == 'E: cannot connect, said the peer'


def test_storescp_fsync_makes_success_durable(storescp_thread, tmp_path, monkeypatch):
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, 'fsync', lambda fd: (synced.append(fd), real_fsync(fd))[1])
    out = tmp_path / 'out'
    out.mkdir()
    scp = storescp_thread('-od', str(out), '--bind', '127.0.0.1', '--fsync')
    assert scp.fsync
    path = write_dataset(make_dataset(), tmp_path)
    assert apps.storescu(['-aec', 'STORESCP', '127.0.0.1', str(scp.local_ae.port), str(path)]) == 0
    assert len(synced) == 2  # the file, then its directory


def test_storescu_reports_a_truncated_file_and_with_nh_sends_the_others(dicom_scp, tmp_path,
                                                                        capsys):
    paths = [write_dataset(make_dataset(), tmp_path) for _ in range(3)]
    paths[1].write_bytes(paths[1].read_bytes()[:-5])
    assert apps.storescu(['-nh', *peer(dicom_scp), *map(str, paths)]) == 1
    captured = capsys.readouterr()
    assert str(paths[1]) in captured.err and 'cut short' in captured.err
    assert captured.out.strip() == 'sent 2, failed 1, skipped 0'
    assert len(dicom_scp.stored_files()) == 2


def test_storescu_halts_at_a_truncated_file(dicom_scp, tmp_path, capsys):
    paths = [write_dataset(make_dataset(), tmp_path) for _ in range(3)]
    paths[1].write_bytes(paths[1].read_bytes()[:-5])
    assert apps.storescu([*peer(dicom_scp), *map(str, paths)]) == 1
    captured = capsys.readouterr()
    assert 'cut short' in captured.err and 'halted' in captured.err
    assert captured.out.strip() == 'sent 1, failed 1, skipped 0, not sent 1'
    assert len(dicom_scp.stored_files()) == 1


def test_getscu_takes_keys_without_a_value_as_findscu_does(dicom_scp, tmp_path, capsys):
    study = make_study(1, 2)
    dicom_scp.add(*study)
    assert apps.getscu(['-k', f'StudyInstanceUID={study[0].StudyInstanceUID}', '-k', 'PatientID',
                        '-od', str(tmp_path), *peer(dicom_scp)]) == 0
    assert 'completed 2, failed 0' in capsys.readouterr().out
    assert dicom_scp.requests[-1].dataset['PatientID'].is_empty
