"""The client side of one association: proposal, request, and the SCUs bound to it.

:class:`AssociationRequester` is created by ``ClientAE.request_association``
(:mod:`pynetdicom2.applicationentity`): it proposes only the SOP classes the AE needs
(:func:`pynetdicom2.negotiation.select_proposal`), sends the A-ASSOCIATE-RQ (PS3.8 9.3.2),
reads the answer and binds the registered SCU functions to the accepted presentation
contexts. With an ``ssl_context`` the connection is TLS (PS3.15 B.1, :mod:`pynetdicom2.tls`).
The peer's address may be IPv4 or IPv6 (a name resolving to either, ``'::1'``); the connection
starts from the AE's ``bind_address`` when it has one (:func:`pynetdicom2.transport.connect`).
The AE's ``extended_negotiation`` (or the association's own) proposes SOP class extended
negotiation for the classes proposed (PS3.7 D.3.3.5); what the acceptor agreed to is the
association's ``extended_negotiation`` (:mod:`pynetdicom2.extendednegotiation`).
Re-exported by :mod:`pynetdicom2.asceprovider`.
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable

from pydicom.uid import UID

from pynetdicom2 import extendednegotiation, negotiation, pdu
from pynetdicom2.asceprovider_association import GRACE, Association
from pynetdicom2.asceprovider_types import (
    AEBaseProto,
    PContextDefList,
    RemoteAEConfig,
    build_pres_context_def_list,
    remote_config,
)
from pynetdicom2.dulprovider import DULServiceProvider
from pynetdicom2.exceptions import (
    AssociationAbortedError,
    AssociationError,
    ClassNotSupportedError,
    ConnectionFailedError,
    NetDICOMError,
)
from pynetdicom2.fsm import PContextDef
from pynetdicom2.negotiation import APPLICATION_CONTEXT_NAME
from pynetdicom2.services.storage import DataSetSource, store_many
from pynetdicom2.statuses import Status
from pynetdicom2.tls import TLSDULProvider
from pynetdicom2.transport import check_bind_address, format_address

__all__ = ['AssociationRequester']

logger = logging.getLogger('pynetdicom2.asceprovider')


def _user_items(associate: pdu.AAssociatePDUBase) -> list[pdu.UserItem]:
    """The user information sub-items of an A-ASSOCIATE-RQ or -AC."""
    return next((list(item.user_data) for item in associate.variable_items
                 if isinstance(item, pdu.UserInformationItem)), [])


class AssociationRequester(Association):
    """The client side: proposes, requests, and binds SCU functions to accepted contexts.

    ``context_def_list`` is what this association proposes (IDs 1, 3, 5 ... , only the SOP
    classes it needs), ``remote_ae`` the peer, ``sop_classes_as_scu`` each accepted SOP class
    -> ``(pc_id, transfer_syntax)`` (empty until established). Normally created by
    ``ClientAE.request_association``. With ``ssl_context`` (keyword-only) the connection runs
    over TLS (:class:`~pynetdicom2.tls.TLSDULProvider`); the AE passes its requesting context.
    ``bind_address`` (keyword-only): the local ``(host, port)`` to connect from, for this
    association (default: the AE's ``bind_address``; ``('', 0)``: the system's choice);
    checked here (:func:`~pynetdicom2.transport.check_bind_address`, a
    :class:`NetDICOMError`), bound when connecting (a failure is a
    :class:`ConnectionFailedError` saying so). ``extended_negotiation`` (keyword-only): what
    to propose of SOP class extended negotiation, by SOP class UID or service family, in place
    of the AE's ``extended_negotiation`` (:func:`~pynetdicom2.extendednegotiation.options_for`).

    >>> import tempfile
    >>> from pynetdicom2 import sopclass, uids
    >>> from pynetdicom2.applicationentity import ClientAE
    >>> from pynetdicom2.loopback import LoopbackSCP
    >>> client = ClientAE('MYSCU').add_scu(sopclass.verification_scu)
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp, 'PACS') as pacs:
    ...     # a real peer: RemoteAEConfig('PACS', '10.0.0.5', 104)
    ...     assoc = AssociationRequester(client, 65536, RemoteAEConfig('PACS', '127.0.0.1',
    ...                                                                pacs.port))
    ...     ac = assoc.request()                   # the A-ASSOCIATE-AC
    ...     print(ac.called_ae_title, assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success)
    ...     rp = assoc.release()                   # the A-RELEASE-RP
    PACS True
    """

    def __init__(
        self,
        local_ae: AEBaseProto,
        max_pdu_length: int,
        remote_ae: RemoteAEConfig | Mapping[str, Any],
        *,
        ssl_context: ssl.SSLContext | None = None,
        bind_address: tuple[str, int] | None = None,
        extended_negotiation: Mapping[str, Any] | None = None,
    ) -> None:
        #: The local ``(host, port)`` the connection starts from (None: the system's choice).
        self.bind_address = check_bind_address(
            getattr(local_ae, 'bind_address', None) if bind_address is None else bind_address
        )
        self.remote_ae = remote_config(remote_ae)
        #: The TLS context the connection is wrapped with (None: plain TCP).
        self.ssl_context = ssl_context
        registry = local_ae.copy_context_def_list()  # takes the lock itself
        with local_ae.lock:
            scu_classes = frozenset(local_ae.supported_scu)
            scp_classes = frozenset(local_ae.supported_scp)
            # What a C-GET may bring back: storage classes, and whatever the AE asked to
            # receive in files (update_context_def_list(..., store_in_file=True)).
            receivable = negotiation.STORAGE_SOP_CLASSES | frozenset(local_ae.store_in_file)
        proposal, self._roles = negotiation.select_proposal(
            ((ctx.sop_class, ctx.supported_ts) for ctx in registry.values()),
            scu_classes,
            scp_classes,
            receivable,
        )
        self._proposal = proposal
        self.context_def_list: dict[int, PContextDefList] = {
            pc_id: PContextDefList(pc_id, ctx.sop_class, ctx.supported_ts)
            for pc_id, ctx in proposal.items()
        }
        self.sop_classes_as_scu: dict[UID, tuple[int, UID]] = {}
        #: Every accepted context on which we are SCU, by SOP class, in the proposal's order.
        self.scu_contexts: dict[UID, list[PContextDef]] = {}
        #: Contexts on which the acceptor granted us the SCP role (C-GET sub-operations).
        self.sop_classes_as_scp: dict[int, tuple[int, UID, UID]] = {}
        #: What to propose of SOP class extended negotiation (PS3.7 D.3.3.5): the AE's, unless
        #: given for this association.
        self._extended_config: Mapping[str, Any] = (
            getattr(local_ae, 'extended_negotiation', None) or {}
            if extended_negotiation is None else extended_negotiation
        )
        #: What the A-ASSOCIATE-AC agreed to, by SOP class (empty until established; a class
        #: the acceptor sent no 0x56 reply for is absent: none of its options apply).
        self.extended_negotiation: dict[UID, extendednegotiation.Options] = {}
        super().__init__(local_ae, None, max_pdu_length)
        self.received_files.source_ae_title = str(self.remote_ae.aet).strip()

    def _create_dul(self, local_ae: AEBaseProto, dul_socket: Any,
                    max_pdu_length: int) -> DULServiceProvider:
        dul = super()._create_dul(local_ae, dul_socket, max_pdu_length)
        dul.bind_address = self.bind_address  # read when its thread connects
        return dul

    def _dul_class(self) -> Callable[..., DULServiceProvider]:
        if self.ssl_context is None:
            return DULServiceProvider
        return functools.partial(TLSDULProvider, self.ssl_context)

    def _dul_options(self) -> dict[str, Any]:
        remote = self.remote_ae
        return {
            'called_address': (remote.address, remote.port),
            'connect_timeout': self.ae.connect_timeout,
            'name': f'pynetdicom2-dul-{remote.aet}@{format_address(remote.address, remote.port)}',
        }

    def _request_pdu(self) -> pdu.AAssociateRqPDU:
        remote = self.remote_ae
        identity = negotiation.identity_item(
            remote.username, remote.password, remote.kerberos, remote.saml, remote.jwt
        )
        items: list[pdu.VariableItems] = [pdu.ApplicationContextItem(APPLICATION_CONTEXT_NAME)]
        items += build_pres_context_def_list(self.context_def_list)
        extended = extendednegotiation.proposal_items(
            self._extended_config, (ctx.sop_class for ctx in self._proposal.values()),
            remote.user_data,
        )
        items.append(
            negotiation.requester_user_information(
                self.max_pdu_length, self._roles, remote.user_data, identity,
                getattr(self.ae, 'async_window', None), extended,
            )
        )
        return pdu.AAssociateRqPDU(remote.aet, self.ae.ae_title, items)

    def request(self) -> pdu.AAssociateAcPDU:
        """Request the association; return the A-ASSOCIATE-AC once it is established.

        Raises :class:`AssociationRejectedError` (result, source, diagnostic),
        :class:`AssociationAbortedError` (:class:`ConnectionFailedError` when the connection
        fails: an A-P-ABORT, the :class:`OSError` its ``__cause__``), :class:`DCMTimeoutError`
        when no answer comes within ``artim_timeout`` of the connection (made within
        ``connect_timeout``, TLS handshake included), :class:`AssociationError`
        for an unusable request or answer. The DUL is stopped before any of them is raised.
        """
        remote = self.remote_ae
        try:
            rq = self._request_pdu()
            rq.encode()  # a bad AE title or UID must fail here, in the caller's thread
        except NetDICOMError as exc:
            self.kill()
            raise AssociationError(
                f'cannot request an association with {remote.aet}: {exc}'
            ) from exc
        if not self.context_def_list:
            self.kill()
            raise AssociationError(
                'nothing to propose: register an SCU service (add_scu) before requesting an '
                'association'
            )
        try:
            self.dul.send(rq)
            # Connecting (and a TLS handshake) is bounded by connect_timeout on the socket;
            # the reply, by ARTIM from then on, as DCMTK's -to and -ta are.
            self.dul.connected.wait(2 * self.ae.connect_timeout + GRACE)
            reply = self.dul.receive(self.ae.artim_timeout)
            if isinstance(reply, pdu.AAbortPDU) and self.dul.transport_error is not None:
                error = self.dul.transport_error
                raise ConnectionFailedError(
                    2, 0,
                    f'cannot connect to {format_address(remote.address, remote.port)}: {error}',
                ) from error
            if not isinstance(reply, pdu.AAssociateAcPDU):
                raise self._explain_tls_end(self._handle_errors(reply))
            result = negotiation.read_acceptance(
                self._proposal, self._roles, reply, getattr(self.ae, 'async_window', None)
            )
        except BaseException:
            self.kill()
            raise
        self.peer_max_pdu_length = result.peer_max_pdu_length
        self.accepted_contexts = result.accepted_contexts
        # A class proposed in several contexts (a compressed file's own syntax, and the
        # uncompressed ones it decodes to) may have several accepted: all are kept, in the
        # proposal's order, and the first is the class's context.
        self.scu_contexts = {}
        for pc_id, ctx in sorted(result.accepted_contexts.items()):
            if pc_id in result.scu_context_ids:
                self.scu_contexts.setdefault(ctx.sop_class, []).append(ctx)
        self.sop_classes_as_scu = {
            sop_class: (contexts[0].id, contexts[0].supported_ts)
            for sop_class, contexts in self.scu_contexts.items()
        }
        self.sop_classes_as_scp = {
            pc_id: (pc_id, ctx.sop_class, ctx.supported_ts)
            for pc_id, ctx in result.accepted_contexts.items()
            if pc_id in result.scp_context_ids
        }
        self.dul.accepted_contexts = result.accepted_contexts
        self.extended_negotiation = extendednegotiation.read_reply(
            _user_items(rq), _user_items(reply),
            {ctx.sop_class for ctx in result.accepted_contexts.values()},
        )
        # We invoke up to the first number; the second bounds what the acceptor invokes, and
        # we perform its requests (C-GET sub-operations) one at a time, within any window.
        self._set_async_window(result.async_window, result.async_window[0])
        self.association_established = True
        refused = {pc_id: r for pc_id, r in result.results.items() if r != 0}
        if refused:
            logger.info(
                '%s refused contexts %s',
                remote.aet,
                ', '.join(
                    f'{pc_id} ({self.context_def_list[pc_id].sop_class}: result {r})'
                    for pc_id, r in refused.items()
                ),
            )
        try:
            self.ae.on_association_response(reply)
        except BaseException:
            self.abort()
            raise
        return reply

    def _explain_tls_end(self, exc: NetDICOMError) -> NetDICOMError:
        """Over TLS, a connection that ends before the answer without saying why: the server
        closed it after checking our certificate (TLS 1.3 checks it after the client's side
        of the handshake is done)."""
        if (
            self.ssl_context is None
            or not isinstance(exc, AssociationAbortedError)
            or exc.source != 2
            or exc.reason_diag != 0
        ):
            return exc
        remote = self.remote_ae
        explained = AssociationAbortedError(
            exc.source,
            exc.reason_diag,
            f'the TLS connection to {format_address(remote.address, remote.port)} ended '
            'before the A-ASSOCIATE-AC: the server may have refused our client certificate '
            '(none presented, or one it does not trust)',
        )
        explained.__cause__ = exc
        return explained

    def get_scu(self, sop_class: str) -> Callable[..., Any]:
        """The SCU function for ``sop_class``, bound to this association and its context.

        Raises :class:`ClassNotSupportedError` when the class is not registered with
        ``add_scu`` or the peer did not accept it.

        >>> import tempfile
        >>> from pynetdicom2 import sopclass, uids
        >>> from pynetdicom2.applicationentity import ClientAE
        >>> from pynetdicom2.loopback import LoopbackSCP
        >>> client = ClientAE('MYSCU').add_scu(sopclass.verification_scu)
        >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp) as pacs:
        ...     with client.request_association(pacs.remote) as assoc:
        ...         status = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
        ...         try:
        ...             assoc.get_scu(uids.CT_IMAGE_STORAGE)
        ...         except ClassNotSupportedError as exc:
        ...             print(exc)
        SOP class 1.2.840.10008.5.1.4.1.1.2 is not registered with add_scu
        >>> print(status)
        (0x0) Success: -
        """
        with self.ae.lock:
            service = self.ae.supported_scu.get(sop_class)
        accepted = self.sop_classes_as_scu.get(UID(sop_class))
        if service is None or accepted is None:
            why = 'is not registered with add_scu' if service is None else (
                f'was not accepted by {self.remote_ae.aet}'
            )
            raise ClassNotSupportedError(f'SOP class {sop_class} {why}')
        pc_id, ts = accepted
        return functools.partial(service, self, PContextDef(pc_id, UID(sop_class), ts))

    def store_many(
        self, sources: Iterable[DataSetSource], window: int | None = None,
        progress: Callable[[DataSetSource, int, int], Any] | None = None,
    ) -> Iterator[tuple[DataSetSource, Status | Exception]]:
        """C-STORE many files or Datasets, up to ``window`` outstanding at once, yielding
        ``(source, status)`` as the responses come: :func:`pynetdicom2.sopclass.store_many`.

        ``window`` None: as many as the association's window (``async_window``) allows,
        one at a time with a peer that granted none. ``progress(source, sent, total)``, if
        given, is called as each file's data set goes out (see ``store_many``).

        Usage (``client`` proposed ``async_window=(16, 1)``)::

            with client.request_association(pacs) as assoc:
                for path, status in assoc.store_many(paths):
                    print(path, status)
        """
        return store_many(self, sources, window, progress)

    def abort(self, reason: int = 0) -> None:
        """Abort the association: A-ABORT with service-user source and ``reason``."""
        super().abort(reason)
