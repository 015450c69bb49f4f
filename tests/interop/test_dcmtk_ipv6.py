"""pynetdicom2 and DCMTK over IPv6, over a dual-stack socket, and from a bound local address.

Directions covered:

* ``echoscu`` and ``storescu`` -> our ``StorageAE`` on ``::1``, and our ``ClientAE`` ->
  ``storescp`` listening on IPv6. These need a DCMTK whose network tools speak IPv6; whether
  the installed one does is asked of DCMTK itself, against a bare socket on ``::1`` (not our
  code): DCMTK 3.6.7, for one, cannot (``echoscu ::1 104`` fails with "Illegal service
  parameter", and its ``storescp`` listens on IPv4 only, with no option for IPv6), so these
  skip, saying so;
* ``echoscu`` and ``storescu`` (IPv4) -> our ``StorageAE`` listening on ``::``, the dual-stack
  socket: IPv4 peers reach it, and are seen as IPv4 (``127.0.0.1``, not ``::ffff:127.0.0.1``);
* our ``ClientAE`` with a ``bind_address`` -> ``storescp``: the association starts from the
  bound address and the file arrives intact.

Everything skips with the reason where ``::1`` (or a dual-stack socket) is not available.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_ipv6 import NO_DUAL_STACK, NO_IPV6

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc

from .conftest import LISTEN_TIMEOUT, PEER_TIMEOUT, dcmtk_environment, stop_process
from .test_dcmtk import DCMTK_SCP_AET, OUR_AET, received_by_storescp, storescu_args

pytestmark = pytest.mark.interop

# Whether each DCMTK tool (by path) can connect over IPv6: None if it can, else why not.
_IPV6_CLIENTS: dict[str, str | None] = {}


def dcmtk_version(dcmtk: Any, name: str) -> str:
    """``DCMTK echoscu v3.6.7 2022-04-22``, from the tool's ``--version``."""
    first = dcmtk.run(name, '--version').output.splitlines()[0]
    return first.strip(' $').replace('dcmtk: ', 'DCMTK ')


def require_ipv6() -> None:
    if NO_IPV6 is not None:
        pytest.skip(f'no IPv6 loopback on this machine: {NO_IPV6}')


def require_dcmtk_ipv6_client(dcmtk: Any, name: str = 'echoscu') -> None:
    """Skip unless DCMTK's ``name`` connects to a bare listening socket on ``::1``."""
    require_ipv6()
    tool = dcmtk.tool(name)
    if tool not in _IPV6_CLIENTS:
        _IPV6_CLIENTS[tool] = _probe_ipv6_client(dcmtk, name)
    why = _IPV6_CLIENTS[tool]
    if why is not None:
        pytest.skip(why)


def _probe_ipv6_client(dcmtk: Any, name: str) -> str | None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as listener:
        listener.settimeout(PEER_TIMEOUT)
        listener.bind(('::1', 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        # Nobody accepts: a tool that connects sends its A-ASSOCIATE-RQ to the kernel's queue
        # and gives up after -ta 1; the connection stays queued for the check below.
        done = dcmtk.run(name, '-to', 5, '-ta', 1, '::1', port)
        listener.setblocking(False)
        try:
            accepted, _ = listener.accept()
        except BlockingIOError:
            version = dcmtk_version(dcmtk, name)
            last = (done.output.strip().splitlines() or ['(no output)'])[-1]
            return f'{version} cannot connect over IPv6 (to ::1: {last})'
        accepted.close()
    return None


def storescp_ipv6_flag(dcmtk: Any) -> str:
    """DCMTK storescp's option to listen on IPv6, from its --help; skip when it has none."""
    require_ipv6()
    help_text = dcmtk.run('storescp', '--help').output
    found = re.search(r'^\s*(?:\S+\s+)?(--\S*ipv6\S*)', help_text, re.MULTILINE | re.IGNORECASE)
    if found is None:
        version = dcmtk_version(dcmtk, 'storescp')
        pytest.skip(f'{version} listens on IPv4 only: its --help has no IPv6 option')
    return found.group(1)


class Recording(ae.StorageAE):
    """Our storage SCP (with C-ECHO) noting each association's calling address."""

    def __init__(self, storage_dir: Path, host: str, syntaxes: Any) -> None:
        super().__init__(storage_dir, OUR_AET, 0, supported_ts=syntaxes, host=host)
        self.add_scp(sc.verification_scp).add_scp(sc.storage_scp)
        self.peers: list[Any] = []
        self._peers_lock = threading.Lock()

    def on_association_request(self, asce: Any, rq: Any) -> None:
        with self._peers_lock:
            self.peers.append(asce.client_address)


@contextlib.contextmanager
def serving_on(storage_dir: Path, host: str, syntax: str) -> Iterator[Recording]:
    """Our AE on ``host``, accepting only ``syntax`` (so the file arrives as it was)."""
    scp = Recording(storage_dir, host, [syntax])
    try:
        with scp:
            yield scp
    finally:
        scp.quit()


@contextlib.contextmanager
def storescp_on_ipv6(dcmtk: Any, flag: str, out: Path, port: int) -> Iterator[Path]:
    """storescp listening with ``flag`` on ``port``; ready once ``::1`` takes a connection."""
    log_path = out.parent / 'storescp-ipv6.log'
    argv = [dcmtk.tool('storescp'), flag, '-v', '-aet', DCMTK_SCP_AET, '-od', str(out),
            str(port)]
    with open(log_path, 'wb') as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, env=dcmtk_environment())
    try:
        deadline = time.monotonic() + LISTEN_TIMEOUT
        while True:
            try:
                with socket.create_connection(('::1', port), timeout=1.0):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log_path.read_text(errors='replace')
            with contextlib.suppress(subprocess.TimeoutExpired):  # waits on the process
                code = process.wait(timeout=0.05)
                raise AssertionError(f'storescp exited with {code}:\n'
                                     f'{log_path.read_text(errors="replace")}')
        yield log_path
    finally:
        stop_process(process)


def free_ipv6_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        probe.bind(('::1', 0))
        return int(probe.getsockname()[1])


# --- over ::1 ------------------------------------------------------------------------------------


def test_echoscu_and_storescu_to_our_ae_on_ipv6(dcmtk, sample_of, assert_same, tmp_path):
    require_dcmtk_ipv6_client(dcmtk, 'echoscu')
    require_dcmtk_ipv6_client(dcmtk, 'storescu')
    sample = sample_of('explicit_le')
    storage_dir = tmp_path / 'received'
    storage_dir.mkdir()
    with serving_on(storage_dir, '::1', sample.transfer_syntax) as scp:
        port = scp.local_ae.port
        echoed = dcmtk.run('echoscu', '-v', '-aec', OUR_AET, '::1', port)
        stored = dcmtk.run('storescu', *storescu_args(sample.name), '::1', port, sample.path)
    assert echoed.returncode == 0, echoed.explain()
    assert 'Received Echo Response (Success)' in echoed.output, echoed.explain()
    assert stored.returncode == 0, stored.explain()
    assert_same(sample, storage_dir / sample.stored_name)
    assert [peer[0] for peer in scp.peers] == ['::1', '::1']


def test_client_ae_to_storescp_on_ipv6(dcmtk, sample_of, assert_same, tmp_path):
    flag = storescp_ipv6_flag(dcmtk)
    sample = sample_of('explicit_le')
    out = tmp_path / 'storescp'
    out.mkdir()
    client = ae.ClientAE('OURSCU').add_scu(sc.storage_scu, [sample.sop_class_uid])
    port = free_ipv6_port()
    with storescp_on_ipv6(dcmtk, flag, out, port) as log:
        remote = {'aet': DCMTK_SCP_AET, 'address': '::1', 'port': port}
        with client.request_association(remote) as assoc:
            status = assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
        assert status.is_success, f'{status}\n{log.read_text(errors="replace")}'
    assert_same(sample, received_by_storescp(out, sample.sop_instance_uid))


# --- dual stack, and a bound local address (DCMTK over IPv4) ------------------------------------


def test_dcmtk_reaches_our_dual_stack_ae_over_ipv4(dcmtk, sample_of, assert_same, tmp_path):
    if NO_DUAL_STACK is not None:
        pytest.skip(f'no dual-stack sockets here: {NO_DUAL_STACK}')
    sample = sample_of('implicit_le')
    storage_dir = tmp_path / 'received'
    storage_dir.mkdir()
    with serving_on(storage_dir, '::', sample.transfer_syntax) as scp:
        assert scp.server.socket.family == socket.AF_INET6
        port = scp.local_ae.port
        echoed = dcmtk.run('echoscu', '-v', '-aec', OUR_AET, '127.0.0.1', port)
        stored = dcmtk.run('storescu', *storescu_args(sample.name), '127.0.0.1', port,
                           sample.path)
    assert echoed.returncode == 0, echoed.explain()
    assert 'Received Echo Response (Success)' in echoed.output, echoed.explain()
    assert stored.returncode == 0, stored.explain()
    assert 'Received Store Response (Success)' in stored.output, stored.explain()
    assert_same(sample, storage_dir / sample.stored_name)
    # IPv4 peers of the dual-stack socket are seen as IPv4.
    assert [peer[0] for peer in scp.peers] == ['127.0.0.1', '127.0.0.1']
    assert all(len(peer) == 2 for peer in scp.peers)


def test_client_ae_with_bind_address_to_storescp(dcmtk, free_port, sample_of, assert_same,
                                                 tmp_path):
    sample = sample_of('explicit_le')
    out = tmp_path / 'storescp'
    out.mkdir()
    client = ae.ClientAE('OURSCU', bind_address=('127.0.0.1', 0))
    client.add_scu(sc.storage_scu, [sample.sop_class_uid])
    port = free_port()
    remote = {'aet': DCMTK_SCP_AET, 'address': '127.0.0.1', 'port': port}
    with dcmtk.server('storescp', '-v', '-aet', DCMTK_SCP_AET, '-od', out, port=port) as server:
        with client.request_association(remote) as assoc:
            source = assoc.dul.dul_socket.getsockname()
            status = assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
        assert status.is_success, f'{status}\n{server.log()}'
    assert source[0] == '127.0.0.1'
    assert_same(sample, received_by_storescp(out, sample.sop_instance_uid))
