"""Query/Retrieve and C-CANCEL against pynetdicom, each side driven through its public API.

* pynetdicom's SCU -> our Q/R SCP: C-FIND, a C-CANCEL-RQ it sends mid-way
  (``send_c_cancel``), and a C-GET offering the same storage class twice (JPEG Baseline
  only, explicit VR little endian only) with the SCP role: each instance comes back on the
  context of its own transfer syntax;
* our SCUs -> pynetdicom's Q/R SCP (``start_server`` with ``EVT_C_FIND``, ``EVT_C_GET``,
  ``EVT_C_MOVE`` handlers): C-FIND closed early (pynetdicom answers Cancel), C-GET into a
  ``ClientStorageAE``, C-MOVE to our ``StorageAE``.
"""

from __future__ import annotations

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.services import query

from .conftest import MR_IMAGE_STORAGE, interop_required
from .test_dcmtk_qr import OurArchive

try:
    import pynetdicom
    from pynetdicom import build_role, evt
except ImportError:  # pragma: no cover - pynetdicom is a test dependency
    if interop_required('pynetdicom'):
        raise
    pytest.skip('pynetdicom is not installed (pip install pynetdicom): no peer',
                allow_module_level=True)

pytestmark = pytest.mark.interop

THEIR_AET = 'PYNDQR'
FIND = uids.STUDY_ROOT_FIND_SOP_CLASS
GET = uids.STUDY_ROOT_GET_SOP_CLASS
MOVE = uids.STUDY_ROOT_MOVE_SOP_CLASS
#: pynetdicom's handlers stop here: a cancel that does not work fails the test, no hang.
BOUND = 20000
# pynetdicom's SCP streams about 1,500 matches/s and aborts after 10 s without reading
# anything, which is what a draining SCU looks like to it: keep its answer well below that.
THEIR_MATCHES = 2000


def their_ae(ae_title: str = THEIR_AET) -> pynetdicom.AE:
    peer = pynetdicom.AE(ae_title)
    peer.acse_timeout = peer.dimse_timeout = peer.network_timeout = 10
    peer.connection_timeout = 10
    return peer


def study_query(**keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = 'STUDY'
    ds.StudyInstanceUID = ''
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


@pytest.fixture
def mr_pair(sample_of):
    """Two MR images: one JPEG Baseline, one explicit VR little endian."""
    return [sample_of('jpeg_baseline'), sample_of('explicit_le')]


# --- pynetdicom SCU -> our Q/R SCP ---------------------------------------------------------------


def test_pynetdicom_find_and_cancel_to_our_archive(serve, samples, sample_of):
    archive = [sample_of(name) for name in ('implicit_le', 'explicit_le', 'explicit_be')]
    scp = OurArchive([s.path for s in archive])
    client = their_ae()
    client.add_requested_context(FIND)
    with serve(scp) as port:
        assoc = client.associate('127.0.0.1', port, ae_title=scp.ae_title)
        try:
            assert assoc.is_established
            results = list(assoc.send_c_find(study_query(PatientID='INTEROP-1'), FIND))
            assert [status.Status for status, _ in results] == [0xFF00] * 3 + [0]
            assert {str(ds.StudyInstanceUID) for _, ds in results[:-1]} == {
                str(dcmread(s.path, stop_before_pixels=True).StudyInstanceUID)
                for s in archive}

            scp.find_total = BOUND
            responses = assoc.send_c_find(study_query(), FIND, msg_id=7)
            status, _ = next(responses)
            assert status.Status == 0xFF00
            context_id = next(c.context_id for c in assoc.accepted_contexts
                              if c.abstract_syntax == FIND)
            assoc.send_c_cancel(7, context_id)
            statuses_after = [status.Status for status, _ in responses]
            assert statuses_after[-1] == 0xFE00
            assert len(statuses_after) < BOUND
        finally:
            if assoc.is_established:
                assoc.release()


def test_pynetdicom_get_uses_the_context_of_each_files_syntax(serve, mr_pair, assert_same,
                                                               tmp_path):
    scp = OurArchive([s.path for s in mr_pair])
    scp.supported_ts = uids.ALL_TS  # accept the JPEG-only context
    received = []

    def on_store(event):
        path = tmp_path / f'{event.request.AffectedSOPInstanceUID}.dcm'
        with open(path, 'wb') as out:
            out.write(event.encoded_dataset())
        received.append((event.context.transfer_syntax, path))
        return 0x0000

    client = their_ae()
    client.add_requested_context(GET)
    client.add_requested_context(MR_IMAGE_STORAGE, [JPEGBaseline8Bit])
    client.add_requested_context(MR_IMAGE_STORAGE, [ExplicitVRLittleEndian])
    role = build_role(MR_IMAGE_STORAGE, scp_role=True)
    with serve(scp) as port:
        assoc = client.associate('127.0.0.1', port, ae_title=scp.ae_title,
                                 ext_neg=[role], evt_handlers=[(evt.EVT_C_STORE, on_store)])
        try:
            assert assoc.is_established
            results = list(assoc.send_c_get(study_query(PatientID='INTEROP-1'), GET))
        finally:
            if assoc.is_established:
                assoc.release()
    final = results[-1][0]
    assert final.Status == 0 and final.NumberOfCompletedSuboperations == 2, final
    by_syntax = {syntax: path for syntax, path in received}
    assert set(by_syntax) == {JPEGBaseline8Bit, ExplicitVRLittleEndian}
    for sample in mr_pair:
        assert_same(sample, by_syntax[sample.transfer_syntax], same_syntax=False)


# --- our SCUs -> pynetdicom's Q/R SCP ------------------------------------------------------------


class TheirArchive:
    """pynetdicom's Q/R SCP on 127.0.0.1 over some Part-10 files; always shut down."""

    def __init__(self, files, move_destination: tuple[str, int] | None = None) -> None:
        self.files = list(files)
        self.move_destination = move_destination
        self.ae = their_ae()
        for sop_class in (FIND, GET, MOVE, uids.VERIFICATION_SOP_CLASS):
            self.ae.add_supported_context(sop_class)
        for path in self.files:
            sop_class = dcmread(path, stop_before_pixels=True).SOPClassUID
            # the C-GET requester may act as storage SCP; and C-MOVE sub-associations
            self.ae.add_supported_context(sop_class, scu_role=True, scp_role=True)
            self.ae.add_requested_context(sop_class)
        handlers = [(evt.EVT_C_FIND, self.on_find), (evt.EVT_C_GET, self.on_get),
                    (evt.EVT_C_MOVE, self.on_move)]
        self.server = self.ae.start_server(('127.0.0.1', 0), block=False,
                                           evt_handlers=handlers)
        self.port = self.server.server_address[1]

    def on_find(self, event):
        match = Dataset()
        match.QueryRetrieveLevel = 'STUDY'
        for number in range(THEIR_MATCHES):
            if event.is_cancelled:  # pynetdicom leaves noticing a C-CANCEL-RQ to the handler
                yield 0xFE00, None
                return
            match.StudyInstanceUID = f'1.2.3.{number}'
            yield 0xFF00, match

    def on_get(self, event):
        yield len(self.files)
        for path in self.files:
            yield 0xFF00, dcmread(path)

    def on_move(self, event):
        yield self.move_destination
        yield len(self.files)
        for path in self.files:
            yield 0xFF00, dcmread(path)

    def remote(self) -> dict:
        return {'aet': THEIR_AET, 'address': '127.0.0.1', 'port': self.port}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def their_archive():
    started = []

    def start(*args, **kwargs) -> TheirArchive:
        archive = TheirArchive(*args, **kwargs)
        started.append(archive)
        return archive

    yield start
    for archive in started:
        archive.close()


def test_our_find_closed_early_cancels_pynetdicoms(their_archive, mr_pair, monkeypatch):
    finals = []
    original = query.cancel_request
    monkeypatch.setattr(query, 'cancel_request', lambda *a, **k: finals.append(original(*a, **k)))
    archive = their_archive([mr_pair[1].path])
    client = ae.ClientAE('OURSCU').add_scu(sc.qr_find_scu).add_scu(sc.verification_scu)
    with client.request_association(archive.remote()) as assoc:
        for match, status in assoc.get_scu(FIND)(study_query(), 3):
            assert status.is_pending and match.StudyInstanceUID == '1.2.3.0'
            break
        # One final response ends the operation: Cancel when pynetdicom's handler saw our
        # C-CANCEL-RQ in time, Success when pynetdicom (whose reactor reads the socket only
        # while it has nothing to send) streamed every match first — PS3.7 9.3.2.3 lets an
        # SCP finish before a cancel takes effect. Either way the association carries on.
        assert len(finals) == 1 and finals[0].status in (0xFE00, 0x0000), finals
        assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(4).is_success


def test_our_get_from_pynetdicom(their_archive, mr_pair, assert_same, tmp_path):
    archive = their_archive([mr_pair[1].path])
    client = ae.ClientStorageAE(tmp_path, 'OURSCU').add_scu(sc.qr_get_scu)
    client.add_scu(sc.storage_scu, [MR_IMAGE_STORAGE])
    with client.request_association(archive.remote()) as assoc:
        get = assoc.get_scu(GET)(study_query(), 1)
        assert [ctx.sop_class for ctx, _ in get] == [MR_IMAGE_STORAGE]
    assert get.status.is_success and get.response.num_of_completed_sub_ops == 1
    sample = mr_pair[1]
    assert_same(sample, tmp_path / sample.stored_name, same_syntax=False)


def test_our_move_via_pynetdicom(their_archive, serve, mr_pair, assert_same, tmp_path):
    destination = ae.StorageAE(tmp_path, 'OURDEST', 0, bind_and_activate=False)
    destination.add_scp(sc.storage_scp)
    with serve(destination) as dest_port:
        archive = their_archive([mr_pair[1].path], move_destination=('127.0.0.1', dest_port))
        client = ae.ClientAE('OURSCU').add_scu(sc.qr_move_scu)
        with client.request_association(archive.remote()) as assoc:
            responses = list(assoc.get_scu(MOVE)(study_query(), 'OURDEST', 1))
    status, final = responses[-1]
    assert status.is_success and final.num_of_completed_sub_ops == 1, responses
    sample = mr_pair[1]
    assert_same(sample, tmp_path / sample.stored_name, same_syntax=False)
