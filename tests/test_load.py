"""Load: many concurrent associations storing at once into one ``StorageAE``; nothing lost.

Two clients, each ``ASSOCIATIONS`` concurrent associations x ``STORES`` C-STOREs (default
50 x 100 = 5,000 data sets):

* our ``ClientAE``, one thread per association;
* DCMTK ``storescu`` (interop), one process per association, each sending a directory of
  Part-10 files.

Checked: every data set is on disk as ``<SOPInstanceUID>.dcm``, and the bytes of its data set
(what follows the file meta) have the SHA-256 of the data set sent; no temporary ``.part``
file is left; every association thread has ended and no file descriptor (socket) is left open
in this process. The stores/s figure is printed.

Scale with ``PYNETDICOM2_LOAD_ASSOCIATIONS`` and ``PYNETDICOM2_LOAD_STORES``, e.g. a longer
run::

    PYNETDICOM2_LOAD_ASSOCIATIONS=100 PYNETDICOM2_LOAD_STORES=500 \\
        .venv/bin/python -m pytest -q -s tests/test_load.py
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aetools import dataset
from interop.conftest import dcmtk_environment, find_dcmtk_tool, missing_peer
from interop.conftest import stop_process as stop_peer
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.dsutils import save_part10

ASSOCIATIONS = int(os.environ.get('PYNETDICOM2_LOAD_ASSOCIATIONS', '50'))
STORES = int(os.environ.get('PYNETDICOM2_LOAD_STORES', '100'))
#: Bound on one whole client run (all associations).
RUN_TIMEOUT = 240.0

CT = uids.CT_IMAGE_STORAGE
IMPLICIT = uids.ImplicitVRLittleEndian


def encode(ds: Dataset) -> bytes:
    """``ds`` in Implicit VR Little Endian (the only syntax the clients propose)."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, ds)
    return buffer.getvalue()


def data_set_digest(path: Path) -> str:
    """SHA-256 of the data set of a Part-10 file: the bytes after preamble and file meta."""
    raw = path.read_bytes()
    assert raw[128:132] == b'DICM', f'{path} is not a Part-10 file'
    # (0002,0000) File Meta Information Group Length, Explicit VR LE: tag, 'UL', 2-byte length
    tag, vr, length = struct.unpack('<I2sH', raw[132:140])
    assert (tag, vr, length) == (0x00000002, b'UL', 4), raw[132:140]
    (group_length,) = struct.unpack('<I', raw[140:144])
    return hashlib.sha256(raw[144 + group_length:]).hexdigest()


def make_sources(count: int) -> dict[str, tuple[Dataset, str]]:
    """``count`` small data sets with distinct instances, by SOP Instance UID, with digests."""
    made = {}
    for number in range(count):
        ds = dataset(pixel_bytes=2048, InstanceNumber=number)
        made[ds.SOPInstanceUID] = (ds, hashlib.sha256(encode(ds)).hexdigest())
    return made


def open_fds() -> set[str]:
    """What the file descriptors of this process point at (sockets, files)."""
    found = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            found.add(f'{fd}->{os.readlink(f"/proc/self/fd/{fd}")}')
        except OSError:
            pass
    return found


def sockets(fds: set[str]) -> set[str]:
    return {fd for fd in fds if 'socket:' in fd}


def check_storage(directory: Path, sources: dict[str, tuple[Dataset, str]]) -> None:
    """Every source is on disk, once, with its digest; nothing else is there."""
    names = {path.name for path in directory.iterdir()}
    partial = sorted(name for name in names if name.endswith('.part'))
    assert not partial, f'temporary files left: {partial[:5]}'
    expected = {f'{uid}.dcm' for uid in sources}
    missing = expected - names
    extra = names - expected
    assert not missing and not extra, (
        f'{len(missing)} data sets missing (e.g. {sorted(missing)[:3]}), '
        f'{len(extra)} unexpected files (e.g. {sorted(extra)[:3]})'
    )
    wrong = [uid for uid, (_, digest) in sources.items()
             if data_set_digest(directory / f'{uid}.dcm') != digest]
    assert not wrong, f'{len(wrong)} data sets differ from their source, e.g. {wrong[:3]}'


def storage_server(directory: Path) -> ae.StorageAE:
    server = ae.StorageAE(directory, 'LOADSCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    server.artim_timeout = 10
    server.network_timeout = 60
    return server


def report(capsys: pytest.CaptureFixture[str], who: str, seconds: float) -> None:
    total = ASSOCIATIONS * STORES
    with capsys.disabled():
        sys.stdout.write(
            f'\nload ({who}): {ASSOCIATIONS} concurrent associations x {STORES} C-STOREs = '
            f'{total}/{total} stored in {seconds:.1f} s (all verified): '
            f'{total / seconds:.0f} stores/s\n'
        )


def test_load_client_ae(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ASSOCIATIONS ClientAE associations at once, each storing STORES data sets."""
    sources = make_sources(ASSOCIATIONS * STORES)
    batches = [list(sources.values())[n * STORES:(n + 1) * STORES] for n in range(ASSOCIATIONS)]
    threads_before = {thread.ident for thread in threading.enumerate()}
    fds_before = open_fds()
    server = storage_server(tmp_path / 'in')
    peak = 0
    peak_lock = threading.Lock()
    everyone_in = threading.Barrier(ASSOCIATIONS, timeout=60)

    def one_association(batch: list[tuple[Dataset, str]]) -> list[int]:
        nonlocal peak
        client = ae.ClientAE('LOADSCU', supported_ts=[IMPLICIT]).add_scu(sc.storage_scu, [CT])
        client.artim_timeout = client.connect_timeout = 30
        client.dcm_timeout = 60
        remote = {'aet': 'LOADSCP', 'address': '127.0.0.1', 'port': server.local_ae.port}
        with client.request_association(remote) as assoc:
            store = assoc.get_scu(CT)
            # all associations are established before the first data set goes out
            everyone_in.wait()
            with peak_lock:
                peak = max(peak, server.server.association_count())
            return [int(store(ds, number + 1)) for number, (ds, _) in enumerate(batch)]

    with server:
        started = time.monotonic()
        with ThreadPoolExecutor(ASSOCIATIONS, thread_name_prefix='load-client') as pool:
            results = [future.result(timeout=RUN_TIMEOUT)
                       for future in [pool.submit(one_association, b) for b in batches]]
        seconds = time.monotonic() - started
    statuses = [status for result in results for status in result]
    assert statuses == [0] * (ASSOCIATIONS * STORES), sorted(set(statuses))
    assert peak == ASSOCIATIONS, f'only {peak} associations were open at once'
    check_storage(tmp_path / 'in', sources)
    left = [t.name for t in threading.enumerate() if t.ident not in threads_before]
    assert not left, f'threads left: {left}'
    leaked = sockets(open_fds()) - sockets(fds_before)
    assert not leaked, f'sockets left open: {sorted(leaked)}'
    report(capsys, 'ClientAE', seconds)


def write_part10(ds: Dataset, path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = IMPLICIT
    ds.file_meta = meta
    save_part10(ds, path)


@pytest.mark.interop
def test_load_storescu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ASSOCIATIONS storescu processes at once, each sending a directory of STORES files."""
    storescu = find_dcmtk_tool('storescu')
    if storescu is None:
        missing_peer('DCMTK storescu is not installed (Debian/Ubuntu: apt-get install dcmtk)')
    sources = make_sources(ASSOCIATIONS * STORES)
    folders = []
    for number, (uid, (ds, _)) in enumerate(sources.items()):
        folder = tmp_path / 'out' / f'{number // STORES:03d}'
        if number % STORES == 0:
            folder.mkdir(parents=True)
            folders.append(folder)
        write_part10(ds, folder / f'{uid}.dcm')
    threads_before = {thread.ident for thread in threading.enumerate()}
    fds_before = open_fds()
    server = storage_server(tmp_path / 'in')
    processes: list[subprocess.Popen] = []
    with server:
        started = time.monotonic()
        try:
            for number, folder in enumerate(folders):
                log = open(tmp_path / f'storescu-{number}.log', 'wb')  # noqa: SIM115
                with log:
                    processes.append(subprocess.Popen(
                        # -xi: propose Implicit VR LE only; +sd: send the folder; -R: only the
                        # SOP classes of the files
                        [storescu, '-aec', 'LOADSCP', '-xi', '-R', '+sd', '-to', '30',
                         '-ta', '30', '-td', '60', '127.0.0.1', str(server.local_ae.port),
                         str(folder)],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        env=dcmtk_environment(),
                    ))
            deadline = time.monotonic() + RUN_TIMEOUT
            codes = [process.wait(timeout=max(1.0, deadline - time.monotonic()))
                     for process in processes]
        finally:
            for process in processes:
                stop_peer(process)
        seconds = time.monotonic() - started
    failed = [number for number, code in enumerate(codes) if code != 0]
    assert not failed, (
        f'{len(failed)} storescu runs failed; the first:\n'
        + (tmp_path / f'storescu-{failed[0]}.log').read_text(errors='replace')
        if failed else ''
    )
    check_storage(tmp_path / 'in', sources)
    left = [t.name for t in threading.enumerate() if t.ident not in threads_before]
    assert not left, f'threads left: {left}'
    leaked = sockets(open_fds()) - sockets(fds_before)
    assert not leaked, f'sockets left open: {sorted(leaked)}'
    report(capsys, 'DCMTK storescu', seconds)
