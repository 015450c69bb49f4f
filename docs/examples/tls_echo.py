"""C-ECHO over TLS with mutual authentication (PS3.15 B.1), then a client that is refused.

Usage: python tls_echo.py CA_CERT SERVER_CERT SERVER_KEY CLIENT_CERT CLIENT_KEY

All five are PEM files: the CA that signed both certificates, the server's certificate and
key, the client's certificate and key. The server certificate must name 127.0.0.1 (in its
subjectAltName), the address the client calls.

One process plays both sides here; in real life the SCP and the SCU are two programs,
usually on two machines, each holding only its own key.
"""

import sys

from pynetdicom2 import sopclass as sc
from pynetdicom2 import ssl_ae, uids
from pynetdicom2.exceptions import AssociationError

# [setup]
ca_cert, server_cert, server_key, client_cert, client_key = sys.argv[1:6]


class TLSEchoSCP(ssl_ae.SSLApplicationEntity):
    """An echo SCP that prints who connected, as the TLS layer verified it."""

    def on_association_request(self, asce, rq):
        subject = dict(field[0] for field in asce.dul.dul_socket.getpeercert()['subject'])
        print(f'SCP: {rq.calling_ae_title} connected with certificate CN={subject["commonName"]}')


# The server presents its certificate and, because cafile is given, requires a client
# certificate signed by that CA (ssl.CERT_REQUIRED).
server_ctx = ssl_ae.server_context(server_cert, server_key, cafile=ca_cert)
# The client trusts that CA for the server, checks that the certificate names the called
# address, and presents its own certificate.
client_ctx = ssl_ae.client_context(ca_cert, client_cert, client_key)
# [setup]

# [run]
scp = TLSEchoSCP(server_ctx, 'TLSSCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)
with scp:
    remote = {'aet': 'TLSSCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
    client = ssl_ae.SSLClientAE(client_ctx, 'TLSSCU').add_scu(sc.verification_scu)
    with client.request_association(remote) as assoc:
        tls = assoc.dul.dul_socket
        print(f'SCU: {tls.version()}, cipher {tls.cipher()[0]}')
        status = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
        print(f'SCU: C-ECHO status {status}')

    # A client without a certificate: the server ends the TLS handshake with an alert,
    # before any A-ASSOCIATE-RQ is read.
    anonymous = ssl_ae.SSLClientAE(ssl_ae.client_context(ca_cert), 'NOCERT')
    anonymous.add_scu(sc.verification_scu)
    try:
        with anonymous.request_association(remote) as assoc:
            assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
    except AssociationError as exc:
        print(f'SCU without certificate: {type(exc).__name__}: {exc}')
    else:
        sys.exit('a client without a certificate was accepted')

    # A client that does not trust the server's CA (only the system's default CAs): it
    # refuses the server's certificate itself, in the handshake.
    doubtful = ssl_ae.SSLClientAE(ssl_ae.client_context(None, client_cert, client_key), 'DOUBT')
    doubtful.add_scu(sc.verification_scu)
    try:
        with doubtful.request_association(remote) as assoc:
            assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
    except AssociationError as exc:
        print(f'SCU not trusting the CA: {type(exc).__name__}: {exc}')
    else:
        sys.exit('an untrusted server was accepted')
