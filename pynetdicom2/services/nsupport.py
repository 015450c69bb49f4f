"""What the DIMSE-N service classes of PS3.4 H, P, S, DD, EE and KK share.

Print management, application event logging, storage management, display system management,
media creation and RT machine verification are DIMSE-N services (PS3.7 10) whose requests
name a SOP class of their own, which is not always the one of their presentation context
(PS3.4 H.3.1: the Basic Film Session, Film Box and Image Box classes travel on the context of
a Print Management Meta SOP class), and whose SCPs send N-EVENT-REPORTs that their SCUs
confirm (PS3.4 H.4.6.2.1.2, DD.3.2.5, KK.2.3). This module has the pieces they are built
from:

* :func:`n_request` builds a request naming a given SOP class; :func:`exchange` sends it and
  reads its response, answering the N-EVENT-REPORTs the peer sends meanwhile;
* :func:`answer_event_report` answers one through the AE's ``on_n_event_report`` hook, the
  hook of every DIMSE-N report (not overridden, 0211H: confirmed with Success, as the SCU
  of these classes confirms every report); :func:`receive_event_report` waits for one;
  :class:`EventReportReceiver` answers them on the associations a reporting SCP opens;
* :func:`send_event_report`: the SCP's side of N-EVENT-REPORT;
* :class:`PartialNServiceSCP`: the SCP of a class with only some DIMSE-N operations;
  :func:`consult`: what an AE hook answered, for the SCPs that keep state of their own and
  offer each request to the hook before they act on it; :func:`select_attributes`: an N-GET
  answer (PS3.7 10.1.2.1.3) out of a data set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Union

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import dsutils, statuses
from pynetdicom2.exceptions import DIMSEProcessingError, EventHandlingError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import (
    MessageDispatcherSCP,
    PeerRequestHandler,
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
from pynetdicom2.services.storage import encode_for_context

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

#: PS3.7 Annex C: 0112H, no such SOP instance.
NO_SUCH_INSTANCE = statuses.Status(0x0112)
#: PS3.7 Annex C: 0120H, missing attribute.
MISSING_ATTRIBUTE = statuses.Status(0x0120)
#: PS3.7 Annex C: 0121H, missing attribute value.
MISSING_ATTRIBUTE_VALUE = statuses.Status(0x0121)
#: PS3.7 Annex C: 0106H, invalid attribute value.
INVALID_ATTRIBUTE_VALUE = statuses.Status(0x0106)
#: PS3.7 Annex C: 0105H, no such attribute.
NO_SUCH_ATTRIBUTE = statuses.Status(0x0105)
#: PS3.7 Annex C: 0111H, duplicate SOP instance.
DUPLICATE_INSTANCE = statuses.Status(0x0111)
#: PS3.7 Annex C: 0123H, no such action.
NO_SUCH_ACTION = statuses.Status(0x0123)
#: PS3.7 Annex C: 0122H, SOP class not supported.
CLASS_NOT_SUPPORTED = statuses.Status(0x0122)

_Request = Union[dm.NGetRQMessage, dm.NSetRQMessage, dm.NActionRQMessage, dm.NCreateRQMessage,
                 dm.NDeleteRQMessage, dm.NEventReportRQMessage]


def refusal(status: statuses.Status | int, why: str) -> EventHandlingError:
    """The error an SCP raises to answer ``status`` (a failure), with why in the log."""
    return EventHandlingError(why, status=int(status))


def requested_context(ctx: PContextDef, sop_class: str | None) -> PContextDef:
    """``ctx`` with the SOP class a request names (its ID and transfer syntax unchanged):
    what the hooks of these services are given, so that they tell a Film Box from a Film
    Session on one Meta SOP class context (PS3.4 H.3.1)."""
    return PContextDef(ctx.id, UID(sop_class or ctx.sop_class), ctx.supported_ts)


def n_request(request_class: type[_Request], sop_class: str, msg_id: int,
              sop_instance_uid: str | None = None) -> Any:
    """A new DIMSE-N request naming ``sop_class`` and ``sop_instance_uid`` (the Affected SOP
    Instance UID of an N-CREATE or N-EVENT-REPORT, the Requested one of the others, PS3.7
    10.3)."""
    rq = request_class()
    rq.message_id = msg_id
    rq.sop_class_uid = UID(sop_class)
    if sop_instance_uid:
        if isinstance(rq, (dm.NCreateRQMessage, dm.NEventReportRQMessage)):
            rq.affected_sop_instance_uid = UID(sop_instance_uid)
        else:
            rq.requested_sop_instance_uid = UID(sop_instance_uid)
    return rq


def encode_attributes(ds: Dataset, ts: UID) -> bytes:
    """An N-service data set encoded for a context with transfer syntax ``ts`` (PS3.5 A.4:
    outside Pixel Data an encapsulated syntax is explicit VR little endian)."""
    if ts.is_compressed:
        return dsutils.encode(ds, False, True)
    return encode_for_context(ds, ts)


# --- event reports --------------------------------------------------------------------------------


class EventReport(NamedTuple):
    """An N-EVENT-REPORT received and answered: the SOP class and instance it names, its
    Event Type ID, its event information (or None) and the status it was answered with."""

    sop_class_uid: UID
    sop_instance_uid: UID
    event_type_id: int
    information: Dataset | None
    status: statuses.Status


def answer_event_report(asce: Association, ctx: PContextDef,
                        msg: dm.NEventReportRQMessage) -> EventReport:
    """Answer an N-EVENT-REPORT-RQ through ``ae.on_n_event_report(context, instance, event
    type, information)`` and say what came.

    The hook is given the context with the SOP class the report names
    (:func:`requested_context`); it returns a status or ``(status, reply)``. Its default,
    0211H, is answered Success: the SCU of these classes confirms every report (PS3.4
    H.4.6.2.1.2, H.4.5.2.1.2); an :class:`~pynetdicom2.exceptions.EventHandlingError` is
    answered 0110H or the failure it carries.
    """
    rsp = response_for(dm.NEventReportRSPMessage, ctx, msg)
    instance = UID(msg.affected_sop_instance_uid or '')
    rsp.affected_sop_instance_uid = instance
    rsp.event_type_id = msg.event_type_id
    context = requested_context(ctx, msg.sop_class_uid)
    information: Dataset | None = None
    reply: Dataset | None = None
    try:
        if msg.data_set:
            information = decode_data_set(msg.data_set, ctx.supported_ts)
        status, reply = consult(
            asce.ae.on_n_event_report(context, instance, msg.event_type_id, information),
            dm.NEventReportRSPMessage)
        if status is None:
            status = statuses.SUCCESS
    except (EventHandlingError, DIMSEProcessingError) as exc:
        logger.warning('N-EVENT-REPORT %s of %s: %s', msg.event_type_id, instance, exc)
        status = statuses.PROCESSING_FAILURE
        if isinstance(exc, EventHandlingError):
            status = refusal_status(exc, status, dm.NEventReportRSPMessage)
    rsp.status = int(status)
    if reply is not None and (status.is_success or status.is_warning):
        rsp.data_set = encode_attributes(reply, ctx.supported_ts)
    asce.send(rsp, ctx.id)
    return EventReport(context.sop_class, instance, msg.event_type_id, information, status)


def serve_event_reports(asce: Association,
                        received: list[EventReport] | None = None) -> PeerRequestHandler:
    """What an SCU of these classes does with a request the peer sends while it waits for a
    response: an N-EVENT-REPORT is answered (:func:`answer_event_report`, and appended to
    ``received`` if given), anything else is the response it waits for (and checked as
    such)."""

    def serve(msg: dm.DIMSEMessage, pc_id: int) -> bool:
        ctx = asce.accepted_contexts.get(pc_id)
        if not isinstance(msg, dm.NEventReportRQMessage):
            return False
        if ctx is None:
            asce.respond_unsupported(pc_id, msg)
            return True
        report = answer_event_report(asce, ctx, msg)
        if received is not None:
            received.append(report)
        return True

    return serve


def exchange(asce: Association, ctx: PContextDef, rq: _Request,
             response_class: type[dm.DIMSEResponseMessage], data_set: Dataset | None,
             received: list[EventReport] | None = None) -> NResponse:
    """Send ``rq`` (with its data set) on ``ctx`` and read its response, answering the
    N-EVENT-REPORTs that arrive meanwhile (:func:`serve_event_reports`; appended to
    ``received`` if given)."""
    if data_set is not None:
        rq.data_set = encode_attributes(data_set, ctx.supported_ts)
    asce.invoke(rq, ctx.id)
    rsp = receive_response(asce, ctx, response_class, rq.message_id,
                           serve_event_reports(asce, received))
    attributes = decode_data_set(rsp.data_set, ctx.supported_ts) if rsp.data_set else None
    instance = getattr(rsp, 'affected_sop_instance_uid', None)
    return NResponse(response_status(rsp), attributes, UID(instance) if instance else None, rsp)


def receive_event_report(asce: Association, timeout: float | None = None) -> EventReport:
    """Wait for the next message of ``asce``, which must be an N-EVENT-REPORT-RQ, answer it
    (:func:`answer_event_report`) and return it.

    Waits ``timeout`` seconds (default ``dcm_timeout``), then raises
    :class:`~pynetdicom2.exceptions.DCMTimeoutError`;
    :class:`~pynetdicom2.exceptions.DIMSEProcessingError` for any other message.
    """
    msg, pc_id = asce.receive(timeout)
    with asce.received_files.handling(msg.data_set):
        ctx = asce.accepted_contexts.get(pc_id)
        if not isinstance(msg, dm.NEventReportRQMessage) or ctx is None:
            raise DIMSEProcessingError(
                f'expected an N-EVENT-REPORT-RQ, got {type(msg).__name__} on context {pc_id}')
        return answer_event_report(asce, ctx, msg)


def send_event_report(asce: Association, ctx: PContextDef, sop_class: str,
                      sop_instance_uid: str, event_type_id: int,
                      information: Dataset | None = None,
                      msg_id: int | None = None) -> statuses.Status:
    """Send an N-EVENT-REPORT (PS3.7 10.1.1) naming ``sop_class`` on ``ctx`` and return the
    status the peer answered. Only its response is read: requests the peer sends meanwhile
    stay for whoever serves the association."""
    rq = n_request(dm.NEventReportRQMessage, sop_class,
                   asce.new_message_id() if msg_id is None else msg_id, sop_instance_uid)
    rq.event_type_id = event_type_id
    if information is not None:
        rq.data_set = encode_attributes(information, ctx.supported_ts)
    asce.invoke(rq, ctx.id)
    return response_status(receive_response(asce, ctx, dm.NEventReportRSPMessage, rq.message_id))


class EventReportReceiver(MessageDispatcherSCP):
    """Answers N-EVENT-REPORTs of its SOP classes through the AE's ``on_n_event_report``
    hook (:func:`answer_event_report`), on the associations a reporting SCP opens to a
    listening SCU: ``ae.add_scp(EventReportReceiver([uids.INVENTORY_CREATION_SOP_CLASS]))``.
    Any other request is answered 0122H.
    """

    sop_classes: ClassVar[list[str]] = []

    def __init__(self, sop_classes: Iterable[str]) -> None:
        self.sop_classes = [UID(uid) for uid in sop_classes]  # type: ignore[misc]

    @staticmethod
    def n_event_report(asce: Association, ctx: PContextDef,
                       msg: dm.NEventReportRQMessage) -> None:
        answer_event_report(asce, ctx, msg)


# --- the SCP's side -------------------------------------------------------------------------------


class PartialNServiceSCP(NServiceSCP):
    """An :class:`~pynetdicom2.services.nservices.NServiceSCP` for a SOP class that has only
    some of the DIMSE-N operations: each ``on_n_*`` method answers 0211H (unrecognised
    operation) unless a subclass defines it, and the AE's hooks are asked only by the
    methods it defines."""

    def on_n_get(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 attribute_identifiers: list[BaseTag]) -> NReply:
        return UNRECOGNIZED_OPERATION, None

    def on_n_set(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 modification_list: Dataset) -> NReply:
        return UNRECOGNIZED_OPERATION, None

    def on_n_action(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    action_type_id: int, action_information: Dataset | None) -> NReply:
        return UNRECOGNIZED_OPERATION, None

    def on_n_create(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    attribute_list: Dataset | None) -> NReply:
        return UNRECOGNIZED_OPERATION, None

    def on_n_delete(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID) -> NReply:
        return UNRECOGNIZED_OPERATION, None

    def on_n_event_report(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                          event_type_id: int, event_information: Dataset | None) -> NReply:
        return UNRECOGNIZED_OPERATION, None


def consult(answer: NReply | statuses.Status | int,
            command: type[dm.DIMSEResponseMessage]) -> tuple[statuses.Status | None,
                                                                Dataset | None]:
    """An AE hook's answer as ``(status, data set)``; ``(None, None)`` when the hook did not
    handle the request (0211H, what it answers unless overridden)."""
    if isinstance(answer, (statuses.Status, int)):
        answer = (answer, None)
    status = as_status(answer[0], command)
    if int(status) == int(UNRECOGNIZED_OPERATION):
        return None, None
    return status, answer[1]


def select_attributes(ds: Dataset, tags: Iterable[BaseTag | int]) -> Dataset:
    """The N-GET answer out of ``ds`` (PS3.7 10.1.2.1.3): the attributes ``tags`` names that
    ``ds`` has (a sequence whole), or all of them when ``tags`` is empty."""
    wanted = [Tag(tag) for tag in tags]
    selected = Dataset()
    for element in ds:
        if not wanted or element.tag in wanted:
            selected[element.tag] = element
    return selected
