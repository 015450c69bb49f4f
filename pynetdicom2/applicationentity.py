"""Application entities: the client that requests associations and the server that accepts them.

This module owns the AE objects users create: :class:`ClientAE` (requests associations),
:class:`AE` (also listens, one thread per incoming association), and the storing variants
:class:`ClientStorageAE` and :class:`StorageAE` that put every received data set in a
directory as ``<SOPInstanceUID>.dcm``. An AE holds the configuration (AE title, transfer
syntaxes, maximum PDU length, timeouts), the registries of SCU and SCP services, and the
hooks users override. What happens on an association is :mod:`pynetdicom2.asceprovider`'s
business; what a service does is :mod:`pynetdicom2.sopclass`'s.

Threads. ``with ae:`` (or :meth:`AE.serve_forever`) accepts connections; each association
runs on its own thread named ``pynetdicom2-association-<host>:<port>`` with its DUL thread.
:meth:`AE.quit` stops accepting, aborts the associations still running and joins every
thread. Hooks (``on_receive_store`` ...) are therefore called from several threads at once:
an override that touches shared state must guard it (``self.lock`` is there for that). The
AE's own registries and file naming are guarded by ``self.lock``.

Timeouts (seconds, attributes of every AE): ``artim_timeout`` (10, PS3.8 9.1.5 ARTIM)
association set-up and release; ``dcm_timeout`` (15) waiting for a DIMSE response;
``network_timeout`` (60) an idle incoming association, then aborted; ``connect_timeout``
(15) the TCP connection.

TLS (PS3.15 B.1) is a parameter of every AE, keyword-only: ``ssl_context``, an
:class:`ssl.SSLContext` for the AE's own role (a client context for :class:`ClientAE`, a
server context for :class:`AE`, which wraps every accepted connection and completes the
handshake on the association's thread within ``artim_timeout``), and, for an AE that serves
and also requests (C-MOVE sub-operations, storage commitment results), ``client_ssl_context``
for its requests. :func:`pynetdicom2.ssl_ae.server_context` and
:func:`pynetdicom2.ssl_ae.client_context` build them; :mod:`pynetdicom2.tls` is the transport.

Usage::

    from pynetdicom2 import applicationentity as ae, sopclass as sc, uids

    client = ae.ClientAE('MYSCU').add_scu(sc.verification_scu)
    with client.request_association({'aet': 'PACS', 'address': '10.0.0.5', 'port': 104}) as assoc:
        print(assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1))

    server = ae.StorageAE('incoming', 'STORESCP', 11112).add_scp(sc.storage_scp)
    with server:                     # serves in a background thread until the block ends
        ...
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import ssl
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import events, extendednegotiation, metrics, pdu, statuses, tls, transport, uids
from pynetdicom2.aeserver import (
    JOIN_TIMEOUT,
    MAXIMUM_UNNEGOTIATED,
    AssociationServer,
    RequestHandler,
)
from pynetdicom2.asceprovider_acceptor import AssociationAcceptor
from pynetdicom2.asceprovider_association import Association
from pynetdicom2.asceprovider_requester import AssociationRequester
from pynetdicom2.asceprovider_types import AETParams, PContextDefList, RemoteAEConfig
from pynetdicom2.exceptions import (
    AssociationAbortedError,
    AssociationReleasedError,
    DCMTimeoutError,
    EventHandlingError,
    InvalidDataSetError,
    NetDICOMError,
)
from pynetdicom2.filestorage import (
    PREAMBLE,
    FileNaming,
    SOPInstanceUIDNaming,
    StagedFile,
    current_source_ae_title,
    numbered,
    place,
    read_header,
    sync_directories,
    sync_file,
    write_meta,
)
from pynetdicom2.fsm import PContextDef
from pynetdicom2.negotiation import check_async_window
from pynetdicom2.services.nservices import UNRECOGNIZED_OPERATION, NReply

__all__ = [
    'AE',
    'PREAMBLE',
    'AEBase',
    'ClientAE',
    'ClientStorageAE',
    'FolderStorageMixin',
    'check_async_window',
    'RequestHandler',
    'StorageAE',
    'write_meta',
]

logger = logging.getLogger('pynetdicom2.applicationentity')

_AFFECTED_SOP_INSTANCE_UID = 0x00001000


def _check_ae_title(ae_title: str) -> str:
    """PS3.5 6.2 (AE VR): 1 to 16 characters, no backslash or control characters."""
    if (
        not isinstance(ae_title, str)
        or not ae_title.strip()
        or len(ae_title) > 16
        or any(not 0x20 <= ord(c) < 0x7F or c == '\\' for c in ae_title)
    ):
        raise NetDICOMError(
            f'AE title {ae_title!r}: expected 1 to 16 printable ASCII characters without a '
            'backslash (PS3.5 6.2)'
        )
    return ae_title.strip()


class AEBase:
    """What every AE has: configuration, service registries, files and hooks.

    ``supported_ts`` are the transfer syntaxes, in the order we propose them and, as an
    acceptor, prefer them (default: explicit little, implicit little, explicit big endian);
    ``max_pdu_length`` is the maximum length we announce (0: unlimited). ``ssl_context`` and
    ``client_ssl_context`` (keyword-only): TLS, see :mod:`pynetdicom2.applicationentity`.
    ``async_window`` (keyword-only): the Asynchronous Operations Window, see
    :func:`check_async_window`.
    """

    default_ts: Sequence[str] = [
        ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian
    ]

    def __init__(
        self,
        supported_ts: Iterable[str] | None,
        max_pdu_length: int,
        ae_title: str,
        port: int | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        client_ssl_context: ssl.SSLContext | None = None,
        async_window: tuple[int, int] | None = None,
    ) -> None:
        self.ae_title = _check_ae_title(ae_title)
        #: ``(invoked, performed)``: operations this AE may have outstanding and performs at
        #: once (PS3.7 D.3.3.3, 0: unlimited). Proposed in its requests; as an acceptor, the
        #: ceiling of its reply. None: no window proposed, one operation at a time.
        self.async_window = check_async_window(async_window)
        #: TLS for the AE's own role (None: plain TCP); see the module's documentation.
        self.ssl_context = ssl_context
        #: TLS for the associations this AE requests, when it differs from ``ssl_context``.
        self.client_ssl_context = client_ssl_context
        self.local_ae = AETParams(platform.node(), self.ae_title, port)
        self.supported_ts: tuple[str, ...] = tuple(
            dict.fromkeys(self.default_ts if supported_ts is None else supported_ts)
        )
        if not self.supported_ts:
            raise NetDICOMError('supported_ts is empty: an AE needs at least one transfer syntax')
        if not isinstance(max_pdu_length, int) or max_pdu_length < 0 or (
            0 < max_pdu_length <= 6
        ):
            raise NetDICOMError(
                f'max_pdu_length {max_pdu_length!r}: expected 0 (unlimited) or more than 6 '
                'bytes (PS3.8 D.1)'
            )
        self.max_pdu_length = max_pdu_length
        self.dcm_timeout: float = 15
        self.artim_timeout: float = 10
        self.network_timeout: float = 60
        self.connect_timeout: float = 15
        #: The local ``(host, port)`` our requests connect from (None: the system's choice).
        self.bind_address: tuple[str, int] | None = None
        #: Reject associations whose called AE title is not ours (A-ASSOCIATE-RJ 1/1/7).
        self.require_called_aet = False
        #: Calling AE titles allowed to associate (None: any); others get A-ASSOCIATE-RJ 1/1/3.
        self.allowed_calling_aets: Iterable[str] | None = None
        #: Most associations served at once (None: no limit); one more is rejected transient,
        #: local limit exceeded (A-ASSOCIATE-RJ 2/3/2).
        self.maximum_associations: int | None = None
        #: Most connections at once that are not yet associations (from the accept until the
        #: A-ASSOCIATE-AC: TLS handshake, waiting for and checking the request; None: no
        #: limit). Beyond it a connection is closed at once, and logged. Counted apart from
        #: ``maximum_associations``, which counts only associations.
        self.maximum_unnegotiated: int | None = MAXIMUM_UNNEGOTIATED
        #: The listen backlog: connections the system holds until we accept them (None: the
        #: system's maximum, socket.SOMAXCONN). Read when the port starts listening, and again
        #: when serving starts.
        self.listen_backlog: int | None = None
        #: Largest data set held in memory, in bytes (None: no limit): identifiers and
        #: N-service attributes, not those of ``store_in_file`` classes (streamed to files).
        #: A larger one is dropped as it arrives and its request answered out of resources
        #: (:mod:`pynetdicom2.dimsedecoder`). Read when an association starts.
        self.max_data_set_in_memory: int | None = dm.DEFAULT_MAX_DATA_SET_IN_MEMORY
        #: As an acceptor, which order picks a context's transfer syntax among those both
        #: sides have (PS3.8 9.3.3.2): ``'requester'``, the proposal's (a file arrives in
        #: the syntax it was sent in whenever we accept it), or ``'acceptor'``, ours:
        #: :attr:`supported_ts`, or the class's entry of :attr:`transfer_syntaxes_by_sop_class`.
        self.transfer_syntax_preference = 'requester'
        #: Transfer syntaxes accepted per SOP class, in our order of preference, in place of
        #: :attr:`supported_ts` (e.g. ``{CT: [ImplicitVRLittleEndian]}``).
        self.transfer_syntaxes_by_sop_class: dict[str, Sequence[str]] = {}
        self.context_def_list: dict[int, PContextDefList] = {}
        self.store_in_file: set[str] = set()
        self.supported_scu: dict[str, Any] = {}
        self.supported_scp: dict[str, Any] = {}
        #: Guards the registries and file naming; hooks may use it for their own state.
        self.lock = threading.RLock()
        #: Who watches this AE's connections and associations (:mod:`pynetdicom2.events`).
        self.observers = events.Observers()
        #: This AE's counters (:mod:`pynetdicom2.metrics`): ``ae.metrics.snapshot()``.
        self.metrics = metrics.AEMetrics()
        #: SOP class extended negotiation (PS3.7 D.3.3.5) by SOP class or family ('find' ...):
        #: proposed in our requests, the most we grant as an acceptor (extendednegotiation).
        self.extended_negotiation: dict[str, Any] = {}

    # -- registries ------------------------------------------------------------------------

    def _register(self, registry: dict[str, Any], service: Any, sop_classes: Any) -> None:
        classes = list(getattr(service, 'sop_classes', []) if sop_classes is None else sop_classes)
        if not classes:
            name = getattr(service, '__name__', type(service).__name__)
            raise NetDICOMError(
                f'{name} has no SOP classes: pass them, e.g. add_scu({name}, '
                '[uids.CT_IMAGE_STORAGE])'
            )
        # Contexts first, so that a service is never seen without its context. Neither step
        # holds the lock while the other takes it: a subclass may make it a plain Lock.
        self.update_context_def_list(classes, bool(getattr(service, 'store_in_file', False)))
        with self.lock:
            for uid in classes:
                registry[UID(uid)] = service

    def add_scu(self, service: Any, sop_classes: Iterable[str] | None = None) -> AEBase:
        """Register an SCU service for its ``sop_classes`` (or these); returns self.

        >>> from pynetdicom2 import sopclass as sc
        >>> client = ClientAE('MYSCU')
        >>> same = client.add_scu(sc.verification_scu).add_scu(sc.storage_scu,
        ...                                                    [uids.CT_IMAGE_STORAGE])
        >>> same is client
        True
        >>> sorted(client.supported_scu) == sorted([uids.VERIFICATION_SOP_CLASS,
        ...                                         uids.CT_IMAGE_STORAGE])
        True
        """
        self._register(self.supported_scu, service, sop_classes)
        return self

    def update_context_def_list(
        self, sop_classes: Iterable[str], store_in_file: bool = False
    ) -> None:
        """Add a presentation context for each new SOP class, listing all our transfer syntaxes.

        With ``store_in_file``, data sets of all these classes go to :meth:`get_file` files.
        """
        classes = [UID(uid) for uid in dict.fromkeys(sop_classes)]
        with self.lock:
            known = {ctx.sop_class for ctx in self.context_def_list.values()}
            new = [uid for uid in classes if uid not in known]
            start = max(self.context_def_list, default=-1) + 2
            self.context_def_list.update(self._build_context_def_list(new, start))
            if store_in_file:
                self.store_in_file.update(classes)

    def _build_context_def_list(
        self, sop_classes: Iterable[str], start: int
    ) -> dict[int, PContextDefList]:
        """Contexts with odd IDs from ``start``, each listing all our transfer syntaxes.

        These IDs only order the AE's registry: each association renumbers what it proposes
        from 1, so an AE may register more than 128 SOP classes.
        """
        syntaxes = tuple(UID(ts) for ts in self.supported_ts)
        return {
            start + 2 * offset: PContextDefList(start + 2 * offset, UID(uid), syntaxes)
            for offset, uid in enumerate(sop_classes)
        }

    def copy_context_def_list(self) -> dict[int, PContextDefList]:
        """A copy of the registry of presentation contexts, taken under the lock."""
        with self.lock:
            return dict(self.context_def_list)

    # -- associations ----------------------------------------------------------------------

    def _create_association(
        self, remote_ae: RemoteAEConfig | Mapping[str, Any]
    ) -> AssociationRequester:
        # Also called with a ProposalView as self (services.base): it reads the AE's fields.
        return AssociationRequester(
            self, self.max_pdu_length, remote_ae, ssl_context=tls.requesting_context(self)
        )

    @contextlib.contextmanager
    def request_association(
        self, remote_ae: RemoteAEConfig | Mapping[str, Any]
    ) -> Iterator[AssociationRequester]:
        """Request an association; yield it established; release it at the end of the block.

        An exception in the block aborts the association (A-ABORT) and is re-raised; a
        release asked by the peer is answered. ``remote_ae`` is a
        :class:`~pynetdicom2.asceprovider.RemoteAEConfig` or a dict of its fields.

        >>> import tempfile
        >>> from pynetdicom2 import sopclass as sc
        >>> from pynetdicom2.loopback import LoopbackSCP
        >>> client = ClientAE('MYSCU').add_scu(sc.verification_scu)
        >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp, 'PACS') as pacs:
        ...     remote = {'aet': 'PACS', 'address': '127.0.0.1', 'port': pacs.port}
        ...     with client.request_association(remote) as assoc:
        ...         status = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
        >>> status.is_success
        True
        """
        assoc = self._create_association(remote_ae)
        try:
            assoc.request()
            yield assoc
        except AssociationReleasedError:
            assoc.answer_release()
            raise
        except BaseException:
            if assoc.association_established:
                assoc.abort()
            else:
                assoc.kill()
            raise
        else:
            if assoc.association_established:  # not if the block aborted it
                assoc.release()

    # -- received files --------------------------------------------------------------------

    def get_file(self, context: PContextDef, command_set: Dataset) -> tuple[BinaryIO, int]:
        """Where a data set of a store-in-file class is written: ``(file, start)``.

        Called from association threads. The default is an anonymous temporary file holding
        the preamble and file meta (it disappears when closed); storing AEs override it.
        """
        fp = tempfile.TemporaryFile()
        try:
            write_meta(fp, command_set, context.supported_ts, current_source_ae_title())
        except BaseException:
            fp.close()
            raise
        return fp, 0

    def keep_file(self, fp: BinaryIO, command_set: Dataset) -> None:
        """A data set from :meth:`get_file` was accepted: close its file (it stays put).

        A :class:`~pynetdicom2.filestorage.StagedFile` is renamed to its final name by the
        storing AEs. Raises :class:`OSError` when that fails.
        """
        fp.close()

    def discard_file(self, fp: BinaryIO) -> None:
        """A data set from :meth:`get_file` was refused or cut short: remove its file.

        Staged files, and named regular files a custom :meth:`get_file` returned, are
        deleted; other file objects are closed.
        """
        if isinstance(fp, StagedFile):
            fp.discard()
            return
        with contextlib.suppress(OSError):
            fp.close()
        name = getattr(fp, 'name', None)
        if isinstance(name, (str, os.PathLike)) and os.path.isfile(name):
            with contextlib.suppress(OSError):
                os.unlink(name)

    # -- hooks (called from association threads, possibly concurrently) ----------------------

    def on_association_request(self, asce: AssociationAcceptor, rq: pdu.AAssociateRqPDU) -> None:
        """Called with each A-ASSOCIATE-RQ; raise AssociationRejectedError to reject it."""

    def on_user_identity(self, asce: AssociationAcceptor, identity: Any) -> bool | bytes | str:
        """Verify the requester's user identity; return False to reject the association.

        ``identity`` is its User Identity sub-item (0x58, PS3.7 D.3.3.7) or None when it sent
        none: ``user_identity_type`` (1 username, 2 username and passcode, 3 Kerberos, 4 SAML,
        5 JWT), ``primary_field``, ``secondary_field``. False (or None) rejects with
        A-ASSOCIATE-RJ 1/1/1; True accepts; bytes or str accept and are the server response of
        the 0x59 reply (Kerberos server ticket, SAML response, JWT) when the requester asked
        for one. Called from association threads. Default: accept everyone. Never log the
        fields: they hold secrets.

        Example (``check_password`` is yours)::

            class Guarded(AE):
                def on_user_identity(self, asce, identity):
                    return identity is not None and check_password(
                        identity.primary_field, identity.secondary_field)
        """
        return True

    def on_sop_class_extended_negotiation(
        self, asce: AssociationAcceptor, sop_class_uid: UID, app_info: bytes
    ) -> extendednegotiation.Options | bytes | None:
        """Answer a 0x56 sub-item of an accepted class (PS3.7 D.3.3.5): what we support (a
        record or bytes; trimmed to what was asked), or None for no reply. Default:
        :func:`pynetdicom2.extendednegotiation.default_answer`."""
        served_as = getattr(asce, 'sop_class_aliases', {}).get(sop_class_uid)
        return extendednegotiation.default_answer(self, sop_class_uid, app_info, served_as)

    def on_sop_class_common_extended_negotiation(self, asce: AssociationAcceptor,
                                                 item: Any) -> str | None:
        """The class whose SCP serves a proposed class we have none for, from its 0x57 item
        (PS3.7 D.3.3.6), or None. Default: its first related general class we store."""
        with self.lock:
            served = frozenset(self.supported_scp)
        return extendednegotiation.default_related_class(item, served)

    def on_async_window(self, asce: AssociationAcceptor, proposed: tuple[int, int]
                        ) -> tuple[int, int] | None:
        """How many operations to invoke and perform at once with the requester that
        proposed ``proposed`` (PS3.7 D.3.3.3; the reply is trimmed to it; None: one at a
        time). Default: :attr:`async_window`, the same for every requester."""
        return self.async_window

    def on_association_response(self, ac: pdu.AAssociateAcPDU) -> None:
        """Called with the A-ASSOCIATE-AC of each association this AE requested."""

    def on_abort(self, asce: Association, exc: AssociationAbortedError) -> None:
        """Called when an incoming association is aborted."""
        logger.info('association with %s aborted: %s', getattr(asce, 'remote_ae', '?'), exc)

    def on_dcm_timeout(self, asce: Association, exc: DCMTimeoutError) -> None:
        """Called when an incoming association was idle for ``network_timeout`` (aborted)."""
        logger.info('association with %s timed out: %s', getattr(asce, 'remote_ae', '?'), exc)

    def on_receive_echo(self, context: PContextDef) -> statuses.Status:
        """Answer a C-ECHO: Success by default."""
        return statuses.SUCCESS

    def on_receive_store(self, context: PContextDef, ds: BinaryIO | bytes) -> statuses.Status:
        """Handle a received data set (a Part-10 file object at its preamble); return a Status.

        This AE keeps nothing, so the default answers 0xC000 and logs a warning rather than
        pretend a data set was stored; :class:`StorageAE` and :class:`ClientStorageAE` answer
        Success once the file is in place. Raise EventHandlingError for a failure status.
        """
        logger.warning(
            '%s received a data set on context %d but does not store it (override '
            'on_receive_store or use StorageAE): answering C000H', self.ae_title, context.id,
        )
        return statuses.C_STORE_CANNOT_UNDERSTAND

    def on_receive_find(self, context: PContextDef, ds: Dataset) -> Iterator[tuple[Dataset, Any]]:
        """Answer a C-FIND: yield ``(match, pending status)``; nothing matches by default."""
        return iter(())

    def on_receive_move(self, context: PContextDef, ds: Dataset, destination: str) -> Any:
        """Answer a C-MOVE: ``(remote AE, number of matches, iterator of data sets)``."""
        raise EventHandlingError(f'{self.ae_title} does not implement C-MOVE')

    def on_receive_get(self, context: PContextDef, ds: Dataset) -> Any:
        """Answer a C-GET: ``(number of matches, iterator of data sets or Part-10 paths)``.

        Each item is sent back as a C-STORE sub-operation on the same association (PS3.4
        C.4.3), over a storage context on which the requester took the SCP role; register
        ``storage_scu`` for those classes so that the role can be granted.
        """
        raise EventHandlingError(f'{self.ae_title} does not implement C-GET')

    def on_commitment_request(self, remote_aet: str, uids_iter: Iterable[Any]) -> Any:
        """Answer a storage commitment request: ``(remote AE, success, failure)``."""
        raise EventHandlingError(f'{self.ae_title} does not implement storage commitment')

    def on_commitment_response(
        self, transaction_uid: str, success_iter: Iterable[Any], failure_iter: Iterable[Any]
    ) -> None:
        """Receive a storage commitment result."""
        raise EventHandlingError(f'{self.ae_title} does not accept storage commitment results')

    # DIMSE-N (PS3.7 10.1). An NServiceSCP registered with add_scp (add_scp(NServiceSCP(
    # [classes]))) asks these; each returns (status, data set or None) or a bare status, and
    # the data set is sent only with a success or warning status. Not overridden: 0211H,
    # unrecognised operation. EventHandlingError: 0110H, or the failure status it carries.

    def on_n_get(
        self, context: PContextDef, sop_instance_uid: UID, attribute_identifier_list: list[Any]
    ) -> NReply:
        """Answer an N-GET: the attributes asked for (all when the list of tags is empty)."""
        return UNRECOGNIZED_OPERATION, None

    def on_n_set(
        self, context: PContextDef, sop_instance_uid: UID, modification_list: Dataset
    ) -> NReply:
        """Answer an N-SET: apply the modification list; return the changed attributes."""
        return UNRECOGNIZED_OPERATION, None

    def on_n_action(
        self, context: PContextDef, sop_instance_uid: UID, action_type_id: int,
        action_information: Dataset | None,
    ) -> NReply:
        """Answer an N-ACTION: perform action ``action_type_id``; return its reply, if any."""
        return UNRECOGNIZED_OPERATION, None

    def on_n_create(
        self, context: PContextDef, sop_instance_uid: UID, attribute_list: Dataset | None
    ) -> NReply:
        """Answer an N-CREATE: create the instance (its UID given by the requester or, PS3.7
        10.1.5.1.3, assigned here and returned to it)."""
        return UNRECOGNIZED_OPERATION, None

    def on_n_delete(self, context: PContextDef, sop_instance_uid: UID) -> NReply:
        """Answer an N-DELETE: delete the instance."""
        return UNRECOGNIZED_OPERATION, None

    def on_n_event_report(
        self, context: PContextDef, sop_instance_uid: UID, event_type_id: int,
        event_information: Dataset | None,
    ) -> NReply:
        """Take an N-EVENT-REPORT (the SCU role performs it, PS3.7 10.1.1): note the event."""
        return UNRECOGNIZED_OPERATION, None


class ClientAE(AEBase):
    """An AE that only requests associations (SCU); over TLS with ``ssl_context``; from the
    local ``bind_address`` ``(host, port)`` if given (:func:`pynetdicom2.transport.connect`).

    >>> import tempfile
    >>> from pynetdicom2 import sopclass as sc
    >>> from pynetdicom2.loopback import LoopbackSCP
    >>> client = ClientAE('MYSCU').add_scu(sc.verification_scu)
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp, 'PACS') as pacs:
    ...     # a real peer: {'aet': 'PACS', 'address': 'pacs.example.org', 'port': 104}
    ...     with client.request_association(pacs.remote) as a:
    ...         print(a.get_scu(uids.VERIFICATION_SOP_CLASS)(1))
    (0x0) Success: -
    """

    def __init__(
        self,
        ae_title: str,
        supported_ts: Iterable[str] | None = None,
        max_pdu_length: int = 65536,
        *,
        ssl_context: ssl.SSLContext | None = None,
        async_window: tuple[int, int] | None = None,
        bind_address: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(
            supported_ts, max_pdu_length, ae_title, ssl_context=ssl_context,
            async_window=async_window,
        )
        self.bind_address = transport.check_bind_address(bind_address)


# --- the server ---------------------------------------------------------------------------------

#: The original's name of the server class (:mod:`pynetdicom2.aeserver` holds it now).
_ThreadingTCPServer = AssociationServer


class AE(AEBase):
    """An AE that accepts associations (and may request them too).

    The port is bound in the constructor unless ``bind_and_activate`` is False (``with ae:``
    binds it then); port 0 picks a free port, found afterwards in ``ae.local_ae.port``.
    ``host`` (an extension) is the interface to listen on: '' every IPv4 one, '::' every one,
    IPv6 and IPv4 (:mod:`pynetdicom2.aeserver`). ``ssl_context`` (a server context) makes it
    accept over TLS; ``client_ssl_context`` (a client context) is what its own requests use,
    else ``ssl_context``.

    >>> from pynetdicom2 import sopclass as sc
    >>> from pynetdicom2.commands import verify
    >>> srv = AE('MYSCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)
    >>> with srv:        # serving in a background thread
    ...     verify('MYSCU', {'aet': 'MYSCP', 'address': '127.0.0.1',
    ...                      'port': srv.local_ae.port}).is_success
    True
    """

    def __init__(
        self,
        ae_title: str,
        port: int,
        supported_ts: Iterable[str] | None = None,
        max_pdu_length: int = 65536,
        bind_and_activate: bool = True,
        *,
        host: str = '',
        ssl_context: ssl.SSLContext | None = None,
        client_ssl_context: ssl.SSLContext | None = None,
        async_window: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(
            supported_ts, max_pdu_length, ae_title, port,
            ssl_context=ssl_context, client_ssl_context=client_ssl_context,
            async_window=async_window,
        )
        self.host = host
        self.server = self._create_server(port, bind_and_activate, max_pdu_length)
        self.activated = bind_and_activate
        self._serve_thread: threading.Thread | None = None
        self._closed = False
        if bind_and_activate:
            self._bound()

    def _create_server(
        self, port: int, bind_and_activate: bool, max_pdu_length: int
    ) -> AssociationServer:
        return AssociationServer(
            (self.host, port), self, max_pdu_length, bind_and_activate,
            ssl_context=self.ssl_context,
        )

    def _bound(self) -> None:
        port = self.server.server_address[1]
        self.local_ae = AETParams(self.local_ae.address, self.ae_title, port)

    def add_scp(self, service: Any, sop_classes: Iterable[str] | None = None) -> AE:
        """Register an SCP service for ``sop_classes`` (default: its own); returns self.

        >>> from pynetdicom2 import sopclass as sc
        >>> srv = AE('MYSCP', 0, bind_and_activate=False)   # not bound until ``with srv:``
        >>> srv.add_scp(sc.verification_scp).add_scp(sc.storage_scp) is srv
        True
        >>> uids.VERIFICATION_SOP_CLASS in srv.supported_scp
        True
        >>> srv.quit()                                      # closes its socket
        """
        self._register(self.supported_scp, service, sop_classes)
        return self

    def activate(self) -> None:
        """Bind and listen now, if the constructor did not (``bind_and_activate=False``)."""
        if self._closed:
            raise NetDICOMError(f'{self.ae_title} has quit; an AE serves once: create a new one')
        if not self.activated:
            self.server.bind_and_listen()
            self.activated = True
            self._bound()

    def serve_forever(self, workers: int | None = None, grace: float = 30.0) -> int:
        """Serve in the calling thread until :meth:`quit` is called from another one; with
        ``workers``, from that many processes until SIGTERM or Ctrl-C
        (:class:`pynetdicom2.workers.WorkerPool`, ``grace`` its drain time). Returns 0, or
        the pool's exit status.

        Usage::

            srv = StorageAE('in', 'STORESCP', 11112).add_scp(sc.storage_scp)
            srv.serve_forever(workers=4)   # until SIGTERM; without workers, until srv.quit()
        """
        if workers is not None:
            from pynetdicom2.workers import WorkerPool  # loaded when used (multiprocessing)
            return WorkerPool(self, workers, grace=grace).serve()
        self.activate()
        self.server.serve_forever()
        return 0

    def __enter__(self) -> AE:
        self.activate()
        if self._serve_thread is None:
            self._serve_thread = threading.Thread(
                target=self.server.serve_forever,
                name=f'pynetdicom2-ae-{self.ae_title}:{self.local_ae.port}',
                daemon=True,
            )
            self._serve_thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.quit()

    def quit(self) -> None:
        """Stop serving, abort the associations still running, join every thread, close.

        Returns at once on an AE that never served.
        """
        self.server.shutdown()
        if self._serve_thread is not None:
            self._serve_thread.join(JOIN_TIMEOUT)
            self._serve_thread = None
        self.server.close_associations()
        self.server.server_close()
        self._closed = True


# --- storing AEs --------------------------------------------------------------------------------


class FolderStorageMixin:
    """Store received data sets in a directory, as ``<SOPInstanceUID>.dcm`` by default.

    A data set is written to a hidden temporary file in the directory and renamed to its
    final name only after ``on_receive_store`` returned Success or Warning; otherwise, or
    when the association ends before the data set is complete, the temporary file is
    deleted. File names are built only from UIDs that pass
    :func:`~pynetdicom2.filestorage.is_safe_uid`.

    :attr:`file_naming` chooses the layout: a :class:`~pynetdicom2.filestorage.FileNaming`
    policy (:class:`~pynetdicom2.filestorage.SOPInstanceUIDNaming` with ``replace=True`` for
    an archive that keeps one copy, :class:`~pynetdicom2.filestorage.StudySeriesNaming`,
    :class:`~pynetdicom2.filestorage.TemplateNaming`). Left None, names come from
    :meth:`get_file_name`, the original's hook.
    """

    #: Copies of one instance kept under numbered names (``<uid>.dcm``, ``<uid>_1.dcm`` ...
    #: ``<uid>_9.dcm``) when the naming does not ``replace``; one more is refused with A700H
    #: (out of resources): an instance sent over and over cannot fill the disk.
    max_iterations = 10
    #: The naming policy, or None for :meth:`get_file_name` (``<uid>.dcm``, then ``<uid>_N``).
    file_naming: FileNaming | None = None
    #: Durable Success: ``os.fsync`` the file, rename it, ``os.fsync`` its directory, and only
    #: then answer the C-STORE: a power cut after Success loses nothing (costs a disk flush
    #: per data set; docs/reliability.rst has the numbers).
    fsync = False
    #: What a storage class's SOP class extended negotiation is answered with (PS3.4
    #: B.3.1.2): a level 2 SCP, every element kept as received.
    storage_extended_negotiation: Any = extendednegotiation.STORING_SCP
    storage_dir: Path
    lock: Any

    def get_file_name(self, path: str | os.PathLike[str], sop_instance_uid: str) -> Path:
        """``<uid>.dcm`` in ``path``, or the first free ``<uid>_N.dcm``, 0 < N < max_iterations.

        Raises :class:`ValueError` for a UID that is not safe in a file name.
        """
        name = SOPInstanceUIDNaming.file_name(sop_instance_uid)
        return numbered(os.path.join(os.fspath(path), name), self.max_iterations)

    def get_storage_file(
        self, ctx: PContextDef, command_set: Dataset, path: str | os.PathLike[str]
    ) -> StagedFile:
        """A staged file in ``path`` holding the preamble and file meta of the data set."""
        staged = StagedFile(path)
        try:
            write_meta(staged, command_set, ctx.supported_ts, current_source_ae_title())
            staged.data_set_offset = staged.tell()
        except BaseException:
            staged.discard()
            raise
        return staged

    def get_file(self, context: PContextDef, command_set: Dataset) -> tuple[BinaryIO, int]:
        return self.get_storage_file(context, command_set, self.storage_dir), 0

    def keep_file(self, fp: BinaryIO, command_set: Dataset) -> None:
        """Rename a staged file to its final name (atomic, in the same file system)."""
        self.place_file(fp, command_set)

    def place_file(self, fp: BinaryIO, command_set: Dataset) -> Path | None:
        """Put an accepted data set's file where :attr:`file_naming` says; return the path.

        A file that is not a :class:`~pynetdicom2.filestorage.StagedFile` (from a custom
        :meth:`get_file`) is only closed (None). A file that is not ours is never
        overwritten (:func:`~pynetdicom2.filestorage.place`): with ``replace`` only a copy of
        the same instance is. With :attr:`fsync`, the file and then its directory are on the
        disk before this returns, and so before the C-STORE-RSP. Raises
        :class:`~pynetdicom2.exceptions.InvalidDataSetError` when the data set's values make no
        file name, :class:`OSError` when it cannot be read or put in place (its staged file
        is deleted either way).
        """
        if not isinstance(fp, StagedFile):
            fp.close()
            return None
        naming = self.file_naming
        try:
            header = (read_header(fp, naming.keywords)
                      if naming is not None and naming.needs_dataset else None)
            if self.fsync:
                sync_file(fp)
        except OSError:
            fp.discard()
            raise
        instance = str(dm.value_or_none(command_set.get(_AFFECTED_SOP_INSTANCE_UID)) or '')
        with self.lock:  # two associations storing the same instance pick different names
            try:
                if naming is None:
                    target = self._place_by_file_name(fp, instance)
                else:
                    target = naming.target_in(fp.directory, command_set, header)
                    if os.path.dirname(target) != fp.directory:
                        target.parent.mkdir(parents=True, exist_ok=True)
                    target = place(fp, target, instance, replace=naming.replace,
                                   max_iterations=self.max_iterations)
            except ValueError as exc:
                fp.discard()
                raise InvalidDataSetError(f'no file name can be made of it: {exc}') from exc
            except BaseException:
                fp.discard()
                raise
        if self.fsync:
            sync_directories(target, self.storage_dir)
        logger.debug('stored %s', target)
        return target

    def _place_by_file_name(self, fp: StagedFile, instance: str) -> Path:
        """Place ``fp`` under the name :meth:`get_file_name` (the original's hook) gives."""
        for _ in range(self.max_iterations):
            target = self.get_file_name(fp.directory, instance)
            if fp.commit_new(target):
                return target
        raise FileExistsError(f'no free name for instance {instance} in {fp.directory}')

    def on_receive_store(self, context: PContextDef, ds: BinaryIO | bytes) -> statuses.Status:
        """Success: the data set is put in place as soon as this returns."""
        return statuses.SUCCESS


def _storage_dir(storage_dir: str | os.PathLike[str]) -> Path:
    directory = Path(storage_dir)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


class ClientStorageAE(FolderStorageMixin, ClientAE):
    """A ClientAE that stores the data sets it receives (C-GET) in ``storage_dir``.

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     client = ClientStorageAE(os.path.join(tmp, 'incoming'), 'MYSCU')  # made if missing
    ...     client.storage_dir.is_dir()
    True
    """

    def __init__(
        self,
        storage_dir: str | os.PathLike[str],
        ae_title: str,
        supported_ts: Iterable[str] | None = None,
        max_pdu_length: int = 65536,
        *,
        ssl_context: ssl.SSLContext | None = None,
        async_window: tuple[int, int] | None = None,
        fsync: bool = False,
    ) -> None:
        super().__init__(ae_title, supported_ts, max_pdu_length, ssl_context=ssl_context,
                         async_window=async_window)
        self.storage_dir = _storage_dir(storage_dir)
        self.fsync = fsync
        # Data sets of C-GET sub-operations go straight to files, whatever was registered.
        self.store_in_file.update(uids.KNOWN_STORAGE_SOP_CLASSES)


class StorageAE(FolderStorageMixin, AE):
    """An AE that stores every data set it receives in ``storage_dir``.

    Register :func:`pynetdicom2.sopclass.storage_scp` to receive C-STOREs.

    >>> import os, tempfile
    >>> from pynetdicom2 import sopclass as sc
    >>> from pynetdicom2.commands import store
    >>> from pynetdicom2.loopback import make_dataset
    >>> with tempfile.TemporaryDirectory() as incoming:
    ...     scp = StorageAE(incoming, 'STORESCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    ...     with scp:
    ...         remote = {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
    ...         ds = make_dataset()
    ...         print(store('MYSCU', remote, ds))
    ...     os.listdir(incoming) == [f'{ds.SOPInstanceUID}.dcm']
    (0x0) Success: -
    True
    """

    def __init__(
        self,
        storage_dir: str | os.PathLike[str],
        ae_title: str,
        port: int,
        supported_ts: Iterable[str] | None = None,
        max_pdu_length: int = 65536,
        bind_and_activate: bool = True,
        *,
        host: str = '',
        ssl_context: ssl.SSLContext | None = None,
        client_ssl_context: ssl.SSLContext | None = None,
        async_window: tuple[int, int] | None = None,
        fsync: bool = False,
    ) -> None:
        self.storage_dir = _storage_dir(storage_dir)
        self.fsync = fsync
        super().__init__(
            ae_title, port, supported_ts, max_pdu_length, bind_and_activate, host=host,
            ssl_context=ssl_context, client_ssl_context=client_ssl_context,
            async_window=async_window,
        )
