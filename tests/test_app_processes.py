"""The installed console scripts as separate processes, the way a user runs them.

``pynetdicom2-qrscp`` and ``pynetdicom2-storescp`` are started on port 0 of 127.0.0.1 with
``-v``; the port they chose is read from their "listening on" line (no sleeping, no polling).
Our SCUs (``pynetdicom2-storescu``, ``-findscu``, ``-movescu``, ``-getscu``, ``-echoscu``) are
run against them; SIGTERM must end a server with status 0 within a few seconds, leaving no
temporary file behind, and qrscp's SQLite index must survive a restart. The error paths (port
taken, no destinations file) end with one ``E:`` line and status 1 (a traceback with ``-d``).

DCMTK's tools against these processes are in ``interop/test_dcmtk_app_processes.py``, which
uses the helpers here (:func:`run_tool`, :class:`ServerProcess`).

Every process runs with a timeout and is killed (and reaped) if a test fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from pynetdicom2.loopback import LoopbackSCP, make_study, write_dataset

#: A client tool run finishes well inside this (they take about 0.4 s here).
TOOL_TIMEOUT = 30.0
#: A server prints its "listening on" line within this.
START_TIMEOUT = 15.0
#: SIGTERM must end a server within this.
STOP_TIMEOUT = 5.0
#: Network timeouts handed to our SCUs.
TIMEOUTS = ['-to', '10', '-ta', '10', '-td', '10']

_LISTENING = re.compile(r'listening on \S+:(\d+)')


def script(name: str) -> str:
    """The installed ``pynetdicom2-<name>`` console script (the venv's first, then PATH)."""
    command = f'pynetdicom2-{name}'
    found = (shutil.which(command, path=os.path.dirname(sys.executable))
             or shutil.which(command))
    if found is None:
        pytest.fail(f'{command} is not installed (pip install -e . in this environment)',
                    pytrace=False)
    return found


def environment() -> dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED='1')


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (for movescu's own receiver)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class Ran:
    """A finished tool: exit status, stdout and stderr (text)."""

    def __init__(self, argv: list[str], done: subprocess.CompletedProcess) -> None:
        self.argv = argv
        self.returncode = done.returncode
        self.out = done.stdout.decode(errors='replace')
        self.err = done.stderr.decode(errors='replace')

    def explain(self) -> str:
        return (f'$ {" ".join(self.argv)}\nexit status {self.returncode}\n'
                f'--- stdout\n{self.out}--- stderr\n{self.err}')


def run_tool(argv: list[Any], *, env: dict[str, str] | None = None,
             timeout: float = TOOL_TIMEOUT) -> Ran:
    """Run a command to completion (killed after ``timeout``), stdout and stderr apart."""
    args = [str(arg) for arg in argv]
    done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout, env=env if env is not None else environment())
    return Ran(args, done)


def ours(name: str, *args: Any) -> Ran:
    """Run ``pynetdicom2-<name> args...``."""
    return run_tool([script(name), *args])


class ServerProcess:
    """A server started with ``-v``; ready once its output says "listening on host:port".

    A reader thread (not a pynetdicom2 thread: it lives in this process only to drain the
    pipe) collects the merged stdout/stderr, so a chatty server never blocks on a full pipe.
    """

    def __init__(self, argv: list[Any], *, env: dict[str, str] | None = None) -> None:
        self.argv = [str(arg) for arg in argv]
        self.lines: list[str] = []
        self.port: int | None = None
        self._listening = threading.Event()
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env if env is not None else environment(),
        )
        self._reader = threading.Thread(target=self._drain, daemon=True,
                                        name=f'test-drain-{Path(self.argv[0]).name}')
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors='replace')
            self.lines.append(line)
            found = _LISTENING.search(line)
            if found and self.port is None:
                self.port = int(found.group(1))
                self._listening.set()
        self._listening.set()  # end of output: the process is gone

    def log(self) -> str:
        return ''.join(self.lines)

    def wait_listening(self, timeout: float = START_TIMEOUT) -> int:
        """The port, once the banner is out; fails (killing it) if it exits or is slow."""
        if not self._listening.wait(timeout) or self.port is None:
            self.kill()
            pytest.fail(f'{self.argv[0]} did not listen within {timeout} s '
                        f'(exit status {self.process.returncode}):\n{self.log()}', pytrace=False)
        return self.port

    def terminate(self, timeout: float = STOP_TIMEOUT) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds taken). Killed, and the test failed, if it lingers."""
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f'{self.argv[0]} still ran {timeout} s after SIGTERM:\n{self.log()}',
                        pytrace=False)
        self._reader.join(timeout)
        return code, time.monotonic() - start

    def kill(self) -> None:
        """Kill (if still running), reap, and stop the reader; safe to call twice."""
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(STOP_TIMEOUT)
        finally:
            if self.process.stdout is not None:
                self._reader.join(STOP_TIMEOUT)
                self.process.stdout.close()


@pytest.fixture
def start_server() -> Iterator[Any]:
    """``start_server(name, *args)``: run ``pynetdicom2-<name> -v --bind 127.0.0.1 args 0``
    and return the ServerProcess once it listens; every one is killed at the end."""
    started: list[ServerProcess] = []

    def start(name: str, *args: Any) -> ServerProcess:
        server = ServerProcess([script(name), '-v', '--bind', '127.0.0.1', *args, '0'])
        started.append(server)
        server.wait_listening()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()


def stop_cleanly(server: ServerProcess) -> str:
    """SIGTERM must end ``server`` with status 0, promptly; returns its output."""
    code, seconds = server.terminate()
    log = server.log()
    assert code == 0, f'exit status {code} after SIGTERM:\n{log}'
    assert seconds < STOP_TIMEOUT
    assert 'interrupted: stopping' in log, log
    assert 'Traceback' not in log, log
    return log


def all_files(directory: Path) -> list[Path]:
    """Every file under ``directory``, hidden ones (temporary files) included."""
    return sorted(p for p in directory.rglob('*') if p.is_file())


def peer(port: int, aec: str) -> list[Any]:
    return ['-aec', aec, *TIMEOUTS, '127.0.0.1', port]


# --- pynetdicom2-qrscp --------------------------------------------------------------------------


def test_qrscp_process_with_our_tools(tmp_path, start_server):
    """Store, find, move (two ways), get, echo; SIGTERM; restart: the index is still there."""
    pacs = tmp_path / 'pacs'
    pacs.mkdir()
    db = tmp_path / 'db' / 'qr.sqlite'
    db.parent.mkdir()
    incoming = tmp_path / 'in'
    incoming.mkdir()
    first = make_study(1, 2, PatientID='P1', PatientName='Doe^Jane', StudyDate='20240115')
    second = make_study(1, 1, PatientID='P2', PatientName='Roe^Rick', StudyDate='20230101')
    for ds in first + second:
        write_dataset(ds, incoming)
    uids_of = {ds.SOPInstanceUID for ds in first + second}

    with LoopbackSCP(tmp_path / 'dest', 'DEST') as dest:
        ws1_port = free_port()
        ini = tmp_path / 'destinations.ini'
        ini.write_text(f'[destinations]\nDEST = 127.0.0.1:{dest.port}\n'
                       f'WS1 = 127.0.0.1:{ws1_port}\n')
        args = ['-aet', 'PACS', '-od', pacs, '--db', db, '--destinations', ini]
        server = start_server('qrscp', *args)
        # The banner says "indexing the folder" or, once that is done, "index up to date".
        banner = server.log()
        assert '(0 instances indexed, ' in banner and '), 2 destination(s)' in banner, banner
        port = server.port

        stored = ours('storescu', '+sd', *peer(port, 'PACS'), incoming)
        assert stored.returncode == 0, stored.explain()
        assert stored.out.strip() == 'sent 3, failed 0, skipped 0'
        assert {p.name for p in all_files(pacs)} == {f'{uid}.dcm' for uid in uids_of}
        assert db.is_file() and not (pacs / 'index.sqlite').exists()

        found = ours('findscu', '-S', '-k', 'PatientName=Doe*', '-k', 'StudyInstanceUID=',
                     *peer(port, 'PACS'))
        assert found.returncode == 0, found.explain()
        assert first[0].StudyInstanceUID in found.out and 'Doe^Jane' in found.out
        assert 'Roe' not in found.out
        assert found.out.strip().endswith('1 match(es)'), found.explain()
        patients = ours('findscu', '-P', '-k', 'QueryRetrieveLevel=PATIENT', '-k', 'PatientID=',
                        '-k', 'PatientName=', *peer(port, 'PACS'))
        assert patients.returncode == 0, patients.explain()
        assert patients.out.strip().endswith('2 match(es)'), patients.explain()

        # C-MOVE to a storage SCP of the test process, named in the INI file.
        moved = ours('movescu', '-aem', 'DEST', '-k',
                     f'StudyInstanceUID={first[0].StudyInstanceUID}', *peer(port, 'PACS'))
        assert moved.returncode == 0, moved.explain()
        assert 'C-MOVE to DEST: completed 2, failed 0' in moved.out, moved.explain()
        assert {ds.SOPInstanceUID for ds in dest.received} == {ds.SOPInstanceUID
                                                               for ds in first}

        # C-MOVE to movescu's own receiver (+P), as a workstation does.
        ws1 = tmp_path / 'ws1'
        ws1.mkdir()
        moved = ours('movescu', '-P', '-aet', 'WS1', '+P', ws1_port, '-od', ws1,
                     '-k', 'QueryRetrieveLevel=PATIENT', '-k', 'PatientID=P2',
                     *peer(port, 'PACS'))
        assert moved.returncode == 0, moved.explain()
        assert 'C-MOVE to WS1: completed 1, failed 0' in moved.out, moved.explain()
        assert [p.name for p in all_files(ws1)] == [f'{second[0].SOPInstanceUID}.dcm']

        got_dir = tmp_path / 'got'
        got_dir.mkdir()
        got = ours('getscu', '-od', got_dir, '-k',
                   f'StudyInstanceUID={first[0].StudyInstanceUID}', *peer(port, 'PACS'))
        assert got.returncode == 0, got.explain()
        assert 'C-GET: completed 2, failed 0' in got.out, got.explain()
        got_files = all_files(got_dir)
        assert {str(dcmread(p).SOPInstanceUID) for p in got_files} == {
            ds.SOPInstanceUID for ds in first}

        echoed = ours('echoscu', *peer(port, 'PACS'))
        assert echoed.returncode == 0, echoed.explain()
        assert echoed.err == ''

        log = stop_cleanly(server)
        assert 'association from STORESCU' in log and 'C-ECHO' in log

    assert {p.name for p in all_files(pacs)} == {f'{uid}.dcm' for uid in uids_of}

    # The same folder and index, a new process: the studies are still found.
    server = start_server('qrscp', *args)
    assert '(3 instances indexed' in server.log(), server.log()
    studies = ours('findscu', '-S', '-k', 'StudyInstanceUID=', '-k', 'PatientID=',
                   *peer(server.port, 'PACS'))
    assert studies.returncode == 0, studies.explain()
    assert studies.out.strip().endswith('2 match(es)'), studies.explain()
    for ds in (first[0], second[0]):
        assert ds.StudyInstanceUID in studies.out
    stop_cleanly(server)


def test_qrscp_process_accept_list(tmp_path, start_server):
    """--accept: an unlisted calling AE title is rejected; our SCU says so in one line."""
    server = start_server('qrscp', '-aet', 'PACS', '-od', tmp_path, '--accept', 'GOOD')
    accepted = ours('echoscu', '-aet', 'GOOD', *peer(server.port, 'PACS'))
    assert accepted.returncode == 0, accepted.explain()
    refused = ours('echoscu', '-aet', 'BAD', *peer(server.port, 'PACS'))
    assert refused.returncode == 1, refused.explain()
    lines = refused.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('E: association rejected'), refused.explain()
    assert 'reason 3' in lines[0]
    stop_cleanly(server)
    assert all_files(tmp_path) == [tmp_path / 'index.sqlite']


# --- pynetdicom2-storescp -----------------------------------------------------------------------


def test_storescp_process(tmp_path, start_server):
    """Files arrive as <SOPInstanceUID>.dcm; --accept refuses others; SIGTERM leaves no temp."""
    out = tmp_path / 'out'
    out.mkdir()
    study = make_study(1, 3)
    files = [write_dataset(ds, tmp_path) for ds in study]
    server = start_server('storescp', '-aet', 'STORESCP', '-od', out, '--accept', 'STORESCU',
                          '--accept', 'ECHOSCU')
    port = server.port

    stored = ours('storescu', *peer(port, 'STORESCP'), *files)
    assert stored.returncode == 0, stored.explain()
    assert stored.out.strip() == 'sent 3, failed 0, skipped 0'

    refused = ours('storescu', '-aet', 'INTRUDER', *peer(port, 'STORESCP'), files[0])
    assert refused.returncode == 1, refused.explain()
    lines = refused.err.strip().splitlines()
    assert len(lines) == 1, refused.explain()
    assert lines[0].startswith('E: association rejected') and 'reason 3' in lines[0]

    echoed = ours('echoscu', *peer(port, 'STORESCP'))
    assert echoed.returncode == 0, echoed.explain()

    stop_cleanly(server)
    assert [p.name for p in all_files(out)] == sorted(f'{ds.SOPInstanceUID}.dcm' for ds in study)
    for ds in study:
        assert dcmread(out / f'{ds.SOPInstanceUID}.dcm').PatientID == ds.PatientID


def test_storescp_process_filepath_template(tmp_path, start_server):
    out = tmp_path / 'out'
    out.mkdir()
    one = make_study(1, 2, PatientID='P/1', Modality='MR')
    two = make_study(1, 1, PatientID='P2')
    files = [write_dataset(ds, tmp_path) for ds in one + two]
    server = start_server('storescp', '-od', out, '--filepath',
                          '{PatientID}/{StudyInstanceUID}/{Modality}-{SOPInstanceUID}.dcm')
    stored = ours('storescu', *peer(server.port, 'STORESCP'), *files)
    assert stored.returncode == 0, stored.explain()
    stop_cleanly(server)
    expected = sorted(
        out / ds.PatientID.replace('/', '_') / ds.StudyInstanceUID
        / f'{ds.Modality}-{ds.SOPInstanceUID}.dcm'
        for ds in one + two
    )
    assert all_files(out) == expected


# --- every console script -----------------------------------------------------------------------


@pytest.mark.parametrize('name', ['echoscu', 'storescu', 'storescp', 'findscu', 'movescu',
                                  'getscu', 'qrscp'])
def test_console_script_help(name):
    """Every console script of setup.py is installed, starts, and reads like DCMTK."""
    done = ours(name, '--help')
    assert done.returncode == 0, done.explain()
    assert done.out.startswith(f'usage: pynetdicom2-{name} '), done.explain()
    for flag in ('-aet', '-to', '-ta', '-td', '-pdu', '-v', '-d', 'network options'):
        assert flag in done.out
    assert done.err == ''


# --- error paths --------------------------------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that a socket of this process is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.settimeout(5)
        holder.bind(('127.0.0.1', 0))
        holder.listen(1)
        yield holder.getsockname()[1]


@pytest.mark.parametrize('tool', ['qrscp', 'storescp'])
def test_port_in_use_is_one_line(tool, tmp_path, taken_port):
    done = ours(tool, '-od', tmp_path, '--bind', '127.0.0.1', taken_port)
    assert done.returncode == 1, done.explain()
    lines = done.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('E: '), done.explain()
    assert lines[0].startswith(f'E: cannot listen on port {taken_port}: Address already in use')
    assert 'Traceback' not in done.err and done.out == ''


def test_port_in_use_with_debug_shows_traceback(tmp_path, taken_port):
    done = ours('qrscp', '-d', '-od', tmp_path, '--bind', '127.0.0.1', taken_port)
    assert done.returncode == 1, done.explain()
    assert 'Traceback (most recent call last)' in done.err, done.explain()
    assert f'cannot listen on port {taken_port}' in done.err


def test_qrscp_missing_destinations_file(tmp_path):
    missing = tmp_path / 'nope.ini'
    done = ours('qrscp', '-od', tmp_path, '--destinations', missing, '--bind', '127.0.0.1', '0')
    assert done.returncode == 1, done.explain()
    assert done.err.strip().splitlines() == [
        f'E: --destinations {missing}: No such file or directory'], done.explain()
    assert not (tmp_path / 'index.sqlite').exists()
