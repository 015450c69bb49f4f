"""Storage Management (PS3.4 Annex KK): the Inventory Creation SOP class, SCU and SCP.

An SCU asks a repository to produce an Inventory of the studies it manages (PS3.4 KK.2): with
N-ACTION on the well-known Storage Management SOP instance it initiates the production
(action type 11), asks for its status (12), cancels (13), pauses (14) or resumes it (15), each
request carrying the Transaction UID (0008,1195) that identifies it (PS3.4 Table KK.2-1).
The production runs asynchronously: the SCP reports its progress and its end with
N-EVENT-REPORTs carrying the same Transaction UID (PS3.4 Table KK.2-2): Inventory Status
(12), Inventory Terminated with Instances (11), Inventory Terminated without Instances (13).

* Requester: :data:`inventory_creation_scu` (:class:`InventoryCreationSCU`) runs
  ``'initiate'``, ``'request_status'``, ``'cancel'``, ``'pause'``, ``'resume'`` and
  ``'receive_event'`` (each also a function here: :func:`inventory_initiate` ...); the
  reports that reach it are answered through the AE's ``on_n_event_report`` hook
  (:func:`~pynetdicom2.services.nsupport.answer_event_report`).
* Acceptor: :class:`InventoryCreation` checks each request (PS3.4 KK.2.2.1) and hands it to
  the AE's ``on_n_action`` hook, the one that produces the inventory; its
  :meth:`~InventoryCreation.report` sends a report on the association that initiated the
  transaction, :func:`inventory_event_report` on any association.
"""

from __future__ import annotations

import enum
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import logger
from pynetdicom2.services.nservices import NReply, NResponse, NServiceSCU
from pynetdicom2.services.nsupport import (
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
    send_event_report,
)

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

INVENTORY_CREATION = uids.INVENTORY_CREATION_SOP_CLASS
STORAGE_MANAGEMENT_INSTANCE = uids.STORAGE_MANAGEMENT_SOP_INSTANCE


class InventoryAction(enum.IntEnum):
    """The Action Type IDs of the Inventory Creation SOP class (PS3.4 Table KK.2-1)."""

    INITIATE = 11
    REQUEST_STATUS = 12
    CANCEL = 13
    PAUSE = 14
    RESUME = 15


class InventoryEvent(enum.IntEnum):
    """The Event Type IDs of the Inventory Creation SOP class (PS3.4 Table KK.2-2)."""

    TERMINATED_WITH_INSTANCES = 11
    STATUS = 12
    TERMINATED_WITHOUT_INSTANCES = 13


#: PS3.4 KK.2.2: some Key Attributes of the Scope of Inventory are not supported for matching.
KEYS_NOT_SUPPORTED = statuses.Status(0xB010, dm.NActionRSPMessage)
statuses.add_status(0xB010, 'Warning', 'Attribute list error: one or more Key Attributes are '
                    'not supported for matching', command=dm.NActionRSPMessage)


# --- the requester -------------------------------------------------------------------------------


def _action(asce: Association, ctx: PContextDef, action: InventoryAction, transaction_uid: str,
            msg_id: int, information: Dataset | None = None) -> NResponse:
    info = information if information is not None else Dataset()
    info.TransactionUID = transaction_uid
    rq = n_request(dm.NActionRQMessage, INVENTORY_CREATION, msg_id, STORAGE_MANAGEMENT_INSTANCE)
    rq.action_type_id = int(action)
    return exchange(asce, ctx, rq, dm.NActionRSPMessage, info)


def inventory_initiate(asce: Association, ctx: PContextDef, transaction_uid: str, msg_id: int,
                       level: str = 'STUDY', scope: Iterable[Dataset] = (),
                       purpose: str | None = None,
                       status_interval: int | None = None) -> NResponse:
    """Initiate the production of an Inventory (N-ACTION type 11, PS3.4 KK.2.2.2) with
    Inventory Level ``level`` (0008,0403) of the studies matching ``scope`` (the items of the
    Scope of Inventory Sequence; none for every study), reports every ``status_interval``
    seconds if given."""
    info = Dataset()
    info.InventoryLevel = level
    info.ScopeOfInventorySequence = list(scope)
    if purpose is not None:
        info.InventoryPurpose = purpose
    if status_interval is not None:
        info.RequestedStatusInterval = status_interval
    return _action(asce, ctx, InventoryAction.INITIATE, transaction_uid, msg_id, info)


def inventory_request_status(asce: Association, ctx: PContextDef, transaction_uid: str,
                             msg_id: int, status_interval: int | None = None) -> NResponse:
    """Ask for an Inventory Status report (N-ACTION type 12, PS3.4 KK.2.2.2), changing the
    report interval to ``status_interval`` if given."""
    info = Dataset()
    if status_interval is not None:
        info.RequestedStatusInterval = status_interval
    return _action(asce, ctx, InventoryAction.REQUEST_STATUS, transaction_uid, msg_id, info)


def inventory_cancel(asce: Association, ctx: PContextDef, transaction_uid: str, msg_id: int,
                     retain_instances: bool = False) -> NResponse:
    """Cancel the production (N-ACTION type 13, PS3.4 KK.2.2.2); ``retain_instances`` keeps
    the Inventory instances produced so far (Retain Instances (0008,0415))."""
    info = Dataset()
    info.RetainInstances = 'YES' if retain_instances else 'NO'
    return _action(asce, ctx, InventoryAction.CANCEL, transaction_uid, msg_id, info)


def inventory_pause(asce: Association, ctx: PContextDef, transaction_uid: str, msg_id: int
                    ) -> NResponse:
    """Pause the production (N-ACTION type 14, PS3.4 KK.2.2.2)."""
    return _action(asce, ctx, InventoryAction.PAUSE, transaction_uid, msg_id)


def inventory_resume(asce: Association, ctx: PContextDef, transaction_uid: str, msg_id: int
                     ) -> NResponse:
    """Resume a paused production (N-ACTION type 15, PS3.4 KK.2.2.2)."""
    return _action(asce, ctx, InventoryAction.RESUME, transaction_uid, msg_id)


def inventory_receive_event(asce: Association, ctx: PContextDef, timeout: float | None = None
                            ) -> EventReport:
    """Wait for the next N-EVENT-REPORT on this association (PS3.4 KK.2.3), answer it
    through the AE's ``on_n_event_report`` hook and return it."""
    return receive_event_report(asce, timeout)


class InventoryCreationSCU(NServiceSCU):
    """The Inventory Creation SCU, an operation chosen by name (the functions of this module
    without ``inventory_``, ``asce`` and ``ctx``).

    Usage (``archive`` the remote AE of a repository)::

        client.add_scu(sc.inventory_creation_scu)
        with client.request_association(archive) as assoc:
            inventory = assoc.get_scu(uids.INVENTORY_CREATION_SOP_CLASS)
            tuid = generate_uid()
            inventory('initiate', tuid, 1, 'SERIES').status.is_success
            report = inventory('receive_event', 60)     # Inventory Terminated with Instances
            report.information.ReferencedSOPInstanceUID
    """

    functions: ClassVar[dict[str, Callable[..., Any]]] = {
        'initiate': inventory_initiate,
        'request_status': inventory_request_status,
        'cancel': inventory_cancel,
        'pause': inventory_pause,
        'resume': inventory_resume,
        'receive_event': inventory_receive_event,
    }


#: The Inventory Creation SCU: ``client.add_scu(sc.inventory_creation_scu)``.
inventory_creation_scu = InventoryCreationSCU([INVENTORY_CREATION])


# --- the acceptor ---------------------------------------------------------------------------------


def inventory_event_report(asce: Association, ctx: PContextDef, event_type: int,
                           transaction_uid: str, information: Dataset | None = None,
                           msg_id: int | None = None) -> statuses.Status:
    """Send an Inventory Creation N-EVENT-REPORT (PS3.4 KK.2.3.2) on the Storage Management
    instance, with the Transaction UID of the request it answers, and return what the SCU
    answered."""
    info = information if information is not None else Dataset()
    info.TransactionUID = transaction_uid
    return send_event_report(asce, ctx, INVENTORY_CREATION, STORAGE_MANAGEMENT_INSTANCE,
                             int(event_type), info, msg_id)


def action_problem(action_type_id: int, information: Dataset | None
                   ) -> tuple[statuses.Status, str] | None:
    """What a request lacks of PS3.4 Table KK.2-1, as the status to refuse it with (0123H
    an unknown action, 0120H a missing attribute, 0121H an empty one), or None."""
    if action_type_id not in set(InventoryAction):
        return NO_SUCH_ACTION, f'action type {action_type_id}'
    info = information if information is not None else Dataset()
    required = ['TransactionUID']
    if action_type_id == InventoryAction.INITIATE:
        required.append('InventoryLevel')
        if 'ScopeOfInventorySequence' not in info:  # type 2: present, maybe empty
            return MISSING_ATTRIBUTE, 'no Scope of Inventory Sequence'
    elif action_type_id == InventoryAction.CANCEL:
        required.append('RetainInstances')
    for keyword in required:
        if keyword not in info:
            return MISSING_ATTRIBUTE, f'no {keyword}'
        if not info[keyword].value:
            return MISSING_ATTRIBUTE_VALUE, f'an empty {keyword}'
    return None


class InventoryCreation(PartialNServiceSCP):
    """The Inventory Creation SCP (PS3.4 KK.2): ``ae.add_scp(sc.InventoryCreation())``.

    Each N-ACTION must name the Storage Management instance (else 0112H) and carry what
    :func:`action_problem` checks; then it goes to ``ae.on_n_action(context,
    sop_instance_uid, action_type_id, information)``, which starts (or asks about, cancels,
    pauses, resumes) the production and returns its status: an AE that does not override it
    answers 0211H. An accepted transaction is remembered with its association, for
    :meth:`report`. The class has no other operation (0211H).

    >>> from pynetdicom2.applicationentity import AE, ClientAE
    >>> from pydicom.uid import generate_uid
    >>> class Archive(AE):
    ...     def on_n_action(self, context, sop_instance_uid, action_type_id, information):
    ...         print('action', action_type_id, information.InventoryLevel)
    ...         return statuses.SUCCESS
    >>> scp = InventoryCreation()
    >>> client = ClientAE('AUDITOR').add_scu(inventory_creation_scu)
    >>> with Archive('ARCHIVE', 0, host='127.0.0.1').add_scp(scp) as archive:
    ...     remote = {'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': archive.local_ae.port}
    ...     with client.request_association(remote) as assoc:
    ...         inventory = assoc.get_scu(INVENTORY_CREATION)
    ...         tuid = generate_uid()
    ...         print(inventory('initiate', tuid, 1, 'STUDY').status)
    action 11 STUDY
    (0x0) Success: -

    The production goes on after the response; its reports follow, from another thread
    (``inventory('receive_event', 60)`` waits for them on the requester's side)::

        failed = Dataset(); failed.TransactionStatus = 'FAILURE'
        scp.report(tuid, InventoryEvent.TERMINATED_WITHOUT_INSTANCES, failed)
    """

    sop_classes: ClassVar[list[str]] = [INVENTORY_CREATION]

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        # Transaction UID -> the association (and context) it was initiated on.
        self._transactions: dict[str, tuple[weakref.ref[Any], PContextDef]] = {}

    def on_n_action(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    action_type_id: int, action_information: Dataset | None) -> NReply:
        if sop_instance_uid != STORAGE_MANAGEMENT_INSTANCE:
            raise refusal(NO_SUCH_INSTANCE, f'{sop_instance_uid} is not the Storage Management '
                          'instance (PS3.4 KK.1.3.2)')
        problem = action_problem(action_type_id, action_information)
        if problem is not None:
            status, why = problem
            logger.warning('inventory request refused: %s', why)
            raise refusal(status, why)
        assert action_information is not None  # checked: it carries the Transaction UID
        answer = asce.ae.on_n_action(ctx, sop_instance_uid, action_type_id, action_information)
        answered, _ = consult(answer, dm.NActionRSPMessage)
        if answered is not None and not answered.is_failure:
            with self._lock:
                for known in [uid for uid, (ref, _) in self._transactions.items()
                              if ref() is None]:
                    del self._transactions[known]  # their associations are gone
                self._transactions[str(action_information.TransactionUID)] = (
                    weakref.ref(asce), ctx)
        return answer

    def report(self, transaction_uid: str, event_type: int,
               information: Dataset | None = None) -> statuses.Status:
        """Send an N-EVENT-REPORT of the transaction (PS3.4 KK.2.3.2) on the association that
        initiated it, which must still be open with its SCU reading it; returns what the SCU
        answered. Raises :class:`~pynetdicom2.exceptions.NetDICOMError` when that association
        is gone: the report then goes on one the application opens
        (:func:`inventory_event_report`)."""
        with self._lock:
            found = self._transactions.get(str(transaction_uid))
        assoc = found[0]() if found is not None else None
        if found is None or assoc is None or not assoc.association_established:
            raise NetDICOMError(f'no open association initiated transaction {transaction_uid}')
        return inventory_event_report(assoc, found[1], event_type, transaction_uid, information)
