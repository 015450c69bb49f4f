"""The scale-out load test: ``pynetdicom2-qrscp --workers 4 --db postgresql://...`` under 50
concurrent DCMTK ``storescu`` associations of 100 C-STOREs each.

Afterwards: a C-FIND finds exactly the 5,000 instances; every received file's data set is
byte for byte its source's (the file meta differs: it names who sent it); no temporary file
is left; SIGTERM ends the server with status 0 and no worker process is left behind.

Needs DCMTK (``storescu``) and PostgreSQL (initdb/pg_ctl, psycopg 3): skipped with the
reason without them, failed instead in CI (``PYNETDICOM2_REQUIRE_INTEROP``,
``PYNETDICOM2_REQUIRE_POSTGRES``).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from postgres_fixture import postgres_server_fixture, postgres_url_fixture  # noqa: F401
from pydicom.dataset import Dataset

from pynetdicom2 import sopclass, uids
from pynetdicom2.applicationentity import ClientAE
from pynetdicom2.asceprovider_types import RemoteAEConfig
from pynetdicom2.dsutils import save_part10
from pynetdicom2.filestorage import read_meta
from pynetdicom2.loopback import make_study

from .conftest import dcmtk_environment

CLIENTS = 50
FILES_PER_CLIENT = 100
WORKERS = 4
#: The whole load (5,000 tiny files over 50 associations) takes ~20 s on 2 cores.
LOAD_TIMEOUT = 300.0
STOP_TIMEOUT = 60.0


def data_set_digest(path: Path) -> str:
    """SHA-256 of a Part-10 file's data set: the bytes after its file meta information."""
    raw = path.read_bytes()
    with path.open('rb') as fp:
        offset = read_meta(fp).data_set_offset
    return hashlib.sha256(raw[offset:]).hexdigest()


def make_sources(root: Path) -> tuple[list[Path], dict[str, str]]:
    """One folder of FILES_PER_CLIENT files (a study of its own) per client; the digest of
    every data set by SOP Instance UID."""
    folders, digests = [], {}
    for client in range(CLIENTS):
        folder = root / f'client{client:02d}'
        folder.mkdir(parents=True)
        for number, ds in enumerate(make_study(1, FILES_PER_CLIENT, PatientID=f'LOAD{client}')):
            path = folder / f'{number:04d}.dcm'
            save_part10(ds, path)
            digests[ds.SOPInstanceUID] = data_set_digest(path)
        folders.append(folder)
    return folders, digests


class QRSCPProcess:
    """``pynetdicom2-qrscp`` as its own process; its port from its "listening on" line."""

    def __init__(self, args: list[Any], log: Path) -> None:
        self.log_path = log
        self._log = log.open('wb')
        code = 'from pynetdicom2.qrscp import qrscp_main; qrscp_main()'
        self.process = subprocess.Popen(
            [sys.executable, '-c', code, '-v', *map(str, args)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors='replace')

    def port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if 'listening on' in line:
                    return int(line.split('listening on ', 1)[1].split(',')[0].rsplit(':', 1)[1])
            try:
                self.process.wait(timeout=0.05)  # an exit ends the wait at once
            except subprocess.TimeoutExpired:
                continue
            break
        pytest.fail(f'qrscp did not listen:\n{self.log()}', pytrace=False)

    def workers(self) -> set[int]:
        pid = self.process.pid
        try:
            return {int(p) for p in Path(f'/proc/{pid}/task/{pid}/children').read_text().split()}
        except OSError:
            return set()

    def wait_workers(self, count: int) -> set[int]:
        """The worker processes, once there are ``count`` (the supervisor forks them after
        it prints its banner); waits on the server process, never on a bare sleep."""
        deadline = time.monotonic() + 30
        while len(self.workers()) != count:
            if time.monotonic() > deadline:
                pytest.fail(f'{self.workers()} is not {count} workers:\n{self.log()}',
                            pytrace=False)
            try:
                self.process.wait(timeout=0.05)  # an exit ends the wait at once
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f'qrscp exited:\n{self.log()}', pytrace=False)
        return self.workers()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
        self._log.close()


@pytest.mark.skipif(not Path('/proc/self/task').is_dir(), reason='reads /proc (Linux)')
def test_four_workers_on_postgresql_take_5000_stores_from_50_associations(
        tmp_path, dcmtk, postgres_url):
    storescu = dcmtk.tool('storescu')
    folders, digests = make_sources(tmp_path / 'sources')
    archive = tmp_path / 'archive'
    archive.mkdir()
    server = QRSCPProcess(['-aet', 'ARCHIVE', '--bind', '127.0.0.1', '--workers', WORKERS,
                           '--db', postgres_url, '--max-associations', CLIENTS,
                           '-od', archive, '0'], tmp_path / 'qrscp.log')
    try:
        port = server.port()
        workers = server.wait_workers(WORKERS)  # forked after the banner: wait for them

        clients = [subprocess.Popen(
            [storescu, '-aec', 'ARCHIVE', '-to', '60', '-ta', '60', '-td', '60',
             '127.0.0.1', str(port), *sorted(str(p) for p in folder.iterdir())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=dcmtk_environment()) for folder in folders]
        failed = []
        for client in clients:
            _, err = client.communicate(timeout=LOAD_TIMEOUT)
            if client.returncode != 0:
                failed.append(err.decode(errors='replace')[-500:])
        assert not failed, f'{len(failed)} storescu failed; the first said:\n{failed[0]}'

        found = find_all_images(port)
        assert len(found) == CLIENTS * FILES_PER_CLIENT
        assert set(found) == set(digests)

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(STOP_TIMEOUT) == 0, server.log()
        assert not [pid for pid in workers if Path(f'/proc/{pid}').exists()
                    and 'Z' not in Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1][:3]]
    finally:
        server.close()

    received = [p for p in archive.rglob('*') if p.is_file() and p.suffix == '.dcm']
    hidden = [p for p in archive.rglob('.*') if p.is_file()]
    assert hidden == [], f'temporary files left: {hidden[:5]}'
    assert len(received) == CLIENTS * FILES_PER_CLIENT
    mismatched = [p.name for p in received if data_set_digest(p) != digests[p.stem]]
    assert mismatched == []


def find_all_images(port: int) -> list[str]:
    """Every SOP Instance UID the archive finds at IMAGE level (Study Root, relational)."""
    client = ClientAE('LOADCHECK').add_scu(sopclass.qr_find_scu,
                                            [uids.STUDY_ROOT_FIND_SOP_CLASS])
    client.dcm_timeout = 60
    identifier = Dataset()
    identifier.QueryRetrieveLevel = 'IMAGE'
    identifier.SOPInstanceUID = ''
    found: list[str] = []
    done = threading.Event()
    with client.request_association(RemoteAEConfig('ARCHIVE', '127.0.0.1', port)) as assoc:
        for answer, status in assoc.get_scu(uids.STUDY_ROOT_FIND_SOP_CLASS)(identifier, 1):
            if status.is_pending:
                found.append(str(answer.SOPInstanceUID))
            else:
                assert status.is_success, status
                done.set()
    assert done.is_set()
    return found


def test_qrscp_workers_need_postgresql(tmp_path):
    code = 'from pynetdicom2.qrscp import qrscp_main; qrscp_main()'
    done = subprocess.run(
        [sys.executable, '-c', code, '--workers', '2', '-od', str(tmp_path), '0'],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
        env=dict(os.environ, PYTHONUNBUFFERED='1'))
    assert done.returncode == 1
    assert b'--workers needs --db postgresql://' in done.stderr
