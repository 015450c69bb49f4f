"""Access control on the accepting AE: who may associate, as whom, and how many at once.

Covered: the calling AE allow-list (A-ASSOCIATE-RJ 1/1/3), the required called AE title
(1/1/7), the user identity hook for every identity type (rejection 1/1/1, the 0x59 server
response when a positive response is requested), ``maximum_associations`` (one more is
rejected transient, 2/3/2, and a slot frees when an association ends), and secrets (passcodes,
tokens) appearing in no log record and no exception message. The server goes on serving after
every refusal.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aetools import fast, raw_associate, remote, serving
from ulpeer import TIMEOUT

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import pdu, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import AssociationRejectedError
from pynetdicom2.userdataitems import (
    MaximumLengthSubItem,
    UserIdentityNegotiationSubItem,
    UserIdentityNegotiationSubItemAc,
)

ECHO = uids.VERIFICATION_SOP_CLASS
PASSWORD = 'pa55-w0rd-never-logged'
TOKENS = {3: b'kerberos-ticket-never-logged', 4: b'<saml>never-logged</saml>',
          5: b'eyJhbGciOiJub25lIn0.never-logged.'}


class GuardedAE(ae.AE):
    """Accepts user 'alice' with PASSWORD, and the tokens of TOKENS (answering each reversed)."""

    def on_user_identity(self, asce: Any, identity: Any) -> bool | bytes:
        if identity is None:
            return False
        kind = identity.user_identity_type
        if kind == 2:
            return identity.primary_field == 'alice' and identity.secondary_field == PASSWORD
        if kind in TOKENS:
            primary = identity.primary_field
            primary = primary.encode() if isinstance(primary, str) else primary
            return primary[::-1] if primary == TOKENS[kind] else False
        return False


def scp(cls: type[ae.AE] = ae.AE, title: str = 'SCP') -> ae.AE:
    return fast(cls(title, 0, host='127.0.0.1').add_scp(sc.verification_scp))


def echo(server: ae.AE, calling: str = 'SCU', **extra: Any) -> bool:
    client = fast(ae.ClientAE(calling)).add_scu(sc.verification_scu)
    with client.request_association(remote(server, **extra)) as assoc:
        return assoc.get_scu(ECHO)(1).is_success


def rejection(server: ae.AE, calling: str = 'SCU', **extra: Any) -> tuple[int, int, int]:
    with pytest.raises(AssociationRejectedError) as caught:
        echo(server, calling, **extra)
    return caught.value.result, caught.value.source, caught.value.diagnostic


def test_calling_ae_allow_list() -> None:
    server = scp()
    server.allowed_calling_aets = {'MODALITY1', 'WORKSTATION'}
    with serving(server):
        assert echo(server, 'MODALITY1')
        assert echo(server, 'WORKSTATION ')  # padding is not part of the title
        assert rejection(server, 'INTRUDER') == (1, 1, 3)
        assert echo(server, 'MODALITY1')


def test_required_called_ae_title() -> None:
    server = scp(title='ARCHIVE')
    server.require_called_aet = True
    with serving(server):
        assert echo(server)
        assert rejection(server, aet='SOMEONEELSE') == (1, 1, 7)
        assert echo(server)


def test_called_ae_title_not_required_by_default() -> None:
    with serving(scp(title='ARCHIVE')) as server:
        assert echo(server, aet='ANYTHING')


def test_username_and_password() -> None:
    with serving(scp(GuardedAE)) as server:
        assert echo(server, username='alice', password=PASSWORD)
        assert rejection(server, username='alice', password='wrong') == (1, 1, 1)
        assert rejection(server, username='mallory', password=PASSWORD) == (1, 1, 1)
        assert rejection(server, username='alice') == (1, 1, 1)  # type 1: no passcode
        assert rejection(server) == (1, 1, 1)  # no identity at all
        assert echo(server, username='alice', password=PASSWORD)


@pytest.mark.parametrize('kind,keyword', [(3, 'kerberos'), (4, 'saml'), (5, 'jwt')])
def test_tokens(kind: int, keyword: str) -> None:
    with serving(scp(GuardedAE)) as server:
        assert echo(server, **{keyword: TOKENS[kind]})
        assert rejection(server, **{keyword: b'forged'}) == (1, 1, 1)


@pytest.mark.parametrize('kind', [2, 3, 4, 5])
def test_positive_response_requested(kind: int) -> None:
    """The A-ASSOCIATE-AC carries a 0x59 sub-item: empty for type 2, the hook's answer else."""
    if kind == 2:
        identity = UserIdentityNegotiationSubItem('alice', PASSWORD, 2, positive_response_req=1)
        expected = b''
    else:
        identity = UserIdentityNegotiationSubItem(TOKENS[kind], b'', kind, positive_response_req=1)
        expected = TOKENS[kind][::-1]
    with serving(scp(GuardedAE)) as server:
        peer, answer = raw_associate(
            server.local_ae.port, user_items=[MaximumLengthSubItem(16384), identity]
        )
        with peer:
            assert isinstance(answer, pdu.AAssociateAcPDU), answer
            user_info = next(
                item for item in answer.variable_items
                if isinstance(item, pdu.UserInformationItem)
            )
            responses = [item for item in user_info.user_data
                         if isinstance(item, UserIdentityNegotiationSubItemAc)]
            assert len(responses) == 1
            response = responses[0].server_response
            assert (response.encode() if isinstance(response, str) else response) == expected
            peer.send(pdu.AReleaseRqPDU().encode())
            assert pdu.decode_pdu(peer.read_pdu()) == pdu.AReleaseRpPDU()


def test_a_failing_identity_hook_rejects(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(ae.AE):
        def on_user_identity(self, asce: Any, identity: Any) -> bool:
            raise RuntimeError('directory unreachable')

    with serving(scp(Broken)) as server:
        with caplog.at_level(logging.ERROR, logger='pynetdicom2'):
            assert rejection(server, username='alice', password=PASSWORD) == (1, 1, 1)
    assert any('on_user_identity' in record.getMessage() for record in caplog.records)


def test_maximum_associations() -> None:
    server = scp()
    server.maximum_associations = 2
    client = fast(ae.ClientAE('SCU')).add_scu(sc.verification_scu)
    with serving(server):
        with client.request_association(remote(server)) as first:
            with client.request_association(remote(server)) as second:
                assert rejection(server) == (2, 3, 2)
                assert first.get_scu(ECHO)(1).is_success
                assert second.get_scu(ECHO)(2).is_success
        # Once the server's association threads have ended, there is room again.
        for thread in list(server.server._association_threads):
            thread.join(TIMEOUT)
        assert server.server.association_count() == 0
        with client.request_association(remote(server)) as a, client.request_association(
            remote(server)
        ) as b:
            assert a.get_scu(ECHO)(1).is_success and b.get_scu(ECHO)(1).is_success


def test_no_limit_by_default() -> None:
    client = fast(ae.ClientAE('SCU')).add_scu(sc.verification_scu)
    with serving(scp()) as server:
        with client.request_association(remote(server)) as a, client.request_association(
            remote(server)
        ) as b, client.request_association(remote(server)) as c:
            assert all(x.get_scu(ECHO)(1).is_success for x in (a, b, c))


def test_secrets_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    secrets = [PASSWORD, 'wrong-secret-also-hidden', *(t.decode() for t in TOKENS.values())]
    with caplog.at_level(logging.DEBUG):
        with serving(scp(GuardedAE)) as server:
            assert echo(server, username='alice', password=PASSWORD)
            errors = [rejection(server, username='alice', password='wrong-secret-also-hidden')]
            for kind, keyword in ((3, 'kerberos'), (4, 'saml'), (5, 'jwt')):
                assert echo(server, **{keyword: TOKENS[kind]})
                with pytest.raises(AssociationRejectedError) as caught:
                    echo(server, **{keyword: TOKENS[kind] + b'x'})
                errors.append(str(caught.value))
    assert caplog.records, 'expected DEBUG records from the associations'
    text = '\n'.join(
        f'{record.getMessage()} {record.exc_text or ""}' for record in caplog.records
    )
    for secret in secrets:
        assert secret not in text
        assert all(secret not in str(error) for error in errors)
