"""``pynetdicom2-storescp`` (:mod:`pynetdicom2.app_storescp`) and the called-AE-title option of
``pynetdicom2-qrscp``, in process (the servers run in a thread of the test).

* ``-su`` sorts studies into ``PREFIX_<StudyInstanceUID>`` folders, ``-fe`` sets the file
  name extension; ``--filepath`` does not combine with them; bad values fail at start;
* ``-xcr`` runs its command for each file with DCMTK's placeholders, as an argument list
  (a calling AE title full of shell syntax arrives as it was sent), in a background thread:
  receiving goes on while a command runs; the commands still queued run when the tool stops;
* an ``-od`` that cannot be written to stops the tool at start;
* the calling AE title is in the file meta, (0002,0016) Source Application Entity Title;
* ``--require-called-aet`` rejects a wrong called AE title (A-ASSOCIATE-RJ 1/1/7), for
  storescp and qrscp.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from pynetdicom2 import app_storescp, apps, qrscp
from pynetdicom2.loopback import make_dataset, make_study, write_dataset

#: Every wait of these tests (a server starting, a command connecting back) ends within this.
WAIT = 10.0

RECORD = """\
import json, socket, sys
log, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if port:  # wait until the test lets this run end
    with socket.create_connection((host, port), timeout=30) as gate:
        gate.recv(1)
with open(log, 'a', encoding='utf-8') as fp:
    fp.write(json.dumps(sys.argv[4:]) + '\\n')
"""


@pytest.fixture
def serve_tool() -> Iterator[Callable[..., Any]]:
    """``serve_tool(tool, *argv)``: run ``tool(argv + ['0'])`` (storescp or qrscp) in a thread
    until the test ends; returns the AE once it listens."""
    running: list[tuple[Any, threading.Thread]] = []

    def start(tool: Callable[..., int], *argv: str) -> Any:
        ready = threading.Event()
        started: list[Any] = []

        def on_ready(scp: Any) -> None:
            started.append(scp)
            ready.set()

        thread = threading.Thread(target=tool, args=([*argv, '--bind', '127.0.0.1', '0'],),
                                  kwargs={'ready': on_ready}, name='test-tool-server')
        thread.start()
        assert ready.wait(WAIT), 'the server did not start'
        running.append((started[0], thread))
        return started[0]

    yield start
    for scp, thread in running:
        scp.quit()
        thread.join(WAIT)
        assert not thread.is_alive()


def send(scp: Any, *files: Path, aet: str = 'MODALITY', aec: str | None = None) -> int:
    return apps.storescu(['-aet', aet, '-aec', aec or scp.ae_title, '-to', '5', '-ta', '5',
                          '-td', '5', '127.0.0.1', str(scp.local_ae.port), *map(str, files)])


def files_under(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob('*')
                  if p.is_file())


# --- -su, -fe -----------------------------------------------------------------------------------


def test_sort_on_study_uid(serve_tool, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    first, second = make_study(1, 2), make_study(1, 1)
    files = [write_dataset(ds, tmp_path) for ds in first + second]
    scp = serve_tool(apps.storescp, '-od', str(out), '-su', 'IN')
    assert send(scp, *files) == 0
    assert files_under(out) == sorted(
        f'IN_{ds.StudyInstanceUID}/{ds.SOPInstanceUID}.dcm' for ds in first + second)


def test_sort_on_study_uid_with_an_empty_prefix_and_an_extension(serve_tool, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    ds = make_dataset()
    scp = serve_tool(apps.storescp, '-od', str(out), '-su', '', '-fe', '.img')
    assert send(scp, write_dataset(ds, tmp_path)) == 0
    assert files_under(out) == [f'{ds.StudyInstanceUID}/{ds.SOPInstanceUID}.img']


def test_a_data_set_without_a_study_uid_is_refused_by_su(serve_tool, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    ds = make_dataset()
    del ds.StudyInstanceUID
    scp = serve_tool(apps.storescp, '-od', str(out), '-su', 'IN')
    assert send(scp, write_dataset(ds, tmp_path)) == 0xC0  # cannot understand
    assert files_under(out) == []


@pytest.mark.parametrize('extension, name', [('.img', '{uid}.img'), ('', '{uid}')])
def test_filename_extension(serve_tool, tmp_path, extension, name):
    out = tmp_path / 'out'
    out.mkdir()
    ds = make_dataset()
    scp = serve_tool(apps.storescp, '-od', str(out), '-fe', extension)
    assert send(scp, write_dataset(ds, tmp_path)) == 0
    assert files_under(out) == [name.format(uid=ds.SOPInstanceUID)]


@pytest.mark.parametrize('argv, message', [
    (['--filepath', '{SOPInstanceUID}.dcm', '-su', 'X'], '--filepath names the whole path'),
    (['-su', 'a/b'], "-su 'a/b': use only letters"),
    (['-fe', '.d/cm'], "-fe '.d/cm': use only letters"),
    (['-xcr', 'no-such-program-pynetdicom2 #f'], "cannot run 'no-such-program-pynetdicom2'"),
    (['-xcr', 'echo "unbalanced'], '-xcr \'echo "unbalanced\': No closing quotation'),
    (['-xcr', ''], '-xcr: the command is empty'),
])
def test_bad_options_fail_at_start_with_one_line(tmp_path, capsys, argv, message):
    assert apps.storescp(['-od', str(tmp_path), *argv, '0']) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('E: ') and message in err[0], err


# --- -od ----------------------------------------------------------------------------------------


def test_an_output_directory_that_cannot_be_written_is_refused(capsys):
    if not os.path.isdir('/sys') or _can_create_in('/sys'):
        pytest.skip('no read-only directory here (/sys) to test with')
    assert apps.storescp(['-od', '/sys', '0']) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('E: -od /sys: not writable'), err


@pytest.mark.skipif(hasattr(os, 'geteuid') and os.geteuid() == 0,
                    reason='root writes to any directory, whatever its mode')
def test_an_output_directory_without_write_permission_is_refused(tmp_path, capsys):
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert apps.storescp(['-od', str(locked), '0']) == 1
    finally:
        locked.chmod(stat.S_IRWXU)
    assert 'not writable' in capsys.readouterr().err


def _can_create_in(directory: str) -> bool:
    try:
        with open(os.path.join(directory, '.pynetdicom2-probe'), 'x'):
            pass
    except OSError:
        return False
    os.unlink(os.path.join(directory, '.pynetdicom2-probe'))
    return True


# --- -xcr ---------------------------------------------------------------------------------------


def record_command(tmp_path: Path, gate_port: int = 0) -> tuple[str, Path]:
    """A -xcr command that appends its arguments (after the fourth) as a JSON line to a log;
    with ``gate_port`` it first waits until the test answers its connection."""
    script = tmp_path / 'record.py'
    script.write_text(RECORD)
    log = tmp_path / 'commands.log'
    command = ' '.join(shlex.quote(str(part)) for part in
                       (sys.executable, script, log, '127.0.0.1', gate_port))
    return command, log


def test_exec_on_reception_substitutes_the_placeholders_per_argument(serve_tool, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    command, log = record_command(tmp_path)
    ds = make_dataset()
    scp = serve_tool(apps.storescp, '-aet', 'STORESCP', '-od', str(out), '-su', 'S', '-xcr',
                     command + ' #p #f #a #c #r "file #f from #a" ";#a" #x')
    shell_syntax = '$(touch pwn);`x`'  # a valid AE title (16 characters, no backslash)
    assert send(scp, write_dataset(ds, tmp_path), aet=shell_syntax, aec='STORESCP') == 0
    scp.quit()  # runs the commands still queued
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    name = f'{ds.SOPInstanceUID}.dcm'
    assert runs == [[os.path.join(str(out), f'S_{ds.StudyInstanceUID}'), name, shell_syntax,
                     'STORESCP', '127.0.0.1', f'file {name} from {shell_syntax}',
                     f';{shell_syntax}', '#x']]
    assert not (tmp_path / 'pwn').exists() and not Path('pwn').exists()


def test_exec_on_reception_does_not_hold_up_receiving(serve_tool, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    with socket.create_server(('127.0.0.1', 0)) as gate:
        gate.settimeout(WAIT)
        command, log = record_command(tmp_path, gate.getsockname()[1])
        scp = serve_tool(apps.storescp, '-od', str(out), '-xcr', command + ' #f')
        study = make_study(1, 3)
        # The first command waits for the gate; the three files are received all the same.
        assert send(scp, *(write_dataset(ds, tmp_path) for ds in study)) == 0
        assert len(files_under(out)) == 3
        assert not log.exists()
        threads = [t.name for t in threading.enumerate()]
        assert 'pynetdicom2-storescp-exec' in threads
        for _ in study:  # let each run end, in turn
            connection, _ = gate.accept()
            with connection:
                connection.sendall(b'x')
                connection.settimeout(WAIT)
                assert connection.recv(1) == b''  # the command finished and closed it
        scp.quit()
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert runs == [[f'{ds.SOPInstanceUID}.dcm'] for ds in study]  # in order of reception


def test_reception_command_arguments_are_replaced_in_one_pass():
    command = app_storescp.ReceptionCommand('prog #a-#f', check=False)
    assert command.arguments_for({'#a': '#f', '#f': 'x.dcm'}) == ['prog', '#f-x.dcm']


def test_placeholders_of_a_file_in_the_output_directory(tmp_path):
    scp = app_storescp.StoreSCP(str(tmp_path), 'STORESCP', 0, bind_and_activate=False)
    try:
        values = scp.placeholders(tmp_path / '1.2.3.dcm',
                                  app_storescp.Peer('MOD', 'STORESCP', '10.0.0.7'))
    finally:
        scp.quit()
    assert values == {'#p': str(tmp_path), '#f': '1.2.3.dcm', '#a': 'MOD', '#c': 'STORESCP',
                      '#r': '10.0.0.7'}


# --- file meta ----------------------------------------------------------------------------------


def test_the_calling_ae_title_is_the_source_ae_title_of_the_file(serve_tool, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    ds = make_dataset()
    scp = serve_tool(apps.storescp, '-od', str(out))
    assert send(scp, write_dataset(ds, tmp_path), aet='MODALITY1') == 0
    meta = dcmread(out / f'{ds.SOPInstanceUID}.dcm').file_meta
    assert meta.SourceApplicationEntityTitle == 'MODALITY1'
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_received_files_honour_the_umask(serve_tool, tmp_path):
    expected = 0o666 & ~current_umask()
    if expected == 0o600:
        pytest.skip('this umask gives 0600 anyway')
    out = tmp_path / 'out'
    out.mkdir()
    ds = make_dataset()
    scp = serve_tool(apps.storescp, '-od', str(out))
    assert send(scp, write_dataset(ds, tmp_path)) == 0
    assert stat.S_IMODE((out / f'{ds.SOPInstanceUID}.dcm').stat().st_mode) == expected


# --- the called AE title ------------------------------------------------------------------------


@pytest.mark.parametrize('tool', [apps.storescp, qrscp.qrscp])
def test_require_called_aet(serve_tool, tmp_path, capsys, tool):
    def echo(scp: Any, aec: str) -> int:
        return apps.echoscu(['-aec', aec, '-to', '5', '-ta', '5', '127.0.0.1',
                             str(scp.local_ae.port)])

    for name in ('a', 'b'):
        (tmp_path / name).mkdir()
    relaxed = serve_tool(tool, '-aet', 'SCP', '-od', str(tmp_path / 'a'))
    assert echo(relaxed, 'ANYTHING') == 0
    strict = serve_tool(tool, '-aet', 'SCP', '-od', str(tmp_path / 'b'), '--require-called-aet')
    assert echo(strict, 'SCP') == 0
    capsys.readouterr()
    assert echo(strict, 'ANYTHING') == 1
    assert 'result 1, source 1, reason 7' in capsys.readouterr().err
