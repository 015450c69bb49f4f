"""The query/retrieve families beyond patients and studies, against pynetdicom.

* our ``qr_find_scu`` -> pynetdicom's Relevant Patient Information Query SCP (PS3.4 Q): the
  one match, then Success; its "more than one match" failure (C100H) reaches us as the
  final status;
* our ``qr_get_scu`` for Composite Instance Root Retrieve - GET alone (PS3.4 Y) -> pynetdicom's
  C-GET SCP: we propose the storage SCP role, pynetdicom grants it and sends the instance
  (before, nothing was proposed and the C-GET ended in failed sub-operations);
* pynetdicom's SCU -> our SCP: a Hanging Protocol C-FIND (PS3.4 U), and a Composite Instance
  Root Retrieve C-GET with the role pynetdicom proposes.
"""

from __future__ import annotations

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids

from .conftest import MR_IMAGE_STORAGE, interop_required

try:
    import pynetdicom
    from pynetdicom import build_role, evt
except ImportError:  # pragma: no cover - pynetdicom is a test dependency
    if interop_required('pynetdicom'):
        raise
    pytest.skip('pynetdicom is not installed (pip install pynetdicom): no peer',
                allow_module_level=True)

pytestmark = pytest.mark.interop

GENERAL_RPI = uids.GENERAL_RELEVANT_PATIENT_INFORMATION_QUERY_SOP_CLASS
ROOT_GET = uids.COMPOSITE_INSTANCE_ROOT_RETRIEVE_GET_SOP_CLASS
HANGING_FIND = uids.HANGING_PROTOCOL_FIND_SOP_CLASS


def their_ae(ae_title: str = 'PYNDFAM') -> pynetdicom.AE:
    peer = pynetdicom.AE(ae_title)
    peer.acse_timeout = peer.dimse_timeout = peer.network_timeout = 10
    peer.connection_timeout = 10
    return peer


class TheirServer:
    """pynetdicom serving ``contexts`` on 127.0.0.1 with ``handlers``; always shut down."""

    def __init__(self, contexts, handlers, roles=()) -> None:
        self.ae = their_ae()
        for sop_class in contexts:
            self.ae.add_supported_context(sop_class)
        for sop_class in roles:  # the C-GET requester may be storage SCP for these
            self.ae.add_supported_context(sop_class, scu_role=True, scp_role=True)
        self.server = self.ae.start_server(('127.0.0.1', 0), block=False, evt_handlers=handlers)
        self.remote = {'aet': 'PYNDFAM', 'address': '127.0.0.1',
                       'port': self.server.server_address[1]}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def their_server():
    started: list[TheirServer] = []

    def start(*args, **kwargs) -> TheirServer:
        server = TheirServer(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def patient_query() -> Dataset:
    ds = Dataset()
    ds.PatientID = 'RPI-1'
    ds.PatientName = ''
    return ds


# --- our SCUs -> pynetdicom's SCPs ---------------------------------------------------------------


@pytest.mark.parametrize(('answers', 'expected'), [
    ('one', [0xFF00, 0x0000]),
    ('several', [0xC100]),
], ids=['one-match', 'more-than-one-match'])
def test_our_relevant_patient_query_to_pynetdicom(their_server, answers, expected):
    seen = []

    def on_find(event):
        seen.append(event.context.abstract_syntax)
        if answers == 'several':  # PS3.4 Q.2.1.1.3: more than one match found
            yield 0xC100, None
            return
        match = Dataset()
        match.PatientID = event.identifier.PatientID
        match.PatientName = 'Relevant^Patient'
        yield 0xFF00, match

    server = their_server([GENERAL_RPI], [(evt.EVT_C_FIND, on_find)])
    client = ae.ClientAE('OURSCU').add_scu(
        sc.qr_find_scu, uids.RELEVANT_PATIENT_INFORMATION_QUERY_SOP_CLASSES)
    with client.request_association(server.remote) as assoc:
        results = list(assoc.get_scu(GENERAL_RPI)(patient_query(), 1))
    assert [int(status) for _, status in results] == expected
    if answers == 'one':
        assert results[0][0].PatientName == 'Relevant^Patient'
    assert seen == [GENERAL_RPI]


def test_our_composite_instance_root_get_from_pynetdicom(their_server, sample_of, assert_same,
                                                         tmp_path):
    sample = sample_of('explicit_le')

    def on_get(event):
        yield 1
        yield 0xFF00, dcmread(sample.path)

    server = their_server([ROOT_GET], [(evt.EVT_C_GET, on_get)], roles=[MR_IMAGE_STORAGE])
    client = ae.ClientStorageAE(tmp_path, 'OURSCU').add_scu(sc.qr_get_scu, [ROOT_GET])
    client.add_scu(sc.storage_scu, [MR_IMAGE_STORAGE])
    query = Dataset()
    query.QueryRetrieveLevel = 'IMAGE'
    query.SOPInstanceUID = sample.sop_instance_uid
    with client.request_association(server.remote) as assoc:
        assert [entry[1] for entry in assoc.sop_classes_as_scp.values()] == [MR_IMAGE_STORAGE]
        get = assoc.get_scu(ROOT_GET)(query, 1)
        assert [ctx.sop_class for ctx, _ in get] == [MR_IMAGE_STORAGE]
    assert get.status.is_success and get.response.num_of_completed_sub_ops == 1
    assert_same(sample, tmp_path / sample.stored_name, same_syntax=False)


# --- pynetdicom's SCU -> our SCPs ----------------------------------------------------------------


class OurFamilies(ae.AE):
    """Our SCP of Hanging Protocol C-FIND and Composite Instance Root Retrieve C-GET."""

    def __init__(self, files) -> None:
        super().__init__('OURFAM', 0, bind_and_activate=False)
        self.files = list(files)
        self.asked: list[str] = []

        @sc.sop_classes([HANGING_FIND])
        def find_scp(asce, ctx, msg):
            sc.qr_find_scp(asce, ctx, msg)

        @sc.sop_classes([ROOT_GET])
        def get_scp(asce, ctx, msg):
            sc.qr_get_scp(asce, ctx, msg)

        self.add_scp(find_scp).add_scp(get_scp)
        self.add_scu(sc.storage_scu, [MR_IMAGE_STORAGE])

    def on_receive_find(self, context, ds):
        self.asked.append(context.sop_class)
        match = Dataset()
        match.HangingProtocolName = 'CHEST PA'
        yield match, statuses.C_FIND_PENDING

    def on_receive_get(self, context, ds):
        self.asked.append(context.sop_class)
        return len(self.files), iter(self.files)


def test_pynetdicom_queries_and_retrieves_from_our_families(serve, sample_of, assert_same,
                                                            tmp_path):
    sample = sample_of('explicit_le')
    received = []

    def on_store(event):
        path = tmp_path / f'{event.request.AffectedSOPInstanceUID}.dcm'
        with open(path, 'wb') as out:
            out.write(event.encoded_dataset())
        received.append(path)
        return 0x0000

    scp = OurFamilies([sample.path])
    client = their_ae()
    client.add_requested_context(HANGING_FIND)
    client.add_requested_context(ROOT_GET)
    client.add_requested_context(MR_IMAGE_STORAGE)
    role = build_role(MR_IMAGE_STORAGE, scp_role=True)
    query = Dataset()
    query.HangingProtocolName = ''
    get_query = Dataset()
    get_query.QueryRetrieveLevel = 'IMAGE'
    get_query.SOPInstanceUID = sample.sop_instance_uid
    with serve(scp) as port:
        assoc = client.associate('127.0.0.1', port, ae_title=scp.ae_title, ext_neg=[role],
                                 evt_handlers=[(evt.EVT_C_STORE, on_store)])
        try:
            assert assoc.is_established
            found = list(assoc.send_c_find(query, HANGING_FIND))
            got = list(assoc.send_c_get(get_query, ROOT_GET))
        finally:
            if assoc.is_established:
                assoc.release()
    assert [status.Status for status, _ in found] == [0xFF00, 0x0000]
    assert found[0][1].HangingProtocolName == 'CHEST PA'
    final = got[-1][0]
    assert final.Status == 0 and final.NumberOfCompletedSuboperations == 1, final
    assert scp.asked == [HANGING_FIND, ROOT_GET]
    assert_same(sample, received[0], same_syntax=False)
