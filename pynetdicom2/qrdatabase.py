"""The index of a folder of DICOM files, with Query/Retrieve matching (PS3.4 C.2.2.2).

This module owns :class:`QRDatabase`: it records one row per SOP instance (its path, the
unique keys of the patient, study, series and image levels, and the text of every top-level
attribute as JSON), and answers C-FIND identifiers (:meth:`QRDatabase.find`) and C-MOVE /
C-GET identifiers (:meth:`QRDatabase.paths`). It does no networking; the Q/R SCP of
:mod:`pynetdicom2.qrscp` is built on it.

One query layer, two dialects. :class:`QRDatabase` reads the files, scans the folder, turns
an identifier into :class:`pynetdicom2.qrquery.KeyCondition` and builds the answers; the
database behind it is an :class:`pynetdicom2.qrquery.IndexBackend`: :class:`SQLiteIndex`
(this module, the standard library's :mod:`sqlite3`, embedded, the default) or, for a
``postgresql://`` URL, :class:`pynetdicom2.qrpostgres.PostgresIndex` (psycopg 3, the
``postgresql`` extra: an index several Q/R SCP processes share). Both give the same answers.

Matching follows PS3.4 C.2.2.2 and is :mod:`pynetdicom2.qrmatch`'s (SQLite calls it from SQL,
as an SQLite function, on the values as JSON text: every character counts, a NUL too; before
SQLite 3.38, which lacks ``->``, an attribute's value is read up to a NUL), so an archive
and :class:`pynetdicom2.loopback.LoopbackSCP` answer a query alike: single value, universal
(an empty key, or ``*``), wildcard (``*`` and ``?``), range (``low-high``, ``low-``,
``-high`` for DA, TM and DT) and list of UID matching.
Sequence keys are return keys only. Single value and wildcard matching are case sensitive.
However many keys and UIDs an identifier holds, an SQLite query binds one SQL variable
(SQLite allows 999 in a statement before 3.32, 32766 since).

A file is indexed from its header, read by :func:`read_header`: no pixel data and no value
longer than :data:`DEFER_SIZE` (those are not matchable keys). A file pydicom cannot parse is
not indexed (:meth:`QRDatabase.scan` logs it and goes on), never a reason to stop. An
instance indexed again (the same SOP Instance UID) replaces its row: the last one indexed
wins, and counts as indexed last.

Usage::

    from pynetdicom2.qrdatabase import QRDatabase
    from pynetdicom2.loopback import query

    with QRDatabase('/srv/pacs/index.sqlite') as db:      # or 'postgresql://pacs@db/archive'
        db.scan('/srv/pacs')                                  # index what is on disk
        for answer in db.find(query('STUDY', PatientID='P*', StudyInstanceUID='')):
            print(answer.StudyInstanceUID)
        paths = db.paths(query('STUDY', StudyInstanceUID='1.2.3'))
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

from pynetdicom2.exceptions import InvalidDataSetError
from pynetdicom2.qrmatch import (
    NUMBER_VRS,
    RETURN_ONLY_VRS,
    QueryError,
    answer,
    element_matches,
    level_of,
    matches,
    value_text,
)
from pynetdicom2.qrpostgres import PostgresIndex
from pynetdicom2.qrquery import LEVELS, IndexBackend, KeyCondition, Row, key_conditions, tag_key

__all__ = ['DEFER_SIZE', 'LEVELS', 'IndexEntry', 'QRDatabase', 'QueryError', 'SQLiteIndex',
           'index_entry', 'is_database_url', 'matches', 'read_header']

logger = logging.getLogger('pynetdicom2.qrdatabase')

#: What a ``--db`` value starts with when it names a PostgreSQL database, not a file.
_URL_SCHEMES = ('postgresql://', 'postgres://')

#: File names a scan passes over: the index itself, its journals, configuration.
_NOT_DICOM = ('.sqlite', '.sqlite-journal', '.sqlite-wal', '.sqlite-shm', '.db', '.db-journal',
              '.ini', '.tmp', '.part')

#: Values longer than this many bytes are left unread when a file is indexed (pydicom's
#: ``defer_size``): only UT, UC, UR and the binary VRs get this long (PS3.5 6.2), and those
#: are not keys the index matches.
DEFER_SIZE = 65536

#: Rows written per transaction while scanning: few disk syncs, and queries running meanwhile
#: see the index grow batch by batch.
_BATCH = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    sop_uid    TEXT PRIMARY KEY,
    path       TEXT NOT NULL,
    mtime      REAL NOT NULL,
    sop_class  TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    study_uid  TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    attrs      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_patient ON instances (patient_id);
CREATE INDEX IF NOT EXISTS instances_study ON instances (study_uid);
CREATE INDEX IF NOT EXISTS instances_series ON instances (series_uid);
CREATE INDEX IF NOT EXISTS instances_path ON instances (path);
"""
#: The version of the SQLite schema above (SQLite's ``user_version``).
_SCHEMA_VERSION = 1


def _stored_value(vr: str, value: Any) -> Any:
    """The JSON form of an element value: text, or numbers for the binary number VRs."""
    if vr in NUMBER_VRS:
        if isinstance(value, (list, tuple)) or type(value).__name__ == 'MultiValue':
            return list(value)
        return value
    return value_text(value)


def read_header(source: str | os.PathLike[str] | BinaryIO | bytes) -> Dataset:
    """The data set of a Part-10 file as the index needs it: no pixel data, and the values
    longer than :data:`DEFER_SIZE` left unread (PS3.10 7: preamble, file meta, data set).

    ``source`` is a path, a file object (read from its start) or the file's bytes. Raises
    :class:`OSError` when it cannot be read and :class:`InvalidDataSetError` for anything
    pydicom cannot parse: not DICOM, cut short, malformed.

    >>> read_header(b'not DICOM')
    Traceback (most recent call last):
    ...
    pynetdicom2.exceptions.InvalidDataSetError: ...
    """
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = io.BytesIO(bytes(source))
        name = str(getattr(source, 'name', 'the data set'))
        source.seek(0)
    try:
        return dcmread(source, stop_before_pixels=True, defer_size=DEFER_SIZE)
    except OSError:
        raise
    except Exception as exc:  # pydicom's parse errors are of many types
        raise InvalidDataSetError(
            f'{name}: pydicom cannot read it ({type(exc).__name__}: {exc})') from exc


def _unread_element(ds: Dataset, tag: Any) -> Any:
    """The element as read, not decoded: a deferred value stays unread (pydicom 3's
    ``keep_deferred``; pydicom 2 reads it)."""
    try:
        return ds.get_item(tag, keep_deferred=True)
    except TypeError:
        return ds.get_item(tag)


def _skipped_unread(raw: Any, tag: Any) -> bool:
    """True for an element the index leaves undecoded: a return-only VR (as written, or the
    data dictionary's for implicit VR), or a value left unread (longer than DEFER_SIZE)."""
    vr = getattr(raw, 'VR', None)
    if not vr:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = None  # a private or unknown tag: decoding says (UN)
    deferred = getattr(raw, 'value', b'') is None and bool(getattr(raw, 'length', 0))
    return deferred or vr in RETURN_ONLY_VRS


def _attributes(ds: Dataset) -> dict[str, Any]:
    """The matchable top-level attributes of ``ds``, by tag as 8 hex digits.

    Sequences and binary values are return keys only (PS3.4 C.2.2.2.3, C.2.2.2.6): they are
    left undecoded, as are deferred values. An element pydicom cannot decode is left out, so
    one bad value does not keep the instance out of the index.
    """
    attrs: dict[str, Any] = {}
    for tag in list(ds.keys()):
        if tag.group == 0x0002 or _skipped_unread(_unread_element(ds, tag), tag):
            continue
        try:
            element = ds[tag]
            value = element.value
        except Exception as exc:  # an undecodable value: not a key we can match
            logger.debug('attribute %s left out of the index: %s', tag, exc)
            continue
        if element.VR in RETURN_ONLY_VRS:
            continue
        attrs[tag_key(int(tag))] = _stored_value(element.VR, value)
    return attrs


class IndexEntry(NamedTuple):
    """What the index records of one instance, besides its file: the unique keys of each
    level (PS3.4 C.6.1.1) and the matchable attributes as JSON."""

    sop_uid: str
    sop_class: str
    patient_id: str
    study_uid: str
    series_uid: str
    attrs: str


def index_entry(ds: Dataset) -> IndexEntry:
    """The :class:`IndexEntry` of a header; :class:`ValueError` without SOPInstanceUID,
    :class:`InvalidDataSetError` when one of the unique keys cannot be decoded.

    >>> from pynetdicom2.loopback import make_dataset
    >>> index_entry(make_dataset(PatientID='P1', SOPInstanceUID='1.2.3'))[:3]
    ('1.2.3', '1.2.840.10008.5.1.4.1.1.2', 'P1')
    """
    try:
        sop_uid, sop_class, patient_id, study_uid, series_uid = (
            value_text(ds.get(keyword, '')) for keyword in (
                'SOPInstanceUID', 'SOPClassUID', 'PatientID', 'StudyInstanceUID',
                'SeriesInstanceUID'))
    except Exception as exc:  # pydicom decodes on access
        raise InvalidDataSetError(f'a unique key cannot be decoded: {exc}') from exc
    if not sop_uid:
        raise ValueError('no SOPInstanceUID, not indexed')
    return IndexEntry(sop_uid, sop_class, patient_id, study_uid, series_uid,
                      json.dumps(_attributes(ds)))


def _value_of(attrs: dict[str, Any]) -> Callable[[int], Any]:
    """``value_of`` for :func:`pynetdicom2.qrmatch.answer`: a tag's value in ``attrs``."""
    return lambda tag: attrs.get(tag_key(tag))


@functools.lru_cache(maxsize=256)
def _key_of(key_json: str) -> tuple[str, str]:
    """``(vr, wanted)`` of a key as the SQL functions get it: JSON text, which keeps every
    character (SQLite's ``json_extract`` of a string stops at a NUL character)."""
    vr, wanted = json.loads(key_json)
    return str(vr), str(wanted)


def _sql_match(key_json: str, stored: Any) -> bool:
    """``qr_match(key, stored)`` in SQL: :func:`pynetdicom2.qrmatch.element_matches` of a
    key (:func:`_key_of`) and a value as SQL has it: a column's text, or ``json_extract``'s
    (which gives a multi-valued number as JSON text, ``'[1,2]'``: decoded here)."""
    vr, wanted = _key_of(key_json)
    if vr in NUMBER_VRS and isinstance(stored, str) and stored.startswith('['):
        stored = json.loads(stored)
    return element_matches(vr, wanted, stored)


def _sql_match_json(key_json: str, stored_json: str | None) -> bool:
    """``qr_match_json(key, stored)`` in SQL: the same, the value as JSON text (SQLite's
    ``->``, which keeps every character), NULL when the instance has no such attribute."""
    vr, wanted = _key_of(key_json)
    if stored_json is None:
        return element_matches(vr, wanted, None)
    if stored_json.startswith('"') and '\\' not in stored_json:  # a string, nothing escaped
        return element_matches(vr, wanted, stored_json[1:-1])
    return element_matches(vr, wanted, json.loads(stored_json))


def is_database_url(target: str | os.PathLike[str]) -> bool:
    """True when ``target`` names a PostgreSQL database (``postgresql://...``), not a file.

    >>> is_database_url('postgresql://pacs@db.local/archive'), is_database_url('index.sqlite')
    (True, False)
    """
    return isinstance(target, str) and target.startswith(_URL_SCHEMES)


class SQLiteIndex:
    """The SQLite dialect of the index (:class:`pynetdicom2.qrquery.IndexBackend`).

    One connection is shared by all threads, guarded by a lock. Matching is
    :func:`pynetdicom2.qrmatch.element_matches`, registered as the SQL function
    ``qr_match``; keys asking for exact values of an indexed column use its index. The
    schema's version is SQLite's ``user_version`` (1).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.display = os.fspath(path) if os.fspath(path) == ':memory:' else str(
            Path(path).resolve())
        self._lock = threading.Lock()
        # SQLite 3.38 and later give a JSON value as JSON text (->), every character kept.
        self._arrow = sqlite3.sqlite_version_info >= (3, 38, 0)
        try:
            self._conn = sqlite3.connect(self.display, check_same_thread=False, timeout=10.0)
        except sqlite3.Error as exc:
            raise OSError(f'cannot open the index database {self.display}: {exc}') from exc
        try:
            self._conn.create_function('qr_match', 2, _sql_match, deterministic=True)
            self._conn.create_function('qr_match_json', 2, _sql_match_json, deterministic=True)
            version = int(self._conn.execute('PRAGMA user_version').fetchone()[0])
            if version > _SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f'its schema version is {version}, newer than this pynetdicom2 knows '
                    f'({_SCHEMA_VERSION})')
            self._conn.executescript(_SCHEMA)
            if version < _SCHEMA_VERSION:
                self._conn.execute(f'PRAGMA user_version = {_SCHEMA_VERSION}')
        except sqlite3.Error as exc:
            self._conn.close()
            raise OSError(f'cannot open the index database {self.display}: {exc}') from exc

    def check(self, row: Row) -> None:
        """Every row can be stored."""

    def write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        with self._lock, self._conn:
            self._conn.executemany(
                'INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?, ?, ?, ?, ?)', rows)

    def remove(self, sop_uid: str) -> None:
        with self._lock, self._conn:
            self._conn.execute('DELETE FROM instances WHERE sop_uid = ?', (sop_uid,))

    def forget(self, files: Sequence[tuple[str, float]]) -> None:
        with self._lock, self._conn:
            self._conn.executemany('DELETE FROM instances WHERE path = ? AND mtime = ?', files)

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute('SELECT count(*) FROM instances').fetchone()[0])

    def known(self) -> list[tuple[str, float]]:
        with self._lock:
            return list(self._conn.execute('SELECT path, mtime FROM instances').fetchall())

    def _where(self, keys: Sequence[KeyCondition]) -> tuple[str, dict[str, str]]:
        """The SQL condition of an identifier's keys (PS3.4 C.2.2.2), and its one parameter.

        The keys' values travel in one JSON parameter, ``:keys``, whatever their number:
        SQLite limits the variables of a statement (999 before 3.32, 32766 since), and a list
        of UID matching (C.2.2.2.2) may name thousands. A key on an indexed column that asks
        for exact values (a UID list, a single value) becomes ``column IN (SELECT value FROM
        json_each(...))``, which means the same and uses the index; any other key is
        ``qr_match`` (a column) or ``qr_match_json`` (an attribute, as JSON text: SQLite's
        ``json_extract`` would give a string only up to a NUL character). The SQL text holds
        only tags and positions, never a value.
        """
        clauses: list[str] = []
        params: list[Any] = []
        for key in keys:
            at = f'$[{len(params)}]'  # this key's place in the parameter
            if (key.column is not None and key.values is not None
                    and not any('\x00' in value for value in key.values)):
                params.append(list(key.values))
                clauses.append(f"{key.column} IN (SELECT value FROM json_each(:keys, '{at}'))")
                continue
            params.append([key.vr, key.wanted])
            wanted = f"json_extract(:keys, '{at}')"  # an array: JSON text, nothing lost
            path = f"'$.\"{key.name}\"'"
            if key.column is not None:
                clauses.append(f'qr_match({wanted}, {key.column})')
            elif self._arrow:
                clauses.append(f'qr_match_json({wanted}, attrs -> {path})')
            else:
                clauses.append(f'qr_match({wanted}, json_extract(attrs, {path}))')
        return (' AND '.join(clauses) or '1'), {'keys': json.dumps(params)}

    def entities(self, keys: Sequence[KeyCondition], level: str) -> list[tuple[str, str]]:
        unique_column = LEVELS[level][1]
        where, args = self._where(keys)
        # One row per entity: the first instance indexed of each value of the unique key.
        sql = (f'SELECT {unique_column}, attrs FROM instances WHERE rowid IN '
               f'(SELECT min(rowid) FROM instances WHERE {where} GROUP BY {unique_column}) '
               'ORDER BY rowid')
        with self._lock:
            return list(self._conn.execute(sql, args).fetchall())

    def paths(self, keys: Sequence[KeyCondition]) -> list[str]:
        where, args = self._where(keys)
        with self._lock:
            rows = self._conn.execute(
                f'SELECT path FROM instances WHERE {where} ORDER BY rowid', args).fetchall()
        return [path for (path,) in rows]

    def instances(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._conn.execute('SELECT sop_uid, path FROM instances ORDER BY rowid'))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class QRDatabase:
    """The index of a folder: add, remove, scan, and Q/R matching.

    ``path`` is the SQLite database file (``':memory:'`` for a throwaway one), or the URL of
    a PostgreSQL database, ``postgresql://user@host:port/dbname`` (:mod:`pynetdicom2.qrpostgres`,
    which several processes may share). Either answers every query alike; the instance may
    be used from several threads at once: the Q/R SCP's hooks run concurrently.
    :attr:`path` is the file, or the URL without its password. Raises :class:`OSError`
    when the database cannot be opened.

    >>> db = QRDatabase(':memory:')
    >>> from pynetdicom2.loopback import make_dataset, query
    >>> db.add(make_dataset(PatientID='P1', SOPInstanceUID='1.2.3'), '/x/1.2.3.dcm')
    >>> [a.PatientID for a in db.find(query('PATIENT', PatientID='P?'))]
    ['P1']
    >>> db.close()
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if is_database_url(path):
            self._index: IndexBackend = PostgresIndex(os.fspath(path))
            self.dialect = 'postgresql'
        else:
            self._index = SQLiteIndex(path)
            self.dialect = 'sqlite'
        self.path = self._index.display

    @property
    def _conn(self) -> sqlite3.Connection:
        """The SQLite connection, for tests that make it play an older SQLite's."""
        if not isinstance(self._index, SQLiteIndex):
            raise AttributeError('_conn: the index is not SQLite')
        return self._index._conn

    @classmethod
    def open(cls, target: str | os.PathLike[str]) -> QRDatabase:
        """The index in ``target``: an SQLite file, or a ``postgresql://`` URL."""
        return cls(target)

    def __enter__(self) -> QRDatabase:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection(s)."""
        self._index.close()

    # -- what it holds ---------------------------------------------------------------------

    def add(self, ds: Dataset, path: str | os.PathLike[str], mtime: float = 0.0) -> None:
        """Index ``ds`` (a header is enough) as the file ``path``; an instance again replaces it.

        Raises :class:`ValueError` without SOPInstanceUID (like :func:`index_entry`).
        """
        try:
            entry = index_entry(ds)
        except ValueError as exc:
            raise ValueError(f'{path}: {exc}') from None
        self.add_entry(entry, path, mtime)

    def add_entry(self, entry: IndexEntry, path: str | os.PathLike[str],
                  mtime: float = 0.0) -> None:
        """Index an entry made by :func:`index_entry` as the file ``path``, in one
        transaction. An instance indexed before is replaced, whoever indexed it: its row
        then says this path and these attributes, and it counts as indexed last.

        Raises :class:`InvalidDataSetError` for an entry the database cannot store
        (PostgreSQL stores no NUL character in a unique key), :class:`OSError` when the
        database cannot be reached.
        """
        self._index.write([self._row(entry, path, mtime)])

    def _row(self, entry: IndexEntry, path: str | os.PathLike[str], mtime: float) -> Row:
        row: Row = (entry.sop_uid, os.fspath(path), mtime, *entry[1:])
        self._index.check(row)
        return row

    def add_file(self, path: str | os.PathLike[str]) -> Dataset:
        """Read the header of the Part-10 file ``path`` and index it; return the header.

        Raises like :func:`read_header` and :meth:`add`.
        """
        ds = read_header(path)
        self.add(ds, Path(path).resolve(), os.stat(path).st_mtime)
        return ds

    def remove(self, sop_instance_uid: str) -> None:
        """Forget one instance."""
        self._index.remove(sop_instance_uid)

    def __len__(self) -> int:
        return self._index.count()

    def _files(self, folder: str | os.PathLike[str]) -> list[tuple[str, float]]:
        """``(path, mtime)`` of every file a scan considers, in path order (symbolic links to
        folders are not followed: a link loop cannot trap the scan)."""
        found = []
        for directory, _dirs, names in os.walk(Path(folder).resolve()):
            for name in names:
                if name.startswith('.') or name.endswith(_NOT_DICOM):
                    continue
                path = os.path.join(directory, name)
                try:
                    status = os.stat(path)
                except OSError:
                    continue  # gone since it was listed
                if path != self.path and stat.S_ISREG(status.st_mode):
                    found.append((path, status.st_mtime))
        found.sort()
        return found

    def scan(
        self,
        folder: str | os.PathLike[str],
        *,
        stop: threading.Event | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[int, int]:
        """Bring the index in line with ``folder`` (recursively): ``(indexed, forgotten)``.

        New or changed files are indexed, rows whose file is gone are forgotten, files that
        are not DICOM or that pydicom cannot parse are skipped with a warning. Rows are
        written :data:`_BATCH` at a time, so queries meanwhile answer from what is indexed
        so far. ``progress(done, total)`` (files looked at, files in the folder) is called
        after each batch. Once ``stop`` is set the scan ends after the file at hand: what it
        indexed stays, and nothing is forgotten (not every file was seen).

        A scan is idempotent: a file is read again only when its mtime differs from the
        row's, and a row is forgotten only if it still has the mtime the scan saw, so
        processes sharing a folder and a PostgreSQL index may all scan it (each must see
        the folder at the same path: rows hold absolute paths).
        """
        known: dict[str, set[float]] = {}
        for known_path, known_mtime in self._index.known():
            known.setdefault(known_path, set()).add(known_mtime)
        files = self._files(folder)
        indexed = 0
        batch: list[Row] = []
        for done, (path, mtime) in enumerate(files, 1):
            if stop is not None and stop.is_set():
                self._index.write(batch)
                return indexed, 0
            if mtime not in known.get(path, ()):
                row = self._read_row(path, mtime)
                if row is not None:
                    batch.append(row)
                    indexed += 1
            if len(batch) >= _BATCH:
                self._index.write(batch)
                batch = []
                if progress is not None:
                    progress(done, len(files))
        self._index.write(batch)
        if progress is not None:
            progress(len(files), len(files))
        seen = {path for path, _mtime in files}
        gone = [p for p in known if p not in seen and not os.path.exists(p)]
        self._index.forget([(p, m) for p in gone for m in known[p]])
        return indexed, len(gone)

    def _read_row(self, path: str, mtime: float) -> Row | None:
        """The row of one file, or None (logged) when it cannot be indexed."""
        try:
            return self._row(index_entry(read_header(path)), path, mtime)
        except (OSError, ValueError, InvalidDataSetError) as exc:
            logger.warning('not indexed: %s: %s', path, exc)
            return None

    # -- matching --------------------------------------------------------------------------

    @staticmethod
    def level_of(identifier: Dataset, root: str = 'PATIENT') -> str:
        """The identifier's QueryRetrieveLevel, checked against the model (PS3.4 C.6).

        ``root`` is ``'PATIENT'`` or ``'STUDY'``; raises :class:`QueryError` when wrong.
        """
        return level_of(identifier, root)

    def find(self, identifier: Dataset, root: str = 'PATIENT') -> Iterator[Dataset]:
        """The C-FIND answers: one per matching entity at the identifier's level.

        Each answer holds the identifier's keys with the entity's values (empty when it has
        none), the level, and the level's unique key (PS3.4 C.4.1.3.1). The values are
        those of the entity's first instance indexed among those that match.
        """
        level = self.level_of(identifier, root)
        for unique_value, attrs_json in self._index.entities(key_conditions(identifier), level):
            attrs: dict[str, Any] = json.loads(attrs_json)
            yield answer(identifier, level, unique_value, _value_of(attrs), attrs.get('00080005'))

    def paths(self, identifier: Dataset, root: str = 'PATIENT', *,
              level_required: bool = True) -> list[str]:
        """The files of the instances a C-MOVE / C-GET identifier selects (PS3.4 C.4.2.2)."""
        if level_required:
            self.level_of(identifier, root)
        return self._index.paths(key_conditions(identifier))

    def instances(self) -> Iterable[tuple[str, str]]:
        """``(SOPInstanceUID, path)`` of every instance, in the order indexed."""
        return self._index.instances()
