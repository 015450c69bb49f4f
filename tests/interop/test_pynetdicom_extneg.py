"""SOP class extended negotiation against pynetdicom, each side through its public API.

* pynetdicom's requester (``AE.associate(..., ext_neg=[...])``, its
  ``SOPClassExtendedNegotiation`` and ``SOPClassCommonExtendedNegotiation`` primitives) ->
  our Q/R SCP and storage SCP: what we answer, read from pynetdicom's view of our
  A-ASSOCIATE-AC; a relational C-FIND it may then send; a specialised storage class it
  proposes with CT Image Storage as its related general class, stored by us;
* our requester -> pynetdicom's SCP with an ``evt.EVT_SOP_EXTENDED`` handler: the bytes its
  handler sees, and what we make of its answer (clipped when it grants more than asked).

DCMTK's findscu cannot propose extended negotiation and dcmqrscp does not answer it: no DCMTK
counterpart.
"""

from __future__ import annotations

import logging

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pynetdicom2 import extendednegotiation as xn
from pynetdicom2 import sopclass, uids
from pynetdicom2.applicationentity import ClientAE, StorageAE
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.extendednegotiation import QueryOptions, RetrieveOptions
from pynetdicom2.loopback import make_dataset, make_study
from pynetdicom2.qrscp import QRSCP

from .conftest import interop_required

try:
    import pynetdicom
    from pynetdicom import evt
    from pynetdicom.pdu_primitives import (
        SOPClassCommonExtendedNegotiation,
        SOPClassExtendedNegotiation,
    )
except ImportError:  # pragma: no cover - pynetdicom is a test dependency
    if interop_required('pynetdicom'):
        raise
    pytest.skip('pynetdicom is not installed (pip install pynetdicom): no peer',
                allow_module_level=True)

pytestmark = pytest.mark.interop

FIND = uids.STUDY_ROOT_FIND_SOP_CLASS
MOVE = uids.STUDY_ROOT_MOVE_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE
SPECIAL_CT = UID('1.2.826.0.1.3680043.8.498.77.2')
TIMEOUT = 10


def their_ae(ae_title: str = 'PYNDXN') -> pynetdicom.AE:
    peer = pynetdicom.AE(ae_title)
    peer.acse_timeout = peer.dimse_timeout = peer.network_timeout = TIMEOUT
    peer.connection_timeout = TIMEOUT
    return peer


def extended(sop_class: str, app_info: bytes) -> SOPClassExtendedNegotiation:
    item = SOPClassExtendedNegotiation()
    item.sop_class_uid = sop_class
    item.service_class_application_information = app_info
    return item


def replies(assoc: pynetdicom.association.Association) -> dict[str, bytes]:
    """What our A-ASSOCIATE-AC answered, as pynetdicom read it."""
    return {str(item.sop_class_uid): item.service_class_application_information
            for item in assoc.acceptor.extended_negotiation
            if isinstance(item, SOPClassExtendedNegotiation)}


@pytest.fixture
def archive(tmp_path):
    scp = QRSCP(tmp_path / 'pacs', 'PACS', 0, host='127.0.0.1')
    with scp:
        study = make_study(1, 2, PatientID='P1', PatientName='Doe^Jane')
        client = ClientAE('LOADER').add_scu(sopclass.storage_scu, [CT])
        with client.request_association(RemoteAEConfig('PACS', '127.0.0.1',
                                                       scp.local_ae.port)) as assoc:
            for msg_id, ds in enumerate(study, 1):
                assert assoc.get_scu(CT)(ds, msg_id).is_success
        yield scp, study
    scp.quit()


def image_query() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = 'IMAGE'
    ds.PatientName = 'Doe*'
    ds.SOPInstanceUID = ''
    return ds


# --- pynetdicom requester -> our SCPs ------------------------------------------------------------


def test_pynetdicom_proposes_relational_queries_to_our_archive(archive):
    scp, study = archive
    client = their_ae()
    client.add_requested_context(FIND)
    client.add_requested_context(MOVE)
    proposal = [extended(FIND, b'\x01\x01\x01'), extended(MOVE, b'\x01')]
    assoc = client.associate('127.0.0.1', scp.local_ae.port, ae_title='PACS', ext_neg=proposal)
    try:
        assert assoc.is_established
        # relational granted, date-time and fuzzy matching (not supported) refused; the
        # reply is as long as the request (PS3.4 C.5.1.1)
        assert replies(assoc) == {FIND: b'\x01\x00\x00', MOVE: b'\x01'}
        results = list(assoc.send_c_find(image_query(), FIND))
        assert [status.Status for status, _ in results] == [0xFF00] * 2 + [0]
        assert {ds.SOPInstanceUID for _, ds in results[:-1]} == {
            ds.SOPInstanceUID for ds in study}
    finally:
        if assoc.is_established:
            assoc.release()


def test_pynetdicom_without_relational_queries_is_refused_by_a_strict_archive(archive):
    scp, _study = archive
    scp.hierarchical_only = True  # by default such a query is answered anyway
    client = their_ae()
    client.add_requested_context(FIND)
    assoc = client.associate('127.0.0.1', scp.local_ae.port, ae_title='PACS')
    try:
        assert assoc.is_established and replies(assoc) == {}
        results = list(assoc.send_c_find(image_query(), FIND))
        assert [status.Status for status, _ in results] == [0xA900]
    finally:
        if assoc.is_established:
            assoc.release()


def test_pynetdicom_specialised_storage_class(tmp_path):
    """PS3.7 D.3.3.6: pynetdicom's 0x57 item names CT Image Storage as the related general
    class of a class our storage SCP does not know; it is stored as CT Image Storage is."""
    server = StorageAE(tmp_path / 'in', 'STORE', 0, host='127.0.0.1')
    server.add_scp(sopclass.storage_scp)
    common = SOPClassCommonExtendedNegotiation()
    common.sop_class_uid = SPECIAL_CT
    common.service_class_uid = xn.STORAGE_SERVICE_CLASS
    common.related_general_sop_class_identification = [CT]
    client = their_ae()
    client.add_requested_context(SPECIAL_CT, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ds = make_dataset(SPECIAL_CT)
    with server:
        assoc = client.associate('127.0.0.1', server.local_ae.port, ae_title='STORE',
                                 ext_neg=[common, extended(SPECIAL_CT, bytes([3, 0, 0, 0, 2, 0]))])
        try:
            assert assoc.is_established
            assert [cx.abstract_syntax for cx in assoc.accepted_contexts] == [SPECIAL_CT]
            assert replies(assoc) == {SPECIAL_CT: bytes([2, 0, 0, 0, 0, 0])}  # a level 2 SCP
            assert assoc.send_c_store(ds).Status == 0
        finally:
            if assoc.is_established:
                assoc.release()
    assert (tmp_path / 'in' / f'{ds.SOPInstanceUID}.dcm').exists()


# --- our requester -> pynetdicom's SCP -----------------------------------------------------------


def test_our_proposal_to_a_pynetdicom_scp(caplog):
    seen = []

    def on_extended(event):
        seen.append(dict(event.app_info))
        # grants everything it is asked for, and date-time matching, never asked for
        return {uid: b'\x01\x01' if uid == FIND else info for uid, info in event.app_info.items()}

    their = their_ae('PYNDSCP')
    their.add_supported_context(FIND)
    their.add_supported_context(MOVE)
    server = their.start_server(('127.0.0.1', 0), block=False,
                                evt_handlers=[(evt.EVT_SOP_EXTENDED, on_extended)])
    try:
        client = ClientAE('XNSCU')
        client.add_scu(sopclass.qr_find_scu, [FIND]).add_scu(sopclass.qr_move_scu, [MOVE])
        client.extended_negotiation = {xn.FIND: QueryOptions(relational=True),
                                       xn.MOVE: RetrieveOptions(relational=True)}
        client.artim_timeout = client.connect_timeout = TIMEOUT
        remote = RemoteAEConfig('PYNDSCP', '127.0.0.1', server.server_address[1])
        with caplog.at_level(logging.WARNING, 'pynetdicom2.extendednegotiation'):
            with client.request_association(remote) as assoc:
                agreed = assoc.extended_negotiation
    finally:
        server.shutdown()
    assert seen == [{FIND: b'\x01', MOVE: b'\x01'}]
    assert agreed == {FIND: QueryOptions(relational=True), MOVE: RetrieveOptions(relational=True)}
    assert 'more than proposed' in caplog.text
