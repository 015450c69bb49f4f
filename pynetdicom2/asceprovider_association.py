"""One association, either side: the DUL, the DIMSE exchange, release, abort and kill.

:class:`Association` is the base class of :class:`~pynetdicom2.asceprovider_requester.\
AssociationRequester` and :class:`~pynetdicom2.asceprovider_acceptor.AssociationAcceptor`.
It drives a :class:`~pynetdicom2.dulprovider.DULServiceProvider` (which owns the socket and
the PS3.8 state machine) and owns, through :class:`~pynetdicom2.receivedfiles.ReceivedFiles`,
the files its DUL writes received data sets to. Re-exported by
:mod:`pynetdicom2.asceprovider`.

* Two maximum lengths are kept apart: ``max_pdu_length`` is what we announce and bounds what
  we receive; ``peer_max_pdu_length`` is what the peer announced and bounds what we send
  (0 = unlimited on either side, PS3.8 D.1).
* Timeouts come from the AE: ``artim_timeout`` bounds set-up and release, ``dcm_timeout`` the
  wait for a DIMSE response.
* Safe to share between threads: a request sent with :meth:`Association.invoke` has its
  responses routed to it by Message ID (:class:`~pynetdicom2.operations.MessageRouter`), at
  most as many outstanding at once as the negotiated Asynchronous Operations Window allows
  (``async_window``, PS3.7 D.3.3.3); :meth:`Association.receive` reads the rest in order.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Callable

from pydicom.dataset import Dataset

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import pdu, statuses
from pynetdicom2.asceprovider_types import UNSUPPORTED_REQUEST_RESPONSES, AEBaseProto
from pynetdicom2.dulprovider import DULServiceProvider
from pynetdicom2.events import NOBODY, Event, Observers
from pynetdicom2.exceptions import (
    AssociationAbortedError,
    AssociationRejectedError,
    AssociationReleasedError,
    DCMTimeoutError,
    DIMSEProcessingError,
    NetDICOMError,
)
from pynetdicom2.fsm import PContextDef, States
from pynetdicom2.metrics import AEMetrics
from pynetdicom2.operations import Mailbox, MessageRouter
from pynetdicom2.receivedfiles import ReceivedFiles

__all__ = ['GRACE', 'Association']

logger = logging.getLogger('pynetdicom2.asceprovider')

#: Extra seconds granted to the DUL thread beyond ARTIM before we stop waiting for it.
GRACE = 1.0


class Association:
    """Base class of both sides: the DUL, the DIMSE exchange, release, abort and kill.

    Not used directly. ``ae`` is the local AE, ``max_pdu_length`` the maximum length we
    announce, ``accepted_contexts`` the negotiated contexts by ID.
    """

    #: The peer: its calling AE title (acceptor) or its configuration (requester).
    remote_ae: Any

    def __init__(
        self, local_ae: AEBaseProto, dul_socket: socket.socket | None, max_pdu_length: int
    ) -> None:
        self.ae = local_ae
        self.max_pdu_length = max_pdu_length
        #: The peer's maximum length, which bounds the PDUs we send (0: unlimited).
        self.peer_max_pdu_length = max_pdu_length
        self.association_established = False
        self.accepted_contexts: dict[int, PContextDef] = {}
        #: The files the DUL writes received data sets to, owned until kept or discarded.
        self.received_files = ReceivedFiles(local_ae)
        # The thread that runs this association; a kill() from another thread leaves the
        # files to it (it may be in the middle of keeping one).
        self._owner: threading.Thread | None = None
        #: The negotiated Asynchronous Operations Window, ``(invoked, performed)`` as the
        #: A-ASSOCIATE-AC states it (PS3.7 D.3.3.3; 0: unlimited): the requester may have
        #: ``invoked`` requests outstanding, and performs ``performed`` of the acceptor's at
        #: once. (1, 1), one operation at a time, when the AC carries no window.
        self.async_window: tuple[int, int] = (1, 1)
        #: Held by a C-GET of ours while it runs: its C-STORE sub-operations carry nothing
        #: that names their C-GET (PS3.4 C.4.3), so threads sharing the association take
        #: turns with C-GET (every other service runs alongside).
        self.get_lock = threading.RLock()
        # Who watches and what counts (pynetdicom2.events, pynetdicom2.metrics): the AE's.
        self._observers: Observers = getattr(local_ae, 'observers', NOBODY)
        self._metrics: AEMetrics | None = getattr(local_ae, 'metrics', None)
        self.dul = self._create_dul(local_ae, dul_socket, max_pdu_length)
        self._router = MessageRouter(self.dul.receive, self._handle_errors)

    def _create_dul(
        self, local_ae: AEBaseProto, dul_socket: socket.socket | None, max_pdu_length: int
    ) -> DULServiceProvider:
        """Create the DUL service provider, of the class :meth:`_dul_class` gives.

        Its reassembler keeps a data set in memory up to the AE's ``max_data_set_in_memory``
        (:mod:`pynetdicom2.dimsedecoder`); set before any PDU can arrive, since the provider's
        thread starts later (on ``start``, or the first send or receive).
        """
        dul = self._dul_class()(
            frozenset(local_ae.store_in_file),
            self._get_file,
            dul_socket,
            max_pdu_length,
            local_ae.artim_timeout,
            **self._dul_options(),
        )
        dul.state_machine.max_data_set_in_memory = getattr(
            local_ae, 'max_data_set_in_memory', dm.DEFAULT_MAX_DATA_SET_IN_MEMORY
        )
        dul.observe(self._observers, self._metrics, self)
        return dul

    def _dul_options(self) -> dict[str, Any]:
        return {}

    def _dul_class(self) -> Callable[..., DULServiceProvider]:
        """The DUL provider's class (the requester's is TLS with an ``ssl_context``)."""
        return DULServiceProvider

    # -- received files --------------------------------------------------------------------

    def _get_file(self, context: PContextDef, command_set: Dataset) -> tuple[Any, int]:
        """The DUL's ``get_file_cb`` (DUL thread): :meth:`ReceivedFiles.open`."""
        return self.received_files.open(context, command_set)

    def keep_received_file(self, data: Any, command_set: Dataset) -> None:
        """A service accepted a received data set: ``received_files.keep(data, command_set)``.

        Raises :class:`OSError` when the file cannot be put in place (the service then
        answers out of resources). Data sets in memory need nothing.
        """
        self.received_files.keep(data, command_set)

    def discard_received_file(self, data: Any) -> None:
        """Discard the file of a data set that was not kept: ``received_files.discard(data)``."""
        self.received_files.discard(data)

    # -- DIMSE ---------------------------------------------------------------------------

    def send(self, dimse_msg: dm.DIMSEMessage, pc_id: int) -> None:
        """Send a DIMSE message on context ``pc_id``, cut to the peer's maximum length.

        Returns at once: the DUL thread encodes and sends it lazily (a file data set is
        read piece by piece). Raises :class:`AssociationAbortedError` when the association
        no longer exists (the provider aborted it, e.g. on an invalid PDU from the peer, or
        the transport was lost) and :class:`NetDICOMError` for a message not allowed now.
        A request sent this way is outside the window, its responses read in order by
        :meth:`receive`; :meth:`invoke` sends one whose responses come to its caller.
        """
        if isinstance(dimse_msg, dm.DIMSERequestMessage) and dimse_msg.message_id is not None:
            self._router.expect_in_order(dimse_msg.message_id)
        self._send(dimse_msg, pc_id)

    def _send(self, dimse_msg: dm.DIMSEMessage, pc_id: int) -> None:
        if self._metrics is not None:
            self._metrics.message('sent', dimse_msg)
        if self._observers.dimse_sent:
            self._observers.notify(
                Event.DIMSE_SENT, association=self, message=dimse_msg, context_id=pc_id
            )
        try:
            self.dul.send(dimse_msg.encode(pc_id, self.peer_max_pdu_length))
        except NetDICOMError as exc:
            if self.dul.state not in (States.STA_1, States.STA_13) and not self.dul.ended:
                raise
            self.association_established = False
            raise AssociationAbortedError(
                2, 0, f'the association ended before {type(dimse_msg).__name__} was sent: {exc}'
            ) from exc

    def invoke(
        self, rq: dm.DIMSERequestMessage, pc_id: int, mailbox: Mailbox | None = None,
        *, wait: bool = True,
    ) -> bool:
        """Send request ``rq`` as an operation of ours: its responses come to
        :meth:`receive_response` for its Message ID (or to ``mailbox``, read with
        :meth:`receive_in`), whichever thread reads them off the association.

        Waits while the window is full (as many requests outstanding as ``async_window``
        allows; one when the peer granted no window), unless ``wait`` is False: False is then
        returned and nothing sent. Raises :class:`DIMSEProcessingError` when the Message ID
        is already outstanding (:meth:`new_message_id` gives a free one), and like
        :meth:`send`.
        """
        msg_id = rq.message_id
        if msg_id is None:
            raise DIMSEProcessingError(f'{type(rq).__name__} without a Message ID')
        if self._router.begin(msg_id, mailbox, wait=wait) is None:
            return False
        try:
            self._send(rq, pc_id)
        except BaseException:
            self._router.forget(msg_id)
            raise
        return True

    def receive_in(self, mailbox: Mailbox, timeout: float | None = None
                   ) -> tuple[dm.DIMSEMessage, int]:
        """The next response to any request sent with :meth:`invoke` into ``mailbox``
        (waits ``ae.dcm_timeout`` by default; raises like :meth:`receive`)."""
        return self._router.wait(mailbox, self.ae.dcm_timeout if timeout is None else timeout)

    def forget(self, msg_id: int) -> None:
        """Our request ``msg_id`` no longer awaits a response (given up on): its place in the
        window is free, and a late response goes to :meth:`receive`."""
        self._router.forget(msg_id)

    def receive_response(
        self, msg_id: int, timeout: float | None = None, *, requests: bool = False
    ) -> tuple[dm.DIMSEMessage, int]:
        """The next response to our request ``msg_id`` (sent with :meth:`invoke`).

        With ``requests``, a request the peer sends meanwhile comes too (the C-STORE
        sub-operations of a C-GET). Waits ``ae.dcm_timeout`` by default and raises like
        :meth:`receive`; after a timeout the request no longer counts as outstanding. A
        request sent with :meth:`send` has its response read in order, by :meth:`receive`.
        """
        box = self._router.mailbox(msg_id)
        if box is None:
            return self.receive(timeout)
        try:
            return self._router.wait(
                box, self.ae.dcm_timeout if timeout is None else timeout, requests=requests
            )
        except DCMTimeoutError:
            self.forget(msg_id)
            raise

    def new_message_id(self) -> int:
        """A Message ID that no request of ours outstanding on this association uses.

        For threads sharing the association, each with its own requests::

            store = assoc.get_scu(uids.CT_IMAGE_STORAGE)
            status = store(path, assoc.new_message_id())
        """
        return self._router.new_message_id()

    @property
    def outstanding(self) -> int:
        """How many requests of ours (sent with :meth:`invoke`) await their final response."""
        return self._router.outstanding

    def _set_async_window(self, window: tuple[int, int], invoked_by_us: int) -> None:
        self.async_window = window
        self._router.set_window(invoked_by_us)

    def receive(self, timeout: float | None = None) -> tuple[dm.DIMSEMessage, int]:
        """The next DIMSE message not routed to an operation, and its context ID.

        The peer's requests, and responses to requests sent with :meth:`send`, come here in
        arrival order (after messages put aside with :meth:`defer`). Waits ``ae.dcm_timeout``
        by default. Raises :class:`DCMTimeoutError` when nothing arrives in time;
        :class:`AssociationReleasedError`, :class:`AssociationAbortedError` when the peer
        asked for a release or the association was aborted.
        """
        item = self._router.wait_unclaimed(self.ae.dcm_timeout if timeout is None else timeout)
        if isinstance(item, tuple):
            return item
        raise self._handle_errors(item)

    def poll(self) -> tuple[dm.DIMSEMessage, int] | None:
        """A DIMSE message that has already arrived, or None: never waits.

        What :meth:`receive` would return next; raises like it when the association was
        released or aborted.

        >>> import tempfile
        >>> from pynetdicom2 import sopclass, uids
        >>> from pynetdicom2.applicationentity import ClientAE
        >>> from pynetdicom2.loopback import LoopbackSCP
        >>> client = ClientAE('MYSCU').add_scu(sopclass.verification_scu)
        >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp) as pacs:
        ...     with client.request_association(pacs.remote) as assoc:
        ...         print(assoc.poll())          # None: the peer sent nothing since
        None
        """
        try:
            return self.receive(0)
        except DCMTimeoutError:
            return None

    def defer(self, msg: dm.DIMSEMessage, pc_id: int) -> None:
        """Put a message aside for a later :meth:`receive` (it keeps its arrival order)."""
        self._router.defer((msg, pc_id))

    def cancel_requested(self, msg_id: int | None) -> bool:
        """Whether a C-CANCEL-RQ for the peer's request ``msg_id`` has arrived; never waits.

        PS3.7 9.3.2.3: a running C-FIND, C-GET or C-MOVE checks between two responses. Other
        messages that arrived meanwhile stay for :meth:`receive`.
        """
        box = self._router.cancel_mailbox(msg_id)
        if box is None:
            box = self._router.expect_cancel(msg_id)
        try:
            self._router.wait(box, 0)
        except DCMTimeoutError:
            return False
        logger.info('C-CANCEL-RQ for message %s: cancelling it', msg_id)
        return True

    def _handle_errors(self, primitive: Any) -> NetDICOMError:
        """The exception that a non-DIMSE indication means for the service user."""
        if isinstance(primitive, pdu.AReleaseRqPDU):
            return AssociationReleasedError('the peer asked to release the association')
        if isinstance(primitive, pdu.AAbortPDU):
            self.association_established = False
            return AssociationAbortedError(primitive.source, primitive.reason_diag)
        if isinstance(primitive, pdu.AAssociateRjPDU):
            return AssociationRejectedError(
                primitive.result, primitive.source, primitive.reason_diag
            )
        return NetDICOMError(f'unexpected {type(primitive).__name__} from the peer')

    def respond_unsupported(self, pc_id: int, msg: dm.DIMSEMessage) -> None:
        """Answer a request no service handles with its response and status 0122H.

        PS3.7 Annex C: 0122H is "Refused: SOP Class not supported".
        """
        response_class = UNSUPPORTED_REQUEST_RESPONSES.get(msg.command_field)
        if response_class is None:
            raise DIMSEProcessingError(
                f'{type(msg).__name__} is not a request and cannot be answered'
            )
        logger.info(
            '%s for SOP class %s on context %d is not supported here: 0122H',
            type(msg).__name__, msg.sop_class_uid, pc_id,
        )
        rsp = response_class()
        rsp.message_id_being_responded_to = getattr(msg, 'message_id', None)
        rsp.sop_class_uid = msg.sop_class_uid
        instance = getattr(msg, 'affected_sop_instance_uid', None)
        if instance is not None and hasattr(rsp, 'affected_sop_instance_uid'):
            rsp.affected_sop_instance_uid = instance
        rsp.status = int(statuses.SOP_CLASS_NOT_SUPPORTED)
        self.send(rsp, pc_id)

    # -- release, abort, kill ------------------------------------------------------------

    def release(self) -> pdu.AReleaseRpPDU:
        """Release the association (A-RELEASE, PS3.8 7.2) and wait for the confirmation.

        A release collision (both sides asking at once) is resolved as the state machine
        prescribes (PS3.8 Table 9-10, Sta9 to Sta12). DIMSE messages still arriving are
        dropped (and logged).
        Raises :class:`AssociationAbortedError` when the peer aborts instead, and
        :class:`DCMTimeoutError` (after aborting) when no answer comes within ARTIM. When the
        peer asked first and is still waiting for our answer (Sta8), it gets it (AR-4): both
        sides wanted the association over, and it is.
        """
        collision = False
        try:
            try:
                self.dul.send(pdu.AReleaseRqPDU())
            except NetDICOMError:
                if self.dul.state is not States.STA_8:
                    raise
                self.dul.send(pdu.AReleaseRpPDU())
                self._finish()
                return pdu.AReleaseRpPDU()
            while True:
                item = self._router.wait_unclaimed(self.ae.artim_timeout, releasing=True)
                if isinstance(item, pdu.AReleaseRpPDU):
                    if collision and self.dul.is_acceptor:
                        # Sta12: the acceptor answers the peer's request last (AR-4).
                        self.dul.send(pdu.AReleaseRpPDU())
                    self._finish()
                    return item
                if isinstance(item, pdu.AReleaseRqPDU):
                    collision = True
                    if not self.dul.is_acceptor:
                        # Sta9: the requester answers first (AR-9), then awaits the RP.
                        self.dul.send(pdu.AReleaseRpPDU())
                    continue
                if isinstance(item, tuple):
                    msg, pc_id = item
                    logger.warning(
                        'dropping %s on context %d: it arrived while releasing',
                        type(msg).__name__, pc_id,
                    )
                    self.received_files.discard(msg.data_set)
                    continue
                raise self._handle_errors(item)
        except BaseException:
            self.kill()
            raise

    def answer_release(self) -> None:
        """Answer the peer's A-RELEASE-RQ (after :class:`AssociationReleasedError`) and end."""
        try:
            self.dul.send(pdu.AReleaseRpPDU())
        except NetDICOMError as exc:
            logger.info('cannot answer the release request: %s', exc)
        self._finish()

    def _finish(self) -> None:
        """End after a release or abort: what was sent still goes out; the peer closes."""
        self.association_established = False
        self.dul.stop(self.ae.artim_timeout + GRACE)
        self.kill()

    def abort(self, reason: int = 0) -> None:
        """Abort the association (A-ABORT, service-user source, PS3.8 7.3) and end it.

        Threads waiting for responses get :class:`AssociationAbortedError`.
        """
        aborting = pdu.AAbortPDU(0, reason)
        self._router.end_with(aborting)
        try:
            self.dul.send(aborting)
        except NetDICOMError:
            pass  # the association is already over
        self._finish()

    def kill(self) -> None:
        """Stop the DUL provider now (a best-effort A-ABORT if still associated) and join it.

        Users call :meth:`release` or :meth:`abort`; this is the last resort, and what every
        ending path calls last. Files of data sets not yet kept are discarded.
        """
        self.association_established = False
        self.dul.kill()
        if self._owner is None or self._owner is threading.current_thread():
            self.received_files.discard_all()
