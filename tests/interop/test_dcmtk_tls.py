"""pynetdicom2 over TLS against DCMTK 3.6 built with OpenSSL (``+tls``).

Certificates: a one-day CA, server and client certificates made at test time
(:mod:`tlsutil`). Every peer requires and verifies the other's certificate (DCMTK's default
``--require-peer-cert``; our ``server_context(..., cafile=...)``).

Directions covered:

* ``echoscu +tls`` -> our ``SSLApplicationEntity``; ``echoscu +tla`` (TLS without a
  certificate) is refused in the handshake and the server goes on serving;
* ``storescu +tls`` -> our TLS storage AE: the received file holds the same data set;
* our ``SSLClientAE`` -> ``storescp +tls``: C-ECHO and C-STORE; without a client certificate
  the association fails with a clear error.

A DCMTK built without OpenSSL has no ``+tls``: the tests are skipped with that reason (failed
under ``PYNETDICOM2_REQUIRE_INTEROP=1``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tlsutil import PKI, make_pki

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import ssl_ae, uids
from pynetdicom2.exceptions import AssociationError

from .conftest import PEER_TIMEOUT, Dcmtk, dcmtk_environment, find_dcmtk_tool, missing_peer

pytestmark = pytest.mark.interop

OUR_AET = 'OURTLSSCP'
DCMTK_SCP_AET = 'DCMTKTLS'


@pytest.fixture(scope='module')
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp('pki'))


@pytest.fixture
def tls_dcmtk(dcmtk: Dcmtk) -> Dcmtk:
    """The ``dcmtk`` runner, once it is known that DCMTK's tools speak TLS."""
    echoscu = find_dcmtk_tool('echoscu')
    if echoscu is None:
        missing_peer('DCMTK echoscu is not installed (Debian/Ubuntu: apt-get install dcmtk)')
    helped = subprocess.run(
        [echoscu, '--help'], stdin=subprocess.DEVNULL, capture_output=True,
        timeout=PEER_TIMEOUT, env=dcmtk_environment(),
    )  # fmt: skip
    if b'--enable-tls' not in helped.stdout + helped.stderr:
        missing_peer('this DCMTK was built without OpenSSL: its tools have no +tls option')
    return dcmtk


def dcmtk_tls_args(pki: PKI) -> list[object]:
    """Present the client certificate and trust our CA (the peer's is required)."""
    return ['+tls', pki.client_key, pki.client_cert, '+cf', pki.ca_cert]


class TLSStorageAE(ae.FolderStorageMixin, ssl_ae.SSLApplicationEntity):
    """A storage SCP over TLS, as a user composes one."""

    def __init__(self, storage_dir: Path, pki: PKI) -> None:
        storage_dir.mkdir(parents=True, exist_ok=True)
        self.storage_dir = storage_dir
        context = ssl_ae.server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
        super().__init__(context, OUR_AET, 0, bind_and_activate=False)


def our_server(pki: PKI, storage_dir: Path) -> TLSStorageAE:
    return TLSStorageAE(storage_dir, pki).add_scp(sc.verification_scp).add_scp(sc.storage_scp)


def test_echoscu_tls_to_our_ae(tls_dcmtk, serve, pki, tmp_path):
    with serve(our_server(pki, tmp_path / 'in')) as port:
        done = tls_dcmtk.run('echoscu', '-v', '--repeat', 2, *dcmtk_tls_args(pki),
                             '-aec', OUR_AET, '127.0.0.1', port)
    assert done.returncode == 0, done.explain()
    assert done.output.count('Received Echo Response (Success)') == 2, done.explain()


def test_echoscu_without_certificate_is_refused(tls_dcmtk, serve, pki, tmp_path):
    with serve(our_server(pki, tmp_path / 'in')) as port:
        refused = tls_dcmtk.run('echoscu', '-v', '+tla', '+cf', pki.ca_cert,
                                '-aec', OUR_AET, '127.0.0.1', port)
        again = tls_dcmtk.run('echoscu', '-v', *dcmtk_tls_args(pki),
                              '-aec', OUR_AET, '127.0.0.1', port)
    assert refused.returncode != 0, refused.explain()
    assert 'Received Echo Response' not in refused.output, refused.explain()
    assert again.returncode == 0, again.explain()
    assert 'Received Echo Response (Success)' in again.output, again.explain()


@pytest.mark.parametrize('name', ['explicit_le', 'large_explicit_le'])
def test_storescu_tls_to_our_ae(name, tls_dcmtk, serve, pki, sample_of, assert_same, tmp_path):
    sample = sample_of(name)
    storage_dir = tmp_path / 'in'
    with serve(our_server(pki, storage_dir)) as port:
        done = tls_dcmtk.run('storescu', '-v', '-R', *dcmtk_tls_args(pki), '-aet', 'DCMTKSCU',
                             '-aec', OUR_AET, '127.0.0.1', port, sample.path)
    assert done.returncode == 0, done.explain()
    assert 'Received Store Response (Success)' in done.output, done.explain()
    assert_same(sample, storage_dir / sample.stored_name, same_syntax=False)


def storescp_args(pki: PKI, out: Path) -> list[object]:
    return ['-v', '-aet', DCMTK_SCP_AET, '+tls', pki.server_key, pki.server_cert,
            '+cf', pki.ca_cert, '-od', out]


def test_our_client_to_storescp_tls(tls_dcmtk, free_port, pki, sample_of, assert_same, tmp_path):
    sample = sample_of('large_explicit_le')
    out = tmp_path / 'storescp'
    out.mkdir()
    context = ssl_ae.client_context(pki.ca_cert, pki.client_cert, pki.client_key)
    client = ssl_ae.SSLClientAE(context, 'OURTLSSCU', supported_ts=[sample.transfer_syntax])
    client.add_scu(sc.verification_scu).add_scu(sc.storage_scu, [sample.sop_class_uid])
    port = free_port()
    remote = {'aet': DCMTK_SCP_AET, 'address': '127.0.0.1', 'port': port}
    with tls_dcmtk.server('storescp', *storescp_args(pki, out), port=port) as server:
        with client.request_association(remote) as assoc:
            assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success, server.log()
            status = assoc.get_scu(sample.sop_class_uid)(str(sample.path), 2)
        assert status.is_success, f'{status}\n{server.log()}'
    received = sorted(out.iterdir())
    assert len(received) == 1, received
    assert_same(sample, received[0])


def test_our_client_without_certificate_to_storescp_tls(tls_dcmtk, free_port, pki, tmp_path):
    out = tmp_path / 'storescp'
    out.mkdir()
    client = ssl_ae.SSLClientAE(ssl_ae.client_context(pki.ca_cert), 'OURTLSSCU')
    client.add_scu(sc.verification_scu)
    client.artim_timeout = client.connect_timeout = 5
    port = free_port()
    remote = {'aet': DCMTK_SCP_AET, 'address': '127.0.0.1', 'port': port}
    with tls_dcmtk.server('storescp', *storescp_args(pki, out), port=port) as server:
        with pytest.raises(AssociationError) as caught:
            with client.request_association(remote):
                pass
        message = str(caught.value)
        assert 'alert' in message or 'certificate' in message, f'{message}\n{server.log()}'
