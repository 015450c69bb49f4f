"""Hypothesis properties of the PDU codec.

* Every valid PDU, item and sub-item the strategies can build survives encode -> decode with
  equal attributes and re-encodes to the same bytes.
* Arbitrary bytes, truncations and bit flips of valid PDUs either decode or raise
  PDUProcessingError — never struct.error, IndexError, ValueError, UnicodeDecodeError, ...

Budgets follow the hypothesis profile (tests/conftest.py): ``ci`` keeps this module to about a
minute, ``HYPOTHESIS_PROFILE=fuzz`` runs a hundred times as many examples.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pynetdicom2 import pdu, userdataitems
from pynetdicom2.exceptions import PDUProcessingError

pytestmark = pytest.mark.fuzz


def budget(share: float) -> int:
    """A share of the profile's max_examples, so that the fuzz profile scales every test."""
    return max(10, int(settings.default.max_examples * share))


def fuzz_settings(share: float) -> settings:
    return settings(max_examples=budget(share),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---- strategies for valid objects -----------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)

# PS3.5 9.1: components without leading zeros, at most 64 characters
uids = st.lists(st.integers(0, 10**8), min_size=2, max_size=10).map(
    lambda parts: '.'.join(map(str, parts))).filter(lambda uid: len(uid) <= 64)

# PS3.5 6.2 AE: 1-16 characters of 0x20-0x7E without backslash; edges spaces are not significant
ae_titles = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='\\'),
    min_size=1, max_size=16,
).map(lambda title: title.strip(' ')).filter(bool)

small_bytes = st.binary(max_size=48)
identity_field = st.one_of(st.binary(min_size=1, max_size=48),
                           st.text(min_size=1, max_size=24))

sub_items = st.one_of(
    st.builds(userdataitems.MaximumLengthSubItem, u32, u8),
    st.builds(userdataitems.ImplementationClassUIDSubItem, uids, u8),
    st.builds(userdataitems.AsynchronousOperationsWindowSubItem, u16, u16, u8),
    st.builds(userdataitems.ScpScuRoleSelectionSubItem, uids, u8, u8, u8),
    st.builds(userdataitems.ImplementationVersionNameSubItem,
              st.text(st.characters(max_codepoint=0x7F), min_size=1, max_size=16), u8),
    st.builds(userdataitems.SOPClassExtendedNegotiationSubItem, uids, small_bytes, u8),
    st.builds(userdataitems.UserIdentityNegotiationSubItem, identity_field,
              st.one_of(small_bytes, st.text(max_size=24)), u8, u8, u8),
    st.builds(userdataitems.UserIdentityNegotiationSubItemAc,
              st.one_of(small_bytes, st.text(max_size=24)), u8),
    st.builds(userdataitems.GenericUserDataSubItem,
              u8.filter(lambda item_type: item_type not in pdu.SUB_ITEM_TYPES), small_bytes, u8),
)

abstract_syntaxes = st.builds(pdu.AbstractSyntaxSubItem, uids, u8)
transfer_syntaxes = st.builds(pdu.TransferSyntaxSubItem, uids, u8)


@st.composite
def contexts_ac(draw: Any) -> pdu.PresentationContextItemAC:
    result = draw(st.one_of(st.just(0), u8))
    if result == 0:
        syntax = draw(transfer_syntaxes)
    else:
        # PS3.8 9.3.3.2: not significant for a refused context: absent, empty or any
        syntax = draw(st.one_of(st.none(), st.builds(pdu.TransferSyntaxSubItem, st.just(''), u8),
                                transfer_syntaxes))
    return pdu.PresentationContextItemAC(draw(u8), result, syntax, draw(u8), draw(u8), draw(u8))


variable_items = st.one_of(
    st.builds(pdu.ApplicationContextItem, uids, u8),
    st.builds(pdu.PresentationContextItemRQ, u8, abstract_syntaxes,
              st.lists(transfer_syntaxes, min_size=1, max_size=4), u8, u8, u8, u8),
    contexts_ac(),
    st.builds(pdu.UserInformationItem, st.lists(sub_items, max_size=6), u8),
)

pdvs = st.builds(pdu.PresentationDataValueItem, u8, st.binary(min_size=1, max_size=64))


def associate(cls: type) -> st.SearchStrategy:
    return st.builds(cls, ae_titles, ae_titles, st.lists(variable_items, max_size=6), u16, u8,
                     u16, st.tuples(*[u32] * 8))


pdus = st.one_of(
    associate(pdu.AAssociateRqPDU),
    associate(pdu.AAssociateAcPDU),
    st.builds(pdu.AAssociateRjPDU, u8, u8, u8, u8, u8),
    st.builds(pdu.PDataTfPDU, st.lists(pdvs, min_size=1, max_size=4), u8),
    st.builds(pdu.AReleaseRqPDU, u8, u32),
    st.builds(pdu.AReleaseRpPDU, u8, u32),
    st.builds(pdu.AAbortPDU, u8, u8, u8, u8, u8),
)

items = st.one_of(sub_items, variable_items, abstract_syntaxes, transfer_syntaxes, pdvs)


def data(obj: Any) -> Any:
    """Plain data view of an object tree, for readable failure diffs."""
    if hasattr(obj, '__dict__'):
        return (type(obj).__name__, {key: data(value) for key, value in vars(obj).items()})
    if isinstance(obj, (list, tuple)):
        return [data(value) for value in obj]
    if isinstance(obj, memoryview):
        return bytes(obj)
    return obj


def decode_or_refuse(raw: bytes) -> None:
    """Decoding either works or raises PDUProcessingError; any other exception fails the test."""
    try:
        decoded = pdu.decode_pdu(raw)
    except PDUProcessingError as exc:
        assert exc.abort_reason in (1, 2, 4, 5, 6)
        assert ' at offset ' in str(exc)
        return
    assert type(decoded) is pdu.PDU_TYPES[raw[0]]


# ---- round trips ----------------------------------------------------------------------------

@fuzz_settings(2.0)
@given(pdus)
def test_every_valid_pdu_round_trips(original: Any) -> None:
    raw = original.encode()
    assert len(raw) == original.total_length()
    decoded = type(original).decode(raw)
    assert data(decoded) == data(original)
    assert decoded.__dict__ == original.__dict__
    assert pdu.decode_pdu(memoryview(raw)) == original
    assert decoded.encode() == raw


@fuzz_settings(2.0)
@given(items)
def test_every_valid_item_round_trips(original: Any) -> None:
    raw = original.encode()
    total = original.total_length
    assert len(raw) == (total if isinstance(total, int) else total())
    stream = io.BytesIO(raw + b'\x99')
    decoded = type(original).decode(stream)
    assert stream.read() == b'\x99'
    assert data(decoded) == data(original)
    assert decoded.__dict__ == original.__dict__
    assert decoded.encode() == raw


# ---- hostile input --------------------------------------------------------------------------

def with_header(pdu_type: int, body: bytes) -> bytes:
    return struct.pack('>B B I', pdu_type, 0, len(body)) + body


@fuzz_settings(2.0)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    decode_or_refuse(raw)


@fuzz_settings(5.0)
@given(st.one_of(st.integers(1, 7), u8), st.binary(max_size=300))
def test_arbitrary_body_with_a_consistent_header(pdu_type: int, body: bytes) -> None:
    decode_or_refuse(with_header(pdu_type, body))


# Raw items built from random types and lengths: the decoder must survive nonsense structure
# that is locally plausible (right header shape, wrong numbers).
raw_items = st.builds(
    lambda item_type, reserved, body, delta: struct.pack(
        '>B B H', item_type, reserved, max(0, min(0xFFFF, len(body) + delta))) + body,
    st.sampled_from([0x10, 0x20, 0x21, 0x30, 0x40, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56,
                     0x57, 0x58, 0x59, 0x5A, 0x00, 0xFF]),
    u8,
    st.binary(max_size=40),
    st.sampled_from([0, 0, 0, -1, 1, -4, 4, 1000]),
)


@st.composite
def nested_raw_items(draw: Any, depth: int = 2) -> bytes:
    """An item whose body is itself a run of raw items (like a presentation context or user
    information item), with the length sometimes off."""
    if depth == 0:
        return draw(raw_items)
    head = draw(st.sampled_from([b'\x20\x00', b'\x21\x00', b'\x50\x00']))
    fixed = draw(st.sampled_from([b'', b'\x01\x00\x00\x00'])) if head != b'\x50\x00' else b''
    body = fixed + b''.join(draw(st.lists(st.one_of(raw_items, nested_raw_items(depth - 1)),
                                          max_size=4)))
    delta = draw(st.sampled_from([0, 0, 0, -1, 1, -3]))
    return head + struct.pack('>H', max(0, len(body) + delta)) + body


@fuzz_settings(3.5)
@given(st.sampled_from([1, 2]), ae_titles, st.lists(st.one_of(raw_items, nested_raw_items()),
                                                     max_size=5))
def test_associate_with_random_items(pdu_type: int, title: str, raw: list[bytes]) -> None:
    fixed = struct.pack('>H H 16s 16s 32s', 1, 0, title.encode().ljust(16), b'CALLING'.ljust(16),
                        bytes(32))
    decode_or_refuse(with_header(pdu_type, fixed + b''.join(raw)))


@fuzz_settings(4.0)
@given(pdus, st.data())
def test_truncated_pdus(original: Any, draw: Any) -> None:
    raw = original.encode()
    size = draw.draw(st.integers(0, len(raw) - 1), label='size')
    cut = raw[:size]
    decode_or_refuse(cut)
    if size >= 6:
        # with the length field patched the inner checks must catch the cut
        decode_or_refuse(cut[:2] + struct.pack('>I', size - 6) + cut[6:])


@fuzz_settings(4.0)
@given(pdus, st.data())
def test_bit_flips(original: Any, draw: Any) -> None:
    raw = bytearray(original.encode())
    flips = draw.draw(st.lists(st.integers(0, len(raw) * 8 - 1), min_size=1, max_size=4),
                      label='bits')
    for bit in flips:
        raw[bit // 8] ^= 1 << (bit % 8)
    decode_or_refuse(bytes(raw))
    if len(raw) >= 6:
        decode_or_refuse(bytes(raw[:2] + struct.pack('>I', len(raw) - 6) + raw[6:]))


@fuzz_settings(2.5)
@given(st.sampled_from([
    *pdu.SUB_ITEM_TYPES.values(), userdataitems.GenericUserDataSubItem,
    pdu.ApplicationContextItem, pdu.PresentationContextItemRQ, pdu.PresentationContextItemAC,
    pdu.AbstractSyntaxSubItem, pdu.TransferSyntaxSubItem, pdu.UserInformationItem,
    pdu.PresentationDataValueItem,
]), st.one_of(raw_items, nested_raw_items(), st.binary(max_size=80)))
def test_item_decoders_on_hostile_streams(cls: type, raw: bytes) -> None:
    try:
        cls.decode(io.BytesIO(raw))
    except PDUProcessingError:
        pass


@fuzz_settings(1.0)
@given(st.binary(min_size=16, max_size=16))
def test_ae_title_decoder(raw: bytes) -> None:
    try:
        title = pdu._decode_ae_title(raw)
    except PDUProcessingError:
        return
    else:
        assert title == title.strip(' ') and len(title) <= 16
        assert all(0x20 <= ord(char) <= 0x7E for char in title)
