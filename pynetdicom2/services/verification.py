"""The Verification service class (PS3.4 Annex A): C-ECHO, both sides.

Usage::

    from pynetdicom2 import applicationentity as ae, sopclass as sc, uids

    client = ae.ClientAE('MYSCU').add_scu(sc.verification_scu)
    with client.request_association(remote) as assoc:
        assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.commandset import COMMAND_DATA_SET_TYPE_TAG, NO_DATASET
from pynetdicom2.exceptions import EventHandlingError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import (
    as_status,
    logger,
    receive_response,
    refusal_status,
    response_for,
    sop_classes,
)

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association


@sop_classes([uids.VERIFICATION_SOP_CLASS])
def verification_scu(asce: Association, ctx: PContextDef, msg_id: int) -> statuses.Status:
    """Send a C-ECHO-RQ and return the status of the C-ECHO-RSP.

    >>> import tempfile
    >>> from pynetdicom2.applicationentity import ClientAE
    >>> from pynetdicom2.loopback import LoopbackSCP
    >>> client = ClientAE('MYSCU').add_scu(verification_scu)
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp) as pacs:
    ...     with client.request_association(pacs.remote) as assoc:
    ...         assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
    True
    """
    rq = dm.CEchoRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    asce.invoke(rq, ctx.id)
    rsp = receive_response(asce, ctx, dm.CEchoRSPMessage, msg_id)
    return statuses.Status(rsp.status, dm.CEchoRSPMessage)


#: PS3.7 9.1.5.1.4 and Annex C: 0212H, mistyped argument, a failure C-ECHO may answer.
ECHO_MISTYPED_ARGUMENT = statuses.Status(0x0212, dm.CEchoRSPMessage)


def _carries_data_set(msg: dm.DIMSEMessage) -> bool:
    """Whether the command says a data set follows, or one came (even if not kept)."""
    return (
        msg.data_set is not None
        or msg.storage_error is not None
        or msg._get_field(COMMAND_DATA_SET_TYPE_TAG) not in (None, NO_DATASET)
    )


@sop_classes([uids.VERIFICATION_SOP_CLASS])
def verification_scp(asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
    """Answer a C-ECHO-RQ with the status of ``ae.on_receive_echo(ctx)`` (default Success).

    An :class:`EventHandlingError` from the hook answers 0110H (processing failure). A
    C-ECHO-RQ with a data set is not a C-ECHO (PS3.7 9.3.5.1: Command Data Set Type 0101H,
    no data set): it is answered 0212H (mistyped argument), the hook not called, never
    Success; whatever came is dropped (a large one was never kept, see
    :mod:`pynetdicom2.dimsedecoder`).
    """
    if not isinstance(msg, dm.CEchoRQMessage):
        asce.respond_unsupported(ctx.id, msg)
        return
    if _carries_data_set(msg):
        logger.warning(
            'C-ECHO-RQ %s on context %d carries a data set, which C-ECHO has not (PS3.7 '
            '9.3.5.1); answering 0x0212 (mistyped argument)', msg.message_id, ctx.id,
        )
        status = ECHO_MISTYPED_ARGUMENT
    else:
        status = _echo_status(asce, ctx)
    rsp = response_for(dm.CEchoRSPMessage, ctx, msg)
    rsp.status = int(status)
    asce.send(rsp, ctx.id)


def _echo_status(asce: Association, ctx: PContextDef) -> statuses.Status:
    """What ``ae.on_receive_echo`` answers; 0110H, or its chosen failure, when it refuses."""
    try:
        return as_status(asce.ae.on_receive_echo(ctx), dm.CEchoRSPMessage)
    except EventHandlingError as exc:
        logger.warning('on_receive_echo failed: %s', exc)
        return refusal_status(exc, statuses.PROCESSING_FAILURE, dm.CEchoRSPMessage)
