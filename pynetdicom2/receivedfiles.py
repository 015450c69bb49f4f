"""The one owner of the files received data sets are written to, per association.

A data set of a SOP class registered ``store_in_file`` is streamed by the DUL into a file the
AE hands out (``ae.get_file``, PS3.10 7.1: preamble and file meta first). From the moment
the DUL asks for that file until the data set is kept or dropped, one object owns it: the
association's :class:`ReceivedFiles`. Services say *keep* (``ae.keep_file``: a storing AE
puts it in place) and the code that took the message off the association discards
whatever was not kept, in one place each:

* the acceptor's dispatch loop (:mod:`pynetdicom2.asceprovider_acceptor`), for every
  request it hands a service;
* :func:`pynetdicom2.services.base.receive_response`, for what arrives while a service waits
  for a response (the C-STORE sub-operations of a C-GET, an N-EVENT-REPORT);
* the C-GET SCU's own loop (:mod:`pynetdicom2.services.retrieve`) and
  :func:`pynetdicom2.services.nservices.wait_for_event_report`;
* and, when the association ends for any reason (release, abort, a vanished peer), the
  association discards every file still owned, so no half-written data set stays on disk.

Usage (what the association does)::

    files = ReceivedFiles(ae)
    fp, start = files.open(context, command_set)     # the DUL's get_file_cb
    with files.handling(msg.data_set):               # a service runs
        files.keep(msg.data_set, msg.command_set)    # ... and accepts it
    files.discard_all()                              # the association ended
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from typing import Any, BinaryIO, Protocol, cast

from pydicom.dataset import Dataset

from pynetdicom2 import dimsemessages as dm
from pynetdicom2.filestorage import StagedFile, StagingReserve, is_safe_uid, receiving_from
from pynetdicom2.fsm import PContextDef

__all__ = ['DiscardedDataSet', 'FileKeeper', 'ReceivedFiles']

logger = logging.getLogger('pynetdicom2.asceprovider')

_AFFECTED_SOP_INSTANCE_UID = 0x00001000
_AFFECTED_SOP_CLASS_UID = 0x00000002


class FileKeeper(Protocol):
    """The AE methods that hand out, keep and remove files (``applicationentity.AEBase``)."""

    def get_file(self, context: PContextDef, command_set: Dataset) -> tuple[BinaryIO, int]: ...

    def keep_file(self, fp: BinaryIO, command_set: Dataset) -> None: ...

    def discard_file(self, fp: BinaryIO) -> None: ...


class DiscardedDataSet(io.RawIOBase):
    """Where the data set of a request we refuse goes: nowhere (nothing touches the disk).

    >>> sink = DiscardedDataSet()
    >>> sink.write(b'abc'), sink.seek(10)
    (3, 0)
    """

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return 0


class _Handling(contextlib.AbstractContextManager[None]):
    """:meth:`ReceivedFiles.handling` (a class: a generator-based context manager costs more,
    twice per request)."""

    __slots__ = ('files', 'data', 'depth')

    def __init__(self, files: ReceivedFiles, data: Any) -> None:
        self.files = files
        self.data = data
        self.depth = 0

    def __enter__(self) -> None:
        local = self.files._local
        self.depth = getattr(local, 'depth', 0)
        local.depth = self.depth + 1

    def __exit__(self, *exc_info: object) -> None:
        self.files._local.depth = self.depth
        self.files._handled(self.data, self.depth == 0)


class ReceivedFiles:
    """The files of one association's received data sets, owned until kept or discarded.

    Thread-safe: the DUL thread opens files, the association's thread keeps or discards
    them, and the association's end discards the rest.

    >>> import tempfile
    >>> class AE:
    ...     def get_file(self, context, command_set): return tempfile.TemporaryFile(), 0
    ...     def keep_file(self, fp, command_set): fp.close()
    ...     def discard_file(self, fp): fp.close()
    >>> files = ReceivedFiles(AE())
    >>> command_set = Dataset()
    >>> command_set.AffectedSOPClassUID = '1.2.840.10008.5.1.4.1.1.2'
    >>> command_set.AffectedSOPInstanceUID = '1.2.3.4'
    >>> fp, _ = files.open(PContextDef(1, '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.1.2'),
    ...                    command_set)
    >>> len(files)
    1
    >>> with files.handling(fp):        # nothing kept it: discarded when the block ends
    ...     pass
    >>> len(files), fp.closed
    (0, True)
    """

    def __init__(self, ae: FileKeeper) -> None:
        self.ae = ae
        self._files: dict[int, BinaryIO] = {}
        self._lock = threading.Lock()
        # Files of the next data sets, made while the peer sends them (see handling).
        self._reserve = StagingReserve()
        self._staged_in: str | None = None  # the directory of the last staged file
        self._staged = 0  # staged files received so far
        self._local = threading.local()  # how deep in handling() blocks each thread is
        #: The peer's AE title, for the file meta of what it sends (set once associated).
        self.source_ae_title = ''

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)

    def open(self, context: PContextDef, command_set: Dataset) -> tuple[BinaryIO, int]:
        """The DUL's ``get_file_cb``: a file from ``ae.get_file``, owned from now on.

        A data set whose SOP class or instance UID no file name may be built from (PS3.5
        9.1) is received into a :class:`DiscardedDataSet`; the service answers it with a
        failure status (PS3.4 B.2.3: C000H).
        """
        instance = dm.value_or_none(command_set.get(_AFFECTED_SOP_INSTANCE_UID))
        sop_class = dm.value_or_none(command_set.get(_AFFECTED_SOP_CLASS_UID))
        if not (is_safe_uid(instance) and is_safe_uid(sop_class)):
            logger.warning(
                'refusing to store a data set with SOP class %r, instance %r: not a valid UID',
                sop_class, instance,
            )
            return cast(BinaryIO, DiscardedDataSet()), 0
        with self._reserve.offered(), receiving_from(self.source_ae_title):
            fp, start = self.ae.get_file(context, command_set)
        with self._lock:
            self._files[id(fp)] = fp
            if isinstance(fp, StagedFile):
                self._staged_in = fp.directory
                self._staged += 1
        return fp, start

    def _release(self, data: Any) -> BinaryIO | None:
        if data is None or isinstance(data, (bytes, bytearray, memoryview)):
            return None
        with self._lock:
            return self._files.pop(id(data), None)

    def keep(self, data: Any, command_set: Dataset) -> None:
        """A service accepted the data set: the AE keeps its file (``ae.keep_file``).

        Raises :class:`OSError` when the file cannot be put in place (it is then removed, and
        the service answers out of resources, PS3.4 B.2.3: A700H). A data set in memory, or
        one already kept or discarded, needs nothing.
        """
        fp = self._release(data)
        if fp is None:
            return
        try:
            self.ae.keep_file(fp, command_set)
        except BaseException:
            self._discard(fp)  # no longer owned: nothing else would remove it
            raise

    def discard(self, data: Any) -> None:
        """Remove the file of a data set that was not kept (``ae.discard_file``); idempotent."""
        fp = self._release(data)
        if fp is not None:
            self._discard(fp)

    def discard_all(self) -> None:
        """Remove every file still owned, and those prepared: the association has ended."""
        with self._lock:
            files = list(self._files.values())
            self._files.clear()
        for fp in files:
            self._discard(fp)
        self._reserve.close()

    def handling(self, data: Any) -> contextlib.AbstractContextManager[None]:
        """A block that handles a received data set: unless kept in it, it is discarded after.

        Once a second data set was received into a staged file (a batch, so more are likely),
        the outermost such block of a data set prepares, on the way out, the file of a next
        one: the response has been sent by then, and the peer is busy with its next request
        (:class:`~pynetdicom2.filestorage.StagingReserve`).
        """
        return _Handling(self, data)

    def _handled(self, data: Any, outermost: bool) -> None:
        self.discard(data)
        directory = self._staged_in
        if outermost and directory is not None and self._staged > 1 and isinstance(
            data, StagedFile
        ):
            self._reserve.prepare(directory)

    def positions(self) -> list[int | None]:
        """How far each owned file has been written (None where it cannot be told)."""
        with self._lock:
            files = list(self._files.values())
        positions: list[int | None] = []
        for fp in files:
            try:
                positions.append(fp.tell())
            except (OSError, ValueError):
                positions.append(None)
        return positions

    def _discard(self, fp: BinaryIO) -> None:
        try:
            self.ae.discard_file(fp)
        except Exception:
            logger.exception('discarding a received data set failed')
