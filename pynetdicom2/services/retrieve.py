"""Query/Retrieve (PS3.4 Annex C): C-MOVE and C-GET, both sides.

Requester side: :func:`qr_move_scu` yields the C-MOVE responses; :func:`qr_get_scu` returns
a :class:`GetOperation`, which answers the C-STORE sub-operations that come back on the same
association (PS3.4 C.4.3.2) and yields what they brought. Closing either early cancels it
(:func:`~pynetdicom2.services.query.cancel_request`).

Acceptor side: :func:`qr_move_scp` and :func:`qr_get_scp` ask their AE hook for the matches
and hand them to :func:`~pynetdicom2.services.suboperations.perform_sub_operations`, the
C-MOVE SCP storing them on the destination (:mod:`pynetdicom2.services.moveassociation`),
the C-GET SCP on the requester's own association.

Both sides serve any retrieve class, not only the three information models they are
registered for by default (:data:`~pynetdicom2.services.query.MOVE_SOP_CLASSES`,
:data:`~pynetdicom2.services.query.GET_SOP_CLASSES`): Composite Instance Root Retrieve
(PS3.4 Y), Composite Instance Retrieve Without Bulk Data (PS3.4 Z, C-GET only) and the models
of non-patient objects, hanging protocols (PS3.4 U), color palettes (X), implant templates
(BB), defined procedure protocols (HH), protocol approvals (II) and inventories
(:data:`pynetdicom2.uids.ALL_MOVE_SOP_CLASSES`, :data:`pynetdicom2.uids.ALL_GET_SOP_CLASSES`).
The hooks tell them apart by ``context.sop_class``. A requester registering any C-GET class
offers the SCP role for its storage classes (:func:`pynetdicom2.negotiation.select_proposal`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import EventHandlingError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.identifiers import decode_identifier
from pynetdicom2.services.base import (
    as_status,
    check_response,
    logger,
    receive_response,
    refusal_status,
    response_for,
    response_status,
    sop_classes,
)
from pynetdicom2.services.moveassociation import MoveDestination
from pynetdicom2.services.query import (
    GET_SOP_CLASSES,
    MOVE_SOP_CLASSES,
    cancel_request,
    close_iterator,
    new_request,
    request_identifier,
    respond_failure,
)
from pynetdicom2.services.storage import storage_scu, store_received
from pynetdicom2.services.suboperations import (
    SubOperationInstance,
    perform_sub_operations,
    source_for,
)

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

#: What a C-STORE sub-operation's data set is when it arrived in memory, not in a file.
_RawData = (bytes, bytearray, memoryview)


# --- requester side -----------------------------------------------------------------------------


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
    rq = new_request(dm.CMoveRQMessage, ctx, ds, msg_id)
    rq.move_destination = dest_ae
    asce.invoke(rq, ctx.id)
    finished = False
    try:
        while not finished:
            rsp = receive_response(asce, ctx, dm.CMoveRSPMessage, msg_id)
            status = response_status(rsp)
            finished = not status.is_pending
            yield status, rsp
    except GeneratorExit:
        if not finished:
            cancel_request(asce, ctx, dm.CMoveRSPMessage, msg_id)
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
        self.status = response_status(rsp)
        if rsp.data_set:
            self.identifier = decode_identifier(rsp.data_set, ts)


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

    PS3.4 C.4.3.2: the stores arrive on storage contexts where we took the SCP role. The
    caller, which received ``msg``, discards its data set unless this kept it.
    """
    ctx = asce.accepted_contexts.get(pc_id)
    if ctx is None or pc_id not in getattr(asce, 'sop_classes_as_scp', {}):
        logger.warning(
            'C-GET: refusing the C-STORE of %s (%s) on context %d, where we did not take the '
            'SCP role', msg.affected_sop_instance_uid, _class_name(msg.sop_class_uid), pc_id,
        )
        asce.respond_unsupported(pc_id, msg)
        return None
    data = msg.data_set
    received: Any = data
    if isinstance(data, _RawData) and data:
        try:
            received = decode_identifier(data, ctx.supported_ts)
            status = as_status(asce.ae.on_receive_store(ctx, received), dm.CStoreRSPMessage)
        except EventHandlingError as exc:
            logger.warning('on_receive_store refused %s: %s', msg.affected_sop_instance_uid, exc)
            status = refusal_status(exc, statuses.C_STORE_CANNOT_UNDERSTAND,
                                     dm.CStoreRSPMessage)
    else:
        status = store_received(asce, ctx, msg)
    rsp = response_for(dm.CStoreRSPMessage, ctx, msg)
    rsp.affected_sop_instance_uid = msg.affected_sop_instance_uid
    rsp.status = int(status)
    asce.send(rsp, ctx.id)
    return (ctx, received) if received is not None else None


def _get_exchange(
    asce: Association, ctx: PContextDef, ds: Dataset, msg_id: int, outcome: _GetOutcome
) -> Iterator[tuple[PContextDef, Any]]:
    # The C-STORE sub-operations name no C-GET (PS3.4 C.4.3): two at once on one association
    # would take each other's, so a second waits for the first to end.
    with asce.get_lock:
        yield from _get_exchange_alone(asce, ctx, ds, msg_id, outcome)


def _get_exchange_alone(
    asce: Association, ctx: PContextDef, ds: Dataset, msg_id: int, outcome: _GetOutcome
) -> Iterator[tuple[PContextDef, Any]]:
    asce.invoke(new_request(dm.CGetRQMessage, ctx, ds, msg_id), ctx.id)

    def answer_store(msg: dm.DIMSEMessage, pc_id: int) -> bool:
        # Sub-operations still arriving after our C-CANCEL-RQ are answered all the same.
        if not isinstance(msg, dm.CStoreRQMessage):
            return False
        _get_sub_operation(asce, msg, pc_id)
        return True

    finished = False
    try:
        # Read here rather than with receive_response: what each sub-operation brought is
        # yielded as it arrives, before the next message is read.
        while True:
            msg, pc_id = asce.receive_response(msg_id, requests=True)
            # What a sub-operation did not keep is discarded before anything is yielded.
            with asce.received_files.handling(msg.data_set):
                if isinstance(msg, dm.CStoreRQMessage):
                    received = _get_sub_operation(asce, msg, pc_id)
                    rsp = None
                else:
                    rsp = check_response(asce, ctx, dm.CGetRSPMessage, msg_id, msg, pc_id)
            if rsp is None:
                if received is not None:
                    yield received
                continue
            if not response_status(rsp).is_pending:
                finished = True
                outcome.finish(rsp, ctx.supported_ts)
                if rsp.num_of_failed_sub_ops:
                    _explain_failed_sub_operations(asce, rsp, outcome.identifier)
                return
    except GeneratorExit:
        if not finished:
            outcome.finish(cancel_request(asce, ctx, dm.CGetRSPMessage, msg_id, answer_store),
                           ctx.supported_ts)
        raise


def _class_name(uid: str | None) -> str:
    name = uids.sop_class_name(uid or '')
    return f'{name} {uid}' if name and name != uid else str(uid)


def _explain_failed_sub_operations(
    asce: Association, rsp: dm.CGetRSPMessage, identifier: Dataset | None
) -> None:
    """Say which storage classes this association could not receive: the SCP usually fails a
    sub-operation for want of a context with our SCP role (PS3.4 C.4.3.3.1), and the final
    status alone (B000H, A702H) does not say so."""
    receiving = {str(entry[1]) for entry in getattr(asce, 'sop_classes_as_scp', {}).values()}
    proposed = {str(ctx.sop_class) for ctx in getattr(asce, 'context_def_list', {}).values()}
    refused = sorted(uid for uid in proposed - receiving if uid in uids.KNOWN_STORAGE_SOP_CLASSES)
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


# --- acceptor side ------------------------------------------------------------------------------


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
    identifier = request_identifier(asce, ctx, msg, rsp_class, statuses.C_MOVE_UNABLE_TO_PROCESS)
    if identifier is None:
        return
    try:
        remote_ae, count, items = asce.ae.on_receive_move(ctx, identifier, msg.move_destination)
    except EventHandlingError as exc:
        logger.warning('on_receive_move failed: %s', exc)
        status = refusal_status(exc, statuses.C_MOVE_UNABLE_TO_PROCESS, rsp_class)
        respond_failure(asce, ctx, msg, rsp_class, status, str(exc))
        return
    if remote_ae is None:
        close_iterator(items)
        respond_failure(asce, ctx, msg, rsp_class, statuses.C_MOVE_DESTINATION_UNKNOWN,
                 f'unknown move destination {msg.move_destination}')
        return
    destination = MoveDestination(asce, remote_ae, msg)
    msg_id = msg.message_id
    try:
        perform_sub_operations(
            asce, ctx, msg, rsp_class, count, items, destination.store,
            lambda: asce.cancel_requested(msg_id),
        )
    finally:
        destination.close()


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
    identifier = request_identifier(asce, ctx, msg, rsp_class, statuses.C_GET_UNABLE_TO_PROCESS)
    if identifier is None:
        return
    try:
        count, items = asce.ae.on_receive_get(ctx, identifier)
    except EventHandlingError as exc:
        logger.warning('on_receive_get failed: %s', exc)
        status = refusal_status(exc, statuses.C_GET_UNABLE_TO_PROCESS, rsp_class)
        respond_failure(asce, ctx, msg, rsp_class, status, str(exc))
        return
    get_id = msg.message_id
    roles: dict[UID, tuple[int, UID]] = getattr(asce, 'sop_classes_as_scu', {})

    def store(instance: SubOperationInstance, _count: int) -> statuses.Status | None:
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
        source = source_for(instance, ts)
        store_ctx = PContextDef(pc_id, instance.sop_class, ts)
        # Our message IDs on this association: other C-GETs may run on it at once.
        return storage_scu(asce, store_ctx, source, asce.new_message_id())

    perform_sub_operations(
        asce, ctx, msg, rsp_class, count, items, store, lambda: asce.cancel_requested(get_id)
    )
