"""What the command-line tools share (:mod:`pynetdicom2.toolsupport`): query keys, sending
files, DCMTK's network options and error lines, listening, serving until stopped."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from pynetdicom2 import toolsupport
from pynetdicom2.applicationentity import ClientAE
from pynetdicom2.exceptions import AssociationRejectedError, ConnectionFailedError
from pynetdicom2.loopback import LoopbackSCP, make_dataset, make_study, write_dataset


def test_build_identifier():
    ds = toolsupport.build_identifier(['PatientName=Doe*', '0020,000D=', 'SeriesNumber=4'],
                                      'series', 'ISO_IR 192')
    assert (ds.QueryRetrieveLevel, ds.SpecificCharacterSet) == ('SERIES', 'ISO_IR 192')
    assert ds.PatientName == 'Doe*' and ds.StudyInstanceUID in ('', None)
    assert ds.SeriesNumber == 4
    with pytest.raises(ValueError, match='not KEY=VALUE'):
        toolsupport.build_identifier(['PatientName'])


def test_collect_files(tmp_path):
    (tmp_path / 'sub').mkdir()
    for name in ('b', 'a', 'sub/c'):
        (tmp_path / name).touch()
    assert [p.name for p in toolsupport.collect_files([str(tmp_path)])] == ['a', 'b', 'c']
    assert [p.name for p in toolsupport.collect_files([str(tmp_path)], recurse=False)] == [
        'a', 'b']
    with pytest.raises(toolsupport.ToolError, match=r'is a directory: use \+sd'):
        toolsupport.collect_files([str(tmp_path)], scan_directories=False)
    with pytest.raises(toolsupport.ToolError, match='cannot read .*: no such file'):
        toolsupport.collect_files([str(tmp_path / 'nope')])


def test_store_run_skips_sends_and_counts(tmp_path):
    good = [write_dataset(ds, tmp_path) for ds in make_study(1, 2)]
    unknown = write_dataset(make_dataset('1.2.3.4.5.6'), tmp_path)  # a class nobody knows
    (tmp_path / 'notes.txt').write_text('not DICOM')
    run = toolsupport.StoreRun([*good, unknown, tmp_path / 'notes.txt', tmp_path / 'gone'])
    assert [(p.name, reason.split(':')[0]) for p, reason in run.skipped] == [
        ('notes.txt', 'not a DICOM Part-10 file'), ('gone', 'cannot read it')]
    assert sorted(run.files) == sorted([*good, unknown])
    with LoopbackSCP(tmp_path / 'pacs') as scp:
        outcomes = list(run.send(lambda ts: ClientAE('SCU', [ts]), scp.remote))
    assert sorted((path.name, stored) for path, stored, _ in outcomes) == sorted(
        [(good[0].name, True), (good[1].name, True), (unknown.name, False)])
    assert [detail for path, _, detail in outcomes if path == unknown] == [
        'peer refused 1.2.3.4.5.6 in 1.2.840.10008.1.2.1']
    assert run.summary() == 'sent 2, failed 1, skipped 2'


def test_store_run_opens_an_association_per_128_classes(tmp_path, monkeypatch):
    monkeypatch.setattr(toolsupport, 'MAX_CONTEXTS', 2)
    classes = ['1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.5.1.4.1.1.4',
               '1.2.840.10008.5.1.4.1.1.7']
    files = [write_dataset(make_dataset(sop_class), tmp_path) for sop_class in classes]
    with LoopbackSCP(tmp_path / 'pacs') as scp:
        run = toolsupport.StoreRun(files)
        assert all(stored for _, stored, _ in run.send(lambda ts: ClientAE('SCU', [ts]),
                                                         scp.remote))
        assert len(scp.associations) == 2


def dcmtk_args(*argv: str):
    parser = toolsupport.dcmtk_parser('tool', 'test')
    toolsupport.add_network(parser, 'TOOL')
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(('error', 'line'), [
    (ConnectionFailedError(2, 0, 'cannot connect to h:1: refused'),
     'E: cannot connect to h:1: refused: check the peer and port, and that the peer is '
     'listening'),
    (AssociationRejectedError(1, 1, 7),
     'E: association rejected by PEER (result 1, source 1, reason 7): check -aec, and that '
     'the peer accepts our -aet'),
    (toolsupport.ToolError('-od x: no such directory'), 'E: -od x: no such directory'),
    (ValueError("unknown attribute 'X'"), "E: unknown attribute 'X'"),
    (KeyError('k'), "E: unexpected KeyError: 'k' (use -d for the traceback)"),
])
def test_run_dcmtk_error_lines(error, line, capsys):
    def body() -> int:
        raise error

    assert toolsupport.run_dcmtk(dcmtk_args(), 'PEER', body) == 1
    assert capsys.readouterr().err.strip() == line
    with pytest.raises(type(error)):
        toolsupport.run_dcmtk(dcmtk_args('-d'), 'PEER', body)


def test_run_dcmtk_logs_at_the_level_asked_and_puts_logging_back(capsys):
    package = logging.getLogger('pynetdicom2')
    before = package.handlers[:], package.level, package.propagate

    def body() -> int:
        logging.getLogger('pynetdicom2.test').info('progress')
        return 0

    assert toolsupport.run_dcmtk(dcmtk_args('-v'), 'PEER', body) == 0
    assert capsys.readouterr().err == 'I: progress\n'
    assert toolsupport.run_dcmtk(dcmtk_args(), 'PEER', body) == 0
    assert capsys.readouterr().err == ''
    assert (package.handlers[:], package.level, package.propagate) == before


def test_listen_errors_and_directories(tmp_path):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(toolsupport.ToolError, match=f'cannot listen on port {port}: '):
            with toolsupport.listen_errors(port):
                with socket.socket() as second:
                    second.bind(('127.0.0.1', port))
    with pytest.raises(OSError, match='plain'), toolsupport.listen_errors(1):
        raise OSError('plain')  # no errno: not a listening failure, passed on
    assert toolsupport.existing_directory(str(tmp_path)) == str(tmp_path)
    with pytest.raises(toolsupport.ToolError, match='^-od .*nope: no such directory$'):
        toolsupport.existing_directory(str(tmp_path / 'nope'))


def test_serve_until_stopped_quits_the_scp(tmp_path):
    scp = LoopbackSCP(tmp_path)
    ready = threading.Event()
    thread = threading.Thread(
        target=toolsupport.serve_until_stopped,
        args=(scp, lambda ae: ready.set(), 'serving %s', 'test'), name='test-serve')
    thread.start()
    assert ready.wait(10)
    scp.quit()
    thread.join(10)
    assert not thread.is_alive()


def test_move_receiver(tmp_path):
    with toolsupport.move_receiver(str(tmp_path), 'WS1', None) as nothing:
        assert nothing is None
    receiver = toolsupport.move_receiver(str(tmp_path), 'WS1', 0)
    try:
        assert receiver.ae_title == 'WS1' and receiver.storage_dir == tmp_path
    finally:
        receiver.quit()
