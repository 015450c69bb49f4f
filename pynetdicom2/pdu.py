"""Protocol data units of the DICOM upper layer and their items (PS3.8 9.3).

This module owns the seven PDUs (A-ASSOCIATE-RQ/-AC/-RJ, P-DATA-TF, A-RELEASE-RQ/-RP,
A-ABORT) and the items of the A-ASSOCIATE PDUs (application context, presentation context,
abstract and transfer syntax, user information) plus the presentation data value item of
P-DATA-TF. User-information sub-items live in :mod:`pynetdicom2.userdataitems`.

Rules of this module:

* It is pure: bytes in, objects out, and back. No sockets, no threads, no negotiation — an even
  presentation context ID or an unknown transfer syntax decodes fine; deciding what to answer is
  the association layer's job.
* Encoding is byte-exact to PS3.8 9.3. AE titles are space padded to 16 bytes; a title that does
  not fit the AE value representation raises instead of being truncated.
* Decoding is defensive: every length field is checked against the bytes that enclose it, and
  the only exception a decoder raises is :class:`~pynetdicom2.exceptions.PDUProcessingError`,
  whose message names the PDU or item, the byte offset (from the start of the PDU) and the
  fault, and whose ``abort_reason`` is the A-ABORT reason that fits (PS3.8 9.3.8).
* Reserved fields are kept for round trips but never tested on receipt (PS3.8 9.3.1).
* :meth:`PDataTfPDU.decode` does not copy payloads: each
  :attr:`PresentationDataValueItem.data_value` it produces is a ``memoryview`` slice of the
  buffer it was given. Do not reuse or resize that buffer while the PDVs are alive.

Usage::

    from pynetdicom2 import pdu

    raw = pdu.AReleaseRqPDU().encode()     # 05 00 00000004 00000000
    message = pdu.decode_pdu(raw)           # -> AReleaseRqPDU(reserved1=0,reserved2=0)

    data = pdu.PDataTfPDU([pdu.PresentationDataValueItem(1, b'\\x03' + command_set)])
    for pdv in pdu.decode_pdu(data.encode()).data_value_items:
        control, fragment = pdv.data_value[0], pdv.data_value[1:]
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from struct import Struct
from typing import Any, BinaryIO, ClassVar, Union

from pydicom.uid import UID

from pynetdicom2.exceptions import PDUProcessingError
from pynetdicom2.userdataitems import (
    _IGNORE,
    _ITEM_HEADER,
    _UNEXPECTED_PARAMETER,
    AsynchronousOperationsWindowSubItem,
    GenericUserDataSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    ScpScuRoleSelectionSubItem,
    SOPClassExtendedNegotiationSubItem,
    UserIdentityNegotiationSubItem,
    UserIdentityNegotiationSubItemAc,
    _as_stream,
    _as_uid,
    _check_consumed,
    _decode_uid,
    _encode_uid,
    _fault,
    _pack,
    _read_exact,
    _read_item,
    _sub_item_name,
    _tell,
    _ValueEquality,
)

__all__ = [
    'PDU_HEADER_LENGTH',
    'PDU_TYPES',
    'SUB_ITEM_TYPES',
    'UserItem',
    'VariableItems',
    'decode_pdu',
    'AAssociatePDUBase',
    'AAssociateRqPDU',
    'AAssociateAcPDU',
    'AAssociateRjPDU',
    'PDataTfPDU',
    'AReleasePDUBase',
    'AReleaseRqPDU',
    'AReleaseRpPDU',
    'AAbortPDU',
    'ApplicationContextItem',
    'PresentationContextItemRQ',
    'PresentationContextItemAC',
    'AbstractSyntaxSubItem',
    'TransferSyntaxSubItem',
    'UserInformationItem',
    'PresentationDataValueItem',
]

BytesLike = Union[bytes, bytearray, memoryview]

#: PS3.8 9.3.1: PDU type (1), reserved (1), PDU length (4, big endian).
PDU_HEADER_LENGTH = 6

_PDU_HEADER = Struct('>B B I')
_UINT32 = Struct('>I')
# A P-DATA-TF header followed by the header of its first PDV (PS3.8 9.3.5, 9.3.5.1)
_PDATA_ONE_PDV = Struct('>B B I I B')
# Builds an object without running __init__; the hot decoders set the attributes themselves.
_new = object.__new__

# Abort reasons (PS3.8 9.3.8) carried by PDUProcessingError.
_UNRECOGNISED_PDU = 1
_UNEXPECTED_PDU = 2
_UNRECOGNISED_PARAMETER = 4

UserItem = Union[
    MaximumLengthSubItem,
    ImplementationClassUIDSubItem,
    AsynchronousOperationsWindowSubItem,
    ScpScuRoleSelectionSubItem,
    ImplementationVersionNameSubItem,
    SOPClassExtendedNegotiationSubItem,
    UserIdentityNegotiationSubItem,
    UserIdentityNegotiationSubItemAc,
    GenericUserDataSubItem,
]

#: The user-information sub-items this library understands (PS3.8 D.1, PS3.7 D.3.3); any
#: other type decodes as :class:`~pynetdicom2.userdataitems.GenericUserDataSubItem`.
SUB_ITEM_TYPES: dict[int, type] = {
    0x52: ImplementationClassUIDSubItem,
    0x51: MaximumLengthSubItem,
    0x55: ImplementationVersionNameSubItem,
    0x53: AsynchronousOperationsWindowSubItem,
    0x54: ScpScuRoleSelectionSubItem,
    0x56: SOPClassExtendedNegotiationSubItem,
    0x58: UserIdentityNegotiationSubItem,
    0x59: UserIdentityNegotiationSubItemAc,
}

# PS3.5 6.2 (AE): default repertoire without control characters and without backslash.
_AE_TITLE_CHARS = bytes(c for c in range(0x20, 0x7F) if c != 0x5C)
_PRINTABLE = bytes(range(0x20, 0x7F))


def _next_type(stream: BinaryIO) -> int | None:
    """Peek at the type byte of the next item; None at the end of the stream.

    >>> _next_type(io.BytesIO(b'\\x40\\x00'))
    64
    """
    head = stream.read(1)
    if not head:
        return None
    stream.seek(-1, io.SEEK_CUR)
    return head[0]


def _decode_ae_title(raw16: bytes, where: str = 'AE title') -> str:
    """Decode a 16-byte AE title field.

    Spaces and NULs are stripped from both ends (PS3.8 9.3.2: they are not significant; some
    peers pad with NULs). Any other character outside 0x20-0x7E raises PDUProcessingError. An
    all-space title decodes to ``''``; refusing it is negotiation's job.

    >>> _decode_ae_title(b'  STORESCP      ')
    'STORESCP'
    """
    title = bytes(raw16).strip(b' \x00')
    if title.translate(None, _PRINTABLE):
        raise PDUProcessingError(f'{where}: {bytes(raw16)!r} holds characters outside 0x20-0x7E')
    return title.decode('ascii')


def _decode_ae_title_untested(raw16: bytes) -> str:
    """Decode an AE title field whose value PS3.8 says not to test (A-ASSOCIATE-AC)."""
    return bytes(raw16).strip(b' \x00').decode('latin-1')


def _encode_ae_title(title: str | bytes, where: str) -> bytes:
    """Encode an AE title: 1-16 characters of PS3.5 AE, space padded to 16 bytes (PS3.8 9.3.2).

    >>> _encode_ae_title('ECHOSCU', 'Calling AE title')
    b'ECHOSCU         '
    """
    if isinstance(title, str):
        try:
            raw = title.encode('ascii')
        except UnicodeEncodeError:
            raise PDUProcessingError(f'{where} {title!r} is not ASCII') from None
    elif isinstance(title, (bytes, bytearray, memoryview)):
        raw = bytes(title)
    else:
        raise PDUProcessingError(f'{where} must be str or bytes, not {type(title).__name__}')
    # PS3.5 6.2: leading and trailing spaces are not significant
    stripped = raw.strip(b' ')
    if not stripped:
        raise PDUProcessingError(f'{where} {title!r} is empty or all spaces')
    if len(stripped) > 16:
        raise PDUProcessingError(f'{where} {title!r} is longer than 16 bytes')
    if stripped.translate(None, _AE_TITLE_CHARS):
        raise PDUProcessingError(
            f'{where} {title!r} holds a backslash or characters outside 0x20-0x7E')
    return stripped.ljust(16, b' ')


def _sub_item_bounds(
    buf: bytes, pos: int, end: int, parent: str, base: int
) -> tuple[int, int, int]:
    """Read the header of the (sub-)item at ``pos`` inside a parent ending at ``end``.

    Returns ``(item_type, reserved, item_end)`` after checking that the header is complete and
    that the item length stays inside the parent.
    """
    if end - pos < 4:
        raise _fault(parent, base + pos,
                     f'truncated item header: {end - pos} bytes left, a header needs 4')
    item_type, reserved, length = _ITEM_HEADER.unpack_from(buf, pos)
    item_end = pos + 4 + length
    if item_end > end:
        raise _fault(_item_name(item_type), base + pos,
                     f'item length {length} overruns the enclosing {parent}, '
                     f'which has {end - pos - 4} bytes left')
    return item_type, reserved, item_end


def _decode_sub_items(buf: bytes, pos: int, end: int, base: int) -> list[UserItem]:
    """Decode the user-information sub-items in ``buf[pos:end]``."""
    items: list[UserItem] = []
    while pos < end:
        item_type, _, item_end = _sub_item_bounds(buf, pos, end, UserInformationItem._name, base)
        # PS3.7 D.3.3: an unknown sub-item is kept, not fatal
        cls = SUB_ITEM_TYPES.get(item_type, GenericUserDataSubItem)
        items.append(cls._from_buffer(buf, pos, item_end, base))
        pos = item_end
    return items


class _Item(_ValueEquality):
    """Shared behaviour of the A-ASSOCIATE items: total_length(), stream decoding, repr."""

    item_type: ClassVar[int]
    _name: ClassVar[str]
    _repr_fields: ClassVar[tuple[str, ...]] = ()

    @property
    def item_length(self) -> int:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def total_length(self) -> int:
        """Length of the encoded item, its 4-byte header included."""
        return 4 + self.item_length

    def encode(self) -> bytes:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    @classmethod
    def _from_buffer(cls, buf: bytes, start: int, end: int, base: int) -> Any:
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    @classmethod
    def decode(cls, stream: BinaryIO | BytesLike) -> Any:
        """Decode one item from a binary stream (or from a bytes-like object holding exactly
        one item), leaving the stream just after it."""
        raw, base, stream, wrapped = _read_item(stream, cls._name, cls.item_type)
        item = cls._from_buffer(raw, 0, len(raw), base)
        _check_consumed(stream, cls._name, wrapped)
        return item

    def __repr__(self) -> str:
        args = ', '.join(f'{field}={getattr(self, field)!r}' for field in self._repr_fields)
        return f'{type(self).__name__}({args})'


class ApplicationContextItem(_Item):
    """Application Context Item (0x10), PS3.8 9.3.2.1.

    DICOM defines one application context name, ``1.2.840.10008.3.1.1.1`` (PS3.7 A.2.1).

    >>> ApplicationContextItem('1.2.840.10008.3.1.1.1').encode()[:4]
    b'\\x10\\x00\\x00\\x15'
    """

    item_type: ClassVar[int] = 0x10
    header: ClassVar[Struct] = _ITEM_HEADER
    _name: ClassVar[str] = 'Application Context Item (0x10)'
    _repr_fields = ('context_name', 'reserved')

    def __init__(self, context_name: str, reserved: int = 0):
        self.context_name = _as_uid(context_name)
        self.reserved = reserved

    @property
    def item_length(self) -> int:
        return len(self.context_name)

    def encode(self) -> bytes:
        raw = _encode_uid(self.context_name, self._name, 'application context name')
        return _pack(_ITEM_HEADER, self._name, 0x10, self.reserved, len(raw)) + raw

    @classmethod
    def _from_buffer(cls, buf: bytes, start: int, end: int, base: int) -> ApplicationContextItem:
        name = _decode_uid(buf[start + 4:end], cls._name, base + start, 'application context name')
        return cls(name, buf[start + 1])


class _SyntaxSubItem(_Item):
    """Abstract and transfer syntax sub-items: a header and one UID."""

    def __init__(self, name: str, reserved: int = 0):
        self.name = _as_uid(name)
        self.reserved = reserved

    _repr_fields = ('name', 'reserved')

    @property
    def item_length(self) -> int:
        return len(self.name)

    def encode(self) -> bytes:
        key = (self.item_type, self.reserved, self.name)
        raw = _SYNTAX_CACHE.get(key)
        if raw is None:
            uid = _encode_uid(self.name, self._name, 'syntax name')
            raw = _pack(_ITEM_HEADER, self._name, self.item_type, self.reserved, len(uid)) + uid
            if len(_SYNTAX_CACHE) < _SYNTAX_CACHE_MAX:
                _SYNTAX_CACHE[key] = raw
        return raw

    @classmethod
    def _from_buffer(cls, buf: bytes, start: int, end: int, base: int) -> Any:
        return cls(_decode_uid(buf[start + 4:end], cls._name, base + start, 'syntax name'),
                   buf[start + 1])


# Encoded syntax sub-items, keyed by (type, reserved, UID): an A-ASSOCIATE-RQ proposes the same
# few transfer syntaxes in every presentation context. Bounded; encode only sees our own UIDs.
_SYNTAX_CACHE: dict[tuple[int, int, str], bytes] = {}
_SYNTAX_CACHE_MAX = 4096


class AbstractSyntaxSubItem(_SyntaxSubItem):
    """Abstract Syntax Sub-item (0x30), PS3.8 9.3.2.2.1: the proposed SOP class UID.

    >>> AbstractSyntaxSubItem('1.2.840.10008.1.1').encode()
    b'0\\x00\\x00\\x111.2.840.10008.1.1'
    """

    item_type: ClassVar[int] = 0x30
    _name: ClassVar[str] = 'Abstract Syntax Sub-item (0x30)'


class TransferSyntaxSubItem(_SyntaxSubItem):
    """Transfer Syntax Sub-item (0x40), PS3.8 9.3.2.2.2.

    >>> TransferSyntaxSubItem('1.2.840.10008.1.2').name.name
    'Implicit VR Little Endian'
    """

    item_type: ClassVar[int] = 0x40
    _name: ClassVar[str] = 'Transfer Syntax Sub-item (0x40)'


class PresentationContextItemRQ(_Item):
    """Presentation Context Item of an A-ASSOCIATE-RQ (0x20), PS3.8 9.3.2.2.

    One abstract syntax and one or more transfer syntaxes, in order of preference.
    ``context_id`` should be odd, 1-255 (checked by negotiation, not here).

    >>> item = PresentationContextItemRQ(
    ...     1, AbstractSyntaxSubItem('1.2.840.10008.1.1'),
    ...     [TransferSyntaxSubItem('1.2.840.10008.1.2')])
    >>> item.total_length()
    50
    """

    item_type: ClassVar[int] = 0x20
    header: ClassVar[Struct] = Struct('>B B H B B B B')
    _name: ClassVar[str] = 'Presentation Context Item (0x20)'
    _repr_fields = ('context_id', 'abs_sub_item', 'ts_sub_items')

    def __init__(
        self,
        context_id: int,
        abs_sub_item: AbstractSyntaxSubItem,
        ts_sub_items: list[TransferSyntaxSubItem],
        reserved1: int = 0,
        reserved2: int = 0,
        reserved3: int = 0,
        reserved4: int = 0,
    ):
        self.context_id = context_id
        self.abs_sub_item = abs_sub_item
        self.ts_sub_items = ts_sub_items
        self.reserved1 = reserved1
        self.reserved2 = reserved2
        self.reserved3 = reserved3
        self.reserved4 = reserved4

    @property
    def item_length(self) -> int:
        return 4 + self.abs_sub_item.total_length() + sum(
            ts.total_length() for ts in self.ts_sub_items)

    def encode(self) -> bytes:
        if self.abs_sub_item is None or not self.ts_sub_items:
            # PS3.8 9.3.2.2: one abstract syntax and one or more transfer syntaxes
            raise PDUProcessingError(
                f'{self._name} {self.context_id}: needs an abstract syntax and at least one '
                'transfer syntax')
        parts = [b'', self.abs_sub_item.encode()]
        parts += [ts.encode() for ts in self.ts_sub_items]
        length = 4 + sum(map(len, parts))
        parts[0] = _pack(self.header, self._name, 0x20, self.reserved1, length, self.context_id,
                         self.reserved2, self.reserved3, self.reserved4)
        return b''.join(parts)

    @classmethod
    def _from_buffer(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> PresentationContextItemRQ:
        name = cls._name
        if end - start < 8:
            raise _fault(name, base + start, f'item length {end - start - 4} is shorter than the '
                         '4 bytes of context ID and reserved fields')
        _, reserved1, _, context_id, reserved2, reserved3, reserved4 = cls.header.unpack_from(
            buf, start)
        abstract = None
        syntaxes = []
        pos = start + 8
        # This loop is the hot path of an A-ASSOCIATE-RQ (hundreds of sub-items): the header
        # checks of _sub_item_bounds are inlined.
        unpack_from = _ITEM_HEADER.unpack_from
        while pos < end:
            if end - pos < 4:
                raise _fault(name, base + pos,
                             f'truncated sub-item header: {end - pos} bytes left, a header needs 4')
            item_type, reserved, length = unpack_from(buf, pos)
            item_end = pos + 4 + length
            if item_end > end:
                raise _fault(_item_name(item_type), base + pos,
                             f'item length {length} overruns the enclosing {name}, which has '
                             f'{end - pos - 4} bytes left')
            if item_type == 0x40:
                uid = _decode_uid(buf[pos + 4:item_end], TransferSyntaxSubItem._name, base + pos,
                                  'transfer syntax name')
                syntaxes.append(TransferSyntaxSubItem(uid, reserved))
            elif item_type == 0x30 and abstract is None:
                uid = _decode_uid(buf[pos + 4:item_end], AbstractSyntaxSubItem._name, base + pos,
                                  'abstract syntax name')
                abstract = AbstractSyntaxSubItem(uid, reserved)
            elif item_type == 0x30:
                raise _fault(name, base + pos, 'a second Abstract Syntax Sub-item (0x30)',
                             _UNEXPECTED_PARAMETER)
            else:
                raise _fault(name, base + pos, f'unknown sub-item type 0x{item_type:02X}, '
                             'expected 0x30 or 0x40', _UNRECOGNISED_PARAMETER)
            pos = item_end
        if abstract is None:
            raise _fault(name, base + start, 'no Abstract Syntax Sub-item (0x30)')
        if not syntaxes:
            raise _fault(name, base + start, 'no Transfer Syntax Sub-item (0x40)')
        return cls(context_id, abstract, syntaxes, reserved1, reserved2, reserved3, reserved4)


class PresentationContextItemAC(_Item):
    """Presentation Context Item of an A-ASSOCIATE-AC (0x21), PS3.8 9.3.3.2.

    ``result_reason``: 0 acceptance, 1 user rejection, 2 no reason (provider rejection),
    3 abstract syntax not supported, 4 transfer syntaxes not supported. For a refused context
    the transfer syntax is not significant (PS3.8 9.3.3.2): it may be ``None`` (no sub-item is
    sent) and a received one is not tested.

    >>> PresentationContextItemAC(1, 0, TransferSyntaxSubItem('1.2.840.10008.1.2')).encode()[:8]
    b'!\\x00\\x00\\x19\\x01\\x00\\x00\\x00'
    """

    item_type: ClassVar[int] = 0x21
    header: ClassVar[Struct] = Struct('>B B H B B B B')
    _name: ClassVar[str] = 'Presentation Context Item (0x21)'
    _repr_fields = ('context_id', 'result_reason', 'ts_sub_item')

    def __init__(
        self,
        context_id: int,
        result_reason: int,
        ts_sub_item: TransferSyntaxSubItem | None,
        reserved1: int = 0,
        reserved2: int = 0,
        reserved3: int = 0,
    ):
        self.context_id = context_id
        self.result_reason = result_reason
        self.ts_sub_item = ts_sub_item
        self.reserved1 = reserved1
        self.reserved2 = reserved2
        self.reserved3 = reserved3

    @property
    def item_length(self) -> int:
        return 4 + (self.ts_sub_item.total_length() if self.ts_sub_item is not None else 0)

    def encode(self) -> bytes:
        syntax = self.ts_sub_item
        if syntax is None:
            if self.result_reason == 0:
                raise PDUProcessingError(
                    f'{self._name} {self.context_id}: an accepted context needs its transfer '
                    'syntax')
            body = b''
        elif syntax.name == '' and self.result_reason != 0:
            # A refused context may carry an empty, insignificant transfer syntax.
            body = _pack(_ITEM_HEADER, syntax._name, 0x40, syntax.reserved, 0)
        else:
            body = syntax.encode()
        return _pack(self.header, self._name, 0x21, self.reserved1, 4 + len(body),
                     self.context_id, self.reserved2, self.result_reason, self.reserved3) + body

    @classmethod
    def _from_buffer(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> PresentationContextItemAC:
        name = cls._name
        if end - start < 8:
            raise _fault(name, base + start, f'item length {end - start - 4} is shorter than the '
                         '4 bytes of context ID, result and reserved fields')
        _, reserved1, _, context_id, reserved2, result, reserved3 = cls.header.unpack_from(
            buf, start)
        pos = start + 8
        syntax = None
        if pos < end:
            item_type, reserved, item_end = _sub_item_bounds(buf, pos, end, name, base)
            if item_type != 0x40:
                raise _fault(name, base + pos, f'sub-item type 0x{item_type:02X} found, expected '
                             'a Transfer Syntax Sub-item (0x40)', _UNEXPECTED_PARAMETER)
            if item_end != end:
                raise _fault(name, base + item_end, f'{end - item_end} unexpected bytes after the '
                             'Transfer Syntax Sub-item')
            raw = buf[pos + 4:item_end]
            if result == 0:
                uid = _decode_uid(raw, TransferSyntaxSubItem._name, base + pos,
                                  'transfer syntax name')
            else:
                # PS3.8 9.3.3.2: not significant for a refused context, so not tested
                uid = UID(raw.rstrip(b'\x00 ').decode('latin-1'), validation_mode=_IGNORE)
            syntax = TransferSyntaxSubItem(uid, reserved)
        elif result == 0:
            raise _fault(name, base + start, 'accepted context without a Transfer Syntax '
                         'Sub-item (0x40)')
        return cls(context_id, result, syntax, reserved1, reserved2, reserved3)


class UserInformationItem(_Item):
    """User Information Item (0x50), PS3.8 9.3.2.3 and Annex D.

    ``user_data`` is a list of sub-items from :mod:`pynetdicom2.userdataitems`; the maximum
    length sub-item normally comes first.

    >>> UserInformationItem([MaximumLengthSubItem(16384)]).encode().hex()
    '500000085100000400004000'
    """

    item_type: ClassVar[int] = 0x50
    header: ClassVar[Struct] = _ITEM_HEADER
    _name: ClassVar[str] = 'User Information Item (0x50)'
    _repr_fields = ('user_data', 'reserved')

    def __init__(self, user_data: list[UserItem], reserved: int = 0):
        self.user_data = user_data
        self.reserved = reserved

    @property
    def item_length(self) -> int:
        return sum(item.total_length for item in self.user_data)

    def encode(self) -> bytes:
        parts = [b'']
        parts += [item.encode() for item in self.user_data]
        parts[0] = _pack(_ITEM_HEADER, self._name, 0x50, self.reserved, sum(map(len, parts)))
        return b''.join(parts)

    @staticmethod
    def sub_items(stream: BinaryIO | BytesLike) -> list[UserItem]:
        """Decode sub-items until the end of ``stream``; unknown types become
        :class:`~pynetdicom2.userdataitems.GenericUserDataSubItem`.

        >>> UserInformationItem.sub_items(io.BytesIO(bytes.fromhex('5100000400004000')))
        [MaximumLengthSubItem(maximum_length_received=16384, reserved=0, item_length=4)]
        """
        stream, _ = _as_stream(stream)
        base = _tell(stream)
        data = bytes(stream.read())
        return _decode_sub_items(data, 0, len(data), base)

    @classmethod
    def _from_buffer(cls, buf: bytes, start: int, end: int, base: int) -> UserInformationItem:
        return cls(_decode_sub_items(buf, start + 4, end, base), buf[start + 1])


class PresentationDataValueItem(_ValueEquality):
    """Presentation Data Value Item of a P-DATA-TF PDU, PS3.8 9.3.5.1.

    ``data_value`` is the whole presentation data value: the message control header byte
    (PS3.8 E.2: bit 0 set = command, clear = data set; bit 1 set = last fragment) followed by
    the fragment. After :meth:`PDataTfPDU.decode` it is a ``memoryview`` slice of the received
    buffer (it compares equal to bytes with the same content; call ``bytes()`` for a copy).

    >>> pdv = PresentationDataValueItem(1, b'\\x03\\x00')
    >>> pdv.encode()
    b'\\x00\\x00\\x00\\x03\\x01\\x03\\x00'
    >>> pdv.data_value[0] & 1, pdv.data_value[1:]
    (1, b'\\x00')
    """

    header: ClassVar[Struct] = Struct('>I B')  # item length, presentation context ID
    _name: ClassVar[str] = 'Presentation Data Value Item'

    def __init__(self, context_id: int, data_value: BytesLike):
        self.context_id = context_id
        self.data_value = data_value

    @property
    def item_length(self) -> int:
        """Context ID (1) plus the presentation data value."""
        return 1 + _nbytes(self.data_value)

    def total_length(self) -> int:
        """Length of the encoded item, its 4-byte length field included."""
        return 5 + _nbytes(self.data_value)

    def encode(self) -> bytes:
        value = self.data_value
        size = _nbytes(value)
        if not size:
            # PS3.8 9.3.5.1: the PDV holds at least the message control header
            raise PDUProcessingError(f'{self._name}: data_value is empty, it needs at least the '
                                     'message control header')
        return _pack(self.header, self._name, 1 + size, self.context_id) + value

    @classmethod
    def decode(cls, stream: BinaryIO | BytesLike) -> PresentationDataValueItem:
        """Decode one PDV item from a binary stream (or bytes-like object); ``data_value`` is
        bytes here."""
        stream, wrapped = _as_stream(stream)
        base = _tell(stream)
        length = _UINT32.unpack(_read_exact(stream, 4, f'{cls._name} at offset {base}'))[0]
        if length < 2:
            raise _fault(cls._name, base, f'item length {length}: a PDV needs at least the '
                         'presentation context ID and the message control header')
        body = _read_exact(stream, length, f'{cls._name} at offset {base}: item length {length}')
        _check_consumed(stream, cls._name, wrapped)
        return cls(body[0], body[1:])

    def __repr__(self) -> str:
        value = self.data_value
        size = _nbytes(value)
        if size:
            shown = f'<{size} bytes, message control header 0x{value[0]:02X}>'
        else:
            shown = '<0 bytes>'
        return f'PresentationDataValueItem(context_id={self.context_id!r}, data_value={shown})'


def _nbytes(value: BytesLike) -> int:
    """Size in bytes of a bytes-like object (a memoryview's len() counts elements)."""
    return value.nbytes if type(value) is memoryview else len(value)


_VARIABLE_ITEM_TYPES: dict[int, type[_Item]] = {
    0x10: ApplicationContextItem,
    0x20: PresentationContextItemRQ,
    0x21: PresentationContextItemAC,
    0x50: UserInformationItem,
}

_ITEM_NAMES = {cls.item_type: cls._name for cls in _VARIABLE_ITEM_TYPES.values()}
_ITEM_NAMES[0x30] = AbstractSyntaxSubItem._name
_ITEM_NAMES[0x40] = TransferSyntaxSubItem._name


def _item_name(item_type: int) -> str:
    """Name of any item or sub-item type for error messages."""
    return _ITEM_NAMES.get(item_type) or _sub_item_name(item_type)


VariableItems = Union[
    ApplicationContextItem, PresentationContextItemRQ, PresentationContextItemAC,
    UserInformationItem,
]


def _as_buffer(data: BytesLike) -> bytes | bytearray | memoryview:
    """Accept bytes, bytearray or a memoryview; a memoryview is cast to unsigned bytes so that
    len() and indexing count bytes."""
    if type(data) is bytes or type(data) is bytearray:
        return data
    view = memoryview(data)
    if view.format != 'B' or view.ndim != 1:
        view = view.cast('B')
    return view


class _PDU(_ValueEquality):
    """Shared behaviour of the PDUs: header checks, total_length()."""

    pdu_type: ClassVar[int]
    _name: ClassVar[str]
    # A base class decodes any of these types into the matching subclass.
    _subtypes: ClassVar[dict[int, type]] = {}

    pdu_length: Any

    def total_length(self) -> int:
        """Length of the encoded PDU, its 6-byte header included."""
        return 6 + self.pdu_length

    @classmethod
    def _check_header(cls, data: Any) -> tuple[type, int, int]:
        """Check the type and length fields of a whole PDU.

        Returns ``(class, reserved, pdu_length)``; the declared length must match the bytes
        given exactly (PS3.8 9.3.1).
        """
        size = len(data)
        if size < 6:
            raise _fault(cls._name, 0, f'truncated: {size} bytes, a PDU header needs 6')
        pdu_type, reserved, length = _PDU_HEADER.unpack_from(data, 0)
        target = cls._subtypes.get(pdu_type) if cls._subtypes else (
            cls if pdu_type == cls.pdu_type else None)
        if target is None:
            raise _fault(cls._name, 0, f'PDU type 0x{pdu_type:02X} found', _UNEXPECTED_PDU)
        if length != size - 6:
            raise _fault(target._name, 2, f'PDU length {length} does not match the {size - 6} '
                         'bytes after the header')
        return target, reserved, length


class AAssociatePDUBase(_PDU):
    """Common layout of A-ASSOCIATE-RQ (0x01) and A-ASSOCIATE-AC (0x02), PS3.8 9.3.2-9.3.3.

    ``variable_items``: one :class:`ApplicationContextItem`, presentation context items and one
    :class:`UserInformationItem`. ``reserved3`` is the 32 reserved bytes as a tuple of eight
    32-bit integers.
    """

    header: ClassVar[Struct] = Struct('>B B I H H 16s 16s 8I')
    _name: ClassVar[str] = 'A-ASSOCIATE PDU'
    _titles_tested: ClassVar[bool] = True

    def __init__(
        self,
        called_ae_title: str,
        calling_ae_title: str,
        variable_items: list[VariableItems],
        protocol_version: int = 1,
        reserved1: int = 0,
        reserved2: int = 0,
        reserved3: Sequence[int] | None = None,
    ):
        self.called_ae_title = called_ae_title
        self.calling_ae_title = calling_ae_title
        self.variable_items = variable_items
        self.protocol_version = protocol_version
        self.reserved1 = reserved1
        self.reserved2 = reserved2
        self.reserved3 = (0,) * 8 if reserved3 is None else tuple(reserved3)

    @property
    def pdu_length(self) -> int:
        """68 bytes of fixed fields plus the variable items."""
        return 68 + sum(item.total_length() for item in self.variable_items)

    def encode(self) -> bytes:
        """Encode the PDU; AE titles are space padded, a bad title raises PDUProcessingError."""
        name = self._name
        called = _encode_ae_title(self.called_ae_title, f'{name}: called AE title')
        calling = _encode_ae_title(self.calling_ae_title, f'{name}: calling AE title')
        parts = [b'']
        parts += [item.encode() for item in self.variable_items]
        length = 68 + sum(map(len, parts))
        try:
            parts[0] = self.header.pack(self.pdu_type, self.reserved1, length,
                                        self.protocol_version, self.reserved2, called, calling,
                                        *self.reserved3)
        except struct.error as exc:
            raise PDUProcessingError(f'{name}: cannot encode the header fields: {exc}') from None
        return b''.join(parts)

    @classmethod
    def decode(cls, raw_bytes: BytesLike) -> Any:
        """Decode a whole A-ASSOCIATE-RQ/-AC PDU, header included.

        Called on :class:`AAssociatePDUBase` it returns whichever of the two ``raw_bytes``
        holds; called on a subclass, the other type raises :class:`PDUProcessingError`.

        >>> raw = AAssociateRqPDU('STORESCP', 'STORESCU', [
        ...     ApplicationContextItem('1.2.840.10008.3.1.1.1')]).encode()
        >>> rq = AAssociatePDUBase.decode(raw)
        >>> type(rq).__name__, rq.called_ae_title, rq.variable_items[0].context_name
        ('AAssociateRqPDU', 'STORESCP', '1.2.840.10008.3.1.1.1')
        >>> AAssociateAcPDU.decode(raw)
        Traceback (most recent call last):
        ...
        pynetdicom2.exceptions.PDUProcessingError: A-ASSOCIATE-AC PDU (0x02) at offset 0:
        PDU type 0x01 found
        """
        buf = bytes(_as_buffer(raw_bytes))
        target, _, length = cls._check_header(buf)
        name = target._name
        if length < 68:
            raise _fault(name, 2, f'PDU length {length} is shorter than the 68 bytes of fixed '
                         'fields')
        (_, reserved1, _, version, reserved2, called, calling,
         *reserved3) = target.header.unpack_from(buf)
        if target._titles_tested:
            called_title = _decode_ae_title(called, f'{name} at offset 10: called AE title')
            calling_title = _decode_ae_title(calling, f'{name} at offset 26: calling AE title')
        else:
            # PS3.8 9.3.3: in the AC these fields echo the RQ and are not tested
            called_title = _decode_ae_title_untested(called)
            calling_title = _decode_ae_title_untested(calling)
        items = []
        pos, end = 74, len(buf)
        while pos < end:
            if end - pos < 4:
                raise _fault(name, pos, f'truncated item header: {end - pos} bytes left, a '
                             'header needs 4')
            item_type, _, item_length = _ITEM_HEADER.unpack_from(buf, pos)
            item_cls = _VARIABLE_ITEM_TYPES.get(item_type)
            if item_cls is None:
                raise _fault(name, pos, f'unknown variable item type 0x{item_type:02X}',
                             _UNRECOGNISED_PARAMETER)
            item_end = pos + 4 + item_length
            if item_end > end:
                raise _fault(item_cls._name, pos, f'item length {item_length} overruns the '
                             f'{name}, which has {end - pos - 4} bytes left')
            items.append(item_cls._from_buffer(buf, pos, item_end, 0))
            pos = item_end
        return target(called_title, calling_title, items, version, reserved1, reserved2,
                      tuple(reserved3))

    def __repr__(self) -> str:
        extra = ''
        if self.reserved1 or self.reserved2 or any(self.reserved3):
            extra = (f', reserved1={self.reserved1!r}, reserved2={self.reserved2!r}, '
                     f'reserved3={self.reserved3!r}')
        return (f'{type(self).__name__}(called_ae_title={self.called_ae_title!r}, '
                f'calling_ae_title={self.calling_ae_title!r}, '
                f'variable_items={self.variable_items!r}, '
                f'protocol_version={self.protocol_version!r}{extra})')


class AAssociateRqPDU(AAssociatePDUBase):
    """A-ASSOCIATE-RQ PDU (0x01), PS3.8 9.3.2.

    >>> rq = AAssociateRqPDU('STORESCP', 'STORESCU', [
    ...     ApplicationContextItem('1.2.840.10008.3.1.1.1'),
    ...     PresentationContextItemRQ(1, AbstractSyntaxSubItem('1.2.840.10008.1.1'),
    ...                               [TransferSyntaxSubItem('1.2.840.10008.1.2')]),
    ...     UserInformationItem([MaximumLengthSubItem(16384)])])
    >>> AAssociateRqPDU.decode(rq.encode()).called_ae_title
    'STORESCP'
    """

    pdu_type: ClassVar[int] = 0x01
    _name: ClassVar[str] = 'A-ASSOCIATE-RQ PDU (0x01)'


class AAssociateAcPDU(AAssociatePDUBase):
    """A-ASSOCIATE-AC PDU (0x02), PS3.8 9.3.3.

    The AE title fields echo the request; on receipt they are not tested (PS3.8 9.3.3), so
    they decode without validation.
    """

    pdu_type: ClassVar[int] = 0x02
    _name: ClassVar[str] = 'A-ASSOCIATE-AC PDU (0x02)'
    _titles_tested: ClassVar[bool] = False


AAssociatePDUBase._subtypes = {0x01: AAssociateRqPDU, 0x02: AAssociateAcPDU}
AAssociateRqPDU._subtypes = {}
AAssociateAcPDU._subtypes = {}


class AAssociateRjPDU(_PDU):
    """A-ASSOCIATE-RJ PDU (0x03), PS3.8 9.3.4.

    ``result`` 1 permanent, 2 transient; ``source`` 1 service user, 2 ACSE provider,
    3 presentation provider; ``reason_diag`` the reason for that source.

    >>> AAssociateRjPDU(1, 1, 7).encode()
    b'\\x03\\x00\\x00\\x00\\x00\\x04\\x00\\x01\\x01\\x07'
    """

    pdu_type: ClassVar[int] = 0x03
    format: ClassVar[Struct] = Struct('>B B I B B B B')
    pdu_length: ClassVar[int] = 4
    _name: ClassVar[str] = 'A-ASSOCIATE-RJ PDU (0x03)'

    def __init__(self, result: int, source: int, reason_diag: int, reserved1: int = 0,
                 reserved2: int = 0):
        self.result = result
        self.source = source
        self.reason_diag = reason_diag
        self.reserved1 = reserved1
        self.reserved2 = reserved2

    @classmethod
    def total_length(cls) -> int:  # type: ignore[override]
        """Always 10."""
        return 10

    def encode(self) -> bytes:
        return _pack(self.format, self._name, 0x03, self.reserved1, 4, self.reserved2,
                     self.result, self.source, self.reason_diag)

    @classmethod
    def decode(cls, raw_bytes: BytesLike) -> AAssociateRjPDU:
        """Decode a whole A-ASSOCIATE-RJ PDU, header included."""
        data = _as_buffer(raw_bytes)
        cls._check_header(data)
        if len(data) != 10:
            raise _fault(cls._name, 2, f'PDU length {len(data) - 6}, expected 4')
        _, reserved1, _, reserved2, result, source, reason = cls.format.unpack_from(data)
        return cls(result, source, reason, reserved1, reserved2)

    def __repr__(self) -> str:
        return (f'AAssociateRjPDU(result={self.result!r}, source={self.source!r}, '
                f'reason_diag={self.reason_diag!r})')


class PDataTfPDU(_PDU):
    """P-DATA-TF PDU (0x04), PS3.8 9.3.5: one or more presentation data value items.

    >>> pdu = PDataTfPDU([PresentationDataValueItem(1, b'\\x02' + b'data')])
    >>> pdu.encode()
    b'\\x04\\x00\\x00\\x00\\x00\\n\\x00\\x00\\x00\\x06\\x01\\x02data'
    >>> PDataTfPDU.decode(pdu.encode()).data_value_items[0].data_value == b'\\x02data'
    True
    """

    pdu_type: ClassVar[int] = 0x04
    header: ClassVar[Struct] = _PDU_HEADER
    _name: ClassVar[str] = 'P-DATA-TF PDU (0x04)'

    def __init__(self, data_value_items: list[PresentationDataValueItem], reserved: int = 0):
        self.data_value_items = data_value_items
        self.reserved = reserved

    @property
    def pdu_length(self) -> int:
        """Sum of the PDV items' total lengths."""
        return sum(item.total_length() for item in self.data_value_items)

    def encode(self) -> bytes:
        return b''.join(self.encode_parts())

    def encode_parts(self) -> list[BytesLike]:
        """The encoded PDU as a list of buffers, without copying any payload.

        ``b''.join(pdu.encode_parts()) == pdu.encode()``. The PDU header and the PDV item
        headers are new ``bytes`` (the first PDV's header shares one with the PDU's); each
        ``data_value`` is in the list as it is, not copied, for a scatter-gather write such
        as ``socket.sendmsg``. The caller must keep those buffers unchanged until written.
        Raises :class:`PDUProcessingError` exactly where :meth:`encode` does.

        >>> PDataTfPDU([PresentationDataValueItem(1, b'\\x02data')]).encode_parts()
        [b'\\x04\\x00\\x00\\x00\\x00\\n\\x00\\x00\\x00\\x06\\x01', b'\\x02data']
        """
        items = self.data_value_items
        try:
            if len(items) == 1:
                # The common case: one PDV, one header for the PDU and the item together.
                item = items[0]
                value = item.data_value
                size = value.nbytes if type(value) is memoryview else len(value)
                if size:
                    header = _PDATA_ONE_PDV.pack(4, self.reserved, size + 5, size + 1,
                                                 item.context_id)
                    return [header, value]
            parts: list[BytesLike] = [b'']
            append = parts.append
            pack = PresentationDataValueItem.header.pack
            total = 0
            for item in items:
                value = item.data_value
                size = value.nbytes if type(value) is memoryview else len(value)
                if not size:
                    # PS3.8 9.3.5.1: the PDV holds at least the message control header
                    raise PDUProcessingError(f'{self._name}: a PDV with an empty data_value')
                append(pack(size + 1, item.context_id))
                append(value)
                total += size + 5
            if not total:
                # PS3.8 9.3.5: one or more PDV items
                raise PDUProcessingError(f'{self._name}: needs at least one PDV item')
            parts[0] = _PDU_HEADER.pack(0x04, self.reserved, total) + parts[1]
            del parts[1]
        except struct.error as exc:
            raise PDUProcessingError(f'{self._name}: cannot encode: {exc}') from None
        return parts

    @classmethod
    def decode(cls, raw_bytes: BytesLike) -> PDataTfPDU:
        """Decode a whole P-DATA-TF PDU without copying the payloads.

        Each PDV's ``data_value`` is a ``memoryview`` slice of ``raw_bytes``.
        """
        view = memoryview(raw_bytes)
        if type(raw_bytes) is not bytes and (view.format != 'B' or view.ndim != 1):
            view = view.cast('B')
        # Fast path, the common case: exactly one well-formed PDV. Anything else, including
        # every malformed PDU, goes through the careful loop below, which names the fault.
        size = len(view)
        if size >= 12:
            pdu_type, reserved, length, item_length, context_id = _PDATA_ONE_PDV.unpack_from(view)
            if pdu_type == 4 and length == size - 6 and item_length == size - 10:
                pdv = _new(PresentationDataValueItem)
                pdv.context_id = context_id
                pdv.data_value = view[11:]
                pdu = _new(cls)
                pdu.data_value_items = [pdv]
                pdu.reserved = reserved
                return pdu
        return cls._decode_pdvs(view)

    @classmethod
    def _decode_pdvs(cls, view: memoryview) -> PDataTfPDU:
        """Decode any number of PDVs, checking every length (PS3.8 9.3.5)."""
        _, reserved, _ = cls._check_header(view)
        items = []
        append = items.append
        unpack_from = _UINT32.unpack_from
        item_cls = PresentationDataValueItem
        pos, end = 6, len(view)
        while pos < end:
            if end - pos < 4:
                raise _fault(item_cls._name, pos, f'truncated: {end - pos} bytes left, the item '
                             'length field needs 4')
            length = unpack_from(view, pos)[0]
            if length < 2:
                raise _fault(item_cls._name, pos, f'item length {length}: a PDV needs at least '
                             'the presentation context ID and the message control header')
            item_end = pos + 4 + length
            if item_end > end:
                raise _fault(item_cls._name, pos, f'item length {length} overruns the '
                             f'{cls._name}, which has {end - pos - 4} bytes left')
            append(item_cls(view[pos + 4], view[pos + 5:item_end]))
            pos = item_end
        if not items:
            raise _fault(cls._name, 6, 'no Presentation Data Value Item (PS3.8 9.3.5 needs one '
                         'or more)')
        return cls(items, reserved)

    def __repr__(self) -> str:
        return f'PDataTfPDU(data_value_items={self.data_value_items!r})'


class AReleasePDUBase(_PDU):
    """Common layout of A-RELEASE-RQ (0x05) and A-RELEASE-RP (0x06), PS3.8 9.3.6-9.3.7."""

    format: ClassVar[Struct] = Struct('>B B I I')
    pdu_length: ClassVar[int] = 4
    _name: ClassVar[str] = 'A-RELEASE PDU'

    def __init__(self, reserved1: int = 0, reserved2: int = 0):
        self.reserved1 = reserved1
        self.reserved2 = reserved2

    @classmethod
    def total_length(cls) -> int:  # type: ignore[override]
        """Always 10."""
        return 10

    def encode(self) -> bytes:
        return _pack(self.format, self._name, self.pdu_type, self.reserved1, 4, self.reserved2)

    @classmethod
    def decode(cls, raw_bytes: BytesLike) -> Any:
        """Decode a whole A-RELEASE-RQ/-RP PDU, header included."""
        data = _as_buffer(raw_bytes)
        target, _, _ = cls._check_header(data)
        if len(data) != 10:
            raise _fault(target._name, 2, f'PDU length {len(data) - 6}, expected 4')
        _, reserved1, _, reserved2 = cls.format.unpack_from(data)
        return target(reserved1, reserved2)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(reserved1={self.reserved1!r},reserved2={self.reserved2!r})'


class AReleaseRqPDU(AReleasePDUBase):
    """A-RELEASE-RQ PDU (0x05), PS3.8 9.3.6.

    >>> AReleaseRqPDU().encode()
    b'\\x05\\x00\\x00\\x00\\x00\\x04\\x00\\x00\\x00\\x00'
    """

    pdu_type: ClassVar[int] = 0x05
    _name: ClassVar[str] = 'A-RELEASE-RQ PDU (0x05)'


class AReleaseRpPDU(AReleasePDUBase):
    """A-RELEASE-RP PDU (0x06), PS3.8 9.3.7.

    >>> AReleaseRpPDU().encode()[0]
    6
    """

    pdu_type: ClassVar[int] = 0x06
    _name: ClassVar[str] = 'A-RELEASE-RP PDU (0x06)'


AReleasePDUBase._subtypes = {0x05: AReleaseRqPDU, 0x06: AReleaseRpPDU}
AReleaseRqPDU._subtypes = {}
AReleaseRpPDU._subtypes = {}


class AAbortPDU(_PDU):
    """A-ABORT PDU (0x07), PS3.8 9.3.8.

    ``source`` 0 service user, 2 service provider; ``reason_diag`` (provider only): 0 not
    specified, 1 unrecognised PDU, 2 unexpected PDU, 4 unrecognised PDU parameter,
    5 unexpected PDU parameter, 6 invalid PDU parameter value.

    >>> AAbortPDU(2, 6).encode()
    b'\\x07\\x00\\x00\\x00\\x00\\x04\\x00\\x00\\x02\\x06'
    """

    pdu_type: ClassVar[int] = 0x07
    format: ClassVar[Struct] = Struct('>B B I B B B B')
    pdu_length: ClassVar[int] = 4
    _name: ClassVar[str] = 'A-ABORT PDU (0x07)'

    def __init__(self, source: int, reason_diag: int, reserved1: int = 0, reserved2: int = 0,
                 reserved3: int = 0):
        self.source = source
        self.reason_diag = reason_diag
        self.reserved1 = reserved1
        self.reserved2 = reserved2
        self.reserved3 = reserved3

    @classmethod
    def total_length(cls) -> int:  # type: ignore[override]
        """Always 10."""
        return 10

    def encode(self) -> bytes:
        return _pack(self.format, self._name, 0x07, self.reserved1, 4, self.reserved2,
                     self.reserved3, self.source, self.reason_diag)

    @classmethod
    def decode(cls, raw_bytes: BytesLike) -> AAbortPDU:
        """Decode a whole A-ABORT PDU, header included."""
        data = _as_buffer(raw_bytes)
        cls._check_header(data)
        if len(data) != 10:
            raise _fault(cls._name, 2, f'PDU length {len(data) - 6}, expected 4')
        _, reserved1, _, reserved2, reserved3, source, reason = cls.format.unpack_from(data)
        return cls(source, reason, reserved1, reserved2, reserved3)

    def __repr__(self) -> str:
        return f'AAbortPDU(source={self.source!r}, reason_diag={self.reason_diag!r})'


#: PDU type byte -> PDU class (PS3.8 9.3.1).
PDU_TYPES: dict[int, type] = {
    0x01: AAssociateRqPDU,
    0x02: AAssociateAcPDU,
    0x03: AAssociateRjPDU,
    0x04: PDataTfPDU,
    0x05: AReleaseRqPDU,
    0x06: AReleaseRpPDU,
    0x07: AAbortPDU,
}

_PDU_TYPES_GET = PDU_TYPES.get

PDU = Union[AAssociateRqPDU, AAssociateAcPDU, AAssociateRjPDU, PDataTfPDU, AReleaseRqPDU,
            AReleaseRpPDU, AAbortPDU]


def decode_pdu(data: BytesLike) -> PDU:
    """Decode one whole PDU, its 6-byte header included, into the matching PDU object.

    Raises :class:`PDUProcessingError` for anything malformed: ``abort_reason`` is 1 for an
    unrecognised PDU type, 4-6 for a bad parameter. A P-DATA-TF's payloads are memoryview
    slices of ``data``.

    >>> decode_pdu(b'\\x07\\x00\\x00\\x00\\x00\\x04\\x00\\x00\\x02\\x01')
    AAbortPDU(source=2, reason_diag=1)
    """
    if type(data) is not bytes and type(data) is not bytearray:
        data = _as_buffer(data)
    if len(data) < 6:
        raise _fault('PDU', 0, f'truncated: {len(data)} bytes, a PDU header needs 6')
    pdu_type = data[0]
    cls = _PDU_TYPES_GET(pdu_type)
    if cls is None:
        raise _fault('PDU', 0, f'unrecognised PDU type 0x{pdu_type:02X}', _UNRECOGNISED_PDU)
    return cls.decode(data)
