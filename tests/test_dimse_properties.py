"""Hypothesis properties of pynetdicom2.dimsemessages: encode/reassemble round trips, and a
reassembler that, whatever the peer sends, fails only with DIMSEProcessingError.

The budget scales with the hypothesis profile (tests/conftest.py): ``ci`` (the default) keeps
these to well under a minute, ``HYPOTHESIS_PROFILE=fuzz`` runs a hundred times as many.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataelem import DataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue

from pynetdicom2 import commandset, pdu
from pynetdicom2 import dimsemessages as dm
from pynetdicom2.exceptions import DIMSEProcessingError

# Malformed command sets make pydicom warn (unknown tags, odd values); that is expected here.
pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings('ignore::UserWarning')]

_BUDGET = settings.default.max_examples


def _examples(share: float) -> int:
    """This test's share of the profile's max_examples (ci: 1000, fuzz: 100000)."""
    return max(10, int(_BUDGET * share))


CLASSES = sorted(dm.MESSAGE_TYPE.values(), key=lambda cls: cls.command_field)
CONTEXT_IDS = (1, 3, 5)
CONTEXTS = {pc_id: ('context', pc_id) for pc_id in CONTEXT_IDS}

uids = st.lists(st.integers(0, 10**9), min_size=2, max_size=14).map(
    lambda parts: '.'.join(map(str, parts))
).filter(lambda uid: len(uid) <= 64)
us = st.integers(0, 0xFFFF)
_printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='\\')
ae_titles = st.text(_printable, min_size=1, max_size=16).filter(lambda s: s.strip() == s)
comments = st.text(_printable, min_size=1, max_size=64).filter(lambda s: s.strip() == s)
tag_lists = st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=6)

_KIND = {
    'sop_class_uid': uids,
    'affected_sop_instance_uid': uids,
    'requested_sop_instance_uid': uids,
    'move_destination': ae_titles,
    'move_originator_aet': ae_titles,
    'error_comment': comments,
    'attribute_identifier_list': tag_lists,
    'offending_element': tag_lists,
}


def _properties(cls: type) -> list[str]:
    return sorted(
        name for name in dir(cls)
        if isinstance(getattr(cls, name), property) and name != 'data_set'
    )


PROPERTIES = {cls: _properties(cls) for cls in CLASSES}


def _normal(value: object) -> object:
    """Tags read back as one BaseTag or a MultiValue; compare them as lists."""
    if isinstance(value, (list, MultiValue)):
        return [int(v) for v in value]
    return value


@st.composite
def messages(draw: st.DrawFn) -> tuple[dm.DIMSEMessage, dict, bytes | None, bool]:
    cls = draw(st.sampled_from(CLASSES))
    msg = cls()
    values = {}
    for name in PROPERTIES[cls]:
        value = draw(st.none() | _KIND.get(name, us))
        setattr(msg, name, value)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        values[name] = _normal(value)
    data = draw(st.none() | st.binary(min_size=1, max_size=3000))
    as_file = draw(st.booleans())
    if data is not None:
        msg.data_set = io.BytesIO(data) if as_file else data
    return msg, values, data, as_file


max_lengths = st.just(0) | st.integers(8, 64) | st.integers(65, 20000)


class _Files:
    def __init__(self) -> None:
        self.files: list[io.BytesIO] = []

    def __call__(self, context: object, command_set: object) -> tuple[io.BytesIO, int]:
        self.files.append(io.BytesIO())
        return self.files[-1], 0


@settings(max_examples=_examples(1.0))
@given(
    message=messages(),
    max_pdu_length=max_lengths,
    pc_id=st.sampled_from(CONTEXT_IDS),
    store=st.booleans(),
    pack=st.booleans(),
)
def test_round_trip(message, max_pdu_length: int, pc_id: int, store: bool, pack: bool) -> None:
    msg, values, data, _as_file = message
    files = _Files()
    store_in_file = {values.get('sop_class_uid')} if store else set()
    decoder = dm.DIMSEDecoder(CONTEXTS, store_in_file, files)
    received = []
    for p_data in msg.encode(pc_id, max_pdu_length, pack=pack):
        raw = p_data.encode()
        if max_pdu_length:
            assert len(raw) - 6 <= max_pdu_length
        # PS3.8 E.1: every fragment (the PDV value after its control header) is even.
        assert all(len(item.data_value) % 2 == 1 for item in p_data.data_value_items)
        received.extend(decoder.process(pdu.PDataTfPDU.decode(bytearray(raw))))
    [(got, got_pc_id)] = received
    assert got_pc_id == pc_id and type(got) is type(msg)
    for name, value in values.items():
        assert _normal(getattr(got, name)) == value, name
    if data is not None:
        data += b'\0' * (len(data) % 2)  # an odd data set is padded (PS3.8 E.1)
    if data is None:
        assert got.data_set is None
    elif store and values.get('sop_class_uid') is not None:
        assert got.data_set is files.files[0] and got.data_set.read() == data
    else:
        assert got.data_set == data
    assert not decoder.receiving


_ACCEPTED_CLASS = '1.2.840.10008.5.1.4.1.1.2'


def _valid_commands() -> list[bytes]:
    commands = []
    for cls in CLASSES:
        msg = cls()
        msg.sop_class_uid = _ACCEPTED_CLASS
        if hasattr(cls, 'message_id'):
            msg.message_id = 1
        for data_set in (None, b'\x00'):
            msg.data_set = data_set
            commands.append(msg._encode_command_set())
    return commands


VALID_COMMANDS = _valid_commands()

pdvs = st.tuples(
    st.sampled_from((1, 2, 3, 5, 9)),
    st.integers(0, 255),
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from(VALID_COMMANDS),
        st.sampled_from(VALID_COMMANDS).flatmap(
            lambda raw: st.integers(0, len(raw)).map(lambda cut: raw[:cut])
        ),
    ),
    st.booleans(),  # an empty data value, without even the control header
)


@settings(max_examples=_examples(1.0))
@given(sequence=st.lists(pdvs, max_size=12), store=st.booleans())
def test_random_pdv_sequences_raise_only_dimse_errors(sequence, store: bool) -> None:
    files = _Files()
    decoder = dm.DIMSEDecoder(CONTEXTS, {_ACCEPTED_CLASS} if store else set(), files)
    delivered = []
    for pc_id, control, payload, empty in sequence:
        data_value = b'' if empty else bytes((control,)) + payload
        item = pdu.PresentationDataValueItem(pc_id, memoryview(data_value))
        try:
            result = decoder.feed(item)
        except DIMSEProcessingError:
            assert not decoder.receiving  # reset, ready for the next message
            continue
        if result is not None:
            msg, got_pc_id = result
            assert isinstance(msg, dm.DIMSEMessage) and got_pc_id in CONTEXTS
            delivered.append(msg.data_set)
    decoder.discard()
    # Every file handed out was either delivered with its message or closed.
    assert all(fp.closed or any(fp is d for d in delivered) for fp in files.files)


mutations = st.lists(
    st.tuples(st.sampled_from(('flip', 'cut', 'insert', 'delete')), st.integers(0, 10**6),
              st.binary(min_size=1, max_size=4)),
    min_size=1, max_size=4,
)


def _mutate(raw: bytes, steps) -> bytes:
    data = bytearray(raw)
    for kind, where, blob in steps:
        position = where % (len(data) + 1)
        if kind == 'flip' and data:
            data[position % len(data)] ^= blob[0] or 1
        elif kind == 'cut':
            del data[position:]
        elif kind == 'insert':
            data[position:position] = blob
        elif kind == 'delete':
            del data[position:position + len(blob)]
    return bytes(data)


@settings(max_examples=_examples(1.0))
@given(message=messages(), steps=mutations)
def test_mutated_command_sets_raise_only_dimse_errors(message, steps) -> None:
    msg = message[0]
    msg.data_set = None
    raw = _mutate(msg._encode_command_set(), steps)
    decoder = dm.DIMSEDecoder(CONTEXTS, set(), None)
    try:
        result = decoder.feed(pdu.PresentationDataValueItem(1, b'\x03' + raw))
        if result is None:  # it now says a data set follows
            result = decoder.feed(pdu.PresentationDataValueItem(1, b'\x02data'))
            assert result is not None and result[0].data_set == b'data'
    except DIMSEProcessingError:
        assert not decoder.receiving
        return
    received = result[0]
    # Whatever decoded must read without surprises.
    for name in PROPERTIES[type(received)]:
        getattr(received, name)
    repr(received)


element_values = st.one_of(
    st.tuples(st.just('US'), st.sampled_from((0x0110, 0x0900, 0x1020)), us),
    st.tuples(st.just('UI'), st.sampled_from((0x0002, 0x1000)), uids),
    st.tuples(st.just('AE'), st.sampled_from((0x0600, 0x1030)), ae_titles),
    st.tuples(st.just('LO'), st.just(0x0902), comments),
    st.tuples(st.just('AT'), st.just(0x0901), st.integers(0, 0xFFFFFFFF)),
    st.tuples(st.just('AT'), st.just(0x1005), tag_lists),
)


@settings(max_examples=_examples(0.2))
@given(spec=element_values)
def test_fast_element_encoder_matches_pydicom(spec) -> None:
    vr, element, value = spec
    elem = DataElement(element, vr, value)
    buffer = DicomBytesIO()
    buffer.is_implicit_VR = True
    buffer.is_little_endian = True
    write_data_element(buffer, elem)
    assert commandset.encode_element(elem) == buffer.getvalue()


# --- the fast command-set decoder agrees with pydicom's ----------------------------------------

_FAST_ELEMENTS = sorted(commandset.COMMAND_VRS.items())


def _padded(text: str, pad: bytes) -> bytes:
    raw = text.encode('ascii')
    return raw + pad if len(raw) % 2 else raw


def _canonical_value(vr: str) -> st.SearchStrategy[bytes]:
    """Values as a careful encoder writes them: the fast decoder must take these."""
    if vr == 'US':
        return us.map(lambda v: v.to_bytes(2, 'little'))
    if vr == 'UL':
        return st.integers(0, 0xFFFFFFFF).map(lambda v: v.to_bytes(4, 'little'))
    if vr == 'UI':
        return uids.map(lambda uid: _padded(uid, b'\0'))
    if vr == 'AT':
        return tag_lists.map(lambda tags: b''.join(
            (t >> 16).to_bytes(2, 'little') + (t & 0xFFFF).to_bytes(2, 'little') for t in tags))
    limit = {'AE': 16, 'SH': 16, 'LO': 64}[vr]
    return st.text(_printable, min_size=1, max_size=limit).map(lambda s: _padded(s, b' '))


_odd_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=70).map(
    lambda s: s.encode('ascii'))


def _any_value(vr: str) -> st.SearchStrategy[bytes]:
    """Canonical values, and what a sloppy or hostile peer may send for them."""
    return st.one_of(
        _canonical_value(vr),
        st.binary(max_size=12),
        _odd_text,  # spaces, NULs, backslashes, control characters, over-long values
        uids.map(lambda uid: (' ' + uid + ' \0').encode()),
        uids.map(lambda uid: ('0' + uid).encode()),
    )


@st.composite
def command_sets(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(raw command set, whether every element is canonical)."""
    chosen = draw(st.lists(st.sampled_from(_FAST_ELEMENTS), max_size=10,
                           unique_by=lambda item: item[0]))
    canonical = draw(st.booleans())
    elements = []
    for element, vr in chosen:
        value = draw(_canonical_value(vr) if canonical else _any_value(vr))
        elements.append((element, value))
    if draw(st.booleans()):
        elements.sort()
    # Implicit VR Little Endian: group 0000, element, 4-byte length, value.
    raw = b''.join(
        (0).to_bytes(2, 'little') + element.to_bytes(2, 'little')
        + len(value).to_bytes(4, 'little') + value
        for element, value in elements
    )
    return raw, canonical


def _same(fast: object, slow: object) -> bool:
    if isinstance(slow, MultiValue):
        return isinstance(fast, MultiValue) and list(fast) == list(slow) and all(
            type(a) is type(b) for a, b in zip(fast, slow))
    return type(fast) is type(slow) and fast == slow


@settings(max_examples=_examples(1.0))
@given(spec=command_sets())
def test_fast_decoder_agrees_with_pydicom(spec) -> None:
    raw, canonical = spec
    try:
        fast = commandset.decode_fields(raw)
    except DIMSEProcessingError:
        with pytest.raises(DIMSEProcessingError):
            commandset.decode_command_set(raw)
        return
    if canonical:
        assert fast is not None  # the fast path takes whatever a careful encoder writes
    if fast is None:
        return
    command_set = commandset.decode_command_set(raw)  # raises if pydicom disagrees on validity
    assert sorted(fast) == sorted(int(tag) for tag in command_set.keys())
    for element, value in fast.items():
        assert _same(value, command_set[element].value), (hex(element), value)
    # The Dataset the fast path builds on demand is pydicom's, element for element.
    assert commandset.fields_to_dataset(fast) == command_set


@settings(max_examples=_examples(0.3))
@given(message=messages())
def test_fields_form_encodes_like_the_dataset_form(message) -> None:
    msg = message[0]
    fast = msg._encode_command_set()
    msg.command_set  # noqa: B018 - switches the message to its Dataset form
    assert msg._fields is None
    assert msg._encode_command_set() == fast
