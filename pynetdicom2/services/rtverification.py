"""RT Machine Verification (PS3.4 Annex DD): the SCU and an in-memory SCP.

Before a beam is delivered, the treatment delivery system (the SCU) has a Machine Parameter
Verifier (the SCP) check its settings against the plan (PS3.4 DD.2.1), with the RT
Conventional or the RT Ion Machine Verification SOP class: N-CREATE starts a verification of
a plan (its Referenced RT Plan Sequence, PS3.4 Table DD.3.2.1-1), N-SET gives the beam's
parameters, N-ACTION Request Beam Verification (action type 1) starts the check, whose result
the SCP reports with N-EVENT-REPORT (Pending, 1; Done, 2, with Treatment Verification Status
(3008,002C): VERIFIED, VERIFIED_OVR or NOT_VERIFIED; PS3.4 DD.3.2.5), N-GET reads it and its
Failed and Overridden Parameters, and N-DELETE ends the session (PS3.4 DD.3.2.4).

* Requester: :data:`rt_verification_scu` (:class:`RTMachineVerificationSCU`), for both
  classes, runs ``'create'``, ``'set'``, ``'verify'`` (N-ACTION, then the Done report),
  ``'get'``, ``'delete'`` and ``'receive_event'`` (also :func:`rt_verification_create` ...).
* Acceptor: :class:`RTMachineVerification` keeps the verifications in memory; the comparison
  with the plan is the AE's ``on_n_action`` hook, which answers the result.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.dsutils import deep_copy
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import logger
from pynetdicom2.services.nservices import NReply, NResponse, NServiceSCU
from pynetdicom2.services.nsupport import (
    DUPLICATE_INSTANCE,
    INVALID_ATTRIBUTE_VALUE,
    MISSING_ATTRIBUTE,
    MISSING_ATTRIBUTE_VALUE,
    NO_SUCH_ACTION,
    NO_SUCH_INSTANCE,
    EventReport,
    PartialNServiceSCP,
    consult,
    exchange,
    n_request,
    receive_event_report,
    refusal,
    select_attributes,
    send_event_report,
)

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

RT_CONVENTIONAL = uids.RT_CONVENTIONAL_MACHINE_VERIFICATION_SOP_CLASS
RT_ION = uids.RT_ION_MACHINE_VERIFICATION_SOP_CLASS
#: The two RT Machine Verification SOP classes (PS3.4 DD.3).
RT_VERIFICATION_SOP_CLASSES = (RT_CONVENTIONAL, RT_ION)
#: PS3.4 Table DD.3.2.3-1: the one Action Type ID, Request Beam Verification.
REQUEST_BEAM_VERIFICATION = 1


class VerificationEvent(enum.IntEnum):
    """The Event Type IDs of the RT Machine Verification classes (PS3.4 Table DD.3.2.5-1)."""

    PENDING = 1
    DONE = 2


class TreatmentVerificationStatus:
    """The values of Treatment Verification Status (3008,002C) (PS3.4 DD.3.2.2.4)."""

    VERIFIED = 'VERIFIED'
    VERIFIED_OVR = 'VERIFIED_OVR'
    NOT_VERIFIED = 'NOT_VERIFIED'
    ALL = frozenset({VERIFIED, VERIFIED_OVR, NOT_VERIFIED})


#: The statuses of PS3.4 DD.3.2.1.2, DD.3.2.2.3 and DD.3.2.3.2, with their meanings.
RT_VERIFICATION_STATUS_MEANINGS = {
    0xC112: 'Applicable Machine Verification instance not found',
    0xC221: 'The Referenced Fraction Group Number does not exist in the referenced plan',
    0xC222: 'No beams exist within the referenced fraction group',
    0xC223: 'SCU already verifying and cannot currently process this request',
    0xC224: 'Referenced Beam Number not found within the referenced Fraction Group',
    0xC225: 'Referenced device or accessory not supported',
    0xC226: 'Referenced device or accessory not found within the referenced beam',
    0xC227: 'No such object instance: Referenced RT Plan not found',
}
for _code, _meaning in RT_VERIFICATION_STATUS_MEANINGS.items():
    for _command in (dm.NCreateRSPMessage, dm.NSetRSPMessage, dm.NGetRSPMessage,
                     dm.NActionRSPMessage):
        statuses.add_status(_code, 'Failure', _meaning, command=_command)

#: PS3.4 DD.3.2.2.3, DD.3.2.3.2: the Machine Verification instance was not found.
VERIFICATION_NOT_FOUND = statuses.Status(0xC112)

#: Set by the SCP, never by the SCU (PS3.4 Table DD.3.2.1-1: not allowed in N-CREATE, N-SET).
RESULT_KEYWORDS = ('TreatmentVerificationStatus', 'FailedAttributesSequence',
                   'OverriddenAttributesSequence')
#: Given by N-CREATE only (PS3.4 Table DD.3.2.1-1: not allowed in N-SET).
CREATE_ONLY_KEYWORDS = ('ReferencedRTPlanSequence', 'ReferencedFractionGroupNumber',
                        'PatientID')
#: The machine verification sequence of each class, created empty (PS3.4 DD.3.2.1.3.1).
CLASS_SEQUENCES = {RT_CONVENTIONAL: 'ConventionalMachineVerificationSequence',
                   RT_ION: 'IonMachineVerificationSequence'}


# --- the requester -------------------------------------------------------------------------------


class VerificationResult(NamedTuple):
    """What :func:`rt_verification_verify` returns: the N-ACTION response, and the Done
    report (its ``information.TreatmentVerificationStatus``), None when the action
    failed."""

    response: NResponse
    report: EventReport | None


def rt_verification_create(asce: Association, ctx: PContextDef, plan_sop_class: str,
                           plan_sop_instance: str, patient_id: str, msg_id: int,
                           fraction_group: int | None = None,
                           sop_instance_uid: str | None = None) -> NResponse:
    """Start verifying a plan (N-CREATE, PS3.4 DD.3.2.1.3.1): the RT Plan ``(plan_sop_class,
    plan_sop_instance)`` of patient ``patient_id``, fraction group ``fraction_group`` (required
    when the plan has several); the machine verification sequences are created empty. The
    instance UID is the SCP's without ``sop_instance_uid`` (``NResponse.sop_instance_uid``)."""
    plan = Dataset()
    plan.ReferencedSOPClassUID = plan_sop_class
    plan.ReferencedSOPInstanceUID = plan_sop_instance
    ds = Dataset()
    ds.ReferencedRTPlanSequence = [plan]
    if fraction_group is not None:
        ds.ReferencedFractionGroupNumber = fraction_group
    ds.PatientID = patient_id
    ds.GeneralMachineVerificationSequence = []
    setattr(ds, CLASS_SEQUENCES.get(UID(ctx.sop_class), CLASS_SEQUENCES[RT_CONVENTIONAL]), [])
    rq = n_request(dm.NCreateRQMessage, ctx.sop_class, msg_id, sop_instance_uid)
    rsp = exchange(asce, ctx, rq, dm.NCreateRSPMessage, ds)
    if rsp.sop_instance_uid is None and sop_instance_uid:
        return rsp._replace(sop_instance_uid=UID(sop_instance_uid))
    return rsp


def rt_verification_set(asce: Association, ctx: PContextDef, sop_instance_uid: str,
                        parameters: Dataset, msg_id: int) -> NResponse:
    """Give the beam's parameters to verify (N-SET, PS3.4 DD.3.2.1.3.2): the General and the
    Conventional or Ion Machine Verification Sequences, each with one item, whole."""
    rq = n_request(dm.NSetRQMessage, ctx.sop_class, msg_id, sop_instance_uid)
    return exchange(asce, ctx, rq, dm.NSetRSPMessage, parameters)


def rt_verification_receive_event(asce: Association, ctx: PContextDef,
                                  timeout: float | None = None) -> EventReport:
    """Wait for the next N-EVENT-REPORT on this association, answer it through the AE's
    ``on_n_event_report`` hook and return it."""
    return receive_event_report(asce, timeout)


def rt_verification_verify(asce: Association, ctx: PContextDef, sop_instance_uid: str,
                           msg_id: int, timeout: float | None = None) -> VerificationResult:
    """Request Beam Verification (N-ACTION type 1, PS3.4 DD.3.2.3.3), then wait (``timeout``
    seconds each, default ``dcm_timeout``) for the Done report, answering Pending ones
    (PS3.4 DD.3.2.5.3); reports the SCP sends before its response count too."""
    received: list[EventReport] = []
    rq = n_request(dm.NActionRQMessage, ctx.sop_class, msg_id, sop_instance_uid)
    rq.action_type_id = REQUEST_BEAM_VERIFICATION
    rsp = exchange(asce, ctx, rq, dm.NActionRSPMessage, None, received)
    if not (rsp.status.is_success or rsp.status.is_warning):
        return VerificationResult(rsp, None)
    while True:
        for report in received:
            if (report.event_type_id == VerificationEvent.DONE
                    and report.sop_instance_uid == sop_instance_uid):
                return VerificationResult(rsp, report)
        received = [receive_event_report(asce, timeout)]


def rt_verification_get(asce: Association, ctx: PContextDef, sop_instance_uid: str,
                        msg_id: int, attributes: Iterable[int | str] | None = None
                        ) -> NResponse:
    """Read the verification status and results (N-GET, PS3.4 DD.3.2.2.4): the attributes
    named (tags or keywords), all for none."""
    rq = n_request(dm.NGetRQMessage, ctx.sop_class, msg_id, sop_instance_uid)
    if attributes:
        rq.attribute_identifier_list = [Tag(tag) for tag in attributes]
    return exchange(asce, ctx, rq, dm.NGetRSPMessage, None)


def rt_verification_delete(asce: Association, ctx: PContextDef, sop_instance_uid: str,
                           msg_id: int) -> NResponse:
    """End the verification session (N-DELETE, PS3.4 DD.3.2.4.3)."""
    rq = n_request(dm.NDeleteRQMessage, ctx.sop_class, msg_id, sop_instance_uid)
    return exchange(asce, ctx, rq, dm.NDeleteRSPMessage, None)


class RTMachineVerificationSCU(NServiceSCU):
    """The RT Machine Verification SCU for both classes, an operation chosen by name (the
    functions of this module without ``rt_verification_``, ``asce`` and ``ctx``).

    Usage (``mpv`` the remote AE of a Machine Parameter Verifier; ``beam`` the N-SET
    parameters)::

        client.add_scu(sc.rt_verification_scu)
        with client.request_association(mpv) as assoc:
            mv = assoc.get_scu(uids.RT_CONVENTIONAL_MACHINE_VERIFICATION_SOP_CLASS)
            uid = mv('create', RT_PLAN, plan_uid, 'PAT1', 1).sop_instance_uid
            mv('set', uid, beam, 2)
            result = mv('verify', uid, 3)
            result.report.information.TreatmentVerificationStatus    # 'VERIFIED'
            mv('delete', uid, 4)
    """

    functions: ClassVar[dict[str, Callable[..., Any]]] = {
        'create': rt_verification_create,
        'set': rt_verification_set,
        'verify': rt_verification_verify,
        'get': rt_verification_get,
        'delete': rt_verification_delete,
        'receive_event': rt_verification_receive_event,
    }


#: The RT Machine Verification SCU: ``client.add_scu(sc.rt_verification_scu)``.
rt_verification_scu = RTMachineVerificationSCU(RT_VERIFICATION_SOP_CLASSES)


# --- the acceptor ---------------------------------------------------------------------------------


def creation_problem(attributes: Dataset | None) -> tuple[statuses.Status, str] | None:
    """What an N-CREATE lacks of PS3.4 Table DD.3.2.1-1, as the status to refuse it with
    (0120H, 0121H, 0106H), or None."""
    ds = attributes if attributes is not None else Dataset()
    for keyword in ('ReferencedRTPlanSequence', 'PatientID'):
        if keyword not in ds:
            return MISSING_ATTRIBUTE, f'no {keyword}'
        if not ds[keyword].value:
            return MISSING_ATTRIBUTE_VALUE, f'an empty {keyword}'
    if len(ds.ReferencedRTPlanSequence) != 1:
        return INVALID_ATTRIBUTE_VALUE, 'a Referenced RT Plan Sequence of more than one item'
    plan = ds.ReferencedRTPlanSequence[0]
    if not plan.get('ReferencedSOPClassUID') or not plan.get('ReferencedSOPInstanceUID'):
        return MISSING_ATTRIBUTE_VALUE, 'a plan reference without its UIDs'
    for keyword in RESULT_KEYWORDS:
        if keyword in ds:
            return INVALID_ATTRIBUTE_VALUE, f'{keyword}, which the SCP sets'
    return None


class RTMachineVerification(PartialNServiceSCP):
    """The RT Machine Verification SCP (PS3.4 DD.3), both classes, verifications in memory:
    ``ae.add_scp(sc.RTMachineVerification())``.

    * N-CREATE checks the plan reference (:func:`creation_problem`) and keeps the instance
      (0111H for a UID in use); N-SET replaces the parameters it gives (not those of
      N-CREATE, nor the results: 0106H) and clears an earlier result; N-DELETE ends it.
      Unknown instances: 0112H (C112H for N-GET and N-ACTION).
    * N-ACTION Request Beam Verification (0123H for another type) asks the AE's
      ``on_n_action(context, sop_instance_uid, 1, None)`` hook, the verifier, which compares
      the instance (:meth:`instance`) with its plan and answers Success with a data set
      holding the Treatment Verification Status and the Failed and Overridden Parameters
      Sequences (PS3.4 DD.3.2.2.4), or a failure. Without an answer (not overridden, or no
      data set) the beam is NOT_VERIFIED. After the response, the Done report (event type
      2) goes to the SCU on the same association.
    * N-CREATE, N-SET, N-GET and N-DELETE are offered to the AE's hook of the same name once
      checked: a failure it answers (C227H, C221H ... of PS3.4 DD.3.2.1.2) is the answer
      and nothing changes; an N-GET data set it answers is sent instead.

    >>> from pynetdicom2.applicationentity import AE, ClientAE
    >>> class MPV(AE):
    ...     def on_n_action(self, context, sop_instance_uid, action_type_id, information):
    ...         result = Dataset(); result.TreatmentVerificationStatus = 'VERIFIED'
    ...         return statuses.SUCCESS, result
    >>> client = ClientAE('TDS').add_scu(rt_verification_scu)
    >>> with MPV('MPV', 0, host='127.0.0.1').add_scp(RTMachineVerification()) as mpv:
    ...     remote = {'aet': 'MPV', 'address': '127.0.0.1', 'port': mpv.local_ae.port}
    ...     with client.request_association(remote) as assoc:
    ...         mv = assoc.get_scu(RT_CONVENTIONAL)
    ...         uid = mv('create', uids.RT_PLAN_STORAGE, '1.2.3', 'PAT1', 1).sop_instance_uid
    ...         result = mv('verify', uid, 2)
    ...         print(mv('delete', uid, 3).status)
    (0x0) Success: -
    >>> result.report.event_type_id, result.report.information.TreatmentVerificationStatus
    (2, 'VERIFIED')
    """

    sop_classes: ClassVar[list[str]] = list(RT_VERIFICATION_SOP_CLASSES)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._instances: dict[UID, tuple[UID, Dataset]] = {}
        self._pending = threading.local()

    def instance(self, sop_instance_uid: str) -> Dataset | None:
        """A copy of a verification's attributes (what N-CREATE and N-SET gave, and the
        result), or None."""
        with self._lock:
            found = self._instances.get(UID(sop_instance_uid))
            return deep_copy(found[1]) if found is not None else None

    def _find(self, ctx: PContextDef, sop_instance_uid: UID,
              missing: statuses.Status) -> Dataset:
        with self._lock:
            found = self._instances.get(sop_instance_uid)
        if found is None or found[0] != ctx.sop_class:
            raise refusal(missing, f'no {ctx.sop_class} instance {sop_instance_uid}')
        return found[1]

    def on_n_create(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    attribute_list: Dataset | None) -> NReply:
        problem = creation_problem(attribute_list)
        if problem is not None:
            raise refusal(*problem)
        assert attribute_list is not None
        status, _ = consult(asce.ae.on_n_create(ctx, sop_instance_uid, attribute_list),
                            dm.NCreateRSPMessage)
        if status is not None and status.is_failure:
            return status, None
        stored = deep_copy(attribute_list)
        for keyword in ('GeneralMachineVerificationSequence',
                        CLASS_SEQUENCES.get(UID(ctx.sop_class), '')):
            if keyword and keyword not in stored:
                setattr(stored, keyword, [])
        with self._lock:
            if sop_instance_uid in self._instances:
                raise refusal(DUPLICATE_INSTANCE, f'{sop_instance_uid} exists already')
            self._instances[sop_instance_uid] = (UID(ctx.sop_class), stored)
        return (statuses.SUCCESS if status is None else status), None

    def on_n_set(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 modification_list: Dataset) -> NReply:
        self._find(ctx, sop_instance_uid, NO_SUCH_INSTANCE)
        for keyword in (*CREATE_ONLY_KEYWORDS, *RESULT_KEYWORDS):
            if keyword in modification_list:
                raise refusal(INVALID_ATTRIBUTE_VALUE, f'{keyword} may not be set (PS3.4 '
                              'Table DD.3.2.1-1)')
        status, _ = consult(asce.ae.on_n_set(ctx, sop_instance_uid, modification_list),
                            dm.NSetRSPMessage)
        if status is not None and status.is_failure:
            return status, None
        with self._lock:
            found = self._instances.get(sop_instance_uid)
            if found is None:
                raise refusal(NO_SUCH_INSTANCE, f'{sop_instance_uid} was deleted meanwhile')
            for element in modification_list:
                found[1][element.tag] = element
            for keyword in RESULT_KEYWORDS:  # new parameters: the last result no longer holds
                found[1].pop(keyword, None)
        return (statuses.SUCCESS if status is None else status), None

    def on_n_get(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 attribute_identifiers: list[BaseTag]) -> NReply:
        stored = self._find(ctx, sop_instance_uid, VERIFICATION_NOT_FOUND)
        status, reply = consult(asce.ae.on_n_get(ctx, sop_instance_uid, attribute_identifiers),
                                dm.NGetRSPMessage)
        if status is not None and (status.is_failure or reply is not None):
            return status, reply
        with self._lock:
            answer = select_attributes(deep_copy(stored), attribute_identifiers)
        return (statuses.SUCCESS if status is None else status), answer

    def on_n_delete(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID) -> NReply:
        self._find(ctx, sop_instance_uid, NO_SUCH_INSTANCE)
        status, _ = consult(asce.ae.on_n_delete(ctx, sop_instance_uid), dm.NDeleteRSPMessage)
        if status is not None and status.is_failure:
            return status, None
        with self._lock:
            self._instances.pop(sop_instance_uid, None)
        return (statuses.SUCCESS if status is None else status), None

    def on_n_action(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    action_type_id: int, action_information: Dataset | None) -> NReply:
        self._find(ctx, sop_instance_uid, VERIFICATION_NOT_FOUND)
        if action_type_id != REQUEST_BEAM_VERIFICATION:
            raise refusal(NO_SUCH_ACTION, f'action type {action_type_id} (PS3.4 DD.3.2.3.1)')
        status, reply = consult(
            asce.ae.on_n_action(ctx, sop_instance_uid, action_type_id, action_information),
            dm.NActionRSPMessage)
        if status is not None and status.is_failure:
            return status, None
        result = Dataset()
        verdict = reply.get('TreatmentVerificationStatus') if reply is not None else None
        result.TreatmentVerificationStatus = verdict or TreatmentVerificationStatus.NOT_VERIFIED
        for keyword in ('FailedAttributesSequence', 'OverriddenAttributesSequence'):
            items = reply.get(keyword) if reply is not None else None
            setattr(result, keyword, deep_copy(list(items)) if items else [])
        with self._lock:
            found = self._instances.get(sop_instance_uid)
            if found is not None:
                found[1].update(result)
        done = Dataset()
        done.TreatmentVerificationStatus = result.TreatmentVerificationStatus
        notes = getattr(self._pending, 'notes', None)
        if notes is not None:
            notes.append((UID(ctx.sop_class), sop_instance_uid, done))
        # PS3.4 DD.3.2.3: the N-ACTION has no action reply; the result goes in the report.
        return (statuses.SUCCESS if status is None else status), None

    def n_action(self, asce: Association, ctx: PContextDef, msg: dm.NActionRQMessage) -> None:
        """Answer the N-ACTION, then send the Done report it calls for (PS3.4 DD.3.2.5) on
        the same association."""
        self._pending.notes = []
        try:
            super().n_action(asce, ctx, msg)
        finally:
            notes, self._pending.notes = self._pending.notes, None
        for sop_class, instance, information in notes:
            try:
                answered = send_event_report(asce, ctx, sop_class, instance,
                                             VerificationEvent.DONE, information)
            except (NetDICOMError, OSError) as exc:
                logger.warning('verification result of %s not reported: %s', instance, exc)
                continue
            if not answered.is_success:
                logger.warning('%s answered the verification result of %s with %s',
                               getattr(asce, 'remote_ae', 'the SCU'), instance, answered)

