"""The C-MOVE sub-association: the C-MOVE SCP's association(s) with the move destination.

PS3.4 C.4.2.3.1: the C-MOVE SCP performs its sub-operations as a Storage SCU, on an
association it requests from the destination; :class:`MoveDestination` opens it, keeps it
fitting the instances that come along, and releases it. The destination may release it
first (PS3.8 7.2): its A-RELEASE-RQ is answered, never left waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import (
    AssociationError,
    AssociationReleasedError,
    DCMTimeoutError,
    DIMSEProcessingError,
    NetDICOMError,
)
from pynetdicom2.fsm import States
from pynetdicom2.negotiation import MAX_CONTEXTS
from pynetdicom2.services.base import ProposalView, as_status, logger
from pynetdicom2.services.storage import storage_scu
from pynetdicom2.services.suboperations import DestinationLost, SubOperationInstance, source_for

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

#: The storage SOP classes (PS3.4 B.5): the AE's SCUs for them send the sub-operations.
_STORAGE_CLASSES = frozenset(uids.STORAGE_SOP_CLASSES)


class MoveDestination:
    """The sub-association(s) of one C-MOVE, to the AE ``on_receive_move`` named.

    The association proposes the storage classes the AE registered an SCU for (PS3.4
    C.4.2.3.1: the C-MOVE SCP is a storage SCU). With more than 128 of them, it proposes the
    class at hand and those seen so far first, and is renewed when an instance of a class it
    did not propose comes along. It is opened at the first sub-operation and released at the
    end.

    Compressed pixel data is never transcoded, so an instance in a compressed transfer
    syntax can only go over a context of that syntax: its class is proposed with that one
    syntax alone (the acceptor picks one syntax per context, PS3.8 9.3.3.2), the association
    renewed when the syntax an instance needs changes.

    A destination that asks to release the association itself (A-RELEASE-RQ, PS3.8 7.2) gets
    its A-RELEASE-RP, and the association's thread and socket end with it. A C-STORE it left
    unanswered is a failed sub-operation. If it had answered C-STOREs on that association,
    the next instance opens a new one (a peer that ends associations after some operations
    still gets the rest); if it had answered none, it has refused the instances, and the
    C-MOVE ends with A702H for the rest (PS3.4 C.4.2.1.5) rather than open association
    after association. When both sides ask at once, the collision is resolved as PS3.8
    Table 9-10 prescribes (Sta9 to Sta12: we, the requester, answer first).
    """

    def __init__(self, asce: Association, remote_ae: Any, msg: dm.CMoveRQMessage) -> None:
        # Imported when needed: the services load without the association machinery.
        from pynetdicom2.asceprovider import PContextDefList

        self._context_class = PContextDefList
        self._ae = asce.ae
        self._remote_ae = remote_ae
        self._originator = (str(getattr(asce, 'remote_ae', '')) or None, msg.message_id)
        ae = self._ae
        registry = ae.copy_context_def_list()  # takes the lock itself
        with ae.lock:
            self._services = {
                UID(uid): service for uid, service in ae.supported_scu.items()
                if uid in _STORAGE_CLASSES or service is storage_scu
            }
        self._syntaxes = {
            ctx.sop_class: tuple(ctx.supported_ts) for ctx in registry.values()
            if ctx.sop_class in self._services
        }
        self._seen: list[UID] = []
        self._proposed: set[UID] = set()
        # SOP class -> the one compressed syntax its context proposes (absent: the usual ones)
        self._compressed: dict[UID, UID] = {}
        self._assoc: Any = None
        # C-STORE responses the current association brought: whether the destination took
        # part before it released it.
        self._answered = 0

    def _open(self, needed: UID) -> None:
        self.close()
        order = [needed, *self._seen, *self._services]
        classes = list(dict.fromkeys(order))[:MAX_CONTEXTS]
        default_ts = tuple(UID(ts) for ts in self._ae.supported_ts)
        contexts = {
            2 * index + 1: self._context_class(
                2 * index + 1, uid,
                (self._compressed[uid],) if uid in self._compressed
                else self._syntaxes.get(uid, default_ts),
            )
            for index, uid in enumerate(classes)
        }
        services: dict[str, Any] = {uid: self._services.get(uid, storage_scu) for uid in classes}
        view = ProposalView(self._ae, contexts, services)
        try:
            # The AE's own factory (a TLS AE makes TLS associations), seeing only the view.
            assoc = type(self._ae)._create_association(view, self._remote_ae)
            assoc.request()
        except NetDICOMError as exc:
            raise DestinationLost(f'no association with the move destination: {exc}') from exc
        self._assoc = assoc
        self._answered = 0
        self._proposed = set(classes)

    @staticmethod
    def _release_requested(assoc: Any) -> bool:
        """True once the destination's A-RELEASE-RQ has arrived: the state machine then
        awaits our A-RELEASE response (PS3.8 Table 9-10, Sta8), and no C-STORE-RSP can come."""
        return bool(assoc.dul.state is States.STA_8)

    def _released_by_destination(self) -> None:
        """Answer the destination's A-RELEASE-RQ (PS3.8 Table 9-10, AR-4) and forget the
        association; :class:`DestinationLost` when it answered no C-STORE on it."""
        assoc, self._assoc = self._assoc, None
        answered = self._answered
        assoc.answer_release()  # sends the A-RELEASE-RP, then ends the DUL thread and socket
        if not answered:
            raise DestinationLost(
                'the move destination released the association before answering a C-STORE'
            )
        logger.info('the move destination released the association after %d C-STORE(s): '
                    'the next instance goes on a new one', answered)

    def store(self, instance: SubOperationInstance, msg_id: int) -> statuses.Status | None:
        sop_class = instance.sop_class
        if sop_class not in self._seen:
            self._seen.append(sop_class)
        if self._assoc is not None and self._release_requested(self._assoc):
            self._released_by_destination()
        syntax = instance.transfer_syntax
        compressed = syntax if syntax is not None and syntax.is_compressed else None
        if (self._assoc is None or sop_class not in self._proposed
                or self._compressed.get(sop_class) != compressed):
            if compressed is None:
                self._compressed.pop(sop_class, None)
            else:
                self._compressed[sop_class] = compressed
            self._open(sop_class)
        assoc = self._assoc
        accepted = assoc.sop_classes_as_scu.get(sop_class)
        if accepted is None:
            logger.warning('the move destination did not accept SOP class %s', sop_class)
            return None
        source = source_for(instance, accepted[1])
        originator, originator_id = self._originator
        try:
            status = as_status(
                assoc.get_scu(sop_class)(
                    source, msg_id, move_originator_aet=originator,
                    move_originator_message_id=originator_id,
                ),
                dm.CStoreRSPMessage,
            )
        except AssociationReleasedError:
            logger.warning('the move destination asked to release the association instead of '
                           'answering the C-STORE of %s', instance.sop_instance)
            self._released_by_destination()
            return None  # this sub-operation failed; the next goes on a new association
        except (AssociationError, DCMTimeoutError, DIMSEProcessingError) as exc:
            self._assoc = None
            if assoc.association_established:
                assoc.abort()
            raise DestinationLost(
                f'the association with the move destination failed: {exc}'
            ) from exc
        self._answered += 1
        return status

    def close(self) -> None:
        """Release the association (PS3.8 7.2), or answer the destination's own request to.

        Its DUL thread and socket have ended when this returns, whatever the destination did.
        """
        assoc, self._assoc = self._assoc, None
        if assoc is None:
            return
        try:
            if self._release_requested(assoc):
                assoc.answer_release()
            elif assoc.association_established:
                assoc.release()  # a collision is resolved inside (Sta9 to Sta12)
        except NetDICOMError as exc:
            if self._release_requested(assoc):
                # Its A-RELEASE-RQ arrived after we looked, before ours could go (Sta8).
                assoc.answer_release()
            else:
                logger.info('releasing the sub-association failed: %s', exc)
        finally:
            assoc.kill()
