"""User-information sub-items of the A-ASSOCIATE PDUs (PS3.8 Annex D, PS3.7 Annex D.3.3).

This module owns the sub-items that travel inside a User Information Item (0x50): maximum
length (0x51), implementation class UID (0x52), asynchronous operations window (0x53), SCP/SCU
role selection (0x54), implementation version name (0x55), SOP class extended negotiation
(0x56), SOP class common extended negotiation (0x57), user identity request and response (0x58,
0x59), and a generic holder for every other type. It encodes and decodes bytes and nothing
else: it knows no sockets and takes no negotiation decisions (those are
:mod:`pynetdicom2.negotiation`'s and :mod:`pynetdicom2.extendednegotiation`'s).

Decoding is defensive. Every length field is checked against the bytes that enclose it, and a
malformed sub-item raises :class:`~pynetdicom2.exceptions.PDUProcessingError` whose message
names the sub-item, the byte offset and the fault. Reserved fields are kept for round trips
but never tested on receipt (PS3.8 9.3.1).

Unlike the items of :mod:`pynetdicom2.pduitems`, ``total_length`` is a *property* here. The
reading, packing and UID primitives these codecs share with the PDUs and their items are in
:mod:`pynetdicom2.wirecodec`.

Usage::

    from pynetdicom2 import userdataitems

    item = userdataitems.MaximumLengthSubItem(16384)
    raw = item.encode()            # b'Q\\x00\\x00\\x04\\x00\\x00@\\x00'
    again = userdataitems.MaximumLengthSubItem.decode(raw)
    assert again.maximum_length_received == 16384
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from struct import Struct
from typing import TYPE_CHECKING, ClassVar, TypeVar, Union

from pydicom.uid import UID

from pynetdicom2 import wirecodec
from pynetdicom2.exceptions import PDUProcessingError
from pynetdicom2.wirecodec import (
    ITEM_HEADER,
    BytesLike,
    Stream,
    ValueEquality,
    as_uid,
    check_consumed,
    decode_uid,
    encode_uid,
    fault,
    pack,
    read_item,
)

__all__ = [
    'MaximumLengthSubItem',
    'ImplementationClassUIDSubItem',
    'AsynchronousOperationsWindowSubItem',
    'ScpScuRoleSelectionSubItem',
    'ImplementationVersionNameSubItem',
    'SOPClassExtendedNegotiationSubItem',
    'SOPClassCommonExtendedNegotiationSubItem',
    'UserIdentityNegotiationSubItem',
    'UserIdentityNegotiationSubItemAc',
    'GenericUserDataSubItem',
    'SUB_ITEM_TYPES',
    'UserItem',
    'sub_item_name',
]

_T = TypeVar('_T', bound='_SubItem')

_logger = logging.getLogger('pynetdicom2.pdu')

_UINT16 = Struct('>H')
_ROLES = Struct('>B B')  # PS3.7 D.3.3.4: SCU role, SCP role

#: The original module's name for :func:`pynetdicom2.wirecodec.read_exact`, kept.
_read_exact = wirecodec.read_exact


def _as_bytes(value: str | BytesLike) -> bytes:
    """str -> UTF-8 bytes; bytes-like -> bytes."""
    if isinstance(value, str):
        return value.encode('utf-8')
    return bytes(value)


def _str_if_utf8(value: bytes) -> str | bytes:
    """Return ``value`` decoded as UTF-8 when it is valid UTF-8, else the bytes unchanged."""
    try:
        return value.decode('utf-8')
    except UnicodeDecodeError:
        return value


class _SubItem(ValueEquality):
    """Shared behaviour of the sub-items: repr, total_length and stream decoding."""

    # A class attribute of every sub-item but GenericUserDataSubItem, which sets it per instance.
    item_type: int
    _name: ClassVar[str]
    _repr_fields: ClassVar[tuple[str, ...]] = ()

    if TYPE_CHECKING:
        # A property in most subclasses, a plain attribute in the fixed-length ones (declared
        # there); for the type checker only, so that those can set it.
        @property
        def item_length(self) -> int: ...

    @property
    def total_length(self) -> int:
        """Length of the encoded sub-item, its 4-byte header included."""
        return 4 + self.item_length

    def encode(self) -> bytes:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    @classmethod
    def _from_buffer(cls: type[_T], buf: bytes, start: int, end: int, base: int) -> _T:
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    @classmethod
    def decode(cls: type[_T], stream: Stream | BytesLike) -> _T:
        """Decode one sub-item from a binary stream (or from a bytes-like object holding
        exactly one sub-item), leaving the stream just after it."""
        raw, base, stream, wrapped = read_item(stream, cls._name, cls.item_type)
        item = cls._from_buffer(raw, 0, len(raw), base)
        check_consumed(stream, cls._name, wrapped)
        return item

    def __repr__(self) -> str:
        args = ', '.join(f'{field}={getattr(self, field)!r}' for field in self._repr_fields)
        return f'{type(self).__name__}({args})'


class MaximumLengthSubItem(_SubItem):
    """Maximum Length Sub-item (0x51), PS3.8 D.1.

    ``maximum_length_received`` is the largest P-DATA-TF PDU (variable field, i.e. PDU length)
    the sender can receive; 0 means no limit.

    >>> MaximumLengthSubItem(16384).encode().hex()
    '5100000400004000'
    """

    item_type = 0x51
    item_format: ClassVar[Struct] = Struct('>B B H I')
    _name: ClassVar[str] = 'Maximum Length Sub-item (0x51)'
    _repr_fields = ('maximum_length_received', 'reserved', 'item_length')
    item_length: int

    def __init__(self, maximum_length_received: int, reserved: int = 0, item_length: int = 4):
        self.maximum_length_received = maximum_length_received
        self.reserved = reserved
        # An attribute (not a property) for compatibility; PS3.8 D.1 fixes it at 4.
        self.item_length = item_length

    @property
    def total_length(self) -> int:
        """Always 8: header plus the 4-byte maximum length."""
        return 8

    def encode(self) -> bytes:
        if self.item_length != 4:
            raise PDUProcessingError(f'{self._name}: item length must be 4, not {self.item_length}')
        return pack(self.item_format, self._name, 0x51, self.reserved, 4,
                    self.maximum_length_received)

    @classmethod
    def _from_buffer(cls, buf: bytes, start: int, end: int, base: int) -> MaximumLengthSubItem:
        # PS3.8 D.1: item length is fixed at 4
        if end - start != 8:
            raise fault(cls._name, base + start, f'item length {end - start - 4}, expected 4')
        _, reserved, _, maximum = cls.item_format.unpack_from(buf, start)
        return cls(maximum, reserved)


class ImplementationClassUIDSubItem(_SubItem):
    """Implementation Class UID Sub-item (0x52), PS3.7 D.3.3.2.

    >>> ImplementationClassUIDSubItem('1.2.3').encode()
    b'R\\x00\\x00\\x051.2.3'
    """

    item_type = 0x52
    _name: ClassVar[str] = 'Implementation Class UID Sub-item (0x52)'
    _repr_fields = ('implementation_class_uid', 'reserved')

    def __init__(self, implementation_class_uid: str, reserved: int = 0):
        self.implementation_class_uid = as_uid(implementation_class_uid)
        self.reserved = reserved

    @property
    def item_length(self) -> int:
        return len(self.implementation_class_uid)

    def encode(self) -> bytes:
        raw = encode_uid(self.implementation_class_uid, self._name)
        return pack(ITEM_HEADER, self._name, 0x52, self.reserved, len(raw)) + raw

    @classmethod
    def _from_buffer(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> ImplementationClassUIDSubItem:
        uid = decode_uid(buf[start + 4:end], cls._name, base + start, 'implementation class UID')
        return cls(uid, buf[start + 1])


class AsynchronousOperationsWindowSubItem(_SubItem):
    """Asynchronous Operations Window Sub-item (0x53), PS3.7 D.3.3.3.

    0 in either field means unlimited operations.

    >>> AsynchronousOperationsWindowSubItem(5, 1).encode().hex()
    '5300000400050001'
    """

    item_type = 0x53
    item_format: ClassVar[Struct] = Struct('>B B H H H')
    _name: ClassVar[str] = 'Asynchronous Operations Window Sub-item (0x53)'
    _repr_fields = ('max_num_ops_invoked', 'max_num_ops_performed', 'reserved', 'item_length')
    item_length: int

    def __init__(
        self,
        max_num_ops_invoked: int,
        max_num_ops_performed: int,
        reserved: int = 0,
        item_length: int = 4,
    ):
        self.max_num_ops_invoked = max_num_ops_invoked
        self.max_num_ops_performed = max_num_ops_performed
        self.reserved = reserved
        # An attribute for compatibility; PS3.7 D.3.3.3 fixes it at 4.
        self.item_length = item_length

    def encode(self) -> bytes:
        if self.item_length != 4:
            raise PDUProcessingError(f'{self._name}: item length must be 4, not {self.item_length}')
        return pack(self.item_format, self._name, 0x53, self.reserved, 4,
                    self.max_num_ops_invoked, self.max_num_ops_performed)

    @classmethod
    def _from_buffer(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> AsynchronousOperationsWindowSubItem:
        if end - start != 8:
            raise fault(cls._name, base + start, f'item length {end - start - 4}, expected 4')
        _, reserved, _, invoked, performed = cls.item_format.unpack_from(buf, start)
        return cls(invoked, performed, reserved)


class ScpScuRoleSelectionSubItem(_SubItem):
    """SCP/SCU Role Selection Sub-item (0x54), PS3.7 D.3.3.4.

    ``scu_role`` and ``scp_role`` are 1 to propose (or accept) the role, 0 otherwise.

    >>> ScpScuRoleSelectionSubItem('1.2', 0, 1).encode()
    b'T\\x00\\x00\\x07\\x00\\x031.2\\x00\\x01'
    """

    item_type = 0x54
    header: ClassVar[Struct] = Struct('>B B H H')  # type, reserved, length, UID length
    item_format: ClassVar[Struct] = header
    _name: ClassVar[str] = 'SCP/SCU Role Selection Sub-item (0x54)'
    _repr_fields = ('sop_class_uid', 'scu_role', 'scp_role', 'reserved')

    def __init__(self, sop_class_uid: str, scu_role: int, scp_role: int, reserved: int = 0):
        self.sop_class_uid = as_uid(sop_class_uid)
        self.scu_role = scu_role
        self.scp_role = scp_role
        self.reserved = reserved

    @property
    def item_length(self) -> int:
        return len(self.sop_class_uid) + 4

    def encode(self) -> bytes:
        uid = encode_uid(self.sop_class_uid, self._name, 'SOP class UID')
        return b''.join((
            pack(self.header, self._name, 0x54, self.reserved, len(uid) + 4, len(uid)),
            uid,
            pack(_ROLES, self._name, self.scu_role, self.scp_role),
        ))

    @classmethod
    def _from_buffer(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> ScpScuRoleSelectionSubItem:
        length = end - start - 4
        if length < 2:
            raise fault(cls._name, base + start,
                        f'item length {length} leaves no UID length field')
        uid_length = _UINT16.unpack_from(buf, start + 4)[0]
        # PS3.7 D.3.3.4: UID length (2) + UID + SCU role (1) + SCP role (1)
        if length != uid_length + 4:
            raise fault(cls._name, base + start,
                        f'item length {length} does not match UID length {uid_length} + 4')
        uid = decode_uid(buf[start + 6:end - 2], cls._name, base + start, 'SOP class UID')
        return cls(uid, buf[end - 2], buf[end - 1], buf[start + 1])


class ImplementationVersionNameSubItem(_SubItem):
    """Implementation Version Name Sub-item (0x55), PS3.7 D.3.3.2.

    The name is 1 to 16 characters of the default character repertoire.

    >>> ImplementationVersionNameSubItem('PYNETDICOM2_100').encode()[4:]
    b'PYNETDICOM2_100'
    """

    item_type = 0x55
    _name: ClassVar[str] = 'Implementation Version Name Sub-item (0x55)'
    _repr_fields = ('implementation_version_name', 'reserved')

    def __init__(self, implementation_version_name: str, reserved: int = 0):
        if isinstance(implementation_version_name, (bytes, bytearray, memoryview)):
            implementation_version_name = bytes(implementation_version_name).decode('latin-1')
        self.implementation_version_name = implementation_version_name
        self.reserved = reserved

    @property
    def item_length(self) -> int:
        return len(self.implementation_version_name)

    def encode(self) -> bytes:
        name = self.implementation_version_name
        try:
            raw = name.encode('ascii')
        except UnicodeEncodeError:
            raise PDUProcessingError(f'{self._name}: {name!r} is not ASCII') from None
        # PS3.7 D.3.3.2: 1 to 16 characters
        if not 1 <= len(raw) <= 16:
            raise PDUProcessingError(
                f'{self._name}: the name must be 1 to 16 characters, not {len(raw)}')
        return pack(ITEM_HEADER, self._name, 0x55, self.reserved, len(raw)) + raw

    @classmethod
    def _from_buffer(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> ImplementationVersionNameSubItem:
        if end - start == 4:
            raise fault(cls._name, base + start, 'implementation version name is empty')
        # Latin-1 never fails and keeps every byte; the name is informative only, so a peer's
        # over-long or odd name is no reason to abort.
        return cls(buf[start + 4:end].decode('latin-1'), buf[start + 1])


class SOPClassExtendedNegotiationSubItem(_SubItem):
    """SOP Class Extended Negotiation Sub-item (0x56), PS3.7 D.3.3.5.

    ``app_info`` is the service-class application information, opaque bytes defined by the
    service class (e.g. PS3.4 C.3.5 for query/retrieve).

    >>> SOPClassExtendedNegotiationSubItem('1.2', b'\\x01').encode()
    b'V\\x00\\x00\\x06\\x00\\x031.2\\x01'
    """

    item_type = 0x56
    header: ClassVar[Struct] = Struct('>B B H H')  # type, reserved, length, UID length
    item_format: ClassVar[Struct] = header
    _name: ClassVar[str] = 'SOP Class Extended Negotiation Sub-item (0x56)'
    _repr_fields = ('sop_class_uid', 'app_info', 'reserved')

    def __init__(self, sop_class_uid: str, app_info: bytes, reserved: int = 0):
        self.sop_class_uid = as_uid(sop_class_uid)
        self.app_info = bytes(app_info)
        self.reserved = reserved

    @property
    def item_length(self) -> int:
        return 2 + len(self.sop_class_uid) + len(self.app_info)

    def encode(self) -> bytes:
        uid = encode_uid(self.sop_class_uid, self._name, 'SOP class UID')
        fixed = pack(self.header, self._name, 0x56, self.reserved,
                     2 + len(uid) + len(self.app_info), len(uid))
        return b''.join((fixed, uid, self.app_info))

    @classmethod
    def _from_buffer(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> SOPClassExtendedNegotiationSubItem:
        length = end - start - 4
        if length < 2:
            raise fault(cls._name, base + start,
                        f'item length {length} leaves no UID length field')
        uid_length = _UINT16.unpack_from(buf, start + 4)[0]
        if length < uid_length + 2:
            raise fault(cls._name, base + start,
                        f'UID length {uid_length} overruns the item length {length}')
        uid_end = start + 6 + uid_length
        uid = decode_uid(buf[start + 6:uid_end], cls._name, base + start, 'SOP class UID')
        return cls(uid, buf[uid_end:end], buf[start + 1])


class UserIdentityNegotiationSubItem(_SubItem):
    """User Identity Negotiation Sub-item, request (0x58), PS3.7 D.3.3.7.1.

    ``user_identity_type``: 1 username, 2 username and passcode, 3 Kerberos service ticket,
    4 SAML assertion, 5 JSON web token. The fields are kept as bytes (str arguments are encoded
    as UTF-8); the ``primary_field`` and ``secondary_field`` properties give str back when the
    bytes are valid UTF-8. The repr never shows a secret.

    >>> item = UserIdentityNegotiationSubItem('admin', 'secret')
    >>> item
    UserIdentityNegotiationSubItem(primary_field='admin', secondary_field="<hidden>", \
user_identity_type=2, positive_response_req=0, reserved=0)
    >>> item.encode()
    b'X\\x00\\x00\\x11\\x02\\x00\\x00\\x05admin\\x00\\x06secret'
    """

    item_type = 0x58
    header: ClassVar[Struct] = Struct('>B B H B B H')
    _name: ClassVar[str] = 'User Identity Sub-item (0x58)'

    def __init__(
        self,
        primary_field: str | bytes,
        secondary_field: str | bytes = '',
        user_identity_type: int = 2,
        positive_response_req: int = 0,
        reserved: int = 0,
    ):
        self._primary_field = _as_bytes(primary_field)
        self._secondary_field = _as_bytes(secondary_field)
        self.user_identity_type = user_identity_type
        self.positive_response_req = positive_response_req
        self.reserved = reserved

    @property
    def primary_field(self) -> str | bytes:
        """Username, Kerberos ticket, SAML assertion or JWT: str if valid UTF-8, else bytes."""
        return _str_if_utf8(self._primary_field)

    @primary_field.setter
    def primary_field(self, value: str | bytes) -> None:
        self._primary_field = _as_bytes(value)

    @property
    def secondary_field(self) -> str | bytes:
        """Passcode (identity type 2 only): str if valid UTF-8, else bytes."""
        return _str_if_utf8(self._secondary_field)

    @secondary_field.setter
    def secondary_field(self, value: str | bytes) -> None:
        self._secondary_field = _as_bytes(value)

    @property
    def item_length(self) -> int:
        return 6 + len(self._primary_field) + len(self._secondary_field)

    def encode(self) -> bytes:
        primary, secondary = self._primary_field, self._secondary_field
        if not primary:
            raise PDUProcessingError(f'{self._name}: the primary field is empty')
        return b''.join((
            pack(self.header, self._name, 0x58, self.reserved, 6 + len(primary) + len(secondary),
                 self.user_identity_type, self.positive_response_req, len(primary)),
            primary,
            pack(_UINT16, self._name, len(secondary)),
            secondary,
        ))

    @classmethod
    def _from_buffer(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> UserIdentityNegotiationSubItem:
        offset = base + start
        length = end - start - 4
        if length < 6:
            raise fault(cls._name, offset, f'item length {length} is shorter than the 6 bytes '
                        'of identity type, response flag and the two field lengths')
        _, reserved, _, id_type, response, primary_length = cls.header.unpack_from(buf, start)
        # PS3.7 D.3.3.7.1: the primary field always holds the identity
        if primary_length == 0:
            raise fault(cls._name, offset, 'primary field is empty')
        primary_end = start + 8 + primary_length
        if primary_end + 2 > end:
            raise fault(cls._name, offset,
                        f'primary field length {primary_length} overruns the item length {length}')
        secondary_length = _UINT16.unpack_from(buf, primary_end)[0]
        if primary_end + 2 + secondary_length != end:
            raise fault(cls._name, offset, f'item length {length} does not match primary field '
                        f'length {primary_length} + secondary field length {secondary_length} + 6')
        item = cls(buf[start + 8:primary_end], buf[primary_end + 2:end], id_type, response,
                   reserved)
        return item

    def __repr__(self) -> str:
        # PS3.7 D.3.3.7: types 3-5 carry tickets and tokens; the passcode is always secret
        if self.user_identity_type in (3, 4, 5):
            primary = '"<hidden>"'
        else:
            primary = repr(self.primary_field)
        secondary = '"<hidden>"' if self._secondary_field else '""'
        return (f'{type(self).__name__}(primary_field={primary}, secondary_field={secondary}, '
                f'user_identity_type={self.user_identity_type!r}, '
                f'positive_response_req={self.positive_response_req!r}, '
                f'reserved={self.reserved!r})')


class UserIdentityNegotiationSubItemAc(_SubItem):
    """User Identity Negotiation Sub-item, response (0x59), PS3.7 D.3.3.7.2.

    ``server_response`` is empty for identity types 1 and 2, otherwise the Kerberos server
    ticket, SAML response or JWT; str when the bytes are valid UTF-8, else bytes.

    >>> UserIdentityNegotiationSubItemAc(b'').encode()
    b'Y\\x00\\x00\\x02\\x00\\x00'
    """

    item_type = 0x59
    header: ClassVar[Struct] = Struct('>B B H H')
    _name: ClassVar[str] = 'User Identity Sub-item (0x59)'

    def __init__(self, server_response: str | bytes, reserved: int = 0):
        self._server_response = _as_bytes(server_response)
        self.reserved = reserved

    @property
    def server_response(self) -> str | bytes:
        """The server response: str if valid UTF-8, else bytes."""
        return _str_if_utf8(self._server_response)

    @server_response.setter
    def server_response(self, value: str | bytes) -> None:
        self._server_response = _as_bytes(value)

    @property
    def item_length(self) -> int:
        return 2 + len(self._server_response)

    def encode(self) -> bytes:
        response = self._server_response
        return pack(self.header, self._name, 0x59, self.reserved, 2 + len(response),
                    len(response)) + response

    @classmethod
    def _from_buffer(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> UserIdentityNegotiationSubItemAc:
        length = end - start - 4
        if length < 2:
            raise fault(cls._name, base + start,
                        f'item length {length} leaves no server response length field')
        response_length = _UINT16.unpack_from(buf, start + 4)[0]
        if response_length + 2 != length:
            raise fault(cls._name, base + start, f'item length {length} does not match server '
                        f'response length {response_length} + 2')
        return cls(buf[start + 6:end], buf[start + 1])

    def __repr__(self) -> str:
        response = self.server_response
        shown = repr(response) if isinstance(response, str) else '"<hidden>"'
        return f'{type(self).__name__}(server_response={shown}, reserved={self.reserved!r})'


class GenericUserDataSubItem(_SubItem):
    """Any other user-information sub-item, kept as raw bytes (PS3.7 D.3.3: unknown sub-items
    are ignored by the receiver, not fatal; PS3.8 D.2, note 2).

    A SOP Class Common Extended Negotiation Sub-item (0x57) whose fields do not add up is
    kept as one of these too (see :class:`SOPClassCommonExtendedNegotiationSubItem`).

    >>> GenericUserDataSubItem(0x7A, b'\\x00\\x01').encode()
    b'z\\x00\\x00\\x02\\x00\\x01'
    """

    _name: ClassVar[str] = 'User Data Sub-item'
    _repr_fields: ClassVar[tuple[str, ...]] = ('item_type', 'user_data', 'reserved')

    def __init__(self, item_type: int, user_data: bytes, reserved: int = 0):
        self.item_type = item_type
        self.user_data = bytes(user_data)
        self.reserved = reserved

    @property
    def item_length(self) -> int:
        return len(self.user_data)

    def encode(self) -> bytes:
        header = pack(ITEM_HEADER, self._name, self.item_type, self.reserved,
                      len(self.user_data))
        return header + self.user_data

    @classmethod
    def _from_buffer(cls, buf: bytes, start: int, end: int, base: int) -> GenericUserDataSubItem:
        return cls(buf[start], buf[start + 4:end], buf[start + 1])

    @classmethod
    def decode(cls, stream: Stream | BytesLike) -> GenericUserDataSubItem:
        """Decode one sub-item of any type from a binary stream (or bytes-like object)."""
        raw, base, stream, wrapped = read_item(stream, cls._name, None)
        item = cls._from_buffer(raw, 0, len(raw), base)
        check_consumed(stream, cls._name, wrapped)
        return item


class SOPClassCommonExtendedNegotiationSubItem(GenericUserDataSubItem):
    """SOP Class Common Extended Negotiation Sub-item (0x57), PS3.7 D.3.3.6 (A-ASSOCIATE-RQ).

    What a requester says of a proposed SOP class, whatever its service: the UID of its
    service class (PS3.4 B.3.1.3: ``1.2.840.10008.4.2`` for Storage) and of its related
    general SOP classes, none or more (PS3.4 B.3.1.4: e.g. Enhanced SR for Procedure Log).
    Table D.3-12: sub-item version (``reserved``, 0 in this edition), the SOP class UID, the
    service class UID and the related general SOP class identification, each UID after its
    2-byte length, the related ones as a run of such pairs after their total length; then a
    Reserved field, zero-length in version 0, kept as received in ``trailing``. No reply
    exists: the acceptor does not answer it (PS3.7 D.3.3.6).

    It is a :class:`GenericUserDataSubItem` too, its body being ``user_data``, so code
    written when 0x57 decoded generically goes on working. A 0x57 sub-item whose lengths do
    not add up does not fail the A-ASSOCIATE PDU holding it: it decodes there as a plain
    :class:`GenericUserDataSubItem`, since nothing depends on it (:meth:`decode` alone is
    strict).

    >>> item = SOPClassCommonExtendedNegotiationSubItem(
    ...     '1.2.3', '1.2.840.10008.4.2', ['1.2.840.10008.5.1.4.1.1.2'])
    >>> raw = item.encode()
    >>> raw[:4].hex(), raw[4:11]          # type, version, item length; the SOP class UID
    ('57000037', b'\\x00\\x051.2.3')
    >>> SOPClassCommonExtendedNegotiationSubItem.decode(item.encode()) == item
    True
    """

    item_type = 0x57
    _name: ClassVar[str] = 'SOP Class Common Extended Negotiation Sub-item (0x57)'
    _repr_fields: ClassVar[tuple[str, ...]] = (
        'sop_class_uid', 'service_class_uid', 'related_general_sop_class_uids', 'reserved')

    def __init__(
        self,
        sop_class_uid: str,
        service_class_uid: str,
        related_general_sop_class_uids: Iterable[str] = (),
        reserved: int = 0,
        trailing: BytesLike = b'',
    ):
        self.sop_class_uid = as_uid(sop_class_uid)
        self.service_class_uid = as_uid(service_class_uid)
        self.related_general_sop_class_uids = [
            as_uid(uid) for uid in related_general_sop_class_uids
        ]
        #: The sub-item version (byte 2; 0 in this edition of PS3.7).
        self.reserved = reserved
        #: The Reserved field after the related classes (zero-length in version 0).
        self.trailing = bytes(trailing)

    @property
    def user_data(self) -> bytes:
        """The body: the fields after the item length, as Table D.3-12 lays them out."""
        related = b''.join(self._length_and_uid(uid, 'related general SOP class UID')
                           for uid in self.related_general_sop_class_uids)
        return b''.join((
            self._length_and_uid(self.sop_class_uid, 'SOP class UID'),
            self._length_and_uid(self.service_class_uid, 'service class UID'),
            pack(_UINT16, self._name, len(related)),
            related,
            self.trailing,
        ))

    @user_data.setter
    def user_data(self, value: BytesLike) -> None:
        fields = self._fields(bytes(value), 0, len(value), 0)
        (self.sop_class_uid, self.service_class_uid, self.related_general_sop_class_uids,
         self.trailing) = fields

    def _length_and_uid(self, uid: str, field: str) -> bytes:
        raw = encode_uid(uid, self._name, field)
        return pack(_UINT16, self._name, len(raw)) + raw

    @classmethod
    def _fields(
        cls, buf: bytes, start: int, end: int, base: int
    ) -> tuple[UID, UID, list[UID], bytes]:
        """The fields of a body ``buf[start:end]``; raises :class:`PDUProcessingError`."""

        def uid_at(pos: int, limit: int, field: str) -> tuple[UID, int]:
            if limit - pos < 2:
                raise fault(cls._name, base + start, f'no room for the {field} length')
            length = _UINT16.unpack_from(buf, pos)[0]
            if pos + 2 + length > limit:
                raise fault(cls._name, base + start,
                            f'{field} length {length} overruns the item')
            return decode_uid(buf[pos + 2:pos + 2 + length], cls._name, base + start,
                              field), pos + 2 + length

        sop_class, pos = uid_at(start, end, 'SOP class UID')
        service_class, pos = uid_at(pos, end, 'service class UID')
        if end - pos < 2:
            raise fault(cls._name, base + start,
                        'no room for the related general SOP class identification length')
        related_end = pos + 2 + _UINT16.unpack_from(buf, pos)[0]
        if related_end > end:
            raise fault(cls._name, base + start, 'the related general SOP class '
                        'identification overruns the item')
        related = []
        pos += 2
        while pos < related_end:
            uid, pos = uid_at(pos, related_end, 'related general SOP class UID')
            related.append(uid)
        return sop_class, service_class, related, buf[related_end:end]

    @classmethod
    def _from_buffer(  # type: ignore[override]  # a malformed one decodes generically
        cls, buf: bytes, start: int, end: int, base: int
    ) -> GenericUserDataSubItem:
        """The sub-item, or a generic one when its fields do not add up (see the class)."""
        try:
            fields = cls._fields(buf, start + 4, end, base)
        except PDUProcessingError as exc:
            _logger.debug('kept as a generic sub-item: %s', exc)
            return GenericUserDataSubItem._from_buffer(buf, start, end, base)
        return cls(*fields[:3], reserved=buf[start + 1], trailing=fields[3])

    @classmethod
    def decode(cls, stream: Stream | BytesLike) -> SOPClassCommonExtendedNegotiationSubItem:
        """Decode one 0x57 sub-item; raises :class:`PDUProcessingError` when it is not one
        or its fields do not add up."""
        raw, base, stream, wrapped = read_item(stream, cls._name, cls.item_type)
        sop_class, service_class, related, trailing = cls._fields(raw, 4, len(raw), base)
        check_consumed(stream, cls._name, wrapped)
        return cls(sop_class, service_class, related, raw[1], trailing)


#: The user-information sub-items this library understands (PS3.8 D.1, PS3.7 D.3.3); any
#: other type decodes as :class:`GenericUserDataSubItem`.
SUB_ITEM_TYPES: dict[int, type[UserItem]] = {
    0x52: ImplementationClassUIDSubItem,
    0x51: MaximumLengthSubItem,
    0x55: ImplementationVersionNameSubItem,
    0x53: AsynchronousOperationsWindowSubItem,
    0x54: ScpScuRoleSelectionSubItem,
    0x56: SOPClassExtendedNegotiationSubItem,
    0x57: SOPClassCommonExtendedNegotiationSubItem,
    0x58: UserIdentityNegotiationSubItem,
    0x59: UserIdentityNegotiationSubItemAc,
}

UserItem = Union[
    MaximumLengthSubItem,
    ImplementationClassUIDSubItem,
    AsynchronousOperationsWindowSubItem,
    ScpScuRoleSelectionSubItem,
    ImplementationVersionNameSubItem,
    SOPClassExtendedNegotiationSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    UserIdentityNegotiationSubItem,
    UserIdentityNegotiationSubItemAc,
    GenericUserDataSubItem,
]

_SUB_ITEM_NAMES: dict[int, str] = {
    item_type: cls._name for item_type, cls in SUB_ITEM_TYPES.items()
}


def sub_item_name(item_type: int) -> str:
    """Name of a sub-item type for error messages.

    >>> sub_item_name(0x51), sub_item_name(0x7F)
    ('Maximum Length Sub-item (0x51)', 'User Data Sub-item (0x7F)')
    """
    return _SUB_ITEM_NAMES.get(item_type) or f'User Data Sub-item (0x{item_type:02X})'
