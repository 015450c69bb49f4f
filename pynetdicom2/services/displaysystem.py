"""Display System Management (PS3.4 Annex EE): the SCU and the SCP.

A soft-copy display system publishes its parameters (its subsystems, their status,
configurations, calibration and luminance results; PS3.4 Table EE.2.2.1-2) as the Display
System SOP instance, created by the SCP at start-up with a well-known UID (PS3.4 EE.2.1,
EE.2.4). The only operation is N-GET (PS3.4 EE.2.2): :func:`display_system_scu` sends it,
:class:`DisplaySystem` answers it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.dsutils import deep_copy
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import sop_classes
from pynetdicom2.services.nservices import NReply, NResponse
from pynetdicom2.services.nsupport import (
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

DISPLAY_SYSTEM = uids.DISPLAY_SYSTEM_SOP_CLASS
DISPLAY_SYSTEM_INSTANCE = uids.DISPLAY_SYSTEM_SOP_INSTANCE


@sop_classes([DISPLAY_SYSTEM])
def display_system_scu(asce: Association, ctx: PContextDef, msg_id: int,
                       attributes: Iterable[int | str] | None = None) -> NResponse:
    """Read the Display System instance (N-GET of the well-known instance, PS3.4
    EE.2.2.1.2): the attributes named (tags or keywords; a sequence is asked for whole), all
    for none; they come back in ``NResponse.data_set``.

    Usage (``display`` the remote AE of a display system)::

        client.add_scu(sc.display_system_scu)
        with client.request_association(display) as assoc:
            rsp = assoc.get_scu(uids.DISPLAY_SYSTEM_SOP_CLASS)(1, ['DisplaySubsystemSequence'])
            rsp.data_set.DisplaySubsystemSequence[0].SystemStatus
    """
    rq = n_request(dm.NGetRQMessage, DISPLAY_SYSTEM, msg_id, DISPLAY_SYSTEM_INSTANCE)
    if attributes:
        rq.attribute_identifier_list = [Tag(tag) for tag in attributes]
    return exchange(asce, ctx, rq, dm.NGetRSPMessage, None)


class DisplaySystem(PartialNServiceSCP):
    """The Display System SCP (PS3.4 EE.2.2.1.3): ``ae.add_scp(sc.DisplaySystem(attributes))``.

    An N-GET names the well-known instance (else 0112H); it goes first to ``ae.on_n_get(
    context, sop_instance_uid, attribute_identifiers)``: what it answers is sent. An AE that
    does not override it (0211H) gets the answer from ``attributes``, the Display System
    instance this SCP was given (replace it with :meth:`update`; without one, 0211H): the
    attributes asked for that it has, a sequence whole. The class has no other operation
    (0211H).

    >>> from pynetdicom2.applicationentity import AE, ClientAE
    >>> subsystem = Dataset()
    >>> subsystem.DisplaySubsystemID, subsystem.SystemStatus = 1, 'OK'
    >>> display = Dataset()
    >>> display.Manufacturer, display.DisplaySubsystemSequence = 'ACME', [subsystem]
    >>> client = ClientAE('QA').add_scu(display_system_scu)
    >>> with AE('DISPLAY', 0, host='127.0.0.1').add_scp(DisplaySystem(display)) as srv:
    ...     remote = {'aet': 'DISPLAY', 'address': '127.0.0.1', 'port': srv.local_ae.port}
    ...     with client.request_association(remote) as assoc:
    ...         rsp = assoc.get_scu(DISPLAY_SYSTEM)(1, ['DisplaySubsystemSequence'])
    >>> rsp.status.is_success, rsp.data_set.DisplaySubsystemSequence[0].SystemStatus
    (True, 'OK')
    >>> 'Manufacturer' in rsp.data_set
    False
    """

    sop_classes: ClassVar[list[str]] = [DISPLAY_SYSTEM]

    def __init__(self, attributes: Dataset | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._attributes = deep_copy(attributes) if attributes is not None else None

    def update(self, attributes: Dataset) -> None:
        """Replace the Display System instance's attributes (a copy is kept)."""
        with self._lock:
            self._attributes = deep_copy(attributes)

    def on_n_get(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 attribute_identifiers: list[BaseTag]) -> NReply:
        if sop_instance_uid != DISPLAY_SYSTEM_INSTANCE:
            raise refusal(NO_SUCH_INSTANCE, f'{sop_instance_uid} is not the Display System '
                          'instance (PS3.4 EE.2.4)')
        answer = asce.ae.on_n_get(ctx, sop_instance_uid, attribute_identifiers)
        status, reply = consult(answer, dm.NGetRSPMessage)
        if status is not None:
            return status, reply
        with self._lock:
            if self._attributes is None:
                return answer
            return statuses.SUCCESS, select_attributes(self._attributes, attribute_identifiers)
