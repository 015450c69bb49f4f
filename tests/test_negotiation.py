"""Association negotiation, rule by rule, as tables (PS3.8 9.3.2-9.3.4, PS3.7 Annex D)."""

from __future__ import annotations

import dataclasses

import pytest
from pydicom.uid import UID

from pynetdicom2 import negotiation, pdu, uids
from pynetdicom2.exceptions import AssociationError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.negotiation import (
    APPLICATION_CONTEXT_NAME,
    IMPLEMENTATION_UID,
    IMPLEMENTATION_VERSION_NAME,
    AcceptorCapabilities,
    ProposedContext,
)
from pynetdicom2.userdataitems import (
    AsynchronousOperationsWindowSubItem,
    GenericUserDataSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    ScpScuRoleSelectionSubItem,
    UserIdentityNegotiationSubItem,
    UserIdentityNegotiationSubItemAc,
)

ECHO = uids.VERIFICATION_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE
MR = uids.MR_IMAGE_STORAGE
IMPLICIT = uids.ImplicitVRLittleEndian
EXPLICIT = uids.ExplicitVRLittleEndian
BIG = uids.ExplicitVRBigEndian
JPEG = uids.JPEG_BASELINE_PROCESS_1
UNKNOWN = UID('1.2.3.4.5.6')


def context(context_id: int, abstract: str, *syntaxes: str) -> pdu.PresentationContextItemRQ:
    return pdu.PresentationContextItemRQ(
        context_id,
        pdu.AbstractSyntaxSubItem(abstract),
        [pdu.TransferSyntaxSubItem(ts) for ts in syntaxes],
    )


def request(
    contexts: list[pdu.PresentationContextItemRQ],
    user_items: list | None = None,
    called: str = 'SCP',
    calling: str = 'SCU',
    app_context: str = APPLICATION_CONTEXT_NAME,
    with_user_info: bool = True,
) -> pdu.AAssociateRqPDU:
    items: list = [pdu.ApplicationContextItem(app_context), *contexts]
    if with_user_info:
        items.append(
            pdu.UserInformationItem(
                [MaximumLengthSubItem(16384)] if user_items is None else user_items
            )
        )
    return pdu.AAssociateRqPDU(called, calling, items)


CAPABILITIES = AcceptorCapabilities(
    scp_classes={ECHO, CT},
    scu_classes={MR},
    transfer_syntaxes=[EXPLICIT, IMPLICIT],
    max_pdu_length=32768,
)


def ac_contexts(result: negotiation.AcceptorResult) -> list[pdu.PresentationContextItemAC]:
    return [i for i in result.ac_items if isinstance(i, pdu.PresentationContextItemAC)]


def ac_user_items(result: negotiation.AcceptorResult) -> list:
    (info,) = [i for i in result.ac_items if isinstance(i, pdu.UserInformationItem)]
    return info.user_data


# --- check_request ----------------------------------------------------------------------------

GOOD = [context(1, ECHO, IMPLICIT)]


@pytest.mark.parametrize(
    ('rq', 'required', 'expected'),
    [
        (request(GOOD), None, None),
        (request(GOOD), 'SCP', None),
        (request(GOOD, called='SCP  '), 'SCP', None),
        (request(GOOD, called='OTHER'), None, None),
        (request(GOOD, called='OTHER'), 'SCP', (1, 1, 7)),
        (request(GOOD, app_context='1.2.3'), None, (1, 1, 2)),
        (request([]), None, (1, 1, 1)),
        (request(GOOD, with_user_info=False), None, (1, 1, 1)),
        (request(GOOD, user_items=[ImplementationClassUIDSubItem('1.2')]), None, (1, 1, 1)),
        (request(GOOD, calling=' '), None, (1, 1, 3)),
        (request(GOOD, called=' '), None, (1, 1, 7)),
    ],
    ids=[
        'valid', 'called-required-ok', 'called-padded', 'called-not-checked',
        'called-wrong', 'app-context', 'no-contexts', 'no-user-info', 'no-max-length',
        'empty-calling', 'empty-called',
    ],
)
def test_check_request(rq, required, expected):
    rejection = negotiation.check_request(rq, required)
    if expected is None:
        assert rejection is None
    else:
        assert rejection is not None
        assert rejection[:3] == expected
        assert rejection.explanation


# --- presentation contexts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ('proposed', 'expected'),
    [
        # The requester's preference among what we accept (the default).
        ([context(1, ECHO, IMPLICIT, EXPLICIT)], [(1, 0, IMPLICIT)]),
        ([context(1, ECHO, IMPLICIT)], [(1, 0, IMPLICIT)]),
        ([context(1, ECHO, BIG, IMPLICIT)], [(1, 0, IMPLICIT)]),
        ([context(1, ECHO, BIG, JPEG)], [(1, 4, BIG)]),
        ([context(1, UNKNOWN, IMPLICIT)], [(1, 3, IMPLICIT)]),
        # MR: we are only its SCU, and no role was offered: known, but not in this role.
        ([context(1, MR, IMPLICIT)], [(1, 1, IMPLICIT)]),
        ([context(2, ECHO, IMPLICIT)], [(2, 2, IMPLICIT)]),
        ([context(1, ECHO, IMPLICIT), context(1, CT, IMPLICIT)], [(1, 2, IMPLICIT)]),
        (
            [context(1, ECHO, IMPLICIT), context(3, UNKNOWN, IMPLICIT), context(5, CT, JPEG)],
            [(1, 0, IMPLICIT), (3, 3, IMPLICIT), (5, 4, JPEG)],
        ),
    ],
    ids=[
        'requester-preference', 'only-implicit', 'skips-unsupported', 'ts-not-supported',
        'abstract-not-supported', 'known-but-wrong-role', 'even-id', 'duplicate-id', 'mixed',
    ],
)
def test_presentation_context_results(proposed, expected):
    result = negotiation.negotiate_as_acceptor(request(proposed), CAPABILITIES)
    got = [
        (item.context_id, item.result_reason, item.ts_sub_item.name) for item in ac_contexts(result)
    ]
    assert got == expected
    accepted = {cid: ts for cid, r, ts in expected if r == 0}
    assert result.accepted_contexts == {
        cid: PContextDef(cid, proposed_item.abs_sub_item.name, ts)
        for cid, ts in accepted.items()
        for proposed_item in proposed
        if proposed_item.context_id == cid
    }
    assert result.scp_context_ids == set(accepted)
    assert result.scu_context_ids == set()


def test_the_acceptors_order_when_it_says_so():
    """``preference='acceptor'``: explicit before implicit, whatever the proposal order."""
    capabilities = dataclasses.replace(CAPABILITIES, preference='acceptor')
    result = negotiation.negotiate_as_acceptor(
        request([context(1, ECHO, IMPLICIT, EXPLICIT)]), capabilities)
    assert result.accepted_contexts[1].supported_ts == EXPLICIT


def test_syntaxes_per_sop_class_replace_the_general_list():
    """One class accepted in Implicit VR Little Endian only (``storescp +xi`` for it)."""
    capabilities = dataclasses.replace(CAPABILITIES, syntaxes_by_class={ECHO: [IMPLICIT]})
    result = negotiation.negotiate_as_acceptor(
        request([context(1, ECHO, EXPLICIT, IMPLICIT), context(3, CT, EXPLICIT, IMPLICIT)]),
        capabilities)
    assert result.accepted_contexts[1].supported_ts == IMPLICIT
    assert result.accepted_contexts[3].supported_ts == EXPLICIT


@pytest.mark.parametrize(
    ('sop_class', 'offer', 'reply', 'context_result', 'we_scp', 'we_scu'),
    [
        # C-GET: the requester offers only the SCP role for a class we are SCU of.
        (MR, (0, 1), (0, 1), 0, False, True),
        (MR, (1, 1), (0, 1), 0, False, True),
        # ... but for a class we only serve, the SCP role cannot be honoured.
        (CT, (0, 1), (0, 0), 1, False, False),
        (CT, (1, 1), (1, 0), 0, True, False),
        (CT, (1, 0), (1, 0), 0, True, False),
        (UNKNOWN, (1, 1), (0, 0), 3, False, False),
    ],
    ids=['get-scp-role', 'both-offered-we-scu', 'scp-role-refused', 'both-offered-we-scp',
         'default-explicit', 'unknown-class'],
)
def test_role_selection(sop_class, offer, reply, context_result, we_scp, we_scu):
    rq = request(
        [context(1, sop_class, IMPLICIT)],
        [MaximumLengthSubItem(16384), ScpScuRoleSelectionSubItem(sop_class, *offer)],
    )
    result = negotiation.negotiate_as_acceptor(rq, CAPABILITIES)
    (item,) = ac_contexts(result)
    assert item.result_reason == context_result
    (role,) = [i for i in ac_user_items(result) if isinstance(i, ScpScuRoleSelectionSubItem)]
    assert (role.sop_class_uid, role.scu_role, role.scp_role) == (sop_class, *reply)
    assert (1 in result.scp_context_ids, 1 in result.scu_context_ids) == (we_scp, we_scu)


def test_second_role_item_for_a_class_is_ignored():
    granted = negotiation.negotiate_roles(
        [ScpScuRoleSelectionSubItem(MR, 0, 1), ScpScuRoleSelectionSubItem(MR, 1, 0)],
        scp_classes={MR},
        scu_classes={MR},
    )
    assert granted == {MR: (0, 1)}


# --- the acceptor's user information ----------------------------------------------------------


def test_acceptor_sends_its_own_user_information_never_the_requesters():
    secret = UserIdentityNegotiationSubItem('admin', 'secret-password', 2, 0)
    rq = request(
        [context(1, ECHO, IMPLICIT)],
        [
            MaximumLengthSubItem(4096),
            ImplementationClassUIDSubItem('1.2.3.4'),
            ImplementationVersionNameSubItem('THEIRS'),
            GenericUserDataSubItem(0x57, b'\x00\x01'),
            secret,
        ],
    )
    result = negotiation.negotiate_as_acceptor(rq, CAPABILITIES)
    items = ac_user_items(result)
    assert [type(i) for i in items] == [
        MaximumLengthSubItem, ImplementationClassUIDSubItem, ImplementationVersionNameSubItem,
    ]
    assert items[0].maximum_length_received == 32768
    assert items[1].implementation_class_uid == IMPLEMENTATION_UID
    assert items[2].implementation_version_name == IMPLEMENTATION_VERSION_NAME
    assert result.peer_max_pdu_length == 4096
    assert result.user_identity == secret
    ac = pdu.AAssociateAcPDU('SCP', 'SCU', result.ac_items).encode()
    assert b'secret-password' not in ac and b'THEIRS' not in ac and b'1.2.3.4' not in ac


def test_version_name_fits_the_standard():
    assert 1 <= len(IMPLEMENTATION_VERSION_NAME) <= 16
    assert IMPLEMENTATION_VERSION_NAME.startswith('PYNETDICOM2_')


@pytest.mark.parametrize(
    ('proposed', 'reply'),
    [(None, None), ((5, 3), (1, 1)), ((0, 0), (1, 1)), ((1, 1), (1, 1))],
    ids=['not-proposed', 'lowered', 'unlimited', 'equal'],
)
def test_asynchronous_operations_window(proposed, reply):
    user_items = [MaximumLengthSubItem(16384)]
    if proposed is not None:
        user_items.append(AsynchronousOperationsWindowSubItem(*proposed))
    result = negotiation.negotiate_as_acceptor(request(GOOD, user_items), CAPABILITIES)
    windows = [
        i for i in ac_user_items(result) if isinstance(i, AsynchronousOperationsWindowSubItem)
    ]
    if reply is None:
        assert windows == []
    else:
        assert [(w.max_num_ops_invoked, w.max_num_ops_performed) for w in windows] == [reply]


@pytest.mark.parametrize(
    ('identity_type', 'positive', 'server_response', 'expected'),
    [
        (2, 1, b'ignored', b''),
        (1, 1, b'', b''),
        (3, 1, b'kerberos-ticket', b'kerberos-ticket'),
        (5, 1, b'jwt', b'jwt'),
        (2, 0, b'', None),
        (None, 0, b'', None),
    ],
    ids=['password-empty-response', 'username', 'kerberos', 'jwt', 'not-requested', 'absent'],
)
def test_user_identity_response(identity_type, positive, server_response, expected):
    user_items = [MaximumLengthSubItem(16384)]
    if identity_type is not None:
        user_items.append(
            UserIdentityNegotiationSubItem(b'primary', b'second', identity_type, positive)
        )
    capabilities = AcceptorCapabilities(
        {ECHO}, (), [IMPLICIT], 16384, identity_response=server_response
    )
    result = negotiation.negotiate_as_acceptor(request(GOOD, user_items), capabilities)
    replies = [i for i in ac_user_items(result) if isinstance(i, UserIdentityNegotiationSubItemAc)]
    if expected is None:
        assert replies == []
    else:
        # server_response reads as str when the bytes are valid UTF-8
        assert [r.server_response for r in replies] == [expected.decode()]


# --- the requester ----------------------------------------------------------------------------

REGISTRY = [(ECHO, [IMPLICIT, EXPLICIT]), (CT, [EXPLICIT]), (MR, [IMPLICIT])]


def test_proposal_keeps_the_users_order_and_renumbers():
    proposal, roles = negotiation.select_proposal(REGISTRY, {CT, ECHO}, set())
    assert proposal == {
        1: ProposedContext(1, ECHO, (IMPLICIT, EXPLICIT)),
        3: ProposedContext(3, CT, (EXPLICIT,)),
    }
    assert roles == []


def test_classes_we_only_serve_are_not_proposed():
    registry = [(uid, [EXPLICIT]) for uid in uids.STORAGE_SOP_CLASSES] + [(ECHO, [EXPLICIT])]
    proposal, roles = negotiation.select_proposal(registry, {ECHO}, set(uids.STORAGE_SOP_CLASSES))
    assert list(proposal.values()) == [ProposedContext(1, ECHO, (EXPLICIT,))]
    assert roles == []


def test_get_scu_proposes_storage_with_the_scp_role():
    registry = [
        (uids.STUDY_ROOT_GET_SOP_CLASS, [EXPLICIT]), (CT, [EXPLICIT]), (MR, [IMPLICIT]),
        (ECHO, [IMPLICIT]),
    ]
    proposal, roles = negotiation.select_proposal(
        registry, {uids.STUDY_ROOT_GET_SOP_CLASS, MR}, {CT, ECHO}
    )
    assert [p.sop_class for p in proposal.values()] == [uids.STUDY_ROOT_GET_SOP_CLASS, CT, MR]
    assert [(r.sop_class_uid, r.scu_role, r.scp_role) for r in roles] == [(CT, 0, 1), (MR, 1, 1)]


def test_more_than_128_contexts_is_refused_with_a_clear_error():
    registry = [(uid, [EXPLICIT]) for uid in uids.STORAGE_SOP_CLASSES]
    with pytest.raises(AssociationError, match='at most 128'):
        negotiation.select_proposal(registry, set(uids.STORAGE_SOP_CLASSES), set())
    proposal, _ = negotiation.select_proposal(registry[:128], {u for u, _ in registry[:128]}, ())
    assert max(proposal) == 255


@pytest.mark.parametrize(
    ('kwargs', 'expected'),
    [
        ({}, None),
        ({'username': 'u', 'password': 'p'}, (2, 'u', 'p')),
        ({'username': 'u'}, (1, 'u', '')),
        ({'kerberos': b'k'}, (3, 'k', '')),
        ({'saml': 's'}, (4, 's', '')),
        ({'jwt': 'j'}, (5, 'j', '')),
    ],
    ids=['none', 'password', 'username', 'kerberos', 'saml', 'jwt'],
)
def test_identity_item(kwargs, expected):
    item = negotiation.identity_item(**kwargs)
    if expected is None:
        assert item is None
    else:
        got = (item.user_identity_type, item.primary_field, item.secondary_field)
        assert got == expected
        assert item.positive_response_req == 0


def test_requester_user_information_order():
    extra = GenericUserDataSubItem(0x57, b'\x00')
    identity = negotiation.identity_item('u', 'p')
    role = ScpScuRoleSelectionSubItem(CT, 0, 1)
    info = negotiation.requester_user_information(0, [role], [extra], identity)
    assert [type(i) for i in info.user_data] == [
        MaximumLengthSubItem, ImplementationClassUIDSubItem, ScpScuRoleSelectionSubItem,
        ImplementationVersionNameSubItem, GenericUserDataSubItem, UserIdentityNegotiationSubItem,
    ]
    assert info.user_data[0].maximum_length_received == 0


def test_presentation_context_items_accept_one_or_many_syntaxes():
    items = negotiation.presentation_context_items(
        [(1, ECHO, IMPLICIT), (3, CT, [EXPLICIT, IMPLICIT])]
    )
    got = [(i.context_id, i.abs_sub_item.name, [t.name for t in i.ts_sub_items]) for i in items]
    assert got == [(1, ECHO, [IMPLICIT]), (3, CT, [EXPLICIT, IMPLICIT])]


def ac(contexts: list, user_items: list | None = None, app=APPLICATION_CONTEXT_NAME):
    return pdu.AAssociateAcPDU(
        'SCP', 'SCU',
        [
            pdu.ApplicationContextItem(app),
            *contexts,
            pdu.UserInformationItem(
                [MaximumLengthSubItem(8192)] if user_items is None else user_items
            ),
        ],
    )


def ac_context(context_id: int, result: int, ts: str | None) -> pdu.PresentationContextItemAC:
    return pdu.PresentationContextItemAC(
        context_id, result, pdu.TransferSyntaxSubItem(ts) if ts else None
    )


PROPOSAL = {
    1: ProposedContext(1, ECHO, (IMPLICIT, EXPLICIT)),
    3: ProposedContext(3, CT, (EXPLICIT,)),
    5: ProposedContext(5, MR, (IMPLICIT,)),
}


def test_read_acceptance():
    result = negotiation.read_acceptance(
        PROPOSAL, [],
        ac([ac_context(1, 0, EXPLICIT), ac_context(3, 4, None), ac_context(5, 0, BIG)]),
    )
    assert result.accepted_contexts == {1: PContextDef(1, ECHO, EXPLICIT)}
    assert result.scu_context_ids == {1}
    assert result.scp_context_ids == set()
    assert result.peer_max_pdu_length == 8192
    # 5 was "accepted" with a syntax we never proposed: unusable, so refused.
    assert result.results == {1: 0, 3: 4, 5: 2}


@pytest.mark.parametrize(
    'bad_ac',
    [
        ac([ac_context(7, 0, IMPLICIT)]),
        ac([ac_context(1, 0, IMPLICIT)], app='1.2.3'),
        ac([ac_context(1, 0, IMPLICIT)], user_items=[ImplementationClassUIDSubItem('1.2')]),
    ],
    ids=['unknown-id', 'app-context', 'no-max-length'],
)
def test_read_acceptance_refuses_an_invalid_ac(bad_ac):
    with pytest.raises(AssociationError):
        negotiation.read_acceptance(PROPOSAL, [], bad_ac)


@pytest.mark.parametrize(
    ('offer', 'reply', 'accepted', 'scu', 'scp'),
    [
        ((0, 1), (0, 1), True, False, True),
        ((1, 1), (1, 1), True, True, True),
        ((1, 1), None, True, True, False),  # no reply: default roles
        ((0, 1), (0, 0), False, False, False),
        ((0, 1), (1, 1), True, False, True),  # never more than offered
    ],
    ids=['scp-granted', 'both', 'no-reply', 'none-granted', 'over-grant'],
)
def test_read_acceptance_roles(offer, reply, accepted, scu, scp):
    role = ScpScuRoleSelectionSubItem(CT, *offer)
    user_items = [MaximumLengthSubItem(0)]
    if reply is not None:
        user_items.append(ScpScuRoleSelectionSubItem(CT, *reply))
    result = negotiation.read_acceptance(
        PROPOSAL, [role], ac([ac_context(3, 0, EXPLICIT)], user_items)
    )
    assert (3 in result.accepted_contexts) == accepted
    assert (3 in result.scu_context_ids, 3 in result.scp_context_ids) == (scu, scp)
    assert result.peer_max_pdu_length == 0


def test_a_password_without_a_username_is_refused():
    with pytest.raises(AssociationError, match='password without a username'):
        negotiation.identity_item(None, 'secret')


def test_two_user_identity_items_are_refused():
    mine = UserIdentityNegotiationSubItem('bob', 'x', 2, positive_response_req=1)
    with pytest.raises(AssociationError, match='two user identity sub-items'):
        negotiation.requester_user_information(
            16384, [], [mine], negotiation.identity_item('alice', 'pw'))
    alone = negotiation.requester_user_information(16384, [], [mine], None)
    assert [item.item_type for item in alone.user_data].count(0x58) == 1
