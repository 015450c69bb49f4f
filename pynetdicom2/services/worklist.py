"""Modality Worklist (PS3.4 Annex K): the Modality Worklist Information Model - FIND SOP class.

A C-FIND service (PS3.4 K.4.1): its SCU and SCP are those of Query/Retrieve
(:mod:`pynetdicom2.services.query`), registered for its SOP class.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import sop_classes
from pynetdicom2.services.query import qr_find_scp, qr_find_scu

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association


@sop_classes([uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS])
def modality_work_list_scu(
    asce: Association, ctx: PContextDef, ds: Dataset, msg_id: int
) -> Iterator[tuple[Dataset | None, statuses.Status]]:
    """Query a worklist (C-FIND, PS3.4 K.4.1): yield ``(identifier, status)`` per response.

    Works as :func:`qr_find_scu` does, cancelling when closed early. The identifier is a
    worklist query (PS3.4 K.6.1.2): no Query/Retrieve Level; matching keys in the Scheduled
    Procedure Step Sequence.

    Usage (against a worklist SCP such as the one of :func:`modality_work_list_scp`)::

        client.add_scu(sc.modality_work_list_scu)
        q = Dataset(); q.PatientName = ''; q.ScheduledProcedureStepSequence = [Dataset()]
        q.ScheduledProcedureStepSequence[0].Modality = 'CT'
        q.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate = '20240131'
        with client.request_association(ris) as assoc:
            mwl = assoc.get_scu(uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS)
            for item, status in mwl(q, 1):
                if status.is_pending:
                    print(item.PatientName)
    """
    return qr_find_scu(asce, ctx, ds, msg_id)


@sop_classes([uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS])
def modality_work_list_scp(asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
    """Answer a worklist C-FIND with what ``ae.on_receive_find(ctx, identifier)`` yields.

    The same hook as Query/Retrieve: ``ctx.sop_class`` tells a worklist query apart. See
    :func:`qr_find_scp`.

    Usage (``self.scheduled`` stands for your own look-up)::

        class RIS(AE):
            def on_receive_find(self, context, ds):
                if context.sop_class == uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS:
                    for item in self.scheduled(ds):
                        yield item, statuses.C_FIND_PENDING

        RIS('RIS', 11112).add_scp(sc.modality_work_list_scp)
    """
    qr_find_scp(asce, ctx, msg)
