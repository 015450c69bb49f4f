"""Tests of pynetdicom2.uids: every constant a valid UID (PS3.5 9.1), and the groups."""

from __future__ import annotations

import re

import pytest
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pynetdicom2 import uids

CONSTANTS = {
    name: value for name, value in vars(uids).items()
    if name.isupper() and isinstance(value, str)
}
# PS3.5 9.1: digits and dots, components without leading zeros, at most 64 characters.
UID_GRAMMAR = re.compile(r'(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*')


def test_there_are_constants() -> None:
    # The original's 176 and more (tests/test_uids_complete.py checks each original one).
    assert len(CONSTANTS) > 176


@pytest.mark.parametrize('name', sorted(CONSTANTS))
def test_every_constant_is_a_valid_uid(name: str) -> None:
    value = CONSTANTS[name]
    assert isinstance(value, UID)
    assert len(value) <= 64
    assert set(value) <= set('0123456789.')
    assert UID_GRAMMAR.fullmatch(value), value


def test_all_ts() -> None:
    assert isinstance(uids.ALL_TS, tuple) and len(uids.ALL_TS) == 26
    assert len(set(uids.ALL_TS)) == 26
    assert set(uids.ALL_TS[:3]) == {
        ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian}
    assert uids.RFC_2557_MIME_ENCAPSULATION not in uids.ALL_TS
    assert uids.XML_ENCODING not in uids.ALL_TS
    assert all(isinstance(ts, UID) and ts.is_transfer_syntax for ts in uids.ALL_TS)
    assert uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN in uids.ALL_TS
    assert uids.RLE_LOSSLESS in uids.ALL_TS
    assert uids.JPEG_BASELINE_PROCESS_1 in uids.ALL_TS


def test_transfer_syntax_names() -> None:
    expected = {
        'DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN': '1.2.840.10008.1.2.1.99',
        'JPEG_BASELINE_PROCESS_1': '1.2.840.10008.1.2.4.50',
        'RLE_LOSSLESS': '1.2.840.10008.1.2.5',
        'RFC_2557_MIME_ENCAPSULATION': '1.2.840.10008.1.2.6.1',
        'XML_ENCODING': '1.2.840.10008.1.2.6.2',
        'JPEG_2000_IMAGE_COMPRESSION': '1.2.840.10008.1.2.4.91',
    }
    for name, value in expected.items():
        assert CONSTANTS[name] == value
    transfer_syntaxes = [v for v in CONSTANTS.values() if v.startswith('1.2.840.10008.1.2.')]
    assert len(transfer_syntaxes) == 25


def test_storage_sop_classes() -> None:
    classes = uids.STORAGE_SOP_CLASSES
    assert isinstance(classes, tuple) and len(classes) >= 170
    assert len(set(classes)) == len(classes)
    # PS3.4 B.5: the storage SOP classes live under 1.2.840.10008.5.1.4.1.1.; the non-patient
    # objects of PS3.4 GG and the RT delivery instructions under 1.2.840.10008.5.1.4.
    assert all(uid.startswith('1.2.840.10008.5.1.4.') for uid in classes)
    assert sum(uid.startswith('1.2.840.10008.5.1.4.1.1.') for uid in classes) > 180
    assert uids.CT_IMAGE_STORAGE in classes and uids.VERIFICATION_SOP_CLASS not in classes
    assert uids.CT_IMAGE_STORAGE == '1.2.840.10008.5.1.4.1.1.2'


def test_service_classes() -> None:
    assert uids.VERIFICATION_SOP_CLASS == '1.2.840.10008.1.1'
    assert uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS == '1.2.840.10008.5.1.4.31'
    assert uids.STORAGE_COMMITMENT_SOP_CLASS == '1.2.840.10008.1.20.1'
    # PS3.4 C.6: Patient Root 1, Study Root 2, Patient/Study Only 3; FIND 1, MOVE 2, GET 3.
    for root_name, root in (('PATIENT_ROOT', 1), ('STUDY_ROOT', 2), ('PATIENT_STUDY_ONLY', 3)):
        for op_name, op in (('FIND', 1), ('MOVE', 2), ('GET', 3)):
            value = CONSTANTS[f'{root_name}_{op_name}_SOP_CLASS']
            assert value == f'1.2.840.10008.5.1.4.1.2.{root}.{op}'
