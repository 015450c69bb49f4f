"""The walk over an encoded data set's element headers (pynetdicom2.datasetcheck, PS3.5 7)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from aetools import dataset
from pydicom.encaps import encapsulate

from pynetdicom2 import datasetcheck, dsutils, uids
from pynetdicom2.exceptions import InvalidDataSetError

IMPLICIT = uids.ImplicitVRLittleEndian
EXPLICIT = uids.ExplicitVRLittleEndian
BIG = uids.ExplicitVRBigEndian
DEFLATED = '1.2.840.10008.1.2.1.99'  # Deflated Explicit VR Little Endian
SYNTAXES = {IMPLICIT: (True, True), EXPLICIT: (False, True), BIG: (False, False)}


def encode(ds, syntax: str) -> bytes:
    if syntax == DEFLATED:
        return dsutils.deflate(dsutils.encode(ds, False, True))
    return dsutils.encode(ds, *SYNTAXES[syntax])


def implicit(tag: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack('<HHI', tag >> 16, tag & 0xFFFF,
                       len(value) if length is None else length) + value


def explicit(tag: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
    size = len(value) if length is None else length
    if vr in (b'OB', b'OW', b'SQ', b'UN', b'UT'):
        return struct.pack('<HH2sHI', tag >> 16, tag & 0xFFFF, vr, 0, size) + value
    return struct.pack('<HH2sH', tag >> 16, tag & 0xFFFF, vr, size) + value


UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
SOP_INSTANCE = implicit(0x00080018, b'1.2.3.4\0')


@pytest.mark.parametrize('syntax', [IMPLICIT, EXPLICIT, BIG, DEFLATED])
def test_a_whole_data_set_passes_and_its_sop_uids_are_found(syntax):
    ds = dataset(pixel_bytes=2048)
    found = datasetcheck.check_bytes(encode(ds, syntax), syntax)
    assert (found.sop_class_uid, found.sop_instance_uid) == (ds.SOPClassUID, ds.SOPInstanceUID)


@pytest.mark.parametrize('syntax', [IMPLICIT, EXPLICIT, BIG])
def test_every_cut_inside_an_element_is_found(syntax):
    whole = encode(dataset(), syntax)
    boundaries = _element_ends(whole, syntax)
    for size in range(len(whole)):
        if size in boundaries:
            continue  # a shorter data set, whole as far as its encoding can tell
        with pytest.raises(InvalidDataSetError):
            datasetcheck.check_bytes(whole[:size], syntax)


def _element_ends(data: bytes, syntax: str) -> set[int]:
    implicit_vr, little = SYNTAXES[syntax]
    endian = '<' if little else '>'
    ends, position = set(), 0
    while position < len(data):
        if implicit_vr:
            length = struct.unpack_from(endian + 'I', data, position + 4)[0]
            position += 8 + length
        else:
            vr = data[position + 4:position + 6]
            if vr in (b'OB', b'OW', b'SQ', b'UN', b'UT'):
                position += 12 + struct.unpack_from(endian + 'I', data, position + 8)[0]
            else:
                position += 8 + struct.unpack_from(endian + 'H', data, position + 6)[0]
        ends.add(position)
    return ends


def test_nested_sequences_of_undefined_length_are_followed():
    item = implicit(0x00080100, b'AB') + implicit(ITEM_END, b'')
    sequence = (implicit(0x00081140, b'', UNDEFINED) + implicit(ITEM, item[:0], UNDEFINED)
                + item + implicit(ITEM, b'\x08\x00\x00\x01\x02\x00\x00\x00AB')
                + implicit(SEQUENCE_END, b''))
    found = datasetcheck.check_bytes(SOP_INSTANCE + sequence, IMPLICIT)
    assert found.sop_instance_uid == '1.2.3.4'
    with pytest.raises(InvalidDataSetError, match='no sequence delimitation'):
        datasetcheck.check_bytes(SOP_INSTANCE + sequence[:-8], IMPLICIT)
    with pytest.raises(InvalidDataSetError, match='no item delimitation'):
        datasetcheck.check_bytes(SOP_INSTANCE + sequence[:16] + implicit(0x00080100, b'AB'),
                                 IMPLICIT)


def test_encapsulated_pixel_data_is_followed_fragment_by_fragment():
    fragments = encapsulate([b'\x01\x02' * 100, b'\x03\x04' * 50]) + implicit(SEQUENCE_END, b'')
    data = SOP_INSTANCE.replace(b'\x08\x00\x18\x00\x08\x00\x00\x00',
                                b'\x08\x00\x18\x00UI\x08\x00')
    data += explicit(0x7FE00010, b'OB', fragments, UNDEFINED)
    assert datasetcheck.check_bytes(data, EXPLICIT).sop_instance_uid == '1.2.3.4'
    with pytest.raises(InvalidDataSetError, match='no sequence delimitation'):
        datasetcheck.check_bytes(data[:-8], EXPLICIT)


def test_a_un_of_undefined_length_holds_implicit_vr_items():
    inner = implicit(0x00100010, b'DOE^J ') + implicit(ITEM_END, b'')
    data = (explicit(0x00091010, b'UN', b'', UNDEFINED) + implicit(ITEM, b'', UNDEFINED)
            + inner + implicit(SEQUENCE_END, b''))
    assert datasetcheck.check_bytes(data, EXPLICIT).length == len(data)


@pytest.mark.parametrize(('data', 'syntax', 'message'), [
    (b'', IMPLICIT, 'empty'),
    (b'\x08\x00\x16\x00XY\x02\x00AB', EXPLICIT, 'not a DICOM VR'),
    (explicit(0x00280010, b'US', b'', 0xFFFF) + b'\0' * 4, EXPLICIT, 'cut short'),
    (implicit(ITEM, b'abcd'), IMPLICIT, 'stands where a data element belongs'),
    (struct.pack('<HH2sHI', 0x0010, 0x0010, b'UT', 0, UNDEFINED), EXPLICIT,
     'only SQ, UN, OB and OW'),
    (explicit(0x7FE00010, b'OB', b'', UNDEFINED) + implicit(ITEM, b'', UNDEFINED), EXPLICIT,
     'fragments have defined lengths'),
    (implicit(0x00081140, b'', UNDEFINED) + implicit(0x00100010, b'AB'), IMPLICIT,
     'expected an item'),
    (b'\x78\x9c garbage that does not inflate', DEFLATED, 'does not inflate'),
])
def test_what_is_not_a_data_set_is_refused_with_where(data, syntax, message):
    with pytest.raises(InvalidDataSetError, match=message):
        datasetcheck.check_bytes(data, syntax)


def test_deflated_data_must_end_with_its_stream():
    deflated = encode(dataset(), DEFLATED)
    with pytest.raises(InvalidDataSetError, match='ends before|cut short'):
        datasetcheck.check_bytes(deflated[:len(deflated) // 2], DEFLATED)
    with pytest.raises(InvalidDataSetError, match='bytes follow'):
        datasetcheck.check_bytes(deflated + b'tail', DEFLATED)
    # PS3.5 A.5: a deflated stream may be padded with a NUL to an even length.
    assert datasetcheck.check_bytes(deflated + b'\0', DEFLATED).length > len(deflated)


def test_nesting_is_bounded():
    depth = datasetcheck.MAX_DEPTH + 2
    opening = (implicit(0x00081140, b'', UNDEFINED) + implicit(ITEM, b'', UNDEFINED)) * depth
    closing = (implicit(ITEM_END, b'') + implicit(SEQUENCE_END, b'')) * depth
    with pytest.raises(InvalidDataSetError, match='nest deeper'):
        datasetcheck.check_bytes(opening + closing, IMPLICIT)


class _CountingReader(io.BytesIO):
    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_values_are_skipped_not_read_and_the_file_is_left_where_it_was():
    ds = dataset(pixel_bytes=8 * 1024 * 1024)
    fp = _CountingReader(b'prefix' + encode(ds, EXPLICIT))
    fp.seek(6)
    found = datasetcheck.check_file(fp, EXPLICIT)
    assert found.sop_instance_uid == ds.SOPInstanceUID
    assert fp.bytes_read < 200 * 1024  # the 8 MiB of pixel data were skipped by a seek
    assert fp.tell() == 6


def test_an_explicit_data_set_checked_as_implicit_is_refused():
    data = encode(dataset(pixel_bytes=1024), EXPLICIT)
    with pytest.raises(InvalidDataSetError):
        datasetcheck.check_bytes(data, IMPLICIT)


def test_zlib_is_raw_deflate():
    raw = dsutils.encode(dataset(), False, True)
    with_header = zlib.compress(raw)  # a zlib header is not PS3.5 A.5's raw deflate
    with pytest.raises(InvalidDataSetError):
        datasetcheck.check_bytes(with_header, DEFLATED)


def test_a_un_of_undefined_length_is_little_endian_in_a_big_endian_data_set():
    """PS3.5 6.2.2: the items of such a UN stay implicit VR little endian."""
    inner = implicit(0x00100010, b'DOE^J ') + implicit(ITEM_END, b'')
    data = (struct.pack('>HH2sHI', 0x0009, 0x1010, b'UN', 0, UNDEFINED)
            + implicit(ITEM, b'', UNDEFINED) + inner + implicit(SEQUENCE_END, b''))
    assert datasetcheck.check_bytes(data, BIG).length == len(data)
