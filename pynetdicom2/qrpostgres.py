"""The PostgreSQL dialect of the archive's index: one index, several Q/R SCP processes.

This module owns :class:`PostgresIndex`, the :class:`pynetdicom2.qrquery.IndexBackend` that
:class:`pynetdicom2.qrdatabase.QRDatabase` uses for a ``postgresql://`` URL::

    pynetdicom2-qrscp -aet PACS -od /srv/pacs --db postgresql://pacs@db.local:5432/archive 11112

    QRDatabase('postgresql://pacs@db.local/archive')       # the same in code

It needs psycopg 3 (``pip install 'pynetdicom2[postgresql]'``, which brings libpq with it;
imported when an index is opened) and a UTF8 database. The connection string is libpq's (a
password, ``sslmode`` ... may be in the URL or in libpq's environment variables and files);
logs show the URL without its password. Connections are opened as needed, at most
:data:`POOL_SIZE` per index, and reused.

What it guarantees, for processes on one machine or several sharing the storage folder (at
the same path on each: the index holds absolute paths):

* every write is one transaction (a C-STORE's row, a batch of a scan), and a query runs on
  one snapshot (``REPEATABLE READ``), so it sees whole rows and what any process committed
  before it began: no process keeps a copy of the rows;
* a SOP Instance UID indexed again, by any process, replaces its row atomically (``INSERT
  ... ON CONFLICT DO UPDATE``): the last one indexed wins and counts as indexed last, the
  rule of the SQLite index (``INSERT OR REPLACE``). Two processes storing one instance at
  once leave one row, wholly one or the other's;
* the order of instances (the answer's order, and which instance of an entity answers) is a
  sequence, as SQLite's ``rowid`` is;
* a deadlock or serialization failure between processes is retried, a connection lost
  (a server restart) is replaced; what still fails is an :class:`OSError`.

The schema is created and migrated by the index itself: the table ``qr_schema_version``
records the versions applied (:data:`SCHEMA_VERSION` is this module's). Opening the index
takes a transaction-scoped advisory lock, creates the tables when absent and applies the
missing versions in that one transaction, so processes starting at once create them once; a
database at the current version is only read, so a role without CREATE rights may use it.
A database of a newer version is refused.

Matching gives exactly the answers of the SQLite index, because the final word on every key
is :func:`pynetdicom2.qrmatch.element_matches` on the stored value, as in SQLite; SQL only
narrows the candidates, through the conditions of :mod:`pynetdicom2.qrquery`:

* exact values (a UID list, a single value) are ``=`` on the unique-key columns (B-tree
  indexes: patient ID, study, series and SOP instance UIDs) or containment in ``texts``, a
  JSONB document of every attribute's value as text (:func:`pynetdicom2.qrmatch.value_text`),
  under a GIN index: accession number, patient name ...;
* wildcards are ``LIKE`` (``*`` as ``%``, ``?`` as ``_``, escaped, in the "C" collation:
  case sensitive, per character);
* ranges of a DA, TM or DT attribute are compared with ``moments``, a JSONB document of
  those values at full precision (:func:`pynetdicom2.qrquery.moment`); Study Date has a
  B-tree index of its own;
* the rest (the binary number VRs) is read and decided in Python.

When every key is decided by SQL, the first instance of each entity is chosen in SQL
(``DISTINCT ON``); otherwise the candidates are checked in Python, then grouped. A row whose
values SQL cannot hold faithfully is flagged ``loose`` and always checked in Python from its
JSON: a value with a NUL character (which PostgreSQL text cannot hold) or a DA, TM or DT
value that is not plain digits (ACR-NEMA ``10:15``, padding). A unique key or path with a
NUL character cannot be stored at all: the instance is not indexed
(:class:`pynetdicom2.exceptions.InvalidDataSetError`, which the Q/R SCP answers C000H).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from pynetdicom2.exceptions import InvalidDataSetError
from pynetdicom2.qrmatch import value_text
from pynetdicom2.qrquery import LEVELS, KeyCondition, Row, dictionary_range_vr, moment

__all__ = ['POOL_SIZE', 'SCHEMA_VERSION', 'PostgresIndex', 'redacted_url']

logger = logging.getLogger('pynetdicom2.qrpostgres')

#: The version of the schema this module creates and reads (``qr_schema_version``).
SCHEMA_VERSION = 1

#: Connections one index opens at most; more concurrent requests wait for one.
POOL_SIZE = 4

#: Seconds a request waits for a free connection, and libpq's connect timeout when the URL
#: sets none.
CONNECT_TIMEOUT = 10.0

#: The advisory lock (``pg_advisory_xact_lock``) held while the schema is created or migrated.
_SCHEMA_LOCK = 0x70796E64_32717273  # 'pynd2qrs'

#: Attempts at a transaction that meets a deadlock or a serialization failure.
_ATTEMPTS = 5

#: What PostgreSQL text cannot hold: NUL, and lone surrogates (no UTF-8 for them).
_UNSTORABLE = re.compile('[\x00\ud800-\udfff]')

#: The statements of each schema version, applied in order by :func:`migrate`.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        'CREATE SEQUENCE qr_instances_seq',
        '''CREATE TABLE qr_instances (
            seq        bigint NOT NULL DEFAULT nextval('qr_instances_seq'),
            sop_uid    text COLLATE "C" PRIMARY KEY,
            path       text COLLATE "C" NOT NULL,
            mtime      double precision NOT NULL,
            sop_class  text COLLATE "C" NOT NULL,
            patient_id text COLLATE "C" NOT NULL,
            study_uid  text COLLATE "C" NOT NULL,
            series_uid text COLLATE "C" NOT NULL,
            attrs      text NOT NULL,
            texts      jsonb NOT NULL,
            moments    jsonb NOT NULL,
            loose      boolean NOT NULL
        )''',
        'ALTER SEQUENCE qr_instances_seq OWNED BY qr_instances.seq',
        'CREATE UNIQUE INDEX qr_instances_order ON qr_instances (seq)',
        'CREATE INDEX qr_instances_patient ON qr_instances (patient_id, seq)',
        'CREATE INDEX qr_instances_study ON qr_instances (study_uid, seq)',
        'CREATE INDEX qr_instances_series ON qr_instances (series_uid, seq)',
        'CREATE INDEX qr_instances_path ON qr_instances (path)',
        'CREATE INDEX qr_instances_texts ON qr_instances USING gin (texts jsonb_path_ops)',
        '''CREATE INDEX qr_instances_study_date
            ON qr_instances (((moments->>'00080020') COLLATE "C"))''',
        'CREATE INDEX qr_instances_loose ON qr_instances (seq) WHERE loose',
    ),
}

_UPSERT = '''
INSERT INTO qr_instances (sop_uid, path, mtime, sop_class, patient_id, study_uid, series_uid,
                          attrs, texts, moments, loose)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s)
ON CONFLICT (sop_uid) DO UPDATE SET
    seq = EXCLUDED.seq, path = EXCLUDED.path, mtime = EXCLUDED.mtime,
    sop_class = EXCLUDED.sop_class, patient_id = EXCLUDED.patient_id,
    study_uid = EXCLUDED.study_uid, series_uid = EXCLUDED.series_uid, attrs = EXCLUDED.attrs,
    texts = EXCLUDED.texts, moments = EXCLUDED.moments, loose = EXCLUDED.loose
'''

if TYPE_CHECKING:  # psycopg is imported when an index is opened: it is an optional extra
    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]

_T = TypeVar('_T')


def redacted_url(url: str) -> str:
    """``url`` without its password, as logs and error messages show it.

    >>> redacted_url('postgresql://pacs:secret@db.local:5432/archive?password=x&sslmode=require')
    'postgresql://pacs@db.local:5432/archive?sslmode=require'
    >>> redacted_url('postgresql:///archive?host=/run/postgresql')
    'postgresql:///archive?host=/run/postgresql'
    """
    parts = urlsplit(url)
    user, at, host = parts.netloc.rpartition('@')
    netloc = f'{user.partition(":")[0]}@{host}' if at else parts.netloc
    fields = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(name, value) for name, value in fields if name != 'password']
    if netloc == parts.netloc and len(kept) == len(fields):
        return url
    query = f'?{urlencode(kept, safe="/")}' if kept else ''
    fragment = f'#{parts.fragment}' if parts.fragment else ''
    return f'{parts.scheme}://{netloc}{parts.path}{query}{fragment}'


def _text_of(key: KeyCondition) -> str:
    """The SQL of a key's value as text in ``texts`` (NULL when the attribute is absent)."""
    return f"(texts->>'{key.name}')"


def _one_line(exc: BaseException) -> str:
    return ' '.join(str(exc).split())


def migrate(conn: Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`; return the version found (0: none).

    A database at the current version is only read. Otherwise one transaction, holding the
    advisory lock, creates ``qr_schema_version`` when absent and applies each missing
    version; raises :class:`OSError` for a schema newer than this module's.
    """
    found = conn.execute("SELECT to_regclass('qr_schema_version') IS NOT NULL").fetchone()
    if found and found[0]:
        current = _version(conn)
        if current == SCHEMA_VERSION:
            return current
    with conn.transaction():
        conn.execute('SELECT pg_advisory_xact_lock(%s)', (_SCHEMA_LOCK,))
        conn.execute('CREATE TABLE IF NOT EXISTS qr_schema_version ('
                     'version integer PRIMARY KEY, '
                     'applied_at timestamptz NOT NULL DEFAULT now())')
        current = _version(conn)
        if current > SCHEMA_VERSION:
            raise OSError(f'its schema version is {current}, newer than this pynetdicom2 '
                          f'knows ({SCHEMA_VERSION})')
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute('INSERT INTO qr_schema_version (version) VALUES (%s)', (version,))
            logger.info('index schema version %d applied', version)
    return current


def _version(conn: Connection) -> int:
    row = conn.execute('SELECT coalesce(max(version), 0) FROM qr_schema_version').fetchone()
    return int(row[0]) if row else 0


def _record(row: Row) -> tuple[Any, ...]:
    """The parameters of :data:`_UPSERT` for one row: the row, its ``texts`` and
    ``moments`` documents (JSON), and whether it is loose (see the module's docstring)."""
    attrs: dict[str, Any] = json.loads(row[7])
    texts: dict[str, str] = {}
    moments: dict[str, str] = {}
    loose = False
    for name, value in attrs.items():
        text = value_text(value)
        if _UNSTORABLE.search(text):
            text = _UNSTORABLE.sub('\ufffd', text)
            loose = True
        texts[name] = text
        vr = dictionary_range_vr(int(name, 16))
        if vr is not None and text:
            first = moment(vr, text)
            if first is None:
                loose = True
            else:
                moments[name] = first
    return (*row, json.dumps(texts), json.dumps(moments), loose)


class _Pool:
    """At most ``size`` connections (autocommit), opened as needed and reused.

    A forked process (:mod:`pynetdicom2.workers`) opens connections of its own: those it
    inherited are left to its parent, never used nor closed (closing would end the parent's
    sessions)."""

    def __init__(self, conninfo: str, options: dict[str, Any], size: int) -> None:
        self._conninfo = conninfo
        self._options = options
        self._size = size
        self._idle: list[Connection] = []
        self._open = 0
        self._closed = False
        self._cond = threading.Condition()
        self._pid = os.getpid()

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        conn = self._take()
        try:
            yield conn
        finally:
            self._give(conn)

    def _take(self) -> Connection:
        with self._cond:
            if self._pid != os.getpid():
                self._pid, self._idle, self._open = os.getpid(), [], 0
            while True:
                if self._closed:
                    raise OSError('the index database is closed')
                if self._idle:
                    return self._idle.pop()
                if self._open < self._size:
                    self._open += 1
                    break
                if not self._cond.wait(CONNECT_TIMEOUT):
                    raise OSError(f'no connection to the index database came free within '
                                  f'{CONNECT_TIMEOUT:.0f} s')
        import psycopg

        try:
            return psycopg.connect(self._conninfo, autocommit=True, **self._options)
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _give(self, conn: Connection) -> None:
        from psycopg.pq import TransactionStatus

        if self._pid != os.getpid():
            return  # a connection of the parent, taken before the fork
        usable = (not conn.closed and not conn.broken
                  and conn.info.transaction_status == TransactionStatus.IDLE)
        with self._cond:
            if usable and not self._closed:
                self._idle.append(conn)
                self._cond.notify()
                return
            self._open -= 1
            self._cond.notify()
        conn.close()

    def discard_idle(self) -> None:
        """Close the idle connections (after one was lost: the server may have restarted)."""
        with self._cond:
            if self._pid != os.getpid():
                return
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.discard_idle()


class PostgresIndex:
    """The index in the PostgreSQL database of ``url`` (see the module's docstring).

    Raises :class:`OSError`, one line, when the database cannot be reached, is not UTF8 or
    has a newer schema. ``pool_size`` bounds the connections it opens.
    """

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.display = redacted_url(url)
        try:
            import psycopg
            from psycopg.conninfo import conninfo_to_dict
        except ImportError as exc:
            raise OSError(f'cannot open the index database {self.display}: PostgreSQL needs '
                          "psycopg 3 (pip install 'pynetdicom2[postgresql]')") from exc
        try:
            given = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise OSError(f'cannot open the index database {self.display}: '
                          f'{_one_line(exc)}') from exc
        options: dict[str, Any] = {'client_encoding': 'UTF8'}
        if 'connect_timeout' not in given:
            options['connect_timeout'] = int(CONNECT_TIMEOUT)
        if 'application_name' not in given:
            options['application_name'] = 'pynetdicom2'
        self._pool = _Pool(url, options, pool_size)
        try:
            with self._pool.connection() as conn:
                row = conn.execute('SHOW server_encoding').fetchone()
                if not row or row[0] != 'UTF8':
                    raise OSError(f'the database is {row[0] if row else "?"}-encoded, '
                                  'not UTF8 (CREATE DATABASE ... ENCODING UTF8)')
                migrate(conn)
        except psycopg.Error as exc:
            self._pool.close()
            raise OSError(f'cannot open the index database {self.display}: '
                          f'{_one_line(exc)}') from exc
        except OSError as exc:
            self._pool.close()
            raise OSError(f'cannot open the index database {self.display}: {exc}') from exc

    def _run(self, work: Callable[[Connection], _T]) -> _T:
        """``work(connection)``, retried after a deadlock, a serialization failure or a lost
        connection; psycopg's errors become :class:`OSError` (a value PostgreSQL refuses:
        :class:`InvalidDataSetError`)."""
        import psycopg
        from psycopg import errors

        lost = False
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._pool.connection() as conn:
                    return work(conn)
            except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
                if attempt == _ATTEMPTS:
                    raise OSError(f'index database {self.display}: {_one_line(exc)}') from exc
                logger.info('index database %s: %s; retrying', self.display, _one_line(exc))
            except psycopg.OperationalError as exc:
                if lost:
                    raise OSError(f'index database {self.display}: {_one_line(exc)}') from exc
                lost = True
                self._pool.discard_idle()
                logger.warning('index database %s: %s; reconnecting', self.display,
                               _one_line(exc))
            except psycopg.DataError as exc:
                raise InvalidDataSetError(f'the index database refuses it: '
                                          f'{_one_line(exc)}') from exc
            except psycopg.Error as exc:
                raise OSError(f'index database {self.display}: {_one_line(exc)}') from exc
        raise AssertionError('unreachable')  # pragma: no cover

    # -- what it holds ---------------------------------------------------------------------

    def check(self, row: Row) -> None:
        """Refuse a row whose unique keys or path PostgreSQL text cannot hold."""
        for label, value in zip(('SOP Instance UID', 'path', None, 'SOP Class UID',
                                 'Patient ID', 'Study Instance UID', 'Series Instance UID'),
                                row[:7]):
            if label is not None and _UNSTORABLE.search(str(value)):
                raise InvalidDataSetError(f'its {label} holds a NUL character or a lone '
                                          'surrogate, which PostgreSQL cannot store')

    def write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        records = [_record(row) for row in rows]

        def work(conn: Connection) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(_UPSERT, records)

        self._run(work)

    def remove(self, sop_uid: str) -> None:
        self._run(lambda conn: conn.execute(
            'DELETE FROM qr_instances WHERE sop_uid = %s', (sop_uid,)))

    def forget(self, files: Sequence[tuple[str, float]]) -> None:
        if not files:
            return

        def work(conn: Connection) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany('DELETE FROM qr_instances WHERE path = %s AND mtime = %s',
                                list(files))

        self._run(work)

    def count(self) -> int:
        row = self._run(lambda conn: conn.execute(
            'SELECT count(*) FROM qr_instances').fetchone())
        return int(row[0]) if row else 0

    def known(self) -> list[tuple[str, float]]:
        return self._run(lambda conn: [
            (str(path), float(mtime))
            for path, mtime in conn.execute('SELECT path, mtime FROM qr_instances')])

    def instances(self) -> list[tuple[str, str]]:
        return self._run(lambda conn: [
            (str(uid), str(path))
            for uid, path in conn.execute('SELECT sop_uid, path FROM qr_instances ORDER BY seq')])

    def close(self) -> None:
        self._pool.close()

    # -- matching --------------------------------------------------------------------------

    @staticmethod
    def _where(keys: Sequence[KeyCondition]) -> tuple[str, list[Any]]:
        """The SQL condition narrowing the rows that are not loose (see the module's
        docstring), and its parameters. The SQL text holds column names and tags (hex
        digits) only; every value is a parameter."""
        clauses: list[str] = []
        params: list[Any] = []
        for key in keys:
            # A value PostgreSQL text cannot hold equals no value of a row that is not loose.
            values = None if key.values is None else [
                value for value in key.values if not _UNSTORABLE.search(value)]
            if values == [] or (key.pattern is not None and _UNSTORABLE.search(key.pattern)):
                clauses.append('FALSE')
                continue
            if key.column is not None:
                if values is not None:
                    clauses.append(f'{key.column} = ANY(%s)')
                    params.append(values)
                elif key.pattern is not None:
                    clauses.append(f'{key.column} LIKE %s')
                    params.append(key.pattern)
                continue
            text = _text_of(key)
            if values is not None and len(values) == 1 and values[0]:
                clauses.append('texts @> %s::jsonb')
                params.append(json.dumps({key.name: values[0]}))
            elif values is not None:
                clauses.append(f"coalesce({text}, '') = ANY(%s)")
                params.append(values)
            elif key.pattern is not None:
                clauses.append(f'{text} COLLATE "C" LIKE %s')
                params.append(key.pattern)
            elif key.bounds is not None:
                at = f"(moments->>'{key.name}') COLLATE \"C\""
                low, high = key.bounds
                clauses.append(f'{at} IS NOT NULL')
                if low:
                    clauses.append(f'{at} >= %s')
                    params.append(low)
                if high:
                    clauses.append(f'{at} <= %s')
                    params.append(high)
        return ' AND '.join(clauses) or 'TRUE', params

    @staticmethod
    def _checked(conn: Connection, keys: Sequence[KeyCondition], selected: str,
                 narrowed: tuple[str, list[Any]] | None) -> list[tuple[int, str]]:
        """``(seq, selected column)`` of the rows :meth:`KeyCondition.matches` accepts for
        every key, in order: the loose rows, and, given ``narrowed`` (a condition and its
        parameters), the other rows it selects. A loose row's keys are read from its JSON."""
        stored = ''.join(f', {key.column or _text_of(key)}' for key in keys)
        loose = f'SELECT seq, {selected}, attrs{stored} FROM qr_instances WHERE loose'
        sql = loose
        params: list[Any] = []
        if narrowed is not None:
            where, params = narrowed
            sql = (f'SELECT seq, {selected}, NULL::text{stored} FROM qr_instances '
                   f'WHERE NOT loose AND {where} UNION ALL {loose}')
        found = []
        for seq, value, attrs_json, *values in conn.execute(sql + ' ORDER BY 1', params):
            if attrs_json is not None:
                attrs = json.loads(attrs_json)
                values = [value_of if key.column else attrs.get(key.name)
                          for key, value_of in zip(keys, values)]
            if all(key.matches(value_of) for key, value_of in zip(keys, values)):
                found.append((int(seq), str(value)))
        return found

    def entities(self, keys: Sequence[KeyCondition], level: str) -> list[tuple[str, str]]:
        unique = LEVELS[level][1]

        def work(conn: Connection) -> list[tuple[str, str]]:
            with conn.transaction():
                conn.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
                where, params = self._where(keys)
                first: dict[str, int] = {}
                if all(key.exact for key in keys):
                    for value, seq in conn.execute(
                            f'SELECT DISTINCT ON ({unique}) {unique}, seq FROM qr_instances '
                            f'WHERE NOT loose AND {where} ORDER BY {unique}, seq', params):
                        first[str(value)] = int(seq)
                    checked = self._checked(conn, keys, unique, None)
                else:
                    checked = self._checked(conn, keys, unique, (where, params))
                for seq, value in checked:
                    if seq < first.get(value, seq + 1):
                        first[value] = seq
                order = sorted((seq, value) for value, seq in first.items())
                attrs: dict[int, str] = dict(conn.execute(
                    'SELECT seq, attrs FROM qr_instances WHERE seq = ANY(%s)',
                    ([seq for seq, _ in order],)))
            return [(value, str(attrs[seq])) for seq, value in order]

        return self._run(work)

    def paths(self, keys: Sequence[KeyCondition]) -> list[str]:
        def work(conn: Connection) -> list[str]:
            with conn.transaction():
                conn.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
                where, params = self._where(keys)
                if all(key.exact for key in keys):
                    found = [(int(seq), str(path)) for seq, path in conn.execute(
                        f'SELECT seq, path FROM qr_instances WHERE NOT loose AND {where}',
                        params)]
                    found += self._checked(conn, keys, 'path', None)
                    found.sort()
                else:
                    found = self._checked(conn, keys, 'path', (where, params))
            return [path for _, path in found]

        return self._run(work)
