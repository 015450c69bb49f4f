"""Worker processes (pynetdicom2.workers) through ``pynetdicom2-storescp --workers``, and the
tools' Prometheus endpoint (``--metrics-port``).

Each server runs as a separate process (its workers are forked from it); the workers are
found as its children in /proc. Waits are on the server's output (a condition notified per
line) or on processes, with deadlines; nothing sleeps.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aetools import dataset, fast
from test_app_processes import STOP_TIMEOUT, ServerProcess, all_files, ours, peer, script

from pynetdicom2 import sopclass, uids
from pynetdicom2.applicationentity import AE, ClientAE
from pynetdicom2.exceptions import AssociationRejectedError, NetDICOMError
from pynetdicom2.loopback import make_study, write_dataset
from pynetdicom2.workers import WorkerPool

pytestmark = pytest.mark.skipif(
    not hasattr(os, 'fork') or not Path('/proc/self/task').is_dir(),
    reason='worker processes need fork, and these tests read /proc (Linux)',
)

CT = uids.CT_IMAGE_STORAGE
DEADLINE = 15.0


class Server(ServerProcess):
    """A server process whose output can be waited for, line by line."""

    def __init__(self, argv: list[Any]) -> None:
        self._cond = threading.Condition()
        super().__init__(argv)

    def _drain(self) -> None:
        try:
            super()._drain()
        finally:
            with self._cond:
                self._cond.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = DEADLINE) -> re.Match[str]:
        compiled = re.compile(pattern)

        def found() -> re.Match[str] | None:
            for line in list(self.lines):
                match = compiled.search(line)
                if match:
                    return match
            return None

        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                match = found()
                if match or self.process.poll() is not None:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.1))  # lines come from the reader thread
        assert match, f'no line matching {pattern!r}:\n{self.log()}'
        return match

    def workers(self) -> set[int]:
        """The server's child processes now."""
        pid = self.process.pid
        try:
            text = Path(f'/proc/{pid}/task/{pid}/children').read_text()
        except OSError:
            return set()
        return {int(child) for child in text.split()}

    def wait_workers(self, count: int) -> set[int]:
        deadline = time.monotonic() + DEADLINE
        while len(self.workers()) != count:
            assert time.monotonic() < deadline, f'{self.workers()} != {count} workers'
            with self._cond:
                self._cond.wait(0.05)  # a fork shows in /proc without a line to wait for
        return self.workers()


@pytest.fixture
def server_process() -> Any:
    started: list[Server] = []

    def start(name: str, *args: Any) -> Server:
        server = Server([script(name), '-v', '--bind', '127.0.0.1', *args, '0'])
        started.append(server)
        server.wait_listening()
        return server

    try:
        yield start
    finally:
        for server in started:
            for pid in server.workers():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            server.kill()


def gone(pids: set[int]) -> bool:
    return all(not Path(f'/proc/{pid}').exists() or _zombie(pid) for pid in pids)


def _zombie(pid: int) -> bool:
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


def client(port: int) -> tuple[ClientAE, dict[str, Any]]:
    scu = fast(ClientAE('SCU')).add_scu(sopclass.storage_scu, [CT])
    scu.add_scu(sopclass.verification_scu)
    return scu, {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': port}


def test_storescp_workers_share_the_port_and_stop_together(tmp_path, server_process):
    incoming = tmp_path / 'in'
    incoming.mkdir()
    server = server_process('storescp', '--workers', '2', '-od', incoming)
    workers = server.wait_workers(2)
    sources = []
    for batch in range(4):
        folder = tmp_path / f'batch{batch}'
        folder.mkdir()
        for ds in make_study(1, 10, PatientID=f'P{batch}'):
            write_dataset(ds, folder)
        sources.append(folder)
    senders = [threading.Thread(target=lambda folder=folder: results.append(
        ours('storescu', *peer(server.port, 'STORESCP'), '+sd', folder)))
        for folder in sources]
    results: list[Any] = []
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(DEADLINE)
    assert [ran.returncode for ran in results] == [0] * 4, [r.explain() for r in results]
    code, seconds = server.terminate()
    assert code == 0, server.log()
    assert seconds < STOP_TIMEOUT
    assert gone(workers)
    received = all_files(incoming)
    assert len(received) == 40
    assert not [p for p in received if p.name.startswith('.')], 'a temporary file was left'


def test_a_worker_that_dies_is_restarted(tmp_path, server_process):
    server = server_process('storescp', '--workers', '2', '-od', tmp_path)
    first = server.wait_workers(2)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    server.wait_for_line(rf'worker \d \(pid {victim}\) ended: killed by SIGKILL; restarting')
    now = server.wait_workers(2)
    assert victim not in now and len(now & first) == 1
    scu, remote = client(server.port)
    with scu.request_association(remote) as assoc:
        assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
    assert server.terminate()[0] == 0
    assert gone(now)


def test_maximum_associations_counts_every_worker(tmp_path, server_process):
    server = server_process('storescp', '--workers', '2', '--max-associations', '1',
                            '-od', tmp_path)
    server.wait_workers(2)
    scu, remote = client(server.port)
    with scu.request_association(remote) as held:
        for _ in range(4):  # whichever worker takes the connection, the place is taken
            with pytest.raises(AssociationRejectedError) as rejected:
                with scu.request_association(remote):
                    pass
            assert (rejected.value.result, rejected.value.source,
                    rejected.value.diagnostic) == (2, 3, 2)
        assert held.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
    with scu.request_association(remote) as assoc:  # the place is free again
        assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(2).is_success
    assert server.terminate()[0] == 0


def test_sigterm_lets_the_association_in_progress_finish(tmp_path, server_process):
    server = server_process('storescp', '--workers', '2', '-od', tmp_path)
    workers = server.wait_workers(2)
    scu, remote = client(server.port)
    with scu.request_association(remote) as assoc:
        server.process.send_signal(signal.SIGTERM)
        server.wait_for_line('SIGTERM received: stopping the workers')
        ds = dataset()
        assert assoc.get_scu(CT)(ds, 1).is_success  # still served while draining
    assert server.process.wait(STOP_TIMEOUT) == 0, server.log()
    assert gone(workers)
    assert [p.name for p in all_files(tmp_path)] == [f'{ds.SOPInstanceUID}.dcm']


def test_a_pool_refuses_to_fork_while_threads_run() -> None:
    ae = AE('SCP', 0, host='127.0.0.1', bind_and_activate=False)
    ae.add_scp(sopclass.verification_scp)
    blocker = threading.Event()
    thread = threading.Thread(target=blocker.wait, name='test-blocker')
    thread.start()
    try:
        with pytest.raises(NetDICOMError, match='cannot fork workers while threads run'):
            WorkerPool(ae, 2).serve()
    finally:
        blocker.set()
        thread.join()
        ae.quit()
    with pytest.raises(NetDICOMError, match='expected 1 or more'):
        WorkerPool(ae, 0)


def test_workers_option_is_checked(tmp_path) -> None:
    ran = ours('storescp', '--workers', '0', '-od', tmp_path, '0')
    assert ran.returncode != 0 and 'expected a number of processes' in ran.err
    ran = ours('storescp', '--workers', '2', '--metrics-port', '0', '-od', tmp_path, '0')
    assert ran.returncode == 1, ran.explain()
    assert 'not with --workers above 1' in ran.err


def test_storescp_serves_metrics(tmp_path, server_process):
    pytest.importorskip('prometheus_client', reason='the metrics extra is not installed')
    server = server_process('storescp', '--metrics-port', '0', '-od', tmp_path)
    port = int(server.wait_for_line(r'metrics on http://127\.0\.0\.1:(\d+)/metrics').group(1))
    scu, remote = client(server.port)
    with scu.request_association(remote) as assoc:
        assert assoc.get_scu(CT)(dataset(), 1).is_success
    # The server counted the release before its A-RELEASE-RP went out.
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
    with direct.open(f'http://127.0.0.1:{port}/metrics', timeout=DEADLINE) as response:
        text = response.read().decode()
    assert ('pynetdicom2_dimse_messages_total{ae="STORESCP",direction="sent",'
            'message="C-STORE-RSP",status="0000"} 1.0') in text
    assert 'pynetdicom2_associations_total{ae="STORESCP",outcome="released"} 1.0' in text
    assert server.terminate()[0] == 0


def test_the_places_of_a_worker_that_died_are_freed(tmp_path, server_process):
    server = server_process('storescp', '--workers', '2', '--max-associations', '1',
                            '-od', tmp_path)
    first = server.wait_workers(2)
    scu, remote = client(server.port)
    opened = scu.request_association(remote)
    held = opened.__enter__()
    try:
        for pid in first:  # whichever of them serves it, its place must not stay taken
            os.kill(pid, signal.SIGKILL)
        for pid in first:
            server.wait_for_line(rf'\(pid {pid}\) ended: killed by SIGKILL; restarting')
        server.wait_workers(2)
    finally:
        held.kill()
        with contextlib.suppress(NetDICOMError):  # its peer is gone: nothing to release
            opened.__exit__(None, None, None)
    with scu.request_association(remote) as assoc:
        assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
    assert server.terminate()[0] == 0
