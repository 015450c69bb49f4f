"""Instance Availability Notification (PS3.4 Annex R): the SCU and the SCP.

An archive tells a RIS or a workflow manager that the instances of a study are available,
and where to retrieve them from, with one N-CREATE of the Instance Availability Notification
SOP class (PS3.4 R.3.2), whose attributes (PS3.4 Table R.3.2-1; PS3.3 C.4.23) are built by
:func:`instance_availability`. :func:`ian_scu` sends it; :class:`InstanceAvailabilityNotification`
receives it and hands it to the AE's ``on_n_create`` hook, the hook of every DIMSE-N
creation (:mod:`pynetdicom2.services.nservices`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.uid import UID, generate_uid

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import EventHandlingError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import logger, sop_classes
from pynetdicom2.services.nservices import (
    UNRECOGNIZED_OPERATION,
    NReply,
    NResponse,
    NServiceSCP,
    n_create_scu,
)

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

IAN = uids.INSTANCE_AVAILABILITY_NOTIFICATION_SOP_CLASS
#: PS3.3 C.4.23.1: the values of Instance Availability (0008,0056).
INSTANCE_AVAILABILITY_VALUES = frozenset({'ONLINE', 'NEARLINE', 'OFFLINE', 'UNAVAILABLE'})


def instance_availability(
    study_instance_uid: str,
    series: Mapping[str, Iterable[tuple[str, str]]],
    retrieve_ae_title: str,
    availability: str = 'ONLINE',
    performed_procedure_steps: Iterable[tuple[str, str]] = (),
) -> Dataset:
    """The attributes of a notification (PS3.4 Table R.3.2-1) for one study.

    ``series`` maps each Series Instance UID to its ``(SOP class UID, SOP instance UID)``
    pairs, all with Instance Availability ``availability`` and retrievable from
    ``retrieve_ae_title``; ``performed_procedure_steps`` are the ``(SOP class, SOP
    instance)`` of the performed procedure steps they came from (the Referenced Performed
    Procedure Step Sequence is type 2: empty without them).

    >>> ds = instance_availability('1.2.3', {'1.2.3.4': [('1.2.840.10008.5.1.4.1.1.2',
    ...                                                   '1.2.3.4.5')]}, 'ARCHIVE')
    >>> item = ds.CurrentRequestedProcedureEvidenceSequence[0]
    >>> sop = item.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    >>> item.StudyInstanceUID, sop.InstanceAvailability, sop.RetrieveAETitle
    ('1.2.3', 'ONLINE', 'ARCHIVE')
    """
    steps = []
    for sop_class, sop_instance in performed_procedure_steps:
        step = Dataset()
        step.ReferencedSOPClassUID = sop_class
        step.ReferencedSOPInstanceUID = sop_instance
        steps.append(step)
    study = Dataset()
    study.StudyInstanceUID = study_instance_uid
    study.ReferencedSeriesSequence = []
    for series_uid, instances in series.items():
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ReferencedSOPSequence = []
        for sop_class, sop_instance in instances:
            sop = Dataset()
            sop.ReferencedSOPClassUID = sop_class
            sop.ReferencedSOPInstanceUID = sop_instance
            sop.InstanceAvailability = availability
            sop.RetrieveAETitle = retrieve_ae_title
            item.ReferencedSOPSequence.append(sop)
        study.ReferencedSeriesSequence.append(item)
    ds = Dataset()
    ds.ReferencedPerformedProcedureStepSequence = steps
    ds.CurrentRequestedProcedureEvidenceSequence = [study]
    return ds


@sop_classes([IAN])
def ian_scu(asce: Association, ctx: PContextDef, notification: Dataset, msg_id: int,
            sop_instance_uid: str | None = None) -> NResponse:
    """Send an Instance Availability Notification (N-CREATE, PS3.4 R.3.2).

    The SCU names the notification's instance (PS3.4 R.3.2): ``sop_instance_uid`` or a new
    UID, in ``NResponse.sop_instance_uid``.

    Usage (``archive`` the remote AE of a RIS that takes notifications)::

        client.add_scu(sc.ian_scu)
        ds = sc.instance_availability(study_uid, {series_uid: [(CT, ct_uid)]}, 'ARCHIVE')
        with client.request_association(archive) as assoc:
            rsp = assoc.get_scu(uids.INSTANCE_AVAILABILITY_NOTIFICATION_SOP_CLASS)(ds, 1)
            rsp.status.is_success
    """
    instance = UID(sop_instance_uid or generate_uid())
    rsp = n_create_scu(asce, ctx, notification, msg_id, instance)
    return rsp._replace(sop_instance_uid=rsp.sop_instance_uid or instance)


def notification_problem(notification: Dataset) -> tuple[statuses.Status, str] | None:
    """What a notification lacks of PS3.4 Table R.3.2-1's type 1 attributes, as the status
    to refuse it with (0120H missing attribute, 0121H missing value, 0106H invalid value),
    or None when it has them."""
    missing = statuses.Status(0x0120, dm.NCreateRSPMessage)
    no_value = statuses.Status(0x0121, dm.NCreateRSPMessage)
    if 'CurrentRequestedProcedureEvidenceSequence' not in notification:
        return missing, 'no Current Requested Procedure Evidence Sequence'
    studies = notification.CurrentRequestedProcedureEvidenceSequence
    if not studies:
        return no_value, 'an empty Current Requested Procedure Evidence Sequence'
    for study in studies:
        if not study.get('StudyInstanceUID') or not study.get('ReferencedSeriesSequence'):
            return no_value, 'a study without its Study Instance UID or series'
        for series in study.ReferencedSeriesSequence:
            if not series.get('SeriesInstanceUID') or not series.get('ReferencedSOPSequence'):
                return no_value, 'a series without its Series Instance UID or instances'
            for sop in series.ReferencedSOPSequence:
                for keyword in ('ReferencedSOPClassUID', 'ReferencedSOPInstanceUID',
                                'InstanceAvailability', 'RetrieveAETitle'):
                    if not sop.get(keyword):
                        return no_value, f'an instance without its {keyword}'
                if sop.InstanceAvailability not in INSTANCE_AVAILABILITY_VALUES:
                    return (statuses.Status(0x0106, dm.NCreateRSPMessage),
                            f'Instance Availability {sop.InstanceAvailability!r}')
    return None


class InstanceAvailabilityNotification(NServiceSCP):
    """The Instance Availability Notification SCP (PS3.4 R.3.2): ``ae.add_scp(...)``.

    Each N-CREATE is checked for the type 1 attributes of PS3.4 Table R.3.2-1
    (:func:`notification_problem`: 0120H, 0121H or 0106H without calling anything), then goes
    to ``ae.on_n_create(context, sop_instance_uid, notification)``, which returns a status
    (or ``(status, None)``): an AE that does not override it answers 0211H. The class has no
    other operation: they are answered 0211H.

    >>> from pynetdicom2.applicationentity import AE, ClientAE
    >>> class RIS(AE):
    ...     def on_n_create(self, context, sop_instance_uid, attribute_list):
    ...         seq = attribute_list.CurrentRequestedProcedureEvidenceSequence
    ...         print('available:', seq[0].StudyInstanceUID)
    ...         return statuses.SUCCESS
    >>> client = ClientAE('ARCHIVE').add_scu(ian_scu)
    >>> ds = instance_availability('1.2.3', {'1.2.3.4': [(uids.CT_IMAGE_STORAGE, '1.2.3.4.5')]},
    ...                            'ARCHIVE')
    >>> with RIS('RIS', 0, host='127.0.0.1').add_scp(InstanceAvailabilityNotification()) as ris:
    ...     remote = {'aet': 'RIS', 'address': '127.0.0.1', 'port': ris.local_ae.port}
    ...     with client.request_association(remote) as assoc:
    ...         print(assoc.get_scu(IAN)(ds, 1).status)
    available: 1.2.3
    (0x0) Success: -
    """

    sop_classes: ClassVar[list[str]] = [IAN]

    def on_n_create(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    attribute_list: Dataset | None) -> NReply:
        problem = notification_problem(
            attribute_list if attribute_list is not None else Dataset())
        if problem is not None:
            status, why = problem
            logger.warning('instance availability notification %s refused: %s',
                           sop_instance_uid, why)
            raise EventHandlingError(why, status=int(status))
        return super().on_n_create(asce, ctx, sop_instance_uid, attribute_list)

    def on_n_get(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 attribute_identifiers: list[BaseTag]) -> NReply:
        return UNRECOGNIZED_OPERATION, None

    def on_n_set(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 modification_list: Dataset) -> NReply:
        return UNRECOGNIZED_OPERATION, None

    def on_n_action(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    action_type_id: int, action_information: Dataset | None) -> NReply:
        return UNRECOGNIZED_OPERATION, None

    def on_n_delete(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID) -> NReply:
        return UNRECOGNIZED_OPERATION, None

    def on_n_event_report(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                          event_type_id: int, event_information: Dataset | None) -> NReply:
        return UNRECOGNIZED_OPERATION, None
