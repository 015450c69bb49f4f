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


@sop_classes([uids.VERIFICATION_SOP_CLASS])
def verification_scp(asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
    """Answer a C-ECHO-RQ with the status of ``ae.on_receive_echo(ctx)`` (default Success).

    An :class:`EventHandlingError` from the hook answers 0110H (processing failure).
    """
    if not isinstance(msg, dm.CEchoRQMessage):
        asce.respond_unsupported(ctx.id, msg)
        return
    try:
        status = as_status(asce.ae.on_receive_echo(ctx), dm.CEchoRSPMessage)
    except EventHandlingError as exc:
        logger.warning('on_receive_echo failed: %s', exc)
        status = refusal_status(exc, statuses.PROCESSING_FAILURE, dm.CEchoRSPMessage)
    rsp = response_for(dm.CEchoRSPMessage, ctx, msg)
    rsp.status = int(status)
    asce.send(rsp, ctx.id)
