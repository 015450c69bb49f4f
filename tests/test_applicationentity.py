"""AEs: configuration, registries, serving threads and quit(), storing AEs, concurrency."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from aetools import dataset, fast, raw_associate, remote, serving
from pydicom import dcmread
from ulpeer import TIMEOUT, a_abort

import pynetdicom2
from pynetdicom2 import applicationentity as ae
from pynetdicom2 import asceprovider, statuses, uids
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.filestorage import (
    SOPInstanceUIDNaming,
    StagedFile,
    StudySeriesNaming,
    TemplateNaming,
)
from pynetdicom2.fsm import PContextDef
from pynetdicom2.loopback import make_dataset

ECHO = uids.VERIFICATION_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE
MR = uids.MR_IMAGE_STORAGE
EXPLICIT = uids.ExplicitVRLittleEndian
IMPLICIT = uids.ImplicitVRLittleEndian


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize('title', ['', '   ', 'A' * 17, 'BACK\\SLASH', 'TAB\tX', 'ÄE', None])
def test_bad_ae_titles_are_refused(title):
    with pytest.raises(NetDICOMError, match='AE title'):
        ae.ClientAE(title)


@pytest.mark.parametrize('length', [-1, 1, 6, 1.5])
def test_bad_max_pdu_lengths_are_refused(length):
    with pytest.raises(NetDICOMError, match='max_pdu_length'):
        ae.ClientAE('SCU', max_pdu_length=length)


def test_defaults():
    client = ae.ClientAE('SCU')
    assert client.supported_ts == (EXPLICIT, IMPLICIT, uids.ExplicitVRBigEndian)
    assert (client.dcm_timeout, client.artim_timeout, client.network_timeout,
            client.connect_timeout) == (15, 10, 60, 15)
    assert client.max_pdu_length == 65536
    assert client.local_ae.aet == 'SCU' and client.local_ae.port is None
    assert client.require_called_aet is False


def test_transfer_syntaxes_keep_the_users_order_without_duplicates():
    client = ae.ClientAE('SCU', [IMPLICIT, uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT])
    assert client.supported_ts == (IMPLICIT, uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    with pytest.raises(NetDICOMError, match='supported_ts is empty'):
        ae.ClientAE('SCU', [])


def test_registries_and_context_list():
    srv = ae.AE('SCP', 0, host='127.0.0.1', bind_and_activate=False)
    try:
        assert srv.add_scu(sc.verification_scu) is srv
        assert srv.add_scu(sc.storage_scu, [CT, MR]).add_scp(sc.verification_scp) is srv
        srv.add_scp(sc.storage_scp)
        assert srv.supported_scu == {ECHO: sc.verification_scu, CT: sc.storage_scu,
                                     MR: sc.storage_scu}
        assert srv.supported_scp[CT] is sc.storage_scp
        contexts = list(srv.context_def_list.values())
        assert [c.id for c in contexts[:3]] == [1, 3, 5]
        assert [c.sop_class for c in contexts[:3]] == [ECHO, CT, MR]
        assert len(contexts) == 3 + len(uids.STORAGE_SOP_CLASSES) - 2
        assert all(c.supported_ts == srv.supported_ts for c in contexts)
        assert srv.store_in_file == set(uids.STORAGE_SOP_CLASSES)
        copy = srv.copy_context_def_list()
        assert copy == srv.context_def_list and copy is not srv.context_def_list
    finally:
        srv.quit()


def test_write_meta_and_preamble_are_exported():
    assert ae.PREAMBLE == b'\0' * 128 + b'DICM'
    rq = dm.CStoreRQMessage()
    rq.sop_class_uid = CT
    rq.affected_sop_instance_uid = '1.2.3'
    fp, start = ae.ClientAE('SCU').get_file(PContextDef(1, CT, IMPLICIT), rq.command_set)
    with fp:
        assert start == 0
        fp.seek(0)
        meta = dcmread(fp).file_meta
    assert meta.TransferSyntaxUID == IMPLICIT
    assert meta.MediaStorageSOPInstanceUID == '1.2.3'
    assert meta.ImplementationClassUID == asceprovider.IMPLEMENTATION_UID


# --- serving and quitting ----------------------------------------------------------------------


def test_quit_on_a_never_started_ae_returns_at_once():
    for bind in (True, False):
        srv = ae.AE('SCP', 0, host='127.0.0.1', bind_and_activate=bind)
        started = time.monotonic()
        srv.quit()
        assert time.monotonic() - started < 0.5


def test_with_ae_serves_in_a_named_thread_and_binds_late():
    srv = ae.AE('SCP', 0, host='127.0.0.1', bind_and_activate=False).add_scp(sc.verification_scp)
    assert not srv.activated and srv.local_ae.port == 0
    with serving(srv):
        assert srv.activated and srv.local_ae.port > 0
        names = [t.name for t in threading.enumerate()]
        assert f'pynetdicom2-ae-SCP:{srv.local_ae.port}' in names
        client = fast(ae.ClientAE('SCU')).add_scu(sc.verification_scu)
        with client.request_association(remote(srv)) as assoc:
            assert assoc.get_scu(ECHO)(1).is_success
    assert srv._serve_thread is None
    with pytest.raises(NetDICOMError, match='serves once'):
        srv.__enter__()
    with pytest.raises(OSError):
        socket.create_connection(('127.0.0.1', srv.local_ae.port), timeout=TIMEOUT).close()


def test_quit_aborts_the_associations_still_running_and_joins_their_threads():
    srv = ae.AE('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)
    with serving(srv):
        peer, _ = raw_associate(srv.local_ae.port)
        peers = [peer, raw_associate(srv.local_ae.port)[0]]
        association_threads = [
            t for t in threading.enumerate() if t.name.startswith('pynetdicom2-association')
        ]
        assert len(association_threads) == 2
    for p in peers:
        with p:
            assert p.read_pdu() == a_abort(0, 0)
    assert not any(t.is_alive() for t in association_threads)


def test_serve_forever_blocks_until_quit():
    srv = fast(ae.AE('SCP', 0, host='127.0.0.1')).add_scp(sc.verification_scp)
    serving_thread = threading.Thread(target=srv.serve_forever, name='test-serve-forever')
    serving_thread.start()
    try:
        client = fast(ae.ClientAE('SCU')).add_scu(sc.verification_scu)
        with client.request_association(remote(srv)) as assoc:
            assert assoc.get_scu(ECHO)(1).is_success
    finally:
        srv.quit()
        serving_thread.join(TIMEOUT)
    assert not serving_thread.is_alive()


def test_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen(1)
        with pytest.raises(OSError):
            ae.AE('SCP', taken.getsockname()[1], host='127.0.0.1')


# --- storing AEs -------------------------------------------------------------------------------


def test_get_file_name_validates_and_numbers(tmp_path):
    storage = ae.StorageAE(tmp_path, 'SCP', 0, host='127.0.0.1', bind_and_activate=False)
    try:
        assert storage.get_file_name(tmp_path, '1.2.3') == tmp_path / '1.2.3.dcm'
        (tmp_path / '1.2.3.dcm').touch()
        (tmp_path / '1.2.3_1.dcm').touch()
        assert storage.get_file_name(tmp_path, '1.2.3') == tmp_path / '1.2.3_2.dcm'
        for index in range(2, storage.max_iterations - 1):
            (tmp_path / f'1.2.3_{index}.dcm').touch()
        last = storage.max_iterations - 1  # max_iterations names in all, the plain one first
        assert storage.get_file_name(tmp_path, '1.2.3') == tmp_path / f'1.2.3_{last}.dcm'
        (tmp_path / f'1.2.3_{last}.dcm').touch()
        with pytest.raises(FileExistsError, match=f'and {last} numbered copies exist'):
            storage.get_file_name(tmp_path, '1.2.3')
        for bad in ('../x', '/etc/passwd', '', '1' * 65):
            with pytest.raises(ValueError, match='not a valid UID'):
                storage.get_file_name(tmp_path, bad)
    finally:
        storage.quit()


def test_storage_dir_is_created_and_str_or_path_accepted(tmp_path):
    client = ae.ClientStorageAE(str(tmp_path / 'a' / 'b'), 'SCU')
    assert client.storage_dir == tmp_path / 'a' / 'b' and client.storage_dir.is_dir()
    assert set(uids.STORAGE_SOP_CLASSES) <= client.store_in_file


def test_get_storage_file_is_staged_beside_its_target(tmp_path):
    client = ae.ClientStorageAE(tmp_path, 'SCU')
    rq = dm.CStoreRQMessage()
    rq.sop_class_uid = CT
    rq.affected_sop_instance_uid = '1.2.3.4'
    fp, start = client.get_file(PContextDef(1, CT, EXPLICIT), rq.command_set)
    assert isinstance(fp, StagedFile) and start == 0 and fp.path.parent == tmp_path
    client.keep_file(fp, rq.command_set)
    assert os.listdir(tmp_path) == ['1.2.3.4.dcm']
    fp2, _ = client.get_file(PContextDef(1, CT, EXPLICIT), rq.command_set)
    client.discard_file(fp2)
    assert os.listdir(tmp_path) == ['1.2.3.4.dcm']


def test_discard_file_removes_a_named_file_from_a_custom_get_file(tmp_path):
    client = ae.ClientAE('SCU')
    named = open(tmp_path / 'custom.dcm', 'w+b')  # noqa: SIM115 - discard_file closes it
    client.discard_file(named)
    assert named.closed and os.listdir(tmp_path) == []
    kept = open(tmp_path / 'kept.dcm', 'w+b')  # noqa: SIM115 - keep_file closes it
    client.keep_file(kept, dm.CStoreRQMessage().command_set)
    assert kept.closed and os.listdir(tmp_path) == ['kept.dcm']


def test_concurrent_associations_store_every_file(tmp_path):
    srv = ae.StorageAE(tmp_path / 'in', 'SCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    sent: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def store_some() -> None:
        try:
            client = fast(ae.ClientAE('SCU')).add_scu(sc.storage_scu, [CT])
            with client.request_association(remote(srv)) as assoc:
                for index in range(10):
                    ds = dataset(pixel_bytes=2048)
                    assert assoc.get_scu(CT)(ds, index + 1) == statuses.SUCCESS
                    with lock:
                        sent.append(ds.SOPInstanceUID)
        except BaseException as exc:
            errors.append(exc)

    with serving(srv):
        workers = [threading.Thread(target=store_some, name=f'test-store-{n}') for n in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(TIMEOUT * 4)
    assert not errors, errors
    assert sorted(os.listdir(srv.storage_dir)) == sorted(f'{uid}.dcm' for uid in sent)
    assert len(sent) == 40


def test_a_store_that_cannot_be_named_leaves_no_temporary_file(tmp_path):
    # Every name for the instance is taken: the store fails (A700) and the staged file goes.
    with pynetdicom2.storage(tmp_path, 'SCP', 0, host='127.0.0.1') as scp:
        scp.max_iterations = 2
        remote = {'aet': 'SCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        ds = make_dataset()
        codes = [int(pynetdicom2.store('SCU', remote, ds)) for _ in range(3)]
    assert codes == [0, 0, 0xA700]
    assert sorted(os.listdir(tmp_path)) == sorted(
        [f'{ds.SOPInstanceUID}.dcm', f'{ds.SOPInstanceUID}_1.dcm'])


def test_a_naming_policy_files_received_data_sets(tmp_path):
    # Study and series folders, made as needed; a second copy of an instance kept apart.
    with pynetdicom2.storage(tmp_path, 'SCP', 0, host='127.0.0.1') as scp:
        scp.file_naming = StudySeriesNaming()
        remote = {'aet': 'SCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        ds = make_dataset()
        assert [int(pynetdicom2.store('SCU', remote, ds)) for _ in range(2)] == [0, 0]
    folder = tmp_path / ds.StudyInstanceUID / ds.SeriesInstanceUID
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob('*') if p.is_file()) == [
        (folder / f'{ds.SOPInstanceUID}.dcm').relative_to(tmp_path),
        (folder / f'{ds.SOPInstanceUID}_1.dcm').relative_to(tmp_path),
    ]
    assert dcmread(folder / f'{ds.SOPInstanceUID}.dcm').PatientID == ds.PatientID


@pytest.mark.filterwarnings('ignore:Invalid value for VR UI:UserWarning')
def test_a_data_set_the_policy_refuses_leaves_no_file(tmp_path):
    with pynetdicom2.storage(tmp_path, 'SCP', 0, host='127.0.0.1') as scp:
        scp.file_naming = TemplateNaming('{StudyInstanceUID}/{SOPInstanceUID}.dcm', replace=True)
        remote = {'aet': 'SCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        bad = make_dataset(StudyInstanceUID='1.2/../../x')  # not a UID: no file name
        assert int(pynetdicom2.store('SCU', remote, bad)) == 0xC000  # cannot understand
        good = make_dataset()
        assert [int(pynetdicom2.store('SCU', remote, good)) for _ in range(2)] == [0, 0]
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*') if p.is_file()] == [
        f'{good.StudyInstanceUID}/{good.SOPInstanceUID}.dcm']  # replaced, not numbered


def test_place_file_returns_where_the_file_went(tmp_path):
    client = ae.ClientStorageAE(tmp_path, 'SCU')
    client.file_naming = SOPInstanceUIDNaming(replace=True)
    rq = dm.CStoreRQMessage()
    rq.sop_class_uid = CT
    rq.affected_sop_instance_uid = '1.2.3.4'
    for _ in range(2):
        fp, _ = client.get_file(PContextDef(1, CT, EXPLICIT), rq.command_set)
        assert client.place_file(fp, rq.command_set) == tmp_path / '1.2.3.4.dcm'
    assert os.listdir(tmp_path) == ['1.2.3.4.dcm']
    named = open(tmp_path / 'custom.dcm', 'w+b')  # noqa: SIM115 - place_file closes it
    assert client.place_file(named, rq.command_set) is None and named.closed


def test_a_received_file_names_its_sender_in_the_file_meta(tmp_path):
    """PS3.10 Table 7.1-1: (0002,0016) Source Application Entity Title, the calling AE."""
    with pynetdicom2.storage(tmp_path, 'SCP', 0, host='127.0.0.1') as scp:
        remote = {'aet': 'SCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        ds = make_dataset()
        assert pynetdicom2.store('MODALITY1', remote, ds).is_success
    meta = dcmread(tmp_path / f'{ds.SOPInstanceUID}.dcm').file_meta
    assert meta.SourceApplicationEntityTitle == 'MODALITY1'
