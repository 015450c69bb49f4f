"""Unified Procedure Step (PS3.4 Annex CC): the SCU and a ready-to-use SCP, on the network.

The five UPS SOP classes work on one kind of instance, the workitem, always created as one of
the Push class (PS3.4 CC.3.1): so every N-CREATE, N-GET, N-SET and N-ACTION names the UPS Push
SOP class, whichever UPS context it travels on, and so does every N-EVENT-REPORT.

* Requester: :data:`ups_scu` (:class:`UnifiedProcedureStepSCU`), registered for the UPS
  classes, runs an operation by name on the context of the class it is fetched for:
  ``'create'`` (Push, N-CREATE), ``'get'``, ``'set'``, ``'change_state'`` (Pull),
  ``'request_cancel'``, ``'subscribe'``, ``'unsubscribe'``, ``'suspend_global_subscription'``
  (Watch, N-ACTION), ``'find'`` (Query, Pull, Watch: C-FIND) and ``'receive_event'`` (wait for
  the next N-EVENT-REPORT). Each is also a function here (:func:`ups_create` ...).
* N-EVENT-REPORTs that reach a requester on its own association while it waits (or when it
  waits for one) are answered through the AE's ``on_n_event_report`` hook, as any DIMSE-N
  report: PS3.4 CC.2.4.2 has the SCU accept every report, so one the hook does not handle
  (its default, 0211H) is answered Success. A listening AE that subscribes receives them on
  the associations the SCP opens to it through :class:`UPSEventReceiver`, which calls the
  same hook.
* Acceptor: :class:`UnifiedProcedureStepSCP` keeps the workitems in a
  :class:`~pynetdicom2.services.upsstate.WorkitemStore`, which applies the rules of PS3.4
  Annex CC, and sends the N-EVENT-REPORTs each change calls for: on the subscriber's own
  association while one with a UPS Event context is open, else on a new association to the
  address :attr:`UnifiedProcedureStepSCP.destinations` gives for its AE title.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID, generate_uid

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.dsutils import deep_copy
from pynetdicom2.exceptions import DIMSEProcessingError, EventHandlingError, NetDICOMError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.identifiers import decode_identifier
from pynetdicom2.services.base import (
    MessageDispatcherSCP,
    PeerRequestHandler,
    ProposalView,
    as_status,
    logger,
    receive_response,
    refusal_status,
    response_for,
    response_status,
)
from pynetdicom2.services.nservices import (
    UNRECOGNIZED_OPERATION,
    NReply,
    NResponse,
    NServiceSCP,
    decode_data_set,
)
from pynetdicom2.services.nsupport import encode_attributes
from pynetdicom2.services.query import answer_find, cancel_request, new_request
from pynetdicom2.services.upsstate import (
    GLOBAL_INSTANCES,
    UPS_RECEIVING_AE_UNKNOWN,
    Notification,
    Outcome,
    UPSAction,
    WorkitemStore,
    deletion_lock,
    refuse,
)
from pynetdicom2.userdataitems import ScpScuRoleSelectionSubItem

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

PUSH = uids.UNIFIED_PROCEDURE_STEP_PUSH_SOP_CLASS
WATCH = uids.UNIFIED_PROCEDURE_STEP_WATCH_SOP_CLASS
PULL = uids.UNIFIED_PROCEDURE_STEP_PULL_SOP_CLASS
EVENT = uids.UNIFIED_PROCEDURE_STEP_EVENT_SOP_CLASS
QUERY = uids.UNIFIED_PROCEDURE_STEP_QUERY_SOP_CLASS
#: The five UPS SOP classes (PS3.4 CC.3.1).
UPS_SOP_CLASSES = (PUSH, WATCH, PULL, EVENT, QUERY)


# --- the requester ------------------------------------------------------------------------------


class UPSEventReport(NamedTuple):
    """An N-EVENT-REPORT received (PS3.4 CC.2.4): about workitem ``sop_instance_uid`` (the
    UPS Global Subscription instance for an SCP Status Change), of type ``event_type_id``
    (:class:`~pynetdicom2.services.upsstate.UPSEventType`), with ``information``; ``status``
    is what it was answered."""

    sop_instance_uid: UID
    event_type_id: int
    information: Dataset | None
    status: statuses.Status


def answer_event_report(
    asce: Association, ctx: PContextDef, msg: dm.NEventReportRQMessage
) -> UPSEventReport:
    """Answer a UPS N-EVENT-REPORT-RQ through ``ae.on_n_event_report(ctx, instance, event type,
    information)``, and say what came.

    The hook returns a status (or ``(status, reply)``); its default, 0211H, is answered Success
    (PS3.4 CC.2.4.2: the SCU accepts every report), an
    :class:`~pynetdicom2.exceptions.EventHandlingError` 0110H or the failure it carries.
    """
    rsp = response_for(dm.NEventReportRSPMessage, ctx, msg)
    instance = UID(msg.affected_sop_instance_uid or '')
    rsp.affected_sop_instance_uid = instance
    rsp.event_type_id = msg.event_type_id
    information: Dataset | None = None
    reply: Dataset | None = None
    try:
        if msg.data_set:
            information = decode_data_set(msg.data_set, ctx.supported_ts)
        answer = asce.ae.on_n_event_report(ctx, instance, msg.event_type_id, information)
        if isinstance(answer, (statuses.Status, int)):
            answer = (answer, None)
        status = as_status(answer[0], dm.NEventReportRSPMessage)
        reply = answer[1]
        if status == UNRECOGNIZED_OPERATION:
            status, reply = statuses.SUCCESS, None
    except (EventHandlingError, DIMSEProcessingError) as exc:
        logger.warning('UPS event report %s for %s: %s', msg.event_type_id, instance, exc)
        status = statuses.PROCESSING_FAILURE
        if isinstance(exc, EventHandlingError):
            status = refusal_status(exc, status, dm.NEventReportRSPMessage)
    rsp.status = int(status)
    if reply is not None and (status.is_success or status.is_warning):
        rsp.data_set = encode_attributes(reply, ctx.supported_ts)
    asce.send(rsp, ctx.id)
    return UPSEventReport(instance, msg.event_type_id, information, status)


def _is_ups(msg: dm.DIMSEMessage, ctx: PContextDef) -> bool:
    return ctx.sop_class in UPS_SOP_CLASSES or msg.sop_class_uid in UPS_SOP_CLASSES


def serve_event_reports(asce: Association) -> PeerRequestHandler:
    """What a UPS SCU does with a request the SCP sends while it waits for a response: an
    N-EVENT-REPORT of a UPS class is answered (:func:`answer_event_report`); another one
    (a storage commitment result ...) goes to the SCP the AE registered for its class (0122H
    without one); any other message is the response it waits for."""

    def serve(msg: dm.DIMSEMessage, pc_id: int) -> bool:
        if not isinstance(msg, dm.NEventReportRQMessage):
            return False
        ctx = asce.accepted_contexts.get(pc_id)
        if ctx is not None and _is_ups(msg, ctx):
            answer_event_report(asce, ctx, msg)
            return True
        service = None
        if ctx is not None:
            with asce.ae.lock:
                service = asce.ae.supported_scp.get(msg.sop_class_uid or ctx.sop_class)
        if service is None or ctx is None:
            asce.respond_unsupported(pc_id, msg)
        else:
            service(asce, ctx, msg)
        return True

    return serve


def ups_exchange(
    asce: Association,
    ctx: PContextDef,
    rq: dm.DIMSERequestMessage,
    response_class: type[dm.DIMSEResponseMessage],
    data_set: Dataset | None,
) -> NResponse:
    """Send a UPS request (with its data set) and read its response, answering the event
    reports that arrive meanwhile (:func:`serve_event_reports`)."""
    if data_set is not None:
        rq.data_set = encode_attributes(data_set, ctx.supported_ts)
    asce.invoke(rq, ctx.id)
    rsp = receive_response(asce, ctx, response_class, rq.message_id, serve_event_reports(asce))
    attributes = decode_data_set(rsp.data_set, ctx.supported_ts) if rsp.data_set else None
    instance = getattr(rsp, 'affected_sop_instance_uid', None)
    return NResponse(response_status(rsp), attributes, UID(instance) if instance else None, rsp)


def _n_action(asce: Association, ctx: PContextDef, sop_instance_uid: str, action: UPSAction,
              information: Dataset, msg_id: int) -> NResponse:
    rq = dm.NActionRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = PUSH  # PS3.4 CC.2.1.2, CC.2.2.2, CC.2.3.2
    rq.requested_sop_instance_uid = sop_instance_uid
    rq.action_type_id = int(action)
    return ups_exchange(asce, ctx, rq, dm.NActionRSPMessage, information)


def ups_create(asce: Association, ctx: PContextDef, attributes: Dataset, msg_id: int,
               sop_instance_uid: str | None = None) -> NResponse:
    """Push a workitem (N-CREATE, PS3.4 CC.2.5.2) with Procedure Step State SCHEDULED.

    The SCU names the instance: ``sop_instance_uid``, or a new UID, returned in
    ``NResponse.sop_instance_uid``.
    """
    rq = dm.NCreateRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = PUSH
    rq.affected_sop_instance_uid = UID(sop_instance_uid or generate_uid())
    rsp = ups_exchange(asce, ctx, rq, dm.NCreateRSPMessage, attributes)
    return rsp._replace(sop_instance_uid=rsp.sop_instance_uid or rq.affected_sop_instance_uid)


def ups_get(asce: Association, ctx: PContextDef, sop_instance_uid: str, msg_id: int,
            attributes: Iterable[int | str] | None = None) -> NResponse:
    """Read a workitem (N-GET, PS3.4 CC.2.7): the attributes named (tags or keywords), all
    for none. The SCP never returns the Transaction UID."""
    rq = dm.NGetRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = PUSH
    rq.requested_sop_instance_uid = sop_instance_uid
    if attributes:
        rq.attribute_identifier_list = [Tag(tag) for tag in attributes]
    return ups_exchange(asce, ctx, rq, dm.NGetRSPMessage, None)


def ups_set(asce: Association, ctx: PContextDef, sop_instance_uid: str, transaction_uid: str,
            modifications: Dataset, msg_id: int) -> NResponse:
    """Change a workitem one performs (N-SET, PS3.4 CC.2.6.2): the modification list goes
    with the Transaction UID (0008,1195) the workitem was claimed with."""
    rq = dm.NSetRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = PUSH
    rq.requested_sop_instance_uid = sop_instance_uid
    data = deep_copy(modifications)
    data.TransactionUID = transaction_uid
    return ups_exchange(asce, ctx, rq, dm.NSetRSPMessage, data)


def ups_change_state(asce: Association, ctx: PContextDef, sop_instance_uid: str, state: str,
                     transaction_uid: str, msg_id: int) -> NResponse:
    """Change UPS State (N-ACTION type 1, PS3.4 CC.2.1.2): ``'IN PROGRESS'`` with a new
    Transaction UID to claim a SCHEDULED workitem, then ``'COMPLETED'`` or ``'CANCELED'``
    with that same UID."""
    information = Dataset()
    information.ProcedureStepState = state
    information.TransactionUID = transaction_uid
    return _n_action(asce, ctx, sop_instance_uid, UPSAction.CHANGE_STATE, information, msg_id)


def ups_request_cancel(asce: Association, ctx: PContextDef, sop_instance_uid: str, msg_id: int,
                       reason: str | None = None, contact_display_name: str | None = None,
                       contact_uri: str | None = None) -> NResponse:
    """Request UPS Cancel (N-ACTION type 2, PS3.4 CC.2.2.2) of a workitem someone else
    performs, with an optional Reason For Cancellation and a contact. Success means the
    request was taken, not that the workitem is canceled."""
    information = Dataset()
    if reason is not None:
        information.ReasonForCancellation = reason
    if contact_display_name is not None:
        information.ContactDisplayName = contact_display_name
    if contact_uri is not None:
        information.ContactURI = contact_uri
    return _n_action(asce, ctx, sop_instance_uid, UPSAction.REQUEST_CANCEL, information, msg_id)


def _receiving(asce: Association, receiving_ae: str | None) -> Dataset:
    information = Dataset()
    information.ReceivingAE = receiving_ae or asce.ae.ae_title
    return information


def ups_subscribe(asce: Association, ctx: PContextDef, sop_instance_uid: str, msg_id: int,
                  receiving_ae: str | None = None, deletion_lock: bool = False,
                  matching_keys: Dataset | None = None) -> NResponse:
    """Subscribe ``receiving_ae`` (by default this AE) to a workitem's event reports
    (N-ACTION type 3, PS3.4 CC.2.3.2), or to every workitem's with
    :data:`~pynetdicom2.uids.UPS_GLOBAL_SUBSCRIPTION_SOP_INSTANCE`, or to those matching
    ``matching_keys`` with
    :data:`~pynetdicom2.uids.UPS_FILTERED_GLOBAL_SUBSCRIPTION_SOP_INSTANCE`. With
    ``deletion_lock`` the SCP keeps a final workitem until the subscriber lets it go."""
    information = deep_copy(matching_keys) if matching_keys is not None else Dataset()
    information.update(_receiving(asce, receiving_ae))
    information.DeletionLock = 'TRUE' if deletion_lock else 'FALSE'
    return _n_action(asce, ctx, sop_instance_uid, UPSAction.SUBSCRIBE, information, msg_id)


def ups_unsubscribe(asce: Association, ctx: PContextDef, sop_instance_uid: str, msg_id: int,
                    receiving_ae: str | None = None) -> NResponse:
    """Unsubscribe (N-ACTION type 4, PS3.4 CC.2.3.2) from a workitem, or, given a global
    subscription instance, from everything."""
    return _n_action(asce, ctx, sop_instance_uid, UPSAction.UNSUBSCRIBE,
                     _receiving(asce, receiving_ae), msg_id)


def ups_suspend_global_subscription(asce: Association, ctx: PContextDef, msg_id: int,
                                    receiving_ae: str | None = None) -> NResponse:
    """Suspend Global Subscription (N-ACTION type 5, PS3.4 CC.2.3.2): no new workitems, the
    subscriptions to existing ones stay."""
    return _n_action(asce, ctx, uids.UPS_GLOBAL_SUBSCRIPTION_SOP_INSTANCE,
                     UPSAction.SUSPEND_GLOBAL_SUBSCRIPTION, _receiving(asce, receiving_ae),
                     msg_id)


def ups_find(asce: Association, ctx: PContextDef, query: Dataset, msg_id: int
             ) -> Iterator[tuple[Dataset | None, statuses.Status]]:
    """Query the worklist (C-FIND, PS3.4 CC.2.8): yield ``(identifier, status)`` per response.

    Works as :func:`~pynetdicom2.services.query.qr_find_scu` (closing early cancels), and
    answers the event reports the SCP sends meanwhile.
    """
    serve = serve_event_reports(asce)
    asce.invoke(new_request(dm.CFindRQMessage, ctx, query, msg_id), ctx.id)
    finished = False
    try:
        while not finished:
            rsp = receive_response(asce, ctx, dm.CFindRSPMessage, msg_id, serve)
            status = response_status(rsp)
            finished = not status.is_pending
            yield (decode_identifier(rsp.data_set, ctx.supported_ts) if rsp.data_set
                   else None), status
    except GeneratorExit:
        if not finished:
            cancel_request(asce, ctx, dm.CFindRSPMessage, msg_id, serve)
        raise


def ups_receive_event(asce: Association, ctx: PContextDef, timeout: float | None = None
                      ) -> UPSEventReport:
    """Wait for the next N-EVENT-REPORT on this association, answer it
    (:func:`answer_event_report`) and return it.

    Waits ``timeout`` seconds (default ``dcm_timeout``), then raises
    :class:`~pynetdicom2.exceptions.DCMTimeoutError`;
    :class:`~pynetdicom2.exceptions.DIMSEProcessingError` for any other message.
    """
    msg, pc_id = asce.receive(timeout)
    with asce.received_files.handling(msg.data_set):
        context = asce.accepted_contexts.get(pc_id)
        if not isinstance(msg, dm.NEventReportRQMessage) or context is None:
            raise DIMSEProcessingError(
                f'expected an N-EVENT-REPORT-RQ, got {type(msg).__name__} on context {pc_id}')
        return answer_event_report(asce, context, msg)


class UnifiedProcedureStepSCU:
    """The UPS SCU: one object for the five SOP classes, an operation chosen by name.

    ``client.add_scu(sc.ups_scu)`` registers :data:`ups_scu` for all of them; then
    ``assoc.get_scu(<class>)(<operation>, *arguments)`` runs the function of that name
    (``ups_<operation>``, without ``asce`` and ``ctx``) on the class's context. The classes
    carry the operations of PS3.4 Tables CC.2-1 to CC.2-5 (:attr:`operations`); any may wait
    for an event report (``'receive_event'``).

    Usage (``PUSH``, ``PULL`` ... the ``uids.UNIFIED_PROCEDURE_STEP_*_SOP_CLASS`` UIDs)::

        uid = assoc.get_scu(PUSH)('create', workitem, 1).sop_instance_uid
        assoc.get_scu(WATCH)('subscribe', uid, 2)
        report = assoc.get_scu(EVENT)('receive_event', 10)      # the initial state report
        for identifier, status in assoc.get_scu(PULL)('find', query, 3): ...
        assoc.get_scu(PULL)('change_state', uid, 'IN PROGRESS', tuid, 4)
    """

    functions: ClassVar[dict[str, Callable[..., Any]]] = {
        'create': ups_create,
        'get': ups_get,
        'set': ups_set,
        'change_state': ups_change_state,
        'request_cancel': ups_request_cancel,
        'subscribe': ups_subscribe,
        'unsubscribe': ups_unsubscribe,
        'suspend_global_subscription': ups_suspend_global_subscription,
        'find': ups_find,
        'receive_event': ups_receive_event,
    }

    #: The operations of each SOP class (PS3.4 Tables CC.2-1 to CC.2-5).
    operations: ClassVar[dict[UID, tuple[str, ...]]] = {
        PUSH: ('create', 'request_cancel', 'get', 'receive_event'),
        PULL: ('find', 'get', 'set', 'change_state', 'receive_event'),
        WATCH: ('subscribe', 'unsubscribe', 'suspend_global_subscription', 'get', 'find',
                'request_cancel', 'receive_event'),
        EVENT: ('receive_event',),
        QUERY: ('find', 'receive_event'),
    }

    def __init__(self, sop_classes: Iterable[str] | None = None) -> None:
        self.sop_classes = [UID(uid) for uid in (sop_classes or UPS_SOP_CLASSES)]
        self.store_in_file = False

    def __call__(self, asce: Association, ctx: PContextDef, operation: str, *args: Any,
                 **kwargs: Any) -> Any:
        allowed = self.operations.get(ctx.sop_class, ())
        if operation not in allowed:
            raise NetDICOMError(
                f'{operation!r} is not an operation of {ctx.sop_class} (PS3.4 CC.2); '
                f'expected one of {list(allowed)}'
            )
        return self.functions[operation](asce, ctx, *args, **kwargs)


#: The UPS SCU for the five classes: ``client.add_scu(sc.ups_scu)``.
ups_scu = UnifiedProcedureStepSCU()


class UPSEventReceiver(MessageDispatcherSCP):
    """Receives UPS event reports on the associations the SCP opens: ``ae.add_scp(...)`` on a
    subscriber that listens; each report goes to ``ae.on_n_event_report``
    (:func:`answer_event_report`).

    Registered, it also makes the AE grant the SCP role the reporting SCP proposes for the
    UPS Event class (PS3.7 D.3.3.4). It is registered for the UPS Push class too, because a
    report names that class (PS3.4 CC.2.4.3) and an AE finds the SCP for a request by the SOP
    class the request names; it answers nothing but N-EVENT-REPORT (0122H). An AE that runs a
    :class:`UnifiedProcedureStepSCP` needs none: that SCP answers reports the same way.
    """

    sop_classes: ClassVar[list[str]] = [EVENT, PUSH]

    @staticmethod
    def n_event_report(asce: Association, ctx: PContextDef,
                       msg: dm.NEventReportRQMessage) -> None:
        answer_event_report(asce, ctx, msg)


# --- the acceptor ---------------------------------------------------------------------------------


def send_event_report(asce: Association, ctx: PContextDef, note: Notification
                      ) -> statuses.Status:
    """Send one UPS N-EVENT-REPORT (PS3.4 CC.2.4.3) on ``ctx`` and return the answer's status.

    Only the response is read: requests the peer sends meanwhile stay for whoever serves
    the association.
    """
    rq = dm.NEventReportRQMessage()
    rq.message_id = asce.new_message_id()
    rq.sop_class_uid = PUSH
    rq.affected_sop_instance_uid = note.sop_instance_uid
    rq.event_type_id = note.event_type_id
    rq.data_set = encode_attributes(note.information, ctx.supported_ts)
    asce.invoke(rq, ctx.id)
    return response_status(receive_response(asce, ctx, dm.NEventReportRSPMessage, rq.message_id))


def _event_context(asce: Any) -> PContextDef | None:
    """The accepted UPS Event context on which we may report (we are its SCP), or None."""
    ours = getattr(asce, 'sop_classes_as_scp', {})
    for pc_id, ctx in asce.accepted_contexts.items():
        if ctx.sop_class == EVENT and pc_id in ours:
            return ctx  # type: ignore[no-any-return]
    return None


def report_on_new_association(ae: Any, remote_ae: Any, notes: list[Notification]) -> None:
    """Request an association to ``remote_ae`` as ``ae`` and send ``notes`` on it.

    The association proposes the UPS Event class alone, with the SCP role (role selection,
    PS3.7 D.3.3.4: the requester of an association is otherwise its SCU, and the SCP role
    sends N-EVENT-REPORT, PS3.7 10.1.1). Raises :class:`NetDICOMError` (after an abort) when
    it cannot be made or used.
    """
    # Imported when needed: the services load without the association machinery.
    from pynetdicom2.asceprovider import PContextDefList, remote_config

    remote = remote_config(remote_ae)
    role = ScpScuRoleSelectionSubItem(EVENT, 0, 1)
    remote = dataclasses.replace(remote, user_data=[*remote.user_data, role])
    context = PContextDefList(1, EVENT, tuple(UID(ts) for ts in ae.supported_ts))
    view = ProposalView(ae, {1: context}, {EVENT: ups_scu})
    # The AE's own factory: a TLS AE reports over TLS.
    assoc = type(ae)._create_association(view, remote)
    assoc.request()
    try:
        accepted = assoc.sop_classes_as_scu.get(EVENT)
        if accepted is None:
            raise NetDICOMError(f'{remote.aet} did not accept the UPS Event context')
        ctx = PContextDef(accepted[0], EVENT, accepted[1])
        for note in notes:
            status = send_event_report(assoc, ctx, note)
            if not status.is_success:
                logger.warning('%s answered UPS event %d for %s with %s', remote.aet,
                               note.event_type_id, note.sop_instance_uid, status)
    except BaseException:
        assoc.abort()
        raise
    assoc.release()


class UnifiedProcedureStepSCP(NServiceSCP):
    """A UPS SCP (PS3.4 Annex CC) with an in-memory worklist: register one instance,
    ``ae.add_scp(sc.UnifiedProcedureStepSCP())``, for the five UPS classes.

    ``store`` (a :class:`~pynetdicom2.services.upsstate.WorkitemStore`, subclassed to change
    its rules; by default a new one, which keeps COMPLETED and CANCELED workitems only while a
    deletion lock holds them unless ``keep_final``) holds the workitems; it enforces the
    states, Transaction UIDs and subscriptions, and its refusals carry the standard's
    statuses.
    ``destinations`` maps an AE title to where it listens (a
    :class:`~pynetdicom2.asceprovider.RemoteAEConfig` or a dict of its fields).

    Event reports (PS3.4 CC.2.4.3) are sent after the response to the request that caused
    them, on the thread that served it, to each subscriber in turn: on that subscriber's most
    recent association still open that has a UPS Event context (one we have served a request
    on; the subscriber must be reading it: the functions of :data:`ups_scu` do; after
    ``dcm_timeout`` unanswered, a late answer ends that association), else, or if that fails,
    on a new association to its :meth:`destination`. A subscriber that has neither misses it
    (logged). Subscribing an AE that has neither (an address, or this association with a UPS
    Event context) is refused C308H.

    The decision points are methods to override: :meth:`destination`,
    :meth:`accept_workitem`. :meth:`create_workitem` and :meth:`report_scp_status` are the
    SCP's own changes (PS3.4 CC.2.5.3, CC.2.4.3).

    >>> from pynetdicom2.applicationentity import AE, ClientAE
    >>> from pynetdicom2 import uids
    >>> PUSH = uids.UNIFIED_PROCEDURE_STEP_PUSH_SOP_CLASS
    >>> PULL = uids.UNIFIED_PROCEDURE_STEP_PULL_SOP_CLASS
    >>> worklist = UnifiedProcedureStepSCP()
    >>> client = ClientAE('PERFORMER').add_scu(ups_scu)
    >>> with AE('WORKLIST', 0, host='127.0.0.1').add_scp(worklist) as srv:
    ...     remote = {'aet': 'WORKLIST', 'address': '127.0.0.1', 'port': srv.local_ae.port}
    ...     with client.request_association(remote) as assoc:
    ...         item = Dataset(); item.ProcedureStepState = 'SCHEDULED'
    ...         item.InputReadinessState = 'READY'; item.ProcedureStepLabel = 'Recon'
    ...         uid = assoc.get_scu(PUSH)('create', item, 1).sop_instance_uid
    ...         tuid = generate_uid()
    ...         claim = assoc.get_scu(PULL)('change_state', uid, 'IN PROGRESS', tuid, 2)
    ...         again = assoc.get_scu(PULL)('change_state', uid, 'IN PROGRESS', tuid, 3)
    >>> claim.status.is_success, hex(int(again.status))
    (True, '0xc302')
    >>> worklist.store.workitem(uid).ProcedureStepState
    'IN PROGRESS'
    """

    sop_classes: ClassVar[list[str]] = list(UPS_SOP_CLASSES)

    def __init__(self, store: WorkitemStore | None = None,
                 destinations: Mapping[str, Any] | None = None, *,
                 keep_final: bool = False) -> None:
        super().__init__()
        self.store = store if store is not None else WorkitemStore(keep_final=keep_final)
        #: AE title -> where it listens, for event reports on a new association.
        self.destinations: dict[str, Any] = dict(destinations or {})
        self._lock = threading.Lock()
        # Subscriber AE title -> its associations with a UPS Event context, oldest first.
        self._associations: dict[str, list[Any]] = {}
        self._send_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = (
            weakref.WeakKeyDictionary())
        self._pending = threading.local()

    # -- decision points -------------------------------------------------------------------------

    def destination(self, ae_title: str) -> Any:
        """Where ``ae_title`` listens for event reports, or None. Default: ``destinations``."""
        return self.destinations.get(ae_title.strip())

    def accept_workitem(self, asce: Association, sop_instance_uid: UID,
                        attributes: Dataset) -> None:
        """Called before an N-CREATE'd workitem is stored; raise
        :class:`~pynetdicom2.exceptions.EventHandlingError` to refuse it (0110H or its
        status). Default: accept."""

    # -- the SCP's own changes --------------------------------------------------------------------

    def create_workitem(self, ae: Any, attributes: Dataset,
                        sop_instance_uid: str | None = None) -> UID:
        """Create a workitem without an N-CREATE (PS3.4 CC.2.5.3) and send the reports it
        calls for, as ``ae``. Raises EventHandlingError as N-CREATE would refuse it."""
        uid = UID(sop_instance_uid or generate_uid())
        self.deliver(ae, self.store.create(uid, attributes).notifications)
        return uid

    def report_scp_status(self, ae: Any, scp_status: str,
                          subscription_list_status: str | None = None,
                          ups_list_status: str | None = None) -> None:
        """Tell every subscriber the SCP is ``'GOING DOWN'`` or ``'RESTARTED'`` (SCP Status
        Change, PS3.4 Table CC.2.4-1), as ``ae``."""
        self.deliver(ae, self.store.scp_status_change(
            scp_status, subscription_list_status, ups_list_status))

    # -- the operations ---------------------------------------------------------------------------

    def _queue(self, outcome: Outcome) -> NReply:
        pending = getattr(self._pending, 'notes', None)
        if pending is not None:
            pending.extend(outcome.notifications)
        return outcome.status, None

    def on_n_create(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    attribute_list: Dataset | None) -> NReply:
        attributes = attribute_list if attribute_list is not None else Dataset()
        self.accept_workitem(asce, sop_instance_uid, attributes)
        return self._queue(self.store.create(sop_instance_uid, attributes))

    def on_n_get(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 attribute_identifiers: list[BaseTag]) -> NReply:
        return statuses.SUCCESS, self.store.get(sop_instance_uid, attribute_identifiers)

    def on_n_set(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 modification_list: Dataset) -> NReply:
        return self._queue(self.store.set(sop_instance_uid, modification_list))

    def on_n_delete(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID) -> NReply:
        return UNRECOGNIZED_OPERATION, None  # the UPS classes have no N-DELETE (PS3.4 CC.2)

    def on_n_action(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    action_type_id: int, action_information: Dataset | None) -> NReply:
        info = action_information if action_information is not None else Dataset()
        calling = str(getattr(asce, 'remote_ae', '')).strip()
        store = self.store
        if action_type_id == UPSAction.CHANGE_STATE:
            state = info.get('ProcedureStepState')
            if not state:
                raise refuse(statuses.Status(0x0120), 'Change UPS State without a Procedure '
                             'Step State')
            outcome = store.change_state(sop_instance_uid, str(state),
                                         info.get('TransactionUID'))
        elif action_type_id == UPSAction.REQUEST_CANCEL:
            outcome = store.request_cancel(sop_instance_uid, calling, info)
        elif action_type_id in (UPSAction.SUBSCRIBE, UPSAction.UNSUBSCRIBE,
                                UPSAction.SUSPEND_GLOBAL_SUBSCRIPTION):
            receiving = str(info.get('ReceivingAE') or calling).strip()
            if action_type_id == UPSAction.SUBSCRIBE:
                if self.destination(receiving) is None and not (
                        receiving == calling and _event_context(asce) is not None):
                    raise refuse(UPS_RECEIVING_AE_UNKNOWN, f'{receiving!r} has no address '
                                 'and no association with a UPS Event context')
                keys = deep_copy(info)
                for keyword in ('ReceivingAE', 'DeletionLock'):
                    keys.pop(keyword, None)
                outcome = store.subscribe(receiving, sop_instance_uid, deletion_lock(info),
                                          keys if sop_instance_uid in GLOBAL_INSTANCES else None)
            elif action_type_id == UPSAction.UNSUBSCRIBE:
                outcome = store.unsubscribe(receiving, sop_instance_uid)
            else:
                outcome = store.suspend_global_subscription(receiving, sop_instance_uid)
        else:
            return statuses.Status(0x0123, dm.NActionRSPMessage), None  # no such action
        return self._queue(outcome)

    def c_find(self, asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
        """Answer a worklist query (C-FIND, PS3.4 CC.2.8) from the store."""
        self._remember(asce)
        if not isinstance(msg, dm.CFindRQMessage):
            asce.respond_unsupported(ctx.id, msg)
            return
        answer_find(asce, ctx, msg, lambda _ctx, keys: (
            (match, statuses.C_FIND_PENDING) for match in self.store.find(keys)))

    # -- the dispatcher's methods: the response first, then the reports ---------------------------

    def _perform(self, method: Callable[..., None], asce: Association, ctx: PContextDef,
                 msg: dm.DIMSEMessage) -> None:
        self._remember(asce)
        self._pending.notes = []
        try:
            method(asce, ctx, msg)
        finally:
            notes, self._pending.notes = self._pending.notes, None
            if notes:
                self.deliver(asce.ae, notes)

    def n_create(self, asce: Association, ctx: PContextDef, msg: dm.NCreateRQMessage) -> None:
        self._perform(super().n_create, asce, ctx, msg)

    def n_set(self, asce: Association, ctx: PContextDef, msg: dm.NSetRQMessage) -> None:
        self._perform(super().n_set, asce, ctx, msg)

    def n_action(self, asce: Association, ctx: PContextDef, msg: dm.NActionRQMessage) -> None:
        self._perform(super().n_action, asce, ctx, msg)

    def n_get(self, asce: Association, ctx: PContextDef, msg: dm.NGetRQMessage) -> None:
        self._remember(asce)
        super().n_get(asce, ctx, msg)

    def n_event_report(self, asce: Association, ctx: PContextDef,
                       msg: dm.NEventReportRQMessage) -> None:
        """A report from another UPS SCP this AE subscribed to: answered as
        :class:`UPSEventReceiver` answers it (:func:`answer_event_report`)."""
        answer_event_report(asce, ctx, msg)

    # -- delivery ---------------------------------------------------------------------------------

    def _remember(self, asce: Any) -> None:
        """Note an association a subscriber may hear on: one with a UPS Event context."""
        calling = getattr(asce, 'remote_ae', None)
        if not isinstance(calling, str) or _event_context(asce) is None:
            return
        aet = calling.strip()
        with self._lock:
            for title in list(self._associations):  # forget those that have ended
                live = [a for a in self._associations[title]
                        if a.association_established and a is not asce]
                if live:
                    self._associations[title] = live
                else:
                    del self._associations[title]
            self._associations[aet] = [*self._associations.get(aet, []), asce]

    def _open_association(self, aet: str) -> tuple[Any, PContextDef] | None:
        with self._lock:
            candidates = list(reversed(self._associations.get(aet, [])))
        for assoc in candidates:
            ctx = _event_context(assoc)
            if assoc.association_established and ctx is not None:
                return assoc, ctx
        return None

    def _send_lock(self, assoc: Any) -> threading.Lock:
        with self._lock:
            lock = self._send_locks.get(assoc)
            if lock is None:
                lock = self._send_locks[assoc] = threading.Lock()
            return lock

    def deliver(self, ae: Any, notifications: Iterable[Notification]) -> None:
        """Send each report to each of its receivers (see the class); never raises."""
        by_receiver: dict[str, list[Notification]] = {}
        for note in notifications:
            for aet in note.receivers:
                by_receiver.setdefault(aet, []).append(note)
        for aet, notes in by_receiver.items():
            try:
                self._deliver_to(ae, aet, notes)
            except (NetDICOMError, OSError) as exc:
                logger.warning('%d UPS event report(s) for %s not delivered: %s',
                               len(notes), aet, exc)

    def _deliver_to(self, ae: Any, aet: str, notes: list[Notification]) -> None:
        remaining = list(notes)
        found = self._open_association(aet)
        if found is not None:
            assoc, ctx = found
            with self._send_lock(assoc):
                while remaining:
                    try:
                        status = send_event_report(assoc, ctx, remaining[0])
                    except NetDICOMError as exc:
                        logger.info('UPS event report to %s on its association failed (%s)',
                                    aet, exc)
                        break
                    if not status.is_success:
                        logger.warning('%s answered UPS event %d for %s with %s', aet,
                                       remaining[0].event_type_id,
                                       remaining[0].sop_instance_uid, status)
                    remaining.pop(0)
        if not remaining:
            return
        remote = self.destination(aet)
        if remote is None:
            logger.warning('%d UPS event report(s) for %s dropped: no association of its is '
                           'open and its address is unknown', len(remaining), aet)
            return
        report_on_new_association(ae, remote, remaining)
