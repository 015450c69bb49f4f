"""What the command-line tools share: query keys, sending files, options, logging, serving.

This module owns the pieces that :mod:`pynetdicom2.apps` (the DCMTK-style ``echoscu`` ...
``getscu`` and ``storescp``), :mod:`pynetdicom2.qrscp` (``pynetdicom2-qrscp``) and
:mod:`pynetdicom2.cli` (``python -m pynetdicom2``) would otherwise each write again:

* query keys given as ``KEY=VALUE`` (``-k`` or ``--attr``): :func:`parse_attrs` and
  :func:`build_identifier` (PS3.4 C.4.1.1.3: the identifier of a C-FIND, C-MOVE or C-GET);
* sending Part-10 files as they are: :func:`collect_files` and :class:`StoreRun` (one
  association per transfer syntax, at most 128 presentation contexts each, PS3.8 9.3.2.2);
* DCMTK's option spelling for the network (``-aet``, ``-aec``, ``-to``, ``-ta``, ``-td``,
  ``-pdu``): :func:`dcmtk_parser`, :func:`add_network`, :func:`configure`, and
  :func:`run_dcmtk`, which turns an error into one ``E:`` line and exit status 1;
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
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydicom import datadict
from pydicom.dataset import Dataset

from pynetdicom2 import __version__, sopclass, uids
from pynetdicom2.applicationentity import AEBase, ClientAE, StorageAE, check_async_window
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.exceptions import (
    AssociationRejectedError,
    ConnectionFailedError,
    NetDICOMError,
)
from pynetdicom2.filestorage import read_meta
from pynetdicom2.negotiation import MAX_CONTEXTS
from pynetdicom2.statuses import Status

__all__ = [
    'FLOAT_VR', 'INT_VR', 'MAX_PDU', 'MIN_PDU', 'StoreRun', 'ToolError', 'add_network',
    'add_server_options', 'max_pdu_value',
    'build_identifier', 'collect_files', 'configure', 'convert_tag', 'convert_value',
    'dcmtk_parser', 'existing_directory', 'listen_errors', 'move_receiver', 'parse_attrs',
    'print_error',
    'remote_of',
    'run_dcmtk', 'serve_until_stopped', 'stderr_logging', 'sub_operation_counts',
]

logger = logging.getLogger('pynetdicom2.toolsupport')

#: Value representations whose values a ``KEY=VALUE`` key converts to int.
INT_VR = frozenset({'IS', 'SL', 'SS', 'SV', 'UL', 'US', 'UV'})
#: Value representations whose values a ``KEY=VALUE`` key converts to float.
FLOAT_VR = frozenset({'DS', 'FD', 'FL'})


class ToolError(NetDICOMError):
    """A failure the user can act on (a missing file, a bad option): one line, exit 1."""


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


def move_receiver(storage_dir: str, ae_title: str, port: int | None) -> Any:
    """A storage SCP (and C-ECHO) titled ``ae_title`` on ``port`` that writes to
    ``storage_dir``, to receive a C-MOVE's sub-operations (PS3.4 C.4.2.2) for the length of a
    ``with`` block; with ``port`` None, a block that does nothing.
    """
    if port is None:
        return contextlib.nullcontext()
    receiver = StorageAE(storage_dir, ae_title, port, uids.ALL_TS)
    return receiver.add_scp(sopclass.storage_scp).add_scp(sopclass.verification_scp)


def sub_operation_counts(operation: str, response: Any) -> str:
    """``<operation>: completed N, failed N, warning N`` of a C-MOVE or C-GET's final response
    (PS3.4 C.4.2.1.7, C.4.3.1.6: the numbers of completed, failed and warning sub-operations)."""
    return (f'{operation}: completed {response.num_of_completed_sub_ops}, '
            f'failed {response.num_of_failed_sub_ops}, warning {response.num_of_warning_sub_ops}')


# --- DCMTK's options and error lines ------------------------------------------------------------


def dcmtk_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with DCMTK's general options (``--version``, ``-v``, ``-d``); ``+``
    starts an option too (``+sd``, ``+P``)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, prefix_chars='-+', allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    general = parser.add_argument_group('general options')
    general.add_argument('--version', action='version', version=f'{prog} (pynetdicom2 '
                                                                  f'{__version__})')
    general.add_argument('-v', '--verbose', action='store_true',
                         help='verbose mode, print processing details')
    general.add_argument('-d', '--debug', action='store_true',
                         help='debug mode, print debug information (and tracebacks)')
    return parser


def add_server_options(parser: argparse.ArgumentParser, aet: str) -> None:
    """What every server tool takes: the port (default 104), the network options with our AE
    title ``aet``, ``--bind`` (the interface) and ``--accept`` (calling AE titles allowed)."""
    parser.add_argument('port', type=int, nargs='?', default=104,
                        help='tcp/ip port number to listen on (default: 104)')
    add_network(parser, aet, called=False)
    parser.add_argument('--bind', default='', metavar='address',
                        help='interface to listen on (default: all)')
    parser.add_argument('--accept', action='append', default=[], metavar='[a]etitle',
                        help='accept associations only from this calling AE title '
                             '(repeatable; default: any)')


#: The ``-pdu`` range, DCMTK's (its ASC_MINIMUMPDUSIZE and ASC_MAXIMUMPDUSIZE): 0, which
#: PS3.8 D.1 allows and means unlimited, would let every peer send PDUs of any size.
MIN_PDU = 4096
MAX_PDU = 131072


def max_pdu_value(text: str) -> int:
    """``-pdu``: an integer from :data:`MIN_PDU` to :data:`MAX_PDU`, else an argparse error.

    >>> max_pdu_value('16384')
    16384
    >>> max_pdu_value('0')
    Traceback (most recent call last):
      ...
    argparse.ArgumentTypeError: 0 is not in 4096..131072 (bytes, as DCMTK allows)
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
    if not MIN_PDU <= value <= MAX_PDU:
        raise argparse.ArgumentTypeError(
            f'{value} is not in {MIN_PDU}..{MAX_PDU} (bytes, as DCMTK allows)'
        )
    return value


def add_network(parser: argparse.ArgumentParser, aet: str, called: bool = True) -> None:
    """DCMTK's network options: ``-aet`` (default ``aet``), ``-aec`` (when ``called``),
    ``-to``, ``-ta``, ``-td`` and ``-pdu``."""
    group = parser.add_argument_group('network options')
    group.add_argument('-aet', '--aetitle', default=aet, metavar='[a]etitle',
                       help=f'set my AE title (default: {aet})')
    if called:
        group.add_argument('-aec', '--call', default='ANY-SCP', metavar='[a]etitle',
                           help='set called AE title of peer (default: ANY-SCP)')
    group.add_argument('-to', '--timeout', type=float, default=None, metavar='[s]econds',
                       help='timeout for connection requests (default: 15)')
    group.add_argument('-ta', '--acse-timeout', type=float, default=30.0, metavar='[s]econds',
                       help='timeout for ACSE messages (default: 30)')
    group.add_argument('-td', '--dimse-timeout', type=float, default=None, metavar='[s]econds',
                       help='timeout for DIMSE messages (default: 15; a server aborts an '
                            'association that sends none for this long, default 60)')
    group.add_argument('-pdu', '--max-pdu', type=max_pdu_value, default=16384,
                       metavar='[n]umber',
                       help=f'set max receive pdu to n bytes ({MIN_PDU}..{MAX_PDU}; '
                            'default: 16384)')
    group.add_argument('--async-window', type=int, default=None, metavar='[n]umber',
                       help='up to n operations outstanding at once, if the peer agrees (PS3.7 '
                            'D.3.3.3 asynchronous operations window; 0: unlimited; default: '
                            'one at a time, no window proposed)')


def configure(ae: AEBase, ns: argparse.Namespace) -> AEBase:
    """Apply the timeout options to an AE.

    ``-td`` bounds the wait for a DIMSE message: a response for a client, and for a server
    also the next request of an idle association (its ``network_timeout``).
    """
    if ns.timeout is not None:
        ae.connect_timeout = ns.timeout
    ae.artim_timeout = ns.acse_timeout
    if ns.dimse_timeout is not None:
        ae.dcm_timeout = ns.dimse_timeout
        ae.network_timeout = ns.dimse_timeout
    if ns.async_window is not None:
        ae.async_window = check_async_window((ns.async_window, ns.async_window))
    return ae


def remote_of(ns: argparse.Namespace) -> RemoteAEConfig:
    """The peer of a DCMTK-style SCU: ``-aec``, ``peer`` and ``port``."""
    return RemoteAEConfig(ns.call, ns.peer, ns.port)


def _error_line(exc: BaseException, peer: str) -> str | None:
    if isinstance(exc, AssociationRejectedError):
        return (f'association rejected by {peer} (result {exc.result}, source {exc.source}, '
                f'reason {exc.diagnostic}): check -aec, and that the peer accepts our -aet')
    if isinstance(exc, ConnectionFailedError):
        return f'{exc}: check the peer and port, and that the peer is listening'
    if isinstance(exc, (NetDICOMError, OSError)):
        return str(exc)
    if isinstance(exc, ValueError):  # a bad -k key or --filepath template
        return str(exc)
    return None


def run_dcmtk(ns: argparse.Namespace, peer: str, body: Callable[[], int]) -> int:
    """Run ``body()`` with logging set up (``-v``, ``-d``); its exit status.

    An error is one ``E:`` line on stderr and status 1 (with ``-d``, the traceback);
    Ctrl-C is status 130. ``peer`` names the other side in the line.
    """
    with stderr_logging(ns.debug, ns.verbose, '%(levelname).1s: %(message)s'):
        try:
            return int(body())
        except KeyboardInterrupt:
            return 130
        except Exception as exc:
            if ns.debug:
                raise
            print_error(exc, 'E: ', lambda error: _error_line(error, peer))
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
def listen_errors(port: int) -> Iterator[None]:
    """Turn a failure to listen on ``port`` (in use, not allowed) into a :class:`ToolError`."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None:
            raise
        raise ToolError(f'cannot listen on port {port}: {exc.strerror}: choose another port, '
                        'or stop what is using it') from exc


# --- logging and serving ------------------------------------------------------------------------


@contextlib.contextmanager
def stderr_logging(debug: bool, verbose: bool, fmt: str) -> Iterator[None]:
    """Log the library to stderr: DEBUG with ``-d``, INFO with ``-v``, else errors only.

    The ``pynetdicom2`` logger gets this handler alone and stops propagating while the block
    runs; its handlers, level and propagation are put back afterwards.
    """
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    package_logger = logging.getLogger('pynetdicom2')
    saved = package_logger.handlers[:], package_logger.level, package_logger.propagate
    package_logger.handlers[:] = [handler]
    package_logger.setLevel(level)
    package_logger.propagate = False
    try:
        yield
    finally:
        package_logger.handlers[:], level, package_logger.propagate = saved
        package_logger.setLevel(level)


def serve_until_stopped(scp: Any, ready: Callable[[Any], Any] | None, banner: str,
                        *banner_args: Any) -> None:
    """Serve ``scp`` until Ctrl-C or SIGTERM (in the main thread), then quit it.

    ``banner`` (with ``banner_args``) is logged at INFO first, then ``ready(scp)`` is called
    (for embedding: the caller learns the AE once it listens).
    """

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if in_main_thread else None
    try:
        logger.info(banner, *banner_args)
        if ready is not None:
            ready(scp)
        try:
            scp.serve_forever()
        except KeyboardInterrupt:
            logger.info('interrupted: stopping')
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        scp.quit()
