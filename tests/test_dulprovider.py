"""The DUL service provider over real loopback sockets, against a scripted raw-socket peer.

Every test asserts the exact bytes the provider puts on the wire (A-ABORT, A-RELEASE, ...
written out byte by byte in ``ulpeer``), the indications it hands up and, through the fixtures,
that no thread and no socket outlives the test. ARTIM is a fraction of a second here.
"""

from __future__ import annotations

import collections
import contextlib
import io
import itertools
import os
import shutil
import socket
import struct
import subprocess
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from ulpeer import (
    A_RELEASE_RP,
    A_RELEASE_RQ,
    TIMEOUT,
    Listener,
    ScriptedPeer,
    a_abort,
    a_associate_rj,
    p_data_tf,
)

from pynetdicom2 import dimsemessages, pdu
from pynetdicom2.dulprovider import DULServiceProvider
from pynetdicom2.exceptions import DCMTimeoutError, NetDICOMError
from pynetdicom2.fsm import PContextDef, States

VERIFICATION = '1.2.840.10008.1.1'
CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2'
IMPLICIT_LE = '1.2.840.10008.1.2'
CONTEXTS = {
    1: PContextDef(1, VERIFICATION, IMPLICIT_LE),
    3: PContextDef(3, CT_IMAGE_STORAGE, IMPLICIT_LE),
}
ARTIM = 0.3  # seconds: short, so that expiry tests stay fast


def _items() -> list[Any]:
    return [pdu.ApplicationContextItem('1.2.840.10008.3.1.1.1')]


RQ = pdu.AAssociateRqPDU('ACCEPTOR', 'REQUESTOR', _items())
AC = pdu.AAssociateAcPDU('ACCEPTOR', 'REQUESTOR', _items())


def _echo_rq(message_id: int = 1) -> dimsemessages.CEchoRQMessage:
    msg = dimsemessages.CEchoRQMessage()
    msg.message_id = message_id
    msg.sop_class_uid = VERIFICATION
    return msg


def _echo_rsp(message_id: int = 1) -> dimsemessages.CEchoRSPMessage:
    msg = dimsemessages.CEchoRSPMessage()
    msg.message_id_being_responded_to = message_id
    msg.sop_class_uid = VERIFICATION
    msg.status = 0
    return msg


def _wire(msg: dimsemessages.DIMSEMessage, pc_id: int = 1, max_pdu: int = 16384) -> bytes:
    return b''.join(p.encode() for p in msg.encode(pc_id, max_pdu))


def _store_rq(data_set: bytes) -> dimsemessages.CStoreRQMessage:
    msg = dimsemessages.CStoreRQMessage()
    msg.message_id = 9
    msg.sop_class_uid = CT_IMAGE_STORAGE
    msg.affected_sop_instance_uid = '1.2.3.4'
    msg.priority = 0
    msg.data_set = data_set
    return msg


def _open_sockets() -> int | None:
    fd_dir = '/proc/self/fd'
    if not os.path.isdir(fd_dir):
        return None
    count = 0
    for name in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            if os.readlink(os.path.join(fd_dir, name)).startswith('socket:'):
                count += 1
    return count


@pytest.fixture(autouse=True)
def _no_socket_left() -> Iterator[None]:
    """Every socket a test (or a provider) opens is closed when the test ends."""
    before = _open_sockets()
    yield
    if before is not None:
        assert _open_sockets() == before, 'a socket was left open'


@contextlib.contextmanager
def acceptor(**kwargs: Any) -> Iterator[tuple[ScriptedPeer, DULServiceProvider]]:
    """A started acceptor-side provider and the scripted requestor talking to it."""
    kwargs.setdefault('artim_timeout', 10)
    peer, accepted = ScriptedPeer.pair()
    dul = DULServiceProvider(
        kwargs.pop('store_in_file', set()), kwargs.pop('get_file_cb', None), accepted, **kwargs
    )
    dul.start()
    try:
        yield peer, dul
    finally:
        assert dul.kill(), 'the provider did not end'
        peer.close()


@contextlib.contextmanager
def established_acceptor(**kwargs: Any) -> Iterator[tuple[ScriptedPeer, DULServiceProvider]]:
    with acceptor(**kwargs) as (peer, dul):
        peer.send(RQ.encode())
        assert dul.receive(TIMEOUT) == RQ
        assert dul.state is States.STA_3
        dul.accepted_contexts = CONTEXTS
        dul.send(AC)
        assert peer.read_pdu() == AC.encode()
        assert dul.state is States.STA_6
        yield peer, dul


@contextlib.contextmanager
def requestor(**kwargs: Any) -> Iterator[tuple[ScriptedPeer, DULServiceProvider]]:
    """A requestor-side provider that connected to the scripted acceptor and sent its RQ."""
    with Listener() as listener:
        dul = DULServiceProvider(set(), None, called_address=listener.address, **kwargs)
        try:
            dul.send(RQ)
            with listener.accept() as peer:
                assert peer.read_pdu() == RQ.encode()
                assert dul.state is States.STA_5
                yield peer, dul
        finally:
            assert dul.kill(), 'the provider did not end'


@contextlib.contextmanager
def established_requestor(**kwargs: Any) -> Iterator[tuple[ScriptedPeer, DULServiceProvider]]:
    with requestor(**kwargs) as (peer, dul):
        peer.send(AC.encode())
        assert dul.receive(TIMEOUT) == AC
        dul.accepted_contexts = CONTEXTS
        assert dul.state is States.STA_6
        yield peer, dul


def _assert_ended(dul: DULServiceProvider) -> None:
    dul.join(TIMEOUT)
    assert not dul.is_alive()
    assert dul.state is States.STA_1
    with pytest.raises(NetDICOMError, match='association is over'):
        dul.receive(TIMEOUT)


# --- normal life cycles ----------------------------------------------------------------------


def test_acceptor_association_data_and_release() -> None:
    with established_acceptor() as (peer, dul):
        assert dul.name.startswith('pynetdicom2-dul-127.0.0.1:')
        assert dul.dul_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        peer.send(_wire(_echo_rq(5)))
        msg, pc_id = dul.receive(TIMEOUT)
        assert isinstance(msg, dimsemessages.CEchoRQMessage) and msg.message_id == 5
        assert pc_id == 1
        dul.send(_echo_rsp(5).encode(1, 16384))
        assert peer.read_pdu() == _wire(_echo_rsp(5))
        peer.send(A_RELEASE_RQ)
        assert dul.receive(TIMEOUT) == pdu.AReleaseRqPDU()
        assert dul.state is States.STA_8
        dul.send(pdu.AReleaseRpPDU())
        peer.expect(A_RELEASE_RP)
        assert dul.state is States.STA_13
        peer.close()  # the requestor closes the transport: Evt17, AR-5
        _assert_ended(dul)


def test_requestor_association_data_and_release() -> None:
    with established_requestor() as (peer, dul):
        assert dul.is_acceptor is False
        dul.send(_echo_rq(2).encode(1, 16384))
        assert peer.read_pdu() == _wire(_echo_rq(2))
        peer.send(_wire(_echo_rsp(2)))
        msg, pc_id = dul.receive(TIMEOUT)
        assert isinstance(msg, dimsemessages.CEchoRSPMessage) and pc_id == 1
        dul.send(pdu.AReleaseRqPDU())
        peer.expect(A_RELEASE_RQ)
        assert dul.state is States.STA_7
        peer.send(A_RELEASE_RP)
        assert dul.receive(TIMEOUT) == pdu.AReleaseRpPDU()
        peer.expect_closed()  # AR-3 closes the transport
        _assert_ended(dul)


def test_requestor_rejected() -> None:
    with requestor() as (peer, dul):
        peer.send(a_associate_rj(1, 1, 7))
        assert dul.receive(TIMEOUT) == pdu.AAssociateRjPDU(1, 1, 7)
        peer.expect_closed()  # AE-4
        _assert_ended(dul)


def test_acceptor_rejects() -> None:
    with acceptor(artim_timeout=TIMEOUT) as (peer, dul):
        peer.send(RQ.encode())
        dul.receive(TIMEOUT)
        dul.send(pdu.AAssociateRjPDU(2, 3, 1))
        peer.expect(a_associate_rj(2, 3, 1))
        assert dul.state is States.STA_13  # AE-8: waiting for the requestor to close
        peer.close()
        _assert_ended(dul)


def test_protocol_version_without_bit_0_is_rejected_by_the_provider() -> None:
    with acceptor() as (peer, dul):
        peer.send(pdu.AAssociateRqPDU('A', 'B', _items(), protocol_version=2).encode())
        peer.expect(a_associate_rj(1, 2, 2))
        peer.close()
        _assert_ended(dul)


def test_release_collision_as_requestor() -> None:
    with established_requestor() as (peer, dul):
        dul.send(pdu.AReleaseRqPDU())
        peer.expect(A_RELEASE_RQ)
        peer.send(A_RELEASE_RQ)  # the acceptor asked too: AR-8
        assert dul.receive(TIMEOUT) == pdu.AReleaseRqPDU()
        assert dul.state is States.STA_9
        dul.send(pdu.AReleaseRpPDU())  # AR-9
        peer.expect(A_RELEASE_RP)
        assert dul.state is States.STA_11
        peer.send(A_RELEASE_RP)
        assert dul.receive(TIMEOUT) == pdu.AReleaseRpPDU()  # AR-3
        peer.expect_closed()
        _assert_ended(dul)


def test_release_collision_as_acceptor() -> None:
    with established_acceptor() as (peer, dul):
        dul.send(pdu.AReleaseRqPDU())
        peer.expect(A_RELEASE_RQ)
        peer.send(A_RELEASE_RQ)  # AR-8, acceptor side
        assert dul.receive(TIMEOUT) == pdu.AReleaseRqPDU()
        assert dul.state is States.STA_10
        with pytest.raises(NetDICOMError, match='EVT_14.*STA_10'):
            dul.send(pdu.AReleaseRpPDU())  # the acceptor answers only after the peer's RP
        peer.send(A_RELEASE_RP)
        assert dul.receive(TIMEOUT) == pdu.AReleaseRpPDU()  # AR-10
        assert dul.state is States.STA_12
        dul.send(pdu.AReleaseRpPDU())  # AR-4
        peer.expect(A_RELEASE_RP)
        assert dul.state is States.STA_13
        peer.close()
        _assert_ended(dul)


# --- ARTIM -----------------------------------------------------------------------------------


def test_artim_expiry_in_sta2_drops_a_silent_peer() -> None:
    with acceptor(artim_timeout=ARTIM) as (peer, dul):
        peer.expect_closed()  # a health check that never speaks: AE-5, Evt18, AA-2
        _assert_ended(dul)


def test_artim_expiry_in_sta13_closes_when_the_peer_does_not() -> None:
    with established_acceptor(artim_timeout=ARTIM) as (peer, dul):
        peer.send(A_RELEASE_RQ)
        dul.receive(TIMEOUT)
        dul.send(pdu.AReleaseRpPDU())
        peer.expect(A_RELEASE_RP)
        peer.expect_closed()  # the peer keeps the connection open; ARTIM ends it (AA-2)
        _assert_ended(dul)


def test_artim_after_an_abort_in_sta13() -> None:
    with established_acceptor(artim_timeout=ARTIM) as (peer, dul):
        dul.send(pdu.AAbortPDU(0, 0))
        peer.expect(a_abort(0, 0))
        peer.send(A_RELEASE_RQ)  # ignored in Sta13 (AA-6)
        peer.expect_closed()
        _assert_ended(dul)


# --- malformed and unexpected PDUs -----------------------------------------------------------

# An A-ASSOCIATE-RQ carrying a variable item of unknown type 99H: PDUProcessingError, reason 4.
_RQ_WITH_UNKNOWN_ITEM = (
    RQ.encode()[:2]
    + struct.pack('>I', len(RQ.encode()) - 6 + 4)
    + RQ.encode()[6:]
    + b'\x99\x00\x00\x00'
)
# A P-DATA-TF whose PDV item length overruns the PDU: invalid PDU parameter value, reason 6.
_BAD_P_DATA = bytes.fromhex('04 00 00000008 000000ff 01 03 00 00')


@pytest.mark.parametrize(
    'garbage',
    [_RQ_WITH_UNKNOWN_ITEM, _BAD_P_DATA, bytes.fromhex('0a 00 00000002 0000')],
    ids=['undecodable-rq', 'bad-p-data', 'unknown-type'],
)
def test_malformed_pdu_in_sta2_is_aa_1(garbage: bytes) -> None:
    with acceptor() as (peer, dul):
        peer.send(garbage)
        # PS3.8 Table 9-10, Evt19 (or Evt10) in Sta2: AA-1, an A-ABORT of the service-user
        # source whose reason 'shall not be significant' (sent as 00H, PS3.8 9.3.8).
        peer.expect(a_abort(0, 0))
        assert dul.state is States.STA_13
        peer.close()
        _assert_ended(dul)


@pytest.mark.parametrize(
    'garbage, reason',
    [
        (_BAD_P_DATA, 6),
        (bytes.fromhex('0a 00 00000002 0000'), 1),  # unrecognised PDU type
        (bytes.fromhex('07 00 00000005 0000000000'), 6),  # A-ABORT of the wrong length
    ],
    ids=['bad-p-data', 'unknown-type', 'bad-abort'],
)
def test_malformed_pdu_in_sta5_is_aa_8(garbage: bytes, reason: int) -> None:
    with requestor() as (peer, dul):
        peer.send(garbage)
        peer.expect(a_abort(2, reason))
        assert dul.receive(TIMEOUT) == pdu.AAbortPDU(2, reason)  # A-P-ABORT indication
        assert dul.state is States.STA_13
        peer.close()
        _assert_ended(dul)


@pytest.mark.parametrize(
    'garbage, reason',
    [
        (_BAD_P_DATA, 6),
        (_RQ_WITH_UNKNOWN_ITEM, 4),
        (bytes.fromhex('0a 00 00000002 0000'), 1),
        (RQ.encode(), 2),  # valid, but unexpected in Sta6
        (p_data_tf(1, 0x02, b'data before any command'), 6),  # malformed DIMSE
        (p_data_tf(9, 0x03, b'\0\0'), 6),  # a context that was never accepted
    ],
    ids=['bad-p-data', 'undecodable-rq', 'unknown-type', 'unexpected-rq', 'dimse', 'context'],
)
def test_malformed_pdu_in_sta6_is_aa_8(garbage: bytes, reason: int) -> None:
    with established_acceptor(artim_timeout=ARTIM) as (peer, dul):
        peer.send(garbage)
        peer.expect(a_abort(2, reason))
        assert dul.receive(TIMEOUT) == pdu.AAbortPDU(2, reason)
        assert dul.state is States.STA_13
        peer.expect_closed()  # the peer stays: ARTIM closes (Sta13, Evt18, AA-2)
        _assert_ended(dul)


def test_malformed_pdu_in_sta7_is_aa_8() -> None:
    with established_requestor() as (peer, dul):
        dul.send(pdu.AReleaseRqPDU())
        peer.expect(A_RELEASE_RQ)
        assert dul.state is States.STA_7
        peer.send(_BAD_P_DATA)
        peer.expect(a_abort(2, 6))
        assert dul.receive(TIMEOUT) == pdu.AAbortPDU(2, 6)
        peer.close()
        _assert_ended(dul)


def test_invalid_pdu_in_sta13_is_aa_7() -> None:
    with established_acceptor() as (peer, dul):
        dul.send(pdu.AAbortPDU(0, 0))
        peer.expect(a_abort(0, 0))
        peer.send(RQ.encode())  # Evt6 in Sta13: AA-7
        peer.expect(a_abort(2, 2))
        peer.close()
        _assert_ended(dul)


@pytest.mark.parametrize('pdu_type', [0x01, 0x04, 0x07])
def test_a_header_announcing_4_gib_is_refused_without_allocating(pdu_type: int) -> None:
    with established_acceptor(artim_timeout=ARTIM) as (peer, dul):
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            peer.send(bytes((pdu_type, 0)) + b'\xff\xff\xff\xff' + b'\0' * 64)
            peer.expect(a_abort(2, 6))  # invalid PDU parameter value (the PDU-length)
            assert dul.receive(TIMEOUT) == pdu.AAbortPDU(2, 6)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak - before < 4 * 1024 * 1024, f'{peak - before} bytes allocated'
        peer.send(b'\0' * 100_000)  # the rest of the stream is read and dropped
        peer.expect_closed()
        _assert_ended(dul)


def test_a_header_announcing_4_gib_in_sta2_is_aa_1() -> None:
    with acceptor() as (peer, dul):
        peer.send(b'\x01\x00\xff\xff\xff\xff')
        peer.expect(a_abort(0, 0))
        peer.close()
        _assert_ended(dul)


def test_p_data_above_our_maximum_length_is_refused() -> None:
    with established_acceptor(max_pdu_length=16384, artim_timeout=ARTIM) as (peer, dul):
        peer.send(struct.pack('>BBI', 4, 0, 16384 + 6 + 1))
        peer.expect(a_abort(2, 6))
        assert dul.receive(TIMEOUT) == pdu.AAbortPDU(2, 6)
        peer.close()
        _assert_ended(dul)


# --- aborts and lost transports --------------------------------------------------------------


@pytest.mark.parametrize('source', [0, 2])
def test_peer_abort(source: int) -> None:
    with established_acceptor() as (peer, dul):
        peer.send(a_abort(source, 0 if source == 0 else 5))
        assert dul.receive(TIMEOUT) == pdu.AAbortPDU(source, 0 if source == 0 else 5)  # AA-3
        peer.expect_closed()
        _assert_ended(dul)


def test_peer_closes_during_data_transfer() -> None:
    with established_requestor() as (peer, dul):
        peer.close()
        assert dul.receive(TIMEOUT) == pdu.AAbortPDU(2, 0)  # AA-4: A-P-ABORT indication
        _assert_ended(dul)


def test_peer_resets_during_data_transfer() -> None:
    with established_requestor() as (peer, dul):
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        peer.close()  # RST
        assert dul.receive(TIMEOUT) == pdu.AAbortPDU(2, 0)
        _assert_ended(dul)


def test_peer_closes_in_sta2() -> None:
    with acceptor() as (peer, dul):
        peer.close()  # AA-5: no association, no indication
        _assert_ended(dul)


def test_connection_refused() -> None:
    with socket.socket() as unused:
        unused.bind(('127.0.0.1', 0))
        address = unused.getsockname()  # bound, never listening: refused
        dul = DULServiceProvider(set(), None, called_address=address, connect_timeout=TIMEOUT)
        dul.send(RQ)
        assert dul.receive(TIMEOUT) == pdu.AAbortPDU(2, 0)  # AE-1 failed: Evt17, AA-4
        assert isinstance(dul.transport_error, ConnectionRefusedError)
        _assert_ended(dul)


def test_no_called_address() -> None:
    dul = DULServiceProvider(set(), None)
    with pytest.raises(NetDICOMError, match='called presentation address'):
        dul.create_socket()
    dul.send(RQ)
    assert dul.receive(TIMEOUT) == pdu.AAbortPDU(2, 0)
    assert isinstance(dul.transport_error, NetDICOMError)
    _assert_ended(dul)


def test_user_abort() -> None:
    with established_requestor(artim_timeout=TIMEOUT) as (peer, dul):
        dul.send(pdu.AAbortPDU(0, 0))
        peer.expect(a_abort(0, 0))  # AA-1
        assert dul.state is States.STA_13
        peer.close()
        _assert_ended(dul)


def test_kill_aborts_an_established_association() -> None:
    with established_acceptor() as (peer, dul):
        assert dul.kill()
        peer.expect(a_abort(0, 0))
        peer.expect_closed()
        assert not dul.is_alive()


def test_kill_wakes_an_idle_provider_at_once() -> None:
    with acceptor(artim_timeout=60) as (peer, dul):
        assert dul.kill(timeout=TIMEOUT)
        peer.expect_closed()


def test_stop_sends_what_was_queued_then_aborts_and_waits_for_the_close() -> None:
    with established_acceptor(artim_timeout=TIMEOUT) as (peer, dul):
        dul.send(_echo_rsp(3).encode(1, 16384))
        stopper = threading.Thread(target=dul.stop, name='test-stopper')
        stopper.start()
        assert peer.read_pdu() == _wire(_echo_rsp(3))
        peer.expect(a_abort(0, 0))
        peer.close()  # Sta13: the stop ends when the peer closes
        stopper.join(TIMEOUT)
        assert not stopper.is_alive() and not dul.is_alive()


def test_a_sender_far_ahead_of_the_peer_waits_for_room(monkeypatch) -> None:
    """A service producing messages faster than the peer reads them (a C-FIND with many
    matches) is held once a few hundred are queued, and goes on as the peer reads: memory
    stays bounded, and the peer's next request (a C-CANCEL-RQ) is read early."""
    import pynetdicom2.dulprovider as dulprovider

    count = 1000
    with established_acceptor() as (peer, dul):
        waiting = threading.Event()
        original = dul._wait_for_room

        def noting() -> None:
            waiting.set()
            original()

        monkeypatch.setattr(dul, '_wait_for_room', noting)
        sent: list[int] = []
        message = _store_rq(bytes(65536))

        def produce() -> None:
            for _ in range(count):
                dul.send(message.encode(1, 16384))
                sent.append(1)

        producer = threading.Thread(target=produce, name='test-producer')
        producer.start()
        assert waiting.wait(TIMEOUT)  # the peer reads nothing yet: the sender is held
        # held with a full queue, far from all of it (socket buffers take some tens more)
        assert len(sent) < count
        assert dul._unfinished > dulprovider._QUEUE_LOW
        decoder = dimsemessages.DIMSEDecoder(CONTEXTS, (), None)
        received = 0
        while received < count:
            received += len(list(decoder.process(pdu.decode_pdu(peer.read_pdu()))))
        producer.join(TIMEOUT)
        assert not producer.is_alive() and len(sent) == count


def test_kill_before_start_releases_the_socket() -> None:
    peer, accepted = ScriptedPeer.pair()
    with peer:
        dul = DULServiceProvider(set(), None, accepted)
        assert dul.kill()
        peer.expect_closed()
        with pytest.raises(NetDICOMError):
            dul.send(RQ)


# --- the service-user interface --------------------------------------------------------------


def test_illegal_primitive_raises_naming_event_and_state() -> None:
    with acceptor() as (_peer, dul):
        with pytest.raises(NetDICOMError, match='EVT_9.*STA_2'):
            dul.send(_echo_rq().encode(1, 16384))
        with pytest.raises(NetDICOMError, match='EVT_11.*STA_2'):
            dul.send(pdu.AReleaseRqPDU())
        with pytest.raises(NetDICOMError, match='cannot send'):
            dul.send(42)


def test_receive_times_out() -> None:
    with established_acceptor() as (_peer, dul):
        with pytest.raises(DCMTimeoutError, match='STA_6'):
            dul.receive(0.05)


def test_send_after_the_end_raises() -> None:
    with established_requestor() as (peer, dul):
        peer.close()
        dul.receive(TIMEOUT)
        dul.join(TIMEOUT)
        with pytest.raises(NetDICOMError, match='over'):
            dul.send(pdu.AReleaseRqPDU())


def test_many_messages_in_one_burst_arrive_in_order() -> None:
    with established_acceptor() as (peer, dul):
        peer.send(b''.join(_wire(_echo_rq(n)) for n in range(1, 201)))
        ids = [dul.receive(TIMEOUT)[0].message_id for _ in range(200)]
        assert ids == list(range(1, 201))


def test_a_pdu_larger_than_the_receive_ring() -> None:
    data_set = bytes(range(256)) * 4096  # 1 MiB in one P-DATA-TF
    with established_acceptor(max_pdu_length=0) as (peer, dul):
        peer.send(_wire(_store_rq(data_set), pc_id=3, max_pdu=0))
        msg, pc_id = dul.receive(TIMEOUT)
        assert pc_id == 3 and bytes(msg.data_set) == data_set


def test_fragmented_data_set_streams_into_the_file() -> None:
    files: list[io.BytesIO] = []

    def get_file(context: PContextDef, command_set: Any) -> tuple[io.BytesIO, int]:
        assert context == CONTEXTS[3]
        files.append(io.BytesIO())
        return files[-1], 0

    data_set = os.urandom(300_000)
    with established_acceptor(store_in_file={CT_IMAGE_STORAGE}, get_file_cb=get_file) as (
        peer,
        dul,
    ):
        peer.send(_wire(_store_rq(data_set), pc_id=3, max_pdu=4096))
        msg, _ = dul.receive(TIMEOUT)
        assert msg.data_set is files[0] and files[0].getvalue() == data_set


def test_storage_error_is_not_a_protocol_error() -> None:
    def get_file(context: PContextDef, command_set: Any) -> Any:
        raise OSError(28, 'No space left on device')

    with established_acceptor(store_in_file={CT_IMAGE_STORAGE}, get_file_cb=get_file) as (
        peer,
        dul,
    ):
        peer.send(_wire(_store_rq(bytes(50_000)), pc_id=3, max_pdu=4096))
        msg, _ = dul.receive(TIMEOUT)
        assert msg.data_set is None and isinstance(msg.storage_error, OSError)
        assert dul.state is States.STA_6  # the association carries on (answer 0xA700)
        peer.send(_wire(_echo_rq(4)))
        assert dul.receive(TIMEOUT)[0].message_id == 4


def test_a_failing_p_data_iterator_aborts_the_association() -> None:
    def broken() -> Iterator[pdu.PDataTfPDU]:
        yield from _echo_rq().encode(1, 16384)
        raise OSError('the data set file went away')

    with established_requestor(artim_timeout=TIMEOUT) as (peer, dul):
        dul.send(broken())
        assert peer.read_pdu() == _wire(_echo_rq())
        peer.expect(a_abort(0, 0))
        assert dul.receive(TIMEOUT) == pdu.AAbortPDU(2, 0)
        peer.close()
        _assert_ended(dul)


def test_an_abort_discards_the_p_data_still_queued() -> None:
    def endless() -> Iterator[pdu.PDataTfPDU]:
        while True:
            yield pdu.PDataTfPDU([pdu.PresentationDataValueItem(1, b'\x00' + bytes(16000))])

    with established_requestor(artim_timeout=TIMEOUT) as (peer, dul):
        stream = endless()
        dul.send(stream)
        dul.send(pdu.AAbortPDU(0, 0))
        # Read until the A-ABORT shows up after some P-DATA: the stream is cut short.
        while True:
            raw = peer.read_pdu()
            if raw[0] != 0x04:
                break
        assert raw == a_abort(0, 0)
        assert stream.gi_frame is None  # closed (e.g. its data-set file) before the abort went
        peer.close()
        _assert_ended(dul)


def test_both_sides_sending_large_data_sets_do_not_deadlock() -> None:
    size = 8 * 1024 * 1024  # more than both sockets' buffers together
    with established_acceptor(max_pdu_length=0) as (peer, dul):
        outgoing = _wire(_store_rq(bytes(size)), pc_id=3, max_pdu=65536)
        writer = threading.Thread(target=peer.send, args=(outgoing,), name='test-writer')
        writer.start()
        dul.send(_store_rq(bytes(size)).encode(3, 65536))  # at the same time, towards the peer
        received = 0
        while received < len(outgoing):
            received += len(peer.read_pdu())
        writer.join(TIMEOUT)
        assert not writer.is_alive()
        msg, _ = dul.receive(TIMEOUT)
        assert len(msg.data_set) == size


def test_a_pdu_read_while_a_write_waits_is_handed_up_at_once() -> None:
    # The peer speaks while our provider waits to write a data set the peer has not read
    # yet, then falls silent: what the wait read must still reach receive(). (While the
    # data set streams, the loop drains it anyway; the loop's check of unprocessed PDUs
    # covers the case where the wait reads during the very last flush, which this test
    # cannot force.)
    size = 8 * 1024 * 1024  # more than both sockets' buffers together
    with established_acceptor(max_pdu_length=0) as (peer, dul):
        outgoing = _store_rq(bytes(size)).encode(3, 65536)
        dul.send(outgoing)
        peer.sock.settimeout(TIMEOUT)
        assert peer.sock.recv(1, socket.MSG_PEEK)  # the write has begun; it will soon wait
        peer.send(_wire(_echo_rq(7)))
        received, expected = 0, len(_wire(_store_rq(bytes(size)), pc_id=3, max_pdu=65536))
        while received < expected:
            received += len(peer.read_pdu())
        msg, pc_id = dul.receive(TIMEOUT)
        assert (type(msg), msg.message_id, pc_id) == (dimsemessages.CEchoRQMessage, 7, 1)


def test_a_p_data_iterator_may_reuse_its_buffer() -> None:
    # Payloads that are not bytes are copied when queued: the zero-copy gather path must not
    # send what the iterator wrote into the same buffer afterwards.
    def reusing() -> Iterator[pdu.PDataTfPDU]:
        buffer = bytearray(8193)
        for index in range(40):
            buffer[:] = bytes([0x02 if index == 39 else 0x00]) + bytes([index]) * 8192
            yield pdu.PDataTfPDU([pdu.PresentationDataValueItem(3, buffer)])

    with established_requestor() as (peer, dul):
        dul.send(reusing())
        for index in range(40):
            control = 0x02 if index == 39 else 0x00
            assert peer.read_pdu() == p_data_tf(3, control, bytes([index]) * 8192)


def test_gathered_p_data_on_the_wire_is_what_encode_gives() -> None:
    pdus = [
        pdu.PDataTfPDU([pdu.PresentationDataValueItem(3, bytes([n % 2 * 2]) + os.urandom(n))])
        for n in (1, 5000, 70_000, 16384)
    ]
    pdus.append(pdu.PDataTfPDU([
        pdu.PresentationDataValueItem(1, b'\x03' + os.urandom(30)),
        pdu.PresentationDataValueItem(3, memoryview(b'\x02' + os.urandom(300))),
    ]))
    with established_requestor() as (peer, dul):
        dul.send(iter(pdus))
        for p_data in pdus:
            assert peer.read_pdu() == p_data.encode()


def test_a_subclass_overriding_write_sees_every_pdu() -> None:
    written: list[bytes] = []

    class Recording(DULServiceProvider):
        def write(self, data: bytes | bytearray | memoryview) -> None:
            written.append(bytes(data))
            super().write(data)

    with Listener() as listener:
        dul = Recording(set(), None, called_address=listener.address)
        try:
            dul.send(RQ)
            with listener.accept() as peer:
                assert peer.read_pdu() == RQ.encode()
                peer.send(AC.encode())
                assert dul.receive(TIMEOUT) == AC
                dul.accepted_contexts = CONTEXTS
                dul.send(_echo_rq().encode(1, 16384))
                assert peer.read_pdu() == _wire(_echo_rq())
        finally:
            assert dul.kill()
    assert written[:2] == [RQ.encode(), _wire(_echo_rq())]


def test_the_framer_grows_its_ring_for_a_stream_and_cuts_every_pdu() -> None:
    from pynetdicom2 import framing

    sizes = [10, 16_396, 70_000, 6, 300_000, 16_396, 1] * 12
    pdus = [bytes([4, 0]) + struct.pack('>I', size) + os.urandom(size) for size in sizes]
    stream = memoryview(b''.join(pdus))
    out: collections.deque[Any] = collections.deque()
    framer = framing.Framer(1 << 20, 1 << 20, out)
    assert len(framer._ring) == framing.RING_SIZE
    while stream:
        target = framer.target()  # as a socket with plenty to give: fill what is offered
        count = min(len(target), len(stream))
        target[:count] = stream[:count]
        stream = stream[count:]
        framer.advance(count)
    assert [bytes(item) for item in out] == pdus
    assert len(framer._ring) == framing.RING_MAX


def test_start_is_idempotent_and_receive_starts_the_thread() -> None:
    peer, accepted = ScriptedPeer.pair()
    with peer:
        dul = DULServiceProvider(set(), None, accepted, artim_timeout=TIMEOUT)
        peer.send(RQ.encode())
        assert dul.receive(TIMEOUT) == RQ
        dul.start()
        assert dul.kill()


def _endless_p_data(reached: threading.Event) -> Iterator[pdu.PDataTfPDU]:
    """P-DATA-TFs of 64 KiB forever; ``reached`` is set once a few of them were taken."""
    payload = b'\x00' + bytes(65536)
    for count in itertools.count():
        if count == 3:
            reached.set()
        yield pdu.PDataTfPDU([pdu.PresentationDataValueItem(3, payload)])


@contextlib.contextmanager
def _stalled_peer() -> Iterator[tuple[ScriptedPeer, DULServiceProvider]]:
    """An established association whose peer never reads, with small socket buffers."""
    with established_acceptor() as (peer, dul):
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        dul.dul_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        reached = threading.Event()
        dul.send(_endless_p_data(reached))
        assert reached.wait(TIMEOUT)  # the provider is writing, and soon blocked
        yield peer, dul


def test_kill_abandons_a_write_the_peer_never_reads() -> None:
    with _stalled_peer() as (_peer, dul):
        assert dul.kill()
        assert not dul.is_alive()


def test_stop_falls_back_to_kill_when_the_peer_never_reads() -> None:
    with _stalled_peer() as (_peer, dul):
        assert dul.stop(timeout=0.2)
        assert not dul.is_alive()


# --- TLS: a subclass overrides create_socket(); the acceptor runs over a wrapped socket -------


@pytest.fixture(scope='module')
def tls_contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    ssl = pytest.importorskip('ssl')
    openssl = shutil.which('openssl')
    if openssl is None:
        pytest.skip('openssl is needed to make a test certificate')
    folder = tmp_path_factory.mktemp('tls')
    key, cert = folder / 'key.pem', folder / 'cert.pem'
    subprocess.run(
        [openssl, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj',
         '/CN=localhost', '-keyout', str(key), '-out', str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cert)
    return server, client


class _TLSProvider(DULServiceProvider):
    """What ssl_ae's SSLDULProvider does: connect, then wrap (one positional argument)."""

    def __init__(self, context: Any, *args: Any, **kwargs: Any) -> None:
        self.context = context
        super().__init__(*args, **kwargs)

    def create_socket(self) -> socket.socket:
        raw = super().create_socket()
        try:
            return self.context.wrap_socket(raw, server_hostname='localhost')
        except OSError:
            raw.close()
            raise


def test_association_over_tls(tls_contexts: tuple[Any, Any]) -> None:
    server_context, client_context = tls_contexts
    data_set = os.urandom(200_000)
    with Listener() as listener:
        requestor = _TLSProvider(
            client_context, set(), None, called_address=listener.address, max_pdu_length=0
        )
        requestor.send(RQ)
        raw, _ = listener.sock.accept()
        raw.settimeout(TIMEOUT)
        try:
            wrapped = server_context.wrap_socket(raw, server_side=True)
        except OSError:
            raw.close()
            requestor.kill()
            raise
        acceptor = DULServiceProvider(set(), None, wrapped, max_pdu_length=0)
        acceptor.start()
        try:
            assert acceptor.receive(TIMEOUT) == RQ
            acceptor.accepted_contexts = CONTEXTS
            acceptor.send(AC)
            assert requestor.receive(TIMEOUT) == AC
            requestor.accepted_contexts = CONTEXTS
            requestor.send(_store_rq(data_set).encode(3, 16384))
            msg, pc_id = acceptor.receive(TIMEOUT)
            assert pc_id == 3 and bytes(msg.data_set) == data_set
            requestor.send(pdu.AReleaseRqPDU())
            assert acceptor.receive(TIMEOUT) == pdu.AReleaseRqPDU()
            acceptor.send(pdu.AReleaseRpPDU())
            assert requestor.receive(TIMEOUT) == pdu.AReleaseRpPDU()
            _assert_ended(requestor)
            _assert_ended(acceptor)
        finally:
            requestor.kill()
            acceptor.kill()


def test_the_framer_never_writes_over_p_data_views_until_released() -> None:
    from pynetdicom2 import framing

    # P-DATA-TFs come out as views of the ring; other PDUs as copies of their own.
    sizes = [16_396, 6, 40_000, 16_396, 10] * 40
    kinds = [4, 4, 5, 4, 7] * 40
    pdus = [bytes([kind, 0]) + struct.pack('>I', size) + os.urandom(size)
            for kind, size in zip(kinds, sizes)]
    stream = memoryview(b''.join(pdus))
    out: collections.deque[Any] = collections.deque()
    framer = framing.Framer(1 << 20, 1 << 20, out)
    held: list[Any] = []
    rings = set()
    reads = 0
    while stream:
        target = framer.target()
        count = min(len(target), len(stream), 50_000)  # a socket giving 50 kB at a time
        target[:count] = stream[:count]
        stream = stream[count:]
        framer.advance(count)
        rings.add(id(framer._ring))
        reads += 1
        if reads % 3 == 0:  # the DUL handled everything queued: copy it out, release
            for item in out:  # (until then, queued PDUs stay intact through more reads)
                assert type(item) is (memoryview if item[0] == 4 else bytearray)
                held.append(bytes(item))
            out.clear()
            framer.release()
    held.extend(bytes(item) for item in out)
    assert held == pdus
    # Released views let the ring be reused; held ones moved us to a fresh ring now and then.
    assert 1 < len(rings) < reads


def test_an_acceptor_over_a_unix_socketpair() -> None:
    """Any connected stream socket carries the upper layer, not only TCP (PS3.8 9.1 leaves the
    transport to the service provider): a socketpair has no host:port to name a thread by."""
    ours, theirs = socket.socketpair()
    theirs.settimeout(TIMEOUT)
    with ScriptedPeer(theirs) as peer:
        dul = DULServiceProvider(set(), None, ours, artim_timeout=10)
        assert dul.name.startswith('pynetdicom2-dul-')
        dul.start()
        try:
            peer.send(RQ.encode())
            assert dul.receive(TIMEOUT) == RQ
            dul.accepted_contexts = CONTEXTS
            dul.send(AC)
            assert peer.read_pdu() == AC.encode()
            peer.send(_wire(_echo_rq(5)))
            msg, pc_id = dul.receive(TIMEOUT)
            assert (msg.message_id, pc_id) == (5, 1)
            dul.send(_echo_rsp(5).encode(1, 16384))
            assert peer.read_pdu() == _wire(_echo_rsp(5))
            peer.send(A_RELEASE_RQ)
            assert isinstance(dul.receive(TIMEOUT), pdu.AReleaseRqPDU)
            dul.send(pdu.AReleaseRpPDU())
            peer.expect(A_RELEASE_RP)
        finally:
            assert dul.kill(), 'the provider did not end'
