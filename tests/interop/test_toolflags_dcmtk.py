"""Our DCMTK-style tools and DCMTK's, with the same TLS and user identity flags on both sides.

* DCMTK's ``echoscu``, ``storescu`` and ``findscu`` with ``+tls`` against our
  ``storescp +tls`` and ``qrscp +tls`` (DCMTK's getscu and movescu have no TLS options);
* our ``echoscu`` and ``storescu`` with ``+tls`` against DCMTK's ``storescp +tls`` (DCMTK
  has no TLS Query/Retrieve SCP, so our findscu, getscu and movescu meet our qrscp only, in
  ``test_toolflags_tls.py``);
* user identity: DCMTK's ``storescu -usr -pwd -rsp`` gets the positive response from our
  storescp; our ``-rsp`` fails against DCMTK's storescp, which sends none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_toolflags_tls import TIMEOUT, running
from tlsutil import PKI, make_pki

from pynetdicom2 import apps
from pynetdicom2.loopback import make_study, write_dataset
from pynetdicom2.qrscp import qrscp

from .conftest import Dcmtk

pytestmark = pytest.mark.interop

TIMEOUTS = ['-to', '5', '-ta', '5', '-td', '5']


@pytest.fixture(scope='module')
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp('pki'))


@pytest.fixture
def tls_dcmtk(dcmtk: Dcmtk) -> Dcmtk:
    done = dcmtk.run('echoscu', '--help')
    if '--enable-tls' not in done.output:
        pytest.skip('this DCMTK was built without OpenSSL: its tools have no +tls option')
    return dcmtk


def server_tls(pki: PKI) -> list[Any]:
    return ['+tls', pki.server_key, pki.server_cert, '+cf', pki.ca_cert]


def client_tls(pki: PKI) -> list[Any]:
    return ['+tls', pki.client_key, pki.client_cert, '+cf', pki.ca_cert]


def test_dcmtk_echoscu_and_storescu_to_our_storescp_over_tls(tls_dcmtk, pki, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    [path] = [write_dataset(ds, tmp_path) for ds in make_study(1, 1)]
    with running(apps.storescp, '-aet', 'OURS', '-od', out, *server_tls(pki)) as scp:
        port = scp.local_ae.port
        echo = tls_dcmtk.run('echoscu', '-v', *client_tls(pki), '-aec', 'OURS',
                             '127.0.0.1', port)
        store = tls_dcmtk.run('storescu', '-v', *client_tls(pki), '-aec', 'OURS',
                              '127.0.0.1', port, path)
        refused = tls_dcmtk.run('echoscu', '+tla', '+cf', pki.ca_cert, '-aec', 'OURS',
                                '127.0.0.1', port)
    assert echo.returncode == 0 and 'Received Echo Response (Success)' in echo.output, (
        echo.explain())
    assert store.returncode == 0, store.explain()
    assert [p.name for p in out.glob('*.dcm')] == [path.name]
    assert refused.returncode != 0, refused.explain()  # -rc: our storescp wants a certificate


def test_dcmtk_findscu_to_our_qrscp_over_tls(tls_dcmtk, pki, tmp_path):
    archive = tmp_path / 'archive'
    archive.mkdir()
    for ds in make_study(1, 2, PatientID='TLSFIND', StudyInstanceUID='1.2.826.0.1.3680043.2.2'):
        write_dataset(ds, archive)
    with running(qrscp, '-aet', 'PACS', '-od', archive, *server_tls(pki)) as pacs:
        assert pacs.wait_indexed(TIMEOUT)
        found = tls_dcmtk.run('findscu', '-v', '-S', *client_tls(pki), '-aec', 'PACS',
                              '-k', 'QueryRetrieveLevel=STUDY', '-k', 'PatientID=',
                              '-k', 'StudyInstanceUID=1.2.826.0.1.3680043.2.2',
                              '127.0.0.1', pacs.local_ae.port)
    assert found.returncode == 0, found.explain()
    assert 'TLSFIND' in found.output, found.explain()


def dcmtk_storescp(dcmtk: Dcmtk, port: int, out: Path, *extra: Any) -> Any:
    return dcmtk.server('storescp', '-v', '-aet', 'DCMTK', '-od', out, *extra, port=port)


def test_our_echoscu_and_storescu_to_dcmtk_storescp_over_tls(tls_dcmtk, pki, free_port,
                                                             tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    [path] = [write_dataset(ds, tmp_path) for ds in make_study(1, 1)]
    port = free_port()
    ours = [*map(str, client_tls(pki)), '-aec', 'DCMTK', *TIMEOUTS, '127.0.0.1', str(port)]
    with dcmtk_storescp(tls_dcmtk, port, out, *server_tls(pki)) as server:
        assert apps.echoscu(ours) == 0, server.log()
        assert apps.storescu([*ours, str(path)]) == 0, server.log()
        assert apps.echoscu(['+tla', '+cf', str(pki.ca_cert), '-aec', 'DCMTK', *TIMEOUTS,
                             '127.0.0.1', str(port)]) == 1, server.log()
    assert len(list(out.iterdir())) == 1
    assert 'E: ' in capsys.readouterr().err


def test_dcmtk_storescu_gets_our_positive_identity_response(dcmtk, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    [path] = [write_dataset(ds, tmp_path) for ds in make_study(1, 1)]
    with running(apps.storescp, '-aet', 'OURS', '-od', out) as scp:
        done = dcmtk.run('storescu', '-v', '-usr', 'alice', '-pwd', 'secret', '-rsp',
                         '-aec', 'OURS', '127.0.0.1', scp.local_ae.port, path)
    assert done.returncode == 0, done.explain()
    assert 'Positive response requested but none received' not in done.output


def test_our_pos_response_fails_against_dcmtk_storescp(dcmtk, free_port, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    port = free_port()
    peer = ['-aec', 'DCMTK', *TIMEOUTS, '127.0.0.1', str(port)]
    with dcmtk_storescp(dcmtk, port, out) as server:
        assert apps.echoscu(['-usr', 'alice', '-pwd', 'x', *peer]) == 0, server.log()
        assert apps.echoscu(['-usr', 'alice', '-pwd', 'x', '-rsp', *peer]) == 1, server.log()
    err = capsys.readouterr().err
    assert '-rsp asked for a positive response' in err
