"""DCMTK-style console scripts: ``pynetdicom2-echoscu``, ``-storescu``, ``-storescp``,
``-findscu``, ``-movescu`` and ``-getscu``; ``pynetdicom2-qrscp`` (the Query/Retrieve SCP)
lives in :mod:`pynetdicom2.qrscp`; both take their options, logging and error lines from
:mod:`pynetdicom2.toolsupport`. ``storescu``, ``storescp`` and ``findscu`` are written in
:mod:`pynetdicom2.app_storescu`, :mod:`pynetdicom2.app_storescp` and
:mod:`pynetdicom2.app_findscu` (with the query options movescu and getscu share); they are
imported here, so ``apps.<tool>`` and ``apps.<tool>_main`` name every tool.

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
    pynetdicom2-findscu -aec PACS -S -k PatientName=Doe* -k StudyInstanceUID 10.0.0.5 104
    pynetdicom2-movescu -aec PACS -aem WS1 +P 11113 -od in -k StudyInstanceUID=1.2.3 pacs 104
    pynetdicom2-getscu -aec PACS -od in -k StudyInstanceUID=1.2.3 10.0.0.5 104
    pynetdicom2-qrscp -aet PACS -od /srv/pacs --destinations dest.ini -v 11112
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from pynetdicom2 import commands, sopclass, uids
from pynetdicom2.app_findscu import (
    QUERY_MODELS,
    add_query_options,
    build_query,
    findscu,
    findscu_main,
)
from pynetdicom2.app_storescp import storescp, storescp_main
from pynetdicom2.app_storescu import storescu, storescu_main
from pynetdicom2.applicationentity import ClientAE, ClientStorageAE
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.toolsupport import (
    add_network,
    configure,
    dcmtk_parser,
    format_address,
    move_receiver,
    remote_of,
    run_dcmtk,
    sub_operation_counts,
)

__all__ = ['echoscu', 'echoscu_main', 'findscu', 'findscu_main', 'getscu', 'getscu_main',
           'movescu', 'movescu_main', 'storescp', 'storescp_main', 'storescu', 'storescu_main']

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

    return run_dcmtk(ns, f'{ns.call} at {format_address(ns.peer, ns.port)}', body)


# --- movescu, getscu (findscu: pynetdicom2.app_findscu) ------------------------------------------


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
    add_query_options(parser)
    add_network(parser, 'GETSCU')
    output = parser.add_argument_group('output options')
    output.add_argument('-od', '--output-directory', default='.', metavar='[d]irectory',
                        help='write received objects to directory d (default: .)')
    ns = parser.parse_args(argv)

    def body() -> int:
        request = build_query(None, ns.key, ns.model)
        root = QUERY_MODELS[ns.model][2]
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

    return run_dcmtk(ns, f'{ns.call} at {format_address(ns.peer, ns.port)}', body)


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
    add_query_options(parser)
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
        request = build_query(None, ns.key, ns.model)
        root = QUERY_MODELS[ns.model][1]
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

    return run_dcmtk(ns, f'{ns.call} at {format_address(ns.peer, ns.port)}', body)


# --- console script entry points ----------------------------------------------------------------


def echoscu_main() -> None:
    """Entry point of ``pynetdicom2-echoscu``."""
    sys.exit(echoscu())


def getscu_main() -> None:
    """Entry point of ``pynetdicom2-getscu``."""
    sys.exit(getscu())


def movescu_main() -> None:
    """Entry point of ``pynetdicom2-movescu``."""
    sys.exit(movescu())
