"""A scripted DICOM UL peer over a raw TCP socket, for the DUL provider's tests.

The peer knows nothing of PDUs beyond the 6-byte header: a test sends the exact bytes it wants
(well-formed or not) and asserts the exact bytes that come back. Every socket has a timeout,
so a test that waits for something that never comes fails instead of hanging.

Usage::

    peer, accepted = ScriptedPeer.pair()       # acceptor side: the provider owns `accepted`
    with peer:
        peer.send(a_associate_rq_bytes)
        ...
        peer.send(A_RELEASE_RQ)
        peer.expect(A_RELEASE_RP)
        peer.expect_closed()

    with Listener() as listener:                # requestor side: the provider connects here
        with listener.accept() as peer:
            assert peer.read_pdu() == a_associate_rq_bytes
"""

from __future__ import annotations

import socket
import struct
from types import TracebackType

#: Seconds any socket operation of a test may take before the test fails.
TIMEOUT = 5.0

_HEADER = struct.Struct('>B B I')

# PDUs as PS3.8 9.3 lays them out, written here byte by byte so that the tests do not trust
# the encoder they exercise.
A_RELEASE_RQ = bytes.fromhex('05 00 00000004 00000000')
A_RELEASE_RP = bytes.fromhex('06 00 00000004 00000000')


def a_abort(source: int, reason: int) -> bytes:
    """An A-ABORT PDU (PS3.8 9.3.8): type 07H, length 4, two reserved bytes, source, reason."""
    return bytes((0x07, 0, 0, 0, 0, 4, 0, 0, source, reason))


def a_associate_rj(result: int, source: int, reason: int) -> bytes:
    """An A-ASSOCIATE-RJ PDU (PS3.8 9.3.4): type 03H, length 4, reserved, result, source, reason."""
    return bytes((0x03, 0, 0, 0, 0, 4, 0, result, source, reason))


def p_data_tf(context_id: int, control: int, fragment: bytes) -> bytes:
    """A P-DATA-TF PDU (PS3.8 9.3.5) with one PDV: item length, context ID, control header."""
    pdv = struct.pack('>I B B', len(fragment) + 2, context_id, control) + fragment
    return _HEADER.pack(0x04, 0, len(pdv)) + pdv


def loopback_pair() -> tuple[socket.socket, socket.socket]:
    """A connected TCP pair on 127.0.0.1 (client end, accepted end), timeouts and NODELAY set."""
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        server.settimeout(TIMEOUT)
        client = socket.create_connection(server.getsockname(), timeout=TIMEOUT)
        accepted, _ = server.accept()
    for end in (client, accepted):
        end.settimeout(TIMEOUT)
        end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client, accepted


class Listener:
    """A listening socket for a requestor-side provider to connect to."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(1)
        self.sock.settimeout(TIMEOUT)
        self.address: tuple[str, int] = self.sock.getsockname()

    def accept(self) -> ScriptedPeer:
        conn, _ = self.sock.accept()
        conn.settimeout(TIMEOUT)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return ScriptedPeer(conn)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ScriptedPeer:
    """One end of a DICOM UL connection, driven byte by byte by a test."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[ScriptedPeer, socket.socket]:
        """A peer and the socket an acceptor-side provider should own."""
        client, accepted = loopback_pair()
        return cls(client), accepted

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_exact(self, size: int, timeout: float = TIMEOUT) -> bytes:
        """Exactly ``size`` bytes; AssertionError if the connection ends first."""
        self.sock.settimeout(timeout)
        buffer = bytearray(size)
        view = memoryview(buffer)
        while view:
            count = self.sock.recv_into(view)
            if not count:
                raise AssertionError(
                    f'connection closed after {size - len(view)} of {size} expected bytes: '
                    f'{bytes(buffer[: size - len(view)]).hex()}'
                )
            view = view[count:]
        return bytes(buffer)

    def read_pdu(self, timeout: float = TIMEOUT) -> bytes:
        """One whole PDU, header included."""
        header = self.recv_exact(6, timeout)
        _, _, length = _HEADER.unpack(header)
        return header + self.recv_exact(length, timeout)

    def expect(self, expected: bytes, timeout: float = TIMEOUT) -> None:
        """The next bytes on the wire are exactly ``expected``."""
        got = self.recv_exact(len(expected), timeout)
        assert got == expected, f'expected {expected.hex()}, got {got.hex()}'

    def expect_closed(self, timeout: float = TIMEOUT) -> None:
        """The provider closes the connection (orderly or reset) with nothing more to say."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return
        assert data == b'', f'expected the connection to close, got {data.hex()}'

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> ScriptedPeer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
