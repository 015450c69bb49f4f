"""Q/R key matching (PS3.4 C.2.2.2) of :mod:`pynetdicom2.qrmatch`, and that the archive index
(:class:`pynetdicom2.qrdatabase.QRDatabase`) and the loopback SCP apply it alike.

The cases on which the two used to disagree, each with the rule that holds now:

* a TM/DT high bound given with less precision covers all it names (C.2.2.2.5): ``-1230``
  includes ``123059.5`` (the loopback SCP compared whole strings and said no);
* so does a DT bound: ``-20240115`` includes ``20240115103000`` (the loopback SCP said no);
  a UTC offset is not taken for the range separator;
* ``*`` alone is universal matching (a note of C.2.2.2.4), also for an instance without the
  attribute (the index said no: SQL's NULL GLOB '*'), whatever the key's VR (DA, UI and the
  number strings included, where both said no);
* the binary number VRs compare as numbers (the index compared a JSON number with text and
  never matched).
"""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from pynetdicom2 import qrmatch
from pynetdicom2.loopback import LoopbackSCP, make_dataset, make_study, query
from pynetdicom2.qrdatabase import QRDatabase


@pytest.mark.parametrize(('vr', 'wanted', 'stored', 'expected'), [
    # C.2.2.2.3 universal matching: empty key, sequence and binary keys
    ('PN', '', 'Doe^J', True),
    ('PN', '', None, True),
    ('SQ', 'anything', None, True),
    ('OB', 'x', None, True),
    # C.2.2.2.4 wildcard matching
    ('PN', 'Doe*', 'Doe^J', True),
    ('LO', 'P?', 'P12', False),
    ('LO', 'P??', 'P12', True),
    ('LO', '*', None, True),                       # C.2.2.2.4: '*' alone is universal matching
    ('LO', '*', '', True),
    ('LO', 'P*', None, False),
    ('LO', 'P[1]', 'P[1]', True),                  # '[' is not special in DICOM
    ('LO', 'P[1]', 'P1', False),
    ('DA', '2024*', '20240101', False),            # no wildcards for dates
    ('UI', '1.2.*', '1.2.3', False),               # nor for UIDs
    ('DA', '*', None, True),                       # but a lone '*' is universal, any VR
    ('UI', '*', '1.2.3', True),
    ('IS', '**', None, True),
    # C.2.2.2.1 single value matching
    ('PN', 'Doe^J', 'Doe^J', True),
    ('PN', 'doe^j', 'Doe^J', False),               # case sensitive
    ('CS', 'CT', 'MR', False),
    ('US', '16', 16, True),                        # numbers compare as numbers
    ('FD', '2.50', 2.5, True),
    ('US', '1\\2', [1, 2], True),
    ('US', '16', None, False),
    ('IS', '3', '3', True),
    # C.2.2.2.2 list of UID matching
    ('UI', '1.2\\1.3', '1.3', True),
    ('UI', '1.2', '1.2.3', False),
    # C.2.2.2.5 range matching
    ('DA', '20240101-20241231', '20240615', True),
    ('DA', '-20231231', '20240615', False),
    ('DA', '20240101-', '20240615', True),
    ('DA', '20240101-', None, False),
    ('DA', '20240101-', '', False),
    ('DA', '20240615-20240615', '20240615', True),
    ('TM', '-1230', '123059.5', True),              # a bound covers the minute it names
    ('TM', '-1230', '123100', False),
    ('TM', '-123059', '123059.999999', True),
    ('TM', '1230-', '123000', True),
    ('TM', '1230-', '122959.9', False),
    ('TM', '1230-1230', '123030.25', True),
    ('TM', '1200-1300', '12', True),                # a stored value of less precision
    ('TM', '-10:15', '10:15:30', True),             # ACR-NEMA separators
    ('TM', '1230', '123059.5', False),              # no range: single value matching
    ('DT', '20240101-20240131', '20240115103000', True),
    ('DT', '-2024', '20241231235959.5', True),
    ('DT', '-20240115', '20240115103000', True),
    ('DT', '2025-', '20241231235959.5', False),
    ('DT', '20240101-0500-20240102', '20240101120000', True),
    ('DT', '20240101120000-0500', '20240101120000-0500', True),  # one value with an offset
])
def test_element_matches(vr, wanted, stored, expected):
    assert qrmatch.element_matches(vr, wanted, stored) is expected


def test_range_bounds():
    assert qrmatch.range_bounds('TM', '-1230') == ('', '1230')
    assert qrmatch.range_bounds('DA', '20240101-20240131') == ('20240101', '20240131')
    assert qrmatch.range_bounds('DT', '-20240101-0500') == ('', '20240101-0500')
    assert qrmatch.range_bounds('DT', '20240101-0500-') == ('20240101-0500', '')
    assert qrmatch.range_bounds('DT', '20240101120000-0500') is None
    assert qrmatch.range_bounds('LO', 'A-B') is None


def test_keys_and_levels():
    identifier = query('STUDY', PatientID='P1', StudyDate='', PatientName='*')
    identifier.SpecificCharacterSet = 'ISO_IR 100'
    assert [(tag, vr, wanted) for tag, vr, wanted in qrmatch.match_keys(identifier)] == [
        (0x00100020, 'LO', 'P1')]
    assert qrmatch.level_of(identifier, 'STUDY') == 'STUDY'
    with pytest.raises(qrmatch.QueryError, match='not in the Study Root'):
        qrmatch.level_of(query('PATIENT'), 'STUDY')
    assert qrmatch.level_of(query('PATIENT')) == 'PATIENT'
    with pytest.raises(qrmatch.QueryError, match='unsupported'):
        qrmatch.level_of(Dataset())


def test_answer_has_the_keys_the_level_and_the_unique_key():
    identifier = query('STUDY', PatientName='', StudyDate='', AccessionNumber='A*')
    identifier.add_new(0x00081032, 'SQ', [])
    stored = {0x00100010: 'Doe^Jane', 0x00080050: 'A1', 0x00081032: 'ignored'}
    found = qrmatch.answer(identifier, 'STUDY', '1.2.3', stored.get, 'ISO_IR 100')
    assert (found.SpecificCharacterSet, found.QueryRetrieveLevel) == ('ISO_IR 100', 'STUDY')
    assert (str(found.PatientName), found.AccessionNumber) == ('Doe^Jane', 'A1')
    assert found.StudyDate is None and found.ProcedureCodeSequence == []
    assert found.StudyInstanceUID == '1.2.3'


# --- the index and the loopback SCP agree -------------------------------------------------------


ARCHIVE = [
    dict(PatientID='P1', PatientName='Doe^Jane', StudyDate='20240115', StudyTime='123059.5',
         AccessionNumber='A1', AcquisitionDateTime='20240115123059'),
    dict(PatientID='P2', PatientName='Roe^Rick', StudyDate='20230601', StudyTime='083000',
         AccessionNumber='', AcquisitionDateTime='20230601083000'),
    dict(PatientID='P3', PatientName='Poe^Edgar', StudyDate='20240301', StudyTime='123100',
         AccessionNumber='B7', AcquisitionDateTime='20240301123100', Rows=512),
]

QUERIES = [
    {'StudyTime': '-1230'},                       # fractional seconds within the bound
    {'StudyTime': '1230-'},
    {'StudyTime': '1231-1231'},
    {'StudyDate': '20240101-'},                   # open ranges
    {'StudyDate': '-20231231'},
    {'AcquisitionDateTime': '20240101-20240131'},
    {'AcquisitionDateTime': '-2023'},
    {'AcquisitionDateTime': '-20240115'},
    {'PatientName': '*'},                         # wildcards
    {'PatientName': '?oe^*'},
    {'AccessionNumber': '*'},                     # '*' matches an empty value too
    {'AccessionNumber': 'A*'},
    {'AccessionNumber': ''},                      # empty: universal
    {'PatientName': 'Doe^Jane'},
    {'Rows': 512},                                # a US key
    {'ReferringPhysicianName': '*'},              # absent from every instance
    {'ReferringPhysicianName': 'Who*'},
]


@pytest.fixture(scope='module')
def both(tmp_path_factory):
    """The same three studies in a QRDatabase and in a LoopbackSCP."""
    studies = [make_study(1, 1, **attrs) for attrs in ARCHIVE]
    db = QRDatabase(':memory:')
    scp = LoopbackSCP(tmp_path_factory.mktemp('loopback'))
    for study in studies:
        for ds in study:
            db.add(ds, f'/pacs/{ds.SOPInstanceUID}.dcm')
        scp.add(*study)
    with scp:
        yield db, scp.client(storage_dir=tmp_path_factory.mktemp('client'))
    db.close()


@pytest.mark.parametrize('keys', QUERIES, ids=lambda keys: repr(keys))
def test_index_and_loopback_agree(both, keys):
    db, client = both
    identifier = query('STUDY', PatientID='', **keys)
    from_index = sorted(str(a.PatientID) for a in db.find(identifier))
    from_loopback = sorted(str(a.PatientID) for a in client.find(identifier))
    expected = sorted(attrs['PatientID'] for attrs in ARCHIVE
                      if qrmatch.matches(identifier, make_dataset(**attrs)))
    assert from_index == from_loopback == expected


def test_expected_answers(both):
    db, _ = both

    def ids(**keys):
        return sorted(str(a.PatientID) for a in db.find(query('STUDY', PatientID='', **keys)))

    assert ids(StudyTime='-1230') == ['P1', 'P2']
    assert ids(AcquisitionDateTime='20240101-20240131') == ['P1']
    assert ids(AccessionNumber='*') == ['P1', 'P2', 'P3']
    assert ids(Rows=512) == ['P3']
    assert ids(ReferringPhysicianName='*') == ['P1', 'P2', 'P3']
