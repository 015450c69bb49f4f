"""C-STORE over TLS with TLS as a parameter: a StorageAE and a ClientAE given ``ssl_context``.

Usage: python tls_parameter.py CA_CERT SERVER_CERT SERVER_KEY CLIENT_CERT CLIENT_KEY

The same PEM files as tls_echo.py. The server stores what it receives in a temporary folder
and requires a client certificate signed by the CA; the client verifies the server.
"""

import os
import sys
import tempfile

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import ssl_ae, uids
from pynetdicom2.loopback import make_dataset

ca_cert, server_cert, server_key, client_cert, client_key = sys.argv[1:6]

# [parameter]
server_ctx = ssl_ae.server_context(server_cert, server_key, cafile=ca_cert)
client_ctx = ssl_ae.client_context(ca_cert, client_cert, client_key)

with tempfile.TemporaryDirectory() as incoming:
    scp = ae.StorageAE(incoming, 'TLSSTORE', 0, host='127.0.0.1', ssl_context=server_ctx)
    with scp.add_scp(sc.storage_scp):
        remote = {'aet': 'TLSSTORE', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        client = ae.ClientAE('TLSSCU', ssl_context=client_ctx)
        client.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
        ds = make_dataset()
        with client.request_association(remote) as assoc:
            print('SCU:', assoc.dul.dul_socket.version(), 'C-STORE',
                  assoc.get_scu(uids.CT_IMAGE_STORAGE)(ds, 1))
    print('SCP stored:', os.listdir(incoming) == [f'{ds.SOPInstanceUID}.dcm'])
# [parameter]
