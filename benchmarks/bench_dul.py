"""Benchmark the DUL service provider against plain sockets on loopback (issue 3, item 4).

Two measurements, each beside its plain-socket limit in the same run, printed as ratios:

* round trips: A sends a small P-DATA-TF, B answers one. Through two providers (A's user is
  the main thread, B's user an echo thread, as an SCU and an SCP association would be) versus
  a plain-socket ping-pong of the same bytes between the same two threads. Reported twice:
  ``dul`` hands each P-DATA-TF up as it arrives (the upper layer's own cost), ``dimse`` runs
  the real DIMSE reassembler on a C-ECHO-RQ/-RSP (adds pydicom's command-set decoding).
* stream: ``--size`` bytes (default 1 GiB) as 16 KiB P-DATA-TFs from A to B, versus a plain
  socket stream of the same chunk sizes. The receiving DUL streams the data set into a
  store-in-file sink, as a C-STORE SCP writing to disk would (minus the disk).

Usage::

    python benchmarks/bench_dul.py                 # everything, 1 GiB stream
    python benchmarks/bench_dul.py --size 64M --round-trips 5000
    python benchmarks/bench_dul.py --profile stream   # cProfile of the DUL stream, top 25
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from pynetdicom2 import dimsemessages, pdu
from pynetdicom2.dulprovider import DULServiceProvider
from pynetdicom2.fsm import PContextDef

_APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1'
_VERIFICATION = '1.2.840.10008.1.1'
_CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2'
_IMPLICIT_LE = '1.2.840.10008.1.2'
_CHUNK = 16 * 1024
_TIMEOUT = 30


def _pair() -> tuple[socket.socket, socket.socket]:
    """A connected loopback TCP pair, TCP_NODELAY on both ends, timeouts set."""
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        client = socket.create_connection(server.getsockname(), timeout=_TIMEOUT)
        accepted, _ = server.accept()
    for sock in (client, accepted):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(_TIMEOUT)
    return client, accepted


def _recv_exact(sock: socket.socket, view: memoryview) -> None:
    while view:
        count = sock.recv_into(view)
        if not count:
            raise ConnectionError('peer closed')
        view = view[count:]


# --- plain sockets -------------------------------------------------------------------------


def plain_round_trips(count: int, message: bytes) -> float:
    """Round trips per second, socket to socket, one echo thread."""
    a, b = _pair()
    size = len(message)

    def echo() -> None:
        buffer = memoryview(bytearray(size))
        for _ in range(count):
            _recv_exact(b, buffer)
            b.sendall(buffer)

    thread = threading.Thread(target=echo, name='pynetdicom2-bench-echo')
    thread.start()
    buffer = memoryview(bytearray(size))
    start = time.perf_counter()
    for _ in range(count):
        a.sendall(message)
        _recv_exact(a, buffer)
    elapsed = time.perf_counter() - start
    thread.join()
    a.close()
    b.close()
    return count / elapsed


def plain_stream(total: int, chunk: bytes) -> float:
    """Bytes per second, socket to socket, in chunks of len(chunk)."""
    a, b = _pair()
    count = total // len(chunk)
    received = [0]

    def sink() -> None:
        buffer = memoryview(bytearray(len(chunk)))
        left = count * len(chunk)
        while left:
            got = b.recv_into(buffer, min(len(buffer), left))
            if not got:
                break
            left -= got
        received[0] = count * len(chunk) - left

    thread = threading.Thread(target=sink, name='pynetdicom2-bench-sink')
    thread.start()
    start = time.perf_counter()
    for _ in range(count):
        a.sendall(chunk)
    thread.join()
    elapsed = time.perf_counter() - start
    a.close()
    b.close()
    return received[0] / elapsed


def handoff_round_trips(count: int, message: bytes) -> float:
    """Round trips per second of the bare architecture, with no protocol work at all.

    Each end is a thread that owns its socket and sleeps in a selector over the socket and a
    socketpair wake-up; the user threads hand it messages through a deque and get them back
    through a SimpleQueue: the four thread hand-offs per round trip that any design keeping
    one socket-owning thread per association pays. The providers cannot beat this.
    """
    import collections
    import queue
    import selectors

    class _Owner(threading.Thread):
        def __init__(self, sock: socket.socket, name: str) -> None:
            super().__init__(name=name, daemon=True)
            self.sock = sock
            sock.setblocking(False)
            self.out: collections.deque[bytes] = collections.deque()
            self.up: queue.SimpleQueue[bytes] = queue.SimpleQueue()
            self.wake_r, self.wake_w = socket.socketpair()
            self.selector = selectors.DefaultSelector()
            self.selector.register(sock, selectors.EVENT_READ, True)
            self.selector.register(self.wake_r, selectors.EVENT_READ, None)
            self.buffer = bytearray(65536)
            self.stopped = False

        def send(self, data: bytes) -> None:
            self.out.append(data)
            self.wake_w.send(b'\0')

        def run(self) -> None:
            while not self.stopped:
                for key, _ in self.selector.select():
                    if key.data is None:
                        self.wake_r.recv(4096)
                    else:
                        count = self.sock.recv_into(self.buffer)
                        if not count:
                            return
                        self.up.put(bytes(self.buffer[:count]))
                while self.out:
                    self.sock.send(self.out.popleft())

        def close(self) -> None:
            self.stopped = True
            self.wake_w.send(b'\0')
            self.join(_TIMEOUT)
            self.selector.close()
            for end in (self.sock, self.wake_r, self.wake_w):
                end.close()

    a_sock, b_sock = _pair()
    a = _Owner(a_sock, 'pynetdicom2-bench-owner-a')
    b = _Owner(b_sock, 'pynetdicom2-bench-owner-b')
    a.start()
    b.start()

    def echo() -> None:
        for _ in range(count):
            b.send(b.up.get(timeout=_TIMEOUT))

    thread = threading.Thread(target=echo, name='pynetdicom2-bench-echo')
    thread.start()
    start = time.perf_counter()
    for _ in range(count):
        a.send(message)
        a.up.get(timeout=_TIMEOUT)
    elapsed = time.perf_counter() - start
    thread.join()
    a.close()
    b.close()
    return count / elapsed


# --- through two providers -----------------------------------------------------------------


class _PassThrough:
    """Stands in for the DIMSE reassembler: hands each P-DATA-TF up as it is."""

    accepted_contexts: Any = None

    def process(self, p_data: pdu.PDataTfPDU) -> list[tuple[Any, int]]:
        return [(p_data, 1)]

    def discard(self) -> None:
        pass


class _Sink:
    """A write-only file object that counts bytes (the disk of a C-STORE SCP, minus the disk)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: Any) -> int:
        size = len(data)
        self.size += size
        return size

    def seek(self, offset: int) -> int:
        return offset

    def close(self) -> None:
        pass


def _associated(store_in_file: Any = (), get_file_cb: Any = None, pass_through: bool = False):
    """Two providers over loopback, associated (A requestor, B acceptor)."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    server.settimeout(_TIMEOUT)
    a = DULServiceProvider(
        (), None, called_address=server.getsockname(), max_pdu_length=0, name='bench-a'
    )
    items = [pdu.ApplicationContextItem(_APPLICATION_CONTEXT)]
    a.send(pdu.AAssociateRqPDU('B', 'A', items))
    accepted, _ = server.accept()
    server.close()
    b = DULServiceProvider(
        store_in_file, get_file_cb, dul_socket=accepted, max_pdu_length=0, name='bench-b'
    )
    b.start()
    b.receive(_TIMEOUT)
    contexts = {
        1: PContextDef(1, _VERIFICATION, _IMPLICIT_LE),
        3: PContextDef(3, _CT_IMAGE_STORAGE, _IMPLICIT_LE),
    }
    b.accepted_contexts = contexts
    b.send(pdu.AAssociateAcPDU('B', 'A', items))
    a.receive(_TIMEOUT)
    a.accepted_contexts = contexts
    if pass_through:
        a.state_machine.dimse_decoder = _PassThrough()  # type: ignore[assignment]
        b.state_machine.dimse_decoder = _PassThrough()  # type: ignore[assignment]
    return a, b


def _release(a: DULServiceProvider, b: DULServiceProvider) -> None:
    a.send(pdu.AReleaseRqPDU())
    b.receive(_TIMEOUT)
    b.send(pdu.AReleaseRpPDU())
    a.receive(_TIMEOUT)
    a.kill()
    b.stop()


def dul_round_trips(count: int, dimse: bool) -> tuple[float, int]:
    """Round trips per second through two providers; also the request's size on the wire."""
    a, b = _associated(pass_through=not dimse)
    if dimse:
        rq = dimsemessages.CEchoRQMessage()
        rq.message_id = 1
        rq.sop_class_uid = _VERIFICATION
        rsp = dimsemessages.CEchoRSPMessage()
        rsp.message_id_being_responded_to = 1
        rsp.sop_class_uid = _VERIFICATION
        rsp.status = 0
        rq_pdus = list(rq.encode(1, 0))
        rsp_pdus = list(rsp.encode(1, 0))
    else:
        rq_pdus = [pdu.PDataTfPDU([pdu.PresentationDataValueItem(1, b'\x03' + bytes(80))])]
        rsp_pdus = rq_pdus
    wire = sum(len(p.encode()) for p in rq_pdus)

    def echo() -> None:
        for _ in range(count):
            b.receive(_TIMEOUT)
            b.send(iter(rsp_pdus))

    thread = threading.Thread(target=echo, name='pynetdicom2-bench-echo')
    thread.start()
    start = time.perf_counter()
    for _ in range(count):
        a.send(iter(rq_pdus))
        a.receive(_TIMEOUT)
    elapsed = time.perf_counter() - start
    thread.join()
    _release(a, b)
    return count / elapsed, wire


def _stream_pdus(count: int, chunk: bytes) -> Iterator[pdu.PDataTfPDU]:
    """A C-STORE-RQ whose data set is ``count`` fragments of ``chunk``: 16 KiB P-DATA-TFs."""
    rq = dimsemessages.CStoreRQMessage()
    rq.message_id = 1
    rq.sop_class_uid = _CT_IMAGE_STORAGE
    rq.affected_sop_instance_uid = '1.2.3'
    rq.priority = 0
    rq.data_set = b'\0'  # marks "a data set follows"; the fragments below are the data set
    pdus = rq.encode(3, 0)
    command_pdv = next(pdus).data_value_items[0]  # the whole command set (control header 03H)
    pdus.close()
    assert command_pdv.data_value[0] == 3
    yield pdu.PDataTfPDU([command_pdv])
    payload = b'\x00' + chunk
    for index in range(count):
        if index == count - 1:
            payload = b'\x02' + chunk
        yield pdu.PDataTfPDU([pdu.PresentationDataValueItem(3, payload)])


def dul_stream(total: int, chunk: bytes) -> float:
    """Bytes of P-DATA-TF per second through two providers into a store-in-file sink."""
    sink = _Sink()
    a, b = _associated({_CT_IMAGE_STORAGE}, lambda context, command_set: (sink, 0))
    count = total // len(chunk)
    wire = count * (len(chunk) + 12)
    start = time.perf_counter()
    a.send(_stream_pdus(count, chunk))
    msg, _ = b.receive(_TIMEOUT * 10)
    elapsed = time.perf_counter() - start
    assert sink.size == count * len(chunk), (sink.size, count * len(chunk))
    assert msg.data_set is sink
    _release(a, b)
    return wire / elapsed


def _size(text: str) -> int:
    units = {'K': 1024, 'M': 1024**2, 'G': 1024**3}
    if text[-1:].upper() in units:
        return int(float(text[:-1]) * units[text[-1].upper()])
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=_size, default=1024**3, help='stream size (1G, 64M...)')
    parser.add_argument('--round-trips', type=int, default=20_000)
    parser.add_argument('--profile', choices=['round-trips', 'stream'], default=None)
    args = parser.parse_args()
    chunk = bytes(_CHUNK)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        if args.profile == 'stream':
            dul_stream(args.size, chunk)
        else:
            dul_round_trips(args.round_trips, dimse=False)
        profiler.disable()
        pstats.Stats(profiler).sort_stats('tottime').print_stats(25)
        return

    rate_dul, wire = dul_round_trips(args.round_trips, dimse=False)
    rate_plain = plain_round_trips(args.round_trips, bytes(wire))
    rate_floor = handoff_round_trips(args.round_trips, bytes(wire))
    rate_dimse, dimse_wire = dul_round_trips(args.round_trips // 4, dimse=True)
    rate_plain_dimse = plain_round_trips(args.round_trips // 4, bytes(dimse_wire))
    print(f'round trips, {wire}-byte P-DATA-TF each way ({args.round_trips}):')
    print(f'  plain sockets        {rate_plain:10,.0f} /s')
    print(
        f'  4 hand-offs, no work {rate_floor:10,.0f} /s   ratio {rate_floor / rate_plain:.2f}'
        '   (the floor of a socket-owning thread per end)'
    )
    print(
        f'  two DUL providers    {rate_dul:10,.0f} /s   ratio {rate_dul / rate_plain:.2f}'
        f'   ({rate_dul / rate_floor:.2f} of the floor)'
    )
    print(f'C-ECHO round trips with DIMSE reassembly ({args.round_trips // 4}):')
    print(f'  plain sockets        {rate_plain_dimse:10,.0f} /s')
    print(
        f'  two DUL providers    {rate_dimse:10,.0f} /s   '
        f'ratio {rate_dimse / rate_plain_dimse:.2f}'
    )
    if not args.size:
        return
    stream_dul = dul_stream(args.size, chunk)
    stream_plain = plain_stream(args.size, bytes(_CHUNK + 12))
    print(f'stream of {args.size / 1024**2:,.0f} MiB in {_CHUNK // 1024} KiB P-DATA-TFs:')
    print(f'  plain sockets        {stream_plain / 1024**2:10,.0f} MiB/s')
    print(
        f'  two DUL providers    {stream_dul / 1024**2:10,.0f} MiB/s   '
        f'ratio {stream_dul / stream_plain:.2f}'
    )


if __name__ == '__main__':
    main()
