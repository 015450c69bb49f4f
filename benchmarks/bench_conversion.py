"""A large file converted on the way: Explicit VR Little Endian to ``storescp +xi`` (issue 14).

``storescp +xi`` accepts Implicit VR Little Endian only, so the sender must convert the data
set as it sends it. Side by side in one run: our ClientAE (pynetdicom2.transcode, streaming)
and DCMTK's storescu (which converts too), each in its own process, each timed from its
start to its exit, with its peak RSS (``os.wait4``). The received file is checked to be
Implicit VR Little Endian and as long as expected.

Usage::

    python benchmarks/bench_conversion.py                 # 600 MB, in a temp dir on /dev/shm
    python benchmarks/bench_conversion.py --size 100M --workdir /tmp/conv
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from pynetdicom2.dsutils import save_part10

CT = '1.2.840.10008.5.1.4.1.1.2'
FRAME = 512 * 512 * 2  # one 16-bit 512 x 512 frame
SENDER = """
import sys
from pynetdicom2 import applicationentity as ae, sopclass as sc
port, path = int(sys.argv[1]), sys.argv[2]
client = ae.ClientAE('OURSCU', supported_ts=['1.2.840.10008.1.2.1', '1.2.840.10008.1.2'])
client.add_scu(sc.storage_scu, ['1.2.840.10008.5.1.4.1.1.2'])
with client.request_association({'aet': 'STORESCP', 'address': '127.0.0.1', 'port': port}) as a:
    status = a.get_scu('1.2.840.10008.5.1.4.1.1.2')(path, 1)
sys.exit(0 if status.is_success else 1)
"""


def make_file(path: Path, size: int) -> int:
    """A multi-frame CT image of about ``size`` bytes of 16-bit pixel data, written in pieces
    (the pixel data never sits in memory); returns the pixel data length."""
    frames = max(1, size // FRAME)
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CT, generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = 'Bench^Conversion', 'BENCH', 'CT'
    ds.Rows = ds.Columns = 512
    ds.NumberOfFrames = frames
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation, ds.SamplesPerPixel = 0, 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CT
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    save_part10(ds, path)
    length = frames * FRAME
    frame = bytes(range(256)) * (FRAME // 256)
    with open(path, 'ab') as fp:  # (7FE0,0010) OW, explicit VR little endian, then the frames
        fp.write(b'\xe0\x7f\x10\x00OW\x00\x00' + length.to_bytes(4, 'little'))
        for _ in range(frames):
            fp.write(frame)
    return length


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f'storescp did not listen on {port}')


def run(argv: list[str]) -> tuple[float, float, int]:
    """Run to completion: (seconds, peak RSS in MB, exit status)."""
    env = {**os.environ, 'TCP_NODELAY': '1'}
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    if process.returncode:
        sys.stderr.write(process.stderr.read().decode(errors='replace') if process.stderr else '')
    return seconds, rss_mb, process.returncode


def measure(label: str, argv_for: Callable[[int], list[str]], storescp: str, workdir: Path,
            size: int) -> None:
    """Start ``storescp +xi``, run the sender ``argv_for(port)``, check what arrived."""
    out = workdir / f'received-{label.split()[0]}'
    out.mkdir()
    port = free_port()
    server = subprocess.Popen([storescp, '-aet', 'STORESCP', '+xi', '-od', str(out), str(port)],
                              env={**os.environ, 'TCP_NODELAY': '1'},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port)
        seconds, rss, code = run(argv_for(port))
    finally:
        server.terminate()
        server.wait(10)
    files = list(out.iterdir())
    ok = code == 0 and len(files) == 1
    if ok:
        from pydicom import dcmread
        got = dcmread(files[0], stop_before_pixels=True)
        ok = got.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    print(f'  {label:<24} {size / seconds / 1e6:8.1f} MB/s   {seconds:7.2f} s   '
          f'peak RSS {rss:7.1f} MB   {"ok" if ok else "FAILED"}', flush=True)
    shutil.rmtree(out, ignore_errors=True)


def parse_size(text: str) -> int:
    units = {'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].isalpha() else int(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=parse_size, default=parse_size('600M'))
    parser.add_argument('--workdir', type=Path, default=None)
    args = parser.parse_args()
    storescp, storescu = shutil.which('storescp', path='/usr/bin'), shutil.which(
        'storescu', path='/usr/bin')
    if not storescp or not storescu:
        print('DCMTK storescp and storescu are needed (apt-get install dcmtk)', file=sys.stderr)
        return 1
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix='bench_conversion-',
                                                    dir='/dev/shm' if os.path.isdir('/dev/shm')
                                                    else None))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        source = workdir / 'large.dcm'
        length = make_file(source, args.size)
        size = source.stat().st_size
        print(f'{size / 1e6:.0f} MB file (pixel data {length / 1e6:.0f} MB), Explicit VR LE '
              f'-> storescp +xi (Implicit VR LE only); python {sys.version.split()[0]}')
        measure('pynetdicom2 (ClientAE)',
                lambda port: [sys.executable, '-c', SENDER, str(port), str(source)],
                storescp, workdir, size)
        measure('DCMTK storescu',
                lambda port: [storescu, '-aec', 'STORESCP', '127.0.0.1', str(port),
                              str(source)],
                storescp, workdir, size)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
