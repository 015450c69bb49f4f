"""DCMTK's shared flags (:mod:`pynetdicom2.toolflags`): logging, timeouts, ports, user identity.

Logging: ``-q``, ``-v``, ``-d``, ``-ll`` (the last one wins, as in DCMTK) and the letters of
the lines. Timeouts: each of ``-to``, ``-ta``, ``-td`` bounds what DCMTK's does, measured
against peers that accept and then stay silent. Ports: DCMTK's ranges as argparse errors.
User identity (PS3.7 D.3.3.7): every type reaches the SCP as the flags say, ``-rsp`` asks for
and checks the positive response. TLS is in ``test_toolflags_tls.py``.
"""

from __future__ import annotations

import argparse
import logging
import socket
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import apps, pdu, toolflags, toolsupport
from pynetdicom2 import sopclass as sc
from pynetdicom2.loopback import make_dataset, write_dataset
from pynetdicom2.userdataitems import UserIdentityNegotiationSubItemAc

#: Every wait of these tests ends well inside this.
TIMEOUT = 10.0


def scu_args(*argv: str) -> argparse.Namespace:
    """Parse ``argv`` as a DCMTK-style SCU does (``peer`` and ``port`` positionals)."""
    parser = toolsupport.dcmtk_parser('tool', 'test')
    parser.add_argument('peer')
    parser.add_argument('port', type=int)
    toolsupport.add_network(parser, 'TOOL')
    return parser.parse_args([*argv, '127.0.0.1', '104'])


def usage_error(tool: Any, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The message of the argparse error ``tool(argv)`` ends with (exit status 2)."""
    with pytest.raises(SystemExit) as exited:
        tool(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


# --- logging ------------------------------------------------------------------------------------


def log_every_level() -> int:
    log = logging.getLogger('pynetdicom2.test')
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO,
                  logging.DEBUG, toolflags.TRACE):
        log.log(level, 'message')
    return 0


@pytest.mark.parametrize(('argv', 'letters'), [
    ([], 'FE'),
    (['-q'], 'F'),
    (['-v'], 'FEWI'),
    (['-d'], 'FEWID'),
    (['-ll', 'warn'], 'FEW'),
    (['-ll', 'fatal'], 'F'),
    (['-ll', 'trace'], 'FEWIDT'),
    (['-d', '-v'], 'FEWI'),          # the last one wins, as in DCMTK's option block
    (['-v', '-q'], 'F'),
    (['-q', '-ll', 'info'], 'FEWI'),
])
def test_log_levels_and_letters(argv, letters, capsys):
    assert toolsupport.run_dcmtk(scu_args(*argv), 'PEER', log_every_level) == 0
    lines = capsys.readouterr().err.splitlines()
    assert ''.join(line[0] for line in lines) == letters
    assert all(line[1:] == ': message' for line in lines)


def test_verbose_and_debug_follow_the_level():
    assert (scu_args('-d', '-v').verbose, scu_args('-d', '-v').debug) == (True, False)
    assert (scu_args('-ll', 'trace').verbose, scu_args('-ll', 'trace').debug) == (True, True)
    assert (scu_args('-q').verbose, scu_args().debug) == (False, False)


def test_quiet_keeps_the_error_line_and_debug_raises(capsys):
    def body() -> int:
        raise toolsupport.ToolError('-od x: no such directory')

    assert toolsupport.run_dcmtk(scu_args('-q'), 'PEER', body) == 1
    assert capsys.readouterr().err == 'E: -od x: no such directory\n'
    with pytest.raises(toolsupport.ToolError):
        toolsupport.run_dcmtk(scu_args('-ll', 'debug'), 'PEER', body)


def test_a_namespace_without_log_level_keeps_working(capsys):
    ns = argparse.Namespace(verbose=True, debug=False)
    assert toolflags.log_level(ns) == logging.INFO
    assert toolflags.log_level(argparse.Namespace()) == logging.ERROR


@pytest.mark.parametrize('argv', [['-ll', 'loud'], ['-ll']])
def test_unknown_log_level_is_a_usage_error(argv, capsys):
    assert '-ll' in usage_error(lambda a: scu_args(*a), argv, capsys)


# --- ports and values ---------------------------------------------------------------------------


@pytest.mark.parametrize('port', ['70000', '0', '-1'])
def test_peer_port_outside_1_to_65535_is_a_usage_error(port, capsys):
    message = usage_error(apps.echoscu, ['127.0.0.1', port], capsys)
    assert message.endswith(f'argument port: {port} is not in 1..65535')


def test_movescu_retrieve_port_is_checked(capsys):
    message = usage_error(apps.movescu, ['+P', '70000', '127.0.0.1', '104'], capsys)
    assert message.endswith('argument +P/--port: 70000 is not in 1..65535')


def test_server_port_range(capsys):
    message = usage_error(apps.storescp, ['70000'], capsys)
    assert '70000 is not in 1..65535 (or 0: any free port)' in message
    assert toolflags.listen_port('0') == 0 and toolflags.listen_port('65535') == 65535


@pytest.mark.parametrize(('flag', 'value'), [('-to', '0'), ('-ta', '-1'), ('-td', 'soon'),
                                             ('-ta', 'inf')])
def test_timeouts_must_be_seconds_above_zero(flag, value, capsys):
    assert flag in usage_error(lambda a: scu_args(*a), [flag, value], capsys)


def test_configure_sets_what_each_timeout_bounds():
    ns = scu_args('-to', '3', '-ta', '4', '-td', '5')
    client = toolsupport.configure(ae.ClientAE('SCU'), ns)
    assert (client.connect_timeout, client.artim_timeout, client.dcm_timeout) == (3, 4, 5)


# --- timeouts against silent peers -------------------------------------------------------------


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port whose TCP connections complete (the kernel's backlog) and then hear nothing."""
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def timed(call: Any) -> tuple[Any, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def test_acse_timeout_bounds_the_wait_for_the_associate_reply(silent_listener, capsys):
    status, elapsed = timed(lambda: apps.echoscu(
        ['-to', '5', '-ta', '1', '127.0.0.1', str(silent_listener)]))
    assert status == 1
    assert 'nothing from the peer' in capsys.readouterr().err
    assert elapsed < 2.5, f'-ta 1 waited {elapsed:.1f} s'


def test_acse_timeout_and_connect_timeout_bound_the_associate_reply_together(
        silent_listener, capsys):
    """The A-ASSOCIATE-AC is awaited -ta from the connection, whatever -to allowed."""
    status, elapsed = timed(lambda: apps.echoscu(
        ['-to', '1', '-ta', '1', '127.0.0.1', str(silent_listener)]))
    assert status == 1 and 'nothing from the peer' in capsys.readouterr().err
    assert elapsed < 4.0, elapsed


def test_connect_timeout_bounds_the_tls_handshake(silent_listener, capsys):
    status, elapsed = timed(lambda: apps.echoscu(
        ['-to', '1', '-ta', '30', '+tla', '-ic', '127.0.0.1', str(silent_listener)]))
    assert status == 1
    assert 'cannot connect' in capsys.readouterr().err
    assert elapsed < 3.0, f'-to 1 waited {elapsed:.1f} s for the TLS handshake'


class SlowEcho(ae.AE):
    """An SCP that holds every C-ECHO until ``answer`` is set."""

    def __init__(self) -> None:
        super().__init__('SLOW', 0, host='127.0.0.1')
        self.answer = threading.Event()
        self.add_scp(sc.verification_scp)

    def on_receive_echo(self, context: Any) -> Any:
        self.answer.wait(TIMEOUT)
        return super().on_receive_echo(context)


def test_dimse_timeout_bounds_the_wait_for_a_response(capsys):
    scp = SlowEcho()
    try:
        with scp:
            status, elapsed = timed(lambda: apps.echoscu(
                ['-aec', 'SLOW', '-td', '1', '-ta', '5', '127.0.0.1', str(scp.local_ae.port)]))
            scp.answer.set()
    finally:
        scp.answer.set()
        scp.quit()
    assert status == 1
    assert 'nothing from the peer within' in capsys.readouterr().err
    assert elapsed < 3.0, f'-td 1 waited {elapsed:.1f} s'


def test_server_acse_timeout_bounds_the_wait_for_the_associate_request(tmp_path):
    """storescp -ta 1: a connection that sends no A-ASSOCIATE-RQ is closed after about 1 s
    (ARTIM, PS3.8 9.1.5; the acceptor allows one second of grace)."""
    started = threading.Event()
    servers: list[Any] = []

    def ready(scp: Any) -> None:
        servers.append(scp)
        started.set()

    thread = threading.Thread(
        target=apps.storescp, name='pynetdicom2-test-storescp',
        args=(['-ta', '1', '-od', str(tmp_path), '--bind', '127.0.0.1', '0'],),
        kwargs={'ready': ready})
    thread.start()
    try:
        assert started.wait(TIMEOUT)
        with socket.create_connection(('127.0.0.1', servers[0].local_ae.port), TIMEOUT) as sock:
            closed, elapsed = timed(lambda: sock.recv(1))
        assert closed == b''
        assert elapsed < 3.5, f'-ta 1 kept a silent connection {elapsed:.1f} s'
    finally:
        for scp in servers:
            scp.quit()
        thread.join(TIMEOUT)
    assert not thread.is_alive()


# --- user identity ------------------------------------------------------------------------------


class IdentitySCP(ae.AE):
    """Records each requester's user identity; accepts all but the user ``mallory``."""

    def __init__(self) -> None:
        super().__init__('IDSCP', 0, host='127.0.0.1')
        self.seen: list[Any] = []
        self.add_scp(sc.verification_scp).add_scp(sc.storage_scp)

    def on_user_identity(self, asce: Any, identity: Any) -> bool | str:
        if identity is None:
            self.seen.append(None)
            return True
        self.seen.append((identity.user_identity_type, identity.primary_field,
                          identity.secondary_field, identity.positive_response_req))
        return identity.primary_field != 'mallory'

    def on_receive_store(self, context: Any, ds: Any) -> Any:
        return 0x0000


@pytest.fixture
def identity_scp() -> Iterator[IdentitySCP]:
    scp = IdentitySCP()
    try:
        with scp:
            yield scp
    finally:
        scp.quit()


def peer_of(scp: IdentitySCP) -> list[str]:
    return ['-aec', 'IDSCP', '-to', '5', '-ta', '5', '-td', '5', '127.0.0.1',
            str(scp.local_ae.port)]


@pytest.fixture
def token_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name, data in (('ticket', b'\xff\x01kerberos'), ('saml', b'<saml/>'),
                       ('jwt', b'eyJhbGciOi.eyJzdWIi.c2ln')):
        files[name] = tmp_path / name
        files[name].write_bytes(data)
    return files


def test_each_identity_type_reaches_the_scp(identity_scp, token_files):
    runs = [
        (['-usr', 'alice'], (1, 'alice', '', 0)),
        (['-usr', 'alice', '-pwd', 'secret'], (2, 'alice', 'secret', 0)),
        (['-usr', 'alice', '-epw'], (2, 'alice', '', 0)),
        (['-kt', str(token_files['ticket'])], (3, b'\xff\x01kerberos', '', 0)),
        (['--saml', str(token_files['saml'])], (4, '<saml/>', '', 0)),
        (['--jwt', str(token_files['jwt'])], (5, 'eyJhbGciOi.eyJzdWIi.c2ln', '', 0)),
        (['-usr', 'alice', '--jwt', str(token_files['jwt'])], (5, 'eyJhbGciOi.eyJzdWIi.c2ln',
                                                               '', 0)),
        ([], None),
    ]
    for argv, _ in runs:
        assert apps.echoscu([*argv, *peer_of(identity_scp)]) == 0, argv
    assert identity_scp.seen == [expected for _, expected in runs]


def test_positive_response_is_requested_and_received(identity_scp, capsys):
    assert apps.echoscu(['-usr', 'alice', '-pwd', 'pw', '-rsp', *peer_of(identity_scp)]) == 0
    assert identity_scp.seen == [(2, 'alice', 'pw', 1)]
    assert capsys.readouterr().err == ''


def test_storescu_sends_the_identity(identity_scp, tmp_path):
    path = write_dataset(make_dataset(), tmp_path)
    assert apps.storescu(['-usr', 'bob', *peer_of(identity_scp), str(path)]) == 0
    assert identity_scp.seen == [(1, 'bob', '', 0)]


def test_a_rejected_identity_is_one_line_that_names_it(identity_scp, capsys):
    assert apps.echoscu(['-usr', 'mallory', *peer_of(identity_scp)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'reason 1' in err[0] and 'our user identity' in err[0]


def test_an_unreadable_token_file_is_one_line(tmp_path, capsys):
    assert apps.echoscu(['--jwt', str(tmp_path / 'nope'), '127.0.0.1', '104']) == 1
    assert capsys.readouterr().err.strip() == (
        f'E: --jwt {tmp_path / "nope"}: No such file or directory')


@pytest.mark.parametrize(('argv', 'message'), [
    (['-pwd', 'x'], '-pwd/--password and -epw/--empty-password only with -usr/--user'),
    (['-kt', 'f', '-epw'], '-pwd/--password and -epw/--empty-password only with -usr/--user'),
    (['-rsp'], '-rsp/--pos-response only with -usr, -kt, --saml or --jwt'),
])
def test_identity_dependencies_are_usage_errors(argv, message, capsys):
    assert usage_error(apps.echoscu, [*argv, '127.0.0.1', '104'], capsys).endswith(message)


def fake_ac(*sub_items: Any) -> Any:
    """Enough of an A-ASSOCIATE-AC for the -rsp check: its user information sub-items."""
    return types.SimpleNamespace(variable_items=[pdu.UserInformationItem(list(sub_items))])


def test_pos_response_without_a_response_fails():
    """DCMTK's storescu checks this for user names only; we check every identity type."""
    client = ae.ClientAE('SCU')
    seen: list[Any] = []
    client.on_association_response = seen.append  # type: ignore[method-assign]
    toolsupport.configure(client, scu_args('--saml', 'f', '-rsp'))
    client.on_association_response(fake_ac(UserIdentityNegotiationSubItemAc(b'ok')))
    with pytest.raises(toolsupport.ToolError, match='-rsp asked for a positive response'):
        client.on_association_response(fake_ac())
    assert len(seen) == 2  # the AE's own hook still runs first
    plain = toolsupport.configure(ae.ClientAE('SCU'), scu_args('--saml', 'f'))
    assert 'on_association_response' not in vars(plain)


def test_remote_of_carries_the_identity_item():
    remote = toolsupport.remote_of(scu_args('-aec', 'PACS', '-usr', 'u', '-pwd', 'p', '-rsp'))
    assert (remote.aet, remote.address, remote.port) == ('PACS', '127.0.0.1', 104)
    [item] = remote.user_data
    assert (item.user_identity_type, item.positive_response_req) == (2, 1)
    assert toolsupport.remote_of(scu_args()).user_data == []
