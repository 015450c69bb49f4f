"""User identity negotiation (PS3.7 D.3.3.7): the SCU says who it is, the SCP decides.

The SCP accepts user 'alice' with her password, and a JSON web token it knows, to which it
answers with a token of its own when the SCU asks for a positive response. Everything else
is rejected with A-ASSOCIATE-RJ 1/1/1.

One process plays both sides here; in real life the SCP and the SCU are two programs.
"""

import hmac

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import pdu, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.exceptions import AssociationRejectedError
from pynetdicom2.userdataitems import (
    UserIdentityNegotiationSubItem,
    UserIdentityNegotiationSubItemAc,
)

# [scp]
PASSWORDS = {'alice': 'correct horse'}
TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmVk'  # stands for a real JWT


def as_bytes(field):
    # The fields are str when their bytes are valid UTF-8, bytes otherwise.
    return field.encode() if isinstance(field, str) else field


class GuardedSCP(ae.AE):
    """An SCP that lets in only the users it knows."""

    def on_user_identity(self, asce, identity):
        if identity is None:  # the A-ASSOCIATE-RQ had no user identity sub-item
            return False
        kind = identity.user_identity_type
        if kind == 2:  # username and passcode
            expected = PASSWORDS.get(identity.primary_field)
            return expected is not None and hmac.compare_digest(
                expected.encode(), as_bytes(identity.secondary_field)
            )
        if kind == 5 and identity.primary_field == TOKEN:  # JSON web token
            # A str (or bytes) answer accepts; it is the server response of the 0x59
            # sub-item when the SCU asked for a positive response.
            return 'server-token-for-alice'
        return False


# [scp]


# [scu]
class IdentityClient(ae.ClientAE):
    """A client that prints what the A-ASSOCIATE-AC says about its identity."""

    def on_association_response(self, ac):
        replies = [
            item
            for variable in ac.variable_items
            if isinstance(variable, pdu.UserInformationItem)
            for item in variable.user_data
            if isinstance(item, UserIdentityNegotiationSubItemAc)
        ]
        if replies:
            print(f'  A-ASSOCIATE-AC carries 0x59, server response {replies[0].server_response!r}')
        else:
            print('  A-ASSOCIATE-AC carries no 0x59 sub-item')


def echo(remote, label):
    client = IdentityClient('SCU').add_scu(sc.verification_scu)
    print(label)
    try:
        with client.request_association(remote) as assoc:
            status = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
            print(f'  C-ECHO {status}')
    except AssociationRejectedError as exc:
        print(f'  rejected: result {exc.result}, source {exc.source}, reason {exc.diagnostic}')


# [scu]


# [run]
with GuardedSCP('ARCHIVE', 0, host='127.0.0.1').add_scp(sc.verification_scp) as scp:
    port = scp.local_ae.port

    # Type 2, username and passcode, from a RemoteAEConfig ...
    echo(
        RemoteAEConfig('ARCHIVE', '127.0.0.1', port, username='alice', password='correct horse'),
        'alice, right password:',
    )
    # ... or from a plain dict with the same keys.
    echo(
        {
            'aet': 'ARCHIVE',
            'address': '127.0.0.1',
            'port': port,
            'username': 'alice',
            'password': 'wrong',
        },
        'alice, wrong password:',
    )
    echo({'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': port}, 'no identity:')

    # Type 5, a JSON web token, without and with a positive response requested. The
    # jwt= keyword never asks for one; to ask, put the sub-item in user_data yourself
    # (and leave username/password/kerberos/saml/jwt unset).
    echo({'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': port, 'jwt': TOKEN}, 'JWT:')
    ask = UserIdentityNegotiationSubItem(TOKEN, '', user_identity_type=5, positive_response_req=1)
    echo(
        {'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': port, 'user_data': [ask]},
        'JWT, positive response requested:',
    )
# [run]
