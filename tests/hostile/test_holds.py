"""Hostile peers: what already held, kept as a compact regression suite.

Small, fast, representative cases (the thorough ones live in tests/test_faults.py,
tests/test_live_fuzz.py and tests/test_ssl_ae.py):

* a C-STORE whose UIDs would climb out of the storage folder stores nothing and is refused;
* a flood of connections that send garbage leaves the server serving;
* a peer dying in the middle of a data set leaves no staged (``.part``) file;
* a TLS server that requires a client certificate refuses a client without one, and serves on;
* a presentation context with an even ID (PS3.8 9.3.2.2: IDs are odd, 1-255) is answered
  "no reason" (provider rejection, PS3.8 Table 9-18), and a PDV that uses it aborts.
"""

from __future__ import annotations

import random
import socket
import ssl
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aetools import dataset, fast, p_data, raw_associate, read_message, remote, serving
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from tlsutil import PKI, make_pki
from ulpeer import TIMEOUT, a_abort

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import sopclass as sc
from pynetdicom2 import ssl_ae, statuses, uids
from pynetdicom2.exceptions import AssociationError

CT = uids.CT_IMAGE_STORAGE
ECHO = uids.VERIFICATION_SOP_CLASS
IMPLICIT = uids.ImplicitVRLittleEndian


def storage_server(directory: Path) -> ae.StorageAE:
    server = ae.StorageAE(directory, 'SCP', 0, host='127.0.0.1', max_pdu_length=16384)
    return server.add_scp(sc.storage_scp).add_scp(sc.verification_scp)


def store_rq(ds: Any, instance: str, msg_id: int = 1) -> dm.CStoreRQMessage:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, ds)
    rq = dm.CStoreRQMessage()
    rq.message_id, rq.priority = msg_id, dm.PRIORITY_MEDIUM
    rq.sop_class_uid, rq.affected_sop_instance_uid = CT, instance
    rq.data_set = buffer.getvalue()
    return rq


def echo_succeeds(server: ae.AE) -> bool:
    client = fast(ae.ClientAE('SCU')).add_scu(sc.verification_scu)
    with client.request_association(remote(server)) as assoc:
        return bool(assoc.get_scu(ECHO)(1).is_success)


def wait_idle(server: ae.AE) -> None:
    """Every association of ``server`` has ended."""
    for thread in list(server.server._association_threads):
        thread.join(TIMEOUT)
    assert server.server.association_count() == 0


def files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob('*') if path.is_file())


@pytest.mark.filterwarnings('ignore:Invalid value for VR UI')
@pytest.mark.parametrize('instance', ['../x', '1.2/../3', '..', '/tmp/x'])
def test_a_uid_that_climbs_out_of_the_folder_stores_nothing(tmp_path: Path, instance: str) -> None:
    incoming = tmp_path / 'deep' / 'in'
    ds = dataset(SOPInstanceUID=instance)
    with serving(storage_server(incoming)) as srv:
        peer, answer = raw_associate(srv.local_ae.port, [(1, CT, [IMPLICIT])], called='SCP')
        with peer:
            assert answer.pdu_type == 0x02
            for raw in p_data(store_rq(ds, instance)):
                peer.send(raw)
            rsp = read_message(peer)
        wait_idle(srv)
    assert statuses.Status(rsp.status, dm.CStoreRSPMessage).is_failure
    assert files_under(tmp_path) == []


def _garbage(seed: int) -> bytes:
    rng = random.Random(seed)
    kinds = [
        bytes([rng.randrange(0x08, 0x100)]) + rng.randbytes(rng.randrange(0, 300)),  # no PDU
        b'\x01\x00\xff\xff\xff\xff' + rng.randbytes(64),   # an A-ASSOCIATE-RQ of 4 GiB
        b'\x04\x00\x00\x00\x00\x08' + rng.randbytes(8),    # P-DATA-TF before any association
        b'\x07\x00\x00\x00\x00\x04' + rng.randbytes(4),    # an A-ABORT as first words
    ]
    return kinds[seed % len(kinds)]


def _send_garbage(port: int, seed: int) -> bytes:
    """Send garbage; return the server's first answer (an A-ABORT, or nothing: closed)."""
    with socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT) as sock:
        try:
            sock.sendall(_garbage(seed))
            # One read: after an A-ABORT the server waits for us to close (PS3.8 Sta13).
            return sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return b''


def test_a_flood_of_garbage_connections_leaves_the_server_serving(tmp_path: Path) -> None:
    with serving(storage_server(tmp_path)) as srv:
        with ThreadPoolExecutor(8, thread_name_prefix='flood') as pool:
            answers = list(pool.map(lambda seed: _send_garbage(srv.local_ae.port, seed),
                                    range(200)))
        assert {answer[:1] for answer in answers} <= {b'\x07', b''}  # aborts, or closed
        wait_idle(srv)
        assert echo_succeeds(srv)


def test_a_peer_dying_mid_data_set_leaves_no_partial_file(tmp_path: Path) -> None:
    ds = dataset(pixel_bytes=60_000)
    pdus = p_data(store_rq(ds, ds.SOPInstanceUID), 1, 4096)
    with serving(storage_server(tmp_path)) as srv:
        peer, answer = raw_associate(srv.local_ae.port, [(1, CT, [IMPLICIT])], called='SCP')
        with peer:
            assert answer.pdu_type == 0x02
            peer.send(b''.join(pdus[:4]))
            # Linger 0: closing sends a reset, the peer is gone at once.
            peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        wait_idle(srv)  # the reset ended it
        assert files_under(tmp_path) == []
        assert echo_succeeds(srv)


@pytest.fixture(scope='module')
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp('pki'))


def test_tls_refuses_a_client_without_a_certificate(pki: PKI) -> None:
    context = ssl_ae.server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
    server = ssl_ae.SSLApplicationEntity(context, 'TLSSCP', 0, host='127.0.0.1')

    def tls_echo(client_context: ssl.SSLContext) -> bool:
        client = fast(ssl_ae.SSLClientAE(client_context, 'TLSSCU'))
        with client.add_scu(sc.verification_scu).request_association(remote(srv)) as assoc:
            return bool(assoc.get_scu(ECHO)(1).is_success)

    with serving(server.add_scp(sc.verification_scp)) as srv:
        with pytest.raises(AssociationError):
            tls_echo(ssl_ae.client_context(pki.ca_cert))
        assert tls_echo(ssl_ae.client_context(pki.ca_cert, pki.client_cert, pki.client_key))


def test_an_even_presentation_context_id_is_refused_and_never_usable() -> None:
    with serving(ae.AE('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)) as srv:
        peer, answer = raw_associate(
            srv.local_ae.port, [(2, ECHO, [IMPLICIT]), (1, ECHO, [IMPLICIT])]
        )
        with peer:
            results = {item.context_id: item.result_reason for item in answer.variable_items
                       if hasattr(item, 'result_reason')}
            assert results == {2: 2, 1: 0}  # 2: no reason (provider rejection)
            rq = dm.CEchoRQMessage()
            rq.message_id, rq.sop_class_uid = 1, ECHO
            for raw in p_data(rq, 2):
                peer.send(raw)
            peer.expect(a_abort(2, 6))

