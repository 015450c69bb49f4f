"""Storage Commitment Push Model (PS3.4 Annex J), both roles.

The requester asks with :func:`storage_commitment_scu` (N-ACTION); the performer's
:class:`StorageCommitment` answers it, then reports the result with an N-EVENT-REPORT on an
association of its own, which the requester's :class:`StorageCommitment` answers. Built on
the generic DIMSE-N services of :mod:`pynetdicom2.services.nservices`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import DIMSEProcessingError, EventHandlingError, NetDICOMError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import (
    MessageDispatcherSCP,
    ProposalView,
    logger,
    refusal_status,
    response_for,
    sop_classes,
)
from pynetdicom2.services.nservices import decode_data_set, n_event_report_scu, n_exchange
from pynetdicom2.userdataitems import ScpScuRoleSelectionSubItem

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

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
    return n_exchange(asce, ctx, rq, dm.NActionRSPMessage, information).status


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
    # Imported when needed: the services load without the association machinery.
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
    view = ProposalView(ae, {1: context}, {sop_class: _commitment_report_scu})
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
        rsp = response_for(dm.NActionRSPMessage, ctx, msg)
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
            information = decode_data_set(msg.data_set, ctx.supported_ts)
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
            return refusal_status(exc, statuses.PROCESSING_FAILURE, dm.NActionRSPMessage)
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
        rsp = response_for(dm.NEventReportRSPMessage, ctx, msg)
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
            information = decode_data_set(msg.data_set, ctx.supported_ts)
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
            return refusal_status(exc, statuses.PROCESSING_FAILURE, dm.NEventReportRSPMessage)
        return statuses.SUCCESS
