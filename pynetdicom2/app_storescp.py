"""``pynetdicom2-storescp``: receive C-STOREs into a folder, as DCMTK's ``storescp`` does.

This module owns the storage SCP of the DCMTK-style tools (:mod:`pynetdicom2.apps` re-exports
:func:`storescp`): where a received file goes, what its file meta says of its sender, and the
command run for each file.

* ``-od`` must be an existing directory we can write to, or the tool does not start.
* Files are written atomically (:mod:`pynetdicom2.filestorage`) as ``<SOPInstanceUID>.dcm``;
  ``-fe EXT`` makes that ``<SOPInstanceUID>EXT`` (DCMTK appends EXT to names that have no
  extension; ours have ``.dcm``, which EXT replaces); ``-su PREFIX`` puts them in a folder per
  study, ``PREFIX_<StudyInstanceUID>`` (``<StudyInstanceUID>`` for an empty prefix), as
  DCMTK's; ``--filepath`` (ours) names the whole path from a template.
* The file meta of a received file carries the calling AE title as (0002,0016) Source
  Application Entity Title (PS3.10 Table 7.1-1), as DCMTK's storescp writes it.
* ``-xcr CMD`` runs CMD after each file is in place. DCMTK's placeholders are replaced:
  ``#p`` the directory of the file (``-od`` as given, with the ``-su`` or ``--filepath``
  folders), ``#f`` its name, ``#a`` the calling AE title, ``#c`` the called AE title, ``#r``
  the peer's address. CMD is split once like a shell would (:func:`shlex.split`) and each
  argument gets its placeholders replaced; it runs as that argument list, never through a
  shell, so a value sent by the peer is never parsed as shell syntax. The commands run one
  at a time, in the order the files arrived, in a background thread
  (``pynetdicom2-storescp-exec``): receiving never waits for them. Those still queued when
  the tool stops are run before it exits (for at most :data:`EXEC_DRAIN_TIMEOUT` seconds).
* ``--require-called-aet`` (ours; DCMTK's storescp answers any called AE title, its dcmqrscp
  does not) rejects an association calling another AE title than ``-aet``: A-ASSOCIATE-RJ,
  rejected permanent, service user, called AE title not recognised (1/1/7, PS3.8 Table 9-21).

Usage::

    pynetdicom2-storescp -aet STORESCP -od ./incoming -su IN -xcr 'index.sh #p/#f #a' 11112
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, NamedTuple

from pydicom.dataset import Dataset

from pynetdicom2 import sopclass, uids
from pynetdicom2.applicationentity import StorageAE
from pynetdicom2.filestorage import (
    FileNaming,
    SOPInstanceUIDNaming,
    StagedFile,
    TemplateNaming,
    is_safe_uid,
    safe_component,
)
from pynetdicom2.fsm import PContextDef
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

__all__ = ['EXEC_DRAIN_TIMEOUT', 'ExtensionNaming', 'Peer', 'ReceptionCommand', 'StoreSCP',
           'StudyUIDNaming', 'storescp', 'storescp_main', 'syntax_policy', 'writable_directory']

logger = logging.getLogger('pynetdicom2.apps')

#: How long a stopping storescp waits for the ``-xcr`` commands still queued.
EXEC_DRAIN_TIMEOUT = 60.0

#: DCMTK's placeholders of ``--exec-on-reception``.
_PLACEHOLDER = re.compile('#[pfacr]')


class Peer(NamedTuple):
    """Who sent a data set: what ``#a``, ``#c`` and ``#r`` stand for."""

    calling_aet: str
    called_aet: str
    host: str


# --- file names ---------------------------------------------------------------------------------


class ExtensionNaming(SOPInstanceUIDNaming):
    """``<SOPInstanceUID><extension>`` (``-fe``): the default name with another extension.

    >>> command_set = Dataset(); command_set.AffectedSOPInstanceUID = '1.2.3'
    >>> ExtensionNaming('.img').relative_path(command_set)
    PurePosixPath('1.2.3.img')
    """

    def __init__(self, extension: str = '.dcm') -> None:
        super().__init__(replace=False)
        self.extension = extension

    def relative_path(self, command_set: Dataset, dataset: Dataset | None = None) -> PurePosixPath:
        default = super().relative_path(command_set, dataset)  # '<uid>.dcm', the UID checked
        return default.with_name(default.name[:-len('.dcm')] + self.extension)


class StudyUIDNaming(ExtensionNaming):
    """``<prefix>_<StudyInstanceUID>/<SOPInstanceUID><extension>`` (``-su``), as DCMTK's
    ``--sort-on-study-uid`` names its folders (no ``_`` after an empty prefix). A data set
    without a valid Study Instance UID is refused (the C-STORE answers C000H).

    >>> ds = Dataset(); ds.StudyInstanceUID = '1.2'
    >>> command_set = Dataset(); command_set.AffectedSOPInstanceUID = '1.2.3'
    >>> StudyUIDNaming('IN').relative_path(command_set, ds).as_posix()
    'IN_1.2/1.2.3.dcm'
    """

    needs_dataset = True

    def __init__(self, prefix: str, extension: str = '.dcm') -> None:
        super().__init__(extension)
        self.prefix = prefix
        self.keywords = ('StudyInstanceUID',)

    def relative_path(self, command_set: Dataset, dataset: Dataset | None = None) -> PurePosixPath:
        value = None if dataset is None else dataset.get('StudyInstanceUID')
        study = str(value or '').strip('\0 ')
        if not is_safe_uid(study):
            raise ValueError(f'Study Instance UID {study!r} is not a valid UID: no study folder '
                             '(-su) is named after it')
        folder = f'{self.prefix}_{study}' if self.prefix else study
        return PurePosixPath(folder) / super().relative_path(command_set, dataset)


def _naming(ns: argparse.Namespace) -> FileNaming | None:
    """The naming the options ask for (None: the default ``<SOPInstanceUID>.dcm``); a bad
    template, prefix or extension is a :class:`ValueError` or :class:`ToolError` now, not a
    refusal per file later."""
    if ns.filepath:
        if ns.sort_on_study_uid is not None or ns.filename_extension is not None:
            raise ToolError('--filepath names the whole path: -su and -fe do not apply '
                            '(write the folder and the extension in the template)')
        return TemplateNaming(ns.filepath, replace=True)
    extension = '.dcm' if ns.filename_extension is None else ns.filename_extension
    _check_name_part('-fe', extension)
    if ns.sort_on_study_uid is not None:
        _check_name_part('-su', ns.sort_on_study_uid)
        return StudyUIDNaming(ns.sort_on_study_uid, extension)
    return ExtensionNaming(extension) if ns.filename_extension is not None else None


def _check_name_part(option: str, text: str) -> None:
    if text and safe_component(text) != text:
        raise ToolError(f'{option} {text!r}: use only letters, digits, ".-_^" and space')


def writable_directory(directory: str) -> str:
    """``directory``, or :class:`ToolError` when it does not exist or we cannot create a
    file in it (a full check: permissions, ACLs, a read-only file system)."""
    existing_directory(directory)
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise ToolError(f'-od {directory}: not writable ({exc.strerror or exc})') from None
    return directory


# --- the command run for each file --------------------------------------------------------------


class ReceptionCommand:
    """``-xcr``: a command line run for each received file, in a background thread.

    ``template`` is split once like a shell would; :meth:`arguments_for` replaces the
    placeholders in each argument (in one pass: a value holding ``#f`` stays as it is).
    :meth:`submit` queues a run and returns at once; the thread runs the commands one at a
    time, never through a shell. :meth:`close` runs what is queued, then ends the thread.

    >>> command = ReceptionCommand('echo "#f from #a" #p', check=False)
    >>> command.arguments_for({'#f': '1.2.dcm', '#a': 'MOD #p', '#p': '/in'})
    ['echo', '1.2.dcm from MOD #p', '/in']
    """

    def __init__(self, template: str, *, check: bool = True) -> None:
        try:
            self.arguments = shlex.split(template)
        except ValueError as exc:
            raise ToolError(f'-xcr {template!r}: {exc}') from None
        if not self.arguments:
            raise ToolError('-xcr: the command is empty')
        program = self.arguments[0]
        if check and not _PLACEHOLDER.search(program) and shutil.which(program) is None:
            raise ToolError(f'-xcr: cannot run {program!r}: no such program (give its path)')
        self._queue: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def arguments_for(self, values: Mapping[str, str]) -> list[str]:
        """The argument list with each placeholder replaced by its value ('' if none)."""
        return [_PLACEHOLDER.sub(lambda match: values.get(match.group(), ''), argument)
                for argument in self.arguments]

    def submit(self, values: Mapping[str, str]) -> None:
        """Queue one run with these placeholder values; never waits for it."""
        arguments = self.arguments_for(values)
        with self._lock:
            if self._closed:
                logger.warning('-xcr: stopping, not running %s', shlex.join(arguments))
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, daemon=True,
                                                name='pynetdicom2-storescp-exec')
                self._thread.start()
            self._queue.put(arguments)  # before any end marker close() queues

    def close(self, timeout: float = EXEC_DRAIN_TIMEOUT) -> None:
        """Run the commands still queued (for at most ``timeout`` seconds), end the thread.

        Every caller waits, the second one too (a tool stops from two threads at once).
        """
        with self._lock:
            first, self._closed = not self._closed, True
            thread = self._thread
        if thread is None:
            return
        if first:
            self._queue.put(None)
        thread.join(timeout)
        if thread.is_alive():
            logger.warning('-xcr: commands still running after %.0f s: not waiting for them',
                           timeout)

    def _work(self) -> None:
        while True:
            arguments = self._queue.get()
            if arguments is None:
                return
            _run(arguments)


def _run(arguments: list[str]) -> None:
    """Run one command to its end; log how it ended."""
    try:
        done = subprocess.run(arguments, stdin=subprocess.DEVNULL, check=False)
    except OSError as exc:
        logger.error('-xcr: cannot run %s: %s', arguments[0], exc.strerror or exc)
        return
    if done.returncode:
        logger.warning('-xcr: %s exited with status %d', shlex.join(arguments), done.returncode)
    else:
        logger.debug('-xcr: ran %s', shlex.join(arguments))


# --- the SCP ------------------------------------------------------------------------------------


class StoreSCP(StorageAE):
    """The storage SCP of ``pynetdicom2-storescp``.

    Knows who sent each file: the association's peer is noted when it asks
    (:meth:`on_association_request`, in its thread), looked up by the DUL thread that opens
    the file (:meth:`get_storage_file`: the calling AE title goes in the file meta), and
    carried with the file to :meth:`place_file`, which hands the final path to
    :attr:`on_reception` (``-xcr``). ``reported_dir`` is ``-od`` as the user wrote it, the
    start of ``#p``.
    """

    def __init__(self, storage_dir: str, *args: Any, **kwargs: Any) -> None:
        self.reported_dir = storage_dir
        self.on_reception: ReceptionCommand | None = None
        self._peers_lock = threading.Lock()
        # The peer of each association, by its DUL thread; and of each file, until placed.
        self._association_peers: weakref.WeakKeyDictionary[Any, Peer] = (
            weakref.WeakKeyDictionary())
        self._file_peers: weakref.WeakKeyDictionary[Any, Peer] = weakref.WeakKeyDictionary()
        super().__init__(storage_dir, *args, **kwargs)

    def on_association_request(self, asce: Any, rq: Any) -> None:
        super().on_association_request(asce, rq)
        host = (getattr(asce, 'client_address', None) or ('',))[0]
        peer = Peer(str(rq.calling_ae_title).strip(), str(rq.called_ae_title).strip(), str(host))
        with self._peers_lock:  # the DUL thread opens the files
            self._association_peers[asce.dul] = peer

    def get_storage_file(
        self, ctx: PContextDef, command_set: Dataset, path: str | os.PathLike[str]
    ) -> StagedFile:
        """The staged file, noted with the peer that sends it (for ``-xcr``)."""
        with self._peers_lock:
            peer = self._association_peers.get(threading.current_thread())
        staged = super().get_storage_file(ctx, command_set, path)
        if peer is not None:
            with self._peers_lock:
                self._file_peers[staged] = peer
        return staged

    def on_receive_store(self, context: PContextDef, ds: BinaryIO | bytes) -> Any:
        logger.info('received %s', context.sop_class)
        return super().on_receive_store(context, ds)

    def place_file(self, fp: BinaryIO, command_set: Dataset) -> Path | None:
        with self._peers_lock:
            peer = self._file_peers.pop(fp, None)
        target = super().place_file(fp, command_set)
        if target is not None and self.on_reception is not None:
            self.on_reception.submit(self.placeholders(target, peer))
        return target

    def placeholders(self, target: Path, peer: Peer | None) -> dict[str, str]:
        """DCMTK's ``-xcr`` placeholders for a file placed at ``target``."""
        folder = os.path.relpath(os.path.dirname(os.path.abspath(target)),
                                 os.path.abspath(self.storage_dir))
        directory = self.reported_dir if folder == '.' else os.path.join(self.reported_dir,
                                                                          folder)
        peer = peer or Peer('', '', '')
        return {'#p': directory, '#f': target.name, '#a': peer.calling_aet,
                '#c': peer.called_aet, '#r': peer.host}

    def quit(self) -> None:
        """Stop serving, then run the ``-xcr`` commands still queued."""
        super().quit()
        if self.on_reception is not None:
            self.on_reception.close()


# --- the command line ---------------------------------------------------------------------------


_UNCOMPRESSED = (uids.ExplicitVRLittleEndian, uids.ExplicitVRBigEndian,
                 uids.ImplicitVRLittleEndian)
#: storescp's preference flags, as DCMTK spells them: what each accepts, in its order.
_SYNTAX_FLAGS = (
    ('+x=', '--prefer-uncompr', 'prefer explicit VR local byte order (little endian here)'),
    ('+xe', '--prefer-little', 'prefer explicit VR little endian TS'),
    ('+xb', '--prefer-big', 'prefer explicit VR big endian TS'),
    ('+xs', '--prefer-lossless', 'prefer default JPEG lossless TS'),
    ('+xr', '--prefer-rle', 'prefer RLE lossless TS'),
    ('+xd', '--prefer-deflated', 'prefer deflated explicit VR little endian TS'),
    ('+xi', '--implicit', 'accept implicit VR little endian TS only'),
    ('+xa', '--accept-all', 'accept all supported transfer syntaxes (the default)'),
)
_PREFERRED = {
    '+x=': (), '+xe': (), '+xb': (uids.ExplicitVRBigEndian,),
    '+xs': (uids.JPEG_LOSSLESS_NON_HIERARCHICAL_FIRST_ORDER_PREDICTION_PROCESS_14_SELECTION_VALUE_1,
            ),
    '+xr': (uids.RLE_LOSSLESS,), '+xd': (uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,),
}


def syntax_policy(flag: str | None) -> tuple[tuple[str, ...], str]:
    """``(accepted syntaxes, preference)`` for a preference flag (None: ``+xa``).

    As DCMTK's storescp: a ``+x`` flag accepts the uncompressed syntaxes, its own first, in
    our order; ``+xi`` implicit VR little endian alone; ``+xa`` (our default; DCMTK's is
    ``+x=``) every syntax we know, in the requester's order.

    >>> syntax_policy('+xb')[0][:2], syntax_policy('+xb')[1]
    (('1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1'), 'acceptor')
    >>> syntax_policy('+xi')
    (('1.2.840.10008.1.2',), 'acceptor')
    """
    if flag is None or flag == '+xa':
        return tuple(uids.ALL_TS), 'requester'
    if flag == '+xi':
        return (uids.ImplicitVRLittleEndian,), 'acceptor'
    return tuple(dict.fromkeys([*_PREFERRED[flag], *_UNCOMPRESSED])), 'acceptor'


def _parser() -> argparse.ArgumentParser:
    parser = dcmtk_parser('pynetdicom2-storescp', 'DICOM storage (C-STORE) SCP')
    add_server_options(parser, 'STORESCP')
    parser.add_argument('--require-called-aet', action='store_true',
                        help='reject associations that call another AE title than -aet '
                             '(A-ASSOCIATE-RJ 1/1/7; default: answer any called AE title)')
    parser.add_argument('--max-associations', type=int, default=None, metavar='[n]umber',
                        help='reject associations beyond n at once (default: no limit)')
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
    output.add_argument('-su', '--sort-on-study-uid', default=None, metavar='[p]refix',
                        help='sort studies into folders named by prefix p and the Study '
                             'Instance UID: p_<StudyInstanceUID>')
    output.add_argument('-fe', '--filename-extension', default=None, metavar='[e]xtension',
                        help='end file names with e instead of .dcm (e.g. -fe .img, or -fe "")')
    syntaxes = parser.add_argument_group(
        'preferred network transfer syntaxes (default: accept all, in the order the '
        'requester proposes them)')
    choice = syntaxes.add_mutually_exclusive_group()
    for flag, long, help_text in _SYNTAX_FLAGS:
        choice.add_argument(flag, long, dest='syntax_policy', action='store_const',
                            const=flag, help=help_text)
    events = parser.add_argument_group('event options')
    events.add_argument('-xcr', '--exec-on-reception', default=None, metavar='[c]ommand',
                        help='execute command c after having received and stored one object; '
                             '#p directory, #f file name, #a calling AE title, #c called AE '
                             'title, #r peer address (run as an argument list, no shell, '
                             'in the background)')
    return parser


def storescp(argv: Sequence[str] | None = None, *, ready: Any = None) -> int:
    """``pynetdicom2-storescp [options] [port]``: receive C-STOREs into ``-od``.

    Files are written atomically as ``<SOPInstanceUID>.dcm``, or as ``-fe``, ``-su`` or
    ``--filepath`` say (see the module). Serves until interrupted (Ctrl-C or SIGTERM).
    ``ready`` (for embedding) is called with the AE once it listens.

    Usage (it serves until stopped, so this is not run as a doctest)::

        storescp(['-aet', 'STORESCP', '-od', 'incoming', '11112'])
    """
    ns = _parser().parse_args(argv)

    def body() -> int:
        directory = writable_directory(ns.output_directory)
        naming = _naming(ns)  # a bad template fails now, not once per file
        command = (ReceptionCommand(ns.exec_on_reception)
                   if ns.exec_on_reception is not None else None)
        accepted, preference = syntax_policy(ns.syntax_policy)
        with listen_errors(ns.port, ns.bind):
            scp = StoreSCP(directory, ns.aetitle, ns.port, accepted, ns.max_pdu,
                           host=ns.bind)
        scp.transfer_syntax_preference = preference
        scp.file_naming = naming
        scp.on_reception = command
        scp.fsync = ns.fsync
        scp.require_called_aet = ns.require_called_aet
        scp.allowed_calling_aets = frozenset(ns.accept) or None
        scp.maximum_associations = ns.max_associations
        configure(scp, ns)
        scp.add_scp(sopclass.storage_scp).add_scp(sopclass.verification_scp)

        return serve_until_stopped(scp, ready, '%s listening on %s, writing to %s',
                                   ns.aetitle, format_address(ns.bind or '*', scp.local_ae.port),
                                   directory, ns=ns)

    return run_dcmtk(ns, f'port {ns.port}', body)


def storescp_main() -> None:
    """Entry point of ``pynetdicom2-storescp``."""
    sys.exit(storescp())
