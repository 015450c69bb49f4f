"""The ``python -m pynetdicom2`` command line: verify, find, store, move, get and the demo.

This module owns argument parsing and the text the commands print; the DICOM work is done by
:mod:`pynetdicom2.commands`. Each command function takes the parsed :class:`Args` and returns
an iterable of lines; :func:`main` prints them. Errors a user can fix (a wrong port, a
rejected association, an unknown attribute, an unreadable file) end the program with one line
on stderr and exit status 1; ``-d``/``--debug`` shows the traceback and the library's debug log.

The flags are the original pynetdicom2's, kept for its users: ``--aet`` is the called AE title
(the peer), ``--local_aet`` ours (:data:`ORIGINAL_FLAGS`, the end of every ``--help``). The
DCMTK-style tools of :mod:`pynetdicom2.apps` (``pynetdicom2-echoscu`` ...) spell them as DCMTK
does (``-aet`` ours, ``-aec`` the peer) and add TLS and DCMTK's other flags.

Usage::

    python -m pynetdicom2 verify --aet PACS --address 10.0.0.5 --port 104
    python -m pynetdicom2 find --aet PACS --address 10.0.0.5 --port 104 \\
        --level study --attr PatientName=Doe* --attr StudyInstanceUID=
    python -m pynetdicom2 store --aet PACS --address 10.0.0.5 --port 104 --file_or_dir ./ct
    python -m pynetdicom2 move --aet PACS --address 10.0.0.5 --port 104 \\
        --local_port 11113 --storage_dir ./in --attr StudyInstanceUID=1.2.3
    python -m pynetdicom2 get --aet PACS --address 10.0.0.5 --port 104 \\
        --storage_dir ./in --attr StudyInstanceUID=1.2.3
    python -m pynetdicom2 demo
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

from pydicom.dataset import Dataset

from pynetdicom2 import __version__, commands, uids
from pynetdicom2.applicationentity import ClientAE
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.exceptions import (
    AssociationAbortedError,
    AssociationRejectedError,
    ConnectionFailedError,
    NetDICOMError,
)
from pynetdicom2.toolsupport import (
    StoreRun,
    ToolError,
    build_identifier,
    collect_files,
    format_address,
    listen_port,
    move_receiver,
    port_number,
    print_error,
    stderr_logging,
    sub_operation_counts,
)

__all__ = [
    'ORIGINAL_FLAGS', 'Args', 'find', 'get', 'get_parser', 'main', 'move', 'parse_args', 'store',
    'verify',
]

logger = logging.getLogger('pynetdicom2.cli')

_FIND_ROOTS = {
    'patient': uids.PATIENT_ROOT_FIND_SOP_CLASS,
    'study': uids.STUDY_ROOT_FIND_SOP_CLASS,
}
_MOVE_ROOTS = {
    'patient': uids.PATIENT_ROOT_MOVE_SOP_CLASS,
    'study': uids.STUDY_ROOT_MOVE_SOP_CLASS,
}
_GET_ROOTS = {
    'patient': uids.PATIENT_ROOT_GET_SOP_CLASS,
    'study': uids.STUDY_ROOT_GET_SOP_CLASS,
}

#: A failure the user can act on: :func:`main` prints it on one line and exits 1.
CLIError = ToolError

#: What ``python -m pynetdicom2 --help`` says about its flags, and where DCMTK's are.
ORIGINAL_FLAGS = """\
These commands keep the flags of the original pynetdicom2: --aet is the called AE
title (the peer), --local_aet ours, --address and --port the peer's address.

For DCMTK's spelling (-aet ours, -aec the peer, -to/-ta/-td timeouts, TLS with +tls,
user identity with -usr, -q/-v/-d/-ll logging) use the DCMTK-style tools installed
with the package: pynetdicom2-echoscu, pynetdicom2-storescu, pynetdicom2-storescp,
pynetdicom2-findscu, pynetdicom2-movescu, pynetdicom2-getscu and pynetdicom2-qrscp
(the table of DCMTK's flags and ours: docs/reference/dcmtk_flags.rst).
"""


@dataclass
class Args:
    """The parsed command line (every subcommand fills the fields it has).

    >>> args = Args(aet='PACS', port=11112)
    >>> args.local_aet, args.address
    ('PYNETDICOM2', '127.0.0.1')
    """

    func: Callable[[Args], Iterable[str]] | None = None
    local_aet: str = 'PYNETDICOM2'
    aet: str = 'AET'
    address: str = '127.0.0.1'
    port: int = 104
    username: str | None = None
    password: str | None = None
    kerberos: str | None = None
    saml: str | None = None
    jwt: str | None = None
    file_or_dir: str = ''
    root: str = 'study'
    level: str = 'study'
    encoding: str = 'ISO_IR 192'
    attr: list[str] = field(default_factory=list)
    local_port: int | None = None
    storage_dir: str | None = None
    dest_aet: str = 'PYNETDICOM2'
    verbose: bool = False
    debug: bool = False


# --- attributes given on the command line -------------------------------------------------------


def _build_identifier(args: Args) -> Dataset:
    """The query/retrieve identifier of ``args``: level, character set and ``--attr`` keys."""
    return build_identifier(args.attr, args.level, args.encoding)


def _args_to_remote_ae(args: Args) -> RemoteAEConfig:
    """The peer (and our user identity) the command line names.

    >>> _args_to_remote_ae(Args(aet='PACS', port=11112)).port
    11112
    """
    return RemoteAEConfig(
        aet=args.aet, address=args.address, port=args.port, username=args.username,
        password=args.password, kerberos=args.kerberos, saml=args.saml, jwt=args.jwt,
    )


# --- commands -----------------------------------------------------------------------------------


def verify(args: Args) -> Iterator[str]:
    """C-ECHO the peer; yield one line with the status."""
    status = commands.verify(args.local_aet, _args_to_remote_ae(args))
    yield f'C-ECHO {args.aet} at {format_address(args.address, args.port)}: {status}'
    if not status.is_success:
        raise CLIError(f'C-ECHO answered {status}')


def find(args: Args) -> Iterator[str]:
    """C-FIND with the ``--attr`` keys; yield each match as text (blank line between)."""
    request = _build_identifier(args)
    count = 0
    for match in commands.find(
        args.local_aet, _args_to_remote_ae(args), request, _FIND_ROOTS[args.root]
    ):
        if count:
            yield ''
        count += 1
        yield str(match)
    logger.info('%d match(es)', count)


def store(args: Args) -> Iterator[str]:
    """C-STORE a Part-10 file or every file under a directory; yield a line per file.

    One association per transfer syntax (and per 128 SOP classes), as :class:`StoreRun` does.
    """
    run = StoreRun(collect_files([args.file_or_dir]))
    for path, reason in run.skipped:
        yield f'skipped {path}: {reason}'
    remote = _args_to_remote_ae(args)
    for path, stored, detail in run.send(lambda ts: ClientAE(args.local_aet, [ts]), remote):
        yield f'{"stored" if stored else "failed"} {path}: {detail}'
    yield run.summary()
    if run.failed:
        raise CLIError(f'{run.failed} file(s) could not be stored')


def _move(args: Args, request: Dataset) -> Any:
    # With --local_port, receive the sub-operations ourselves, as dest_aet.
    with move_receiver(args.storage_dir or '.', args.dest_aet, args.local_port):
        return commands.move(args.local_aet, _args_to_remote_ae(args), request, args.dest_aet,
                             _MOVE_ROOTS[args.root])


def move(args: Args) -> Iterator[str]:
    """C-MOVE what the ``--attr`` keys match to ``--dest_aet``; yield the counts.

    With ``--local_port`` a storage SCP titled ``--dest_aet`` runs on that port for the
    duration and writes the sub-operations to ``--storage_dir`` (the peer must know that AE).
    """
    yield sub_operation_counts(f'C-MOVE to {args.dest_aet}', _move(args, _build_identifier(args)))


def get(args: Args) -> Iterator[str]:
    """C-GET what the ``--attr`` keys match into ``--storage_dir``; yield the counts."""
    response = commands.get(
        args.local_aet, _args_to_remote_ae(args), _build_identifier(args),
        args.storage_dir or '.', _GET_ROOTS[args.root],
    )
    yield sub_operation_counts(f'C-GET into {args.storage_dir or "."}', response)


def demo(args: Args) -> Iterator[str]:
    """Run the loopback demo (:mod:`pynetdicom2.demo`)."""
    from pynetdicom2 import demo as demo_module

    yield from demo_module.run()


# --- parser -------------------------------------------------------------------------------------


def _add_conn_params(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group('connection')
    group.add_argument('--aet', required=True,
                       help="called AE title: the peer's (DCMTK's -aec, not its -aet)")
    group.add_argument('--address', required=True, help='peer host name or IP address')
    group.add_argument('--port', required=True, type=port_number,
                       help='peer TCP port (1..65535)')
    group.add_argument('--local_aet', default='PYNETDICOM2',
                       help="calling AE title: ours (DCMTK's -aet) [default: %(default)s]")
    identity = parser.add_argument_group('user identity (PS3.7 D.3.3.7)')
    identity.add_argument('--username', help='user name (alone, or with --password)')
    identity.add_argument('--password', help='password for --username')
    identity.add_argument('--kerberos', help='Kerberos service ticket')
    identity.add_argument('--saml', help='SAML assertion')
    identity.add_argument('--jwt', help='JSON web token')


def _add_root_and_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--root', choices=['patient', 'study'], default='study',
                        help='query/retrieve information model [default: %(default)s]')
    parser.add_argument('--level', choices=['patient', 'study', 'series', 'image'],
                        default='study', help='query/retrieve level [default: %(default)s]')


def _add_encoding(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--encoding', default='ISO_IR 192',
                        help='Specific Character Set of the identifier [default: %(default)s]')


def _add_attr(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--attr', action='append', default=[], metavar='KEY=VALUE',
        help='a key of the identifier: keyword or tag (PatientName=Doe*, 00100020=, '
             '0010,0010=Doe^J); an empty value asks for the attribute; repeatable',
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('-v', '--verbose', action='store_true', help='log progress')
    parser.add_argument('-d', '--debug', action='store_true',
                        help='debug log (PDUs) and tracebacks on errors')


def _add_parser(subparsers: Any, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` ends with :data:`ORIGINAL_FLAGS`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=text, description=text, epilog=ORIGINAL_FLAGS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _create_verify_parser(subparsers: Any) -> None:
    parser = _add_parser(subparsers, 'verify', 'C-ECHO a peer (like echoscu)')
    _add_conn_params(parser)
    _add_common(parser)
    parser.set_defaults(func=verify)


def _create_find_parser(subparsers: Any) -> None:
    parser = _add_parser(subparsers, 'find', 'C-FIND: query a peer (like findscu)')
    _add_conn_params(parser)
    _add_root_and_level(parser)
    _add_attr(parser)
    _add_encoding(parser)
    _add_common(parser)
    parser.set_defaults(func=find)


def _create_store_parser(subparsers: Any) -> None:
    parser = _add_parser(subparsers, 'store', 'C-STORE files to a peer (like storescu +r)')
    _add_conn_params(parser)
    parser.add_argument('--file_or_dir', required=True,
                        help='a Part-10 file, or a directory scanned recursively')
    _add_common(parser)
    parser.set_defaults(func=store)


def _create_move_parser(subparsers: Any) -> None:
    parser = _add_parser(subparsers, 'move', 'C-MOVE: retrieve to an AE (like movescu)')
    _add_conn_params(parser)
    parser.add_argument('--dest_aet', default='PYNETDICOM2',
                        help='move destination AE title [default: %(default)s]')
    parser.add_argument('--local_port', type=listen_port,
                        help='receive the sub-operations here, as --dest_aet (1..65535)')
    parser.add_argument('--storage_dir', help='where received files go [default: .]')
    _add_root_and_level(parser)
    _add_attr(parser)
    _add_encoding(parser)
    _add_common(parser)
    parser.set_defaults(func=move)


def _create_get_parser(subparsers: Any) -> None:
    parser = _add_parser(subparsers, 'get', 'C-GET: retrieve over this association '
                                            '(like getscu)')
    _add_conn_params(parser)
    parser.add_argument('--storage_dir', help='where received files go [default: .]')
    _add_root_and_level(parser)
    _add_attr(parser)
    _add_encoding(parser)
    _add_common(parser)
    parser.set_defaults(func=get)


def _create_demo_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        'demo', help='run a Q/R SCP on loopback and echo, store, find, move and get against it'
    )
    _add_common(parser)
    parser.set_defaults(func=demo)


def get_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m pynetdicom2`` with all its subcommands."""
    parser = argparse.ArgumentParser(
        prog='python -m pynetdicom2',
        description='DICOM network tools: verify, find, store, move, get, demo.',
        epilog=ORIGINAL_FLAGS, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument('--version', action='version', version=f'pynetdicom2 {__version__}')
    subparsers = parser.add_subparsers(title='commands')
    for create in (_create_verify_parser, _create_find_parser, _create_store_parser,
                   _create_move_parser, _create_get_parser, _create_demo_parser):
        create(subparsers)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> Args:
    """Parse ``argv`` (default ``sys.argv[1:]``) into :class:`Args`.

    >>> parse_args(get_parser(), ['verify', '--aet', 'PACS', '--address', 'h', '--port', '1']).aet
    'PACS'
    """
    namespace = parser.parse_args(argv)
    return Args(**vars(namespace))


# --- errors and main ----------------------------------------------------------------------------


def _describe_error(args: Args, exc: BaseException) -> str | None:
    """One line saying what went wrong and what to do, or None for an unexpected error."""
    peer = f'{args.aet} at {format_address(args.address, args.port)}'
    if isinstance(exc, CLIError):
        return str(exc)
    if isinstance(exc, AssociationRejectedError):
        return (f'{peer} rejected the association (result {exc.result}, source {exc.source}, '
                f'reason {exc.diagnostic}): check --aet and that the peer accepts '
                f'--local_aet {args.local_aet}')
    if isinstance(exc, ConnectionFailedError):
        return (f'{exc}: check --address and --port, and that the peer is listening')
    if isinstance(exc, AssociationAbortedError):
        return f'{peer} aborted the association ({exc})'
    if isinstance(exc, ValueError):
        return f'bad --attr: {exc}'
    if isinstance(exc, OSError):
        name = exc.filename or ''
        return f'cannot read {name}: {exc.strerror or exc}' if name else f'{exc}'
    if isinstance(exc, NetDICOMError):
        return f'{exc}'
    return None


@contextlib.contextmanager
def _logging_for(args: Args) -> Iterator[None]:
    """Log the library to stderr at the level ``-v``/``-d`` ask for; put things back after."""
    fmt = '%(levelname)s: %(name)s: %(message)s'
    with stderr_logging(args.debug, args.verbose, fmt), warnings.catch_warnings():
        if not args.debug:  # pydicom's complaints about sample data are not ours to show
            warnings.filterwarnings('ignore', category=UserWarning, module='pydicom')
        yield


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line: print each line the command yields.

    Without a command, prints the help to stdout and exits 1. A failure exits 1 with one
    line on stderr (``-d`` for the traceback).
    """
    parser = get_parser()
    args = parse_args(parser, argv)
    if args.func is None:
        parser.print_help(sys.stdout)
        sys.exit(1)
    try:
        with _logging_for(args):
            for line in args.func(args):
                print(line, flush=True)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if args.debug:
            raise
        print_error(exc, 'error: ', lambda error: _describe_error(args, error),
                    'run with -d for the traceback')
        sys.exit(1)
