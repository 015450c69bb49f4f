"""A TCP relay that adds a fixed one-way latency: a WAN link on loopback, without netem.

The relay listens on a local port; each connection it accepts it pairs with a new connection
to the target, and forwards the bytes both ways. Every chunk it reads is written to the other
side ``delay`` seconds after it was read, and not before: the link is a pipe with latency,
not a stop-and-wait. Bytes read 1 ms apart are delivered 1 ms apart, each ``delay`` late, and
any number of chunks may be in flight at once (up to ``buffer_limit`` bytes a direction,
standing in for the TCP window). Order is kept; an end of stream (FIN) is delayed like data;
a reset is passed on as a reset, after the data read before it.

Nagle's algorithm is off on every socket of the relay (``TCP_NODELAY``), so the relay itself
never holds small writes back; whether the endpoints do is theirs to choose.

One thread runs everything: a selector loop over the listening socket, the connections and a
wake-up socket pair, sleeping until the next chunk is due. ``stop()`` wakes it, closes every
socket and joins it. The loop uses ``select()``, not epoll: epoll's timeouts are whole
milliseconds (Python rounds them up), which bunches chunks sent less than a millisecond
apart; select's are microseconds. A relay has a handful of sockets, so select costs nothing.

In a program::

    with LatencyRelay(('127.0.0.1', 11112), delay=0.010) as relay:  # 20 ms round trip
        remote = {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': relay.port}
        ...

From the command line (until Ctrl-C or SIGTERM)::

    python benchmarks/latency_relay.py --listen 0 --target 127.0.0.1:11112 --delay-ms 10
"""

from __future__ import annotations

import argparse
import collections
import selectors
import signal
import socket
import sys
import threading
import time
from types import TracebackType

#: Bytes read from a socket at a time.
CHUNK = 256 * 1024
#: Buffers handed to one sendmsg call at most (well under any IOV_MAX).
MAX_IOV = 64


def _nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _close_hard(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0) instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
    except OSError:
        pass
    sock.close()


class _Direction:
    """One direction of one connection: what ``src`` sent, due on ``dst`` at a given time."""

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src = src
        self.dst = dst
        #: (due time, bytes), in the order read; the head may be a memoryview (partly sent).
        self.queue: collections.deque[tuple[float, bytes | memoryview]] = collections.deque()
        self.queued = 0
        #: When the end of stream read from src is due on dst (None: not seen yet).
        self.eof_due: float | None = None
        self.reset = False  # the end was a reset, not a FIN
        self.reading = True
        self.blocked = False  # dst's send buffer is full: wait until it is writable
        self.done = False  # the end of stream was delivered
        self.forwarded = 0

    def next_due(self) -> float | None:
        if self.blocked or self.done:
            return None
        if self.queue:
            return self.queue[0][0]
        return self.eof_due


class _Connection:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.up = _Direction(client, server)
        self.down = _Direction(server, client)
        self.masks = {client: 0, server: 0}
        self.closed = False

    def directions(self) -> tuple[_Direction, _Direction]:
        return self.up, self.down


class LatencyRelay:
    """Forward connections made to ``listen`` to ``target``, each byte ``delay`` s late.

    ``delay`` is one way: the round trip through the relay is twice that. ``buffer_limit``
    bytes at most wait in one direction of a connection; past it the relay stops reading that
    side until the backlog drains (so a link carries at most ``buffer_limit / delay`` bytes
    a second). The listening socket is bound when the relay is made (``port`` is known at
    once); ``start()`` (or ``with``) starts forwarding.
    """

    def __init__(
        self,
        target: tuple[str, int],
        delay: float,
        listen: tuple[str, int] = ('127.0.0.1', 0),
        *,
        buffer_limit: int = 16 * 1024 * 1024,
        connect_timeout: float = 10.0,
    ) -> None:
        if delay < 0:
            raise ValueError(f'delay {delay!r}: expected 0 or more seconds')
        self.target = target
        self.delay = float(delay)
        self.buffer_limit = buffer_limit
        self.connect_timeout = connect_timeout
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(listen)
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector = selectors.SelectSelector()  # microsecond timeouts: see above
        self._connections: list[_Connection] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        #: Connections accepted, and bytes forwarded client->target and target->client.
        self.accepted = 0
        self.bytes_up = 0
        self.bytes_down = 0
        #: Connections the target refused (their clients were closed at once).
        self.refused = 0
        #: The exception that ended the loop, if one did (``stop()`` raises it again).
        self.error: BaseException | None = None

    @property
    def port(self) -> int:
        return self.address[1]

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> LatencyRelay:
        if self._thread is not None:
            raise RuntimeError('the relay was started already')
        self._thread = threading.Thread(
            target=self._run, name=f'latency-relay-{self.port}', daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close every socket and join the loop; raise what ended the loop, if anything did."""
        self._stopping = True
        if self._thread is not None:
            try:
                self._wake_w.send(b'x')
            except OSError:  # the loop is gone already and closed its end
                pass
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f'{self._thread.name} did not stop within {timeout} s')
        else:
            self._close_all()
        if self.error is not None:
            raise RuntimeError(f'the latency relay failed: {self.error!r}') from self.error

    def __enter__(self) -> LatencyRelay:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._selector.register(self._listener, selectors.EVENT_READ, 'listen')
            self._selector.register(self._wake_r, selectors.EVENT_READ, 'wake')
            while not self._stopping:
                due = self._next_due()
                timeout = None if due is None else max(0.0, due - time.monotonic())
                for key, mask in self._selector.select(timeout):
                    if key.data == 'listen':
                        self._accept()
                    elif key.data == 'wake':
                        self._drain_wake()
                    else:
                        self._ready(key.data, key.fileobj, mask)
                self._deliver(time.monotonic())
        except BaseException as error:  # noqa: BLE001 - kept for stop() to raise
            self.error = error
        finally:
            self._close_all()

    def _next_due(self) -> float | None:
        times = [due for conn in self._connections for d in conn.directions()
                 if (due := d.next_due()) is not None]
        return min(times, default=None)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except BlockingIOError:
                return
            self.accepted += 1
            try:
                server = socket.create_connection(self.target, timeout=self.connect_timeout)
            except OSError:
                self.refused += 1
                _close_hard(client)
                continue
            for sock in (client, server):
                sock.setblocking(False)
                _nodelay(sock)
            conn = _Connection(client, server)
            self._connections.append(conn)
            self._update(conn)

    def _ready(self, conn: _Connection, sock: socket.socket, mask: int) -> None:
        if conn.closed:
            return
        if mask & selectors.EVENT_WRITE:
            for direction in conn.directions():
                if direction.dst is sock:
                    direction.blocked = False
        if mask & selectors.EVENT_READ:
            for direction in conn.directions():
                if direction.src is sock and direction.reading:
                    self._read(direction)

    def _read(self, direction: _Direction) -> None:
        now = time.monotonic()
        try:
            data = direction.src.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:  # a reset: pass it on after what came before it
            data = b''
            direction.reset = True
        if data:
            direction.queue.append((now + self.delay, data))
            direction.queued += len(data)
        else:
            direction.reading = False
            direction.eof_due = now + self.delay

    def _deliver(self, now: float) -> None:
        for conn in self._connections:
            if conn.closed:
                continue
            for direction in conn.directions():
                if not self._send_due(conn, direction, now):
                    break
            if conn.closed:
                continue
            if conn.up.done and conn.down.done:
                self._close(conn)
            else:
                self._update(conn)
        self._connections = [conn for conn in self._connections if not conn.closed]

    def _send_due(self, conn: _Connection, direction: _Direction, now: float) -> bool:
        """Send what is due on ``direction``; False when that closed the connection."""
        while direction.queue and not direction.blocked and direction.queue[0][0] <= now:
            buffers = []
            for due, data in direction.queue:
                if due > now or len(buffers) == MAX_IOV:
                    break
                buffers.append(data)
            try:
                sent = direction.dst.sendmsg(buffers)
            except BlockingIOError:
                direction.blocked = True
                break
            except OSError:  # the receiver is gone: so is the connection
                self._close(conn, hard=True)
                return False
            direction.forwarded += sent
            direction.queued -= sent
            if direction is conn.up:
                self.bytes_up += sent
            else:
                self.bytes_down += sent
            while sent:
                due, data = direction.queue[0]
                if sent >= len(data):
                    direction.queue.popleft()
                    sent -= len(data)
                else:
                    direction.queue[0] = (due, memoryview(data)[sent:])
                    sent = 0
                    direction.blocked = True  # a short write: the buffer is full
        if (not direction.queue and not direction.done and direction.eof_due is not None
                and direction.eof_due <= now):
            if direction.reset:
                self._close(conn, hard=True)
                return False
            try:
                direction.dst.shutdown(socket.SHUT_WR)
            except OSError:
                self._close(conn, hard=True)
                return False
            direction.done = True
        return True

    def _update(self, conn: _Connection) -> None:
        """Register each socket of ``conn`` for what its two directions wait for."""
        for sock in conn.masks:
            mask = 0
            for direction in conn.directions():
                if (direction.src is sock and direction.reading
                        and direction.queued < self.buffer_limit):
                    mask |= selectors.EVENT_READ
                if direction.dst is sock and direction.blocked:
                    mask |= selectors.EVENT_WRITE
            old = conn.masks[sock]
            if mask == old:
                continue
            if old == 0:
                self._selector.register(sock, mask, conn)
            elif mask == 0:
                self._selector.unregister(sock)
            else:
                self._selector.modify(sock, mask, conn)
            conn.masks[sock] = mask

    def _close(self, conn: _Connection, hard: bool = False) -> None:
        if conn.closed:
            return
        conn.closed = True
        for sock, mask in conn.masks.items():
            if mask:
                self._selector.unregister(sock)
            if hard:
                _close_hard(sock)
            else:
                sock.close()

    def _close_all(self) -> None:
        for conn in self._connections:
            self._close(conn, hard=True)
        self._connections = []
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()


# --- command line --------------------------------------------------------------------------------


def _address(text: str, default_host: str = '127.0.0.1') -> tuple[str, int]:
    host, _, port = text.rpartition(':')
    try:
        return host or default_host, int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: expected PORT or HOST:PORT') from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--listen', type=_address, default=('127.0.0.1', 0),
                        help='PORT or HOST:PORT to listen on (default 127.0.0.1, port 0: any '
                             'free port, printed at start)')
    parser.add_argument('--target', type=_address, required=True,
                        help='HOST:PORT (or PORT on 127.0.0.1) to forward connections to')
    parser.add_argument('--delay-ms', type=float, default=10.0,
                        help='one-way delay in milliseconds, each direction (default 10: a '
                             '20 ms round trip)')
    args = parser.parse_args(argv)
    finished = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: finished.set())
    relay = LatencyRelay(args.target, args.delay_ms / 1000, args.listen)
    with relay:
        print(f'listening on {relay.address[0]}:{relay.port}, forwarding to '
              f'{args.target[0]}:{args.target[1]} with {args.delay_ms:g} ms each way '
              f'({2 * args.delay_ms:g} ms round trip)', flush=True)
        while not finished.wait(3600):
            pass
    print(f'{relay.accepted} connections, {relay.bytes_up} bytes up, {relay.bytes_down} down',
          flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
