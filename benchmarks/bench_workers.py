"""Worker processes under load (issue 16, item 4): tiny C-STOREs from many DCMTK clients.

``--clients`` DCMTK ``storescu`` processes (default 8), each sending ``--files`` tiny CT files
(~2.2 kB) on one association, all started at once against ``pynetdicom2-storescp`` with
``--workers 1`` (one process: no ``--workers`` flag at all) and ``--workers 2``, each writing
to its own folder on ``--workdir`` (use a tmpfs: the disk is not what is measured). For each
setting: files per second from the first client's start to the last one's exit, and the
server's CPU seconds per file (its own and its workers', from ``wait4`` after SIGTERM). The
ratio is workers 2 / workers 1, higher is better; on a 2-core machine the clients take about
half a core, so about 1.33x is the ceiling there.

Every received file is counted: a row with a missing file is marked.

Usage::

    python benchmarks/bench_workers.py --workdir /dev/shm/benchwk
    python benchmarks/bench_workers.py --clients 8 --files 200 --workers 1,2,4 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STORESCU = '/usr/bin/storescu'
LISTENING = re.compile(r'listening on \S+:(\d+)')
TIMEOUT = 600.0


def make_clients(directory: Path, clients: int, files: int) -> list[Path]:
    """One folder of ``files`` tiny CT files (unique UIDs) per client."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from pynetdicom2.dsutils import save_part10

    folders = []
    for client in range(clients):
        folder = directory / f'client{client:02d}'
        folder.mkdir(parents=True)
        ds = Dataset()
        ds.SOPClassUID = '1.2.840.10008.5.1.4.1.1.2'
        ds.PatientName, ds.PatientID, ds.Modality = 'Bench^Workers', f'W{client}', 'CT'
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.Rows = ds.Columns = 30
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, 'MONOCHROME2'
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = bytes(range(256)) * 7 + bytes(8)
        ds['PixelData'].VR = 'OW'
        for index in range(files):
            ds.SOPInstanceUID = generate_uid()
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = ds.SOPClassUID
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.file_meta = meta
            save_part10(ds, folder / f'f{index:05d}.dcm')
        folders.append(folder)
    return folders


def start_server(workers: int, out: Path) -> tuple[subprocess.Popen[bytes], int, list[str]]:
    """``pynetdicom2-storescp`` on a free port of 127.0.0.1; (process, port, its output)."""
    command = [sys.executable, '-c', 'from pynetdicom2.app_storescp import storescp_main; '
               'storescp_main()', '-v', '--bind', '127.0.0.1', '-od', str(out)]
    if workers > 1:
        command += ['--workers', str(workers)]
    command.append('0')
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    lines: list[str] = []
    found = threading.Event()
    port = [0]

    def drain() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors='replace')
            lines.append(line)
            match = LISTENING.search(line)
            if match and not found.is_set():
                port[0] = int(match.group(1))
                found.set()
        found.set()

    threading.Thread(target=drain, daemon=True, name='bench-drain').start()
    if not found.wait(30) or not port[0]:
        process.kill()
        raise SystemExit(f'storescp did not start:\n{"".join(lines)}')
    return process, port[0], lines


def run_once(workers: int, folders: list[Path], workdir: Path) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(prefix=f'w{workers}-', dir=workdir))
    server, port, lines = start_server(workers, out)
    env = dict(os.environ, TCP_NODELAY='1')
    files = sorted(str(p) for folder in folders for p in folder.iterdir())
    start = time.perf_counter()
    clients = [subprocess.Popen([STORESCU, '-aec', 'STORESCP', '127.0.0.1', str(port),
                                 *sorted(str(p) for p in folder.iterdir())], env=env)
               for folder in folders]
    client_cpu = 0.0
    failures = 0
    for client in clients:
        _, status, usage = os.wait4(client.pid, 0)
        client.returncode = os.waitstatus_to_exitcode(status)
        failures += client.returncode != 0
        client_cpu += usage.ru_utime + usage.ru_stime
    seconds = time.perf_counter() - start
    server.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(server.pid, 0)
    server.returncode = os.waitstatus_to_exitcode(status)
    received = sum(1 for _ in out.rglob('*.dcm'))
    shutil.rmtree(out)
    if server.returncode != 0:
        print(''.join(lines[-20:]), file=sys.stderr)
    return {
        'files_per_s': len(files) / seconds,
        'server_cpu_per_file_ms': (usage.ru_utime + usage.ru_stime) * 1000 / len(files),
        'client_cpu_s': client_cpu,
        'missing': len(files) - received,
        'failed_clients': failures,
        'server_status': server.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--clients', type=int, default=8)
    parser.add_argument('--files', type=int, default=200, help='files per client')
    parser.add_argument('--workers', default='1,2', help='settings to compare (first: base)')
    parser.add_argument('--repeat', type=int, default=3, help='rounds; the best of each row')
    parser.add_argument('--workdir', type=Path, default=None)
    args = parser.parse_args()
    if not os.path.exists(STORESCU):
        raise SystemExit(f'{STORESCU} is needed (Debian: apt-get install dcmtk)')
    settings = [int(n) for n in args.workers.split(',')]
    workdir = Path(tempfile.mkdtemp(prefix='benchwk-', dir=args.workdir))
    try:
        folders = make_clients(workdir / 'sources', args.clients, args.files)
        best: dict[int, dict[str, float]] = {}
        for _ in range(args.repeat):
            for workers in settings:  # interleaved: drifts of the machine hit every row
                result = run_once(workers, folders, workdir)
                kept = best.get(workers)
                if kept is None or result['files_per_s'] > kept['files_per_s']:
                    best[workers] = result
        total = args.clients * args.files
        print(f'{args.clients} DCMTK storescu x {args.files} tiny files ({total} files), '
              f'{os.cpu_count()} cores, best of {args.repeat}')
        base = best[settings[0]]['files_per_s']
        for workers in settings:
            row = best[workers]
            flag = '' if not (row['missing'] or row['failed_clients'] or row['server_status']) \
                else f"  MISSING {row['missing']} / failed clients {row['failed_clients']}"
            print(f'  --workers {workers}: {row["files_per_s"]:8,.0f} files/s  '
                  f'ratio {row["files_per_s"] / base:4.2f}  server CPU '
                  f'{row["server_cpu_per_file_ms"]:.3f} ms/file  clients CPU '
                  f'{row["client_cpu_s"]:.2f} s{flag}')
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
