"""End-to-end network benchmark: pynetdicom2, pynetdicom and DCMTK side by side (issue 4, item 6).

On loopback, every SCP writing what it receives to disk, each case on one association at each
tool's default PDU size:

* ``echo``  C-ECHO x500 on one association;
* ``assoc`` 100 associations x 1 C-ECHO;
* ``tiny``  C-STORE of 1000 tiny (~2 kB) CT files;
* ``half``  C-STORE of 100 x 0.5 MB CT files;
* ``big``   C-STORE of one ~100 MB multi-frame file.

Each case runs in two directions, with DCMTK on the other end:

* ``to-storescp``: an SCU -> DCMTK ``storescp`` (our ``ClientAE``; pynetdicom; pynetdicom with
  TCP_NODELAY; DCMTK ``echoscu``/``storescu`` as the reference);
* ``from-storescu``: DCMTK ``echoscu``/``storescu`` -> an SCP (our ``StorageAE``; pynetdicom's
  ``start_server`` with an ``EVT_C_STORE`` handler writing the encoded data set; the same with
  TCP_NODELAY; DCMTK ``storescp`` as the reference). Peer ``ours-fsync`` is our
  ``StorageAE`` with ``fsync=True`` (durable Success: file and directory synced before each
  response), in this direction only: its row beside ``ours`` is the cost of that guarantee.

Every side runs in its own process (this script re-runs itself with ``--role``), so the peak
RSS of each process is its own (``os.wait4``). Python SCUs time themselves from the first
association request to the last release; a DCMTK SCU is timed from its start to its exit (so
its figures include its process start, and for ``assoc`` one process per association, since
echoscu makes one association per run). DCMTK processes get ``TCP_NODELAY=1`` (Debian's build
leaves Nagle's algorithm on otherwise). storescp runs stock (``-od DIR``).

Rates: echoes/s, associations/s, files/s, MB/s (10^6 bytes of file per second). Ratios are
ours / pynetdicom (stock and with TCP_NODELAY) and ours / DCMTK, higher is better for us.
With ``--repeat N`` every row of a case is measured once per round, N rounds, and the best of
each row is shown; what the SCPs received is deleted only once the case is done (deleting
thousands of files slows the file creations that follow on some file systems, ext4 without
a journal for one, and would penalise whichever SCP came next).

Usage::

    python benchmarks/bench_network.py                  # everything (several minutes)
    python benchmarks/bench_network.py --quick          # counts and sizes scaled down
    python benchmarks/bench_network.py --cases echo,big --peers ours,dcmtk
    python benchmarks/bench_network.py --repeat 3       # best of three for every row
    python benchmarks/bench_network.py --profile DIR    # profile our processes into DIR
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VERIFICATION = '1.2.840.10008.1.1'
CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2'
MF_WORD_SC_STORAGE = '1.2.840.10008.5.1.4.1.1.7.3'  # Multi-frame Grayscale Word SC Image
EXPLICIT_LE = '1.2.840.10008.1.2.1'
IMPLICIT_LE = '1.2.840.10008.1.2'
SCP_AET = 'BENCHSCP'
SCU_AET = 'BENCHSCU'
#: No single process of a full run comes near this; a hung peer is killed after it.
PROCESS_TIMEOUT = 900.0
LISTEN_TIMEOUT = 20.0

PEERS = ('ours', 'ours-fsync', 'pynetdicom', 'pynetdicom-nodelay', 'dcmtk')
PEER_LABELS = {
    'ours': 'pynetdicom2',
    'ours-fsync': 'pynetdicom2 --fsync',
    'pynetdicom': 'pynetdicom',
    'pynetdicom-nodelay': 'pynetdicom+NODELAY',
    'dcmtk': 'DCMTK',
}
DIRECTIONS = ('to-storescp', 'from-storescu')


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # 'echo', 'assoc' or 'store'
    count: int
    quick_count: int
    unit: str
    rows: int = 0
    columns: int = 0
    frames: int = 0
    quick_frames: int = 0
    sop_class: str = CT_IMAGE_STORAGE

    def title(self, count: int, size: int) -> str:
        if self.kind == 'echo':
            return f'C-ECHO x{count}, one association'
        if self.kind == 'assoc':
            return f'{count} associations x 1 C-ECHO'
        return f'C-STORE {count} x {_human(size)} files, one association'


CASES = {
    'echo': Case('echo', 'echo', 500, 50, 'echoes/s'),
    'assoc': Case('assoc', 'assoc', 100, 10, 'assoc/s'),
    # 30 x 30 x 16 bit = 1,800 bytes of pixels, ~2.2 kB a file
    'tiny': Case('tiny', 'store', 1000, 100, 'files/s', rows=30, columns=30, frames=1),
    # 512 x 512 x 16 bit = 0.5 MiB of pixels
    'half': Case('half', 'store', 100, 10, 'MB/s', rows=512, columns=512, frames=1),
    # 200 frames of 512 x 512 x 16 bit = 100 MiB (--quick: 20 frames, 10 MiB)
    'big': Case('big', 'store', 1, 1, 'MB/s', rows=512, columns=512, frames=200,
                quick_frames=20, sop_class=MF_WORD_SC_STORAGE),
}

#: Issue 4's targets for pynetdicom2, in each case's unit, both directions.
TARGETS = {'echo': 2000.0, 'tiny': 1000.0, 'half': 200.0, 'big': 400.0}
TARGET_BIG_RSS_MB = 64.0


def _human(size: int) -> str:
    for unit, scale in (('MB', 10**6), ('kB', 10**3)):
        if size >= scale:
            return f'{size / scale:.1f} {unit}'
    return f'{size} B'


# --- DCMTK ---------------------------------------------------------------------------------------


def dcmtk_environment() -> dict[str, str]:
    return dict(os.environ, TCP_NODELAY='1')


def find_dcmtk(name: str) -> str | None:
    """DCMTK's ``name`` on PATH; pynetdicom's same-named scripts (venv/bin) do not count."""
    for directory in os.get_exec_path():
        candidate = os.path.join(directory, name)
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        try:
            probe = subprocess.run([candidate, '--version'], capture_output=True, timeout=30,
                                   stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            continue
        if b'$dcmtk:' in probe.stdout + probe.stderr:
            return candidate
    return None


# --- child processes, measured -------------------------------------------------------------------


def peak_rss_mb(pid: int | str = 'self') -> float | None:
    """VmHWM of a live process from /proc (Linux), in MB; None when it cannot be read.

    Not ``ru_maxrss``: the kernel folds the RSS a child had before ``exec`` (a copy of this
    parent, pydicom and all) into it, which would put a 40 MB floor under every process.
    """
    try:
        status = Path(f'/proc/{pid}/status').read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    return None


@dataclass
class Usage:
    """A finished child: exit code, peak RSS (MB), CPU seconds (user + system), wall seconds."""

    returncode: int
    rss_mb: float
    cpu: float
    wall: float


class Child:
    """A subprocess reaped with ``os.wait4`` (its own CPU time), killed after a timeout.

    Its peak RSS is VmHWM: read once more just before a terminate, sampled every few
    milliseconds while it runs (``watch_rss``, for DCMTK tools that exit by themselves), or
    reported by the child itself (our Python roles put it in their RESULT line).
    """

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None,
                 stdout_pipe: bool = False, stdin_pipe: bool = False,
                 watch_rss: bool = False) -> None:
        self.log = log
        self._log_file = open(log, 'ab')
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else self._log_file,
            stderr=self._log_file,
            env=env,
        )
        self.rss_mb = 0.0
        self._exited = threading.Event()
        self._sampler = None
        if watch_rss:
            self._sampler = threading.Thread(target=self._sample, name='bench-rss-sampler')
            self._sampler.start()

    def sample_rss(self) -> None:
        value = peak_rss_mb(self.process.pid)
        if value is not None:
            self.rss_mb = max(self.rss_mb, value)

    def _sample(self) -> None:
        self.sample_rss()
        while not self._exited.wait(0.005):
            self.sample_rss()

    def read_line(self, timeout: float) -> str:
        """One line of the child's stdout, waiting at most ``timeout`` seconds."""
        stream = self.process.stdout
        assert stream is not None
        ready, _, _ = select.select([stream], [], [], timeout)
        if not ready:
            raise TimeoutError(f'{self.process.args[0]} said nothing within {timeout} s')
        return stream.readline().decode(errors='replace').strip()

    def finish(self, timeout: float = PROCESS_TIMEOUT, terminate: bool = False) -> Usage:
        """Wait for the exit (after SIGTERM if ``terminate``), killing it after ``timeout``."""
        if self.process.stdin:
            self.process.stdin.close()
        if terminate:
            self.sample_rss()
            self.process.send_signal(signal.SIGTERM)
        watchdog = threading.Timer(timeout, self.process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(self.process.pid, 0)
        finally:
            watchdog.cancel()
            self._exited.set()
            if self._sampler is not None:
                self._sampler.join()
            self._log_file.close()
        wall = time.perf_counter() - self.started
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return Usage(self.process.returncode, self.rss_mb, usage.ru_utime + usage.ru_stime, wall)

    def kill(self) -> None:
        """Last resort for a child still running after an error: kill and reap."""
        if self.process.returncode is None:
            self.process.kill()
            try:
                self.finish(timeout=10)
            except ChildProcessError:
                pass

    def remaining_stdout(self) -> str:
        if self.process.stdout is None:
            return ''
        return self.process.stdout.read().decode(errors='replace')

    def result(self) -> dict[str, Any]:
        """The RESULT line a Python role printed (after ``finish``)."""
        lines = [x for x in self.remaining_stdout().splitlines() if x.startswith('RESULT ')]
        if not lines:
            raise RuntimeError(f'{self.process.args[0]} gave no result; see {self.log}')
        return json.loads(lines[-1][len('RESULT '):])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, child: Child) -> None:
    """Until 127.0.0.1:port accepts; between refused attempts, wait on the child itself."""
    deadline = time.monotonic() + LISTEN_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1.0):
                return
        except OSError:
            pass
        try:
            child.process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f'{child.process.args[0]} exited before listening; see {child.log}')
    raise RuntimeError(f'{child.process.args[0]} did not listen on {port}; see {child.log}')


# --- test files ----------------------------------------------------------------------------------


def make_files(case: Case, count: int, frames: int, directory: Path) -> int:
    """``count`` Explicit VR LE files of the case's kind in ``directory``; returns total bytes."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import generate_uid

    from pynetdicom2.dsutils import save_part10

    directory.mkdir(parents=True, exist_ok=True)
    pixels = bytes(range(256)) * (case.rows * case.columns * 2 * frames // 256 + 1)
    pixels = pixels[:case.rows * case.columns * 2 * frames]
    ds = Dataset()
    ds.SOPClassUID = case.sop_class
    ds.StudyDate = '20240131'
    ds.Modality = 'CT' if case.sop_class == CT_IMAGE_STORAGE else 'OT'
    ds.PatientName = 'Bench^Mark'
    ds.PatientID = 'BENCH'
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows = case.rows
    ds.Columns = case.columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = pixels
    ds['PixelData'].VR = 'OW'
    total = 0
    for index in range(count):
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = index + 1
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = EXPLICIT_LE
        ds.file_meta = meta
        path = directory / f'f{index:05d}.dcm'
        save_part10(ds, path)
        total += path.stat().st_size
    return total


# --- roles: what each child process does ---------------------------------------------------------


def _result(**values: Any) -> None:
    print('RESULT ' + json.dumps(dict(values, rss_mb=peak_rss_mb())), flush=True)


def _set_nodelay(event: Any) -> None:
    """pynetdicom EVT_CONN_OPEN handler: switch Nagle's algorithm off on the new socket."""
    event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def role_scu_ours(args: argparse.Namespace) -> None:
    from pynetdicom2 import applicationentity as ae
    from pynetdicom2 import sopclass as sc

    remote = {'aet': SCP_AET, 'address': '127.0.0.1', 'port': args.port}
    client = ae.ClientAE(SCU_AET)
    if args.kind == 'store':
        client.add_scu(sc.storage_scu, [args.sop_class])
        files = [str(p) for p in sorted(Path(args.files).iterdir())]
    else:
        client.add_scu(sc.verification_scu)
    failures = 0
    start = time.perf_counter()
    if args.kind == 'echo':
        with client.request_association(remote) as assoc:
            echo = assoc.get_scu(VERIFICATION)
            for number in range(args.count):
                failures += not echo(number % 65535 + 1).is_success
    elif args.kind == 'assoc':
        for _ in range(args.count):
            with client.request_association(remote) as assoc:
                failures += not assoc.get_scu(VERIFICATION)(1).is_success
    else:
        with client.request_association(remote) as assoc:
            store = assoc.get_scu(args.sop_class)
            for number, path in enumerate(files):
                failures += not store(path, number % 65535 + 1).is_success
    _result(seconds=time.perf_counter() - start, failures=failures)


def _status(response: Any) -> int | None:
    """A pynetdicom response's Status; None when no response came (an empty Dataset)."""
    return getattr(response, 'Status', None)


def role_scu_pynetdicom(args: argparse.Namespace) -> None:
    from pynetdicom import AE, evt

    logging.basicConfig(level=logging.WARNING)  # pynetdicom's complaints go to our log

    peer = AE(SCU_AET)
    peer.acse_timeout = peer.dimse_timeout = peer.network_timeout = 20
    handlers = [(evt.EVT_CONN_OPEN, _set_nodelay)] if args.nodelay else []
    if args.kind == 'store':
        peer.add_requested_context(args.sop_class, EXPLICIT_LE)
        files = [str(p) for p in sorted(Path(args.files).iterdir())]
    else:
        peer.add_requested_context(VERIFICATION)

    def associate() -> Any:
        assoc = peer.associate('127.0.0.1', args.port, ae_title=SCP_AET, evt_handlers=handlers)
        if not assoc.is_established:
            raise SystemExit('pynetdicom: association not established')
        return assoc

    def run(assoc: Any, operations: list[Any]) -> int:
        """Run the operations on ``assoc``; failures (a lost association fails the rest)."""
        failed = 0
        for index, operation in enumerate(operations):
            try:
                failed += _status(operation(assoc, index % 65535 + 1)) != 0
            except RuntimeError:  # pynetdicom: the association is gone (it logged why)
                return failed + len(operations) - index
        assoc.release()
        return failed

    def echo(assoc: Any, message_id: int) -> Any:
        return assoc.send_c_echo(msg_id=message_id)

    def store(path: str) -> Any:
        return lambda assoc, message_id: assoc.send_c_store(path, msg_id=message_id)

    failures = 0
    start = time.perf_counter()
    if args.kind == 'echo':
        failures = run(associate(), [echo] * args.count)
    elif args.kind == 'assoc':
        failures = sum(run(associate(), [echo]) for _ in range(args.count))
    else:
        failures = run(associate(), [store(path) for path in files])
    _result(seconds=time.perf_counter() - start, failures=failures)


def role_scp_ours(args: argparse.Namespace) -> None:
    from pynetdicom2 import applicationentity as ae
    from pynetdicom2 import sopclass as sc

    scp = ae.StorageAE(Path(args.out), SCP_AET, 0, bind_and_activate=False, fsync=args.fsync)
    scp.add_scp(sc.verification_scp).add_scp(sc.storage_scp)
    scp.server.server_address = ('127.0.0.1', 0)  # bound on activation: loopback only
    with scp:
        print(f'PORT {scp.server.server_address[1]}', flush=True)
        sys.stdin.buffer.read()  # until the parent closes our stdin
    _result()


def role_scp_pynetdicom(args: argparse.Namespace) -> None:
    from pynetdicom import AE, evt

    logging.basicConfig(level=logging.WARNING)

    out = Path(args.out)
    scp = AE(SCP_AET)
    scp.acse_timeout = scp.dimse_timeout = scp.network_timeout = 60
    scp.add_supported_context(VERIFICATION)
    for sop_class in (CT_IMAGE_STORAGE, MF_WORD_SC_STORAGE):
        scp.add_supported_context(sop_class, [EXPLICIT_LE, IMPLICIT_LE])

    def on_store(event: Any) -> int:
        (out / f'{event.request.AffectedSOPInstanceUID}.dcm').write_bytes(
            event.encoded_dataset())
        return 0x0000

    handlers = [(evt.EVT_C_STORE, on_store)]
    if args.nodelay:
        handlers.append((evt.EVT_CONN_OPEN, _set_nodelay))
    server = scp.start_server(('127.0.0.1', 0), block=False, evt_handlers=handlers)
    try:
        print(f'PORT {server.server_address[1]}', flush=True)
        sys.stdin.buffer.read()
    finally:
        server.shutdown()
    _result()


ROLES = {
    'scu-ours': role_scu_ours,
    'scu-pynetdicom': role_scu_pynetdicom,
    'scp-ours': role_scp_ours,
    'scp-pynetdicom': role_scp_pynetdicom,
}


def run_role(args: argparse.Namespace) -> None:
    role = ROLES[args.role]
    if args.profile and args.role.endswith('-ours'):
        profiler = cProfile.Profile()
        profiler.runcall(role, args)
        profiler.dump_stats(args.profile)
    else:
        role(args)


# --- the parent: one measurement -----------------------------------------------------------------


@dataclass
class Measurement:
    case: str
    direction: str
    peer: str
    seconds: float
    operations: int
    volume: int
    scu: Usage
    scp: Usage
    files: int
    failures: int
    notes: list[str] = field(default_factory=list)

    def rate(self, unit: str) -> float:
        if unit == 'MB/s':
            return self.volume / 10**6 / self.seconds
        return self.operations / self.seconds


class Bench:
    def __init__(self, workdir: Path, quick: bool, profile: Path | None,
                 tools: dict[str, str]) -> None:
        self.workdir = workdir
        self.quick = quick
        self.profile = profile
        self.tools = tools
        self.files: dict[str, tuple[Path, int, int]] = {}
        self.serial = 0

    def dcmtk_start_ms(self, runs: int = 5) -> float:
        """Best wall time of echoscu failing at once (nobody on the port): start + exit."""
        port = free_port()
        best = float('inf')
        for _ in range(runs):
            child = Child([self.tools['echoscu'], '127.0.0.1', str(port)],
                          self._log('echoscu-start'), env=dcmtk_environment())
            best = min(best, child.finish(timeout=30).wall)
        return best * 1000

    # files, counts

    def count(self, case: Case) -> int:
        return case.quick_count if self.quick else case.count

    def case_files(self, case: Case) -> tuple[Path, int, int]:
        """(directory, number of files, total bytes), made on first use."""
        if case.name not in self.files:
            frames = case.quick_frames if self.quick and case.quick_frames else case.frames
            directory = self.workdir / 'files' / case.name
            count = self.count(case)
            total = make_files(case, count, frames, directory)
            self.files[case.name] = (directory, count, total)
        return self.files[case.name]

    # processes

    def _log(self, what: str) -> Path:
        self.serial += 1
        return self.workdir / 'logs' / f'{self.serial:03d}-{what}.log'

    def _python(self, role: str, case: Case, extra: list[str]) -> list[str]:
        argv = [sys.executable, __file__, '--role', role, '--kind', case.kind,
                '--sop-class', case.sop_class, '--count', str(self.count(case)), *extra]
        if self.profile and role.endswith('-ours'):
            self.profile.mkdir(parents=True, exist_ok=True)
            stem = self.profile / f'{role}-{case.name}-{self.serial:03d}'
            py_spy = shutil.which('py-spy') or shutil.which(
                'py-spy', path=str(Path(sys.executable).parent))
            if py_spy:  # every thread, idle time included: collapsed stacks, one per line
                argv = [py_spy, 'record', '--idle', '-r', '500', '-f', 'raw', '-o',
                        f'{stem}.txt', '--', *argv]
            else:  # the main thread only
                argv += ['--profile', f'{stem}.prof']
        return argv

    def start_scp(self, peer: str, case: Case, out: Path) -> tuple[Child, int]:
        if peer == 'dcmtk':
            port = free_port()
            child = Child([self.tools['storescp'], '-aet', SCP_AET, '-od', str(out), str(port)],
                          self._log('storescp'), env=dcmtk_environment())
            try:
                wait_for_port(port, child)
            except BaseException:
                child.kill()
                raise
            return child, port
        role = 'scp-ours' if peer.startswith('ours') else 'scp-pynetdicom'
        extra = ['--out', str(out)] + (['--nodelay'] if peer == 'pynetdicom-nodelay' else [])
        if peer == 'ours-fsync':
            extra.append('--fsync')
        child = Child(self._python(role, case, extra), self._log(role), stdout_pipe=True,
                      stdin_pipe=True)
        try:
            deadline = time.monotonic() + LISTEN_TIMEOUT
            line = ''
            while not line.startswith('PORT '):  # (py-spy, when profiling, talks first)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or child.process.poll() is not None:
                    raise RuntimeError(f'{role} did not start: {line!r}; see {child.log}')
                line = child.read_line(remaining)
        except BaseException:
            child.kill()
            raise
        return child, int(line.split()[1])

    def stop_scp(self, peer: str, child: Child) -> Usage:
        usage = child.finish(timeout=60, terminate=peer == 'dcmtk')
        if peer != 'dcmtk':
            if usage.returncode != 0:
                raise RuntimeError(f'the {peer} SCP failed (exit {usage.returncode});'
                                   f' see {child.log}')
            usage.rss_mb = child.result()['rss_mb'] or 0.0
        return usage

    def run_scu(self, peer: str, case: Case, port: int, files: Path | None
                ) -> tuple[float, Usage, int]:
        """Run the SCU side to completion: (seconds, usage, failures)."""
        count = self.count(case)
        if peer == 'dcmtk':
            if case.kind == 'store':
                argv = [self.tools['storescu'], '-aet', SCU_AET, '-aec', SCP_AET, '+sd',
                        '127.0.0.1', str(port), str(files)]
                runs = 1
            else:
                argv = [self.tools['echoscu'], '-aet', SCU_AET, '-aec', SCP_AET, '127.0.0.1',
                        str(port)]
                if case.kind == 'echo':
                    argv[1:1] = ['--repeat', str(count)]
                runs = 1 if case.kind == 'echo' else count
            usages = []
            start = time.perf_counter()
            for _ in range(runs):
                usages.append(Child(argv, self._log(Path(argv[0]).name),
                                    env=dcmtk_environment(), watch_rss=True).finish())
            seconds = time.perf_counter() - start
            failures = sum(u.returncode != 0 for u in usages)
            worst = Usage(max(u.returncode for u in usages), max(u.rss_mb for u in usages),
                          sum(u.cpu for u in usages), seconds)
            return seconds, worst, failures
        role = 'scu-ours' if peer == 'ours' else 'scu-pynetdicom'
        extra = ['--port', str(port)] + (['--files', str(files)] if files else [])
        if peer == 'pynetdicom-nodelay':
            extra.append('--nodelay')
        child = Child(self._python(role, case, extra), self._log(role), stdout_pipe=True)
        usage = child.finish()
        if usage.returncode != 0:
            raise RuntimeError(f'{role} failed (exit {usage.returncode}); see {child.log}')
        result = child.result()
        usage.rss_mb = result['rss_mb'] or 0.0
        return result['seconds'], usage, result['failures']

    def measure(self, case: Case, direction: str, peer: str) -> Measurement:
        # A directory of its own, removed by discard_received() only after the case: on ext4
        # without a journal creating a file passes over every inode freed in the last minutes,
        # so deleting 1000 files between two measurements slows file creation in the second,
        # whichever SCP it measures.
        out = self.workdir / 'received' / f'{self.serial:03d}'
        out.mkdir(parents=True)
        files, count, volume = (self.case_files(case) if case.kind == 'store'
                                else (None, self.count(case), 0))
        scp_peer, scu_peer = ('dcmtk', peer) if direction == 'to-storescp' else (peer, 'dcmtk')
        scp, port = self.start_scp(scp_peer, case, out)
        try:
            seconds, scu_usage, failures = self.run_scu(scu_peer, case, port, files)
        finally:
            scp_usage = self.stop_scp(scp_peer, scp)
        received = sum(1 for _ in out.iterdir())
        notes = []
        if case.kind == 'store' and received != count:
            notes.append(f'{received} files on disk, {count} expected')
        return Measurement(case.name, direction, peer, seconds, count, volume, scu_usage,
                           scp_usage, received, failures, notes)

    def discard_received(self) -> None:
        """Remove what the SCPs received during a case."""
        shutil.rmtree(self.workdir / 'received', ignore_errors=True)


# --- reporting -----------------------------------------------------------------------------------


def _fmt_rate(value: float | None) -> str:
    if value is None:
        return '-'
    return f'{value:,.0f}' if value >= 100 else f'{value:,.1f}'


def _fmt_ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or not theirs:
        return '-'
    return f'{ours / theirs:.2f}'


def report(bench: Bench, results: dict[tuple[str, str, str], Measurement],
           cases: list[Case], peers: list[str], directions: list[str]) -> None:
    print()
    print('=' * 100)
    print('Rates (higher is better); ratios ours/X; peak RSS in MB as SCU / SCP process')
    print('=' * 100)
    for case in cases:
        count = bench.count(case)
        size = bench.files[case.name][2] // count if case.name in bench.files else 0
        print(f'\n{case.title(count, size)}  [{case.unit}]')
        for direction in directions:
            arrow = ('SCU -> DCMTK storescp' if direction == 'to-storescp'
                     else 'DCMTK storescu/echoscu -> SCP')
            print(f'  {arrow}')
            rates = {}
            for peer in peers:
                m = results.get((case.name, direction, peer))
                if m is None:
                    continue
                rates[peer] = m.rate(case.unit)
                flags = f'  failures={m.failures}' if m.failures else ''
                flags += ''.join(f'  [{n}]' for n in m.notes)
                print(f'    {PEER_LABELS[peer]:<20} {_fmt_rate(rates[peer]):>10} {case.unit:<9}'
                      f' {m.seconds:8.3f} s   RSS {m.scu.rss_mb:6.1f} / {m.scp.rss_mb:6.1f} MB'
                      f'   CPU {m.scu.cpu:6.2f} / {m.scp.cpu:6.2f} s{flags}')
            ours = rates.get('ours')
            ratios = [f'ours/{PEER_LABELS[p]} {_fmt_ratio(ours, rates.get(p))}'
                      for p in peers if p != 'ours' and p in rates]
            if ours is not None and ratios:
                print('    ' + '   '.join(ratios))
            target = TARGETS.get(case.name)
            if ours is not None and target is not None and not bench.quick:
                verdict = 'met' if ours >= target else 'MISSED'
                print(f'    target for ours >= {target:,.0f} {case.unit}: {verdict}')
            if case.name == 'big' and ours is not None:
                m = results[(case.name, direction, 'ours')]
                our_rss = m.scu.rss_mb if direction == 'to-storescp' else m.scp.rss_mb
                verdict = 'met' if our_rss < TARGET_BIG_RSS_MB else 'MISSED'
                print(f'    peak RSS of ours {our_rss:.1f} MB'
                      f' (target < {TARGET_BIG_RSS_MB:.0f} MB): {verdict}')


# --- main ----------------------------------------------------------------------------------------


def _list(text: str, allowed: tuple[str, ...] | dict) -> list[str]:
    names = [n.strip() for n in text.split(',') if n.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f'unknown {bad}; choose from {", ".join(allowed)}')
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true',
                        help='scale counts and sizes down by about ten (a smoke run)')
    parser.add_argument('--cases', type=lambda t: _list(t, CASES), default=list(CASES),
                        help=f'comma-separated subset of {",".join(CASES)}')
    parser.add_argument('--peers', type=lambda t: _list(t, PEERS), default=list(PEERS),
                        help=f'comma-separated subset of {",".join(PEERS)}')
    parser.add_argument('--directions', type=lambda t: _list(t, DIRECTIONS),
                        default=list(DIRECTIONS),
                        help=f'comma-separated subset of {",".join(DIRECTIONS)}')
    parser.add_argument('--repeat', type=int, default=1,
                        help='measure each row this many times and keep the best (the machine '
                             'is shared and noisy)')
    parser.add_argument('--workdir', type=Path, default=None,
                        help='where files, logs and received data go (default: a temp dir, '
                             'removed at the end)')
    parser.add_argument('--profile', type=Path, default=None,
                        help='profile our processes into this directory: py-spy collapsed '
                             'stacks of every thread (.txt) when py-spy is installed, else '
                             'cProfile of the main thread (.prof)')
    # internal: a child process playing one side
    parser.add_argument('--role', choices=sorted(ROLES), help=argparse.SUPPRESS)
    parser.add_argument('--kind', help=argparse.SUPPRESS)
    parser.add_argument('--sop-class', help=argparse.SUPPRESS)
    parser.add_argument('--count', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--port', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--files', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    parser.add_argument('--nodelay', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--fsync', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    if args.role:
        run_role(args)
        return 0
    bench_tools = {name: find_dcmtk(name) for name in ('echoscu', 'storescu', 'storescp')}
    missing = [name for name, path in bench_tools.items() if path is None]
    if missing:
        print(f'DCMTK is required on the other end; missing: {", ".join(missing)} '
              '(Debian/Ubuntu: apt-get install dcmtk)', file=sys.stderr)
        return 1
    peers = list(args.peers)
    try:
        import pynetdicom  # noqa: F401
    except ImportError:
        print('pynetdicom is not installed: its rows are skipped', file=sys.stderr)
        peers = [p for p in peers if not p.startswith('pynetdicom')]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix='bench_network-'))
    (workdir / 'logs').mkdir(parents=True, exist_ok=True)
    bench = Bench(workdir, args.quick, args.profile, bench_tools)
    cases = [CASES[name] for name in args.cases]
    results: dict[tuple[str, str, str], Measurement] = {}
    print(f'workdir {workdir}; {"quick" if args.quick else "full"} run; '
          f'DCMTK {bench.tools["storescp"]}; python {sys.version.split()[0]}')
    print(f'a DCMTK SCU process costs ~{bench.dcmtk_start_ms():.0f} ms to start and exit '
          '(included in its figures)', flush=True)
    failed = False
    try:
        for case in cases:
            if case.kind == 'store':
                directory, count, total = bench.case_files(case)
                print(f'[{case.name}] {count} files, {_human(total)} in all', flush=True)
            # Every row once per round, rounds repeated: a machine that slows down or speeds up
            # during the run (other jobs, the file system) then weighs on all rows alike.
            rows = [(direction, peer) for direction in args.directions for peer in peers
                    if (peer != 'dcmtk' or direction == args.directions[0])
                    and (peer != 'ours-fsync' or (direction == 'from-storescu'
                                                  and case.kind == 'store'))]
            tries: dict[tuple[str, str], list[Measurement]] = {row: [] for row in rows}
            broken: set[tuple[str, str]] = set()
            for _ in range(max(1, args.repeat)):
                for direction, peer in rows:
                    if (direction, peer) in broken:
                        continue
                    try:
                        m = bench.measure(case, direction, peer)
                    except (RuntimeError, TimeoutError) as error:
                        print(f'[{case.name}] {direction} {peer}: FAILED: {error}', flush=True)
                        failed = True
                        broken.add((direction, peer))
                        continue
                    failed = failed or bool(m.failures or m.notes)
                    tries[(direction, peer)].append(m)
                    print(f'[{case.name}] {direction:<13} {PEER_LABELS[peer]:<20}'
                          f' {_fmt_rate(m.rate(case.unit)):>10} {case.unit}', flush=True)
            bench.discard_received()
            for (direction, peer), measured in tries.items():
                if not measured:
                    continue
                clean = [t for t in measured if not t.failures and not t.notes]
                best = min(clean or measured, key=lambda t: t.seconds)
                # DCMTK to DCMTK is one pair of processes, whatever the direction.
                for shown in args.directions if peer == 'dcmtk' else [direction]:
                    results[(case.name, shown, peer)] = best
        report(bench, results, cases, peers, list(args.directions))
    finally:
        if args.workdir is None and not failed:
            shutil.rmtree(workdir, ignore_errors=True)
        elif failed:
            print(f'something failed: logs kept in {workdir / "logs"}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
