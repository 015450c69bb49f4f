"""The wire observer (tests/wireobserver.py): crafted PDUs fed to its decoder, then our own
ClientAE and AE talking through it on loopback, one request at a time."""

from __future__ import annotations

import socket
import struct

import pytest
from ulpeer import TIMEOUT
from wireobserver import ACCEPTOR, REQUESTOR, WireObserver, WireRecord

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.loopback import LoopbackClient, LoopbackSCP, make_dataset, make_study, query

C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_FIND_RQ, C_FIND_RSP = 0x0020, 0x8020
C_GET_RQ, C_GET_RSP = 0x0010, 0x8010
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
C_CANCEL_RQ = 0x0FFF
CT = '1.2.840.10008.5.1.4.1.1.2'


# --- crafting bytes, by hand (PS3.8 9.3, PS3.7 E.1) ----------------------------------------------


def element(tag_element: int, value: bytes) -> bytes:
    """An Implicit VR LE element of group 0000 (values padded to even length)."""
    if len(value) % 2:
        value += b'\0'
    return struct.pack('<HHI', 0x0000, tag_element, len(value)) + value


def command_set(field: int, message_id: int | None = None, responded_to: int | None = None,
                status: int | None = None, instance: str | None = None,
                has_dataset: bool = False) -> bytes:
    body = element(0x0002, CT.encode())
    body += element(0x0100, struct.pack('<H', field))
    if message_id is not None:
        body += element(0x0110, struct.pack('<H', message_id))
    if responded_to is not None:
        body += element(0x0120, struct.pack('<H', responded_to))
    body += element(0x0800, struct.pack('<H', 0x0000 if has_dataset else 0x0101))
    if status is not None:
        body += element(0x0900, struct.pack('<H', status))
    if instance is not None:
        body += element(0x1000, instance.encode())
    return element(0x0000, struct.pack('<I', len(body))) + body


def pdv(context_id: int, control: int, fragment: bytes) -> bytes:
    return struct.pack('>IBB', len(fragment) + 2, context_id, control) + fragment


def pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack('>BBI', pdu_type, 0, len(body)) + body


def p_data(*pdvs: bytes) -> bytes:
    return pdu(0x04, b''.join(pdvs))


def message(field: int, context_id: int = 1, **fields) -> bytes:
    """One P-DATA-TF with a whole command set in one PDV (command bit, last fragment)."""
    return p_data(pdv(context_id, 0x03, command_set(field, **fields)))


def item(item_type: int, value: bytes) -> bytes:
    return struct.pack('>BBH', item_type, 0, len(value)) + value


def associate(pdu_type: int, window: tuple[int, int] | None, extra_window: bool = False) -> bytes:
    """An A-ASSOCIATE-RQ (1) or -AC (2): fixed fields, an application context, one
    presentation context, user information with a maximum length, an implementation class
    UID and, with ``window``, the window sub-item last."""
    fixed = struct.pack('>HH16s16s32s', 1, 0, b'CALLED'.ljust(16), b'CALLING'.ljust(16),
                        bytes(32))
    application = item(0x10, b'1.2.840.10008.3.1.1.1')
    if pdu_type == 0x01:
        presentation = item(0x20, bytes((1, 0, 0, 0)) + item(0x30, CT.encode())
                            + item(0x40, b'1.2.840.10008.1.2'))
    else:
        presentation = item(0x21, bytes((1, 0, 0, 0)) + item(0x40, b'1.2.840.10008.1.2'))
    user = item(0x51, struct.pack('>I', 16384)) + item(0x52, b'1.2.3.4')
    if window is not None:
        user += item(0x53, struct.pack('>HH', *window))
        if extra_window:
            user += item(0x53, struct.pack('>HH', *window))
    return pdu(pdu_type, fixed + application + presentation + item(0x50, user))


def feed_bytewise(record: WireRecord, sender: str, data: bytes) -> None:
    for offset in range(len(data)):
        record.feed(sender, data[offset:offset + 1])


# --- the decoder, fed crafted PDUs ---------------------------------------------------------------


def test_windows_in_the_rq_and_ac():
    record = WireRecord()
    record.feed(REQUESTOR, associate(0x01, (16, 8)))
    record.feed(ACCEPTOR, associate(0x02, (1, 1)))
    assert (record.rq_seen, record.ac_seen) == (True, True)
    assert record.rq_window == (16, 8)
    assert record.ac_window == (1, 1)
    assert record.pdu_types == {REQUESTOR: [0x01], ACCEPTOR: [0x02]}
    assert not record.errors


def test_no_window_sub_item_is_none():
    record = WireRecord()
    feed_bytewise(record, REQUESTOR, associate(0x01, (0, 0)))  # 0: unlimited, still an item
    feed_bytewise(record, ACCEPTOR, associate(0x02, None))
    assert record.rq_window == (0, 0)
    assert record.ac_seen and record.ac_window is None
    assert not record.errors


def test_two_window_sub_items_are_an_error():
    record = WireRecord()
    record.feed(ACCEPTOR, associate(0x02, (2, 2), extra_window=True))
    assert record.ac_window == (2, 2)
    assert record.errors == ['A-ASSOCIATE-AC: 2 window sub-items']


def test_a_window_sub_item_of_the_wrong_length_is_an_error():
    record = WireRecord()
    bad = associate(0x02, None)
    user = item(0x53, b'\x00\x01\x00')
    bad = pdu(0x02, bad[6:] + item(0x50, user))  # a second user information item
    record.feed(ACCEPTOR, bad)
    assert record.errors and 'window sub-item of 3 bytes' in record.errors[0]


def test_requests_outstanding_until_answered():
    record = WireRecord()
    script = [
        (REQUESTOR, message(C_STORE_RQ, message_id=1, has_dataset=True)),
        (REQUESTOR, message(C_STORE_RQ, message_id=2, has_dataset=True)),
        (ACCEPTOR, message(C_STORE_RSP, responded_to=1, status=0x0000)),
        (REQUESTOR, message(C_STORE_RQ, message_id=3, has_dataset=True)),
        (REQUESTOR, message(C_STORE_RQ, message_id=4, has_dataset=True)),
        (ACCEPTOR, message(C_STORE_RSP, responded_to=3, status=0xB000)),  # out of order
        (ACCEPTOR, message(C_STORE_RSP, responded_to=2, status=0xA700)),  # a failure is final
        (ACCEPTOR, message(C_STORE_RSP, responded_to=4, status=0x0000)),
    ]
    for sender, data in script:
        record.feed(sender, data)
    assert record.max_outstanding(REQUESTOR) == 3
    assert record.max_outstanding(ACCEPTOR) == 0
    assert record.outstanding == {REQUESTOR: {}, ACCEPTOR: {}}
    assert [c.message_id for c in record.requests(REQUESTOR)] == [1, 2, 3, 4]
    assert [(c.responded_to, c.status) for c in record.responses(ACCEPTOR)] == [
        (1, 0x0000), (3, 0xB000), (2, 0xA700), (4, 0x0000)]
    assert not record.unmatched and not record.errors


def test_one_at_a_time_is_one():
    record = WireRecord()
    for number in range(1, 6):
        record.feed(REQUESTOR, message(C_ECHO_RQ, message_id=number))
        record.feed(ACCEPTOR, message(C_ECHO_RSP, responded_to=number, status=0))
    assert record.max_outstanding(REQUESTOR) == 1
    assert len(record.commands) == 10


def test_pending_responses_keep_a_request_outstanding():
    record = WireRecord()
    record.feed(REQUESTOR, message(C_FIND_RQ, message_id=7, has_dataset=True))
    record.feed(ACCEPTOR, message(C_FIND_RSP, responded_to=7, status=0xFF00, has_dataset=True))
    record.feed(ACCEPTOR, message(C_FIND_RSP, responded_to=7, status=0xFF01, has_dataset=True))
    record.feed(REQUESTOR, message(C_FIND_RQ, message_id=8, has_dataset=True))
    assert set(record.outstanding[REQUESTOR]) == {7, 8}
    assert record.max_outstanding(REQUESTOR) == 2
    record.feed(ACCEPTOR, message(C_FIND_RSP, responded_to=7, status=0x0000))
    record.feed(ACCEPTOR, message(C_FIND_RSP, responded_to=8, status=0x0000))
    assert record.outstanding[REQUESTOR] == {}
    assert record.commands[1].is_pending and not record.commands[-1].is_pending


def test_c_cancel_is_not_an_operation():
    record = WireRecord()
    record.feed(REQUESTOR, message(C_FIND_RQ, message_id=5, has_dataset=True))
    record.feed(REQUESTOR, message(C_CANCEL_RQ, responded_to=5))
    record.feed(ACCEPTOR, message(C_FIND_RSP, responded_to=5, status=0xFE00))
    assert record.max_outstanding(REQUESTOR) == 1
    cancel = record.commands[1]
    assert not cancel.is_request and not cancel.is_response
    assert record.outstanding[REQUESTOR] == {} and not record.unmatched


def test_requests_of_the_acceptor_are_counted_apart():
    """C-GET: the acceptor's C-STORE sub-operations go to the requestor while the C-GET is
    outstanding; each side's requests are its own count."""
    record = WireRecord()
    record.feed(REQUESTOR, message(C_GET_RQ, message_id=1, has_dataset=True))
    for number in (1, 2):
        record.feed(ACCEPTOR, message(C_STORE_RQ, message_id=number, has_dataset=True))
        record.feed(REQUESTOR, message(C_STORE_RSP, responded_to=number, status=0))
        record.feed(ACCEPTOR, message(C_GET_RSP, responded_to=1, status=0xFF00))
    record.feed(ACCEPTOR, message(C_GET_RSP, responded_to=1, status=0x0000))
    assert record.max_outstanding(REQUESTOR) == 1
    assert record.max_outstanding(ACCEPTOR) == 1
    assert record.outstanding == {REQUESTOR: {}, ACCEPTOR: {}}
    assert not record.unmatched and not record.errors


def test_command_fragments_data_sets_and_contexts():
    """A command set cut over several PDVs and PDUs, data-set PDVs in between (not read), and
    two contexts; fed one byte at a time."""
    record = WireRecord()
    command = command_set(C_STORE_RQ, message_id=9, instance='1.2.3.9', has_dataset=True)
    cut = [command[:10], command[10:31], command[31:]]
    stream = (
        p_data(pdv(3, 0x01, cut[0]), pdv(3, 0x01, cut[1]))
        + p_data(pdv(3, 0x03, cut[2]), pdv(3, 0x00, b'\x08\x00\x16\x00' * 100))
        + p_data(pdv(3, 0x02, b'last data fragment'))
        + message(C_ECHO_RQ, context_id=1, message_id=10)
    )
    feed_bytewise(record, REQUESTOR, stream)
    first, second = record.commands
    assert (first.context_id, first.command_field, first.message_id) == (3, C_STORE_RQ, 9)
    assert first.affected_sop_instance == '1.2.3.9'
    assert (second.context_id, second.command_field, second.message_id) == (1, C_ECHO_RQ, 10)
    assert record.max_outstanding(REQUESTOR) == 2
    assert record.pdu_types[REQUESTOR] == [0x04] * 4
    assert not record.errors


def test_responses_to_nothing_are_unmatched():
    record = WireRecord()
    record.feed(ACCEPTOR, message(C_STORE_RSP, responded_to=42, status=0))
    assert [c.responded_to for c in record.unmatched] == [42]
    assert record.max_outstanding(REQUESTOR) == 0


def test_a_reused_message_id_is_an_error():
    record = WireRecord()
    record.feed(REQUESTOR, message(C_ECHO_RQ, message_id=3))
    record.feed(REQUESTOR, message(C_ECHO_RQ, message_id=3))
    assert record.errors == ['requestor: message ID 3 reused while outstanding']


@pytest.mark.parametrize('bad, words', [
    (pdu(0x04, struct.pack('>IBB', 50, 1, 3) + b'short'), 'PDV at offset 0 claims 50 bytes'),
    (pdu(0x04, b'\x00\x00'), 'too few for a PDV header'),
    (p_data(pdv(1, 0x03, struct.pack('<HHI', 0x0008, 0x0016, 0))), 'element (0008,0016)'),
    (p_data(pdv(1, 0x03, element(0x0100, b'\x01\x00\x00\x00'))), 'of 4 bytes, not 2'),
    (pdu(0x01, b'\x00' * 10), 'shorter than its fixed fields'),
    (pdu(0x01, bytes(68) + item(0x50, b'')[:3]), 'too few for an item header'),
])
def test_malformed_input_is_an_error_not_an_exception(bad, words):
    record = WireRecord()
    record.feed(REQUESTOR, bad)
    record.feed(REQUESTOR, message(C_ECHO_RQ, message_id=1))  # no longer decoded
    record.feed(ACCEPTOR, message(C_ECHO_RQ, message_id=1))  # the other direction still is
    assert len(record.errors) == 1 and words in record.errors[0], record.errors
    assert record.errors[0].startswith('requestor: ')
    assert [c.sender for c in record.commands] == [ACCEPTOR]


def test_unknown_sender_is_refused():
    with pytest.raises(ValueError):
        WireRecord().feed('nobody', b'')


# --- live: our ClientAE and AE through the observer, one request at a time ----------------------


def test_our_client_and_storage_ae_one_at_a_time(tmp_path):
    """C-ECHO and C-STOREs on one association through the observer: one request outstanding
    at most, every response matched, no window sub-item either way, and the files arrive."""
    scp = ae.StorageAE(tmp_path / 'in', 'OBSSCP', 0, host='127.0.0.1')
    scp.add_scp(sc.verification_scp).add_scp(sc.storage_scp)
    client = ae.ClientAE('OBSSCU').add_scu(sc.verification_scu).add_scu(sc.storage_scu, [CT])
    client.dcm_timeout = client.network_timeout = TIMEOUT
    datasets = [make_dataset(PatientID=f'P{n}') for n in range(5)]
    with scp, WireObserver(('127.0.0.1', scp.local_ae.port)) as observer:
        with client.request_association(observer.remote('OBSSCP')) as assoc:
            statuses = [assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)]
            store = assoc.get_scu(CT)
            statuses += [store(ds, n) for n, ds in enumerate(datasets, 2)]
        # the release went through the observer: it has read everything before it
        assert observer.max_outstanding(REQUESTOR) == 1
    assert [s.is_success for s in statuses] == [True] * 6
    assert sorted(p.name for p in (tmp_path / 'in').iterdir()) == sorted(
        f'{ds.SOPInstanceUID}.dcm' for ds in datasets)
    assert observer.errors == []
    record = observer.association()
    assert record.rq_window is None and observer.ac_window is None
    assert observer.max_outstanding(REQUESTOR) == 1
    assert observer.max_outstanding(ACCEPTOR) == 0
    assert [c.command_field for c in record.requests(REQUESTOR)] == [C_ECHO_RQ] + [C_STORE_RQ] * 5
    assert [c.affected_sop_instance for c in record.requests(REQUESTOR)][1:] == [
        ds.SOPInstanceUID for ds in datasets]
    assert [c.status for c in record.responses(ACCEPTOR)] == [0] * 6
    assert record.outstanding == {REQUESTOR: {}, ACCEPTOR: {}} and not record.unmatched
    times = [c.at for c in record.commands]
    assert times == sorted(times) and times[0] > 0
    assert record.pdu_types[REQUESTOR][0] == 0x01 and record.pdu_types[ACCEPTOR][0] == 0x02
    assert record.pdu_types[REQUESTOR][-1] == 0x05 and record.pdu_types[ACCEPTOR][-1] == 0x06


def test_find_and_get_through_the_observer(tmp_path):
    """C-FIND (pending responses) and C-GET (the acceptor's C-STORE sub-operations) with the
    loopback PACS: one outstanding request per side at most, nothing left unanswered."""
    study = make_study(instances=3, PatientID='OBS', StudyInstanceUID='1.2.3.4.5')
    with LoopbackSCP(tmp_path / 'pacs') as pacs, \
            WireObserver(('127.0.0.1', pacs.port)) as observer:
        pacs.add(*study)
        client = LoopbackClient(observer.remote(pacs.ae_title), tmp_path / 'got')
        matches = client.find(query('STUDY', PatientID='OBS', StudyInstanceUID=''))
        got = client.get(query('STUDY', StudyInstanceUID='1.2.3.4.5'))
    assert len(matches) == 1
    assert got.num_of_completed_sub_ops == 3
    assert observer.errors == []
    find, get = observer.records
    assert [c.status for c in find.responses(ACCEPTOR)] == [0xFF00, 0x0000]
    assert (find.max_outstanding(REQUESTOR), find.max_outstanding(ACCEPTOR)) == (1, 0)
    assert (get.max_outstanding(REQUESTOR), get.max_outstanding(ACCEPTOR)) == (1, 1)
    assert len(get.requests(ACCEPTOR)) == 3
    for record in (find, get):
        assert record.outstanding == {REQUESTOR: {}, ACCEPTOR: {}} and not record.unmatched
    with pytest.raises(AssertionError, match='2 accepted associations'):
        observer.association()


def test_a_refused_connection_is_recorded():
    """Nobody behind the observer: the connection made to it is closed at once, and said."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        nobody = probe.getsockname()
    with WireObserver(nobody) as observer:
        with socket.create_connection(('127.0.0.1', observer.port), timeout=TIMEOUT) as sock:
            sock.settimeout(TIMEOUT)
            assert sock.recv(10) == b''
    assert observer.records == []
    assert len(observer.relay_errors) == 1 and 'connecting to' in observer.relay_errors[0]
