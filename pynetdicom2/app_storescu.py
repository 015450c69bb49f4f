"""``pynetdicom2-storescu``: C-STORE Part-10 files to a peer, as DCMTK's ``storescu`` does.

This module owns the storage SCU of the DCMTK-style tools (:mod:`pynetdicom2.apps` re-exports
:func:`storescu`): which file goes on which association and presentation context, when to
stop, what is printed at the end, and the exit status.

* Each file is sent as it is, in its own transfer syntax: every presentation context proposes
  one SOP class with one transfer syntax (PS3.8 9.3.2.2, at most 128 contexts an association).
  By default one association per transfer syntax met; with ``-R`` (``--required``) one
  association for all the SOP class / transfer syntax pairs of the files (DCMTK's "propose
  only required presentation contexts"), cut in associations of 128 contexts if need be.
* As DCMTK's, it halts at the first file that is not stored (a failure status, a context the
  peer refused, a file that cannot be read); ``-nh`` (``--no-halt``) goes on with the others.
  With an asynchronous operations window (``--async-window``) the files already under way
  when the failure is answered are answered too.
* A summary line ends every run, also one stopped by Ctrl-C: ``sent N, failed N, skipped N``
  and ``, not sent N`` when files were left. The exit status is 0 only when every file was
  stored; halted by a failure status, it is that status's high byte, as DCMTK's (``A7`` for
  ``A700``, out of resources: 167); 130 after Ctrl-C; 1 otherwise.

Usage::

    pynetdicom2-storescu -aec PACS +sd +r 10.0.0.5 104 ./study
    pynetdicom2-storescu -aec PACS -R -nh 10.0.0.5 104 a.dcm b.dcm c.dcm
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar, Union

from pydicom.uid import UID

from pynetdicom2 import sopclass, transcode, uids
from pynetdicom2.applicationentity import ClientAE
from pynetdicom2.asceprovider import PContextDefList
from pynetdicom2.exceptions import (
    AssociationError,
    DCMTimeoutError,
    DIMSEProcessingError,
    NetDICOMError,
    PDUProcessingError,
)
from pynetdicom2.negotiation import MAX_CONTEXTS
from pynetdicom2.services.storage import can_send_as
from pynetdicom2.statuses import Status
from pynetdicom2.toolsupport import (
    StoreRun,
    ToolError,
    add_network,
    collect_files,
    configure,
    dcmtk_parser,
    format_address,
    remote_of,
    run_dcmtk,
)

__all__ = ['PROPOSALS', 'AssociationPlan', 'FileProgress', 'StoreTally', 'TransferMeter',
           'plan_associations', 'proposed_syntaxes', 'storescu', 'storescu_main']

logger = logging.getLogger('pynetdicom2.apps')

#: A presentation context to propose: ``(SOP class UID, transfer syntax UID)``.
Pair = tuple[str, str]
#: What became of a file: the C-STORE status, or why it was not sent.
Outcome = Union[Status, Exception]
T = TypeVar('T')

#: One MiB; :class:`TransferMeter` logs a line each :data:`PROGRESS_STEP` of one file.
MIB = 1024 * 1024
PROGRESS_STEP = 16 * MIB


# --- which file goes where ----------------------------------------------------------------------


@dataclass(frozen=True)
class AssociationPlan:
    """One association: the contexts it proposes (one transfer syntax each) and its files."""

    contexts: tuple[Pair, ...]
    files: tuple[tuple[Path, Pair], ...]


def plan_associations(
    groups: dict[str, dict[str, list[Path]]], required: bool = False
) -> list[AssociationPlan]:
    """The associations that send the files of ``groups`` (transfer syntax -> SOP class ->
    files, as :class:`~pynetdicom2.toolsupport.StoreRun` groups them).

    By default one association per transfer syntax; with ``required`` (``-R``) the
    SOP class / transfer syntax pairs of all files share associations. Either way at most
    :data:`~pynetdicom2.negotiation.MAX_CONTEXTS` contexts an association (PS3.8 9.3.2.2).

    >>> groups = {'1.2.840.10008.1.2': {'1.2.3': [Path('a')]},
    ...           '1.2.840.10008.1.2.1': {'1.2.3': [Path('b')], '1.2.4': [Path('c')]}}
    >>> [len(plan.contexts) for plan in plan_associations(groups)]
    [1, 2]
    >>> [len(plan.contexts) for plan in plan_associations(groups, required=True)]
    [3]
    """
    if required:
        batches = [{pair: paths for ts in groups for pair, paths in _pairs(groups, ts)}]
    else:
        batches = [dict(_pairs(groups, ts)) for ts in groups]
    plans = []
    for batch in batches:
        pairs = list(batch)
        for start in range(0, len(pairs), MAX_CONTEXTS):
            chunk = pairs[start:start + MAX_CONTEXTS]
            files = tuple((path, pair) for pair in chunk for path in batch[pair])
            plans.append(AssociationPlan(tuple(chunk), files))
    return plans


def _pairs(groups: dict[str, dict[str, list[Path]]], ts: str) -> Iterator[tuple[Pair, list[Path]]]:
    """``((sop_class, ts), files)`` for each SOP class of transfer syntax ``ts``."""
    for sop_class, paths in groups[ts].items():
        yield (sop_class, ts), paths


#: The proposal flags as DCMTK's storescu spells them, and the uncompressed syntaxes each
#: proposes in its order (the library converts a file to whichever the peer accepts).
PROPOSALS: dict[str, tuple[str, ...]] = {
    '-x=': (uids.ExplicitVRLittleEndian, uids.ExplicitVRBigEndian, uids.ImplicitVRLittleEndian),
    '-xe': (uids.ExplicitVRLittleEndian, uids.ExplicitVRBigEndian, uids.ImplicitVRLittleEndian),
    '-xb': (uids.ExplicitVRBigEndian, uids.ExplicitVRLittleEndian, uids.ImplicitVRLittleEndian),
    '-xi': (uids.ImplicitVRLittleEndian,),
    '-xd': (uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, uids.ExplicitVRLittleEndian,
            uids.ExplicitVRBigEndian, uids.ImplicitVRLittleEndian),
    # Lossless compression on request (pynetdicom2.pixelcodecs, the codecs extra).
    '-xr': (uids.RLE_LOSSLESS, uids.ExplicitVRLittleEndian, uids.ExplicitVRBigEndian,
            uids.ImplicitVRLittleEndian),
    '-xt': (uids.JPEG_LS_LOSSLESS_IMAGE_COMPRESSION, uids.ExplicitVRLittleEndian,
            uids.ExplicitVRBigEndian, uids.ImplicitVRLittleEndian),
    '-xv': (uids.JPEG_2000_IMAGE_COMPRESSION_LOSSLESS_ONLY, uids.ExplicitVRLittleEndian,
            uids.ExplicitVRBigEndian, uids.ImplicitVRLittleEndian),
}


def proposed_syntaxes(file_ts: str, flag: str | None) -> tuple[str, ...]:
    """The transfer syntaxes one context proposes for files in ``file_ts``.

    A file in a syntax :mod:`pynetdicom2.transcode` cannot convert (a compressed one) is
    proposed in its own syntax only. Otherwise: with a proposal flag, what it names (``-xi``:
    implicit VR little endian only, the file converted); without, the file's own syntax
    first, then explicit and implicit VR little endian (one context, combined, as DCMTK's
    ``+C``: the peer picks one and the file is converted to it if need be).

    >>> proposed_syntaxes('1.2.840.10008.1.2.1', '-xi')
    ('1.2.840.10008.1.2',)
    >>> proposed_syntaxes('1.2.840.10008.1.2.2', None)
    ('1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2')
    >>> proposed_syntaxes('1.2.840.10008.1.2.4.50', '-xb')
    ('1.2.840.10008.1.2.4.50',)
    """
    if not transcode.can_convert(file_ts, uids.ExplicitVRLittleEndian):
        return (file_ts,)
    if flag is not None:
        return PROPOSALS[flag]
    return tuple(dict.fromkeys([file_ts, uids.ExplicitVRLittleEndian,
                                uids.ImplicitVRLittleEndian]))


def _client_for(plan: AssociationPlan, ns: argparse.Namespace) -> ClientAE:
    """A client proposing exactly the plan's contexts: one per SOP class and file syntax,
    with the syntaxes :func:`proposed_syntaxes` gives."""
    proposals = [(sop_class, proposed_syntaxes(ts, ns.proposal))
                 for sop_class, ts in plan.contexts]
    syntaxes = list(dict.fromkeys(ts for _, listed in proposals for ts in listed))
    classes = list(dict.fromkeys(sop_class for sop_class, _ in plan.contexts))
    client = ClientAE(ns.aetitle, syntaxes, ns.max_pdu)
    configure(client, ns)
    client.add_scu(sopclass.storage_scu, classes)
    # The registry's own contexts list every transfer syntax for each class; here each pair
    # gets a context of its own (renumbered by the association).
    with client.lock:
        client.context_def_list = {
            1 + 2 * index: PContextDefList(1 + 2 * index, UID(sop_class),
                                           tuple(UID(ts) for ts in listed))
            for index, (sop_class, listed) in enumerate(proposals)
        }
    return client


def _context_for(accepted: dict[Pair, Any], pair: Pair) -> Any:
    """The accepted context a file of ``pair`` goes on: its own syntax's, else one of its
    SOP class in a syntax the file converts to (None: refused)."""
    if pair in accepted:
        return accepted[pair]
    sop_class, file_ts = pair
    return next((ctx for (cls, ts), ctx in accepted.items()
                 if cls == sop_class and can_send_as(file_ts, ts)), None)


# --- sending ------------------------------------------------------------------------------------


def _send(assoc: Any, plan: AssociationPlan, meter: TransferMeter | None,
          stopped: Callable[[], bool]) -> Generator[tuple[Path, Outcome], None, None]:
    """``(path, outcome)`` per file of the plan, in the order of the answers; once
    ``stopped()`` is true no other file is sent, and those under way are answered."""
    accepted = {(str(ctx.sop_class), str(ctx.supported_ts)): ctx
                for ctx in assoc.accepted_contexts.values()}
    sendable = []
    for path, pair in plan.files:
        ctx = _context_for(accepted, pair)
        if ctx is not None:
            sendable.append((path, ctx))
        elif not stopped():
            yield path, NetDICOMError(f'peer refused {pair[0]} in {pair[1]}')
    classes = [sop_class for sop_class, _ in accepted]
    if len(classes) == len(set(classes)):
        # One context per SOP class: the library picks it, and keeps as many C-STOREs
        # outstanding as the association's window allows.
        options = {'progress': meter} if meter else {}
        paths = _until(stopped, (path for path, _ in sendable))
        if assoc.async_window[0] != 1:  # 0: no limit
            yield from assoc.store_many(paths, **options)
            return
        # One at a time: each answer is read before the next file is taken, so a halt
        # stops right after the file that failed.
        for path in paths:
            yield from assoc.store_many([path], **options)
        return
    # A SOP class in several transfer syntaxes (-R): each file on its pair's context.
    for path, ctx in _until(stopped, sendable):
        yield path, _store_one(assoc, ctx, path)


def _until(stopped: Callable[[], bool], items: Iterable[T]) -> Iterator[T]:
    """The items, as long as ``stopped()`` is false when the next one is asked for."""
    for item in items:
        if stopped():
            return
        yield item


def _store_one(assoc: Any, ctx: Any, path: Path) -> Outcome:
    """C-STORE one file on ``ctx``: its status, or the error that kept it from being sent."""
    try:
        status: Status = sopclass.storage_scu(assoc, ctx, path, assoc.new_message_id())
        return status
    except (AssociationError, DCMTimeoutError, DIMSEProcessingError, PDUProcessingError):
        raise  # the association is done for: the run stops
    except (NetDICOMError, OSError) as exc:
        return exc


def is_stored(outcome: Outcome) -> bool:
    """Success or Warning: the peer keeps the data set (PS3.4 B.2.3)."""
    return isinstance(outcome, Status) and (outcome.is_success or outcome.is_warning)


# --- what was done ------------------------------------------------------------------------------


@dataclass
class StoreTally:
    """The counts of a run, its first failure, and the line that sums it up."""

    total: int
    skipped: int = 0
    sent: int = 0
    failed: int = 0
    first_failure: Outcome | None = None
    interrupted: bool = False

    def record(self, path: Path, outcome: Outcome) -> bool:
        """Count one file; True when it was stored."""
        if is_stored(outcome):
            self.sent += 1
            return True
        self.failed += 1
        if self.first_failure is None:
            self.first_failure = outcome
        return False

    @property
    def not_sent(self) -> int:
        """Files that were to be sent but were not: after a halt, an error or Ctrl-C."""
        return self.total - self.sent - self.failed

    def summary(self) -> str:
        """``sent N, failed N, skipped N`` (``, not sent N`` when files were left).

        >>> StoreTally(total=5, skipped=1, sent=2, failed=1).summary()
        'sent 2, failed 1, skipped 1, not sent 2'
        """
        line = f'sent {self.sent}, failed {self.failed}, skipped {self.skipped}'
        return line + (f', not sent {self.not_sent}' if self.not_sent else '')

    def exit_status(self, halt: bool) -> int:
        """0 when every file was stored; after Ctrl-C 130; halted by a failure status, its
        high byte (DCMTK's storescu: ``A700`` gives 167); 1 otherwise.

        >>> from pynetdicom2 import statuses
        >>> tally = StoreTally(total=2, sent=1)
        >>> _ = tally.record(Path('x.dcm'), statuses.C_STORE_OUT_OF_RESOURCES)
        >>> tally.exit_status(halt=True), tally.exit_status(halt=False)
        (167, 1)
        """
        if self.interrupted:
            return 130
        if self.sent == self.total and not self.skipped and self.total:
            return 0
        if halt and isinstance(self.first_failure, Status):
            return max(1, (int(self.first_failure) >> 8) & 0xFF)
        return 1


class FileProgress:
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


class TransferMeter:
    """``-v``: one line each ``step`` bytes of a large file: how much is sent, and the MB/s.

    Called as ``meter(source, sent, total)`` while one file goes out (the ``progress`` hook
    of ``store_many``, where the library has it).

    >>> ticks = iter([0.0, 2.0, 4.0])
    >>> meter = TransferMeter(step=4 * MIB, clock=lambda: next(ticks), log=print)
    >>> for sent in (0, 3 * MIB, 4 * MIB, 8 * MIB):
    ...     meter('big.dcm', sent, 10 * MIB)
    big.dcm: 4 of 10 MiB sent (2.1 MB/s)
    big.dcm: 8 of 10 MiB sent (2.1 MB/s)
    """

    def __init__(self, step: int | None = None, clock: Callable[[], float] = time.perf_counter,
                 log: Callable[[str], Any] | None = None) -> None:
        self.step = step or PROGRESS_STEP
        self.clock = clock
        self.log = log or logger.info
        self._source: Any = None
        self._started = 0.0
        self._next = self.step

    def __call__(self, source: Any, sent: int, total: int) -> None:
        if source is not self._source:
            self._source, self._started, self._next = source, self.clock(), self.step
        if sent < self._next or total < self.step:
            return
        elapsed = max(self.clock() - self._started, 1e-6)
        label = Path(source).name if isinstance(source, (str, os.PathLike)) else 'data set'
        self.log(f'{label}: {sent // MIB} of {total // MIB} MiB sent '
                 f'({sent / elapsed / 1e6:.1f} MB/s)')
        self._next = (sent // self.step + 1) * self.step


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --- the command line ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
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
    proposal = parser.add_argument_group(
        'proposed transmission transfer syntaxes (default: the file\'s own, then explicit '
        'and implicit VR little endian; the file is converted to what the peer accepts)')
    proposals = proposal.add_mutually_exclusive_group()
    for flag, long, help_text in (
        ('-x=', '--propose-uncompr', 'propose all uncompressed TS, explicit VR with local '
                                     'byte ordering first'),
        ('-xe', '--propose-little', 'propose all uncompressed TS, explicit VR little endian '
                                    'first'),
        ('-xb', '--propose-big', 'propose all uncompressed TS, explicit VR big endian first'),
        ('-xi', '--propose-implicit', 'propose implicit VR little endian TS only'),
        ('-xd', '--propose-deflated', 'propose deflated explicit VR little endian TS and all '
                                      'uncompressed transfer syntaxes'),
        ('-xr', '--propose-rle', 'propose RLE lossless TS and all uncompressed transfer '
                                 'syntaxes (files compressed if it is accepted)'),
        ('-xt', '--propose-jls-lossless', 'propose JPEG-LS lossless TS and all uncompressed '
                                          'transfer syntaxes (files compressed if accepted)'),
        ('-xv', '--propose-j2k-lossless', 'propose JPEG 2000 lossless TS and all uncompressed '
                                          'transfer syntaxes (files compressed if accepted)'),
    ):
        proposals.add_argument(flag, long, dest='proposal', action='store_const', const=flag,
                               help=help_text)
    other = parser.add_argument_group('storage options')
    other.add_argument('-R', '--required', action='store_true',
                       help='propose only required presentation contexts: one association '
                            'for every SOP class / transfer syntax pair of the files '
                            '(default: one association per transfer syntax)')
    other.add_argument('-nh', '--no-halt', dest='halt', action='store_false',
                       help='do not halt if unsuccessful store encountered (default: do halt)')
    return parser


def _input_names(ns: argparse.Namespace) -> list[str]:
    """The command line's files and directories that can be read; as DCMTK's, a directory
    without ``+sd`` is ignored with a warning, a missing name halts (``-nh``: is ignored)."""
    kept = []
    for name in ns.files:
        if os.path.isdir(name) and not ns.scan_directories:
            print(f'W: ignoring directory {name}: use +sd (and +r) to scan it', file=sys.stderr)
        elif not os.path.exists(name):
            if ns.halt:
                raise ToolError(f'cannot access file: {name} (-nh ignores it)')
            print(f'W: cannot access file: {name}, ignoring it', file=sys.stderr)
        else:
            kept.append(name)
    return kept


def _report_skipped(run: StoreRun, halt: bool) -> None:
    """Files that cannot be sent: warnings, or, halting, the errors that stop the run."""
    for path, reason in run.skipped:
        if halt:
            print(f'E: {path}: {reason}: nothing sent (-nh skips such files)', file=sys.stderr)
        else:
            print(f'W: skipped {path}: {reason}', file=sys.stderr)


def _send_all(run: StoreRun, ns: argparse.Namespace, tally: StoreTally) -> None:
    """Send every file the run holds, association after association; unless ``-nh``, send
    nothing more after the first file not stored (the answers still due are read)."""
    progress = FileProgress(run.files, sys.stderr)
    meter = TransferMeter() if ns.verbose or ns.debug else None

    def halted() -> bool:
        return bool(ns.halt and tally.failed)

    try:
        for plan in plan_associations(run.groups, ns.required):
            client = _client_for(plan, ns)
            with client.request_association(remote_of(ns)) as assoc:
                with contextlib.closing(_send(assoc, plan, meter, halted)) as outcomes:
                    for path, outcome in outcomes:
                        progress.advance(path)
                        if tally.record(path, outcome):
                            logger.info('stored %s: %s', path, outcome)
                        else:
                            print(f'E: failed {path}: {outcome}', file=sys.stderr)
            if halted():
                if tally.not_sent:
                    print('E: halted at the first file not stored (-nh goes on)',
                          file=sys.stderr)
                return
    finally:
        progress.finish()


def storescu(argv: Sequence[str] | None = None) -> int:
    """``pynetdicom2-storescu [options] peer port dcmfile-in...``: C-STORE files.

    Each file is sent as it is, in its own transfer syntax (see the module). Prints a summary
    (sent / failed / skipped, and not sent when it stopped early); exit status 0 when every
    file was stored.

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
    ns = _parser().parse_args(argv)

    def body() -> int:
        names = _input_names(ns)
        run = StoreRun(collect_files(names, scan_directories=ns.scan_directories,
                                     recurse=ns.recurse))
        tally = StoreTally(total=len(run.files), skipped=len(run.skipped))
        if not run.files and not run.skipped:
            raise ToolError('no input files to be sent')
        _report_skipped(run, ns.halt)
        try:
            if not (ns.halt and run.skipped):
                _send_all(run, ns, tally)
        except KeyboardInterrupt:
            tally.interrupted = True
            print('E: interrupted', file=sys.stderr)
        finally:
            print(tally.summary())
        return tally.exit_status(ns.halt)

    return run_dcmtk(ns, f'{ns.call} at {format_address(ns.peer, ns.port)}', body)


def storescu_main() -> None:
    """Entry point of ``pynetdicom2-storescu``."""
    sys.exit(storescu())
