"""What a peer can make a server spend before it is an association (and a password guesser).

Covered, each against the behaviour it replaced:

* a connection that sends a 6-byte header announcing a large PDU costs what it sent, not what
  it declared (PS3.8 9.3.1), and connections that are not yet associations are capped apart
  (the AE's ``maximum_unnegotiated``): one more is closed at once, and logged;
* silent connections do not count against ``maximum_associations``;
* ``-pdu`` takes DCMTK's range only, and a P-DATA-TF declared under an unlimited Maximum
  Length (0, PS3.8 D.1) is not allocated up front;
* the listen backlog holds a burst of connects (socketserver's 5, then 128, dropped SYNs that
  the client's TCP retried a second later);
* failed user identity checks are throttled per calling address.

Everything runs on 127.0.0.1, on ports the system picks; every blocking socket has a timeout
and waits are bounded; no test leaves a thread behind.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import logging
import selectors
import socket
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aetools import fast, raw_associate, remote, serving
from ulpeer import TIMEOUT

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import framing, pdu, toolsupport, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.aeserver import IdentityThrottle
from pynetdicom2.dulprovider import MAX_ASSOCIATION_PDU_LENGTH, UNLIMITED_PDATA_CAP
from pynetdicom2.exceptions import AssociationRejectedError

ECHO = uids.VERIFICATION_SOP_CLASS
KiB = 1024
MiB = 1024 * KiB


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until it holds; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, f'still not true after {timeout} s'
        pause.wait(0.01)


def scp(**attributes: Any) -> ae.AE:
    server = fast(ae.AE('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp))
    for name, value in attributes.items():
        setattr(server, name, value)
    return server


@contextlib.contextmanager
def silent_connections(server: ae.AE, count: int, first: bytes = b'') -> Iterator[list[Any]]:
    """``count`` connections that send ``first`` (maybe nothing) and then nothing more,
    each counted by the server as not yet an association; closed at the end."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(('127.0.0.1', server.local_ae.port), TIMEOUT)
            socks.append(sock)
            if first:
                sock.sendall(first)
        wait_until(lambda: len(server.server._associations) == count)  # each has its acceptor
        yield socks
    finally:
        for sock in socks:
            sock.close()
        for thread in list(server.server._association_threads):
            thread.join(TIMEOUT)  # EOF ends each of them


def closed_unanswered(port: int) -> bool:
    """Connect; True when the server closes (or resets) the connection without a byte."""
    try:
        with socket.create_connection(('127.0.0.1', port), TIMEOUT) as sock:
            return sock.recv(1) == b''
    except ConnectionResetError:  # the reset may even beat connect() back
        return True


def echo(server: ae.AE, **extra: Any) -> bool:
    client = fast(ae.ClientAE('SCU')).add_scu(sc.verification_scu)
    with client.request_association(remote(server, **extra)) as assoc:
        return assoc.get_scu(ECHO)(1).is_success


def rejection(server: ae.AE, **extra: Any) -> tuple[int, int, int]:
    with pytest.raises(AssociationRejectedError) as caught:
        echo(server, **extra)
    return caught.value.result, caught.value.source, caught.value.diagnostic


# --- 5: what a connection costs before it is an association -------------------------------------


def _header(pdu_type: int, length: int) -> bytes:
    """A PDU header (PS3.8 9.3.1): type, reserved, PDU-length."""
    return struct.pack('>BBI', pdu_type, 0, length)


def test_an_announced_pdu_costs_what_was_sent_not_what_it_declares() -> None:
    """Before: 256 KiB of ring and the announced 1 MiB, zero-filled, per connection (1,000
    such sockets took a server to 1.38 GB). Now: a few KiB of buffers, plus the threads'
    own objects."""
    count = 100
    announce = _header(0x01, MAX_ASSOCIATION_PDU_LENGTH)  # an A-ASSOCIATE-RQ of 1 MiB
    server = scp(artim_timeout=30.0)
    tracemalloc.start()
    try:
        with serving(server):
            server.artim_timeout = 30.0  # the connections stay until we close them
            before = tracemalloc.get_traced_memory()[0]
            with silent_connections(server, count, announce):
                # every DUL thread has read its header, and begun the PDU's own buffer
                wait_until(lambda: sum(
                    a.dul._framer._big is not None for a in list(server.server._associations)
                ) == count)
                spent = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    print(f'{spent / count / KiB:.0f} KiB per connection')
    assert spent / count < 150 * KiB, f'{spent / count / KiB:.0f} KiB per connection'


def test_connections_beyond_maximum_unnegotiated_are_closed_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = scp(maximum_unnegotiated=5)
    with serving(server), caplog.at_level(logging.WARNING, 'pynetdicom2.applicationentity'):
        server.artim_timeout = 30.0  # what ends the sixth is the cap, not ARTIM
        with silent_connections(server, 5):
            started = time.monotonic()
            assert closed_unanswered(server.local_ae.port)
            assert time.monotonic() - started < TIMEOUT / 2
            assert server.server.unnegotiated_count() == 5
        # Once they are gone there is room again.
        wait_until(lambda: server.server.unnegotiated_count() == 0)
        assert echo(server)
    assert any('maximum_unnegotiated' in record.getMessage() for record in caplog.records)


def test_a_rejected_request_stays_unnegotiated_until_its_connection_ends() -> None:
    """Only an A-ASSOCIATE-AC makes a connection an association: a request rejected and then
    left open (the requester never closes, PS3.8 Sta13) still counts against the cap."""
    server = scp(maximum_unnegotiated=1, allowed_calling_aets={'SOMEONE-ELSE'})
    with serving(server):
        server.artim_timeout = 30.0
        peer, answer = raw_associate(server.local_ae.port)
        with peer:
            assert isinstance(answer, pdu.AAssociateRjPDU)
            assert server.server.unnegotiated_count() == 1
            assert server.server.association_count() == 0  # its place was given back
            assert closed_unanswered(server.local_ae.port)
        wait_until(lambda: server.server.connection_count() == 0)
        server.allowed_calling_aets = None
        assert echo(server)


# --- 6: maximum_associations counts associations only --------------------------------------------


def test_silent_sockets_do_not_count_against_maximum_associations() -> None:
    """Before: ten silent sockets held all ten places for ARTIM, renewable at will."""
    server = scp(maximum_associations=2)
    client = fast(ae.ClientAE('SCU')).add_scu(sc.verification_scu)
    with serving(server):
        server.artim_timeout = 30.0
        with silent_connections(server, 10):
            with client.request_association(remote(server)) as first, \
                    client.request_association(remote(server)) as second:
                assert server.server.association_count() == 2
                assert rejection(server) == (2, 3, 2)  # the limit still holds
                assert first.get_scu(ECHO)(1).is_success
                assert second.get_scu(ECHO)(2).is_success



def test_a_health_checks_bare_connect_is_closed_at_artim() -> None:
    """A load balancer's TCP check connects and sends nothing (docs/deployment.rst): the
    server closes it once ARTIM expires (PS3.8 9.1.5, Sta2), and nothing of it remains."""
    server = scp()
    with serving(server):
        server.artim_timeout = 0.5
        address = ('127.0.0.1', server.local_ae.port)
        with socket.create_connection(address, timeout=TIMEOUT) as probe:
            started = time.monotonic()
            assert probe.recv(64) == b''  # closed by the server, nothing sent
            assert time.monotonic() - started < TIMEOUT
        assert server.server.wait_idle(TIMEOUT)
        assert server.server.connection_count() == 0
        assert server.server.unnegotiated_count() == 0


# --- 7: -pdu, and what an unlimited Maximum Length lets a peer make us allocate -----------------


def _network_parser() -> argparse.ArgumentParser:
    parser = toolsupport.dcmtk_parser('test-tool', 'a tool')
    toolsupport.add_network(parser, 'TEST')
    return parser


@pytest.mark.parametrize('value', ['0', '4095', '131073', '-1', 'lots'])
def test_max_pdu_outside_dcmtk_range_is_an_argparse_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _network_parser().parse_args(['-pdu', value])
    assert exited.value.code == 2
    assert '-pdu' in capsys.readouterr().err


@pytest.mark.parametrize('value', [4096, 16384, 131072])
def test_max_pdu_in_dcmtk_range_is_taken(value: int) -> None:
    assert _network_parser().parse_args(['-pdu', str(value)]).max_pdu == value


def test_an_unlimited_pdata_cap_is_not_allocated_up_front() -> None:
    """Before: a P-DATA-TF header declaring 64 MiB made the framer allocate 64 MiB at once."""
    out: collections.deque[Any] = collections.deque()
    framer = framing.Framer(UNLIMITED_PDATA_CAP, MAX_ASSOCIATION_PDU_LENGTH, out)  # data phase
    tracemalloc.start()
    try:
        framer.target()[:6] = _header(0x04, UNLIMITED_PDATA_CAP)
        framer.advance(6)
        allocated = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert allocated <= framing.RING_MAX + 64 * KiB
    assert not out and not framer.lost


@pytest.mark.parametrize('association_phase', [True, False])
def test_a_large_pdu_grows_its_buffer_as_it_arrives(association_phase: bool) -> None:
    body = bytes(range(256)) * (3 * MiB // 256 + 1)
    pdus = [_header(0x04, len(body)) + body, _header(0x05, 4) + bytes(4)]
    stream = memoryview(b''.join(pdus))
    out: collections.deque[Any] = collections.deque()
    framer = framing.Framer(UNLIMITED_PDATA_CAP, MAX_ASSOCIATION_PDU_LENGTH, out,
                            association_phase=association_phase)
    sizes = [6, 5, 70_000, 1, 123_457]
    reads = 0
    while stream:
        target = framer.target()
        count = min(len(target), len(stream), sizes[reads % len(sizes)])
        target[:count] = stream[:count]
        stream = stream[count:]
        framer.advance(count)
        reads += 1
    assert [bytes(item) for item in out] == pdus


# --- 9: the listen backlog -----------------------------------------------------------------------


def _connects_within(port: int, count: int, seconds: float) -> int:
    """Start ``count`` non-blocking connects at once; how many complete within ``seconds``."""
    socks = []
    done = 0
    with selectors.DefaultSelector() as selector:
        try:
            for _ in range(count):
                sock = socket.socket()
                sock.setblocking(False)
                socks.append(sock)
                sock.connect_ex(('127.0.0.1', port))
                selector.register(sock, selectors.EVENT_WRITE)
            deadline = time.monotonic() + seconds
            while done < count and (left := deadline - time.monotonic()) > 0:
                for key, _ in selector.select(left):
                    selector.unregister(key.fileobj)
                    done += 1
        finally:
            for sock in socks:
                sock.close()
    return done


def _somaxconn() -> int:
    try:
        with open('/proc/sys/net/core/somaxconn') as limit:
            return int(limit.read())
    except OSError:
        return socket.SOMAXCONN


@pytest.mark.skipif(_somaxconn() < 300, reason='the system caps the listen backlog below 300')
def test_the_listen_backlog_holds_a_burst_of_connects() -> None:
    """Nothing accepts here: the backlog alone must hold the burst. Before: 128 (at first 5);
    the 129th connect had its SYN dropped and retried by the client's TCP a second later."""
    server = scp()  # bound and listening, not serving
    try:
        assert _connects_within(server.local_ae.port, 250, 0.9) == 250
    finally:
        server.quit()


def test_the_listen_backlog_is_the_aes_listen_backlog() -> None:
    server = scp()
    server.quit()
    small = ae.AE('SCP', 0, host='127.0.0.1', bind_and_activate=False)
    small.listen_backlog = 4
    try:
        small.server.server_bind()
        small.server.server_activate()
        port = small.server.server_address[1]
        assert _connects_within(port, 30, 0.3) <= 10  # about the backlog, and no more
    finally:
        small.quit()


# --- 13: password guessing is throttled per calling address --------------------------------------


class Guarded(ae.AE):
    """Accepts 'alice' with 'right'; counts how often it was asked."""

    asked = 0

    def on_user_identity(self, asce: Any, identity: Any) -> bool:
        type(self).asked += 1
        return identity is not None and identity.secondary_field == 'right'


def test_failed_identity_checks_are_throttled_per_address() -> None:
    """Before: 500 guesses took 0.9 s, each one asking the hook."""
    now = [1000.0]
    server = fast(Guarded('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp))
    throttle = IdentityThrottle(free_failures=3, first_backoff=30.0, clock=lambda: now[0])
    server.server.identity_throttle = throttle
    Guarded.asked = 0
    with serving(server):
        answers = [rejection(server, username='alice', password=f'guess{n}') for n in range(10)]
        # three free failures, a fourth that blocks, then transient rejections unasked
        assert answers == [(1, 1, 1)] * 4 + [(2, 1, 1)] * 6
        assert Guarded.asked == 4
        assert rejection(server, username='alice', password='right') == (2, 1, 1)
        now[0] += 30.0  # the window is over: the right password gets in, and clears the record
        assert echo(server, username='alice', password='right')
        assert Guarded.asked == 5 and len(throttle) == 0


def test_the_throttle_table_is_bounded_and_groups_ipv6_networks() -> None:
    now = [0.0]
    throttle = IdentityThrottle(free_failures=0, max_addresses=100, clock=lambda: now[0])
    for n in range(1000):
        throttle.failed(f'10.{n // 256}.{n % 256}.1')
    assert len(throttle) == 100
    assert throttle.attempt('10.3.231.1') > 0  # the newest are kept
    throttle.failed('2001:db8:1:2::1')
    assert throttle.attempt('2001:db8:1:2:ffff::7') > 0  # same /64
    assert throttle.attempt('2001:db8:1:3::1') == 0.0
    now[0] += 3600.0  # long quiet: the records are forgotten as new failures come
    throttle.failed('192.0.2.1')
    assert len(throttle) == 1
