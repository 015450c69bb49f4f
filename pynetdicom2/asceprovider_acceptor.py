"""The server side of one association: negotiation, access control, then serving requests.

:class:`AssociationAcceptor` is created by the AE's request handler for each accepted
connection (:mod:`pynetdicom2.applicationentity`) and run by its :meth:`~AssociationAcceptor.\
handle` on that connection's thread: it answers the A-ASSOCIATE-RQ (PS3.8 9.3.3, 9.3.4;
negotiation rules in :mod:`pynetdicom2.negotiation`), then hands each request to the SCP
service the AE registered, until the association is released or aborted. An idle
association (no request within the AE's ``network_timeout``) is aborted. Re-exported by
:mod:`pynetdicom2.asceprovider`.

With an Asynchronous Operations Window agreed (PS3.7 D.3.3.3: the AE's ``async_window``
allows more than one, and the requester proposed more), up to that many requests are
performed at once, each on one of the association's
:class:`~pynetdicom2.operations.Performers` threads (at most :data:`MAX_PERFORMERS`); their
responses go out as each finishes, so in any order. Otherwise requests are performed one
after the other on the association's own thread.

SOP class extended negotiation (PS3.7 D.3.3.5, D.3.3.6; the rules are
:mod:`pynetdicom2.extendednegotiation`'s): a proposed SOP class the AE does not serve is
accepted as a related general class named by a 0x57 item when the AE's
``on_sop_class_common_extended_negotiation`` picks one it serves, whose service then performs
its requests; each 0x56 item of an accepted class is answered with what the AE's
``on_sop_class_extended_negotiation`` offers, never more than was asked. What was agreed is
the association's ``extended_negotiation``; a hook handed only the presentation context reads
it with :func:`agreed_options` while a request is performed.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Callable

from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import extendednegotiation, negotiation, pdu
from pynetdicom2.asceprovider_association import GRACE, Association
from pynetdicom2.asceprovider_types import AEBaseProto
from pynetdicom2.exceptions import (
    AssociationAbortedError,
    AssociationError,
    AssociationRejectedError,
    AssociationReleasedError,
    DCMTimeoutError,
    DIMSEProcessingError,
    NetDICOMError,
)
from pynetdicom2.fsm import PContextDef, States
from pynetdicom2.negotiation import check_async_window
from pynetdicom2.operations import CANCELLABLE, Performers
from pynetdicom2.transport import format_address
from pynetdicom2.userdataitems import AsynchronousOperationsWindowSubItem

__all__ = ['MAX_PERFORMERS', 'AssociationAcceptor', 'agreed_options', 'current_association']

logger = logging.getLogger('pynetdicom2.asceprovider')

#: Threads that perform one association's requests at once, however large (or unlimited) the
#: window agreed: further requests wait for one of them.
MAX_PERFORMERS = 32

# The association whose request each thread is performing (see current_association).
_serving = threading.local()


def current_association() -> AssociationAcceptor | None:
    """The association whose request the calling thread is performing, or None.

    Set while a request is handed to its service, on whichever thread performs it, so that
    a hook handed only the presentation context (``on_receive_find`` ...) can read what the
    association agreed.
    """
    found: AssociationAcceptor | None = getattr(_serving, 'association', None)
    return found


def agreed_options(sop_class: str) -> extendednegotiation.Options | None:
    """What SOP class extended negotiation agreed for ``sop_class`` on the association whose
    request this thread performs (PS3.7 D.3.3.5), or None: no item was answered for it, so
    none of its options apply (PS3.4 C.5.1.1), or no request is being performed.

    Usage, in a hook (``QueryOptions.relational``: PS3.4 C.4.1.3.2)::

        def on_receive_find(self, context, ds):
            relational = getattr(agreed_options(context.sop_class), 'relational', False)
    """
    association = current_association()
    if association is None:
        return None
    return association.extended_negotiation.get(UID(sop_class))


_N_REQUESTS = (
    dm.NEventReportRQMessage, dm.NGetRQMessage, dm.NSetRQMessage, dm.NActionRQMessage,
    dm.NCreateRQMessage, dm.NDeleteRQMessage,
)


class AssociationAcceptor(Association):
    """The server side of one association: negotiates, then serves requests until it ends.

    Created by the AE's request handler for each connection (``request`` is the accepted
    socket) and run by :meth:`handle` on that connection's thread. ``remote_ae`` is the
    calling AE title, ``local_ae`` the called one; ``sop_classes_as_scp`` maps each context on
    which we are SCP to ``(pc_id, sop_class, transfer_syntax)``.

    What the request handler does, in outline::

        asce = AssociationAcceptor(sock, ('10.0.0.7', 50123), storage_ae, 65536)
        asce.handle()              # returns when the association has ended
    """

    def __init__(
        self,
        request: socket.socket,
        client_address: Any,
        local_ae: AEBaseProto,
        max_pdu_length: int,
    ) -> None:
        self.client_address = client_address
        self.is_killed = False
        self.sop_classes_as_scp: dict[int, tuple[int, UID, UID]] = {}
        #: Accepted SOP class -> (pc_id, transfer syntax) where the requester granted us the
        #: SCU role (PS3.7 D.3.3.4), e.g. storage contexts for C-GET sub-operations.
        self.sop_classes_as_scu: dict[UID, tuple[int, UID]] = {}
        self.remote_ae = ''
        self.local_ae = ''
        #: The requester's user identity sub-item (0x58), or None.
        self.user_identity: Any = None
        #: Server response of the 0x59 reply when a positive response is requested (PS3.7
        #: D.3.3.7.2); ``on_association_request`` may set it (a Kerberos ticket, SAML
        #: response or JWT). Ignored for identity types 1 and 2, which answer empty.
        self.identity_response = b''
        #: What SOP class extended negotiation agreed, by SOP class: the 0x56 replies we sent
        #: (PS3.7 D.3.3.5, :mod:`pynetdicom2.extendednegotiation`); a class without one is
        #: absent.
        self.extended_negotiation: dict[UID, extendednegotiation.Options] = {}
        #: Accepted SOP classes we serve as a related general class (PS3.7 D.3.3.6): class ->
        #: the class whose service performs its requests.
        self.sop_class_aliases: dict[UID, UID] = {}
        # Threads performing requests at once, when a window above one was agreed.
        self._performers: Performers | None = None
        super().__init__(local_ae, request, max_pdu_length)

    def _dul_options(self) -> dict[str, Any]:
        host, port = (self.client_address or ('peer', 0))[:2]
        return {'name': f'pynetdicom2-dul-{format_address(host, port)}'}

    def kill(self) -> None:
        """Set the stop flag and stop the DUL provider (callable from any thread)."""
        self.is_killed = True
        super().kill()

    def abort(self, reason: int = 0) -> None:
        """Abort with an A-ABORT, service-user source (whose reason is not significant: 0)."""
        super().abort(0)

    def reject(self, result: int, source: int, diag: int) -> None:
        """Send an A-ASSOCIATE-RJ (PS3.8 9.3.4) and let the peer close the transport.

        The place under ``maximum_associations`` goes back first: a requester that never
        closes (Sta13, ARTIM bounds it) must not hold it meanwhile.
        """
        self._dismiss()
        try:
            self.dul.send(pdu.AAssociateRjPDU(result, source, diag))
        except NetDICOMError as exc:
            logger.info('cannot send the A-ASSOCIATE-RJ: %s', exc)
        self._finish()

    def _refuse(self, result: int, source: int, reason: int, explanation: str) -> None:
        """Log, send the A-ASSOCIATE-RJ and raise :class:`AssociationRejectedError`."""
        logger.warning(
            'rejecting the association from %s (%s): %s',
            self.remote_ae, self.client_address, explanation,
        )
        self.reject(result, source, reason)
        raise AssociationRejectedError(result, source, reason, explanation)

    def accept(self, assoc_req: pdu.AAssociateRqPDU) -> None:
        """Answer the request: reject it, or accept the contexts the AE supports.

        Raises :class:`AssociationRejectedError` (an :class:`AssociationError`) after sending
        the A-ASSOCIATE-RJ when the request is not acceptable (application context, missing
        user information, AE titles; see :func:`negotiation.check_request`).
        """
        ae = self.ae
        required = ae.ae_title if ae.require_called_aet else None
        rejection = negotiation.check_request(assoc_req, required)
        if rejection is not None:
            self._refuse(*rejection)
        user_items = next((list(item.user_data) for item in assoc_req.variable_items
                           if isinstance(item, pdu.UserInformationItem)), [])
        with ae.lock:
            served = frozenset(ae.supported_scp)
        # PS3.7 D.3.3.6: a class we do not serve, accepted as a related general one we do.
        aliases = extendednegotiation.related_class_map(
            user_items,
            {UID(item.abs_sub_item.name) for item in assoc_req.variable_items
             if isinstance(item, pdu.PresentationContextItemRQ)},
            served, self._related_class,
        )
        with ae.lock:
            # PS3.7 10.1.1: the SCU of a class performs its N-EVENT-REPORTs, so an SCP service
            # that takes them (StorageCommitment() receiving results) can play the SCU role
            # the report's sender asks of us (PS3.4 J.3.3.1.3).
            report_receivers = {
                uid for uid, service in ae.supported_scp.items()
                if callable(getattr(service, 'n_event_report', None))
            }
            by_class = dict(getattr(ae, 'transfer_syntaxes_by_sop_class', None) or {})
            for alias, general in aliases.items():
                if general in by_class:
                    by_class.setdefault(alias, by_class[general])
            capabilities = negotiation.AcceptorCapabilities(
                scp_classes=frozenset(ae.supported_scp) | aliases.keys(),
                scu_classes=frozenset(ae.supported_scu) | report_receivers,
                transfer_syntaxes=tuple(ae.supported_ts),
                max_pdu_length=self.max_pdu_length,
                identity_response=self.identity_response,
                max_operations=self._window_ceiling(user_items),
                syntaxes_by_class=by_class,
                preference=getattr(ae, 'transfer_syntax_preference', 'requester'),
            )
        negotiated = negotiation.negotiate_as_acceptor(assoc_req, capabilities)
        self._negotiate_extended(negotiated, user_items, aliases)
        self.peer_max_pdu_length = negotiated.peer_max_pdu_length
        self.accepted_contexts = negotiated.accepted_contexts
        self.sop_classes_as_scp = {
            pc_id: (pc_id, ctx.sop_class, ctx.supported_ts)
            for pc_id, ctx in negotiated.accepted_contexts.items()
            if pc_id in negotiated.scp_context_ids
        }
        self.sop_classes_as_scu = {
            ctx.sop_class: (pc_id, ctx.supported_ts)
            for pc_id, ctx in negotiated.accepted_contexts.items()
            if pc_id in negotiated.scu_context_ids
        }
        # The reassembler must know the contexts before the peer can use them.
        self.dul.accepted_contexts = negotiated.accepted_contexts
        # The requester invokes up to the first number, which we perform; we invoke (C-GET
        # sub-operations) up to the second.
        performed, invoked = negotiated.async_window
        self._set_async_window(negotiated.async_window, invoked)
        if performed != 1:
            host, port = (self.client_address or ('peer', 0))[:2]
            limit = MAX_PERFORMERS if performed == 0 else min(performed, MAX_PERFORMERS)
            self._performers = Performers(limit, f'pynetdicom2-op-{format_address(host, port)}')
        try:
            self.dul.send(
                pdu.AAssociateAcPDU(
                    assoc_req.called_ae_title, assoc_req.calling_ae_title, negotiated.ac_items
                )
            )
        except NetDICOMError as exc:
            if self.dul.state not in (States.STA_1, States.STA_13) and not self.dul.ended:
                raise
            # The requester sent something invalid behind its request, or went away (the
            # transport may close before the machine leaves Sta3): the provider aborted or
            # ended before we could answer.
            raise AssociationAbortedError(
                2, 0, f'the association ended before the A-ASSOCIATE-AC was sent: {exc}'
            ) from exc
        self.association_established = True
        logger.info(
            'association from %s (%s) accepted: %d of %d contexts',
            self.remote_ae, self.client_address, len(negotiated.accepted_contexts),
            len(negotiated.ac_items) - 2,
        )

    def _negotiate_extended(self, negotiated: negotiation.AcceptorResult,
                            user_items: list[pdu.UserItem], aliases: dict[UID, UID]) -> None:
        """Answer the 0x56 items of the accepted classes in the AC (PS3.7 D.3.3.5) and keep
        what was agreed; keep the related general classes of those accepted (D.3.3.6)."""
        accepted = {ctx.sop_class for ctx in negotiated.accepted_contexts.values()}
        self.sop_class_aliases = {alias: general for alias, general in aliases.items()
                                  if alias in accepted}
        replies, self.extended_negotiation = extendednegotiation.negotiate(
            user_items, accepted, self._extended_answer, self.sop_class_aliases)
        for item in negotiated.ac_items:
            if isinstance(item, pdu.UserInformationItem):
                extendednegotiation.insert_sub_items(item.user_data, replies)
        with self.ae.lock:
            in_files = {alias for alias, general in self.sop_class_aliases.items()
                        if general in self.ae.store_in_file}
            if in_files:
                # Data sets of a class served as a storage class go to files, as its do.
                decoder = self.dul.state_machine.dimse_decoder
                decoder.store_in_file = frozenset(self.ae.store_in_file) | in_files

    def _extended_answer(self, sop_class: UID, app_info: bytes) -> Any:
        """``ae.on_sop_class_extended_negotiation``'s offer; None (no reply) if it fails."""
        hook = getattr(self.ae, 'on_sop_class_extended_negotiation', None)
        try:
            if hook is None:
                return extendednegotiation.default_answer(
                    self.ae, sop_class, app_info, self.sop_class_aliases.get(sop_class))
            return hook(self, sop_class, app_info)
        except Exception:
            logger.exception('the on_sop_class_extended_negotiation hook failed for %s; no '
                             'reply item', sop_class)
            return None

    def _related_class(self, item: Any) -> str | None:
        """``ae.on_sop_class_common_extended_negotiation``'s class; None if it fails."""
        hook = getattr(self.ae, 'on_sop_class_common_extended_negotiation', None)
        try:
            if hook is None:
                with self.ae.lock:
                    served = frozenset(self.ae.supported_scp)
                return extendednegotiation.default_related_class(item, served)
            found: str | None = hook(self, item)
            return found
        except Exception:
            logger.exception('the on_sop_class_common_extended_negotiation hook failed for %s',
                             getattr(item, 'sop_class_uid', '?'))
            return None

    def handle(self) -> None:
        """Run the association to its end: set-up, then serve requests; never raises.

        A release is answered; an abort goes to ``ae.on_abort``; an idle association (no
        request within ``ae.network_timeout``) is aborted and reported to
        ``ae.on_dcm_timeout``; anything else is logged. The DUL thread is always stopped and
        joined, and files of unfinished data sets are removed.
        """
        self._owner = threading.current_thread()
        try:
            self._establish()
            self._loop()
        except AssociationReleasedError:
            if self._performers is not None:
                # PS3.8 Sta8: responses to what is still performed may go out before the RP.
                self._performers.close()
            # No data set can come now: the staging files prepared for more go before the
            # requester hears the release is done, so it finds only what was stored.
            self.received_files.discard_all()
            self.answer_release()
        except AssociationAbortedError as exc:
            logger.info('association with %s aborted: %s', self.remote_ae, exc)
            self._call_hook(self.ae.on_abort, self, exc)
        except AssociationError as exc:
            logger.info('association from %s ended: %s', self.client_address, exc)
        except DCMTimeoutError as exc:
            logger.warning('association with %s idle or stalled, aborting: %s', self.remote_ae, exc)
            self.abort()
            self._call_hook(self.ae.on_dcm_timeout, self, exc)
        except DIMSEProcessingError as exc:
            # The peer broke the DIMSE protocol (PS3.7): its fault, not ours; abort.
            logger.warning('association with %s: invalid DIMSE traffic, aborting: %s',
                           self.remote_ae, exc)
            self.abort()
        except Exception as exc:
            if self.is_killed:  # stopped from outside, e.g. by AE.quit()
                logger.info('association with %s stopped: %s', self.remote_ae, exc)
            else:
                logger.exception('association with %s failed; aborting it', self.remote_ae)
        finally:
            self._stop_performers()
            self.kill()

    def _stop_performers(self) -> None:
        """Requests still being performed end (an ended association fails their sends);
        their threads are joined before the association's files are cleared."""
        performers = self._performers
        if performers is not None:
            if performers.busy and not self._router.ended:
                self.dul.kill()
            performers.close()

    @staticmethod
    def _call_hook(hook: Callable[..., Any], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            logger.exception('the %s hook failed', getattr(hook, '__name__', hook))

    def _establish(self) -> None:
        self.dul.start()  # ARTIM runs from the connection on (PS3.8 AE-5)
        try:
            rq = self.dul.receive(self.ae.artim_timeout + GRACE)
        except NetDICOMError as exc:
            raise AssociationError(f'no A-ASSOCIATE-RQ: {exc}') from None
        if not isinstance(rq, pdu.AAssociateRqPDU):
            raise self._handle_errors(rq)
        self.remote_ae = rq.calling_ae_title
        self.local_ae = rq.called_ae_title
        self.received_files.source_ae_title = self.remote_ae.strip()
        self.user_identity = next(
            (
                item
                for variable in rq.variable_items
                if isinstance(variable, pdu.UserInformationItem)
                for item in variable.user_data
                if item.item_type == 0x58
            ),
            None,
        )
        server = getattr(self.ae, 'server', None)
        try:
            self._check_access()
            try:
                self.ae.on_association_request(self, rq)
            except AssociationRejectedError as exc:
                logger.info('on_association_request rejected %s: %s', self.remote_ae, exc)
                self.reject(exc.result, exc.source, exc.diagnostic)
                raise
            self.accept(rq)
        except BaseException:
            self._dismiss()  # rejected or failed: its place is free again
            raise
        negotiated = getattr(server, 'negotiated', None)
        if negotiated is not None:
            negotiated(self)  # no longer counts against maximum_unnegotiated

    def _check_access(self) -> None:
        """The AE's access policy: association limit, calling AE allow-list, user identity.

        Rejects (A-ASSOCIATE-RJ) and raises :class:`AssociationRejectedError` when the request
        may not go on: 2/3/2 beyond ``ae.maximum_associations``, 1/1/3 for a calling AE title
        not in ``ae.allowed_calling_aets``, 1/1/1 when ``ae.on_user_identity`` says no (its
        bytes or str answer becomes the 0x59 server response), 2/1/1 (transient, no reason
        given) while the calling address is throttled for failed identity checks. Identity
        fields are never logged.

        Only associations count against ``maximum_associations``: this request is counted
        from here (the server's :meth:`~pynetdicom2.aeserver.AssociationServer.admit`), not
        from its connection, so connections that never send a request (capped apart, by
        ``maximum_unnegotiated``) cannot lock associations out.

        Failed identity checks are throttled per calling address (the server's
        :class:`~pynetdicom2.aeserver.IdentityThrottle`): by default the first five failures
        are free, each further one blocks the address for 1 s, doubling up to 60 s. Requests
        from a blocked address are rejected 2/1/1 without asking the hook, so a password
        guesser gets a handful of guesses, then about one per minute, and a success clears
        the address's record.
        """
        ae = self.ae
        server = getattr(ae, 'server', None)
        limit = getattr(ae, 'maximum_associations', None)
        admit = getattr(server, 'admit', None)
        allowed = getattr(ae, 'allowed_calling_aets', None)
        rejection: tuple[int, int, int, str] | None = None
        if admit is not None and not admit(self, limit):
            rejection = (2, 3, 2, f'more than maximum_associations ({limit}) at once')
        elif allowed is not None and self.remote_ae.strip() not in {
            title.strip() for title in allowed
        }:
            rejection = (1, 1, 3, f'calling AE title {self.remote_ae!r} is not allowed')
        else:
            rejection = self._check_identity(getattr(server, 'identity_throttle', None))
        if rejection is not None:
            self._refuse(*rejection)

    def _dismiss(self) -> None:
        """Give back the place :meth:`_check_access` took under ``maximum_associations``."""
        dismiss = getattr(getattr(self.ae, 'server', None), 'dismiss', None)
        if dismiss is not None:
            dismiss(self)

    def _check_identity(self, throttle: Any) -> tuple[int, int, int, str] | None:
        """Ask ``ae.on_user_identity`` unless the calling address is throttled; the
        rejection to send, or None (see :meth:`_check_access`)."""
        verify = getattr(self.ae, 'on_user_identity', None)
        if verify is None:
            return None
        host = self._peer_host()
        if throttle is not None:
            wait = throttle.attempt(host)
            if wait > 0:
                return (2, 1, 1, f'too many failed user identity checks from {host}; '
                                 f'the hook is not asked for {wait:.1f} s')
        verdict: Any = False
        try:
            verdict = verify(self, self.user_identity)
        except Exception:
            logger.exception('the on_user_identity hook failed; rejecting')
            verdict = False
        finally:
            if throttle is not None:
                accepted = verdict is not None and verdict is not False
                (throttle.succeeded if accepted else throttle.failed)(host)
        if verdict is None or verdict is False:
            kind = getattr(self.user_identity, 'user_identity_type', None)
            return (1, 1, 1, f'user identity (type {kind}) not accepted')
        if isinstance(verdict, (bytes, str)):
            self.identity_response = verdict.encode() if isinstance(verdict, str) else verdict
        return None

    def _peer_host(self) -> str:
        """The calling address, without the port (what throttling counts per)."""
        address = self.client_address
        if isinstance(address, tuple) and address:
            return str(address[0])
        return str(address or 'local')

    def _loop(self) -> None:
        progress: tuple[Any, ...] | None = None
        while not self.is_killed:
            try:
                msg, pc_id = self.receive(self.ae.network_timeout)
            except DCMTimeoutError:
                # A data set still streaming into its file is not idleness: wait on while it
                # grows. Anything else quiet for network_timeout is, and either service user may
                # abort an association it no longer wants (PS3.8 7.3, A-ABORT).
                marker = self._reception_progress()
                if marker is not None and marker != progress:
                    progress = marker
                    continue
                if self._performers is not None and self._performers.busy:
                    continue  # a long C-MOVE is being performed: not idle
                raise
            progress = None
            if self._performers is not None and isinstance(msg, dm.DIMSERequestMessage):
                self._performers.submit(self._perform, msg, pc_id)
            else:
                self._dispatch(msg, pc_id)

    def _perform(self, msg: dm.DIMSEMessage, pc_id: int) -> None:
        """A request on a performer thread: as :meth:`_dispatch`, and a failure that would end
        :meth:`handle` aborts the association instead (the loop then ends)."""
        try:
            self._dispatch(msg, pc_id)
        except (AssociationAbortedError, AssociationReleasedError) as exc:
            logger.info('%s from %s not answered: %s', type(msg).__name__, self.remote_ae, exc)
        except NetDICOMError as exc:
            if self._router.ended:
                logger.info('%s from %s not answered: %s', type(msg).__name__, self.remote_ae,
                            exc)
            else:
                logger.warning('association with %s: %s, aborting', self.remote_ae, exc)
                self.kill()  # an A-ABORT; the loop then ends quietly, as stopped
        except Exception:
            logger.exception('performing %s from %s failed; aborting the association',
                             type(msg).__name__, self.remote_ae)
            self.kill()

    def _reception_progress(self) -> tuple[Any, ...] | None:
        decoder = self.dul.state_machine.dimse_decoder
        if not decoder.receiving:
            return None
        positions = self.received_files.positions()
        return (id(decoder.msg), decoder.command_set_received, *positions)

    def _dispatch(self, msg: dm.DIMSEMessage, pc_id: int) -> None:
        # The one place a request's data set is discarded unless the service kept it.
        previous = getattr(_serving, 'association', None)
        _serving.association = self
        try:
            with self.received_files.handling(msg.data_set):
                self._serve(msg, pc_id)
        finally:
            _serving.association = previous
            if isinstance(msg, CANCELLABLE):
                self._router.cancel_done(msg.message_id)

    def _serve(self, msg: dm.DIMSEMessage, pc_id: int) -> None:
        if isinstance(msg, dm.CCancelRQMessage):
            self._handle_cancel(msg, pc_id)
            return
        if not isinstance(msg, dm.DIMSERequestMessage):
            raise DIMSEProcessingError(
                f'{type(msg).__name__} on context {pc_id}: expected a request, since no '
                'request of ours is outstanding'
            )
        requested = msg.sop_class_uid
        if requested is not None and not isinstance(requested, str):
            # e.g. a backslash in the UID: a multi-valued element, never a valid UID
            raise DIMSEProcessingError(
                f'{type(msg).__name__} on context {pc_id}: SOP class UID {requested!r} '
                'is not a single UID'
            )
        service = None
        context = self.accepted_contexts.get(pc_id)
        if context is not None and (
            pc_id in self.sop_classes_as_scp or self._performs_as_scu(msg, context)
        ):
            with self.ae.lock:
                service = self.ae.supported_scp.get(requested or context.sop_class)
                if service is None and requested and isinstance(msg, _N_REQUESTS):
                    # A DIMSE-N request may name another class of its service than its
                    # context's: UPS Push on a Pull, Watch or Event context (PS3.4 CC.3.1),
                    # a Film Box on a Print Management Meta SOP Class context (PS3.4 H.3).
                    service = self.ae.supported_scp.get(context.sop_class)
                general = self.sop_class_aliases.get(UID(requested or context.sop_class))
                if service is None and general is not None:  # PS3.7 D.3.3.6
                    service = self.ae.supported_scp.get(general)
        if service is None or context is None:
            self.respond_unsupported(pc_id, msg)
            return
        service(self, context, msg)

    def _window_ceiling(self, user_items: list[Any]) -> tuple[int, int]:
        """What we may invoke and perform at once on this association: the AE's
        ``on_async_window`` hook's answer to a proposed window (PS3.7 D.3.3.3), else its
        ``async_window``; (1, 1) for none. The reply never exceeds the proposal either way."""
        proposed = next((item for item in user_items
                         if isinstance(item, AsynchronousOperationsWindowSubItem)), None)
        hook = getattr(self.ae, 'on_async_window', None)
        ceiling = getattr(self.ae, 'async_window', None)
        if proposed is not None and hook is not None:
            ceiling = hook(self, (proposed.max_num_ops_invoked, proposed.max_num_ops_performed))
        return check_async_window(ceiling) or (1, 1)

    def _performs_as_scu(self, msg: dm.DIMSEMessage, context: PContextDef) -> bool:
        """True for a request the SCU role performs: an N-EVENT-REPORT on a context where we
        are SCU (PS3.7 10.1.1: the SCP invokes it, the SCU performs it), e.g. a storage
        commitment result on the association the SCP opened with the SCP role (PS3.4
        J.3.3.1.3)."""
        if not isinstance(msg, dm.NEventReportRQMessage):
            return False
        accepted = self.sop_classes_as_scu.get(context.sop_class)
        return accepted is not None and accepted[0] == context.id

    def _handle_cancel(self, msg: dm.CCancelRQMessage, pc_id: int) -> None:
        # PS3.7 9.3.2.3: a C-CANCEL-RQ refers to a pending C-FIND/C-GET/C-MOVE; none runs
        # between two requests, so there is nothing to cancel here.
        logger.info(
            'C-CANCEL-RQ for message %s on context %d: no operation is pending',
            msg.message_id_being_responded_to, pc_id,
        )
