"""SOP class services: the SCU and SCP functions an AE registers (PS3.4 service classes).

This module owns what each DIMSE service does once an association exists: an SCU builds a
request, sends it on its presentation context and reads the response(s); an SCP answers a
request through the AE's hook (``on_receive_echo``, ``on_receive_store`` ...). It does not
negotiate, listen or own sockets (``asceprovider``, ``applicationentity``).

Conventions (the original's, kept):

* An SCP is ``scp(asce, ctx, msg)``: the association, the accepted
  :class:`~pynetdicom2.fsm.PContextDef` and the request message.
* An SCU is ``scu(asce, ctx, *args, **kwargs)``, reached through
  ``assoc.get_scu(sop_class)(*args)``.
* Services carry ``sop_classes`` (the SOP classes they serve) and ``store_in_file`` (their
  data sets go straight to a file from ``ae.get_file`` instead of memory): set them with the
  :func:`sop_classes` and :func:`store_in_file` decorators, or as class attributes of a
  :class:`MessageDispatcherSCP` subclass.
* A hook that raises :class:`~pynetdicom2.exceptions.EventHandlingError` gets a failure
  status: the service's own, or the failure code given as ``EventHandlingError(...,
  status=0xA900)``; any other exception ends (aborts) the association.

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

import copy
import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import (
    TYPE_CHECKING,
    Any,
    BinaryIO,
    ClassVar,
    NamedTuple,
    Optional,
    Protocol,
    TypeVar,
    Union,
)

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID, generate_uid

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import dsutils, statuses, uids
from pynetdicom2.exceptions import (
    AssociationError,
    DCMTimeoutError,
    DIMSEProcessingError,
    EventHandlingError,
    NetDICOMError,
)
from pynetdicom2.filestorage import is_safe_uid, read_meta
from pynetdicom2.fsm import PContextDef
from pynetdicom2.identifiers import decode_identifier, encode_identifier
from pynetdicom2.userdataitems import ScpScuRoleSelectionSubItem

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

__all__ = [
    'FIND_SOP_CLASSES',
    'GET_SOP_CLASSES',
    'MAX_SUB_OPERATIONS',
    'MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS',
    'MOVE_SOP_CLASSES',
    'STORAGE_COMMITMENT_PUSH_MODEL_SOP_CLASS',
    'STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE',
    'UNRECOGNIZED_OPERATION',
    'AugmentedProto',
    'MessageDispatcher',
    'MessageDispatcherSCP',
    'MessageDispatcherSCU',
    'ModalityPerformedProcedureStep',
    'NReply',
    'NResponse',
    'NServiceSCP',
    'NServiceSCU',
    'GetOperation',
    'StorageCommitment',
    'answer_find',
    'modality_work_list_scp',
    'modality_work_list_scu',
    'mpps_scu',
    'n_action_scu',
    'n_create_scu',
    'n_delete_scu',
    'n_event_report_scu',
    'n_get_scu',
    'n_set_scu',
    'qr_find_scp',
    'qr_find_scu',
    'qr_get_scp',
    'qr_get_scu',
    'qr_move_scp',
    'qr_move_scu',
    'storage_commitment_scu',
    'sop_classes',
    'storage_scp',
    'storage_scu',
    'store_in_file',
    'verification_scp',
    'verification_scu',
    'wait_for_event_report',
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

    >>> from pynetdicom2.applicationentity import AE
    >>> class MyMPPS(MessageDispatcherSCP):
    ...     sop_classes = ['1.2.840.10008.3.1.2.3.3']
    ...     def n_create(self, asce, ctx, msg): ...     # answer with asce.send(rsp, ctx.id)
    >>> srv = AE('MPPSSCP', 0, bind_and_activate=False)   # bound by ``with srv:``
    >>> srv.add_scp(MyMPPS()) is srv
    True
    >>> srv.quit()
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


def _refusal_status(
    exc: EventHandlingError, default: statuses.Status, command: type[dm.DIMSEMessage]
) -> statuses.Status:
    """The failure a hook asked for with ``EventHandlingError(status=...)``, else ``default``."""
    if exc.status is None:
        return default
    chosen = statuses.Status(int(exc.status), command)
    if chosen.is_failure:
        return chosen
    logger.warning('EventHandlingError(status=0x%04X): not a failure of %s; answering 0x%04X',
                   chosen.value, command.__name__, default.value)
    return default


# --- Verification service class (PS3.4 Annex A) -------------------------------------------------


@sop_classes([uids.VERIFICATION_SOP_CLASS])
def verification_scu(asce: Association, ctx: PContextDef, msg_id: int) -> statuses.Status:
    """Send a C-ECHO-RQ and return the status of the C-ECHO-RSP.

    >>> import tempfile
    >>> from pynetdicom2.applicationentity import ClientAE
    >>> from pynetdicom2.loopback import LoopbackSCP
    >>> client = ClientAE('MYSCU').add_scu(verification_scu)
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp) as pacs:
    ...     with client.request_association(pacs.remote) as assoc:
    ...         assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
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
        status = _refusal_status(exc, statuses.PROCESSING_FAILURE, dm.CEchoRSPMessage)
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
    if original is not None and original.is_little_endian != ts.is_little_endian:
        # PS3.5 7.3: pydicom keeps OW/OF/OL/OD/OV values in the byte order they were read in
        # and writes them back unchanged, so a change of byte order must swap them here.
        ds = copy.deepcopy(ds)
        _swap_words(ds)
    if ts.is_deflated:
        # PS3.5 A.5: explicit VR little endian, then deflated (RFC 1951, no zlib header).
        return dsutils.deflate(dsutils.encode(ds, False, True))
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
    try:
        status = _as_status(asce.ae.on_receive_store(ctx, data), dm.CStoreRSPMessage)
    except EventHandlingError as exc:
        logger.warning('on_receive_store refused %s: %s', instance, exc)
        return _refusal_status(exc, statuses.C_STORE_CANNOT_UNDERSTAND, dm.CStoreRSPMessage)
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


# --- DIMSE-N services (PS3.7 10) ----------------------------------------------------------------
#
# A DIMSE-N operation acts on one managed SOP instance (PS3.7 10.1): N-GET, N-SET, N-ACTION,
# N-CREATE and N-DELETE are invoked by the SCU and performed by the SCP; N-EVENT-REPORT goes the
# other way, from the SCP to the SCU. The SCU functions below send one request and wait for its
# response; :class:`NServiceSCP` answers requests through methods a subclass overrides.

#: PS3.4 F.7: the Modality Performed Procedure Step SOP class (N-CREATE, then N-SET).
MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS = UID('1.2.840.10008.3.1.2.3.3')


class NResponse(NamedTuple):
    """What an N-service SCU function returns.

    ``status`` of the response; ``data_set`` its decoded data set (the attribute list, action
    or event reply), or None; ``sop_instance_uid`` its Affected SOP Instance UID (the UID an
    N-CREATE SCP assigned), or None; ``message`` the response itself (for Error Comment,
    Offending Element ...).

    Usage (see :class:`ModalityPerformedProcedureStep` for a complete example)::

        status, attributes, instance, _ = assoc.get_scu(MPPS)('n_create', ds, 1)
    """

    status: statuses.Status
    data_set: Dataset | None
    sop_instance_uid: UID | None
    message: dm.DIMSEResponseMessage


def _decode_data_set(data: Any, ts: UID) -> Dataset:
    """A received data set decoded from transfer syntax ``ts``: bytes, or the Part-10 file
    ``ae.get_file`` gave (for a SOP class registered ``store_in_file``).

    Raises :class:`DIMSEProcessingError` when it cannot be read.
    """
    try:
        if hasattr(data, 'read'):
            from pydicom import dcmread

            ds = dcmread(data, force=True)
        elif ts.is_deflated:
            # PS3.5 A.5: explicit VR little endian, deflated (RFC 1951, no zlib header).
            ds = dsutils.decode(dsutils.inflate(data), False, True)
        else:
            ds = dsutils.decode(bytes(data), ts.is_implicit_VR, ts.is_little_endian)
        # pydicom converts values lazily: convert them all now, so that a malformed data set
        # is found here rather than in a handler.
        ds.walk(lambda dataset, element: None)
        return ds
    except Exception as exc:
        raise DIMSEProcessingError(
            f'cannot decode the data set in transfer syntax {ts}: {exc}'
        ) from exc


def _encode_attributes(ds: Dataset, ts: UID) -> bytes:
    """Encode an N-service data set (no pixel data) for a context with transfer syntax ``ts``.

    PS3.5 A.4: the elements outside Pixel Data of an encapsulated transfer syntax are explicit
    VR little endian, so a compressed context needs no codec here.
    """
    if ts.is_compressed:
        return dsutils.encode(ds, False, True)
    return _encode_for_context(ds, ts)


def _without_default_classes(service: _F) -> _F:
    """Mark a generic SCU: it has no SOP classes of its own, ``add_scu`` is given them."""
    service.sop_classes = []  # type: ignore[attr-defined]
    service.store_in_file = False  # type: ignore[attr-defined]
    return service


def _n_exchange(
    asce: Association,
    ctx: PContextDef,
    rq: dm.DIMSERequestMessage,
    response_class: type[dm.DIMSEResponseMessage],
    data_set: Dataset | None,
) -> NResponse:
    """Send an N-request (with its data set, if any) and read its response."""
    if data_set is not None:
        rq.data_set = _encode_attributes(data_set, ctx.supported_ts)
    asce.send(rq, ctx.id)
    while True:
        msg, pc_id = asce.receive()
        # The performer of our request may invoke an N-EVENT-REPORT before it answers (PS3.4
        # J.3.3: a storage commitment result on the requester's association); serve it.
        if not _serve_event_report(asce, msg, pc_id):
            break
    rsp = _check_response(asce, ctx, response_class, rq.message_id, msg, pc_id)
    attributes = None
    if rsp.data_set:
        attributes = _decode_data_set(rsp.data_set, ctx.supported_ts)
    instance = getattr(rsp, 'affected_sop_instance_uid', None)
    return NResponse(
        _response_status(rsp),
        attributes,
        UID(instance) if instance else None,
        rsp,
    )


@_without_default_classes
def n_get_scu(
    asce: Association,
    ctx: PContextDef,
    sop_instance_uid: str,
    msg_id: int,
    attribute_identifier_list: Iterable[int | str] | None = None,
) -> NResponse:
    """N-GET (PS3.7 10.1.2): read attributes of a managed SOP instance.

    ``attribute_identifier_list`` holds tags or keywords; none asks for all attributes. The
    attributes come back in ``NResponse.data_set``.

    Usage (the printer of :class:`NServiceSCP` runs it)::

        client.add_scu(sc.n_get_scu, [PRINTER_SOP_CLASS])
        rsp = assoc.get_scu(PRINTER_SOP_CLASS)(PRINTER_INSTANCE, 1, ['PrinterStatus'])
        rsp.status.is_success, rsp.data_set.PrinterStatus      # (True, 'NORMAL')
    """
    rq = dm.NGetRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    rq.requested_sop_instance_uid = sop_instance_uid
    if attribute_identifier_list:
        rq.attribute_identifier_list = [Tag(tag) for tag in attribute_identifier_list]
    return _n_exchange(asce, ctx, rq, dm.NGetRSPMessage, None)


@_without_default_classes
def n_set_scu(
    asce: Association,
    ctx: PContextDef,
    sop_instance_uid: str,
    modification_list: Dataset,
    msg_id: int,
) -> NResponse:
    """N-SET (PS3.7 10.1.3): change attributes of a managed SOP instance.

    Usage (:class:`ModalityPerformedProcedureStep` runs it; a COMPLETED step needs its
    end date and time, PS3.4 F.7.2.2.2)::

        mods = Dataset()
        mods.PerformedProcedureStepStatus = 'COMPLETED'
        mods.PerformedProcedureStepEndDate = '20240131'
        mods.PerformedProcedureStepEndTime = '101500'
        assoc.get_scu(MPPS)('n_set', instance_uid, mods, 2).status.is_success   # True
    """
    rq = dm.NSetRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    rq.requested_sop_instance_uid = sop_instance_uid
    return _n_exchange(asce, ctx, rq, dm.NSetRSPMessage, modification_list)


@_without_default_classes
def n_action_scu(
    asce: Association,
    ctx: PContextDef,
    sop_instance_uid: str,
    action_type_id: int,
    msg_id: int,
    action_information: Dataset | None = None,
) -> NResponse:
    """N-ACTION (PS3.7 10.1.4): ask the SCP to perform action ``action_type_id``.

    Usage (action type 1 of a Basic Film Session, print it; message ID 3)::

        assoc.get_scu(FILM_SESSION)(session_uid, 1, 3).status.is_success
    """
    rq = dm.NActionRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    rq.requested_sop_instance_uid = sop_instance_uid
    rq.action_type_id = action_type_id
    return _n_exchange(asce, ctx, rq, dm.NActionRSPMessage, action_information)


@_without_default_classes
def n_create_scu(
    asce: Association,
    ctx: PContextDef,
    attribute_list: Dataset | None,
    msg_id: int,
    sop_instance_uid: str | None = None,
) -> NResponse:
    """N-CREATE (PS3.7 10.1.5): create a managed SOP instance with these attributes.

    Without ``sop_instance_uid`` the SCP assigns one and returns it in
    ``NResponse.sop_instance_uid`` (PS3.7 10.1.5.1.3).

    Usage (:class:`ModalityPerformedProcedureStep` runs it)::

        rsp = assoc.get_scu(MPPS)('n_create', attributes, 1)
        instance_uid = rsp.sop_instance_uid
    """
    rq = dm.NCreateRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    if sop_instance_uid:
        rq.affected_sop_instance_uid = sop_instance_uid
    return _n_exchange(asce, ctx, rq, dm.NCreateRSPMessage, attribute_list)


@_without_default_classes
def n_delete_scu(
    asce: Association, ctx: PContextDef, sop_instance_uid: str, msg_id: int
) -> NResponse:
    """N-DELETE (PS3.7 10.1.6): delete a managed SOP instance.

    Usage::

        assoc.get_scu(FILM_SESSION)(session_uid, 4).status.is_success
    """
    rq = dm.NDeleteRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    rq.requested_sop_instance_uid = sop_instance_uid
    return _n_exchange(asce, ctx, rq, dm.NDeleteRSPMessage, None)


@_without_default_classes
def n_event_report_scu(
    asce: Association,
    ctx: PContextDef,
    sop_instance_uid: str,
    event_type_id: int,
    msg_id: int,
    event_information: Dataset | None = None,
) -> NResponse:
    """N-EVENT-REPORT (PS3.7 10.1.1): report event ``event_type_id`` of a managed instance.

    Sent by the side that plays the SCP role of the SOP class; here, as everywhere, the
    association's requester must have the SOP class registered with ``add_scu``.

    Usage::

        assoc.get_scu(PRINTER_SOP_CLASS)(PRINTER_INSTANCE, 2, 1).status.is_success
    """
    rq = dm.NEventReportRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    rq.affected_sop_instance_uid = sop_instance_uid
    rq.event_type_id = event_type_id
    return _n_exchange(asce, ctx, rq, dm.NEventReportRSPMessage, event_information)


def _serve_event_report(asce: Association, msg: dm.DIMSEMessage, pc_id: int) -> bool:
    """Answer ``msg`` if it is an N-EVENT-REPORT-RQ, through the SCP the AE registered for
    its SOP class (0122H without one); False for any other message."""
    if not isinstance(msg, dm.NEventReportRQMessage):
        return False
    context = asce.accepted_contexts.get(pc_id)
    service = None
    if context is not None:
        with asce.ae.lock:
            service = asce.ae.supported_scp.get(msg.sop_class_uid or context.sop_class)
    try:
        if service is None or context is None:
            asce.respond_unsupported(pc_id, msg)
        else:
            service(asce, context, msg)
    finally:
        asce.discard_received_file(msg.data_set)
    return True


def wait_for_event_report(assoc: Association, timeout: float | None = None) -> None:
    """Serve the next message of ``assoc``, which must be an N-EVENT-REPORT-RQ.

    For a requester whose peer reports on the same association (PS3.4 J.3.3.1.2 allows a
    storage commitment result there while the association is open): the report goes to the
    SCP this AE registered for its SOP class (e.g. ``StorageCommitment()``, which calls
    ``on_commitment_response``). A report that arrives while an N-service SCU waits for its
    response is served the same way without this call. Waits ``timeout`` seconds (default
    ``ae.dcm_timeout``; :class:`~pynetdicom2.exceptions.DCMTimeoutError` after that) and
    raises :class:`DIMSEProcessingError` for any other message.

    Usage::

        status = assoc.get_scu(uids.STORAGE_COMMITMENT_SOP_CLASS)(tuid, pairs, 1)
        sc.wait_for_event_report(assoc, timeout=60)    # on_commitment_response was called
    """
    msg, pc_id = assoc.receive(timeout)
    if not _serve_event_report(assoc, msg, pc_id):
        assoc.discard_received_file(msg.data_set)
        raise DIMSEProcessingError(
            f'expected an N-EVENT-REPORT-RQ, got {type(msg).__name__} on context {pc_id}'
        )


class NServiceSCU:
    """One SCU for several DIMSE-N operations of its SOP classes, chosen by name.

    An AE has one SCU per SOP class, and many N-service SOP classes need several operations
    (MPPS: N-CREATE then N-SET), so this SCU takes the operation first: ``'n_get'``,
    ``'n_set'``, ``'n_action'``, ``'n_create'``, ``'n_delete'`` or ``'n_event_report'``,
    followed by the arguments of the matching ``n_*_scu`` function. ``operations`` limits it
    to those its SOP classes define.

    Usage (:data:`mpps_scu` is one; :class:`ModalityPerformedProcedureStep` runs it)::

        client.add_scu(sc.NServiceSCU([FILM_SESSION], ['n_create', 'n_action', 'n_delete']))
        with client.request_association(remote) as assoc:
            film = assoc.get_scu(FILM_SESSION)
            session_uid = film('n_create', attributes, 1).sop_instance_uid
            film('n_delete', session_uid, 2).status.is_success
    """

    #: Operation name -> SCU function.
    functions: ClassVar[dict[str, Callable[..., NResponse]]] = {
        'n_get': n_get_scu,
        'n_set': n_set_scu,
        'n_action': n_action_scu,
        'n_create': n_create_scu,
        'n_delete': n_delete_scu,
        'n_event_report': n_event_report_scu,
    }

    def __init__(
        self, sop_classes: Iterable[str], operations: Iterable[str] | None = None
    ) -> None:
        self.sop_classes = [UID(uid) for uid in sop_classes]
        self.store_in_file = False
        chosen = list(self.functions) if operations is None else list(operations)
        unknown = [name for name in chosen if name not in self.functions]
        if unknown:
            raise NetDICOMError(
                f'unknown DIMSE-N operations {unknown}; expected some of {list(self.functions)}'
            )
        self.operations = tuple(chosen)

    def __call__(
        self, asce: Association, ctx: PContextDef, operation: str, *args: Any, **kwargs: Any
    ) -> NResponse:
        if operation not in self.operations:
            raise NetDICOMError(
                f'{operation!r} is not an operation of this SCU for {ctx.sop_class}; '
                f'expected one of {list(self.operations)}'
            )
        return self.functions[operation](asce, ctx, *args, **kwargs)


#: The Modality Performed Procedure Step SCU (PS3.4 F.7.2): ``'n_create'`` then ``'n_set'``.
#: ``client.add_scu(sc.mpps_scu)``.
mpps_scu = NServiceSCU([MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS], ['n_create', 'n_set'])

#: What an :class:`NServiceSCP` method returns: a status (or its code) and a data set or None.
NReply = tuple[Union[statuses.Status, int], Optional[Dataset]]

#: PS3.7 Annex C: 0211H, unrecognised operation (not one this SCP performs).
UNRECOGNIZED_OPERATION = statuses.Status(0x0211)


class NServiceSCP(MessageDispatcherSCP):
    """An SCP for DIMSE-N SOP classes: decodes each request, asks a method, sends the response.

    Subclass it and override the ``on_n_*`` methods the SOP class defines; each returns
    ``(status, data set or None)``, or just a status. The data set (the N-GET attribute list,
    an N-ACTION or N-EVENT-REPORT reply, the N-CREATE or N-SET attribute list) is sent only
    with a success or warning status. An operation not overridden answers 0211H (unrecognised
    operation); a request that is not a DIMSE-N one answers 0122H. Raising
    :class:`~pynetdicom2.exceptions.EventHandlingError` answers 0110H (processing failure),
    as does a data set that cannot be decoded. Methods run on association threads, several
    at once: guard shared state. Register an instance: ``ae.add_scp(MySCP())``.

    A printer that answers N-GET (and, through :func:`n_get_scu`, a client asking it):

    >>> from pynetdicom2.applicationentity import AE, ClientAE
    >>> PRINTER_SOP_CLASS = '1.2.840.10008.5.1.1.16'
    >>> PRINTER_INSTANCE = '1.2.840.10008.5.1.1.17'      # its well-known instance
    >>> class Printer(NServiceSCP):
    ...     sop_classes = [PRINTER_SOP_CLASS]
    ...     def on_n_get(self, asce, ctx, sop_instance_uid, attribute_identifiers):
    ...         ds = Dataset(); ds.PrinterStatus = 'NORMAL'
    ...         return statuses.SUCCESS, ds
    >>> client = ClientAE('PRINTSCU').add_scu(n_get_scu, [PRINTER_SOP_CLASS])
    >>> with AE('PRINTSCP', 0, host='127.0.0.1').add_scp(Printer()) as srv:
    ...     remote = {'aet': 'PRINTSCP', 'address': '127.0.0.1', 'port': srv.local_ae.port}
    ...     with client.request_association(remote) as assoc:
    ...         rsp = assoc.get_scu(PRINTER_SOP_CLASS)(PRINTER_INSTANCE, 1, ['PrinterStatus'])
    >>> rsp.status.is_success, rsp.data_set.PrinterStatus
    (True, 'NORMAL')
    """

    def __init__(self, sop_classes: Iterable[str] | None = None) -> None:
        if sop_classes is not None:
            self.sop_classes = [UID(uid) for uid in sop_classes]  # type: ignore[misc]

    # -- what subclasses override ------------------------------------------------------------

    def on_n_get(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
        attribute_identifiers: list[BaseTag],
    ) -> NReply:
        """N-GET: the attributes asked for (all when the list is empty)."""
        return UNRECOGNIZED_OPERATION, None

    def on_n_set(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
        modification_list: Dataset,
    ) -> NReply:
        """N-SET: apply the modification list."""
        return UNRECOGNIZED_OPERATION, None

    def on_n_action(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID, action_type_id: int,
        action_information: Dataset | None,
    ) -> NReply:
        """N-ACTION: perform the action."""
        return UNRECOGNIZED_OPERATION, None

    def on_n_create(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
        attribute_list: Dataset | None,
    ) -> NReply:
        """N-CREATE: create the instance (its UID was given, or assigned by us)."""
        return UNRECOGNIZED_OPERATION, None

    def on_n_delete(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID) -> NReply:
        """N-DELETE: delete the instance."""
        return UNRECOGNIZED_OPERATION, None

    def on_n_event_report(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID, event_type_id: int,
        event_information: Dataset | None,
    ) -> NReply:
        """N-EVENT-REPORT: take note of the event."""
        return UNRECOGNIZED_OPERATION, None

    # -- the dispatcher's methods ----------------------------------------------------------

    @staticmethod
    def _request_data_set(ctx: PContextDef, msg: dm.DIMSEMessage) -> Dataset | None:
        if not msg.data_set:
            return None
        return _decode_data_set(msg.data_set, ctx.supported_ts)

    def _answer(
        self,
        asce: Association,
        ctx: PContextDef,
        rsp: dm.DIMSEResponseMessage,
        reply: Callable[[], NReply],
    ) -> None:
        try:
            answer = reply()
            if isinstance(answer, (statuses.Status, int)):
                answer = (answer, None)  # a bare status: no data set
            status_value, attributes = answer
            status = _as_status(status_value, type(rsp))
        except (EventHandlingError, DIMSEProcessingError) as exc:
            logger.warning('%s for %s: %s', type(rsp).__name__, ctx.sop_class, exc)
            status, attributes = statuses.PROCESSING_FAILURE, None
            if isinstance(exc, EventHandlingError):
                status = _refusal_status(exc, status, type(rsp))
        rsp.status = int(status)
        if attributes is not None and (status.is_success or status.is_warning):
            rsp.data_set = _encode_attributes(attributes, ctx.supported_ts)
        asce.send(rsp, ctx.id)

    def n_get(self, asce: Association, ctx: PContextDef, msg: dm.NGetRQMessage) -> None:
        rsp = _response_for(dm.NGetRSPMessage, ctx, msg)
        instance = UID(msg.requested_sop_instance_uid or '')
        rsp.affected_sop_instance_uid = instance
        identifiers = msg.attribute_identifier_list
        if identifiers is None:
            tags = []
        elif isinstance(identifiers, BaseTag):
            tags = [identifiers]
        else:
            tags = [Tag(tag) for tag in identifiers]
        self._answer(asce, ctx, rsp, lambda: self.on_n_get(asce, ctx, instance, tags))

    def n_set(self, asce: Association, ctx: PContextDef, msg: dm.NSetRQMessage) -> None:
        rsp = _response_for(dm.NSetRSPMessage, ctx, msg)
        instance = UID(msg.requested_sop_instance_uid or '')
        rsp.affected_sop_instance_uid = instance

        def reply() -> NReply:
            modifications = self._request_data_set(ctx, msg)
            if modifications is None:
                raise EventHandlingError('N-SET-RQ without a modification list (PS3.7 10.1.3)')
            return self.on_n_set(asce, ctx, instance, modifications)

        self._answer(asce, ctx, rsp, reply)

    def n_action(self, asce: Association, ctx: PContextDef, msg: dm.NActionRQMessage) -> None:
        rsp = _response_for(dm.NActionRSPMessage, ctx, msg)
        instance = UID(msg.requested_sop_instance_uid or '')
        rsp.affected_sop_instance_uid = instance
        rsp.action_type_id = msg.action_type_id
        self._answer(asce, ctx, rsp, lambda: self.on_n_action(
            asce, ctx, instance, msg.action_type_id, self._request_data_set(ctx, msg)
        ))

    def n_create(self, asce: Association, ctx: PContextDef, msg: dm.NCreateRQMessage) -> None:
        rsp = _response_for(dm.NCreateRSPMessage, ctx, msg)
        # PS3.7 10.1.5.1.3: without an Affected SOP Instance UID the performer assigns one.
        instance = UID(msg.affected_sop_instance_uid or generate_uid())
        rsp.affected_sop_instance_uid = instance
        self._answer(asce, ctx, rsp, lambda: self.on_n_create(
            asce, ctx, instance, self._request_data_set(ctx, msg)
        ))

    def n_delete(self, asce: Association, ctx: PContextDef, msg: dm.NDeleteRQMessage) -> None:
        rsp = _response_for(dm.NDeleteRSPMessage, ctx, msg)
        instance = UID(msg.requested_sop_instance_uid or '')
        rsp.affected_sop_instance_uid = instance
        self._answer(asce, ctx, rsp, lambda: self.on_n_delete(asce, ctx, instance))

    def n_event_report(
        self, asce: Association, ctx: PContextDef, msg: dm.NEventReportRQMessage
    ) -> None:
        rsp = _response_for(dm.NEventReportRSPMessage, ctx, msg)
        instance = UID(msg.affected_sop_instance_uid or '')
        rsp.affected_sop_instance_uid = instance
        rsp.event_type_id = msg.event_type_id
        self._answer(asce, ctx, rsp, lambda: self.on_n_event_report(
            asce, ctx, instance, msg.event_type_id, self._request_data_set(ctx, msg)
        ))


# --- Modality Performed Procedure Step (PS3.4 Annex F) ------------------------------------------


class ModalityPerformedProcedureStep(NServiceSCP):
    """The MPPS SCP (PS3.4 F.7): keeps each performed procedure step in memory.

    N-CREATE makes a step (status IN PROGRESS); N-SET changes it until it is COMPLETED or
    DISCONTINUED, after which it may no longer be changed (PS3.4 F.7.2.2.2). ``instances``
    maps each SOP instance UID to its attributes. Override :meth:`step_created` and
    :meth:`step_updated` to act on them (called after the change, outside the lock, with a
    copy); raise :class:`~pynetdicom2.exceptions.EventHandlingError` there to refuse it
    (0110H, and the change is undone).

    A scheduler that acts on completed steps (``bill`` stands for your own code)::

        class Scheduler(sc.ModalityPerformedProcedureStep):
            def step_updated(self, asce, sop_instance_uid, attributes):
                if attributes.PerformedProcedureStepStatus == 'COMPLETED':
                    bill(attributes)

        srv.add_scp(Scheduler())
        client.add_scu(sc.mpps_scu)

    A modality reporting a step to it, with :data:`mpps_scu` (N-CREATE, then N-SET):

    >>> from pynetdicom2.applicationentity import AE, ClientAE
    >>> MPPS = MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS
    >>> steps = ModalityPerformedProcedureStep()
    >>> client = ClientAE('MODALITY').add_scu(mpps_scu)
    >>> with AE('RIS', 0, host='127.0.0.1').add_scp(steps) as srv:
    ...     remote = {'aet': 'RIS', 'address': '127.0.0.1', 'port': srv.local_ae.port}
    ...     with client.request_association(remote) as assoc:
    ...         attributes = Dataset()
    ...         attributes.PerformedProcedureStepStatus = 'IN PROGRESS'
    ...         rsp = assoc.get_scu(MPPS)('n_create', attributes, 1)   # the SCP picks the UID
    ...         instance_uid = rsp.sop_instance_uid
    ...         mods = Dataset()
    ...         mods.PerformedProcedureStepStatus = 'COMPLETED'
    ...         mods.PerformedProcedureStepEndDate = '20240131'
    ...         mods.PerformedProcedureStepEndTime = '101500'
    ...         print(rsp.status, assoc.get_scu(MPPS)('n_set', instance_uid, mods, 2).status)
    (0x0) Success: - (0x0) Success: -
    >>> steps.instances[instance_uid].PerformedProcedureStepStatus
    'COMPLETED'
    """

    sop_classes: ClassVar[list[str]] = [MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS]

    #: PS3.3 C.4.14: the values of Performed Procedure Step Status (0040,0252).
    IN_PROGRESS = 'IN PROGRESS'
    COMPLETED = 'COMPLETED'
    DISCONTINUED = 'DISCONTINUED'
    FINAL = frozenset({COMPLETED, DISCONTINUED})

    #: General failure statuses of PS3.7 Annex C that the MPPS operations answer.
    DUPLICATE_SOP_INSTANCE = statuses.Status(0x0111)
    INVALID_ATTRIBUTE_VALUE = statuses.Status(0x0106)
    MISSING_ATTRIBUTE = statuses.Status(0x0120)
    MISSING_ATTRIBUTE_VALUE = statuses.Status(0x0121)

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.instances: dict[UID, Dataset] = {}

    # -- hooks ---------------------------------------------------------------------------------

    def step_created(self, asce: Association, sop_instance_uid: UID, attributes: Dataset) -> None:
        """Called after N-CREATE made a step; raise EventHandlingError to refuse it."""

    def step_updated(self, asce: Association, sop_instance_uid: UID, attributes: Dataset) -> None:
        """Called after N-SET changed a step; raise EventHandlingError to undo it."""

    # -- the operations ------------------------------------------------------------------------

    def on_n_create(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
        attribute_list: Dataset | None,
    ) -> NReply:
        attributes = attribute_list if attribute_list is not None else Dataset()
        # PS3.4 F.7.2.1.2: a step is created IN PROGRESS.
        if 'PerformedProcedureStepStatus' not in attributes:
            logger.warning('MPPS N-CREATE of %s without a status', sop_instance_uid)
            return self.MISSING_ATTRIBUTE, None
        if attributes.PerformedProcedureStepStatus != self.IN_PROGRESS:
            logger.warning(
                'MPPS N-CREATE of %s with status %r, not IN PROGRESS', sop_instance_uid,
                attributes.PerformedProcedureStepStatus,
            )
            return self.INVALID_ATTRIBUTE_VALUE, None
        with self.lock:
            if sop_instance_uid in self.instances:
                return self.DUPLICATE_SOP_INSTANCE, None
            self.instances[sop_instance_uid] = attributes
            snapshot = copy.deepcopy(attributes)
        try:
            self.step_created(asce, sop_instance_uid, snapshot)
        except EventHandlingError:
            with self.lock:
                self.instances.pop(sop_instance_uid, None)
            raise
        return statuses.SUCCESS, None

    def on_n_set(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
        modification_list: Dataset,
    ) -> NReply:
        new_status = modification_list.get('PerformedProcedureStepStatus')
        if new_status is not None and new_status not in (self.IN_PROGRESS, *self.FINAL):
            return self.INVALID_ATTRIBUTE_VALUE, None
        with self.lock:
            current = self.instances.get(sop_instance_uid)
            if current is None:
                return statuses.Status(0x0112, dm.NSetRSPMessage), None
            if current.get('PerformedProcedureStepStatus') in self.FINAL:
                # PS3.4 F.7.2.2.2: a COMPLETED or DISCONTINUED step may no longer be updated.
                logger.warning('MPPS N-SET of %s, which is final', sop_instance_uid)
                return statuses.PROCESSING_FAILURE, None
            updated = copy.deepcopy(current)
            for element in modification_list:
                updated[element.tag] = element
            if updated.get('PerformedProcedureStepStatus') in self.FINAL and not (
                updated.get('PerformedProcedureStepEndDate')
                and updated.get('PerformedProcedureStepEndTime')
            ):
                # PS3.4 F.7.2.2.2: a final step carries its end date and time.
                return self.MISSING_ATTRIBUTE_VALUE, None
            self.instances[sop_instance_uid] = updated
            snapshot = copy.deepcopy(updated)
        try:
            self.step_updated(asce, sop_instance_uid, snapshot)
        except EventHandlingError:
            with self.lock:
                if self.instances.get(sop_instance_uid) is updated:
                    self.instances[sop_instance_uid] = current
            raise
        return statuses.SUCCESS, None


# --- Storage Commitment Push Model (PS3.4 Annex J) ----------------------------------------------

#: PS3.4 J.3.5: the well-known SOP *instance* of the Storage Commitment Push Model SOP class
#: (the original named it a SOP class; the name stays for compatibility).
STORAGE_COMMITMENT_PUSH_MODEL_SOP_CLASS = UID('1.2.840.10008.1.20.1.1')
#: The same UID under its right name.
STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE = STORAGE_COMMITMENT_PUSH_MODEL_SOP_CLASS

#: PS3.4 J.3.2.1: Action Type ID 1, Request Storage Commitment.
_REQUEST_STORAGE_COMMITMENT = 1
#: PS3.4 J.3.3.1: Event Type IDs 1 (all committed) and 2 (complete, failures exist).
_COMMITMENT_SUCCESSFUL = 1
_COMMITMENT_FAILURES_EXIST = 2


def _referenced_sop(
    sop_class: str, sop_instance: str, failure_reason: int | None = None
) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    if failure_reason is not None:
        item.FailureReason = int(failure_reason)
    return item


def _referenced_pairs(sequence: Iterable[Dataset]) -> list[tuple[UID, UID]]:
    return [
        (UID(item.ReferencedSOPClassUID), UID(item.ReferencedSOPInstanceUID)) for item in sequence
    ]


@sop_classes([uids.STORAGE_COMMITMENT_SOP_CLASS])
def storage_commitment_scu(
    asce: Association,
    ctx: PContextDef,
    transaction_uid: str,
    uids: Iterable[tuple[str, str]],
    msg_id: int,
) -> statuses.Status:
    """Request storage commitment of SOP instances (N-ACTION type 1, PS3.4 J.3.2.1).

    ``uids`` are ``(SOP class UID, SOP instance UID)`` pairs. Returns the status of the
    N-ACTION-RSP: the request was taken, not yet the result. The result comes later as an
    N-EVENT-REPORT on a *new* association to this AE, which must therefore listen (an
    :class:`~pynetdicom2.applicationentity.AE`) with ``add_scp(StorageCommitment())`` (which
    also makes it grant the SCP role the reporter proposes) and override
    ``on_commitment_response``.

    Usage::

        ae.add_scu(sc.storage_commitment_scu).add_scp(sc.StorageCommitment())
        with ae.request_association(archive) as assoc:
            assoc.get_scu(uids.STORAGE_COMMITMENT_SOP_CLASS)(
                generate_uid(), [(uids.CT_IMAGE_STORAGE, ct_instance_uid)], 1).is_success
    """
    references = [_referenced_sop(sop_class, instance) for sop_class, instance in uids]
    if not transaction_uid or not references:
        raise NetDICOMError(
            'storage commitment needs a transaction UID and at least one (SOP class, SOP '
            'instance) pair (PS3.4 J.3.2.1.1)'
        )
    information = Dataset()
    information.TransactionUID = transaction_uid
    information.ReferencedSOPSequence = references
    rq = dm.NActionRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    rq.requested_sop_instance_uid = STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE
    rq.action_type_id = _REQUEST_STORAGE_COMMITMENT
    return _n_exchange(asce, ctx, rq, dm.NActionRSPMessage, information).status


def _commitment_report_scu(
    asce: Association,
    ctx: PContextDef,
    transaction_uid: str,
    success: list[tuple[str, str]],
    failure: list[tuple[str, str, int]],
    msg_id: int,
) -> statuses.Status:
    """Send the storage commitment result (N-EVENT-REPORT, PS3.4 J.3.3.1.1)."""
    information = Dataset()
    information.TransactionUID = transaction_uid
    if success:
        information.ReferencedSOPSequence = [_referenced_sop(c, i) for c, i in success]
    if failure:
        information.FailedSOPSequence = [_referenced_sop(c, i, r) for c, i, r in failure]
    event = _COMMITMENT_FAILURES_EXIST if failure else _COMMITMENT_SUCCESSFUL
    return n_event_report_scu(
        asce, ctx, STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE, event, msg_id, information
    ).status


_commitment_report_scu.sop_classes = [uids.STORAGE_COMMITMENT_SOP_CLASS]  # type: ignore[attr-defined]
_commitment_report_scu.store_in_file = False  # type: ignore[attr-defined]


def _send_commitment_report(
    ae: Any,
    remote_ae: Any,
    transaction_uid: str,
    success: list[tuple[str, str]],
    failure: list[tuple[str, str, int]],
) -> statuses.Status:
    """Open a new association to ``remote_ae`` as ``ae`` and send the result on it.

    PS3.4 J.3.3.1.3: the SCP requests the association and proposes the SCP role of the
    Storage Commitment Push Model SOP class (role selection, PS3.7 D.3.3.4); the message ID
    of the report is 1, the first of that association.
    """
    # Imported here: asceprovider builds on sopclass.
    from pynetdicom2.asceprovider import PContextDefList, RemoteAEConfig

    if isinstance(remote_ae, RemoteAEConfig):
        remote = remote_ae
    else:
        try:
            remote = RemoteAEConfig(**remote_ae)
        except TypeError as exc:
            raise NetDICOMError(
                f'on_commitment_request named {remote_ae!r} as the destination: expected a '
                f'RemoteAEConfig or a dict of its fields ({exc})'
            ) from None
    role = ScpScuRoleSelectionSubItem(uids.STORAGE_COMMITMENT_SOP_CLASS, 0, 1)
    remote = dataclasses.replace(remote, user_data=[*remote.user_data, role])
    sop_class = uids.STORAGE_COMMITMENT_SOP_CLASS
    context = PContextDefList(1, sop_class, tuple(UID(ts) for ts in ae.supported_ts))
    view = _ProposalView(ae, {1: context}, {sop_class: _commitment_report_scu})
    # The AE's own factory: a TLS AE sends its results over TLS, as it received the request.
    assoc = type(ae)._create_association(view, remote)
    assoc.request()
    try:
        status = assoc.get_scu(sop_class)(transaction_uid, success, failure, 1)
    except BaseException:
        assoc.abort()
        raise
    assoc.release()
    return status  # type: ignore[no-any-return]


class StorageCommitment(MessageDispatcherSCP):
    """The Storage Commitment Push Model SCP (PS3.4 J.3), used as an instance, both roles.

    * On the performer's AE it answers N-ACTION (a commitment request): it asks
      ``ae.on_commitment_request(remote_aet, (sop_class, sop_instance) iterator)``, which
      returns ``(remote_ae, success, failure)``: where to send the result (a
      ``RemoteAEConfig`` or dict; None sends none), the committed ``(class, instance)`` pairs
      and the failed ``(class, instance, failure reason)`` triples. The N-ACTION-RSP goes
      back, then the result is sent as an N-EVENT-REPORT (event 1: all committed, 2: failures
      exist) on a new association to ``remote_ae``, with its own Message ID.
    * On the requester's AE it answers that N-EVENT-REPORT: it calls
      ``ae.on_commitment_response(transaction_uid, success iterator, failure iterator)`` and
      replies Success (0110H after an EventHandlingError or an unreadable report). Registered,
      it makes that AE grant the SCP role the reporter proposes (it performs the
      N-EVENT-REPORT, the SCU's part: PS3.7 10.1.1); the requests may come from another AE.

    The class constants are the Failure Reason (0008,1197) values of PS3.3 C.14.1.1.

    Usage (``MyAE`` an :class:`~pynetdicom2.applicationentity.AE` subclass overriding the
    commitment hooks)::

        performer = MyAE('ARCHIVE', 11112).add_scp(sc.StorageCommitment())
        requester = MyAE('MODALITY', 11113).add_scp(sc.StorageCommitment())
        requester.add_scu(sc.storage_commitment_scu)
    """

    sop_classes: ClassVar[list[str]] = [uids.STORAGE_COMMITMENT_SOP_CLASS]
    store_in_file: ClassVar[bool] = False

    PROCESSING_FAILURE = 0x0110
    NO_SUCH_OBJECT_INSTANCE = 0x0112
    RESOURCE_LIMITATION = 0x0213
    REFERENCED_SOP_CLASS_NOT_SUPPORTED = 0x0122
    CLASS_OR_INSTANCE_CONFLICT = 0x0119
    DUPLICATE_TRANSACTION_UID = 0x0131

    @staticmethod
    def n_action(asce: Association, ctx: PContextDef, msg: dm.NActionRQMessage) -> None:
        """Answer a storage commitment request, then report the result on a new association."""
        rsp = _response_for(dm.NActionRSPMessage, ctx, msg)
        rsp.affected_sop_instance_uid = msg.requested_sop_instance_uid
        rsp.action_type_id = msg.action_type_id
        outcome = StorageCommitment._commitment_request(asce, ctx, msg)
        if isinstance(outcome, statuses.Status):
            rsp.status = int(outcome)
            asce.send(rsp, ctx.id)
            return
        transaction_uid, (remote, success, failure) = outcome
        rsp.status = int(statuses.SUCCESS)
        asce.send(rsp, ctx.id)
        if remote is None:
            logger.info('no storage commitment result is sent for %s', transaction_uid)
            return
        try:
            status = _send_commitment_report(asce.ae, remote, transaction_uid, success, failure)
        except (NetDICOMError, OSError) as exc:
            logger.warning(
                'could not send the storage commitment result of %s to %r: %s',
                transaction_uid, remote, exc,
            )
            return
        if not status.is_success:
            logger.warning(
                'the storage commitment result of %s was answered %s', transaction_uid, status
            )

    @staticmethod
    def _commitment_request(
        asce: Association, ctx: PContextDef, msg: dm.NActionRQMessage
    ) -> statuses.Status | tuple[str, tuple[Any, list[Any], list[Any]]]:
        """The answer to a commitment request: a failure status, or the transaction UID and
        what the hook decided."""
        command = dm.NActionRSPMessage
        if msg.action_type_id != _REQUEST_STORAGE_COMMITMENT:
            return statuses.Status(0x0123, command)  # PS3.7 10.1.4.1.10: no such action
        if msg.requested_sop_instance_uid != STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE:
            return statuses.Status(0x0112, command)  # PS3.4 J.3.5: the well-known instance
        try:
            if not msg.data_set:
                raise DIMSEProcessingError('no action information')
            information = _decode_data_set(msg.data_set, ctx.supported_ts)
            transaction_uid = str(information.TransactionUID)
            references = _referenced_pairs(information.ReferencedSOPSequence)
        except (DIMSEProcessingError, AttributeError, ValueError) as exc:
            logger.warning('unreadable storage commitment request: %s', exc)
            return statuses.Status(0x0115, command)  # invalid argument value
        if not transaction_uid or not references:
            logger.warning('storage commitment request without a transaction or references')
            return statuses.Status(0x0115, command)
        try:
            remote, success, failure = asce.ae.on_commitment_request(
                asce.remote_ae, iter(references)
            )
        except EventHandlingError as exc:
            logger.warning('on_commitment_request refused %s: %s', transaction_uid, exc)
            return _refusal_status(exc, statuses.PROCESSING_FAILURE, dm.NActionRSPMessage)
        return transaction_uid, (
            remote,
            [(UID(c), UID(i)) for c, i in success],
            [(UID(c), UID(i), int(r)) for c, i, r in failure],
        )

    @staticmethod
    def n_event_report(
        asce: Association, ctx: PContextDef, msg: dm.NEventReportRQMessage
    ) -> None:
        """Take a storage commitment result to ``ae.on_commitment_response``."""
        rsp = _response_for(dm.NEventReportRSPMessage, ctx, msg)
        rsp.affected_sop_instance_uid = msg.affected_sop_instance_uid
        rsp.event_type_id = msg.event_type_id
        rsp.status = int(StorageCommitment._commitment_result(asce, ctx, msg))
        asce.send(rsp, ctx.id)

    @staticmethod
    def _commitment_result(
        asce: Association, ctx: PContextDef, msg: dm.NEventReportRQMessage
    ) -> statuses.Status:
        if msg.event_type_id not in (_COMMITMENT_SUCCESSFUL, _COMMITMENT_FAILURES_EXIST):
            return statuses.Status(0x0113, dm.NEventReportRSPMessage)  # no such event type
        try:
            if not msg.data_set:
                raise DIMSEProcessingError('no event information')
            information = _decode_data_set(msg.data_set, ctx.supported_ts)
            transaction_uid = str(information.TransactionUID)
            success = _referenced_pairs(information.get('ReferencedSOPSequence', []))
            failure = [
                (UID(item.ReferencedSOPClassUID), UID(item.ReferencedSOPInstanceUID),
                 int(item.get('FailureReason', StorageCommitment.PROCESSING_FAILURE)))
                for item in information.get('FailedSOPSequence', [])
            ]
        except (DIMSEProcessingError, AttributeError, ValueError, TypeError) as exc:
            logger.warning('unreadable storage commitment result: %s', exc)
            return statuses.PROCESSING_FAILURE
        try:
            asce.ae.on_commitment_response(transaction_uid, iter(success), iter(failure))
        except EventHandlingError as exc:
            logger.warning('on_commitment_response refused %s: %s', transaction_uid, exc)
            return _refusal_status(exc, statuses.PROCESSING_FAILURE, dm.NEventReportRSPMessage)
        return statuses.SUCCESS


# --- Query/Retrieve service class (PS3.4 Annex C) -----------------------------------------------
#
# Requester side: qr_find_scu and qr_move_scu are generators of responses, qr_get_scu returns a
# GetOperation (an iterator of the instances received). Leaving any of them before the final
# response sends a C-CANCEL-RQ and reads the remaining responses (PS3.7 9.3.2.3).
# Acceptor side: qr_find_scp, qr_move_scp and qr_get_scp answer through the AE hooks
# on_receive_find, on_receive_move and on_receive_get, and between two responses look for a
# C-CANCEL-RQ of the running request (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3).

#: PS3.4 C.6.1.1, C.6.2.1, C.6.3.1: C-FIND of the Patient Root, Study Root and Patient/Study
#: Only information models.
FIND_SOP_CLASSES = [
    uids.PATIENT_ROOT_FIND_SOP_CLASS,
    uids.STUDY_ROOT_FIND_SOP_CLASS,
    uids.PATIENT_STUDY_ONLY_FIND_SOP_CLASS,
]
#: C-MOVE of the three information models.
MOVE_SOP_CLASSES = [
    uids.PATIENT_ROOT_MOVE_SOP_CLASS,
    uids.STUDY_ROOT_MOVE_SOP_CLASS,
    uids.PATIENT_STUDY_ONLY_MOVE_SOP_CLASS,
]
#: C-GET of the three information models.
GET_SOP_CLASSES = [
    uids.PATIENT_ROOT_GET_SOP_CLASS,
    uids.STUDY_ROOT_GET_SOP_CLASS,
    uids.PATIENT_STUDY_ONLY_GET_SOP_CLASS,
]

#: PS3.7 9.3.3.2, 9.3.4.2: the sub-operation counters are US, so one C-GET or C-MOVE performs
#: at most this many sub-operations; more matches are refused with A701H/A702H (PS3.4
#: C.4.2.1.5, C.4.3.1.4: out of resources) rather than wrapping the counters.
MAX_SUB_OPERATIONS = 0xFFFF

#: PS3.8 9.3.2.2: one association carries at most 128 presentation contexts.
_MAX_CONTEXTS = 128
#: PS3.5 6.2: a UI value (all UIDs of a multi-valued one) is at most 64 KiB in explicit VR.
_MAX_UID_LIST_BYTES = 0xFFFE

_RawData = (bytes, bytearray, memoryview)


#: Identifiers in an accepted transfer syntax (PS3.4 C.4.1.1.3; see pynetdicom2.identifiers).
_encode_identifier = encode_identifier
_decode_identifier = decode_identifier


def _response_status(rsp: dm.DIMSEResponseMessage) -> statuses.Status:
    if rsp.status is None:
        raise DIMSEProcessingError(f'{type(rsp).__name__} without a Status (0000,0900)')
    return statuses.Status(rsp.status, type(rsp))


def _check_response(
    asce: Association,
    ctx: PContextDef,
    response_class: type[_Response],
    msg_id: int,
    msg: dm.DIMSEMessage,
    pc_id: int,
) -> _Response:
    """``msg`` is the response to ``msg_id`` on ``ctx``, or the association is in disorder."""
    if (
        isinstance(msg, response_class)
        and pc_id == ctx.id
        and msg.message_id_being_responded_to == msg_id
    ):
        return msg
    asce.discard_received_file(msg.data_set)
    raise DIMSEProcessingError(
        f'expected {response_class.__name__} to message {msg_id} on context {ctx.id}, got '
        f'{type(msg).__name__} to message {getattr(msg, "message_id_being_responded_to", None)}'
        f' on context {pc_id}'
    )


def _next_response(
    asce: Association,
    ctx: PContextDef,
    response_class: type[_Response],
    msg_id: int,
    on_store: Callable[[dm.CStoreRQMessage, int], Any] | None = None,
) -> _Response:
    """The next response to ``msg_id``; C-STORE-RQs before it (C-GET) go to ``on_store``."""
    while True:
        msg, pc_id = asce.receive()
        if on_store is not None and isinstance(msg, dm.CStoreRQMessage):
            on_store(msg, pc_id)
            continue
        return _check_response(asce, ctx, response_class, msg_id, msg, pc_id)


def _cancel(
    asce: Association,
    ctx: PContextDef,
    response_class: type[_Response],
    msg_id: int,
    on_store: Callable[[dm.CStoreRQMessage, int], Any] | None = None,
) -> _Response | None:
    """Cancel request ``msg_id`` and read its responses up to the final one, which is returned.

    PS3.7 9.3.2.3: the C-CANCEL-RQ names the request by Message ID Being Responded To; the
    SCP still sends a final response (usually FE00H, Cancel; a response already on its way
    may be the Success it had reached). If the association fails meanwhile it is aborted,
    since responses still in flight would otherwise be taken for those of the next request;
    None is then returned.
    """
    cancel = dm.CCancelRQMessage()
    cancel.message_id_being_responded_to = msg_id
    try:
        asce.send(cancel, ctx.id)
        while True:
            rsp = _next_response(asce, ctx, response_class, msg_id, on_store)
            if not _response_status(rsp).is_pending:
                return rsp
    except NetDICOMError as exc:
        logger.warning('cancelling message %d failed (%s): aborting the association', msg_id, exc)
        if asce.association_established:
            asce.abort()
        return None


_Request = TypeVar('_Request', dm.CFindRQMessage, dm.CMoveRQMessage, dm.CGetRQMessage)


def _new_request(
    request_class: type[_Request], ctx: PContextDef, ds: Dataset, msg_id: int
) -> _Request:
    rq = request_class()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    rq.priority = dm.PRIORITY_MEDIUM
    rq.data_set = _encode_identifier(ds, ctx.supported_ts)
    return rq


@sop_classes(FIND_SOP_CLASSES)
def qr_find_scu(
    asce: Association, ctx: PContextDef, ds: Dataset, msg_id: int
) -> Iterator[tuple[Dataset | None, statuses.Status]]:
    """C-FIND (PS3.4 C.4.1): yield ``(identifier, status)`` per response, the final one last.

    Pending responses (FF00H, FF01H) carry a matching identifier; the final response (Success,
    Cancel or a failure) usually carries none, and ends the generator. Closing the generator
    before that (``close()``, or ``break`` out of the ``for`` loop) sends a C-CANCEL-RQ and
    reads the responses still coming, so the association is ready for the next request.

    >>> import tempfile
    >>> from pynetdicom2.applicationentity import ClientAE
    >>> from pynetdicom2.loopback import LoopbackSCP
    >>> from pynetdicom2.loopback import make_dataset
    >>> client = ClientAE('MYSCU').add_scu(qr_find_scu)
    >>> q = Dataset(); q.QueryRetrieveLevel = 'STUDY'; q.PatientName = 'X*'
    >>> q.StudyInstanceUID = ''
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp) as pacs:
    ...     _ = pacs.add(make_dataset(PatientName='Xu^Li', StudyInstanceUID='1.2.3.4'),
    ...                  make_dataset(PatientName='Young^Al'))
    ...     with client.request_association(pacs.remote) as assoc:
    ...         for identifier, status in assoc.get_scu(uids.STUDY_ROOT_FIND_SOP_CLASS)(q, 1):
    ...             if status.is_pending:
    ...                 print(identifier.StudyInstanceUID)
    ...             else:
    ...                 print(status)                  # the final response
    1.2.3.4
    (0x0) Success: -
    """
    asce.send(_new_request(dm.CFindRQMessage, ctx, ds, msg_id), ctx.id)
    finished = False
    try:
        while not finished:
            rsp = _next_response(asce, ctx, dm.CFindRSPMessage, msg_id)
            status = _response_status(rsp)
            finished = not status.is_pending
            data = rsp.data_set
            yield (_decode_identifier(data, ctx.supported_ts) if data else None), status
    except GeneratorExit:
        if not finished:
            _cancel(asce, ctx, dm.CFindRSPMessage, msg_id)
        raise


@sop_classes(MOVE_SOP_CLASSES)
def qr_move_scu(
    asce: Association, ctx: PContextDef, ds: Dataset, dest_ae: str, msg_id: int
) -> Iterator[tuple[statuses.Status, dm.CMoveRSPMessage]]:
    """C-MOVE (PS3.4 C.4.2) to ``dest_ae``: yield ``(status, response)`` per response.

    The responses carry the sub-operation counts (``num_of_completed_sub_ops`` ...); the final
    one (Success, Warning B000H, Cancel or a failure) ends the generator, and its data set,
    if any, lists the Failed SOP Instance UIDs. Closing the generator early sends a
    C-CANCEL-RQ and reads the remaining responses.

    >>> import os, tempfile
    >>> from pynetdicom2.applicationentity import ClientAE
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study, query
    >>> client = ClientAE('MYSCU').add_scu(qr_move_scu)
    >>> q = query('STUDY', StudyInstanceUID='1.2.3.4')
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with LoopbackSCP(os.path.join(tmp, 'pacs'), 'PACS') as pacs:
    ...         with LoopbackSCP(os.path.join(tmp, 'dest'), 'STORESCP') as dest:
    ...             _ = pacs.add(*make_study(instances=2, StudyInstanceUID='1.2.3.4'))
    ...             pacs.destinations['STORESCP'] = dest.remote
    ...             with client.request_association(pacs.remote) as assoc:
    ...                 move = assoc.get_scu(uids.STUDY_ROOT_MOVE_SOP_CLASS)
    ...                 for status, rsp in move(q, 'STORESCP', 2):
    ...                     print(status, rsp.num_of_completed_sub_ops)
    (0xFF00) Pending: Sub-operations are continuing 1
    (0xFF00) Pending: Sub-operations are continuing 2
    (0x0) Success: - 2
    """
    rq = _new_request(dm.CMoveRQMessage, ctx, ds, msg_id)
    rq.move_destination = dest_ae
    asce.send(rq, ctx.id)
    finished = False
    try:
        while not finished:
            rsp = _next_response(asce, ctx, dm.CMoveRSPMessage, msg_id)
            status = _response_status(rsp)
            finished = not status.is_pending
            yield status, rsp
    except GeneratorExit:
        if not finished:
            _cancel(asce, ctx, dm.CMoveRSPMessage, msg_id)
        raise


class _GetOutcome:
    """Where a C-GET's final response lands (shared by the exchange and its GetOperation)."""

    def __init__(self) -> None:
        self.response: dm.CGetRSPMessage | None = None
        self.status: statuses.Status | None = None
        self.identifier: Dataset | None = None

    def finish(self, rsp: dm.CGetRSPMessage | None, ts: UID) -> None:
        self.response = rsp
        if rsp is None:
            return
        self.status = _response_status(rsp)
        if rsp.data_set:
            self.identifier = _decode_identifier(rsp.data_set, ts)


class GetOperation(Iterator[tuple[PContextDef, Any]]):
    """A C-GET in progress (what :func:`qr_get_scu` returns): iterate it for what arrives.

    Each item is ``(store_context, data)`` for one C-STORE sub-operation, already answered
    with the status of ``ae.on_receive_store``: ``data`` is the file the data set was written
    to (classes in ``ae.store_in_file``, e.g. any :class:`ClientStorageAE`; closed once kept),
    else a decoded :class:`~pydicom.dataset.Dataset`. Once the iteration is over, ``status``
    is the final status and ``response`` the final C-GET-RSP with the counts
    (``num_of_completed_sub_ops`` ...); ``identifier`` holds the Failed SOP Instance UID List
    if the SCP sent one. :meth:`close` (or dropping the operation) before the end cancels the
    C-GET (C-CANCEL-RQ); the final response is then still read. Used as a context manager,
    it is closed at the end of the block, whatever happened in it.

    Usage (``enough`` stands for your own test)::

        with assoc.get_scu(uids.STUDY_ROOT_GET_SOP_CLASS)(q, 3) as get:
            for ctx, data in get:
                if enough():
                    break                   # cancels the rest at the end of the block
        get.status, get.response.num_of_completed_sub_ops    # (Status(0xFE00), 2)

    Iterated to the end:

    >>> import os, tempfile
    >>> from pynetdicom2.applicationentity import ClientStorageAE
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study, query
    >>> q = query('STUDY', StudyInstanceUID='1.2.3.4')
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     client = ClientStorageAE(os.path.join(tmp, 'in'), 'GETSCU').add_scu(qr_get_scu)
    ...     _ = client.add_scu(storage_scu, [uids.CT_IMAGE_STORAGE])
    ...     with LoopbackSCP(os.path.join(tmp, 'pacs')) as pacs:
    ...         _ = pacs.add(*make_study(instances=2, StudyInstanceUID='1.2.3.4'))
    ...         with client.request_association(pacs.remote) as assoc:
    ...             with assoc.get_scu(uids.STUDY_ROOT_GET_SOP_CLASS)(q, 3) as get:
    ...                 names = [ctx.sop_class.name for ctx, data in get]
    >>> names, get.status.is_success, get.response.num_of_completed_sub_ops
    (['CT Image Storage', 'CT Image Storage'], True, 2)
    """

    def __init__(self, exchange: Iterator[tuple[PContextDef, Any]], outcome: _GetOutcome):
        self._exchange = exchange
        self._outcome = outcome

    @property
    def status(self) -> statuses.Status | None:
        """The final status (None until the final response arrived)."""
        return self._outcome.status

    @property
    def response(self) -> dm.CGetRSPMessage | None:
        """The final C-GET-RSP (None until it arrived)."""
        return self._outcome.response

    @property
    def identifier(self) -> Dataset | None:
        """The final response's data set (Failed SOP Instance UID List), if any."""
        return self._outcome.identifier

    def __iter__(self) -> GetOperation:
        return self

    def __next__(self) -> tuple[PContextDef, Any]:
        return next(self._exchange)

    def close(self) -> None:
        """Cancel the C-GET if it is still running (reading its final response)."""
        close = getattr(self._exchange, 'close', None)
        if close is not None:
            close()

    def __enter__(self) -> GetOperation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _get_sub_operation(
    asce: Association, msg: dm.CStoreRQMessage, pc_id: int
) -> tuple[PContextDef, Any] | None:
    """Answer a C-STORE sub-operation of our C-GET; return ``(context, data)``, None if refused.

    PS3.4 C.4.3.2: the stores arrive on storage contexts where we took the SCP role.
    """
    ctx = asce.accepted_contexts.get(pc_id)
    if ctx is None or pc_id not in getattr(asce, 'sop_classes_as_scp', {}):
        logger.warning(
            'C-GET: refusing the C-STORE of %s (%s) on context %d, where we did not take the '
            'SCP role', msg.affected_sop_instance_uid, _class_name(msg.sop_class_uid), pc_id,
        )
        asce.discard_received_file(msg.data_set)
        asce.respond_unsupported(pc_id, msg)
        return None
    data = msg.data_set
    received: Any = data
    try:
        if isinstance(data, _RawData) and data:
            try:
                received = _decode_identifier(data, ctx.supported_ts)
                status = _as_status(asce.ae.on_receive_store(ctx, received), dm.CStoreRSPMessage)
            except EventHandlingError as exc:
                logger.warning('on_receive_store refused %s: %s',
                               msg.affected_sop_instance_uid, exc)
                status = _refusal_status(exc, statuses.C_STORE_CANNOT_UNDERSTAND,
                                         dm.CStoreRSPMessage)
        else:
            status = _store(asce, ctx, msg)
    finally:
        asce.discard_received_file(data)
    rsp = _response_for(dm.CStoreRSPMessage, ctx, msg)
    rsp.affected_sop_instance_uid = msg.affected_sop_instance_uid
    rsp.status = int(status)
    asce.send(rsp, ctx.id)
    return (ctx, received) if received is not None else None


def _get_exchange(
    asce: Association, ctx: PContextDef, ds: Dataset, msg_id: int, outcome: _GetOutcome
) -> Iterator[tuple[PContextDef, Any]]:
    asce.send(_new_request(dm.CGetRQMessage, ctx, ds, msg_id), ctx.id)

    def on_store(msg: dm.CStoreRQMessage, pc_id: int) -> None:
        _get_sub_operation(asce, msg, pc_id)

    finished = False
    try:
        while True:
            msg, pc_id = asce.receive()
            if isinstance(msg, dm.CStoreRQMessage):
                received = _get_sub_operation(asce, msg, pc_id)
                if received is not None:
                    yield received
                continue
            rsp = _check_response(asce, ctx, dm.CGetRSPMessage, msg_id, msg, pc_id)
            if not _response_status(rsp).is_pending:
                finished = True
                outcome.finish(rsp, ctx.supported_ts)
                if rsp.num_of_failed_sub_ops:
                    _explain_failed_sub_operations(asce, rsp, outcome.identifier)
                return
    except GeneratorExit:
        if not finished:
            outcome.finish(_cancel(asce, ctx, dm.CGetRSPMessage, msg_id, on_store),
                           ctx.supported_ts)
        raise


def _class_name(uid: str | None) -> str:
    name = UID(uid or '').name
    return f'{name} {uid}' if name and name != uid else str(uid)


def _explain_failed_sub_operations(
    asce: Association, rsp: dm.CGetRSPMessage, identifier: Dataset | None
) -> None:
    """Say which storage classes this association could not receive: the SCP usually fails a
    sub-operation for want of a context with our SCP role (PS3.4 C.4.3.3.1), and the final
    status alone (B000H, A702H) does not say so."""
    receiving = {str(entry[1]) for entry in getattr(asce, 'sop_classes_as_scp', {}).values()}
    proposed = {str(ctx.sop_class) for ctx in getattr(asce, 'context_def_list', {}).values()}
    refused = sorted(uid for uid in proposed - receiving if uid in uids.STORAGE_SOP_CLASSES)
    failed = identifier.get('FailedSOPInstanceUIDList', []) if identifier is not None else []
    if isinstance(failed, str):
        failed = [failed]
    logger.warning(
        'C-GET ended with %d failed sub-operations (status 0x%04X)%s. Storage classes this '
        'association receives: %s; refused by %s (context or SCP role): %s. Instances of any '
        'other class cannot come back: register its storage class on the AE '
        '(update_context_def_list(classes, store_in_file=True) or add_scu(storage_scu, '
        'classes)).',
        rsp.num_of_failed_sub_ops, rsp.status or 0,
        f'; failed instances: {", ".join(map(str, failed))}' if failed else '',
        ', '.join(sorted(map(_class_name, receiving))) or 'none',
        getattr(getattr(asce, 'remote_ae', None), 'aet', 'the peer'),
        ', '.join(map(_class_name, refused)) or 'none',
    )


@sop_classes(GET_SOP_CLASSES)
def qr_get_scu(asce: Association, ctx: PContextDef, ds: Dataset, msg_id: int) -> GetOperation:
    """C-GET (PS3.4 C.4.3): the matching instances come back as C-STORE sub-operations.

    Returns a :class:`GetOperation`; nothing is sent until it is iterated. Each sub-operation
    is answered with the status of ``ae.on_receive_store(store_context, data)`` and then
    yielded as ``(store_context, data)``. Register storage contexts for the classes you
    expect (``add_scu(storage_scu, [...])``): with ``qr_get_scu`` registered, the association
    proposes them with the SCP role (PS3.4 C.4.3.1). A :class:`ClientStorageAE` keeps every
    instance in its directory.

    >>> import os, tempfile
    >>> from pynetdicom2.applicationentity import ClientStorageAE
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study, query
    >>> q = query('STUDY', StudyInstanceUID='1.2.3.4')
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     incoming = os.path.join(tmp, 'incoming')
    ...     client = ClientStorageAE(incoming, 'GETSCU').add_scu(qr_get_scu)
    ...     _ = client.add_scu(storage_scu, [uids.CT_IMAGE_STORAGE])
    ...     with LoopbackSCP(os.path.join(tmp, 'pacs')) as pacs:
    ...         _ = pacs.add(*make_study(instances=2, StudyInstanceUID='1.2.3.4'))
    ...         with client.request_association(pacs.remote) as assoc:
    ...             get = assoc.get_scu(uids.STUDY_ROOT_GET_SOP_CLASS)(q, 1)
    ...             received = [ctx.sop_class for ctx, data in get]
    ...             print(get.status, get.response.num_of_completed_sub_ops)
    ...     len(received), len(os.listdir(incoming))
    (0x0) Success: - 2
    (2, 2)
    """
    outcome = _GetOutcome()
    return GetOperation(_get_exchange(asce, ctx, ds, msg_id, outcome), outcome)


# -- acceptor side --


def _cancel_requested(asce: Association, msg_id: int | None) -> bool:
    """Whether a C-CANCEL-RQ for ``msg_id`` has arrived; never waits (PS3.7 9.3.2.3).

    Other messages that arrived meanwhile are put aside for the association's loop.
    """
    while True:
        item = asce.poll()
        if item is None:
            return False
        msg, pc_id = item
        if isinstance(msg, dm.CCancelRQMessage):
            if msg.message_id_being_responded_to == msg_id:
                logger.info('C-CANCEL-RQ for message %s: cancelling it', msg_id)
                return True
            logger.info(
                'C-CANCEL-RQ for message %s on context %d ignored: message %s is running',
                msg.message_id_being_responded_to, pc_id, msg_id,
            )
            continue
        asce.defer(msg, pc_id)


def _failure(
    asce: Association,
    ctx: PContextDef,
    msg: dm.DIMSERequestMessage,
    response_class: type[dm.DIMSEResponseMessage],
    status: statuses.Status,
    comment: str,
) -> None:
    """A final response without sub-operations (zero counters for C-GET/C-MOVE)."""
    rsp = _response_for(response_class, ctx, msg)
    rsp.status = int(status)
    # PS3.7 C.4.2: Error Comment is LO, at most 64 characters.
    rsp.error_comment = comment[:64] or None
    if isinstance(rsp, dm.SubOpsCountMixin):
        rsp.num_of_completed_sub_ops = 0
        rsp.num_of_failed_sub_ops = 0
        rsp.num_of_warning_sub_ops = 0
    asce.send(rsp, ctx.id)


def _request_identifier(
    asce: Association,
    ctx: PContextDef,
    msg: dm.DIMSERequestMessage,
    response_class: type[dm.DIMSEResponseMessage],
    unable: statuses.Status,
) -> Dataset | None:
    """The request's identifier, or None after answering ``unable`` (PS3.4 C.4.1.1.3)."""
    if not msg.data_set:
        _failure(asce, ctx, msg, response_class, unable, 'the request has no identifier')
        return None
    try:
        return _decode_identifier(msg.data_set, ctx.supported_ts)
    except Exception as exc:  # pydicom raises many kinds on garbage
        logger.warning('cannot decode the identifier of %s: %s', type(msg).__name__, exc)
        _failure(asce, ctx, msg, response_class, unable, 'cannot decode the identifier')
        return None


def _close_iterator(iterator: Any) -> None:
    close = getattr(iterator, 'close', None)
    if close is not None:
        try:
            close()
        except Exception:
            logger.exception('closing the handler\'s iterator failed')


def answer_find(
    asce: Association,
    ctx: PContextDef,
    msg: dm.CFindRQMessage,
    handler: Callable[[PContextDef, Dataset], Iterable[tuple[Dataset | None, Any]]],
) -> None:
    """Answer a C-FIND-RQ with what ``handler(ctx, identifier)`` yields (PS3.4 C.4.1.2).

    The shared engine of :func:`qr_find_scp` (and of other C-FIND based services, such as
    Modality Worklist): one response per ``(identifier, status)``; a non-pending status is
    the final one, and when the handler ends on a pending status (or yields nothing) a final
    Success follows. A C-CANCEL-RQ arriving meanwhile closes the handler's iterator and is
    answered FE00H. An :class:`EventHandlingError` from the handler answers C000H.
    """
    identifier = _request_identifier(
        asce, ctx, msg, dm.CFindRSPMessage, statuses.C_FIND_UNABLE_TO_PROCESS
    )
    if identifier is None:
        return
    ts = ctx.supported_ts
    msg_id = msg.message_id
    results: Any = None
    try:
        results = iter(handler(ctx, identifier))
        while True:
            try:
                match, status = next(results)
            except StopIteration:
                status, match = statuses.SUCCESS, None
            status = _as_status(status, dm.CFindRSPMessage)
            rsp = _response_for(dm.CFindRSPMessage, ctx, msg)
            rsp.status = int(status)
            if match is not None:
                rsp.data_set = _encode_identifier(match, ts)
            asce.send(rsp, ctx.id)
            if not status.is_pending:
                return
            if _cancel_requested(asce, msg_id):
                _close_iterator(results)
                rsp = _response_for(dm.CFindRSPMessage, ctx, msg)
                rsp.status = int(statuses.C_FIND_CANCEL)
                asce.send(rsp, ctx.id)
                return
    except EventHandlingError as exc:
        logger.warning('the C-FIND handler failed: %s', exc)
        status = _refusal_status(exc, statuses.C_FIND_UNABLE_TO_PROCESS, dm.CFindRSPMessage)
        _failure(asce, ctx, msg, dm.CFindRSPMessage, status, str(exc))
    finally:
        _close_iterator(results)


@sop_classes(FIND_SOP_CLASSES)
def qr_find_scp(asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
    """Answer a C-FIND-RQ with the matches ``ae.on_receive_find(ctx, identifier)`` yields.

    The hook yields ``(match, status)`` pairs, normally ``(identifier, C_FIND_PENDING)``;
    the final Success is added when it ends (see :func:`answer_find`).

    Usage (``self.db`` stands for your own database)::

        class MyQR(AE):
            def on_receive_find(self, context, ds):
                for match in self.db.search(ds):
                    yield match, statuses.C_FIND_PENDING
    """
    if not isinstance(msg, dm.CFindRQMessage):
        asce.respond_unsupported(ctx.id, msg)
        return
    answer_find(asce, ctx, msg, asce.ae.on_receive_find)


class _Instance(NamedTuple):
    """One instance to send as a sub-operation: what it is and where it comes from."""

    sop_class: UID
    sop_instance: UID
    transfer_syntax: UID | None
    source: Any


def _describe(item: Any) -> _Instance:
    """SOP class, instance and transfer syntax of a Dataset or a Part-10 file path."""
    if isinstance(item, Dataset):
        meta = getattr(item, 'file_meta', None)
        syntax = meta.get('TransferSyntaxUID') if meta is not None else None
        return _Instance(
            UID(item.get('SOPClassUID', '')), UID(item.get('SOPInstanceUID', '')),
            UID(syntax) if syntax else None, item,
        )
    if not isinstance(item, (str, os.PathLike)):
        raise NetDICOMError(f'expected a Dataset or a Part-10 file path, got {type(item)!r}')
    with open(item, 'rb') as fp:
        meta = read_meta(fp)
        sop_class, instance = meta.sop_class_uid, meta.sop_instance_uid
        if not sop_class or not instance:
            from pydicom import dcmread

            fp.seek(0)
            ds = dcmread(fp, stop_before_pixels=True, specific_tags=['SOPClassUID',
                                                                     'SOPInstanceUID'])
            sop_class = sop_class or ds.get('SOPClassUID', '')
            instance = instance or ds.get('SOPInstanceUID', '')
    return _Instance(UID(sop_class or ''), UID(instance or ''), meta.transfer_syntax, item)


#: PS3.5 7.3: values of these VRs are words of the given size, in the data set's byte order;
#: pydicom keeps them as bytes, so a change of byte order must swap them here.
_WORD_SIZES = {'OW': 2, 'OF': 4, 'OL': 4, 'OD': 8, 'OV': 8}
_ARRAY_CODES = {2: 'H', 4: 'I', 8: 'Q'}


def _swap_words(ds: Dataset) -> None:
    """Swap the bytes of every OW/OF/OL/OD/OV value of ``ds`` (and its items) in place."""
    import array

    for element in ds:
        if element.VR == 'SQ':
            for item in element.value or ():
                _swap_words(item)
            continue
        size = _WORD_SIZES.get(element.VR)
        value = element.value
        if size is None or not value or len(value) % size:
            continue
        words = array.array(_ARRAY_CODES[size])
        if words.itemsize != size:  # pragma: no cover - exotic platforms
            raise NetDICOMError(f'cannot swap {element.VR} words on this platform')
        words.frombytes(bytes(value))
        words.byteswap()
        element.value = words.tobytes()


def _source_for(instance: _Instance, ts: UID) -> Any:
    """What storage_scu sends over a context of ``ts``: the file as it is when it fits, else
    its data set re-encoded (uncompressed syntaxes only: pixel data is never transcoded).

    Re-encoding between byte orders swaps the bytes of the word-valued elements (PS3.5 7.3),
    which pydicom writes as they were read.
    """
    syntax = instance.transfer_syntax
    source = instance.source
    if syntax is None or syntax == ts:
        return source
    if syntax.is_compressed or ts.is_compressed:
        if isinstance(source, Dataset):
            return source  # storage_scu refuses it with the reason
        raise NetDICOMError(
            f'{os.fspath(source)} is in {syntax.name}, the context accepted {ts.name}:'
            ' compressed pixel data is not transcoded'
        )
    swap = syntax.is_little_endian != ts.is_little_endian
    if isinstance(source, Dataset):
        if not swap:
            return source
        ds = copy.deepcopy(source)
    else:
        from pydicom import dcmread

        ds = dcmread(source)
    if swap:
        _swap_words(ds)
        # The data set is now in the context's byte order; say so.
        ds.file_meta.TransferSyntaxUID = ts
    return ds


class _SubOperations:
    """The sub-operations of one C-GET or C-MOVE, counted (PS3.4 C.4.2.3.1, C.4.3.3.1)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.performed = 0
        self.completed = 0
        self.failed = 0
        self.warning = 0
        self.failed_uids: list[str] = []

    @property
    def remaining(self) -> int:
        return max(self.total - self.performed, 0)

    def record(self, status: statuses.Status | None, instance: str | None) -> None:
        self.performed += 1
        if status is not None and status.is_success:
            self.completed += 1
        elif status is not None and status.is_warning:
            self.warning += 1
        else:
            self.failed += 1
            if instance:
                self.failed_uids.append(str(instance))

    def fail_remaining(self) -> None:
        self.failed += self.remaining
        self.performed = max(self.total, self.performed)

    def respond(
        self,
        asce: Association,
        ctx: PContextDef,
        msg: dm.DIMSERequestMessage,
        response_class: type[dm.CGetRSPMessage] | type[dm.CMoveRSPMessage],
        status: statuses.Status,
        comment: str = '',
    ) -> None:
        """Send a response with the counts: remaining only while pending or on cancel, and
        the Failed SOP Instance UID List with a final Warning, Failure or Cancel
        (PS3.4 C.4.2.1.5, C.4.2.3.1)."""
        rsp = _response_for(response_class, ctx, msg)
        rsp.status = int(status)
        if status.is_pending or status.is_cancel:
            rsp.num_of_remaining_sub_ops = self.remaining
        rsp.num_of_completed_sub_ops = self.completed
        rsp.num_of_failed_sub_ops = self.failed
        rsp.num_of_warning_sub_ops = self.warning
        if comment:
            rsp.error_comment = comment[:64]
        if self.failed_uids and not (status.is_pending or status.is_success):
            listed: list[str] = []
            size = -1
            for uid in self.failed_uids:
                size += len(uid) + 1
                if size > _MAX_UID_LIST_BYTES:
                    break
                listed.append(uid)
            identifier = Dataset()
            identifier.FailedSOPInstanceUIDList = listed
            rsp.data_set = _encode_identifier(identifier, ctx.supported_ts)
        asce.send(rsp, ctx.id)

    def final_status(
        self, response_class: type[dm.CGetRSPMessage] | type[dm.CMoveRSPMessage]
    ) -> statuses.Status:
        """Success, or Warning B000H when any sub-operation failed or warned (PS3.4 C.4.2.1.5)."""
        if self.failed or self.warning:
            return statuses.Status(0xB000, response_class)
        return statuses.SUCCESS


class _DestinationLost(NetDICOMError):
    """The sub-operations cannot go on: no association with the destination (any more)."""


def _perform_sub_operations(
    asce: Association,
    ctx: PContextDef,
    msg: dm.DIMSERequestMessage,
    response_class: type[dm.CGetRSPMessage] | type[dm.CMoveRSPMessage],
    count: Any,
    items: Iterable[Any],
    store: Callable[[_Instance, int], statuses.Status | None],
    cancelled: Callable[[], bool],
) -> None:
    """The C-GET/C-MOVE engine: validate ``count``, store each item, respond as we go.

    A pending response follows every sub-operation; a C-CANCEL-RQ stops the handler's
    iterator and is answered FE00H with the counts so far; a handler error answers C000H;
    losing the destination answers A702H. More than :data:`MAX_SUB_OPERATIONS` matches are
    refused with A701H (announced) or A702H (found on the way): the counters are 16-bit.
    """
    try:
        total = int(count)
    except (TypeError, ValueError):
        total = -1
    if total < 0:
        _close_iterator(items)
        _failure(asce, ctx, msg, response_class, statuses.Status(0xC000, response_class),
                 f'the handler gave {count!r} as the number of matches')
        return
    if total > MAX_SUB_OPERATIONS:
        _close_iterator(items)
        _failure(asce, ctx, msg, response_class, statuses.Status(0xA701, response_class),
                 f'{total} matches; at most {MAX_SUB_OPERATIONS} per request')
        return
    ops = _SubOperations(total)
    iterator: Any = None
    try:
        if total == 0:
            ops.respond(asce, ctx, msg, response_class, statuses.SUCCESS)
            return
        iterator = iter(items)
        for item in iterator:
            if ops.performed >= MAX_SUB_OPERATIONS:
                _close_iterator(iterator)
                ops.respond(asce, ctx, msg, response_class,
                            statuses.Status(0xA702, response_class),
                            f'more than {MAX_SUB_OPERATIONS} matches')
                return
            instance_uid = None
            try:
                instance = _describe(item)
                instance_uid = instance.sop_instance
                status = store(instance, ops.performed + 1)  # message IDs from 1
            except _DestinationLost:
                raise
            except (OSError, NetDICOMError) as exc:
                logger.warning('sub-operation %d (%s) failed: %s',
                               ops.performed + 1, instance_uid or item, exc)
                status = None
            ops.record(status, instance_uid)
            if cancelled():
                _close_iterator(iterator)  # before the answer: the handler has stopped
                ops.respond(asce, ctx, msg, response_class, statuses.Status(0xFE00, response_class))
                return
            ops.respond(asce, ctx, msg, response_class, statuses.Status(0xFF00, response_class))
        ops.respond(asce, ctx, msg, response_class, ops.final_status(response_class))
    except _DestinationLost as exc:
        logger.warning('sub-operations stopped: %s', exc)
        _close_iterator(iterator)
        ops.record(None, None)
        ops.fail_remaining()
        ops.respond(asce, ctx, msg, response_class, statuses.Status(0xA702, response_class),
                    str(exc))
    except EventHandlingError as exc:
        logger.warning('the retrieve handler failed: %s', exc)
        status = _refusal_status(exc, statuses.Status(0xC000, response_class), response_class)
        ops.respond(asce, ctx, msg, response_class, status, str(exc))
    finally:
        _close_iterator(iterator)


class _ProposalView:
    """The AE as seen by a C-MOVE sub-association: it proposes only the given contexts.

    Everything else (hooks, timeouts, files, TLS settings) is the AE's own.
    """

    def __init__(
        self, ae: Any, contexts: dict[int, Any], services: dict[UID, Any]
    ) -> None:
        self._ae = ae
        self._contexts = contexts
        self.supported_scu = services
        self.supported_scp: dict[UID, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ae, name)

    def copy_context_def_list(self) -> dict[int, Any]:
        return dict(self._contexts)


class _MoveDestination:
    """The sub-association(s) of one C-MOVE, to the AE ``on_receive_move`` named.

    The association proposes the storage classes the AE registered an SCU for (PS3.4
    C.4.2.3.1: the C-MOVE SCP is a storage SCU). With more than 128 of them, it proposes the
    class at hand and those seen so far first, and is renewed when an instance of a class it
    did not propose comes along. It is opened at the first sub-operation and released at the
    end.

    Compressed pixel data is never transcoded, so an instance in a compressed transfer
    syntax can only go over a context of that syntax: its class is proposed with that one
    syntax alone (the acceptor picks one syntax per context, PS3.8 9.3.3.2), the association
    renewed when the syntax an instance needs changes.
    """

    def __init__(self, asce: Association, remote_ae: Any, msg: dm.CMoveRQMessage) -> None:
        from pynetdicom2.asceprovider import PContextDefList

        self._context_class = PContextDefList
        self._ae = asce.ae
        self._remote_ae = remote_ae
        self._originator = (str(getattr(asce, 'remote_ae', '')) or None, msg.message_id)
        ae = self._ae
        registry = ae.copy_context_def_list()  # takes the lock itself
        with ae.lock:
            self._services = {
                UID(uid): service for uid, service in ae.supported_scu.items()
                if uid in _STORAGE_CLASSES or service is storage_scu
            }
        self._syntaxes = {
            ctx.sop_class: tuple(ctx.supported_ts) for ctx in registry.values()
            if ctx.sop_class in self._services
        }
        self._seen: list[UID] = []
        self._proposed: set[UID] = set()
        # SOP class -> the one compressed syntax its context proposes (absent: the usual ones)
        self._compressed: dict[UID, UID] = {}
        self._assoc: Any = None

    def _open(self, needed: UID) -> None:
        self.close()
        order = [needed, *self._seen, *self._services]
        classes = list(dict.fromkeys(order))[:_MAX_CONTEXTS]
        default_ts = tuple(UID(ts) for ts in self._ae.supported_ts)
        contexts = {
            2 * index + 1: self._context_class(
                2 * index + 1, uid,
                (self._compressed[uid],) if uid in self._compressed
                else self._syntaxes.get(uid, default_ts),
            )
            for index, uid in enumerate(classes)
        }
        services = {uid: self._services.get(uid, storage_scu) for uid in classes}
        view = _ProposalView(self._ae, contexts, services)
        try:
            # The AE's own factory (a TLS AE makes TLS associations), seeing only the view.
            assoc = type(self._ae)._create_association(view, self._remote_ae)
            assoc.request()
        except NetDICOMError as exc:
            raise _DestinationLost(f'no association with the move destination: {exc}') from exc
        self._assoc = assoc
        self._proposed = set(classes)

    def store(self, instance: _Instance, msg_id: int) -> statuses.Status | None:
        sop_class = instance.sop_class
        if sop_class not in self._seen:
            self._seen.append(sop_class)
        syntax = instance.transfer_syntax
        compressed = syntax if syntax is not None and syntax.is_compressed else None
        if (self._assoc is None or sop_class not in self._proposed
                or self._compressed.get(sop_class) != compressed):
            if compressed is None:
                self._compressed.pop(sop_class, None)
            else:
                self._compressed[sop_class] = compressed
            self._open(sop_class)
        assoc = self._assoc
        accepted = assoc.sop_classes_as_scu.get(sop_class)
        if accepted is None:
            logger.warning('the move destination did not accept SOP class %s', sop_class)
            return None
        source = _source_for(instance, accepted[1])
        originator, originator_id = self._originator
        try:
            return _as_status(
                assoc.get_scu(sop_class)(
                    source, msg_id, move_originator_aet=originator,
                    move_originator_message_id=originator_id,
                ),
                dm.CStoreRSPMessage,
            )
        except (AssociationError, DCMTimeoutError, DIMSEProcessingError) as exc:
            self._assoc = None
            if assoc.association_established:
                assoc.abort()
            raise _DestinationLost(
                f'the association with the move destination failed: {exc}'
            ) from exc

    def close(self) -> None:
        assoc, self._assoc = self._assoc, None
        if assoc is None:
            return
        try:
            if assoc.association_established:
                assoc.release()
            else:
                assoc.kill()
        except NetDICOMError as exc:
            logger.info('releasing the sub-association failed: %s', exc)


_STORAGE_CLASSES = frozenset(uids.STORAGE_SOP_CLASSES)


@sop_classes(MOVE_SOP_CLASSES)
def qr_move_scp(asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
    """Answer a C-MOVE-RQ: store the matches on the destination, counting (PS3.4 C.4.2.3).

    ``ae.on_receive_move(ctx, identifier, destination)`` returns ``(remote_ae, count,
    iterator)``: where the destination is (a RemoteAEConfig or dict; None answers A801H,
    move destination unknown), the number of matches and an iterator of Datasets or Part-10
    file paths. Each is sent with the storage SCU the AE registered for its class
    (``add_scu(storage_scu, [...])``) on one association with the destination, with the Move
    Originator AE title and Message ID; a pending response follows each sub-operation, and
    the final status is Success, or Warning B000H when any failed or warned. A C-CANCEL-RQ
    stops it with FE00H.

    Usage (``self.db`` and ``self.peers`` stand for your own look-ups)::

        class MyQR(AE):
            def on_receive_move(self, context, ds, destination):
                paths = self.db.paths(ds)
                return self.peers[destination], len(paths), iter(paths)
    """
    if not isinstance(msg, dm.CMoveRQMessage):
        asce.respond_unsupported(ctx.id, msg)
        return
    rsp_class = dm.CMoveRSPMessage
    identifier = _request_identifier(asce, ctx, msg, rsp_class, statuses.C_MOVE_UNABLE_TO_PROCESS)
    if identifier is None:
        return
    try:
        remote_ae, count, items = asce.ae.on_receive_move(ctx, identifier, msg.move_destination)
    except EventHandlingError as exc:
        logger.warning('on_receive_move failed: %s', exc)
        status = _refusal_status(exc, statuses.C_MOVE_UNABLE_TO_PROCESS, rsp_class)
        _failure(asce, ctx, msg, rsp_class, status, str(exc))
        return
    if remote_ae is None:
        _close_iterator(items)
        _failure(asce, ctx, msg, rsp_class, statuses.C_MOVE_DESTINATION_UNKNOWN,
                 f'unknown move destination {msg.move_destination}')
        return
    destination = _MoveDestination(asce, remote_ae, msg)
    msg_id = msg.message_id
    try:
        _perform_sub_operations(
            asce, ctx, msg, rsp_class, count, items, destination.store,
            lambda: _cancel_requested(asce, msg_id),
        )
    finally:
        destination.close()


class _CancelWatch:
    """The association as storage_scu sees it during a C-GET: C-CANCEL-RQs of the C-GET that
    arrive before a C-STORE-RSP are noted, requests are put aside (PS3.7 9.3.3.3)."""

    def __init__(self, asce: Association, msg_id: int | None) -> None:
        self._asce = asce
        self._msg_id = msg_id
        self.cancelled = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._asce, name)

    def receive(self, timeout: float | None = None) -> tuple[dm.DIMSEMessage, int]:
        while True:
            msg, pc_id = self._asce.receive(timeout, deferred=False)
            if isinstance(msg, dm.CCancelRQMessage):
                if msg.message_id_being_responded_to == self._msg_id:
                    self.cancelled = True
                continue
            if isinstance(msg, dm.DIMSERequestMessage):
                self._asce.defer(msg, pc_id)
                continue
            return msg, pc_id

    def cancel_requested(self) -> bool:
        if not self.cancelled:
            self.cancelled = _cancel_requested(self._asce, self._msg_id)
        return self.cancelled


@sop_classes(GET_SOP_CLASSES)
def qr_get_scp(asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
    """Answer a C-GET-RQ: send the matches back as C-STORE sub-operations (PS3.4 C.4.3.3).

    ``ae.on_receive_get(ctx, identifier)`` returns ``(count, iterator)``: the number of
    matches and an iterator of Datasets or Part-10 file paths. Each goes out on this
    association, over the storage context the requester proposed for its class with the SCP
    role; the AE grants that role for the classes it registered ``storage_scu`` for. A class
    without such a context, or a file whose compressed transfer syntax the context did not
    accept, is a failed sub-operation. Responses as for C-MOVE: pending after each, final
    Success or Warning B000H, FE00H on C-CANCEL, A701H/A702H beyond 65,535 matches.

    Usage (``self.db`` stands for your own database)::

        class MyQR(AE):
            def on_receive_get(self, context, ds):
                paths = self.db.paths(ds)
                return len(paths), iter(paths)

        srv = MyQR('QRSCP', 11112).add_scp(sc.qr_get_scp)
        srv.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE, uids.MR_IMAGE_STORAGE])
    """
    if not isinstance(msg, dm.CGetRQMessage):
        asce.respond_unsupported(ctx.id, msg)
        return
    rsp_class = dm.CGetRSPMessage
    identifier = _request_identifier(asce, ctx, msg, rsp_class, statuses.C_GET_UNABLE_TO_PROCESS)
    if identifier is None:
        return
    try:
        count, items = asce.ae.on_receive_get(ctx, identifier)
    except EventHandlingError as exc:
        logger.warning('on_receive_get failed: %s', exc)
        status = _refusal_status(exc, statuses.C_GET_UNABLE_TO_PROCESS, rsp_class)
        _failure(asce, ctx, msg, rsp_class, status, str(exc))
        return
    watch = _CancelWatch(asce, msg.message_id)
    roles: dict[UID, tuple[int, UID]] = getattr(asce, 'sop_classes_as_scu', {})

    def store(instance: _Instance, msg_id: int) -> statuses.Status | None:
        accepted = roles.get(instance.sop_class)
        if accepted is None:
            logger.warning(
                'no storage context with the SCP role for %s: the C-GET SCU did not propose '
                'one (or this AE has no storage_scu for it)', _class_name(instance.sop_class),
            )
            return None
        pc_id, ts = accepted
        wanted = instance.transfer_syntax
        if wanted is not None and wanted != ts:
            # Roles are per SOP class (PS3.7 D.3.3.4): any context of the class will do, and
            # one in the instance's own transfer syntax spares a re-encoding.
            for candidate in asce.accepted_contexts.values():
                if candidate.sop_class == instance.sop_class and candidate.supported_ts == wanted:
                    pc_id, ts = candidate.id, wanted
                    break
        source = _source_for(instance, ts)
        store_ctx = PContextDef(pc_id, instance.sop_class, ts)
        return storage_scu(watch, store_ctx, source, msg_id)  # type: ignore[arg-type]

    _perform_sub_operations(
        asce, ctx, msg, rsp_class, count, items, store, watch.cancel_requested
    )


# --- Modality Worklist (PS3.4 Annex K) ----------------------------------------------------------
#
# The Modality Worklist Information Model - FIND SOP class is a C-FIND service (PS3.4 K.4.1):
# the SCU and SCP are those of Query/Retrieve, registered for its SOP class.


@sop_classes([uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS])
def modality_work_list_scu(
    asce: Association, ctx: PContextDef, ds: Dataset, msg_id: int
) -> Iterator[tuple[Dataset | None, statuses.Status]]:
    """Query a worklist (C-FIND, PS3.4 K.4.1): yield ``(identifier, status)`` per response.

    Works as :func:`qr_find_scu` does, cancelling when closed early. The identifier is a
    worklist query (PS3.4 K.6.1.2): no Query/Retrieve Level; matching keys in the Scheduled
    Procedure Step Sequence.

    Usage (against a worklist SCP such as the one of :func:`modality_work_list_scp`)::

        client.add_scu(sc.modality_work_list_scu)
        q = Dataset(); q.PatientName = ''; q.ScheduledProcedureStepSequence = [Dataset()]
        q.ScheduledProcedureStepSequence[0].Modality = 'CT'
        q.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate = '20240131'
        with client.request_association(ris) as assoc:
            mwl = assoc.get_scu(uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS)
            for item, status in mwl(q, 1):
                if status.is_pending:
                    print(item.PatientName)
    """
    return qr_find_scu(asce, ctx, ds, msg_id)


@sop_classes([uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS])
def modality_work_list_scp(asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
    """Answer a worklist C-FIND with what ``ae.on_receive_find(ctx, identifier)`` yields.

    The same hook as Query/Retrieve: ``ctx.sop_class`` tells a worklist query apart. See
    :func:`qr_find_scp`.

    Usage (``self.scheduled`` stands for your own look-up)::

        class RIS(AE):
            def on_receive_find(self, context, ds):
                if context.sop_class == uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS:
                    for item in self.scheduled(ds):
                        yield item, statuses.C_FIND_PENDING

        RIS('RIS', 11112).add_scp(sc.modality_work_list_scp)
    """
    qr_find_scp(asce, ctx, msg)
