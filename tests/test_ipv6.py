"""IPv6 and the requester's local bind address (pynetdicom2/aeserver.py, pynetdicom2/transport.py).

Covered: an AE listening on ``::1`` (C-ECHO and C-STORE from a ClientAE over IPv6, the peer's
name in thread names as ``[::1]:port``), ``::`` reached over IPv4 and IPv6 on one socket (an
IPv4 peer presented as IPv4), the default host staying IPv4, ``bind_address`` honoured (the
server sees the bound source address and port, for the AE and for one association), a bad
bind address refused with a :mod:`pynetdicom2.exceptions` error and no thread left, identity
throttling per /64 with real IPv6 peers, and the tools with IPv6 peers and ``--bind ::1``.

Tests that need ``::1`` skip, with the reason, where the machine has no IPv6 loopback; the
dual-stack ones where IPv6 sockets cannot take IPv4 too. Every socket here has a timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from aetools import dataset, fast, serving, write_file
from pydicom import dcmread

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import apps, qrscp, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.aeserver import IdentityThrottle, listening_family
from pynetdicom2.asceprovider import AssociationRequester
from pynetdicom2.exceptions import (
    AssociationRejectedError,
    ConnectionFailedError,
    NetDICOMError,
)
from pynetdicom2.transport import check_bind_address, format_address

ECHO = uids.VERIFICATION_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE
#: An address no machine has (TEST-NET-1, RFC 5737): binding to it fails.
NOT_OURS = '192.0.2.1'
WAIT = 10.0


def _ipv6_loopback() -> str | None:
    """Why ``::1`` cannot be used here, or None when it can."""
    if not socket.has_ipv6:
        return 'Python was built without IPv6'
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            probe.bind(('::1', 0))
    except OSError as exc:
        return f'cannot bind ::1 here ({exc})'
    return None


def _dual_stack() -> str | None:
    """Why ``::`` cannot take IPv4 connections here, or None when it can."""
    why = _ipv6_loopback()
    if why is not None:
        return why
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            probe.bind(('::', 0))
    except (AttributeError, OSError) as exc:
        return f'no dual-stack sockets here ({exc})'
    return None


NO_IPV6 = _ipv6_loopback()
NO_DUAL_STACK = _dual_stack()
needs_ipv6 = pytest.mark.skipif(NO_IPV6 is not None, reason=f'no IPv6 loopback: {NO_IPV6}')
needs_dual_stack = pytest.mark.skipif(NO_DUAL_STACK is not None,
                                      reason=f'no dual stack: {NO_DUAL_STACK}')


class RecordingAE(ae.StorageAE):
    """A StorageAE (with C-ECHO) that notes each association's peer and thread name."""

    def __init__(self, storage_dir: Path, host: str) -> None:
        super().__init__(storage_dir, 'SCP', 0, host=host)
        self.add_scp(sc.verification_scp).add_scp(sc.storage_scp)
        self.peers: list[tuple[Any, str]] = []

    def on_association_request(self, asce: Any, rq: Any) -> None:
        with self.lock:
            self.peers.append((asce.client_address, threading.current_thread().name))


def client(**kwargs: Any) -> ae.ClientAE:
    return fast(ae.ClientAE('SCU', **kwargs)).add_scu(sc.verification_scu).add_scu(
        sc.storage_scu, [CT])


def reach(server: ae.AE, address: str) -> dict[str, Any]:
    return {'aet': 'SCP', 'address': address, 'port': server.local_ae.port}


def echo(requester: ae.ClientAE, server: ae.AE, address: str) -> bool:
    with requester.request_association(reach(server, address)) as assoc:
        return bool(assoc.get_scu(ECHO)(1).is_success)


def pynetdicom2_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith('pynetdicom2')}


# --- naming and families ------------------------------------------------------------------------


def test_addresses_are_named_with_brackets_for_ipv6() -> None:
    assert format_address('::1', 104) == '[::1]:104'
    assert format_address('[fe80::1%eth0]', 11112) == '[fe80::1%eth0]:11112'
    assert format_address('10.0.0.5', 104) == '10.0.0.5:104'
    assert format_address('pacs.example.org', 104) == 'pacs.example.org:104'


def test_the_listening_family_follows_the_host() -> None:
    assert listening_family('') == socket.AF_INET  # the default: as before, IPv4
    assert listening_family('0.0.0.0') == socket.AF_INET
    assert listening_family('::') == socket.AF_INET6
    assert listening_family('[::1]') == socket.AF_INET6
    assert listening_family('fe80::1%lo') == socket.AF_INET6


def test_the_default_host_stays_ipv4(tmp_path: Path) -> None:
    server = RecordingAE(tmp_path, '')
    try:
        assert server.server.socket.family == socket.AF_INET
        assert server.server.server_address[0] == '0.0.0.0'
    finally:
        server.quit()


# --- an AE on ::1 -------------------------------------------------------------------------------


@needs_ipv6
@pytest.mark.parametrize('host', ['::1', '[::1]'])
def test_echo_and_store_over_ipv6(tmp_path: Path, host: str) -> None:
    ds = dataset()
    with serving(RecordingAE(tmp_path, host)) as server:
        assert server.server.socket.family == socket.AF_INET6
        with client().request_association(reach(server, '::1')) as assoc:
            assert assoc.get_scu(ECHO)(1).is_success
            assert assoc.get_scu(CT)(ds, 2).is_success
            ours = assoc.dul.dul_socket.getsockname()
            assert assoc.dul.name == f'pynetdicom2-dul-SCP@[::1]:{server.local_ae.port}'
    stored = dcmread(tmp_path / f'{ds.SOPInstanceUID}.dcm')
    assert stored.SOPInstanceUID == ds.SOPInstanceUID
    [(address, thread_name)] = server.peers
    assert address[:2] == ('::1', ours[1])
    assert thread_name == f'pynetdicom2-association-[::1]:{ours[1]}'


@needs_ipv6
def test_an_ipv6_server_is_not_reached_over_ipv4(tmp_path: Path) -> None:
    with serving(RecordingAE(tmp_path, '::1')) as server:
        requester = client()
        requester.connect_timeout = 2.0
        with pytest.raises(ConnectionFailedError, match=r'cannot connect to 127\.0\.0\.1:'):
            echo(requester, server, '127.0.0.1')
        assert echo(requester, server, '[::1]')


@needs_dual_stack
def test_dual_stack_takes_ipv4_and_ipv6(tmp_path: Path) -> None:
    with serving(RecordingAE(tmp_path, '::')) as server:
        requester = client()
        assert echo(requester, server, '127.0.0.1')
        assert echo(requester, server, '::1')
    (ipv4, ipv4_thread), (ipv6, ipv6_thread) = server.peers
    # An IPv4 peer is presented as IPv4, not as ::ffff:127.0.0.1.
    assert len(ipv4) == 2 and ipv4[0] == '127.0.0.1'
    assert ipv4_thread == f'pynetdicom2-association-127.0.0.1:{ipv4[1]}'
    assert ipv6[0] == '::1' and ipv6_thread == f'pynetdicom2-association-[::1]:{ipv6[1]}'


@needs_ipv6
def test_without_dual_stack_sockets_it_listens_on_ipv6_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Where IPV6_V6ONLY cannot be turned off (OpenBSD), '::' is IPv6 only, with a warning."""
    real = socket.socket.setsockopt

    def refuse_v6only(sock: socket.socket, level: int, option: int, *value: Any) -> None:
        if level == socket.IPPROTO_IPV6 and option == socket.IPV6_V6ONLY:
            raise OSError(22, 'Invalid argument')
        real(sock, level, option, *value)

    monkeypatch.setattr(socket.socket, 'setsockopt', refuse_v6only)
    with caplog.at_level('WARNING', logger='pynetdicom2'):
        server = RecordingAE(tmp_path, '::')
    monkeypatch.undo()
    assert any('for IPv6 only' in r.getMessage() for r in caplog.records), caplog.text
    with serving(server):
        assert echo(client(), server, '::1')


# --- bind_address -------------------------------------------------------------------------------


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def test_bind_address_is_honoured(tmp_path: Path) -> None:
    port = free_port('127.0.0.1')
    with serving(RecordingAE(tmp_path, '127.0.0.1')) as server:
        assert echo(client(bind_address=('127.0.0.1', port)), server, '127.0.0.1')
        requester = client()
        requester.bind_address = ('127.0.0.1', 0)  # an attribute of every AE
        assert echo(requester, server, '127.0.0.1')
    assert server.peers[0][0] == ('127.0.0.1', port)
    assert server.peers[1][0][0] == '127.0.0.1'


def test_bind_address_of_one_association(tmp_path: Path) -> None:
    """Linux answers the whole of 127.0.0.0/8: the server sees the address we chose."""
    try:
        port = free_port('127.0.0.2')
    except OSError as exc:
        pytest.skip(f'127.0.0.2 is not a local address here ({exc})')
    requester = client(bind_address=('127.0.0.1', 0))
    with serving(RecordingAE(tmp_path, '127.0.0.1')) as server:
        assoc = AssociationRequester(requester, 16384, reach(server, '127.0.0.1'),
                                     bind_address=('127.0.0.2', port))
        assoc.request()
        try:
            assert assoc.get_scu(ECHO)(1).is_success
        finally:
            assoc.release()
    assert server.peers[0][0] == ('127.0.0.2', port)


@needs_ipv6
def test_bind_address_over_ipv6(tmp_path: Path) -> None:
    port = free_port('::1')
    with serving(RecordingAE(tmp_path, '::1')) as server:
        assert echo(client(bind_address=('[::1]', port)), server, '::1')
    assert server.peers[0][0][:2] == ('::1', port)


@pytest.mark.parametrize('bad', [('127.0.0.1', 70000), ('127.0.0.1', -1), ('127.0.0.1',),
                                 '127.0.0.1', (None, 0), ('127.0.0.1', '104'),
                                 ('127.0.0.1', True)])
def test_a_malformed_bind_address_is_refused_at_once(bad: Any) -> None:
    before = pynetdicom2_threads()
    with pytest.raises(NetDICOMError, match='bind_address'):
        ae.ClientAE('SCU', bind_address=bad)
    with pytest.raises(NetDICOMError, match='bind_address'):
        check_bind_address(bad)
    requester = client()
    requester.bind_address = bad
    with pytest.raises(NetDICOMError, match='bind_address'):  # before any connection
        with requester.request_association({'aet': 'SCP', 'address': '127.0.0.1', 'port': 9}):
            pass  # pragma: no cover - refused
    assert pynetdicom2_threads() == before


def test_an_address_not_ours_gives_a_clear_error_and_no_thread(tmp_path: Path) -> None:
    with serving(RecordingAE(tmp_path, '127.0.0.1')) as server:
        before = pynetdicom2_threads()
        with pytest.raises(ConnectionFailedError) as caught:
            echo(client(bind_address=(NOT_OURS, 0)), server, '127.0.0.1')
        assert f'cannot bind to the local address {NOT_OURS}:0' in str(caught.value)
        assert isinstance(caught.value.__cause__, OSError)
        assert pynetdicom2_threads() == before
        assert server.peers == []
        assert echo(client(), server, '127.0.0.1')  # the server is unharmed


@needs_ipv6
def test_a_bind_address_of_the_other_ip_version_is_explained(tmp_path: Path) -> None:
    with serving(RecordingAE(tmp_path, '::1')) as server:
        before = pynetdicom2_threads()
        with pytest.raises(ConnectionFailedError, match='not of the same IP version'):
            echo(client(bind_address=('127.0.0.1', 0)), server, '::1')
        assert pynetdicom2_threads() == before


# --- access control with IPv6 peers -------------------------------------------------------------


class Guarded(RecordingAE):
    def __init__(self, storage_dir: Path, host: str) -> None:
        super().__init__(storage_dir, host)
        self.checks = 0

    def on_user_identity(self, asce: Any, identity: Any) -> bool:
        with self.lock:
            self.checks += 1
        return False


@needs_ipv6
def test_identity_throttle_counts_ipv6_peers_per_64(tmp_path: Path) -> None:
    server = Guarded(tmp_path, '::1')
    throttle = IdentityThrottle(free_failures=1, first_backoff=60.0)
    server.server.identity_throttle = throttle
    remote = {'aet': 'SCP', 'address': '::1', 'port': server.local_ae.port,
              'username': 'mallory', 'password': 'guess'}
    rejections = []
    with serving(server):
        for _ in range(3):
            with pytest.raises(AssociationRejectedError) as caught:
                with client().request_association(remote):
                    pass  # pragma: no cover - rejected
            rejections.append((caught.value.result, caught.value.source,
                               caught.value.diagnostic))
    assert rejections == [(1, 1, 1), (1, 1, 1), (2, 1, 1)]  # the third: blocked, not asked
    assert server.checks == 2
    assert throttle.blocked_count() == 1
    assert throttle.attempt('::2') > 0  # the same /64
    assert throttle.attempt('2001:db8::1') == 0.0


# --- the tools ----------------------------------------------------------------------------------


@contextlib.contextmanager
def tool_server(tool: Any, argv: list[str]) -> Any:
    """Run ``tool(argv, ready=...)`` in a thread; yield the AE once it listens; quit it."""
    ready = threading.Event()
    started: list[Any] = []

    def on_ready(scp: Any) -> None:
        started.append(scp)
        ready.set()

    thread = threading.Thread(target=tool, args=(argv,), kwargs={'ready': on_ready},
                              name='test-ipv6-tool-server')
    thread.start()
    try:
        assert ready.wait(WAIT), 'the server did not start'
        yield started[0]
    finally:
        if started:
            started[0].quit()
        thread.join(WAIT)
        assert not thread.is_alive()


@needs_ipv6
def test_tools_over_ipv6(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    incoming = tmp_path / 'incoming'
    incoming.mkdir()
    ds = dataset()
    sent = tmp_path / 'ct.dcm'
    write_file(sent, ds)
    with tool_server(apps.storescp, ['-aet', 'SCP', '-od', str(incoming), '--bind', '::1',
                                     '0']) as scp:
        assert scp.server.socket.family == socket.AF_INET6
        port = str(scp.local_ae.port)
        timeouts = ['-to', '5', '-ta', '5', '-td', '5']
        assert apps.echoscu(['-aec', 'SCP', *timeouts, '::1', port]) == 0
        assert apps.storescu(['-aec', 'SCP', *timeouts, '::1', port, str(sent)]) == 0
    assert (incoming / f'{ds.SOPInstanceUID}.dcm').is_file()
    capsys.readouterr()
    # A peer that does not answer is named with brackets in the one error line.
    closed = free_port('::1')
    assert apps.echoscu(['-aec', 'SCP', '-to', '2', '::1', str(closed)]) == 1
    assert f'cannot connect to [::1]:{closed}' in capsys.readouterr().err


def test_a_bind_address_not_ours_is_one_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert apps.storescp(['-od', str(tmp_path), '--bind', NOT_OURS, '0']) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'E: cannot listen on {NOT_OURS}:0: ') and '--bind' in err
    assert err.count('\n') == 1


def test_qrscp_destinations_take_bracketed_ipv6(tmp_path: Path) -> None:
    ini = tmp_path / 'dest.ini'
    ini.write_text('[destinations]\nWS1 = [::1]:11113\nWS2 = 10.0.0.7:104\n')
    found = qrscp.load_destinations(ini)
    assert (found['WS1'].address, found['WS1'].port) == ('::1', 11113)
    assert (found['WS2'].address, found['WS2'].port) == ('10.0.0.7', 104)
    ini.write_text('[destinations]\nWS1 = ::1:11113\n')
    with pytest.raises(ValueError, match=r'in brackets: \[::1\]:11113'):
        qrscp.load_destinations(ini)
