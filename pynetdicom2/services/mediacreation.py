"""Media Creation Management (PS3.4 Annex S): the SCU and an in-memory SCP.

An SCU that has sent instances to a media creation device (with C-STORE) asks it to write
them to interchange media (PS3.4 S.3): N-CREATE makes a media creation request listing them
(its Referenced SOP Sequence, PS3.4 Table S.3.2.1.1-1), N-ACTION Initiate Media Creation
(action type 1) schedules it, Cancel Media Creation (action type 2) cancels it, and N-GET
reads how it goes (Execution Status (2100,0020): IDLE, PENDING, CREATING, DONE or FAILURE,
PS3.4 S.3.2.4), on the same association or a later one.

* Requester: :data:`media_creation_scu` (:class:`MediaCreationSCU`) runs ``'create'``,
  ``'initiate'``, ``'cancel'`` and ``'get'`` (also :func:`media_create` ...);
  :func:`media_request` builds the attributes of a request.
* Acceptor: :class:`MediaCreationManagement` keeps the requests in memory, with the rules
  of PS3.4 S.3.2, and offers each operation to the AE's hook of the same name before it acts
  (the device's own work: burning the media, then :meth:`~MediaCreationManagement.update`).
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

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
    PartialNServiceSCP,
    consult,
    exchange,
    n_request,
    refusal,
    select_attributes,
)

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

MEDIA_CREATION = uids.MEDIA_CREATION_MANAGEMENT_SOP_CLASS


class MediaAction(enum.IntEnum):
    """The Action Type IDs of Media Creation Management (PS3.4 S.3.2.2.1, S.3.2.3.1)."""

    INITIATE = 1
    CANCEL = 2


class MediaExecutionStatus:
    """The values of Execution Status (2100,0020) of a media creation request."""

    IDLE = 'IDLE'
    PENDING = 'PENDING'
    CREATING = 'CREATING'
    DONE = 'DONE'
    FAILURE = 'FAILURE'
    #: The states a request never leaves.
    FINAL = frozenset({DONE, FAILURE})


#: The statuses of PS3.4 S.3.2.1.4 and S.3.2.3.4, with their meanings.
MEDIA_CREATION_STATUS_MEANINGS = {
    0xA510: 'An Initiate Media Creation action has already been received for this SOP '
            'Instance',
    0xC201: 'Media creation request already completed',
    0xC202: 'Media creation request already in progress and cannot be interrupted',
    0xC203: 'Cancellation denied for unspecified reason',
}
for _code, _meaning in MEDIA_CREATION_STATUS_MEANINGS.items():
    for _command in (dm.NCreateRSPMessage, dm.NActionRSPMessage):
        statuses.add_status(_code, 'Failure', _meaning, command=_command)

#: PS3.4 S.3.2.1.4: an Initiate Media Creation was already received for this instance.
ALREADY_INITIATED = statuses.Status(0xA510, dm.NActionRSPMessage)
#: PS3.4 S.3.2.3.4: the media creation request is already completed.
ALREADY_COMPLETED = statuses.Status(0xC201, dm.NActionRSPMessage)
#: PS3.4 S.3.2.3.4: the media creation is in progress and cannot be interrupted.
IN_PROGRESS = statuses.Status(0xC202, dm.NActionRSPMessage)


# --- the requester -------------------------------------------------------------------------------


def media_request(instances: Iterable[tuple[str, str]], label_text: str | None = None,
                  profile: str | None = None, **attributes: Any) -> Dataset:
    """The attributes of a media creation request (PS3.4 Table S.3.2.1.1-1): the ``(SOP
    class UID, SOP instance UID)`` pairs to write, each with Requested Media Application
    Profile ``profile`` if given, Label Text ``label_text``, and any other attribute of the
    table by keyword (``StorageMediaFileSetID='STUDY1'``).

    >>> ds = media_request([('1.2.840.10008.5.1.4.1.1.2', '1.2.3.4')], 'Doe^J', 'STD-GEN-CD')
    >>> ds.ReferencedSOPSequence[0].RequestedMediaApplicationProfile, ds.LabelText
    ('STD-GEN-CD', 'Doe^J')
    """
    ds = Dataset()
    if label_text is not None:
        ds.LabelText = label_text
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.ReferencedSOPSequence = []
    for sop_class, sop_instance in instances:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        if profile is not None:
            item.RequestedMediaApplicationProfile = profile
        ds.ReferencedSOPSequence.append(item)
    return ds


def media_create(asce: Association, ctx: PContextDef, request: Dataset, msg_id: int,
                 sop_instance_uid: str | None = None) -> NResponse:
    """Create a media creation request (N-CREATE, PS3.4 S.3.2.1.2); without
    ``sop_instance_uid`` the SCP assigns it, returned in ``NResponse.sop_instance_uid``."""
    rq = n_request(dm.NCreateRQMessage, MEDIA_CREATION, msg_id, sop_instance_uid)
    rsp = exchange(asce, ctx, rq, dm.NCreateRSPMessage, request)
    if rsp.sop_instance_uid is None and sop_instance_uid:
        return rsp._replace(sop_instance_uid=UID(sop_instance_uid))
    return rsp


def media_initiate(asce: Association, ctx: PContextDef, sop_instance_uid: str, msg_id: int,
                   copies: int | None = None, priority: str | None = None) -> NResponse:
    """Initiate Media Creation (N-ACTION type 1, PS3.4 S.3.2.2): ``copies`` Number of
    Copies, ``priority`` Request Priority (HIGH, MED, LOW) if given."""
    info = Dataset()
    if copies is not None:
        info.NumberOfCopies = copies
    if priority is not None:
        info.RequestPriority = priority
    rq = n_request(dm.NActionRQMessage, MEDIA_CREATION, msg_id, sop_instance_uid)
    rq.action_type_id = int(MediaAction.INITIATE)
    return exchange(asce, ctx, rq, dm.NActionRSPMessage, info if len(info) else None)


def media_cancel(asce: Association, ctx: PContextDef, sop_instance_uid: str, msg_id: int
                 ) -> NResponse:
    """Cancel Media Creation (N-ACTION type 2, PS3.4 S.3.2.3): on success the request no
    longer exists."""
    rq = n_request(dm.NActionRQMessage, MEDIA_CREATION, msg_id, sop_instance_uid)
    rq.action_type_id = int(MediaAction.CANCEL)
    return exchange(asce, ctx, rq, dm.NActionRSPMessage, None)


def media_get(asce: Association, ctx: PContextDef, sop_instance_uid: str, msg_id: int,
              attributes: Iterable[int | str] | None = None) -> NResponse:
    """Get Media Creation Result (N-GET, PS3.4 S.3.2.4): the attributes named (tags or
    keywords), all for none."""
    rq = n_request(dm.NGetRQMessage, MEDIA_CREATION, msg_id, sop_instance_uid)
    if attributes:
        rq.attribute_identifier_list = [Tag(tag) for tag in attributes]
    return exchange(asce, ctx, rq, dm.NGetRSPMessage, None)


class MediaCreationSCU(NServiceSCU):
    """The Media Creation Management SCU, an operation chosen by name (the functions of this
    module without ``media_``, ``asce`` and ``ctx``).

    Usage (``burner`` the remote AE of a media creation device, the instances sent to it
    before)::

        client.add_scu(sc.media_creation_scu)
        with client.request_association(burner) as assoc:
            media = assoc.get_scu(uids.MEDIA_CREATION_MANAGEMENT_SOP_CLASS)
            uid = media('create', sc.media_request([(CT, ct_uid)], 'Doe^J'), 1).sop_instance_uid
            media('initiate', uid, 2, copies=2).status.is_success
            media('get', uid, 3, ['ExecutionStatus']).data_set.ExecutionStatus   # 'PENDING'
    """

    functions: ClassVar[dict[str, Callable[..., Any]]] = {
        'create': media_create,
        'initiate': media_initiate,
        'cancel': media_cancel,
        'get': media_get,
    }


#: The Media Creation Management SCU: ``client.add_scu(sc.media_creation_scu)``.
media_creation_scu = MediaCreationSCU([MEDIA_CREATION])


# --- the acceptor ---------------------------------------------------------------------------------


def request_problem(request: Dataset | None) -> tuple[statuses.Status, str] | None:
    """What a media creation request lacks of PS3.4 Table S.3.2.1.1-1's type 1 attributes,
    as the status to refuse it with (0120H, 0121H), or None."""
    if request is None or 'ReferencedSOPSequence' not in request:
        return MISSING_ATTRIBUTE, 'no Referenced SOP Sequence'
    if not request.ReferencedSOPSequence:
        return MISSING_ATTRIBUTE_VALUE, 'an empty Referenced SOP Sequence'
    for item in request.ReferencedSOPSequence:
        if not item.get('ReferencedSOPClassUID') or not item.get('ReferencedSOPInstanceUID'):
            return MISSING_ATTRIBUTE_VALUE, 'an instance without its SOP class or instance UID'
    return None


class MediaCreationManagement(PartialNServiceSCP):
    """The Media Creation Management SCP (PS3.4 S.3), with its requests in memory:
    ``ae.add_scp(sc.MediaCreationManagement())``.

    * N-CREATE checks the request (:func:`request_problem`), refuses an instance UID in use
      (0111H, A510H once initiated), and keeps it IDLE (Execution Status Info NORMAL).
    * N-ACTION Initiate (1) makes an IDLE request PENDING (A510H a second time); Cancel (2)
      deletes it unless it is DONE or FAILURE (C201H) or CREATING (C202H). Another action
      type: 0123H.
    * N-GET answers the request's attributes (0112H for an unknown instance).

    Each operation, once checked, is offered to the AE's hook of the same name
    (``on_n_create``, ``on_n_action``, ``on_n_get``): a failure it answers (or raises) is the
    answer and nothing changes; any other answer lets the request proceed (an N-GET answer
    it gives is sent instead). The device's progress is the application's:
    :meth:`update` (CREATING, DONE, FAILURE and the result attributes).

    >>> from pynetdicom2.applicationentity import AE, ClientAE
    >>> burner = MediaCreationManagement()
    >>> client = ClientAE('WORKSTATION').add_scu(media_creation_scu)
    >>> with AE('BURNER', 0, host='127.0.0.1').add_scp(burner) as srv:
    ...     remote = {'aet': 'BURNER', 'address': '127.0.0.1', 'port': srv.local_ae.port}
    ...     with client.request_association(remote) as assoc:
    ...         media = assoc.get_scu(MEDIA_CREATION)
    ...         request = media_request([('1.2.840.10008.5.1.4.1.1.2', '1.2.3.4')], 'Doe^J')
    ...         uid = media('create', request, 1).sop_instance_uid
    ...         print(media('initiate', uid, 2, copies=2).status)
    ...         burner.update(uid, MediaExecutionStatus.DONE, TotalNumberOfPiecesOfMediaCreated=2)
    ...         print(media('get', uid, 3, ['ExecutionStatus']).data_set.ExecutionStatus)
    (0x0) Success: -
    DONE
    """

    sop_classes: ClassVar[list[str]] = [MEDIA_CREATION]

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._requests: dict[UID, Dataset] = {}

    def request(self, sop_instance_uid: str) -> Dataset | None:
        """A copy of a media creation request's attributes, or None."""
        with self._lock:
            found = self._requests.get(UID(sop_instance_uid))
            return deep_copy(found) if found is not None else None

    def update(self, sop_instance_uid: str, execution_status: str,
               execution_status_info: str | None = None, **attributes: Any) -> None:
        """Record the device's progress on a request: its Execution Status, Execution Status
        Info if given, and result attributes by keyword (Total Number of Pieces of Media
        Created, Failed SOP Sequence, Referenced Storage Media Sequence; PS3.4
        S.3.2.2.3). Raises :class:`~pynetdicom2.exceptions.NetDICOMError` for an unknown
        request."""
        with self._lock:
            found = self._requests.get(UID(sop_instance_uid))
            if found is None:
                raise NetDICOMError(f'no media creation request {sop_instance_uid}')
            found.ExecutionStatus = execution_status
            if execution_status_info is not None:
                found.ExecutionStatusInfo = execution_status_info
            for keyword, value in attributes.items():
                setattr(found, keyword, value)

    def on_n_create(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    attribute_list: Dataset | None) -> NReply:
        problem = request_problem(attribute_list)
        if problem is not None:
            raise refusal(*problem)
        assert attribute_list is not None
        with self._lock:
            known = self._requests.get(sop_instance_uid)
        if known is not None:
            if known.get('ExecutionStatus') != MediaExecutionStatus.IDLE:
                raise refusal(ALREADY_INITIATED, f'{sop_instance_uid} was initiated already')
            raise refusal(DUPLICATE_INSTANCE, f'{sop_instance_uid} exists already')
        status, _ = consult(asce.ae.on_n_create(ctx, sop_instance_uid, attribute_list),
                            dm.NCreateRSPMessage)
        if status is not None and status.is_failure:
            return status, None
        stored = deep_copy(attribute_list)
        stored.ExecutionStatus = MediaExecutionStatus.IDLE
        stored.ExecutionStatusInfo = 'NORMAL'
        with self._lock:
            if sop_instance_uid in self._requests:
                raise refusal(DUPLICATE_INSTANCE, f'{sop_instance_uid} exists already')
            self._requests[sop_instance_uid] = stored
        logger.info('media creation request %s: %d instances', sop_instance_uid,
                    len(stored.ReferencedSOPSequence))
        # PS3.4 S.3.2.1.3: an N-CREATE is answered Success or a failure, never a warning.
        return statuses.SUCCESS, None

    def on_n_action(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    action_type_id: int, action_information: Dataset | None) -> NReply:
        if action_type_id not in set(MediaAction):
            raise refusal(NO_SUCH_ACTION, f'action type {action_type_id} (PS3.4 S.3.2)')
        info = action_information if action_information is not None else Dataset()
        with self._lock:
            known = self._requests.get(sop_instance_uid)
            state = known.get('ExecutionStatus') if known is not None else None
        if known is None:
            raise refusal(NO_SUCH_INSTANCE, f'no media creation request {sop_instance_uid}')
        if action_type_id == MediaAction.INITIATE:
            if state != MediaExecutionStatus.IDLE:
                raise refusal(ALREADY_INITIATED, f'{sop_instance_uid} is {state}')
            copies = info.get('NumberOfCopies')
            if copies is not None and (copies == '' or int(copies) < 1):
                raise refusal(INVALID_ATTRIBUTE_VALUE, f'Number of Copies {copies!r}')
        elif state in MediaExecutionStatus.FINAL:
            raise refusal(ALREADY_COMPLETED, f'{sop_instance_uid} is {state}')
        elif state == MediaExecutionStatus.CREATING:
            raise refusal(IN_PROGRESS, f'{sop_instance_uid} is being created')
        answer = asce.ae.on_n_action(ctx, sop_instance_uid, action_type_id, action_information)
        status, _ = consult(answer, dm.NActionRSPMessage)
        if status is not None and status.is_failure:
            return status, None
        with self._lock:
            current = self._requests.get(sop_instance_uid)
            if current is None or current.get('ExecutionStatus') != state:
                raise refusal(statuses.PROCESSING_FAILURE, f'{sop_instance_uid} changed meanwhile')
            if action_type_id == MediaAction.CANCEL:
                del self._requests[sop_instance_uid]
            else:
                current.ExecutionStatus = MediaExecutionStatus.PENDING
                for keyword in ('NumberOfCopies', 'RequestPriority'):
                    if keyword in info:
                        current[keyword] = info[keyword]
        return (statuses.SUCCESS if status is None else status), None

    def on_n_get(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 attribute_identifiers: list[BaseTag]) -> NReply:
        with self._lock:
            known = self._requests.get(sop_instance_uid)
            snapshot = deep_copy(known) if known is not None else None
        if snapshot is None:
            raise refusal(NO_SUCH_INSTANCE, f'no media creation request {sop_instance_uid}')
        status, reply = consult(asce.ae.on_n_get(ctx, sop_instance_uid, attribute_identifiers),
                                dm.NGetRSPMessage)
        if status is not None and (status.is_failure or reply is not None):
            return status, reply
        return (statuses.SUCCESS if status is None else status,
                select_attributes(snapshot, attribute_identifiers))
