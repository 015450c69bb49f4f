"""The Storage service class (PS3.4 Annex B): C-STORE, both sides.

:func:`storage_scu` sends a Part-10 file (streamed as it is) or a Dataset (encoded in the
accepted transfer syntax by :func:`encode_for_context`); :func:`storage_scp` hands what
arrives to ``ae.on_receive_store`` through :func:`store_received`, which the C-GET requester
uses too for the sub-operations it receives (:mod:`pynetdicom2.services.retrieve`).
"""

from __future__ import annotations

import copy
import io
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Union, cast

from pydicom import config
from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import datasetcheck, dsutils, pixelcodecs, statuses, transcode, uids
from pynetdicom2 import dimsemessages as dm
from pynetdicom2.exceptions import (
    DIMSEProcessingError,
    EventHandlingError,
    InvalidDataSetError,
    NetDICOMError,
)
from pynetdicom2.filestorage import is_safe_uid, read_meta
from pynetdicom2.fsm import PContextDef
from pynetdicom2.operations import Mailbox
from pynetdicom2.services.base import (
    as_status,
    logger,
    receive_response,
    refusal_status,
    response_for,
    sop_classes,
    store_in_file,
)

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association


DataSetSource = Union[str, 'os.PathLike[str]', Dataset]


def encode_for_context(ds: Dataset, ts: UID) -> bytes:
    """Encode ``ds`` in the accepted transfer syntax ``ts`` (refusing what would need a codec).

    Raises :class:`~pynetdicom2.exceptions.NetDICOMError` for a data set whose pixel data would
    have to be compressed or decompressed: the library has no codecs.
    """
    meta = getattr(ds, 'file_meta', None)
    original = None
    if meta is not None and 'TransferSyntaxUID' in meta:
        original = UID(meta.TransferSyntaxUID)
    compressed_source = original is not None and original.is_compressed
    if ts.is_compressed or compressed_source:
        # An encapsulated data set travels as it is, in its own transfer syntax only; we do
        # not compress or decompress pixel data.
        if original != ts:
            raise NetDICOMError(
                f'the data set is in {original.name if original else "an uncompressed syntax"}'
                f' but the accepted transfer syntax is {ts.name}: pynetdicom2 does not '
                'transcode pixel data; propose the data set\'s own transfer syntax'
            )
        return dsutils.encode(ds, False, True)
    if original is not None and original.is_little_endian != ts.is_little_endian:
        # PS3.5 7.3: pydicom keeps OW/OF/OL/OD/OV values in the byte order they were read in
        # and writes them back unchanged, so a change of byte order must swap them here.
        ds = copy.deepcopy(ds)
        dsutils.swap_word_values(ds)
    if ts.is_deflated:
        # PS3.5 A.5: explicit VR little endian, then deflated (RFC 1951, no zlib header).
        return dsutils.deflate(dsutils.encode(ds, False, True))
    return dsutils.encode(ds, ts.is_implicit_VR, ts.is_little_endian)


def _open_for_context(
    path: str | os.PathLike[str], context_for: ContextFor
) -> tuple[BinaryIO, UID, UID, PContextDef]:
    """Open a Part-10 file, pick its context by SOP class, check the file fits it, leave it
    at its data set (the file meta is read once).

    Returns ``(file, sop_class_uid, sop_instance_uid, context)``; the file is the caller's
    to close. ``context_for(sop_class, syntax)`` picks the context (preferring one in the
    file's own syntax) and raises NetDICOMError for a SOP class it has no context for.
    """
    fp = open(path, 'rb')  # noqa: SIM115 - closed by the message encoder or below
    try:
        meta = read_meta(fp)
        if meta.transfer_syntax is None:
            raise NetDICOMError(f'{os.fspath(path)} has no Transfer Syntax UID (0002,0010) in '
                                'its file meta (PS3.10 7.1): its data set cannot be read')
        try:
            # As DCMTK's storescu refuses a file it cannot parse: a truncated or garbled file
            # is reported, never sent half (and the peer's check would refuse it anyway).
            found = datasetcheck.check_file(fp, meta.transfer_syntax)
        except InvalidDataSetError as exc:
            raise InvalidDataSetError(f'{os.fspath(path)} is not sent: {exc}') from None
        # The data set's own UIDs name it (the file meta's are a copy, PS3.10 7.1, and some
        # files disagree with it): the peer checks the command against the data set.
        sop_class = _as_uid(found.sop_class_uid, meta.sop_class_uid)
        instance = _as_uid(found.sop_instance_uid, meta.sop_instance_uid)
        ctx = context_for(sop_class, meta.transfer_syntax)
        if sop_class != ctx.sop_class:
            raise NetDICOMError(
                f'{os.fspath(path)} holds SOP class {sop_class}, not {ctx.sop_class} of context '
                f'{ctx.id}: use get_scu({sop_class!r})'
            )
        if not instance:
            raise NetDICOMError(f'{os.fspath(path)} has no SOP instance UID')
        if meta.transfer_syntax != ctx.supported_ts:
            return _converted(path, fp, meta.transfer_syntax, ctx), sop_class, instance, ctx
    except BaseException:
        fp.close()
        raise
    return fp, sop_class, instance, ctx  # UIDs already (revalidating costs more than a send)


def _converted(path: str | os.PathLike[str], fp: BinaryIO, syntax: UID,
               ctx: PContextDef) -> BinaryIO:
    """The data set of ``fp`` (at its start) in the context's transfer syntax: streamed
    between uncompressed syntaxes (:mod:`pynetdicom2.transcode`); compressed pixel data
    decoded in memory where the decoders are installed (:mod:`pynetdicom2.pixelcodecs`).

    Raises :class:`~pynetdicom2.exceptions.NetDICOMError` naming the file, its syntax and
    what the peer accepted when no conversion exists.
    """
    target = ctx.supported_ts
    if transcode.can_convert(syntax, target):
        logger.debug('sending %s converted from %s to %s', os.fspath(path),
                     _syntax_name(syntax), _syntax_name(target))
        return cast(BinaryIO, ConvertedFile(fp, transcode.convert(fp, syntax, target)))
    if pixelcodecs.can_decompress(syntax, target):
        fp.close()
        logger.debug('sending %s decompressed from %s to %s', os.fspath(path),
                     _syntax_name(syntax), _syntax_name(target))
        return io.BytesIO(encode_for_context(pixelcodecs.decompressed(path), target))
    if pixelcodecs.can_compress(syntax, target):
        fp.close()
        logger.debug('sending %s compressed from %s to %s', os.fspath(path),
                     _syntax_name(syntax), _syntax_name(target))
        return io.BytesIO(dsutils.encode(pixelcodecs.compressed(path, target), False, True))
    hint = ''
    if transcode.can_convert(target, target) and not pixelcodecs.available():
        hint = (": decoding compressed pixel data takes pip install 'pynetdicom2[codecs]' "
                '(Python 3.10 or later)')
    raise NetDICOMError(
        f'{os.fspath(path)} is in {_syntax_name(syntax)} and the peer accepted '
        f'{_syntax_name(target)} for its SOP class (context {ctx.id}); no conversion between '
        f'them here{hint}; the file is not sent'
    )


def can_send_as(source_syntax: str, target_syntax: str) -> bool:
    """True when a file in ``source_syntax`` can go on a context of ``target_syntax`` here:
    the same, converted (:mod:`pynetdicom2.transcode`), decoded or losslessly compressed
    (:mod:`pynetdicom2.pixelcodecs`, with the codecs extra).

    >>> can_send_as('1.2.840.10008.1.2.1', '1.2.840.10008.1.2')
    True
    """
    return (
        source_syntax == target_syntax
        or transcode.can_convert(source_syntax, target_syntax)
        or pixelcodecs.can_decompress(source_syntax, target_syntax)
        or pixelcodecs.can_compress(source_syntax, target_syntax)
    )


def _syntax_name(uid: str) -> str:
    name = UID(uid).name
    return f'{name} ({uid})' if name != uid else str(uid)


class _ReadThrough(io.RawIOBase):
    """A readable stand-in for a data set file, which it closes when closed; a subclass
    says what :meth:`read` gives (the fragmenter reads it, PS3.8 Annex E)."""

    def __init__(self, fp: BinaryIO) -> None:
        super().__init__()
        self._fp = fp

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        raise NotImplementedError

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._fp.close()
        finally:
            super().close()


class _Reported(_ReadThrough):
    """A data set file whose reads are reported to ``progress(source, sent, total)``."""

    def __init__(self, fp: BinaryIO, source: DataSetSource,
                 progress: Callable[[DataSetSource, int, int], Any]) -> None:
        super().__init__(fp)
        self._source = source
        self._progress = progress
        self._sent = 0
        try:
            self._total = os.fstat(fp.fileno()).st_size - fp.tell()
        except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
            self._total = 0

    def read(self, size: int | None = -1) -> bytes:
        data = self._fp.read(-1 if size is None else size)
        if data:
            self._sent += len(data)
            self._progress(self._source, self._sent, max(self._total, self._sent))
        return data


class ConvertedFile(_ReadThrough):
    """A data set converted as it is read: what the C-STORE fragmenter reads, in place of
    the file (:func:`pynetdicom2.fragmentation.fragment_file`). A read stops at the end of a
    converted piece (the fragmenter reads again); closing it closes the file.

    >>> import io
    >>> converted = ConvertedFile(io.BytesIO(b'source'), iter([b'con', b'verted']))
    >>> converted.read(4), converted.read(4), converted.read(), converted.read()
    (b'con', b'vert', b'ed', b'')
    """

    def __init__(self, fp: BinaryIO, pieces: Iterator[bytes]) -> None:
        super().__init__(fp)
        self._pieces = pieces
        self._piece = memoryview(b'')

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (fewer at a piece's end): one copy, no buffer in between."""
        if size is None or size < 0:
            rest, self._piece = bytes(self._piece), memoryview(b'')
            return b''.join([rest, *self._pieces])
        while not self._piece:
            piece = next(self._pieces, None)
            if piece is None:
                return b''
            self._piece = memoryview(piece)
        data = bytes(self._piece[:size])
        self._piece = self._piece[size:]
        return data


#: ``context_for(sop_class, syntax)``: the context a source of that class and transfer
#: syntax (None: a Dataset without one) goes on.
ContextFor = Callable[[UID, Union[UID, None]], PContextDef]


def _chooser(asce: Association, fallback: PContextDef | None) -> ContextFor:
    """Pick, among the contexts accepted for a source's SOP class, one in the source's own
    syntax (sent as it is), else the first proposed (converted to it). With ``fallback`` (the
    context a caller gave), only its class's contexts count, it among them."""
    by_class: dict[UID, list[PContextDef]] = getattr(asce, 'scu_contexts', None) or {}
    if not by_class:
        by_class = {sop_class: [PContextDef(pc_id, sop_class, ts)]
                    for sop_class, (pc_id, ts) in getattr(asce, 'sop_classes_as_scu', {}).items()}

    def context_for(sop_class: UID, syntax: UID | None) -> PContextDef:
        if fallback is not None and fallback.sop_class != sop_class:
            return fallback  # another class than the caller's: _open_for_context says so
        candidates = by_class.get(sop_class, [])
        if fallback is not None and fallback not in candidates:
            candidates = [fallback, *candidates]
        if not candidates:
            raise NetDICOMError(
                f'no accepted presentation context for SOP class {sop_class or "(none)"}'
            )
        return next((ctx for ctx in candidates if ctx.supported_ts == syntax), candidates[0])

    return context_for


def _as_uid(in_data_set: str | None, in_meta: UID | None) -> UID:
    """The data set's UID, as the file meta's UID object when they agree (the usual case:
    a UID validated again costs more than the rest of a small file's send)."""
    if in_data_set is None or in_data_set == in_meta:
        return in_meta or UID('')
    return UID(in_data_set, config.IGNORE)


def storage_scu(
    asce: Association,
    ctx: PContextDef,
    dataset: DataSetSource,
    msg_id: int,
    move_originator_aet: str | None = None,
    move_originator_message_id: int | None = None,
) -> statuses.Status:
    """Send one C-STORE-RQ and return the status of the C-STORE-RSP.

    ``dataset`` is a path to a Part-10 file or a :class:`~pydicom.dataset.Dataset`. A file
    is streamed from disk as it is, past its preamble and file meta, in chunks bounded by the
    peer's maximum PDU length (memory does not grow with the file). Its SOP class must be
    the context's; a file in another uncompressed transfer syntax than the context's is
    converted as it streams (:mod:`pynetdicom2.transcode`) or decoded
    (:mod:`pynetdicom2.pixelcodecs`), and where no conversion exists
    :class:`~pynetdicom2.exceptions.NetDICOMError` names the file, its syntax and the
    context's, before anything is sent. Among the contexts accepted for its class, the one in
    its own syntax is used if there is one. A Dataset is encoded in the context's transfer
    syntax. The move originator elements
    (PS3.7 9.3.1.1) are sent only when both are given. Registered without default SOP
    classes: pass them to ``add_scu``.

    >>> import os, tempfile
    >>> from pynetdicom2.applicationentity import ClientAE
    >>> from pynetdicom2.loopback import LoopbackSCP, make_dataset, write_dataset
    >>> client = ClientAE('MYSCU').add_scu(storage_scu, [uids.CT_IMAGE_STORAGE])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with LoopbackSCP(os.path.join(tmp, 'pacs')) as pacs:
    ...         ct_path = write_dataset(make_dataset(uids.CT_IMAGE_STORAGE), tmp)  # ct.dcm
    ...         with client.request_association(pacs.remote) as assoc:
    ...             store = assoc.get_scu(uids.CT_IMAGE_STORAGE)
    ...             print(store(ct_path, 1).is_success, store(make_dataset(), 2).is_success)
    ...         len(pacs.stored_files())
    True True
    2
    """
    rq, ctx = _request(dataset, _chooser(asce, ctx), msg_id)
    _set_move_originator(rq, move_originator_aet, move_originator_message_id)
    try:
        asce.invoke(rq, ctx.id)
    except BaseException:
        _close(rq)
        raise
    rsp = receive_response(asce, ctx, dm.CStoreRSPMessage, msg_id)
    return statuses.Status(rsp.status, dm.CStoreRSPMessage)


def store_request(
    ctx: PContextDef,
    dataset: DataSetSource,
    msg_id: int,
    move_originator_aet: str | None = None,
    move_originator_message_id: int | None = None,
) -> dm.CStoreRQMessage:
    """The C-STORE-RQ of ``dataset`` on ``ctx`` (a file is opened, and closed once sent).

    Raises :class:`~pynetdicom2.exceptions.NetDICOMError` when it cannot go on that context
    (see :func:`storage_scu`).
    """
    rq, _ = _request(dataset, lambda _sop_class, _syntax: ctx, msg_id)
    _set_move_originator(rq, move_originator_aet, move_originator_message_id)
    return rq


def _set_move_originator(rq: dm.CStoreRQMessage, aet: str | None,
                         message_id: int | None) -> None:
    """The move originator elements (PS3.7 9.3.1.1), set only when both are given."""
    if aet is not None and message_id is not None:
        rq.move_originator_aet = aet
        rq.move_originator_message_id = message_id


def _request(
    dataset: DataSetSource, context_for: ContextFor, msg_id: int
) -> tuple[dm.CStoreRQMessage, PContextDef]:
    """The C-STORE-RQ of ``dataset`` and the context ``context_for`` gave for its class."""
    rq = dm.CStoreRQMessage()
    rq.message_id = msg_id
    rq.priority = dm.PRIORITY_MEDIUM
    if isinstance(dataset, Dataset):
        sop_class = UID(dataset.get('SOPClassUID', ''))
        instance = dataset.get('SOPInstanceUID', '')
        if not sop_class or not instance:
            raise NetDICOMError('the data set needs SOPClassUID and SOPInstanceUID to be stored')
        meta = getattr(dataset, 'file_meta', None)
        own = meta.get('TransferSyntaxUID') if meta is not None else None
        ctx = context_for(sop_class, UID(own) if own else None)
        rq.data_set = encode_for_context(dataset, ctx.supported_ts)
    else:
        fp, sop_class, instance, ctx = _open_for_context(dataset, context_for)
        rq.data_set = fp
    rq.sop_class_uid = sop_class
    rq.affected_sop_instance_uid = instance
    return rq, ctx


def _close(rq: dm.CStoreRQMessage) -> None:
    data = rq.data_set
    if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
        data.close()


def store_many(
    asce: Association,
    sources: Iterable[DataSetSource],
    window: int | None = None,
    progress: Callable[[DataSetSource, int, int], Any] | None = None,
) -> Iterator[tuple[DataSetSource, statuses.Status | Exception]]:
    """C-STORE each source, up to ``window`` at once; yield ``(source, status)`` as answered.

    ``progress(source, sent, total)``, if given, is called as a file's data set is read for
    sending (about once per P-DATA-TF), with the bytes read so far and the file's size past
    its meta (the size before conversion, when it is converted). It runs in the thread that
    sends, the association's provider thread: keep it short.

    Requests go out without waiting for the responses of the previous ones, as long as fewer
    than ``window`` are outstanding (None: as many as the association's window allows; never
    more than it, PS3.7 D.3.3.3), so over a long round trip many are in flight. Responses
    come back in the peer's order. A source that cannot be sent (no accepted context for its
    SOP class, a file in another transfer syntax, an unreadable file) is yielded with the
    :class:`~pynetdicom2.exceptions.NetDICOMError` that says why, and the others go on. An
    association error (abort, timeout) ends the generator with it. Leaving the loop early
    waits for the responses still due, so the association stays in order.

    >>> import os, tempfile
    >>> from pynetdicom2.applicationentity import ClientAE
    >>> from pynetdicom2.loopback import LoopbackSCP, make_dataset
    >>> client = ClientAE('MYSCU', async_window=(8, 1))
    >>> _ = client.add_scu(storage_scu, [uids.CT_IMAGE_STORAGE])
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp) as pacs:
    ...     with client.request_association(pacs.remote) as assoc:
    ...         outcomes = list(store_many(assoc, [make_dataset() for _ in range(20)]))
    >>> len(outcomes), all(status.is_success for _, status in outcomes)
    (20, True)
    """
    limit = asce.async_window[0] if window is None else window
    if limit < 0:
        raise NetDICOMError(f'window {window}: expected 0 (no limit of ours) or more')
    mailbox = Mailbox()
    pending: dict[int, DataSetSource] = {}
    context_for = _chooser(asce, None)

    def collect() -> tuple[DataSetSource, statuses.Status]:
        msg, pc_id = asce.receive_in(mailbox)
        with asce.received_files.handling(msg.data_set):
            msg_id = getattr(msg, 'message_id_being_responded_to', None)
            source = pending.pop(msg_id, None)  # type: ignore[arg-type]
            if source is None or not isinstance(msg, dm.CStoreRSPMessage):
                raise DIMSEProcessingError(
                    f'expected a C-STORE-RSP to one of messages {sorted(pending)}, got '
                    f'{type(msg).__name__} to message {msg_id} on context {pc_id}'
                )
            return source, statuses.Status(msg.status, dm.CStoreRSPMessage)

    finished = False
    try:
        for source in sources:
            try:
                rq, ctx = _request(source, context_for, asce.new_message_id())
            except (NetDICOMError, OSError) as exc:
                yield source, exc
                continue
            if progress is not None and not isinstance(source, Dataset):
                rq.data_set = cast(BinaryIO, _Reported(cast(BinaryIO, rq.data_set), source,
                                                       progress))
            while limit and len(pending) >= limit:
                yield collect()
            try:
                while not asce.invoke(rq, ctx.id, mailbox, wait=not pending):
                    yield collect()  # other threads hold the rest of the window
            except BaseException:
                _close(rq)
                raise
            pending[rq.message_id] = source
        while pending:
            yield collect()
        finished = True
    finally:
        if not finished:
            _settle_pending(asce, pending, collect)


def _settle_pending(asce: Association, pending: dict[int, DataSetSource],
                    collect: Callable[[], object]) -> None:
    """Read the responses still due after :func:`store_many` was left early."""
    try:
        while pending:
            collect()
    except NetDICOMError:
        for msg_id in list(pending):
            asce.forget(msg_id)
        pending.clear()


storage_scu.sop_classes = []  # type: ignore[attr-defined]
storage_scu.store_in_file = False  # type: ignore[attr-defined]


def store_received(
    asce: Association, ctx: PContextDef, msg: dm.CStoreRQMessage
) -> statuses.Status:
    """Hand a received data set to ``on_receive_store``; keep its file on Success/Warning.

    Returns the status to answer. The file is settled before the caller answers: kept
    (``received_files.keep``) or, otherwise, discarded, so that the peer reading the response
    finds the data set where it will stay, or nowhere.
    """
    with asce.received_files.handling(msg.data_set):
        return _store_status(asce, ctx, msg)


def _store_status(
    asce: Association, ctx: PContextDef, msg: dm.CStoreRQMessage
) -> statuses.Status:
    data = msg.data_set
    if msg.storage_error is not None:
        # A full disk is a status (PS3.4 B.2.3: A700H, out of resources), not an abort.
        logger.error('could not store %s: %s', msg.affected_sop_instance_uid, msg.storage_error)
        return statuses.C_STORE_OUT_OF_RESOURCES
    instance = msg.affected_sop_instance_uid
    if not is_safe_uid(instance) or not is_safe_uid(msg.sop_class_uid):
        logger.warning(
            'refusing C-STORE of SOP class %r, instance %r: not valid UIDs (PS3.5 9.1)',
            msg.sop_class_uid, instance,
        )
        return statuses.C_STORE_CANNOT_UNDERSTAND
    if data is None:
        logger.warning('C-STORE-RQ for %s carries no data set', instance)
        return statuses.C_STORE_CANNOT_UNDERSTAND
    refusal = _check_received(msg, ctx.supported_ts)
    if refusal is not None:
        return refusal
    try:
        received = cast(Union[BinaryIO, bytes], data)  # a file, or bytes in memory
        status = as_status(asce.ae.on_receive_store(ctx, received), dm.CStoreRSPMessage)
    except EventHandlingError as exc:
        logger.warning('on_receive_store refused %s: %s', instance, exc)
        return refusal_status(exc, statuses.C_STORE_CANNOT_UNDERSTAND, dm.CStoreRSPMessage)
    if status.is_success or status.is_warning:
        try:
            asce.received_files.keep(data, msg.command_set)
        except InvalidDataSetError as exc:
            logger.warning('refusing %s: %s', instance, exc)
            return statuses.C_STORE_CANNOT_UNDERSTAND
        except OSError as exc:
            logger.error('could not put %s in place: %s', instance, exc)
            return statuses.C_STORE_OUT_OF_RESOURCES
    return status


def _check_received(msg: dm.CStoreRQMessage, transfer_syntax: str) -> statuses.Status | None:
    """Refuse a data set that is not whole, or is not the instance the command names.

    PS3.4 B.2.3: C000H (cannot understand) for a data set that is empty, cut short or not
    a data set at all; A900H (data set does not match SOP class) when its SOP Class or
    Instance UID is not the command's, which a hook would otherwise file under one UID and
    index under the other. Only element headers are read (:mod:`pynetdicom2.datasetcheck`).
    """
    data = msg.data_set
    instance = msg.affected_sop_instance_uid
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            found = datasetcheck.check_bytes(data, transfer_syntax)
        else:
            found = _check_received_file(cast(BinaryIO, data), transfer_syntax)
    except InvalidDataSetError as exc:
        logger.warning('refusing C-STORE of %s: %s', instance, exc)
        return statuses.C_STORE_CANNOT_UNDERSTAND
    except OSError as exc:
        logger.error('could not read back the data set of %s: %s', instance, exc)
        return statuses.C_STORE_OUT_OF_RESOURCES
    sop_class = msg.sop_class_uid
    if found.sop_class_uid != sop_class or found.sop_instance_uid != instance:
        logger.warning(
            'refusing C-STORE: the command names SOP class %s, instance %s, but the data set '
            'holds SOP class %s, instance %s (PS3.4 B.2.3: A900H)',
            sop_class, instance, found.sop_class_uid, found.sop_instance_uid,
        )
        return statuses.C_STORE_DATA_SET_MISMATCH
    return None


def _check_received_file(fp: BinaryIO, transfer_syntax: str) -> datasetcheck.DataSetSummary:
    """:func:`datasetcheck.check_file` past the file meta of a received file; ``fp`` stays put."""
    start = fp.tell()
    try:
        offset = getattr(fp, 'data_set_offset', None)
        if offset is not None:
            fp.seek(offset)
        else:
            try:
                read_meta(fp)
            except NetDICOMError:
                fp.seek(start)  # a custom get_file's file without file meta
        return datasetcheck.check_file(fp, transfer_syntax)
    finally:
        fp.seek(start)


@store_in_file
@sop_classes(uids.STORAGE_SOP_CLASSES)
def storage_scp(asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
    """Answer a C-STORE-RQ with the status of ``ae.on_receive_store(ctx, file)``.

    The data set arrives in a file from ``ae.get_file`` (a Part-10 file positioned at its
    preamble). It is kept (``ae.keep_file``: a storing AE renames it to
    ``<SOPInstanceUID>.dcm``) only after a Success or Warning status, and before the
    response is sent; otherwise it is discarded. Refused with 0xC000: invalid UIDs, a missing
    data set, an :class:`EventHandlingError` from the hook; with 0xA700: a storage error.
    """
    if not isinstance(msg, dm.CStoreRQMessage):
        asce.respond_unsupported(ctx.id, msg)
        return
    # Read from the request before keeping its file, which turns its command set into a
    # pydicom Dataset: what is read afterwards goes through pydicom.
    rsp = response_for(dm.CStoreRSPMessage, ctx, msg)
    rsp.affected_sop_instance_uid = msg.affected_sop_instance_uid
    rsp.status = int(store_received(asce, ctx, msg))  # the file is kept or discarded by now
    asce.send(rsp, ctx.id)
