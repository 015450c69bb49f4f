"""User-information sub-items against byte fixtures assembled from PS3.8 Annex D and PS3.7 D.3.3.

Every fixture below is written field by field from the standard's tables; the tests check that
encoding gives exactly those bytes, that decoding gives the expected values back, and that
malformed variants raise PDUProcessingError naming the sub-item and the offset.
"""

from __future__ import annotations

import io

import pytest
from pydicom.uid import UID

from pynetdicom2.exceptions import PDUProcessingError
from pynetdicom2.userdataitems import (
    AsynchronousOperationsWindowSubItem,
    GenericUserDataSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    ScpScuRoleSelectionSubItem,
    SOPClassExtendedNegotiationSubItem,
    UserIdentityNegotiationSubItem,
    UserIdentityNegotiationSubItemAc,
    _read_exact,
)

CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2'  # 25 characters
STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1'  # 27 characters

# PS3.8 D.1, Table D.1-1: Maximum Length Sub-item
MAXIMUM_LENGTH = bytes.fromhex(
    '51'  # item type
    '00'  # reserved
    '0004'  # item length
    '00004000'  # maximum length received: 16384
)

# PS3.7 D.3.3.2, Table D.3-1: Implementation Class UID Sub-item
IMPLEMENTATION_CLASS_UID = bytes.fromhex(
    '52'  # item type
    '00'  # reserved
    '000b'  # item length: 11
) + b'1.2.3.4.5.6'  # implementation class UID

# PS3.7 D.3.3.3, Table D.3-7: Asynchronous Operations Window Sub-item
ASYNC_OPS_WINDOW = bytes.fromhex(
    '53'  # item type
    '00'  # reserved
    '0004'  # item length
    '0005'  # maximum number operations invoked
    '0001'  # maximum number operations performed
)

# PS3.7 D.3.3.4, Table D.3-9: SCP/SCU Role Selection Sub-item
ROLE_SELECTION = (
    bytes.fromhex(
        '54'  # item type
        '00'  # reserved
        '001d'  # item length: 2 + 25 + 1 + 1
        '0019'  # UID length: 25
    )
    + CT_IMAGE_STORAGE.encode()  # SOP class UID
    + bytes.fromhex(
        '00'  # SCU role: not proposed
        '01'  # SCP role: proposed
    )
)

# PS3.7 D.3.3.2, Table D.3-3: Implementation Version Name Sub-item
IMPLEMENTATION_VERSION_NAME = bytes.fromhex(
    '55'  # item type
    '00'  # reserved
    '000f'  # item length: 15
) + b'PYNETDICOM2_100'

# PS3.7 D.3.3.5, Table D.3-11: SOP Class Extended Negotiation Sub-item
EXTENDED_NEGOTIATION = (
    bytes.fromhex(
        '56'  # item type
        '00'  # reserved
        '001e'  # item length: 2 + 27 + 1
        '001b'  # SOP class UID length: 27
    )
    + STUDY_ROOT_FIND.encode()  # SOP class UID
    + b'\x01'  # service class application information (PS3.4 C.3.5: relational queries)
)

# PS3.7 D.3.3.6, Table D.3-12: SOP Class Common Extended Negotiation Sub-item (kept generic)
COMMON_EXTENDED_NEGOTIATION_BODY = (
    bytes.fromhex('0019')  # SOP class UID length: 25
    + CT_IMAGE_STORAGE.encode()
    + bytes.fromhex('0011')  # service class UID length: 17
    + b'1.2.840.10008.4.2'  # storage service class
    + bytes.fromhex('0000')  # related general SOP class identification length: none
)
COMMON_EXTENDED_NEGOTIATION = (
    bytes.fromhex(
        '57'  # item type
        '00'  # sub-item version
        '0030'  # item length: 2 + 25 + 2 + 17 + 2 = 48
    )
    + COMMON_EXTENDED_NEGOTIATION_BODY
)

# PS3.7 D.3.3.7.1, Table D.3-14: User Identity Sub-item (RQ), username and passcode
USER_IDENTITY_RQ = (
    bytes.fromhex(
        '58'  # item type
        '00'  # reserved
        '0012'  # item length: 6 + 4 + 8 = 18
        '02'  # user identity type: username and passcode
        '01'  # positive response requested
        '0004'  # primary field length
    )
    + b'user'  # primary field
    + bytes.fromhex('0008')  # secondary field length
    + b'password'  # secondary field
)

# PS3.7 D.3.3.7.1: username only, the secondary field length is still present (zero)
USER_IDENTITY_RQ_USERNAME = bytes.fromhex(
    '58' '00' '000a'  # type, reserved, item length 6 + 4
    '01' '00' '0004'  # username, no response requested, primary field length
) + b'user' + bytes.fromhex('0000')

# PS3.7 D.3.3.7.2, Table D.3-15: User Identity Sub-item (AC)
USER_IDENTITY_AC = (
    bytes.fromhex(
        '59'  # item type
        '00'  # reserved
        '0006'  # item length: 2 + 4
        '0004'  # server response length
    )
    + b'tick'  # server response
)

FIXTURES = [
    (MAXIMUM_LENGTH, MaximumLengthSubItem(16384)),
    (IMPLEMENTATION_CLASS_UID, ImplementationClassUIDSubItem('1.2.3.4.5.6')),
    (ASYNC_OPS_WINDOW, AsynchronousOperationsWindowSubItem(5, 1)),
    (ROLE_SELECTION, ScpScuRoleSelectionSubItem(CT_IMAGE_STORAGE, 0, 1)),
    (IMPLEMENTATION_VERSION_NAME, ImplementationVersionNameSubItem('PYNETDICOM2_100')),
    (EXTENDED_NEGOTIATION, SOPClassExtendedNegotiationSubItem(STUDY_ROOT_FIND, b'\x01')),
    (COMMON_EXTENDED_NEGOTIATION, GenericUserDataSubItem(0x57, COMMON_EXTENDED_NEGOTIATION_BODY)),
    (USER_IDENTITY_RQ, UserIdentityNegotiationSubItem('user', 'password', 2, 1)),
    (USER_IDENTITY_RQ_USERNAME, UserIdentityNegotiationSubItem('user', '', 1, 0)),
    (USER_IDENTITY_AC, UserIdentityNegotiationSubItemAc('tick')),
]
FIXTURE_IDS = [f'{type(item).__name__}-{raw[0]:02x}-{len(raw)}' for raw, item in FIXTURES]


@pytest.mark.parametrize(('raw', 'item'), FIXTURES, ids=FIXTURE_IDS)
def test_encode_matches_fixture(raw: bytes, item) -> None:
    assert item.encode() == raw
    assert item.total_length == len(raw)
    assert item.item_length == len(raw) - 4


@pytest.mark.parametrize(('raw', 'item'), FIXTURES, ids=FIXTURE_IDS)
def test_decode_fixture_gives_expected_values(raw: bytes, item) -> None:
    stream = io.BytesIO(raw + b'\xff')  # a following byte must be left unread
    decoded = type(item).decode(stream)
    assert decoded.__dict__ == item.__dict__
    assert stream.read() == b'\xff'


@pytest.mark.parametrize(('raw', 'item'), FIXTURES, ids=FIXTURE_IDS)
def test_round_trip(raw: bytes, item) -> None:
    again = type(item).decode(io.BytesIO(item.encode()))
    assert again.__dict__ == item.__dict__
    assert again == item
    assert again.encode() == raw


@pytest.mark.parametrize(('raw', 'item'), FIXTURES, ids=FIXTURE_IDS)
def test_decode_accepts_bytes_like(raw: bytes, item) -> None:
    for data in (raw, bytearray(raw), memoryview(raw)):
        assert type(item).decode(data) == item
    with pytest.raises(PDUProcessingError, match='unexpected bytes after'):
        type(item).decode(raw + b'\x00')


@pytest.mark.parametrize(('raw', 'item'), FIXTURES, ids=FIXTURE_IDS)
def test_truncation_at_every_offset_raises(raw: bytes, item) -> None:
    for size in range(len(raw)):
        with pytest.raises(PDUProcessingError, match='offset 0'):
            type(item).decode(io.BytesIO(raw[:size]))


TYPED_FIXTURES = [(raw, item) for raw, item in FIXTURES
                  if not isinstance(item, GenericUserDataSubItem)]  # that one takes any type


@pytest.mark.parametrize(('raw', 'item'), TYPED_FIXTURES)
def test_wrong_item_type_raises(raw: bytes, item) -> None:
    with pytest.raises(PDUProcessingError, match='item type 0x7F found') as info:
        type(item).decode(b'\x7f' + raw[1:])
    assert info.value.abort_reason == 5


def test_decoded_uids_are_pydicom_uids() -> None:
    assert type(ImplementationClassUIDSubItem.decode(IMPLEMENTATION_CLASS_UID)
                .implementation_class_uid) is UID
    assert type(ScpScuRoleSelectionSubItem.decode(ROLE_SELECTION).sop_class_uid) is UID
    assert type(SOPClassExtendedNegotiationSubItem.decode(EXTENDED_NEGOTIATION)
                .sop_class_uid) is UID
    # and so do constructed ones, so that round trips compare equal types
    assert type(ImplementationClassUIDSubItem('1.2').implementation_class_uid) is UID


def test_reserved_fields_are_kept_not_tested() -> None:
    # PS3.8 9.3.1: reserved fields are not tested on receipt
    raw = b'\x51\xaa' + MAXIMUM_LENGTH[2:]
    item = MaximumLengthSubItem.decode(raw)
    assert item.reserved == 0xAA
    assert item.encode() == raw


def test_trailing_nul_padding_of_uid_is_dropped() -> None:
    raw = bytes.fromhex('5200000c') + b'1.2.3.4.5.6\x00'
    assert ImplementationClassUIDSubItem.decode(raw).implementation_class_uid == '1.2.3.4.5.6'


def test_unknown_sub_item_decodes_generically() -> None:
    raw = bytes.fromhex('7a 05 0003 010203')
    item = GenericUserDataSubItem.decode(raw)
    assert (item.item_type, item.reserved, item.user_data) == (0x7A, 5, b'\x01\x02\x03')
    assert item.encode() == raw
    assert GenericUserDataSubItem.decode(bytes.fromhex('7a000000')).user_data == b''


class TestMalformed:
    """Lengths that disagree with the content raise, naming the sub-item and the offset."""

    @pytest.mark.parametrize('length', [0, 3, 5, 8])
    def test_fixed_length_items(self, length: int) -> None:
        for cls in (MaximumLengthSubItem, AsynchronousOperationsWindowSubItem):
            raw = bytes([cls.item_type, 0]) + length.to_bytes(2, 'big') + bytes(length)
            with pytest.raises(PDUProcessingError, match=rf'\(0x{cls.item_type:02X}\) at offset 0'):
                cls.decode(raw)

    def test_empty_uid(self) -> None:
        with pytest.raises(PDUProcessingError, match='Implementation Class UID.*empty'):
            ImplementationClassUIDSubItem.decode(bytes.fromhex('52000000'))
        with pytest.raises(PDUProcessingError, match='empty'):
            ImplementationClassUIDSubItem.decode(bytes.fromhex('52000001') + b'\x00')

    def test_non_ascii_uid(self) -> None:
        with pytest.raises(PDUProcessingError, match='not ASCII'):
            ImplementationClassUIDSubItem.decode(bytes.fromhex('52000002ff31'))

    def test_empty_version_name(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'Version Name Sub-item \(0x55\).*empty'):
            ImplementationVersionNameSubItem.decode(bytes.fromhex('55000000'))

    def test_version_name_keeps_any_byte(self) -> None:
        # informative only: a non-ASCII name from the peer decodes (latin-1) instead of aborting
        item = ImplementationVersionNameSubItem.decode(bytes.fromhex('55000002e9ff'))
        assert item.implementation_version_name == '\xe9\xff'

    @pytest.mark.parametrize('raw', [
        '54000000',  # no UID length field
        '540000010000',  # still no room for the UID length
        '54000005 0002 312e 00',  # UID length 2 needs item length 6, one role byte missing
    ])
    def test_role_selection_lengths(self, raw: str) -> None:
        data = bytes.fromhex(raw)
        with pytest.raises(PDUProcessingError, match=r'Role Selection Sub-item \(0x54\)'):
            ScpScuRoleSelectionSubItem.decode(data)

    def test_role_selection_uid_length_mismatch(self) -> None:
        raw = bytearray(ROLE_SELECTION)
        raw[5] += 1  # UID length 26, item length still 29
        with pytest.raises(PDUProcessingError, match='does not match UID length 26'):
            ScpScuRoleSelectionSubItem.decode(bytes(raw))

    def test_role_selection_empty_uid(self) -> None:
        with pytest.raises(PDUProcessingError, match='empty'):
            ScpScuRoleSelectionSubItem.decode(bytes.fromhex('54000004 0000 0001'))

    def test_extended_negotiation_uid_overrun(self) -> None:
        raw = bytearray(EXTENDED_NEGOTIATION)
        raw[5] = 0x1E  # UID length 30 > item length 30 - 2
        with pytest.raises(PDUProcessingError, match='UID length 30 overruns'):
            SOPClassExtendedNegotiationSubItem.decode(bytes(raw))
        with pytest.raises(PDUProcessingError, match='no UID length'):
            SOPClassExtendedNegotiationSubItem.decode(bytes.fromhex('5600000100'))

    def test_extended_negotiation_without_app_info(self) -> None:
        raw = bytes.fromhex('56000005 0003') + b'1.2'
        item = SOPClassExtendedNegotiationSubItem.decode(raw)
        assert (item.sop_class_uid, item.app_info) == ('1.2', b'')

    def test_user_identity_lengths(self) -> None:
        cls = UserIdentityNegotiationSubItem
        with pytest.raises(PDUProcessingError, match=r'Sub-item \(0x58\) at offset 0: item len'):
            cls.decode(bytes.fromhex('58000004 0100 0000'))
        with pytest.raises(PDUProcessingError, match='primary field is empty'):
            cls.decode(bytes.fromhex('58000006 0100 0000 0000'))
        with pytest.raises(PDUProcessingError, match='primary field length 9 overruns'):
            cls.decode(bytes.fromhex('5800000a 0100 0009') + b'user' + bytes(2))
        raw = bytearray(USER_IDENTITY_RQ)
        raw[13] = 9  # secondary length 9, one byte more than the item holds
        with pytest.raises(PDUProcessingError, match='does not match primary field length 4'):
            cls.decode(bytes(raw))

    def test_user_identity_ac_lengths(self) -> None:
        cls = UserIdentityNegotiationSubItemAc
        with pytest.raises(PDUProcessingError, match=r'\(0x59\) at offset 0.*no server response'):
            cls.decode(bytes.fromhex('5900000100'))
        with pytest.raises(PDUProcessingError, match='server response length 5'):
            cls.decode(bytes.fromhex('59000006 0005') + b'tick')

    def test_stream_offset_in_message(self) -> None:
        stream = io.BytesIO(b'\x00' * 7 + bytes.fromhex('52000000'))
        stream.seek(7)
        with pytest.raises(PDUProcessingError, match='at offset 7'):
            ImplementationClassUIDSubItem.decode(stream)


class TestEncodeErrors:
    """Encoding refuses what decoding would refuse, so every encoded sub-item decodes."""

    def test_empty_uid(self) -> None:
        with pytest.raises(PDUProcessingError, match='empty'):
            ImplementationClassUIDSubItem('').encode()

    def test_uid_with_space_or_non_ascii(self) -> None:
        with pytest.raises(PDUProcessingError):
            ScpScuRoleSelectionSubItem(UID('1.2 3', validation_mode=0), 0, 1).encode()
        with pytest.raises(PDUProcessingError):
            ScpScuRoleSelectionSubItem(UID('1.\xe92', validation_mode=0), 0, 1).encode()

    @pytest.mark.parametrize('name', ['', 'X' * 17, 'caf\xe9'])
    def test_version_name(self, name: str) -> None:
        with pytest.raises(PDUProcessingError):
            ImplementationVersionNameSubItem(name).encode()

    def test_out_of_range_field(self) -> None:
        with pytest.raises(PDUProcessingError, match='Maximum Length'):
            MaximumLengthSubItem(2**32).encode()
        with pytest.raises(PDUProcessingError, match='Role Selection'):
            ScpScuRoleSelectionSubItem('1.2', 256, 0).encode()

    def test_fixed_item_length_attribute(self) -> None:
        with pytest.raises(PDUProcessingError, match='item length must be 4'):
            MaximumLengthSubItem(0, item_length=5).encode()
        with pytest.raises(PDUProcessingError, match='item length must be 4'):
            AsynchronousOperationsWindowSubItem(0, 0, item_length=0).encode()

    def test_empty_primary_field(self) -> None:
        with pytest.raises(PDUProcessingError, match='primary field is empty'):
            UserIdentityNegotiationSubItem('').encode()


class TestUserIdentity:
    def test_fields_are_bytes_inside_str_outside(self) -> None:
        item = UserIdentityNegotiationSubItem('us\xe9r', b'\xff\xfe')
        assert item._primary_field == 'us\xe9r'.encode()
        assert item.primary_field == 'us\xe9r'
        assert item.secondary_field == b'\xff\xfe'
        item.secondary_field = 'pw'
        assert item._secondary_field == b'pw'
        assert item.item_length == 6 + 5 + 2

    def test_defaults(self) -> None:
        item = UserIdentityNegotiationSubItem('user')
        assert (item.secondary_field, item.user_identity_type, item.positive_response_req,
                item.reserved) == ('', 2, 0, 0)

    @pytest.mark.parametrize('id_type', [1, 2])
    def test_repr_shows_username_hides_passcode(self, id_type: int) -> None:
        text = repr(UserIdentityNegotiationSubItem('admin', 's3cr3t', id_type))
        assert "primary_field='admin'" in text
        assert 'secondary_field="<hidden>"' in text
        assert 's3cr3t' not in text

    @pytest.mark.parametrize('id_type', [3, 4, 5])
    def test_repr_hides_tokens(self, id_type: int) -> None:
        text = repr(UserIdentityNegotiationSubItem('TOKEN-VALUE', '', id_type))
        assert 'primary_field="<hidden>"' in text
        assert 'secondary_field=""' in text
        assert 'TOKEN' not in text

    def test_ac_response(self) -> None:
        assert UserIdentityNegotiationSubItemAc(b'ok').server_response == 'ok'
        binary = UserIdentityNegotiationSubItemAc(b'\x80\x81')
        assert binary.server_response == b'\x80\x81'
        assert '<hidden>' in repr(binary)
        assert '\\x80' not in repr(binary)
        assert "server_response='ok'" in repr(UserIdentityNegotiationSubItemAc('ok'))
        empty = UserIdentityNegotiationSubItemAc.decode(bytes.fromhex('59000002 0000'))
        assert empty.server_response == ''


def test_other_reprs() -> None:
    assert repr(MaximumLengthSubItem(16384)) == (
        'MaximumLengthSubItem(maximum_length_received=16384, reserved=0, item_length=4)')
    assert 'sop_class_uid' in repr(ScpScuRoleSelectionSubItem('1.2', 0, 1))
    assert '0x' not in repr(GenericUserDataSubItem(0x57, b''))  # plain ints


def test_read_exact() -> None:
    assert _read_exact(io.BytesIO(b'abcd'), 3) == b'abc'
    assert _read_exact(io.BytesIO(b''), 0) == b''
    with pytest.raises(PDUProcessingError, match='expected 5 bytes'):
        _read_exact(io.BytesIO(b'abcd'), 5)
    # a length from the peer is never allocated up front
    with pytest.raises(PDUProcessingError, match='ended after 4'):
        _read_exact(io.BytesIO(b'abcd'), 1 << 40)
    assert _read_exact(io.BytesIO(bytes(3 << 20)), 3 << 20) == bytes(3 << 20)
