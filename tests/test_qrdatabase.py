"""The index and PS3.4 C.2.2.2 matching of :mod:`pynetdicom2.qrdatabase` (no network).

Every test of the ``db`` fixture runs on both dialects: SQLite in memory, and PostgreSQL
(:mod:`pynetdicom2.qrpostgres`) on the server of ``postgres_fixture`` (skipped without one,
unless PYNETDICOM2_REQUIRE_POSTGRES is set). The scan tests are SQLite's; their PostgreSQL
twins are in ``test_qrpostgres.py``.
"""

from __future__ import annotations

import threading

import pytest
from postgres_fixture import postgres_server_fixture, postgres_url_fixture  # noqa: F401
from pydicom.dataset import Dataset

from pynetdicom2.loopback import make_dataset, make_study, query, write_dataset
from pynetdicom2.qrdatabase import QRDatabase, QueryError, matches


@pytest.fixture(params=['sqlite', 'postgresql'])
def db(request):
    target = ':memory:' if request.param == 'sqlite' else request.getfixturevalue('postgres_url')
    with QRDatabase(target) as database:
        assert database.dialect == request.param
        yield database


def _add(db: QRDatabase, *datasets: Dataset) -> None:
    for ds in datasets:
        db.add(ds, f'/pacs/{ds.SOPInstanceUID}.dcm')


@pytest.fixture
def archive(db):
    """Two patients: Doe (two studies, 2024 and 2023) and Roe (one MR study)."""
    doe1 = make_study(2, 2, PatientID='P1', PatientName='Doe^Jane', StudyDate='20240115',
                      StudyTime='101500', AccessionNumber='A1')
    doe2 = make_study(1, 1, PatientID='P1', PatientName='Doe^Jane', StudyDate='20230601',
                      StudyTime='083000', AccessionNumber='A2')
    roe = make_study(1, 3, PatientID='P2', PatientName='Roe^Rick', StudyDate='20240301',
                     StudyTime='230000', Modality='MR', AccessionNumber='B1')
    _add(db, *doe1, *doe2, *roe)
    return {'doe1': doe1, 'doe2': doe2, 'roe': roe}


def _values(answers, keyword):
    return sorted(str(answer.get(keyword, '')) for answer in answers)


# --- levels and answers (PS3.4 C.4.1.3.1, C.6) --------------------------------------------------


def test_one_answer_per_entity_at_each_level(db, archive):
    assert _values(db.find(query('PATIENT', PatientID='')), 'PatientID') == ['P1', 'P2']
    assert len(list(db.find(query('STUDY', StudyInstanceUID='')))) == 3
    assert len(list(db.find(query('SERIES', SeriesInstanceUID='')))) == 4
    assert len(list(db.find(query('IMAGE', SOPInstanceUID='')))) == 4 + 1 + 3


def test_answers_carry_the_keys_asked_for_and_the_unique_key(db, archive):
    [answer] = db.find(query('STUDY', AccessionNumber='B1', PatientName='', StudyDate='',
                             ReferringPhysicianName=''))
    assert answer.QueryRetrieveLevel == 'STUDY'
    assert answer.PatientName == 'Roe^Rick' and answer.StudyDate == '20240301'
    assert answer.StudyInstanceUID == archive['roe'][0].StudyInstanceUID  # added: unique key
    assert 'ReferringPhysicianName' in answer and answer.ReferringPhysicianName in ('', None)
    assert answer.SpecificCharacterSet == 'ISO_IR 100'
    assert 'SOPInstanceUID' not in answer


def test_number_values_come_back_typed(db, archive):
    answers = list(db.find(query('IMAGE', PatientID='P2', InstanceNumber='', SeriesNumber='')))
    assert sorted(int(a.InstanceNumber) for a in answers) == [1, 2, 3]


def test_study_root_has_no_patient_level(db, archive):
    with pytest.raises(QueryError, match='not in the Study Root'):
        list(db.find(query('PATIENT', PatientID=''), root='STUDY'))
    assert len(list(db.find(query('PATIENT', PatientID=''), root='PATIENT'))) == 2


@pytest.mark.parametrize('level', ['', 'FRAME', None])
def test_bad_level_is_refused(db, level):
    identifier = Dataset()
    identifier.PatientID = ''
    if level is not None:
        identifier.QueryRetrieveLevel = level
    with pytest.raises(QueryError, match='QueryRetrieveLevel'):
        db.level_of(identifier)


# --- matching kinds (PS3.4 C.2.2.2) -------------------------------------------------------------


@pytest.mark.parametrize(('keys', 'expected'), [
    ({'PatientName': 'Doe^Jane'}, ['P1']),                  # C.2.2.2.1 single value
    ({'PatientName': 'doe^jane'}, []),                      # ... case sensitive
    ({'PatientName': 'Doe'}, []),                           # ... whole value
    ({'PatientName': 'Doe*'}, ['P1']),                      # C.2.2.2.4 wildcard *
    ({'PatientName': '*e^R*'}, ['P2']),
    ({'PatientName': '?oe^*'}, ['P1', 'P2']),               # ... ?
    ({'PatientName': 'D?e'}, []),
    ({'PatientName': '*'}, ['P1', 'P2']),
    ({'PatientID': 'P[1]'}, []),                            # [ is not special in DICOM
    ({'PatientName': ''}, ['P1', 'P2']),                    # C.2.2.2.3 universal
])
def test_patient_level_matching(db, archive, keys, expected):
    assert _values(db.find(query('PATIENT', **keys)), 'PatientID') == expected


@pytest.mark.parametrize(('keys', 'expected'), [
    ({'StudyDate': '20240115'}, ['A1']),                    # single value date
    ({'StudyDate': '20240101-20241231'}, ['A1', 'B1']),     # C.2.2.2.5 range
    ({'StudyDate': '20240115-20240115'}, ['A1']),           # ... inclusive
    ({'StudyDate': '20240116-'}, ['B1']),                   # ... open high end
    ({'StudyDate': '-20240115'}, ['A1', 'A2']),             # ... open low end
    ({'StudyTime': '0800-1100'}, ['A1', 'A2']),             # TM, shorter bounds
    ({'StudyTime': '2300-'}, ['B1']),
    ({'StudyTime': '-1015'}, ['A1', 'A2']),                 # 101500 is within -1015
    ({'StudyDate': '20240101-', 'PatientID': 'P1'}, ['A1']),    # keys combine (AND)
    ({'AccessionNumber': 'A?'}, ['A1', 'A2']),
    ({'ModalitiesInStudy': ''}, ['A1', 'A2', 'B1']),        # not stored: universal is fine
])
def test_study_level_matching(db, archive, keys, expected):
    answers = db.find(query('STUDY', **{'AccessionNumber': '', **keys}))
    assert _values(answers, 'AccessionNumber') == expected


def test_list_of_uids(db, archive):
    wanted = [archive['doe2'][0].StudyInstanceUID, archive['roe'][0].StudyInstanceUID]
    answers = db.find(query('STUDY', StudyInstanceUID='\\'.join(wanted), AccessionNumber=''))
    assert _values(answers, 'AccessionNumber') == ['A2', 'B1']        # C.2.2.2.2
    answers = db.find(query('STUDY', StudyInstanceUID=wanted, AccessionNumber=''))
    assert _values(answers, 'AccessionNumber') == ['A2', 'B1']        # as a multi-value


@pytest.mark.parametrize(('keys', 'expected'), [
    ({'PatientName': 'Do'}, []),                            # the whole value, past the NUL
    ({'PatientName': '*Nul'}, ['N1']),
    ({'PatientName': 'Do\x00e^Nul'}, ['N1']),
    ({'PatientName': 'Do?e^*'}, ['N1']),
    ({'PatientID': 'N1\x00'}, []),                          # a NUL in the key, a column
    ({'AccessionNumber': 'X\x00Y'}, ['N1']),
])
def test_a_nul_character_is_a_character(db, keys, expected):
    """pydicom keeps a NUL inside a value; matching reads the value whole, as qrmatch does
    (SQLite's json_extract would stop at it; PostgreSQL text cannot hold it)."""
    _add(db, make_dataset(PatientID='N1', PatientName='Do\x00e^Nul', AccessionNumber='X\x00Y'))
    identifier = query('PATIENT', **{'PatientID': '', **keys})
    assert _values(db.find(identifier), 'PatientID') == expected
    assert matches(identifier, make_dataset(PatientID='N1', PatientName='Do\x00e^Nul',
                                            AccessionNumber='X\x00Y')) is bool(expected)


def test_key_absent_from_the_instance_does_not_match_a_value(db, archive):
    assert list(db.find(query('STUDY', ReferringPhysicianName='Who*'))) == []


def test_series_and_image_levels(db, archive):
    study = archive['doe1'][0].StudyInstanceUID
    series = list(db.find(query('SERIES', StudyInstanceUID=study, SeriesInstanceUID='',
                                SeriesNumber='', Modality='CT')))
    assert sorted(int(s.SeriesNumber) for s in series) == [1, 2]
    images = list(db.find(query('IMAGE', SeriesInstanceUID=series[0].SeriesInstanceUID,
                                SOPInstanceUID='')))
    assert len(images) == 2


def test_sequence_keys_are_return_keys(db, archive):
    identifier = query('STUDY', AccessionNumber='B1')
    identifier.add_new(0x00081032, 'SQ', [])  # ProcedureCodeSequence
    [answer] = db.find(identifier)
    assert 'ProcedureCodeSequence' in answer


def test_matches_without_a_database():
    ds = make_dataset(PatientName='Doe^John', StudyDate='20240101')
    assert matches(query('STUDY', PatientName='Doe*', StudyDate='20240101-'), ds)
    assert not matches(query('STUDY', PatientName='Doe*', StudyDate='20250101-'), ds)


# --- retrieve (PS3.4 C.4.2.2, C.4.3.2) ----------------------------------------------------------


def test_paths_select_instances(db, archive):
    study = archive['doe1'][0]
    assert len(db.paths(query('STUDY', StudyInstanceUID=study.StudyInstanceUID))) == 4
    assert len(db.paths(query('PATIENT', PatientID='P1'))) == 5
    assert db.paths(query('IMAGE', SOPInstanceUID=study.SOPInstanceUID)) == [
        f'/pacs/{study.SOPInstanceUID}.dcm'
    ]
    with pytest.raises(QueryError):
        db.paths(query('PATIENT', PatientID='P1'), root='STUDY')


# --- the index ----------------------------------------------------------------------------------


def test_an_instance_again_replaces_it(db):
    ds = make_dataset(PatientID='P1')
    db.add(ds, '/a.dcm')
    ds.PatientID = 'P9'
    db.add(ds, '/b.dcm')
    assert len(db) == 1
    assert db.paths(query('PATIENT', PatientID='P9')) == ['/b.dcm']
    db.remove(str(ds.SOPInstanceUID))
    assert len(db) == 0


def test_no_sop_instance_uid_is_refused(db):
    ds = make_dataset()
    del ds.SOPInstanceUID
    with pytest.raises(ValueError, match='no SOPInstanceUID'):
        db.add(ds, '/x.dcm')


def test_scan_follows_the_folder(tmp_path):
    folder = tmp_path / 'pacs'
    (folder / 'sub').mkdir(parents=True)
    first = write_dataset(make_dataset(PatientID='P1'), folder)
    write_dataset(make_dataset(PatientID='P2'), folder / 'sub')
    (folder / 'notes.txt').write_text('not DICOM')
    db_path = folder / 'index.sqlite'
    with QRDatabase(db_path) as db:
        assert db.scan(folder) == (2, 0)
        assert db.scan(folder) == (0, 0)  # nothing changed
    first.unlink()
    with QRDatabase(db_path) as db:  # the index persists in the file
        assert len(db) == 2
        assert db.scan(folder) == (0, 1)
        assert _values(db.find(query('PATIENT', PatientID='')), 'PatientID') == ['P2']


def test_scan_reports_progress_and_stops_without_forgetting(tmp_path):
    folder = tmp_path / 'pacs'
    folder.mkdir()
    first = write_dataset(make_dataset(PatientID='P1'), folder)
    write_dataset(make_dataset(PatientID='P2'), folder)
    seen: list[tuple[int, int]] = []
    with QRDatabase(tmp_path / 'index.sqlite') as db:
        assert db.scan(folder, progress=lambda done, total: seen.append((done, total))) == (2, 0)
        assert seen[-1] == (2, 2)
        first.unlink()
        stop = threading.Event()
        stop.set()
        assert db.scan(folder, stop=stop) == (0, 0)  # stopped: not every file was seen
        assert len(db) == 2
        assert db.scan(folder) == (0, 1)


def test_bad_database_path_is_one_line(tmp_path):
    with pytest.raises(OSError, match='cannot open the index database'):
        QRDatabase(tmp_path / 'missing' / 'index.sqlite')


def test_the_sqlite_schema_has_a_version(tmp_path):
    with QRDatabase(tmp_path / 'index.sqlite') as db:
        assert db._conn.execute('PRAGMA user_version').fetchone() == (1,)
        db._conn.execute('PRAGMA user_version = 2')  # as a newer pynetdicom2 would leave it
    with pytest.raises(OSError, match='schema version is 2, newer than this pynetdicom2'):
        QRDatabase(tmp_path / 'index.sqlite')


def test_concurrent_use_from_threads(db):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                db.add(make_dataset(PatientID=f'T{n}-{i}'), f'/t/{n}-{i}')
                list(db.find(query('PATIENT', PatientID=f'T{n}-*')))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,), name=f'pynetdicom2-test-db-{n}')
               for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and len(db) == 80
