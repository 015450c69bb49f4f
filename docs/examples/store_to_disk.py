"""Receive C-STOREs into a folder, as ``<SOPInstanceUID>.dcm`` (like DCMTK's ``storescp -od``).

Part 1 runs the ready-made storage SCP, :func:`pynetdicom2.storage`; part 2 subclasses
:class:`~pynetdicom2.applicationentity.StorageAE` to refuse data sets before they are filed.
Each part sends to its SCP from this same process; in real life the sender is another
program (a modality, a PACS, ``storescu``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from pydicom import dcmread

import pynetdicom2
from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses
from pynetdicom2.fsm import PContextDef
from pynetdicom2.loopback import make_dataset


def listing(folder: str) -> list[str]:
    # Hidden names included: a refused or aborted data set must leave no .part file behind.
    return sorted(os.listdir(folder))


# [storage]
def part1_storage_context_manager(folder: str) -> None:
    with pynetdicom2.storage(folder, 'STORESCP', 0, host='127.0.0.1') as scp:
        remote = {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        ct = make_dataset(PatientID='P1')
        print('C-STORE', pynetdicom2.store('STORESCU', remote, ct))
        print('C-STORE', pynetdicom2.store('STORESCU', remote, ct), '(the same instance again)')
    print('files:', listing(folder))
# [storage end]


# [vetting]
class VettingStorageAE(ae.StorageAE):
    """Files CT only, and only with a Patient ID; refuses everything else."""

    def on_receive_store(self, context: PContextDef, ds: BinaryIO | bytes) -> statuses.Status:
        # ds is the staged file (preamble, file meta, data set), not yet in its final place.
        header = dcmread(ds, stop_before_pixels=True)
        if header.get('Modality') != 'CT' or not header.get('PatientID'):
            # Any status but Success or Warning deletes the staged file.
            return statuses.C_STORE_CANNOT_UNDERSTAND
        return super().on_receive_store(context, ds)  # Success: renamed into place


def part2_vetting(folder: str) -> None:
    scp = VettingStorageAE(folder, 'STORESCP', 0, host='127.0.0.1')
    scp.add_scp(sc.storage_scp).add_scp(sc.verification_scp)
    with scp:
        remote = {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        for ds in (make_dataset(PatientID='P2'), make_dataset(PatientID='P3', Modality='MR'),
                   make_dataset(PatientID='')):
            status = pynetdicom2.store('STORESCU', remote, ds)
            print(f'C-STORE {ds.Modality} PatientID={ds.PatientID!r}: {status}')
    print('files:', listing(folder))
    for path in Path(folder).glob('*.dcm'):
        print('kept', path.name, '->', dcmread(path).PatientID)
# [vetting end]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        part1_storage_context_manager(os.path.join(tmp, 'incoming'))
        part2_vetting(os.path.join(tmp, 'vetted'))


if __name__ == '__main__':
    main()
