"""Hostile peers against the protocol layers: sizes, lengths, UIDs and secrets they abuse.

One case per hardening, each against a real AE on loopback (or, for what only the reassembler
can show, against the reassembler itself):

* a command set too long to be one aborts the association (provider A-ABORT, reason 6);
* a data set kept in memory beyond the AE's ``max_data_set_in_memory`` is dropped at once,
  drained, and its request answered a failure (PS3.7 Annex C: 0213H for DIMSE-N); a C-ECHO-RQ
  with a data set, which C-ECHO has not (PS3.7 9.3.5.1), is answered 0212H, never Success;
* a full disk mid data set deletes the staged file at once: later stores on the association
  succeed;
* a peer Maximum Length below ``MIN_PEER_MAX_PDU_LENGTH`` is refused (A-ASSOCIATE-RJ 1/1/1),
  0 (unlimited, PS3.8 D.1) still works;
* an empty UID in a request is answered C000H (cannot understand), not an abort;
* the hex dump of an undecodable A-ASSOCIATE-RQ never shows the user identity's passcode.
"""

from __future__ import annotations

import errno
import logging
import random
import struct
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from aetools import (
    connect,
    dataset,
    fast,
    p_data,
    raw_associate,
    read_message,
    remote,
    serving,
)
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from ulpeer import A_RELEASE_RP, A_RELEASE_RQ, a_abort, a_associate_rj, p_data_tf

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import negotiation, pdu, pdudump, statuses, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import AssociationError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.loopback import LoopbackSCP, make_dataset, query
from pynetdicom2.userdataitems import MaximumLengthSubItem, UserIdentityNegotiationSubItem

CT = uids.CT_IMAGE_STORAGE
ECHO = uids.VERIFICATION_SOP_CLASS
IMPLICIT = uids.ImplicitVRLittleEndian
#: A private SOP class for the DIMSE-N case (the 1.2.826.0.1.3680043.8.498 root is pydicom's).
THING = '1.2.826.0.1.3680043.8.498.999.72'


def encoded(ds: Dataset) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, ds)
    return buffer.getvalue()


def echo_rq(msg_id: int, data_set: bytes | None = None) -> dm.CEchoRQMessage:
    rq = dm.CEchoRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = ECHO
    rq.data_set = data_set
    return rq


def assert_echo_works(peer: Any, pc_id: int = 1) -> None:
    """The association still serves: a C-ECHO is answered Success, then a release."""
    for p_data_bytes in p_data(echo_rq(99), pc_id):
        peer.send(p_data_bytes)
    rsp = read_message(peer)
    assert isinstance(rsp, dm.CEchoRSPMessage) and rsp.status == 0
    peer.send(A_RELEASE_RQ)
    peer.expect(A_RELEASE_RP)


# --- item 8: what is kept in memory is bounded ------------------------------------------------


def test_a_command_set_beyond_the_limit_aborts_at_once() -> None:
    """Command fragments past MAX_COMMAND_SET_LENGTH: a provider A-ABORT (reason 6, invalid
    PDU parameter value), without waiting for the rest."""
    with serving(ae.AE('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp),
                 network_timeout=30) as srv:
        peer, answer = raw_associate(srv.local_ae.port)
        with peer:
            assert answer.pdu_type == 0x02
            fragment = b'\0' * 8192
            for _ in range(dm.MAX_COMMAND_SET_LENGTH // len(fragment) + 1):
                peer.send(p_data_tf(1, 0x01, fragment))  # command, more fragments follow
            peer.expect(a_abort(2, 6), timeout=3)


def test_a_data_set_beyond_the_limit_is_dropped_as_soon_as_it_is_too_large() -> None:
    """The reassembler keeps no byte of a data set once it is past its limit, drains the rest,
    and delivers the message with storage_error (ENOMEM) for the service to answer."""
    context = PContextDef(1, THING, IMPLICIT)
    decoder = dm.DIMSEDecoder({1: context}, (), None, max_data_set_in_memory=10_000)
    rq = dm.NActionRQMessage()
    rq.message_id, rq.sop_class_uid = 1, THING
    rq.requested_sop_instance_uid, rq.action_type_id = '1.2.3', 1
    rq.data_set = bytes(40_000)
    completed = []
    for p_data_pdu in rq.encode(1, 4096):
        completed += decoder.process(p_data_pdu)
        assert sum(map(len, decoder._data_fragments)) <= 10_000
    (msg, pc_id), = completed
    assert pc_id == 1 and msg.data_set is None
    assert isinstance(msg.storage_error, OSError) and msg.storage_error.errno == errno.ENOMEM
    assert not decoder.receiving


class Thing(sc.NServiceSCP):
    """Answers every N-ACTION Success, and counts them."""

    sop_classes = [THING]

    def __init__(self) -> None:
        super().__init__()
        self.actions = 0

    def on_n_action(self, asce: Any, ctx: Any, instance: Any, action: Any, info: Any) -> Any:
        self.actions += 1
        return statuses.SUCCESS


def test_an_n_action_beyond_max_data_set_in_memory_is_refused_and_the_association_goes_on(
) -> None:
    thing = Thing()
    client = fast(ae.ClientAE('SCU')).add_scu(sc.n_action_scu, [THING])
    big, small = Dataset(), Dataset()
    big.TextValue = 'x' * 200_000
    small.TextValue = 'x'
    with serving(ae.AE('NSCP', 0, host='127.0.0.1').add_scp(thing)) as srv:
        srv.max_data_set_in_memory = 64 * 1024
        with client.request_association(remote(srv)) as assoc:
            refused = assoc.get_scu(THING)('1.2.3', 1, 1, big)
            accepted = assoc.get_scu(THING)('1.2.3', 1, 2, small)
    assert int(refused.status) == 0x0213  # PS3.7 Annex C: resource limitation
    assert accepted.status.is_success
    assert thing.actions == 1


def test_a_c_find_identifier_beyond_max_data_set_in_memory_is_not_answered_success(
    tmp_path: Path,
) -> None:
    client = fast(ae.ClientAE('SCU')).add_scu(sc.qr_find_scu)
    identifier = query('STUDY', PatientID='*')
    identifier.TextValue = 'x' * 100_000  # UT: no length limit
    with LoopbackSCP(tmp_path) as scp:
        scp.add(make_dataset(PatientID='P1'))
        scp.max_data_set_in_memory = 64 * 1024
        with client.request_association(scp.remote) as assoc:
            find = assoc.get_scu(uids.STUDY_ROOT_FIND_SOP_CLASS)
            answers = [status for _match, status in find(identifier, 1)]
            again = [status for _match, status in find(query('STUDY', PatientID='*'), 2)]
    assert len(answers) == 1 and int(answers[0]) == 0xA700  # out of resources, PS3.4 C.4.1.1.4
    assert again[-1].is_success and len(again) == 2  # one match, then Success


@pytest.mark.parametrize('size', [2, 100_000])
def test_a_c_echo_with_a_data_set_is_not_answered_success(size: int) -> None:
    """PS3.7 9.3.5.1: C-ECHO has no data set; one that brings one gets 0212H (mistyped
    argument), a large one dropped as it arrives, and the association goes on."""
    with serving(ae.AE('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)) as srv:
        srv.max_data_set_in_memory = 16 * 1024
        peer, answer = raw_associate(srv.local_ae.port)
        with peer:
            assert answer.pdu_type == 0x02
            for p_data_bytes in p_data(echo_rq(1, bytes(size)), 1, 4096):
                peer.send(p_data_bytes)
            rsp = read_message(peer)
            assert isinstance(rsp, dm.CEchoRSPMessage) and rsp.status == 0x0212
            assert_echo_works(peer)


# --- item 10: a full disk does not stay full --------------------------------------------------


class FillsUp(ae.StorageAE):
    """The disk fills up in the middle of the first data set: its second write fails."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.full_once = True

    def get_file(self, context: Any, command_set: Any) -> tuple[BinaryIO, int]:
        fp, start = super().get_file(context, command_set)
        if self.full_once:
            self.full_once = False
            write, writes = fp.write, []

            def full_disk(data: Any) -> Any:
                writes.append(len(data))
                if len(writes) > 1:
                    raise OSError(errno.ENOSPC, 'No space left on device')
                return write(data)

            fp.write = full_disk  # type: ignore[method-assign]
        return fp, start


def test_a_full_disk_deletes_the_partial_file_at_once(tmp_path: Path) -> None:
    incoming = tmp_path / 'in'
    server = FillsUp(incoming, 'SCP', 0, host='127.0.0.1', max_pdu_length=16384)
    client = fast(ae.ClientAE('SCU', supported_ts=[IMPLICIT])).add_scu(sc.storage_scu, [CT])
    first, second = dataset(pixel_bytes=100_000), dataset(pixel_bytes=100_000)
    with serving(server.add_scp(sc.storage_scp)) as srv:
        with client.request_association(remote(srv)) as assoc:
            assert int(assoc.get_scu(CT)(first, 1)) == 0xA700
            # The association is still up: the staged file went when the write failed.
            assert sorted(p.name for p in incoming.iterdir()) == []
            assert assoc.get_scu(CT)(second, 2).is_success
            assert (incoming / f'{second.SOPInstanceUID}.dcm').exists()


# --- item 12: maximum lengths, empty UIDs -----------------------------------------------------


@pytest.mark.parametrize('max_length', [12, negotiation.MIN_PEER_MAX_PDU_LENGTH - 1])
def test_a_tiny_peer_maximum_length_is_rejected(max_length: int) -> None:
    with serving(ae.AE('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)) as srv:
        peer, answer = raw_associate(srv.local_ae.port,
                                     user_items=[MaximumLengthSubItem(max_length)])
        with peer:
            assert answer.encode() == a_associate_rj(1, 1, 1)


@pytest.mark.parametrize('max_length', [0, negotiation.MIN_PEER_MAX_PDU_LENGTH])
def test_an_unlimited_or_small_enough_peer_maximum_length_works(max_length: int) -> None:
    with serving(ae.AE('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)) as srv:
        peer, answer = raw_associate(srv.local_ae.port,
                                     user_items=[MaximumLengthSubItem(max_length)])
        with peer:
            assert answer.pdu_type == 0x02
            assert_echo_works(peer)


def test_an_acceptor_announcing_a_tiny_maximum_length_is_not_used() -> None:
    proposal, roles = negotiation.select_proposal(
        [(ECHO, [IMPLICIT])], scu_classes={ECHO}, scp_classes=())
    ac = pdu.AAssociateAcPDU('SCP', 'SCU', [
        pdu.ApplicationContextItem(negotiation.APPLICATION_CONTEXT_NAME),
        pdu.PresentationContextItemAC(1, 0, pdu.TransferSyntaxSubItem(IMPLICIT)),
        pdu.UserInformationItem([MaximumLengthSubItem(12)]),
    ])
    with pytest.raises(AssociationError, match='maximum PDU length 12'):
        negotiation.read_acceptance(proposal, roles, ac)


def _element(element: int, value: bytes) -> bytes:
    if len(value) % 2:
        value += b'\0'
    return struct.pack('<HHI', 0, element, len(value)) + value


def store_command(sop_class: bytes, instance: bytes) -> bytes:
    """A C-STORE-RQ command set written by hand: our encoder leaves empty values out."""
    elements = b''.join((
        _element(0x0002, sop_class), _element(0x0100, struct.pack('<H', 0x0001)),
        _element(0x0110, struct.pack('<H', 1)), _element(0x0700, struct.pack('<H', 0)),
        _element(0x0800, struct.pack('<H', 0x0001)), _element(0x1000, instance),
    ))
    return struct.pack('<HHII', 0, 0, 4, len(elements)) + elements


@pytest.mark.parametrize('empty', ['Affected SOP Class UID', 'Affected SOP Instance UID'])
def test_an_empty_uid_is_answered_cannot_understand(tmp_path: Path, empty: str) -> None:
    ds = dataset()
    sop_class = b'' if empty == 'Affected SOP Class UID' else CT.encode()
    instance = b'' if empty == 'Affected SOP Instance UID' else ds.SOPInstanceUID.encode()
    server = ae.StorageAE(tmp_path, 'SCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    with serving(server.add_scp(sc.verification_scp)) as srv:
        peer, answer = raw_associate(srv.local_ae.port,
                                     [(1, CT, [IMPLICIT]), (3, ECHO, [IMPLICIT])])
        with peer:
            assert answer.pdu_type == 0x02
            peer.send(p_data_tf(1, 0x03, store_command(sop_class, instance)))
            peer.send(p_data_tf(1, 0x02, encoded(ds)))
            rsp = read_message(peer)
            assert isinstance(rsp, dm.CStoreRSPMessage) and rsp.status == 0xC000
            assert_echo_works(peer, pc_id=3)
    assert list(tmp_path.iterdir()) == []


# --- item 13: no secret in a dump -------------------------------------------------------------

PASSCODE = b'Tr0ub4dor&3-horse'


def malformed_rq_with_identity() -> bytes:
    """An A-ASSOCIATE-RQ with a username and passcode whose secondary field length lies, so
    that it does not decode (PS3.7 D.3.3.7.1)."""
    rq = bytearray(pdu.AAssociateRqPDU('SCP', 'RAW', [
        pdu.ApplicationContextItem(negotiation.APPLICATION_CONTEXT_NAME),
        *negotiation.presentation_context_items([(1, ECHO, IMPLICIT)]),
        pdu.UserInformationItem([
            MaximumLengthSubItem(16384),
            UserIdentityNegotiationSubItem('alice', PASSCODE, user_identity_type=2),
        ]),
    ]).encode())
    at = rq.find(PASSCODE)
    rq[at - 2:at] = struct.pack('>H', len(PASSCODE) + 40)
    with pytest.raises(pdu.PDUProcessingError):
        pdu.decode_pdu(bytes(rq))
    return bytes(rq)


def test_an_undecodable_rq_never_shows_its_passcode(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger='pynetdicom2'):
        with serving(ae.AE('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)) as srv:
            with connect(srv.local_ae.port) as peer:
                peer.send(malformed_rq_with_identity())
                assert peer.read_pdu()[:1] == b'\x07'  # A-ABORT
    text = '\n'.join(record.getMessage() for record in caplog.records)
    assert 'received an undecodable PDU' in text  # the dump was made
    for width in (4, 6):
        for start in range(len(PASSCODE) - width + 1):
            window = PASSCODE[start:start + width]
            assert window.decode() not in text, window
            assert window.hex() not in text and window.hex(' ') not in text, window


def test_no_corruption_of_an_rq_shows_its_passcode_in_the_dump() -> None:
    """Bytes changed, inserted or deleted anywhere after the fixed fields: whatever the dump's
    walk makes of the result, the passcode is never shown, and nothing raises."""
    rq = malformed_rq_with_identity()
    for seed in range(3000):
        rng = random.Random(seed)
        mutated = bytearray(rq)
        at = rng.randrange(74, len(mutated))
        change = seed % 3
        if change == 0:
            mutated[at] = rng.randrange(256)
        elif change == 1:
            mutated[at:at] = rng.randbytes(rng.randrange(1, 5))
        else:
            del mutated[at:at + rng.randrange(1, 5)]
        shown, _hidden = pdudump.redact_identity(mutated)
        assert len(shown) == len(mutated)
        assert PASSCODE[:6] not in shown and PASSCODE[-6:] not in shown, seed
