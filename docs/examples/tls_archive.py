"""A TLS archive whose C-MOVE sub-operations also run over TLS: accept and request contexts.

Usage: python tls_archive.py CA_CERT SERVER_CERT SERVER_KEY CLIENT_CERT CLIENT_KEY

One process plays the archive, the move destination (a TLS storage SCP) and the workstation
asking for the move; in real life they are three programs. For brevity all three use the same
certificates.
"""

import sys
import tempfile
from pathlib import Path

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import ssl_ae, uids
from pynetdicom2.loopback import make_dataset, query

ca_cert, server_cert, server_key, client_cert, client_key = sys.argv[1:6]


def accepting():
    return ssl_ae.server_context(server_cert, server_key, cafile=ca_cert)


def requesting():
    return ssl_ae.client_context(ca_cert, client_cert, client_key)


# [archive]
class Archive(ssl_ae.SSLApplicationEntity):
    """Moves the instances it holds to the destination named in the request."""

    def __init__(self, destinations):
        # Accepts with a server context; opens the sub-associations with a client context.
        super().__init__(accepting(), 'ARCHIVE', 0, host='127.0.0.1',
                         client_context=requesting())
        self.add_scp(sc.qr_move_scp).add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
        self.destinations = destinations
        self.instances = [make_dataset(), make_dataset()]

    def on_receive_move(self, context, ds, destination):
        return self.destinations.get(destination), len(self.instances), iter(self.instances)
# [archive]


class TLSStorage(ae.FolderStorageMixin, ssl_ae.SSLApplicationEntity):
    """The move destination: files what it receives, over TLS only."""

    def __init__(self, folder):
        self.storage_dir = Path(folder)
        super().__init__(accepting(), 'VIEWER', 0, host='127.0.0.1')
        self.add_scp(sc.storage_scp)


with tempfile.TemporaryDirectory() as folder, TLSStorage(folder) as viewer:
    here = {'VIEWER': {'aet': 'VIEWER', 'address': '127.0.0.1', 'port': viewer.local_ae.port}}
    with Archive(here) as archive:
        workstation = ssl_ae.SSLClientAE(requesting(), 'WS1').add_scu(sc.qr_move_scu)
        remote = {'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': archive.local_ae.port}
        with workstation.request_association(remote) as assoc:
            move = assoc.get_scu(uids.STUDY_ROOT_MOVE_SOP_CLASS)
            for status, response in move(query('STUDY', StudyInstanceUID='1.2.3'), 'VIEWER', 1):
                print('C-MOVE', status, 'completed', response.num_of_completed_sub_ops)
    print('files at the destination:', len(list(Path(folder).glob('*.dcm'))))
