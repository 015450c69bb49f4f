"""Protocol data units of the DICOM upper layer and their items (PS3.8 9.3).

This module owns the seven PDUs (A-ASSOCIATE-RQ/-AC/-RJ, P-DATA-TF, A-RELEASE-RQ/-RP,
A-ABORT). The items they carry (application context, presentation context, abstract and
transfer syntax, user information, presentation data value) are defined in
:mod:`pynetdicom2.pduitems`, the user-information sub-items in :mod:`pynetdicom2.userdataitems`,
and the primitives all three share in :mod:`pynetdicom2.wirecodec`; every item and sub-item
class is a name of this module too, the same object, so ``pdu.UserInformationItem`` works as
it always did.

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
  :attr:`~pynetdicom2.pduitems.PresentationDataValueItem.data_value` it produces is a
  ``memoryview`` slice of the buffer it was given. Do not reuse or resize that buffer while
  the PDVs are alive.

Usage::

    from pynetdicom2 import pdu

    raw = pdu.AReleaseRqPDU().encode()     # 05 00 00000004 00000000
    message = pdu.decode_pdu(raw)           # -> AReleaseRqPDU(reserved1=0,reserved2=0)

    data = pdu.PDataTfPDU([pdu.PresentationDataValueItem(1, b'\\x03' + command_set)])
    for pdv in pdu.decode_pdu(data.encode()).data_value_items:
        control, fragment = pdv.data_value[0], pdv.data_value[1:]
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from struct import Struct
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, Union

from pynetdicom2 import userdataitems, wirecodec
from pynetdicom2.exceptions import PDUProcessingError
from pynetdicom2.pduitems import (
    VARIABLE_ITEM_TYPES,
    AbstractSyntaxSubItem,
    ApplicationContextItem,
    PresentationContextItemAC,
    PresentationContextItemRQ,
    PresentationDataValueItem,
    TransferSyntaxSubItem,
    UserInformationItem,
    VariableItems,
)
from pynetdicom2.userdataitems import SUB_ITEM_TYPES, UserItem
from pynetdicom2.wirecodec import (
    ITEM_HEADER,
    REASON_UNEXPECTED_PDU,
    REASON_UNRECOGNISED_PARAMETER,
    REASON_UNRECOGNISED_PDU,
    BytesLike,
    ValueEquality,
    fault,
    pack,
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

#: PS3.8 9.3.1: PDU type (1), reserved (1), PDU length (4, big endian).
PDU_HEADER_LENGTH = 6

_PDU_HEADER = Struct('>B B I')
_UINT32 = Struct('>I')
# A P-DATA-TF header followed by the header of its first PDV (PS3.8 9.3.5, 9.3.5.1)
_PDATA_ONE_PDV = Struct('>B B I I B')
# Builds an object without running __init__; the hot decoders set the attributes themselves.
_new = object.__new__

# The original module's names for two primitives of the wire codec (its documentation shows
# them), kept: the same functions as pynetdicom2.wirecodec's.
_next_type = wirecodec.next_type
_read_exact = wirecodec.read_exact

# The user-information sub-item classes are names of this module too (it once decoded them
# itself): the same classes as pynetdicom2.userdataitems'.
AsynchronousOperationsWindowSubItem = userdataitems.AsynchronousOperationsWindowSubItem
GenericUserDataSubItem = userdataitems.GenericUserDataSubItem
ImplementationClassUIDSubItem = userdataitems.ImplementationClassUIDSubItem
ImplementationVersionNameSubItem = userdataitems.ImplementationVersionNameSubItem
MaximumLengthSubItem = userdataitems.MaximumLengthSubItem
ScpScuRoleSelectionSubItem = userdataitems.ScpScuRoleSelectionSubItem
SOPClassExtendedNegotiationSubItem = userdataitems.SOPClassExtendedNegotiationSubItem
UserIdentityNegotiationSubItem = userdataitems.UserIdentityNegotiationSubItem
UserIdentityNegotiationSubItemAc = userdataitems.UserIdentityNegotiationSubItemAc

# PS3.5 6.2 (AE): default repertoire without control characters and without backslash.
_AE_TITLE_CHARS = bytes(c for c in range(0x20, 0x7F) if c != 0x5C)
_PRINTABLE = bytes(range(0x20, 0x7F))


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


def _as_buffer(data: BytesLike) -> bytes | bytearray | memoryview:
    """Accept bytes, bytearray or a memoryview; a memoryview is cast to unsigned bytes so that
    len() and indexing count bytes."""
    if type(data) is bytes or type(data) is bytearray:
        return data
    view = memoryview(data)
    if view.format != 'B' or view.ndim != 1:
        view = view.cast('B')
    return view


_P = TypeVar('_P', bound='_PDU')
_A = TypeVar('_A', bound='AAssociatePDUBase')
_R = TypeVar('_R', bound='AReleasePDUBase')


class _PDU(ValueEquality):
    """Shared behaviour of the PDUs: header checks, total_length()."""

    pdu_type: ClassVar[int]
    _name: ClassVar[str]
    # A base class decodes any of these types into the matching subclass (each a subclass of
    # the class it is set on).
    _subtypes: ClassVar[dict[int, type[Any]]] = {}

    if TYPE_CHECKING:
        # A property in the variable-length PDUs, a class attribute in the fixed-length ones;
        # for the type checker only.
        @property
        def pdu_length(self) -> int: ...

    def total_length(self) -> int:
        """Length of the encoded PDU, its 6-byte header included."""
        return 6 + self.pdu_length

    @classmethod
    def _check_header(cls: type[_P], data: BytesLike) -> tuple[type[_P], int, int]:
        """Check the type and length fields of a whole PDU.

        Returns ``(class, reserved, pdu_length)``; the declared length must match the bytes
        given exactly (PS3.8 9.3.1).
        """
        size = len(data)
        if size < 6:
            raise fault(cls._name, 0, f'truncated: {size} bytes, a PDU header needs 6')
        pdu_type, reserved, length = _PDU_HEADER.unpack_from(data, 0)
        target = cls._subtypes.get(pdu_type) if cls._subtypes else (
            cls if pdu_type == cls.pdu_type else None)
        if target is None:
            raise fault(cls._name, 0, f'PDU type 0x{pdu_type:02X} found', REASON_UNEXPECTED_PDU)
        if length != size - 6:
            raise fault(target._name, 2, f'PDU length {length} does not match the {size - 6} '
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
    def decode(cls: type[_A], raw_bytes: BytesLike) -> _A:
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
            raise fault(name, 2, f'PDU length {length} is shorter than the 68 bytes of fixed '
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
        items: list[VariableItems] = []
        pos, end = 74, len(buf)
        while pos < end:
            if end - pos < 4:
                raise fault(name, pos, f'truncated item header: {end - pos} bytes left, a '
                            'header needs 4')
            item_type, _, item_length = ITEM_HEADER.unpack_from(buf, pos)
            item_cls = VARIABLE_ITEM_TYPES.get(item_type)
            if item_cls is None:
                raise fault(name, pos, f'unknown variable item type 0x{item_type:02X}',
                            REASON_UNRECOGNISED_PARAMETER)
            item_end = pos + 4 + item_length
            if item_end > end:
                raise fault(item_cls._name, pos, f'item length {item_length} overruns the '
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
    def total_length(cls) -> int:
        """Always 10."""
        return 10

    def encode(self) -> bytes:
        return pack(self.format, self._name, 0x03, self.reserved1, 4, self.reserved2,
                    self.result, self.source, self.reason_diag)

    @classmethod
    def decode(cls, raw_bytes: BytesLike) -> AAssociateRjPDU:
        """Decode a whole A-ASSOCIATE-RJ PDU, header included."""
        data = _as_buffer(raw_bytes)
        cls._check_header(data)
        if len(data) != 10:
            raise fault(cls._name, 2, f'PDU length {len(data) - 6}, expected 4')
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
            pack_pdv_header = PresentationDataValueItem.header.pack
            total = 0
            for item in items:
                value = item.data_value
                size = value.nbytes if type(value) is memoryview else len(value)
                if not size:
                    # PS3.8 9.3.5.1: the PDV holds at least the message control header
                    raise PDUProcessingError(f'{self._name}: a PDV with an empty data_value')
                append(pack_pdv_header(size + 1, item.context_id))
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
        items: list[PresentationDataValueItem] = []
        append = items.append
        unpack_from = _UINT32.unpack_from
        item_cls = PresentationDataValueItem
        pos, end = 6, len(view)
        while pos < end:
            if end - pos < 4:
                raise fault(item_cls._name, pos, f'truncated: {end - pos} bytes left, the item '
                            'length field needs 4')
            length = unpack_from(view, pos)[0]
            if length < 2:
                raise fault(item_cls._name, pos, f'item length {length}: a PDV needs at least '
                            'the presentation context ID and the message control header')
            item_end = pos + 4 + length
            if item_end > end:
                raise fault(item_cls._name, pos, f'item length {length} overruns the '
                            f'{cls._name}, which has {end - pos - 4} bytes left')
            append(item_cls(view[pos + 4], view[pos + 5:item_end]))
            pos = item_end
        if not items:
            raise fault(cls._name, 6, 'no Presentation Data Value Item (PS3.8 9.3.5 needs one '
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
    def total_length(cls) -> int:
        """Always 10."""
        return 10

    def encode(self) -> bytes:
        return pack(self.format, self._name, self.pdu_type, self.reserved1, 4, self.reserved2)

    @classmethod
    def decode(cls: type[_R], raw_bytes: BytesLike) -> _R:
        """Decode a whole A-RELEASE-RQ/-RP PDU, header included."""
        data = _as_buffer(raw_bytes)
        target, _, _ = cls._check_header(data)
        if len(data) != 10:
            raise fault(target._name, 2, f'PDU length {len(data) - 6}, expected 4')
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
    def total_length(cls) -> int:
        """Always 10."""
        return 10

    def encode(self) -> bytes:
        return pack(self.format, self._name, 0x07, self.reserved1, 4, self.reserved2,
                    self.reserved3, self.source, self.reason_diag)

    @classmethod
    def decode(cls, raw_bytes: BytesLike) -> AAbortPDU:
        """Decode a whole A-ABORT PDU, header included."""
        data = _as_buffer(raw_bytes)
        cls._check_header(data)
        if len(data) != 10:
            raise fault(cls._name, 2, f'PDU length {len(data) - 6}, expected 4')
        _, reserved1, _, reserved2, reserved3, source, reason = cls.format.unpack_from(data)
        return cls(source, reason, reserved1, reserved2, reserved3)

    def __repr__(self) -> str:
        return f'AAbortPDU(source={self.source!r}, reason_diag={self.reason_diag!r})'


#: PDU type byte -> PDU class (PS3.8 9.3.1).
PDU_TYPES: dict[int, type[PDU]] = {
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
        raise fault('PDU', 0, f'truncated: {len(data)} bytes, a PDU header needs 6')
    pdu_type = data[0]
    cls = _PDU_TYPES_GET(pdu_type)
    if cls is None:
        raise fault('PDU', 0, f'unrecognised PDU type 0x{pdu_type:02X}', REASON_UNRECOGNISED_PDU)
    return cls.decode(data)
