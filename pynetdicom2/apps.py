"""DCMTK-style console scripts: ``pynetdicom2-echoscu``, ``-storescu``, ``-storescp``,
``-findscu``, ``-movescu`` and ``-getscu``; ``pynetdicom2-qrscp`` (the Query/Retrieve SCP)
lives in :mod:`pynetdicom2.qrscp`; both take their options, logging and error lines from
:mod:`pynetdicom2.toolsupport`.

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
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from pynetdicom2 import commands, sopclass, uids
from pynetdicom2.applicationentity import ClientAE, ClientStorageAE, StorageAE
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.filestorage import TemplateNaming
from pynetdicom2.toolsupport import (
    StoreRun,
    add_network,
    add_server_options,
    build_identifier,
    collect_files,
    configure,
    dcmtk_parser,
    existing_directory,
    listen_errors,
    move_receiver,
    remote_of,
    run_dcmtk,
    serve_until_stopped,
    sub_operation_counts,
)

__all__ = ['echoscu', 'findscu', 'getscu', 'movescu', 'storescp', 'storescu']

logger = logging.getLogger('pynetdicom2.apps')


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
    parser = dcmtk_parser('pynetdicom2-echoscu', 'DICOM verification (C-ECHO) SCU')
    parser.add_argument('peer', help='hostname of DICOM peer')
    parser.add_argument('port', type=int, help='tcp/ip port number of peer')
    add_network(parser, 'ECHOSCU')
    parser.add_argument('--repeat', type=int, default=1, metavar='[n]umber',
                        help='repeat n times (default: 1)')
    ns = parser.parse_args(argv)

    def body() -> int:
        client = configure(ClientAE(ns.aetitle, max_pdu_length=ns.max_pdu), ns)
        client.add_scu(sopclass.verification_scu)
        failures = 0
        with client.request_association(remote_of(ns)) as assoc:
            echo = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)
            for msg_id in range(1, ns.repeat + 1):
                status = echo(msg_id)
                logger.info('received echo response (status: %s)', status)
                failures += not status.is_success
        if failures:
            print(f'E: {failures} of {ns.repeat} C-ECHO requests failed', file=sys.stderr)
        return 1 if failures else 0

    return run_dcmtk(ns, f'{ns.call} at {ns.peer}:{ns.port}', body)


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
    parser = dcmtk_parser('pynetdicom2-storescu', 'DICOM storage (C-STORE) SCU')
    parser.add_argument('peer', help='hostname of DICOM peer')
    parser.add_argument('port', type=int, help='tcp/ip port number of peer')
    parser.add_argument('files', nargs='+', metavar='dcmfile-in',
                        help='DICOM file or directory to be transmitted')
    scan = parser.add_argument_group('input files')
    scan.add_argument('+sd', '--scan-directories', action='store_true',
                      help='scan directories for input files (dcmfile-in)')
    scan.add_argument('+r', '--recurse', action='store_true',
                      help='recurse within specified directories')
    add_network(parser, 'STORESCU')
    ns = parser.parse_args(argv)

    def body() -> int:
        run = StoreRun(collect_files(ns.files, scan_directories=ns.scan_directories,
                                     recurse=ns.recurse))
        progress = _Progress(run.files, sys.stderr)
        failed: list[tuple[Path, str]] = []

        def client_for(ts: str) -> Any:
            return configure(ClientAE(ns.aetitle, [ts], ns.max_pdu), ns)

        for path, stored, detail in run.send(client_for, remote_of(ns)):
            progress.advance(path)
            if stored:
                logger.info('stored %s: %s', path, detail)
            else:
                failed.append((path, detail))
        progress.finish()
        for path, reason in run.skipped:
            print(f'W: skipped {path}: {reason}', file=sys.stderr)
        for path, reason in failed:
            print(f'E: failed {path}: {reason}', file=sys.stderr)
        print(run.summary())
        return 1 if failed else 0

    return run_dcmtk(ns, f'{ns.call} at {ns.peer}:{ns.port}', body)


# --- storescp -----------------------------------------------------------------------------------


class _StoreSCP(StorageAE):
    """The storage SCP of ``pynetdicom2-storescp``: it logs what it receives."""

    def on_receive_store(self, context: Any, ds: Any) -> Any:
        logger.info('received %s', context.sop_class)
        return super().on_receive_store(context, ds)


def storescp(argv: Sequence[str] | None = None, *, ready: Any = None) -> int:
    """``pynetdicom2-storescp [options] [port]``: receive C-STOREs into ``-od``.

    Files are written atomically as ``<SOPInstanceUID>.dcm``, or where ``--filepath``
    says (a template of attribute keywords). Serves until interrupted
    (Ctrl-C or SIGTERM). ``ready`` (for embedding) is called with the AE once it listens.

    Usage (it serves until stopped, so this is not run as a doctest)::

        storescp(['-aet', 'STORESCP', '-od', 'incoming', '11112'])
    """
    parser = dcmtk_parser('pynetdicom2-storescp', 'DICOM storage (C-STORE) SCP')
    add_server_options(parser, 'STORESCP')
    output = parser.add_argument_group('output options')
    output.add_argument('-od', '--output-directory', default='.', metavar='[d]irectory',
                        help='write received objects to existing directory d (default: .)')
    output.add_argument('--filepath', default=None, metavar='template',
                        help='file path under -od from attribute values, e.g. '
                             "'{PatientID}/{StudyInstanceUID}/{SOPInstanceUID}.dcm' "
                             '(default: <SOPInstanceUID>.dcm)')
    output.add_argument('--fsync', action='store_true',
                        help='answer Success only once each file and its directory are on '
                             'the disk (fsync): nothing acknowledged is lost in a power cut')
    parser.add_argument('--max-associations', type=int, default=None, metavar='[n]umber',
                        help='reject associations beyond n at once (default: no limit)')
    ns = parser.parse_args(argv)

    def body() -> int:
        directory = existing_directory(ns.output_directory)
        # A bad template fails now, not once per file.
        naming = TemplateNaming(ns.filepath, replace=True) if ns.filepath else None
        with listen_errors(ns.port):
            scp = _StoreSCP(directory, ns.aetitle, ns.port, uids.ALL_TS, ns.max_pdu,
                            host=ns.bind)
        scp.file_naming = naming
        scp.fsync = ns.fsync
        scp.allowed_calling_aets = frozenset(ns.accept) or None
        scp.maximum_associations = ns.max_associations
        configure(scp, ns)
        scp.add_scp(sopclass.storage_scp).add_scp(sopclass.verification_scp)

        serve_until_stopped(scp, ready, '%s listening on %s:%d, writing to %s', ns.aetitle,
                            ns.bind or '*', scp.local_ae.port, directory)
        return 0

    return run_dcmtk(ns, f'port {ns.port}', body)


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
    parser = dcmtk_parser('pynetdicom2-findscu', 'DICOM query (C-FIND) SCU')
    parser.add_argument('peer', help='hostname of DICOM peer')
    parser.add_argument('port', type=int, help='tcp/ip port number of peer')
    _add_query(parser)
    add_network(parser, 'FINDSCU')
    ns = parser.parse_args(argv)

    def body() -> int:
        request = build_identifier(ns.key)
        root = _MODELS[ns.model][0]
        client = configure(ClientAE(ns.aetitle, max_pdu_length=ns.max_pdu), ns)
        client.add_scu(sopclass.qr_find_scu, [root])
        count = 0
        final = None
        with client.request_association(remote_of(ns)) as assoc:
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

    return run_dcmtk(ns, f'{ns.call} at {ns.peer}:{ns.port}', body)


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
    parser = dcmtk_parser('pynetdicom2-getscu', 'DICOM retrieve (C-GET) SCU')
    parser.add_argument('peer', help='hostname of DICOM peer')
    parser.add_argument('port', type=int, help='tcp/ip port number of peer')
    _add_query(parser)
    add_network(parser, 'GETSCU')
    output = parser.add_argument_group('output options')
    output.add_argument('-od', '--output-directory', default='.', metavar='[d]irectory',
                        help='write received objects to directory d (default: .)')
    ns = parser.parse_args(argv)

    def body() -> int:
        request = build_identifier(ns.key)
        root = _MODELS[ns.model][2]
        client = configure(ClientStorageAE(ns.output_directory, ns.aetitle,
                                            max_pdu_length=ns.max_pdu), ns)
        client.add_scu(sopclass.qr_get_scu, [root])
        client.add_scu(sopclass.storage_scu, list(commands.COMMON_STORAGE_SOP_CLASSES))
        with client.request_association(remote_of(ns)) as assoc:
            operation = assoc.get_scu(root)(request, 1)
            for context, _ in operation:
                logger.info('received %s', context.sop_class)
        status = operation.status
        if operation.response is None or status is None:
            raise NetDICOMError('the C-GET ended without a final response')
        print(sub_operation_counts('C-GET', operation.response))
        return 0 if status.is_success else 1

    return run_dcmtk(ns, f'{ns.call} at {ns.peer}:{ns.port}', body)


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
    parser = dcmtk_parser('pynetdicom2-movescu', 'DICOM retrieve (C-MOVE) SCU')
    parser.add_argument('peer', help='hostname of DICOM peer')
    parser.add_argument('port', type=int, help='tcp/ip port number of peer')
    _add_query(parser)
    add_network(parser, 'MOVESCU')
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
        request = build_identifier(ns.key)
        root = _MODELS[ns.model][1]
        destination = ns.move or ns.aetitle
        client = configure(ClientAE(ns.aetitle, max_pdu_length=ns.max_pdu), ns)
        client.add_scu(sopclass.qr_move_scu, [root])
        with move_receiver(ns.output_directory, destination, ns.retrieve_port):
            status = final = None
            with client.request_association(remote_of(ns)) as assoc:
                for response in assoc.get_scu(root)(request, destination, 1):
                    status, final = response
        if final is None or status is None:
            raise NetDICOMError('the C-MOVE ended without a final response')
        print(sub_operation_counts(f'C-MOVE to {destination}', final))
        if not status.is_success:
            print(f'E: C-MOVE ended with {status}', file=sys.stderr)
        return 0 if status.is_success else 1

    return run_dcmtk(ns, f'{ns.call} at {ns.peer}:{ns.port}', body)


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
