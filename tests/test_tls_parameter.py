"""TLS as a parameter of every AE (PS3.15 B.1): ``ssl_context=`` and ``client_ssl_context=``.

pynetdicom2/applicationentity.py wraps accepted sockets and requests over
pynetdicom2/tls.py; the ssl_ae classes (tests/test_ssl_ae.py) are thin subclasses of these.
"""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path

import pytest
from aetools import dataset, fast, remote
from pydicom import dcmread
from tlsutil import PKI, make_pki
from ulpeer import TIMEOUT

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import ssl_ae, uids
from pynetdicom2.exceptions import AssociationError
from pynetdicom2.tls import TLSDULProvider

CT = uids.CT_IMAGE_STORAGE
ECHO = uids.VERIFICATION_SOP_CLASS


@pytest.fixture(scope='module')
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp('pki'))


def storage_server(pki: PKI, folder: Path) -> ae.StorageAE:
    context = ssl_ae.server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
    server = ae.StorageAE(folder, 'TLSSTORE', 0, host='127.0.0.1', ssl_context=context)
    return fast(server.add_scp(sc.storage_scp).add_scp(sc.verification_scp))


def client(context: ssl.SSLContext) -> ae.ClientAE:
    requester = ae.ClientAE('TLSSCU', ssl_context=context)
    return fast(requester.add_scu(sc.storage_scu, [CT]).add_scu(sc.verification_scu))


def good_context(pki: PKI) -> ssl.SSLContext:
    return ssl_ae.client_context(pki.ca_cert, pki.client_cert, pki.client_key)


def association_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith('pynetdicom2')]


def test_a_storage_ae_receives_over_tls_from_a_client_ae(pki: PKI, tmp_path: Path) -> None:
    ds = dataset()
    with storage_server(pki, tmp_path / 'in') as server:
        with client(good_context(pki)).request_association(remote(server)) as assoc:
            assert isinstance(assoc.dul, TLSDULProvider)
            assert assoc.get_scu(CT)(ds, 1).is_success
    (stored,) = sorted((tmp_path / 'in').iterdir())
    assert stored.name == f'{ds.SOPInstanceUID}.dcm'
    assert dcmread(stored).SOPInstanceUID == ds.SOPInstanceUID


def test_a_certificate_of_another_ca_is_refused_and_the_server_goes_on(
    pki: PKI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rogue = ssl_ae.client_context(pki.ca_cert, pki.rogue_client_cert, pki.rogue_client_key)
    with caplog.at_level(logging.WARNING, logger='pynetdicom2.ssl'):
        with storage_server(pki, tmp_path / 'in') as server:
            with pytest.raises(AssociationError):
                with client(rogue).request_association(remote(server)) as assoc:
                    assoc.get_scu(CT)(dataset(), 1)
            with client(good_context(pki)).request_association(remote(server)) as assoc:
                assert assoc.get_scu(ECHO)(1).is_success
    assert any(r.name == 'pynetdicom2.ssl' and 'TLS handshake' in r.getMessage()
               for r in caplog.records)
    assert list((tmp_path / 'in').iterdir()) == []


def test_a_plain_client_is_refused_by_a_tls_server(pki: PKI, tmp_path: Path) -> None:
    with storage_server(pki, tmp_path / 'in') as server:
        with pytest.raises(AssociationError):
            with fast(ae.ClientAE('PLAIN').add_scu(sc.verification_scu)).request_association(
                remote(server)
            ) as assoc:
                assoc.get_scu(ECHO)(1)


def test_no_thread_is_left_after_quit(pki: PKI, tmp_path: Path) -> None:
    before = set(association_threads())
    server = storage_server(pki, tmp_path / 'in')
    with server:
        with client(good_context(pki)).request_association(remote(server)) as assoc:
            assert assoc.get_scu(ECHO)(1).is_success
    for thread in set(association_threads()) - before:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), thread.name


def test_an_ae_requests_with_its_client_ssl_context(pki: PKI) -> None:
    serving = ssl_ae.server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
    requesting = good_context(pki)
    both = ae.AE('BOTH', 0, bind_and_activate=False, ssl_context=serving,
                 client_ssl_context=requesting).add_scu(sc.verification_scu)
    try:
        assoc = both._create_association({'aet': 'PEER', 'address': '127.0.0.1', 'port': 1})
        try:
            assert assoc.ssl_context is requesting
            assert isinstance(assoc.dul, TLSDULProvider)
        finally:
            assoc.kill()
    finally:
        both.quit()


def test_a_server_only_context_cannot_request(pki: PKI) -> None:
    serving = ssl_ae.server_context(pki.server_cert, pki.server_key)
    server_only = ae.AE('SRV', 0, bind_and_activate=False, ssl_context=serving)
    try:
        with pytest.raises(AssociationError, match='client_ssl_context='):
            server_only._create_association({'aet': 'PEER', 'address': '127.0.0.1', 'port': 1})
    finally:
        server_only.quit()


def test_the_ssl_ae_classes_are_the_parameter_form(pki: PKI) -> None:
    context = good_context(pki)
    original = ssl_ae.SSLClientAE(context, 'SCU')
    assert isinstance(original, ae.ClientAE)
    assert original.ssl_context is original.context is context
    serving = ssl_ae.server_context(pki.server_cert, pki.server_key)
    server = ssl_ae.SSLApplicationEntity(serving, 'SCP', 0, bind_and_activate=False,
                                         client_context=context)
    try:
        assert server.ssl_context is serving and server.client_ssl_context is context
        assert server.client_context is context
    finally:
        server.quit()
