"""An SQLite index of a folder of DICOM files, with Query/Retrieve matching (PS3.4 C.2.2.2).

This module owns :class:`QRDatabase`: it records one row per SOP instance (its path, the
unique keys of the patient, study, series and image levels, and the text of every top-level
attribute as JSON), and answers C-FIND identifiers (:meth:`QRDatabase.find`) and C-MOVE /
C-GET identifiers (:meth:`QRDatabase.paths`) in SQL. It does no networking; the Q/R SCP of
:mod:`pynetdicom2.qrscp` is built on it. Only the standard library's :mod:`sqlite3` is used.

Matching follows PS3.4 C.2.2.2 and is :mod:`pynetdicom2.qrmatch`'s, called from SQL (an
SQLite function), so an archive and :class:`pynetdicom2.loopback.LoopbackSCP` answer a query
alike: single value, universal (an empty key), wildcard (``*`` and ``?``), range (``low-high``,
``low-``, ``-high`` for DA, TM and DT) and list of UID matching. Sequence keys are return keys
only. Single value and wildcard matching are case sensitive.

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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from pynetdicom2.qrmatch import (
    LEVEL_KEYS,
    NUMBER_VRS,
    RETURN_ONLY_VRS,
    QueryError,
    answer,
    element_matches,
    exact_values,
    level_of,
    match_keys,
    matches,
    value_text,
)

__all__ = ['LEVELS', 'QRDatabase', 'QueryError', 'matches']

logger = logging.getLogger('pynetdicom2.qrdatabase')

#: The unique key of each query/retrieve level and the column holding it (PS3.4 C.6.1.1).
LEVELS = {
    'PATIENT': (LEVEL_KEYS['PATIENT'], 'patient_id'),
    'STUDY': (LEVEL_KEYS['STUDY'], 'study_uid'),
    'SERIES': (LEVEL_KEYS['SERIES'], 'series_uid'),
    'IMAGE': (LEVEL_KEYS['IMAGE'], 'sop_uid'),
}

_COLUMNS = dict(LEVELS.values())

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


def _stored_value(vr: str, value: Any) -> Any:
    """The JSON form of an element value: text, or numbers for the binary number VRs."""
    if vr in NUMBER_VRS:
        if isinstance(value, (list, tuple)) or type(value).__name__ == 'MultiValue':
            return list(value)
        return value
    return value_text(value)


def _attributes(ds: Dataset) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for element in ds:
        if element.tag.group == 0x0002 or element.VR in RETURN_ONLY_VRS:
            continue
        try:
            value = element.value
        except Exception:  # an undecodable value: not a key we can match
            continue
        attrs[f'{int(element.tag):08X}'] = _stored_value(element.VR, value)
    return attrs


def _value_of(attrs: dict[str, Any]) -> Callable[[int], Any]:
    """``value_of`` for :func:`pynetdicom2.qrmatch.answer`: a tag's value in ``attrs``."""
    return lambda tag: attrs.get(f'{tag:08X}')


def _sql_match(vr: str, wanted: str, stored: Any) -> bool:
    """``qr_match(vr, wanted, stored)`` in SQL: :func:`pynetdicom2.qrmatch.element_matches`.

    ``json_extract`` gives a multi-valued number as JSON text (``'[1,2]'``): decoded here.
    """
    if vr in NUMBER_VRS and isinstance(stored, str) and stored.startswith('['):
        stored = json.loads(stored)
    return element_matches(vr, wanted, stored)


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
            self._conn.create_function('qr_match', 3, _sql_match, deterministic=True)
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
            value_text(ds.get('SOPInstanceUID', '')), os.fspath(path), mtime,
            value_text(ds.get('SOPClassUID', '')), value_text(ds.get('PatientID', '')),
            value_text(ds.get('StudyInstanceUID', '')), value_text(ds.get('SeriesInstanceUID', '')),
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
        """The SQL condition of an identifier's keys: ``qr_match`` for each (PS3.4 C.2.2.2).

        A key on an indexed column that asks for exact values (a UID list, a single value)
        becomes ``column IN (...)`` instead, which means the same and uses the index.
        """
        clauses: list[str] = []
        args: list[Any] = []
        for tag, vr, wanted in match_keys(identifier):
            column = _COLUMNS.get(keyword_for_tag(tag))
            exact = exact_values(vr, wanted) if column is not None else None
            if column is not None and exact is not None:
                clauses.append(f'{column} IN ({", ".join("?" * len(exact))})')
                args.extend(exact)
                continue
            if column is None:
                column = f"json_extract(attrs, '$.\"{tag:08X}\"')"
            clauses.append(f'qr_match(?, ?, {column})')
            args.extend([vr, wanted])
        return (' AND '.join(clauses) or '1'), args

    @staticmethod
    def level_of(identifier: Dataset, root: str = 'PATIENT') -> str:
        """The identifier's QueryRetrieveLevel, checked against the model (PS3.4 C.6).

        ``root`` is ``'PATIENT'`` or ``'STUDY'``; raises :class:`QueryError` when wrong.
        """
        return level_of(identifier, root)

    def find(self, identifier: Dataset, root: str = 'PATIENT') -> Iterator[Dataset]:
        """The C-FIND answers: one per matching entity at the identifier's level.

        Each answer holds the identifier's keys with the entity's values (empty when it has
        none), the level, and the level's unique key (PS3.4 C.4.1.3.1).
        """
        level = self.level_of(identifier, root)
        unique_column = LEVELS[level][1]
        where, args = self._where(identifier)
        # One row per entity: the first instance indexed of each value of the unique key.
        sql = (f'SELECT attrs, {unique_column} FROM instances WHERE rowid IN '
               f'(SELECT min(rowid) FROM instances WHERE {where} GROUP BY {unique_column}) '
               'ORDER BY rowid')
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        for attrs_json, unique_value in rows:
            attrs: dict[str, Any] = json.loads(attrs_json)
            yield answer(identifier, level, unique_value, _value_of(attrs), attrs.get('00080005'))

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
