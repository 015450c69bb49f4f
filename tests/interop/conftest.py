"""Fixtures for the interoperability tests: peers, ports and sample data sets.

What lives here:

* ``dcmtk``: finds DCMTK's command-line tools and runs them, with ``TCP_NODELAY=1`` in their
  environment (Debian's DCMTK leaves Nagle's algorithm on otherwise), a timeout on every run,
  and servers that are always terminated, killed if need be, and waited for.
* ``free_port``: a TCP port on 127.0.0.1 that nobody listens on (for DCMTK servers, which take
  a port number; our AE and pynetdicom bind port 0 themselves).
* ``serve``: runs one of our AEs on 127.0.0.1 in the background and always quits it.
* ``samples``: small CT and MR images with pixel data, made at test time with pydicom, one per
  transfer syntax (Implicit VR LE, Explicit VR LE, Explicit VR BE, Deflated), a JPEG Baseline
  image that DCMTK's ``dcmcjpeg`` compresses, and a 512 x 512 one (many PDUs at any size).
* ``assert_same``: compares a received file with the sample sent, element by element (group
  0002 aside, since every receiver writes its own file meta), pixel data byte for byte.

A missing peer skips the tests that need it, with the reason; with
``PYNETDICOM2_REQUIRE_INTEROP=1`` in the environment (``.ci/run`` sets it) it fails them instead,
so CI cannot pass by skipping.

Why DCMTK tools are looked up by asking them: pynetdicom installs Python scripts called
``echoscu``, ``storescu``, ``storescp``... into the virtualenv's ``bin``, which comes first on
PATH once the virtualenv is active. ``shutil.which('echoscu')`` would find pynetdicom's; here a
candidate counts only if its ``--version`` says ``$dcmtk``.
"""

from __future__ import annotations

import array
import contextlib
import functools
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)
from test_app_processes import start_server  # noqa: F401 (the console scripts as processes)

from pynetdicom2.dsutils import save_part10

#: Every network step of a test (a DCMTK run, an association) finishes well inside this.
PEER_TIMEOUT = 30.0
#: How long a freshly started DCMTK server may take to listen.
LISTEN_TIMEOUT = 10.0

CT_IMAGE_STORAGE = UID('1.2.840.10008.5.1.4.1.1.2')
MR_IMAGE_STORAGE = UID('1.2.840.10008.5.1.4.1.1.4')

#: The sample names, in the order the parametrised tests list them.
SAMPLE_NAMES = (
    'implicit_le', 'explicit_le', 'explicit_be', 'deflated', 'jpeg_baseline', 'large_explicit_le'
)


def interop_required(peer: str = 'dcmtk') -> bool:
    """True when a missing ``peer`` ('dcmtk' or 'pynetdicom') must fail the run rather than
    skip: PYNETDICOM2_REQUIRE_INTEROP is 1 (every peer, as CI's main run sets it) or names
    the peers required, comma-separated (e.g. 'dcmtk' where pynetdicom cannot install)."""
    required = os.environ.get('PYNETDICOM2_REQUIRE_INTEROP', '').strip()
    if required in ('', '0'):
        return False
    return required == '1' or peer in {name.strip() for name in required.split(',')}


def missing_peer(reason: str) -> NoReturn:
    """Skip (or, when DCMTK is required, fail) a test whose DCMTK tool is not installed."""
    if interop_required('dcmtk'):
        pytest.fail(f'PYNETDICOM2_REQUIRE_INTEROP is set but {reason}', pytrace=False)
    pytest.skip(reason)


# --- DCMTK ---------------------------------------------------------------------------------------


def dcmtk_environment() -> dict[str, str]:
    """The environment of every DCMTK process: ours, plus TCP_NODELAY=1."""
    return dict(os.environ, TCP_NODELAY='1')


@functools.cache
def find_dcmtk_tool(name: str) -> str | None:
    """Absolute path of DCMTK's ``name`` on PATH, skipping same-named non-DCMTK programs."""
    for directory in os.get_exec_path():
        candidate = os.path.join(directory, name)
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        try:
            probe = subprocess.run(
                [candidate, '--version'],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=PEER_TIMEOUT,
                env=dcmtk_environment(),
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if b'$dcmtk:' in probe.stdout + probe.stderr:
            return candidate
    return None


def wait_until_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    """Return once 127.0.0.1:port accepts a connection; fail if the process dies or is slow.

    Between two refused attempts the loop waits on the process itself (which also notices at
    once that it exited, e.g. because the port was taken), never on a bare sleep.
    """
    deadline = time.monotonic() + LISTEN_TIMEOUT
    while True:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1.0):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f'{process.args[0]} did not listen on port {port} within {LISTEN_TIMEOUT} s:\n'
                f'{log.read_text(errors="replace")}'
            )
        try:
            code = process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(
            f'{process.args[0]} exited with {code} before listening on port {port}:\n'
            f'{log.read_text(errors="replace")}'
        )


def stop_process(process: subprocess.Popen) -> int:
    """Terminate, then kill if it lingers; always reap. Returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode


@dataclass
class DcmtkServer:
    """A running DCMTK server: its process, port and log (stdout and stderr together)."""

    process: subprocess.Popen
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors='replace')


class Dcmtk:
    """Runs DCMTK tools with TCP_NODELAY=1 and bounded waits; skips when a tool is missing."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._servers = 0

    def tool(self, name: str) -> str:
        path = find_dcmtk_tool(name)
        if path is None:
            missing_peer(f'DCMTK {name} is not installed (Debian/Ubuntu: apt-get install dcmtk)')
        return path

    def require(self, *names: str) -> None:
        for name in names:
            self.tool(name)

    def run(self, name: str, *args: Any, timeout: float = PEER_TIMEOUT) -> Completed:
        """Run a tool to completion; stdout and stderr together in ``.output``."""
        argv = [self.tool(name), *map(str, args)]
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            env=dcmtk_environment(),
        )
        return Completed(argv, done.returncode, done.stdout.decode(errors='replace'))

    @contextlib.contextmanager
    def server(self, name: str, *args: Any, port: int) -> Iterator[DcmtkServer]:
        """Start a DCMTK server on ``port`` (last argument), wait until it listens, stop it."""
        self._servers += 1
        log_path = self.workdir / f'{name}-{self._servers}.log'
        argv = [self.tool(name), *map(str, args), str(port)]
        with open(log_path, 'wb') as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dcmtk_environment(),
            )
        try:
            wait_until_listening(port, process, log_path)
            yield DcmtkServer(process, port, log_path)
        finally:
            stop_process(process)


@dataclass
class Completed:
    """A finished DCMTK run."""

    argv: list[str]
    returncode: int
    output: str

    def explain(self) -> str:
        return f'$ {" ".join(self.argv)}\nexit code {self.returncode}\n{self.output}'


@pytest.fixture
def dcmtk(tmp_path: Path) -> Dcmtk:
    return Dcmtk(tmp_path)


@pytest.fixture
def free_port() -> Any:
    """A function returning a port on 127.0.0.1 that was free a moment ago."""

    def pick() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(('127.0.0.1', 0))
            return probe.getsockname()[1]

    return pick


# --- our AE on loopback --------------------------------------------------------------------------


@contextlib.contextmanager
def serving(ae: Any) -> Iterator[int]:
    """Serve ``ae`` (built with port 0 and ``bind_and_activate=False``) on 127.0.0.1.

    Yields the port the OS chose. ``ae.quit()`` runs whatever happens, which joins the
    association threads (the suite-wide fixture fails a test that leaves one behind).
    """
    # socketserver binds to ``server_address`` when it is activated: point it at loopback.
    ae.server.server_address = ('127.0.0.1', 0)
    try:
        with ae:
            yield ae.server.server_address[1]
    finally:
        ae.quit()


@pytest.fixture
def serve() -> Any:
    return serving


# --- sample data sets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """A Part-10 file made for the tests, and the identifiers a receiver should report."""

    name: str
    path: Path
    transfer_syntax: UID
    sop_class_uid: UID
    sop_instance_uid: UID

    @property
    def stored_name(self) -> str:
        """The file name ``StorageAE`` gives it."""
        return f'{self.sop_instance_uid}.dcm'


def _code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def make_image(sop_class: UID, rows: int, columns: int, bits: int, big_endian: bool) -> Dataset:
    """A small, complete enough image: text, numbers, a sequence and a pixel pattern."""
    ds = Dataset()
    ds.SpecificCharacterSet = 'ISO_IR 100'
    ds.ImageType = ['ORIGINAL', 'PRIMARY', 'AXIAL']
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = '20240131'
    ds.StudyTime = '101112.5'
    ds.AccessionNumber = 'ACC0001'
    ds.Modality = 'CT' if sop_class == CT_IMAGE_STORAGE else 'MR'
    ds.Manufacturer = 'pynetdicom2 interop'
    ds.ReferringPhysicianName = ''
    ds.StudyDescription = 'Interoperability ÄÖÜ'
    ds.ProcedureCodeSequence = Sequence(
        [_code_item('ZZ001', '99TEST', 'First procedure'), _code_item('ZZ002', '99TEST', 'Two')]
    )
    ds.PatientName = 'Müller^Jürgen'
    ds.PatientID = 'INTEROP-1'
    ds.PatientBirthDate = '19700101'
    ds.PatientSex = 'O'
    ds.SliceThickness = '1.25'
    if ds.Modality == 'CT':
        ds.KVP = '120'
    else:
        ds.EchoTime = '4.5'
        ds.RepetitionTime = '500'
        ds.MagneticFieldStrength = '1.5'
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyID = 'S1'
    ds.SeriesNumber = 2
    ds.InstanceNumber = 3
    ds.ImagePositionPatient = ['-125.5', '-125.5', '42.25']
    ds.ImageOrientationPatient = ['1', '0', '0', '0', '1', '0']
    ds.FrameOfReferenceUID = generate_uid()
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.Rows = rows
    ds.Columns = columns
    ds.PixelSpacing = ['0.48828125', '0.48828125']
    ds.BitsAllocated = bits
    ds.BitsStored = 12 if bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = '40'
    ds.WindowWidth = '400'
    if ds.Modality == 'CT':
        ds.RescaleIntercept = '-1024'
        ds.RescaleSlope = '1'
    if bits == 16:
        pixels = array.array('H', ((r * 37 + c * 11) % 4096 for r in range(rows)
                                   for c in range(columns)))
        if big_endian:  # OW is stored in the data set's byte order
            pixels.byteswap()
        ds.PixelData = pixels.tobytes()
        ds['PixelData'].VR = 'OW'
    else:
        ds.PixelData = bytes((r * 3 + c * 2) % 256 for r in range(rows) for c in range(columns))
        ds['PixelData'].VR = 'OB'
    return ds


def write_part10(ds: Dataset, path: Path, transfer_syntax: UID) -> None:
    """Write ``ds`` as a Part-10 file in ``transfer_syntax`` (pydicom deflates Deflated)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta = meta
    save_part10(ds, path)


def _sample_from_file(name: str, path: Path) -> Sample:
    ds = dcmread(path, stop_before_pixels=True)
    return Sample(
        name, path, ds.file_meta.TransferSyntaxUID, UID(ds.SOPClassUID), UID(ds.SOPInstanceUID)
    )


@pytest.fixture(scope='session')
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sample | str]:
    """One sample per name of SAMPLE_NAMES; a str in place of a sample says why it is missing."""
    directory = tmp_path_factory.mktemp('samples')
    plain = {
        'implicit_le': (CT_IMAGE_STORAGE, ImplicitVRLittleEndian),
        'explicit_le': (MR_IMAGE_STORAGE, ExplicitVRLittleEndian),
        'explicit_be': (CT_IMAGE_STORAGE, ExplicitVRBigEndian),
        'deflated': (MR_IMAGE_STORAGE, DeflatedExplicitVRLittleEndian),
        # 512 KiB of pixel data: dozens of P-DATA fragments at any peer's PDU size
        'large_explicit_le': (CT_IMAGE_STORAGE, ExplicitVRLittleEndian),
    }
    made: dict[str, Sample | str] = {}
    for name, (sop_class, syntax) in plain.items():
        path = directory / f'{name}.dcm'
        rows, columns = (512, 512) if name.startswith('large') else (64, 48)
        ds = make_image(sop_class, rows, columns, 16, big_endian=syntax == ExplicitVRBigEndian)
        write_part10(ds, path, syntax)
        made[name] = _sample_from_file(name, path)

    # JPEG Baseline (8-bit): written in Explicit VR LE, compressed by DCMTK. dcmcjpeg gives a
    # lossy result a new SOP Instance UID, so the identifiers are read back from its output.
    dcmcjpeg = find_dcmtk_tool('dcmcjpeg')
    if dcmcjpeg is None:
        made['jpeg_baseline'] = 'DCMTK dcmcjpeg is not installed: no JPEG Baseline sample'
    else:
        source = directory / 'jpeg_source.dcm'
        target = directory / 'jpeg_baseline.dcm'
        write_part10(make_image(MR_IMAGE_STORAGE, 64, 48, 8, False), source, ExplicitVRLittleEndian)
        done = subprocess.run(
            [dcmcjpeg, '+eb', str(source), str(target)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PEER_TIMEOUT,
            env=dcmtk_environment(),
        )
        assert done.returncode == 0, done.stdout + done.stderr
        made['jpeg_baseline'] = _sample_from_file('jpeg_baseline', target)
        assert made['jpeg_baseline'].transfer_syntax == JPEGBaseline8Bit
    return made


@pytest.fixture
def sample_of(samples: dict[str, Sample | str]) -> Any:
    """A function name -> Sample that skips the test when that sample could not be made."""

    def get(name: str) -> Sample:
        sample = samples[name]
        if isinstance(sample, str):
            missing_peer(sample)
        return sample

    return get


# --- comparing data sets -------------------------------------------------------------------------


def _swap_words(value: bytes) -> bytes:
    words = array.array('H', value)
    words.byteswap()
    return words.tobytes()


def dataset_differences(expected: Dataset, actual: Dataset, where: str = '',
                        swap_ow: bool = False) -> list[str]:
    """Every difference between two data sets, group 0002 ignored, pixel data as bytes.

    ``swap_ow``: the two were read from files of opposite byte orders, so OW pixel data (stored
    in its file's byte order) is compared after swapping the bytes of each word.
    """
    problems: list[str] = []
    expected_tags = [tag for tag in expected.keys() if tag.group != 0x0002]
    actual_tags = [tag for tag in actual.keys() if tag.group != 0x0002]
    for tag in sorted(set(expected_tags) - set(actual_tags)):
        problems.append(f'{where}{tag} {expected[tag].keyword}: missing')
    for tag in sorted(set(actual_tags) - set(expected_tags)):
        problems.append(f'{where}{tag} {actual[tag].keyword}: unexpected {actual[tag].value!r}')
    for tag in expected_tags:
        if tag not in actual:
            continue
        ours, theirs = expected[tag], actual[tag]
        label = f'{where}{tag} {ours.keyword}'
        if ours.VR != theirs.VR:
            problems.append(f'{label}: VR {ours.VR} became {theirs.VR}')
        elif ours.VR == 'SQ':
            if len(ours.value) != len(theirs.value):
                problems.append(f'{label}: {len(ours.value)} items became {len(theirs.value)}')
                continue
            for index, (mine, yours) in enumerate(zip(ours.value, theirs.value)):
                problems += dataset_differences(mine, yours, f'{label}[{index}] > ', swap_ow)
        elif tag == 0x7FE00010:
            expected_bytes = bytes(ours.value)
            if swap_ow and ours.VR == 'OW':
                expected_bytes = _swap_words(expected_bytes)
            if expected_bytes != bytes(theirs.value):
                problems.append(f'{label}: pixel data differs ({len(ours.value)} bytes expected,'
                                f' {len(theirs.value)} received)')
        elif ours.value != theirs.value:
            problems.append(f'{label}: {ours.value!r} became {theirs.value!r}')
    return problems


def assert_same_file(sample: Sample, received: Path, same_syntax: bool = True) -> Dataset:
    """``received`` holds the same data set as ``sample``, by default in the same transfer
    syntax; returns the received data set."""
    actual = dcmread(received)
    meta = actual.file_meta
    if same_syntax:
        assert meta.TransferSyntaxUID == sample.transfer_syntax, (
            f'{received} is in {meta.TransferSyntaxUID.name}, {sample.path} in '
            f'{sample.transfer_syntax.name}')
    assert meta.MediaStorageSOPClassUID == sample.sop_class_uid, meta
    assert meta.MediaStorageSOPInstanceUID == sample.sop_instance_uid, meta
    swap = sample.transfer_syntax.is_little_endian != meta.TransferSyntaxUID.is_little_endian
    problems = dataset_differences(dcmread(sample.path), actual, swap_ow=swap)
    assert not problems, f'{received} differs from {sample.path}:\n' + '\n'.join(problems)
    return actual


@pytest.fixture
def assert_same() -> Any:
    """``assert_same(sample, received_path)``: see :func:`assert_same_file`."""
    return assert_same_file
