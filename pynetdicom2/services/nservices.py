"""The DIMSE-N services (PS3.7 10), generic: an SCU function per operation, and an SCP.

A DIMSE-N operation acts on one managed SOP instance (PS3.7 10.1): N-GET, N-SET, N-ACTION,
N-CREATE and N-DELETE are invoked by the SCU and performed by the SCP; N-EVENT-REPORT goes the
other way, from the SCP to the SCU. The ``n_*_scu`` functions send one request and wait for
its response (:func:`n_exchange`); :class:`NServiceSCU` offers several of them under one SOP
class; :class:`NServiceSCP` answers requests through methods a subclass overrides. The SOP
classes built on them have their own modules: :mod:`pynetdicom2.services.mpps` and
:mod:`pynetdicom2.services.commitment`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Optional, TypeVar, Union

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID, generate_uid

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import dsutils, statuses
from pynetdicom2.exceptions import DIMSEProcessingError, EventHandlingError, NetDICOMError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import (
    MessageDispatcherSCP,
    as_status,
    logger,
    receive_response,
    refusal_status,
    response_for,
    response_status,
)
from pynetdicom2.services.storage import encode_for_context

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

_F = TypeVar('_F', bound=Callable[..., Any])


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


def decode_data_set(data: Any, ts: UID) -> Dataset:
    """A received data set decoded from transfer syntax ``ts``: bytes, or the Part-10 file
    ``ae.get_file`` gave (for a SOP class registered ``store_in_file``).

    Raises :class:`DIMSEProcessingError` when it cannot be read.
    """
    ds: Dataset
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
    return encode_for_context(ds, ts)


def _without_default_classes(service: _F) -> _F:
    """Mark a generic SCU: it has no SOP classes of its own, ``add_scu`` is given them."""
    service.sop_classes = []  # type: ignore[attr-defined]
    service.store_in_file = False  # type: ignore[attr-defined]
    return service


def n_exchange(
    asce: Association,
    ctx: PContextDef,
    rq: dm.DIMSERequestMessage,
    response_class: type[dm.DIMSEResponseMessage],
    data_set: Dataset | None,
) -> NResponse:
    """Send an N-request (with its data set, if any) and read its response.

    The engine of the ``n_*_scu`` functions, and of SCUs that fill in a request of their own
    (:func:`~pynetdicom2.services.commitment.storage_commitment_scu`).
    """
    if data_set is not None:
        rq.data_set = _encode_attributes(data_set, ctx.supported_ts)
    asce.invoke(rq, ctx.id)
    # The performer of our request may invoke an N-EVENT-REPORT before it answers (PS3.4
    # J.3.3: a storage commitment result on the requester's association); serve it.
    rsp = receive_response(asce, ctx, response_class, rq.message_id,
                           lambda msg, pc_id: _serve_event_report(asce, msg, pc_id))
    attributes = None
    if rsp.data_set:
        attributes = decode_data_set(rsp.data_set, ctx.supported_ts)
    instance = getattr(rsp, 'affected_sop_instance_uid', None)
    return NResponse(
        response_status(rsp),
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
    return n_exchange(asce, ctx, rq, dm.NGetRSPMessage, None)


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
    return n_exchange(asce, ctx, rq, dm.NSetRSPMessage, modification_list)


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
    return n_exchange(asce, ctx, rq, dm.NActionRSPMessage, action_information)


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
    return n_exchange(asce, ctx, rq, dm.NCreateRSPMessage, attribute_list)


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
    return n_exchange(asce, ctx, rq, dm.NDeleteRSPMessage, None)


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
    return n_exchange(asce, ctx, rq, dm.NEventReportRSPMessage, event_information)


def scp_for(registry: Any, requested: str | None, context_class: str) -> Any:
    """The SCP service registered for the SOP class a request names, else for its
    context's: a request may name another class of the same service than its context's
    (PS3.4 CC.3.1: every UPS request names UPS Push, on a Pull, Watch or Event context)."""
    service = registry.get(requested) if requested else None
    return service if service is not None else registry.get(context_class)


def _serve_event_report(asce: Association, msg: dm.DIMSEMessage, pc_id: int) -> bool:
    """Answer ``msg`` if it is an N-EVENT-REPORT-RQ, through the SCP the AE registered for
    its SOP class (0122H without one); False for any other message. The caller, which
    received ``msg``, discards its data set."""
    if not isinstance(msg, dm.NEventReportRQMessage):
        return False
    context = asce.accepted_contexts.get(pc_id)
    service = None
    if context is not None:
        with asce.ae.lock:
            service = scp_for(asce.ae.supported_scp, msg.sop_class_uid, context.sop_class)
    if service is None or context is None:
        asce.respond_unsupported(pc_id, msg)
    else:
        service(asce, context, msg)
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
    with assoc.received_files.handling(msg.data_set):
        if not _serve_event_report(assoc, msg, pc_id):
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


#: What an :class:`NServiceSCP` method returns: a status (or its code) and a data set or None.
NReply = tuple[Union[statuses.Status, int], Optional[Dataset]]

#: PS3.7 Annex C: 0211H, unrecognised operation (not one this SCP performs).
UNRECOGNIZED_OPERATION = statuses.Status(0x0211)


class NServiceSCP(MessageDispatcherSCP):
    """An SCP for DIMSE-N SOP classes: decodes each request, asks a method, sends the response.

    Register one for its SOP classes, ``ae.add_scp(NServiceSCP([MY_CLASS]))``, and override
    the AE's hooks (``on_n_get``, ``on_n_set``, ``on_n_action``, ``on_n_create``,
    ``on_n_delete``, ``on_n_event_report``; :class:`~pynetdicom2.applicationentity.AEBase`),
    as for ``on_receive_store``: each ``on_n_*`` method here calls the AE's hook of the same
    name (without ``asce``). A subclass may override the methods themselves instead. Each
    returns ``(status, data set or None)``, or just a status. The data set (the N-GET
    attribute list, an N-ACTION or N-EVENT-REPORT reply, the N-CREATE or N-SET attribute
    list) is sent only with a success or warning status. An operation neither hook nor method
    answers gets 0211H (unrecognised operation); a request that is not a DIMSE-N one answers
    0122H. Raising
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

    # -- what subclasses override; by default, the AE's hooks ---------------------------------

    def on_n_get(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
        attribute_identifiers: list[BaseTag],
    ) -> NReply:
        """N-GET: the attributes asked for (all when the list is empty).

        Default: ``asce.ae.on_n_get(ctx, sop_instance_uid, attribute_identifiers)``.
        """
        return asce.ae.on_n_get(ctx, sop_instance_uid, attribute_identifiers)

    def on_n_set(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
        modification_list: Dataset,
    ) -> NReply:
        """N-SET: apply the modification list.

        Default: ``asce.ae.on_n_set(ctx, sop_instance_uid, modification_list)``.
        """
        return asce.ae.on_n_set(ctx, sop_instance_uid, modification_list)

    def on_n_action(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID, action_type_id: int,
        action_information: Dataset | None,
    ) -> NReply:
        """N-ACTION: perform the action.

        Default: ``asce.ae.on_n_action(ctx, sop_instance_uid, action_type_id,
        action_information)``.
        """
        return asce.ae.on_n_action(ctx, sop_instance_uid, action_type_id, action_information)

    def on_n_create(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
        attribute_list: Dataset | None,
    ) -> NReply:
        """N-CREATE: create the instance (its UID was given, or assigned by us).

        Default: ``asce.ae.on_n_create(ctx, sop_instance_uid, attribute_list)``.
        """
        return asce.ae.on_n_create(ctx, sop_instance_uid, attribute_list)

    def on_n_delete(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID) -> NReply:
        """N-DELETE: delete the instance. Default: ``asce.ae.on_n_delete(ctx, sop_instance_uid)``.
        """
        return asce.ae.on_n_delete(ctx, sop_instance_uid)

    def on_n_event_report(
        self, asce: Association, ctx: PContextDef, sop_instance_uid: UID, event_type_id: int,
        event_information: Dataset | None,
    ) -> NReply:
        """N-EVENT-REPORT: take note of the event.

        Default: ``asce.ae.on_n_event_report(ctx, sop_instance_uid, event_type_id,
        event_information)``.
        """
        return asce.ae.on_n_event_report(ctx, sop_instance_uid, event_type_id, event_information)

    # -- the dispatcher's methods ----------------------------------------------------------

    @staticmethod
    def _request_data_set(ctx: PContextDef, msg: dm.DIMSEMessage) -> Dataset | None:
        if not msg.data_set:
            return None
        return decode_data_set(msg.data_set, ctx.supported_ts)

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
            status = as_status(status_value, type(rsp))
        except (EventHandlingError, DIMSEProcessingError) as exc:
            logger.warning('%s for %s: %s', type(rsp).__name__, ctx.sop_class, exc)
            status, attributes = statuses.PROCESSING_FAILURE, None
            if isinstance(exc, EventHandlingError):
                status = refusal_status(exc, status, type(rsp))
        rsp.status = int(status)
        if attributes is not None and (status.is_success or status.is_warning):
            rsp.data_set = _encode_attributes(attributes, ctx.supported_ts)
        asce.send(rsp, ctx.id)

    def n_get(self, asce: Association, ctx: PContextDef, msg: dm.NGetRQMessage) -> None:
        rsp = response_for(dm.NGetRSPMessage, ctx, msg)
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
        rsp = response_for(dm.NSetRSPMessage, ctx, msg)
        instance = UID(msg.requested_sop_instance_uid or '')
        rsp.affected_sop_instance_uid = instance

        def reply() -> NReply:
            modifications = self._request_data_set(ctx, msg)
            if modifications is None:
                raise EventHandlingError('N-SET-RQ without a modification list (PS3.7 10.1.3)')
            return self.on_n_set(asce, ctx, instance, modifications)

        self._answer(asce, ctx, rsp, reply)

    def n_action(self, asce: Association, ctx: PContextDef, msg: dm.NActionRQMessage) -> None:
        rsp = response_for(dm.NActionRSPMessage, ctx, msg)
        instance = UID(msg.requested_sop_instance_uid or '')
        rsp.affected_sop_instance_uid = instance
        rsp.action_type_id = msg.action_type_id
        self._answer(asce, ctx, rsp, lambda: self.on_n_action(
            asce, ctx, instance, msg.action_type_id, self._request_data_set(ctx, msg)
        ))

    def n_create(self, asce: Association, ctx: PContextDef, msg: dm.NCreateRQMessage) -> None:
        rsp = response_for(dm.NCreateRSPMessage, ctx, msg)
        # PS3.7 10.1.5.1.3: without an Affected SOP Instance UID the performer assigns one.
        instance = UID(msg.affected_sop_instance_uid or generate_uid())
        rsp.affected_sop_instance_uid = instance
        self._answer(asce, ctx, rsp, lambda: self.on_n_create(
            asce, ctx, instance, self._request_data_set(ctx, msg)
        ))

    def n_delete(self, asce: Association, ctx: PContextDef, msg: dm.NDeleteRQMessage) -> None:
        rsp = response_for(dm.NDeleteRSPMessage, ctx, msg)
        instance = UID(msg.requested_sop_instance_uid or '')
        rsp.affected_sop_instance_uid = instance
        self._answer(asce, ctx, rsp, lambda: self.on_n_delete(asce, ctx, instance))

    def n_event_report(
        self, asce: Association, ctx: PContextDef, msg: dm.NEventReportRQMessage
    ) -> None:
        rsp = response_for(dm.NEventReportRSPMessage, ctx, msg)
        instance = UID(msg.affected_sop_instance_uid or '')
        rsp.affected_sop_instance_uid = instance
        rsp.event_type_id = msg.event_type_id
        self._answer(asce, ctx, rsp, lambda: self.on_n_event_report(
            asce, ctx, instance, msg.event_type_id, self._request_data_set(ctx, msg)
        ))
