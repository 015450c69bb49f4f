"""Items of the A-ASSOCIATE and P-DATA-TF PDUs (PS3.8 9.3.2, 9.3.3, 9.3.5.1).

This module owns the variable items of A-ASSOCIATE-RQ and -AC: application context (0x10),
presentation context (0x20 in the request, 0x21 in the acceptance) with its abstract syntax
(0x30) and transfer syntax (0x40) sub-items, and user information (0x50), whose sub-items live in
:mod:`pynetdicom2.userdataitems`; and the presentation data value item of P-DATA-TF. The PDUs
that carry them are in :mod:`pynetdicom2.pdu`, which exposes every class of this module under
its own name too.

The rules of :mod:`pynetdicom2.pdu` hold here: bytes in, objects out, and back; encoding is
byte-exact to PS3.8 9.3; decoding checks every length field against the bytes that enclose it
and raises only :class:`~pynetdicom2.exceptions.PDUProcessingError`, naming the item, the byte
offset and the fault; reserved fields are kept but never tested (PS3.8 9.3.1). Unlike the
sub-items of :mod:`pynetdicom2.userdataitems`, ``total_length()`` is a method here.

Usage::

    from pynetdicom2 import pduitems

    item = pduitems.PresentationContextItemRQ(
        1, pduitems.AbstractSyntaxSubItem('1.2.840.10008.1.1'),
        [pduitems.TransferSyntaxSubItem('1.2.840.10008.1.2')])
    again = pduitems.PresentationContextItemRQ.decode(item.encode())
"""

from __future__ import annotations

from struct import Struct
from typing import BinaryIO, ClassVar, TypeVar, Union

from pydicom import config as _pydicom_config
from pydicom.uid import UID

from pynetdicom2.exceptions import PDUProcessingError
from pynetdicom2.userdataitems import (
    SUB_ITEM_TYPES,
    GenericUserDataSubItem,
    UserItem,
    sub_item_name,
)
from pynetdicom2.wirecodec import (
    ITEM_HEADER,
    REASON_UNEXPECTED_PARAMETER,
    REASON_UNRECOGNISED_PARAMETER,
    BytesLike,
    ValueEquality,
    as_stream,
    as_uid,
    check_consumed,
    decode_uid,
    encode_uid,
    fault,
    pack,
    read_exact,
    read_item,
    tell,
)

__all__ = [
    'ApplicationContextItem',
    'PresentationContextItemRQ',
    'PresentationContextItemAC',
    'AbstractSyntaxSubItem',
    'TransferSyntaxSubItem',
    'UserInformationItem',
    'PresentationDataValueItem',
    'VARIABLE_ITEM_TYPES',
    'VariableItems',
]

_UINT32 = Struct('>I')
_IGNORE = _pydicom_config.IGNORE

_I = TypeVar('_I', bound='_Item')
_S = TypeVar('_S', bound='_SyntaxSubItem')


def _sub_item_bounds(
    buf: bytes, pos: int, end: int, parent: str, base: int
) -> tuple[int, int, int]:
    """Read the header of the (sub-)item at ``pos`` inside a parent ending at ``end``.

    Returns ``(item_type, reserved, item_end)`` after checking that the header is complete and
    that the item length stays inside the parent.
    """
    if end - pos < 4:
        raise fault(parent, base + pos,
                    f'truncated item header: {end - pos} bytes left, a header needs 4')
    item_type, reserved, length = ITEM_HEADER.unpack_from(buf, pos)
    item_end = pos + 4 + length
    if item_end > end:
        raise fault(_item_name(item_type), base + pos,
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


class _Item(ValueEquality):
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
    def _from_buffer(cls: type[_I], buf: bytes, start: int, end: int, base: int) -> _I:
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    @classmethod
    def decode(cls: type[_I], stream: BinaryIO | BytesLike) -> _I:
        """Decode one item from a binary stream (or from a bytes-like object holding exactly
        one item), leaving the stream just after it."""
        raw, base, stream, wrapped = read_item(stream, cls._name, cls.item_type)
        item = cls._from_buffer(raw, 0, len(raw), base)
        check_consumed(stream, cls._name, wrapped)
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
    header: ClassVar[Struct] = ITEM_HEADER
    _name: ClassVar[str] = 'Application Context Item (0x10)'
    _repr_fields = ('context_name', 'reserved')

    def __init__(self, context_name: str, reserved: int = 0):
        self.context_name = as_uid(context_name)
        self.reserved = reserved

    @property
    def item_length(self) -> int:
        return len(self.context_name)

    def encode(self) -> bytes:
        raw = encode_uid(self.context_name, self._name, 'application context name')
        return pack(ITEM_HEADER, self._name, 0x10, self.reserved, len(raw)) + raw

    @classmethod
    def _from_buffer(cls, buf: bytes, start: int, end: int, base: int) -> ApplicationContextItem:
        name = decode_uid(buf[start + 4:end], cls._name, base + start, 'application context name')
        return cls(name, buf[start + 1])


class _SyntaxSubItem(_Item):
    """Abstract and transfer syntax sub-items: a header and one UID."""

    def __init__(self, name: str, reserved: int = 0):
        self.name = as_uid(name)
        self.reserved = reserved

    _repr_fields = ('name', 'reserved')

    @property
    def item_length(self) -> int:
        return len(self.name)

    def encode(self) -> bytes:
        key = (self.item_type, self.reserved, self.name)
        raw = _SYNTAX_CACHE.get(key)
        if raw is None:
            uid = encode_uid(self.name, self._name, 'syntax name')
            raw = pack(ITEM_HEADER, self._name, self.item_type, self.reserved, len(uid)) + uid
            if len(_SYNTAX_CACHE) < _SYNTAX_CACHE_MAX:
                _SYNTAX_CACHE[key] = raw
        return raw

    @classmethod
    def _from_buffer(cls: type[_S], buf: bytes, start: int, end: int, base: int) -> _S:
        return cls(decode_uid(buf[start + 4:end], cls._name, base + start, 'syntax name'),
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
        parts[0] = pack(self.header, self._name, 0x20, self.reserved1, length, self.context_id,
                        self.reserved2, self.reserved3, self.reserved4)
        return b''.join(parts)

    @classmethod
    def _from_buffer(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> PresentationContextItemRQ:
        name = cls._name
        if end - start < 8:
            raise fault(name, base + start, f'item length {end - start - 4} is shorter than the '
                        '4 bytes of context ID and reserved fields')
        _, reserved1, _, context_id, reserved2, reserved3, reserved4 = cls.header.unpack_from(
            buf, start)
        abstract = None
        syntaxes = []
        pos = start + 8
        # This loop is the hot path of an A-ASSOCIATE-RQ (hundreds of sub-items): the header
        # checks of _sub_item_bounds are inlined.
        unpack_from = ITEM_HEADER.unpack_from
        while pos < end:
            if end - pos < 4:
                raise fault(name, base + pos,
                            f'truncated sub-item header: {end - pos} bytes left, a header needs 4')
            item_type, reserved, length = unpack_from(buf, pos)
            item_end = pos + 4 + length
            if item_end > end:
                raise fault(_item_name(item_type), base + pos,
                            f'item length {length} overruns the enclosing {name}, which has '
                            f'{end - pos - 4} bytes left')
            if item_type == 0x40:
                uid = decode_uid(buf[pos + 4:item_end], TransferSyntaxSubItem._name, base + pos,
                                 'transfer syntax name')
                syntaxes.append(TransferSyntaxSubItem(uid, reserved))
            elif item_type == 0x30 and abstract is None:
                uid = decode_uid(buf[pos + 4:item_end], AbstractSyntaxSubItem._name, base + pos,
                                 'abstract syntax name')
                abstract = AbstractSyntaxSubItem(uid, reserved)
            elif item_type == 0x30:
                raise fault(name, base + pos, 'a second Abstract Syntax Sub-item (0x30)',
                            REASON_UNEXPECTED_PARAMETER)
            else:
                raise fault(name, base + pos, f'unknown sub-item type 0x{item_type:02X}, '
                            'expected 0x30 or 0x40', REASON_UNRECOGNISED_PARAMETER)
            pos = item_end
        if abstract is None:
            raise fault(name, base + start, 'no Abstract Syntax Sub-item (0x30)')
        if not syntaxes:
            raise fault(name, base + start, 'no Transfer Syntax Sub-item (0x40)')
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
            body = pack(ITEM_HEADER, syntax._name, 0x40, syntax.reserved, 0)
        else:
            body = syntax.encode()
        return pack(self.header, self._name, 0x21, self.reserved1, 4 + len(body),
                    self.context_id, self.reserved2, self.result_reason, self.reserved3) + body

    @classmethod
    def _from_buffer(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> PresentationContextItemAC:
        name = cls._name
        if end - start < 8:
            raise fault(name, base + start, f'item length {end - start - 4} is shorter than the '
                        '4 bytes of context ID, result and reserved fields')
        _, reserved1, _, context_id, reserved2, result, reserved3 = cls.header.unpack_from(
            buf, start)
        pos = start + 8
        syntax = None
        if pos < end:
            item_type, reserved, item_end = _sub_item_bounds(buf, pos, end, name, base)
            if item_type != 0x40:
                raise fault(name, base + pos, f'sub-item type 0x{item_type:02X} found, expected '
                            'a Transfer Syntax Sub-item (0x40)', REASON_UNEXPECTED_PARAMETER)
            if item_end != end:
                raise fault(name, base + item_end, f'{end - item_end} unexpected bytes after the '
                            'Transfer Syntax Sub-item')
            raw = buf[pos + 4:item_end]
            if result == 0:
                uid = decode_uid(raw, TransferSyntaxSubItem._name, base + pos,
                                 'transfer syntax name')
            else:
                # PS3.8 9.3.3.2: not significant for a refused context, so not tested
                uid = UID(raw.rstrip(b'\x00 ').decode('latin-1'), validation_mode=_IGNORE)
            syntax = TransferSyntaxSubItem(uid, reserved)
        elif result == 0:
            raise fault(name, base + start, 'accepted context without a Transfer Syntax '
                        'Sub-item (0x40)')
        return cls(context_id, result, syntax, reserved1, reserved2, reserved3)


class UserInformationItem(_Item):
    """User Information Item (0x50), PS3.8 9.3.2.3 and Annex D.

    ``user_data`` is a list of sub-items from :mod:`pynetdicom2.userdataitems`; the maximum
    length sub-item normally comes first.

    >>> from pynetdicom2.userdataitems import MaximumLengthSubItem
    >>> UserInformationItem([MaximumLengthSubItem(16384)]).encode().hex()
    '500000085100000400004000'
    """

    item_type: ClassVar[int] = 0x50
    header: ClassVar[Struct] = ITEM_HEADER
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
        parts[0] = pack(ITEM_HEADER, self._name, 0x50, self.reserved, sum(map(len, parts)))
        return b''.join(parts)

    @staticmethod
    def sub_items(stream: BinaryIO | BytesLike) -> list[UserItem]:
        """Decode sub-items until the end of ``stream``; unknown types become
        :class:`~pynetdicom2.userdataitems.GenericUserDataSubItem`.

        >>> import io
        >>> UserInformationItem.sub_items(io.BytesIO(bytes.fromhex('5100000400004000')))
        [MaximumLengthSubItem(maximum_length_received=16384, reserved=0, item_length=4)]
        """
        stream, _ = as_stream(stream)
        base = tell(stream)
        data = bytes(stream.read())
        return _decode_sub_items(data, 0, len(data), base)

    @classmethod
    def _from_buffer(cls, buf: bytes, start: int, end: int, base: int) -> UserInformationItem:
        return cls(_decode_sub_items(buf, start + 4, end, base), buf[start + 1])


class PresentationDataValueItem(ValueEquality):
    """Presentation Data Value Item of a P-DATA-TF PDU, PS3.8 9.3.5.1.

    ``data_value`` is the whole presentation data value: the message control header byte
    (PS3.8 E.2: bit 0 set = command, clear = data set; bit 1 set = last fragment) followed by
    the fragment. After :meth:`~pynetdicom2.pdu.PDataTfPDU.decode` it is a ``memoryview`` slice
    of the received buffer (it compares equal to bytes with the same content; call ``bytes()``
    for a copy).

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
        return pack(self.header, self._name, 1 + size, self.context_id) + value

    @classmethod
    def decode(cls, stream: BinaryIO | BytesLike) -> PresentationDataValueItem:
        """Decode one PDV item from a binary stream (or bytes-like object); ``data_value`` is
        bytes here."""
        stream, wrapped = as_stream(stream)
        base = tell(stream)
        length = _UINT32.unpack(read_exact(stream, 4, f'{cls._name} at offset {base}'))[0]
        if length < 2:
            raise fault(cls._name, base, f'item length {length}: a PDV needs at least the '
                        'presentation context ID and the message control header')
        body = read_exact(stream, length, f'{cls._name} at offset {base}: item length {length}')
        check_consumed(stream, cls._name, wrapped)
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


#: Item type -> class of the variable items of an A-ASSOCIATE-RQ/-AC (PS3.8 9.3.2, 9.3.3).
VARIABLE_ITEM_TYPES: dict[int, type[VariableItems]] = {
    0x10: ApplicationContextItem,
    0x20: PresentationContextItemRQ,
    0x21: PresentationContextItemAC,
    0x50: UserInformationItem,
}

_ITEM_NAMES = {cls.item_type: cls._name for cls in VARIABLE_ITEM_TYPES.values()}
_ITEM_NAMES[0x30] = AbstractSyntaxSubItem._name
_ITEM_NAMES[0x40] = TransferSyntaxSubItem._name


def _item_name(item_type: int) -> str:
    """Name of any item or sub-item type for error messages."""
    return _ITEM_NAMES.get(item_type) or sub_item_name(item_type)


VariableItems = Union[
    ApplicationContextItem, PresentationContextItemRQ, PresentationContextItemAC,
    UserInformationItem,
]
