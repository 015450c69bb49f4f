"""ssl_ae: associations over TLS, with and without client-certificate verification.

Certificates come from :mod:`tlsutil` (a one-day CA made at test time). Covered: C-ECHO and
C-STORE over TLS with a required client certificate; a missing, an untrusted client
certificate, an untrusted server and a plain-TCP client each fail clearly while the server
keeps serving; a client that connects and never handshakes does not hold up ``quit``; the
requester's ``create_socket`` contract (wrap with one positional argument, close on failure).
"""

from __future__ import annotations

import queue
import socket
import ssl
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aetools import dataset, fast, remote
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from tlsutil import PKI, make_pki
from ulpeer import TIMEOUT

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import ssl_ae, statuses, uids
from pynetdicom2.dulprovider import SOCKET_TIMEOUT
from pynetdicom2.exceptions import AssociationError, NetDICOMError

ECHO = uids.VERIFICATION_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE


@pytest.fixture(scope='module')
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp('pki'))


class SSLStorageAE(ae.FolderStorageMixin, ssl_ae.SSLApplicationEntity):
    """A storage SCP over TLS, the way a user composes one."""

    def __init__(self, storage_dir: Path, context: ssl.SSLContext, ae_title: str) -> None:
        storage_dir.mkdir(parents=True, exist_ok=True)
        self.storage_dir = storage_dir
        super().__init__(context, ae_title, 0, host='127.0.0.1')


def tls_server(pki: PKI, storage_dir: Path, require_client_cert: bool = True) -> SSLStorageAE:
    context = ssl_ae.server_context(
        pki.server_cert, pki.server_key, cafile=pki.ca_cert if require_client_cert else None
    )
    server = SSLStorageAE(storage_dir, context, 'TLSSCP')
    return fast(server.add_scp(sc.verification_scp).add_scp(sc.storage_scp))


def tls_client(context: ssl.SSLContext) -> ssl_ae.SSLClientAE:
    client = ssl_ae.SSLClientAE(context, 'TLSSCU')
    return fast(client.add_scu(sc.verification_scu).add_scu(sc.storage_scu, [CT]))


def good_client(pki: PKI) -> ssl_ae.SSLClientAE:
    return tls_client(ssl_ae.client_context(pki.ca_cert, pki.client_cert, pki.client_key))


def echo(client: ae.AEBase, server: ae.AE) -> Any:
    with client.request_association(remote(server)) as assoc:
        return assoc.get_scu(ECHO)(1)


def test_echo_and_store_over_tls_with_a_client_certificate(pki: PKI, tmp_path: Path) -> None:
    with tls_server(pki, tmp_path / 'in') as server:
        client = good_client(pki)
        sent = [dataset(pixel_bytes=300_000) for _ in range(3)]
        with client.request_association(remote(server)) as assoc:
            assert isinstance(assoc.dul.dul_socket, ssl.SSLSocket)
            assert assoc.get_scu(ECHO)(1).is_success
            for index, ds in enumerate(sent):
                assert assoc.get_scu(CT)(ds, index + 2) == statuses.SUCCESS
    for ds in sent:
        received = dcmread(tmp_path / 'in' / f'{ds.SOPInstanceUID}.dcm')
        assert received.PixelData == ds.PixelData


def test_server_without_client_verification_accepts_a_client_without_certificate(
    pki: PKI, tmp_path: Path
) -> None:
    with tls_server(pki, tmp_path / 'in', require_client_cert=False) as server:
        assert echo(tls_client(ssl_ae.client_context(pki.ca_cert)), server).is_success


@pytest.mark.parametrize('who', ['no certificate', 'untrusted certificate'])
def test_client_certificate_required(pki: PKI, tmp_path: Path, who: str) -> None:
    if who == 'no certificate':
        context = ssl_ae.client_context(pki.ca_cert)
    else:
        context = ssl_ae.client_context(
            pki.ca_cert, pki.rogue_client_cert, pki.rogue_client_key
        )
    with tls_server(pki, tmp_path / 'in') as server:
        started = time.monotonic()
        with pytest.raises(AssociationError) as caught:
            echo(tls_client(context), server)
        assert time.monotonic() - started < TIMEOUT
        # The user sees why: the TLS alert the server sent (certificate required / unknown CA),
        # or, when the connection was reset before the alert could be read, a TLS hint.
        message = str(caught.value)
        assert 'alert' in message or 'certificate' in message or 'reset' in message, message
        # The server goes on serving clients that do present a trusted certificate.
        assert echo(good_client(pki), server).is_success


def test_untrusted_server_is_refused_by_the_client(pki: PKI, tmp_path: Path) -> None:
    context = ssl_ae.client_context(pki.rogue_ca_cert, pki.client_cert, pki.client_key)
    with tls_server(pki, tmp_path / 'in') as server:
        with pytest.raises(AssociationError) as caught:
            echo(tls_client(context), server)
        assert isinstance(caught.value.__cause__, ssl.SSLError)
        assert 'certificate verify failed' in str(caught.value)
        assert echo(good_client(pki), server).is_success


def test_plain_tcp_client_against_a_tls_server(pki: PKI, tmp_path: Path) -> None:
    with tls_server(pki, tmp_path / 'in') as server:
        plain = fast(ae.ClientAE('PLAIN')).add_scu(sc.verification_scu)
        with pytest.raises(AssociationError):
            echo(plain, server)
        assert echo(good_client(pki), server).is_success


def test_tls_client_against_a_plain_server(pki: PKI) -> None:
    server = fast(ae.AE('PLAINSCP', 0, host='127.0.0.1').add_scp(sc.verification_scp))
    with server:
        with pytest.raises(AssociationError):
            echo(good_client(pki), server)


def test_quit_while_a_client_never_starts_the_handshake(pki: PKI, tmp_path: Path) -> None:
    server = tls_server(pki, tmp_path / 'in')
    server.artim_timeout = 30.0  # the handshake bound must not be what ends it
    with server:
        silent = socket.create_connection(('127.0.0.1', server.local_ae.port), timeout=TIMEOUT)
        try:
            # An association with a real client proves the silent one blocks nobody.
            assert echo(good_client(pki), server).is_success
            started = time.monotonic()
            server.quit()
            assert time.monotonic() - started < TIMEOUT
            silent.settimeout(TIMEOUT)
            assert silent.recv(1) == b''  # the server closed its end
        finally:
            silent.close()


def test_handshake_bounded_by_artim(pki: PKI, tmp_path: Path) -> None:
    server = tls_server(pki, tmp_path / 'in')
    server.artim_timeout = 0.5
    with server:
        silent = socket.create_connection(('127.0.0.1', server.local_ae.port), timeout=TIMEOUT)
        try:
            assert silent.recv(1) == b''  # dropped after artim_timeout, not after TIMEOUT
        finally:
            silent.close()


def test_an_ssl_application_entity_also_requests_over_tls(pki: PKI, tmp_path: Path) -> None:
    # One context serving and requesting: a server context that also trusts the CA.
    both = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    both.load_verify_locations(pki.ca_cert)
    both.load_cert_chain(pki.client_cert, pki.client_key)
    with tls_server(pki, tmp_path / 'in') as server:
        requester = ssl_ae.SSLApplicationEntity(both, 'BOTH', 0, bind_and_activate=False)
        requester = fast(requester.add_scu(sc.verification_scu))
        try:
            assert echo(requester, server).is_success
        finally:
            requester.quit()


# --- the requester's socket, as the original's SSLDULProvider ------------------------------


def test_create_socket_wraps_with_one_positional_argument() -> None:
    context = mock.Mock(spec=['wrap_socket'])
    raw = mock.Mock()
    dul = ssl_ae.SSLDULProvider(context, set(), None)
    dul.called_presentation_address = ('127.0.0.1', 104)
    with mock.patch.object(socket, 'create_connection', return_value=raw) as connect:
        assert dul.create_socket() is context.wrap_socket.return_value
    connect.assert_called_once_with(('127.0.0.1', 104), timeout=SOCKET_TIMEOUT)
    context.wrap_socket.assert_called_once_with(raw)


def test_create_socket_closes_the_raw_socket_when_wrapping_fails() -> None:
    context = mock.Mock(spec=['wrap_socket'])
    context.wrap_socket.side_effect = ssl.SSLError('handshake failed')
    raw = mock.Mock()
    dul = ssl_ae.SSLDULProvider(context, set(), None)
    dul.called_presentation_address = ('127.0.0.1', 104)
    with mock.patch.object(socket, 'create_connection', return_value=raw):
        with pytest.raises(ssl.SSLError):
            dul.create_socket()
    raw.close.assert_called_once_with()


def test_create_socket_without_address() -> None:
    dul = ssl_ae.SSLDULProvider(mock.Mock(), set(), None)
    with pytest.raises(NetDICOMError, match='no called presentation address'):
        dul.create_socket()


def test_server_context_options(pki: PKI) -> None:
    assert ssl_ae.server_context(pki.server_cert, pki.server_key).verify_mode == ssl.CERT_NONE
    required = ssl_ae.server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
    assert required.verify_mode == ssl.CERT_REQUIRED
    optional = ssl_ae.server_context(
        pki.server_cert, pki.server_key, cafile=pki.ca_cert, require_client_cert=False
    )
    assert optional.verify_mode == ssl.CERT_OPTIONAL
    with pytest.raises(NetDICOMError, match='cafile'):
        ssl_ae.server_context(pki.server_cert, pki.server_key, require_client_cert=True)


# --- associations a TLS AE requests itself: C-MOVE sub-operations, commitment results ----------


def both_contexts(pki: PKI) -> dict[str, Any]:
    """A server context requiring client certificates, and a client one presenting ours."""
    return {
        'context': ssl_ae.server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert),
        'client_context': ssl_ae.client_context(pki.ca_cert, pki.client_cert, pki.client_key),
    }


class TLSArchive(ssl_ae.SSLApplicationEntity):
    """Commits every instance it is asked about and moves what it is given, all over TLS."""

    def __init__(self, context: ssl.SSLContext, client_context: ssl.SSLContext | None) -> None:
        super().__init__(context, 'ARCHIVE', 0, host='127.0.0.1', client_context=client_context)
        self.add_scp(sc.StorageCommitment()).add_scp(sc.qr_move_scp)
        self.add_scu(sc.storage_scu, [CT])
        self.report_to: Any = None
        self.move_to: Any = None
        self.to_move: list = []

    def on_commitment_request(self, remote_aet: str, uids_iter: Any) -> Any:
        return self.report_to, list(uids_iter), []

    def on_receive_move(self, context: Any, ds: Any, destination: str) -> Any:
        return self.move_to, len(self.to_move), iter(self.to_move)


class TLSModality(ssl_ae.SSLApplicationEntity):
    """Asks for storage commitment and receives the result, over TLS only."""

    def __init__(self, pki: PKI) -> None:
        super().__init__(**both_contexts(pki), ae_title='MODALITY', port=0, host='127.0.0.1')
        self.add_scp(sc.StorageCommitment()).add_scu(sc.storage_commitment_scu)
        self.add_scu(sc.qr_move_scu)
        self.results: queue.Queue[tuple] = queue.Queue()

    def on_commitment_response(self, transaction_uid: str, success: Any, failure: Any) -> None:
        self.results.put((transaction_uid, list(success), list(failure)))


def test_a_tls_archive_sends_its_commitment_result_over_tls(pki: PKI) -> None:
    modality = fast(TLSModality(pki))
    archive = fast(TLSArchive(**both_contexts(pki)))
    pairs = [(CT, generate_uid())]
    with modality, archive:
        archive.report_to = remote(modality)  # it speaks TLS only: a plain report cannot land
        with modality.request_association(remote(archive)) as assoc:
            transaction = generate_uid()
            assert assoc.get_scu(uids.STORAGE_COMMITMENT_SOP_CLASS)(
                transaction, pairs, 1).is_success
        assert modality.results.get(timeout=TIMEOUT) == (transaction, pairs, [])


def test_a_tls_archive_without_a_client_context_says_what_it_needs(
    pki: PKI, caplog: pytest.LogCaptureFixture
) -> None:
    modality = fast(TLSModality(pki))
    server_only = ssl_ae.server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
    archive = fast(TLSArchive(server_only, None))
    with modality, archive:
        archive.report_to = remote(modality)
        with modality.request_association(remote(archive)) as assoc:
            assert assoc.get_scu(uids.STORAGE_COMMITMENT_SOP_CLASS)(
                generate_uid(), [(CT, generate_uid())], 1).is_success
    assert modality.results.empty()
    assert any('pass client_context=ssl_ae.client_context' in r.getMessage()
               for r in caplog.records)
    with pytest.raises(AssociationError, match='has only a server TLS context'):
        archive._create_association(remote(modality))


def test_c_move_sub_operations_of_a_tls_archive_run_over_tls(pki: PKI, tmp_path: Path) -> None:
    archive = fast(TLSArchive(**both_contexts(pki)))
    modality = fast(TLSModality(pki))
    with tls_server(pki, tmp_path / 'dest') as destination, archive:
        archive.move_to = remote(destination)
        archive.to_move = [dataset(), dataset()]
        query = Dataset()
        query.QueryRetrieveLevel = 'STUDY'
        query.StudyInstanceUID = '1.2.3'
        with modality.request_association(remote(archive)) as assoc:
            responses = list(assoc.get_scu(uids.STUDY_ROOT_MOVE_SOP_CLASS)(query, 'TLSSCP', 1))
        final_status, final = responses[-1]
        assert final_status.is_success and final.num_of_completed_sub_ops == 2
        stored = sorted(str(dcmread(p).SOPInstanceUID) for p in (tmp_path / 'dest').iterdir())
    assert stored == sorted(str(ds.SOPInstanceUID) for ds in archive.to_move)
