"""Identifiers: the fast encoder gives exactly pydicom's bytes, and decoding round-trips.

The reference is :func:`pynetdicom2.dsutils.encode` (pydicom's writer): for every data set,
in implicit VR little endian, explicit VR little endian and explicit VR big endian, the bytes
must be identical, whether the fast path writes them or hands over to pydicom (sequences,
binary VRs, non-ASCII text, values read from bytes and not converted yet).
"""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pynetdicom2 import dsutils, identifiers, uids

SYNTAXES = [
    (uids.ImplicitVRLittleEndian, True, True),
    (uids.ExplicitVRLittleEndian, False, True),
    (uids.ExplicitVRBigEndian, False, False),
]


def study_match() -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = 'ISO_IR 100'
    ds.QueryRetrieveLevel = 'STUDY'
    ds.RetrieveAETitle = 'QRSCP'
    ds.StudyDate = '20240131'
    ds.StudyTime = '101112.5'
    ds.AccessionNumber = 'ACC1'
    ds.ModalitiesInStudy = ['CT', 'SR']
    ds.StudyDescription = 'CHEST'
    ds.PatientName = 'Doe^John^^Dr'
    ds.PatientID = 'P1'
    ds.StudyInstanceUID = '1.2.3.4.5'  # odd length: NUL padded
    ds.NumberOfStudyRelatedInstances = 12
    ds.PatientWeight = 72.5
    ds.SliceThickness = '1.25'
    ds.Rows = 512
    ds.ReferencedFrameNumber = [1, 2, 3]
    ds.add_new(0x00189219, 'SS', -3)  # Tag Angle Second Axis
    ds.RealWorldValueLUTData = [1.5, -2.25]
    ds.ReferencedSOPInstanceUID = ''
    ds.PatientAge = None
    return ds


def assert_same_bytes(ds: Dataset) -> None:
    for ts, implicit, little in SYNTAXES:
        assert identifiers.encode_identifier(ds, ts) == dsutils.encode(ds, implicit, little), ts


def test_a_flat_identifier_takes_the_fast_path_and_matches_pydicom(monkeypatch):
    ds = study_match()
    assert_same_bytes(ds)
    # the fast path really ran: pydicom's writer was not needed
    monkeypatch.setattr(dsutils, 'encode', lambda *a: pytest.fail('fell back to pydicom'))
    for ts, _, _ in SYNTAXES:
        identifiers.encode_identifier(ds, ts)


@pytest.mark.parametrize('case', ['sequence', 'non_ascii', 'binary', 'raw', 'ambiguous'])
def test_what_the_fast_path_cannot_write_goes_to_pydicom(case):
    ds = study_match()
    if case == 'sequence':
        item = Dataset()
        item.CodeValue = 'X1'
        ds.ProcedureCodeSequence = Sequence([item])
    elif case == 'non_ascii':
        ds.PatientName = 'Müller^Jürgen'
    elif case == 'binary':
        ds.add_new(0x00091010, 'OB', b'\x01\x02\x03')
    elif case == 'raw':
        ds = dsutils.decode(dsutils.encode(ds, True, True), True, True)  # unconverted elements
    elif case == 'ambiguous':
        ds.add_new(0x00283002, 'US', [256, 0, 16])  # LUT Descriptor
    assert_same_bytes(ds)


def test_deflated_and_encapsulated_syntaxes():
    ds = study_match()
    deflated = identifiers.encode_identifier(ds, uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    assert zlib.decompress(deflated, -15) == dsutils.encode(ds, False, True)
    assert identifiers.encode_identifier(ds, uids.JPEG_BASELINE_PROCESS_1) == dsutils.encode(
        ds, False, True)
    for ts in (uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, uids.JPEG_BASELINE_PROCESS_1,
               *(s for s, _, _ in SYNTAXES)):
        back = identifiers.decode_identifier(identifiers.encode_identifier(ds, ts), ts)
        assert back.PatientName == 'Doe^John^^Dr'
        assert back.StudyInstanceUID == '1.2.3.4.5'
        assert list(back.RealWorldValueLUTData) == [1.5, -2.25]


# --- properties ---------------------------------------------------------------------------------

_ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='\\'),
                 max_size=20)
_TEXT_TAGS = [
    (0x00080020, 'DA'), (0x00080030, 'TM'), (0x00080050, 'SH'), (0x00080052, 'CS'),
    (0x00080054, 'AE'), (0x00081030, 'LO'), (0x00100010, 'PN'), (0x00101010, 'AS'),
    (0x00321060, 'LO'), (0x00204000, 'LT'), (0x00081080, 'LO'), (0x00400254, 'LO'),
]
_UID = st.from_regex(r'[12](\.[1-9][0-9]{0,8}){1,6}', fullmatch=True)


@st.composite
def identifiers_(draw) -> Dataset:
    ds = Dataset()
    for tag, vr in draw(st.lists(st.sampled_from(_TEXT_TAGS), unique=True, max_size=8)):
        values = draw(st.lists(_ASCII, min_size=1, max_size=3))
        ds.add_new(tag, vr, values if len(values) > 1 else values[0])
    if draw(st.booleans()):
        ds.StudyInstanceUID = draw(_UID)
    if draw(st.booleans()):
        ds.NumberOfStudyRelatedInstances = draw(st.integers(-(2**31), 2**31 - 1))
    if draw(st.booleans()):
        ds.SliceThickness = draw(st.floats(-1e6, 1e6, allow_nan=False).map(
            lambda f: f'{f:.6g}'))
    if draw(st.booleans()):
        ds.Rows = draw(st.integers(0, 65535))
    if draw(st.booleans()):
        ds.RealWorldValueLUTData = draw(st.lists(
            st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=4))
    return ds


@pytest.mark.filterwarnings('ignore::UserWarning')  # pydicom checks DA, CS... values
@given(identifiers_())
def test_fast_path_bytes_equal_pydicoms(ds):
    assert_same_bytes(ds)
