"""Application Event Logging (PS3.4 Annex P): the SCU and the SCP.

A device asks a central log to record an event with one N-ACTION (PS3.4 P.1.2): of the
Procedural Event Logging SOP class (Record Procedural Event, action type 1, PS3.4 P.2.2: the
event as SR content, matched to a study by its identifiers) or of the Substance
Administration Logging SOP class (Record Substance Administration Event, action type 1,
PS3.4 P.3.2: an entry in a medication administration record). Both act on the class's
well-known SOP instance.

:func:`event_logging_scu` sends one; :class:`ApplicationEventLogging` checks the attributes
PS3.4 Tables P.2-2 and P.3-2 require, then hands the record to the AE's ``on_n_action`` hook,
which returns the status (and, for a procedural event, the Action Reply of PS3.4 Table P.2-4:
the Study Instance UID and Patient ID the event was logged under).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import logger, sop_classes
from pynetdicom2.services.nservices import NReply, NResponse
from pynetdicom2.services.nsupport import (
    MISSING_ATTRIBUTE,
    MISSING_ATTRIBUTE_VALUE,
    NO_SUCH_ACTION,
    NO_SUCH_INSTANCE,
    PartialNServiceSCP,
    exchange,
    n_request,
    refusal,
)

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

PROCEDURAL = uids.PROCEDURAL_EVENT_LOGGING_SOP_CLASS
SUBSTANCE = uids.SUBSTANCE_ADMINISTRATION_LOGGING_SOP_CLASS
#: Each logging SOP class and its well-known SOP instance (PS3.4 P.2.4, P.3.4).
LOGGING_INSTANCES = {
    PROCEDURAL: uids.PROCEDURAL_EVENT_LOGGING_SOP_INSTANCE,
    SUBSTANCE: uids.SUBSTANCE_ADMINISTRATION_LOGGING_SOP_INSTANCE,
}
#: The Action Type ID of both classes: Record Procedural Event (PS3.4 Table P.2-2), Record
#: Substance Administration Event (PS3.4 Table P.3-2).
RECORD_EVENT = 1

#: The statuses of PS3.4 P.2.2.4 and P.3.2.4 (N-ACTION), with their meanings.
EVENT_LOGGING_STATUS_MEANINGS = {
    0xB101: 'Specified Synchronization Frame of Reference UID does not match SCP '
            'Synchronization Frame of Reference',
    0xB102: 'Study Instance UID coercion; Event logged under a different Study Instance UID',
    0xB104: 'IDs inconsistent in matching a current study; Event logged',
    0xC101: 'Procedural Logging not available for specified Study Instance UID',
    0xC102: 'Event Information does not match Template',
    0xC103: 'Cannot match event to a current study',
    0xC104: 'IDs inconsistent in matching a current study; Event not logged',
    0xC10E: 'Operator not authorized to add entry to Medication Administration Record',
    0xC110: 'Patient cannot be identified from Patient ID or Admission ID',
    0xC111: 'Update of Medication Administration Record failed',
}
for _code, _meaning in EVENT_LOGGING_STATUS_MEANINGS.items():
    statuses.add_status(_code, 'Warning' if _code < 0xC000 else 'Failure', _meaning,
                        command=dm.NActionRSPMessage)

#: PS3.4 P.2.2.4: the event information does not match the template (TID 3001).
EVENT_DOES_NOT_MATCH_TEMPLATE = statuses.Status(0xC102, dm.NActionRSPMessage)

#: PS3.4 Table P.2-2: the type 2 attributes of a procedural event (present, maybe empty).
PROCEDURAL_EVENT_KEYS = ('PatientID', 'StudyInstanceUID', 'StudyID',
                         'SynchronizationFrameOfReferenceUID', 'PerformedLocation')


@sop_classes([PROCEDURAL, SUBSTANCE])
def event_logging_scu(asce: Association, ctx: PContextDef, event: Dataset, msg_id: int
                      ) -> NResponse:
    """Ask the log to record ``event`` (N-ACTION type 1 on the well-known instance of the
    context's class, PS3.4 P.2.2, P.3.2); the status, and for a procedural event the Action
    Reply (PS3.4 Table P.2-4), come back in the :class:`~pynetdicom2.services.nservices.
    NResponse`.

    Usage (``log`` the remote AE of a procedure log; ``ds`` the event as PS3.4 Table P.2-2
    has it)::

        client.add_scu(sc.event_logging_scu)
        with client.request_association(log) as assoc:
            rsp = assoc.get_scu(uids.PROCEDURAL_EVENT_LOGGING_SOP_CLASS)(ds, 1)
            rsp.status.is_success, rsp.data_set.StudyInstanceUID
    """
    instance = LOGGING_INSTANCES.get(UID(ctx.sop_class), LOGGING_INSTANCES[PROCEDURAL])
    rq = n_request(dm.NActionRQMessage, ctx.sop_class, msg_id, instance)
    rq.action_type_id = RECORD_EVENT
    return exchange(asce, ctx, rq, dm.NActionRSPMessage, event)


def _present(event: Dataset, keyword: str) -> bool:
    return keyword in event and event[keyword].value not in (None, '', [])


def logging_problem(sop_class: str, event: Dataset | None) -> tuple[statuses.Status, str] | None:
    """What an event lacks of what PS3.4 Table P.2-2 (procedural event) or Table P.3-2
    (substance administration) requires, as the status to refuse it with, or None."""
    if event is None:
        return MISSING_ATTRIBUTE, 'no action information'
    if sop_class == PROCEDURAL:
        for keyword in PROCEDURAL_EVENT_KEYS:
            if keyword not in event:
                return MISSING_ATTRIBUTE, f'no {keyword} (type 2)'
        if event.get('ValueType') != 'CONTAINER':
            # PS3.4 P.2.2.1.3: the record is a top level CONTAINER content item (TID 3001).
            return EVENT_DOES_NOT_MATCH_TEMPLATE, 'the event is not a CONTAINER content item'
        return None
    for either in (('PatientID', 'AdmissionID'), ('ProductPackageIdentifier', 'ProductName')):
        if not any(_present(event, keyword) for keyword in either):
            return MISSING_ATTRIBUTE, f'neither {either[0]} nor {either[1]}'
    for keyword in ('PatientName', 'AdministrationRouteCodeSequence'):
        if keyword not in event:
            return MISSING_ATTRIBUTE, f'no {keyword} (type 2)'
    for keyword in ('SubstanceAdministrationDateTime', 'OperatorIdentificationSequence'):
        if keyword not in event:
            return MISSING_ATTRIBUTE, f'no {keyword}'
        if not _present(event, keyword):
            return MISSING_ATTRIBUTE_VALUE, f'an empty {keyword}'
    for operator in event.OperatorIdentificationSequence:
        if not operator.get('PersonIdentificationCodeSequence'):
            return MISSING_ATTRIBUTE_VALUE, 'an operator without a Person Identification Code'
    return None


class ApplicationEventLogging(PartialNServiceSCP):
    """The Application Event Logging SCP (PS3.4 P.2, P.3): ``ae.add_scp(...)``, for both
    logging classes.

    Each N-ACTION must name its class's well-known instance (else 0112H) and action type 1
    (else 0123H), and carry what :func:`logging_problem` checks (else 0120H, 0121H or
    C102H); then it goes to ``ae.on_n_action(context, sop_instance_uid, 1, event)``, which
    returns a status, or ``(status, reply)``: for a procedural event, the reply of PS3.4
    Table P.2-4. An AE that does not override it answers 0211H. The classes have no other
    operation: they are answered 0211H.

    >>> from pynetdicom2.applicationentity import AE, ClientAE
    >>> class MAR(AE):
    ...     def on_n_action(self, context, sop_instance_uid, action_type_id, info):
    ...         print('logged for', info.PatientID, info.ProductName)
    ...         return statuses.SUCCESS
    >>> event = Dataset()
    >>> event.PatientID, event.PatientName, event.ProductName = '123', 'Doe^J', 'Iodine'
    >>> event.AdministrationRouteCodeSequence = []
    >>> event.SubstanceAdministrationDateTime = '20240131101500'
    >>> operator = Dataset(); operator.PersonIdentificationCodeSequence = [Dataset()]
    >>> event.OperatorIdentificationSequence = [operator]
    >>> client = ClientAE('INJECTOR').add_scu(event_logging_scu)
    >>> with MAR('MAR', 0, host='127.0.0.1').add_scp(ApplicationEventLogging()) as mar:
    ...     remote = {'aet': 'MAR', 'address': '127.0.0.1', 'port': mar.local_ae.port}
    ...     with client.request_association(remote) as assoc:
    ...         print(assoc.get_scu(SUBSTANCE)(event, 1).status)
    logged for 123 Iodine
    (0x0) Success: -
    """

    sop_classes: ClassVar[list[str]] = [PROCEDURAL, SUBSTANCE]

    def on_n_action(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    action_type_id: int, action_information: Dataset | None) -> NReply:
        expected = LOGGING_INSTANCES.get(UID(ctx.sop_class))
        if expected is None or sop_instance_uid != expected:
            raise refusal(NO_SUCH_INSTANCE, f'{sop_instance_uid} is not the well-known '
                          f'instance of {ctx.sop_class} (PS3.4 P.2.4, P.3.4)')
        if action_type_id != RECORD_EVENT:
            raise refusal(NO_SUCH_ACTION, f'action type {action_type_id} (PS3.4 P.2.2.1)')
        problem = logging_problem(ctx.sop_class, action_information)
        if problem is not None:
            status, why = problem
            logger.warning('event for %s refused: %s', ctx.sop_class, why)
            raise refusal(status, why)
        return asce.ae.on_n_action(ctx, sop_instance_uid, action_type_id, action_information)
