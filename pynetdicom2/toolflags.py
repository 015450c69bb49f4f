"""DCMTK's flags that the command-line tools share, and what each does to an AE.

This module owns the options every DCMTK-style tool (:mod:`pynetdicom2.apps`,
:mod:`pynetdicom2.qrscp`) takes, spelled as DCMTK 3.6's ``--help`` prints them, and their
effect:

* general options: ``-q``, ``-v``, ``-d``, ``-ll`` (:data:`LOG_LEVELS`, the last one given
  wins, as in DCMTK) and the ``F:``/``E:``/``W:``/``I:``/``D:`` lines of
  :class:`DcmtkFormatter`;
* network options: ``-aet``, ``-aec``, ``-to`` (TCP connection), ``-ta`` (ACSE: association
  and release replies, PS3.8 9.1.5 ARTIM), ``-td`` (DIMSE replies), ``-pdu`` and ports in
  DCMTK's ranges (:func:`add_network`, :func:`add_server_options`, :func:`configure`);
* transport layer security (PS3.15 B.1): ``+tls``, ``-tls``, ``+tla``, ``+ps``/``+pw``/
  ``-pw``, ``-pem``, ``+cf``, ``+cd``, ``+crl``/``+crv``/``+cra``, ``+py``, ``+cc``, ``+cs``,
  ``+dp``, ``-rc``/``-vc``/``-ic``, turned into a standard-library :class:`ssl.SSLContext`
  (:func:`add_tls`, :func:`client_tls`, :func:`server_tls`);
* user identity negotiation (PS3.7 D.3.3.7): ``-usr``, ``-pwd``, ``-epw``, ``-kt``,
  ``--saml``, ``--jwt``, ``-rsp`` (:func:`add_identity`, :func:`identity_item`,
  :func:`remote_of`).

Flags DCMTK has and these tools do not are not defined at all, so argparse refuses them
("unrecognized arguments"); ``docs/reference/dcmtk_flags.rst`` maps every DCMTK flag onto
ours. :mod:`pynetdicom2.toolsupport` re-exports the names the tools import.

Usage::

    parser = dcmtk_parser('mytool', 'my DICOM tool')
    parser.add_argument('peer')
    parser.add_argument('port', type=int)
    add_network(parser, 'MYTOOL')            # + TLS and user identity for a requester
    ns = parser.parse_args(['+tls', 'me.key', 'me.pem', '+cf', 'ca.pem', 'pacs', '104'])
    client = configure(ClientAE(ns.aetitle, max_pdu_length=ns.max_pdu), ns)
"""

from __future__ import annotations

import argparse
import functools
import getpass
import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Any

from pynetdicom2 import __version__, pdu
from pynetdicom2.applicationentity import AE, AEBase, check_async_window
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.userdataitems import (
    UserIdentityNegotiationSubItem,
    UserIdentityNegotiationSubItemAc,
)

__all__ = [
    'ANONYMOUS', 'DEFAULT_LOG_LEVEL', 'LOG_LEVELS', 'MAX_PDU', 'MIN_PDU', 'TRACE',
    'DcmtkArgumentParser', 'DcmtkFormatter', 'ToolError',
    'add_check', 'add_identity', 'add_network', 'add_server_options', 'add_tls',
    'worker_count',
    'client_tls', 'configure', 'dcmtk_parser', 'identity_item', 'listen_port', 'log_level',
    'max_pdu_value', 'port_number', 'remote_of', 'requesting_tls', 'seconds', 'server_tls',
    'uses_tls',
]

logger = logging.getLogger('pynetdicom2.toolflags')


class ToolError(NetDICOMError):
    """A failure the user can act on (a missing file, a bad option): one line, exit 1."""


# --- the parser ---------------------------------------------------------------------------------

#: A check run once the arguments are parsed: None, or the message of a usage error.
Check = Callable[[argparse.Namespace], 'str | None']


class DcmtkArgumentParser(argparse.ArgumentParser):
    """An argument parser that runs :attr:`checks` once the arguments are parsed.

    A check returns None or the message of a usage error (argparse's ``error``: the usage,
    the message, exit status 2), as DCMTK's range, dependency and conflict checks end a
    tool before it does anything (``--password only with --user``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checks: list[Check] = []

    def _get_option_tuples(self, option_string: str) -> list[Any]:
        """No option matches an unknown string: DCMTK neither abbreviates options nor joins
        one-letter ones, so ``-der`` (a DCMTK flag we lack) is an unrecognized argument, not
        ``-d`` followed by ``-e -r``, and ``-dv`` is not ``-d -v``."""
        return []

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse as argparse does, then run the checks (each may end the program)."""
        ns, extras = super().parse_known_args(args, namespace)
        for check in self.checks:
            message = check(ns)
            if message is not None:
                self.error(message)
        return ns, extras


def add_check(parser: argparse.ArgumentParser, check: Check) -> None:
    """Run ``check`` after parsing (a :class:`DcmtkArgumentParser`; other parsers skip it)."""
    if isinstance(parser, DcmtkArgumentParser):
        parser.checks.append(check)


# --- general options: logging -------------------------------------------------------------------

#: Below DEBUG: DCMTK's ``trace``. The library logs nothing lower than DEBUG, so ``-ll trace``
#: shows what ``-d`` shows.
TRACE = 5

#: DCMTK's log levels (``-ll``) and the level the ``pynetdicom2`` loggers get.
LOG_LEVELS = {
    'fatal': logging.CRITICAL, 'error': logging.ERROR, 'warn': logging.WARNING,
    'info': logging.INFO, 'debug': logging.DEBUG, 'trace': TRACE,
}

#: The level without ``-q``/``-v``/``-d``/``-ll``. DCMTK's is ``warn``; ours is ``error``
#: because the library's warnings about a failure repeat what the one ``E:`` line says
#: (``-ll warn`` gives DCMTK's).
DEFAULT_LOG_LEVEL = 'error'


class DcmtkFormatter(logging.Formatter):
    """A log line as DCMTK prints it: ``F:``, ``E:``, ``W:``, ``I:``, ``D:`` or ``T:``, then
    the message.

    >>> record = logging.LogRecord('pynetdicom2', logging.CRITICAL, '', 0, 'no', None, None)
    >>> DcmtkFormatter('%(message)s').format(record)
    'F: no'
    """

    _LETTERS = ((logging.CRITICAL, 'F'), (logging.ERROR, 'E'), (logging.WARNING, 'W'),
                (logging.INFO, 'I'), (logging.DEBUG, 'D'))

    def format(self, record: logging.LogRecord) -> str:
        letter = next((mark for level, mark in self._LETTERS if record.levelno >= level), 'T')
        return f'{letter}: {super().format(record)}'


def _add_logging(group: Any) -> None:
    """``-q``, ``-v``, ``-d`` and ``-ll`` share one destination: the last one given wins."""
    for names, level, text in (
        (('-q', '--quiet'), 'fatal', 'quiet mode, print no warnings and errors'),
        (('-v', '--verbose'), 'info', 'verbose mode, print processing details'),
        (('-d', '--debug'), 'debug', 'debug mode, print debug information (and tracebacks)'),
    ):
        group.add_argument(*names, dest='log_level', action='store_const', const=level,
                           help=text)
    group.add_argument('-ll', '--log-level', dest='log_level', choices=list(LOG_LEVELS),
                       metavar='[l]evel',
                       help='use level l for the logger (fatal, error, warn, info, debug, '
                            f'trace; default: {DEFAULT_LOG_LEVEL})')


def _derive_verbosity(ns: argparse.Namespace) -> None:
    """``ns.verbose`` and ``ns.debug`` from the level, for code that reads those."""
    level = log_level(ns)
    ns.verbose = level <= logging.INFO
    ns.debug = level <= logging.DEBUG


def log_level(ns: argparse.Namespace) -> int:
    """The logging level the options ask for (a namespace without ``log_level``: from
    ``debug`` and ``verbose``).

    >>> log_level(argparse.Namespace(log_level='warn')) == logging.WARNING
    True
    """
    name = getattr(ns, 'log_level', None)
    if name is None and 'log_level' not in vars(ns):  # a namespace not from dcmtk_parser
        if getattr(ns, 'debug', False):
            return logging.DEBUG
        if getattr(ns, 'verbose', False):
            return logging.INFO
    return LOG_LEVELS[name or DEFAULT_LOG_LEVEL]


def dcmtk_parser(prog: str, description: str) -> DcmtkArgumentParser:
    """An argument parser with DCMTK's general options (``-h``, ``--version``, ``-q``, ``-v``,
    ``-d``, ``-ll``); ``+`` starts an option too (``+sd``, ``+P``, ``+tls``).

    After parsing, ``ns.verbose`` and ``ns.debug`` say whether the level is info or debug
    (or lower).
    """
    parser = DcmtkArgumentParser(
        prog=prog, description=description, prefix_chars='-+', allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    general = parser.add_argument_group('general options')
    general.add_argument('--version', action='version',
                         version=f'{prog} (pynetdicom2 {__version__})')
    _add_logging(general)
    parser.checks.append(_derive_verbosity)  # returns None: never an error
    return parser


# --- network options ----------------------------------------------------------------------------

#: The ``-pdu`` range, DCMTK's (its ASC_MINIMUMPDUSIZE and ASC_MAXIMUMPDUSIZE): 0, which
#: PS3.8 D.1 allows and means unlimited, would let every peer send PDUs of any size.
MIN_PDU = 4096
MAX_PDU = 131072


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None


def max_pdu_value(text: str) -> int:
    """``-pdu``: an integer from :data:`MIN_PDU` to :data:`MAX_PDU`, else an argparse error.

    >>> max_pdu_value('16384')
    16384
    >>> max_pdu_value('0')
    Traceback (most recent call last):
      ...
    argparse.ArgumentTypeError: 0 is not in 4096..131072 (bytes, as DCMTK allows)
    """
    value = _integer(text)
    if not MIN_PDU <= value <= MAX_PDU:
        raise argparse.ArgumentTypeError(
            f'{value} is not in {MIN_PDU}..{MAX_PDU} (bytes, as DCMTK allows)'
        )
    return value


def port_number(text: str) -> int:
    """A peer's TCP port: 1 to 65535, as DCMTK checks it; else an argparse error.

    >>> port_number('104')
    104
    >>> port_number('70000')
    Traceback (most recent call last):
      ...
    argparse.ArgumentTypeError: 70000 is not in 1..65535
    """
    value = _integer(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f'{value} is not in 1..65535')
    return value


def listen_port(text: str) -> int:
    """A port to listen on: 1 to 65535 as DCMTK, or 0 (ours): any free port, logged."""
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f'{value} is not in 1..65535 (or 0: any free port)')
    return value


def seconds(text: str) -> float:
    """A timeout: a number of seconds greater than 0 (DCMTK takes whole seconds from 1).

    >>> seconds('2.5')
    2.5
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number of seconds') from None
    if not value > 0 or value == float('inf'):
        raise argparse.ArgumentTypeError(f'{text} is not a number of seconds above 0')
    return value


def _check_peer_ports(ns: argparse.Namespace) -> str | None:
    """The peer's ``port`` and movescu's ``+P`` port: 1..65535 (the tools read them as int)."""
    for dest, flag in (('port', 'port'), ('retrieve_port', '+P/--port')):
        value = getattr(ns, dest, None)
        if isinstance(value, int) and not 1 <= value <= 65535:
            return f'argument {flag}: {value} is not in 1..65535'
    return None


def add_server_options(parser: argparse.ArgumentParser, aet: str) -> None:
    """What every server tool takes: the port (default 104; 1..65535, or 0 for any free
    port), the network and TLS options with our AE title ``aet``, ``--bind`` (the address to
    listen on, IPv4 or IPv6: :mod:`pynetdicom2.aeserver`) and ``--accept`` (calling AE titles
    allowed)."""
    parser.add_argument('port', type=listen_port, nargs='?', default=104,
                        help='tcp/ip port number to listen on (default: 104; 0: any free port)')
    add_network(parser, aet, called=False)
    parser.add_argument('--bind', default='', metavar='address',
                        help='address to listen on, IPv4 or IPv6 (::1); :: listens on every '
                             'interface over IPv6 and IPv4 (default: every IPv4 interface)')
    parser.add_argument('--accept', action='append', default=[], metavar='[a]etitle',
                        help='accept associations only from this calling AE title '
                             '(repeatable; default: any)')
    group = parser.add_argument_group('processes and metrics')
    group.add_argument('--workers', type=worker_count, default=None, metavar='[n]umber',
                       help='serve from n processes sharing the port (POSIX; SIGTERM stops '
                            'them gracefully; --max-associations counts them all)')
    group.add_argument('--metrics-port', type=listen_port, default=None, metavar='[p]ort',
                       help='serve Prometheus metrics on this port (needs prometheus_client)')
    group.add_argument('--metrics-host', default='127.0.0.1', metavar='address',
                       help='address of the metrics endpoint (default: 127.0.0.1)')


def worker_count(text: str) -> int:
    """``--workers``: 1 to 64 processes."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f'{text!r}: expected a number of processes, 1 to 64')
    return value


def add_network(parser: argparse.ArgumentParser, aet: str, called: bool = True) -> None:
    """DCMTK's network options: ``-aet`` (default ``aet``), ``-aec`` (when ``called``),
    ``-to``, ``-ta``, ``-td``, ``-pdu``; then the TLS options (:func:`add_tls`) and, for a
    requester (``called``), the user identity options (:func:`add_identity`) and the check
    that the peer's port is in 1..65535."""
    group = parser.add_argument_group('network options')
    group.add_argument('-aet', '--aetitle', default=aet, metavar='[a]etitle',
                       help=f'set my AE title (default: {aet})')
    if called:
        group.add_argument('-aec', '--call', default='ANY-SCP', metavar='[a]etitle',
                           help='set called AE title of peer (default: ANY-SCP)')
    group.add_argument('-to', '--timeout', type=seconds, default=None, metavar='[s]econds',
                       help='timeout for connection requests (TCP connect, and the TLS '
                            'handshake of a requester; default: 15)')
    group.add_argument('-ta', '--acse-timeout', type=seconds, default=30.0,
                       metavar='[s]econds',
                       help='timeout for ACSE messages: the replies to our A-ASSOCIATE-RQ and '
                            'A-RELEASE-RQ; a server: the A-ASSOCIATE-RQ after a connection '
                            '(default: 30)')
    group.add_argument('-td', '--dimse-timeout', type=seconds, default=None,
                       metavar='[s]econds',
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
    if called:
        add_identity(parser)
        add_check(parser, _check_peer_ports)
    add_tls(parser, requester=called)


def configure(ae: AEBase, ns: argparse.Namespace) -> AEBase:
    """Apply the network, TLS and identity options to an AE; returns it.

    * ``-to``: ``connect_timeout`` (the TCP connection and, requesting, the TLS handshake);
    * ``-ta``: ``artim_timeout`` (the A-ASSOCIATE and A-RELEASE replies; as acceptor the
      A-ASSOCIATE-RQ after the connection, and the TLS handshake);
    * ``-td``: ``dcm_timeout`` (each DIMSE reply), and for a server also ``network_timeout``
      (the next request of an idle association: then aborted);
    * ``--async-window``: ``async_window``;
    * TLS: a server (:class:`~pynetdicom2.applicationentity.AE`) gets :func:`server_tls` for
      what it accepts and :func:`requesting_tls` for what it requests (C-MOVE
      sub-operations); any other AE :func:`client_tls`;
    * ``-rsp``: the A-ASSOCIATE-AC must carry a user identity response, else the
      association is aborted and :class:`ToolError` raised (PS3.7 D.3.3.7.2).
    """
    if ns.timeout is not None:
        ae.connect_timeout = ns.timeout
    ae.artim_timeout = ns.acse_timeout
    if ns.dimse_timeout is not None:
        ae.dcm_timeout = ns.dimse_timeout
        ae.network_timeout = ns.dimse_timeout
    if ns.async_window is not None:
        ae.async_window = check_async_window((ns.async_window, ns.async_window))
    _apply_tls(ae, ns)
    _expect_identity_response(ae, ns)
    return ae


def remote_of(ns: argparse.Namespace) -> RemoteAEConfig:
    """The peer of a DCMTK-style SCU: ``-aec``, ``peer`` and ``port``, and our user identity
    (:func:`identity_item`) if one is given."""
    item = identity_item(ns)
    return RemoteAEConfig(ns.call, ns.peer, ns.port, user_data=[item] if item else [])


# --- transport layer security -------------------------------------------------------------------

#: ``ns.tls`` for ``+tla``: TLS without a certificate of ours.
ANONYMOUS = 'anonymous'


class _Prompt:
    """``+ps``: prompt for the private key's password on the terminal, if it has one."""

    def __repr__(self) -> str:
        return 'PROMPT'


_PROMPT = _Prompt()


class _ListCiphers(argparse.Action):
    """``+cc``: print the cipher suites TLS 1.2 or later offers here (OpenSSL names), exit 0."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        print('Supported TLS ciphersuites are (OpenSSL names):')
        for cipher in context.get_ciphers():
            print(f'    {cipher["name"]}')
        parser.exit(0)


def add_tls(parser: argparse.ArgumentParser, requester: bool) -> None:
    """DCMTK's TLS options (PS3.15 B.1), as its tools print them; a ``requester`` has
    ``+tla``, a server ``-vc`` and ``+dp``. Each needs ``+tls`` (or ``+tla``), as in DCMTK."""
    group = parser.add_argument_group('transport layer security (TLS) options')
    group.add_argument('-tls', '--disable-tls', dest='tls', action='store_const', const=None,
                       help='use normal TCP/IP connection (default)')
    group.add_argument('+tls', '--enable-tls', dest='tls', nargs=2,
                       metavar=('[p]rivate_key_file', '[c]ertificate_file'),
                       help='use authenticated secure TLS connection (PEM files)')
    if requester:
        group.add_argument('+tla', '--anonymous-tls', dest='tls', action='store_const',
                           const=ANONYMOUS,
                           help='use secure TLS connection without certificate')
    group.add_argument('+ps', '--std-passwd', dest='key_password', action='store_const',
                       const=_PROMPT,
                       help='prompt user to type password on stdin (default; only if the '
                            'private key has one)')
    group.add_argument('+pw', '--use-passwd', dest='key_password', metavar='[p]assword',
                       help='use specified password')
    group.add_argument('-pw', '--null-passwd', dest='key_password', action='store_const',
                       const='', help='use empty string as password')
    group.add_argument('-pem', '--pem-keys', dest='pem', action='store_true',
                       help='read keys and certificates as PEM file (default; DER is not '
                            'supported)')
    group.add_argument('+cf', '--add-cert-file', dest='cert_files', action='append',
                       default=[], metavar='[f]ilename',
                       help='add certificate file to list of certificates (trusted CAs)')
    group.add_argument('+cd', '--add-cert-dir', dest='cert_dirs', action='append', default=[],
                       metavar='[d]irectory',
                       help='add certificates in d to list of certificates (files named by '
                            'their hash: openssl rehash d)')
    group.add_argument('+crl', '--add-crl-file', dest='crl_files', action='append',
                       default=[], metavar='[f]ilename',
                       help='add certificate revocation list file (implies --enable-crl-vfy)')
    group.add_argument('+crv', '--enable-crl-vfy', dest='crl_leaf', action='store_true',
                       help='enable leaf CRL verification')
    group.add_argument('+cra', '--enable-crl-all', dest='crl_all', action='store_true',
                       help='enable full chain CRL verification')
    group.add_argument('+py', '--profile-bcp195-nd', dest='tls_profile', action='store_true',
                       help='Non-downgrading BCP 195 TLS Profile (default, the only one: '
                            'TLS 1.2 or later)')
    group.add_argument('+cc', '--list-ciphers', action=_ListCiphers, nargs=0,
                       help='show list of supported TLS ciphersuites and exit')
    group.add_argument('+cs', '--cipher', dest='ciphers', action='append', default=[],
                       metavar='[c]iphersuite_name',
                       help='add ciphersuite to list of negotiated suites (TLS 1.2; OpenSSL '
                            'names, as +cc lists them)')
    if not requester:
        group.add_argument('+dp', '--dhparam', dest='dhparam', default=None,
                           metavar='[f]ilename',
                           help='read DH parameters for DH/DSS ciphersuites')
    group.add_argument('-rc', '--require-peer-cert', dest='peer_cert', action='store_const',
                       const='require',
                       help='verify peer certificate, fail if absent (default)')
    if not requester:
        group.add_argument('-vc', '--verify-peer-cert', dest='peer_cert',
                           action='store_const', const='verify',
                           help='verify peer certificate if present')
    group.add_argument('-ic', '--ignore-peer-cert', dest='peer_cert', action='store_const',
                       const='ignore', help="don't verify peer certificate")
    add_check(parser, _tls_check(requester))


#: TLS options that need TLS (dest -> flag), and whether they need ``+tls`` itself.
_NEEDS_TLS = (
    ('key_password', '+ps/+pw/-pw', True), ('pem', '-pem/--pem-keys', False),
    ('cert_files', '+cf/--add-cert-file', False), ('cert_dirs', '+cd/--add-cert-dir', False),
    ('crl_files', '+crl/--add-crl-file', False), ('crl_leaf', '+crv/--enable-crl-vfy', False),
    ('crl_all', '+cra/--enable-crl-all', False),
    ('tls_profile', '+py/--profile-bcp195-nd', False), ('ciphers', '+cs/--cipher', False),
    ('dhparam', '+dp/--dhparam', False), ('peer_cert', '-rc/-vc/-ic', False),
)


def _tls_check(requester: bool) -> Check:
    enabling = '+tls or +tla' if requester else '+tls'

    def check(ns: argparse.Namespace) -> str | None:
        tls = getattr(ns, 'tls', None)
        for dest, flag, needs_keys in _NEEDS_TLS:
            value = getattr(ns, dest, None)
            if value is None or value is False or value == []:
                continue
            if needs_keys and not isinstance(tls, list):
                return f'{flag} only with +tls'
            if tls is None:
                return f'{flag} only with {enabling}'
        if getattr(ns, 'crl_leaf', False) and getattr(ns, 'crl_all', False):
            return '+cra/--enable-crl-all conflicts with +crv/--enable-crl-vfy'
        return None

    return check


def uses_tls(ns: argparse.Namespace) -> bool:
    """True when the options ask for TLS (``+tls`` or ``+tla``)."""
    return getattr(ns, 'tls', None) is not None


def _load(what: str, load: Callable[[], Any]) -> None:
    """Run ``load()``; an error reading a file becomes a :class:`ToolError` naming ``what``."""
    try:
        load()
    except ssl.SSLError as exc:
        raise ToolError(f'{what}: {exc.reason or exc}') from exc
    except OSError as exc:
        raise ToolError(f'{what}: {exc.strerror or exc}') from exc


def _add_ciphers(context: ssl.SSLContext, names: Sequence[str]) -> None:
    """``+cs``: add ``names`` (OpenSSL names, TLS 1.2 suites) to what the context offers."""
    for name in names:
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            probe.set_ciphers(name)
        except ssl.SSLError:
            hint = ' (OpenSSL names, e.g. ECDHE-RSA-AES128-GCM-SHA256: see +cc)'
            raise ToolError(f'+cs {name}: unknown ciphersuite{hint}') from None
    offered = [cipher['name'] for cipher in context.get_ciphers()
               if cipher.get('protocol') != 'TLSv1.3']
    context.set_ciphers(':'.join([*offered, *names]))


def _key_password(ns: argparse.Namespace) -> str | Callable[[], str]:
    """The private key's password: ``+pw``'s, ``-pw``'s empty one, or (``+ps``, the default)
    a prompt on the terminal that OpenSSL calls only for an encrypted key, asked once per
    run (a server loads the key twice: to accept and to request)."""
    if isinstance(ns.key_password, str):
        return ns.key_password

    def prompt() -> str:
        if not isinstance(ns.key_password, str):
            ns.key_password = getpass.getpass(f'password of the private key {ns.tls[0]}: ')
        return str(ns.key_password)

    return prompt


def _tls_context(protocol: int, ns: argparse.Namespace) -> ssl.SSLContext:
    """What both sides share: TLS 1.2 or later (+py), trusted CAs, CRLs, ciphers, our keys."""
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for flag, files, keyword in (('+cf', ns.cert_files, 'cafile'),
                                 ('+cd', ns.cert_dirs, 'capath'),
                                 ('+crl', ns.crl_files, 'cafile')):
        for name in files:
            _load(f'{flag} {name}',
                  functools.partial(context.load_verify_locations, **{keyword: name}))
    if ns.crl_all:
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
    elif ns.crl_leaf or ns.crl_files:
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    if ns.ciphers:
        _add_ciphers(context, ns.ciphers)
    if isinstance(ns.tls, list):
        key, cert = ns.tls
        _load(f'+tls {key} {cert}: cannot use this private key and certificate',
              lambda: context.load_cert_chain(cert, key, _key_password(ns)))
    return context


def client_tls(ns: argparse.Namespace) -> ssl.SSLContext | None:
    """The client context the options ask for (None without ``+tls``/``+tla``).

    As DCMTK's: the server's certificate chain is verified against ``+cf``/``+cd`` (``-ic``:
    not at all), not its host name; ``+tls`` presents our certificate, ``+tla`` none.
    Raises :class:`ToolError` for a file that cannot be used.
    """
    if not uses_tls(ns):
        return None
    context = _tls_context(ssl.PROTOCOL_TLS_CLIENT, ns)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE if ns.peer_cert == 'ignore' else ssl.CERT_REQUIRED
    return context


def requesting_tls(ns: argparse.Namespace) -> ssl.SSLContext | None:
    """A server's context for the associations it requests (C-MOVE sub-operations): our
    ``+tls`` certificate, the server's certificate verified unless ``-ic``."""
    return client_tls(ns)


def server_tls(ns: argparse.Namespace) -> ssl.SSLContext | None:
    """The server context the options ask for (None without ``+tls``).

    ``-rc`` (default) requires and verifies a client certificate, ``-vc`` verifies one if
    presented, ``-ic`` asks for none. ``+dp`` loads DH parameters. Raises
    :class:`ToolError` for a file that cannot be used.
    """
    if not isinstance(getattr(ns, 'tls', None), list):
        return None
    context = _tls_context(ssl.PROTOCOL_TLS_SERVER, ns)
    context.verify_mode = {'verify': ssl.CERT_OPTIONAL, 'ignore': ssl.CERT_NONE}.get(
        ns.peer_cert, ssl.CERT_REQUIRED)
    dhparam = getattr(ns, 'dhparam', None)
    if dhparam is not None:
        _load(f'+dp {dhparam}', lambda: context.load_dh_params(dhparam))
    return context


def _apply_tls(ae: AEBase, ns: argparse.Namespace) -> None:
    """Give ``ae`` the contexts of :func:`configure`.

    A server's accepting socket was made with the AE (``AE.server``); it reads its context
    for each connection it accepts, so it is given the context too.
    """
    if not uses_tls(ns):
        return
    if not ns.cert_files and not ns.cert_dirs and ns.peer_cert != 'ignore':
        logger.warning('no +cf or +cd: no CA is trusted, so no peer certificate can be '
                       'verified (add +cf ca.pem, or -ic)')
    if isinstance(ae, AE):
        context = server_tls(ns)
        ae.ssl_context = context
        ae.server.ssl_context = context
        ae.client_ssl_context = requesting_tls(ns)
    else:
        ae.ssl_context = client_tls(ns)


# --- user identity negotiation ------------------------------------------------------------------

#: The identity kinds and their user identity type (PS3.7 D.3.3.7.1).
_IDENTITY_TYPES = {'user': 1, 'kerberos': 3, 'saml': 4, 'jwt': 5}


class _Tagged:
    """An argparse type that keeps which identity option gave the value: ``(kind, value)``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __call__(self, text: str) -> tuple[str, str]:
        return (self.kind, text)

    def __repr__(self) -> str:
        return self.kind


def add_identity(parser: argparse.ArgumentParser) -> None:
    """DCMTK storescu's user identity options (PS3.7 D.3.3.7): ``-usr`` (``-pwd``,
    ``-epw``), ``-kt``, ``--saml``, ``--jwt`` (the last one given wins) and ``-rsp``."""
    group = parser.add_argument_group('user identity negotiation')
    group.add_argument('-usr', '--user', dest='identity', type=_Tagged('user'),
                       metavar='[u]ser_name', help='authenticate using user name u')
    group.add_argument('-pwd', '--password', dest='identity_password', metavar='[p]assword',
                       help='authenticate using password p (only with --user)')
    group.add_argument('-epw', '--empty-password', dest='identity_password',
                       action='store_const', const='',
                       help='send empty password (only with --user)')
    group.add_argument('-kt', '--kerberos', dest='identity', type=_Tagged('kerberos'),
                       metavar='[f]ilename', help='read kerberos ticket from file f')
    group.add_argument('--saml', dest='identity', type=_Tagged('saml'), metavar='[f]ilename',
                       help='read SAML request from file f')
    group.add_argument('--jwt', dest='identity', type=_Tagged('jwt'), metavar='[f]ilename',
                       help='read JWT data from file f')
    group.add_argument('-rsp', '--pos-response', dest='pos_response', action='store_true',
                       help='expect positive response (the association fails without one)')
    add_check(parser, _check_identity)


def _check_identity(ns: argparse.Namespace) -> str | None:
    identity = getattr(ns, 'identity', None)
    if ns.identity_password is not None and (identity is None or identity[0] != 'user'):
        return '-pwd/--password and -epw/--empty-password only with -usr/--user'
    if ns.pos_response and identity is None:
        return '-rsp/--pos-response only with -usr, -kt, --saml or --jwt'
    return None


def _read_token(flag: str, path: str) -> bytes:
    try:
        with open(path, 'rb') as fp:
            return fp.read()
    except OSError as exc:
        raise ToolError(f'{flag} {path}: {exc.strerror or exc}') from exc


def identity_item(ns: argparse.Namespace) -> UserIdentityNegotiationSubItem | None:
    """The user identity sub-item (0x58, PS3.7 D.3.3.7.1) the options ask for, or None.

    ``-usr`` alone: type 1; with ``-pwd`` or ``-epw`` (an empty password): type 2;
    ``-kt``, ``--saml``, ``--jwt``: types 3, 4, 5 with the file's bytes. ``-rsp`` sets
    Positive-response-requested. Raises :class:`ToolError` for a file that cannot be read.

    >>> ns = argparse.Namespace(identity=('user', 'alice'), identity_password='',
    ...                         pos_response=True)
    >>> item = identity_item(ns)
    >>> item.user_identity_type, item.secondary_field, item.positive_response_req
    (2, '', 1)
    """
    identity = getattr(ns, 'identity', None)
    if identity is None:
        return None
    kind, value = identity
    positive = int(bool(getattr(ns, 'pos_response', False)))
    if kind == 'user':
        password = getattr(ns, 'identity_password', None)
        if password is None:
            return UserIdentityNegotiationSubItem(value, user_identity_type=1,
                                                  positive_response_req=positive)
        return UserIdentityNegotiationSubItem(value, password, user_identity_type=2,
                                              positive_response_req=positive)
    flag = {'kerberos': '-kt', 'saml': '--saml', 'jwt': '--jwt'}[kind]
    return UserIdentityNegotiationSubItem(_read_token(flag, value),
                                          user_identity_type=_IDENTITY_TYPES[kind],
                                          positive_response_req=positive)


def _identity_response(ac: pdu.AAssociateAcPDU) -> UserIdentityNegotiationSubItemAc | None:
    """The A-ASSOCIATE-AC's user identity response (0x59, PS3.7 D.3.3.7.2), if any."""
    for variable in ac.variable_items:
        if isinstance(variable, pdu.UserInformationItem):
            for item in variable.user_data:
                if isinstance(item, UserIdentityNegotiationSubItemAc):
                    return item
    return None


def _expect_identity_response(ae: AEBase, ns: argparse.Namespace) -> None:
    """With ``-rsp``, wrap the AE's ``on_association_response`` hook: an A-ASSOCIATE-AC
    without a user identity response raises :class:`ToolError` (which aborts the association).

    DCMTK's storescu checks this for user names (types 1 and 2) only; we check every type.
    """
    if not getattr(ns, 'pos_response', False) or getattr(ns, 'identity', None) is None:
        return
    hook = ae.on_association_response

    def checked(ac: pdu.AAssociateAcPDU) -> None:
        hook(ac)
        if _identity_response(ac) is None:
            raise ToolError(
                'user identity: -rsp asked for a positive response and the A-ASSOCIATE-AC '
                'carries none (PS3.7 D.3.3.7.2): the peer did not confirm our identity'
            )

    ae.on_association_response = checked  # type: ignore[method-assign]  # this AE only
