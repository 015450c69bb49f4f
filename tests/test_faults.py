"""Faults: peers that vanish, abort, stall or never speak; a disk that fills up.

Each fault is injected against a ``StorageAE`` (a scripted raw-socket peer as requester) or
against our ``ClientAE`` (a scripted peer, or our own SCP with a hook that holds back). In
every case the user gets a clear exception or status, within the configured timeout, no
partial (``.part``) file stays in the storage directory, every association thread ends, and
the server still stores the next data set it is sent.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from aetools import dataset, p_data, raw_associate, rq_pdu
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from ulpeer import Listener, a_abort

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.exceptions import (
    AssociationAbortedError,
    DCMTimeoutError,
    NetDICOMError,
)

CT = uids.CT_IMAGE_STORAGE
IMPLICIT = uids.ImplicitVRLittleEndian
#: The server's ARTIM, DIMSE and network timeouts in these tests.
SHORT = 1.0
#: Whatever should happen after a timeout of SHORT happens within this.
BOUND = SHORT * 4 + 2


def make_server(directory: Path, cls: type[ae.StorageAE] = ae.StorageAE) -> ae.StorageAE:
    server = cls(directory, 'FAULTSCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    server.add_scp(sc.verification_scp)
    server.artim_timeout = server.network_timeout = server.dcm_timeout = SHORT
    return server


def make_client(timeout: float = SHORT) -> ae.ClientAE:
    client = ae.ClientAE('FAULTSCU', supported_ts=[IMPLICIT]).add_scu(sc.storage_scu, [CT])
    client.add_scu(sc.verification_scu)
    client.artim_timeout = client.dcm_timeout = client.network_timeout = timeout
    client.connect_timeout = timeout
    return client


def remote(port: int) -> dict[str, Any]:
    return {'aet': 'FAULTSCP', 'address': '127.0.0.1', 'port': port}


def store_pdus(size: int = 40_000, max_pdu: int = 4096) -> tuple[str, list[bytes]]:
    """A C-STORE-RQ of a data set of about ``size`` bytes as P-DATA-TF PDUs (context 1)."""
    ds = dataset(pixel_bytes=size)
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, ds)
    rq = dm.CStoreRQMessage()
    rq.message_id = 1
    rq.sop_class_uid = CT
    rq.affected_sop_instance_uid = ds.SOPInstanceUID
    rq.priority = dm.PRIORITY_MEDIUM
    rq.data_set = buffer.getvalue()
    return ds.SOPInstanceUID, p_data(rq, 1, max_pdu)


def wait_idle(server: ae.StorageAE) -> None:
    """Every association of ``server`` has ended (within BOUND)."""
    for thread in list(server.server._association_threads):
        thread.join(BOUND)
    assert server.server.association_count() == 0


def assert_nothing_stored(directory: Path) -> None:
    left = sorted(path.name for path in directory.iterdir())
    assert not left, f'files left in the storage directory: {left}'


def assert_still_stores(server: ae.StorageAE) -> None:
    """A real association still stores a data set, and only that file appears."""
    before = set(Path(server.storage_dir).iterdir())
    ds = dataset(pixel_bytes=4096)
    with make_client(5.0).request_association(remote(server.local_ae.port)) as assoc:
        assert assoc.get_scu(CT)(ds, 7).is_success
    wait_idle(server)
    added = {path.name for path in set(Path(server.storage_dir).iterdir()) - before}
    assert added == {f'{ds.SOPInstanceUID}.dcm'}


def read_until_closed(sock: socket.socket, bound: float = BOUND) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    started = time.monotonic()
    sock.settimeout(bound)
    received = b''
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        except socket.timeout:
            raise AssertionError(f'the server kept the connection open for {bound} s') from None
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


# --- the requester misbehaves; our StorageAE must clean up ---------------------------------------


@pytest.mark.parametrize('how', ['disconnect mid-PDV', 'disconnect between PDUs', 'A-ABORT'])
def test_requester_vanishes_mid_data_set(tmp_path: Path, how: str) -> None:
    """The requester sends part of a data set, then closes the socket (in the middle of a
    PDV, or between two PDUs) or sends an A-ABORT: the association ends, the staged file is
    deleted, nothing is stored, and the server stores the next data set."""
    server = make_server(tmp_path / 'in')
    _, pdus = store_pdus()
    assert len(pdus) > 6
    with server:
        peer, answer = raw_associate(server.local_ae.port, [(1, CT, [IMPLICIT])],
                                     called='FAULTSCP')
        with peer:
            assert answer.pdu_type == 0x02
            peer.send(b''.join(pdus[:4]))
            if how == 'disconnect mid-PDV':
                peer.send(pdus[4][: len(pdus[4]) // 2])
            if how == 'A-ABORT':
                peer.send(a_abort(0, 0))
            else:
                peer.sock.shutdown(socket.SHUT_WR)
            _, took = read_until_closed(peer.sock)
        wait_idle(server)
        assert took < BOUND
        assert_nothing_stored(tmp_path / 'in')
        assert_still_stores(server)


def test_connects_and_never_speaks(tmp_path: Path) -> None:
    """A connection that sends nothing is closed when ARTIM expires."""
    server = make_server(tmp_path / 'in')
    with server:
        with socket.create_connection(('127.0.0.1', server.local_ae.port), timeout=5) as sock:
            received, took = read_until_closed(sock)
        assert received == b''
        assert SHORT * 0.5 < took < BOUND, took
        wait_idle(server)
        assert_still_stores(server)


def test_stalls_inside_the_association_request(tmp_path: Path) -> None:
    """Half an A-ASSOCIATE-RQ, then silence: ARTIM closes the connection."""
    server = make_server(tmp_path / 'in')
    with server:
        with socket.create_connection(('127.0.0.1', server.local_ae.port), timeout=5) as sock:
            rq = rq_pdu([(1, CT, [IMPLICIT])], called='FAULTSCP')
            sock.sendall(rq[: len(rq) // 2])
            _, took = read_until_closed(sock)
        assert took < BOUND
        wait_idle(server)
        assert_still_stores(server)


@pytest.mark.parametrize('where', ['idle', 'mid-data-set'])
def test_stall_past_network_timeout(tmp_path: Path, where: str) -> None:
    """An established association goes quiet (idle, or in the middle of a data set): the
    server aborts it after network_timeout (A-ABORT), deletes the staged file, and carries on."""
    server = make_server(tmp_path / 'in')
    _, pdus = store_pdus()
    with server:
        peer, answer = raw_associate(server.local_ae.port, [(1, CT, [IMPLICIT])],
                                     called='FAULTSCP')
        with peer:
            assert answer.pdu_type == 0x02
            if where == 'mid-data-set':
                peer.send(b''.join(pdus[:3]))
            received, took = read_until_closed(peer.sock)
        assert received[:1] == b'\x07', f'expected an A-ABORT, got {received[:16].hex()}'
        assert SHORT * 0.5 < took < BOUND, took
        wait_idle(server)
        assert_nothing_stored(tmp_path / 'in')
        assert_still_stores(server)


class _FullDisk(ae.StorageAE):
    """get_file raises OSError (disk full) for every other data set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0

    def get_file(self, context: Any, command_set: Any) -> tuple[BinaryIO, int]:
        with self.lock:
            self.calls += 1
            full = self.calls % 2 == 1
        if full:
            raise OSError(28, 'No space left on device')
        return super().get_file(context, command_set)


def test_get_file_oserror_is_a700_and_the_association_carries_on(tmp_path: Path) -> None:
    """get_file raises OSError on every other data set: those get 0xA700, the others are
    stored, all on one association; no partial file."""
    server = make_server(tmp_path / 'in', _FullDisk)
    sent = [dataset(pixel_bytes=20_000) for _ in range(6)]
    with server:
        with make_client(5.0).request_association(remote(server.local_ae.port)) as assoc:
            codes = [int(assoc.get_scu(CT)(ds, n + 1)) for n, ds in enumerate(sent)]
            assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(9).is_success
        wait_idle(server)
    assert codes == [0xA700, 0, 0xA700, 0, 0xA700, 0]
    stored = sorted(path.name for path in (tmp_path / 'in').iterdir())
    assert stored == sorted(f'{ds.SOPInstanceUID}.dcm' for ds in sent[1::2])


# --- the acceptor misbehaves; our ClientAE must give up cleanly ----------------------------------


def _request(client: ae.ClientAE, port: int, ds: Any = None) -> str:
    with client.request_association(remote(port)) as assoc:
        if ds is not None:
            assoc.get_scu(CT)(ds, 1)
    return 'completed'


def test_acceptor_accepts_connection_and_never_answers() -> None:
    """The acceptor takes the TCP connection and never answers the A-ASSOCIATE-RQ: the
    client raises a NetDICOMError within ARTIM (+ connect timeout)."""
    client = make_client()
    with Listener() as listener, ThreadPoolExecutor(1, thread_name_prefix='fault') as pool:
        started = time.monotonic()
        attempt = pool.submit(_request, client, listener.address[1])
        with listener.accept() as peer:
            assert peer.read_pdu()[0] == 0x01
            with pytest.raises(NetDICOMError):
                attempt.result(timeout=BOUND * 2)
        took = time.monotonic() - started
    assert took < BOUND * 2, took


def test_acceptor_stalls_past_dimse_timeout(tmp_path: Path) -> None:
    """The SCP receives the data set but holds its answer: the client raises DCMTimeoutError
    after dcm_timeout and aborts; the server ends the association without a partial file."""
    release = threading.Event()

    class Slow(ae.StorageAE):
        def on_receive_store(self, context: Any, ds: Any) -> Any:
            release.wait(BOUND * 2)
            return super().on_receive_store(context, ds)

    server = make_server(tmp_path / 'in', Slow)
    server.network_timeout = 30
    client = make_client()
    try:
        with server:
            started = time.monotonic()
            with pytest.raises(DCMTimeoutError):
                _request(client, server.local_ae.port, dataset(pixel_bytes=4096))
            assert time.monotonic() - started < BOUND
            release.set()
            wait_idle(server)
    finally:
        release.set()
    assert not [p for p in (tmp_path / 'in').iterdir() if p.name.endswith('.part')]


def test_acceptor_aborts_mid_data_set() -> None:
    """The acceptor A-ABORTs while our client is sending a large data set: the client gets
    AssociationAbortedError, promptly, and no thread is left."""
    client = make_client(5.0)
    client.max_pdu_length = 4096
    big = dataset(pixel_bytes=2_000_000)
    server = ae.AE('FAULTSCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    # The AC comes from a real AE; the scripted peer forwards it, then aborts.
    with Listener() as listener, ThreadPoolExecutor(1, thread_name_prefix='fault') as pool:
        attempt = pool.submit(_request, client, listener.address[1], big)
        with listener.accept() as peer:
            rq = peer.read_pdu()
            with server:
                with socket.create_connection(('127.0.0.1', server.local_ae.port),
                                              timeout=5) as relay:
                    relay.sendall(rq)
                    ac, _ = read_one_pdu(relay)
                    relay.sendall(a_abort(0, 0))
            assert ac[0] == 0x02, ac[:16].hex()
            peer.send(ac)
            peer.read_pdu()  # the first P-DATA-TF of the C-STORE
            peer.send(a_abort(2, 0))
            with pytest.raises(AssociationAbortedError):
                attempt.result(timeout=BOUND)


def read_one_pdu(sock: socket.socket) -> tuple[bytes, bool]:
    header = b''
    while len(header) < 6:
        chunk = sock.recv(6 - len(header))
        if not chunk:
            return header, True
        header += chunk
    length = int.from_bytes(header[2:6], 'big')
    body = b''
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return header + body, True
        body += chunk
    return header + body, False
