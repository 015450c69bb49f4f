"""SOP class services: the SCU and SCP functions an AE registers (PS3.4 service classes).

This module owns what each DIMSE service does once an association exists: an SCU builds a
request, sends it on its presentation context and reads the response(s); an SCP answers a
request through the AE's hook (``on_receive_echo``, ``on_receive_store`` ...). It does not
negotiate, listen or own sockets (``asceprovider``, ``applicationentity``).

Conventions (api.md 1.12):

* An SCP is ``scp(asce, ctx, msg)``: the association, the accepted
  :class:`~pynetdicom2.fsm.PContextDef` and the request message.
* An SCU is ``scu(asce, ctx, *args, **kwargs)``, reached through
  ``assoc.get_scu(sop_class)(*args)``.
* Services carry ``sop_classes`` (the SOP classes they serve) and ``store_in_file`` (their
  data sets go straight to a file from ``ae.get_file`` instead of memory): set them with the
  :func:`sop_classes` and :func:`store_in_file` decorators, or as class attributes of a
  :class:`MessageDispatcherSCP` subclass.
* A hook that raises :class:`~pynetdicom2.exceptions.EventHandlingError` gets a failure
  status; any other exception ends (aborts) the association.

The module is laid out by service class: the shared helpers, then Verification (PS3.4 A),
then Storage (PS3.4 B). Query/Retrieve, Modality Worklist, Storage Commitment and the
N-services slot in after them the same way: a decorated SCU generator or function, and a
decorated SCP that answers through an AE hook.

Usage::

    from pynetdicom2 import applicationentity as ae, sopclass as sc, uids

    client = ae.ClientAE('MYSCU').add_scu(sc.verification_scu)
    client.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
    with client.request_association(remote) as assoc:
        assoc.get_scu(uids.CT_IMAGE_STORAGE)('/data/ct.dcm', 2)

    @sc.sop_classes(['1.2.3.4.5'])
    def my_scp(asce, ctx, msg):
        ...
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Protocol, TypeVar, Union

from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import dsutils, statuses, uids
from pynetdicom2.exceptions import (
    DIMSEProcessingError,
    EventHandlingError,
    NetDICOMError,
)
from pynetdicom2.filestorage import is_safe_uid, read_meta
from pynetdicom2.fsm import PContextDef

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

__all__ = [
    'AugmentedProto',
    'MessageDispatcher',
    'MessageDispatcherSCP',
    'MessageDispatcherSCU',
    'sop_classes',
    'storage_scp',
    'storage_scu',
    'store_in_file',
    'verification_scp',
    'verification_scu',
]

logger = logging.getLogger('pynetdicom2.sopclass')

_F = TypeVar('_F', bound=Callable[..., Any])


# --- decorators and dispatchers -----------------------------------------------------------------


class AugmentedProto(Protocol):
    """A service function carrying the attributes an AE reads when it registers it."""

    sop_classes: list[str]
    store_in_file: bool

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


def sop_classes(uid_list: Iterable[str]) -> Callable[[_F], _F]:
    """Decorator: the SOP classes a service handles (extends any already set).

    Also sets ``store_in_file = False`` unless :func:`store_in_file` is applied (after it,
    i.e. above it in the source).

    >>> @sop_classes([uids.VERIFICATION_SOP_CLASS])
    ... def my_echo_scp(asce, ctx, msg): ...
    >>> my_echo_scp.sop_classes
    ['1.2.840.10008.1.1']
    """
    new = [UID(uid) for uid in uid_list]

    def decorate(service: _F) -> _F:
        existing = list(getattr(service, 'sop_classes', []))
        service.sop_classes = existing + [uid for uid in new if uid not in existing]  # type: ignore[attr-defined]
        service.store_in_file = False  # type: ignore[attr-defined]
        return service

    return decorate


def store_in_file(service: _F) -> _F:
    """Decorator: the service's data sets are written to ``ae.get_file`` files as they arrive.

    >>> @store_in_file
    ... @sop_classes([uids.CT_IMAGE_STORAGE])
    ... def my_store_scp(asce, ctx, msg): ...
    """
    service.store_in_file = True  # type: ignore[attr-defined]
    return service


class MessageDispatcher:
    """Route a DIMSE message to the method named after its command (``c_store`` ...).

    Subclasses define the methods they support; ``sop_classes`` and ``store_in_file`` are
    class attributes.
    """

    sop_classes: ClassVar[list[str]] = []
    store_in_file: ClassVar[bool] = False

    #: Request command field -> method name (PS3.7 Annex E).
    message_to_method: ClassVar[dict[int, str]] = {
        dm.CStoreRQMessage.command_field: 'c_store',
        dm.CFindRQMessage.command_field: 'c_find',
        dm.CGetRQMessage.command_field: 'c_get',
        dm.CMoveRQMessage.command_field: 'c_move',
        dm.CEchoRQMessage.command_field: 'c_echo',
        dm.NEventReportRQMessage.command_field: 'n_event_report',
        dm.NGetRQMessage.command_field: 'n_get',
        dm.NSetRQMessage.command_field: 'n_set',
        dm.NActionRQMessage.command_field: 'n_action',
        dm.NCreateRQMessage.command_field: 'n_create',
        dm.NDeleteRQMessage.command_field: 'n_delete',
    }

    def get_method(self, msg: dm.DIMSEMessage) -> Callable[..., Any]:
        """The method for ``msg``; raises :class:`DIMSEProcessingError` when there is none."""
        name = self.message_to_method.get(msg.command_field)
        method = getattr(self, name, None) if name is not None else None
        if method is None:
            raise DIMSEProcessingError(
                f'{type(self).__name__} has no method for {type(msg).__name__} '
                f'(command field {msg.command_field:04X}H)'
            )
        return method  # type: ignore[no-any-return]


class MessageDispatcherSCU(MessageDispatcher):
    """An SCU whose behaviour depends on the message it is given: ``(asce, ctx, msg, ...)``."""

    def __call__(self, asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage,
                 *args: Any, **kwargs: Any) -> Any:
        return self.get_method(msg)(asce, ctx, msg, *args, **kwargs)


class MessageDispatcherSCP(MessageDispatcher):
    """An SCP serving several commands of its SOP classes, one method per command.

    A request for a command the subclass has no method for is answered 0122H rather than
    aborting the association.

    >>> class MyMPPS(MessageDispatcherSCP):
    ...     sop_classes = ['1.2.840.10008.3.1.2.3.3']
    ...     def n_create(self, asce, ctx, msg): ...
    >>> srv.add_scp(MyMPPS())
    """

    def __call__(self, asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
        name = self.message_to_method.get(msg.command_field)
        if name is None or getattr(self, name, None) is None:
            asce.respond_unsupported(ctx.id, msg)
            return
        self.get_method(msg)(asce, ctx, msg)


# --- shared helpers -----------------------------------------------------------------------------

_Response = TypeVar('_Response', bound=dm.DIMSEResponseMessage)


def _receive_response(
    asce: Association, ctx: PContextDef, response_class: type[_Response], msg_id: int
) -> _Response:
    """Wait (``dcm_timeout``) for the response to ``msg_id``; anything else is an error."""
    msg, pc_id = asce.receive()
    if (
        not isinstance(msg, response_class)
        or pc_id != ctx.id
        or msg.message_id_being_responded_to != msg_id
    ):
        asce.discard_received_file(msg.data_set)
        raise DIMSEProcessingError(
            f'expected {response_class.__name__} to message {msg_id} on context {ctx.id}, got '
            f'{type(msg).__name__} to message {getattr(msg, "message_id_being_responded_to", None)}'
            f' on context {pc_id}'
        )
    return msg


def _response_for(
    response_class: type[_Response], ctx: PContextDef, msg: dm.DIMSERequestMessage
) -> _Response:
    rsp = response_class()
    rsp.message_id_being_responded_to = msg.message_id
    rsp.sop_class_uid = msg.sop_class_uid or ctx.sop_class
    return rsp


def _as_status(value: Any, command: type[dm.DIMSEMessage]) -> statuses.Status:
    """A hook's answer as a Status: a Status, or a plain int code."""
    if isinstance(value, statuses.Status):
        return value
    return statuses.Status(int(value), command)


# --- Verification service class (PS3.4 Annex A) -------------------------------------------------


@sop_classes([uids.VERIFICATION_SOP_CLASS])
def verification_scu(asce: Association, ctx: PContextDef, msg_id: int) -> statuses.Status:
    """Send a C-ECHO-RQ and return the status of the C-ECHO-RSP.

    >>> assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
    True
    """
    rq = dm.CEchoRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    asce.send(rq, ctx.id)
    rsp = _receive_response(asce, ctx, dm.CEchoRSPMessage, msg_id)
    return statuses.Status(rsp.status, dm.CEchoRSPMessage)


@sop_classes([uids.VERIFICATION_SOP_CLASS])
def verification_scp(asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
    """Answer a C-ECHO-RQ with the status of ``ae.on_receive_echo(ctx)`` (default Success).

    An :class:`EventHandlingError` from the hook answers 0110H (processing failure).
    """
    if not isinstance(msg, dm.CEchoRQMessage):
        asce.respond_unsupported(ctx.id, msg)
        return
    try:
        status = _as_status(asce.ae.on_receive_echo(ctx), dm.CEchoRSPMessage)
    except EventHandlingError as exc:
        logger.warning('on_receive_echo failed: %s', exc)
        status = statuses.PROCESSING_FAILURE
    rsp = _response_for(dm.CEchoRSPMessage, ctx, msg)
    rsp.status = int(status)
    asce.send(rsp, ctx.id)


# --- Storage service class (PS3.4 Annex B) ------------------------------------------------------

DataSetSource = Union[str, 'os.PathLike[str]', Dataset]


def _encode_for_context(ds: Dataset, ts: UID) -> bytes:
    """Encode ``ds`` in the accepted transfer syntax ``ts`` (refusing what would need a codec)."""
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
    if ts.is_deflated:
        # PS3.5 A.5: explicit VR little endian, then deflated (RFC 1951, no zlib header).
        raw = dsutils.encode(ds, False, True)
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(raw) + compressor.flush()
    return dsutils.encode(ds, ts.is_implicit_VR, ts.is_little_endian)


def _open_for_context(path: str | os.PathLike[str], ctx: PContextDef) -> tuple[BinaryIO, UID, UID]:
    """Open a Part-10 file, check it fits the context, leave it at its data set.

    Returns ``(file, sop_class_uid, sop_instance_uid)``; the file is the caller's to close.
    """
    fp = open(path, 'rb')  # noqa: SIM115 - closed by the message encoder or below
    try:
        meta = read_meta(fp)
        if meta.transfer_syntax != ctx.supported_ts:
            raise NetDICOMError(
                f'{os.fspath(path)} is in transfer syntax {meta.transfer_syntax} but context '
                f'{ctx.id} accepted {ctx.supported_ts}: the file is sent as it is, without '
                'transcoding, so propose its own transfer syntax (e.g. ClientAE(...,'
                ' supported_ts=[...]) or commands.store)'
            )
        sop_class = meta.sop_class_uid
        instance = meta.sop_instance_uid
        if instance is None or sop_class is None:
            # File meta without the media storage UIDs: read them from the data set.
            from pydicom import dcmread

            fp.seek(0)
            ds = dcmread(fp, stop_before_pixels=True, specific_tags=['SOPClassUID',
                                                                     'SOPInstanceUID'])
            sop_class = sop_class or UID(ds.get('SOPClassUID', ''))
            instance = instance or UID(ds.get('SOPInstanceUID', ''))
            fp.seek(meta.data_set_offset)
        if sop_class != ctx.sop_class:
            raise NetDICOMError(
                f'{os.fspath(path)} holds SOP class {sop_class}, not {ctx.sop_class} of context '
                f'{ctx.id}: use get_scu({sop_class!r})'
            )
        if not instance:
            raise NetDICOMError(f'{os.fspath(path)} has no SOP instance UID')
    except BaseException:
        fp.close()
        raise
    return fp, UID(sop_class), UID(instance)


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
    peer's maximum PDU length (memory does not grow with the file); its transfer syntax must
    be the context's (no transcoding) and its SOP class the context's, else
    :class:`~pynetdicom2.exceptions.NetDICOMError` is raised before anything is sent. A
    Dataset is encoded in the context's transfer syntax. The move originator elements
    (PS3.7 9.3.1.1) are sent only when both are given. Registered without default SOP
    classes: pass them to ``add_scu``.

    >>> client.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
    >>> assoc.get_scu(uids.CT_IMAGE_STORAGE)('ct.dcm', 1).is_success
    True
    """
    rq = dm.CStoreRQMessage()
    rq.message_id = msg_id
    rq.priority = dm.PRIORITY_MEDIUM
    if isinstance(dataset, Dataset):
        sop_class = UID(dataset.get('SOPClassUID', ''))
        instance = dataset.get('SOPInstanceUID', '')
        if not sop_class or not instance:
            raise NetDICOMError('the data set needs SOPClassUID and SOPInstanceUID to be stored')
        rq.data_set = _encode_for_context(dataset, ctx.supported_ts)
    else:
        fp, sop_class, instance = _open_for_context(dataset, ctx)
        rq.data_set = fp
    rq.sop_class_uid = sop_class
    rq.affected_sop_instance_uid = instance
    if move_originator_aet is not None and move_originator_message_id is not None:
        rq.move_originator_aet = move_originator_aet
        rq.move_originator_message_id = move_originator_message_id
    try:
        asce.send(rq, ctx.id)
    except BaseException:
        if not isinstance(rq.data_set, bytes):
            rq.data_set.close()
        raise
    rsp = _receive_response(asce, ctx, dm.CStoreRSPMessage, msg_id)
    return statuses.Status(rsp.status, dm.CStoreRSPMessage)


storage_scu.sop_classes = []  # type: ignore[attr-defined]
storage_scu.store_in_file = False  # type: ignore[attr-defined]


def _store(asce: Association, ctx: PContextDef, msg: dm.CStoreRQMessage) -> statuses.Status:
    """Hand a received data set to ``on_receive_store``; keep its file on Success/Warning."""
    data = msg.data_set
    if msg.storage_error is not None:
        # api.md section 5: a full disk is a status, not an abort.
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
    try:
        status = _as_status(asce.ae.on_receive_store(ctx, data), dm.CStoreRSPMessage)
    except EventHandlingError as exc:
        logger.warning('on_receive_store refused %s: %s', instance, exc)
        return statuses.C_STORE_CANNOT_UNDERSTAND
    if status.is_success or status.is_warning:
        try:
            asce.keep_received_file(data, msg.command_set)
        except OSError as exc:
            logger.error('could not put %s in place: %s', instance, exc)
            return statuses.C_STORE_OUT_OF_RESOURCES
    return status


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
    try:
        status = _store(asce, ctx, msg)
    finally:
        asce.discard_received_file(msg.data_set)
    rsp = _response_for(dm.CStoreRSPMessage, ctx, msg)
    rsp.affected_sop_instance_uid = msg.affected_sop_instance_uid
    rsp.status = int(status)
    asce.send(rsp, ctx.id)
