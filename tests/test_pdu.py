"""PDUs and items against byte fixtures assembled from the tables of PS3.8 9.3.2-9.3.8.

Each fixture is written field by field from the standard. The tests check byte-exact encoding,
the decoded values, round trips, and that every malformed variant (truncated at any offset,
zero or overrunning lengths, bad AE titles, unknown types) raises PDUProcessingError naming the
item and the offset.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import pytest
from pydicom.uid import UID

from pynetdicom2 import pdu
from pynetdicom2.exceptions import PDUProcessingError
from pynetdicom2.pdu import (
    AAbortPDU,
    AAssociateAcPDU,
    AAssociatePDUBase,
    AAssociateRjPDU,
    AAssociateRqPDU,
    AbstractSyntaxSubItem,
    ApplicationContextItem,
    AReleasePDUBase,
    AReleaseRpPDU,
    AReleaseRqPDU,
    PDataTfPDU,
    PresentationContextItemAC,
    PresentationContextItemRQ,
    PresentationDataValueItem,
    TransferSyntaxSubItem,
    UserInformationItem,
    decode_pdu,
)
from pynetdicom2.userdataitems import (
    GenericUserDataSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    UserIdentityNegotiationSubItem,
    UserIdentityNegotiationSubItemAc,
)

APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1'  # 21 characters, PS3.7 A.2.1
VERIFICATION = '1.2.840.10008.1.1'  # 17
CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2'  # 25
IMPLICIT_LE = '1.2.840.10008.1.2'  # 17
EXPLICIT_LE = '1.2.840.10008.1.2.1'  # 19


def h(text: str) -> bytes:
    """Hex with spaces and comments allowed: '01 00 # type' -> b'\\x01\\x00'."""
    return bytes.fromhex(' '.join(line.split('#')[0] for line in text.splitlines()))


# ---- items ----------------------------------------------------------------------------------

# PS3.8 9.3.2.1, Table 9-12: Application Context Item
APPLICATION_CONTEXT_ITEM = h('10 00 0015') + APPLICATION_CONTEXT.encode()  # 25 bytes

# PS3.8 9.3.2.2.1, Table 9-14: Abstract Syntax Sub-item
ABSTRACT_SYNTAX = h('30 00 0011') + VERIFICATION.encode()  # 21 bytes

# PS3.8 9.3.2.2.2, Table 9-15: Transfer Syntax Sub-item
TRANSFER_SYNTAX = h('40 00 0011') + IMPLICIT_LE.encode()  # 21 bytes

# PS3.8 9.3.2.2, Table 9-13: Presentation Context Item (RQ)
PRESENTATION_CONTEXT_RQ_1 = h('''
    20        # item type
    00        # reserved
    002e      # item length: 4 + 21 + 21 = 46
    01        # presentation context ID
    00 00 00  # reserved
''') + ABSTRACT_SYNTAX + TRANSFER_SYNTAX  # 50 bytes

PRESENTATION_CONTEXT_RQ_3 = h('''
    20 00 004d   # item length: 4 + 29 + 23 + 21 = 77
    03 00 00 00  # presentation context ID 3, reserved
    30 00 0019   # abstract syntax, 25 characters
''') + CT_IMAGE_STORAGE.encode() + h('''
    40 00 0013   # transfer syntax, 19 characters
''') + EXPLICIT_LE.encode() + TRANSFER_SYNTAX  # 81 bytes

# PS3.8 9.3.2.3, Table 9-16 with the sub-items of PS3.8 D.1 and PS3.7 D.3.3.2
USER_INFORMATION_RQ = h('''
    50 00 002a          # item length: 8 + 15 + 19 = 42
    51 00 0004 00004000 # maximum length received 16384
    52 00 000b          # implementation class UID, 11 characters
''') + b'1.2.3.4.5.6' + h('''
    55 00 000f          # implementation version name, 15 characters
''') + b'PYNETDICOM2_100'  # 46 bytes

# PS3.8 9.3.3.2, Table 9-18: Presentation Context Item (AC)
PRESENTATION_CONTEXT_AC_1 = h('''
    21        # item type
    00        # reserved
    0019      # item length: 4 + 21 = 25
    01        # presentation context ID
    00        # reserved
    00        # result/reason: acceptance
    00        # reserved
''') + TRANSFER_SYNTAX  # 29 bytes

PRESENTATION_CONTEXT_AC_3 = h('''
    21 00 0019
    03 00 04 00   # context 3, result 4: transfer syntaxes not supported
''') + TRANSFER_SYNTAX  # 29 bytes (the transfer syntax is not significant here)

USER_INFORMATION_AC = h('''
    50 00 0030          # item length: 8 + 15 + 19 + 6 = 48
    51 00 0004 00008000 # maximum length received 32768
    52 00 000b
''') + b'1.2.3.4.5.6' + h('55 00 000f') + b'PYNETDICOM2_100' + h('''
    59 00 0002 0000     # user identity response, empty server response (PS3.7 D.3.3.7.2)
''')  # 52 bytes

# PS3.8 9.3.5.1, Table 9-23: Presentation Data Value Item
PDV_COMMAND = h('''
    00000005  # item length: context ID + 4 bytes of presentation data value
    01        # presentation context ID
    03        # message control header: command, last fragment (PS3.8 E.2)
''') + b'cmd'  # 9 bytes
PDV_DATA = h('00000006 01 02') + b'data'  # data set, last fragment; 10 bytes

# ---- PDUs -----------------------------------------------------------------------------------

# PS3.8 9.3.2, Table 9-11: A-ASSOCIATE-RQ PDU
RQ_VARIABLE_ITEMS = (APPLICATION_CONTEXT_ITEM + PRESENTATION_CONTEXT_RQ_1
                     + PRESENTATION_CONTEXT_RQ_3 + USER_INFORMATION_RQ)  # 202 bytes
ASSOCIATE_RQ = h('''
    01                    # PDU type
    00                    # reserved
    0000010e              # PDU length: 68 + 202 = 270
    0001                  # protocol version: bit 0
    0000                  # reserved
''') + b'STORESCP        ' + b'STORESCU        ' + bytes(32) + RQ_VARIABLE_ITEMS

# PS3.8 9.3.3, Table 9-17: A-ASSOCIATE-AC PDU
AC_VARIABLE_ITEMS = (APPLICATION_CONTEXT_ITEM + PRESENTATION_CONTEXT_AC_1
                     + PRESENTATION_CONTEXT_AC_3 + USER_INFORMATION_AC)  # 135 bytes
ASSOCIATE_AC = h('''
    02 00 000000cb        # PDU type, reserved, PDU length: 68 + 135 = 203
    0001 0000             # protocol version, reserved
''') + b'STORESCP        ' + b'STORESCU        ' + bytes(32) + AC_VARIABLE_ITEMS

# PS3.8 9.3.4, Table 9-21: A-ASSOCIATE-RJ PDU
ASSOCIATE_RJ = h('''
    03 00 00000004  # PDU type, reserved, PDU length
    00              # reserved
    01              # result: rejected-permanent
    01              # source: DICOM UL service-user
    07              # reason: called-AE-title-not-recognized
''')

# PS3.8 9.3.5, Table 9-22: P-DATA-TF PDU with two PDVs
P_DATA_TF = h('04 00 00000013') + PDV_COMMAND + PDV_DATA  # PDU length 9 + 10 = 19

# PS3.8 9.3.6, Table 9-24 and 9.3.7, Table 9-25
RELEASE_RQ = h('05 00 00000004 00000000')
RELEASE_RP = h('06 00 00000004 00000000')

# PS3.8 9.3.8, Table 9-26: A-ABORT PDU
ABORT = h('''
    07 00 00000004  # PDU type, reserved, PDU length
    00 00           # reserved, reserved
    02              # source: DICOM UL service-provider
    06              # reason: invalid-PDU-parameter value
''')


# ---- expected objects -----------------------------------------------------------------------

def expected_pc_rq_1() -> PresentationContextItemRQ:
    return PresentationContextItemRQ(1, AbstractSyntaxSubItem(VERIFICATION),
                                     [TransferSyntaxSubItem(IMPLICIT_LE)])


def expected_pc_rq_3() -> PresentationContextItemRQ:
    return PresentationContextItemRQ(3, AbstractSyntaxSubItem(CT_IMAGE_STORAGE),
                                     [TransferSyntaxSubItem(EXPLICIT_LE),
                                      TransferSyntaxSubItem(IMPLICIT_LE)])


def expected_ui_rq() -> UserInformationItem:
    return UserInformationItem([MaximumLengthSubItem(16384),
                                ImplementationClassUIDSubItem('1.2.3.4.5.6'),
                                ImplementationVersionNameSubItem('PYNETDICOM2_100')])


def expected_ui_ac() -> UserInformationItem:
    return UserInformationItem([MaximumLengthSubItem(32768),
                                ImplementationClassUIDSubItem('1.2.3.4.5.6'),
                                ImplementationVersionNameSubItem('PYNETDICOM2_100'),
                                UserIdentityNegotiationSubItemAc(b'')])


def expected_rq() -> AAssociateRqPDU:
    return AAssociateRqPDU('STORESCP', 'STORESCU', [
        ApplicationContextItem(APPLICATION_CONTEXT), expected_pc_rq_1(), expected_pc_rq_3(),
        expected_ui_rq()])


def expected_ac() -> AAssociateAcPDU:
    return AAssociateAcPDU('STORESCP', 'STORESCU', [
        ApplicationContextItem(APPLICATION_CONTEXT),
        PresentationContextItemAC(1, 0, TransferSyntaxSubItem(IMPLICIT_LE)),
        PresentationContextItemAC(3, 4, TransferSyntaxSubItem(IMPLICIT_LE)),
        expected_ui_ac()])


def implicit_le() -> TransferSyntaxSubItem:
    return TransferSyntaxSubItem(IMPLICIT_LE)


ITEM_FIXTURES = [
    (APPLICATION_CONTEXT_ITEM, ApplicationContextItem(APPLICATION_CONTEXT)),
    (ABSTRACT_SYNTAX, AbstractSyntaxSubItem(VERIFICATION)),
    (TRANSFER_SYNTAX, TransferSyntaxSubItem(IMPLICIT_LE)),
    (PRESENTATION_CONTEXT_RQ_1, expected_pc_rq_1()),
    (PRESENTATION_CONTEXT_RQ_3, expected_pc_rq_3()),
    (PRESENTATION_CONTEXT_AC_1, PresentationContextItemAC(1, 0, implicit_le())),
    (PRESENTATION_CONTEXT_AC_3, PresentationContextItemAC(3, 4, implicit_le())),
    (USER_INFORMATION_RQ, expected_ui_rq()),
    (USER_INFORMATION_AC, expected_ui_ac()),
    (PDV_COMMAND, PresentationDataValueItem(1, b'\x03cmd')),
    (PDV_DATA, PresentationDataValueItem(1, b'\x02data')),
]
ITEM_IDS = [f'{type(item).__name__}-{len(raw)}' for raw, item in ITEM_FIXTURES]

PDU_FIXTURES = [
    (ASSOCIATE_RQ, expected_rq()),
    (ASSOCIATE_AC, expected_ac()),
    (ASSOCIATE_RJ, AAssociateRjPDU(1, 1, 7)),
    (P_DATA_TF, PDataTfPDU([PresentationDataValueItem(1, b'\x03cmd'),
                            PresentationDataValueItem(1, b'\x02data')])),
    (RELEASE_RQ, AReleaseRqPDU()),
    (RELEASE_RP, AReleaseRpPDU()),
    (ABORT, AAbortPDU(2, 6)),
]
PDU_IDS = [type(item).__name__ for _, item in PDU_FIXTURES]


def test_fixture_lengths_are_consistent() -> None:
    """The hand-written length fields agree with the bytes that follow them."""
    assert len(PRESENTATION_CONTEXT_RQ_3) == 81 and len(USER_INFORMATION_RQ) == 46
    assert len(RQ_VARIABLE_ITEMS) == 202 and len(AC_VARIABLE_ITEMS) == 135
    for raw, _ in PDU_FIXTURES:
        assert struct.unpack('>I', raw[2:6])[0] == len(raw) - 6


# ---- encoding and decoding ------------------------------------------------------------------

@pytest.mark.parametrize(('raw', 'item'), ITEM_FIXTURES, ids=ITEM_IDS)
def test_item_encode_matches_fixture(raw: bytes, item) -> None:
    assert item.encode() == raw
    assert item.total_length() == len(raw)


@pytest.mark.parametrize(('raw', 'item'), ITEM_FIXTURES, ids=ITEM_IDS)
def test_item_decode_and_round_trip(raw: bytes, item) -> None:
    stream = io.BytesIO(raw + b'\xee')
    decoded = type(item).decode(stream)
    assert stream.read() == b'\xee'  # the stream is left just after the item
    assert decoded.__dict__ == item.__dict__
    again = type(item).decode(io.BytesIO(item.encode()))
    assert again.__dict__ == item.__dict__
    assert again == item


@pytest.mark.parametrize(('raw', 'item'), ITEM_FIXTURES, ids=ITEM_IDS)
def test_item_truncation_at_every_offset_raises(raw: bytes, item) -> None:
    for size in range(len(raw)):
        with pytest.raises(PDUProcessingError, match='offset 0'):
            type(item).decode(io.BytesIO(raw[:size]))


@pytest.mark.parametrize(('raw', 'expected'), PDU_FIXTURES, ids=PDU_IDS)
def test_pdu_encode_matches_fixture(raw: bytes, expected) -> None:
    assert expected.encode() == raw
    assert expected.total_length() == len(raw)
    assert expected.pdu_length == len(raw) - 6


@pytest.mark.parametrize(('raw', 'expected'), PDU_FIXTURES, ids=PDU_IDS)
def test_pdu_decode_gives_expected_values(raw: bytes, expected) -> None:
    for data in (raw, bytearray(raw), memoryview(raw)):
        decoded = type(expected).decode(data)
        assert type(decoded) is type(expected)
        assert decoded.__dict__ == expected.__dict__
        assert decode_pdu(data).__dict__ == expected.__dict__


@pytest.mark.parametrize(('raw', 'expected'), PDU_FIXTURES, ids=PDU_IDS)
def test_pdu_round_trip(raw: bytes, expected) -> None:
    again = type(expected).decode(expected.encode())
    assert again.__dict__ == expected.__dict__
    assert again == expected
    assert again.encode() == raw


def test_decoded_values_in_detail() -> None:
    rq = AAssociateRqPDU.decode(ASSOCIATE_RQ)
    assert (rq.called_ae_title, rq.calling_ae_title, rq.protocol_version) == (
        'STORESCP', 'STORESCU', 1)
    assert rq.reserved3 == (0,) * 8 and isinstance(rq.reserved3, tuple)
    context, pc1, pc3, user_info = rq.variable_items
    assert type(context.context_name) is UID and context.context_name == APPLICATION_CONTEXT
    assert (pc1.context_id, pc1.abs_sub_item.name, [ts.name for ts in pc1.ts_sub_items]) == (
        1, VERIFICATION, [IMPLICIT_LE])
    assert [ts.name for ts in pc3.ts_sub_items] == [EXPLICIT_LE, IMPLICIT_LE]
    assert type(pc3.abs_sub_item.name) is UID and type(pc3.ts_sub_items[0].name) is UID
    assert user_info.user_data[0].maximum_length_received == 16384

    ac = AAssociateAcPDU.decode(ASSOCIATE_AC)
    assert [(item.context_id, item.result_reason) for item in ac.variable_items[1:3]] == [
        (1, 0), (3, 4)]
    rj = AAssociateRjPDU.decode(ASSOCIATE_RJ)
    assert (rj.result, rj.source, rj.reason_diag) == (1, 1, 7)
    abort = AAbortPDU.decode(ABORT)
    assert (abort.source, abort.reason_diag) == (2, 6)


def test_constructor_defaults() -> None:
    rq = AAssociateRqPDU('A', 'B', [])
    assert (rq.protocol_version, rq.reserved1, rq.reserved2, rq.reserved3) == (
        1, 0, 0, (0, 0, 0, 0, 0, 0, 0, 0))
    assert AAssociateRqPDU('A', 'B', [], reserved3=[1] * 8).reserved3 == (1,) * 8
    assert (AAbortPDU(0, 0).reserved1, AAbortPDU(0, 0).reserved3) == (0, 0)
    assert AReleaseRqPDU().__dict__ == {'reserved1': 0, 'reserved2': 0}
    assert PDataTfPDU([]).reserved == 0
    assert type(TransferSyntaxSubItem('1.2').name) is UID
    assert type(AbstractSyntaxSubItem('1.2').name) is UID


def test_class_constants() -> None:
    assert pdu.PDU_HEADER_LENGTH == 6
    assert {code: cls.pdu_type for code, cls in pdu.PDU_TYPES.items()} == {
        code: code for code in range(1, 8)}
    assert pdu.PDU_TYPES[4] is PDataTfPDU
    assert set(pdu.SUB_ITEM_TYPES) == {0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59}
    assert AAssociatePDUBase.header.format == '>B B I H H 16s 16s 8I'
    assert AAssociateRjPDU.format.format == '>B B I B B B B'
    assert AAbortPDU.format.format == '>B B I B B B B'
    assert AReleasePDUBase.format.format == '>B B I I'
    assert PDataTfPDU.header.format == '>B B I'
    assert PresentationContextItemRQ.header.format == '>B B H B B B B'
    assert PresentationDataValueItem.header.format == '>I B'
    assert AAssociateRjPDU.pdu_length == 4 and AAssociateRjPDU.total_length() == 10
    assert AReleaseRqPDU.pdu_length == 4 and AAbortPDU.pdu_length == 4
    assert [cls.item_type for cls in (ApplicationContextItem, PresentationContextItemRQ,
                                      PresentationContextItemAC, AbstractSyntaxSubItem,
                                      TransferSyntaxSubItem, UserInformationItem)] == [
        0x10, 0x20, 0x21, 0x30, 0x40, 0x50]


def test_base_classes_decode_into_the_right_subclass() -> None:
    assert type(AAssociatePDUBase.decode(ASSOCIATE_RQ)) is AAssociateRqPDU
    assert type(AAssociatePDUBase.decode(ASSOCIATE_AC)) is AAssociateAcPDU
    assert type(AReleasePDUBase.decode(RELEASE_RP)) is AReleaseRpPDU


def test_reprs() -> None:
    assert repr(AReleaseRqPDU()) == 'AReleaseRqPDU(reserved1=0,reserved2=0)'
    assert repr(AReleaseRpPDU(0, 1)) == 'AReleaseRpPDU(reserved1=0,reserved2=1)'
    rq = expected_rq()
    rq.variable_items[-1].user_data.append(UserIdentityNegotiationSubItem('bob', 'hunter2'))
    text = repr(rq)
    assert text.startswith("AAssociateRqPDU(called_ae_title='STORESCP'")
    assert 'hunter2' not in text and "'bob'" in text
    assert repr(AAssociateAcPDU.decode(ASSOCIATE_AC)).startswith('AAssociateAcPDU(')
    big = PresentationDataValueItem(1, b'\x02' + bytes(1 << 20))
    assert len(repr(big)) < 120 and '1048577 bytes' in repr(big)


# ---- the upper layer's helpers --------------------------------------------------------------

def test_p_data_payloads_are_memoryview_slices() -> None:
    buffer = bytearray(P_DATA_TF)
    pdvs = decode_pdu(buffer).data_value_items
    assert all(type(pdv.data_value) is memoryview for pdv in pdvs)
    assert pdvs[0].data_value == b'\x03cmd'
    assert (pdvs[0].data_value[0], pdvs[0].data_value[1:]) == (3, b'cmd')
    assert pdvs[1].data_value[0] & 1 == 0 and pdvs[1].data_value[0] & 2 == 2
    # no copy: the slice shows the caller's buffer
    buffer[-1] = ord('A')
    assert bytes(pdvs[1].data_value) == b'\x02datA'


def test_p_data_fast_path_matches_general_path() -> None:
    one = PDataTfPDU([PresentationDataValueItem(7, b'\x01' + bytes(range(256)))]).encode()
    fast = PDataTfPDU.decode(one)
    general = PDataTfPDU._decode_pdvs(memoryview(one))
    assert fast.__dict__ == general.__dict__
    assert fast.data_value_items[0].__dict__.keys() == general.data_value_items[0].__dict__.keys()


def test_p_data_accepts_memoryview_of_other_formats() -> None:
    view = memoryview(P_DATA_TF).cast('c')
    assert PDataTfPDU.decode(view).data_value_items[1].data_value == b'\x02data'
    assert decode_pdu(view).data_value_items[0].data_value == b'\x03cmd'
    assert decode_pdu(memoryview(ASSOCIATE_RQ).cast('c')) == expected_rq()


def test_p_data_encode_accepts_memoryview_payload() -> None:
    pdv = PresentationDataValueItem(1, memoryview(b'\x03cmd'))
    assert pdv.item_length == 5 and pdv.encode() == PDV_COMMAND
    assert PDataTfPDU([pdv]).encode() == h('04 00 00000009') + PDV_COMMAND


def test_p_data_encode_parts_join_to_encode_without_copying_payloads() -> None:
    payload = b'\x02' + bytes(range(256)) * 64
    one = PDataTfPDU([PresentationDataValueItem(5, payload)], reserved=7)
    parts = one.encode_parts()
    assert len(parts) == 2 and parts[1] is payload  # one header for the PDU and its PDV
    assert b''.join(parts) == one.encode()
    assert one.encode()[:11] == h('04 07') + struct.pack('>I', 16390) + h('00004002 05')
    view = memoryview(b'\x03cmd')
    two = PDataTfPDU([PresentationDataValueItem(1, view), PresentationDataValueItem(3, payload)])
    parts = two.encode_parts()
    assert parts[1] is view and parts[3] is payload
    assert b''.join(parts) == two.encode()
    assert PDataTfPDU.decode(b''.join(parts)) == two


@pytest.mark.parametrize('items, match', [
    ([], 'at least one PDV'),
    ([PresentationDataValueItem(1, b'')], 'empty'),
    ([PresentationDataValueItem(1, b'\x03'), PresentationDataValueItem(1, b'')], 'empty'),
    ([PresentationDataValueItem(300, b'\x00')], 'cannot encode'),
    ([PresentationDataValueItem(1, b'\x00'), PresentationDataValueItem(-1, b'\x00')],
     'cannot encode'),
])
def test_p_data_encode_parts_raises_like_encode(items: list[Any], match: str) -> None:
    for method in (PDataTfPDU.encode_parts, PDataTfPDU.encode):
        with pytest.raises(PDUProcessingError, match=match):
            method(PDataTfPDU(items))


def test_decode_pdu_unknown_type() -> None:
    for pdu_type in (0x00, 0x08, 0x10, 0xFF):
        with pytest.raises(PDUProcessingError, match=f'unrecognised PDU type 0x{pdu_type:02X}'
                           ) as info:
            decode_pdu(bytes([pdu_type]) + RELEASE_RQ[1:])
        assert info.value.abort_reason == 1


def test_decode_with_the_wrong_class() -> None:
    with pytest.raises(PDUProcessingError, match=r'A-ASSOCIATE-RQ PDU \(0x01\) at offset 0: PDU '
                       'type 0x05') as info:
        AAssociateRqPDU.decode(RELEASE_RQ)
    assert info.value.abort_reason == 2
    with pytest.raises(PDUProcessingError):
        AReleaseRqPDU.decode(RELEASE_RP)


def test_next_type_and_read_exact() -> None:
    stream = io.BytesIO(PRESENTATION_CONTEXT_RQ_1)
    assert pdu._next_type(stream) == 0x20
    assert stream.tell() == 0
    PresentationContextItemRQ.decode(stream)
    assert pdu._next_type(stream) is None
    with pytest.raises(PDUProcessingError):
        pdu._read_exact(io.BytesIO(b'ab'), 3)


def test_user_information_sub_items_reads_to_the_end() -> None:
    subs = UserInformationItem.sub_items(io.BytesIO(USER_INFORMATION_AC[4:]))
    assert [type(item).__name__ for item in subs] == [
        'MaximumLengthSubItem', 'ImplementationClassUIDSubItem',
        'ImplementationVersionNameSubItem', 'UserIdentityNegotiationSubItemAc']
    unknown = UserInformationItem.sub_items(io.BytesIO(h('57 00 0002 0000 7f 01 0000')))
    assert [(item.item_type, item.reserved) for item in unknown] == [(0x57, 0), (0x7F, 1)]


# ---- AE titles ------------------------------------------------------------------------------

class TestAETitles:
    @pytest.mark.parametrize(('title', 'field'), [
        ('ECHOSCU', b'ECHOSCU         '),
        ('  PADDED  ', b'PADDED          '),  # PS3.5 6.2: surrounding spaces not significant
        ('A' * 16, b'A' * 16),
        ('IN SIDE', b'IN SIDE         '),
        (b'BYTES', b'BYTES           '),
    ])
    def test_encode_space_pads(self, title, field: bytes) -> None:
        raw = AAssociateRqPDU(title, 'X', []).encode()
        assert raw[10:26] == field

    @pytest.mark.parametrize('title', ['A' * 17, '', '    ', 'BACK\\SLASH', 'caf\xe9', 'TAB\t',
                                       'NUL\x00', 'DEL\x7f', 3])
    def test_encode_rejects(self, title) -> None:
        with pytest.raises(PDUProcessingError, match='called AE title'):
            AAssociateRqPDU(title, 'X', []).encode()
        with pytest.raises(PDUProcessingError, match='calling AE title'):
            AAssociateAcPDU('X', title, []).encode()

    @pytest.mark.parametrize(('field', 'title'), [
        (b'STORESCP        ', 'STORESCP'),
        (b'  LEADING       ', 'LEADING'),
        (b'NULS\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00', 'NULS'),
        (b'\x00\x00 MIXED \x00 \x00\x00\x00\x00\x00', 'MIXED'),
        (b' ' * 16, ''),  # an all-space title is negotiation's to refuse
        (b'\x00' * 16, ''),
        (b'BACK\\SLASH      ', 'BACK\\SLASH'),
    ])
    def test_decode_strips(self, field: bytes, title: str) -> None:
        assert pdu._decode_ae_title(field) == title
        raw = ASSOCIATE_RQ[:10] + field + ASSOCIATE_RQ[26:]
        assert AAssociateRqPDU.decode(raw).called_ae_title == title

    @pytest.mark.parametrize('field', [b'BAD\x01TITLE       ', b'\xe9' * 16, b'A\x00B' + b' ' * 13,
                                       b'DEL\x7f' + b' ' * 12])
    def test_decode_rejects_control_and_non_ascii(self, field: bytes) -> None:
        with pytest.raises(PDUProcessingError):
            pdu._decode_ae_title(field)
        raw = ASSOCIATE_RQ[:26] + field + ASSOCIATE_RQ[42:]
        with pytest.raises(PDUProcessingError, match=r'A-ASSOCIATE-RQ PDU \(0x01\) at offset 26: '
                           'calling AE title'):
            AAssociateRqPDU.decode(raw)

    def test_ac_titles_are_not_tested(self) -> None:
        # PS3.8 9.3.3: in the AC these fields are reserved: sent back, not tested on receipt
        raw = ASSOCIATE_AC[:10] + b'\x01\xff' + b' ' * 14 + ASSOCIATE_AC[26:]
        assert AAssociateAcPDU.decode(raw).called_ae_title == '\x01\xff'


# ---- malformed input ------------------------------------------------------------------------

# 'Transfer Syntax Sub-item (0x40) at offset 103: ...', 'Presentation Data Value Item at offset 6'
NAMED_FAULT = r'(Item|Sub-item|PDU)( \(0x[0-9A-F]{2}\))? at offset \d+: '


def boundaries(raw: bytes) -> set[int]:
    """Sizes at which a PDU cut short (with its length field patched) is still well formed."""
    if raw[0] in (1, 2):
        sizes, pos = {74}, 74
    elif raw[0] == 4:
        sizes, pos = set(), 6  # PS3.8 9.3.5: at least one PDV
    else:
        return set()
    while pos < len(raw):
        pos += (4 + struct.unpack('>H', raw[pos + 2:pos + 4])[0] if raw[0] != 4
                else 4 + struct.unpack('>I', raw[pos:pos + 4])[0])
        sizes.add(pos)
    return sizes


@pytest.mark.parametrize(('raw', 'expected'), PDU_FIXTURES, ids=PDU_IDS)
def test_truncation_at_every_offset_raises(raw: bytes, expected) -> None:
    for size in range(len(raw)):
        with pytest.raises(PDUProcessingError, match='at offset'):
            decode_pdu(raw[:size])
        with pytest.raises(PDUProcessingError, match='at offset'):
            type(expected).decode(raw[:size])


@pytest.mark.parametrize(('raw', 'expected'), PDU_FIXTURES, ids=PDU_IDS)
def test_truncation_with_patched_length(raw: bytes, expected) -> None:
    """Cut the PDU short and fix its length field, so that the inner checks must catch it."""
    good = boundaries(raw)
    for size in range(6, len(raw)):
        cut = raw[:2] + struct.pack('>I', size - 6) + raw[6:size]
        if size in good:
            decode_pdu(cut)
            continue
        with pytest.raises(PDUProcessingError, match=NAMED_FAULT):
            decode_pdu(cut)


@pytest.mark.parametrize(('raw', 'expected'), PDU_FIXTURES, ids=PDU_IDS)
def test_declared_length_must_match(raw: bytes, expected) -> None:
    longer = raw + b'\x00'
    with pytest.raises(PDUProcessingError, match=r'at offset 2: PDU length \d+ does not match'):
        decode_pdu(longer)
    patched = raw[:2] + struct.pack('>I', len(raw) - 5) + raw[6:]
    with pytest.raises(PDUProcessingError, match='does not match'):
        decode_pdu(patched)


@pytest.mark.parametrize('raw', [ASSOCIATE_RJ, RELEASE_RQ, RELEASE_RP, ABORT], ids=str)
def test_fixed_length_pdus_need_length_4(raw: bytes) -> None:
    for extra in (b'', b'\x00', b'\x00' * 4):
        body = raw[6:9] + extra if not extra else raw[6:] + extra
        data = raw[:2] + struct.pack('>I', len(body)) + body
        with pytest.raises(PDUProcessingError, match='expected 4'):
            decode_pdu(data)


def with_items(items: bytes, template: bytes = ASSOCIATE_RQ) -> bytes:
    """An A-ASSOCIATE PDU with ``items`` as its variable items."""
    return template[:2] + struct.pack('>I', 68 + len(items)) + template[6:74] + items


class TestMalformedAssociate:
    def test_fixed_part_too_short(self) -> None:
        data = ASSOCIATE_RQ[:2] + struct.pack('>I', 60) + ASSOCIATE_RQ[6:66]
        with pytest.raises(PDUProcessingError, match='shorter than the 68 bytes'):
            decode_pdu(data)

    def test_no_items_decodes(self) -> None:
        # which items must be present is negotiation's business
        assert decode_pdu(with_items(b'')).variable_items == []

    def test_unknown_variable_item(self) -> None:
        data = with_items(APPLICATION_CONTEXT_ITEM + h('60 00 0002 0000'))
        with pytest.raises(PDUProcessingError, match=r'A-ASSOCIATE-RQ PDU \(0x01\) at offset 99: '
                           'unknown variable item type 0x60') as info:
            decode_pdu(data)
        assert info.value.abort_reason == 4

    def test_sub_item_at_the_variable_item_level(self) -> None:
        with pytest.raises(PDUProcessingError, match='unknown variable item type 0x40'):
            decode_pdu(with_items(TRANSFER_SYNTAX))

    def test_item_overruns_the_pdu(self) -> None:
        data = with_items(APPLICATION_CONTEXT_ITEM + h('50 00 0009') + bytes(8))
        with pytest.raises(PDUProcessingError, match=r'User Information Item \(0x50\) at offset '
                           '99: item length 9 overruns the A-ASSOCIATE-RQ PDU'):
            decode_pdu(data)

    def test_truncated_item_header(self) -> None:
        with pytest.raises(PDUProcessingError, match='offset 99: truncated item header'):
            decode_pdu(with_items(APPLICATION_CONTEXT_ITEM + h('50 00 00')))

    def test_empty_application_context_name(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'Application Context Item \(0x10\) at '
                           'offset 74: application context name is empty'):
            decode_pdu(with_items(h('10 00 0000')))

    def test_even_and_duplicate_context_ids_decode(self) -> None:
        # PS3.8 9.3.2.2 wants odd IDs, but refusing is negotiation's job (result 2)
        even = b'\x20\x00\x00\x2e\x02' + PRESENTATION_CONTEXT_RQ_1[5:]
        rq = decode_pdu(with_items(PRESENTATION_CONTEXT_RQ_1 + PRESENTATION_CONTEXT_RQ_1 + even))
        assert [item.context_id for item in rq.variable_items] == [1, 1, 2]

    def test_reserved_fields_are_kept_not_tested(self) -> None:
        raw = bytearray(ASSOCIATE_RQ)
        raw[1] = 0xAA  # reserved after the PDU type
        raw[8:10] = b'\xbe\xef'  # reserved after the protocol version
        raw[42:46] = b'\x00\x00\x00\x07'  # first reserved word
        raw[75] = 0x11  # reserved byte of the application context item
        raw[99 + 5] = 0x22  # reserved byte after the presentation context ID
        rq = decode_pdu(bytes(raw))
        assert (rq.reserved1, rq.reserved2, rq.reserved3[0]) == (0xAA, 0xBEEF, 7)
        assert rq.variable_items[0].reserved == 0x11
        assert rq.variable_items[1].reserved2 == 0x22
        assert rq.encode() == bytes(raw)

    def test_protocol_version_is_not_checked_here(self) -> None:
        raw = ASSOCIATE_RQ[:6] + b'\x00\x02' + ASSOCIATE_RQ[8:]
        assert decode_pdu(raw).protocol_version == 2


class TestMalformedPresentationContext:
    def decode(self, item: bytes):
        return decode_pdu(with_items(item))

    def test_item_length_too_short(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'Presentation Context Item \(0x20\) at '
                           'offset 74: item length 2 is shorter than'):
            self.decode(h('20 00 0002 0100'))

    def test_without_abstract_syntax(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'\(0x20\) at offset 74: no Abstract Syntax'):
            self.decode(h('20 00 0019 01 00 00 00') + TRANSFER_SYNTAX)

    def test_without_transfer_syntax(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'\(0x20\) at offset 74: no Transfer Syntax'):
            self.decode(h('20 00 0019 01 00 00 00') + ABSTRACT_SYNTAX)

    def test_two_abstract_syntaxes(self) -> None:
        with pytest.raises(PDUProcessingError, match='offset 103: a second Abstract Syntax'):
            self.decode(h('20 00 0042 01 00 00 00') + ABSTRACT_SYNTAX * 2 + TRANSFER_SYNTAX)

    def test_unknown_sub_item(self) -> None:
        with pytest.raises(PDUProcessingError, match='unknown sub-item type 0x51') as info:
            self.decode(h('20 00 0036 01 00 00 00') + ABSTRACT_SYNTAX + TRANSFER_SYNTAX
                        + h('51 00 0004 00000000'))
        assert info.value.abort_reason == 4

    def test_empty_syntax_names(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'Abstract Syntax Sub-item \(0x30\) at '
                           'offset 82: abstract syntax name is empty'):
            self.decode(h('20 00 001d 01 00 00 00 30 00 0000') + TRANSFER_SYNTAX)
        with pytest.raises(PDUProcessingError, match=r'Transfer Syntax Sub-item \(0x40\) at '
                           'offset 103: transfer syntax name is empty'):
            self.decode(h('20 00 001d 01 00 00 00') + ABSTRACT_SYNTAX + h('40 00 0000'))

    def test_sub_item_overruns_the_item(self) -> None:
        item = bytearray(PRESENTATION_CONTEXT_RQ_1)
        item[-18] = 0x12  # transfer syntax length 18, one more than the item holds
        with pytest.raises(PDUProcessingError, match=r'Transfer Syntax Sub-item \(0x40\) at offset '
                           r'103: item length 18 overruns the enclosing Presentation Context '
                           r'Item \(0x20\)'):
            self.decode(bytes(item))

    def test_truncated_sub_item_header(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'\(0x20\) at offset 103: truncated '
                           'sub-item header'):
            self.decode(h('20 00 001c 01 00 00 00') + ABSTRACT_SYNTAX + h('40 00 00'))

    def test_non_ascii_uid(self) -> None:
        with pytest.raises(PDUProcessingError, match='not ASCII'):
            self.decode(h('20 00 0019 01 00 00 00 30 00 0001 ff') + TRANSFER_SYNTAX)

    def test_any_sub_item_order(self) -> None:
        item = h('20 00 0045 01 00 00 00') + TRANSFER_SYNTAX + ABSTRACT_SYNTAX + h(
            '40 00 0013') + EXPLICIT_LE.encode()
        decoded = self.decode(item).variable_items[0]
        assert decoded.abs_sub_item.name == VERIFICATION
        assert [ts.name for ts in decoded.ts_sub_items] == [IMPLICIT_LE, EXPLICIT_LE]


class TestPresentationContextAC:
    def decode(self, item: bytes):
        return decode_pdu(with_items(item, ASSOCIATE_AC)).variable_items[0]

    def test_refused_without_transfer_syntax(self) -> None:
        # PS3.8 9.3.3.2: not significant when refused; some peers leave it out
        item = self.decode(h('21 00 0004 05 00 03 00'))
        assert (item.context_id, item.result_reason, item.ts_sub_item) == (5, 3, None)
        assert item.encode() == h('21 00 0004 05 00 03 00')

    def test_refused_with_empty_transfer_syntax(self) -> None:
        item = self.decode(h('21 00 0008 05 00 01 00 40 00 0000'))
        assert item.ts_sub_item.name == ''
        assert item.encode() == h('21 00 0008 05 00 01 00 40 00 0000')

    def test_refused_with_garbage_transfer_syntax(self) -> None:
        assert self.decode(h('21 00 0009 05 00 02 00 40 00 0001 ff')).result_reason == 2

    def test_accepted_needs_a_transfer_syntax(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'\(0x21\) at offset 74: accepted context '
                           'without a Transfer Syntax'):
            self.decode(h('21 00 0004 01 00 00 00'))
        with pytest.raises(PDUProcessingError, match='transfer syntax name is empty'):
            self.decode(h('21 00 0008 01 00 00 00 40 00 0000'))
        with pytest.raises(PDUProcessingError, match='accepted context needs'):
            PresentationContextItemAC(1, 0, None).encode()

    def test_extra_bytes_after_the_transfer_syntax(self) -> None:
        with pytest.raises(PDUProcessingError, match='offset 103: 4 unexpected bytes after'):
            self.decode(h('21 00 001d 01 00 00 00') + TRANSFER_SYNTAX + h('40 00 0000'))

    def test_wrong_sub_item(self) -> None:
        with pytest.raises(PDUProcessingError, match='sub-item type 0x30 found') as info:
            self.decode(h('21 00 0019 01 00 00 00') + ABSTRACT_SYNTAX)
        assert info.value.abort_reason == 5

    def test_too_short(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'\(0x21\) at offset 74: item length 3'):
            self.decode(h('21 00 0003 01 00 00'))


class TestMalformedUserInformation:
    def decode(self, item: bytes):
        return decode_pdu(with_items(item)).variable_items[0]

    def test_empty_user_information_decodes(self) -> None:
        assert self.decode(h('50 00 0000')).user_data == []

    def test_sub_item_overruns(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'Maximum Length Sub-item \(0x51\) at offset '
                           r'78: item length 4 overruns the enclosing User Information Item'):
            self.decode(h('50 00 0007 51 00 0004 000040'))

    def test_truncated_sub_item_header(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'User Information Item \(0x50\) at offset '
                           '86: truncated item header'):
            self.decode(h('50 00 000a 51 00 0004 00004000 52 00'))

    def test_bad_known_sub_item_is_fatal(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'\(0x51\) at offset 78: item length 2'):
            self.decode(h('50 00 0006 51 00 0002 0000'))

    def test_unknown_sub_items_are_kept(self) -> None:
        item = self.decode(h('50 00 000e 51 00 0004 00004000 e0 07 0002 abcd'))
        assert item.user_data[1].__dict__ == {'item_type': 0xE0, 'user_data': b'\xab\xcd',
                                              'reserved': 7}

    def test_user_identity_offsets(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'User Identity Sub-item \(0x58\) at offset '
                           '78: primary field is empty'):
            self.decode(h('50 00 000a 58 00 0006 01 00 0000 0000'))


class TestMalformedPData:
    @pytest.mark.parametrize('length', [0, 1])
    def test_pdv_too_short(self, length: int) -> None:
        data = h('04 00 00000006') + struct.pack('>I', length) + b'\x01\x03'[:length] + bytes(
            2 - length)
        data = data[:2] + struct.pack('>I', len(data) - 6) + data[6:]
        with pytest.raises(PDUProcessingError, match=f'Presentation Data Value Item at offset 6: '
                           f'item length {length}: a PDV needs at least'):
            decode_pdu(data)

    def test_pdv_overruns(self) -> None:
        with pytest.raises(PDUProcessingError, match='offset 15: item length 7 overruns the '
                           r'P-DATA-TF PDU \(0x04\)'):
            decode_pdu(h('04 00 00000013') + PDV_COMMAND + h('00000007 01 02') + b'data')

    def test_trailing_bytes(self) -> None:
        with pytest.raises(PDUProcessingError, match='offset 15: truncated: 3 bytes left'):
            decode_pdu(h('04 00 0000000c') + PDV_COMMAND + h('000000'))

    def test_no_pdv(self) -> None:
        with pytest.raises(PDUProcessingError, match=r'P-DATA-TF PDU \(0x04\) at offset 6: no '
                           'Presentation Data Value Item'):
            decode_pdu(h('04 00 00000000'))

    def test_pdv_stream_decode(self) -> None:
        with pytest.raises(PDUProcessingError, match='item length 1'):
            PresentationDataValueItem.decode(io.BytesIO(h('00000001 01')))
        item = PresentationDataValueItem.decode(io.BytesIO(PDV_DATA))
        assert item.data_value == b'\x02data' and type(item.data_value) is bytes

    def test_even_context_ids_decode(self) -> None:
        pdvs = decode_pdu(h('04 00 00000012 00000006 02 02') + b'data'
                          + h('00000004 00 00') + b'xy').data_value_items
        assert [pdv.context_id for pdv in pdvs] == [2, 0]


class TestEncodeErrors:
    def test_presentation_context_needs_syntaxes(self) -> None:
        with pytest.raises(PDUProcessingError, match='at least one transfer syntax'):
            PresentationContextItemRQ(1, AbstractSyntaxSubItem(VERIFICATION), []).encode()
        with pytest.raises(PDUProcessingError):
            PresentationContextItemRQ(1, None, [TransferSyntaxSubItem(IMPLICIT_LE)]).encode()

    def test_out_of_range_fields(self) -> None:
        with pytest.raises(PDUProcessingError, match='Presentation Context Item'):
            PresentationContextItemRQ(256, AbstractSyntaxSubItem(VERIFICATION),
                                      [TransferSyntaxSubItem(IMPLICIT_LE)]).encode()
        with pytest.raises(PDUProcessingError, match='P-DATA-TF'):
            PDataTfPDU([PresentationDataValueItem(300, b'\x00')]).encode()
        with pytest.raises(PDUProcessingError, match='A-ABORT'):
            AAbortPDU(2, 256).encode()
        with pytest.raises(PDUProcessingError, match='A-ASSOCIATE-RQ'):
            AAssociateRqPDU('A', 'B', [], protocol_version=-1).encode()
        with pytest.raises(PDUProcessingError, match='User Information Item'):
            UserInformationItem([GenericUserDataSubItem(0x70, bytes(40_000))] * 2).encode()

    def test_empty_pdv(self) -> None:
        with pytest.raises(PDUProcessingError, match='empty'):
            PresentationDataValueItem(1, b'').encode()
        with pytest.raises(PDUProcessingError, match='empty'):
            PDataTfPDU([PresentationDataValueItem(1, b'')]).encode()
        with pytest.raises(PDUProcessingError, match='at least one PDV'):
            PDataTfPDU([]).encode()

    def test_empty_or_spaced_uid(self) -> None:
        with pytest.raises(PDUProcessingError, match='empty'):
            ApplicationContextItem('').encode()
        with pytest.raises(PDUProcessingError, match='spaces or control'):
            TransferSyntaxSubItem(UID('1.2\x00', validation_mode=0)).encode()
