"""Query/Retrieve (PS3.4 Annex C) in both roles over loopback: C-FIND, C-MOVE and C-GET.

Our SCUs talk to our SCPs; the server is a small in-memory archive (:class:`Archive`) whose
hooks match on the identifier's keys. Checked: matches and statuses for the three information
models, transfer syntaxes of the identifiers, sub-operation counts (pending and final), the
final Warning B000H with the Failed SOP Instance UID List, A701H/A702H past 65,535 matches,
A801H and A702H for destinations, the move originator and message IDs of the sub-operations,
C-GET roles, and the one-call helpers ``commands.find/move/get``.
"""

from __future__ import annotations

import array
import copy
import fnmatch
import os
import socket
import threading

import pytest
from aetools import dataset, fast, p_data, raw_associate, read_message, remote, serving, write_file
from pydicom import dcmread
from pydicom.dataset import Dataset
from ulpeer import A_RELEASE_RP, A_RELEASE_RQ

import pynetdicom2
from pynetdicom2 import applicationentity as ae
from pynetdicom2 import commands, dsutils, statuses, uids
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import ClassNotSupportedError, EventHandlingError, NetDICOMError
from pynetdicom2.services import retrieve, suboperations

CT = uids.CT_IMAGE_STORAGE
MR = uids.MR_IMAGE_STORAGE
EXPLICIT = uids.ExplicitVRLittleEndian
IMPLICIT = uids.ImplicitVRLittleEndian
BIG = uids.ExplicitVRBigEndian
DEFLATED = uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
JPEG = uids.JPEG_BASELINE_PROCESS_1

FIND = {
    'patient': uids.PATIENT_ROOT_FIND_SOP_CLASS,
    'study': uids.STUDY_ROOT_FIND_SOP_CLASS,
    'patient_study': uids.PATIENT_STUDY_ONLY_FIND_SOP_CLASS,
}
MOVE = {
    'patient': uids.PATIENT_ROOT_MOVE_SOP_CLASS,
    'study': uids.STUDY_ROOT_MOVE_SOP_CLASS,
    'patient_study': uids.PATIENT_STUDY_ONLY_MOVE_SOP_CLASS,
}
GET = {
    'patient': uids.PATIENT_ROOT_GET_SOP_CLASS,
    'study': uids.STUDY_ROOT_GET_SOP_CLASS,
    'patient_study': uids.PATIENT_STUDY_ONLY_GET_SOP_CLASS,
}


def instances(count: int = 3, sop_class: str = CT, patient: str = 'P1') -> list[Dataset]:
    study = f'1.2.826.0.1.3680043.9.7433.1.{len(patient)}{ord(patient[-1])}'
    return [
        dataset(sop_class, PatientID=patient, StudyInstanceUID=study,
                SeriesInstanceUID=study + '.1', InstanceNumber=index + 1)
        for index in range(count)
    ]


def query(level: str = 'STUDY', **keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


class Archive(ae.AE):
    """A Q/R SCP over a list of instances (Datasets or Part-10 paths) held in memory."""

    def __init__(self, items: list, **kwargs) -> None:
        super().__init__('QRSCP', 0, host='127.0.0.1', **kwargs)
        self.items = items
        self.destinations: dict[str, dict] = {}
        self.identifiers: list[Dataset] = []
        self.count: int | None = None  # overrides the number of matches announced

    def load(self, item) -> Dataset:
        return item if isinstance(item, Dataset) else dcmread(item, stop_before_pixels=True)

    def matches(self, ds: Dataset) -> list:
        self.identifiers.append(ds)
        found = []
        for item in self.items:
            stored = self.load(item)
            keys = [e for e in ds if e.keyword not in ('QueryRetrieveLevel',) and e.value]
            if all(fnmatch.fnmatchcase(str(stored.get(e.keyword, '')), str(e.value))
                   for e in keys):
                found.append(item)
        return found

    def on_receive_find(self, context, ds):
        for item in self.matches(ds):
            stored = self.load(item)
            match = Dataset()
            match.QueryRetrieveLevel = ds.QueryRetrieveLevel
            for element in ds:
                if element.keyword != 'QueryRetrieveLevel':
                    match[element.tag] = stored[element.tag] if element.tag in stored else element
            yield match, statuses.C_FIND_PENDING

    def on_receive_get(self, context, ds):
        found = self.matches(ds)
        return (len(found) if self.count is None else self.count), iter(found)

    def on_receive_move(self, context, ds, destination):
        found = self.matches(ds)
        count = len(found) if self.count is None else self.count
        return self.destinations.get(destination), count, iter(found)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def archive(items: list, storage_classes=(CT, MR), **kwargs) -> Archive:
    srv = Archive(items, **kwargs)
    for service in (sc.qr_find_scp, sc.qr_move_scp, sc.qr_get_scp, sc.verification_scp):
        srv.add_scp(service)
    if storage_classes:
        srv.add_scu(sc.storage_scu, list(storage_classes))
    return srv


def qr_client(directory=None, storage_classes=(CT, MR), supported_ts=None) -> ae.ClientAE:
    if directory is None:
        client = fast(ae.ClientAE('QRSCU', supported_ts))
    else:
        client = fast(ae.ClientStorageAE(directory, 'QRSCU', supported_ts))
    for service in (sc.qr_find_scu, sc.qr_move_scu, sc.qr_get_scu, sc.verification_scu):
        client.add_scu(service)
    if storage_classes:
        client.add_scu(sc.storage_scu, list(storage_classes))
    return client


def storage_destination(directory, ae_title: str = 'DEST') -> ae.StorageAE:
    return ae.StorageAE(directory, ae_title, 0, host='127.0.0.1').add_scp(sc.storage_scp)


def stored(directory) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith('.dcm'))


def uid_list(value) -> list[str]:
    """A multi-valued UI element's value as a list (pydicom gives one value as a str)."""
    return [value] if isinstance(value, str) else list(value)


def uid_files(items: list) -> list[str]:
    return sorted(f'{item.SOPInstanceUID}.dcm' for item in items)


# --- registration -------------------------------------------------------------------------------


def test_sop_class_lists_and_registration():
    assert sc.FIND_SOP_CLASSES == list(FIND.values())
    assert sc.MOVE_SOP_CLASSES == list(MOVE.values())
    assert sc.GET_SOP_CLASSES == list(GET.values())
    for service, classes in ((sc.qr_find_scu, FIND), (sc.qr_find_scp, FIND),
                             (sc.qr_move_scu, MOVE), (sc.qr_move_scp, MOVE),
                             (sc.qr_get_scu, GET), (sc.qr_get_scp, GET)):
        assert service.sop_classes == list(classes.values())
        assert service.store_in_file is False
    assert sc.MAX_SUB_OPERATIONS == 65535


def test_default_hooks_refuse_get_and_move():
    server = ae.AE('SCP', 0, bind_and_activate=False)
    with pytest.raises(EventHandlingError):
        server.on_receive_get(None, Dataset())
    with pytest.raises(EventHandlingError):
        server.on_receive_move(None, Dataset(), 'X')
    assert list(server.on_receive_find(None, Dataset())) == []


# --- C-FIND -------------------------------------------------------------------------------------


@pytest.mark.parametrize('root', FIND)
def test_find_in_each_information_model(root):
    items = instances(2) + instances(1, patient='P2')
    with serving(archive(items)) as srv:
        with qr_client().request_association(remote(srv)) as assoc:
            find = assoc.get_scu(FIND[root])
            results = list(find(query('PATIENT', PatientID='P1', StudyInstanceUID=''), 1))
            assert [status for _, status in results] == [statuses.C_FIND_PENDING] * 2 + [
                statuses.SUCCESS]
            assert all(isinstance(status, statuses.Status) for _, status in results)
            assert results[-1][0] is None
            assert {m.StudyInstanceUID for m, _ in results[:-1]} == {items[0].StudyInstanceUID}
            assert [m.PatientID for m, _ in results[:-1]] == ['P1', 'P1']
            # the association serves the next request
            assert [s for _, s in find(query(PatientID='P2'), 2)][-1].is_success
    assert srv.identifiers[0].QueryRetrieveLevel == 'PATIENT'


@pytest.mark.parametrize('ts', [IMPLICIT, EXPLICIT, BIG, DEFLATED])
def test_find_identifiers_in_each_transfer_syntax(ts):
    items = instances(2)
    with serving(archive(items, supported_ts=[ts])) as srv:
        client = qr_client(supported_ts=[ts])
        with client.request_association(remote(srv)) as assoc:
            assert assoc.accepted_contexts[assoc.sop_classes_as_scu[FIND['study']][0]] \
                .supported_ts == ts
            results = list(assoc.get_scu(FIND['study'])(query(SOPInstanceUID=''), 1))
    assert sorted(m.SOPInstanceUID for m, s in results if s.is_pending) == sorted(
        i.SOPInstanceUID for i in items)


def test_find_scp_answers_the_handlers_statuses():
    class Handler(Archive):
        def on_receive_find(self, context, ds):
            match = query(PatientID='X')
            yield match, statuses.C_FIND_PENDING_WARNING
            yield match, 0xFF00  # a plain int code is a status too
            yield None, statuses.C_FIND_OUT_OF_RESOURCES
            raise AssertionError('not reached: the failure was final')

    srv = Handler([])
    srv.add_scp(sc.qr_find_scp)
    with serving(srv):
        with qr_client().request_association(remote(srv)) as assoc:
            results = list(assoc.get_scu(FIND['study'])(query(), 1))
    assert [int(s) for _, s in results] == [0xFF01, 0xFF00, 0xA700]
    assert results[-1][0] is None
    assert results[-1][1].is_failure


@pytest.mark.parametrize('how', ['nothing', 'error_at_once', 'error_later', 'final_success'])
def test_find_scp_endings(how):
    class Handler(Archive):
        def on_receive_find(self, context, ds):
            if how == 'error_at_once':
                raise EventHandlingError('no database')
            if how == 'nothing':
                return iter(())
            return self.results()

        def results(self):
            yield query(PatientID='A'), statuses.C_FIND_PENDING
            if how == 'error_later':
                raise EventHandlingError('database went away')
            yield None, statuses.SUCCESS

    srv = Handler([]).add_scp(sc.qr_find_scp)
    with serving(srv):
        with qr_client().request_association(remote(srv)) as assoc:
            codes = [int(s) for _, s in assoc.get_scu(FIND['study'])(query(), 1)]
    assert codes == {
        'nothing': [0x0000],
        'error_at_once': [0xC000],
        'error_later': [0xFF00, 0xC000],
        'final_success': [0xFF00, 0x0000],
    }[how]


def _raw_request(port: int, sop_class: str, request: dm.DIMSEMessage, ts: str = IMPLICIT):
    """Associate with a raw peer, send ``request`` on context 1, return the peer."""
    peer, ac = raw_associate(port, [(1, sop_class, [ts])])
    assert isinstance(ac, pynetdicom2.pdu.AAssociateAcPDU)
    for chunk in p_data(request, 1):
        peer.send(chunk)
    return peer


def _release(peer) -> None:
    peer.send(A_RELEASE_RQ)
    peer.expect(A_RELEASE_RP)


@pytest.mark.parametrize('identifier, ts', [(None, IMPLICIT), (b'not deflated at all', DEFLATED)])
def test_find_move_get_without_a_usable_identifier_answer_c000(identifier, ts):
    with serving(archive([], supported_ts=[ts])) as srv:
        for sop_class, request_class in ((FIND['study'], dm.CFindRQMessage),
                                         (MOVE['study'], dm.CMoveRQMessage),
                                         (GET['study'], dm.CGetRQMessage)):
            rq = request_class()
            rq.message_id = 5
            rq.sop_class_uid = sop_class
            rq.priority = 0
            if request_class is dm.CMoveRQMessage:
                rq.move_destination = 'DEST'
            rq.data_set = identifier
            with _raw_request(srv.local_ae.port, sop_class, rq, ts) as peer:
                rsp = read_message(peer)
                assert rsp.status == 0xC000
                assert rsp.message_id_being_responded_to == 5
                assert rsp.error_comment
                if request_class is not dm.CFindRQMessage:
                    assert rsp.num_of_completed_sub_ops == 0
                    assert rsp.num_of_failed_sub_ops == 0
                    assert rsp.num_of_remaining_sub_ops is None
                _release(peer)


def test_a_peer_that_does_not_support_find_refuses_the_context():
    with serving(ae.AE('ECHO', 0, host='127.0.0.1').add_scp(sc.verification_scp)) as srv:
        with qr_client().request_association(remote(srv)) as assoc:
            with pytest.raises(ClassNotSupportedError):
                assoc.get_scu(FIND['study'])


# --- C-GET --------------------------------------------------------------------------------------


@pytest.mark.parametrize('root', GET)
def test_get_in_each_information_model(tmp_path, root):
    items = instances(3)
    with serving(archive(items + instances(2, patient='OTHER'))) as srv:
        client = qr_client(tmp_path / 'got')
        with client.request_association(remote(srv)) as assoc:
            get = assoc.get_scu(GET[root])(query('PATIENT', PatientID='P1'), 7)
            received = list(get)
            assert get.status == statuses.SUCCESS and get.status.is_success
            assert get.response.num_of_completed_sub_ops == 3
            assert get.response.num_of_failed_sub_ops == 0
            assert get.response.num_of_warning_sub_ops == 0
            assert get.response.num_of_remaining_sub_ops is None
            assert get.response.message_id_being_responded_to == 7
            assert get.identifier is None
            assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(8).is_success
    assert [ctx.sop_class for ctx, _ in received] == [CT] * 3
    assert stored(tmp_path / 'got') == uid_files(items)
    for item in items:
        received = dcmread(tmp_path / 'got' / f'{item.SOPInstanceUID}.dcm')
        assert received.PatientID == 'P1' and received.InstanceNumber == item.InstanceNumber


def test_get_into_memory_calls_on_receive_store_with_datasets():
    items = instances(2)

    class Client(ae.ClientAE):
        def __init__(self):
            super().__init__('GETSCU')
            self.received = []

        def on_receive_store(self, context, ds):
            self.received.append((context.sop_class, ds.SOPInstanceUID))
            return statuses.SUCCESS

    client = fast(Client()).add_scu(sc.qr_get_scu).add_scu(sc.storage_scu, [CT])
    with serving(archive(items)) as srv:
        with client.request_association(remote(srv)) as assoc:
            get = assoc.get_scu(GET['study'])(query(PatientID='P1'), 1)
            got = [(ctx.sop_class, ds.SOPInstanceUID) for ctx, ds in get]
    expected = [(CT, item.SOPInstanceUID) for item in items]
    assert got == expected == client.received
    assert get.status.is_success


def test_get_sends_message_ids_from_1_and_pending_counts(tmp_path, monkeypatch):
    items = instances(3)
    sent_ids = []
    responses = []
    original_store = sc.storage_scu
    original_respond = suboperations._SubOperations.respond

    def spy_store(asce, ctx, source, msg_id, *args, **kwargs):
        sent_ids.append(msg_id)
        return original_store(asce, ctx, source, msg_id, *args, **kwargs)

    def spy_respond(self, asce, ctx, msg, response_class, status, comment=''):
        responses.append((int(status), self.remaining, self.completed))
        return original_respond(self, asce, ctx, msg, response_class, status, comment)

    monkeypatch.setattr(retrieve, 'storage_scu', spy_store)  # what qr_get_scp sends with
    monkeypatch.setattr(suboperations._SubOperations, 'respond', spy_respond)
    with serving(archive(items)) as srv:
        with qr_client(tmp_path).request_association(remote(srv)) as assoc:
            assert len(list(assoc.get_scu(GET['study'])(query(), 40))) == 3
    assert sent_ids == [1, 2, 3]
    assert responses == [(0xFF00, 2, 1), (0xFF00, 1, 2), (0xFF00, 0, 3), (0x0000, 0, 3)]


def test_get_of_a_class_without_scp_role_fails_that_sub_operation(tmp_path):
    ct, mr = instances(1), instances(1, MR)
    with serving(archive(ct + mr)) as srv:
        client = qr_client(tmp_path, storage_classes=(CT,))  # proposes no MR context
        with client.request_association(remote(srv)) as assoc:
            get = assoc.get_scu(GET['study'])(query(), 1)
            assert [ctx.sop_class for ctx, _ in get] == [CT]
    assert int(get.status) == 0xB000 and get.status.is_warning
    assert (get.response.num_of_completed_sub_ops, get.response.num_of_failed_sub_ops) == (1, 1)
    assert uid_list(get.identifier.FailedSOPInstanceUIDList) == [mr[0].SOPInstanceUID]
    assert stored(tmp_path) == uid_files(ct)


def test_get_scp_without_a_storage_scu_grants_no_role(tmp_path):
    items = instances(2)
    with serving(archive(items, storage_classes=())) as srv:
        with qr_client(tmp_path).request_association(remote(srv)) as assoc:
            assert assoc.sop_classes_as_scp == {}
            get = assoc.get_scu(GET['study'])(query(), 1)
            assert list(get) == []
    assert int(get.status) == 0xB000
    assert get.response.num_of_failed_sub_ops == 2
    assert sorted(uid_list(get.identifier.FailedSOPInstanceUIDList)) == sorted(
        i.SOPInstanceUID for i in items)


@pytest.mark.parametrize('answer, completed, failed, warning', [
    (statuses.SUCCESS, 2, 0, 0),
    (0xB007, 0, 0, 2),                 # C-STORE warning: the data set was coerced
    (statuses.C_STORE_OUT_OF_RESOURCES, 0, 2, 0),
])
def test_get_counts_what_the_requester_answers(answer, completed, failed, warning):
    class Client(ae.ClientAE):
        def on_receive_store(self, context, ds):
            return answer

    client = fast(Client('GETSCU')).add_scu(sc.qr_get_scu).add_scu(sc.storage_scu, [CT])
    with serving(archive(instances(2))) as srv:
        with client.request_association(remote(srv)) as assoc:
            get = assoc.get_scu(GET['study'])(query(), 1)
            assert len(list(get)) == 2
    rsp = get.response
    assert (rsp.num_of_completed_sub_ops, rsp.num_of_failed_sub_ops,
            rsp.num_of_warning_sub_ops) == (completed, failed, warning)
    assert int(get.status) == (0 if answer == statuses.SUCCESS else 0xB000)
    assert (get.identifier is not None) == bool(failed)


def test_get_of_files_sends_them_as_they_are_or_reencoded(tmp_path):
    originals = [dataset(CT, pixel_bytes=2048, InstanceNumber=n) for n in (1, 2, 3)]
    for original in originals:
        original['PixelData'].VR = 'OW'
        original.RealWorldValueLUTData = [1.5, 2.5]  # FD: pydicom converts numbers itself
    big = copy.deepcopy(originals[1])
    words = array.array('H', big.PixelData)
    words.byteswap()  # pydicom writes OW as it holds it: give it big endian words
    big.PixelData = words.tobytes()
    paths = [
        write_file(tmp_path / 'explicit.dcm', originals[0], EXPLICIT),
        write_file(tmp_path / 'big.dcm', big, BIG),       # re-encoded for the context
        write_file(tmp_path / 'implicit.dcm', originals[2], IMPLICIT),
    ]
    with serving(archive(paths, supported_ts=[EXPLICIT])) as srv:
        client = qr_client(tmp_path / 'got', supported_ts=[EXPLICIT])
        with client.request_association(remote(srv)) as assoc:
            get = assoc.get_scu(GET['study'])(query(), 1)
            assert len(list(get)) == 3
    assert get.status.is_success
    for original in originals:
        received = dcmread(tmp_path / 'got' / f'{original.SOPInstanceUID}.dcm')
        assert received.file_meta.TransferSyntaxUID == EXPLICIT
        assert received.InstanceNumber == original.InstanceNumber
        # OW words are swapped between byte orders (PS3.5 7.3), not copied as they were
        assert received.PixelData == original.PixelData
        assert received.RealWorldValueLUTData == [1.5, 2.5]


def test_get_never_transcodes_compressed_pixel_data(tmp_path):
    from pydicom.encaps import encapsulate

    item = dataset(CT)
    item.PixelData = encapsulate([b'\xff\xd8\xff\xd9'])
    item['PixelData'].VR = 'OB'
    path = write_file(tmp_path / 'jpeg.dcm', item, JPEG)

    class Handler(Archive):
        def on_receive_get(self, context, ds):
            return 2, iter([path, tmp_path / 'missing.dcm'])

    srv = Handler([]).add_scp(sc.qr_get_scp).add_scu(sc.storage_scu, [CT])
    with serving(srv):
        with qr_client(tmp_path / 'got').request_association(remote(srv)) as assoc:
            get = assoc.get_scu(GET['study'])(query(), 1)
            assert list(get) == []
    assert get.response.num_of_failed_sub_ops == 2
    assert uid_list(get.identifier.FailedSOPInstanceUIDList) == [item.SOPInstanceUID]


@pytest.mark.parametrize('how, status', [
    ('raise', 0xC000), ('too_many', 0xA701), ('not_a_number', 0xC000), ('none', 0x0000)])
def test_get_scp_refusals(how, status):
    class Handler(Archive):
        def on_receive_get(self, context, ds):
            if how == 'raise':
                raise EventHandlingError('the archive is offline')
            if how == 'too_many':
                return sc.MAX_SUB_OPERATIONS + 1, iter(())
            if how == 'not_a_number':
                return 'many', iter(())
            return 0, iter(())

    srv = Handler([]).add_scp(sc.qr_get_scp)
    with serving(srv):
        with qr_client().request_association(remote(srv)) as assoc:
            get = assoc.get_scu(GET['study'])(query(), 1)
            assert list(get) == []
    assert int(get.status) == status
    assert get.response.num_of_completed_sub_ops == 0
    if status:
        assert get.response.error_comment


def test_more_sub_operations_than_the_counters_hold_end_with_a702(monkeypatch, tmp_path):
    monkeypatch.setattr(suboperations, 'MAX_SUB_OPERATIONS', 2)
    srv = archive(instances(4))
    srv.count = 2  # the handler announces fewer than it delivers
    with serving(srv):
        with qr_client(tmp_path).request_association(remote(srv)) as assoc:
            get = assoc.get_scu(GET['study'])(query(), 1)
            assert len(list(get)) == 2
    assert int(get.status) == 0xA702
    assert get.response.num_of_completed_sub_ops == 2


# --- C-MOVE -------------------------------------------------------------------------------------


@pytest.mark.parametrize('root', MOVE)
def test_move_in_each_information_model(tmp_path, root):
    items = instances(3)
    with serving(storage_destination(tmp_path / 'dest')) as dest:
        srv = archive(items + instances(1, patient='OTHER'))
        srv.destinations['DEST'] = remote(dest)
        with serving(srv):
            with qr_client().request_association(remote(srv)) as assoc:
                move = assoc.get_scu(MOVE[root])
                responses = list(move(query('PATIENT', PatientID='P1'), 'DEST', 3))
                assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(4).is_success
    assert [int(s) for s, _ in responses] == [0xFF00] * 3 + [0]
    assert [r.num_of_remaining_sub_ops for _, r in responses] == [2, 1, 0, None]
    assert [r.num_of_completed_sub_ops for _, r in responses] == [1, 2, 3, 3]
    assert all(r.message_id_being_responded_to == 3 for _, r in responses)
    assert stored(tmp_path / 'dest') == uid_files(items)


def test_move_sub_operations_carry_the_originator_and_ids_from_1(tmp_path):
    seen = []

    @sc.sop_classes([CT])
    def recording_scp(asce, ctx, msg):
        seen.append((msg.message_id, msg.move_originator_aet, msg.move_originator_message_id))
        rsp = dm.CStoreRSPMessage()
        rsp.message_id_being_responded_to = msg.message_id
        rsp.sop_class_uid = msg.sop_class_uid
        rsp.affected_sop_instance_uid = msg.affected_sop_instance_uid
        rsp.status = 0
        asce.send(rsp, ctx.id)

    destination = ae.AE('DEST', 0, host='127.0.0.1').add_scp(recording_scp)
    with serving(destination) as dest:
        srv = archive(instances(2))
        srv.destinations['DEST'] = remote(dest)
        with serving(srv):
            with qr_client().request_association(remote(srv)) as assoc:
                list(assoc.get_scu(MOVE['study'])(query(), 'DEST', 9))
    assert [(i, aet.strip(), mid) for i, aet, mid in seen] == [(1, 'QRSCU', 9), (2, 'QRSCU', 9)]


def test_move_to_an_unknown_destination_is_a801():
    with serving(archive(instances(1))) as srv:
        with qr_client().request_association(remote(srv)) as assoc:
            responses = list(assoc.get_scu(MOVE['study'])(query(), 'NOBODY', 1))
    assert [int(s) for s, _ in responses] == [0xA801]
    assert responses[0][1].error_comment


def test_move_to_an_unreachable_destination_is_a702(free_port):
    srv = archive(instances(3))
    srv.destinations['DEST'] = {'aet': 'DEST', 'address': '127.0.0.1', 'port': free_port}
    with serving(srv):
        srv.connect_timeout = 2.0
        with qr_client().request_association(remote(srv)) as assoc:
            responses = list(assoc.get_scu(MOVE['study'])(query(), 'DEST', 1))
            assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(2).is_success
    status, rsp = responses[-1]
    assert len(responses) == 1 and int(status) == 0xA702
    assert (rsp.num_of_completed_sub_ops, rsp.num_of_failed_sub_ops) == (0, 3)


def test_move_with_a_refused_class_ends_with_b000(tmp_path):
    ct, mr = instances(1), instances(1, MR)

    @sc.store_in_file
    @sc.sop_classes([CT])
    def ct_only(asce, ctx, msg):
        sc.storage_scp(asce, ctx, msg)

    destination = ae.StorageAE(tmp_path / 'dest', 'DEST', 0, host='127.0.0.1').add_scp(ct_only)
    with serving(destination) as dest:
        srv = archive(ct + mr)
        srv.destinations['DEST'] = remote(dest)
        with serving(srv):
            with qr_client().request_association(remote(srv)) as assoc:
                responses = list(assoc.get_scu(MOVE['study'])(query(), 'DEST', 1))
    status, rsp = responses[-1]
    assert int(status) == 0xB000
    assert (rsp.num_of_completed_sub_ops, rsp.num_of_failed_sub_ops) == (1, 1)
    failed = dsutils.decode(rsp.data_set, False, True).FailedSOPInstanceUIDList
    assert uid_list(failed) == [mr[0].SOPInstanceUID]
    assert stored(tmp_path / 'dest') == uid_files(ct)


def test_move_with_more_than_128_storage_classes_proposes_what_it_needs(tmp_path):
    # The archive is a storage SCU of all 139 classes: one association cannot propose them
    # all, so each sub-association proposes the class at hand first.
    last = uids.STORAGE_SOP_CLASSES[-1]
    items = [dataset(CT), dataset(last), dataset(CT)]
    associations = []

    class Destination(ae.StorageAE):
        def on_association_request(self, asce, rq):
            associations.append(rq)

    destination = Destination(tmp_path / 'dest', 'DEST', 0, host='127.0.0.1')
    with serving(destination.add_scp(sc.storage_scp)) as dest:
        srv = archive(items, storage_classes=uids.STORAGE_SOP_CLASSES)
        srv.destinations['DEST'] = remote(dest)
        with serving(srv):
            with qr_client().request_association(remote(srv)) as assoc:
                responses = list(assoc.get_scu(MOVE['study'])(query(), 'DEST', 1))
    assert int(responses[-1][0]) == 0
    assert responses[-1][1].num_of_completed_sub_ops == 3
    assert stored(tmp_path / 'dest') == uid_files(items)
    assert len(associations) == 2  # the last class was not in the first 128
    for rq in associations:
        contexts = [i for i in rq.variable_items
                    if isinstance(i, pynetdicom2.pdu.PresentationContextItemRQ)]
        assert len(contexts) == 128


def test_move_handler_errors(tmp_path):
    class Handler(Archive):
        def on_receive_move(self, context, ds, destination):
            if ds.PatientID == 'RAISE':
                raise EventHandlingError('cannot search')
            return self.destinations['DEST'], 2, self.failing()

        def failing(self):
            yield instances(1)[0]
            raise EventHandlingError('the archive broke mid-way')

    with serving(storage_destination(tmp_path)) as dest:
        srv = Handler([]).add_scp(sc.qr_move_scp).add_scu(sc.storage_scu, [CT])
        srv.destinations['DEST'] = remote(dest)
        with serving(srv):
            with qr_client().request_association(remote(srv)) as assoc:
                move = assoc.get_scu(MOVE['study'])
                assert [int(s) for s, _ in move(query(PatientID='RAISE'), 'DEST', 1)] == [0xC000]
                responses = list(move(query(PatientID='OK'), 'DEST', 2))
    assert [int(s) for s, _ in responses] == [0xFF00, 0xC000]
    assert responses[-1][1].num_of_completed_sub_ops == 1


def test_move_of_nothing_is_a_plain_success():
    with serving(archive([])) as srv:
        srv.destinations['DEST'] = {'aet': 'DEST', 'address': '127.0.0.1', 'port': 1}
        with qr_client().request_association(remote(srv)) as assoc:
            responses = list(assoc.get_scu(MOVE['study'])(query(), 'DEST', 1))
    assert [int(s) for s, _ in responses] == [0]
    assert responses[0][1].num_of_completed_sub_ops == 0


# --- commands -----------------------------------------------------------------------------------


def test_commands_find_move_get(tmp_path):
    items = instances(2)
    with serving(storage_destination(tmp_path / 'dest')) as dest:
        srv = archive(items)
        srv.destinations['DEST'] = remote(dest)
        with serving(srv):
            matches = list(pynetdicom2.find('SCU', remote(srv), query(SOPInstanceUID='')))
            assert sorted(m.SOPInstanceUID for m in matches) == sorted(
                i.SOPInstanceUID for i in items)
            assert list(commands.find('SCU', remote(srv), query(PatientID='NONE'),
                                      FIND['patient'])) == []
            moved = pynetdicom2.move('SCU', remote(srv), query(), 'DEST')
            assert moved == commands.CMoveResponse(0, 2, 0, 0)
            got = pynetdicom2.get('SCU', remote(srv), query(), tmp_path / 'got')
            assert got == commands.CGetResponse(0, 2, 0, 0)
            with pytest.raises(NetDICOMError, match='A801'):
                commands.move('SCU', remote(srv), query(), 'NOBODY')
    assert stored(tmp_path / 'dest') == stored(tmp_path / 'got') == uid_files(items)


def test_commands_failures_raise(tmp_path):
    class Failing(Archive):
        def on_receive_find(self, context, ds):
            raise EventHandlingError('down')

        def on_receive_get(self, context, ds):
            raise EventHandlingError('down')

    srv = Failing([]).add_scp(sc.qr_find_scp).add_scp(sc.qr_get_scp)
    with serving(srv):
        with pytest.raises(NetDICOMError, match='C-FIND'):
            list(commands.find('SCU', remote(srv), query()))
        with pytest.raises(NetDICOMError, match='C-GET'):
            commands.get('SCU', remote(srv), query(), tmp_path, sop_classes=[CT])


def test_commands_get_default_classes_fit_one_association():
    assert len(commands.COMMON_STORAGE_SOP_CLASSES) < 128
    assert CT in commands.COMMON_STORAGE_SOP_CLASSES
    assert set(commands.COMMON_STORAGE_SOP_CLASSES) <= set(uids.STORAGE_SOP_CLASSES)


def test_several_clients_at_once(tmp_path):
    items = instances(5)
    errors = []

    def client(number):
        try:
            got = commands.get(f'SCU{number}', remote(srv), query(), tmp_path / str(number),
                               sop_classes=[CT])
            assert got.num_of_completed_sub_ops == 5
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)

    with serving(archive(items)) as srv:
        threads = [threading.Thread(target=client, args=(n,), name=f'test-client-{n}')
                   for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert not errors
    for number in range(4):
        assert stored(tmp_path / str(number)) == uid_files(items)


def test_sources_are_reencoded_only_when_the_context_needs_it():
    from pydicom.dataset import FileMetaDataset
    from pydicom.sequence import Sequence

    ds = dataset(CT)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = BIG
    ds.add_new(0x7FE00010, 'OW', b'\x00\x01\x00\x02')
    item = Dataset()
    item.add_new(0x00660016, 'OF', b'\x00\x00\x80\x3f')  # Point Coordinates Data (1.0, BE)
    ds.add_new(0x00660011, 'SQ', Sequence([item]))
    instance = suboperations.SubOperationInstance(CT, ds.SOPInstanceUID, BIG, ds)
    assert suboperations.source_for(instance, BIG) is ds
    assert suboperations.source_for(instance, uids.ExplicitVRBigEndian) is ds
    swapped = suboperations.source_for(instance, EXPLICIT)
    assert swapped is not ds and ds.PixelData == b'\x00\x01\x00\x02'  # the caller's is intact
    assert swapped.PixelData == b'\x01\x00\x02\x00'
    assert swapped[0x00660011].value[0][0x00660016].value == b'\x3f\x80\x00\x00'
    assert swapped.file_meta.TransferSyntaxUID == EXPLICIT
    # no swap between little endian syntaxes; a compressed data set goes to storage_scu as it
    # is (it refuses it there, with the reason)
    little = suboperations.SubOperationInstance(CT, ds.SOPInstanceUID, IMPLICIT, ds)
    assert suboperations.source_for(little, EXPLICIT) is ds
    jpeg = suboperations.SubOperationInstance(CT, '1.2', JPEG, ds)
    assert suboperations.source_for(jpeg, EXPLICIT) is ds


def _mixed_syntax_files(directory) -> list:
    """Secondary capture files: uncompressed, JPEG Extended, uncompressed, JPEG Baseline."""
    from pydicom.data import get_testdata_file

    directory.mkdir()
    jpegs = []
    for name in ('JPEG-lossy.dcm', 'SC_rgb_jpeg_dcmtk.dcm'):
        source = get_testdata_file(name)
        if source is None:
            pytest.skip(f"pydicom's test file {name} is not installed")
        jpegs.append(source)
    plain = [write_file(directory / f'plain{n}.dcm', dataset(uids.SC_IMAGE_STORAGE))
             for n in range(2)]
    return [plain[0], jpegs[0], plain[1], jpegs[1]]


def _move_all(files: list, destination: ae.AE) -> tuple:
    """C-MOVE every secondary capture file of an archive to ``destination``: the final
    (status, response)."""
    with serving(destination) as dest:
        srv = archive(files, storage_classes=(uids.SC_IMAGE_STORAGE,))
        srv.destinations['DEST'] = remote(dest)
        with serving(srv):
            with qr_client().request_association(remote(srv)) as assoc:
                return list(assoc.get_scu(MOVE['study'])(query(), 'DEST', 1))[-1]


def test_move_sends_compressed_files_in_their_own_syntax(tmp_path):
    files = _mixed_syntax_files(tmp_path / 'archive')
    syntaxes = [uids.ExplicitVRLittleEndian, uids.JPEG_EXTENDED_PROCESS_2_AND_4,
                uids.JPEG_BASELINE_PROCESS_1]
    destination = ae.StorageAE(tmp_path / 'dest', 'DEST', 0, syntaxes, host='127.0.0.1')
    status, rsp = _move_all(files, destination.add_scp(sc.storage_scp))
    assert (int(status), rsp.num_of_completed_sub_ops) == (0, 4)
    for source in files:
        original = dcmread(source)
        copy_ = dcmread(tmp_path / 'dest' / f'{original.SOPInstanceUID}.dcm')
        assert copy_.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert copy_.get('PixelData') == original.get('PixelData')


def test_move_of_a_compressed_file_the_destination_refuses_fails_alone(tmp_path):
    files = _mixed_syntax_files(tmp_path / 'archive')
    # The destination takes the uncompressed syntaxes only.
    status, rsp = _move_all(files, storage_destination(tmp_path / 'dest'))
    assert int(status) == 0xB000
    assert (rsp.num_of_completed_sub_ops, rsp.num_of_failed_sub_ops) == (2, 2)
    assert stored(tmp_path / 'dest') == uid_files([dcmread(f) for f in files[0::2]])
