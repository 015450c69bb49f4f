"""The Q/R archive (:mod:`pynetdicom2.qrscp`) against hostile or broken peers and data.

A move destination that releases the sub-association itself (PS3.8 7.2, the collision of
Table 9-10), a C-FIND with thousands of UIDs, ``*`` keys on attributes an instance lacks,
files pydicom cannot parse, and a large folder indexed while the archive already serves.
Everything runs on 127.0.0.1 with timeouts; no test leaves a thread behind.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aetools import fast, p_data, read_message
from pydicom.datadict import DicomDictionary, tag_for_keyword
from ulpeer import A_RELEASE_RP, A_RELEASE_RQ, TIMEOUT, Listener, ScriptedPeer

import pynetdicom2
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import negotiation, pdu, qrdatabase, uids
from pynetdicom2.applicationentity import ClientAE
from pynetdicom2.exceptions import EventHandlingError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.identifiers import decode_identifier
from pynetdicom2.loopback import (
    LoopbackClient,
    make_dataset,
    make_study,
    query,
    write_dataset,
)
from pynetdicom2.qrdatabase import QRDatabase, matches
from pynetdicom2.qrscp import QRSCP
from pynetdicom2.services.retrieve import qr_move_scu
from pynetdicom2.userdataitems import MaximumLengthSubItem

# --- 11: a move destination that releases the association itself ------------------------------


def _accept_everything(rq: pdu.AAssociateRqPDU) -> bytes:
    """An A-ASSOCIATE-AC accepting every proposed context in its first transfer syntax."""
    items: list[Any] = [pdu.ApplicationContextItem(negotiation.APPLICATION_CONTEXT_NAME)]
    for item in rq.variable_items:
        if isinstance(item, pdu.PresentationContextItemRQ):
            items.append(pdu.PresentationContextItemAC(
                item.context_id, 0, pdu.TransferSyntaxSubItem(item.ts_sub_items[0].name)))
    items.append(pdu.UserInformationItem([MaximumLengthSubItem(16384)]))
    return pdu.AAssociateAcPDU(rq.called_ae_title, rq.calling_ae_title, items).encode()


def _read_until(peer: ScriptedPeer, pdu_type: int) -> None:
    """Skip P-DATA-TF PDUs (a C-STORE already under way) until one of ``pdu_type`` comes."""
    while True:
        raw = peer.read_pdu()
        if raw[0] == pdu_type:
            return
        assert raw[0] == 0x04, f'expected PDU type {pdu_type:02X}H, got {raw[:12].hex()}'


def _answer_store(peer: ScriptedPeer) -> None:
    """Read one C-STORE-RQ and answer it Success."""
    rq = read_message(peer)
    assert isinstance(rq, dm.CStoreRQMessage)
    rsp = dm.CStoreRSPMessage()
    rsp.message_id_being_responded_to = rq.message_id
    rsp.sop_class_uid = rq.sop_class_uid
    rsp.affected_sop_instance_uid = rq.affected_sop_instance_uid
    rsp.status = 0
    for raw in p_data(rsp, 1):
        peer.send(raw)


def _release_at_once(peer: ScriptedPeer) -> None:
    """The destination's A-RELEASE-RQ right after its A-ASSOCIATE-AC: we answer A-RELEASE-RP."""
    peer.send(A_RELEASE_RQ)
    _read_until(peer, 0x06)


def _release_instead_of_answering(peer: ScriptedPeer) -> None:
    """The whole C-STORE-RQ is read, then A-RELEASE-RQ instead of the C-STORE-RSP."""
    read_message(peer)
    peer.send(A_RELEASE_RQ)
    _read_until(peer, 0x06)


def _release_after_answering(peer: ScriptedPeer) -> None:
    """The C-STORE answered, then the destination's A-RELEASE-RQ: whether it arrives before
    ours goes (we answer it) or crosses it (a collision), both sides end released."""
    _answer_store(peer)
    peer.send(A_RELEASE_RQ)
    first = peer.read_pdu()
    if first[0] == 0x05:      # ours crossed it: the requester answers first (AR-9)
        peer.expect(A_RELEASE_RP)
        peer.send(A_RELEASE_RP)
    else:
        assert first == A_RELEASE_RP, first[:12].hex()


def _answer_then_release_mid_store(peer: ScriptedPeer) -> None:
    """One C-STORE answered, the next read and left unanswered: A-RELEASE-RQ instead."""
    _answer_store(peer)
    _release_instead_of_answering(peer)


def _answer_and_be_released(peer: ScriptedPeer) -> None:
    """A well-behaved destination: answer one C-STORE, then answer our release."""
    _answer_store(peer)
    _read_until(peer, 0x05)
    peer.send(A_RELEASE_RP)


def _release_collision(peer: ScriptedPeer) -> None:
    """Both ask to release (PS3.8 Table 9-10): the requester (ours) answers first (AR-9,
    Sta9 to Sta11), then the acceptor (the script) answers (Sta12, AR-4)."""
    _answer_store(peer)
    _read_until(peer, 0x05)   # our A-RELEASE-RQ ...
    peer.send(A_RELEASE_RQ)   # ... crosses the destination's
    peer.expect(A_RELEASE_RP)
    peer.send(A_RELEASE_RP)


Script = Callable[[ScriptedPeer], None]


def _scripted_destination(listener: Listener, scripts: list[Script],
                          errors: list[BaseException]) -> None:
    """Accept one association per script and play it."""
    try:
        for script in scripts:
            with listener.accept() as peer:
                rq = pdu.decode_pdu(peer.read_pdu())
                assert isinstance(rq, pdu.AAssociateRqPDU)
                peer.send(_accept_everything(rq))
                script(peer)
    except BaseException as exc:  # reported in the test's thread
        errors.append(exc)


def _move(port: int, study_uid: str) -> tuple[int, dm.CMoveRSPMessage]:
    client = fast(ClientAE('MOVESCU')).add_scu(qr_move_scu)
    remote = {'aet': 'PACS', 'address': '127.0.0.1', 'port': port}
    with client.request_association(remote) as assoc:
        move = assoc.get_scu(uids.STUDY_ROOT_MOVE_SOP_CLASS)
        responses = list(move(query('STUDY', StudyInstanceUID=study_uid), 'DEST', 1))
    status, final = responses[-1]
    return int(status), final


@pytest.mark.parametrize(('scripts', 'instances', 'expected'), [
    # Released before any C-STORE was answered: the destination refused the instances, the
    # rest fail (A702H, PS3.4 C.4.2.1.5) rather than opening association after association.
    ([_release_at_once], 2, (0xA702, 0, 2)),
    ([_release_instead_of_answering], 2, (0xA702, 0, 2)),
    # Released after answering: the unanswered one failed, the next goes on a new association.
    ([_answer_then_release_mid_store, _answer_and_be_released], 3, (0xB000, 2, 1)),
    ([_release_after_answering], 1, (0x0000, 1, 0)),
    ([_release_collision], 1, (0x0000, 1, 0)),
], ids=['at-once', 'instead-of-answering', 'mid-move', 'after-answering', 'collision'])
def test_move_destination_releases_the_sub_association(tmp_path, scripts, instances, expected):
    """PS3.8 7.2 and Table 9-10: the destination's A-RELEASE-RQ is answered with
    A-RELEASE-RP (never an A-ABORT, never left waiting), the C-MOVE ends with a defined
    status, and no thread or socket is left."""
    study = make_study(1, instances)
    (tmp_path / 'pacs').mkdir()
    for ds in study:
        write_dataset(ds, tmp_path / 'pacs')
    errors: list[BaseException] = []
    with Listener() as listener:
        scp = QRSCP(tmp_path / 'pacs', 'PACS', 0, host='127.0.0.1',
                    destinations={'DEST': listener.address})
        fast(scp)
        destination = threading.Thread(target=_scripted_destination,
                                       args=(listener, scripts, errors), name='test-destination')
        destination.start()
        try:
            with scp:
                assert scp.wait_indexed(TIMEOUT)
                status, final = _move(scp.local_ae.port, study[0].StudyInstanceUID)
        finally:
            destination.join(TIMEOUT * 2)
    assert not destination.is_alive()
    if errors:
        raise errors[0]
    assert (status, final.num_of_completed_sub_ops, final.num_of_failed_sub_ops) == expected


# --- 12 (a): thousands of UIDs in one key ------------------------------------------------------


def _remote(scp: QRSCP) -> dict[str, Any]:
    return {'aet': 'PACS', 'address': '127.0.0.1', 'port': scp.local_ae.port}


@pytest.mark.skipif(not hasattr(sqlite3.Connection, 'setlimit'), reason='Python 3.11+')
def test_find_with_more_uids_than_sqlite_has_variables(tmp_path):
    """PS3.4 C.2.2.2.2: a list of 1,500 UIDs, on an SQLite that allows 999 variables in a
    statement (as builds before 3.32 do), is answered; so is an identifier of 600 keys."""
    study = make_study(1, 3)
    (tmp_path / 'pacs').mkdir()
    for ds in study:
        write_dataset(ds, tmp_path / 'pacs')
    wanted = [f'1.2.3.{n}' for n in range(1, 1500)] + [study[1].SOPInstanceUID]
    with QRSCP(tmp_path / 'pacs', 'PACS', 0, host='127.0.0.1') as scp:
        assert scp.wait_indexed(TIMEOUT)
        # The test reaches into the index's connection to make it an old SQLite's.
        scp.db._conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        found = LoopbackClient(_remote(scp), tmp_path / 'client').find(
            query('IMAGE', StudyInstanceUID=study[0].StudyInstanceUID,
                  SeriesInstanceUID=study[0].SeriesInstanceUID,
                  SOPInstanceUID='\\'.join(wanted)))
        assert [str(answer.SOPInstanceUID) for answer in found] == [study[1].SOPInstanceUID]

        many_keys = query('IMAGE', StudyInstanceUID=study[0].StudyInstanceUID)
        text_tags = sorted(tag for tag, entry in DicomDictionary.items()
                           if entry[0] == 'LO' and tag >> 16 > 0x0008)[:600]
        for tag in text_tags:  # single value matching: before, two variables each
            many_keys.add_new(tag, 'LO', 'no such value')
        assert scp.db.paths(many_keys, 'STUDY') == []


# --- 12 (b): a lone '*' on attributes the instance lacks -----------------------------------------


def _as_received(values: dict[int, bytes]) -> Any:
    """An identifier decoded as it arrives in implicit VR little endian (PS3.5 A.1): pydicom
    keeps a '*' it would refuse to write for DA, TM, UI, IS or DS."""
    encoded = b''.join(struct.pack('<HHI', tag >> 16, tag & 0xFFFF, len(value)) + value
                       for tag, value in sorted(values.items()))
    return decode_identifier(encoded, uids.ImplicitVRLittleEndian)


@pytest.mark.filterwarnings('ignore::UserWarning')  # pydicom: '*' is no valid DA, UI, IS ...
@pytest.mark.parametrize('keyword', [
    'StudyDate', 'StudyTime', 'AcquisitionDateTime', 'StudyInstanceUID', 'SeriesNumber',
    'PatientWeight', 'PatientAge', 'InstitutionName',
])
def test_a_lone_asterisk_matches_instances_without_the_attribute(keyword):
    """PS3.4 C.2.2.2.4: ``*`` matches any value, an empty one too, which makes it universal
    matching (C.2.2.2.3): an instance without the attribute matches, whatever its VR (DA, TM,
    DT, UI and the number strings take no wildcards, but ``*`` can mean nothing else)."""
    with_it = make_dataset(PatientID='WITH', InstitutionName='X', PatientWeight=70,
                           PatientAge='042Y', AcquisitionDateTime='20240101120000')
    without = make_dataset(PatientID='WITHOUT')
    for absent in ('StudyDate', 'StudyTime', 'SeriesNumber'):
        delattr(without, absent)
    identifier = _as_received({0x00080052: b'IMAGE ', 0x00100020: b'',
                               tag_for_keyword(keyword): b'* '})
    with QRDatabase(':memory:') as db:
        for ds in (with_it, without):
            db.add(ds, f'/pacs/{ds.SOPInstanceUID}.dcm')
        found = sorted(str(answer.PatientID) for answer in db.find(identifier, 'PATIENT'))
    assert found == ['WITH', 'WITHOUT']
    assert matches(identifier, without) and matches(identifier, with_it)


# --- 12 (c): files pydicom cannot parse ---------------------------------------------------------


def _element(tag: int, vr: bytes, value: bytes) -> bytes:
    """An explicit VR little endian element (PS3.5 7.1.2) with a 2-byte length field."""
    return struct.pack('<HH2sH', tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def _without_sop_instance_uid(data: bytes) -> bytes:
    """The Part-10 file ``data`` without its (0008,0018) element (the file meta keeps it)."""
    at = data.index(b'\x08\x00\x18\x00UI')
    (length,) = struct.unpack_from('<H', data, at + 6)
    return data[:at] + data[at + 8 + length:]


@pytest.mark.filterwarnings('ignore::UserWarning')  # pydicom on the files it half reads
def test_unparseable_files_are_skipped_or_refused(tmp_path, caplog):
    """A value pydicom cannot decode (US of 3 bytes) leaves that attribute out of the index,
    a file that is not DICOM or has no SOP Instance UID is skipped with a warning: the
    archive starts and indexes the rest (the first stopped it). A received data set that
    cannot be indexed is refused (C000H, PS3.4 B.2.3) rather than filed unfindable."""
    folder = tmp_path / 'pacs'
    folder.mkdir()
    good, odd = make_study(1, 2, PatientID='P1')
    write_dataset(good, folder)
    odd_path = write_dataset(odd, tmp_path)
    odd_bytes = odd_path.read_bytes() + _element(0x00280010, b'US', b'\x01\x02\x03')
    (folder / odd_path.name).write_bytes(odd_bytes)
    bad = {'garbage.dcm': b'\0' * 128 + b'DICM' + b'\xff' * 300,
           'cut.dcm': odd_bytes[:150],
           'notes.dcm': b'not DICOM at all',
           'no-uid.dcm': _without_sop_instance_uid(odd_bytes)}
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    caplog.set_level(logging.WARNING, logger='pynetdicom2')
    with QRSCP(folder, 'PACS', 0, host='127.0.0.1') as scp:
        assert scp.wait_indexed(TIMEOUT)
        client = LoopbackClient(_remote(scp), tmp_path / 'client')
        found = client.find(query('IMAGE', PatientID='P1', SOPInstanceUID='', Rows=''))
        assert sorted(str(a.SOPInstanceUID) for a in found) == sorted(
            [good.SOPInstanceUID, odd.SOPInstanceUID])
        skipped = {r.getMessage().split(': ')[1] for r in caplog.records
                   if r.getMessage().startswith('not indexed')}
        assert skipped == {str((folder / name).resolve()) for name in bad}

        context = PContextDef(1, uids.CT_IMAGE_STORAGE, uids.ExplicitVRLittleEndian)
        assert scp.on_receive_store(context, odd_bytes).is_success
        with pytest.raises(EventHandlingError, match='cannot be indexed'):
            scp.on_receive_store(context, bad['no-uid.dcm'])


# --- 14: serving while a large folder is indexed ------------------------------------------------

_UID_ROOT = '1.2.826.0.1.3680043.8.498.77.'


def _many_files(folder: Path, count: int) -> list[str]:
    """``count`` tiny Part-10 files of one series: one written, the others copies with the
    SOP Instance UID patched (all UIDs the same length). Their UIDs, in file-name order."""
    folder.mkdir()
    first = f'{_UID_ROOT}{100000}'
    data = write_dataset(make_study(1, 1, SOPInstanceUID=first)[0], folder).read_bytes()
    made = [first]
    for number in range(100001, 100000 + count):
        uid = f'{_UID_ROOT}{number}'
        (folder / f'{uid}.dcm').write_bytes(data.replace(first.encode(), uid.encode()))
        made.append(uid)
    return made


def test_answers_at_once_while_a_large_folder_is_indexed(tmp_path, monkeypatch):
    """3,000 files, the indexing held after 1,000 of them: the archive is built and answers
    C-ECHO at once (it used to accept connections and leave them silent for the whole
    scan), C-FIND answers from what is indexed so far, and once the scan ends, from all."""
    uids_on_disk = _many_files(tmp_path / 'pacs', 3000)
    held, release = threading.Event(), threading.Event()
    read = qrdatabase.read_header
    calls = iter(range(1, 10**6))

    def slow_read(source: Any) -> Any:
        if next(calls) == 1000:
            held.set()
            release.wait(TIMEOUT)
        return read(source)

    monkeypatch.setattr(qrdatabase, 'read_header', slow_read)
    first_and_last = query('IMAGE', SOPInstanceUID=f'{uids_on_disk[0]}\\{uids_on_disk[-1]}')
    scp = None
    with ThreadPoolExecutor(1) as pool:
        starting = pool.submit(QRSCP, tmp_path / 'pacs', 'PACS', 0, host='127.0.0.1')
        try:
            assert held.wait(TIMEOUT)
            scp = starting.result(timeout=2.0)  # not waiting for the scan
            with scp:
                begin = time.monotonic()
                assert pynetdicom2.verify('SCU', _remote(scp)).is_success
                assert time.monotonic() - begin < 2.0
                assert scp.indexing and 0 < len(scp.db) < 1000
                client = LoopbackClient(_remote(scp), tmp_path / 'client')
                partial = client.find(first_and_last, uids.PATIENT_ROOT_FIND_SOP_CLASS)
                assert [str(a.SOPInstanceUID) for a in partial] == [uids_on_disk[0]]
                release.set()
                assert scp.wait_indexed(TIMEOUT)
                assert len(scp.db) == 3000
                found = client.find(first_and_last, uids.PATIENT_ROOT_FIND_SOP_CLASS)
                assert sorted(str(a.SOPInstanceUID) for a in found) == [uids_on_disk[0],
                                                                       uids_on_disk[-1]]
        finally:
            release.set()
            if scp is not None:
                scp.quit()
