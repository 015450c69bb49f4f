"""Primitives of the PS3.8 wire codec, shared by :mod:`pynetdicom2.pdu`,
:mod:`pynetdicom2.pduitems` and :mod:`pynetdicom2.userdataitems`.

Every PDU, item and sub-item of PS3.8 9.3 is a header of type, reserved field and length
followed by fields of fixed layout, UIDs among them. This module holds what those codecs
have in common and nothing else: reading an exact number of bytes from a stream, one whole
item at a time; the error that names the item, the byte offset and the fault
(:class:`~pynetdicom2.exceptions.PDUProcessingError`, with the A-ABORT reason of PS3.8 9.3.8
that fits); packing fields; encoding and decoding UIDs; and equality by value of the decoded
objects. It knows no PDU, item or sub-item itself.

Usage::

    from pynetdicom2 import wirecodec

    raw, offset, stream, wrapped = wirecodec.read_item(stream, 'Some Item (0x10)', 0x10)
    uid = wirecodec.decode_uid(raw[4:], 'Some Item (0x10)', offset)
"""

from __future__ import annotations

import io
import struct
from struct import Struct
from typing import Any, BinaryIO, Union

from pydicom import config as _pydicom_config
from pydicom.uid import UID

from pynetdicom2.exceptions import PDUProcessingError

__all__ = [
    'BytesLike',
    'Stream',
    'ITEM_HEADER',
    'REASON_UNRECOGNISED_PDU',
    'REASON_UNEXPECTED_PDU',
    'REASON_UNRECOGNISED_PARAMETER',
    'REASON_UNEXPECTED_PARAMETER',
    'REASON_INVALID_PARAMETER_VALUE',
    'ValueEquality',
    'as_stream',
    'as_uid',
    'check_consumed',
    'decode_uid',
    'encode_uid',
    'fault',
    'next_type',
    'pack',
    'read_exact',
    'read_item',
    'tell',
]

BytesLike = Union[bytes, bytearray, memoryview]
Stream = Union[BinaryIO, io.BytesIO]

#: PS3.8 9.3.1: every item and sub-item starts with type (1), reserved (1), length (2), big
#: endian.
ITEM_HEADER = Struct('>B B H')

# A-ABORT reasons (PS3.8 9.3.8) carried by PDUProcessingError.
#: Unrecognised PDU.
REASON_UNRECOGNISED_PDU = 1
#: Unexpected PDU.
REASON_UNEXPECTED_PDU = 2
#: Unrecognised PDU parameter.
REASON_UNRECOGNISED_PARAMETER = 4
#: Unexpected PDU parameter.
REASON_UNEXPECTED_PARAMETER = 5
#: Invalid PDU parameter value.
REASON_INVALID_PARAMETER_VALUE = 6

# Decoded UIDs, keyed by their raw bytes. Building a pydicom UID costs microseconds and an
# A-ASSOCIATE-RQ repeats the same few transfer syntaxes hundreds of times. Bounded, because the
# keys come from the peer.
_UID_CACHE: dict[bytes, UID] = {}
_UID_CACHE_MAX = 4096
_IGNORE = _pydicom_config.IGNORE
_READ_CHUNK = 1 << 20


def fault(
    name: str, offset: int, problem: str, abort_reason: int = REASON_INVALID_PARAMETER_VALUE
) -> PDUProcessingError:
    """Build the error for a malformed item: which item, where, and what was wrong.

    >>> fault('Some Item (0x10)', 4, 'item length 3, expected 4')
    PDUProcessingError('Some Item (0x10) at offset 4: item length 3, expected 4')
    """
    return PDUProcessingError(f'{name} at offset {offset}: {problem}', abort_reason=abort_reason)


def read_exact(stream: Stream, n: int, what: str = 'item') -> bytes:
    """Read exactly ``n`` bytes from ``stream`` or raise :class:`PDUProcessingError`.

    >>> read_exact(io.BytesIO(b'abc'), 2)
    b'ab'
    """
    if n <= _READ_CHUNK:
        data = stream.read(n) if n else b''
    else:
        # A declared length comes from the peer: read in chunks, so that a huge length on a
        # short stream never allocates the whole amount up front.
        parts = []
        remaining = n
        while remaining:
            chunk = stream.read(min(remaining, _READ_CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
        data = b''.join(parts)
    if data is None:  # a non-blocking stream with nothing ready
        data = b''
    if len(data) != n:
        raise PDUProcessingError(
            f'{what}: truncated, expected {n} bytes but the stream ended after {len(data)}'
        )
    return bytes(data)


def next_type(stream: BinaryIO) -> int | None:
    """Peek at the type byte of the next item; None at the end of the stream.

    >>> next_type(io.BytesIO(b'\\x40\\x00'))
    64
    """
    head = stream.read(1)
    if not head:
        return None
    stream.seek(-1, io.SEEK_CUR)
    return head[0]


def tell(stream: Stream) -> int:
    """Return the stream position for error messages, 0 when the stream cannot tell."""
    try:
        return stream.tell()
    except (OSError, AttributeError, ValueError):
        return 0


def as_stream(stream: Stream | BytesLike) -> tuple[Stream, bool]:
    """Accept a binary stream or a bytes-like object; say whether it was wrapped."""
    if isinstance(stream, (bytes, bytearray, memoryview)):
        return io.BytesIO(stream), True
    return stream, False


def check_consumed(stream: Stream, name: str, wrapped: bool) -> None:
    """A bytes-like argument must hold exactly one item, nothing after it."""
    if wrapped:
        rest = stream.read()
        if rest:
            raise PDUProcessingError(
                f'{name}: {len(rest)} unexpected bytes after the end of the item',
                abort_reason=REASON_INVALID_PARAMETER_VALUE,
            )


def read_item(
    stream: Stream | BytesLike, name: str, item_type: int | None
) -> tuple[bytes, int, Stream, bool]:
    """Read one whole item (4-byte header and body) from a stream.

    Returns ``(raw_item, offset_of_item, stream, wrapped)``; the item's declared length is
    honoured exactly, so the stream is left at the next item. ``item_type`` None takes an
    item of any type.

    >>> read_item(b'\\x10\\x00\\x00\\x01x', 'Some Item (0x10)', 0x10)[:2]
    (b'\\x10\\x00\\x00\\x01x', 0)
    """
    stream, wrapped = as_stream(stream)
    base = tell(stream)
    header = read_exact(stream, 4, f'{name} at offset {base}: header')
    found, _, length = ITEM_HEADER.unpack(header)
    if item_type is not None and found != item_type:
        raise fault(name, base, f'item type 0x{found:02X} found', REASON_UNEXPECTED_PARAMETER)
    body = read_exact(stream, length, f'{name} at offset {base}: item length {length}')
    return header + body, base, stream, wrapped


def decode_uid(raw: bytes, name: str, offset: int, field: str = 'UID') -> UID:
    """Decode a UID field; it must not be empty and must be ASCII.

    A trailing NUL or space is padding some peers add to odd-length UIDs (PS3.5 6.2, VR UI),
    so it is dropped.

    >>> decode_uid(b'1.2.840.10008.1.1\\x00', 'Some Item (0x10)', 0)
    '1.2.840.10008.1.1'
    """
    uid = _UID_CACHE.get(raw)
    if uid is not None:
        return uid
    try:
        text = raw.decode('ascii')
    except UnicodeDecodeError:
        raise fault(name, offset, f'{field} {raw!r} is not ASCII') from None
    text = text.rstrip('\x00 ')
    if not text:
        raise fault(name, offset, f'{field} is empty')
    # Validation of the UID grammar belongs to negotiation (an unknown UID is refused there,
    # not aborted here); pydicom would only warn, so it is told not to.
    uid = UID(text, validation_mode=_IGNORE)
    if len(_UID_CACHE) < _UID_CACHE_MAX:
        _UID_CACHE[raw] = uid
    return uid


def encode_uid(uid: str, name: str, field: str = 'UID') -> bytes:
    """Encode a UID field: non-empty, printable ASCII without spaces (PS3.5 9.1).

    >>> encode_uid('1.2.840.10008.1.1', 'Some Item (0x10)')
    b'1.2.840.10008.1.1'
    """
    try:
        raw = uid.encode('ascii')
    except (UnicodeEncodeError, AttributeError):
        raise PDUProcessingError(f'{name}: {field} {uid!r} is not an ASCII string') from None
    if not raw:
        raise PDUProcessingError(f'{name}: {field} is empty')
    if raw.translate(None, _UID_CHARS):
        raise PDUProcessingError(f'{name}: {field} {uid!r} holds spaces or control characters')
    return raw


# Bytes allowed in an encoded UID: printable ASCII except the space (0x21-0x7E).
_UID_CHARS = bytes(range(0x21, 0x7F))


def as_uid(value: str | bytes) -> UID:
    """Wrap ``value`` in a pydicom UID (a no-op for a UID), so that constructed and decoded
    objects hold the same type."""
    if type(value) is UID:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode('ascii', 'replace')
    return UID(value)


def pack(fmt: Struct, name: str, *values: Any) -> bytes:
    """``fmt.pack(*values)`` that reports an out-of-range field as PDUProcessingError.

    >>> pack(ITEM_HEADER, 'Some Item (0x10)', 0x10, 0, 70000)
    Traceback (most recent call last):
    ...
    pynetdicom2.exceptions.PDUProcessingError: Some Item (0x10): cannot encode (16, 0, 70000):
    ...
    """
    try:
        return fmt.pack(*values)
    except struct.error as exc:
        raise PDUProcessingError(f'{name}: cannot encode {values!r}: {exc}') from None


class ValueEquality:
    """Equality by type and attributes, so that a decoded object equals the one encoded.

    The objects are mutable, so (like lists) they are not hashable.
    """

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    # No __hash__: a class that defines __eq__ alone gets ``__hash__ = None`` from Python.
