"""A first SCP: an AE subclass that answers C-ECHO and C-STORE through its hooks.

The SCU part at the end (``pynetdicom2.verify`` and ``pynetdicom2.store``) only shows that
the SCP works; in real life the SCP is one program and the modality or PACS that sends to it
another.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset

import pynetdicom2
from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses
from pynetdicom2.fsm import PContextDef
from pynetdicom2.loopback import make_dataset


class MySCP(ae.AE):
    """Keeps the headers of what it receives in memory (a real SCP would file them)."""

    def __init__(self, ae_title: str, port: int) -> None:
        super().__init__(ae_title, port, host='127.0.0.1')
        self.received: list[Dataset] = []

    def on_association_request(self, asce: Any, rq: Any) -> None:
        # Raise AssociationRejectedError here to refuse a caller.
        print(f'SCP: association from {rq.calling_ae_title.strip()}')

    def on_receive_echo(self, context: PContextDef) -> statuses.Status:
        return statuses.SUCCESS

    def on_receive_store(self, context: PContextDef, ds: BinaryIO | bytes) -> statuses.Status:
        # storage_scp hands over a Part-10 file object, positioned at its preamble.
        header = dcmread(ds, stop_before_pixels=True)
        with self.lock:  # hooks run on association threads, possibly several at once
            self.received.append(header)
        return statuses.SUCCESS


def main() -> None:
    # Port 0: the system picks a free port, found afterwards in local_ae.port.
    scp = MySCP('MYSCP', 0).add_scp(sc.verification_scp).add_scp(sc.storage_scp)
    with scp:  # serving in background threads until the block ends
        remote = {'aet': 'MYSCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        print('SCU: C-ECHO ', pynetdicom2.verify('MYSCU', remote))
        print('SCU: C-STORE', pynetdicom2.store('MYSCU', remote, make_dataset(PatientID='P1')))
    print('SCP received:', [(ds.Modality, ds.PatientID) for ds in scp.received])


if __name__ == '__main__':
    main()
