"""C-STORE over a slow link: the Asynchronous Operations Window against one request at a time.

Tiny C-STOREs (~2 kB CT files, 200 by default) on one association through a latency relay
(``latency_relay.py``: 10 ms each way by default, a 20 ms round trip; the machine has no
netem). At one request at a time every file costs at least a round trip, so the rate is capped
at 1 / RTT (50 files/s at 20 ms) whatever the peers do; with several requests outstanding
(PS3.7 D.3.3.3) the round trips overlap.

Rows, each a fresh SCP, relay and SCU:

* ``ours``: our ``ClientAE(async_window=(w, w))`` sending with ``assoc.store_many(window=w)``
  to our ``StorageAE(async_window=(64, 64))``, for each window w of ``--windows`` (1, 4, 16,
  64);
* ``dcmtk``: DCMTK ``storescu`` -> ``storescp`` (one request at a time; timed from the
  start of storescu to its exit, so its process start counts, a few ms);
* ``pynetdicom``: pynetdicom's ``send_c_store`` loop -> DCMTK ``storescp``;
  ``pynetdicom-nodelay``: the same with TCP_NODELAY set on its socket.

DCMTK processes get ``TCP_NODELAY=1``; the relay's sockets all have it. Python SCUs time
themselves from the association request to the end of the release (and report the C-STOREs
alone, from the first request to the last response, as ``store-only``: the association's own
two round trips left out). Rates are files/s; ``x ours w=1`` is each row over ours at
window 1, whole association. Issue 13's target: ours at window 16 at least
10x ours at window 1 through a 20 ms round trip.

Usage::

    python benchmarks/bench_wan.py                        # everything (about a minute)
    python benchmarks/bench_wan.py --quick                # 50 files
    python benchmarks/bench_wan.py --count 500 --delay-ms 25 --windows 1,16 --peers ours
    python benchmarks/bench_wan.py --repeat 3             # best of three for every row
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# bench_network's process and file helpers (it puts the repository first on sys.path too)
from bench_network import (  # noqa: E402
    CASES,
    CT_IMAGE_STORAGE,
    EXPLICIT_LE,
    Child,
    dcmtk_environment,
    find_dcmtk,
    free_port,
    make_files,
    wait_for_port,
)
from latency_relay import LatencyRelay  # noqa: E402

SCP_AET = 'WANSCP'
SCU_AET = 'WANSCU'
LISTEN_TIMEOUT = 20.0
#: What our SCP says it performs.
SCP_WINDOW = 64
TARGET_WINDOW = 16
TARGET_RATIO = 10.0
TARGET_RTT_MS = 20.0

PEERS = ('ours', 'dcmtk', 'pynetdicom', 'pynetdicom-nodelay')
LABELS = {
    'ours': 'pynetdicom2 -> pynetdicom2',
    'dcmtk': 'DCMTK storescu -> storescp',
    'pynetdicom': 'pynetdicom -> DCMTK storescp',
    'pynetdicom-nodelay': 'pynetdicom+NODELAY -> storescp',
}


# --- what our tree offers ------------------------------------------------------------------------


# --- roles: what each child process does ---------------------------------------------------------


def _result(**values: Any) -> None:
    print('RESULT ' + json.dumps(values), flush=True)


def _is_success(status: Any) -> bool:
    return bool(getattr(status, 'is_success', False))


def role_scu_ours(args: argparse.Namespace) -> None:
    from pynetdicom2 import applicationentity as ae
    from pynetdicom2 import sopclass as sc

    window = args.window
    remote = {'aet': SCP_AET, 'address': '127.0.0.1', 'port': args.port}
    client = ae.ClientAE(SCU_AET, async_window=(window, window))
    client.add_scu(sc.storage_scu, [CT_IMAGE_STORAGE])
    files = [str(p) for p in sorted(Path(args.files).iterdir())]
    failures = 0
    start = time.perf_counter()
    with client.request_association(remote) as assoc:
        negotiated = assoc.async_window
        first = time.perf_counter()
        answered = 0
        for _source, status in assoc.store_many(files, window=window):
            answered += 1
            failures += not _is_success(status)
        failures += len(files) - answered
        stored = time.perf_counter() - first
    _result(seconds=time.perf_counter() - start, store_seconds=stored, failures=failures,
            how='store_many', negotiated=list(negotiated))


def _set_nodelay(event: Any) -> None:
    """pynetdicom EVT_CONN_OPEN handler: Nagle's algorithm off on the new socket."""
    event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def role_scu_pynetdicom(args: argparse.Namespace) -> None:
    from pynetdicom import AE, evt

    logging.basicConfig(level=logging.WARNING)
    peer = AE(SCU_AET)
    peer.acse_timeout = peer.dimse_timeout = peer.network_timeout = 30
    peer.add_requested_context(CT_IMAGE_STORAGE, EXPLICIT_LE)
    handlers = [(evt.EVT_CONN_OPEN, _set_nodelay)] if args.nodelay else []
    files = [str(p) for p in sorted(Path(args.files).iterdir())]
    failures = 0
    start = time.perf_counter()
    assoc = peer.associate('127.0.0.1', args.port, ae_title=SCP_AET, evt_handlers=handlers)
    if not assoc.is_established:
        raise SystemExit('pynetdicom: association not established')
    first = time.perf_counter()
    stored = None
    for number, path in enumerate(files):
        try:
            response = assoc.send_c_store(path, msg_id=number % 65535 + 1)
        except RuntimeError:  # the association is gone (pynetdicom logged why)
            failures += len(files) - number
            break
        failures += getattr(response, 'Status', None) != 0
    else:
        stored = time.perf_counter() - first
        assoc.release()
    _result(seconds=time.perf_counter() - start, store_seconds=stored, failures=failures,
            how='send_c_store loop', negotiated=None)


def role_scp_ours(args: argparse.Namespace) -> None:
    from pynetdicom2 import applicationentity as ae
    from pynetdicom2 import sopclass as sc

    scp = ae.StorageAE(Path(args.out), SCP_AET, 0, bind_and_activate=False, host='127.0.0.1',
                       async_window=(args.scp_window, args.scp_window))
    scp.add_scp(sc.verification_scp).add_scp(sc.storage_scp)
    with scp:
        print(f'PORT {scp.server.server_address[1]}', flush=True)
        sys.stdin.buffer.read()  # until the parent closes our stdin
    _result()


ROLES = {
    'scu-ours': role_scu_ours,
    'scu-pynetdicom': role_scu_pynetdicom,
    'scp-ours': role_scp_ours,
}


# --- the parent ----------------------------------------------------------------------------------


@dataclass
class Row:
    peer: str
    window: int
    seconds: float | None = None
    store_seconds: float | None = None  # the C-STOREs alone, without association set-up
    count: int = 0
    failures: int = 0
    received: int = 0
    negotiated: tuple[int, int] | None = None
    how: str = ''
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return self.count / self.seconds if self.seconds else None

    @property
    def store_rate(self) -> float | None:
        return self.count / self.store_seconds if self.store_seconds else None

    @property
    def clean(self) -> bool:
        return self.seconds is not None and not self.failures and self.received == self.count


class Bench:
    def __init__(self, workdir: Path, files: Path, count: int, delay: float,
                 tools: dict[str, Any]) -> None:
        self.workdir = workdir
        self.files = files
        self.count = count
        self.delay = delay
        self.tools = tools
        self.serial = 0

    def _log(self, what: str) -> Path:
        self.serial += 1
        return self.workdir / 'logs' / f'{self.serial:03d}-{what}.log'

    def _python(self, role: str, *extra: str) -> list[str]:
        return [sys.executable, __file__, '--role', role, *extra]

    def start_scp(self, peer: str, out: Path) -> tuple[Child, int]:
        if peer == 'ours':
            child = Child(self._python('scp-ours', '--out', str(out),
                                       '--scp-window', str(SCP_WINDOW)),
                          self._log('scp-ours'), stdout_pipe=True, stdin_pipe=True)
            try:
                line = child.read_line(LISTEN_TIMEOUT)
                if not line.startswith('PORT '):
                    raise RuntimeError(f'our SCP did not start: {line!r}; see {child.log}')
            except BaseException:
                child.kill()
                raise
            return child, int(line.split()[1])
        port = free_port()
        child = Child([self.tools['storescp'], '-aet', SCP_AET, '-od', str(out), str(port)],
                      self._log('storescp'), env=dcmtk_environment())
        try:
            wait_for_port(port, child)
        except BaseException:
            child.kill()
            raise
        return child, port

    def stop_scp(self, peer: str, child: Child) -> None:
        usage = child.finish(timeout=60, terminate=peer != 'ours')
        if peer == 'ours' and usage.returncode != 0:
            raise RuntimeError(f'our SCP failed (exit {usage.returncode}); see {child.log}')

    def run_scu(self, peer: str, window: int, port: int) -> dict[str, Any]:
        if peer == 'dcmtk':
            argv = [self.tools['storescu'], '-aet', SCU_AET, '-aec', SCP_AET, '+sd',
                    '127.0.0.1', str(port), str(self.files)]
            usage = Child(argv, self._log('storescu'), env=dcmtk_environment()).finish()
            return {'seconds': usage.wall, 'failures': 0 if usage.returncode == 0 else
                    self.count, 'how': 'storescu', 'negotiated': None}
        role = 'scu-ours' if peer == 'ours' else 'scu-pynetdicom'
        extra = ['--port', str(port), '--files', str(self.files), '--window', str(window)]
        if peer == 'pynetdicom-nodelay':
            extra.append('--nodelay')
        child = Child(self._python(role, *extra), self._log(f'{role}-w{window}'),
                      stdout_pipe=True)
        usage = child.finish()
        if usage.returncode != 0:
            raise RuntimeError(f'{role} failed (exit {usage.returncode}); see {child.log}')
        return child.result()

    def measure(self, peer: str, window: int) -> Row:
        out = self.workdir / 'received'
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        scp_peer = 'ours' if peer == 'ours' else 'dcmtk'
        scp, scp_port = self.start_scp(scp_peer, out)
        try:
            with LatencyRelay(('127.0.0.1', scp_port), self.delay) as relay:
                result = self.run_scu(peer, window, relay.port)
        finally:
            self.stop_scp(scp_peer, scp)
        row = Row(peer, window, result['seconds'], result.get('store_seconds'), self.count,
                  result['failures'], sum(1 for _ in out.iterdir()), how=result['how'])
        if result.get('negotiated'):
            row.negotiated = tuple(result['negotiated'])
        if row.received != self.count:
            row.notes.append(f'{row.received} files on disk, {self.count} sent')
        if relay.accepted != 1:
            row.notes.append(f'{relay.accepted} connections through the relay, expected 1')
        shutil.rmtree(out, ignore_errors=True)
        return row


# --- reporting -----------------------------------------------------------------------------------


def _rate(value: float | None) -> str:
    if value is None:
        return '-'
    return f'{value:,.0f}' if value >= 100 else f'{value:,.1f}'


def report(rows: list[Row], count: int, size: int, delay: float) -> None:
    rtt_ms = 2000 * delay
    baseline = next((r.rate for r in rows if r.peer == 'ours' and r.window == 1 and r.clean),
                    None)
    print()
    print('=' * 100)
    print(f'C-STORE {count} x {size / 1000:.1f} kB files, one association, through a '
          f'{rtt_ms:g} ms round trip ({rtt_ms / 2:g} ms each way)  [files/s]')
    if rtt_ms:
        print(f'one request at a time cannot beat one file per round trip: '
              f'{1000 / rtt_ms:,.1f} files/s')
    print('=' * 100)
    print(f'  {"SCU -> SCP":<32} {"window":>6} {"negotiated":>10} {"files/s":>9}'
          f' {"seconds":>8} {"x ours w=1":>10} {"store-only/s":>12}  how')
    for row in rows:
        negotiated = f'{row.negotiated[0]},{row.negotiated[1]}' if row.negotiated else '-'
        ratio = (f'{row.rate / baseline:.2f}' if row.rate is not None and baseline else '-')
        seconds = f'{row.seconds:8.3f}' if row.seconds is not None else f'{"-":>8}'
        flags = f'  failures={row.failures}' if row.failures else ''
        flags += ''.join(f'  [{note}]' for note in row.notes)
        print(f'  {LABELS[row.peer]:<32} {row.window:>6} {negotiated:>10} {_rate(row.rate):>9}'
              f' {seconds} {ratio:>10} {_rate(row.store_rate):>12}  {row.how}{flags}')
    target = next((r.rate for r in rows
                   if r.peer == 'ours' and r.window == TARGET_WINDOW and r.clean), None)
    if baseline and target:
        verdict = 'met' if target / baseline >= TARGET_RATIO else 'MISSED'
        where = '' if abs(rtt_ms - TARGET_RTT_MS) < 1e-9 else f' (at {rtt_ms:g} ms, not 20)'
        print(f'  target: ours at window {TARGET_WINDOW} >= {TARGET_RATIO:g}x ours at window 1'
              f' through {TARGET_RTT_MS:g} ms: {verdict} ({target / baseline:.1f}x){where}')


# --- main ----------------------------------------------------------------------------------------


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(',') if n.strip()]
    bad = [n for n in names if n not in PEERS]
    if bad:
        raise argparse.ArgumentTypeError(f'unknown {bad}; choose from {", ".join(PEERS)}')
    return names


def _windows(text: str) -> list[int]:
    try:
        windows = [int(n) for n in text.split(',') if n.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: expected numbers like 1,4,16') from None
    if not windows or any(not 1 <= w <= 65535 for w in windows):
        raise argparse.ArgumentTypeError(f'{text!r}: windows are 1 to 65535')
    return windows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='50 files (unless --count)')
    parser.add_argument('--count', type=int, default=None,
                        help='files per run (default 200; 50 with --quick)')
    parser.add_argument('--delay-ms', type=float, default=10.0,
                        help='one-way delay of the relay, each direction (default 10: a 20 ms '
                             'round trip)')
    parser.add_argument('--windows', type=_windows, default=[1, 4, 16, 64],
                        help='windows for our rows (default 1,4,16,64)')
    parser.add_argument('--peers', type=_names, default=list(PEERS),
                        help=f'comma-separated subset of {",".join(PEERS)}')
    parser.add_argument('--repeat', type=int, default=1,
                        help='measure each row this many times and keep the best')
    parser.add_argument('--workdir', type=Path, default=None,
                        help='files and logs go here (default: a temp dir, removed at the end)')
    # internal: a child process playing one side
    parser.add_argument('--role', choices=sorted(ROLES), help=argparse.SUPPRESS)
    parser.add_argument('--port', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--files', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    parser.add_argument('--window', type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument('--scp-window', type=int, default=SCP_WINDOW, help=argparse.SUPPRESS)
    parser.add_argument('--nodelay', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    if args.role:
        ROLES[args.role](args)
        return 0
    count = args.count or (50 if args.quick else 200)
    peers = list(args.peers)
    tools = {name: find_dcmtk(name) for name in ('storescu', 'storescp')}
    if any(path is None for path in tools.values()) and peers != ['ours']:
        print('DCMTK storescu/storescp not found: the dcmtk and pynetdicom rows are skipped '
              '(Debian/Ubuntu: apt-get install dcmtk)', file=sys.stderr)
        peers = [p for p in peers if p == 'ours']
    if any(p.startswith('pynetdicom') for p in peers):
        try:
            import pynetdicom  # noqa: F401
        except ImportError:
            print('pynetdicom is not installed: its rows are skipped', file=sys.stderr)
            peers = [p for p in peers if not p.startswith('pynetdicom')]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix='bench_wan-'))
    (workdir / 'logs').mkdir(parents=True, exist_ok=True)
    files = workdir / 'files'
    shutil.rmtree(files, ignore_errors=True)
    total = make_files(CASES['tiny'], count, 1, files)
    delay = args.delay_ms / 1000
    bench = Bench(workdir, files, count, delay, tools)
    print(f'workdir {workdir}; {count} files, {total / count / 1000:.1f} kB each; relay '
          f'{args.delay_ms:g} ms each way; python {sys.version.split()[0]}', flush=True)
    plan = [('ours', w) for w in args.windows if 'ours' in peers]
    plan += [(p, 1) for p in peers if p != 'ours']
    rows: list[Row] = []
    failed = False
    try:
        for peer, window in plan:
            try:
                tries = [bench.measure(peer, window) for _ in range(max(1, args.repeat))]
            except (RuntimeError, TimeoutError) as error:
                print(f'{LABELS[peer]} window {window}: FAILED: {error}', flush=True)
                rows.append(Row(peer, window, notes=[f'FAILED: {error}']))
                failed = True
                continue
            clean = [t for t in tries if t.clean and not t.notes]
            failed = failed or len(clean) < len(tries)
            row = min(clean or tries, key=lambda t: t.seconds or float('inf'))
            rows.append(row)
            print(f'{LABELS[peer]:<32} window {window:>3}: {_rate(row.rate):>9} files/s',
                  flush=True)
        report(rows, count, total // count, delay)
    finally:
        if args.workdir is None and not failed:
            shutil.rmtree(workdir, ignore_errors=True)
        elif failed:
            print(f'something failed: logs kept in {workdir / "logs"}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
