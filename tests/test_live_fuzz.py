"""A live fuzzer: mutated PDUs sent to a running AE over loopback; it must survive them all.

Each case opens a connection to a ``StorageAE`` (ARTIM and network timeouts of 1 s) and
plays a mutated conversation, built from valid PDUs: an A-ASSOCIATE-RQ, then (once accepted)
C-ECHO and C-STORE P-DATA-TFs and an A-RELEASE-RQ. Mutations: bit flips, truncations, wrong
PDU lengths, inserted and dropped bytes, garbage PDUs, PDUs in the wrong state (an AC, RJ,
RP or second RQ sent to an acceptor, P-DATA before the association), and stalls (the client
stops mid-PDU and waits for the server to give up: ARTIM or the network timeout).

Checked: after every batch (``BATCH`` cases) a real association (C-ECHO and a C-STORE)
still succeeds and its file is on disk; no exception escapes into the library's error log
(a codec that raised anything but PDUProcessingError would show up here as 'decoding a PDU
failed'); stalled connections are closed by the server within its timeouts; at the end every
association thread has ended, the thread count is back at its baseline and RSS grew by less
than ``RSS_BOUND``.

The other direction: our ``ClientAE`` requests associations from a peer that answers with a
mutated A-ASSOCIATE-AC, C-ECHO-RSP or A-RELEASE-RP (``CASES / 20`` cases): only a
NetDICOMError may reach the user, within the client's timeouts, and no thread is left.

Budget: ``PYNETDICOM2_FUZZ_CASES`` cases (default 2,000, about 25 s on two cores) with
``PYNETDICOM2_FUZZ_SEED`` (default random, printed, so a failure can be replayed). A longer
run::

    PYNETDICOM2_FUZZ_CASES=20000 .venv/bin/python -m pytest -q -s tests/test_live_fuzz.py
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import random
import socket
import struct
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aetools import dataset, p_data, raw_associate, rq_pdu
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from ulpeer import Listener

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.userdataitems import MaximumLengthSubItem, UserIdentityNegotiationSubItem

CASES = int(os.environ.get('PYNETDICOM2_FUZZ_CASES', '2000'))
SEED = int(os.environ.get('PYNETDICOM2_FUZZ_SEED', str(random.SystemRandom().randrange(1 << 32))))
#: A real association must succeed after every BATCH cases.
BATCH = 250
#: Concurrent fuzzing connections (most of a case is waiting, not computing).
WORKERS = 16
#: How long a case waits for the server's answer before moving on (and closing).
READ_WAIT = 0.25
#: The server's ARTIM and network timeouts.
SERVER_TIMEOUT = 1.0
#: A stalled connection must be closed by the server within this.
STALL_BOUND = SERVER_TIMEOUT * 4 + 2
#: Bound on RSS growth over the whole run.
RSS_BOUND = 150 * 1024 * 1024

ECHO = uids.VERIFICATION_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE
IMPLICIT = uids.ImplicitVRLittleEndian
_HEADER = struct.Struct('>BBI')


# --- valid material -------------------------------------------------------------------------------


def _rq(identity: bool = False) -> bytes:
    user: list[Any] = [MaximumLengthSubItem(16384)]
    if identity:
        user.append(UserIdentityNegotiationSubItem('fuzz', 'secret', 2, positive_response_req=1))
    return rq_pdu([(1, ECHO, [IMPLICIT]), (3, CT, [IMPLICIT])], user, called='FUZZSCP')


def _echo(message_id: int) -> list[bytes]:
    rq = dm.CEchoRQMessage()
    rq.message_id = message_id
    rq.sop_class_uid = ECHO
    return p_data(rq, 1)


def _store(message_id: int) -> list[bytes]:
    ds = dataset(pixel_bytes=3000)
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, ds)
    rq = dm.CStoreRQMessage()
    rq.message_id = message_id
    rq.sop_class_uid = CT
    rq.affected_sop_instance_uid = ds.SOPInstanceUID
    rq.priority = dm.PRIORITY_MEDIUM
    rq.data_set = buffer.getvalue()
    return p_data(rq, 3, 1024)


RELEASE_RQ = bytes.fromhex('05 00 00000004 00000000')
WRONG_STATE = [
    bytes.fromhex('02 00 00000044') + bytes(68),  # an A-ASSOCIATE-AC sent to the acceptor
    bytes.fromhex('03 00 00000004 00 01 01 01'),  # A-ASSOCIATE-RJ
    bytes.fromhex('06 00 00000004 00000000'),  # A-RELEASE-RP without a request
    bytes.fromhex('07 00 00000004 0000 0000'),  # A-ABORT
    RELEASE_RQ,
]


# --- mutations ------------------------------------------------------------------------------------


def flip_bits(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def wrong_length(rng: random.Random, data: bytes) -> bytes:
    length = len(data) - 6
    choice = rng.choice([0, 1, length - 1, length + 1, length + rng.randint(2, 4096),
                         0xFFFFFFFF, 0x7FFFFFFF, rng.randrange(1 << 32)])
    return data[:2] + struct.pack('>I', max(0, min(choice, 0xFFFFFFFF))) + data[6:]


def wrong_item_length(rng: random.Random, data: bytes) -> bytes:
    """Overwrite two bytes past the header (item lengths live there) with a random value."""
    if len(data) < 12:
        return flip_bits(rng, data)
    at = rng.randrange(6, len(data) - 1)
    return data[:at] + struct.pack('>H', rng.choice([0, 1, 0xFFFF, rng.randrange(1 << 16)])) + (
        data[at + 2:]
    )


def insert_or_drop(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    if rng.random() < 0.5:
        return data[:at] + os.urandom(rng.randint(1, 16)) + data[at:]
    return data[:at] + data[at + rng.randint(1, 16):]


def wrong_type(rng: random.Random, data: bytes) -> bytes:
    return bytes([rng.choice([0, 8, 9, 0x7F, 0xFF, rng.randrange(256)])]) + data[1:]


def garbage(rng: random.Random, data: bytes) -> bytes:
    kind = rng.randrange(1, 8)
    body = os.urandom(rng.randint(0, 64))
    return _HEADER.pack(kind, 0, len(body)) + body


MUTATIONS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    'bit flips': flip_bits,
    'truncation': truncate,
    'wrong PDU length': wrong_length,
    'wrong item length': wrong_item_length,
    'inserted or dropped bytes': insert_or_drop,
    'wrong PDU type': wrong_type,
    'garbage PDU': garbage,
}


# --- one case -------------------------------------------------------------------------------------


def read_until_quiet(sock: socket.socket, wait: float) -> tuple[bytes, bool]:
    """What the server sends within ``wait`` s of quiet; True when it closed the connection."""
    received = bytearray()
    sock.settimeout(wait)
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return bytes(received), False
        except OSError:
            return bytes(received), True
        if not chunk:
            return bytes(received), True
        received += chunk


def first_pdu_type(data: bytes) -> int | None:
    return data[0] if data else None


class Case:
    """One fuzz case: a plan of (phase, bytes) chosen from a seed, and what happened."""

    def __init__(self, number: int) -> None:
        self.rng = random.Random(SEED * 1_000_003 + number)
        self.number = number
        self.mutation = ''
        self.outcome = ''

    def _mutate(self, data: bytes) -> bytes:
        self.mutation = self.rng.choice(list(MUTATIONS))
        return MUTATIONS[self.mutation](self.rng, data) if data else data

    def run(self, port: int) -> None:
        rng = self.rng
        stall = rng.random() < 0.01
        with socket.create_connection(('127.0.0.1', port), timeout=READ_WAIT * 8) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            plan = rng.random()
            if plan < 0.35:  # the association request itself is mutated (or out of place)
                if rng.random() < 0.15:
                    self.mutation = 'wrong state (before association)'
                    payload = rng.choice(WRONG_STATE + _echo(1))
                else:
                    payload = self._mutate(_rq(identity=rng.random() < 0.3))
                self._send(sock, payload, stall)
                return
            sock.sendall(_rq(identity=rng.random() < 0.3))
            answer, closed = read_until_quiet_one_pdu(sock)
            if closed or first_pdu_type(answer) != 0x02:
                self.outcome = 'valid RQ not accepted'
                raise AssertionError(
                    f'case {self.number}: a valid A-ASSOCIATE-RQ got {answer[:16]!r}'
                )
            conversation = _echo(1) + _store(2) + _echo(3) + [RELEASE_RQ]
            index = rng.randrange(len(conversation))
            if rng.random() < 0.2:
                self.mutation = 'wrong state (after association)'
                conversation.insert(index, rng.choice(WRONG_STATE[:3] + [_rq()]))
                payload = b''.join(conversation[: index + 1])
            else:
                conversation[index] = self._mutate(conversation[index])
                payload = b''.join(conversation[: index + 1 + rng.randrange(3)])
            self._send(sock, payload, stall)

    def _send(self, sock: socket.socket, payload: bytes, stall: bool) -> None:
        try:
            sock.sendall(payload)
        except OSError:
            self.outcome = 'closed while sending'
            return
        if stall:
            # Stop here and keep the connection open: the server must give up by itself.
            started = time.monotonic()
            _, closed = read_until_quiet(sock, STALL_BOUND)
            if not closed:
                raise AssertionError(
                    f'case {self.number} ({self.mutation}): a stalled connection was still '
                    f'open after {time.monotonic() - started:.1f} s'
                )
            self.outcome = 'stalled, closed by the server'
            return
        answer, closed = read_until_quiet(sock, READ_WAIT)
        kinds = {0x07: 'A-ABORT', 0x03: 'A-ASSOCIATE-RJ', 0x02: 'A-ASSOCIATE-AC',
                 0x04: 'P-DATA-TF', 0x06: 'A-RELEASE-RP'}
        self.outcome = kinds.get(first_pdu_type(answer) or 0, 'silence')
        if closed:
            self.outcome += ', closed'


def read_until_quiet_one_pdu(sock: socket.socket) -> tuple[bytes, bool]:
    """Read exactly one PDU (the answer to our A-ASSOCIATE-RQ)."""
    sock.settimeout(READ_WAIT * 8)
    header = b''
    try:
        while len(header) < 6:
            chunk = sock.recv(6 - len(header))
            if not chunk:
                return header, True
            header += chunk
        _, _, length = _HEADER.unpack(header)
        body = b''
        while len(body) < length:
            chunk = sock.recv(length - len(body))
            if not chunk:
                return header + body, True
            body += chunk
    except OSError:
        return header, True
    return header + body, False


# --- the run --------------------------------------------------------------------------------------


class _ErrorRecords(logging.Handler):
    """Keeps the library's ERROR records (those mean an exception escaped somewhere)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and not record.exc_text:
            record.exc_text = ''.join(traceback.format_exception(*record.exc_info))
        with self._guard:
            self.records.append(record)


def rss() -> int:
    """Resident set size of this process in bytes (0 where /proc is missing)."""
    try:
        with open('/proc/self/statm') as statm:
            return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return 0


def real_association(server: ae.StorageAE, number: int) -> None:
    client = ae.ClientAE('FUZZSCU').add_scu(sc.verification_scu).add_scu(sc.storage_scu, [CT])
    client.artim_timeout = client.dcm_timeout = client.connect_timeout = 5
    remote = {'aet': 'FUZZSCP', 'address': '127.0.0.1', 'port': server.local_ae.port}
    ds = dataset(pixel_bytes=5000)
    with client.request_association(remote) as assoc:
        assert assoc.get_scu(ECHO)(number).is_success
        assert assoc.get_scu(CT)(ds, number + 1).is_success
    assert (Path(server.storage_dir) / f'{ds.SOPInstanceUID}.dcm').exists()


def test_live_fuzz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline_threads = {thread.ident for thread in threading.enumerate()}
    server = ae.StorageAE(tmp_path / 'in', 'FUZZSCP', 0, host='127.0.0.1')
    server.add_scp(sc.verification_scp).add_scp(sc.storage_scp)
    server.artim_timeout = SERVER_TIMEOUT
    server.network_timeout = SERVER_TIMEOUT
    server.dcm_timeout = SERVER_TIMEOUT
    errors = _ErrorRecords()
    library = logging.getLogger('pynetdicom2')
    library.addHandler(errors)
    # Thousands of expected warnings ('invalid PDU from the peer') are not kept by pytest's
    # log capture (its memory would swamp the RSS figure); ERRORs still reach `errors`.
    propagate, library.propagate = library.propagate, False
    mutations: collections.Counter[str] = collections.Counter()
    outcomes: collections.Counter[str] = collections.Counter()
    real = 0
    started = time.monotonic()
    rss_before = rss()
    rss_trace: list[int] = []
    try:
        with server, warnings.catch_warnings():
            # pydicom warns about the mangled command sets it is given to read.
            warnings.simplefilter('ignore')
            port = server.local_ae.port
            real_association(server, 1)
            with ThreadPoolExecutor(WORKERS, thread_name_prefix='fuzz-client') as pool:
                for batch_start in range(0, CASES, BATCH):
                    cases = [Case(n) for n in range(batch_start, min(CASES, batch_start + BATCH))]
                    for future in [pool.submit(case.run, port) for case in cases]:
                        future.result()  # re-raises a case's assertion
                    for case in cases:
                        mutations[case.mutation or 'none'] += 1
                        outcomes[case.outcome] += 1
                    real_association(server, 2 * (batch_start // BATCH) + 3)
                    real += 1
                    rss_trace.append(rss())
            # Every association the cases opened ends on its own (EOF, abort or timeout).
            for thread in list(server.server._association_threads):
                thread.join(STALL_BOUND)
            assert server.server.association_count() == 0
    finally:
        library.removeHandler(errors)
        library.propagate = propagate
    rss_after = rss()
    left = [t.name for t in threading.enumerate() if t.ident not in baseline_threads]
    assert not left, f'threads left after the run: {left}'
    assert rss_after - rss_before < RSS_BOUND, (rss_before, rss_trace, rss_after)
    escaped = [
        f'{record.name}: {record.getMessage()}\n{record.exc_text or ""}'
        for record in errors.records
    ]
    assert not escaped, f'seed {SEED}: errors logged by the library:\n' + '\n'.join(escaped[:5])
    with capsys.disabled():
        sys.stdout.write(
            f'\nlive fuzz: {CASES} cases (seed {SEED}) in {time.monotonic() - started:.1f} s, '
            f'{real} real associations in between, all succeeded; RSS +'
            f'{(rss_after - rss_before) / 1e6:.1f} MB (after each batch, MB: '
            f'{[round(x / 1e6) for x in rss_trace]})\n'
            f'  mutations: {dict(mutations)}\n  outcomes: {dict(outcomes)}\n'
        )


# --- the other direction: our requester against a peer answering with mutated PDUs --------------

#: Requester-side cases (each one association attempt by our ClientAE).
REQUESTER_CASES = max(50, CASES // 20)


def _requester_case(
    rng: random.Random, listener: Listener, client: ae.ClientAE, template: list[bytes]
) -> str:
    """Our client requests an association; the peer answers with a mutated conversation.

    Returns what the client saw; only NetDICOMError subclasses may reach the user.
    """
    remote = {'aet': 'FUZZSCP', 'address': '127.0.0.1', 'port': listener.address[1]}

    def request() -> str:
        try:
            with client.request_association(remote) as assoc:
                assoc.get_scu(ECHO)(1)
        except NetDICOMError as exc:
            return type(exc).__name__
        return 'echo answered'

    with ThreadPoolExecutor(1, thread_name_prefix='fuzz-requester') as pool:
        outcome = pool.submit(request)
        with listener.accept() as peer:
            peer.read_pdu()  # the A-ASSOCIATE-RQ
            answer = list(template)
            index = rng.randrange(len(answer))
            name = rng.choice(list(MUTATIONS))
            answer[index] = MUTATIONS[name](rng, answer[index])
            with contextlib.suppress(OSError):
                peer.sock.sendall(b''.join(answer[: index + 1]))
            read_until_quiet(peer.sock, READ_WAIT)
        return outcome.result(timeout=STALL_BOUND * 2)


def test_live_fuzz_requester(capsys: pytest.CaptureFixture[str]) -> None:
    """Our ClientAE meets an A-ASSOCIATE-AC, echo response or release answer that is mutated:
    it ends with a NetDICOMError (or succeeds), in bounded time, leaving no thread behind."""
    rng = random.Random(SEED)
    client = ae.ClientAE('FUZZSCU').add_scu(sc.verification_scu)
    client.artim_timeout = client.dcm_timeout = client.connect_timeout = SERVER_TIMEOUT
    client.network_timeout = SERVER_TIMEOUT
    # A valid answer, taken from our own SCP: AC, C-ECHO-RSP, A-RELEASE-RP.
    with Listener() as capture:
        remote = {'aet': 'FUZZSCP', 'address': '127.0.0.1', 'port': capture.address[1]}
        with ThreadPoolExecutor(1, thread_name_prefix='fuzz-capture') as pool:
            attempt = pool.submit(_attempt, client, remote)
            with capture.accept() as peer:
                rq = peer.read_pdu()
            with pytest.raises(NetDICOMError):
                attempt.result(timeout=STALL_BOUND)
    server = ae.AE('FUZZSCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)
    with server:
        with socket.create_connection(('127.0.0.1', server.local_ae.port), timeout=5) as sock:
            sock.sendall(rq)
            ac, _ = read_until_quiet_one_pdu(sock)
            sock.sendall(b''.join(_echo(1)))
            rsp, _ = read_until_quiet_one_pdu(sock)
            sock.sendall(RELEASE_RQ)
            rp, _ = read_until_quiet_one_pdu(sock)
    assert (ac[0], rsp[0], rp[0]) == (0x02, 0x04, 0x06)
    outcomes: collections.Counter[str] = collections.Counter()
    with Listener() as listener, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for _ in range(REQUESTER_CASES):
            outcomes[_requester_case(rng, listener, client, [ac, rsp, rp])] += 1
    assert sum(outcomes.values()) == REQUESTER_CASES
    with capsys.disabled():
        sys.stdout.write(f'\nrequester fuzz: {REQUESTER_CASES} cases: {dict(outcomes)}\n')


def _attempt(client: ae.ClientAE, remote: dict[str, Any]) -> None:
    with client.request_association(remote):
        pass


# --- regressions found by the fuzzer ------------------------------------------------------------


def test_multi_valued_sop_class_uid_is_a_protocol_error(caplog: pytest.LogCaptureFixture) -> None:
    """A C-ECHO-RQ whose Affected SOP Class UID holds a backslash (two values) once reached
    the SCP registry as an unhashable MultiValue and was logged as a library failure; it is
    the peer's protocol error: the association is aborted, with a warning."""
    rq = dm.CEchoRQMessage()
    rq.message_id = 1
    rq.sop_class_uid = f'{ECHO}\\1.2.3'
    server = ae.AE('FUZZSCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)
    with caplog.at_level(logging.WARNING, logger='pynetdicom2'), server:
        peer, answer = raw_associate(server.local_ae.port, called='FUZZSCP')
        with peer:
            assert answer.pdu_type == 0x02
            for raw in p_data(rq, 1):
                peer.send(raw)
            assert peer.read_pdu()[0] == 0x07  # A-ABORT; closing is the requester's turn
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any('is not a single UID' in r.getMessage() for r in caplog.records)
