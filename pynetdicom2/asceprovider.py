"""Associations: set-up, DIMSE exchange, release and abort, for both sides (the seed's module).

This module owns the life cycle of one association, from the A-ASSOCIATE request to the
closed transport: :class:`AssociationRequester` (the client side, created by
``ClientAE.request_association``) and :class:`AssociationAcceptor` (the server side, one per
incoming connection, run by ``AE`` on a thread of its own). It drives a
:class:`~pynetdicom2.dulprovider.DULServiceProvider` (which owns the socket and the PS3.8
state machine), asks :mod:`pynetdicom2.negotiation` what to answer, and dispatches each
received request to the SOP class service the AE registered. It does not know how a service
works (``sopclass``) nor how an AE listens (``applicationentity``).

Theory of operation:

* Each association object owns the whole life cycle until released or aborted, and owns the
  files its DUL writes received data sets to: every file ``ae.get_file`` hands out is tracked
  until a service keeps it (``keep_received_file``) or it is discarded; whatever is still
  tracked when the association ends (an abort, a vanished peer) is discarded, so a partial
  data set never stays on disk.
* Two maximum lengths are kept apart: ``max_pdu_length`` is what we announce and bounds what
  we receive; ``peer_max_pdu_length`` is what the peer announced and bounds what we send
  (0 = unlimited on either side, PS3.8 D.1).
* Timeouts come from the AE: ``artim_timeout`` bounds set-up and release, ``dcm_timeout`` the
  wait for a DIMSE response, ``network_timeout`` an idle acceptor (ended with an A-ABORT).

Usage (normally through an AE; see :mod:`pynetdicom2.applicationentity`)::

    assoc = AssociationRequester(client_ae, 65536, {'aet': 'PACS', 'address': '10.0.0.5',
                                                    'port': 104})
    assoc.request()
    status = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
    assoc.release()
"""

from __future__ import annotations

import collections
import functools
import io
import logging
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Protocol, TypeVar

from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import negotiation, pdu, statuses
from pynetdicom2.dulprovider import DULServiceProvider
from pynetdicom2.exceptions import (
    AssociationAbortedError,
    AssociationError,
    AssociationRejectedError,
    AssociationReleasedError,
    ClassNotSupportedError,
    ConnectionFailedError,
    DCMTimeoutError,
    DIMSEProcessingError,
    NetDICOMError,
)
from pynetdicom2.filestorage import is_safe_uid
from pynetdicom2.fsm import PContextDef, States
from pynetdicom2.negotiation import (
    APPLICATION_CONTEXT_NAME,
    IMPLEMENTATION_UID,
    IMPLEMENTATION_VERSION_NAME,
)

__all__ = [
    'APPLICATION_CONTEXT_NAME',
    'IMPLEMENTATION_UID',
    'IMPLEMENTATION_VERSION_NAME',
    'UNSUPPORTED_REQUEST_RESPONSES',
    'AEBaseProto',
    'AETParams',
    'Association',
    'AssociationAcceptor',
    'AssociationRequester',
    'PContextDef',
    'PContextDefList',
    'RemoteAEConfig',
    'SCPService',
    'SCPServiceWithSOPClass',
    'SCUService',
    'SCUServiceWithSOPClass',
    'build_pres_context_def_list',
]

logger = logging.getLogger('pynetdicom2.asceprovider')

#: Extra seconds granted to the DUL thread beyond ARTIM before we stop waiting for it.
_GRACE = 1.0

#: The response class of each request (PS3.7 9.3, 10.3), for a 0122H answer to a request no
#: service handles.
UNSUPPORTED_REQUEST_RESPONSES: dict[int, type[dm.DIMSEResponseMessage]] = {
    dm.CStoreRQMessage.command_field: dm.CStoreRSPMessage,
    dm.CGetRQMessage.command_field: dm.CGetRSPMessage,
    dm.CFindRQMessage.command_field: dm.CFindRSPMessage,
    dm.CMoveRQMessage.command_field: dm.CMoveRSPMessage,
    dm.CEchoRQMessage.command_field: dm.CEchoRSPMessage,
    dm.NEventReportRQMessage.command_field: dm.NEventReportRSPMessage,
    dm.NGetRQMessage.command_field: dm.NGetRSPMessage,
    dm.NSetRQMessage.command_field: dm.NSetRSPMessage,
    dm.NActionRQMessage.command_field: dm.NActionRSPMessage,
    dm.NCreateRQMessage.command_field: dm.NCreateRSPMessage,
    dm.NDeleteRQMessage.command_field: dm.NDeleteRSPMessage,
}


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteAEConfig:
    """Where and as whom to connect: the peer's AE title, address and port, and our identity.

    The identity fields and ``user_data`` (extra user information sub-items, e.g. SOP class
    extended negotiation) go into the A-ASSOCIATE-RQ. Secrets are left out of ``repr``.

    >>> RemoteAEConfig('PACS', '10.0.0.5', 104, username='admin', password='123')
    RemoteAEConfig(aet='PACS', address='10.0.0.5', port=104, username='admin', user_data=[])
    """

    aet: str
    address: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    kerberos: bytes | str | None = field(default=None, repr=False)
    saml: bytes | str | None = field(default=None, repr=False)
    jwt: bytes | str | None = field(default=None, repr=False)
    user_data: list[pdu.UserItem] = field(default_factory=list)


@dataclass(frozen=True)
class AETParams:
    """This AE's own address, AE title and port (``port`` None for a client-only AE)."""

    address: str
    aet: str
    port: int | None = None


@dataclass(frozen=True)
class PContextDefList:
    """A presentation context to propose: ID, abstract syntax and transfer syntaxes in order.

    ``supported_ts`` is a tuple in the user's order (the original's frozenset had none).
    """

    id: int
    sop_class: UID
    supported_ts: tuple[UID, ...]


def _remote_config(remote_ae: RemoteAEConfig | Mapping[str, Any]) -> RemoteAEConfig:
    if isinstance(remote_ae, RemoteAEConfig):
        return remote_ae
    try:
        return RemoteAEConfig(**remote_ae)
    except TypeError as exc:
        raise NetDICOMError(
            f'remote_ae: {exc}; expected a RemoteAEConfig or a dict with aet, address, port '
            'and optionally username, password, kerberos, saml, jwt, user_data'
        ) from None


# --- typing -------------------------------------------------------------------------------------

T_contra = TypeVar('T_contra', contravariant=True)


class SCPService(Protocol[T_contra]):
    """An SCP: called with the association, the accepted context and the request."""

    def __call__(self, asce: T_contra, ctx: PContextDef, msg: dm.DIMSEMessage) -> None: ...


class SCPServiceWithSOPClass(SCPService[T_contra], Protocol[T_contra]):
    """An SCP decorated with ``sop_classes`` (and possibly ``store_in_file``)."""

    sop_classes: list[str]
    store_in_file: bool


class SCUService(Protocol[T_contra]):
    """An SCU: bound to an association and context by ``get_scu``, then called by the user."""

    def __call__(self, asce: T_contra, ctx: PContextDef, *args: Any, **kwargs: Any) -> Any: ...


class SCUServiceWithSOPClass(SCUService[T_contra], Protocol[T_contra]):
    """An SCU decorated with ``sop_classes``."""

    sop_classes: list[str]
    store_in_file: bool


class AEBaseProto(Protocol):
    """What an association needs from its AE: configuration, registries, files and hooks.

    Hooks are called from association threads, possibly several at once.
    """

    ae_title: str
    supported_ts: Sequence[str]
    supported_scu: Mapping[str, Any]
    supported_scp: Mapping[str, Any]
    store_in_file: set[str]
    lock: Any
    dcm_timeout: float
    artim_timeout: float
    network_timeout: float
    connect_timeout: float
    require_called_aet: bool

    def copy_context_def_list(self) -> dict[int, PContextDefList]: ...

    def get_file(self, context: PContextDef, command_set: Dataset) -> tuple[BinaryIO, int]: ...

    def keep_file(self, fp: BinaryIO, command_set: Dataset) -> None: ...

    def discard_file(self, fp: BinaryIO) -> None: ...

    def on_association_request(self, asce: AssociationAcceptor, rq: pdu.AAssociateRqPDU) -> None:
        ...

    def on_association_response(self, ac: pdu.AAssociateAcPDU) -> None: ...

    def on_abort(self, asce: Association, exc: AssociationAbortedError) -> None: ...

    def on_dcm_timeout(self, asce: Association, exc: DCMTimeoutError) -> None: ...

    def on_receive_echo(self, context: PContextDef) -> statuses.Status: ...

    def on_receive_store(
        self, context: PContextDef, ds: BinaryIO | bytes
    ) -> statuses.Status: ...

    # Query/Retrieve (sopclass.qr_find_scp, qr_move_scp, qr_get_scp).
    def on_receive_find(self, context: PContextDef, ds: Dataset) -> Iterable[Any]: ...

    def on_receive_move(self, context: PContextDef, ds: Dataset, destination: str) -> Any: ...

    def on_receive_get(self, context: PContextDef, ds: Dataset) -> Any: ...


def build_pres_context_def_list(
    context_def_list: Mapping[int, Any] | Iterable[tuple[int, Any]],
) -> Iterator[pdu.PresentationContextItemRQ]:
    """Yield one presentation context item per ``(pc_id, PContextDef)`` pair, in order.

    Takes a list of pairs or a dict ``{pc_id: PContextDef}``; ``supported_ts`` may be one
    transfer syntax or a sequence of them (all proposed, in the given order).

    >>> from pynetdicom2 import uids
    >>> items = build_pres_context_def_list(
    ...     [(1, PContextDef(1, uids.VERIFICATION_SOP_CLASS, uids.ImplicitVRLittleEndian))])
    >>> [item.context_id for item in items]
    [1]
    """
    pairs = context_def_list.items() if isinstance(context_def_list, Mapping) else context_def_list
    for pc_id, context in pairs:
        yield from negotiation.presentation_context_items(
            [(pc_id, context.sop_class, context.supported_ts)]
        )


class _DiscardedDataSet(io.RawIOBase):
    """Where the data set of a request we refuse goes: nowhere (nothing touches the disk)."""

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return 0


# --- the association ----------------------------------------------------------------------------


class Association:
    """Base class of both sides: the DUL, the DIMSE exchange, release, abort and kill.

    Not used directly. ``ae`` is the local AE, ``max_pdu_length`` the maximum length we
    announce, ``accepted_contexts`` the negotiated contexts by ID.
    """

    def __init__(
        self, local_ae: AEBaseProto, dul_socket: socket.socket | None, max_pdu_length: int
    ) -> None:
        self.ae = local_ae
        self.max_pdu_length = max_pdu_length
        #: The peer's maximum length, which bounds the PDUs we send (0: unlimited).
        self.peer_max_pdu_length = max_pdu_length
        self.association_established = False
        self.accepted_contexts: dict[int, PContextDef] = {}
        # Files the DUL writes received data sets to, by id(), until kept or discarded.
        self._received_files: dict[int, BinaryIO] = {}
        self._files_lock = threading.Lock()
        # The thread that runs this association; a kill() from another thread leaves the
        # files to it (it may be in the middle of keeping one).
        self._owner: threading.Thread | None = None
        # Messages that arrived while a service waited for another one (e.g. a request
        # behind a C-CANCEL check of a running C-FIND): receive() hands them out first.
        self._deferred: collections.deque[tuple[dm.DIMSEMessage, int]] = collections.deque()
        self.dul = self._create_dul(local_ae, dul_socket, max_pdu_length)

    def _create_dul(
        self, local_ae: AEBaseProto, dul_socket: socket.socket | None, max_pdu_length: int
    ) -> DULServiceProvider:
        """Create the DUL service provider (overridden by the TLS variants)."""
        return DULServiceProvider(
            frozenset(local_ae.store_in_file),
            self._get_file,
            dul_socket,
            max_pdu_length,
            local_ae.artim_timeout,
            **self._dul_options(),
        )

    def _dul_options(self) -> dict[str, Any]:
        return {}

    # -- received files --------------------------------------------------------------------

    def _get_file(self, context: PContextDef, command_set: Dataset) -> tuple[BinaryIO, int]:
        """The DUL's ``get_file_cb``: ask the AE for a file, and track it (DUL thread)."""
        instance = dm.value_or_none(command_set.get(0x00001000))
        sop_class = dm.value_or_none(command_set.get(0x00000002))
        if not (is_safe_uid(instance) and is_safe_uid(sop_class)):
            # A UID no file name may be built from: receive the data set into nothing; the
            # service answers with a failure status (PS3.4 B.2.3: C000H).
            logger.warning(
                'refusing to store a data set with SOP class %r, instance %r: not a valid UID',
                sop_class, instance,
            )
            return _DiscardedDataSet(), 0
        fp, start = self.ae.get_file(context, command_set)
        with self._files_lock:
            self._received_files[id(fp)] = fp
        return fp, start

    def _untrack(self, data: Any) -> BinaryIO | None:
        if data is None or isinstance(data, (bytes, bytearray, memoryview)):
            return None
        with self._files_lock:
            return self._received_files.pop(id(data), None)

    def keep_received_file(self, data: Any, command_set: Dataset) -> None:
        """A service accepted a received data set: let the AE keep its file (``ae.keep_file``).

        Raises :class:`OSError` when the file cannot be put in place (the service then
        answers out of resources). Data sets in memory need nothing.
        """
        fp = self._untrack(data)
        if fp is None:
            return
        try:
            self.ae.keep_file(fp, command_set)
        except BaseException:
            # No longer tracked, so nothing else would remove the half-kept file.
            self._discard(fp)
            raise

    def discard_received_file(self, data: Any) -> None:
        """Discard the file of a data set that was not accepted (``ae.discard_file``)."""
        fp = self._untrack(data)
        if fp is not None:
            self._discard(fp)

    def _discard(self, fp: BinaryIO) -> None:
        try:
            self.ae.discard_file(fp)
        except Exception:
            logger.exception('discarding a received data set failed')

    def _discard_received_files(self) -> None:
        with self._files_lock:
            files = list(self._received_files.values())
            self._received_files.clear()
        for fp in files:
            self._discard(fp)

    # -- DIMSE ---------------------------------------------------------------------------

    def send(self, dimse_msg: dm.DIMSEMessage, pc_id: int) -> None:
        """Send a DIMSE message on context ``pc_id``, cut to the peer's maximum length.

        Returns at once: the DUL thread encodes and sends it lazily (a file data set is
        read piece by piece). Raises :class:`AssociationAbortedError` when the association
        no longer exists (the provider aborted it, e.g. on an invalid PDU from the peer, or
        the transport was lost) and :class:`NetDICOMError` for a message not allowed now.
        """
        try:
            self.dul.send(dimse_msg.encode(pc_id, self.peer_max_pdu_length))
        except NetDICOMError as exc:
            if self.dul.state not in (States.STA_1, States.STA_13):
                raise
            self.association_established = False
            raise AssociationAbortedError(
                2, 0, f'the association ended before {type(dimse_msg).__name__} was sent: {exc}'
            ) from exc

    def receive(
        self, timeout: float | None = None, *, deferred: bool = True
    ) -> tuple[dm.DIMSEMessage, int]:
        """The next DIMSE message and its context ID; waits ``ae.dcm_timeout`` by default.

        Messages put aside with :meth:`defer` come first, unless ``deferred`` is False (a
        service waiting for its own response). Raises :class:`DCMTimeoutError` when nothing
        arrives in time; :class:`AssociationReleasedError`, :class:`AssociationAbortedError`
        when the peer asked for a release or the association was aborted.
        """
        if deferred and self._deferred:
            return self._deferred.popleft()
        item = self.dul.receive(self.ae.dcm_timeout if timeout is None else timeout)
        if isinstance(item, tuple):
            return item
        raise self._handle_errors(item)

    def poll(self) -> tuple[dm.DIMSEMessage, int] | None:
        """A DIMSE message that has already arrived, or None: never waits.

        Used between two responses of a running operation to notice a C-CANCEL-RQ (PS3.7
        9.3.2.3); raises like :meth:`receive` when the association was released or aborted.

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
            item = self.dul.receive(0)
        except DCMTimeoutError:
            return None
        if isinstance(item, tuple):
            return item
        raise self._handle_errors(item)

    def defer(self, msg: dm.DIMSEMessage, pc_id: int) -> None:
        """Put a message aside for a later :meth:`receive` (it keeps its arrival order)."""
        self._deferred.append((msg, pc_id))

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
        :class:`DCMTimeoutError` (after aborting) when no answer comes within ARTIM.
        """
        self.dul.send(pdu.AReleaseRqPDU())
        collision = False
        try:
            while True:
                item = self.dul.receive(self.ae.artim_timeout)
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
                    self.discard_received_file(msg.data_set)
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
        self.dul.stop(self.ae.artim_timeout + _GRACE)
        self.kill()

    def abort(self, reason: int = 0) -> None:
        """Abort the association (A-ABORT, service-user source, PS3.8 7.3) and end it."""
        try:
            self.dul.send(pdu.AAbortPDU(0, reason))
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
            self._discard_received_files()


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
        super().__init__(local_ae, request, max_pdu_length)

    def _dul_options(self) -> dict[str, Any]:
        host, port = (self.client_address or ('peer', 0))[:2]
        return {'name': f'pynetdicom2-dul-{host}:{port}'}

    def kill(self) -> None:
        """Set the stop flag and stop the DUL provider (callable from any thread)."""
        self.is_killed = True
        super().kill()

    def abort(self, reason: int = 0) -> None:
        """Abort with an A-ABORT, service-user source (whose reason is not significant: 0)."""
        super().abort(0)

    def reject(self, result: int, source: int, diag: int) -> None:
        """Send an A-ASSOCIATE-RJ (PS3.8 9.3.4) and let the peer close the transport."""
        try:
            self.dul.send(pdu.AAssociateRjPDU(result, source, diag))
        except NetDICOMError as exc:
            logger.info('cannot send the A-ASSOCIATE-RJ: %s', exc)
        self._finish()

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
            result, source, reason, explanation = rejection
            logger.warning(
                'rejecting the association from %s (%s): %s',
                self.remote_ae, self.client_address, explanation,
            )
            self.reject(result, source, reason)
            raise AssociationRejectedError(result, source, reason, explanation)
        with ae.lock:
            # PS3.7 10.1.1: the SCU of a class performs its N-EVENT-REPORTs, so an SCP service
            # that takes them (StorageCommitment() receiving results) can play the SCU role
            # the report's sender asks of us (PS3.4 J.3.3.1.3).
            report_receivers = {
                uid for uid, service in ae.supported_scp.items()
                if callable(getattr(service, 'n_event_report', None))
            }
            capabilities = negotiation.AcceptorCapabilities(
                scp_classes=frozenset(ae.supported_scp),
                scu_classes=frozenset(ae.supported_scu) | report_receivers,
                transfer_syntaxes=tuple(ae.supported_ts),
                max_pdu_length=self.max_pdu_length,
                identity_response=self.identity_response,
            )
        result = negotiation.negotiate_as_acceptor(assoc_req, capabilities)
        self.peer_max_pdu_length = result.peer_max_pdu_length
        self.accepted_contexts = result.accepted_contexts
        self.sop_classes_as_scp = {
            pc_id: (pc_id, ctx.sop_class, ctx.supported_ts)
            for pc_id, ctx in result.accepted_contexts.items()
            if pc_id in result.scp_context_ids
        }
        self.sop_classes_as_scu = {
            ctx.sop_class: (pc_id, ctx.supported_ts)
            for pc_id, ctx in result.accepted_contexts.items()
            if pc_id in result.scu_context_ids
        }
        # The reassembler must know the contexts before the peer can use them.
        self.dul.accepted_contexts = result.accepted_contexts
        try:
            self.dul.send(
                pdu.AAssociateAcPDU(
                    assoc_req.called_ae_title, assoc_req.calling_ae_title, result.ac_items
                )
            )
        except NetDICOMError as exc:
            if self.dul.state not in (States.STA_1, States.STA_13):
                raise
            # The requester sent something invalid behind its request, or went away: the
            # provider aborted before we could answer.
            raise AssociationAbortedError(
                2, 0, f'the association ended before the A-ASSOCIATE-AC was sent: {exc}'
            ) from exc
        self.association_established = True
        logger.info(
            'association from %s (%s) accepted: %d of %d contexts',
            self.remote_ae, self.client_address, len(result.accepted_contexts),
            len(result.ac_items) - 2,
        )

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
            self.kill()

    @staticmethod
    def _call_hook(hook: Callable[..., Any], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            logger.exception('the %s hook failed', getattr(hook, '__name__', hook))

    def _establish(self) -> None:
        self.dul.start()  # ARTIM runs from the connection on (PS3.8 AE-5)
        try:
            rq = self.dul.receive(self.ae.artim_timeout + _GRACE)
        except NetDICOMError as exc:
            raise AssociationError(f'no A-ASSOCIATE-RQ: {exc}') from None
        if not isinstance(rq, pdu.AAssociateRqPDU):
            raise self._handle_errors(rq)
        self.remote_ae = rq.calling_ae_title
        self.local_ae = rq.called_ae_title
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
        self._check_access()
        try:
            self.ae.on_association_request(self, rq)
        except AssociationRejectedError as exc:
            logger.info('on_association_request rejected %s: %s', self.remote_ae, exc)
            self.reject(exc.result, exc.source, exc.diagnostic)
            raise
        self.accept(rq)

    def _check_access(self) -> None:
        """The AE's access policy: association limit, calling AE allow-list, user identity.

        Rejects (A-ASSOCIATE-RJ) and raises :class:`AssociationRejectedError` when the request
        may not go on: 2/3/2 beyond ``ae.maximum_associations``, 1/1/3 for a calling AE title
        not in ``ae.allowed_calling_aets``, 1/1/1 when ``ae.on_user_identity`` says no (its
        bytes or str answer becomes the 0x59 server response). Identity fields are never
        logged.
        """
        ae = self.ae
        rejection: tuple[int, int, int, str] | None = None
        limit = getattr(ae, 'maximum_associations', None)
        count = getattr(getattr(ae, 'server', None), 'association_count', None)
        allowed = getattr(ae, 'allowed_calling_aets', None)
        if limit is not None and count is not None and count() > limit:
            rejection = (2, 3, 2, f'more than maximum_associations ({limit}) at once')
        elif allowed is not None and self.remote_ae.strip() not in {
            title.strip() for title in allowed
        }:
            rejection = (1, 1, 3, f'calling AE title {self.remote_ae!r} is not allowed')
        else:
            verify = getattr(ae, 'on_user_identity', None)
            if verify is not None:
                try:
                    verdict = verify(self, self.user_identity)
                except Exception:
                    logger.exception('the on_user_identity hook failed; rejecting')
                    verdict = False
                if verdict is None or verdict is False:
                    kind = getattr(self.user_identity, 'user_identity_type', None)
                    rejection = (1, 1, 1, f'user identity (type {kind}) not accepted')
                elif isinstance(verdict, (bytes, str)):
                    self.identity_response = (
                        verdict.encode() if isinstance(verdict, str) else verdict
                    )
        if rejection is not None:
            result, source, reason, explanation = rejection
            logger.warning(
                'rejecting the association from %s (%s): %s',
                self.remote_ae, self.client_address, explanation,
            )
            self.reject(result, source, reason)
            raise AssociationRejectedError(result, source, reason, explanation)

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
                raise
            progress = None
            self._dispatch(msg, pc_id)

    def _reception_progress(self) -> tuple[Any, ...] | None:
        decoder = self.dul.state_machine.dimse_decoder
        if not decoder.receiving:
            return None
        with self._files_lock:
            files = list(self._received_files.values())
        positions = []
        for fp in files:
            try:
                positions.append(fp.tell())
            except (OSError, ValueError):
                positions.append(None)
        return (id(decoder.msg), decoder.command_set_received, *positions)

    def _dispatch(self, msg: dm.DIMSEMessage, pc_id: int) -> None:
        try:
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
            if service is None or context is None:
                self.respond_unsupported(pc_id, msg)
                return
            service(self, context, msg)
        finally:
            self.discard_received_file(msg.data_set)

    def _performs_as_scu(self, msg: dm.DIMSEMessage, context: PContextDef) -> bool:
        """True for a request the SCU role performs: an N-EVENT-REPORT on a context where we
        are SCU (PS3.7 10.1.1: the SCP invokes it, the SCU performs it), e.g. a storage
        commitment result on the association the SCP opened with the SCP role (PS3.4
        J.3.3.1.3)."""
        if not isinstance(msg, dm.NEventReportRQMessage):
            return False
        accepted = self.sop_classes_as_scu.get(context.sop_class)
        return accepted is not None and accepted[0] == context.id

    def _handle_cancel(self, msg: dm.DIMSEMessage, pc_id: int) -> None:
        # PS3.7 9.3.2.3: a C-CANCEL-RQ refers to a pending C-FIND/C-GET/C-MOVE; none runs
        # between two requests, so there is nothing to cancel here.
        logger.info(
            'C-CANCEL-RQ for message %s on context %d: no operation is pending',
            msg.message_id_being_responded_to, pc_id,
        )


class AssociationRequester(Association):
    """The client side: proposes, requests, and binds SCU functions to accepted contexts.

    ``context_def_list`` is what this association proposes (IDs 1, 3, 5 ... , only the SOP
    classes it needs), ``remote_ae`` the peer, ``sop_classes_as_scu`` each accepted SOP class
    -> ``(pc_id, transfer_syntax)`` (empty until established). Normally created by
    ``ClientAE.request_association``.

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
    ) -> None:
        self.remote_ae = _remote_config(remote_ae)
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
        #: Contexts on which the acceptor granted us the SCP role (C-GET sub-operations).
        self.sop_classes_as_scp: dict[int, tuple[int, UID, UID]] = {}
        super().__init__(local_ae, None, max_pdu_length)

    def _dul_options(self) -> dict[str, Any]:
        remote = self.remote_ae
        return {
            'called_address': (remote.address, remote.port),
            'connect_timeout': self.ae.connect_timeout,
            'name': f'pynetdicom2-dul-{remote.aet}@{remote.address}:{remote.port}',
        }

    def _request_pdu(self) -> pdu.AAssociateRqPDU:
        remote = self.remote_ae
        identity = negotiation.identity_item(
            remote.username, remote.password, remote.kerberos, remote.saml, remote.jwt
        )
        items: list[pdu.VariableItems] = [pdu.ApplicationContextItem(APPLICATION_CONTEXT_NAME)]
        items += build_pres_context_def_list(self.context_def_list)
        items.append(
            negotiation.requester_user_information(
                self.max_pdu_length, self._roles, remote.user_data, identity
            )
        )
        return pdu.AAssociateRqPDU(remote.aet, self.ae.ae_title, items)

    def request(self) -> pdu.AAssociateAcPDU:
        """Request the association; return the A-ASSOCIATE-AC once it is established.

        Raises :class:`AssociationRejectedError` (result, source, diagnostic),
        :class:`AssociationAbortedError` (:class:`ConnectionFailedError` when the connection
        fails: an A-P-ABORT, the :class:`OSError` its ``__cause__``), :class:`DCMTimeoutError`
        when no answer comes within ``connect_timeout + artim_timeout``, :class:`AssociationError`
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
            reply = self.dul.receive(self.ae.connect_timeout + self.ae.artim_timeout)
            if isinstance(reply, pdu.AAbortPDU) and self.dul.transport_error is not None:
                error = self.dul.transport_error
                raise ConnectionFailedError(
                    2, 0, f'cannot connect to {remote.address}:{remote.port}: {error}'
                ) from error
            if not isinstance(reply, pdu.AAssociateAcPDU):
                raise self._handle_errors(reply)
            result = negotiation.read_acceptance(self._proposal, self._roles, reply)
        except BaseException:
            self.kill()
            raise
        self.peer_max_pdu_length = result.peer_max_pdu_length
        self.accepted_contexts = result.accepted_contexts
        self.sop_classes_as_scu = {
            ctx.sop_class: (pc_id, ctx.supported_ts)
            for pc_id, ctx in result.accepted_contexts.items()
            if pc_id in result.scu_context_ids
        }
        self.sop_classes_as_scp = {
            pc_id: (pc_id, ctx.sop_class, ctx.supported_ts)
            for pc_id, ctx in result.accepted_contexts.items()
            if pc_id in result.scp_context_ids
        }
        self.dul.accepted_contexts = result.accepted_contexts
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

    def abort(self, reason: int = 0) -> None:
        """Abort the association: A-ABORT with service-user source and ``reason``."""
        super().abort(reason)

