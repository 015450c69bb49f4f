"""Listen on IPv6, on both IP versions at once, and connect from a chosen local address.

One process plays both sides, on loopback. Where this machine has no IPv6 (no ``::1``), the
IPv6 steps say so and the IPv4 one still runs.
"""

import socket

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids


def ipv6_loopback():
    """True when this machine can listen on ::1."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(('::1', 0))
    except OSError:
        return False
    return socket.has_ipv6


class EchoSCP(ae.AE):
    """A C-ECHO SCP that prints the address each association comes from."""

    def on_association_request(self, asce, rq):
        host, port = asce.client_address[:2]
        print(f'  {self.host or "(all IPv4)"} got a request from {host}, port {port}')


def echo(client, address, port):
    remote = {'aet': 'ECHOSCP', 'address': address, 'port': port}
    with client.request_association(remote) as assoc:
        return assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)


# [bind]
# Our requests leave from 127.0.0.1, a port the system picks (0): the server sees them come
# from that address. The attribute can be changed between associations.
client = ae.ClientAE('ECHOSCU', bind_address=('127.0.0.1', 0)).add_scu(sc.verification_scu)

with EchoSCP('ECHOSCP', 0, host='127.0.0.1').add_scp(sc.verification_scp) as scp:
    print('IPv4, from a bound address:', echo(client, '127.0.0.1', scp.local_ae.port))
# [bind]

if ipv6_loopback():
    # [ipv6]
    client.bind_address = None  # the system chooses again
    # '::1' is the IPv6 loopback; '::' every interface, IPv6 and IPv4 on one socket.
    with EchoSCP('ECHOSCP', 0, host='::').add_scp(sc.verification_scp) as scp:
        print('over IPv6:', echo(client, '::1', scp.local_ae.port))
        print('over IPv4, same socket:', echo(client, '127.0.0.1', scp.local_ae.port))
    # [ipv6]
else:
    print('no IPv6 loopback on this machine: the IPv6 steps are skipped')
