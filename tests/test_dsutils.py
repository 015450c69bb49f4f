"""Tests of pynetdicom2.dsutils: data sets to bytes and back in the three uncompressed
transfer syntaxes (PS3.5 7.1.2 explicit VR, 7.1.3 implicit VR, 7.3 byte order)."""

from __future__ import annotations

import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pynetdicom2 import dsutils

SYNTAXES = [(True, True), (False, True), (False, False)]
SYNTAX_IDS = ['implicit-le', 'explicit-le', 'explicit-be']

# (0010,0010) PN 'DOE^JOHN' and (0010,0020) LO 'ID7' (padded to 4 with a space), hand-written.
PATIENT = {
    (True, True): (
        b'\x10\x00\x10\x00' b'\x08\x00\x00\x00' b'DOE^JOHN'
        b'\x10\x00\x20\x00' b'\x04\x00\x00\x00' b'ID7 '
    ),
    (False, True): (
        b'\x10\x00\x10\x00' b'PN' b'\x08\x00' b'DOE^JOHN'
        b'\x10\x00\x20\x00' b'LO' b'\x04\x00' b'ID7 '
    ),
    (False, False): (
        b'\x00\x10\x00\x10' b'PN' b'\x00\x08' b'DOE^JOHN'
        b'\x00\x10\x00\x20' b'LO' b'\x00\x04' b'ID7 '
    ),
}


def _patient() -> Dataset:
    ds = Dataset()
    ds.PatientName = 'DOE^JOHN'
    ds.PatientID = 'ID7'
    return ds


@pytest.mark.parametrize('syntax', SYNTAXES, ids=SYNTAX_IDS)
def test_encode_matches_hand_written_bytes(syntax: tuple[bool, bool]) -> None:
    assert dsutils.encode(_patient(), *syntax) == PATIENT[syntax]


@pytest.mark.parametrize('syntax', SYNTAXES, ids=SYNTAX_IDS)
def test_decode_hand_written_bytes(syntax: tuple[bool, bool]) -> None:
    ds = dsutils.decode(PATIENT[syntax], *syntax)
    assert isinstance(ds, Dataset)
    assert ds.PatientName == 'DOE^JOHN' and ds.PatientID == 'ID7'


@pytest.mark.parametrize('syntax', SYNTAXES, ids=SYNTAX_IDS)
def test_round_trip_with_numbers_and_sequences(syntax: tuple[bool, bool]) -> None:
    ds = _patient()
    ds.Rows = 512
    ds.PixelSpacing = [0.5, 0.25]
    ds.QueryRetrieveLevel = 'STUDY'
    item = Dataset()
    item.CodeValue = '121'
    ds.ProcedureCodeSequence = Sequence([item])
    back = dsutils.decode(dsutils.encode(ds, *syntax), *syntax)
    assert back == ds


@pytest.mark.parametrize('syntax', SYNTAXES, ids=SYNTAX_IDS)
def test_empty_data_set(syntax: tuple[bool, bool]) -> None:
    assert dsutils.encode(Dataset(), *syntax) == b''
    assert len(dsutils.decode(b'', *syntax)) == 0


def test_encode_element() -> None:
    elem = DataElement(0x00100010, 'PN', 'DOE^JOHN')
    assert dsutils.encode_element(elem, True, True) == PATIENT[(True, True)][:16]
    assert dsutils.encode_element(elem, False, True) == PATIENT[(False, True)][:16]
    assert dsutils.encode_element(elem, False, False) == PATIENT[(False, False)][:16]
    # PS3.5 6.2: UI values are padded to an even length with a NUL byte.
    uid = DataElement(0x00080016, 'UI', '1.2.3')
    assert dsutils.encode_element(uid, True, True) == b'\x08\x00\x16\x00\x06\x00\x00\x001.2.3\x00'
