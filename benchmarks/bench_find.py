"""C-FIND benchmark: 10,000 matches on one association, pynetdicom2 vs pynetdicom vs DCMTK.

One Study Root C-FIND at STUDY level whose answer is 10,000 pending responses (each a
13-element study identifier, the kind a PACS returns) and the final Success, on loopback, on
one association. The SCP's matches are built before it starts listening, so what is measured
is the DIMSE service and the network stack, not a database.

Arrangements (SCU -> SCP), each side in its own process:

* ``ours -> ours``, ``pynetdicom -> pynetdicom`` (and pynetdicom with TCP_NODELAY on both
  sides): each library against itself, the headline ratio;
* ``findscu -> ours``, ``findscu -> pynetdicom``: the SCPs, with DCMTK's client fixed;
* ``ours -> dcmqrscp``, ``pynetdicom -> dcmqrscp``: the SCUs, with DCMTK's archive fixed
  (its database indexed with ``dcmqridx`` from 10,000 tiny files of one study, queried at
  IMAGE level so that every file matches);
* ``findscu -> dcmqrscp``: DCMTK against itself, the reference.

A Python SCU is timed from sending the C-FIND-RQ to the final response (the association is
already up); ``findscu`` is timed from its start to its exit (process start and association
included: a few milliseconds). DCMTK processes get TCP_NODELAY=1. Rates are matches per
second; ratios are ours / theirs in the same arrangement (higher is better for us). Issue 5's
target: ours -> ours at least 3x pynetdicom -> pynetdicom.

Usage::

    python benchmarks/bench_find.py                 # 10,000 matches, best of 3
    python benchmarks/bench_find.py --quick         # 1,000 matches, one run
    python benchmarks/bench_find.py --matches 20000 --repeat 5
    python benchmarks/bench_find.py --peers ours,pynetdicom   # skip DCMTK
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1'
CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2'
EXPLICIT_LE = '1.2.840.10008.1.2.1'
SCP_AET = 'FINDSCP'
SCU_AET = 'FINDSCU'
PROCESS_TIMEOUT = 600.0
LISTEN_TIMEOUT = 30.0
TARGET_RATIO = 3.0


# --- helpers ---------------------------------------------------------------------------------


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    """Until 127.0.0.1:port accepts; between refused attempts, wait on the process itself."""
    deadline = time.monotonic() + LISTEN_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1.0):
                return
        except OSError:
            pass
        try:
            process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f'{process.args[0]} exited before listening; see {log}')
    raise RuntimeError(f'{process.args[0]} did not listen on {port}; see {log}')


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def study_match(number: int) -> Any:
    """The identifier of the ``number``-th study: what a PACS answers at STUDY level."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = 'ISO_IR 100'
    ds.QueryRetrieveLevel = 'STUDY'
    ds.RetrieveAETitle = SCP_AET
    ds.StudyDate = f'2024{number % 12 + 1:02d}{number % 28 + 1:02d}'
    ds.StudyTime = f'{number % 24:02d}{number % 60:02d}00'
    ds.AccessionNumber = f'ACC{number:07d}'
    ds.ModalitiesInStudy = ['CT', 'SR']
    ds.StudyDescription = 'CHEST^ABDOMEN WITH CONTRAST'
    ds.PatientName = f'Patient^Number{number}'
    ds.PatientID = f'PID{number:07d}'
    ds.PatientBirthDate = '19700101'
    ds.StudyInstanceUID = f'1.2.826.0.1.3680043.9.7433.2.{number}'
    ds.NumberOfStudyRelatedInstances = number % 500 + 1
    return ds


def study_query() -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = 'ISO_IR 100'
    ds.QueryRetrieveLevel = 'STUDY'
    for keyword in ('StudyDate', 'StudyTime', 'AccessionNumber', 'ModalitiesInStudy',
                    'StudyDescription', 'PatientName', 'PatientID', 'PatientBirthDate',
                    'StudyInstanceUID', 'NumberOfStudyRelatedInstances'):
        setattr(ds, keyword, '')
    return ds


def image_query(study_uid: str) -> Any:
    """The IMAGE level query dcmqrscp answers with every file of the benchmark study."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = 'IMAGE'
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = study_uid + '.1'
    ds.SOPInstanceUID = ''
    ds.InstanceNumber = ''
    return ds


BENCH_STUDY = '1.2.826.0.1.3680043.9.7433.3'


def _result(**values: Any) -> None:
    print('RESULT ' + json.dumps(values), flush=True)


# --- roles (each in its own process) -----------------------------------------------------------


def role_scp_ours(args: argparse.Namespace) -> None:
    from pynetdicom2 import applicationentity as ae
    from pynetdicom2 import sopclass as sc
    from pynetdicom2 import statuses

    matches = [study_match(n) for n in range(args.matches)]
    pending = statuses.C_FIND_PENDING

    class Archive(ae.AE):
        def on_receive_find(self, context: Any, ds: Any) -> Any:
            return ((match, pending) for match in matches)

    server = Archive(SCP_AET, args.port, host='127.0.0.1').add_scp(sc.qr_find_scp)
    server.network_timeout = PROCESS_TIMEOUT
    print('READY', flush=True)
    server.serve_forever()


def _nodelay(event: Any) -> None:
    event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def role_scp_pynetdicom(args: argparse.Namespace) -> None:
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

    matches = [study_match(n) for n in range(args.matches)]

    def on_find(event: Any) -> Any:
        for match in matches:
            yield 0xFF00, match

    server = AE(SCP_AET)
    server.network_timeout = server.dimse_timeout = PROCESS_TIMEOUT
    server.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    handlers = [(evt.EVT_C_FIND, on_find)]
    if args.nodelay:
        handlers.append((evt.EVT_CONN_OPEN, _nodelay))
    print('READY', flush=True)
    server.start_server(('127.0.0.1', args.port), evt_handlers=handlers, block=True)


def role_scu_ours(args: argparse.Namespace) -> None:
    from pynetdicom2 import applicationentity as ae
    from pynetdicom2 import sopclass as sc

    client = ae.ClientAE(SCU_AET).add_scu(sc.qr_find_scu)
    client.dcm_timeout = PROCESS_TIMEOUT
    remote = {'aet': args.called, 'address': '127.0.0.1', 'port': args.port}
    query = image_query(BENCH_STUDY) if args.image_level else study_query()
    with client.request_association(remote) as assoc:
        find = assoc.get_scu(STUDY_ROOT_FIND)
        start = time.perf_counter()
        count = 0
        final = None
        for match, status in find(query, 1):
            if status.is_pending:
                count += 1
                match.StudyInstanceUID  # noqa: B018 - the user reads what arrived
            else:
                final = int(status)
        seconds = time.perf_counter() - start
    _result(seconds=seconds, matches=count, final=final)


def role_scu_pynetdicom(args: argparse.Namespace) -> None:
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

    client = AE(SCU_AET)
    client.acse_timeout = client.dimse_timeout = client.network_timeout = PROCESS_TIMEOUT
    client.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    handlers = [(evt.EVT_CONN_OPEN, _nodelay)] if args.nodelay else []
    assoc = client.associate('127.0.0.1', args.port, ae_title=args.called,
                             evt_handlers=handlers)
    if not assoc.is_established:
        raise SystemExit('pynetdicom could not associate')
    query = image_query(BENCH_STUDY) if args.image_level else study_query()
    try:
        start = time.perf_counter()
        count = 0
        final = None
        for status, match in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            if status and status.Status in (0xFF00, 0xFF01):
                count += 1
                match.StudyInstanceUID  # noqa: B018 - the user reads what arrived
            elif status:
                final = status.Status
        seconds = time.perf_counter() - start
    finally:
        assoc.release()
    _result(seconds=seconds, matches=count, final=final)


ROLES = {
    'scp-ours': role_scp_ours,
    'scp-pynetdicom': role_scp_pynetdicom,
    'scu-ours': role_scu_ours,
    'scu-pynetdicom': role_scu_pynetdicom,
}


# --- the orchestra -----------------------------------------------------------------------------


class Bench:
    def __init__(self, workdir: Path, matches: int) -> None:
        self.workdir = workdir
        self.matches = matches
        self.findscu = find_dcmtk('findscu')
        self.dcmqrscp = find_dcmtk('dcmqrscp')
        self.dcmqridx = find_dcmtk('dcmqridx')
        self._dcmqrscp_config: Path | None = None
        self._logs = 0

    def _log(self, what: str) -> Path:
        self._logs += 1
        return self.workdir / f'{self._logs:02d}-{what}.log'

    def _python(self, role: str, port: int, *extra: str) -> list[str]:
        return [sys.executable, __file__, '--role', role, '--port', str(port),
                '--matches', str(self.matches), *extra]

    def start_scp(self, peer: str) -> tuple[subprocess.Popen, int, str, Path]:
        port = free_port()
        log = self._log(f'scp-{peer}')
        if peer == 'dcmqrscp':
            argv = [self.dcmqrscp, '-c', str(self.dcmqrscp_config()), str(port)]
            called = 'DCMQRSCP'
            env = dcmtk_environment()
        else:
            role = 'scp-ours' if peer == 'ours' else 'scp-pynetdicom'
            extra = ['--nodelay'] if peer == 'pynetdicom-nodelay' else []
            argv = self._python(role, port, *extra)
            called = SCP_AET
            env = None
        with open(log, 'wb') as out:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, env=env)
        wait_for_port(port, process, log)
        return process, port, called, log

    def run_scu(self, peer: str, port: int, called: str, image_level: bool) -> float:
        """Seconds for the C-FIND; raises when fewer matches than expected came back."""
        log = self._log(f'scu-{peer}')
        if peer == 'findscu':
            query = (['-k', 'QueryRetrieveLevel=IMAGE', '-k', f'StudyInstanceUID={BENCH_STUDY}',
                      '-k', f'SeriesInstanceUID={BENCH_STUDY}.1', '-k', 'SOPInstanceUID=',
                      '-k', 'InstanceNumber='] if image_level else
                     ['-k', 'QueryRetrieveLevel=STUDY', '-k', 'StudyInstanceUID=',
                      '-k', 'PatientName=', '-k', 'PatientID=', '-k', 'StudyDate='])
            argv = [self.findscu, '-q', '-S', '-aet', SCU_AET, '-aec', called, *query, '127.0.0.1',
                    str(port)]
            with open(log, 'wb') as out:
                start = time.perf_counter()
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, timeout=PROCESS_TIMEOUT,
                                      env=dcmtk_environment())
                seconds = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError(f'findscu failed; see {log}')
            return seconds
        role = 'scu-ours' if peer == 'ours' else 'scu-pynetdicom'
        extra = ['--called', called]
        if peer == 'pynetdicom-nodelay':
            extra.append('--nodelay')
        if image_level:
            extra.append('--image-level')
        with open(log, 'wb') as err:
            process = subprocess.Popen(self._python(role, port, *extra),
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=err)
            try:
                ready, _, _ = select.select([process.stdout], [], [], PROCESS_TIMEOUT)
                output = process.stdout.read().decode() if ready else ''
                process.wait(timeout=PROCESS_TIMEOUT)
            finally:
                stop(process)
        lines = [x for x in output.splitlines() if x.startswith('RESULT ')]
        if not lines:
            raise RuntimeError(f'{role} gave no result; see {log}')
        result = json.loads(lines[-1][len('RESULT '):])
        if result['matches'] != self.matches or result['final'] != 0:
            raise RuntimeError(f'{role}: {result} (expected {self.matches} matches); see {log}')
        return float(result['seconds'])

    def dcmqrscp_config(self) -> Path:
        """A dcmqrscp database of one study with ``matches`` tiny images (dcmqridx)."""
        if self._dcmqrscp_config is not None:
            return self._dcmqrscp_config
        from pydicom.dataset import Dataset, FileMetaDataset

        from pynetdicom2.dsutils import save_part10

        database = self.workdir / 'dcmqrscp-db'
        files = self.workdir / 'dcmqrscp-files'
        database.mkdir()
        files.mkdir()
        ds = Dataset()
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.PatientName = 'Bench^Find'
        ds.PatientID = 'BENCH'
        ds.StudyInstanceUID = BENCH_STUDY
        ds.SeriesInstanceUID = BENCH_STUDY + '.1'
        ds.StudyDate = '20240131'
        ds.StudyTime = '120000'
        ds.AccessionNumber = 'ACC1'
        ds.StudyID = '1'
        ds.SeriesNumber = 1
        ds.Modality = 'CT'
        paths = []
        for number in range(self.matches):
            ds.SOPInstanceUID = f'{BENCH_STUDY}.1.{number + 1}'
            ds.InstanceNumber = number + 1
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = ds.SOPClassUID
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            meta.TransferSyntaxUID = EXPLICIT_LE
            ds.file_meta = meta
            path = files / f'i{number:06d}.dcm'
            save_part10(ds, path)
            paths.append(str(path))
        for start in range(0, len(paths), 500):  # dcmqridx: many files per run
            subprocess.run([self.dcmqridx, '-q', str(database), *paths[start:start + 500]],
                           check=True, timeout=PROCESS_TIMEOUT, stdin=subprocess.DEVNULL)
        config = self.workdir / 'dcmqrscp.cfg'
        config.write_text(
            'NetworkTCPPort  = 11112\nMaxPDUSize      = 16384\nMaxAssociations = 4\n\n'
            'HostTable BEGIN\nHostTable END\n\nVendorTable BEGIN\nVendorTable END\n\n'
            f'AETable BEGIN\nDCMQRSCP {database} RW (10, 1024mb) ANY\nAETable END\n'
        )
        self._dcmqrscp_config = config
        return config

    def measure(self, scu: str, scp: str, repeat: int) -> float:
        """Best seconds of ``repeat`` C-FINDs (a fresh SCP process for each)."""
        best = float('inf')
        image_level = scp == 'dcmqrscp'
        for _ in range(repeat):
            process, port, called, log = self.start_scp(scp)
            try:
                best = min(best, self.run_scu(scu, port, called, image_level))
            finally:
                stop(process)
        return best


ARRANGEMENTS = [
    # (label, SCU, SCP, peers needed)
    ('ours -> ours', 'ours', 'ours', {'ours'}),
    ('pynetdicom -> pynetdicom', 'pynetdicom', 'pynetdicom', {'pynetdicom'}),
    ('pynetdicom+NODELAY -> pynetdicom+NODELAY', 'pynetdicom-nodelay', 'pynetdicom-nodelay',
     {'pynetdicom'}),
    ('findscu -> ours', 'findscu', 'ours', {'ours', 'dcmtk'}),
    ('findscu -> pynetdicom', 'findscu', 'pynetdicom', {'pynetdicom', 'dcmtk'}),
    ('ours -> dcmqrscp', 'ours', 'dcmqrscp', {'ours', 'dcmtk'}),
    ('pynetdicom -> dcmqrscp', 'pynetdicom', 'dcmqrscp', {'pynetdicom', 'dcmtk'}),
    ('findscu -> dcmqrscp', 'findscu', 'dcmqrscp', {'dcmtk'}),
]

RATIOS = [
    ('ours -> ours', 'pynetdicom -> pynetdicom', 'vs pynetdicom (each against itself)'),
    ('ours -> ours', 'pynetdicom+NODELAY -> pynetdicom+NODELAY', 'vs pynetdicom+NODELAY'),
    ('findscu -> ours', 'findscu -> pynetdicom', 'SCP vs pynetdicom SCP (findscu client)'),
    ('ours -> dcmqrscp', 'pynetdicom -> dcmqrscp', 'SCU vs pynetdicom SCU (dcmqrscp server)'),
    ('findscu -> ours', 'findscu -> dcmqrscp', 'SCP vs dcmqrscp (findscu client)'),
    ('ours -> dcmqrscp', 'findscu -> dcmqrscp', 'SCU vs findscu (dcmqrscp server)'),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--role', choices=sorted(ROLES), help=argparse.SUPPRESS)
    parser.add_argument('--port', type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument('--called', default=SCP_AET, help=argparse.SUPPRESS)
    parser.add_argument('--nodelay', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--image-level', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--matches', type=int, default=None, help='matches (default 10000)')
    parser.add_argument('--repeat', type=int, default=None, help='runs per row, best kept')
    parser.add_argument('--quick', action='store_true', help='1,000 matches, one run')
    parser.add_argument('--peers', default='ours,pynetdicom,dcmtk',
                        help='comma-separated: ours, pynetdicom, dcmtk')
    parser.add_argument('--keep', action='store_true', help='keep the work directory')
    args = parser.parse_args(argv)
    if args.matches is None:
        args.matches = 1000 if args.quick else 10000
    if args.role:
        ROLES[args.role](args)
        return 0
    repeat = args.repeat or (1 if args.quick else 3)
    peers = set(args.peers.split(','))
    workdir = Path(tempfile.mkdtemp(prefix='bench_find-'))
    bench = Bench(workdir, args.matches)
    if 'dcmtk' in peers and not (bench.findscu and bench.dcmqrscp and bench.dcmqridx):
        print('DCMTK findscu/dcmqrscp/dcmqridx not found: DCMTK rows skipped')
        peers.discard('dcmtk')
    print(f'C-FIND, {args.matches} matches on one association, best of {repeat}; '
          f'logs in {workdir}')
    seconds: dict[str, float] = {}
    try:
        for label, scu, scp, needs in ARRANGEMENTS:
            if not needs <= peers:
                continue
            try:
                seconds[label] = bench.measure(scu, scp, repeat)
            except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
                print(f'  {label:42s} failed: {exc}')
                continue
            rate = args.matches / seconds[label]
            print(f'  {label:42s} {seconds[label]:8.3f} s  {rate:10.0f} matches/s')
        print('ratios (ours / theirs, higher is better for us):')
        for ours, theirs, what in RATIOS:
            if ours in seconds and theirs in seconds:
                print(f'  {what:42s} {seconds[theirs] / seconds[ours]:6.2f}x')
        headline = ('ours -> ours', 'pynetdicom -> pynetdicom')
        if all(h in seconds for h in headline):
            ratio = seconds[headline[1]] / seconds[headline[0]]
            verdict = 'met' if ratio >= TARGET_RATIO else 'NOT met'
            print(f'target >= {TARGET_RATIO:.0f}x pynetdicom: {verdict} ({ratio:.2f}x)')
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
