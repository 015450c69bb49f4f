"""What the command-line tools share: query keys, sending files, options, logging, serving.

This module owns the pieces that :mod:`pynetdicom2.apps` (the DCMTK-style ``echoscu`` ...
``getscu`` and ``storescp``), :mod:`pynetdicom2.qrscp` (``pynetdicom2-qrscp``) and
:mod:`pynetdicom2.cli` (``python -m pynetdicom2``) would otherwise each write again:

* query keys given as ``KEY=VALUE`` (``-k`` or ``--attr``): :func:`parse_attrs` and
  :func:`build_identifier` (PS3.4 C.4.1.1.3: the identifier of a C-FIND, C-MOVE or C-GET);
* sending Part-10 files as they are: :func:`collect_files` and :class:`StoreRun` (one
  association per transfer syntax, at most 128 presentation contexts each, PS3.8 9.3.2.2);
* DCMTK's flags (general, network, TLS and user identity options): :func:`dcmtk_parser`,
  :func:`add_network`, :func:`add_server_options`, :func:`configure` and :func:`remote_of`
  live in :mod:`pynetdicom2.toolflags` and are importable from here too;
* :func:`run_dcmtk`, which logs at the level asked (``-q``, ``-v``, ``-d``, ``-ll``) and turns
  an error into one ``E:`` line and exit status 1;
* logging to stderr (:func:`stderr_logging`), and a server run until Ctrl-C or SIGTERM
  (:func:`serve_until_stopped`), with a clear line for a port in use (:func:`listen_errors`).

Usage::

    from pynetdicom2 import toolsupport

    parser = toolsupport.dcmtk_parser('mytool', 'my DICOM tool')
    toolsupport.add_network(parser, 'MYTOOL')
    ns = parser.parse_args()
    identifier = toolsupport.build_identifier(['PatientID=P1', 'StudyInstanceUID='])
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydicom import datadict
from pydicom.dataset import Dataset

from pynetdicom2 import sopclass, uids
from pynetdicom2.applicationentity import ClientAE, StorageAE
from pynetdicom2.exceptions import (
    AssociationRejectedError,
    ConnectionFailedError,
    NetDICOMError,
)
from pynetdicom2.filestorage import read_meta
from pynetdicom2.negotiation import MAX_CONTEXTS
from pynetdicom2.statuses import Status
from pynetdicom2.toolflags import (
    MAX_PDU,
    MIN_PDU,
    DcmtkFormatter,
    ToolError,
    add_network,
    add_server_options,
    configure,
    dcmtk_parser,
    listen_port,
    log_level,
    max_pdu_value,
    port_number,
    remote_of,
    uses_tls,
)
from pynetdicom2.transport import format_address

__all__ = [
    'FLOAT_VR', 'INT_VR', 'MAX_PDU', 'MIN_PDU', 'StoreRun', 'ToolError', 'add_network',
    'add_server_options', 'build_identifier', 'collect_files', 'configure', 'convert_tag',
    'convert_value', 'dcmtk_parser', 'existing_directory', 'format_address', 'listen_errors',
    'listen_port', 'max_pdu_value', 'move_receiver', 'parse_attrs', 'port_number',
    'print_error', 'remote_of', 'run_dcmtk', 'serve_until_stopped', 'stderr_logging',
    'sub_operation_counts',
]

logger = logging.getLogger('pynetdicom2.toolsupport')

#: Value representations whose values a ``KEY=VALUE`` key converts to int.
INT_VR = frozenset({'IS', 'SL', 'SS', 'SV', 'UL', 'US', 'UV'})
#: Value representations whose values a ``KEY=VALUE`` key converts to float.
FLOAT_VR = frozenset({'DS', 'FD', 'FL'})


# --- query keys ---------------------------------------------------------------------------------


def convert_tag(text: str) -> int | str:
    """A tag as ``int`` from ``'00100010'`` or ``'0010,0010'``; a keyword is returned as is.

    Raises :class:`ValueError` for text that is neither a hex tag nor a known keyword.

    >>> hex(convert_tag('0010,0010')), convert_tag('PatientName')
    ('0x100010', 'PatientName')
    """
    cleaned = text.strip().strip('()')
    digits = cleaned.replace(',', '')
    if len(digits) == 8 and (',' in cleaned or cleaned == digits):
        try:
            return int(digits, 16)
        except ValueError:
            pass
    if datadict.tag_for_keyword(cleaned) is not None:
        return cleaned
    raise ValueError(
        f'unknown attribute {text!r}: use a DICOM keyword (PatientName) or a tag '
        '(00100010 or 0010,0010)'
    )


def convert_value(vr: str, text: str) -> int | float | str | None:
    """``text`` as the Python value for ``vr``: None when empty, int, float or str.

    >>> convert_value('US', '16'), convert_value('DS', '2.5'), convert_value('PN', '')
    (16, 2.5, None)
    """
    if text == '':
        return None
    if vr in INT_VR:
        return int(text)
    if vr in FLOAT_VR:
        return float(text)
    return text


def parse_attrs(attrs: Iterable[str]) -> list[tuple[int, str, int | float | str | None]]:
    """``['Key=Val', '00100010=Val', '0010,0010=Val']`` as ``(tag, vr, value)`` triples.

    Each item is split on its first ``=``. Raises :class:`ValueError` for an item without
    ``=``, an unknown attribute, or a value that does not fit the attribute's VR.

    >>> parse_attrs(['PatientName=Doe*', '0020,000D='])
    [(1048592, 'PN', 'Doe*'), (2097165, 'UI', None)]
    """
    parsed = []
    for item in attrs:
        key, sep, text = item.partition('=')
        if not sep:
            raise ValueError(f'{item!r} is not KEY=VALUE (e.g. PatientName=Doe* or 00100020=)')
        tag_or_keyword = convert_tag(key)
        tag = (
            tag_or_keyword if isinstance(tag_or_keyword, int)
            else datadict.tag_for_keyword(tag_or_keyword)
        )
        assert tag is not None
        try:
            vr = datadict.dictionary_VR(tag)
        except KeyError:
            raise ValueError(
                f'unknown attribute {key!r}: the tag is not in the DICOM dictionary'
            ) from None
        try:
            value = convert_value(vr, text)
        except ValueError:
            raise ValueError(f'{key}={text!r}: not a valid {vr} value') from None
        parsed.append((tag, vr, value))
    return parsed


def build_identifier(
    keys: Iterable[str], level: str = 'STUDY', charset: str | None = None
) -> Dataset:
    """A query/retrieve identifier: ``level``, ``charset`` and the ``KEY=VALUE`` keys.

    A ``QueryRetrieveLevel=...`` key overrides ``level``; the level is upper case.

    >>> ds = build_identifier(['PatientID=P*', 'PatientName='], 'patient')
    >>> ds.QueryRetrieveLevel, ds.PatientID, 'PatientName' in ds
    ('PATIENT', 'P*', True)
    """
    ds = Dataset()
    ds.QueryRetrieveLevel = level.upper()
    if charset:
        ds.SpecificCharacterSet = charset
    for tag, vr, value in parse_attrs(keys):
        ds.add_new(tag, vr, value)
    ds.QueryRetrieveLevel = str(ds.QueryRetrieveLevel or level).upper()
    return ds


# --- sending files ------------------------------------------------------------------------------


def collect_files(
    inputs: Sequence[str], *, scan_directories: bool = True, recurse: bool = True
) -> list[Path]:
    """The files named by ``inputs``: files as given, directories scanned (sorted).

    Raises :class:`ToolError` for a name that does not exist, or a directory when
    ``scan_directories`` is false (DCMTK's ``+sd``; ``recurse`` is its ``+r``).
    """
    files: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            if not scan_directories:
                raise ToolError(f'{name} is a directory: use +sd (and +r) to scan it')
            found = path.rglob('*') if recurse else path.glob('*')
            files.extend(sorted(p for p in found if p.is_file()))
        elif path.exists():
            files.append(path)
        else:
            raise ToolError(f'cannot read {name}: no such file or directory')
    return files


class StoreRun:
    """C-STORE Part-10 files as they are, each in its own transfer syntax.

    The files are read up to their File Meta Information (:func:`read_meta`) when the run
    is made: those that cannot be read, are not Part-10 files or name no SOP class or
    transfer syntax are :attr:`skipped`, with the reason. :meth:`send` then opens one
    association per transfer syntax (and per 128 SOP classes) and yields an outcome per file.

    >>> import tempfile
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study, write_dataset
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(Path(tmp, 'pacs')) as scp:
    ...     run = StoreRun([write_dataset(ds, tmp) for ds in make_study(1, 2)])
    ...     outcomes = list(run.send(lambda ts: ClientAE('SCU', [ts]), scp.remote))
    ...     [ok for _, ok, _ in outcomes], run.summary()
    ([True, True], 'sent 2, failed 0, skipped 0')
    """

    def __init__(self, files: Iterable[Path]) -> None:
        #: transfer syntax -> SOP class -> files
        self.groups: dict[str, dict[str, list[Path]]] = {}
        #: ``(path, reason)`` of each file not sent
        self.skipped: list[tuple[Path, str]] = []
        self.sent = 0
        self.failed = 0
        for path in files:
            try:
                with open(path, 'rb') as fp:
                    meta = read_meta(fp)
            except OSError as exc:
                self.skipped.append((path, f'cannot read it: {exc.strerror or exc}'))
                continue
            except NetDICOMError:
                self.skipped.append((path, 'not a DICOM Part-10 file'))
                continue
            if not meta.sop_class_uid or not meta.transfer_syntax:
                self.skipped.append((path, 'no SOP class or transfer syntax in its file meta'))
                continue
            by_class = self.groups.setdefault(str(meta.transfer_syntax), {})
            by_class.setdefault(str(meta.sop_class_uid), []).append(path)

    @property
    def files(self) -> list[Path]:
        """The files to send, in the order :meth:`send` sends them."""
        return [path for by_class in self.groups.values() for paths in by_class.values()
                for path in paths]

    def send(
        self, client_for: Callable[[str], ClientAE], remote: Any
    ) -> Iterator[tuple[Path, bool, str]]:
        """``(path, stored, detail)`` per file: the status (Success or Warning: stored), or
        why the peer did not take it. ``client_for(transfer_syntax)`` makes the sending AE."""
        for ts, by_class in self.groups.items():
            classes = list(by_class)
            for start in range(0, len(classes), MAX_CONTEXTS):
                chunk = classes[start:start + MAX_CONTEXTS]
                client = client_for(ts).add_scu(sopclass.storage_scu, chunk)
                with client.request_association(remote) as assoc:
                    yield from self._send_chunk(assoc, ts, chunk, by_class)

    def _send_chunk(self, assoc: Any, ts: str, chunk: list[str],
                    by_class: dict[str, list[Path]]) -> Iterator[tuple[Path, bool, str]]:
        accepted = []
        for sop_class in chunk:
            if sop_class in assoc.sop_classes_as_scu:
                accepted += by_class[sop_class]
                continue
            for path in by_class[sop_class]:
                self.failed += 1
                yield path, False, f'peer refused {sop_class} in {ts}'
        # As many outstanding at once as the association's window allows (one without).
        for path, status in assoc.store_many(accepted):
            stored = isinstance(status, Status) and (status.is_success or status.is_warning)
            if stored:
                self.sent += 1
            else:
                self.failed += 1
            yield path, stored, str(status)

    def summary(self) -> str:
        """``sent N, failed N, skipped N``."""
        return f'sent {self.sent}, failed {self.failed}, skipped {len(self.skipped)}'


def move_receiver(storage_dir: str, ae_title: str, port: int | None, *,
                  ssl_context: ssl.SSLContext | None = None) -> Any:
    """A storage SCP (and C-ECHO) titled ``ae_title`` on ``port`` that writes to
    ``storage_dir``, to receive a C-MOVE's sub-operations (PS3.4 C.4.2.2) for the length of a
    ``with`` block; with ``port`` None, a block that does nothing. ``ssl_context`` (a server
    context, e.g. :func:`~pynetdicom2.toolflags.server_tls`): it accepts over TLS.
    """
    if port is None:
        return contextlib.nullcontext()
    receiver = StorageAE(storage_dir, ae_title, port, uids.ALL_TS, ssl_context=ssl_context)
    return receiver.add_scp(sopclass.storage_scp).add_scp(sopclass.verification_scp)


def sub_operation_counts(operation: str, response: Any) -> str:
    """``<operation>: completed N, failed N, warning N`` of a C-MOVE or C-GET's final response
    (PS3.4 C.4.2.1.7, C.4.3.1.6: the numbers of completed, failed and warning sub-operations)."""
    return (f'{operation}: completed {response.num_of_completed_sub_ops}, '
            f'failed {response.num_of_failed_sub_ops}, warning {response.num_of_warning_sub_ops}')


# --- DCMTK's options (in toolflags) and error lines -----------------------------------------


def _error_line(exc: BaseException, peer: str, ns: argparse.Namespace | None = None
                ) -> str | None:
    if isinstance(exc, AssociationRejectedError):
        identity = ' and our user identity' if getattr(ns, 'identity', None) else ''
        return (f'association rejected by {peer} (result {exc.result}, source {exc.source}, '
                f'reason {exc.diagnostic}): check -aec, and that the peer accepts our '
                f'-aet{identity}')
    if isinstance(exc, ConnectionFailedError):
        if isinstance(exc.__cause__, ssl.SSLError) or (ns is not None and uses_tls(ns)):
            return (f'{exc}: check the peer and port, and TLS: our +tls certificate, the CAs '
                    'we trust (+cf, +cd) and the peer\'s (or -ic)')
        return f'{exc}: check the peer and port, and that the peer is listening'
    if isinstance(exc, (NetDICOMError, OSError)):
        return str(exc)
    if isinstance(exc, ValueError):  # a bad -k key or --filepath template
        return str(exc)
    return None


def run_dcmtk(ns: argparse.Namespace, peer: str, body: Callable[[], int]) -> int:
    """Run ``body()`` with logging set up (``-q``, ``-v``, ``-d``, ``-ll``); its exit status.

    An error is one ``E:`` line on stderr and status 1 (at level debug or trace, ``-d``, the
    traceback instead); Ctrl-C is status 130. ``peer`` names the other side in the line.
    """
    level = log_level(ns)
    with stderr_logging(False, False, DcmtkFormatter('%(message)s'), level=level):
        try:
            return int(body())
        except KeyboardInterrupt:
            return 130
        except Exception as exc:
            if level <= logging.DEBUG:
                raise
            print_error(exc, 'E: ', lambda error: _error_line(error, peer, ns))
            return 1


def print_error(
    exc: BaseException, prefix: str, describe: Callable[[BaseException], str | None],
    advice: str = 'use -d for the traceback',
) -> None:
    """Print one line for ``exc`` on stderr: ``prefix`` and ``describe(exc)``, or, when that
    is None (an error nobody foresaw), its type and text and ``advice``.

    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     print_error(KeyError('k'), 'E: ', lambda exc: None)
    >>> err.getvalue()
    "E: unexpected KeyError: 'k' (use -d for the traceback)\\n"
    """
    line = describe(exc)
    if line is None:
        line = f'unexpected {type(exc).__name__}: {exc} ({advice})'
    print(f'{prefix}{line}', file=sys.stderr)


def existing_directory(directory: str, option: str = '-od') -> str:
    """``directory``, or :class:`ToolError` when it is not an existing directory."""
    if not os.path.isdir(directory):
        raise ToolError(f'{option} {directory}: no such directory')
    return directory


@contextlib.contextmanager
def listen_errors(port: int, address: str = '') -> Iterator[None]:
    """Turn a failure to listen on ``port`` (in use, not allowed) into a :class:`ToolError`;
    or on ``address`` (``--bind``: not an address of this machine, a name that does not
    resolve, IPv6 where the system has none), naming it."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None:
            raise
        if address and (isinstance(exc, socket.gaierror) or exc.errno in _ADDRESS_ERRORS):
            raise ToolError(f'cannot listen on {format_address(address, port)}: {exc.strerror}: '
                            '--bind takes an IP address or name of this machine') from exc
        raise ToolError(f'cannot listen on port {port}: {exc.strerror}: choose another port, '
                        'or stop what is using it') from exc


# Errors that blame the address to listen on, not the port.
_ADDRESS_ERRORS = frozenset(
    getattr(errno, name) for name in ('EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EINVAL')
    if hasattr(errno, name)
)


# --- logging and serving ------------------------------------------------------------------------


@contextlib.contextmanager
def stderr_logging(debug: bool, verbose: bool, fmt: str | logging.Formatter,
                   level: int | None = None) -> Iterator[None]:
    """Log the library to stderr: DEBUG with ``-d``, INFO with ``-v``, else errors only
    (``level``, when given, instead). ``fmt``: a format string or a formatter.

    The ``pynetdicom2`` logger gets this handler alone and stops propagating while the block
    runs. Tools may run at once in one process (a server in a thread, a client in another):
    the last one started is in force, and when the last one ends the logger's handlers,
    level and propagation are put back as they were before the first.
    """
    if level is None:
        level = logging.DEBUG if debug else logging.INFO if verbose else logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(fmt if isinstance(fmt, logging.Formatter) else logging.Formatter(fmt))
    setting = (handler, level)
    with _logging_lock:
        if not _logging_settings:
            package_logger = logging.getLogger('pynetdicom2')
            _logging_saved[:] = [package_logger.handlers[:], package_logger.level,
                                 package_logger.propagate]
        _logging_settings.append(setting)
        _apply_logging()
    try:
        yield
    finally:
        with _logging_lock:
            _logging_settings.remove(setting)
            _apply_logging()


# The tools' logging settings in force, the last one applied (see stderr_logging), and what
# the package logger was before the first.
_logging_lock = threading.Lock()
_logging_settings: list[tuple[logging.Handler, int]] = []
_logging_saved: list[Any] = []


def _apply_logging() -> None:
    package_logger = logging.getLogger('pynetdicom2')
    if _logging_settings:
        handler, level = _logging_settings[-1]
        package_logger.handlers[:] = [handler]
        package_logger.setLevel(level)
        package_logger.propagate = False
    elif _logging_saved:
        package_logger.handlers[:], level, package_logger.propagate = _logging_saved
        package_logger.setLevel(level)


def serve_until_stopped(scp: Any, ready: Callable[[Any], Any] | None, banner: str,
                        *banner_args: Any, ns: argparse.Namespace | None = None) -> int:
    """Serve ``scp`` until Ctrl-C or SIGTERM (in the main thread), then quit it; return
    the exit status (0, or 1 when worker processes kept dying).

    ``banner`` (with ``banner_args``) is logged at INFO first, then ``ready(scp)`` is called
    (for embedding: the caller learns the AE once it listens). ``ns``: the options of
    :func:`~pynetdicom2.toolflags.add_server_options`: ``--workers`` serves from that many
    processes (:mod:`pynetdicom2.workers`), ``--metrics-port`` serves the AE's counters to
    Prometheus (:mod:`pynetdicom2.prometheus`) until the end.
    """
    workers = getattr(ns, 'workers', None)
    metrics_port = getattr(ns, 'metrics_port', None)
    if workers is not None and workers > 1 and metrics_port is not None:
        raise ToolError('--metrics-port serves the counters of one process: not with '
                        '--workers above 1')

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if in_main_thread else None
    endpoint = None
    try:
        logger.info(banner, *banner_args)
        if metrics_port is not None:
            from pynetdicom2.prometheus import MetricsServer  # the optional extra

            try:
                endpoint = MetricsServer([scp], metrics_port,
                                         ns.metrics_host).start()  # type: ignore[union-attr]
            except NetDICOMError as exc:  # the port is taken; prometheus_client is missing
                raise ToolError(str(exc)) from exc
        if ready is not None:
            ready(scp)
        try:
            if workers is not None and workers > 1:
                return int(scp.serve_forever(workers=workers))
            scp.serve_forever()
        except KeyboardInterrupt:
            logger.info('interrupted: stopping')
        except NetDICOMError as exc:  # e.g. workers asked for where threads already run
            raise ToolError(str(exc)) from exc
        return 0
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        scp.quit()
        if endpoint is not None:
            endpoint.stop()
