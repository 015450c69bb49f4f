"""Query/Retrieve (PS3.4 Annex C): C-FIND both sides, and what C-FIND, C-MOVE and C-GET share.

Requester side: :func:`qr_find_scu` (and ``qr_move_scu``) are generators of responses,
``qr_get_scu`` returns a ``GetOperation`` (an iterator of the instances received). Leaving
any of them before the final response sends a C-CANCEL-RQ and reads the remaining responses
(:func:`cancel_request`, PS3.7 9.3.2.3).

Acceptor side: :func:`qr_find_scp`, ``qr_move_scp`` and ``qr_get_scp`` answer through the AE
hooks ``on_receive_find``, ``on_receive_move`` and ``on_receive_get``, and between two
responses look for a C-CANCEL-RQ of the running request
(:meth:`~pynetdicom2.asceprovider.Association.cancel_requested`, PS3.7 9.3.2.3, 9.3.3.3,
9.3.4.3). C-MOVE and C-GET are in :mod:`pynetdicom2.services.retrieve`.

The services are registered for the three Q/R information models (PS3.4 C.6) by default, and
serve every other C-FIND class of the query families as well
(:data:`pynetdicom2.uids.ALL_FIND_SOP_CLASSES`): relevant patient information (PS3.4 Q),
substance administration (PS3.4 V), and the models of non-patient objects (hanging protocols,
color palettes, implant templates, procedure protocols, protocol approvals, inventories). The
hook tells them apart by ``context.sop_class``. An SCU is given the classes when it is
registered; an SCP is a service carrying them::

    client.add_scu(sc.qr_find_scu, uids.RELEVANT_PATIENT_INFORMATION_QUERY_SOP_CLASSES)

    @sc.sop_classes([uids.HANGING_PROTOCOL_FIND_SOP_CLASS])
    def hanging_protocol_find_scp(asce, ctx, msg):
        sc.qr_find_scp(asce, ctx, msg)

    srv.add_scp(hanging_protocol_find_scp)   # on_receive_find answers both kinds of query
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from pydicom.dataset import Dataset

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import EventHandlingError, NetDICOMError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.identifiers import decode_identifier, encode_identifier
from pynetdicom2.services.base import (
    PeerRequestHandler,
    answer_unreceived,
    as_status,
    logger,
    receive_response,
    refusal_status,
    response_for,
    response_status,
    sop_classes,
)

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

_Response = TypeVar('_Response', bound=dm.DIMSEResponseMessage)
_Request = TypeVar('_Request', dm.CFindRQMessage, dm.CMoveRQMessage, dm.CGetRQMessage)

#: PS3.4 C.6.1.1, C.6.2.1, C.6.3.1: C-FIND of the Patient Root, Study Root and Patient/Study
#: Only information models: what :func:`qr_find_scu` and :func:`qr_find_scp` are registered
#: for by default (the original's list; the other families: :data:`uids.ALL_FIND_SOP_CLASSES`).
FIND_SOP_CLASSES = [
    uids.PATIENT_ROOT_FIND_SOP_CLASS,
    uids.STUDY_ROOT_FIND_SOP_CLASS,
    uids.PATIENT_STUDY_ONLY_FIND_SOP_CLASS,
]

#: C-MOVE of the three information models (all: :data:`uids.ALL_MOVE_SOP_CLASSES`).
MOVE_SOP_CLASSES = [
    uids.PATIENT_ROOT_MOVE_SOP_CLASS,
    uids.STUDY_ROOT_MOVE_SOP_CLASS,
    uids.PATIENT_STUDY_ONLY_MOVE_SOP_CLASS,
]

#: C-GET of the three information models (all: :data:`uids.ALL_GET_SOP_CLASSES`).
GET_SOP_CLASSES = [
    uids.PATIENT_ROOT_GET_SOP_CLASS,
    uids.STUDY_ROOT_GET_SOP_CLASS,
    uids.PATIENT_STUDY_ONLY_GET_SOP_CLASS,
]


# --- requester side -----------------------------------------------------------------------------


def new_request(
    request_class: type[_Request], ctx: PContextDef, ds: Dataset, msg_id: int
) -> _Request:
    """A C-FIND, C-MOVE or C-GET request on ``ctx`` with identifier ``ds``, encoded in the
    context's transfer syntax (PS3.4 C.4.1.1.3), at medium priority."""
    rq = request_class()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    rq.priority = dm.PRIORITY_MEDIUM
    rq.data_set = encode_identifier(ds, ctx.supported_ts)
    return rq


def cancel_request(
    asce: Association,
    ctx: PContextDef,
    response_class: type[_Response],
    msg_id: int,
    on_request: PeerRequestHandler | None = None,
) -> _Response | None:
    """Cancel request ``msg_id`` and read its responses up to the final one, which is returned.

    ``on_request`` serves what the SCP still sends before them (the C-STORE sub-operations
    of a C-GET), as for :func:`~pynetdicom2.services.base.receive_response`.

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
            rsp = receive_response(asce, ctx, response_class, msg_id, on_request)
            if not response_status(rsp).is_pending:
                return rsp
    except NetDICOMError as exc:
        logger.warning('cancelling message %d failed (%s): aborting the association', msg_id, exc)
        if asce.association_established:
            asce.abort()
        return None


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
    asce.invoke(new_request(dm.CFindRQMessage, ctx, ds, msg_id), ctx.id)
    finished = False
    try:
        while not finished:
            rsp = receive_response(asce, ctx, dm.CFindRSPMessage, msg_id)
            status = response_status(rsp)
            finished = not status.is_pending
            data = rsp.data_set
            if rsp.storage_error is not None:
                logger.warning('an identifier of a C-FIND-RSP was not received (%s): it is '
                               'yielded as None', rsp.storage_error)
            yield (decode_identifier(data, ctx.supported_ts) if data else None), status
    except GeneratorExit:
        if not finished:
            cancel_request(asce, ctx, dm.CFindRSPMessage, msg_id)
        raise


# --- acceptor side ------------------------------------------------------------------------------


def respond_failure(
    asce: Association,
    ctx: PContextDef,
    msg: dm.DIMSERequestMessage,
    response_class: type[dm.DIMSEResponseMessage],
    status: statuses.Status,
    comment: str,
) -> None:
    """A final response without sub-operations (zero counters for C-GET/C-MOVE)."""
    rsp = response_for(response_class, ctx, msg)
    rsp.status = int(status)
    # PS3.7 C.4.2: Error Comment is LO, at most 64 characters.
    rsp.error_comment = comment[:64] or None
    if isinstance(rsp, dm.SubOpsCountMixin):
        rsp.num_of_completed_sub_ops = 0
        rsp.num_of_failed_sub_ops = 0
        rsp.num_of_warning_sub_ops = 0
    asce.send(rsp, ctx.id)


def request_identifier(
    asce: Association,
    ctx: PContextDef,
    msg: dm.DIMSERequestMessage,
    response_class: type[dm.DIMSEResponseMessage],
    unable: statuses.Status,
) -> Dataset | None:
    """The request's identifier, or None after answering ``unable`` (PS3.4 C.4.1.1.3), or
    out of resources when it was too large to be received (``answer_unreceived``)."""
    if answer_unreceived(asce, ctx, msg):
        return None
    if not msg.data_set:
        respond_failure(asce, ctx, msg, response_class, unable, 'the request has no identifier')
        return None
    try:
        return decode_identifier(msg.data_set, ctx.supported_ts)
    except Exception as exc:  # pydicom raises many kinds on garbage
        logger.warning('cannot decode the identifier of %s: %s', type(msg).__name__, exc)
        respond_failure(asce, ctx, msg, response_class, unable, 'cannot decode the identifier')
        return None


def close_iterator(iterator: Any) -> None:
    """Close a hook's iterator (a generator's ``finally`` runs) if it can be closed; an
    error in doing so is logged, not raised: the response still has to go out."""
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
    identifier = request_identifier(
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
            status = as_status(status, dm.CFindRSPMessage)
            rsp = response_for(dm.CFindRSPMessage, ctx, msg)
            rsp.status = int(status)
            if match is not None:
                rsp.data_set = encode_identifier(match, ts)
            asce.send(rsp, ctx.id)
            if not status.is_pending:
                return
            if asce.cancel_requested(msg_id):
                close_iterator(results)
                rsp = response_for(dm.CFindRSPMessage, ctx, msg)
                rsp.status = int(statuses.C_FIND_CANCEL)
                asce.send(rsp, ctx.id)
                return
    except EventHandlingError as exc:
        logger.warning('the C-FIND handler failed: %s', exc)
        status = refusal_status(exc, statuses.C_FIND_UNABLE_TO_PROCESS, dm.CFindRSPMessage)
        respond_failure(asce, ctx, msg, dm.CFindRSPMessage, status, str(exc))
    finally:
        close_iterator(results)


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
