"""``pynetdicom2-qrscp``: a Query/Retrieve SCP over a folder, indexed in SQLite or PostgreSQL.

This module owns :class:`QRSCP`, an AE offering Verification (C-ECHO), Storage (C-STORE),
and Query/Retrieve C-FIND, C-MOVE and C-GET in the Patient Root and Study Root information
models (PS3.4 Annex C) over the files in one folder, and :func:`qrscp`, the DCMTK-style
command line that runs it. The index is :class:`pynetdicom2.qrdatabase.QRDatabase` (stdlib
:mod:`sqlite3`, ``index.sqlite`` in the folder unless ``--db`` says otherwise; ``--db
postgresql://user@host:port/dbname`` for one index several qrscp processes share,
:mod:`pynetdicom2.qrpostgres`), its matching
:mod:`pynetdicom2.qrmatch`; the options, error lines and serving come from
:mod:`pynetdicom2.toolsupport`. C-MOVE destinations come from a small INI file::

    [destinations]
    WS1 = 10.0.0.7:11113
    VIEWER = viewer.local:104

Usage::

    pynetdicom2-qrscp -aet PACS -od /srv/pacs --destinations dest.ini -v 11112

    from pynetdicom2.qrscp import QRSCP
    with QRSCP('/srv/pacs', 'PACS', 11112, destinations={'WS1': ('10.0.0.7', 11113)}) as scp:
        ...                                   # serving in the background until the block ends

The folder is indexed in the background while the SCP already answers (see :class:`QRSCP`).
"""

from __future__ import annotations

import configparser
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from pydicom.dataset import Dataset

from pynetdicom2 import sopclass, statuses, uids
from pynetdicom2.applicationentity import StorageAE
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.asceprovider_acceptor import agreed_options
from pynetdicom2.exceptions import EventHandlingError, InvalidDataSetError
from pynetdicom2.extendednegotiation import FIND, GET, MOVE, QueryOptions, RetrieveOptions
from pynetdicom2.filestorage import SOPInstanceUIDNaming
from pynetdicom2.fsm import PContextDef
from pynetdicom2.qrdatabase import (
    IndexEntry,
    QRDatabase,
    QueryError,
    index_entry,
    is_database_url,
    read_header,
)
from pynetdicom2.qrmatch import check_hierarchical
from pynetdicom2.toolsupport import (
    ToolError,
    add_server_options,
    configure,
    dcmtk_parser,
    existing_directory,
    format_address,
    listen_errors,
    run_dcmtk,
    serve_until_stopped,
)

__all__ = ['DEFAULT_DB_NAME', 'QRSCP', 'load_destinations', 'qrscp', 'qrscp_main']

logger = logging.getLogger('pynetdicom2.qrscp')

#: The index file's name in the storage folder when no database path is given.
DEFAULT_DB_NAME = 'index.sqlite'

#: Seconds between two progress lines of the background indexing.
_PROGRESS_EVERY = 5.0

#: How long :meth:`QRSCP.quit` waits for the indexing thread (it stops between two files).
_INDEX_JOIN_TIMEOUT = 30.0

#: The Study Root classes (PS3.4 C.6.2); every other Q/R class here is Patient Root (C.6.1).
_STUDY_ROOT = frozenset({uids.STUDY_ROOT_FIND_SOP_CLASS, uids.STUDY_ROOT_MOVE_SOP_CLASS,
                         uids.STUDY_ROOT_GET_SOP_CLASS})


def _address(aet: str, text: str) -> RemoteAEConfig:
    """``host:port``, an IPv6 host in brackets (``[::1]:11113``), as a destination."""
    host, sep, port = text.strip().rpartition(':')
    bracketed = host.startswith('[') and host.endswith(']')
    if ':' in host and not bracketed:
        raise ValueError(f'destination {aet}: {text!r} is not host:port (an IPv6 address goes '
                         'in brackets: [::1]:11113)')
    if not sep or not host.strip('[]') or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'destination {aet}: {text!r} is not host:port')
    return RemoteAEConfig(aet, host[1:-1] if bracketed else host, int(port))


def load_destinations(path: str | os.PathLike[str]) -> dict[str, RemoteAEConfig]:
    """The C-MOVE destinations of an INI file: ``[destinations]`` with ``AET = host:port``
    (an IPv6 address in brackets: ``WS2 = [fd00::7]:11113``).

    AE titles keep their case. Raises :class:`ValueError` with one line saying what is wrong.

    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ini = Path(tmp, 'dest.ini')
    ...     _ = ini.write_text('[destinations]\\nWS1 = 10.0.0.7:11113\\n')
    ...     load_destinations(ini)
    ...     _ = ini.write_text('[destinations]\\nWS1 = 10.0.0.7\\n')
    ...     try:
    ...         load_destinations(ini)
    ...     except ValueError as exc:
    ...         print(exc)
    {'WS1': RemoteAEConfig(aet='WS1', address='10.0.0.7', port=11113,
                           username=None, user_data=[])}
    --destinations ...dest.ini: destination WS1: '10.0.0.7' is not host:port
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # AE titles keep case
    try:
        with open(path, encoding='utf-8') as fp:
            parser.read_file(fp)
    except OSError as exc:
        raise ValueError(f'--destinations {path}: {exc.strerror or exc}') from exc
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f'--destinations {path}: not an INI file ({first})') from exc
    if not parser.has_section('destinations'):
        raise ValueError(f'--destinations {path}: no [destinations] section '
                         '(write lines "AET = host:port" under it)')
    found = {}
    for aet, text in parser.items('destinations'):
        if not aet.strip() or len(aet.strip()) > 16:
            raise ValueError(f'--destinations {path}: {aet!r} is not an AE title (1-16 chars)')
        try:
            found[aet.strip()] = _address(aet.strip(), text)
        except ValueError as exc:
            raise ValueError(f'--destinations {path}: {exc}') from None
    return found


def _remote(aet: str, value: RemoteAEConfig | Mapping[str, Any] | tuple[str, int]) -> Any:
    if isinstance(value, tuple):
        return RemoteAEConfig(aet, value[0], int(value[1]))
    return value


class QRSCP(StorageAE):
    """Verification, Storage and Query/Retrieve (find, move, get) over a folder.

    ``storage_dir`` holds the files (received ones as ``<SOPInstanceUID>.dcm``; a second
    copy of an instance replaces the first: :attr:`file_naming` is
    :class:`~pynetdicom2.filestorage.SOPInstanceUIDNaming` with ``replace=True``, and another
    policy files them elsewhere in the folder, still indexed); ``db_path`` the SQLite index (default
    ``<storage_dir>/index.sqlite``) or a ``postgresql://`` URL (an index other QRSCPs may
    share, with the folder), brought in line with the folder when the SCP starts.
    ``destinations`` maps C-MOVE destination AE titles to a RemoteAEConfig, a dict or a
    ``(host, port)`` pair. ``accept`` limits the calling AE titles (PS3.8 reason 3 otherwise),
    ``max_associations`` the associations served at once (a transient rejection beyond).
    Relational queries and retrievals are granted to a requester that proposes them (SOP
    class extended negotiation, PS3.4 C.5); without them, a C-FIND holding a key of a level
    above its own other than a unique key is refused with A900H (PS3.4 C.4.1.2.1).

    The folder is indexed in the background, by the thread ``pynetdicom2-qrscp-index``,
    while the SCP already serves: the index is a file that outlives the SCP, so after a
    restart it already holds the archive and the scan only catches up with what changed
    meanwhile, and a modality sending images, or a viewer asking, gets its answer at once
    rather than a connection that is accepted and left silent for as long as the scan takes.
    Until the scan ends, C-FIND, C-MOVE and C-GET answer from what is indexed so far (the
    log says so, with the progress every few seconds); :meth:`wait_indexed` waits for the
    end. :meth:`quit` stops the scan and joins the thread.

    >>> import tempfile
    >>> import pynetdicom2
    >>> from pynetdicom2.loopback import make_study, write_dataset
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for ds in make_study(1, 2):
    ...         _ = write_dataset(ds, tmp)
    ...     with QRSCP(tmp, 'PACS', 0, host='127.0.0.1') as scp:
    ...         print(pynetdicom2.verify('ME', RemoteAEConfig('PACS', '127.0.0.1',
    ...                                                       scp.local_ae.port)))
    ...         scp.wait_indexed(10), len(scp.db)
    (0x0) Success: -
    (True, 2)
    """

    def __init__(
        self,
        storage_dir: str | os.PathLike[str],
        ae_title: str = 'QRSCP',
        port: int = 0,
        *,
        host: str = '',
        db_path: str | os.PathLike[str] | None = None,
        destinations: Mapping[str, Any] | None = None,
        accept: Iterable[str] = (),
        max_associations: int | None = None,
        max_pdu_length: int = 65536,
        index_now: bool = True,
    ) -> None:
        super().__init__(storage_dir, ae_title, port, uids.ALL_TS, max_pdu_length, host=host)
        self.file_naming = SOPInstanceUIDNaming(replace=True)
        self._indexed = threading.Event()
        self._stop_indexing = threading.Event()
        self._index_thread: threading.Thread | None = None
        # The index entry of each received data set, from on_receive_store to keep_file.
        self._received: weakref.WeakKeyDictionary[Any, IndexEntry] = weakref.WeakKeyDictionary()
        self._received_lock = threading.Lock()
        try:
            self.db = QRDatabase(db_path if db_path is not None
                                 else self.storage_dir / DEFAULT_DB_NAME)
        except BaseException:
            self.quit()
            raise
        self.destinations: dict[str, Any] = {
            aet: _remote(aet, value) for aet, value in (destinations or {}).items()
        }
        # The AE's own access control (asceprovider checks both before any hook runs).
        self.allowed_calling_aets = frozenset(accept) or None
        self.maximum_associations = max_associations
        #: Refuse (A900H) a C-FIND that matches on a non-unique key above its level when
        #: relational queries were not agreed (PS3.4 C.4.1.2.1). Off by default: such a query
        #: is answered as a relational one, as many SCUs expect whether or not they asked.
        self.hierarchical_only = False
        # PS3.4 C.5.1.1, C.5.2.1, C.5.3.1: relational queries and retrievals are granted to
        # whoever proposes them (retrievals need no unique key above their level either way).
        self.extended_negotiation = {FIND: QueryOptions(relational=True),
                                     MOVE: RetrieveOptions(relational=True),
                                     GET: RetrieveOptions(relational=True)}
        for service in (sopclass.verification_scp, sopclass.storage_scp, sopclass.qr_find_scp,
                        sopclass.qr_move_scp, sopclass.qr_get_scp):
            self.add_scp(service)
        # The C-MOVE and C-GET sub-operations are C-STOREs of ours (PS3.4 C.4.2.3, C.4.3.3).
        self.add_scu(sopclass.storage_scu, list(uids.STORAGE_SOP_CLASSES))
        if index_now:
            self.start_indexing()

    def start_indexing(self) -> None:
        """Index the folder on the thread ``pynetdicom2-qrscp-index`` (once); the constructor
        does it unless ``index_now`` is False (worker processes: see :meth:`on_worker_start`)."""
        if self._index_thread is None:
            self._index_thread = threading.Thread(
                target=self._index_folder, name='pynetdicom2-qrscp-index', daemon=True)
            self._index_thread.start()

    def on_worker_start(self, number: int) -> None:
        """In worker process ``number`` (:mod:`pynetdicom2.workers`): the first indexes the
        shared folder; the others serve what the shared index holds, as it grows."""
        if number == 0:
            self.start_indexing()
        else:
            self._indexed.set()

    # -- the index -------------------------------------------------------------------------

    def _index_folder(self) -> None:
        """The indexing thread: scan the folder, logging the progress; set the event at the end."""
        started = time.monotonic()
        last = [started]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= _PROGRESS_EVERY and done < total:
                last[0] = now
                logger.info('indexing %s: %d of %d files looked at, %d instances indexed',
                            self.storage_dir, done, total, len(self.db))

        try:
            indexed, forgotten = self.db.scan(self.storage_dir, stop=self._stop_indexing,
                                              progress=progress)
        except Exception as exc:  # a folder or database error: the SCP serves what it has
            logger.error('indexing %s failed: %s', self.storage_dir, exc)
        else:
            if self._stop_indexing.is_set():
                logger.info('indexing %s stopped (quitting)', self.storage_dir)
            else:
                logger.info('index %s: %d instances (%d indexed now, %d forgotten) in %.1f s',
                            self.db.path, len(self.db), indexed, forgotten,
                            time.monotonic() - started)
        finally:
            self._indexed.set()

    @property
    def indexing(self) -> bool:
        """True while the folder is still being indexed (queries see part of it)."""
        return not self._indexed.is_set()

    def wait_indexed(self, timeout: float | None = None) -> bool:
        """Wait until the folder is indexed; False if ``timeout`` seconds passed first."""
        return self._indexed.wait(timeout)

    def _note_partial(self, what: str) -> None:
        if self.indexing:
            logger.info('%s answered from a partial index (%d instances so far): the folder '
                        'is still being indexed', what, len(self.db))

    def quit(self) -> None:
        """Stop serving (see :meth:`AE.quit`), stop and join the indexing, close the index."""
        stop = getattr(self, '_stop_indexing', None)
        if stop is not None:
            stop.set()
        try:
            super().quit()
        finally:
            thread = getattr(self, '_index_thread', None)
            if thread is not None:
                thread.join(_INDEX_JOIN_TIMEOUT)
                if thread.is_alive():
                    logger.warning('the indexing thread did not stop within %.0f s',
                                   _INDEX_JOIN_TIMEOUT)
            db = getattr(self, 'db', None)
            if db is not None:
                db.close()

    # -- storage ---------------------------------------------------------------------------

    def on_receive_store(self, context: PContextDef, ds: BinaryIO | bytes) -> statuses.Status:
        """Success once the data set's header reads as the index needs it.

        A data set pydicom cannot parse, or without SOP Instance UID, is refused with C000H
        (cannot understand, PS3.4 B.2.3) rather than filed where no query would find it.
        The header is read once: its index entry waits here for :meth:`keep_file`.
        """
        try:
            entry = self._entry_of(ds)
        except (InvalidDataSetError, ValueError, OSError) as exc:
            raise EventHandlingError(f'the data set cannot be indexed: {exc}') from exc
        if not isinstance(ds, (bytes, bytearray, memoryview)):
            with self._received_lock:
                self._received[ds] = entry
        return statuses.SUCCESS

    @staticmethod
    def _entry_of(ds: BinaryIO | bytes) -> IndexEntry:
        """The index entry of a received data set; its file is left where it was."""
        if isinstance(ds, (bytes, bytearray, memoryview)):
            return index_entry(read_header(ds))
        position = ds.tell()
        try:
            return index_entry(read_header(ds))
        finally:
            ds.seek(position)  # where the storing AE expects the file

    def keep_file(self, fp: Any, command_set: Dataset) -> None:
        """Put the received file in place (:attr:`file_naming`), then index it."""
        with self._received_lock:
            entry = self._received.pop(fp, None)
        target = self.place_file(fp, command_set)
        if target is None:
            return
        if entry is None:  # on_receive_store was overridden: read the header now
            self.db.add_file(target)
        else:
            self.db.add_entry(entry, target.resolve(), os.stat(target).st_mtime)
        logger.info('stored and indexed %s', target.name)

    def discard_file(self, fp: BinaryIO) -> None:
        """Forget the index entry of a refused data set, and delete its file."""
        with self._received_lock:
            self._received.pop(fp, None)
        super().discard_file(fp)

    def on_receive_echo(self, context: PContextDef) -> statuses.Status:
        logger.info('C-ECHO')
        return statuses.SUCCESS

    # -- query/retrieve --------------------------------------------------------------------

    @staticmethod
    def _root(context: PContextDef) -> str:
        return 'STUDY' if str(context.sop_class) in _STUDY_ROOT else 'PATIENT'

    def _paths(self, context: PContextDef, ds: Dataset) -> list[str]:
        try:
            self._note_partial('C-MOVE/C-GET')
            return self.db.paths(ds, self._root(context))
        except QueryError as exc:
            # PS3.4 C.4.1.1.4: A900, the identifier does not match the SOP class
            raise EventHandlingError(str(exc), status=0xA900) from exc

    def on_receive_find(self, context: PContextDef, ds: Dataset) -> Iterator[tuple[Dataset, Any]]:
        """PS3.4 C.4.1.3: a pending response per matching entity at the query level."""
        root = self._root(context)
        try:
            level = self.db.level_of(ds, root)
            if self.hierarchical_only and not getattr(
                    agreed_options(context.sop_class), 'relational', False):
                check_hierarchical(ds, level, root)  # PS3.4 C.4.1.2.1: hierarchical only
        except QueryError as exc:
            # PS3.4 C.4.1.1.4: A900, the identifier does not match the SOP class
            raise EventHandlingError(str(exc), status=0xA900) from exc
        self._note_partial('C-FIND')
        answers = list(self.db.find(ds, root))
        logger.info('C-FIND %s root, %s level: %d match(es)', root,
                    ds.get('QueryRetrieveLevel', ''), len(answers))
        return ((answer, statuses.C_FIND_PENDING) for answer in answers)

    def on_receive_move(self, context: PContextDef, ds: Dataset, destination: str) -> Any:
        """PS3.4 C.4.2.3: the destination's address and the files to send it."""
        found = self._paths(context, ds)
        remote = self.destinations.get(destination.strip())
        if remote is None:
            logger.warning('C-MOVE to unknown destination %r (add it to --destinations)',
                           destination.strip())
        logger.info('C-MOVE to %s: %d instance(s)', destination.strip(), len(found))
        return remote, len(found), iter(found)

    def on_receive_get(self, context: PContextDef, ds: Dataset) -> Any:
        """PS3.4 C.4.3.3: the files to send back on the same association."""
        found = self._paths(context, ds)
        logger.info('C-GET: %d instance(s)', len(found))
        return len(found), iter(found)


# --- the command line ---------------------------------------------------------------------------


def qrscp(argv: Sequence[str] | None = None, *, ready: Any = None) -> int:
    """``pynetdicom2-qrscp [options] [port]``: serve Q/R over ``-od`` until interrupted.

    ``ready`` (for embedding) is called with the :class:`QRSCP` once it listens.

    Usage (it serves until stopped, so this is not run as a doctest)::

        qrscp(['-aet', 'PACS', '-od', 'pacs', '--destinations', 'dest.ini', '11112'])
    """
    parser = dcmtk_parser('pynetdicom2-qrscp',
                     'DICOM Query/Retrieve SCP (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET) over a '
                     'folder,\nindexed in SQLite or PostgreSQL; Patient Root and Study Root '
                     'models')
    add_server_options(parser, 'QRSCP')
    parser.add_argument('--require-called-aet', action='store_true',
                        help='reject associations that call another AE title than -aet '
                             '(A-ASSOCIATE-RJ 1/1/7; default: answer any called AE title)')
    parser.add_argument('--max-associations', type=int, default=None, metavar='[n]umber',
                        help='reject associations beyond n at once (default: no limit)')
    storage = parser.add_argument_group('storage and index options')
    storage.add_argument('-od', '--storage-dir', '--output-directory', dest='storage_dir',
                         default='.', metavar='[d]irectory',
                         help='serve and store objects in existing directory d (default: .)')
    storage.add_argument('--db', default=None, metavar='[f]ile|URL',
                         help=f'SQLite index file (default: {DEFAULT_DB_NAME} in -od), or a '
                              'PostgreSQL database shared by several qrscp: '
                              'postgresql://user@host:port/dbname'),
    storage.add_argument('--fsync', action='store_true',
                         help='answer a C-STORE Success only once its file and directory are '
                              'on the disk (fsync): nothing acknowledged is lost in a power cut')
    storage.add_argument('--destinations', default=None, metavar='[f]ile',
                         help='INI file of C-MOVE destinations: [destinations] then '
                              'lines AET = host:port')
    ns = parser.parse_args(argv)

    def body() -> int:
        directory = existing_directory(ns.storage_dir)
        destinations = load_destinations(ns.destinations) if ns.destinations else {}
        workers = ns.workers is not None and ns.workers > 1
        if workers and not (ns.db and is_database_url(ns.db)):
            raise ToolError('--workers needs --db postgresql://...: an SQLite index is '
                            'written by one process at a time')
        with listen_errors(ns.port, ns.bind):
            scp = QRSCP(directory, ns.aetitle, ns.port, host=ns.bind, db_path=ns.db,
                        destinations=destinations, accept=ns.accept,
                        max_associations=ns.max_associations, max_pdu_length=ns.max_pdu,
                        index_now=not workers)
        scp.fsync = ns.fsync
        scp.require_called_aet = ns.require_called_aet
        configure(scp, ns)

        return serve_until_stopped(
            scp, ready, '%s listening on %s, serving %s (%d instances indexed, %s), '
            '%d destination(s)', ns.aetitle, format_address(ns.bind or '*', scp.local_ae.port),
            directory,
            len(scp.db), 'indexing the folder' if scp.indexing else 'index up to date',
            len(destinations), ns=ns,
        )

    return run_dcmtk(ns, f'port {ns.port}', body)


def qrscp_main() -> None:
    """Entry point of ``pynetdicom2-qrscp``."""
    sys.exit(qrscp())
