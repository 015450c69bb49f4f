"""pynetdicom2 against pynetdicom, each driven through its public API.

* pynetdicom's ``AE`` as SCU -> our AE: C-ECHO (and what our A-ASSOCIATE-AC says about us),
  C-STORE of every sample, presentation-context results 3 and 4, rejections, a user identity
  response, an abort;
* our ``ClientAE`` -> pynetdicom's SCP (``start_server`` with ``evt.EVT_C_STORE`` writing the
  encoded data set to disk): C-ECHO, C-STORE of every sample, identity, rejection, a peer abort.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import asceprovider, exceptions, uids
from pynetdicom2 import sopclass as sc

from .conftest import PEER_TIMEOUT, SAMPLE_NAMES, interop_required

try:
    import pynetdicom
    from pynetdicom import evt
    from pynetdicom.pdu_primitives import UserIdentityNegotiation
except ImportError:  # pragma: no cover - pynetdicom is a test dependency
    if interop_required('pynetdicom'):
        raise
    pytest.skip('pynetdicom is not installed (pip install pynetdicom): no peer',
                allow_module_level=True)

pytestmark = pytest.mark.interop

OUR_AET = 'OURSCP'
THEIR_AET = 'PYNDSCP'
UNKNOWN_SOP_CLASS = '1.2.826.0.1.3680043.8.498.999.2'


def their_ae(ae_title: str) -> pynetdicom.AE:
    """A pynetdicom AE with every timeout bounded."""
    peer = pynetdicom.AE(ae_title)
    peer.acse_timeout = peer.dimse_timeout = peer.network_timeout = 10
    peer.connection_timeout = 10
    return peer


def storage_ae(storage_dir: Path, supported_ts=None) -> ae.StorageAE:
    scp = ae.StorageAE(storage_dir, OUR_AET, 0, supported_ts=supported_ts,
                       bind_and_activate=False)
    return scp.add_scp(sc.verification_scp).add_scp(sc.storage_scp)


def finish(assoc) -> None:
    """Release a pynetdicom association that is still up (abort if that fails)."""
    if assoc.is_established:
        assoc.release()
    if assoc.is_established:
        assoc.abort()


class TheirSCP:
    """pynetdicom's storage SCP on 127.0.0.1: writes each data set, unparsed, to
    ``<dir>/<SOPInstanceUID>.dcm``; records what it saw; always shut down."""

    def __init__(self, out: Path | None, contexts, require_called_aet: bool = False,
                 abort_on_store: bool = False) -> None:
        self.out = out
        self.abort_on_store = abort_on_store
        self.ae = their_ae(THEIR_AET)
        self.ae.require_called_aet = require_called_aet
        self.ae.add_supported_context(uids.VERIFICATION_SOP_CLASS)
        for sop_class, syntaxes in contexts:
            self.ae.add_supported_context(sop_class, syntaxes)
        self.requestors: list[tuple[str, str, int]] = []
        self.identities: list[tuple[int, bytes, bytes]] = []
        self.ended = threading.Event()
        self.how_it_ended: list[str] = []
        self.server = None

    def _on_echo(self, event) -> int:
        requestor = event.assoc.requestor
        self.requestors.append(
            (requestor.ae_title, requestor.implementation_class_uid, requestor.maximum_length))
        return 0x0000

    def _on_store(self, event) -> int:
        if self.abort_on_store:
            event.assoc.abort()
            return 0x0000
        path = self.out / f'{event.request.AffectedSOPInstanceUID}.dcm'
        path.write_bytes(event.encoded_dataset())
        return 0x0000

    def _on_user_id(self, event):
        self.identities.append(
            (event.user_id_type, event.primary_field, event.secondary_field))
        return True, b'welcome' if event.user_id_type in (3, 4, 5) else None

    def _on_end(self, event) -> None:
        self.how_it_ended.append(event.event.name)
        self.ended.set()

    def __enter__(self) -> int:
        handlers = [
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_USER_ID, self._on_user_id),
            (evt.EVT_RELEASED, self._on_end),
            (evt.EVT_ABORTED, self._on_end),
        ]
        self.server = self.ae.start_server(('127.0.0.1', 0), block=False,
                                           evt_handlers=handlers)
        return self.server.server_address[1]

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()


def remote(port: int, aet: str = THEIR_AET, **extra) -> dict:
    return {'aet': aet, 'address': '127.0.0.1', 'port': port, **extra}


# --- pynetdicom SCU -> our AE --------------------------------------------------------------------


def test_pynetdicom_echo_to_our_ae(serve):
    """C-ECHOs succeed, and the A-ASSOCIATE-AC carries our own user information (our
    implementation class UID and version name, our maximum length), not pynetdicom's echoed."""
    scp = ae.AE(OUR_AET, 0, bind_and_activate=False).add_scp(sc.verification_scp)
    peer = their_ae('PYNDSCU')
    peer.add_requested_context(uids.VERIFICATION_SOP_CLASS)
    with serve(scp) as port:
        assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET)
        try:
            assert assoc.is_established
            statuses = [assoc.send_c_echo(msg_id=number) for number in (1, 2, 3)]
            acceptor = assoc.acceptor
        finally:
            finish(assoc)
    assert [status.Status for status in statuses] == [0, 0, 0]
    assert acceptor.implementation_class_uid == asceprovider.IMPLEMENTATION_UID
    assert acceptor.implementation_version_name  # PS3.7 D.3.3.2.3: ours, not theirs
    assert acceptor.maximum_length == scp.max_pdu_length
    assert acceptor.maximum_length != assoc.requestor.maximum_length
    assert assoc.is_released


@pytest.mark.parametrize('name', SAMPLE_NAMES)
def test_pynetdicom_store_to_our_ae(name, serve, sample_of, assert_same, tmp_path):
    """pynetdicom sends each sample in its own transfer syntax; we write the same data set to
    ``<SOPInstanceUID>.dcm`` and nothing else."""
    sample = sample_of(name)
    storage_dir = tmp_path / 'received'
    storage_dir.mkdir()
    peer = their_ae('PYNDSCU')
    peer.add_requested_context(sample.sop_class_uid, sample.transfer_syntax)
    with serve(storage_ae(storage_dir, [sample.transfer_syntax])) as port:
        assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET)
        try:
            assert assoc.is_established
            status = assoc.send_c_store(str(sample.path))
        finally:
            finish(assoc)
    assert status.Status == 0x0000, status
    assert sorted(p.name for p in storage_dir.iterdir()) == [sample.stored_name]
    assert_same(sample, storage_dir / sample.stored_name)


def test_pynetdicom_store_several_on_one_association(serve, samples, assert_same, tmp_path):
    """Every uncompressed sample on one association, one context per sample (pynetdicom does
    not convert between byte orders), our AE accepting its default transfer syntaxes."""
    storage_dir = tmp_path / 'received'
    storage_dir.mkdir()
    chosen = [s for s in samples.values() if not isinstance(s, str)
              and s.name in ('implicit_le', 'explicit_le', 'explicit_be', 'large_explicit_le')]
    peer = their_ae('PYNDSCU')
    for sample in chosen:
        peer.add_requested_context(sample.sop_class_uid, sample.transfer_syntax)
    with serve(storage_ae(storage_dir)) as port:
        assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET)
        try:
            assert assoc.is_established
            results = [assoc.send_c_store(dcmread(s.path), msg_id=n + 1)
                       for n, s in enumerate(chosen)]
        finally:
            finish(assoc)
    assert [r.Status for r in results] == [0] * len(chosen)
    for sample in chosen:
        assert_same(sample, storage_dir / sample.stored_name)


def test_pynetdicom_unsupported_contexts(serve, sample_of, tmp_path):
    """Result 3 for an abstract syntax we do not serve, 4 for a transfer syntax we do not
    accept, 0 for the rest; the association works on what was accepted."""
    storage_dir = tmp_path / 'received'
    storage_dir.mkdir()
    sample = sample_of('explicit_le')
    peer = their_ae('PYNDSCU')
    peer.add_requested_context(uids.VERIFICATION_SOP_CLASS)
    peer.add_requested_context(UNKNOWN_SOP_CLASS, ImplicitVRLittleEndian)
    peer.add_requested_context(uids.CT_IMAGE_STORAGE, uids.JPEG_BASELINE_PROCESS_1)
    peer.add_requested_context(sample.sop_class_uid, sample.transfer_syntax)
    with serve(storage_ae(storage_dir, [sample.transfer_syntax])) as port:
        assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET)
        try:
            assert assoc.is_established
            results = {cx.abstract_syntax: cx.result for cx in assoc.rejected_contexts}
            accepted = sorted(cx.abstract_syntax for cx in assoc.accepted_contexts)
            echo = assoc.send_c_echo()
            stored = assoc.send_c_store(str(sample.path))
        finally:
            finish(assoc)
    assert results == {UNKNOWN_SOP_CLASS: 3, uids.CT_IMAGE_STORAGE: 4}
    assert accepted == sorted([uids.VERIFICATION_SOP_CLASS, sample.sop_class_uid])
    assert echo.Status == 0 and stored.Status == 0
    assert sorted(p.name for p in storage_dir.iterdir()) == [sample.stored_name]


def test_pynetdicom_rejected_by_on_association_request(serve):
    """AssociationRejectedError(2, 1, 3) from the hook reaches pynetdicom as an
    A-ASSOCIATE-RJ with exactly those values."""

    class Picky(ae.AE):
        def on_association_request(self, asce, rq):
            if rq.calling_ae_title != 'FRIEND':
                raise exceptions.AssociationRejectedError(2, 1, 3)

    scp = Picky(OUR_AET, 0, bind_and_activate=False).add_scp(sc.verification_scp)
    stranger = their_ae('STRANGER')
    friend = their_ae('FRIEND')
    for peer in (stranger, friend):
        peer.add_requested_context(uids.VERIFICATION_SOP_CLASS)
    with serve(scp) as port:
        refused = stranger.associate('127.0.0.1', port, ae_title=OUR_AET)
        welcome = friend.associate('127.0.0.1', port, ae_title=OUR_AET)
        try:
            assert welcome.is_established
            assert welcome.send_c_echo().Status == 0
        finally:
            finish(welcome)
    assert refused.is_rejected
    answer = refused.acceptor.primitive
    assert (answer.result, answer.result_source, answer.diagnostic) == (2, 1, 3)


def test_pynetdicom_wrong_called_ae_title_rejected(serve):
    """Our AE requiring its title answers another called title with A-ASSOCIATE-RJ (1, 1, 7)."""
    scp = ae.AE(OUR_AET, 0, bind_and_activate=False).add_scp(sc.verification_scp)
    if not hasattr(scp, 'require_called_aet'):
        pytest.skip('this AE has no require_called_aet setting: no called-title check to test')
    scp.require_called_aet = True
    peer = their_ae('PYNDSCU')
    peer.add_requested_context(uids.VERIFICATION_SOP_CLASS)
    with serve(scp) as port:
        refused = peer.associate('127.0.0.1', port, ae_title='NOTOURS')
        welcome = peer.associate('127.0.0.1', port, ae_title=OUR_AET)
        try:
            assert welcome.is_established
        finally:
            finish(welcome)
    assert refused.is_rejected
    answer = refused.acceptor.primitive
    assert (answer.result, answer.result_source, answer.diagnostic) == (1, 1, 7)


def test_pynetdicom_user_identity_response(serve):
    """A user identity request asking for a positive response gets a 0x59 reply."""
    scp = ae.AE(OUR_AET, 0, bind_and_activate=False).add_scp(sc.verification_scp)
    peer = their_ae('PYNDSCU')
    peer.add_requested_context(uids.VERIFICATION_SOP_CLASS)
    identity = UserIdentityNegotiation()
    identity.user_identity_type = 2
    identity.primary_field = b'alice'
    identity.secondary_field = b'secret'
    identity.positive_response_requested = True
    with serve(scp) as port:
        assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET, ext_neg=[identity])
        try:
            assert assoc.is_established
            response = assoc.acceptor.user_identity
        finally:
            finish(assoc)
    assert response is not None, 'no User Identity sub-item (0x59) in the A-ASSOCIATE-AC'
    assert response.server_response is not None


def test_pynetdicom_abort_leaves_server_serving(serve):
    """pynetdicom aborts one association; the next one is served normally."""
    scp = ae.AE(OUR_AET, 0, bind_and_activate=False).add_scp(sc.verification_scp)
    peer = their_ae('PYNDSCU')
    peer.add_requested_context(uids.VERIFICATION_SOP_CLASS)
    with serve(scp) as port:
        first = peer.associate('127.0.0.1', port, ae_title=OUR_AET)
        assert first.is_established
        assert first.send_c_echo().Status == 0
        first.abort()
        second = peer.associate('127.0.0.1', port, ae_title=OUR_AET)
        try:
            assert second.is_established
            assert second.send_c_echo().Status == 0
        finally:
            finish(second)


# --- our ClientAE -> pynetdicom SCP --------------------------------------------------------------


def test_client_ae_echo_to_pynetdicom():
    """C-ECHO through get_scu; pynetdicom sees our AE title, implementation class UID and
    maximum length, and the association ends with a release, not an abort."""
    client = ae.ClientAE('OURSCU').add_scu(sc.verification_scu)
    their = TheirSCP(None, [])
    with their as port:
        with client.request_association(remote(port)) as assoc:
            status = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
        assert their.ended.wait(PEER_TIMEOUT)
    assert status.is_success, status
    assert their.requestors == [('OURSCU', asceprovider.IMPLEMENTATION_UID,
                                 client.max_pdu_length)]
    assert their.how_it_ended == ['EVT_RELEASED']


@pytest.mark.parametrize('name', SAMPLE_NAMES)
def test_client_ae_store_to_pynetdicom(name, sample_of, assert_same, tmp_path):
    """Our ClientAE streams each sample in its own transfer syntax; pynetdicom's handler
    writes what it received; the data sets match."""
    sample = sample_of(name)
    out = tmp_path / 'pynetdicom'
    out.mkdir()
    client = ae.ClientAE('OURSCU', supported_ts=[sample.transfer_syntax])
    client.add_scu(sc.storage_scu, [sample.sop_class_uid])
    their = TheirSCP(out, [(sample.sop_class_uid, [sample.transfer_syntax])])
    with their as port:
        with client.request_association(remote(port)) as assoc:
            status = assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
    assert status.is_success, status
    assert_same(sample, out / sample.stored_name)


def test_client_ae_store_dataset_to_pynetdicom(sample_of, assert_same, tmp_path):
    """storage_scu(Dataset) encodes in the accepted transfer syntax (here Big Endian)."""
    sample = sample_of('explicit_be')
    out = tmp_path / 'pynetdicom'
    out.mkdir()
    client = ae.ClientAE('OURSCU', supported_ts=[ExplicitVRBigEndian])
    client.add_scu(sc.storage_scu, [sample.sop_class_uid])
    their = TheirSCP(out, [(sample.sop_class_uid, [ExplicitVRBigEndian])])
    with their as port:
        with client.request_association(remote(port)) as assoc:
            status = assoc.get_scu(sample.sop_class_uid)(dcmread(sample.path), 7)
    assert status.is_success, status
    assert_same(sample, out / sample.stored_name)


def test_client_ae_user_identity_to_pynetdicom():
    """RemoteAEConfig username + password arrive as a type 2 user identity."""
    client = ae.ClientAE('OURSCU').add_scu(sc.verification_scu)
    their = TheirSCP(None, [])
    with their as port:
        config = asceprovider.RemoteAEConfig(aet=THEIR_AET, address='127.0.0.1', port=port,
                                             username='alice', password='secret')
        with client.request_association(config) as assoc:
            assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
    assert their.identities == [(2, b'alice', b'secret')]


def test_client_ae_rejected_by_pynetdicom():
    """pynetdicom requiring its called AE title rejects us: permanent, service user, called
    AE title not recognised (1, 1, 7), as AssociationRejectedError."""
    client = ae.ClientAE('OURSCU').add_scu(sc.verification_scu)
    their = TheirSCP(None, [], require_called_aet=True)
    with their as port:
        with pytest.raises(exceptions.AssociationRejectedError) as rejected:
            with client.request_association(remote(port, aet='SOMEONEELSE')):
                pytest.fail('the association was accepted')
    error = rejected.value
    assert (error.result, error.source, error.diagnostic) == (1, 1, 7)


def test_client_ae_unknown_sop_class_refused_by_pynetdicom():
    """A context pynetdicom refuses makes get_scu raise ClassNotSupportedError."""
    client = ae.ClientAE('OURSCU').add_scu(sc.verification_scu)
    client.add_scu(sc.storage_scu, [UNKNOWN_SOP_CLASS])
    their = TheirSCP(None, [])
    with their as port:
        with client.request_association(remote(port)) as assoc:
            with pytest.raises(exceptions.ClassNotSupportedError):
                assoc.get_scu(UNKNOWN_SOP_CLASS)
            assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success


def test_client_ae_store_aborted_by_pynetdicom(sample_of, tmp_path):
    """pynetdicom aborts while handling our C-STORE: the SCU call raises
    AssociationAbortedError and leaving the ``with`` block does not hang."""
    sample = sample_of('explicit_le')
    client = ae.ClientAE('OURSCU').add_scu(sc.storage_scu, [sample.sop_class_uid])
    their = TheirSCP(tmp_path, [(sample.sop_class_uid, [sample.transfer_syntax])],
                     abort_on_store=True)
    with their as port:
        with pytest.raises(exceptions.AssociationAbortedError):
            with client.request_association(remote(port)) as assoc:
                assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
