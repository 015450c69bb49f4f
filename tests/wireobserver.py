"""A TCP relay between two DICOM peers that reads what they say: PDUs and DIMSE command sets.

Put it between a requestor and an acceptor (the requestor connects to ``observer.port``, the
observer connects to the acceptor) and it forwards every byte unchanged, both ways, after
reading it. What it decodes is what tests about the Asynchronous Operations Window (PS3.7
D.3.3.3) need to see from outside either peer:

* the Asynchronous Operations Window sub-item (0x53) of the A-ASSOCIATE-RQ and -AC's user
  information (0x50): ``(invoked, performed)``, or None when the PDU has none;
* every DIMSE command set (P-DATA-TF PDVs with the command bit, reassembled from their
  fragments): command field, message ID, message ID being responded to, status;
* per direction, how many requests were outstanding at once at most. A request is
  outstanding from the last fragment of its command set until a response to it (its Message
  ID Being Responded To) with a final status arrives; Pending (0xFF00, 0xFF01) is not final.
  C-CANCEL-RQ (0x0FFF) is not an operation and counts for nothing.

Nothing here trusts the library under test: the PS3.8 9.3 layouts are read with ``struct``,
the command set (always Implicit VR Little Endian, group 0000) element by element.

Because each chunk is read before it is forwarded, a peer never sees a PDU the observer has
not: once a requestor has its A-RELEASE-RP, the observer has read everything before it.

Usage::

    with WireObserver(('127.0.0.1', scp_port)) as observer:
        with client.request_association(observer.remote('STORESCP')) as assoc:
            ...
    assert observer.max_outstanding(REQUESTOR) == 1
    assert observer.ac_window is None           # the acceptor sent no 0x53 sub-item
    assert not observer.errors

:class:`WireRecord` is the decoder alone (one per connection), fed bytes by a test directly.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

#: Who sent the bytes: the side that connected (and sent the A-ASSOCIATE-RQ), or the other.
REQUESTOR = 'requestor'
ACCEPTOR = 'acceptor'
SIDES = (REQUESTOR, ACCEPTOR)

#: Every socket operation of the observer finishes within this many seconds, or the
#: connection is closed and the timeout recorded in ``errors``.
TIMEOUT = 30.0

PENDING = (0xFF00, 0xFF01)
C_CANCEL_RQ = 0x0FFF
RESPONSE_BIT = 0x8000

# PS3.8 9.3
A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
P_DATA_TF = 0x04
USER_INFORMATION = 0x50
ASYNC_WINDOW = 0x53

_PDU_HEADER = struct.Struct('>BBI')  # type, reserved, length
_ITEM_HEADER = struct.Struct('>BBH')  # type, reserved, length
_PDV_HEADER = struct.Struct('>IBB')  # item length, context ID, message control header
_ELEMENT_HEADER = struct.Struct('<HHI')  # group, element, length (Implicit VR LE)
_US = struct.Struct('<H')
_WINDOW = struct.Struct('>HH')  # maximum number of operations invoked, performed
#: Protocol version, reserved, called and calling AE titles, 32 reserved bytes (PS3.8 9.3.2).
_ASSOCIATE_FIXED = 68

# command set elements (PS3.7 E.1), as (group << 16 | element)
_COMMAND_FIELD = 0x00000100
_MESSAGE_ID = 0x00000110
_RESPONDED_TO = 0x00000120
_STATUS = 0x00000900
_AFFECTED_SOP_INSTANCE = 0x00001000

Window = tuple[int, int]


@dataclass(frozen=True)
class Command:
    """One complete DIMSE command set as it went over the wire."""

    sender: str
    context_id: int
    command_field: int | None
    message_id: int | None
    responded_to: int | None
    status: int | None
    affected_sop_instance: str | None
    #: ``time.monotonic()`` when the observer had the whole command set.
    at: float = 0.0

    @property
    def is_response(self) -> bool:
        return self.command_field is not None and bool(self.command_field & RESPONSE_BIT)

    @property
    def is_request(self) -> bool:
        """An operation: a request other than C-CANCEL-RQ."""
        return (self.command_field is not None and not self.command_field & RESPONSE_BIT
                and self.command_field != C_CANCEL_RQ)

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING


def _other(side: str) -> str:
    return ACCEPTOR if side == REQUESTOR else REQUESTOR


class WireRecord:
    """Decodes what one connection carried, both directions; safe to feed from two threads.

    ``feed(sender, data)`` takes the bytes in any chunking. Anything malformed goes to
    ``errors`` (the stream of that direction is then no longer decoded); the record never
    raises from ``feed``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffers = {side: bytearray() for side in SIDES}
        self._fragments: dict[str, dict[int, bytearray]] = {side: {} for side in SIDES}
        self._broken = {side: False for side in SIDES}
        #: Types of the PDUs each side sent, in order.
        self.pdu_types: dict[str, list[int]] = {side: [] for side in SIDES}
        #: Every command set, in the order the observer completed them.
        self.commands: list[Command] = []
        #: Requests each side sent that have no final response yet: message ID -> command.
        self.outstanding: dict[str, dict[int, Command]] = {side: {} for side in SIDES}
        self._max_outstanding = {side: 0 for side in SIDES}
        #: Whether an A-ASSOCIATE-RQ / -AC went through, and the window sub-item each had.
        self.rq_seen = False
        self.ac_seen = False
        self.rq_window: Window | None = None
        self.ac_window: Window | None = None
        #: Responses that answered no outstanding request of the other side.
        self.unmatched: list[Command] = []
        #: What could not be decoded or made no sense, in words.
        self.errors: list[str] = []

    # -- queries -------------------------------------------------------------------------------

    def max_outstanding(self, sent_by: str = REQUESTOR) -> int:
        """Most requests ``sent_by`` that side were outstanding at once."""
        with self._lock:
            return self._max_outstanding[sent_by]

    def requests(self, sent_by: str = REQUESTOR) -> list[Command]:
        with self._lock:
            return [c for c in self.commands if c.sender == sent_by and c.is_request]

    def responses(self, sent_by: str = ACCEPTOR) -> list[Command]:
        with self._lock:
            return [c for c in self.commands if c.sender == sent_by and c.is_response]

    # -- decoding ------------------------------------------------------------------------------

    def feed(self, sender: str, data: bytes) -> None:
        if sender not in SIDES:
            raise ValueError(f'sender {sender!r}: expected one of {SIDES}')
        with self._lock:
            if self._broken[sender]:
                return
            buffer = self._buffers[sender]
            buffer += data
            offset = 0
            try:
                while len(buffer) - offset >= _PDU_HEADER.size:
                    pdu_type, _, length = _PDU_HEADER.unpack_from(buffer, offset)
                    end = offset + _PDU_HEADER.size + length
                    if end > len(buffer):
                        break
                    body = bytes(buffer[offset + _PDU_HEADER.size:end])
                    offset = end
                    self.pdu_types[sender].append(pdu_type)
                    self._pdu(sender, pdu_type, body)
            except _Malformed as error:
                self._broken[sender] = True
                self.errors.append(f'{sender}: {error}')
            del buffer[:offset]

    def _pdu(self, sender: str, pdu_type: int, body: bytes) -> None:
        if pdu_type == A_ASSOCIATE_RQ:
            self.rq_seen = True
            self.rq_window = self._window(body, 'A-ASSOCIATE-RQ')
        elif pdu_type == A_ASSOCIATE_AC:
            self.ac_seen = True
            self.ac_window = self._window(body, 'A-ASSOCIATE-AC')
        elif pdu_type == P_DATA_TF:
            self._p_data(sender, body)

    @staticmethod
    def _items(data: bytes, start: int, where: str) -> list[tuple[int, bytes]]:
        """The (type, value) items or sub-items laid end to end in ``data[start:]``."""
        items = []
        offset = start
        while offset < len(data):
            if len(data) - offset < _ITEM_HEADER.size:
                raise _Malformed(f'{where}: {len(data) - offset} bytes left at offset {offset},'
                                 ' too few for an item header')
            item_type, _, length = _ITEM_HEADER.unpack_from(data, offset)
            value_start = offset + _ITEM_HEADER.size
            if value_start + length > len(data):
                raise _Malformed(f'{where}: item 0x{item_type:02X} at offset {offset} claims '
                                 f'{length} bytes, {len(data) - value_start} left')
            items.append((item_type, data[value_start:value_start + length]))
            offset = value_start + length
        return items

    def _window(self, body: bytes, name: str) -> Window | None:
        if len(body) < _ASSOCIATE_FIXED:
            raise _Malformed(f'{name} of {len(body)} bytes, shorter than its fixed fields')
        windows = []
        for item_type, value in self._items(body, _ASSOCIATE_FIXED, name):
            if item_type != USER_INFORMATION:
                continue
            for sub_type, sub_value in self._items(value, 0, f'{name} user information'):
                if sub_type != ASYNC_WINDOW:
                    continue
                if len(sub_value) != _WINDOW.size:
                    raise _Malformed(f'{name}: window sub-item of {len(sub_value)} bytes, not 4')
                windows.append(_WINDOW.unpack(sub_value))
        if len(windows) > 1:
            self.errors.append(f'{name}: {len(windows)} window sub-items')
        return windows[0] if windows else None

    def _p_data(self, sender: str, body: bytes) -> None:
        offset = 0
        while offset < len(body):
            if len(body) - offset < _PDV_HEADER.size:
                raise _Malformed(f'P-DATA-TF: {len(body) - offset} bytes left at offset '
                                 f'{offset}, too few for a PDV header')
            length, context_id, control = _PDV_HEADER.unpack_from(body, offset)
            start = offset + _PDV_HEADER.size  # the fragment, after the two header bytes
            end = offset + 4 + length  # the item length counts those two bytes
            if length < 2 or end > len(body):
                raise _Malformed(f'P-DATA-TF: PDV at offset {offset} claims {length} bytes, '
                                 f'{len(body) - offset - 4} left')
            offset = end
            if not control & 0x01:
                continue  # a data-set fragment: not read
            fragments = self._fragments[sender].setdefault(context_id, bytearray())
            fragments += body[start:end]
            if control & 0x02:
                del self._fragments[sender][context_id]
                self._command(self._decode_command(sender, context_id, bytes(fragments)))

    @staticmethod
    def _decode_command(sender: str, context_id: int, data: bytes) -> Command:
        values: dict[int, bytes] = {}
        offset = 0
        while offset < len(data):
            if len(data) - offset < _ELEMENT_HEADER.size:
                raise _Malformed(f'command set: {len(data) - offset} bytes left at offset '
                                 f'{offset}, too few for an element header')
            group, element, length = _ELEMENT_HEADER.unpack_from(data, offset)
            start = offset + _ELEMENT_HEADER.size
            if group != 0x0000 or start + length > len(data):
                raise _Malformed(f'command set: element ({group:04X},{element:04X}) of length '
                                 f'{length} at offset {offset} in {len(data)} bytes')
            values[element] = data[start:start + length]
            offset = start + length

        def us(tag: int) -> int | None:
            value = values.get(tag)
            if value is None:
                return None
            if len(value) != 2:
                raise _Malformed(f'command set: (0000,{tag:04X}) of {len(value)} bytes, not 2')
            return int(_US.unpack(value)[0])

        instance = values.get(_AFFECTED_SOP_INSTANCE)
        return Command(
            sender, context_id, us(_COMMAND_FIELD), us(_MESSAGE_ID), us(_RESPONDED_TO),
            us(_STATUS),
            None if instance is None else instance.decode('ascii', 'replace').rstrip('\0 '),
            time.monotonic(),
        )

    def _command(self, command: Command) -> None:
        self.commands.append(command)
        sender = command.sender
        if command.is_request:
            waiting = self.outstanding[sender]
            if command.message_id is None:
                self.errors.append(f'{sender}: request 0x{command.command_field:04X} '
                                   'without a message ID')
                return
            if command.message_id in waiting:
                self.errors.append(f'{sender}: message ID {command.message_id} reused while '
                                   'outstanding')
            waiting[command.message_id] = command
            self._max_outstanding[sender] = max(self._max_outstanding[sender], len(waiting))
        elif command.is_response:
            waiting = self.outstanding[_other(sender)]
            if command.responded_to not in waiting:
                self.unmatched.append(command)
            elif not command.is_pending:
                del waiting[command.responded_to]


class _Malformed(Exception):
    pass


# --- the relay -----------------------------------------------------------------------------------


class _Link:
    """One relayed connection: two sockets, two pump threads, one record."""

    def __init__(self, observer: WireObserver, number: int, client: socket.socket,
                 server: socket.socket) -> None:
        self.observer = observer
        self.record = WireRecord()
        self.sockets = (client, server)
        name = f'wireobserver-{observer.port}-{number}'
        self.threads = [
            threading.Thread(target=self._pump, args=(client, server, REQUESTOR),
                             name=f'{name}-{REQUESTOR}'),
            threading.Thread(target=self._pump, args=(server, client, ACCEPTOR),
                             name=f'{name}-{ACCEPTOR}'),
        ]
        self.finished = threading.Event()
        self._ended = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket, sender: str) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    break
                self.record.feed(sender, data)
                dst.sendall(data)
        except OSError as error:
            if not self.observer.stopping:
                # a timeout, or a peer resetting: the observer notes it and passes it on
                if isinstance(error, socket.timeout):
                    self.record.errors.append(f'{sender}: no bytes for {TIMEOUT} s')
                self.shutdown()
        finally:
            with self._lock:
                self._ended += 1
                if self._ended == 2:
                    self.finished.set()

    def shutdown(self) -> None:
        """Wake both pumps: each sees the end of its stream (or an error) at once."""
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f'{thread.name} did not end within {timeout} s')
        for sock in self.sockets:
            sock.close()


class WireObserver:
    """Relay connections made to ``listen`` to ``target``, decoding both directions.

    Each connection gets a :class:`WireRecord` (``records``, in the order accepted). The
    listening socket is bound when the observer is made; ``with`` (or ``start``/``stop``)
    runs it. ``stop`` lets connections still open end by themselves for ``grace`` seconds,
    then shuts them, and joins every thread.
    """

    def __init__(self, target: tuple[str, int], *,
                 listen: tuple[str, int] = ('127.0.0.1', 0)) -> None:
        self.target = target
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(listen)
        self._listener.listen(16)
        self._listener.settimeout(TIMEOUT)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        for sock in (self._wake_r, self._wake_w):
            sock.settimeout(TIMEOUT)
        self._links: list[_Link] = []
        self._links_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.stopping = False
        #: Connections the target refused, in words.
        self.relay_errors: list[str] = []

    @property
    def port(self) -> int:
        return self.address[1]

    def remote(self, aet: str, **extra: Any) -> dict[str, Any]:
        """A remote AE dict that reaches ``target`` through the observer."""
        return {'aet': aet, 'address': self.address[0], 'port': self.port, **extra}

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> WireObserver:
        self._thread = threading.Thread(target=self._accept_loop,
                                        name=f'wireobserver-{self.port}-accept')
        self._thread.start()
        return self

    def stop(self, grace: float = 5.0) -> None:
        with self._links_lock:
            links = list(self._links)
        for link in links:  # the peers close a released association by themselves
            link.finished.wait(grace)
        self.stopping = True
        if self._thread is not None:
            self._wake_w.send(b'x')
            self._thread.join(TIMEOUT)
            if self._thread.is_alive():
                raise RuntimeError(f'{self._thread.name} did not end within {TIMEOUT} s')
        for link in links:
            link.shutdown()
            link.join(TIMEOUT)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()

    def __enter__(self) -> WireObserver:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        number = 0
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self.stopping:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_r in ready or self.stopping:
                    return
                try:
                    client, _ = self._listener.accept()
                except OSError as error:
                    self.relay_errors.append(f'accept: {error!r}')
                    continue
                client.settimeout(TIMEOUT)
                try:
                    server = socket.create_connection(self.target, timeout=TIMEOUT)
                except OSError as error:
                    self.relay_errors.append(f'connecting to {self.target}: {error!r}')
                    client.close()
                    continue
                for sock in (client, server):
                    sock.settimeout(TIMEOUT)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                number += 1
                link = _Link(self, number, client, server)
                with self._links_lock:
                    self._links.append(link)
                link.start()

    # -- what was seen -------------------------------------------------------------------------

    @property
    def records(self) -> list[WireRecord]:
        with self._links_lock:
            return [link.record for link in self._links]

    @property
    def errors(self) -> list[str]:
        """Everything that went wrong, in the relay or in decoding, over all connections."""
        return self.relay_errors + [e for record in self.records for e in record.errors]

    def max_outstanding(self, sent_by: str = REQUESTOR) -> int:
        """Most requests ``sent_by`` that side outstanding at once, on any one connection."""
        return max((record.max_outstanding(sent_by) for record in self.records), default=0)

    def association(self) -> WireRecord:
        """The record of the one connection that carried an A-ASSOCIATE-AC.

        AssertionError when there was none, or more than one: a test asking about "the"
        window must not pass by looking at the wrong connection or at none.
        """
        accepted = [record for record in self.records if record.ac_seen]
        assert len(accepted) == 1, (
            f'{len(accepted)} accepted associations went through the observer, expected one '
            f'({len(self.records)} connections)')
        return accepted[0]

    @property
    def rq_window(self) -> Window | None:
        """The window sub-item of the one association's A-ASSOCIATE-RQ, or None."""
        return self.association().rq_window

    @property
    def ac_window(self) -> Window | None:
        """The window sub-item of the one association's A-ASSOCIATE-AC, or None."""
        return self.association().ac_window
