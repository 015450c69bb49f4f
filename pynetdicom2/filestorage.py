"""Data sets on disk as DICOM Part-10 files (PS3.10 7.1): what pynetdicom2 writes and reads.

This module owns four small things about files, and nothing about the network:

* the 128-byte preamble, ``DICM`` and the File Meta Information written before a received
  data set (:func:`write_meta`) and read, without decoding the data set, before a file is
  sent (:func:`read_meta`);
* the UID grammar that guards every file name built from a peer's UID
  (:func:`is_safe_uid`): a file name is never made of anything but digits and dots;
* :class:`StagedFile`, the temporary file that a received data set is written to, beside its
  final place, and that becomes ``<SOPInstanceUID>.dcm`` by an atomic rename only when the
  data set was accepted: nothing half-written is ever visible (docs/reliability.rst); and
  :class:`StagingReserve`, staged files created ahead, so that a batch of small data sets
  does not wait for each file to be created;
* the naming policies that say where under the storage directory an accepted data set goes
  (:class:`FileNaming`): by SOP Instance UID (the default, :class:`SOPInstanceUIDNaming`), in
  study and series folders (:class:`StudySeriesNaming`), or from a template of attribute
  keywords (:class:`TemplateNaming`). Every component of a name is checked: a UID with
  :func:`is_safe_uid`, anything else reduced to letters, digits, ``.-_^`` and space, never
  ``.`` or ``..``, so no name leaves the storage directory.
  :class:`~pynetdicom2.applicationentity.FolderStorageMixin` applies them.

Usage::

    from pynetdicom2 import filestorage

    staged = filestorage.StagedFile(storage_dir)
    filestorage.write_meta(staged, command_set, transfer_syntax)
    staged.write(data_set_bytes)
    staged.commit(storage_dir / f'{sop_instance_uid}.dcm')   # or staged.discard()

    with open('ct.dcm', 'rb') as fp:
        meta = filestorage.read_meta(fp)      # fp is now at the first data set byte
        print(meta.sop_class_uid, meta.transfer_syntax)

    scp.file_naming = filestorage.TemplateNaming('{PatientID}/{StudyInstanceUID}/'
                                                 '{SOPInstanceUID}.dcm', replace=True)
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import re
import string
import struct
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, ClassVar, NamedTuple

from pydicom import config, datadict, dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.negotiation import IMPLEMENTATION_UID, IMPLEMENTATION_VERSION_NAME

logger = logging.getLogger('pynetdicom2.filestorage')

__all__ = [
    'PREAMBLE', 'FileNaming', 'Part10Meta', 'SOPInstanceUIDNaming', 'StagedFile',
    'StagingReserve', 'StudySeriesNaming', 'TemplateNaming', 'current_source_ae_title',
    'encode_meta', 'is_copy_of',
    'is_safe_uid', 'numbered', 'place', 'read_header', 'read_meta', 'receiving_from',
    'safe_component',
    'sync_directories', 'sync_file', 'write_meta',
]

#: PS3.10 7.1: a 128-byte preamble (all zero when unused) and the prefix ``DICM``.
PREAMBLE = b'\0' * 128 + b'DICM'

# PS3.5 9.1: a UID is at most 64 characters: numeric components, separated by single dots,
# none with a leading zero (a lone 0 is a component), and a root and a suffix at least.
_MAX_UID_LENGTH = 64
_UID = re.compile(r'(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+')

# PS3.5 7.1.2: explicit VR elements whose length field is 4 bytes after 2 reserved bytes.
_LONG_VRS = frozenset({b'OB', b'OD', b'OF', b'OL', b'OV', b'OW', b'SQ', b'SV', b'UC', b'UN',
                       b'UR', b'UT', b'UV'})
_TAG = struct.Struct('<HH')
_SHORT_LENGTH = struct.Struct('<H')
_LONG_LENGTH = struct.Struct('<I')
# A file meta group bigger than this is not one (real ones are a few hundred bytes).
_MAX_META_LENGTH = 64 * 1024
# Bytes read at a time past the preamble: a whole meta group, usually, in one read.
_META_READ_SIZE = 1024
#: The command set's Affected SOP Instance and Class UID, by the data set keyword they stand
#: for (file meta, and template fields a data set may lack).
_FROM_COMMAND_SET = {'SOPInstanceUID': 0x00001000, 'SOPClassUID': 0x00000002}


def is_safe_uid(uid: Any) -> bool:
    """True when ``uid`` is a valid UID (PS3.5 9.1), and so may become a file name.

    At most 64 characters, numeric components separated by single dots, no component with a
    leading zero, at least two components. ``../x``, ``/abs``, empty strings, ``00``,
    ``0001`` and anything but a str are refused: a name built from a peer's UID never leaves
    its directory, and never lands on a file a valid UID could not have named.

    >>> is_safe_uid('1.2.840.10008.5.1.4.1.1.2'), is_safe_uid('../x'), is_safe_uid('')
    (True, False, False)
    >>> is_safe_uid('1.2.0.3'), is_safe_uid('1.2.03'), is_safe_uid('0001'), is_safe_uid('1')
    (True, False, False, False)
    """
    return (
        isinstance(uid, str)
        and len(uid) <= _MAX_UID_LENGTH
        and _UID.fullmatch(uid) is not None
    )


# --- writing: the file meta information before a received data set ---------------------------


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    """One explicit VR little endian element with a 2-byte length (PS3.5 7.1.2)."""
    return _TAG.pack(group, element) + vr + _SHORT_LENGTH.pack(len(value)) + value


def _padded_uid(uid: str) -> bytes:
    raw = uid.encode('ascii')
    return raw + b'\0' if len(raw) % 2 else raw  # PS3.5 6.2: UI is padded with NUL


def encode_meta(
    sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str, version_name: str = '',
    source_ae_title: str = '',
) -> bytes:
    """The preamble, ``DICM`` and the File Meta Information group (PS3.10 7.1) as bytes.

    Written by hand rather than through pydicom: it is a few elements, and a storage SCP
    writes it for every file it receives. ``source_ae_title``, when it is a valid AE title
    (PS3.5 6.2: at most 16 characters, no backslash or control character), becomes (0002,0016)
    Source Application Entity Title (PS3.10 Table 7.1-1; a storage SCP writes the calling AE
    title there, as DCMTK's storescp does); anything else is left out.

    >>> encode_meta('1.2.3', '1.2.3.4', '1.2.840.10008.1.2.1')[128:132]
    b'DICM'
    >>> b'MODALITY' in encode_meta('1.2.3', '1.2.3.4', '1.2.840.10008.1.2.1', '', 'MODALITY')
    True
    """
    body = [
        # (0002,0001) File Meta Information Version: OB, 4-byte length, value 00 01.
        _TAG.pack(0x0002, 0x0001) + b'OB\0\0' + _LONG_LENGTH.pack(2) + b'\0\1',
        _element(0x0002, 0x0002, b'UI', _padded_uid(sop_class_uid)),
        _element(0x0002, 0x0003, b'UI', _padded_uid(sop_instance_uid)),
        _element(0x0002, 0x0010, b'UI', _padded_uid(transfer_syntax)),
        _element(0x0002, 0x0012, b'UI', _padded_uid(IMPLEMENTATION_UID)),
    ]
    if version_name:
        raw = version_name.encode('ascii')
        body.append(_element(0x0002, 0x0013, b'SH', raw + b' ' if len(raw) % 2 else raw))
    source = _ae_value(source_ae_title)
    if source:
        body.append(_element(0x0002, 0x0016, b'AE', source))
    group = b''.join(body)
    # (0002,0000) File Meta Information Group Length: the bytes after it.
    length = _TAG.pack(0x0002, 0x0000) + b'UL' + _SHORT_LENGTH.pack(4) + _LONG_LENGTH.pack(
        len(group)
    )
    return b''.join((PREAMBLE, length, group))


def write_meta(fp: BinaryIO, command_set: Dataset, ts: str, source_ae_title: str = '') -> None:
    """Write the preamble and File Meta Information for the data set of a C-STORE-RQ.

    SOP class and instance come from the command set (Affected SOP Class/Instance UID), the
    transfer syntax is the accepted context's, and the implementation class UID is ours;
    ``source_ae_title`` (the calling AE title of the association) is written as (0002,0016)
    Source Application Entity Title. The data set, in that transfer syntax, is to be written
    right after.

    >>> import io
    >>> command_set = Dataset()       # in a storage SCP: the C-STORE-RQ's command set
    >>> command_set.AffectedSOPClassUID = '1.2.840.10008.5.1.4.1.1.2'
    >>> command_set.AffectedSOPInstanceUID = '1.2.3.4'
    >>> fp = io.BytesIO()
    >>> write_meta(fp, command_set, '1.2.840.10008.1.2.1')   # the context's transfer syntax
    >>> fp.getvalue()[128:132], read_meta(io.BytesIO(fp.getvalue())).sop_instance_uid
    (b'DICM', '1.2.3.4')
    """
    fp.write(
        encode_meta(
            _command_value(command_set, _FROM_COMMAND_SET['SOPClassUID']),
            _command_value(command_set, _FROM_COMMAND_SET['SOPInstanceUID']),
            ts,
            IMPLEMENTATION_VERSION_NAME,
            source_ae_title,
        )
    )


def _ae_value(title: str) -> bytes:
    """An AE title's value padded to even length with a space (PS3.5 6.2); b'' for one that
    is empty or not an AE title (over 16 characters, non-ASCII, backslash, control code)."""
    text = title.strip(' ')
    if not text or len(text) > 16 or any(not ' ' <= c <= '~' or c == '\\' for c in text):
        return b''
    raw = text.encode('ascii')
    return raw + b' ' if len(raw) % 2 else raw


def _command_value(command_set: Dataset, tag: int) -> str:
    # By tag: a keyword costs pydicom a dictionary search, on every file received.
    element = command_set.get(tag)
    value = None if element is None else element.value
    return str(value) if value else ''


# --- reading: the file meta information before a data set we send -----------------------------


class Part10Meta(NamedTuple):
    """What :func:`read_meta` found: the UIDs a C-STORE needs, and where the data set starts."""

    sop_class_uid: UID | None
    sop_instance_uid: UID | None
    transfer_syntax: UID | None
    data_set_offset: int


def _truncated(count: int, what: str) -> NetDICOMError:
    return NetDICOMError(f'truncated DICOM file: expected {count} more bytes of {what}')


def read_meta(fp: BinaryIO) -> Part10Meta:
    """Read the preamble and File Meta Information of a Part-10 file; leave ``fp`` at the data set.

    Only group 0002 is parsed (it is always explicit VR little endian, PS3.10 7.1); the data
    set itself is neither read nor decoded, so a file of any size costs a few hundred bytes
    here. A file without the 128-byte preamble but starting with group 0002 is accepted
    too. Raises :class:`~pynetdicom2.exceptions.NetDICOMError` for anything else.

    >>> import tempfile
    >>> from pynetdicom2.loopback import make_dataset, write_dataset
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_dataset(make_dataset(), tmp)          # a CT image, a Part-10 file
    ...     with open(path, 'rb') as fp:
    ...         meta = read_meta(fp)
    ...         rest = fp.read()                   # the data set, in meta.transfer_syntax
    >>> meta.sop_class_uid.name, meta.transfer_syntax.name
    ('CT Image Storage', 'Explicit VR Little Endian')
    >>> rest[:4].hex()                    # the data set's first tag, (0008,0005), little endian
    '08000500'
    """
    start = fp.tell()
    head = fp.read(132 + _META_READ_SIZE) or b''
    if len(head) >= 132 and head[128:132] == b'DICM':
        skipped = 132
    elif len(head) >= 4 and head[:2] == b'\x02\x00':
        skipped = 0  # no preamble: the meta group starts at once
    else:
        raise NetDICOMError(
            'not a DICOM Part-10 file: expected "DICM" at byte 128 (PS3.10 7.1) or a file meta '
            f'group at byte 0, found {head[128:132]!r} and {head[:4]!r}'
        )
    # Parsed from a few large reads (an element at a time cost some thirty read calls a file).
    data = head[skipped:]
    values: dict[int, bytes] = {}
    position = 0
    while position <= _MAX_META_LENGTH:
        if len(data) < position + 12:  # perhaps not a whole element header left
            data += fp.read(_META_READ_SIZE) or b''
            if len(data) < position + 4:
                break  # a file holding the file meta only
        group, element = _TAG.unpack_from(data, position)
        if group != 0x0002:
            break
        if len(data) < position + 8:
            raise _truncated(position + 8 - len(data), f'the header of (0002,{element:04X})')
        vr = data[position + 4:position + 6]
        if vr in _LONG_VRS:
            if len(data) < position + 12:
                raise _truncated(position + 12 - len(data), f'the header of (0002,{element:04X})')
            length = _LONG_LENGTH.unpack_from(data, position + 8)[0]
            value_start = position + 12
        else:
            length = _SHORT_LENGTH.unpack_from(data, position + 6)[0]
            value_start = position + 8
        if length > _MAX_META_LENGTH:
            raise NetDICOMError(
                f'file meta element (0002,{element:04X}) declares {length} bytes: not a file '
                'meta information group'
            )
        position = value_start + length
        if len(data) < position:
            data += fp.read(max(position - len(data), _META_READ_SIZE)) or b''
            if len(data) < position:
                raise _truncated(position - len(data), f'element (0002,{element:04X})')
        values[element] = data[value_start:position]
    else:
        raise NetDICOMError(f'the file meta information group exceeds {_MAX_META_LENGTH} bytes')
    offset = start + skipped + position
    fp.seek(offset)

    def uid(element: int) -> UID | None:
        raw = values.get(element)
        if raw is None:
            return None
        text = raw.rstrip(b'\0 ').decode('ascii', 'replace')
        # Not validated: what a file claims is checked where it matters (the context's SOP
        # class and transfer syntax, is_safe_uid for names), and pydicom's check costs more
        # than the rest of this function.
        return UID(text, config.IGNORE) if text else None

    return Part10Meta(uid(0x0002), uid(0x0003), uid(0x0010), offset)


# --- staging: a received data set becomes visible only when accepted --------------------------


class StagedFile(io.BufferedRandom):
    """A hidden temporary file in ``directory``: renamed into place, or deleted, at the end.

    It is an ordinary binary file object (write, seek, read), so a handler can read it back
    with ``pydicom.dcmread``. :meth:`commit` renames it atomically (``os.replace``: the same
    file system, since it lives in the target's directory); :meth:`discard` deletes it.
    Both close it first; :meth:`discard` is idempotent, while :meth:`commit` after a commit
    or discard raises :class:`~pynetdicom2.exceptions.NetDICOMError`. Made in a thread to
    which a :class:`StagingReserve` is offered, it is a file the reserve prepared in the same
    directory, if there is one.

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as incoming:
    ...     staged = StagedFile(incoming)
    ...     print(staged.write(b'...'), staged.path.name.startswith('.pynetdicom2-'),
    ...           staged.name == str(staged.path))
    ...     target = staged.commit(Path(incoming) / '1.2.3.dcm')
    ...     os.listdir(incoming)
    3 True True
    ['1.2.3.dcm']
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        reserve: StagingReserve | None = getattr(_offer, 'reserve', None)
        raw = None if reserve is None else reserve.take(directory)
        if raw is None:
            raw = _open_hidden(directory)
        try:
            super().__init__(raw)
        except BaseException:
            _remove(raw)
            raise
        # Plain strings: pathlib costs more than the rest of the bookkeeping of a small file.
        self._name: str = raw.name
        #: The directory the file lives in, and its final name's.
        self.directory = os.path.dirname(self._name)
        #: Where the data set starts, once the file meta is written (None: not told).
        self.data_set_offset: int | None = None
        self._finished = False

    @property
    def path(self) -> Path:
        """Where the data set is being written; gone after commit() or discard()."""
        return Path(self._name)

    def commit(self, target: str | os.PathLike[str]) -> Path:
        """Close the file and rename it to ``target`` (replacing a file of that name)."""
        if self._finished:
            raise NetDICOMError(f'{self._name} was already committed or discarded')
        self.close()
        os.replace(self._name, target)
        self._finished = True
        return target if isinstance(target, Path) else Path(target)

    def commit_new(self, target: str | os.PathLike[str]) -> bool:
        """Close the file and give it the name ``target`` only if no file has that name.

        Returns False, the file staying staged, when ``target`` exists. Atomic where the
        file system has hard links (a link, then the staged name removed): two writers of one
        name cannot both win. Elsewhere the check and the rename are two steps, which the
        caller's lock must cover.
        """
        if self._finished:
            raise NetDICOMError(f'{self._name} was already committed or discarded')
        self.close()
        try:
            os.link(self._name, target)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            if os.path.lexists(target):
                return False
            os.replace(self._name, target)
        else:
            os.unlink(self._name)
        self._finished = True
        return True

    def discard(self) -> None:
        """Close and delete the file (nothing is left behind)."""
        with contextlib.suppress(OSError):
            self.close()
        if not self._finished:
            self._finished = True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._name)


# What os.link raises where a file system has no hard links (FAT, some network shares).
_NO_HARD_LINKS = frozenset(
    code for code in (getattr(errno, name, None) for name in (
        'EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS', 'EXDEV'))
    if code is not None
)


def is_copy_of(path: str | os.PathLike[str], sop_instance_uid: str) -> bool:
    """True when ``path`` is a Part-10 file of the instance ``sop_instance_uid`` (its file
    meta says so): a file a storing AE may replace with a new copy of that instance."""
    try:
        with open(path, 'rb') as fp:
            return read_meta(fp).sop_instance_uid == sop_instance_uid
    except (OSError, NetDICOMError):
        return False


def place(
    staged: StagedFile,
    target: str | os.PathLike[str],
    sop_instance_uid: str | None,
    *,
    replace: bool = False,
    max_iterations: int = 10,
) -> Path:
    """Give a staged file its final name, never overwriting a file that is not ours.

    ``target`` free: the file goes there. Taken: with ``replace``, a copy of the same
    instance (:func:`is_copy_of`) is replaced atomically (``os.replace``), as an archive
    that keeps one copy wants; anything else (another instance's file, a file we did not
    write) is kept, and the new file goes to the first free ``<stem>_N.dcm``, N <
    ``max_iterations``, as without ``replace``. Raises :class:`FileExistsError` when every
    name is taken (the C-STORE then answers A700H: out of resources).
    """
    if staged.commit_new(target):
        return Path(target)
    if replace and sop_instance_uid and is_copy_of(target, sop_instance_uid):
        return staged.commit(target)
    if replace:
        logger.warning('%s exists and is not a copy of instance %s: it is kept, and the new '
                       'file goes beside it', target, sop_instance_uid)
    path = os.fspath(target)
    stem, extension = (path[:-4], path[-4:]) if path.lower().endswith('.dcm') else (path, '')
    for index in range(1, max_iterations):
        candidate = f'{stem}_{index}{extension}'
        if staged.commit_new(candidate):
            return Path(candidate)
    directory, name = os.path.split(path)
    raise FileExistsError(f'{name} and {max_iterations - 1} numbered copies exist in {directory}')


def sync_file(fp: BinaryIO) -> None:
    """Flush ``fp`` and have the system write it to the disk (``os.fsync``)."""
    fp.flush()
    os.fsync(fp.fileno())


def sync_directories(path: str | os.PathLike[str], up_to: str | os.PathLike[str]) -> None:
    """``os.fsync`` the directory of ``path`` and each parent up to ``up_to``, included: a
    new name, and any directory made for it, survive a power cut. Where directories cannot
    be opened (Windows) there is nothing to do."""
    directory = os.path.dirname(os.fspath(path))
    last = os.path.abspath(up_to)
    while True:
        try:
            fd = os.open(directory, os.O_RDONLY)
        except (PermissionError, IsADirectoryError):  # pragma: no cover - Windows
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if os.path.abspath(directory) == last or os.path.dirname(directory) == directory:
            return
        directory = os.path.dirname(directory)


def _current_umask() -> int:
    """The process's umask (read once: os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Received files get the mode a file the process creates gets (0666 less the umask), as a
# file storescp writes does, not mkstemp's private 0600: other users of the archive read them.
_FILE_MODE = 0o666 & ~_current_umask()


def _open_hidden(directory: str | os.PathLike[str]) -> io.FileIO:
    """A new, empty hidden file in ``directory``, open for reading and writing.

    Its ``name`` is its absolute path, as for a file opened by name (a handler may log it or
    open it again), not the descriptor mkstemp returned.
    """
    fd, name = tempfile.mkstemp(prefix='.pynetdicom2-', suffix='.part', dir=directory)
    try:
        if hasattr(os, 'fchmod'):  # POSIX
            os.fchmod(fd, _FILE_MODE)
        raw = io.FileIO(fd, 'r+')
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    raw.name = name
    return raw


def _remove(raw: io.FileIO) -> None:
    with contextlib.suppress(OSError):
        raw.close()
    with contextlib.suppress(OSError):
        os.unlink(raw.name)


# What StagingReserve.offered() offers to the StagedFiles made in this thread meanwhile, and
# the calling AE title receiving_from() names for their file meta.
_offer = threading.local()


@contextlib.contextmanager
def receiving_from(source_ae_title: str) -> Iterator[None]:
    """Within the block, files this thread writes meta for name ``source_ae_title`` as their
    Source Application Entity Title (PS3.10 Table 7.1-1): the association that opens a
    received data set's file (``get_file`` has no argument for it) says who sent it."""
    previous = getattr(_offer, 'source_ae_title', '')
    _offer.source_ae_title = source_ae_title
    try:
        yield
    finally:
        _offer.source_ae_title = previous


def current_source_ae_title() -> str:
    """The AE title :func:`receiving_from` names in this thread ('' outside it)."""
    return str(getattr(_offer, 'source_ae_title', ''))


class StagingReserve:
    """Files for the next data sets received into a directory, created before they arrive.

    Creating a file is the costliest step of receiving a small data set: a new inode, kernel
    time that on some file systems approaches a millisecond (ext4 without a journal, for one,
    passes over every inode freed in the last minutes to find one). A storage SCP answering a
    batch of small C-STOREs one at a time would spend it between request and response, every
    time. With a reserve, the thread that answered a data set prepares the next one's file
    (:meth:`prepare`) while the peer is still sending it, and :meth:`offered` lets a
    :class:`StagedFile` made meanwhile in that thread for the same directory take the
    prepared file instead of creating one. A prepared file is empty and hidden, as a staged
    file is; :meth:`close` deletes those not taken. Thread-safe.

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as incoming:
    ...     reserve = StagingReserve()
    ...     reserve.prepare(incoming)              # e.g. after answering a C-STORE
    ...     prepared = os.listdir(incoming)
    ...     with reserve.offered():
    ...         staged = StagedFile(incoming)      # the prepared file, not a new one
    ...     print(staged.path.name == prepared[0], len(reserve))
    ...     staged.discard(); reserve.close()
    True
    True 0
    """

    def __init__(self, size: int = 2) -> None:
        #: How many files may be prepared (or being prepared) at a time.
        self.size = size
        self._lock = threading.Lock()
        self._files: list[tuple[str, io.FileIO]] = []  # (directory, file)
        self._preparing = 0
        self._closed = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)

    def prepare(self, directory: str | os.PathLike[str]) -> bool:
        """Create one file in ``directory`` unless :attr:`size` are ready; True if it did.

        A file that cannot be created (a full disk...) is not an error here: the data set
        that would have used it meets the same error, and its service answers it.
        """
        with self._lock:
            if self._closed or len(self._files) + self._preparing >= self.size:
                return False
            self._preparing += 1
        try:
            raw = _open_hidden(directory)
        except OSError:
            with self._lock:
                self._preparing -= 1
            return False
        with self._lock:
            self._preparing -= 1
            if not self._closed:
                self._files.append((os.path.dirname(raw.name), raw))
                return True
        _remove(raw)  # closed meanwhile
        return False

    def take(self, directory: str | os.PathLike[str]) -> io.FileIO | None:
        """A file prepared in ``directory``, now the caller's; None if there is none."""
        with self._lock:
            if not self._files:
                return None
        where = os.path.abspath(directory)  # the form of the paths mkstemp returns
        with self._lock:
            for index, (prepared_in, raw) in enumerate(self._files):
                if prepared_in == where:
                    del self._files[index]
                    return raw
        return None

    def close(self) -> None:
        """Delete the files not taken; prepare nothing more."""
        with self._lock:
            self._closed = True
            files, self._files = self._files, []
        for _directory, raw in files:
            _remove(raw)

    @contextlib.contextmanager
    def offered(self) -> Iterator[None]:
        """A block in which a :class:`StagedFile` made in this thread takes a prepared file."""
        previous = getattr(_offer, 'reserve', None)
        _offer.reserve = self
        try:
            yield
        finally:
            _offer.reserve = previous


# --- naming: where under the storage directory an accepted data set goes ------------------------

#: The characters a name component may hold (PS3.10 8.2 is stricter still for media).
_NAME_CHARACTERS = frozenset(
    'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_^ '
)
#: Longest file or directory name most file systems take.
_MAX_COMPONENT_LENGTH = 255


def safe_component(value: Any) -> str:
    """``value`` as one file name component: other characters than letters, digits, ``.-_^``
    and space become ``_``; an empty result, ``.`` and ``..`` become ``_``.

    >>> safe_component('../P/1'), safe_component('..'), safe_component('Doe^Jane')
    ('.._P_1', '_', 'Doe^Jane')
    """
    text = ''.join(c if c in _NAME_CHARACTERS else '_' for c in str(value)).strip()
    return text if text not in ('', '.', '..') else '_'


def _is_safe_component(part: str) -> bool:
    return (0 < len(part) <= _MAX_COMPONENT_LENGTH and part not in ('.', '..')
            and all(c in _NAME_CHARACTERS for c in part))


def numbered(target: str | os.PathLike[str], max_iterations: int) -> Path:
    """``target``, or the first of ``<stem>_1.dcm`` ... ``<stem>_N.dcm`` that is free, with
    N < ``max_iterations`` (``max_iterations`` names in all). Raises :class:`FileExistsError`
    when all are taken.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     Path(tmp, '1.2.3.dcm').touch()
    ...     numbered(Path(tmp, '1.2.3.dcm'), 10).name
    '1.2.3_1.dcm'
    """
    # os.path rather than pathlib: this runs for every data set received.
    path = os.fspath(target)
    stem, extension = (path[:-4], path[-4:]) if path.lower().endswith('.dcm') else (path, '')
    for index in range(max_iterations):
        candidate = f'{stem}_{index}{extension}' if index else path
        if not os.path.lexists(candidate):
            return Path(candidate)
    directory, name = os.path.split(path)
    raise FileExistsError(
        f'{name} and {max_iterations - 1} numbered copies exist in {directory}'
    )


def read_header(fp: BinaryIO, keywords: Iterable[str] | None = None) -> Dataset:
    """The data set of a staged Part-10 file without its pixel data (for a naming policy).

    ``keywords``: read only these elements (and the SOP UIDs); None: every element but the
    pixel data. Raises :class:`OSError` when it cannot be read (the C-STORE then answers
    A700H).
    """
    tags = None if keywords is None else sorted({*keywords, *_FROM_COMMAND_SET})
    try:
        fp.seek(0)
        return dcmread(fp, stop_before_pixels=True, force=True, specific_tags=tags)
    except OSError:
        raise
    except Exception as exc:
        raise OSError(f'cannot read the received data set to name its file: {exc}') from exc


class FileNaming:
    """Where an accepted data set is filed, relative to the storage directory.

    A policy turns the C-STORE-RQ's command set (and, when :attr:`needs_dataset` is true, the
    data set's header) into a relative path (:meth:`relative_path`); :meth:`path_in` checks
    every component of it and places it in a directory. With ``replace`` a second copy of an
    instance replaces the first; without, it becomes ``<name>_1.dcm``, ``<name>_2.dcm`` ...
    (:func:`numbered`). Subclass it and override :meth:`relative_path` for a layout of your
    own; a :class:`ValueError` refuses the data set (the C-STORE answers C000H: cannot
    understand, since its values make no file name).
    """

    #: True when :meth:`relative_path` needs the data set (read from the staged file).
    needs_dataset: ClassVar[bool] = False
    #: The attribute keywords :meth:`relative_path` reads from the data set (None: any, so
    #: the whole header is read).
    keywords: tuple[str, ...] | None = None

    def __init__(self, *, replace: bool = False) -> None:
        self.replace = replace

    def __repr__(self) -> str:
        return f'{type(self).__name__}(replace={self.replace})'

    def relative_path(self, command_set: Dataset, dataset: Dataset | None = None) -> PurePosixPath:
        """The file's path relative to the storage directory."""
        raise NotImplementedError

    def path_in(
        self,
        directory: str | os.PathLike[str],
        command_set: Dataset,
        dataset: Dataset | None = None,
        max_iterations: int = 10,
    ) -> Path:
        """Where the file goes in ``directory``: checked, and numbered unless ``replace``.

        Raises :class:`ValueError` for a path that is absolute or has a component that is
        empty, ``.``, ``..``, too long or holds other characters than letters, digits,
        ``.-_^`` and space; :class:`FileExistsError` when every numbered name is taken.
        """
        target = self.target_in(directory, command_set, dataset)
        return target if self.replace else numbered(target, max_iterations)

    def target_in(
        self, directory: str | os.PathLike[str], command_set: Dataset,
        dataset: Dataset | None = None,
    ) -> Path:
        """The file's name in ``directory`` before any numbering (see :func:`place`).

        Raises :class:`ValueError` as :meth:`path_in` does.
        """
        relative = self.relative_path(command_set, dataset)
        if relative.is_absolute() or not relative.parts or not all(
            _is_safe_component(part) for part in relative.parts
        ):
            raise ValueError(f'{relative} is not a safe relative file name; refusing it')
        return Path(os.path.join(os.fspath(directory), *relative.parts))


class SOPInstanceUIDNaming(FileNaming):
    """``<SOPInstanceUID>.dcm``, from the command set's Affected SOP Instance UID (the default).

    >>> command_set = Dataset(); command_set.AffectedSOPInstanceUID = '1.2.3'
    >>> SOPInstanceUIDNaming().relative_path(command_set)
    PurePosixPath('1.2.3.dcm')
    """

    @staticmethod
    def file_name(sop_instance_uid: str) -> str:
        """``<uid>.dcm``; :class:`ValueError` for a UID that is not safe in a file name."""
        if not is_safe_uid(sop_instance_uid):
            raise ValueError(f'{sop_instance_uid!r} is not a valid UID; refusing it as a file name')
        return f'{sop_instance_uid}.dcm'

    def relative_path(self, command_set: Dataset, dataset: Dataset | None = None) -> PurePosixPath:
        element = command_set.get(_FROM_COMMAND_SET['SOPInstanceUID'])
        uid = '' if element is None or element.value is None else str(element.value)
        return PurePosixPath(self.file_name(uid.strip('\0 ')))


class TemplateNaming(FileNaming):
    """A path from a template of attribute keywords, e.g. DCMTK-like
    ``'{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm'``.

    Each ``{Keyword}`` becomes the data set's value: a UID (VR UI) must pass
    :func:`is_safe_uid` (else the data set is refused), any other value is reduced with
    :func:`safe_component`, and an absent or empty one is ``_``. ``SOPInstanceUID`` and
    ``SOPClassUID`` fall back on the command set's Affected SOP Instance / Class UID. Fields
    are plain keywords: no format specification or conversion. ``/`` (or ``\\``) separates
    directories, created as needed. Raises :class:`ValueError` for a template that names no
    file or has another kind of field.

    >>> ds = Dataset(); ds.PatientID = '../P/1'; ds.SOPInstanceUID = '1.2.3'
    >>> TemplateNaming('{PatientID}/{Modality}/{SOPInstanceUID}.dcm').render(ds).as_posix()
    '.._P_1/_/1.2.3.dcm'
    """

    needs_dataset = True

    def __init__(self, template: str, *, replace: bool = False) -> None:
        super().__init__(replace=replace)
        self.template = template
        self._components: list[list[tuple[str, str | None]]] = []
        try:
            for component in template.replace('\\', '/').split('/'):
                if component:
                    self._components.append([
                        (literal, self._field(field, spec, conversion))
                        for literal, field, spec, conversion in string.Formatter().parse(component)
                    ])
        except ValueError as exc:
            raise ValueError(f'file name template {template!r}: {exc}') from None
        if not self._components:
            raise ValueError(f'file name template {template!r} names no file')
        self.keywords = tuple(sorted({field for pieces in self._components
                                      for _literal, field in pieces if field}))

    @staticmethod
    def _field(field: str | None, spec: str | None, conversion: str | None) -> str | None:
        if field is not None and (not field.isidentifier() or spec or conversion):
            raise ValueError(f'{{{field}}} is not a {{Keyword}} field')
        return field

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.template!r}, replace={self.replace})'

    @staticmethod
    def _value(keyword: str, dataset: Dataset, command_set: Dataset | None) -> str:
        tag = datadict.tag_for_keyword(keyword)
        try:
            value: Any = dataset.get(keyword) if tag is not None else None
        except Exception as exc:  # pydicom raises many kinds on a value it cannot decode
            raise ValueError(f'{keyword} cannot be read for a file name: {exc}') from None
        if (value is None or value == '') and keyword in _FROM_COMMAND_SET and command_set:
            element = command_set.get(_FROM_COMMAND_SET[keyword])
            value = None if element is None else element.value
        if isinstance(value, (list, tuple)) or type(value).__name__ == 'MultiValue':
            value = '\\'.join(str(item) for item in value)
        text = '' if value is None else str(value).strip('\0 ')
        if not text:
            return '_'
        if tag is not None and datadict.dictionary_VR(tag) == 'UI':
            if not is_safe_uid(text):
                raise ValueError(f'{keyword} {text!r} is not a valid UID; refusing it in a '
                                 'file name')
            return text
        return safe_component(text)

    def render(self, dataset: Dataset, command_set: Dataset | None = None) -> PurePosixPath:
        """The relative path for ``dataset`` (a header is enough)."""
        return PurePosixPath(*(
            safe_component(''.join(
                literal + (self._value(field, dataset, command_set) if field else '')
                for literal, field in pieces
            ))
            for pieces in self._components
        ))

    def relative_path(self, command_set: Dataset, dataset: Dataset | None = None) -> PurePosixPath:
        return self.render(dataset if dataset is not None else Dataset(), command_set)


class StudySeriesNaming(TemplateNaming):
    """``<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``: a folder per study,
    and in it one per series.

    >>> ds = Dataset(); ds.StudyInstanceUID = '1.2'; ds.SeriesInstanceUID = '1.2.3'
    >>> ds.SOPInstanceUID = '1.2.3.4'
    >>> StudySeriesNaming().render(ds).as_posix()
    '1.2/1.2.3/1.2.3.4.dcm'
    """

    #: The template this policy applies.
    TEMPLATE = '{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm'

    def __init__(self, *, replace: bool = False) -> None:
        super().__init__(self.TEMPLATE, replace=replace)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(replace={self.replace})'
