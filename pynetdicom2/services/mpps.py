"""Modality Performed Procedure Step (PS3.4 Annex F): the SCU and an in-memory SCP.

Both are DIMSE-N services (:mod:`pynetdicom2.services.nservices`): the modality creates a
step with N-CREATE and reports its progress with N-SET (PS3.4 F.7.2).
"""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, ClassVar

from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses
from pynetdicom2.exceptions import EventHandlingError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import logger
from pynetdicom2.services.nservices import NReply, NServiceSCP, NServiceSCU

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

#: PS3.4 F.7: the Modality Performed Procedure Step SOP class (N-CREATE, then N-SET).
MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS = UID('1.2.840.10008.3.1.2.3.3')

#: The Modality Performed Procedure Step SCU (PS3.4 F.7.2): ``'n_create'`` then ``'n_set'``.
#: ``client.add_scu(sc.mpps_scu)``.
mpps_scu = NServiceSCU([MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS], ['n_create', 'n_set'])


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
