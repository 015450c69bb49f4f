"""Hostile peers against data integrity: nothing wrong is kept, nothing right is lost.

A requester that sends a data set other than the one its command names, a UID that would
name a file we did not write, a data set that is cut short, garbage or empty; a sender with
a truncated file; a server that must not answer Success before the data set is on the disk.
Each case against a ``StorageAE`` and the Q/R archive (``QRSCP``) over loopback.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aetools import dataset, fast, remote, serving, write_file
from pydicom import dcmread

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import dsutils, filestorage, statuses, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import InvalidDataSetError
from pynetdicom2.qrscp import QRSCP

CT = uids.CT_IMAGE_STORAGE
MR = uids.MR_IMAGE_STORAGE
IMPLICIT = uids.ImplicitVRLittleEndian
EXPLICIT = uids.ExplicitVRLittleEndian


def client() -> ae.ClientAE:
    return fast(ae.ClientAE('HOSTILE', supported_ts=[IMPLICIT])).add_scu(
        sc.storage_scu, [CT, MR])


def send_raw(assoc: Any, sop_class: str, instance: str, data: bytes) -> int:
    """C-STORE ``data`` as it is, under the command's ``sop_class`` and ``instance``."""
    pc_id, _ts = assoc.sop_classes_as_scu[sop_class]
    rq = dm.CStoreRQMessage()
    rq.message_id = assoc.new_message_id()
    rq.priority = dm.PRIORITY_MEDIUM
    rq.sop_class_uid = sop_class
    rq.affected_sop_instance_uid = instance
    rq.data_set = data
    assoc.invoke(rq, pc_id)
    rsp, _ = assoc.receive_response(rq.message_id)
    return int(rsp.status)


def encoded(ds: Any) -> bytes:
    return dsutils.encode(ds, True, True)


def kept(directory: Path) -> list[str]:
    """Every file in the storage directory (staged ``.part`` files included)."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob('*') if p.is_file()
                  and not p.name.endswith(('.sqlite', '.sqlite-journal', '.sqlite-wal',
                                           '.sqlite-shm')) and not p.name.startswith(
                      '.pynetdicom2-index'))


def visible(directory: Path) -> list[str]:
    return [name for name in kept(directory) if not os.path.basename(name).startswith('.')]


@pytest.fixture(params=['storage', 'archive'])
def server(request: Any, tmp_path: Path) -> Iterator[ae.StorageAE]:
    """A StorageAE, and the Q/R archive, which also indexes what it keeps."""
    if request.param == 'storage':
        scp = ae.StorageAE(tmp_path / 'in', 'STORESCP', 0, host='127.0.0.1')
        scp.add_scp(sc.storage_scp)
    else:
        scp = QRSCP(tmp_path / 'in', 'QRSCP', 0, host='127.0.0.1')
    with serving(scp):
        yield scp


# -- item 1: the command and the data set disagree -------------------------------------------


@pytest.mark.parametrize('what', ['instance', 'sop class'])
def test_a_data_set_that_is_not_the_commands_instance_is_refused_and_not_kept(server, what):
    ds = dataset(CT)
    instance, sop_class = ds.SOPInstanceUID, CT
    if what == 'instance':
        instance = '1.2.3.4.5'  # the command says A, the data set B
    else:
        ds.SOPClassUID = MR  # an MR data set under a CT command
    with client().request_association(remote(server)) as assoc:
        status = send_raw(assoc, sop_class, instance, encoded(ds))
        good = dataset(CT)
        assert sc.storage_scu(assoc, _ctx(assoc, CT), good, assoc.new_message_id()).is_success
    assert status == int(statuses.C_STORE_DATA_SET_MISMATCH) == 0xA900
    assert visible(server.storage_dir) == [f'{good.SOPInstanceUID}.dcm']
    if isinstance(server, QRSCP):
        assert _indexed(server) == [good.SOPInstanceUID]  # the mismatch was never indexed


def _ctx(assoc: Any, sop_class: str) -> Any:
    pc_id, ts = assoc.sop_classes_as_scu[sop_class]
    from pynetdicom2.fsm import PContextDef
    return PContextDef(pc_id, sop_class, ts)


def _indexed(server: QRSCP) -> list[str]:
    return sorted(row[0] for row in server.db._conn.execute('SELECT sop_uid FROM instances'))


# -- item 2: a UID that would overwrite a file that is not ours ------------------------------


@pytest.mark.filterwarnings('ignore:Invalid value for VR UI')
@pytest.mark.parametrize('uid', ['00', '0001', '1.2.03', '1'])
def test_uids_that_break_ps3_5_are_refused_and_overwrite_nothing(server, uid):
    bystander = server.storage_dir / f'{uid}.dcm'
    bystander.write_bytes(b'not ours')
    ds = dataset(CT, SOPInstanceUID=uid)
    with client().request_association(remote(server)) as assoc:
        status = send_raw(assoc, CT, uid, encoded(ds))
    assert status == 0xC000
    assert bystander.read_bytes() == b'not ours'
    assert visible(server.storage_dir) == [f'{uid}.dcm']


def test_an_archive_replaces_its_own_copy_but_never_a_file_it_did_not_write(tmp_path):
    scp = QRSCP(tmp_path / 'in', 'QRSCP', 0, host='127.0.0.1')  # replace=True
    with serving(scp):
        ds = dataset(CT)
        stranger = dataset(CT)
        # A file under the name the new instance will take, holding another instance.
        foreign = scp.storage_dir / f'{stranger.SOPInstanceUID}.dcm'
        foreign.write_bytes(b'a file someone else put here')
        with client().request_association(remote(scp)) as assoc:
            first = sc.storage_scu(assoc, _ctx(assoc, CT), ds, assoc.new_message_id())
            ds.PatientName = 'Corrected^Name'
            again = sc.storage_scu(assoc, _ctx(assoc, CT), ds, assoc.new_message_id())
            other = sc.storage_scu(assoc, _ctx(assoc, CT), stranger, assoc.new_message_id())
        assert first.is_success and again.is_success and other.is_success
        own = scp.storage_dir / f'{ds.SOPInstanceUID}.dcm'
        assert dcmread(own).PatientName == 'Corrected^Name'  # its own copy replaced
        assert foreign.read_bytes() == b'a file someone else put here'
        beside = scp.storage_dir / f'{stranger.SOPInstanceUID}_1.dcm'
        assert dcmread(beside).SOPInstanceUID == stranger.SOPInstanceUID
        assert not any(name.startswith('.') for name in os.listdir(scp.storage_dir)
                       if name.endswith('.part'))


def test_place_never_overwrites_a_new_name_even_when_two_writers_race(tmp_path):
    target = tmp_path / '1.2.3.dcm'
    staged = [filestorage.StagedFile(tmp_path) for _ in range(8)]
    for index, fp in enumerate(staged):
        fp.write(b'copy %d' % index)
    barrier = threading.Barrier(len(staged))
    placed: list[Path] = []

    def put(fp: filestorage.StagedFile) -> None:
        barrier.wait(timeout=5)
        placed.append(filestorage.place(fp, target, '1.2.3', replace=False))

    threads = [threading.Thread(target=put, args=(fp,)) for fp in staged]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(set(placed)) == len(staged)  # every copy under its own name, none lost
    assert sorted(p.read_bytes() for p in placed) == sorted(b'copy %d' % i for i in range(8))


def test_the_eleventh_copy_of_one_instance_is_refused_as_documented(tmp_path):
    """FolderStorageMixin.max_iterations: ten copies are kept, one more gets A700H."""
    scp = ae.StorageAE(tmp_path, 'STORESCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    ds = dataset(CT)
    with serving(scp), client().request_association(remote(scp)) as assoc:
        results = [sc.storage_scu(assoc, _ctx(assoc, CT), ds, assoc.new_message_id())
                   for _ in range(11)]
    assert [int(r) for r in results] == [0] * 10 + [0xA700]
    assert len(visible(tmp_path)) == 10


# -- item 3: truncated, garbage or empty data sets ------------------------------------------


def _garbage(ds: Any) -> dict[str, bytes]:
    whole = encoded(ds)
    return {
        'truncated in a value': whole[:-5],
        'truncated in a header': whole[:len(whole) - len(whole) % 8 - 3],
        'empty': b'',
        'random bytes': bytes((i * 73 + 41) % 256 for i in range(2000)),
        'an unterminated sequence': whole + b'\x08\x00\x15\x11\xff\xff\xff\xff'
        + b'\xfe\xff\x00\xe0\x00\x00\x00\x00',
    }


@pytest.mark.parametrize('case', ['truncated in a value', 'truncated in a header', 'empty',
                                  'random bytes', 'an unterminated sequence'])
def test_a_data_set_that_is_not_whole_is_refused_and_not_kept(server, case):
    ds = dataset(CT)
    with client().request_association(remote(server)) as assoc:
        status = send_raw(assoc, CT, ds.SOPInstanceUID, _garbage(ds)[case])
    assert status == 0xC000
    assert kept(server.storage_dir) == []  # nor a staged file
    if isinstance(server, QRSCP):
        assert _indexed(server) == []


def test_a_sequence_and_pixel_data_of_undefined_length_pass_the_check(server, tmp_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = dataset(CT, pixel_bytes=4096)
    item = Dataset()
    item.CodeValue = '123'
    item.is_undefined_length_sequence_item = True
    ds.ReferencedImageSequence = Sequence([item])
    ds.ReferencedImageSequence.is_undefined_length = True
    whole = encoded(ds)
    assert b'\xff\xff\xff\xff' in whole  # a length the check has to follow
    with client().request_association(remote(server)) as assoc:
        assert send_raw(assoc, CT, ds.SOPInstanceUID, whole) == 0
    assert visible(server.storage_dir) == [f'{ds.SOPInstanceUID}.dcm']


def test_the_sender_reports_a_truncated_file_and_sends_the_rest(tmp_path):
    good = [dataset(CT) for _ in range(3)]
    paths = []
    for index, ds in enumerate(good):
        paths.append(write_file(tmp_path / f'{index}.dcm', ds, IMPLICIT))
    whole = paths[1].read_bytes()
    paths[1].write_bytes(whole[:-7])
    scp = ae.StorageAE(tmp_path / 'in', 'STORESCP', 0, host='127.0.0.1').add_scp(
        sc.storage_scp)
    with serving(scp), client().request_association(remote(scp)) as assoc:
        outcomes = dict(sc.store_many(assoc, paths))
    assert isinstance(outcomes[paths[1]], InvalidDataSetError)
    assert str(paths[1]) in str(outcomes[paths[1]])
    assert outcomes[paths[0]].is_success and outcomes[paths[2]].is_success
    assert sorted(visible(scp.storage_dir)) == sorted(
        f'{good[i].SOPInstanceUID}.dcm' for i in (0, 2))


# -- item 4: durable Success ------------------------------------------------------------------


def test_fsync_puts_file_and_directory_on_disk_before_the_response(tmp_path, monkeypatch):
    events: list[str] = []
    real_fsync, real_link, real_encode = os.fsync, os.link, dm.CStoreRSPMessage.encode

    def fsync(fd: int) -> None:
        events.append('fsync directory' if _is_dir(fd) else 'fsync file')
        real_fsync(fd)

    def link(src: Any, dst: Any, **kwargs: Any) -> None:
        events.append('rename')
        real_link(src, dst, **kwargs)

    def encode(self: Any, *args: Any, **kwargs: Any) -> Any:
        events.append('response')
        return real_encode(self, *args, **kwargs)

    monkeypatch.setattr(os, 'fsync', fsync)
    monkeypatch.setattr(os, 'link', link)
    monkeypatch.setattr(dm.CStoreRSPMessage, 'encode', encode)
    scp = ae.StorageAE(tmp_path, 'STORESCP', 0, host='127.0.0.1', fsync=True)
    scp.add_scp(sc.storage_scp)
    with serving(scp), client().request_association(remote(scp)) as assoc:
        assert sc.storage_scu(assoc, _ctx(assoc, CT), dataset(CT), 1).is_success
    assert events[:4] == ['fsync file', 'rename', 'fsync directory', 'response']


def _is_dir(fd: int) -> bool:
    import stat
    return stat.S_ISDIR(os.fstat(fd).st_mode)


def test_without_fsync_nothing_is_synced(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(os, 'fsync', calls.append)
    scp = ae.StorageAE(tmp_path, 'STORESCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    with serving(scp), client().request_association(remote(scp)) as assoc:
        assert sc.storage_scu(assoc, _ctx(assoc, CT), dataset(CT), 1).is_success
    assert calls == []


def test_a_value_a_file_name_cannot_be_made_of_is_refused_and_the_association_goes_on(
        tmp_path):
    """--filepath: a templated value pydicom cannot decode is C000H, not an abort."""
    scp = ae.StorageAE(tmp_path, 'STORESCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    scp.file_naming = filestorage.TemplateNaming('{Rows}/{SOPInstanceUID}.dcm', replace=True)
    ds = dataset(CT)
    odd_rows = b'\x28\x00\x10\x00\x03\x00\x00\x00abc'  # (0028,0010) US, 3 bytes: no US value
    with serving(scp), client().request_association(remote(scp)) as assoc:
        status = send_raw(assoc, CT, ds.SOPInstanceUID, encoded(ds) + odd_rows)
        good = dataset(CT, Rows=4)
        assert sc.storage_scu(assoc, _ctx(assoc, CT), good, assoc.new_message_id()).is_success
    assert status == 0xC000
    assert visible(tmp_path) == [f'4/{good.SOPInstanceUID}.dcm']
