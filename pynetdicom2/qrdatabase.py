"""An SQLite index of a folder of DICOM files, with Query/Retrieve matching (PS3.4 C.2.2.2).

This module owns :class:`QRDatabase`: it records one row per SOP instance (its path, the
unique keys of the patient, study, series and image levels, and the text of every top-level
attribute as JSON), and answers C-FIND identifiers (:meth:`QRDatabase.find`) and C-MOVE /
C-GET identifiers (:meth:`QRDatabase.paths`) in SQL. It does no networking; the Q/R SCP of
:mod:`pynetdicom2.qrscp` is built on it. Only the standard library's :mod:`sqlite3` is used.

Matching follows PS3.4 C.2.2.2: single value matching, universal matching (an empty key),
wildcard matching (``*`` and ``?``, for AE, CS, LO, LT, PN, SH, ST, UC, UR and UT), range
matching (``low-high``, ``low-``, ``-high`` for DA, TM and DT) and list of UID matching
(``uid1\\uid2``). Sequence keys are return keys only (sequence matching is not supported).
Single value and wildcard matching are case sensitive.

Usage::

    from pynetdicom2.qrdatabase import QRDatabase
    from pynetdicom2.loopback import query

    with QRDatabase('/srv/pacs/index.sqlite') as db:
        db.scan('/srv/pacs')                                  # index what is on disk
        for answer in db.find(query('STUDY', PatientID='P*', StudyInstanceUID='')):
            print(answer.StudyInstanceUID)
        paths = db.paths(query('STUDY', StudyInstanceUID='1.2.3'))
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

__all__ = ['LEVELS', 'QRDatabase', 'QueryError', 'matches']

logger = logging.getLogger('pynetdicom2.qrdatabase')

#: The unique key of each query/retrieve level and the column holding it (PS3.4 C.6.1.1).
LEVELS = {
    'PATIENT': ('PatientID', 'patient_id'),
    'STUDY': ('StudyInstanceUID', 'study_uid'),
    'SERIES': ('SeriesInstanceUID', 'series_uid'),
    'IMAGE': ('SOPInstanceUID', 'sop_uid'),
}
#: The levels a Study Root model offers (PS3.4 C.6.2: no PATIENT level).
STUDY_ROOT_LEVELS = frozenset({'STUDY', 'SERIES', 'IMAGE'})

_COLUMNS = dict(LEVELS.values())
_RANGE_VRS = frozenset({'DA', 'TM', 'DT'})
_WILDCARD_VRS = frozenset({'AE', 'CS', 'LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UR', 'UT'})
_NUMBER_VRS = frozenset({'US', 'UL', 'SS', 'SL', 'FL', 'FD', 'SV', 'UV'})
_SKIP_VRS = frozenset({'SQ', 'OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'UN'})
_NOT_KEYS = frozenset({0x00080005, 0x00080052})  # SpecificCharacterSet, QueryRetrieveLevel

#: File names a scan passes over: the index itself, its journals, configuration.
_NOT_DICOM = ('.sqlite', '.sqlite-journal', '.sqlite-wal', '.sqlite-shm', '.db', '.db-journal',
              '.ini', '.tmp', '.part')

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


class QueryError(ValueError):
    """An identifier that cannot be answered (no or a bad QueryRetrieveLevel)."""


def _text(value: Any) -> str:
    if value is None:
        return ''
    if isinstance(value, (list, tuple)) or type(value).__name__ == 'MultiValue':
        return '\\'.join(_text(item) for item in value)
    return str(value)


def _stored_value(vr: str, value: Any) -> Any:
    """The JSON form of an element value: text, or numbers for the binary number VRs."""
    if vr in _NUMBER_VRS:
        if isinstance(value, (list, tuple)) or type(value).__name__ == 'MultiValue':
            return list(value)
        return value
    return _text(value)


def _attributes(ds: Dataset) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for element in ds:
        if element.tag.group == 0x0002 or element.VR in _SKIP_VRS:
            continue
        try:
            value = element.value
        except Exception:  # an undecodable value: not a key we can match
            continue
        attrs[f'{int(element.tag):08X}'] = _stored_value(element.VR, value)
    return attrs


def _glob(pattern: str) -> str:
    """A DICOM wildcard as an SQLite GLOB pattern: ``[`` is the only extra special."""
    return pattern.replace('[', '[[]')


def _clause(column: str, vr: str, wanted: str) -> tuple[str, list[Any]] | None:
    """The SQL condition matching one key (PS3.4 C.2.2.2), or None for universal matching."""
    if wanted == '' or vr == 'SQ':
        return None  # C.2.2.2.3 universal matching (sequences: return keys only)
    if vr == 'UI':
        # C.2.2.2.2 list of UID matching (a single UID is a list of one).
        items = wanted.split('\\')
        return f'{column} IN ({", ".join("?" * len(items))})', items
    if vr in _RANGE_VRS and '-' in wanted:
        # C.2.2.2.5 range matching: low <= value <= high, either end may be open. A TM/DT high
        # end compares the stored value's leading characters (1230 includes 123059.5).
        low, _, high = wanted.partition('-')
        parts = [f"{column} IS NOT NULL AND {column} != ''"]
        args: list[Any] = []
        if low:
            parts.append(f'{column} >= ?')
            args.append(low)
        if high:
            parts.append(f'substr({column}, 1, ?) <= ?' if vr != 'DA' else f'{column} <= ?')
            args.extend([len(high), high] if vr != 'DA' else [high])
        return ' AND '.join(parts), args
    if vr in _WILDCARD_VRS and ('*' in wanted or '?' in wanted):
        # C.2.2.2.4 wildcard matching: * is any run of characters, ? any one character.
        return f'{column} GLOB ?', [_glob(wanted)]
    # C.2.2.2.1 single value matching.
    return f'{column} = ?', [wanted]


def matches(identifier: Dataset, ds: Dataset) -> bool:
    """True when ``ds`` matches every key of ``identifier`` (PS3.4 C.2.2.2), without a database.

    >>> from pydicom.dataset import Dataset
    >>> q = Dataset(); q.PatientName = 'Doe*'; q.StudyDate = '20240101-'
    >>> ds = Dataset(); ds.PatientName = 'Doe^John'; ds.StudyDate = '20240101'
    >>> matches(q, ds)
    True
    """
    with QRDatabase(':memory:') as db:
        ds = ds.copy()
        for keyword, value in (('SOPInstanceUID', '1'), ('SOPClassUID', '1')):
            if keyword not in ds:
                setattr(ds, keyword, value)
        db.add(ds, '-')
        return bool(db.paths(identifier, level_required=False))


class QRDatabase:
    """The SQLite index of a folder: add, remove, scan, and Q/R matching.

    ``path`` is the database file (``':memory:'`` for a throwaway one). One connection is
    shared by all threads, guarded by a lock: the Q/R SCP's hooks run concurrently.

    >>> db = QRDatabase(':memory:')
    >>> from pynetdicom2.loopback import make_dataset, query
    >>> db.add(make_dataset(PatientID='P1', SOPInstanceUID='1.2.3'), '/x/1.2.3.dcm')
    >>> [a.PatientID for a in db.find(query('PATIENT', PatientID='P?'))]
    ['P1']
    >>> db.close()
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path) if os.fspath(path) == ':memory:' else str(
            Path(path).resolve())
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OSError(f'cannot open the index database {self.path}: {exc}') from exc

    def __enter__(self) -> QRDatabase:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    # -- what it holds ---------------------------------------------------------------------

    def add(self, ds: Dataset, path: str | os.PathLike[str], mtime: float = 0.0) -> None:
        """Index ``ds`` (a header is enough) as the file ``path``; an instance again replaces it."""
        row = (
            _text(ds.get('SOPInstanceUID', '')), os.fspath(path), mtime,
            _text(ds.get('SOPClassUID', '')), _text(ds.get('PatientID', '')),
            _text(ds.get('StudyInstanceUID', '')), _text(ds.get('SeriesInstanceUID', '')),
            json.dumps(_attributes(ds)),
        )
        if not row[0]:
            raise ValueError(f'{path}: no SOPInstanceUID, not indexed')
        with self._lock, self._conn:
            self._conn.execute('INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
                               row)

    def add_file(self, path: str | os.PathLike[str]) -> Dataset:
        """Read the header of the Part-10 file ``path`` and index it; return the header."""
        ds = dcmread(path, stop_before_pixels=True)
        self.add(ds, Path(path).resolve(), os.stat(path).st_mtime)
        return ds

    def remove(self, sop_instance_uid: str) -> None:
        """Forget one instance."""
        with self._lock, self._conn:
            self._conn.execute('DELETE FROM instances WHERE sop_uid = ?', (sop_instance_uid,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute('SELECT count(*) FROM instances').fetchone()[0])

    def scan(self, folder: str | os.PathLike[str]) -> tuple[int, int]:
        """Bring the index in line with ``folder`` (recursively): ``(indexed, forgotten)``.

        New or changed files are indexed, rows whose file is gone are forgotten, files that
        are not DICOM are skipped with a warning.
        """
        with self._lock:
            known = dict(self._conn.execute('SELECT path, mtime FROM instances').fetchall())
        indexed = 0
        seen: set[str] = set()
        for path in sorted(Path(folder).resolve().rglob('*')):
            if (not path.is_file() or path.name.startswith('.')
                    or path.name.endswith(_NOT_DICOM) or str(path) == self.path):
                continue
            key = str(path)
            seen.add(key)
            if known.get(key) == path.stat().st_mtime:
                continue
            try:
                self.add_file(path)
            except (InvalidDicomError, ValueError, OSError, AttributeError) as exc:
                logger.warning('not indexed: %s: %s', path, exc)
                continue
            indexed += 1
        gone = [p for p in known if p not in seen and not os.path.exists(p)]
        with self._lock, self._conn:
            self._conn.executemany('DELETE FROM instances WHERE path = ?', [(p,) for p in gone])
        return indexed, len(gone)

    # -- matching --------------------------------------------------------------------------

    @staticmethod
    def _where(identifier: Dataset) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        for element in identifier:
            if int(element.tag) in _NOT_KEYS or element.tag.group == 0x0002:
                continue
            column = _COLUMNS.get(element.keyword)
            if column is None:
                column = f"json_extract(attrs, '$.\"{int(element.tag):08X}\"')"
            clause = _clause(column, element.VR, _text(element.value))
            if clause is not None:
                clauses.append(f'({clause[0]})')
                args.extend(clause[1])
        return (' AND '.join(clauses) or '1'), args

    @staticmethod
    def level_of(identifier: Dataset, root: str = 'PATIENT') -> str:
        """The identifier's QueryRetrieveLevel, checked against the model (PS3.4 C.6).

        ``root`` is ``'PATIENT'`` or ``'STUDY'``; raises :class:`QueryError` when wrong.
        """
        level = _text(identifier.get('QueryRetrieveLevel', '')).strip().upper()
        if level not in LEVELS:
            raise QueryError(f'unsupported QueryRetrieveLevel {level!r}')
        if root.upper() == 'STUDY' and level not in STUDY_ROOT_LEVELS:
            raise QueryError(f'QueryRetrieveLevel {level} is not in the Study Root model')
        return level

    def find(self, identifier: Dataset, root: str = 'PATIENT') -> Iterator[Dataset]:
        """The C-FIND answers: one per matching entity at the identifier's level.

        Each answer holds the identifier's keys with the entity's values (empty when it has
        none), the level, and the level's unique key (PS3.4 C.4.1.3.1).
        """
        level = self.level_of(identifier, root)
        unique_keyword, unique_column = LEVELS[level]
        where, args = self._where(identifier)
        # One row per entity: the first instance indexed of each value of the unique key.
        sql = (f'SELECT attrs, {unique_column} FROM instances WHERE rowid IN '
               f'(SELECT min(rowid) FROM instances WHERE {where} GROUP BY {unique_column}) '
               'ORDER BY rowid')
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        for attrs_json, unique_value in rows:
            attrs = json.loads(attrs_json)
            answer = Dataset()
            charset = attrs.get('00080005')
            if charset:
                answer.add_new(0x00080005, 'CS', charset)
            answer.QueryRetrieveLevel = level
            for element in identifier:
                if int(element.tag) in _NOT_KEYS:
                    continue
                value = attrs.get(f'{int(element.tag):08X}')
                if element.VR == 'SQ' or value in (None, '', []):
                    answer.add_new(element.tag, element.VR, None)
                else:
                    answer.add_new(element.tag, element.VR, value)
            setattr(answer, unique_keyword, unique_value)
            yield answer

    def paths(self, identifier: Dataset, root: str = 'PATIENT', *,
              level_required: bool = True) -> list[str]:
        """The files of the instances a C-MOVE / C-GET identifier selects (PS3.4 C.4.2.2)."""
        if level_required:
            self.level_of(identifier, root)
        where, args = self._where(identifier)
        with self._lock:
            rows = self._conn.execute(
                f'SELECT path FROM instances WHERE {where} ORDER BY rowid', args
            ).fetchall()
        return [path for (path,) in rows]

    def instances(self) -> Iterable[tuple[str, str]]:
        """``(SOPInstanceUID, path)`` of every instance, in the order indexed."""
        with self._lock:
            return list(self._conn.execute('SELECT sop_uid, path FROM instances ORDER BY rowid'))
