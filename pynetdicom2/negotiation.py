"""Association negotiation (PS3.8 9.3.2-9.3.4, PS3.7 Annex D) as pure functions.

This module owns every decision taken while an association is set up: which presentation
contexts an acceptor accepts and with which transfer syntax, which SCP/SCU roles it grants,
what it answers to asynchronous operations and user identity, what goes into each side's
user information item, whether a request is rejected and why, and, on the requester's side,
what to propose and what the A-ASSOCIATE-AC means. It takes PDU items and capabilities in and
gives PDU items and plain results out: no sockets, no threads, no AE objects, so every rule
is tested by a table (tests/test_negotiation.py).

Theory of operation:

* The requester proposes one presentation context per SOP class the association needs, in
  the order the user registered them, each listing the user's transfer syntaxes in the
  user's order (:func:`select_proposal`). IDs are renumbered 1, 3, 5 ... per association, so
  an AE with hundreds of SOP classes still proposes at most 128 contexts (PS3.8 9.3.2.2).
* The acceptor answers each proposed context (:func:`negotiate_as_acceptor`): 2 for a bad
  or duplicated ID, 3 for an abstract syntax it does not know, 1 when it knows the SOP class
  but not in any role the requester offers, 4 when no proposed transfer syntax is one it
  supports, else 0 with the first transfer syntax of *its own* preference list that the
  requester proposed (PS3.8 9.3.3.2).
* Roles (PS3.7 D.3.3.4): without a role selection item the requester is SCU and the acceptor
  SCP. With one, the acceptor grants each proposed role it can play the other side of, and
  refuses the rest with 0.
* The acceptor's user information is its own (never the requester's items echoed back):
  maximum length, implementation class UID and version name, an asynchronous operations
  window only when one was proposed and never above it (PS3.7 D.3.3.3), one role reply per
  role item, and a user identity response (0x59) only when a positive response was requested.
  SOP class extended negotiation (0x56, 0x57) is :mod:`pynetdicom2.extendednegotiation`'s.

Usage::

    from pynetdicom2 import negotiation

    rejection = negotiation.check_request(rq, required_called_ae_title=None)
    if rejection is None:
        result = negotiation.negotiate_as_acceptor(rq, capabilities)
        ac = pdu.AAssociateAcPDU(rq.called_ae_title, rq.calling_ae_title, result.ac_items)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from pydicom.uid import UID

from pynetdicom2 import __version__, pdu, uids
from pynetdicom2.exceptions import AssociationError, NetDICOMError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.userdataitems import (
    AsynchronousOperationsWindowSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    ScpScuRoleSelectionSubItem,
    UserIdentityNegotiationSubItem,
    UserIdentityNegotiationSubItemAc,
)

__all__ = [
    'APPLICATION_CONTEXT_NAME',
    'IMPLEMENTATION_UID',
    'IMPLEMENTATION_VERSION_NAME',
    'MIN_PEER_MAX_PDU_LENGTH',
    'AcceptorCapabilities',
    'AcceptorResult',
    'ProposedContext',
    'Rejection',
    'RequesterResult',
    'check_async_window',
    'check_request',
    'identity_item',
    'negotiate_as_acceptor',
    'presentation_context_items',
    'read_acceptance',
    'requester_user_information',
    'select_proposal',
]

logger = logging.getLogger('pynetdicom2.negotiation')

#: PS3.7 A.2.1: the DICOM application context name, the only one there is.
APPLICATION_CONTEXT_NAME = UID('1.2.840.10008.3.1.1.1')
#: The implementation class UID pynetdicom2 announces (PS3.7 D.3.3.2) and writes in file meta.
IMPLEMENTATION_UID = UID('1.2.826.0.1.3680043.8.498.1.1.155105445218102811803000')
#: PS3.7 D.3.3.2: 1 to 16 characters; ours is the name and the release digits.
IMPLEMENTATION_VERSION_NAME = ('PYNETDICOM2_' + re.sub(r'\D', '', __version__.split('.dev')[0]))[
    :16
]

#: PS3.8 9.3.2.2: presentation context IDs are odd integers from 1 to 255.
MAX_CONTEXTS = 128

#: The smallest Maximum Length (PS3.8 D.1) a peer may announce, 0 (unlimited) aside. PS3.8
#: sets no minimum, but every P-DATA-TF spends 12 bytes on headers (PDU and PDV) and we must
#: send none longer than the peer's maximum: a maximum of 13 makes a C-GET send a PDU per byte
#: or two. No implementation announces so little: DCMTK cannot announce less than 4096
#: (ASC_MINIMUMPDUSIZE), and when told less than it can fill, it sends 4096-byte PDVs anyway,
#: breaking D.1. We refuse instead: the A-ASSOCIATE-RQ is rejected (1/1/1), an A-ASSOCIATE-AC
#: is not used. At 1024 bytes a data set costs at most 16 times the PDUs of a 16 KiB maximum.
MIN_PEER_MAX_PDU_LENGTH = 1024

#: Every C-GET class, private ones registered with ``c_get=True`` included (a live set): an
#: SCU of any of them must offer the SCP role for the storage classes it can receive, since
#: C-GET sub-operations come back on the same association (PS3.4 C.4.3).
GET_SOP_CLASSES = uids.KNOWN_GET_SOP_CLASSES
#: Every storage class, private ones registered with ``storage=True`` included (a live set).
STORAGE_SOP_CLASSES = uids.KNOWN_STORAGE_SOP_CLASSES

# PS3.8 9.3.3.2 result/reason of a presentation context.
ACCEPTANCE = 0
USER_REJECTION = 1
NO_REASON = 2
ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
TRANSFER_SYNTAXES_NOT_SUPPORTED = 4

class Rejection(NamedTuple):
    """An A-ASSOCIATE-RJ to send (PS3.8 9.3.4) and why, for the log."""

    result: int
    source: int
    reason: int
    explanation: str


class ProposedContext(NamedTuple):
    """A presentation context to propose: ID, abstract syntax, transfer syntaxes in order."""

    id: int
    sop_class: UID
    supported_ts: tuple[UID, ...]


# --- the acceptor ---------------------------------------------------------------------------


def check_request(
    rq: pdu.AAssociateRqPDU, required_called_ae_title: str | None = None
) -> Rejection | None:
    """The A-ASSOCIATE-RJ the service user owes this request, or None when it may go on.

    Checked (the protocol version is the provider's, PS3.8 AE-6): one application context
    item naming the DICOM application context (else 1/1/2), at least one presentation context
    and a user information item with a maximum length sub-item, of 0 or at least
    :data:`MIN_PEER_MAX_PDU_LENGTH` (else 1/1/1), non-empty AE titles (1/1/3 calling, 1/1/7
    called) and, when ``required_called_ae_title`` is given, that the called AE title is ours
    (1/1/7).

    >>> rq = pdu.AAssociateRqPDU('OTHER', 'MYSCU', [     # called, calling AE title; items
    ...     pdu.ApplicationContextItem(APPLICATION_CONTEXT_NAME),
    ...     *presentation_context_items([(1, uids.VERIFICATION_SOP_CLASS,
    ...                                   uids.ImplicitVRLittleEndian)]),
    ...     requester_user_information(16384)])
    >>> check_request(rq, 'STORESCP')
    Rejection(result=1, source=1, reason=7, explanation="called AE title 'OTHER' ...")
    >>> check_request(rq) is None                  # any called AE title will do
    True
    """
    app_contexts = [i for i in rq.variable_items if isinstance(i, pdu.ApplicationContextItem)]
    user_infos = [i for i in rq.variable_items if isinstance(i, pdu.UserInformationItem)]
    contexts = [i for i in rq.variable_items if isinstance(i, pdu.PresentationContextItemRQ)]
    if len(app_contexts) != 1:
        return Rejection(1, 1, 1, f'expected one application context item, got {len(app_contexts)}')
    name = str(app_contexts[0].context_name).rstrip('\0 ')
    if name != APPLICATION_CONTEXT_NAME:
        return Rejection(
            1, 1, 2, f'application context {name!r} is not {APPLICATION_CONTEXT_NAME} (PS3.7 A.2.1)'
        )
    if not contexts:
        return Rejection(1, 1, 1, 'no presentation context was proposed (PS3.8 9.3.2)')
    max_length = next(
        (item for info in user_infos[:1] for item in info.user_data
         if isinstance(item, MaximumLengthSubItem)),
        None,
    )
    if len(user_infos) != 1 or max_length is None:
        return Rejection(
            1, 1, 1, 'expected one user information item with a maximum length sub-item '
            '(PS3.8 9.3.2.3, D.1)'
        )
    too_small = _too_small(max_length.maximum_length_received)
    if too_small is not None:
        return Rejection(1, 1, 1, too_small)
    if not rq.calling_ae_title.strip():
        return Rejection(1, 1, 3, 'the calling AE title is empty')
    called = rq.called_ae_title.strip()
    if not called:
        return Rejection(1, 1, 7, 'the called AE title is empty')
    if required_called_ae_title is not None and called != required_called_ae_title.strip():
        return Rejection(
            1, 1, 7, f'called AE title {called!r} is not ours ({required_called_ae_title!r})'
        )
    return None


def _too_small(max_length: int) -> str | None:
    """Why the peer's Maximum Length is refused, or None when it will do (0: unlimited)."""
    if max_length == 0 or max_length >= MIN_PEER_MAX_PDU_LENGTH:
        return None
    return (
        f'the peer maximum PDU length {max_length} is below {MIN_PEER_MAX_PDU_LENGTH} '
        f'bytes (0 for unlimited, PS3.8 D.1): sending in PDUs that small is refused'
    )


@dataclass(frozen=True)
class AcceptorCapabilities:
    """What an acceptor offers: SOP classes per role, transfer syntaxes by preference, limits.

    ``identity_response`` is the server response of a 0x59 reply (PS3.7 D.3.3.7.2): a Kerberos
    server ticket, SAML response or JWT; ignored for identity types 1 and 2, whose response is
    empty.
    """

    scp_classes: Container[str]
    scu_classes: Container[str]
    transfer_syntaxes: Sequence[str]
    max_pdu_length: int
    identity_response: bytes = b''
    #: Operations we can invoke / perform at once (PS3.7 D.3.3.3; 0: unlimited).
    max_operations: tuple[int, int] = (1, 1)
    #: Transfer syntaxes accepted for these SOP classes, in our order of preference, in place
    #: of ``transfer_syntaxes`` (e.g. only Implicit VR Little Endian for one class).
    syntaxes_by_class: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: Which order picks the one syntax of a context (PS3.8 9.3.3.2) among those both sides
    #: have: ``'requester'`` (its proposal's order: a file arrives in the syntax it was sent
    #: in whenever we accept it) or ``'acceptor'`` (ours).
    preference: str = 'requester'

    def choose(self, sop_class: str, proposed: Sequence[str]) -> str | None:
        """The syntax to accept for a context of ``sop_class`` proposing ``proposed``.

        >>> from dataclasses import replace
        >>> caps = AcceptorCapabilities((), (), ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2'], 0)
        >>> caps.choose('1.2.3', ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1'])
        '1.2.840.10008.1.2'
        >>> replace(caps, preference='acceptor').choose('1.2.3', ['1.2.840.10008.1.2',
        ...                                                       '1.2.840.10008.1.2.1'])
        '1.2.840.10008.1.2.1'
        """
        ours = self.syntaxes_by_class.get(sop_class, self.transfer_syntaxes)
        if self.preference == 'acceptor':
            return next((ts for ts in ours if ts in proposed), None)
        return next((ts for ts in proposed if ts in ours), None)


@dataclass
class AcceptorResult:
    """The outcome of :func:`negotiate_as_acceptor`."""

    #: The AC's variable items: application context, one item per proposed context, user info.
    ac_items: list[pdu.VariableItems]
    accepted_contexts: dict[int, PContextDef]
    #: Accepted context IDs on which we play the SCP role (answer requests).
    scp_context_ids: set[int]
    #: Accepted context IDs on which we play the SCU role (send requests, e.g. C-GET stores).
    scu_context_ids: set[int]
    #: The requester's maximum length: what bounds the P-DATA-TF PDUs we send (0: unlimited).
    peer_max_pdu_length: int
    user_identity: UserIdentityNegotiationSubItem | None = None
    #: The window agreed (PS3.7 D.3.3.3): ``(invoked, performed)`` as the reply states it,
    #: (1, 1) when the requester proposed none.
    async_window: tuple[int, int] = (1, 1)


def lower_window(first: int, second: int) -> int:
    """The smaller of two window sizes where 0 means unlimited (PS3.7 D.3.3.3).

    >>> lower_window(16, 4), lower_window(0, 4), lower_window(16, 0), lower_window(0, 0)
    (4, 4, 16, 0)
    """
    if first == 0:
        return second
    if second == 0:
        return first
    return min(first, second)


def answer_window(proposed: tuple[int, int], ours: tuple[int, int]) -> tuple[int, int]:
    """The acceptor's reply to a proposed window ``(invoked, performed)`` (PS3.7 D.3.3.3).

    ``ours`` is what the acceptor can invoke and perform at once. The requester may invoke
    as many as we can perform, and performs as many as we would invoke; neither above what
    it proposed. 0 means unlimited on either side, never "the smallest".

    >>> answer_window((16, 16), (1, 1)), answer_window((0, 0), (4, 8))
    ((1, 1), (8, 4))
    >>> answer_window((2, 0), (0, 0))
    (2, 0)
    """
    return lower_window(proposed[0], ours[1]), lower_window(proposed[1], ours[0])


def read_window(proposed: tuple[int, int] | None, reply: AsynchronousOperationsWindowSubItem | None
                ) -> tuple[int, int]:
    """The window a requester may use: the acceptor's reply, never above the proposal.

    No proposal, or no reply (DCMTK, pynetdicom): one operation at a time (PS3.7 D.3.3.3).

    >>> read_window((16, 16), AsynchronousOperationsWindowSubItem(4, 1))
    (4, 1)
    >>> read_window((16, 16), None), read_window(None, AsynchronousOperationsWindowSubItem(8, 8))
    ((1, 1), (1, 1))
    >>> read_window((16, 16), AsynchronousOperationsWindowSubItem(0, 32))   # clipped
    (16, 16)
    """
    if proposed is None or reply is None:
        return (1, 1)
    return (
        lower_window(reply.max_num_ops_invoked, proposed[0]),
        lower_window(reply.max_num_ops_performed, proposed[1]),
    )


def _valid_context_id(context_id: int) -> bool:
    return 1 <= context_id <= 255 and context_id % 2 == 1


def negotiate_roles(
    role_items: Iterable[ScpScuRoleSelectionSubItem],
    scp_classes: Container[str],
    scu_classes: Container[str],
) -> dict[UID, tuple[int, int]]:
    """The roles granted to the requester per SOP class: ``uid -> (scu_role, scp_role)``.

    PS3.7 D.3.3.4: the requester may act as SCU when it offered to and we are SCP for that
    class; as SCP when it offered to and we are SCU for it. Only the first item per SOP class
    counts.

    >>> negotiate_roles([ScpScuRoleSelectionSubItem('1.2', 0, 1)], scp_classes=(),
    ...                 scu_classes={'1.2'})
    {'1.2': (0, 1)}
    """
    granted: dict[UID, tuple[int, int]] = {}
    for item in role_items:
        uid = UID(item.sop_class_uid)
        if uid in granted:
            logger.warning('a second role selection item for %s is ignored (PS3.7 D.3.3.4)', uid)
            continue
        granted[uid] = (
            int(bool(item.scu_role) and uid in scp_classes),
            int(bool(item.scp_role) and uid in scu_classes),
        )
    return granted


def negotiate_as_acceptor(
    rq: pdu.AAssociateRqPDU, capabilities: AcceptorCapabilities
) -> AcceptorResult:
    """Answer an acceptable A-ASSOCIATE-RQ: the AC's items and what was agreed.

    Call :func:`check_request` first; this function assumes its checks passed.

    >>> rq = pdu.AAssociateRqPDU('STORESCP', 'MYSCU', [     # called, calling AE title; items
    ...     pdu.ApplicationContextItem(APPLICATION_CONTEXT_NAME),
    ...     *presentation_context_items([(1, uids.VERIFICATION_SOP_CLASS,
    ...                                   uids.ImplicitVRLittleEndian)]),
    ...     requester_user_information(16384)])
    >>> result = negotiate_as_acceptor(rq, AcceptorCapabilities(
    ...     scp_classes={uids.VERIFICATION_SOP_CLASS}, scu_classes=(),
    ...     transfer_syntaxes=[uids.ImplicitVRLittleEndian], max_pdu_length=16384))
    >>> result.accepted_contexts
    {1: PContextDef(id=1, sop_class='1.2.840.10008.1.1', supported_ts='1.2.840.10008.1.2')}
    >>> result.scp_context_ids, result.peer_max_pdu_length
    ({1}, 16384)
    """
    user_items: list[pdu.UserItem] = []
    for item in rq.variable_items:
        if isinstance(item, pdu.UserInformationItem):
            user_items = list(item.user_data)
    role_items = [i for i in user_items if isinstance(i, ScpScuRoleSelectionSubItem)]
    roles = negotiate_roles(role_items, capabilities.scp_classes, capabilities.scu_classes)
    contexts = [i for i in rq.variable_items if isinstance(i, pdu.PresentationContextItemRQ)]

    seen: dict[int, int] = {}
    for item in contexts:
        seen[item.context_id] = seen.get(item.context_id, 0) + 1
    ac_contexts: list[pdu.PresentationContextItemAC] = []
    accepted: dict[int, PContextDef] = {}
    scp_ids: set[int] = set()
    scu_ids: set[int] = set()
    answered: set[int] = set()
    for item in contexts:
        context_id = item.context_id
        if context_id in answered:
            continue  # a duplicated ID gets one answer, a rejection
        answered.add(context_id)
        proposed_ts = [UID(ts.name) for ts in item.ts_sub_items]
        first_ts = pdu.TransferSyntaxSubItem(proposed_ts[0]) if proposed_ts else None
        if not _valid_context_id(context_id) or seen[context_id] > 1:
            # PS3.8 9.3.2.2: odd, 1-255 and unique; anything else is refused without reason.
            logger.warning('presentation context ID %d is invalid or duplicated', context_id)
            ac_contexts.append(pdu.PresentationContextItemAC(context_id, NO_REASON, first_ts))
            continue
        sop_class = UID(item.abs_sub_item.name)
        if sop_class in roles:
            requester_scu, requester_scp = roles[sop_class]
            we_scp, we_scu = bool(requester_scu), bool(requester_scp)
        else:
            we_scp, we_scu = sop_class in capabilities.scp_classes, False
        if not (we_scp or we_scu):
            known = sop_class in capabilities.scp_classes or sop_class in capabilities.scu_classes
            result = USER_REJECTION if known else ABSTRACT_SYNTAX_NOT_SUPPORTED
            ac_contexts.append(pdu.PresentationContextItemAC(context_id, result, first_ts))
            continue
        chosen = capabilities.choose(sop_class, proposed_ts)
        if chosen is None:
            ac_contexts.append(
                pdu.PresentationContextItemAC(context_id, TRANSFER_SYNTAXES_NOT_SUPPORTED, first_ts)
            )
            continue
        chosen = UID(chosen)
        ac_contexts.append(
            pdu.PresentationContextItemAC(context_id, ACCEPTANCE, pdu.TransferSyntaxSubItem(chosen))
        )
        accepted[context_id] = PContextDef(context_id, sop_class, chosen)
        if we_scp:
            scp_ids.add(context_id)
        if we_scu:
            scu_ids.add(context_id)

    # PS3.8 9.3.3.3 / PS3.7 D.3.3: our own user information, in sub-item type order.
    identity = next((i for i in user_items if isinstance(i, UserIdentityNegotiationSubItem)), None)
    replies: list[pdu.UserItem] = [
        MaximumLengthSubItem(capabilities.max_pdu_length),
        ImplementationClassUIDSubItem(IMPLEMENTATION_UID),
    ]
    window = next(
        (i for i in user_items if isinstance(i, AsynchronousOperationsWindowSubItem)), None
    )
    agreed = (1, 1)
    if window is not None:
        agreed = answer_window(
            (window.max_num_ops_invoked, window.max_num_ops_performed),
            capabilities.max_operations,
        )
        replies.append(AsynchronousOperationsWindowSubItem(*agreed))
    replies += [ScpScuRoleSelectionSubItem(uid, scu, scp) for uid, (scu, scp) in roles.items()]
    replies.append(ImplementationVersionNameSubItem(IMPLEMENTATION_VERSION_NAME))
    if identity is not None and identity.positive_response_req:
        # PS3.7 D.3.3.7.2: types 1 and 2 answer with an empty server response.
        response = b'' if identity.user_identity_type in (1, 2) else capabilities.identity_response
        replies.append(UserIdentityNegotiationSubItemAc(response))

    peer_max = next(i for i in user_items if isinstance(i, MaximumLengthSubItem))
    items: list[pdu.VariableItems] = [pdu.ApplicationContextItem(APPLICATION_CONTEXT_NAME)]
    items += ac_contexts
    items.append(pdu.UserInformationItem(replies))
    return AcceptorResult(
        ac_items=items,
        accepted_contexts=accepted,
        scp_context_ids=scp_ids,
        scu_context_ids=scu_ids,
        peer_max_pdu_length=peer_max.maximum_length_received,
        user_identity=identity,
        async_window=agreed,
    )


# --- the requester --------------------------------------------------------------------------


def select_proposal(
    context_defs: Iterable[tuple[UID, Sequence[UID]]],
    scu_classes: Container[str],
    scp_classes: Container[str],
    receivable: Container[str] = STORAGE_SOP_CLASSES,
) -> tuple[dict[int, ProposedContext], list[ScpScuRoleSelectionSubItem]]:
    """Choose what one association proposes: contexts (renumbered 1, 3, 5 ...) and role items.

    ``context_defs`` is the AE's registry, ``(sop_class, transfer_syntaxes)`` in registration
    order. Proposed: every class we are SCU of; and, when we are SCU of any C-GET class
    (:data:`GET_SOP_CLASSES`: the Q/R information models, Composite Instance Root Retrieve and
    Retrieve Without Bulk Data, PS3.4 Y and Z, the non-patient objects' models, registered
    private ones), every ``receivable`` class (storage classes by default) we have a context
    for, however it was registered (``add_scu``, ``add_scp`` or ``update_context_def_list``),
    with a role item offering the SCP role (and the SCU role when we are its SCU too), since
    the peer stores back on this association (PS3.4 C.4.3.1). Classes we only serve are not
    proposed otherwise: the peer opens its own association. ``scp_classes`` is kept for
    callers that pass it; what we serve does not change the proposal.

    Raises :class:`AssociationError` when the classes we are SCU of need more than 128
    contexts (PS3.8 9.3.2.2: IDs are odd, 1-255). Classes we would only receive by C-GET fill
    the contexts left, in registration order; those that do not fit (:func:`rarely_received`
    ones first, unless a C-GET class we registered retrieves them, such as Hanging Protocol
    Storage for the Hanging Protocol GET; then the last registered) are logged.

    >>> select_proposal([(uids.VERIFICATION_SOP_CLASS, [uids.ImplicitVRLittleEndian])],
    ...                 scu_classes={uids.VERIFICATION_SOP_CLASS}, scp_classes=())[0]
    {1: ProposedContext(id=1, sop_class='1.2.840.10008.1.1', supported_ts=('1.2.840...',))}
    """
    definitions = list(context_defs)
    get_classes = [uid for uid in GET_SOP_CLASSES if uid in scu_classes]
    get_scu = bool(get_classes)
    retrieved = {uid for get_class in get_classes for uid in retrieved_by(get_class)}
    required = sum(1 for sop_class, _ in definitions if sop_class in scu_classes)
    if required > MAX_CONTEXTS:
        raise AssociationError(
            f'this association needs {required} presentation contexts, but one association '
            f'carries at most {MAX_CONTEXTS} (PS3.8 9.3.2.2: odd IDs 1-255); register fewer '
            'SOP classes with add_scu, or use a second ClientAE'
        )
    receive_only = [
        UID(sop_class) for sop_class, _ in definitions
        if get_scu and sop_class in receivable and sop_class not in scu_classes
    ]
    # Reversed before the stable sort: among equals, the last registered go first.
    left_out = set(sorted(
        reversed(receive_only), key=lambda uid: uid in retrieved or not rarely_received(uid)
    )[: max(0, len(receive_only) - (MAX_CONTEXTS - required))])
    chosen: list[tuple[UID, Sequence[UID]]] = []
    roles: list[ScpScuRoleSelectionSubItem] = []
    for sop_class, transfer_syntaxes in definitions:
        is_scu = sop_class in scu_classes
        receives = get_scu and sop_class in receivable and sop_class not in left_out
        if receives:
            roles.append(ScpScuRoleSelectionSubItem(sop_class, int(is_scu), 1))
        if is_scu or receives:
            chosen.append((sop_class, transfer_syntaxes))
    if left_out:
        logger.info(
            'C-GET: %d storage classes do not fit in the %d presentation contexts of one '
            'association and are not proposed, so instances of them cannot be received: %s',
            len(left_out), MAX_CONTEXTS,
            ', '.join(_class_name(uid) for uid in receive_only if uid in left_out),
        )
    proposal = {
        2 * index + 1: ProposedContext(2 * index + 1, UID(sop_class), tuple(map(UID, ts)))
        for index, (sop_class, ts) in enumerate(chosen)
    }
    return proposal, roles


#: Storage classes (PS3.4 B.5) of security screening (DICOS, .501), non-destructive
#: evaluation (DICONDE, .601) and eye-care measurements and maps (.78 to .82): what a C-GET
#: SCU of a hospital receives least often, with those of :data:`_RARELY_RECEIVED`.
_RARELY_RECEIVED_PREFIXES = tuple(
    f'1.2.840.10008.5.1.4.1.1.{branch}.' for branch in ('501', '601', '78', '79', '80', '81', '82')
)
_RARELY_RECEIVED = frozenset({
    # Objects outside patients' studies, retrieved with their own models (PS3.4 GG).
    *uids.NON_PATIENT_OBJECT_STORAGE_SOP_CLASSES,
    # Radiotherapy delivery: the second-generation RT objects (.481.10 to .481.25) and the
    # delivery instructions.
    *(UID(f'1.2.840.10008.5.1.4.1.1.481.{number}') for number in range(10, 26)),
    uids.RT_BEAMS_DELIVERY_INSTRUCTION_STORAGE,
    uids.RT_BRACHY_APPLICATION_SETUP_DELIVERY_INSTRUCTION_STORAGE,
    # Neurophysiology and sleep waveforms.
    uids.MULTI_CHANNEL_RESPIRATORY_WAVEFORM_STORAGE,
    uids.ROUTINE_SCALP_ELECTROENCEPHALOGRAM_WAVEFORM_STORAGE,
    uids.ELECTROMYOGRAM_WAVEFORM_STORAGE,
    uids.ELECTROOCULOGRAM_WAVEFORM_STORAGE,
    uids.SLEEP_ELECTROENCEPHALOGRAM_WAVEFORM_STORAGE,
    uids.BODY_POSITION_WAVEFORM_STORAGE,
    # Surface scans and the models of 3D printing.
    uids.SURFACE_SCAN_MESH_STORAGE,
    uids.SURFACE_SCAN_POINT_CLOUD_STORAGE,
    uids.ENCAPSULATED_STL_STORAGE,
    uids.ENCAPSULATED_OBJ_STORAGE,
    uids.ENCAPSULATED_MTL_STORAGE,
    # Dermoscopy, confocal microscopy and microscopy annotations.
    uids.DERMOSCOPIC_PHOTOGRAPHY_IMAGE_STORAGE,
    uids.CONFOCAL_MICROSCOPY_IMAGE_STORAGE,
    uids.CONFOCAL_MICROSCOPY_TILED_PYRAMIDAL_IMAGE_STORAGE,
    uids.MICROSCOPY_BULK_SIMPLE_ANNOTATIONS_STORAGE,
    # CT images meant for further processing, not for display.
    uids.CT_IMAGE_STORAGE_FOR_PROCESSING,
    uids.ENHANCED_CT_IMAGE_STORAGE_FOR_PROCESSING,
    uids.LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE_FOR_PROCESSING,
})

#: The storage classes a C-GET class of non-patient objects retrieves: kept in a proposal
#: that must leave classes out, rare as they are otherwise.
_RETRIEVED_BY: dict[str, tuple[UID, ...]] = {
    uids.HANGING_PROTOCOL_GET_SOP_CLASS: (uids.HANGING_PROTOCOL_STORAGE,),
    uids.COLOR_PALETTE_GET_SOP_CLASS: (uids.COLOR_PALETTE_STORAGE,),
    uids.GENERIC_IMPLANT_TEMPLATE_GET_SOP_CLASS: (uids.GENERIC_IMPLANT_TEMPLATE_STORAGE,),
    uids.IMPLANT_ASSEMBLY_TEMPLATE_GET_SOP_CLASS: (uids.IMPLANT_ASSEMBLY_TEMPLATE_STORAGE,),
    uids.IMPLANT_TEMPLATE_GROUP_GET_SOP_CLASS: (uids.IMPLANT_TEMPLATE_GROUP_STORAGE,),
    uids.DEFINED_PROCEDURE_PROTOCOL_GET_SOP_CLASS: (
        uids.CT_DEFINED_PROCEDURE_PROTOCOL_STORAGE, uids.XA_DEFINED_PROCEDURE_PROTOCOL_STORAGE,
    ),
    uids.PROTOCOL_APPROVAL_GET_SOP_CLASS: (uids.PROTOCOL_APPROVAL_STORAGE,),
    uids.INVENTORY_GET_SOP_CLASS: (uids.INVENTORY_STORAGE,),
}


def retrieved_by(get_class: str) -> tuple[UID, ...]:
    """The storage classes a C-GET class of non-patient objects retrieves (empty for the
    others, which retrieve any storage class).

    >>> retrieved_by(uids.HANGING_PROTOCOL_GET_SOP_CLASS)
    ('1.2.840.10008.5.1.4.38.1',)
    """
    return _RETRIEVED_BY.get(get_class, ())


def rarely_received(sop_class: str) -> bool:
    """Whether a C-GET SCU may leave ``sop_class`` out first when contexts run short: a
    retired class, or one of security screening, NDE, eye-care measurements, non-patient
    objects, radiotherapy delivery, neurophysiology waveforms, surface scans and 3D-printing
    models, dermoscopy and confocal microscopy, or CT for processing. A private class
    (:func:`pynetdicom2.uids.register_private_sop_class`) is not.

    >>> rarely_received(uids.CT_IMAGE_STORAGE), rarely_received('1.2.840.10008.5.1.4.1.1.501.1')
    (False, True)
    """
    uid = sop_class if isinstance(sop_class, UID) else UID(sop_class)
    return uid.is_retired or uid in _RARELY_RECEIVED or uid.startswith(_RARELY_RECEIVED_PREFIXES)


def _class_name(uid: UID) -> str:
    name = uids.sop_class_name(uid)
    return uid if name == uid else f'{name} ({uid})'


def presentation_context_items(
    contexts: Iterable[tuple[int, str, Sequence[str] | str]],
) -> list[pdu.PresentationContextItemRQ]:
    """One A-ASSOCIATE-RQ presentation context item per ``(id, sop_class, ts or [ts...])``.

    >>> presentation_context_items([(1, '1.2.840.10008.1.1', '1.2.840.10008.1.2')])[0].context_id
    1
    """
    items = []
    for context_id, sop_class, supported_ts in contexts:
        syntaxes = [supported_ts] if isinstance(supported_ts, str) else list(supported_ts)
        items.append(
            pdu.PresentationContextItemRQ(
                context_id,
                pdu.AbstractSyntaxSubItem(sop_class),
                [pdu.TransferSyntaxSubItem(ts) for ts in syntaxes],
            )
        )
    return items


def identity_item(
    username: str | None = None,
    password: str | None = None,
    kerberos: bytes | str | None = None,
    saml: bytes | str | None = None,
    jwt: bytes | str | None = None,
) -> UserIdentityNegotiationSubItem | None:
    """The user identity sub-item (0x58, PS3.7 D.3.3.7.1) for the first identity given.

    Username and password give type 2, a username alone type 1, then Kerberos (3), SAML (4)
    and JWT (5). No positive response is requested. A password without a username raises
    :class:`AssociationError`.

    >>> identity_item('admin', 'secret').user_identity_type
    2
    """
    if password and not username:
        raise AssociationError(
            'a password without a username: user identity type 2 (PS3.7 D.3.3.7) sends both; '
            'set username too'
        )
    if username:
        if password:
            return UserIdentityNegotiationSubItem(username, password, user_identity_type=2)
        return UserIdentityNegotiationSubItem(username, user_identity_type=1)
    for identity_type, value in ((3, kerberos), (4, saml), (5, jwt)):
        if value:
            return UserIdentityNegotiationSubItem(value, user_identity_type=identity_type)
    return None


def requester_user_information(
    max_pdu_length: int,
    roles: Iterable[ScpScuRoleSelectionSubItem] = (),
    user_data: Iterable[pdu.UserItem] = (),
    identity: UserIdentityNegotiationSubItem | None = None,
    async_window: tuple[int, int] | None = None,
    extended: Iterable[pdu.UserItem] = (),
) -> pdu.UserInformationItem:
    """The requester's user information item: ours first, then the user's extra items.

    Order: maximum length, implementation class UID, the asynchronous operations window
    ``(invoked, performed)`` when one is proposed, role selections, implementation version
    name, the SOP class extended negotiation items (``extended``, 0x56 and 0x57, PS3.7
    D.3.3.5, D.3.3.6: :mod:`pynetdicom2.extendednegotiation`), ``user_data`` as given, the
    identity item.

    >>> requester_user_information(16384).user_data[0].maximum_length_received
    16384
    """
    items: list[pdu.UserItem] = [
        MaximumLengthSubItem(max_pdu_length),
        ImplementationClassUIDSubItem(IMPLEMENTATION_UID),
    ]
    if async_window is not None:
        items.append(AsynchronousOperationsWindowSubItem(*async_window))
    items += list(roles)
    items.append(ImplementationVersionNameSubItem(IMPLEMENTATION_VERSION_NAME))
    items += list(extended)
    items += list(user_data)
    if identity is not None:
        if any(item.item_type == 0x58 for item in items):
            raise AssociationError(
                'two user identity sub-items: user_data has one and username / password / '
                'kerberos / saml / jwt make another; use one or the other (a sub-item in '
                'user_data when you need positive_response_req)'
            )
        items.append(identity)
    return pdu.UserInformationItem(items)


@dataclass
class RequesterResult:
    """What an A-ASSOCIATE-AC agreed to, from the requester's side (:func:`read_acceptance`)."""

    accepted_contexts: dict[int, PContextDef]
    #: Accepted context IDs on which we may send requests (SCU role).
    scu_context_ids: set[int]
    #: Accepted context IDs on which the peer may send us requests (our SCP role, C-GET).
    scp_context_ids: set[int]
    #: The acceptor's maximum length: what bounds the PDUs we send (0: unlimited).
    peer_max_pdu_length: int
    #: The result/reason of every context the acceptor answered, by ID (for the log).
    results: dict[int, int]
    #: The window agreed (:func:`read_window`): (1, 1) without a proposal or a reply.
    async_window: tuple[int, int] = (1, 1)


def read_acceptance(
    proposal: Mapping[int, ProposedContext],
    roles: Iterable[ScpScuRoleSelectionSubItem],
    ac: pdu.AAssociateAcPDU,
    async_window: tuple[int, int] | None = None,
) -> RequesterResult:
    """Interpret an A-ASSOCIATE-AC against what we proposed.

    Raises :class:`AssociationError` when the AC is not a valid answer: a wrong application
    context, no maximum length or one below :data:`MIN_PEER_MAX_PDU_LENGTH` (0 aside), a
    context ID we did not propose. An accepted context whose
    transfer syntax we did not propose is treated as refused (and logged). ``async_window``
    is the window we proposed, if any (:func:`read_window`).

    Here the AC is the one :func:`negotiate_as_acceptor` builds for our proposal:

    >>> proposal, roles = select_proposal(
    ...     [(uids.VERIFICATION_SOP_CLASS, [uids.ImplicitVRLittleEndian])],
    ...     scu_classes={uids.VERIFICATION_SOP_CLASS}, scp_classes=())
    >>> rq = pdu.AAssociateRqPDU('STORESCP', 'MYSCU', [
    ...     pdu.ApplicationContextItem(APPLICATION_CONTEXT_NAME),
    ...     *presentation_context_items([(c.id, c.sop_class, c.supported_ts)
    ...                                  for c in proposal.values()]),
    ...     requester_user_information(16384, roles)])
    >>> answer = negotiate_as_acceptor(rq, AcceptorCapabilities(
    ...     scp_classes={uids.VERIFICATION_SOP_CLASS}, scu_classes=(),
    ...     transfer_syntaxes=[uids.ImplicitVRLittleEndian], max_pdu_length=32768))
    >>> ac = pdu.AAssociateAcPDU('STORESCP', 'MYSCU', answer.ac_items)
    >>> result = read_acceptance(proposal, roles, ac)
    >>> result.accepted_contexts
    {1: PContextDef(id=1, sop_class='1.2.840.10008.1.1', supported_ts='1.2.840.10008.1.2')}
    >>> result.scu_context_ids, result.peer_max_pdu_length
    ({1}, 32768)
    """
    app_contexts = [i for i in ac.variable_items if isinstance(i, pdu.ApplicationContextItem)]
    if len(app_contexts) != 1 or (
        str(app_contexts[0].context_name).rstrip('\0 ') != APPLICATION_CONTEXT_NAME
    ):
        raise AssociationError(
            f'the A-ASSOCIATE-AC does not name the DICOM application context '
            f'{APPLICATION_CONTEXT_NAME}: {app_contexts!r}'
        )
    user_items: list[pdu.UserItem] = []
    for item in ac.variable_items:
        if isinstance(item, pdu.UserInformationItem):
            user_items = list(item.user_data)
    peer_max = next((i for i in user_items if isinstance(i, MaximumLengthSubItem)), None)
    if peer_max is None:
        raise AssociationError(
            'the A-ASSOCIATE-AC has no maximum length sub-item (PS3.8 9.3.3.3, D.1)'
        )
    too_small = _too_small(peer_max.maximum_length_received)
    if too_small is not None:
        raise AssociationError(f'the A-ASSOCIATE-AC is not usable: {too_small}')
    proposed_roles = {UID(item.sop_class_uid): item for item in roles}
    granted: dict[UID, tuple[int, int]] = {}
    for sub_item in user_items:
        if isinstance(sub_item, ScpScuRoleSelectionSubItem):
            uid = UID(sub_item.sop_class_uid)
            offer = proposed_roles.get(uid)
            if offer is None or uid in granted:
                continue  # PS3.7 D.3.3.4: a reply to nothing we asked is meaningless
            # The acceptor may only grant what we offered.
            granted[uid] = (
                int(bool(sub_item.scu_role and offer.scu_role)),
                int(bool(sub_item.scp_role and offer.scp_role)),
            )

    accepted: dict[int, PContextDef] = {}
    scu_ids: set[int] = set()
    scp_ids: set[int] = set()
    results: dict[int, int] = {}
    for item in ac.variable_items:
        if not isinstance(item, pdu.PresentationContextItemAC):
            continue
        proposed = proposal.get(item.context_id)
        if proposed is None:
            raise AssociationError(
                f'the A-ASSOCIATE-AC answers presentation context {item.context_id}, which was '
                f'not proposed (proposed: {sorted(proposal)})'
            )
        results[item.context_id] = item.result_reason
        if item.result_reason != ACCEPTANCE:
            continue
        ts = UID(item.ts_sub_item.name) if item.ts_sub_item is not None else None
        if ts not in proposed.supported_ts:
            logger.warning(
                'context %d (%s) was accepted with transfer syntax %s, which we did not '
                'propose; not using it', item.context_id, proposed.sop_class, ts,
            )
            results[item.context_id] = NO_REASON
            continue
        sop_class = proposed.sop_class
        if sop_class in proposed_roles:
            # No reply means the default roles: we are SCU only (PS3.7 D.3.3.4).
            scu, scp = granted.get(sop_class, (1, 0))
        else:
            scu, scp = 1, 0
        if not (scu or scp):
            results[item.context_id] = USER_REJECTION
            continue
        accepted[item.context_id] = PContextDef(item.context_id, sop_class, ts)
        if scu:
            scu_ids.add(item.context_id)
        if scp:
            scp_ids.add(item.context_id)
    return RequesterResult(
        accepted_contexts=accepted,
        scu_context_ids=scu_ids,
        scp_context_ids=scp_ids,
        peer_max_pdu_length=peer_max.maximum_length_received,
        results=results,
        async_window=read_window(
            async_window,
            next((i for i in user_items if isinstance(i, AsynchronousOperationsWindowSubItem)),
                 None),
        ),
    )


def check_async_window(window: tuple[int, int] | None) -> tuple[int, int] | None:
    """An AE's ``async_window``: None, or ``(invoked, performed)``, each 0 (unlimited) to 65535.

    PS3.7 D.3.3.3: a requester proposes how many operations it may invoke and perform at
    once; the acceptor answers with numbers no greater. A ``ClientAE(..., async_window=(16,
    16))`` keeps up to the agreed number of requests outstanding (``assoc.store_many``, or
    threads sharing the association); an ``AE(..., async_window=(16, 16))`` performs up to
    that many of a requester's operations at once, each on a thread of the association.

    >>> check_async_window((16, 16)), check_async_window(None)
    ((16, 16), None)
    >>> check_async_window((1, 70000))
    Traceback (most recent call last):
    ...
    pynetdicom2.exceptions.NetDICOMError: async_window (1, 70000): expected (invoked, ...
    """
    if window is None:
        return None
    try:
        invoked, performed = window
        valid = all(isinstance(n, int) and 0 <= n <= 0xFFFF for n in (invoked, performed))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise NetDICOMError(
            f'async_window {window!r}: expected (invoked, performed), each 0 (unlimited) to '
            '65535 (PS3.7 D.3.3.3)'
        )
    return (invoked, performed)
