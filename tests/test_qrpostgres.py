"""The PostgreSQL index (:mod:`pynetdicom2.qrpostgres`) on a real server, and the query layer
it shares with SQLite (:mod:`pynetdicom2.qrquery`).

* The same archive and identifiers give the same answers, in the same order, on both
  dialects: the 17 queries of ``test_qrmatch.py``, and a few hundred more over a generated
  archive with the awkward values (NUL characters, ACR-NEMA dates and times, UTC offsets,
  ``%``, ``_`` and ``\\`` in values, numbers, multiple values, instances indexed again);
  the SQL-only path and the Python-checked path agree on each.
* Several processes, one index: what one index stores another finds; one SOP Instance UID
  indexed by two at once ends as one whole row (the last indexed wins, as in SQLite);
  the schema is created once when several start at once, then reused; a scan of a shared
  folder by two is idempotent; a lost connection is replaced.
* Two QRSCPs on one database and one folder; ``pynetdicom2-qrscp --db postgresql://...``
  processes filled by DCMTK's ``storescu`` and queried by DCMTK's ``findscu``.

The server is ``postgres_fixture``'s (skipped without PostgreSQL or psycopg, unless
PYNETDICOM2_REQUIRE_POSTGRES is set). Every wait is bounded; no sleeping.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres_fixture import postgres_server_fixture, postgres_url_fixture  # noqa: F401
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from test_app_processes import ServerProcess, script, stop_cleanly
from test_qrmatch import ARCHIVE, QUERIES

from pynetdicom2 import qrmatch, uids
from pynetdicom2.exceptions import InvalidDataSetError
from pynetdicom2.loopback import LoopbackClient, make_dataset, make_study, query, write_dataset
from pynetdicom2.qrdatabase import QRDatabase
from pynetdicom2.qrpostgres import SCHEMA_VERSION, redacted_url
from pynetdicom2.qrquery import key_conditions, like_pattern, moment
from pynetdicom2.qrscp import QRSCP, qrscp

TIMEOUT = 30.0
DCMTK_TIMEOUTS = ['-to', '10', '-ta', '10', '-td', '10']


def _psql(url: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        cur = conn.execute(statement, args or None)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def _run_threads(count: int, target: Any) -> list[Any]:
    """Run ``target(n)`` in ``count`` threads started together; their results, or raise."""
    results: list[Any] = [None] * count
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            results[n] = target(n)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,), name=f'test-node-{n}')
               for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    if failures:
        raise failures[0]
    return results


# --- the query layer (no server) ----------------------------------------------------------------


def test_moments_order_as_qrmatch_compares_ranges():
    """For values of plain digits, a range key matches exactly when the value's moment lies
    between the bounds' (PS3.4 C.2.2.2.5, as :mod:`pynetdicom2.qrmatch` reads it)."""
    chance = random.Random(16)

    def value(vr: str, length: int) -> str:
        text = ''.join(chance.choice('0123456789'[:chance.choice((2, 10))])
                       for _ in range(chance.randint(1, length + 2)))
        if vr != 'DA' and chance.random() < 0.3:
            text += '.' + '9' * chance.randint(0, 7)
        if vr == 'DT' and chance.random() < 0.2:
            text += chance.choice('+-') + '0500'
        return text

    for vr, length in (('DA', 8), ('TM', 6), ('DT', 14)):
        for _ in range(3000):
            stored, low, high = (value(vr, length) for _ in range(3))
            first, last = moment(vr, low, '0'), moment(vr, high, '9')
            at = moment(vr, stored)
            assert None not in (first, last, at), (stored, low, high)
            for wanted, inside in ((f'{low}-{high}', first <= at <= last),
                                   (f'{low}-', at >= first), (f'-{high}', at <= last)):
                if qrmatch.range_bounds(vr, wanted) not in ((low, high), (low, ''), ('', high)):
                    continue  # a DT value taken for a UTC offset: not this range
                assert qrmatch.element_matches(vr, wanted, stored) is inside, (vr, wanted,
                                                                                stored)


@pytest.mark.filterwarnings('ignore::UserWarning')  # pydicom: '2024.01.01-' is no valid DA
def test_key_conditions_say_what_sql_can_decide():
    keys = key_conditions(query('STUDY', PatientID='P%_?', StudyDate='2024.01.01-',
                                StudyTime='-1230', StudyInstanceUID='1.2\\1.3',
                                AccessionNumber='A1', Rows=512))
    by_name = {key.name: key for key in keys}
    assert by_name['00100020'].pattern == 'P\\%\\__' and by_name['00100020'].column == 'patient_id'
    assert by_name['00080020'].bounds is None and not by_name['00080020'].exact  # not digits
    assert by_name['00080030'].bounds == ('', '123099.999999')
    assert by_name['0020000D'].values == ('1.2', '1.3')
    assert by_name['00080050'].values == ('A1',) and by_name['00080050'].column is None
    assert not by_name['00280010'].exact
    assert like_pattern('a\\b*') == 'a\\\\b%'


def test_redacted_url():
    assert redacted_url('postgresql://u:p@h:1/d') == 'postgresql://u@h:1/d'
    assert redacted_url('postgresql:///d?host=/run/pg') == 'postgresql:///d?host=/run/pg'
    assert redacted_url('postgres://u@/d?password=p&host=/run/pg') == 'postgres://u@/d?host=/run/pg'


# --- the same answers as SQLite -----------------------------------------------------------------


def _canonical(answers: Iterator[Dataset]) -> list[list[tuple[str, str, str]]]:
    return [sorted((f'{int(e.tag):08X}', e.VR, repr(e.value)) for e in answer)
            for answer in answers]


def _both(url: str) -> tuple[QRDatabase, QRDatabase]:
    return QRDatabase(':memory:'), QRDatabase(url)


def _add_both(dbs: tuple[QRDatabase, ...], *datasets: Dataset) -> None:
    for ds in datasets:
        for db in dbs:
            db.add(ds, f'/pacs/{ds.SOPInstanceUID}.dcm', 1.0)


@pytest.mark.parametrize('keys', QUERIES, ids=lambda keys: repr(keys))
def test_the_17_queries_answer_alike(postgres_url, keys):
    sqlite, postgres = _both(postgres_url)
    with sqlite, postgres:
        archive = [ds for attrs in ARCHIVE for ds in make_study(1, 1, **attrs)]
        _add_both((sqlite, postgres), *archive)
        identifier = query('STUDY', PatientID='', **keys)
        expected = sorted(attrs['PatientID'] for attrs in ARCHIVE
                          if qrmatch.matches(identifier, make_dataset(**attrs)))
        assert sorted(str(a.PatientID) for a in postgres.find(identifier)) == expected
        assert _canonical(postgres.find(identifier)) == _canonical(sqlite.find(identifier))


#: Values the generated archive draws from, awkward ones included.
POOLS: dict[str, list[Any]] = {
    'PatientName': ['Doe^Jane', 'doe^jane', 'Roe^Rick', 'Do\x00e^Nul', 'Müller^Jürgen',
                    '100%^Sure', 'Under_Score', 'Back\\Slash', ''],
    'StudyDate': ['20240115', '20230601', '2024.01.15', '20240101', '', None, '2024'],
    'StudyTime': ['101500', '123059.5', '10:15:30', '12', '235959.999999', '', None],
    'AcquisitionDateTime': ['20240115123059', '20240115103000+0100', '2024', '20231231235959.5',
                            None],
    'AccessionNumber': ['A1', 'A2', 'B1', 'a1', '', None],
    'Modality': ['CT', 'MR', 'C%'],
    'Rows': [512, 256, None],
    'PatientWeight': ['70.5', '70.50', None],
    'ReferringPhysicianName': ['Who^Ever', None, None],
    'OperatorsName': [['A^B', 'C^D'], 'A^B', None],
}

KEY_POOLS: dict[str, list[Any]] = {
    'PatientID': ['P1', 'P?', 'P*', '*1', 'P_1', 'P%1', 'p*', 'P1\\P2', 'P\x001'],
    'PatientName': ['Doe^Jane', 'D*', '*^*', '?oe*', 'Do\x00e*', 'Do?e^Nul', 'M?ller*', '100%*',
                    'Under_*', '*%*', '*_*', '*\\*', 'Back\\Slash'],
    'StudyDate': ['20240115', '20240101-', '-20231231', '20230101-20241231', '2024.01.15',
                  '20240115-20240115', '-', '2024.01.01-', '2024'],
    'StudyTime': ['-1230', '1015-', '101530', '1000-1100', '-10:16', '12-12', '101500'],
    'AcquisitionDateTime': ['20240101-', '-2024', '20240115-20240115', '20240115103000+0100',
                            '-20240115103000+0100', '2023-'],
    'AccessionNumber': ['A1', 'A?', '*', 'a1', 'A1\\B1'],
    'Modality': ['CT', 'C?', 'C%', 'C\\%'],
    'Rows': [512, 256],
    'PatientWeight': ['70.5', '70.50'],
    'ReferringPhysicianName': ['Who*', '*'],
    'OperatorsName': ['A^B*', 'A^B\\C^D', '*C^D'],
    'InstanceNumber': ['1', '2'],
}

RETURN_KEYS = {'PatientName': '', 'StudyDate': '', 'AccessionNumber': '', 'Rows': '',
               'StudyTime': '', 'OperatorsName': ''}


def _archive(chance: random.Random) -> list[Dataset]:
    """Four patients, up to three studies each, instances whose study attributes differ."""
    made = []
    for patient in ('P1', 'P2', 'P_1', 'P%1'):
        for _study in range(chance.randint(1, 3)):
            study_uid = generate_uid()
            for _series in range(chance.randint(1, 2)):
                series_uid = generate_uid()
                for number in range(1, chance.randint(1, 3) + 1):
                    ds = make_dataset(PatientID=patient, StudyInstanceUID=study_uid,
                                      SeriesInstanceUID=series_uid, InstanceNumber=number)
                    for keyword, pool in POOLS.items():
                        value = chance.choice(pool)
                        if value is None:
                            if keyword in ds:
                                delattr(ds, keyword)
                        else:
                            setattr(ds, keyword, value)
                    made.append(ds)
    return made


def _identifiers(chance: random.Random, archive: list[Dataset]) -> list[tuple[str, str, Dataset]]:
    found = []
    uid_pools = {
        'StudyInstanceUID': sorted({str(ds.StudyInstanceUID) for ds in archive}),
        'SeriesInstanceUID': sorted({str(ds.SeriesInstanceUID) for ds in archive}),
        'SOPInstanceUID': sorted({str(ds.SOPInstanceUID) for ds in archive}),
    }
    for keyword, pool in KEY_POOLS.items():  # each key value alone, at the STUDY level
        for value in pool:
            found.append(('PATIENT', 'STUDY', {keyword: value}))
    for _ in range(300):  # and combinations, at every level
        keys: dict[str, Any] = {}
        for keyword in chance.sample(sorted(KEY_POOLS), chance.randint(1, 3)):
            keys[keyword] = chance.choice(KEY_POOLS[keyword])
        if chance.random() < 0.3:
            keyword = chance.choice(sorted(uid_pools))
            keys[keyword] = '\\'.join(chance.sample(uid_pools[keyword], 2))
        found.append((chance.choice(['PATIENT', 'STUDY']),
                      chance.choice(['PATIENT', 'STUDY', 'SERIES', 'IMAGE']), keys))
    identifiers = []
    for root, level, keys in found:
        if root == 'STUDY' and level == 'PATIENT':
            root = 'PATIENT'
        identifier = query(level, **RETURN_KEYS)
        for keyword, value in keys.items():
            setattr(identifier, keyword, value)
        identifiers.append((root, level, identifier))
    return identifiers


@pytest.mark.filterwarnings('ignore::UserWarning')  # pydicom: values invalid for their VR
def test_a_generated_archive_answers_alike(postgres_url):
    chance = random.Random(20240115)
    archive = _archive(chance)
    sqlite, postgres = _both(postgres_url)
    with sqlite, postgres:
        _add_both((sqlite, postgres), *archive)
        again = chance.sample(archive, 6)  # indexed again: replaced, and now indexed last
        for ds in again[:3]:
            ds.AccessionNumber = 'A2'
        _add_both((sqlite, postgres), *again)
        assert list(sqlite.instances()) == list(postgres.instances())
        loose = _psql(postgres_url, 'SELECT count(*) FROM qr_instances WHERE loose')[0][0]
        assert 0 < loose < len(postgres)  # NUL characters and ACR-NEMA values are in there

        answered = 0
        for root, _level, identifier in _identifiers(chance, archive):
            expected = _canonical(sqlite.find(identifier, root))
            assert _canonical(postgres.find(identifier, root)) == expected, identifier
            assert postgres.paths(identifier, root) == sqlite.paths(identifier, root), identifier
            answered += bool(expected)
        assert answered > 100  # the corpus is not all empty answers


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_sql_alone_and_python_checks_agree(postgres_url):
    """Where SQL decides every key (DISTINCT ON), the answers are those of reading each
    candidate and checking it with qrmatch."""
    chance = random.Random(7)
    archive = _archive(chance)
    with QRDatabase(postgres_url) as db:
        _add_both((db,), *archive)
        index = db._index  # the dialect itself, both of its paths
        compared = 0
        for _root, level, identifier in _identifiers(chance, archive):
            keys = key_conditions(identifier)
            if not all(key.exact for key in keys):
                continue
            checked = [key._replace(exact=False) for key in keys]
            assert index.entities(keys, level) == index.entities(checked, level), identifier
            assert index.paths(keys) == index.paths(checked), identifier
            compared += 1
        assert compared > 50


# --- one index, several processes ---------------------------------------------------------------


def test_what_one_index_stores_another_finds(postgres_url):
    with QRDatabase(postgres_url) as first, QRDatabase(postgres_url) as second:
        study = make_study(1, 2, PatientID='SHARED', StudyDate='20240301')
        _add_both((first,), *study)
        found = list(second.find(query('STUDY', StudyDate='20240301', StudyInstanceUID='')))
        assert [a.StudyInstanceUID for a in found] == [study[0].StudyInstanceUID]
        second.remove(str(study[0].SOPInstanceUID))
        assert len(first) == 1


def test_one_instance_indexed_by_two_at_once_is_one_whole_row(postgres_url):
    """The last one indexed wins, whole: its path and its attributes (PS3.4 C.4.2.1.4 leaves
    the duplicate's fate to the SCP; this is the SQLite index's rule)."""
    ds = make_dataset(PatientID='NONE')
    uid = str(ds.SOPInstanceUID)
    nodes = [QRDatabase(postgres_url) for _ in range(3)]
    try:
        barrier = threading.Barrier(len(nodes), timeout=TIMEOUT)
        for round_number in range(15):
            def store(n: int, round_number: int = round_number) -> None:
                copy = make_dataset(SOPInstanceUID=uid, PatientID=f'NODE{n}-{round_number}')
                barrier.wait()
                nodes[n].add(copy, f'/shared/node{n}/{uid}.dcm', float(round_number))

            _run_threads(len(nodes), store)
            assert len(nodes[0]) == 1
            [answer] = nodes[1].find(query('IMAGE', SOPInstanceUID=uid, PatientID=''))
            [path] = nodes[2].paths(query('IMAGE', SOPInstanceUID=uid))
            writer = str(answer.PatientID)
            assert writer.endswith(f'-{round_number}')
            assert path == f'/shared/node{writer[4]}/{uid}.dcm'  # path and attributes agree
        nodes[2].add(make_dataset(SOPInstanceUID=uid, PatientID='LAST'), '/last.dcm')
        assert nodes[0].paths(query('PATIENT', PatientID='LAST')) == ['/last.dcm']
        assert [uid for uid, _ in nodes[1].instances()] == [uid]
    finally:
        for node in nodes:
            node.close()


def test_the_schema_is_created_once_and_reused(postgres_url):
    def open_and_add(n: int) -> int:
        with QRDatabase(postgres_url) as db:
            db.add(make_dataset(PatientID=f'START{n}'), f'/s/{n}.dcm')
            return len(db)

    assert max(_run_threads(6, open_and_add)) == 6  # six processes starting at once
    assert _psql(postgres_url, 'SELECT version FROM qr_schema_version') == [(SCHEMA_VERSION,)]
    with QRDatabase(postgres_url) as db:  # reopened: the rows are there, nothing re-created
        assert len(db) == 6
    assert _psql(postgres_url, 'SELECT count(*) FROM qr_schema_version') == [(1,)]
    _psql(postgres_url, 'INSERT INTO qr_schema_version (version) VALUES (%s)', SCHEMA_VERSION + 1)
    with pytest.raises(OSError, match='schema version is 2, newer than this pynetdicom2 knows'):
        QRDatabase(postgres_url)


def test_a_read_only_role_uses_an_existing_schema(postgres_url):
    QRDatabase(postgres_url).close()
    _psql(postgres_url, 'DROP ROLE IF EXISTS pynetdicom2_reader')
    _psql(postgres_url, 'CREATE ROLE pynetdicom2_reader LOGIN')
    try:
        _psql(postgres_url, 'GRANT SELECT ON qr_instances, qr_schema_version '
                            'TO pynetdicom2_reader')
        _psql(postgres_url, 'REVOKE CREATE ON SCHEMA public FROM PUBLIC')
        reader_url = postgres_url.replace('postgres@', 'pynetdicom2_reader@')
        with QRDatabase(reader_url) as db:
            assert len(db) == 0
            with pytest.raises(OSError, match='permission denied'):
                db.add(make_dataset(), '/x.dcm')
    finally:
        _psql(postgres_url, 'DROP OWNED BY pynetdicom2_reader')
        _psql(postgres_url, 'DROP ROLE pynetdicom2_reader')


def test_a_shared_folder_scanned_by_two_at_once(postgres_url, tmp_path):
    folder = tmp_path / 'pacs'
    folder.mkdir()
    written = [write_dataset(ds, folder) for ds in make_study(2, 40, PatientID='SCAN')]
    nodes = [QRDatabase(postgres_url) for _ in range(2)]
    try:
        results = _run_threads(2, lambda n: nodes[n].scan(folder))
        assert sum(indexed for indexed, _ in results) >= len(written)
        assert len(nodes[0]) == len(written)
        assert [node.scan(folder) for node in nodes] == [(0, 0), (0, 0)]  # nothing to do
        written[0].unlink()
        assert nodes[1].scan(folder) == (0, 1) and nodes[0].scan(folder) == (0, 0)
        assert len(nodes[0]) == len(written) - 1
    finally:
        for node in nodes:
            node.close()


def test_a_lost_connection_is_replaced(postgres_url, caplog):
    caplog.set_level(logging.WARNING, logger='pynetdicom2')
    with QRDatabase(postgres_url) as db:
        db.add(make_dataset(PatientID='AGAIN'), '/a.dcm')
        assert len(db) == 1
        name = postgres_url.rsplit('/', 1)[1]
        admin = postgres_url.rsplit('/', 1)[0] + '/postgres'
        _psql(admin, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                     'WHERE datname = %s AND pid <> pg_backend_pid()', name)
        assert [str(a.PatientID) for a in db.find(query('PATIENT', PatientID='AG*'))] == ['AGAIN']
        assert 'reconnecting' in caplog.text


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='forking is POSIX only')
@pytest.mark.filterwarnings('ignore::DeprecationWarning')  # Python 3.12: fork with threads
def test_a_forked_process_opens_connections_of_its_own(postgres_url, caplog):
    """Worker processes (pynetdicom2.workers) are forked from a configured AE: a connection
    the parent opened is neither used nor closed by them."""
    import multiprocessing

    caplog.set_level(logging.WARNING, logger='pynetdicom2')
    with QRDatabase(postgres_url) as db:
        db.add(make_dataset(PatientID='PARENT'), '/parent.dcm')  # a connection, now idle

        def child() -> None:
            db.add(make_dataset(PatientID='CHILD'), '/child.dcm')
            if len(db) != 2:
                raise SystemExit(2)
            db.close()

        process = multiprocessing.get_context('fork').Process(target=child)
        process.start()
        process.join(TIMEOUT)
        assert process.exitcode == 0
        assert sorted(str(a.PatientID) for a in db.find(query('PATIENT', PatientID=''))) == [
            'CHILD', 'PARENT']
        assert 'reconnecting' not in caplog.text  # the parent's connection is still its own


def test_without_psycopg_a_url_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, 'psycopg', None)
    with pytest.raises(OSError, match=r"postgresql://u@127.0.0.1:1/d: PostgreSQL needs psycopg 3 "
                                      r"\(pip install 'pynetdicom2\[postgresql\]'\)"):
        QRDatabase('postgresql://u:secret@127.0.0.1:1/d')


def test_values_postgresql_cannot_store(postgres_url):
    with QRDatabase(postgres_url) as db:
        with pytest.raises(InvalidDataSetError, match='Patient ID holds a NUL'):
            db.add(make_dataset(PatientID='P\x001'), '/nul.dcm')
        db.add(make_dataset(PatientID='P1', PatientName='Do\x00e'), '/loose.dcm')
        [answer] = db.find(query('PATIENT', PatientName='Do\x00*'))
        assert str(answer.PatientName) == 'Do\x00e'


def test_errors_are_one_line_oserrors(postgres_server, tmp_path, capsys):
    with pytest.raises(OSError, match='cannot open the index database postgresql://me@127') as e:
        QRDatabase(f'postgresql://me:secret@127.0.0.1:{postgres_server.port}/absent')
    assert 'secret' not in str(e.value) and '\n' not in str(e.value)
    latin = postgres_server.create_database('SQL_ASCII')
    try:
        with pytest.raises(OSError, match='SQL_ASCII-encoded, not UTF8'):
            QRDatabase(latin)
    finally:
        postgres_server.drop_database(latin)
    assert qrscp(['-od', str(tmp_path), '--bind', '127.0.0.1', '--db',
                  f'postgresql://me:secret@127.0.0.1:{postgres_server.port}/absent', '0']) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith('E: cannot open the index database') and '\n' not in err
    assert 'secret' not in err


# --- the Q/R SCP on PostgreSQL ------------------------------------------------------------------


def _client(scp: QRSCP, tmp_path: Path) -> LoopbackClient:
    remote = {'aet': 'PACS', 'address': '127.0.0.1', 'port': scp.local_ae.port}
    return LoopbackClient(remote, tmp_path / 'client', 'SCU')


def test_two_qrscps_share_one_index_and_folder(postgres_url, tmp_path):
    folder = tmp_path / 'pacs'
    folder.mkdir()
    on_disk = make_study(1, 3, PatientID='ONDISK')
    for ds in on_disk:
        write_dataset(ds, folder)
    first = QRSCP(folder, 'PACS', 0, host='127.0.0.1', db_path=postgres_url)
    second = QRSCP(folder, 'PACS', 0, host='127.0.0.1', db_path=postgres_url)
    try:
        assert first.wait_indexed(TIMEOUT) and second.wait_indexed(TIMEOUT)
        assert first.db.dialect == 'postgresql' and len(second.db) == 3
        with first, second:
            study = make_study(2, 2, PatientID='NEW', StudyDate='20240420')
            assert all(s.is_success for s in _client(first, tmp_path).store(*study))
            found = _client(second, tmp_path).find(
                query('STUDY', StudyDate='20240401-20240430', StudyInstanceUID='',
                      PatientID=''))
            assert [str(a.PatientID) for a in found] == ['NEW']
            patients = _client(second, tmp_path).find(
                query('PATIENT', PatientID='', PatientName=''), uids.PATIENT_ROOT_FIND_SOP_CLASS)
            assert sorted(str(a.PatientID) for a in patients) == ['NEW', 'ONDISK']
            got = _client(second, tmp_path).get(
                query('STUDY', StudyInstanceUID=study[0].StudyInstanceUID))
            assert got.num_of_completed_sub_ops == 4
    finally:
        first.quit()
        second.quit()


@pytest.fixture
def qrscp_processes() -> Iterator[Any]:
    """``start(*args)``: a ``pynetdicom2-qrscp -v --bind 127.0.0.1 args 0`` process, once it
    listens; every one is killed (and reaped) at the end."""
    started: list[ServerProcess] = []

    def start(*args: Any) -> ServerProcess:
        server = ServerProcess([script('qrscp'), '-v', '--bind', '127.0.0.1', *args, '0'])
        started.append(server)
        server.wait_listening()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()


def _dcmtk(name: str) -> str:
    """DCMTK's tool ``name`` (the venv's same-named Python scripts are not it)."""
    for directory in ('/usr/bin', *os.get_exec_path()):
        candidate = os.path.join(directory, name)
        if not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run([candidate, '--version'], capture_output=True, timeout=TIMEOUT,
                               stdin=subprocess.DEVNULL)
        if b'$dcmtk' in probe.stdout + probe.stderr:
            return candidate
    required = os.environ.get('PYNETDICOM2_REQUIRE_INTEROP', '').strip()
    if required == '1' or 'dcmtk' in required.split(','):
        pytest.fail(f'PYNETDICOM2_REQUIRE_INTEROP is set but DCMTK {name} is not installed',
                    pytrace=False)
    pytest.skip(f'DCMTK {name} is not installed (apt-get install dcmtk)')


def _run_dcmtk(*argv: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(arg) for arg in argv], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, 'TCP_NODELAY': '1'})


@pytest.mark.interop
def test_dcmtk_against_qrscp_processes_on_postgresql(postgres_url, tmp_path, qrscp_processes):
    storescu, findscu = _dcmtk('storescu'), _dcmtk('findscu')
    folder = tmp_path / 'pacs'
    folder.mkdir()
    outgoing = tmp_path / 'out'
    outgoing.mkdir()
    studies = [make_study(1, 2, PatientID='DCMTK1', PatientName='Doe^Jane', StudyDate='20240115'),
               make_study(2, 1, PatientID='DCMTK2', PatientName='Roe^Rick', StudyDate='20230101')]
    files = [write_dataset(ds, outgoing) for study in studies for ds in study]
    args = ['-aet', 'PACS', '-od', folder, '--db', postgres_url, '-ta', '10', '-td', '10']
    storing, answering = qrscp_processes(*args), qrscp_processes(*args)

    stored = _run_dcmtk(storescu, '-aec', 'PACS', *DCMTK_TIMEOUTS, '127.0.0.1', storing.port,
                        *files)
    assert stored.returncode == 0, stored.stdout + stored.stderr
    with QRDatabase(postgres_url) as db:
        assert len(db) == len(files)
        assert sorted(Path(p).name for _, p in db.instances()) == sorted(f.name for f in files)

    for port in (storing.port, answering.port):  # what one stored, both answer
        found = _run_dcmtk(findscu, '-v', '-S', '-aec', 'PACS', *DCMTK_TIMEOUTS,
                           '-k', 'QueryRetrieveLevel=STUDY', '-k', 'PatientName=?oe^*',
                           '-k', 'StudyDate=20240101-', '-k', 'StudyInstanceUID=',
                           '127.0.0.1', port)
        output = found.stdout + found.stderr
        assert found.returncode == 0, output
        assert output.count('(Pending)') == 1 and 'Doe^Jane' in output, output
        assert str(studies[0][0].StudyInstanceUID) in output, output
        series = _run_dcmtk(findscu, '-v', '-P', '-aec', 'PACS', *DCMTK_TIMEOUTS,
                            '-k', 'QueryRetrieveLevel=SERIES', '-k', 'PatientID=DCMTK2',
                            '-k', f'StudyInstanceUID={studies[1][0].StudyInstanceUID}',
                            '-k', 'SeriesInstanceUID=', '127.0.0.1', port)
        assert (series.stdout + series.stderr).count('(Pending)') == 2, series.stdout

    for server in (storing, answering):
        log = stop_cleanly(server)
        assert 'postgresql://postgres@127.0.0.1' in log, log
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.name for f in files)
    shutil.rmtree(outgoing)


def test_a_stored_row_holds_the_attributes_as_json(postgres_url):
    with QRDatabase(postgres_url) as db:
        ds = make_dataset(PatientID='J1', Rows=512)
        db.add(ds, '/j.dcm', 5.0)
        [(attrs, texts, mtime)] = _psql(postgres_url,
                                        'SELECT attrs, texts, mtime FROM qr_instances')
        assert json.loads(attrs)['00280010'] == 512 and texts['00280010'] == '512'
        assert mtime == 5.0
