"""SOP class services: decorators and dispatchers, C-ECHO and C-STORE in both roles, on loopback.

Storage is checked end to end: what the SCU sends (a Dataset in each transfer syntax, or a
file streamed from disk) is what the SCP writes, element by element, and every refusal
(bad UID, hook failure, full disk) is a status with nothing left on disk.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import tracemalloc
import zlib

import pytest
from aetools import (
    dataset,
    fast,
    p_data,
    raw_associate,
    read_message,
    remote,
    same_elements,
    serving,
    write_file,
)
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from ulpeer import A_RELEASE_RP, A_RELEASE_RQ, TIMEOUT, a_abort

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import dsutils, statuses, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import (
    DIMSEProcessingError,
    EventHandlingError,
    NetDICOMError,
)
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services import storage

ECHO = uids.VERIFICATION_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE
MR = uids.MR_IMAGE_STORAGE
IMPLICIT = uids.ImplicitVRLittleEndian
EXPLICIT = uids.ExplicitVRLittleEndian
BIG = uids.ExplicitVRBigEndian
DEFLATED = uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
JPEG = uids.JPEG_BASELINE_PROCESS_1
SYNTAXES = [EXPLICIT, IMPLICIT, BIG, DEFLATED]


def storage_server(directory, supported_ts=None, **kwargs) -> ae.StorageAE:
    srv = ae.StorageAE(directory, 'STORESCP', 0, supported_ts, host='127.0.0.1', **kwargs)
    return srv.add_scp(sc.storage_scp).add_scp(sc.verification_scp)


def store_client(supported_ts=None, classes=(CT,)) -> ae.ClientAE:
    client = fast(ae.ClientAE('STORESCU', supported_ts))
    return client.add_scu(sc.storage_scu, list(classes)).add_scu(sc.verification_scu)


def files(directory) -> list[str]:
    return sorted(os.listdir(directory))


# --- decorators and dispatchers -----------------------------------------------------------------


def test_decorators_set_and_extend_the_service_attributes():
    @sc.store_in_file
    @sc.sop_classes([MR])
    @sc.sop_classes([CT, MR])
    def service(asce, ctx, msg): ...

    assert service.sop_classes == [CT, MR]
    assert service.store_in_file is True
    assert sc.storage_scp.store_in_file is True
    assert sc.storage_scp.sop_classes == list(uids.STORAGE_SOP_CLASSES)
    assert sc.verification_scp.store_in_file is False
    assert sc.verification_scu.sop_classes == [ECHO]
    assert sc.storage_scu.sop_classes == []


def test_storage_scu_needs_its_sop_classes():
    with pytest.raises(NetDICOMError, match='has no SOP classes'):
        ae.ClientAE('SCU').add_scu(sc.storage_scu)


class EchoDispatcher(sc.MessageDispatcherSCP):
    sop_classes = [ECHO]

    def __init__(self) -> None:
        self.calls = 0

    def c_echo(self, asce, ctx, msg):
        self.calls += 1
        rsp = dm.CEchoRSPMessage()
        rsp.message_id_being_responded_to = msg.message_id
        rsp.sop_class_uid = ECHO
        rsp.status = 0
        asce.send(rsp, ctx.id)


def test_message_dispatcher_scp_routes_by_command_and_refuses_the_rest():
    dispatcher = EchoDispatcher()
    with serving(ae.AE('SCP', 0, host='127.0.0.1').add_scp(dispatcher)) as srv:
        with store_client().request_association(remote(srv)) as assoc:
            assert assoc.get_scu(ECHO)(1).is_success
            find = dm.CFindRQMessage()
            find.message_id = 2
            find.sop_class_uid = ECHO
            find.data_set = b'\x08\x00\x52\x00\x00\x00\x00\x00'
            assoc.send(find, assoc.sop_classes_as_scu[ECHO][0])
            rsp, _ = assoc.receive()
            assert isinstance(rsp, dm.CFindRSPMessage) and rsp.status == 0x0122
    assert dispatcher.calls == 1
    with pytest.raises(DIMSEProcessingError, match='no method'):
        dispatcher.get_method(dm.CStoreRQMessage())


def test_message_dispatcher_scu_routes_by_message():
    class Recorder(sc.MessageDispatcherSCU):
        def n_get(self, asce, ctx, msg, *args, **kwargs):
            return ('n_get', args, kwargs)

    assert Recorder()(None, None, dm.NGetRQMessage(), 1, key=2) == ('n_get', (1,), {'key': 2})
    with pytest.raises(DIMSEProcessingError):
        Recorder()(None, None, dm.NSetRQMessage())


# --- verification -------------------------------------------------------------------------------


class EchoAE(ae.AE):
    answer: object = statuses.SUCCESS

    def on_receive_echo(self, context):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ('answer', 'status'),
    [(statuses.SUCCESS, 0), (0x0110, 0x0110), (EventHandlingError('no'), 0x0110)],
    ids=['success', 'int', 'event-handling-error'],
)
def test_verification_scp_answers_the_hooks_status(answer, status):
    srv = EchoAE('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)
    srv.answer = answer
    with serving(srv):
        with store_client().request_association(remote(srv)) as assoc:
            assert int(assoc.get_scu(ECHO)(5)) == status


def test_a_response_to_another_message_is_a_protocol_error():
    from ulpeer import Listener

    with Listener() as listener:
        def acceptor() -> None:
            with listener.accept() as peer:
                peer.read_pdu()
                from test_asceprovider import a_associate_ac

                peer.send(a_associate_ac([(1, 0, EXPLICIT), (3, 0, EXPLICIT)]))
                rq = read_message(peer)
                rsp = dm.CEchoRSPMessage()
                rsp.message_id_being_responded_to = rq.message_id + 1
                rsp.status = 0
                for raw in p_data(rsp):
                    peer.send(raw)
                assert peer.read_pdu() == a_abort(0, 0)

        thread = threading.Thread(target=acceptor, name='test-acceptor')
        thread.start()
        host, port = listener.address
        with pytest.raises(DIMSEProcessingError,
                           match='CEchoRSPMessage to message 2, which is not a request of ours'):
            with store_client().request_association({'aet': 'X', 'address': host,
                                                     'port': port}) as assoc:
                assoc.get_scu(ECHO)(1)
        thread.join(TIMEOUT)


# --- storage: what is sent is what is stored ----------------------------------------------------


@pytest.mark.parametrize('ts', SYNTAXES)
def test_storage_scu_dataset_in_each_transfer_syntax(tmp_path, ts):
    ds = dataset(pixel_bytes=3000)
    with serving(storage_server(tmp_path / 'in', [ts])) as srv:
        with store_client([ts]).request_association(remote(srv)) as assoc:
            assert assoc.get_scu(CT)(ds, 1) == statuses.SUCCESS
    assert files(srv.storage_dir) == [f'{ds.SOPInstanceUID}.dcm']
    stored = dcmread(srv.storage_dir / f'{ds.SOPInstanceUID}.dcm')
    assert stored.file_meta.TransferSyntaxUID == ts
    assert stored.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert same_elements(stored, ds)


@pytest.mark.parametrize('ts', SYNTAXES)
def test_storage_scu_streams_a_file_as_it_is(tmp_path, ts):
    ds = dataset(pixel_bytes=70000)  # several PDUs
    source = write_file(tmp_path / 'source.dcm', ds, ts)
    with serving(storage_server(tmp_path / 'in', SYNTAXES)) as srv:
        with store_client([ts]).request_association(remote(srv)) as assoc:
            assert assoc.get_scu(CT)(str(source), 1).is_success
    stored = srv.storage_dir / f'{ds.SOPInstanceUID}.dcm'
    with open(source, 'rb') as a, open(stored, 'rb') as b:
        from pynetdicom2.filestorage import read_meta

        read_meta(a)
        read_meta(b)
        assert a.read() == b.read()  # the data set, byte for byte
    assert same_elements(dcmread(stored), dcmread(source))


def test_storage_scu_refuses_a_file_that_does_not_fit_the_context(tmp_path):
    jpeg = dataset()
    jpeg.PixelData = encapsulate([b'\xff\xd8fake-jpeg\xff\xd9'])
    jpeg['PixelData'].VR = 'OB'
    ct_file = write_file(tmp_path / 'ct.dcm', jpeg, JPEG)  # no conversion to explicit VR LE
    mr_file = write_file(tmp_path / 'mr.dcm', dataset(MR), EXPLICIT)
    with serving(storage_server(tmp_path / 'in')) as srv:
        with store_client([EXPLICIT], [CT, MR]).request_association(remote(srv)) as assoc:
            # No conversion (or, with the codecs extra, a decoder that fails on fake JPEG):
            # either way the error names the file and its syntax, and nothing is sent.
            with pytest.raises(NetDICOMError, match=r'ct\.dcm.*JPEG Baseline'):
                assoc.get_scu(CT)(ct_file, 1)
            with pytest.raises(NetDICOMError, match='holds SOP class'):
                assoc.get_scu(CT)(mr_file, 2)
            with pytest.raises(NetDICOMError, match='not a DICOM'):
                (tmp_path / 'junk').write_bytes(b'junk' * 100)
                assoc.get_scu(CT)(tmp_path / 'junk', 3)
            assert assoc.get_scu(ECHO)(4).is_success  # nothing was sent: still usable
    assert files(srv.storage_dir) == []


def test_storage_scu_converts_a_file_to_the_accepted_uncompressed_syntax(tmp_path):
    ds = dataset()
    path = write_file(tmp_path / 'ct.dcm', ds, EXPLICIT)
    with serving(storage_server(tmp_path / 'in')) as srv:
        with store_client([IMPLICIT], [CT]).request_association(remote(srv)) as assoc:
            assert assoc.get_scu(CT)(path, 1).is_success
    stored = dcmread(srv.storage_dir / f'{ds.SOPInstanceUID}.dcm')
    assert stored.file_meta.TransferSyntaxUID == IMPLICIT
    assert stored.PatientName == ds.PatientName


def test_encode_for_context_never_transcodes_pixel_data():
    ds = dataset()
    ds.PixelData = encapsulate([b'\xff\xd8fake-jpeg\xff\xd9'])
    ds['PixelData'].VR = 'OB'
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEG
    assert storage.encode_for_context(ds, JPEG) == dsutils.encode(ds, False, True)
    with pytest.raises(NetDICOMError, match='does not transcode'):
        storage.encode_for_context(ds, EXPLICIT)
    plain = dataset()
    with pytest.raises(NetDICOMError, match='does not transcode'):
        storage.encode_for_context(plain, JPEG)
    deflated = storage.encode_for_context(plain, DEFLATED)
    assert zlib.decompress(deflated, -zlib.MAX_WBITS) == dsutils.encode(plain, False, True)


def test_storage_scu_needs_sop_uids_on_a_dataset(tmp_path):
    with serving(storage_server(tmp_path / 'in')) as srv:
        with store_client().request_association(remote(srv)) as assoc:
            with pytest.raises(NetDICOMError, match='SOPInstanceUID'):
                assoc.get_scu(CT)(Dataset(), 1)


def test_move_originator_is_sent_only_when_complete(tmp_path):
    seen: list[dm.CStoreRQMessage] = []

    class Recording(ae.StorageAE):
        def on_receive_store(self, context, ds):
            return statuses.SUCCESS

    def recording_scp(asce, ctx, msg):
        seen.append(msg)
        sc.storage_scp(asce, ctx, msg)

    recording_scp.sop_classes = [CT]
    recording_scp.store_in_file = True
    srv = Recording(tmp_path / 'in', 'SCP', 0, host='127.0.0.1').add_scp(recording_scp)
    with serving(srv):
        with store_client().request_association(remote(srv)) as assoc:
            assoc.get_scu(CT)(dataset(), 1, move_originator_aet='MOVER')
            assoc.get_scu(CT)(dataset(), 2, 'MOVER', 7)
    assert (seen[0].move_originator_aet, seen[0].move_originator_message_id) == (None, None)
    assert (seen[1].move_originator_aet, seen[1].move_originator_message_id) == ('MOVER', 7)


# --- storage: refusals leave nothing behind -----------------------------------------------------


class HookAE(ae.StorageAE):
    """A storing AE whose on_receive_store answers what the test says."""

    answer: object = statuses.SUCCESS

    def on_receive_store(self, context, ds):
        self.seen_file = dcmread(ds)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ('answer', 'status', 'kept'),
    [
        (statuses.SUCCESS, 0x0000, True),
        (0xB007, 0xB007, True),
        (statuses.C_STORE_OUT_OF_RESOURCES, 0xA700, False),
        (EventHandlingError('refused'), 0xC000, False),
    ],
    ids=['success', 'warning', 'failure', 'event-handling-error'],
)
def test_the_file_is_kept_only_after_success_or_warning(tmp_path, answer, status, kept):
    srv = HookAE(tmp_path / 'in', 'SCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    srv.answer = answer
    ds = dataset()
    with serving(srv):
        with store_client().request_association(remote(srv)) as assoc:
            assert int(assoc.get_scu(CT)(ds, 1)) == status
    assert srv.seen_file.SOPInstanceUID == ds.SOPInstanceUID  # the hook read a Part-10 file
    assert files(srv.storage_dir) == ([f'{ds.SOPInstanceUID}.dcm'] if kept else [])


def test_same_instance_twice_gets_a_numbered_name(tmp_path):
    ds = dataset()
    with serving(storage_server(tmp_path / 'in')) as srv:
        with store_client().request_association(remote(srv)) as assoc:
            assert assoc.get_scu(CT)(ds, 1).is_success
            assert assoc.get_scu(CT)(ds, 2).is_success
    uid = ds.SOPInstanceUID
    assert files(srv.storage_dir) == [f'{uid}.dcm', f'{uid}_1.dcm']


def test_plain_ae_refuses_to_lose_data_silently(tmp_path, caplog):
    srv = ae.AE('SCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    with serving(srv), caplog.at_level(logging.WARNING, 'pynetdicom2.applicationentity'):
        with store_client().request_association(remote(srv)) as assoc:
            assert assoc.get_scu(CT)(dataset(), 1) == statuses.C_STORE_CANNOT_UNDERSTAND
    assert 'does not store it' in caplog.text


class FullDiskAE(ae.StorageAE):
    def get_file(self, context, command_set):
        raise OSError(28, 'No space left on device')


def test_a_full_disk_answers_a700_and_the_association_carries_on(tmp_path):
    srv = FullDiskAE(tmp_path / 'in', 'SCP', 0, host='127.0.0.1')
    srv.add_scp(sc.storage_scp).add_scp(sc.verification_scp)
    with serving(srv):
        with store_client().request_association(remote(srv)) as assoc:
            assert assoc.get_scu(CT)(dataset(pixel_bytes=40000), 1) == (
                statuses.C_STORE_OUT_OF_RESOURCES
            )
            assert assoc.get_scu(ECHO)(2).is_success
            assert assoc.get_scu(CT)(dataset(), 3) == statuses.C_STORE_OUT_OF_RESOURCES
    assert files(srv.storage_dir) == []


class WriteFailsAE(ae.StorageAE):
    """Every write after the file meta fails, as on a disk that fills up mid-file."""

    def get_file(self, context, command_set):
        fp, start = super().get_file(context, command_set)
        fp.write = self._fail  # type: ignore[method-assign]
        return fp, start

    @staticmethod
    def _fail(data):
        raise OSError(28, 'No space left on device')


def test_a_write_failure_mid_data_set_answers_a700_and_leaves_no_file(tmp_path):
    srv = WriteFailsAE(tmp_path / 'in', 'SCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    with serving(srv):
        with store_client().request_association(remote(srv)) as assoc:
            assert assoc.get_scu(CT)(dataset(pixel_bytes=40000), 1) == (
                statuses.C_STORE_OUT_OF_RESOURCES
            )
    assert files(srv.storage_dir) == []


def store_rq(instance, sop_class=CT, message_id=1) -> dm.CStoreRQMessage:
    rq = dm.CStoreRQMessage()
    rq.message_id = message_id
    rq.priority = 0
    rq.sop_class_uid = sop_class
    rq.affected_sop_instance_uid = instance
    rq.data_set = dsutils.encode(dataset(), True, True)
    return rq


@pytest.mark.filterwarnings('ignore::UserWarning')  # pydicom dislikes these UIDs too
@pytest.mark.parametrize(
    'instance',
    ['../x', '/abs', '1' * 65, '', '1.2/../../3', 'C:\\x'],
    ids=['dotdot', 'absolute', 'too-long', 'empty', 'traversal', 'windows'],
)
def test_uids_that_are_not_file_names_are_refused(tmp_path, instance):
    with serving(storage_server(tmp_path / 'in')) as srv:
        peer, _ = raw_associate(srv.local_ae.port, [(1, CT, [IMPLICIT])])
        with peer:
            for raw in p_data(store_rq(instance)):
                peer.send(raw)
            rsp = read_message(peer)
            assert isinstance(rsp, dm.CStoreRSPMessage)
            assert rsp.status == 0xC000
            peer.send(A_RELEASE_RQ)
            peer.expect(A_RELEASE_RP)
    assert files(tmp_path) == ['in']
    assert files(tmp_path / 'in') == []


@pytest.mark.parametrize('how', ['abort', 'disconnect'])
def test_a_data_set_cut_short_leaves_no_file(tmp_path, how):
    class Watching(ae.StorageAE):
        aborted = threading.Event()
        staged = threading.Event()

        def get_file(self, context, command_set):
            result = super().get_file(context, command_set)
            self.staged.set()
            return result

        def on_abort(self, asce, exc):
            self.aborted.set()

    srv = Watching(tmp_path / 'in', 'SCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    with serving(srv):
        peer, _ = raw_associate(srv.local_ae.port, [(1, CT, [IMPLICIT])])
        rq = store_rq('1.2.3.4')
        rq.data_set = b'\x10\x00\x10\x00' + b'\x00' * 200000
        pdus = p_data(rq, max_pdu_length=16384)
        with peer:
            for raw in pdus[: len(pdus) // 2]:
                peer.send(raw)
            assert srv.staged.wait(TIMEOUT)
            assert [name for name in files(srv.storage_dir) if name.endswith('.part')]
            if how == 'abort':
                peer.send(a_abort(0, 0))
        if how == 'abort':
            assert srv.aborted.wait(TIMEOUT)
    assert files(tmp_path / 'in') == []


def test_streaming_memory_is_bounded_by_the_pdu_size_not_the_file(tmp_path):
    ds = dataset(pixel_bytes=24 * 1024 * 1024)
    source = write_file(tmp_path / 'big.dcm', ds, EXPLICIT)
    del ds
    with serving(storage_server(tmp_path / 'in')) as srv:
        with store_client([EXPLICIT]).request_association(remote(srv)) as assoc:
            tracemalloc.start()
            try:
                assert assoc.get_scu(CT)(source, 1).is_success
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    # both sides of the transfer run in this process: still far below the 24 MB file
    assert peak < 6 * 1024 * 1024, f'peak {peak} bytes'
    (stored,) = files(srv.storage_dir)
    assert (srv.storage_dir / stored).stat().st_size > 24 * 1024 * 1024


def test_keep_received_file_errors_become_a700(tmp_path):
    class RenameFails(ae.StorageAE):
        def keep_file(self, fp, command_set):
            fp.discard()
            raise OSError(13, 'Permission denied')

    srv = RenameFails(tmp_path / 'in', 'SCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    with serving(srv):
        with store_client().request_association(remote(srv)) as assoc:
            assert assoc.get_scu(CT)(dataset(), 1) == statuses.C_STORE_OUT_OF_RESOURCES
    assert files(srv.storage_dir) == []


def test_hook_receives_the_context_and_a_readable_file(tmp_path):
    contexts: list[PContextDef] = []

    class Reading(ae.AE):
        def on_receive_store(self, context, ds):
            contexts.append(context)
            assert isinstance(ds, io.IOBase)
            assert dcmread(ds).PatientName == 'Test^Patient'
            return statuses.SUCCESS

    srv = Reading('SCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    with serving(srv):
        with store_client([IMPLICIT]).request_association(remote(srv)) as assoc:
            assert assoc.get_scu(CT)(dataset(), 1).is_success
    assert contexts == [PContextDef(1, CT, IMPLICIT)]


def test_dataset_in_another_byte_order_has_its_words_swapped() -> None:
    """PS3.5 7.3: a big endian data set sent over a little endian context keeps its pixels."""
    source = Dataset()
    source.file_meta = FileMetaDataset()
    source.file_meta.TransferSyntaxUID = BIG
    source.SOPClassUID = CT
    source.SOPInstanceUID = '1.2.3'
    source.BitsAllocated = 16
    source.PixelData = b'\x00\x01\x00\x02'  # words 1 and 2, big endian
    source['PixelData'].VR = 'OW'  # as dcmread gives it from an explicit VR file
    for syntax, implicit in ((EXPLICIT, False), (IMPLICIT, True)):
        raw = storage.encode_for_context(source, syntax)
        assert dsutils.decode(raw, implicit, True).PixelData == b'\x01\x00\x02\x00'
    assert source.PixelData == b'\x00\x01\x00\x02'  # the caller's data set is left alone


def test_store_many_reports_the_bytes_of_each_file_as_they_go(tmp_path):
    big = dataset(pixel_bytes=300_000)
    path = write_file(tmp_path / 'big.dcm', big, EXPLICIT)
    seen: list[tuple[object, int, int]] = []
    with serving(storage_server(tmp_path / 'in')) as srv:
        with store_client([EXPLICIT], [CT]).request_association(remote(srv)) as assoc:
            outcomes = list(assoc.store_many([path], progress=lambda *args: seen.append(args)))
    assert outcomes[0][1].is_success
    assert len(seen) > 2 and all(source == path for source, _, _ in seen)
    sent = [count for _, count, _ in seen]
    assert sent == sorted(sent) and sent[-1] == seen[-1][2] > 300_000  # all of it, in order
