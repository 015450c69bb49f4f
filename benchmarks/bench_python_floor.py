"""How fast can any Python peer be? Bare C-STORE loops beside DCMTK, on tiny files (issue 13).

Not pynetdicom2: the least a Python program must do to take part in a C-STORE, written
straight on a socket, to know what the language and the interpreter allow on this machine
before asking it of the library. Each is measured beside DCMTK in the same run, 1,000 tiny
CT files (~2.2 kB) on one association, on loopback, every SCP writing each file:

* **bare SCP** (``scp-1``): one thread, a blocking socket, ``struct`` for the PDUs and the
  command set, each data set written with ``os.open``/``write`` and linked into place, the
  response built by hand. No state machine, no checks of the data set, a file meta of four
  bytes. ``scp-2`` is the same with the two threads of an upper-layer provider: the socket's
  (which parses) hands each message over a ``SimpleQueue`` to a service thread, which hands
  its response back through a deque and a socketpair wake-up, as ``dulprovider`` does.
  Both against DCMTK ``storescu`` -> DCMTK ``storescp``.
* **bare SCU** (``scu``): one thread, each file read whole, its data set sent after a command
  set built by hand (the UIDs are not even read from the file), the response read and not
  decoded. Against DCMTK ``storescu`` to the same ``storescp`` (whose figure includes its
  process start, ~10 ms).

Ratios are bare / DCMTK: the headroom a Python peer has over DCMTK before it does anything a
real one must (PS3.8 state machine, reassembly, checking the data set, the file meta).

Usage::

    python benchmarks/bench_python_floor.py --workdir /dev/shm/floor --repeat 3
"""

from __future__ import annotations

import argparse
import collections
import os
import queue
import selectors
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CT = '1.2.840.10008.5.1.4.1.1.2'
EXPLICIT_LE = '1.2.840.10008.1.2.1'
ENV = dict(os.environ, TCP_NODELAY='1')
# Debian's DCMTK, by path: in a virtualenv the names are pynetdicom's Python tools.
STORESCU = '/usr/bin/storescu'
STORESCP = '/usr/bin/storescp'
_HEADER = struct.Struct('>BBI')
_PDV = struct.Struct('>IBB')
_ELEMENT = struct.Struct('<HHI')


def recv_exact(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = sock.recv_into(view[got:])
        if not count:
            raise EOFError
        got += count
    return buffer


def read_pdu(sock: socket.socket) -> tuple[int, bytearray, bytearray]:
    header = recv_exact(sock, 6)
    pdu_type, _, length = _HEADER.unpack(header)
    return pdu_type, header, recv_exact(sock, length)


def element(tag: int, value: bytes) -> bytes:
    if len(value) % 2:
        value += b'\0'
    return _ELEMENT.pack(0, tag, len(value)) + value


def command_set(*elements: bytes) -> bytes:
    body = b''.join(elements)
    return element(0, struct.pack('<I', len(body))) + body


def pdata(context_id: int, flags: int, payload: bytes) -> bytes:
    return _HEADER.pack(4, 0, len(payload) + 6) + _PDV.pack(len(payload) + 2, context_id,
                                                            flags) + payload


def accept_everything(header: bytes, body: bytes) -> bytes:
    """An A-ASSOCIATE-AC accepting every proposed context in its first transfer syntax."""
    from pynetdicom2 import pdu, pduitems

    rq = pdu.AAssociateRqPDU.decode(bytes(header + body))
    items: list[Any] = [rq.variable_items[0]]
    for item in rq.variable_items[1:]:
        if isinstance(item, pduitems.PresentationContextItemRQ):
            items.append(pduitems.PresentationContextItemAC(item.context_id, 0,
                                                            item.ts_sub_items[0]))
    items.append(rq.variable_items[-1])
    return pdu.AAssociateAcPDU(rq.called_ae_title, rq.calling_ae_title, items).encode()


def parse_command(raw: bytes) -> dict[int, bytes]:
    fields, offset = {}, 0
    while offset < len(raw):
        _, tag, length = _ELEMENT.unpack_from(raw, offset)
        fields[tag] = raw[offset + 8:offset + 8 + length]
        offset += 8 + length
    return fields


def respond(fields: dict[int, bytes], out: str, data: bytes | None) -> bytes:
    """Write the data set (if any) and build the response's command set."""
    if data is None:  # C-ECHO
        return command_set(element(2, fields[2]), element(0x100, b'\x30\x80'),
                           element(0x120, fields[0x110]), element(0x800, b'\x01\x01'),
                           element(0x900, b'\0\0'))
    uid = fields[0x1000].rstrip(b'\0').decode()
    staged = os.path.join(out, '.' + uid)
    fd = os.open(staged, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, b'\0' * 128 + b'DICM')
    os.write(fd, data)
    os.close(fd)
    os.link(staged, os.path.join(out, uid + '.dcm'))
    os.unlink(staged)
    return command_set(element(2, fields[2]), element(0x100, b'\x01\x80'),
                       element(0x120, fields[0x110]), element(0x800, b'\x01\x01'),
                       element(0x900, b'\0\0'), element(0x1000, fields[0x1000]))


def messages(pdvs: bytearray, state: dict[str, Any]) -> list[tuple[dict[int, bytes], Any, int]]:
    """Complete messages of one P-DATA-TF: (command fields, data set or None, context ID)."""
    done, offset = [], 0
    while offset < len(pdvs):
        length, context_id, flags = _PDV.unpack_from(pdvs, offset)
        payload = bytes(pdvs[offset + 6:offset + 4 + length])
        offset += 4 + length
        if flags & 1:
            state['command'] += payload
            if flags & 2:
                fields = parse_command(state.pop('command'))
                state['command'] = b''
                if fields[0x800] == b'\x01\x01':
                    done.append((fields, None, context_id))
                else:
                    state['fields'] = fields
        else:
            state['data'] += payload
            if flags & 2:
                done.append((state['fields'], state.pop('data'), context_id))
                state['data'] = b''
    return done


def serve_one_thread(listener: socket.socket, out: str) -> None:
    sock, _ = listener.accept()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    state: dict[str, Any] = {'command': b'', 'data': b''}
    with sock:
        while True:
            pdu_type, header, body = read_pdu(sock)
            if pdu_type == 1:
                sock.sendall(accept_everything(header, body))
            elif pdu_type == 4:
                for fields, data, context_id in messages(body, state):
                    sock.sendall(pdata(context_id, 3, respond(fields, out, data)))
            elif pdu_type == 5:
                sock.sendall(b'\x06\x00\x00\x00\x00\x04\x00\x00\x00\x00')
                return


def serve_two_threads(listener: socket.socket, out: str) -> None:
    sock, _ = listener.accept()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    up: queue.SimpleQueue[Any] = queue.SimpleQueue()
    down: collections.deque[bytes] = collections.deque()
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)

    def service() -> None:
        while (item := up.get()) is not None:
            fields, data, context_id = item
            down.append(pdata(context_id, 3, respond(fields, out, data)))
            wake_w.send(b'\0')

    worker = threading.Thread(target=service, name='floor-service')
    worker.start()
    state: dict[str, Any] = {'command': b'', 'data': b''}
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ, True)
            selector.register(wake_r, selectors.EVENT_READ, None)
            while True:
                for key, _ in selector.select():
                    if key.data is None:
                        wake_r.recv(4096)
                        while down:
                            sock.sendall(down.popleft())
                        continue
                    pdu_type, header, body = read_pdu(sock)
                    if pdu_type == 1:
                        sock.sendall(accept_everything(header, body))
                    elif pdu_type == 4:
                        for message in messages(body, state):
                            up.put(message)
                    elif pdu_type == 5:
                        sock.sendall(b'\x06\x00\x00\x00\x00\x04\x00\x00\x00\x00')
                        return
    finally:
        up.put(None)
        worker.join()
        for end in (sock, wake_r, wake_w):
            end.close()


def send_all(port: int, files: list[Path]) -> float:
    """The bare SCU: seconds from the A-ASSOCIATE-AC to the last response."""
    from pynetdicom2 import pdu, pduitems, userdataitems

    sock = socket.create_connection(('127.0.0.1', port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with sock:
        sock.sendall(pdu.AAssociateRqPDU('STORESCP', 'FLOORSCU', [
            pduitems.ApplicationContextItem('1.2.840.10008.3.1.1.1'),
            pduitems.PresentationContextItemRQ(1, pduitems.AbstractSyntaxSubItem(CT),
                                               [pduitems.TransferSyntaxSubItem(EXPLICIT_LE)]),
            pduitems.UserInformationItem([userdataitems.MaximumLengthSubItem(16384),
                                          userdataitems.ImplementationClassUIDSubItem('1.2.3')]),
        ]).encode())
        if read_pdu(sock)[0] != 2:
            raise SystemExit('storescp did not accept the association')
        start = time.perf_counter()
        for number, path in enumerate(files, 1):
            raw = path.read_bytes()
            meta_length = struct.unpack_from('<I', raw, 140)[0]
            data_set = memoryview(raw)[144 + meta_length:]
            command = command_set(element(2, CT.encode()), element(0x100, b'\x01\x00'),
                                  element(0x110, struct.pack('<H', number % 65535 + 1)),
                                  element(0x700, b'\0\0'), element(0x800, b'\0\0'),
                                  element(0x1000, f'1.2.3.{number}'.encode()))
            sock.sendmsg([_HEADER.pack(4, 0, len(command) + 6),
                          _PDV.pack(len(command) + 2, 1, 3), command])
            sock.sendmsg([_HEADER.pack(4, 0, len(data_set) + 6),
                          _PDV.pack(len(data_set) + 2, 1, 2), data_set])
            if read_pdu(sock)[0] != 4:
                raise SystemExit('no C-STORE-RSP')
        seconds = time.perf_counter() - start
        sock.sendall(b'\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00')
        read_pdu(sock)
    return seconds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def storescp(out: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen([STORESCP, '-od', out, str(port)], env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return process, port
        except OSError:
            try:
                process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            break
    raise SystemExit('storescp did not start')


def storescu(port: int, files: list[Path]) -> float:
    start = time.perf_counter()
    subprocess.run([STORESCU, '-aec', 'STORESCP', '127.0.0.1', str(port),
                    *map(str, files)], env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def with_bare_scp(serve: Callable[[socket.socket, str], None], files: list[Path],
                  workdir: Path) -> float:
    out = tempfile.mkdtemp(dir=workdir)
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        server = threading.Thread(target=serve, args=(listener, out), name='floor-scp')
        server.start()
        seconds = storescu(listener.getsockname()[1], files)
        server.join()
    shutil.rmtree(out)
    return seconds


def with_storescp(send: Callable[[int, list[Path]], float], files: list[Path],
                  workdir: Path) -> float:
    out = tempfile.mkdtemp(dir=workdir)
    process, port = storescp(out)
    try:
        return send(port, files)
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--count', type=int, default=1000)
    parser.add_argument('--repeat', type=int, default=3, help='rounds; the best of each row')
    parser.add_argument('--workdir', type=Path, default=None)
    args = parser.parse_args()
    for tool in (STORESCU, STORESCP):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f'DCMTK {tool} is needed (Debian: apt-get install dcmtk)')
    workdir = Path(tempfile.mkdtemp(prefix='floor-', dir=args.workdir))
    try:
        sys.path.insert(0, str(ROOT / 'benchmarks'))
        from bench_workers import make_clients

        files = sorted(make_clients(workdir / 'files', 1, args.count)[0].iterdir())
        rows: dict[str, list[float]] = collections.defaultdict(list)
        for _ in range(args.repeat):
            rows['DCMTK storescu -> DCMTK storescp'].append(
                with_storescp(storescu, files, workdir))
            rows['DCMTK storescu -> bare SCP, 1 thread'].append(
                with_bare_scp(serve_one_thread, files, workdir))
            rows['DCMTK storescu -> bare SCP, 2 threads'].append(
                with_bare_scp(serve_two_threads, files, workdir))
            rows['bare SCU -> DCMTK storescp'].append(with_storescp(send_all, files, workdir))
        base = len(files) / min(rows['DCMTK storescu -> DCMTK storescp'])
        print(f'{len(files)} tiny C-STOREs on one association, best of {args.repeat}')
        for label, times in rows.items():
            rate = len(files) / min(times)
            print(f'  {label:40} {rate:8,.0f} files/s  / DCMTK {rate / base:4.2f}')
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
