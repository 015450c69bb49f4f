"""DCMTK-style console scripts: ``pynetdicom2-echoscu``, ``-storescu``, ``-storescp``,
``-findscu``, ``-movescu`` and ``-getscu``; ``pynetdicom2-qrscp`` (the Query/Retrieve SCP)
lives in :mod:`pynetdicom2.qrscp` and shares this module's options, logging and error lines.

This module owns the command lines that follow DCMTK's spelling, so that a PACS engineer's
fingers work unchanged: ``peer port`` positionals, ``-aet``/``-aec`` for the calling and
called AE titles, ``-to``/``-ta``/``-td`` for the connection, ACSE and DIMSE timeouts,
``-pdu`` for the maximum PDU we receive, ``-od`` for the output directory, ``+sd``/``+r`` to
scan directories, ``-v`` for progress and ``-d`` for the debug log (and tracebacks). The
DICOM work is done by the library; errors end with one ``E:`` line and exit status 1.

Usage::

    pynetdicom2-echoscu -aec PACS 10.0.0.5 104
    pynetdicom2-storescu -aec PACS +sd +r 10.0.0.5 104 ./study
    pynetdicom2-storescp -aet STORESCP -od ./incoming 11112
    pynetdicom2-findscu -aec PACS -S -k PatientName=Doe* -k StudyInstanceUID= 10.0.0.5 104
    pynetdicom2-movescu -aec PACS -aem WS1 +P 11113 -od in -k StudyInstanceUID=1.2.3 pacs 104
    pynetdicom2-getscu -aec PACS -od in -k StudyInstanceUID=1.2.3 10.0.0.5 104
    pynetdicom2-qrscp -aet PACS -od /srv/pacs --destinations dest.ini -v 11112
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import string
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from pydicom import dcmread
from pydicom.dataset import Dataset

from pynetdicom2 import __version__, sopclass, uids
from pynetdicom2.applicationentity import AEBase, ClientAE, ClientStorageAE, StorageAE
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.exceptions import (
    AssociationAbortedError,
    AssociationRejectedError,
    NetDICOMError,
)
from pynetdicom2.filestorage import StagedFile, read_meta

__all__ = ['echoscu', 'findscu', 'getscu', 'movescu', 'storescp', 'storescu']

logger = logging.getLogger('pynetdicom2.apps')

#: PS3.8 9.3.2.2: an association carries at most 128 presentation contexts.
_MAX_CONTEXTS = 128


# --- shared options -----------------------------------------------------------------------------


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
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


def _add_network(parser: argparse.ArgumentParser, aet: str, called: bool = True) -> None:
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
    group.add_argument('-pdu', '--max-pdu', type=int, default=16384, metavar='[n]umber',
                       help='set max receive pdu to n bytes (default: 16384)')


def _configure(ae: AEBase, ns: argparse.Namespace) -> AEBase:
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
    return ae


def _logging(ns: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    return stderr_logging(ns.debug, ns.verbose, '%(levelname).1s: %(message)s')


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


def _error_line(exc: BaseException, peer: str) -> str | None:
    if isinstance(exc, AssociationRejectedError):
        return (f'association rejected by {peer} (result {exc.result}, source {exc.source}, '
                f'reason {exc.diagnostic}): check -aec, and that the peer accepts our -aet')
    if isinstance(exc, AssociationAbortedError) and str(exc).startswith('cannot connect'):
        return f'{exc}: check the peer and port, and that the peer is listening'
    if isinstance(exc, (NetDICOMError, OSError)):
        return str(exc)
    if isinstance(exc, ValueError):  # a bad -k key or --filepath template
        return str(exc)
    return None


def _run(ns: argparse.Namespace, peer: str, body: Any) -> int:
    """Run ``body()`` with logging set up; one ``E:`` line for an error (traceback with -d)."""
    with _logging(ns):
        try:
            return int(body())
        except KeyboardInterrupt:
            return 130
        except Exception as exc:
            if ns.debug:
                raise
            line = _error_line(exc, peer)
            if line is None:
                line = f'unexpected {type(exc).__name__}: {exc} (use -d for the traceback)'
            print(f'E: {line}', file=sys.stderr)
            return 1


def _remote(ns: argparse.Namespace) -> RemoteAEConfig:
    return RemoteAEConfig(ns.call, ns.peer, ns.port)


# --- echoscu ------------------------------------------------------------------------------------


def echoscu(argv: Sequence[str] | None = None) -> int:
    """``pynetdicom2-echoscu [options] peer port``: send C-ECHO; 0 when all succeeded.

    >>> import tempfile
    >>> from pynetdicom2.loopback import LoopbackSCP
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp, 'PACS') as scp:
    ...     echoscu(['-aec', 'PACS', '--repeat', '2', scp.address, str(scp.port)])
    ...     [r.command for r in scp.requests]
    0
    ['C-ECHO', 'C-ECHO']
    """
    parser = _parser('pynetdicom2-echoscu', 'DICOM verification (C-ECHO) SCU')
    parser.add_argument('peer', help='hostname of DICOM peer')
    parser.add_argument('port', type=int, help='tcp/ip port number of peer')
    _add_network(parser, 'ECHOSCU')
    parser.add_argument('--repeat', type=int, default=1, metavar='[n]umber',
                        help='repeat n times (default: 1)')
    ns = parser.parse_args(argv)

    def body() -> int:
        client = _configure(ClientAE(ns.aetitle, max_pdu_length=ns.max_pdu), ns)
        client.add_scu(sopclass.verification_scu)
        failures = 0
        with client.request_association(_remote(ns)) as assoc:
            echo = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)
            for msg_id in range(1, ns.repeat + 1):
                status = echo(msg_id)
                logger.info('received echo response (status: %s)', status)
                failures += not status.is_success
        if failures:
            print(f'E: {failures} of {ns.repeat} C-ECHO requests failed', file=sys.stderr)
        return 1 if failures else 0

    return _run(ns, f'{ns.call} at {ns.peer}:{ns.port}', body)


# --- storescu -----------------------------------------------------------------------------------


class _Progress:
    """Files, MB/s and ETA on one line of a terminal; silent when it is not one."""

    def __init__(self, files: list[Path], stream: TextIO) -> None:
        self.total = len(files)
        self.total_bytes = sum(_size(path) for path in files)
        self.done = 0
        self.done_bytes = 0
        self.start = time.perf_counter()
        self.stream = stream
        self.enabled = stream.isatty()

    def advance(self, path: Path) -> None:
        self.done += 1
        self.done_bytes += _size(path)
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-6)
        rate = self.done_bytes / elapsed
        left = (self.total_bytes - self.done_bytes) / rate if rate else 0.0
        self.stream.write(f'\r{self.done}/{self.total} files  {rate / 1e6:6.1f} MB/s  '
                          f'ETA {left:5.0f} s ')
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self.done:
            self.stream.write('\n')
            self.stream.flush()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _collect(inputs: Sequence[str], scan_dirs: bool, recurse: bool) -> list[Path]:
    files: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            if not scan_dirs:
                raise NetDICOMError(f'{name} is a directory: use +sd (and +r) to scan it')
            found = path.rglob('*') if recurse else path.glob('*')
            files.extend(sorted(p for p in found if p.is_file()))
        elif path.exists():
            files.append(path)
        else:
            raise NetDICOMError(f'cannot read {name}: no such file or directory')
    return files


def storescu(argv: Sequence[str] | None = None) -> int:
    """``pynetdicom2-storescu [options] peer port dcmfile-in...``: C-STORE files.

    Each file is sent as it is, in its own transfer syntax (one association per transfer
    syntax met). Prints a summary (sent / failed / skipped with reasons); exit status 1 if any
    file failed, 0 otherwise.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study, write_dataset
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(Path(tmp, 'pacs'), 'PACS') as scp:
    ...     series = Path(tmp, 'study', 'series1')
    ...     series.mkdir(parents=True)
    ...     for ds in make_study(1, 2):
    ...         _ = write_dataset(ds, series)
    ...     storescu(['-aec', 'PACS', '+sd', '+r', scp.address, str(scp.port),
    ...               str(Path(tmp, 'study'))])
    ...     len(scp.stored_files())
    sent 2, failed 0, skipped 0
    0
    2
    """
    parser = _parser('pynetdicom2-storescu', 'DICOM storage (C-STORE) SCU')
    parser.add_argument('peer', help='hostname of DICOM peer')
    parser.add_argument('port', type=int, help='tcp/ip port number of peer')
    parser.add_argument('files', nargs='+', metavar='dcmfile-in',
                        help='DICOM file or directory to be transmitted')
    scan = parser.add_argument_group('input files')
    scan.add_argument('+sd', '--scan-directories', action='store_true',
                      help='scan directories for input files (dcmfile-in)')
    scan.add_argument('+r', '--recurse', action='store_true',
                      help='recurse within specified directories')
    _add_network(parser, 'STORESCU')
    ns = parser.parse_args(argv)

    def body() -> int:
        files = _collect(ns.files, ns.scan_directories, ns.recurse)
        groups: dict[str, dict[str, list[Path]]] = {}
        skipped: list[tuple[Path, str]] = []
        for path in files:
            try:
                with open(path, 'rb') as fp:
                    meta = read_meta(fp)
            except OSError as exc:
                skipped.append((path, f'cannot read it: {exc.strerror or exc}'))
                continue
            except NetDICOMError:
                skipped.append((path, 'not a DICOM Part-10 file'))
                continue
            if not meta.sop_class_uid or not meta.transfer_syntax:
                skipped.append((path, 'no SOP class or transfer syntax in its file meta'))
                continue
            by_class = groups.setdefault(str(meta.transfer_syntax), {})
            by_class.setdefault(str(meta.sop_class_uid), []).append(path)
        progress = _Progress([p for g in groups.values() for c in g.values() for p in c],
                             sys.stderr)
        sent = 0
        failed: list[tuple[Path, str]] = []
        for ts, by_class in groups.items():
            classes = list(by_class)
            for start in range(0, len(classes), _MAX_CONTEXTS):
                chunk = classes[start:start + _MAX_CONTEXTS]
                client = _configure(ClientAE(ns.aetitle, [ts], ns.max_pdu), ns)
                client.add_scu(sopclass.storage_scu, chunk)
                with client.request_association(_remote(ns)) as assoc:
                    msg_id = 0
                    for sop_class in chunk:
                        try:
                            service = assoc.get_scu(sop_class)
                        except NetDICOMError:
                            for path in by_class[sop_class]:
                                failed.append((path, f'peer refused {sop_class} in {ts}'))
                                progress.advance(path)
                            continue
                        for path in by_class[sop_class]:
                            msg_id += 1
                            status = service(str(path), msg_id)
                            progress.advance(path)
                            if status.is_success or status.is_warning:
                                sent += 1
                                logger.info('stored %s: %s', path, status)
                            else:
                                failed.append((path, str(status)))
        progress.finish()
        for path, reason in skipped:
            print(f'W: skipped {path}: {reason}', file=sys.stderr)
        for path, reason in failed:
            print(f'E: failed {path}: {reason}', file=sys.stderr)
        print(f'sent {sent}, failed {len(failed)}, skipped {len(skipped)}')
        return 1 if failed else 0

    return _run(ns, f'{ns.call} at {ns.peer}:{ns.port}', body)


# --- storescp -----------------------------------------------------------------------------------


#: Characters kept in a ``--filepath`` component; anything else becomes ``_``.
_SAFE_PATH_CHARACTERS = frozenset(
    'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_^ '
)


def _path_component(value: Any) -> str:
    text = ''.join(c if c in _SAFE_PATH_CHARACTERS else '_' for c in str(value)).strip()
    return text if text not in ('', '.', '..') else '_'


def render_filepath(template: str, ds: Dataset) -> Path:
    """A relative path from ``template`` and the attributes of ``ds``.

    ``{Keyword}`` fields are replaced by the attribute's value (``_`` when it is absent or
    empty); every character but letters, digits, ``.-_^`` and space becomes ``_``, so no
    value can climb out of the output directory.

    >>> ds = Dataset(); ds.PatientID = 'P/1'; ds.SOPInstanceUID = '1.2.3'
    >>> render_filepath('{PatientID}/{SOPInstanceUID}.dcm', ds).as_posix()
    'P_1/1.2.3.dcm'
    """
    parts = []
    for component in template.replace('\\', '/').split('/'):
        if not component:
            continue
        rendered = string.Formatter().vformat(component, (), _Attributes(ds))
        parts.append(_path_component(rendered))
    if not parts:
        raise ValueError(f'--filepath {template!r} names no file')
    return Path(*parts)


class _Attributes(dict):  # type: ignore[type-arg]
    """``str.format`` mapping of keywords to values of a data set."""

    def __init__(self, ds: Dataset) -> None:
        super().__init__()
        self.ds = ds

    def __missing__(self, keyword: str) -> str:
        value = self.ds.get(keyword)
        return '_' if value is None or value == '' else str(value)


def _serve_until_stopped(scp: Any, ready: Any, banner: str, *banner_args: Any) -> None:
    """Serve ``scp`` until Ctrl-C or SIGTERM (in the main thread), then quit it."""

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


class _StoreSCP(StorageAE):
    """The storage SCP of ``pynetdicom2-storescp``: calling AE title list, association limit,
    ``--filepath`` template."""

    filepath: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._targets = threading.local()

    def on_receive_store(self, context: Any, ds: Any) -> Any:
        logger.info('received %s', context.sop_class)
        self._targets.path = None
        if self.filepath and hasattr(ds, 'read'):
            header = dcmread(ds, stop_before_pixels=True, force=True)
            self._targets.path = self.storage_dir / render_filepath(self.filepath, header)
        return super().on_receive_store(context, ds)

    def keep_file(self, fp: Any, command_set: Dataset) -> None:
        target = getattr(self._targets, 'path', None)
        self._targets.path = None
        if target is None or not isinstance(fp, StagedFile):
            super().keep_file(fp, command_set)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            fp.commit(target)  # os.replace: atomic, and a later copy replaces an earlier one
        logger.debug('stored %s', target)


def storescp(argv: Sequence[str] | None = None, *, ready: Any = None) -> int:
    """``pynetdicom2-storescp [options] [port]``: receive C-STOREs into ``-od``.

    Files are written atomically as ``<SOPInstanceUID>.dcm``, or where ``--filepath``
    says (a template of attribute keywords). Serves until interrupted
    (Ctrl-C or SIGTERM). ``ready`` (for embedding) is called with the AE once it listens.

    Usage (it serves until stopped, so this is not run as a doctest)::

        storescp(['-aet', 'STORESCP', '-od', 'incoming', '11112'])
    """
    parser = _parser('pynetdicom2-storescp', 'DICOM storage (C-STORE) SCP')
    parser.add_argument('port', type=int, nargs='?', default=104,
                        help='tcp/ip port number to listen on (default: 104)')
    _add_network(parser, 'STORESCP', called=False)
    parser.add_argument('--bind', default='', metavar='address',
                        help='interface to listen on (default: all)')
    parser.add_argument('--accept', action='append', default=[], metavar='[a]etitle',
                        help='accept associations only from this calling AE title '
                             '(repeatable; default: any)')
    output = parser.add_argument_group('output options')
    output.add_argument('-od', '--output-directory', default='.', metavar='[d]irectory',
                        help='write received objects to existing directory d (default: .)')
    output.add_argument('--filepath', default=None, metavar='template',
                        help='file path under -od from attribute values, e.g. '
                             "'{PatientID}/{StudyInstanceUID}/{SOPInstanceUID}.dcm' "
                             '(default: <SOPInstanceUID>.dcm)')
    parser.add_argument('--max-associations', type=int, default=None, metavar='[n]umber',
                        help='reject associations beyond n at once (default: no limit)')
    ns = parser.parse_args(argv)

    def body() -> int:
        directory = ns.output_directory
        if not os.path.isdir(directory):
            raise NetDICOMError(f'-od {directory}: no such directory')
        try:
            scp = _StoreSCP(directory, ns.aetitle, ns.port, uids.ALL_TS, ns.max_pdu,
                            host=ns.bind)
        except OSError as exc:
            if exc.errno is None:
                raise
            raise NetDICOMError(f'cannot listen on port {ns.port}: {exc.strerror}: choose '
                                'another port, or stop what is using it') from exc
        scp.allowed_calling_aets = frozenset(ns.accept) or None
        scp.maximum_associations = ns.max_associations
        if ns.filepath:
            render_filepath(ns.filepath, Dataset())  # a bad template fails now, not per file
            scp.filepath = ns.filepath
        _configure(scp, ns)
        scp.add_scp(sopclass.storage_scp).add_scp(sopclass.verification_scp)

        _serve_until_stopped(scp, ready, '%s listening on %s:%d, writing to %s', ns.aetitle,
                             ns.bind or '*', scp.local_ae.port, directory)
        return 0

    return _run(ns, f'port {ns.port}', body)


# --- findscu, movescu, getscu -------------------------------------------------------------------

_MODELS = {
    'patient': (uids.PATIENT_ROOT_FIND_SOP_CLASS, uids.PATIENT_ROOT_MOVE_SOP_CLASS,
                uids.PATIENT_ROOT_GET_SOP_CLASS),
    'study': (uids.STUDY_ROOT_FIND_SOP_CLASS, uids.STUDY_ROOT_MOVE_SOP_CLASS,
              uids.STUDY_ROOT_GET_SOP_CLASS),
    'psonly': (uids.PATIENT_STUDY_ONLY_FIND_SOP_CLASS, uids.PATIENT_STUDY_ONLY_MOVE_SOP_CLASS,
               uids.PATIENT_STUDY_ONLY_GET_SOP_CLASS),
}


def _add_query(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group('query information model')
    choice = model.add_mutually_exclusive_group()
    choice.add_argument('-P', '--patient', dest='model', action='store_const', const='patient',
                        help='use patient root information model')
    choice.add_argument('-S', '--study', dest='model', action='store_const', const='study',
                        help='use study root information model (default)')
    choice.add_argument('-O', '--psonly', dest='model', action='store_const', const='psonly',
                        help='use patient/study only information model')
    parser.set_defaults(model='study')
    keys = parser.add_argument_group('override matching keys')
    keys.add_argument('-k', '--key', action='append', default=[], metavar='[k]ey: gggg,eeee=str',
                      help='override matching key (keyword or tag; e.g. -k PatientName=Doe* '
                           '-k 0020,000D=); QueryRetrieveLevel defaults to STUDY')


def _identifier(ns: argparse.Namespace) -> Dataset:
    from pynetdicom2.cli import _parse_attrs

    ds = Dataset()
    ds.QueryRetrieveLevel = 'STUDY'
    for tag, vr, value in _parse_attrs(ns.key):
        ds.add_new(tag, vr, value)
    ds.QueryRetrieveLevel = str(ds.QueryRetrieveLevel or 'STUDY').upper()
    return ds


def _qr_counts(name: str, response: Any) -> str:
    return (f'{name}: completed {response.num_of_completed_sub_ops}, failed '
            f'{response.num_of_failed_sub_ops}, warning {response.num_of_warning_sub_ops}')


def findscu(argv: Sequence[str] | None = None) -> int:
    """``pynetdicom2-findscu [options] peer port``: C-FIND with ``-k`` keys; print matches.

    >>> import tempfile
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp, 'PACS') as scp:
    ...     _ = scp.add(*make_study(1, 2, PatientName='Doe^Jane', StudyInstanceUID='1.2.3'))
    ...     _ = scp.add(*make_study(1, 1, PatientName='Roe^Rick'))
    ...     findscu(['-aec', 'PACS', '-S', '-k', 'PatientName=Doe*', '-k', 'StudyInstanceUID=',
    ...              scp.address, str(scp.port)])
    # match 1
    ...Patient's Name...PN: 'Doe^Jane'
    ...Study Instance UID...UI: 1.2.3
    1 match(es)
    0
    """
    parser = _parser('pynetdicom2-findscu', 'DICOM query (C-FIND) SCU')
    parser.add_argument('peer', help='hostname of DICOM peer')
    parser.add_argument('port', type=int, help='tcp/ip port number of peer')
    _add_query(parser)
    _add_network(parser, 'FINDSCU')
    ns = parser.parse_args(argv)

    def body() -> int:
        request = _identifier(ns)
        root = _MODELS[ns.model][0]
        client = _configure(ClientAE(ns.aetitle, max_pdu_length=ns.max_pdu), ns)
        client.add_scu(sopclass.qr_find_scu, [root])
        count = 0
        final = None
        with client.request_association(_remote(ns)) as assoc:
            for match, status in assoc.get_scu(root)(request, 1):
                if status.is_pending and match is not None:
                    count += 1
                    print(f'# match {count}')
                    print(match)
                elif not status.is_pending:
                    final = status
        print(f'{count} match(es)')
        if final is not None and not final.is_success:
            print(f'E: C-FIND ended with {final}', file=sys.stderr)
            return 1
        return 0

    return _run(ns, f'{ns.call} at {ns.peer}:{ns.port}', body)


def getscu(argv: Sequence[str] | None = None) -> int:
    """``pynetdicom2-getscu [options] peer port``: C-GET what ``-k`` matches into ``-od``.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(Path(tmp, 'pacs'), 'PACS') as scp:
    ...     _ = scp.add(*make_study(1, 3, StudyInstanceUID='1.2.3'))
    ...     Path(tmp, 'in').mkdir()
    ...     getscu(['-aec', 'PACS', '-k', 'StudyInstanceUID=1.2.3', '-od', str(Path(tmp, 'in')),
    ...             scp.address, str(scp.port)])
    ...     len(list(Path(tmp, 'in').glob('*.dcm')))
    C-GET: completed 3, failed 0, warning 0
    0
    3
    """
    parser = _parser('pynetdicom2-getscu', 'DICOM retrieve (C-GET) SCU')
    parser.add_argument('peer', help='hostname of DICOM peer')
    parser.add_argument('port', type=int, help='tcp/ip port number of peer')
    _add_query(parser)
    _add_network(parser, 'GETSCU')
    output = parser.add_argument_group('output options')
    output.add_argument('-od', '--output-directory', default='.', metavar='[d]irectory',
                        help='write received objects to directory d (default: .)')
    ns = parser.parse_args(argv)

    def body() -> int:
        from pynetdicom2 import commands

        request = _identifier(ns)
        root = _MODELS[ns.model][2]
        client = _configure(ClientStorageAE(ns.output_directory, ns.aetitle,
                                            max_pdu_length=ns.max_pdu), ns)
        client.add_scu(sopclass.qr_get_scu, [root])
        client.add_scu(sopclass.storage_scu, list(commands.COMMON_STORAGE_SOP_CLASSES))
        with client.request_association(_remote(ns)) as assoc:
            operation = assoc.get_scu(root)(request, 1)
            for context, _ in operation:
                logger.info('received %s', context.sop_class)
        status = operation.status
        if operation.response is None or status is None:
            raise NetDICOMError('the C-GET ended without a final response')
        print(_qr_counts('C-GET', operation.response))
        return 0 if status.is_success else 1

    return _run(ns, f'{ns.call} at {ns.peer}:{ns.port}', body)


def movescu(argv: Sequence[str] | None = None) -> int:
    """``pynetdicom2-movescu [options] peer port``: C-MOVE what ``-k`` matches to ``-aem``.

    With ``--port n`` (DCMTK's ``+P``) a storage SCP titled ``-aem`` (default: ``-aet``)
    listens on n for the sub-operations and writes them to ``-od``.

    Here the destination ``WS1`` is a second loopback SCP the archive knows (``-P`` is the
    Patient Root model, not ``+P``):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with LoopbackSCP(Path(tmp, 'pacs'), 'PACS') as scp:
    ...         with LoopbackSCP(Path(tmp, 'ws1'), 'WS1') as ws1:
    ...             _ = scp.add(*make_study(1, 2, PatientID='P1'))
    ...             scp.destinations['WS1'] = ws1.remote
    ...             movescu(['-aec', 'PACS', '-aem', 'WS1', '-P', '-k', 'PatientID=P1',
    ...                      '-k', 'QueryRetrieveLevel=PATIENT', scp.address, str(scp.port)])
    ...             len(ws1.stored_files())
    C-MOVE to WS1: completed 2, failed 0, warning 0
    0
    2
    """
    parser = _parser('pynetdicom2-movescu', 'DICOM retrieve (C-MOVE) SCU')
    parser.add_argument('peer', help='hostname of DICOM peer')
    parser.add_argument('port', type=int, help='tcp/ip port number of peer')
    _add_query(parser)
    _add_network(parser, 'MOVESCU')
    parser.add_argument('-aem', '--move', default=None, metavar='[a]etitle',
                        help='set move destination to AE title (default: -aet)')
    parser.add_argument('+P', '--port', dest='retrieve_port', type=int, default=None,
                        metavar='[n]umber',
                        help='port number for incoming associations (default: none)')
    output = parser.add_argument_group('output options')
    output.add_argument('-od', '--output-directory', default='.', metavar='[d]irectory',
                        help='write received objects to directory d (default: .)')
    ns = parser.parse_args(argv)

    def body() -> int:
        request = _identifier(ns)
        root = _MODELS[ns.model][1]
        destination = ns.move or ns.aetitle
        client = _configure(ClientAE(ns.aetitle, max_pdu_length=ns.max_pdu), ns)
        client.add_scu(sopclass.qr_move_scu, [root])
        receiver = None
        if ns.retrieve_port is not None:
            receiver = StorageAE(ns.output_directory, destination, ns.retrieve_port, uids.ALL_TS)
            receiver.add_scp(sopclass.storage_scp).add_scp(sopclass.verification_scp)
        with receiver if receiver is not None else contextlib.nullcontext():
            status = final = None
            with client.request_association(_remote(ns)) as assoc:
                for response in assoc.get_scu(root)(request, destination, 1):
                    status, final = response
        if final is None or status is None:
            raise NetDICOMError('the C-MOVE ended without a final response')
        print(_qr_counts(f'C-MOVE to {destination}', final))
        if not status.is_success:
            print(f'E: C-MOVE ended with {status}', file=sys.stderr)
        return 0 if status.is_success else 1

    return _run(ns, f'{ns.call} at {ns.peer}:{ns.port}', body)


# --- console script entry points ----------------------------------------------------------------


def echoscu_main() -> None:
    """Entry point of ``pynetdicom2-echoscu``."""
    sys.exit(echoscu())


def storescu_main() -> None:
    """Entry point of ``pynetdicom2-storescu``."""
    sys.exit(storescu())


def storescp_main() -> None:
    """Entry point of ``pynetdicom2-storescp``."""
    sys.exit(storescp())


def findscu_main() -> None:
    """Entry point of ``pynetdicom2-findscu``."""
    sys.exit(findscu())


def getscu_main() -> None:
    """Entry point of ``pynetdicom2-getscu``."""
    sys.exit(getscu())


def movescu_main() -> None:
    """Entry point of ``pynetdicom2-movescu``."""
    sys.exit(movescu())
