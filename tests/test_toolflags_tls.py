"""DCMTK's TLS flags on our tools (PS3.15 B.1), against our own TLS servers.

Every SCU tool (echoscu, storescu, findscu, getscu, movescu) talks TLS to ``storescp +tls``
or ``qrscp +tls`` run in a thread; qrscp's C-MOVE sub-operations go over TLS too, to a
``storescp +tls`` destination. Then each flag alone: who verifies whom (``-rc``, ``-vc``,
``-ic``), trusted CAs (``+cf``, ``+cd``), revocation (``+crl``, ``+crv``), the key's password
(``+pw``, ``-pw``), ciphers (``+cs``, ``+cc``), DH parameters (``+dp``), and the usage errors
for options given without ``+tls``. DCMTK's own ``+tls`` tools are in
``interop/test_toolflags_dcmtk.py``. Certificates are made at test time (:mod:`tlsutil`).
"""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from tlsutil import OPENSSL_TIMEOUT, PKI, _leaf, make_pki

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import apps, toolflags, toolsupport
from pynetdicom2.loopback import make_study, write_dataset
from pynetdicom2.qrscp import qrscp

#: Every wait of these tests ends well inside this.
TIMEOUT = 10.0
#: Bounded waits for our tools.
TIMEOUTS = ['-to', '5', '-ta', '5', '-td', '5']


@dataclass(frozen=True)
class Material:
    """The test PKI, plus what single tests need beyond it."""

    pki: PKI
    node_key: Path          # serverAuth and clientAuth: qrscp accepts and requests with it
    node_cert: Path
    encrypted_key: Path     # the client key under the password 'secret'
    hashed_dir: Path        # the CA as <hash>.0, for +cd
    revoking_crl: Path      # revokes the client certificate
    empty_crl: Path         # revokes nothing
    dhparam: Path


def openssl(*args: Any, cwd: Path | None = None) -> str:
    found = shutil.which('openssl')
    if found is None:
        pytest.skip('the openssl command is needed to make test certificates')
    done = subprocess.run([found, *map(str, args)], check=True, capture_output=True,
                          timeout=OPENSSL_TIMEOUT, cwd=cwd)
    return done.stdout.decode()


def make_crl(folder: Path, ca_key: Path, ca_cert: Path, revoked: list[Path]) -> Path:
    """A CRL of ``ca_cert`` listing ``revoked``, made with ``openssl ca``."""
    folder.mkdir()
    (folder / 'ca.cnf').write_text('[ca]\ndefault_ca = here\n[here]\ndatabase = index.txt\n'
                                   'crlnumber = crlnumber\ndefault_md = sha256\n'
                                   'default_crl_days = 1\n')
    (folder / 'index.txt').write_text('')
    (folder / 'crlnumber').write_text('01\n')
    common = ['-config', 'ca.cnf', '-keyfile', ca_key, '-cert', ca_cert]
    for cert in revoked:
        openssl('ca', *common, '-revoke', cert, cwd=folder)
    openssl('ca', *common, '-gencrl', '-out', 'crl.pem', cwd=folder)
    return folder / 'crl.pem'


@pytest.fixture(scope='module')
def tls(tmp_path_factory: pytest.TempPathFactory) -> Material:
    folder = tmp_path_factory.mktemp('pki')
    pki = make_pki(folder)
    ca = (folder / 'ca.key', pki.ca_cert)
    node_key, node_cert = _leaf(folder, 'node', ca, 'serverAuth,clientAuth',
                                'DNS:localhost,IP:127.0.0.1')
    encrypted = folder / 'client-encrypted.key'
    openssl('pkey', '-in', pki.client_key, '-aes256', '-passout', 'pass:secret',
            '-out', encrypted)
    hashed = folder / 'hashed'
    hashed.mkdir()
    digest = openssl('x509', '-hash', '-noout', '-in', pki.ca_cert).strip()
    shutil.copy(pki.ca_cert, hashed / f'{digest}.0')
    dhparam = folder / 'dh.pem'
    openssl('genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048',
            '-out', dhparam)
    return Material(
        pki, node_key, node_cert, encrypted, hashed,
        make_crl(folder / 'revoking', ca[0], ca[1], [pki.client_cert]),
        make_crl(folder / 'empty', ca[0], ca[1], []), dhparam,
    )


@contextlib.contextmanager
def running(tool: Callable[..., int], *argv: Any) -> Iterator[Any]:
    """Run a server tool (``apps.storescp``, ``qrscp``) in a thread on a free port of
    127.0.0.1; yield its AE once it listens; quit it and join the thread at the end."""
    started = threading.Event()
    servers: list[Any] = []
    outcome: list[int] = []

    def ready(scp: Any) -> None:
        servers.append(scp)
        started.set()

    def run() -> None:
        try:
            outcome.append(tool([*map(str, argv), '--bind', '127.0.0.1', '0'], ready=ready))
        finally:
            started.set()  # a tool that fails before listening wakes the test too

    thread = threading.Thread(target=run, name='pynetdicom2-test-server')
    thread.start()
    try:
        assert started.wait(TIMEOUT) and servers, f'the server did not start: {outcome}'
        yield servers[0]
    finally:
        for scp in servers:
            scp.quit()
        thread.join(TIMEOUT)
    assert not thread.is_alive()


def server_tls(tls: Material, *extra: Any) -> list[Any]:
    return ['+tls', tls.pki.server_key, tls.pki.server_cert, '+cf', tls.pki.ca_cert, *extra]


def client_tls(tls: Material, *extra: Any) -> list[Any]:
    return ['+tls', tls.pki.client_key, tls.pki.client_cert, '+cf', tls.pki.ca_cert, *extra]


def at(scp: Any, aet: str = 'STORESCP') -> list[str]:
    return ['-aec', aet, *TIMEOUTS, '127.0.0.1', str(scp.local_ae.port)]


def echo(scp: Any, *argv: Any) -> int:
    return apps.echoscu([*map(str, argv), *at(scp)])


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / 'out'
    folder.mkdir()
    return folder


# --- every tool over TLS ------------------------------------------------------------------------


def test_echoscu_and_storescu_over_tls_to_our_storescp(tls, out, tmp_path, capsys):
    study = make_study(1, 2)
    files = [write_dataset(ds, tmp_path) for ds in study]
    with running(apps.storescp, '-od', out, *server_tls(tls)) as scp:
        assert isinstance(scp.server.ssl_context, ssl.SSLContext)
        assert echo(scp, *client_tls(tls)) == 0
        assert apps.storescu([*map(str, client_tls(tls)), *at(scp), *map(str, files)]) == 0
        assert echo(scp) == 1  # plain TCP to a TLS port: refused, the server carries on
        assert echo(scp, *client_tls(tls)) == 0
    assert sorted(p.name for p in out.glob('*.dcm')) == sorted(
        f'{ds.SOPInstanceUID}.dcm' for ds in study)


def test_find_get_and_move_over_tls_to_our_qrscp(tls, out, tmp_path, capsys):
    archive = tmp_path / 'archive'
    archive.mkdir()
    for ds in make_study(1, 3, PatientID='TLS1', StudyInstanceUID='1.2.826.0.1.3680043.2.1'):
        write_dataset(ds, archive)
    node = ['+tls', tls.node_key, tls.node_cert, '+cf', tls.pki.ca_cert]
    with running(apps.storescp, '-aet', 'WS1', '-od', out, *node) as ws1:
        destinations = tmp_path / 'dest.ini'
        destinations.write_text(f'[destinations]\nWS1 = 127.0.0.1:{ws1.local_ae.port}\n')
        with running(qrscp, '-aet', 'PACS', '-od', archive, '--destinations', destinations,
                     *node) as pacs:
            assert pacs.wait_indexed(TIMEOUT)
            keys = ['-k', 'StudyInstanceUID=1.2.826.0.1.3680043.2.1']
            tls_args = list(map(str, client_tls(tls)))
            assert apps.findscu([*tls_args, *keys, '-k', 'PatientID=', *at(pacs, 'PACS')]) == 0
            assert 'TLS1' in capsys.readouterr().out
            got = tmp_path / 'got'
            got.mkdir()
            assert apps.getscu([*tls_args, '-S', *keys, '-od', str(got),
                                *at(pacs, 'PACS')]) == 0
            assert len(list(got.glob('*.dcm'))) == 3
            assert apps.movescu([*tls_args, '-S', '-aem', 'WS1', *keys,
                                 *at(pacs, 'PACS')]) == 0
            assert 'C-MOVE to WS1: completed 3, failed 0' in capsys.readouterr().out
    assert len(list(out.glob('*.dcm'))) == 3


# --- who verifies whom --------------------------------------------------------------------------


def test_server_requires_a_client_certificate_by_default(tls, out):
    with running(apps.storescp, '-od', out, *server_tls(tls)) as scp:
        assert echo(scp, '+tla', '+cf', tls.pki.ca_cert) == 1
        assert echo(scp, '+tls', tls.pki.rogue_client_key, tls.pki.rogue_client_cert,
                    '+cf', tls.pki.ca_cert) == 1
        assert echo(scp, *client_tls(tls)) == 0


def test_server_verify_peer_cert_checks_one_if_presented(tls, out):
    with running(apps.storescp, '-od', out, *server_tls(tls, '-vc')) as scp:
        assert scp.server.ssl_context.verify_mode == ssl.CERT_OPTIONAL
        assert echo(scp, '+tla', '+cf', tls.pki.ca_cert) == 0
        assert echo(scp, '+tls', tls.pki.rogue_client_key, tls.pki.rogue_client_cert,
                    '+cf', tls.pki.ca_cert) == 1
        assert echo(scp, *client_tls(tls)) == 0


def test_server_ignore_peer_cert_asks_for_none(tls, out):
    with running(apps.storescp, '-od', out, *server_tls(tls, '-ic')) as scp:
        assert echo(scp, '+tla', '+cf', tls.pki.ca_cert) == 0
        assert echo(scp, '+tls', tls.pki.rogue_client_key, tls.pki.rogue_client_cert,
                    '+cf', tls.pki.ca_cert) == 0


def test_client_verifies_the_server_against_cf_and_cd_only(tls, out, capsys):
    with running(apps.storescp, '-od', out, *server_tls(tls, '-ic')) as scp:
        assert echo(scp, '+tla') == 1  # no +cf: nothing is trusted, as in DCMTK
        err = capsys.readouterr().err
        assert 'certificate verify failed' in err and '+cf' in err
        assert echo(scp, '+tla', '+cf', tls.pki.rogue_ca_cert) == 1
        assert echo(scp, '+tla', '-ic') == 0
        assert echo(scp, '+tla', '+cd', tls.hashed_dir) == 0
        assert echo(scp, '+tla', '+cf', tls.pki.ca_cert, '-rc') == 0


def test_host_names_are_not_checked_as_in_dcmtk(tls, out):
    """The server certificate names localhost and 127.0.0.1; DCMTK checks the chain only."""
    context = toolflags.client_tls(toolflags_args('+tla', '+cf', str(tls.pki.ca_cert)))
    assert context is not None and context.check_hostname is False
    assert context.verify_mode == ssl.CERT_REQUIRED


def toolflags_args(*argv: str) -> Any:
    parser = toolsupport.dcmtk_parser('tool', 'test')
    toolsupport.add_network(parser, 'TOOL')
    return parser.parse_args(list(argv))


# --- revocation, passwords, ciphers, DH parameters ----------------------------------------------


def test_crl_refuses_a_revoked_client(tls, out):
    with running(apps.storescp, '-od', out, *server_tls(tls, '+crl', tls.revoking_crl)) as scp:
        assert echo(scp, *client_tls(tls)) == 1
    with running(apps.storescp, '-od', out, *server_tls(tls, '+crl', tls.empty_crl)) as scp:
        assert echo(scp, *client_tls(tls)) == 0
    with running(apps.storescp, '-od', out, *server_tls(tls, '+crv')) as scp:
        assert echo(scp, *client_tls(tls)) == 1  # leaf CRL checking without a CRL fails
    with running(apps.storescp, '-od', out, *server_tls(tls, '+cra', '+crl',
                                                       tls.empty_crl)) as scp:
        assert scp.server.ssl_context.verify_flags & ssl.VERIFY_CRL_CHECK_CHAIN


def test_private_key_password(tls, out, capsys):
    with running(apps.storescp, '-od', out, *server_tls(tls)) as scp:
        encrypted = ['+tls', tls.encrypted_key, tls.pki.client_cert, '+cf', tls.pki.ca_cert]
        assert echo(scp, *encrypted, '+pw', 'secret') == 0
        capsys.readouterr()
        assert echo(scp, *encrypted, '-pw') == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and 'cannot use this private key and certificate' in err[0]
        assert echo(scp, *client_tls(tls), '+ps') == 0  # no password: no prompt


def test_ciphers_and_dh_parameters(tls, out, capsys):
    with running(apps.storescp, '-od', out,
                 *server_tls(tls, '+dp', tls.dhparam, '+cs', 'ECDHE-RSA-AES128-GCM-SHA256')) as scp:
        assert echo(scp, *client_tls(tls, '+cs', 'ECDHE-RSA-AES256-GCM-SHA384')) == 0
        capsys.readouterr()
        assert echo(scp, *client_tls(tls, '+cs', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256')) == 1
        assert 'unknown ciphersuite' in capsys.readouterr().err


def test_list_ciphers_prints_and_exits(capsys):
    with pytest.raises(SystemExit) as exited:
        apps.echoscu(['+cc'])
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('Supported TLS ciphersuites are') and len(lines) > 3


def test_missing_files_are_one_line(tls, tmp_path, capsys):
    assert apps.echoscu(['+tls', str(tmp_path / 'k'), str(tmp_path / 'c'), '127.0.0.1',
                         '104']) == 1
    assert capsys.readouterr().err.startswith(f'E: +tls {tmp_path / "k"} {tmp_path / "c"}: ')
    assert apps.echoscu(['+tla', '+cf', str(tmp_path / 'ca'), '127.0.0.1', '104']) == 1
    assert capsys.readouterr().err.startswith(f'E: +cf {tmp_path / "ca"}: ')


# --- usage errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(('tool', 'argv', 'message'), [
    (apps.echoscu, ['+cf', 'ca.pem'], '+cf/--add-cert-file only with +tls or +tla'),
    (apps.echoscu, ['-ic'], '-rc/-vc/-ic only with +tls or +tla'),
    (apps.echoscu, ['+tla', '+pw', 'x'], '+ps/+pw/-pw only with +tls'),
    (apps.echoscu, ['+tla', '+crv', '+cra'],
     '+cra/--enable-crl-all conflicts with +crv/--enable-crl-vfy'),
    (apps.storescp, ['+cf', 'ca.pem'], '+cf/--add-cert-file only with +tls'),
    (apps.storescp, ['+tla'], 'unrecognized arguments: +tla'),
    (apps.echoscu, ['-vc', '+tla'], 'unrecognized arguments: -vc'),
    (apps.echoscu, ['-der', '+tla'], 'unrecognized arguments: -der'),
])
def test_tls_usage_errors(tool, argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        tool([*argv, *(['127.0.0.1', '104'] if tool is apps.echoscu else [])])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_disable_tls_wins_when_last(tls):
    ns = toolflags_args('+tls', 'k', 'c', '-tls')
    assert not toolflags.uses_tls(ns) and toolflags.client_tls(ns) is None


def test_configure_gives_a_server_both_contexts(tls):
    parser = toolsupport.dcmtk_parser('tool', 'test')
    toolsupport.add_server_options(parser, 'SCP')
    ns = parser.parse_args(list(map(str, server_tls(tls))))
    server = ae.AE('SCP', 0, bind_and_activate=False)
    try:
        toolsupport.configure(server, ns)
        assert server.ssl_context is server.server.ssl_context
        assert server.ssl_context.protocol == ssl.PROTOCOL_TLS_SERVER
        assert server.ssl_context.verify_mode == ssl.CERT_REQUIRED
        assert server.client_ssl_context.protocol == ssl.PROTOCOL_TLS_CLIENT
    finally:
        server.quit()


def test_move_receiver_can_accept_over_tls(tls, tmp_path):
    parser = toolsupport.dcmtk_parser('tool', 'test')
    toolsupport.add_server_options(parser, 'WS1')
    context = toolflags.server_tls(parser.parse_args(list(map(str, server_tls(tls)))))
    receiver = toolsupport.move_receiver(str(tmp_path), 'WS1', 0, ssl_context=context)
    try:
        assert receiver.server.ssl_context is context is not None
    finally:
        receiver.quit()
