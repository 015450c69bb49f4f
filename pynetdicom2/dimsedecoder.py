"""Reassembly of DIMSE messages from presentation data values (PS3.7 6.3, PS3.8 Annex E).

The receiving half of :mod:`pynetdicom2.fragmentation`: PDVs in, complete messages out. A
message's command set is gathered and decoded when its last fragment arrives; its data set,
if the command says one follows, is either joined into bytes or, for the SOP classes stored
in files, written fragment by fragment to the file a callback gives, so that a large data set
never sits in memory. Everything the peer got wrong (PS3.7 6.3, PS3.8 E.2) raises
:class:`~pynetdicom2.exceptions.DIMSEProcessingError`.

What is kept in memory is bounded, so that a peer cannot make us hold what it likes: a command
set beyond :data:`MAX_COMMAND_SET_LENGTH` is a protocol error (the association is aborted), and
a data set joined in memory beyond ``max_data_set_in_memory`` (default
:data:`DEFAULT_MAX_DATA_SET_IN_MEMORY`) is dropped as soon as it grows past the limit: the rest
of it is read and discarded, and the message is delivered without it, ``storage_error`` set,
for the service to answer a failure status (out of resources) rather than abort.

The reassembler, :class:`Reassembler`, knows no message class; the one to use is its subclass
:class:`pynetdicom2.dimsemessages.DIMSEDecoder`, which adds them. It is pure code: no socket,
no thread, no timer; the only I/O it does is writing to the files it is handed.

Usage::

    from pynetdicom2.dimsemessages import DIMSEDecoder

    decoder = DIMSEDecoder(accepted_contexts, store_in_file=set(), get_file_cb=get_file)
    for msg, pc_id in decoder.process(p_data_tf_pdu):
        ...
"""

from __future__ import annotations

import contextlib
import errno
import logging
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

from pydicom.dataset import Dataset

from pynetdicom2.commandset import COMMAND_DATA_SET_TYPE_TAG, NO_DATASET
from pynetdicom2.exceptions import DIMSEProcessingError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Container, Mapping

    from pynetdicom2 import pdu
    from pynetdicom2.dimsemessages import DIMSEMessage

__all__ = [
    'DEFAULT_MAX_DATA_SET_IN_MEMORY', 'MAX_COMMAND_SET_LENGTH', 'GetFileCallback', 'Reassembler',
]

# The reassembler runs on the DUL thread, and what it finds wrong is the peer's DIMSE traffic:
# it logs where the upper layer logs that.
logger = logging.getLogger('pynetdicom2.dul')

#: Largest command set accepted, in bytes. A command set is a few group 0000 elements (PS3.7
#: Annex E): a few UIDs of at most 64 bytes, an AE title, counters, an Error Comment; the
#: longest any real peer sends is a few hundred bytes. Only the multi-valued elements can grow,
#: Attribute Identifier List (0000,1005) of an N-GET, Offending Element (0000,0901), at 4 bytes a
#: tag: 64 KiB still holds 16,000 tags, more than the data dictionary has attributes. Beyond
#: it, the peer is not sending a command set: the association is aborted.
MAX_COMMAND_SET_LENGTH = 64 * 1024

#: Default largest data set joined in memory (``max_data_set_in_memory``), in bytes: 64 MiB.
#: The data sets kept in memory are the identifiers of C-FIND, C-GET and C-MOVE and the
#: attribute lists, event and action information of the DIMSE-N services (C-STORE data sets
#: go to files): kilobytes; a storage commitment request listing 100,000 instances, 15 MB.
DEFAULT_MAX_DATA_SET_IN_MEMORY = 64 * 1024 * 1024

#: ``get_file_cb(context, command_set) -> (fp, start)``: the file a data set is written to.
GetFileCallback = Callable[[Any, Dataset], tuple[BinaryIO, int]]


def _write_all(fp: BinaryIO, data: Any) -> None:
    """Write all of ``data``; raw (unbuffered) files may take less than asked."""
    view = memoryview(data)
    while view:
        written = fp.write(view)
        if written is None or written >= len(view):
            return
        view = view[written:]


def _message_name(msg: DIMSEMessage | None) -> str:
    return type(msg).__name__ if msg is not None else 'message'



class Reassembler:
    """Reassemble PDVs into DIMSE messages (PS3.7 6.3, PS3.8 Annex E).

    The message classes are not this module's: a subclass names, in :attr:`decode_message`,
    the function that turns a complete command set into its message.
    :class:`pynetdicom2.dimsemessages.DIMSEDecoder` is that subclass, the one to use.

    ``accepted_contexts`` maps presentation context ID -> context (an opaque object, handed
    to ``get_file_cb``); the upper layer may fill the mapping, or replace the attribute, once
    the association is negotiated. ``store_in_file`` is a container of SOP Class UIDs whose
    data sets go straight to a file: for those, ``get_file_cb(context, command_set)`` is
    called once, when the command set is complete, and returns ``(fp, start)``; each data
    fragment is written to ``fp`` as it arrives, and at the end ``fp.seek(start)`` becomes
    ``msg.data_set``. Any other data set is joined once into bytes, up to
    ``max_data_set_in_memory`` bytes (None: no limit).

    An :class:`OSError` from ``get_file_cb``, from a write or from the final seek is not a
    protocol error: the file is deleted at once (its ``discard()``, e.g. a
    :class:`~pynetdicom2.filestorage.StagedFile`'s, else closed), so that a full disk is not
    kept full by it until the association ends; the rest of that data set is read and
    discarded, and the message is delivered with ``data_set`` None and ``storage_error`` set
    to the error. A data set in memory that grows past ``max_data_set_in_memory`` is treated
    the same way: its fragments are dropped at once, and ``storage_error`` is an
    :class:`OSError` with errno ``ENOMEM`` (the service answers out of resources, e.g. A700H).

    A command set longer than :data:`MAX_COMMAND_SET_LENGTH` is a protocol error.

    Everything the peer got wrong raises :class:`DIMSEProcessingError` (and resets the
    decoder); the association should then be aborted.

    Buffers: PDV data values may be memoryview slices of a receive buffer, which the
    caller may overwrite as soon as :meth:`feed` returns: a fragment going to a file is
    written at once, and what the decoder keeps (command fragments, data-set fragments
    going to memory) it copies.

    Fields, as in the original: ``receiving`` (a message is in progress),
    ``command_set_received``, ``data_set_received``, ``pc_id`` and ``msg`` (the message in
    progress).
    """

    #: Turns a complete command set (its bytes) into its message, or raises
    #: :class:`DIMSEProcessingError`; set by a subclass.
    decode_message: Callable[[bytes], DIMSEMessage]

    def __init__(
        self,
        accepted_contexts: Mapping[int, Any],
        store_in_file: Container[str],
        get_file_cb: GetFileCallback | None,
        max_data_set_in_memory: int | None = DEFAULT_MAX_DATA_SET_IN_MEMORY,
    ) -> None:
        self.accepted_contexts = accepted_contexts
        self.store_in_file = store_in_file
        self.get_file_cb = get_file_cb
        #: Largest data set joined in memory, in bytes (None: no limit); files are not bounded.
        self.max_data_set_in_memory = max_data_set_in_memory
        self.receiving = False
        self.command_set_received = False
        self.data_set_received = False
        self.pc_id: int | None = None
        self.msg: DIMSEMessage | None = None
        self._command_fragments: list[Any] = []
        self._data_fragments: list[Any] = []
        # Bytes of the message in progress kept so far: command set, data set in memory.
        self._command_length = 0
        self._data_length = 0
        self._fp: BinaryIO | None = None
        self._start = 0
        self._storage_error: OSError | None = None
        # The last message delivered without a data set, to explain a stray data fragment.
        self._previous: DIMSEMessage | None = None

    def process(self, p_data: pdu.PDataTfPDU) -> list[tuple[DIMSEMessage, int]]:
        """Feed every PDV of one P-DATA-TF PDU; return the messages it completed, in order.

        Usually zero or one; a PDU may complete several small messages.
        """
        items = p_data.data_value_items
        if len(items) == 1:  # the usual P-DATA-TF: feed() inlined
            item = items[0]
            data_value = item.data_value
            fp = self._fp
            if (
                fp is not None
                and item.context_id == self.pc_id
                and len(data_value)
                and not data_value[0] & 3
                and self.command_set_received
            ):
                # The hottest path: a middle fragment of a data set streamed to its file
                # (what _feed and _data_fragment would do, in one call).
                payload = memoryview(data_value)[1:]
                try:
                    written = fp.write(payload)
                    if written is not None and written < len(payload):
                        _write_all(fp, payload[written:])
                except OSError as exc:
                    self._storage_failed(exc)
                return []
            try:
                result = self._feed(items[0])
            except BaseException:
                self.discard()
                raise
            return [] if result is None else [result]
        completed = []
        for item in items:
            result = self.feed(item)
            if result is not None:
                completed.append(result)
        return completed

    def feed(self, pdv: pdu.PresentationDataValueItem) -> tuple[DIMSEMessage, int] | None:
        """Take one PDV; return ``(message, pc_id)`` when it completes a message, else None."""
        try:
            return self._feed(pdv)
        except BaseException:
            # A protocol error, or e.g. a non-OSError from get_file_cb: leave no half-built
            # message (or open file) behind.
            self.discard()
            raise

    def _feed(self, pdv: pdu.PresentationDataValueItem) -> tuple[DIMSEMessage, int] | None:
        data_value = pdv.data_value
        pc_id = pdv.context_id
        if self.command_set_received and pc_id == self.pc_id and len(data_value):
            control = data_value[0]
            if not control & 1:
                # The hot path, a data-set stream: the next fragment of the message in
                # progress. The general checks below would come to the same conclusion.
                self._data_fragment(memoryview(data_value)[1:])
                if control & 2:
                    self.data_set_received = True
                    return self._message_complete()
                return None
        if len(data_value) < 1:
            raise DIMSEProcessingError(
                f'a PDV on presentation context {pc_id} has no message control header '
                f'(PS3.8 E.2): expected at least 1 byte, got 0'
            )
        control = data_value[0]
        is_command = control & 1
        is_last = control & 2
        if not self.receiving:
            if not is_command:
                raise DIMSEProcessingError(self._stray_data_message(pc_id))
            if pc_id not in self.accepted_contexts:
                raise DIMSEProcessingError(
                    f'a PDV uses presentation context {pc_id}, which was not accepted '
                    f'(accepted: {sorted(self.accepted_contexts)})'
                )
            self.receiving = True
            self.pc_id = pc_id
            self._previous = None
        elif pc_id != self.pc_id:
            # PS3.8 E.2 / PS3.7 6.3: all fragments of one message use one presentation context.
            raise DIMSEProcessingError(
                f'a PDV on presentation context {pc_id} arrived while a '
                f'{_message_name(self.msg)} on context {self.pc_id} was incomplete'
            )
        payload = memoryview(data_value)[1:]  # a view: no copy until the final join
        if is_command:
            if self.command_set_received:
                raise DIMSEProcessingError(
                    f'a command fragment arrived on context {pc_id} while the data set of '
                    f'{_message_name(self.msg)} was expected (PS3.7 6.3)'
                )
            self._command_length += len(payload)
            if self._command_length > MAX_COMMAND_SET_LENGTH:
                raise DIMSEProcessingError(
                    f'the command set on context {pc_id} exceeds {MAX_COMMAND_SET_LENGTH} '
                    f'bytes: no command set is that long (PS3.7 6.3.1, Annex E)'
                )
            self._command_fragments.append(bytes(payload))  # the buffer is the caller's
            if is_last:
                return self._command_complete()
            return None
        if not self.command_set_received:
            raise DIMSEProcessingError(
                f'a data set fragment arrived on context {pc_id} before the last fragment of '
                f'the command set (PS3.7 6.3: the command set comes first)'
            )
        self._data_fragment(payload)
        if is_last:
            self.data_set_received = True
            return self._message_complete()
        return None

    def _stray_data_message(self, pc_id: int) -> str:
        previous = self._previous
        if previous is not None:
            return (
                f'a data set fragment arrived on context {pc_id}, but the preceding '
                f'{type(previous).__name__} said no data set follows (Command Data Set '
                f'Type {NO_DATASET:04X}H, PS3.7 Annex E)'
            )
        return (
            f'a data set fragment arrived on context {pc_id} before any command set '
            f'(PS3.7 6.3: the command set comes first)'
        )

    def _command_complete(self) -> tuple[DIMSEMessage, int] | None:
        fragments = self._command_fragments
        raw = fragments[0] if len(fragments) == 1 else b''.join(fragments)
        self._command_fragments = []
        msg = self.decode_message(raw)
        self.msg = msg
        self.command_set_received = True
        data_set_type = msg._get_field(COMMAND_DATA_SET_TYPE_TAG)
        # PS3.7 Annex E: 0101H, and by extension a missing value, means no data set.
        if data_set_type is None or data_set_type == NO_DATASET:
            self._previous = msg
            return self._message_complete()
        sop_class = msg.sop_class_uid
        if self.get_file_cb is not None and sop_class is not None and (
            sop_class in self.store_in_file
        ):
            assert self.pc_id is not None
            context = self.accepted_contexts[self.pc_id]
            try:
                self._fp, self._start = self.get_file_cb(context, msg.command_set)
            except OSError as exc:
                self._storage_error = exc
        return None

    def _data_fragment(self, payload: Any) -> None:
        fp = self._fp
        if fp is not None:
            try:
                written = fp.write(payload)
                if written is not None and written < len(payload):
                    _write_all(fp, payload[written:])  # a raw file took less than asked
            except OSError as exc:
                self._storage_failed(exc)
        elif self._storage_error is None:
            self._data_length += len(payload)
            limit = self.max_data_set_in_memory
            if limit is not None and self._data_length > limit:
                self._too_large(limit)
                return
            # A copy: the caller may reuse its buffer once feed() returns. One fragment,
            # the usual small data set, is then delivered as is (join returns it).
            self._data_fragments.append(bytes(payload))
        # else: draining a data set that could not be stored

    def _too_large(self, limit: int) -> None:
        """Stop keeping a data set past ``limit``: its memory goes now, the rest is drained."""
        self._data_fragments = []
        name = _message_name(self.msg)
        logger.warning(
            'the data set of %s on context %s exceeds max_data_set_in_memory (%d bytes): '
            'discarding it as it arrives; the request is answered out of resources',
            name, self.pc_id, limit,
        )
        self._storage_error = OSError(
            errno.ENOMEM,
            f'the data set of {name} exceeds max_data_set_in_memory ({limit} bytes)',
        )

    def _storage_failed(self, exc: OSError) -> None:
        """A file write failed (e.g. a full disk): delete the file now, drain the rest.

        Left in place until the association ends, a partial file would keep the disk full
        and fail every later store of the association too. ``discard()`` (a
        :class:`~pynetdicom2.filestorage.StagedFile`'s) closes and deletes it, and a second
        discard when the association ends does nothing; a file without one is only closed,
        the storage layer that made it removes it.
        """
        self._storage_error = exc
        fp, self._fp = self._fp, None
        if fp is None:
            return
        discard = getattr(fp, 'discard', None)
        with contextlib.suppress(OSError):
            if callable(discard):
                discard()
            else:
                fp.close()

    def _message_complete(self) -> tuple[DIMSEMessage, int]:
        msg = self.msg
        pc_id = self.pc_id
        assert msg is not None and pc_id is not None
        if self.data_set_received:
            if self._fp is not None:
                try:
                    self._fp.seek(self._start)
                except OSError as exc:
                    self._storage_failed(exc)
                else:
                    msg._data_set = self._fp
                    self._fp = None
            elif self._storage_error is None:
                msg._data_set = b''.join(self._data_fragments)
            msg.storage_error = self._storage_error
        self._reset()
        return msg, pc_id

    def _reset(self) -> None:
        self.receiving = False
        self.command_set_received = False
        self.data_set_received = False
        self.pc_id = None
        self.msg = None
        self._command_fragments = []
        self._data_fragments = []
        self._command_length = 0
        self._data_length = 0
        self._fp = None
        self._start = 0
        self._storage_error = None

    def discard(self) -> None:
        """Drop the message in progress, closing its file if any (e.g. on abort).

        Deleting that file is the storage layer's business: it created it.
        """
        fp = self._fp
        self._reset()
        self._previous = None
        if fp is not None:
            with contextlib.suppress(OSError):
                fp.close()
