"""Streaming conversion between the uncompressed transfer syntaxes (pynetdicom2.transcode,
PS3.5 7 and Annex A): every pair, the VRs an implicit source lacks, byte order, sequences,
deflate, malformed input and the memory a large value costs."""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import struct
import tracemalloc
import zlib

import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pynetdicom2 import dsutils, transcode, uids
from pynetdicom2.exceptions import InvalidDataSetError, NetDICOMError

IMPLICIT = str(uids.ImplicitVRLittleEndian)
EXPLICIT = str(uids.ExplicitVRLittleEndian)
BIG = str(uids.ExplicitVRBigEndian)
DEFLATED = str(uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
SYNTAXES = [IMPLICIT, EXPLICIT, BIG, DEFLATED]
NAMES = {IMPLICIT: 'implicit', EXPLICIT: 'explicit', BIG: 'big', DEFLATED: 'deflated'}
PAIRS = [(a, b) for a in SYNTAXES for b in SYNTAXES if a != b]
PAIR_IDS = [f'{NAMES[a]}-{NAMES[b]}' for a, b in PAIRS]
#: implicit VR, little endian (the deflated syntax inflates to explicit VR little endian)
FORMS = {IMPLICIT: (True, True), EXPLICIT: (False, True), BIG: (False, False),
         DEFLATED: (False, True)}

UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
CREATOR = 'PYNETDICOM2 TEST'
#: PS3.5 Table 7.1-1: the explicit VRs with a 4-byte length
LONG_VRS = (b'OB', b'OD', b'OF', b'OL', b'OV', b'OW', b'SQ', b'SV', b'UC', b'UN', b'UR', b'UT',
            b'UV')


# -- encoding helpers ---------------------------------------------------------------------------


def encode(ds: Dataset, syntax: str) -> bytes:
    """``ds`` in ``syntax``. Word values (OW, OF...) of ``ds`` hold little endian bytes;
    pydicom writes them as they are, so they are swapped first for big endian."""
    if syntax == BIG:
        ds = copy.deepcopy(ds)
        dsutils.swap_word_values(ds)
    raw = dsutils.encode(ds, *FORMS[syntax])
    return dsutils.deflate(raw) if syntax == DEFLATED else raw


def decode(data: bytes, syntax: str) -> Dataset:
    """``data`` decoded by pydicom, word values as little endian bytes again."""
    if syntax == DEFLATED:
        data = dsutils.inflate(data)
    ds = dsutils.decode(data, *FORMS[syntax])
    if syntax == BIG:
        dsutils.swap_word_values(ds)
    return ds


def convert(data: bytes, source: str, target: str, chunk_size: int = 1 << 20) -> bytes:
    return b''.join(transcode.convert(io.BytesIO(data), source, target, chunk_size))


def set_lengths(ds: Dataset, undefined: bool) -> Dataset:
    """Make pydicom write every sequence and item of ``ds`` with undefined (or defined)
    lengths."""
    for element in ds:
        if element.VR == 'SQ':
            element.is_undefined_length = undefined
            for item in element.value:
                item.is_undefined_length_sequence_item = undefined
                set_lengths(item, undefined)
    return ds


def item(**elements) -> Dataset:
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def reference(bits: int = 16, undefined: bool = True, private: bool = True) -> Dataset:
    """A data set with most VRs, multi-values, empty values, private elements, nested
    sequences (some items empty) and pixel data of ``bits`` bits allocated."""
    ds = Dataset()
    ds.SOPClassUID = uids.CT_IMAGE_STORAGE
    ds.SOPInstanceUID = '1.2.826.0.1.3680043.9.3811.77.1'
    ds.StudyDate = '20240131'
    ds.AccessionNumber = ''  # an empty value
    ds.SimpleFrameList = [1, 70000]  # UL
    ds.RecommendedDisplayFrameRateInFloat = -2.25  # FL
    ds.ReferencedImageSequence = Sequence([
        item(ReferencedSOPClassUID=uids.CT_IMAGE_STORAGE, ReferencedSOPInstanceUID='1.2.3.4',
             PurposeOfReferenceCodeSequence=Sequence([
                 item(CodeValue='121311', CodingSchemeDesignator='DCM', CodeMeaning='Local'),
             ])),
        Dataset(),  # an empty item
    ])
    ds.ReferencedSeriesSequence = Sequence([])  # an empty sequence
    ds.PatientName = 'Doe^Jane'
    ds.PatientID = 'ID-1'
    ds.DiffusionBValue = 1000.125  # FD
    ds.AcquisitionMatrix = [0, 256, 256, 0]  # US, multi-valued
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.FrameIncrementPointer = [0x00181063, 0x00181065]  # AT
    ds.Rows, ds.Columns = 4, 6
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1
    ds.add_new(0x00280120, 'SS', -5)  # Pixel Padding Value, 'US or SS' in the dictionary
    ds.RedPaletteColorLookupTableData = bytes(range(100, 116))  # OW
    ds.ModalityLUTSequence = Sequence([item(LUTExplanation='lut')])
    ds.ModalityLUTSequence[0].add_new(0x00283002, 'US', [4, 0, 16])  # LUT Descriptor
    ds.ModalityLUTSequence[0].add_new(0x00283006, 'OW', bytes(range(8)))  # LUT Data
    ds.EncapsulatedDocument = b'%PDF-1.4 text!'  # OB
    ds.VectorGridData = struct.pack('<3f', 1.5, -2.0, 8.25)  # OF
    ds.LongPrimitivePointIndexList = struct.pack('<3I', 1, 2, 0x01020304)  # OL
    ds.SelectorSVValue = [-5, 2 ** 40]  # SV
    ds.add_new(0x60000050, 'SS', [-3, 4])  # Overlay Origin: a repeating group
    ds.ExtendedOffsetTable = struct.pack('<2Q', 0, 0x0102030405060708)  # OV
    if private:
        ds.add_new(0x00090010, 'LO', CREATOR)
        ds.add_new(0x00091001, 'US', 7)
        ds.add_new(0x00091002, 'LO', 'private text')
        ds.add_new(0x00091003, 'UN', b'\x01\x02\x03')  # an odd length
        nested = item(PatientID='nested')
        nested.add_new(0x00090010, 'LO', CREATOR)
        nested.add_new(0x00091001, 'US', 9)
        ds.add_new(0x00091010, 'SQ', Sequence([nested]))
    ds.PixelData = bytes(range(ds.Rows * ds.Columns * bits // 8))
    ds['PixelData'].VR = 'OW' if bits > 8 else 'OB'
    return set_lengths(ds, undefined)


def assert_same(expected: Dataset, found: Dataset) -> None:
    """Equal values, element by element and item by item. An element the conversion made UN
    (a private one from implicit VR, a private sequence of defined length included) holds
    its value encoded in implicit VR little endian (PS3.5 6.2.2)."""
    assert [e.tag for e in found] == [e.tag for e in expected]
    for want in expected:
        got = found[want.tag]
        if got.VR == 'UN' and want.VR != 'UN':
            assert (got.value or b'') == dsutils.encode_element(want, True, True)[8:], want.tag
        elif want.VR == 'SQ':
            assert len(got.value) == len(want.value), want.tag
            for want_item, got_item in zip(want.value, got.value):
                assert_same(want_item, got_item)
        else:
            assert got.value == want.value, want.tag


def element_ends(data: bytes, syntax: str) -> set[int]:
    """The offsets where a top-level element ends."""
    implicit, little = FORMS[syntax]
    order = '<' if little else '>'
    ends, position = set(), 0
    while position < len(data):
        vr = data[position + 4:position + 6]
        if implicit or vr not in LONG_VRS:
            size = 8 + struct.unpack_from(order + ('I' if implicit else 'H'), data,
                                          position + (4 if implicit else 6))[0]
        else:
            size = 12 + struct.unpack_from(order + 'I', data, position + 8)[0]
        position += size
        ends.add(position)
    return ends


def explicit_headers(data: bytes, little: bool = True) -> dict[int, tuple[bytes, bytes]]:
    """tag -> (VR, value) of a flat explicit VR data set."""
    order = '<' if little else '>'
    found, position = {}, 0
    while position < len(data):
        group, element, vr = struct.unpack_from(order + 'HH2s', data, position)
        if vr in LONG_VRS:
            length = struct.unpack_from(order + 'I', data, position + 8)[0]
            position += 12
        else:
            length = struct.unpack_from(order + 'H', data, position + 6)[0]
            position += 8
        assert length != UNDEFINED
        found[group << 16 | element] = (vr, data[position:position + length])
        position += length
    return found


def implicit(tag: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack('<HHI', tag >> 16, tag & 0xFFFF,
                       len(value) if length is None else length) + value


def explicit(tag: int, vr: bytes, value: bytes, length: int | None = None,
             little: bool = True) -> bytes:
    order = '<' if little else '>'
    size = len(value) if length is None else length
    if vr in LONG_VRS:
        return struct.pack(order + 'HH2sHI', tag >> 16, tag & 0xFFFF, vr, 0, size) + value
    return struct.pack(order + 'HH2sH', tag >> 16, tag & 0xFFFF, vr, size) + value


def marker(tag: int, length: int = 0, little: bool = True) -> bytes:
    return struct.pack('<HHI' if little else '>HHI', 0xFFFE, tag & 0xFFFF, length)


def swap_words(data: bytes, size: int = 2) -> bytes:
    return b''.join(data[i:i + size][::-1] for i in range(0, len(data), size))


# -- every pair ---------------------------------------------------------------------------------


@pytest.mark.parametrize('chunk_size', [1 << 20, 7], ids=['chunk-1M', 'chunk-7'])
@pytest.mark.parametrize('undefined', [True, False], ids=['undefined', 'defined'])
@pytest.mark.parametrize('bits', [8, 16])
@pytest.mark.parametrize(('source', 'target'), PAIRS, ids=PAIR_IDS)
def test_every_pair_keeps_every_value(source, target, bits, undefined, chunk_size):
    ds = reference(bits, undefined)
    converted = convert(encode(ds, source), source, target, chunk_size)
    assert_same(ds, decode(converted, target))


@pytest.mark.parametrize(('source', 'target'), PAIRS, ids=PAIR_IDS)
def test_pixel_data_bytes_follow_the_byte_order(source, target):
    """16-bit pixel words are swapped for big endian; 8-bit pixels, OB, are not."""
    for bits, vr in ((16, b'OW'), (8, b'OB')):
        ds = reference(bits, private=False)
        converted = convert(encode(ds, source), source, target)
        if target == DEFLATED:
            converted = dsutils.inflate(converted)
        implicit_vr, little = FORMS[target]
        pixels = ds.PixelData
        if bits == 16 and not little:
            pixels = swap_words(pixels)
        if implicit_vr:
            header = struct.pack('<HHI', 0x7FE0, 0x0010, len(pixels))
        else:
            header = struct.pack('<HH2sHI' if little else '>HH2sHI', 0x7FE0, 0x0010, vr, 0,
                                 len(pixels))
        assert converted.endswith(header + pixels)


@pytest.mark.parametrize(('source', 'target'), PAIRS, ids=PAIR_IDS)
def test_a_round_trip_gives_back_the_same_bytes(source, target):
    """A -> B -> A is byte-identical where no defined length had to become undefined:
    between explicit VR syntaxes always, through another VR form when the data set has
    undefined lengths only, and from explicit VR when every VR is in the dictionary."""
    explicit_only = not FORMS[source][0] and not FORMS[target][0]
    ds = reference(16, undefined=not explicit_only,
                   private=FORMS[source][0] or explicit_only)
    if not FORMS[source][0] and FORMS[target][0]:
        # through implicit VR, ambiguous VRs come back from the dictionary's rules
        del ds.ModalityLUTSequence
    original = encode(ds, source)
    there = convert(original, source, target)
    back = convert(there, target, source)
    if source == DEFLATED:
        original, back = dsutils.inflate(original), dsutils.inflate(back)
    assert back == original


@pytest.mark.parametrize('syntax', SYNTAXES, ids=[NAMES[s] for s in SYNTAXES])
def test_the_same_syntax_passes_the_bytes_through(syntax):
    data = encode(reference(), syntax)
    assert convert(data, syntax, syntax, chunk_size=100) == data
    assert convert(b'not checked', syntax, syntax) == b'not checked'


def test_an_empty_data_set_converts_to_an_empty_one():
    assert convert(b'', IMPLICIT, BIG) == b''
    assert dsutils.inflate(convert(b'', EXPLICIT, DEFLATED)) == b''


# -- VRs for an implicit source (PS3.5 6.2, Annex A) --------------------------------------------


@pytest.mark.parametrize('target', [EXPLICIT, BIG], ids=['explicit', 'big'])
def test_an_implicit_source_takes_its_vrs_from_the_dictionary(target):
    with pytest.raises(KeyError):
        dictionary_VR(0x00180001)
    data = b''.join([
        implicit(0x00080000, struct.pack('<I', 26)),  # a group length: dropped (PS3.5 7.2)
        implicit(0x00080001, struct.pack('<I', 1234)),  # Length to End: dropped too
        implicit(0x00080060, b'CT'),
        implicit(0x00090010, CREATOR.encode()),  # a private creator: LO
        implicit(0x00091001, b'\x07\x00'),  # a private element: UN, not swapped
        implicit(0x00180001, b'\x01\x02'),  # a public tag the dictionary lacks: UN
        implicit(0x00280010, b'\x00\x02'),  # US
        implicit(0x60020050, b'\xfd\xff\x04\x00'),  # Overlay Origin, repeating group: SS
    ])
    little = target == EXPLICIT
    found = explicit_headers(convert(data, IMPLICIT, target), little)
    swap = (lambda b: b) if little else swap_words
    assert found == {
        0x00080060: (b'CS', b'CT'),
        0x00090010: (b'LO', CREATOR.encode()),
        0x00091001: (b'UN', b'\x07\x00'),
        0x00180001: (b'UN', b'\x01\x02'),
        0x00280010: (b'US', swap(b'\x00\x02')),
        0x60020050: (b'SS', swap(b'\xfd\xff\x04\x00')),
    }


@pytest.mark.parametrize(('bits', 'vr'), [(1, b'OB'), (8, b'OB'), (16, b'OW'), (32, b'OW'),
                                          (None, b'OW')])
def test_pixel_data_is_ob_up_to_8_bits_allocated(bits, vr):
    data = implicit(0x00280100, struct.pack('<H', bits)) if bits else b''
    data += implicit(0x7FE00010, bytes(range(8)))
    for target, little in ((EXPLICIT, True), (BIG, False)):
        found = explicit_headers(convert(data, IMPLICIT, target), little)
        pixels = bytes(range(8))
        assert found[0x7FE00010] == (vr, swap_words(pixels) if vr == b'OW' and not little
                                     else pixels)


@pytest.mark.parametrize(('representation', 'vr'), [(0, b'US'), (1, b'SS'), (None, b'US')])
def test_us_or_ss_follows_pixel_representation(representation, vr):
    data = b''
    if representation is not None:
        data += implicit(0x00280103, struct.pack('<H', representation))
    data += implicit(0x00280106, b'\xfb\xff')  # Smallest Image Pixel Value
    data += implicit(0x00283002, struct.pack('<3H', 4, 0, 16))  # LUT Descriptor
    found = explicit_headers(convert(data, IMPLICIT, EXPLICIT))
    assert found[0x00280106][0] == found[0x00283002][0] == vr


def test_an_item_decides_with_its_own_values_first():
    """Pixel Representation in an item (an icon image) decides there; an item without one
    takes the top level's."""
    ds = Dataset()
    ds.PixelRepresentation = 1
    own = item(PixelRepresentation=0, BitsAllocated=8, Rows=1, Columns=2)
    own.add_new(0x00280106, 'US', 3)
    own.add_new(0x7FE00010, 'OB', b'\x01\x02')
    inherited = Dataset()
    inherited.add_new(0x00280106, 'SS', -3)
    ds.IconImageSequence = Sequence([own, inherited])
    data = convert(encode(ds, IMPLICIT), IMPLICIT, BIG)
    back = dsutils.decode(data, False, False)
    assert back.IconImageSequence[0]['SmallestImagePixelValue'].VR == 'US'
    assert back.IconImageSequence[0]['PixelData'].VR == 'OB'
    assert back.IconImageSequence[1]['SmallestImagePixelValue'].VR == 'SS'
    assert back.IconImageSequence[1].SmallestImagePixelValue == -3


def test_overlay_waveform_and_lut_data_vrs():
    waveform = b''.join([
        implicit(0x54001004, struct.pack('<H', 8)),  # Waveform Bits Allocated
        implicit(0x54001010, b'\x01\x02\x03\x04'),  # Waveform Data
    ])
    data = b''.join([
        implicit(0x00283006, b'\x05\x00'),  # LUT Data, a single value: US
        implicit(0x54000100, marker(ITEM, len(waveform)) + waveform),  # Waveform Sequence
        implicit(0x60003000, b'\x01\x02\x03\x04'),  # Overlay Data: OW
    ])
    back = dsutils.decode(convert(data, IMPLICIT, EXPLICIT), False, True)
    assert back[0x00283006].VR == 'US'
    assert back[0x60003000].VR == 'OW'
    assert back.WaveformSequence[0]['WaveformData'].VR == 'OB'
    table = implicit(0x00283006, bytes(range(8)))  # a table: OW
    assert explicit_headers(convert(table, IMPLICIT, EXPLICIT))[0x00283006][0] == b'OW'


@pytest.mark.parametrize('target', [EXPLICIT, BIG], ids=['explicit', 'big'])
def test_a_value_too_long_for_a_2_byte_length_becomes_un(target):
    """PS3.5 6.2.2: UN, its value as implicit VR little endian left it, not swapped."""
    value = struct.pack('<40000H', *range(40000))  # 80000 bytes of US
    data = implicit(0x00181310, value) + implicit(0x00181312, b'ROW ')
    found = explicit_headers(convert(data, IMPLICIT, target), target == EXPLICIT)
    assert found[0x00181310] == (b'UN', value)
    assert found[0x00181312] == (b'CS', b'ROW ')
    longest = implicit(0x00181310, value[:65534])  # 2**16 - 2 bytes still fit
    assert explicit_headers(convert(longest, IMPLICIT, target),
                            target == EXPLICIT)[0x00181310][0] == b'US'


def test_a_private_sequence_of_undefined_length_becomes_sq():
    """In implicit VR only a sequence has an undefined length (PS3.5 7.1.3, 7.5): it is
    converted like one, so a big endian peer gets big endian items."""
    inside = implicit(0x00090010, CREATOR.encode()) + implicit(0x00100020, b'ID')
    data = implicit(0x00091010, marker(ITEM, UNDEFINED) + inside + marker(ITEM_END)
                    + marker(SEQUENCE_END), UNDEFINED)
    converted = convert(data, IMPLICIT, BIG)
    assert converted[:12] == struct.pack('>HH2sHI', 0x0009, 0x1010, b'SQ', 0, UNDEFINED)
    back = dsutils.decode(converted, False, False)
    assert back[0x00091010].value[0].PatientID == 'ID'
    assert convert(converted, BIG, IMPLICIT) == data


@pytest.mark.parametrize(('source', 'target'), [
    (EXPLICIT, BIG), (EXPLICIT, IMPLICIT), (EXPLICIT, DEFLATED), (BIG, EXPLICIT), (BIG, IMPLICIT),
], ids=['explicit-big', 'explicit-implicit', 'explicit-deflated', 'big-explicit', 'big-implicit'])
def test_a_un_of_undefined_length_is_copied_as_it_is(source, target):
    """PS3.5 6.2.2: its items stay implicit VR little endian, in a big endian data set too."""
    content = (marker(ITEM, UNDEFINED) + implicit(0x00091001, b'\x07\x00')
               + implicit(0x00091011, marker(ITEM, 10) + implicit(0x00100020, b'ID')
                          + marker(SEQUENCE_END), UNDEFINED)
               + marker(ITEM_END) + marker(ITEM, 10) + implicit(0x00100020, b'JD')
               + marker(SEQUENCE_END))
    little = source != BIG
    data = (explicit(0x00090010, b'LO', CREATOR.encode(), little=little)
            + explicit(0x00091010, b'UN', content, UNDEFINED, little=little)
            + explicit(0x00280010, b'US', b'\x00\x02'[::1 if little else -1], little=little))
    converted = convert(data, source, target)
    if target == DEFLATED:
        converted = dsutils.inflate(converted)
    if target == IMPLICIT:
        un_header = implicit(0x00091010, b'', UNDEFINED)
    else:
        un_header = explicit(0x00091010, b'UN', b'', UNDEFINED, little=target != BIG)
    assert un_header + content in converted
    assert converted.endswith(b'\x00\x02' if target != BIG else b'\x02\x00')
    if target != IMPLICIT:  # from implicit VR, the UN comes back as SQ: it holds a sequence
        assert convert(convert(data, source, target), target, source) == data


# -- sequences (PS3.5 7.5) ----------------------------------------------------------------------


def test_defined_lengths_become_undefined_between_implicit_and_explicit():
    ds = reference(undefined=False)
    converted = convert(encode(ds, EXPLICIT), EXPLICIT, IMPLICIT)
    back = dsutils.decode(converted, True, True)
    sequence = back['ReferencedImageSequence']
    assert sequence.is_undefined_length
    assert sequence.value[0].is_undefined_length_sequence_item
    assert back['ReferencedSeriesSequence'].value == []  # empty: length 0, kept
    assert marker(ITEM, 0) in converted  # the empty item too
    assert_same(ds, back)


def test_defined_lengths_are_kept_between_explicit_syntaxes():
    ds = reference(undefined=False)
    converted = convert(encode(ds, EXPLICIT), EXPLICIT, BIG)
    assert marker(ITEM_END, little=False) not in converted
    assert not dsutils.decode(converted, False, False)['ReferencedImageSequence'] \
        .is_undefined_length


def test_group_lengths_are_kept_between_explicit_syntaxes():
    data = explicit(0x00080000, b'UL', struct.pack('<I', 10)) + explicit(0x00080060, b'CS', b'CT')
    converted = convert(data, EXPLICIT, BIG)
    assert explicit_headers(converted, False)[0x00080000] == (b'UL', struct.pack('>I', 10))
    assert 0x00080000 not in dsutils.decode(convert(data, EXPLICIT, IMPLICIT), True, True)


# -- deflate (PS3.5 A.5) ------------------------------------------------------------------------


@pytest.mark.parametrize('source', [IMPLICIT, EXPLICIT, BIG], ids=['implicit', 'explicit', 'big'])
def test_deflated_output_is_raw_deflate_of_even_length(source):
    ds = reference()
    deflated = convert(encode(ds, source), source, DEFLATED, chunk_size=64)
    assert len(deflated) % 2 == 0
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # no zlib header (RFC 1951 alone)
    inflated = inflater.decompress(deflated)
    assert inflater.eof and inflater.unused_data in (b'', b'\0')
    assert_same(ds, dsutils.decode(inflated, False, True))


def test_a_deflated_source_may_end_with_its_pad_and_nothing_else():
    raw = dsutils.encode(reference(), False, True)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = compressor.compress(raw) + compressor.flush()
    for data in (stream, stream + b'\0'):
        assert convert(data, DEFLATED, EXPLICIT) == raw
    with pytest.raises(InvalidDataSetError, match='follow'):
        convert(stream + b'\0junk', DEFLATED, EXPLICIT)
    with pytest.raises(InvalidDataSetError, match='cut short'):
        convert(stream[:len(stream) // 2], DEFLATED, EXPLICIT)
    with pytest.raises(InvalidDataSetError, match='inflate'):
        convert(b'\xff' * 100, DEFLATED, EXPLICIT)


# -- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize('source', [IMPLICIT, EXPLICIT, BIG], ids=['implicit', 'explicit', 'big'])
def test_every_cut_inside_an_element_is_refused(source):
    whole = encode(reference(undefined=False, private=False), source)
    target = EXPLICIT if source == IMPLICIT else IMPLICIT
    ends = element_ends(whole, source)
    for size in range(len(whole)):
        if size in ends or size == 0:
            continue  # a shorter data set, whole as far as its encoding can tell
        with pytest.raises(InvalidDataSetError, match='cut short|ends inside'):
            convert(whole[:size], source, target, chunk_size=4096)


@pytest.mark.parametrize(('data', 'source', 'message'), [
    (b'\x08\x00\x60\x00XY\x02\x00CT', EXPLICIT, r"VR b'XY'.* at byte 0|at byte 0.*VR b'XY'"),
    (explicit(0x00420011, b'OB', b'')[:10], EXPLICIT, r'in the header of \(0042,0011\)'),
    (explicit(0x00080060, b'UT', b'', UNDEFINED), EXPLICIT, 'undefined length'),
    (implicit(0x00280010, b'', UNDEFINED), IMPLICIT, 'undefined length'),
    (explicit(0x7FE00010, b'OB', marker(ITEM, 0) + marker(SEQUENCE_END), UNDEFINED), EXPLICIT,
     'encapsulated'),
    (implicit(0x7FE00010, marker(ITEM, 0) + marker(SEQUENCE_END), UNDEFINED), IMPLICIT,
     'encapsulated'),
    (marker(ITEM, 0), EXPLICIT, r'\(FFFE,E000\) at byte 0 stands where'),
    (implicit(0x00080060, b'CT') + marker(SEQUENCE_END), IMPLICIT, 'at byte 10'),
    (implicit(0x00081140, marker(ITEM, UNDEFINED), UNDEFINED), IMPLICIT, 'ends inside the item'),
    (implicit(0x00081140, implicit(0x00080060, b'CT'), UNDEFINED), IMPLICIT,
     r'\(0008,0060\) at byte 8 inside the sequence \(0008,1140\)'),
    (explicit(0x00081140, b'SQ', marker(ITEM, 4) + explicit(0x00080060, b'CS', b'CT')),
     EXPLICIT, 'runs past the end of the item'),
    (explicit(0x00081140, b'SQ', marker(ITEM, 20) + b'x' * 20, 10), EXPLICIT,
     'runs past the end of the sequence'),
    (implicit(0x00100010, b'Doe^Jane', 1000), IMPLICIT, r'\(0010,0010\) at byte 0 needs 1000'),
    (implicit(0x7FE00010, b'\0' * 1000, 200_000), IMPLICIT, r'\(7FE0,0010\) at byte 0'),
], ids=['bad-vr', 'short-long-header', 'undefined-ut', 'undefined-us', 'encapsulated-explicit',
        'encapsulated-implicit', 'item-at-top', 'delimiter-at-top', 'open-item', 'no-item',
        'overrun-item', 'overrun-sequence', 'short-value', 'short-large-value'])
def test_malformed_input_is_refused_saying_where(data, source, message):
    target = EXPLICIT if source == IMPLICIT else IMPLICIT
    with pytest.raises(InvalidDataSetError, match=message):
        convert(data, source, target, chunk_size=1024)


def test_nesting_deeper_than_the_bound_is_refused():
    data = b''
    for _ in range(70):
        data = implicit(0x00081140, marker(ITEM, UNDEFINED) + data + marker(ITEM_END)
                        + marker(SEQUENCE_END), UNDEFINED)
    with pytest.raises(InvalidDataSetError, match='nest deeper'):
        convert(data, IMPLICIT, EXPLICIT)


def test_garbage_is_refused():
    noise = bytes((i * 7919 + 13) % 251 for i in range(4000))
    for source in (EXPLICIT, BIG):
        with pytest.raises(InvalidDataSetError):
            convert(noise, source, IMPLICIT)


def test_the_unsupported_syntaxes_and_chunk_sizes_are_refused_at_once():
    jpeg = str(uids.JPEG_BASELINE_PROCESS_1)
    assert transcode.can_convert(IMPLICIT, BIG) and transcode.can_convert(BIG, BIG)
    assert not transcode.can_convert(jpeg, EXPLICIT)
    assert not transcode.can_convert(EXPLICIT, str(uids.JPIP_REFERENCED_DEFLATE))
    with pytest.raises(NetDICOMError, match='1.2.840.10008.1.2.4.50'):
        transcode.convert(io.BytesIO(b''), jpeg, EXPLICIT)
    with pytest.raises(ValueError):
        transcode.convert(io.BytesIO(b''), IMPLICIT, EXPLICIT, chunk_size=0)


# -- pieces, sources and memory -----------------------------------------------------------------


def test_a_small_data_set_comes_in_one_piece_and_a_large_one_in_bounded_pieces():
    small = encode(reference(), IMPLICIT)
    assert len(list(transcode.convert(io.BytesIO(small), IMPLICIT, BIG))) == 1
    ds = reference()
    ds.PixelData = bytes(range(256)) * 4096  # 1 MiB
    pieces = list(transcode.convert(io.BytesIO(encode(ds, IMPLICIT)), IMPLICIT, BIG,
                                    chunk_size=64 * 1024))
    assert len(pieces) > 10
    assert max(map(len, pieces)) <= 2 * 64 * 1024


class Trickle(io.RawIOBase):
    """A stream that answers at most 5 bytes a read, as a pipe may: no seek, no size."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self.data.read(min(size, 5) if size >= 0 else 5)


@pytest.mark.parametrize('source', SYNTAXES, ids=[NAMES[s] for s in SYNTAXES])
def test_a_stream_that_answers_short_reads_converts(source):
    ds = reference()
    target = BIG if source != BIG else IMPLICIT
    pieces = transcode.convert(Trickle(encode(ds, source)), source, target)
    assert_same(ds, decode(b''.join(pieces), target))


def test_the_file_is_read_from_its_position():
    data = encode(reference(), EXPLICIT)
    fp = io.BytesIO(b'preamble and meta' + data)
    fp.seek(17)
    assert b''.join(transcode.convert(fp, EXPLICIT, BIG)) == convert(data, EXPLICIT, BIG)


PIXELS = 50 * 1024 * 1024
PATTERN = bytes(range(256))
SWAPPED = swap_words(PATTERN)


def _large_file(path, pixels: int = PIXELS) -> bytes:
    """An implicit VR data set with ``pixels`` bytes of 16-bit pixel data, written to
    ``path`` in pieces; returns what comes before the pixels."""
    head = dsutils.encode(reference(private=False), True, True)
    head = head[:head.index(struct.pack('<HH', 0x7FE0, 0x0010))]
    with open(path, 'wb') as fp:
        fp.write(head + struct.pack('<HHI', 0x7FE0, 0x0010, pixels))
        block = PATTERN * 4096
        for _ in range(pixels // len(block)):
            fp.write(block)
    return head


def _measure(fp, source: str, target: str) -> tuple[str, int, int]:
    """Convert, hashing the output: its SHA-256, its length and the peak of memory."""
    digest = hashlib.sha256()
    size = 0
    tracemalloc.start()
    try:
        for piece in transcode.convert(fp, source, target):
            digest.update(piece)
            size += len(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return digest.hexdigest(), size, peak


def test_a_large_value_converts_in_bounded_memory(tmp_path):
    """50 MB of OW pixel data, implicit VR to big endian: swapped, with a memory peak far
    below the value's size."""
    head = _large_file(tmp_path / 'large.dcm')
    with open(tmp_path / 'large.dcm', 'rb') as fp:
        digest, size, peak = _measure(fp, IMPLICIT, BIG)
    expected = hashlib.sha256(convert(head, IMPLICIT, BIG))
    expected.update(struct.pack('>HH2sHI', 0x7FE0, 0x0010, b'OW', 0, PIXELS))
    block = SWAPPED * 4096
    for _ in range(PIXELS // len(block)):
        expected.update(block)
    assert size == len(convert(head, IMPLICIT, BIG)) + 12 + PIXELS
    assert digest == expected.hexdigest()
    assert peak < 8 * 1024 * 1024, f'peak {peak} bytes'


def test_a_large_value_deflates_and_inflates_in_bounded_memory(tmp_path):
    pixels = 16 * 1024 * 1024
    _large_file(tmp_path / 'large.dcm', pixels)
    with open(tmp_path / 'large.dcm', 'rb') as fp:
        explicit_data = b''.join(transcode.convert(fp, IMPLICIT, EXPLICIT))
    (tmp_path / 'deflated').write_bytes(convert(explicit_data, EXPLICIT, DEFLATED))
    with open(tmp_path / 'large.dcm', 'rb') as fp:
        deflating = _measure(fp, IMPLICIT, DEFLATED)
    with open(tmp_path / 'deflated', 'rb') as fp:
        inflating = _measure(fp, DEFLATED, BIG)
    for _digest, _size, peak in (deflating, inflating):
        assert peak < 8 * 1024 * 1024, f'peak {peak} bytes'
    assert inflating[1] == len(explicit_data)
    assert inflating[0] == hashlib.sha256(
        convert(explicit_data, EXPLICIT, BIG)).hexdigest()


def test_words_are_swapped_across_piece_boundaries():
    """A value copied in pieces whose boundaries fall inside words (odd window, odd chunk)."""
    value = bytes(itertools.islice(itertools.cycle(range(251)), 8 * 1001))
    for tag, vr, size in ((0x7FE00010, b'OW', 2), (0x7FE00008, b'OF', 4),
                          (0x7FE00009, b'OD', 8)):
        data = explicit(0x00280010, b'US', b'\x01\x00') + explicit(tag, vr, value)
        for chunk_size in (7, 17, 1000):
            converted = convert(data, EXPLICIT, BIG, chunk_size)
            assert converted.endswith(swap_words(value, size)), (vr, chunk_size)
            assert convert(converted, BIG, EXPLICIT, chunk_size) == data
