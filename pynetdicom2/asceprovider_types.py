"""What associations are built from: configuration records, service and AE protocols, and
the presentation context items of a proposal.

The records (:class:`RemoteAEConfig`, :class:`AETParams`, :class:`PContextDefList`) carry
what the A-ASSOCIATE-RQ needs (PS3.8 9.3.2); the protocols say what an association needs
from its AE (:class:`AEBaseProto`, satisfied by
:class:`pynetdicom2.applicationentity.AEBase`) and what a service looks like
(:class:`SCPService`, :class:`SCUService`). Re-exported by :mod:`pynetdicom2.asceprovider`.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar

from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import negotiation, pdu, statuses
from pynetdicom2.exceptions import AssociationAbortedError, DCMTimeoutError, NetDICOMError
from pynetdicom2.fsm import PContextDef

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider_acceptor import AssociationAcceptor
    from pynetdicom2.asceprovider_association import Association
    from pynetdicom2.services.nservices import NReply

__all__ = [
    'UNSUPPORTED_REQUEST_RESPONSES',
    'AEBaseProto',
    'AETParams',
    'PContextDefList',
    'RemoteAEConfig',
    'SCPService',
    'SCPServiceWithSOPClass',
    'SCUService',
    'SCUServiceWithSOPClass',
    'T_contra',
    'build_pres_context_def_list',
    'remote_config',
]

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


def remote_config(remote_ae: RemoteAEConfig | Mapping[str, Any]) -> RemoteAEConfig:
    """``remote_ae`` as a :class:`RemoteAEConfig` (a dict of its fields is converted).

    Raises :class:`~pynetdicom2.exceptions.NetDICOMError` for a dict it cannot build one from.

    >>> remote_config({'aet': 'PACS', 'address': '10.0.0.5', 'port': 104}).port
    104
    """
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
    store_in_file: set[str]
    lock: Any
    dcm_timeout: float
    artim_timeout: float
    network_timeout: float
    connect_timeout: float
    require_called_aet: bool
    #: TLS (PS3.15 B.1): the context of the AE's own role (a server context for an AE that
    #: listens), and the one its requests use when that differs; None: plain TCP.
    ssl_context: ssl.SSLContext | None
    client_ssl_context: ssl.SSLContext | None

    # Read-only here, so that an AE may hold them in any mapping or sequence type.
    @property
    def supported_ts(self) -> Sequence[str]: ...

    @property
    def supported_scu(self) -> Mapping[str, Any]: ...

    @property
    def supported_scp(self) -> Mapping[str, Any]: ...

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

    # Storage commitment (services.commitment.StorageCommitment).
    def on_commitment_request(self, remote_aet: str, uids_iter: Iterable[Any]) -> Any: ...

    def on_commitment_response(
        self, transaction_uid: str, success_iter: Iterable[Any], failure_iter: Iterable[Any]
    ) -> None: ...

    # The factory of the AE's own requests (a TLS AE makes TLS associations); C-MOVE
    # sub-associations and commitment reports call it on a view of the AE.
    def _create_association(self, remote_ae: Any) -> Any: ...

    # DIMSE-N (PS3.7 10.1; services.nservices.NServiceSCP asks these by default).
    def on_n_get(
        self, context: PContextDef, sop_instance_uid: UID, attribute_identifier_list: list[Any]
    ) -> NReply: ...

    def on_n_set(
        self, context: PContextDef, sop_instance_uid: UID, modification_list: Dataset
    ) -> NReply: ...

    def on_n_action(
        self, context: PContextDef, sop_instance_uid: UID, action_type_id: int,
        action_information: Dataset | None,
    ) -> NReply: ...

    def on_n_create(
        self, context: PContextDef, sop_instance_uid: UID, attribute_list: Dataset | None
    ) -> NReply: ...

    def on_n_delete(self, context: PContextDef, sop_instance_uid: UID) -> NReply: ...

    def on_n_event_report(
        self, context: PContextDef, sop_instance_uid: UID, event_type_id: int,
        event_information: Dataset | None,
    ) -> NReply: ...


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

