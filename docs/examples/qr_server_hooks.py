"""A Query/Retrieve SCP written as AE hooks: on_receive_find, on_receive_move, on_receive_get.

The instances live in memory here; a real archive would ask its database. The SCUs and
the C-MOVE destination run in this process only to exercise the SCP; in real life they are
other programs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset

import pynetdicom2
from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import EventHandlingError, NetDICOMError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.loopback import make_study, query
from pynetdicom2.qrdatabase import matches


# [hooks]
class MemoryArchive(ae.AE):
    def __init__(self, ae_title: str, instances: list[Dataset],
                 destinations: dict[str, dict[str, Any]]) -> None:
        super().__init__(ae_title, 0, host='127.0.0.1')
        self.instances = instances
        self.destinations = destinations
        for service in (sc.verification_scp, sc.qr_find_scp, sc.qr_move_scp, sc.qr_get_scp):
            self.add_scp(service)
        # Sub-operations of C-MOVE and C-GET are C-STOREs sent by this AE: it needs the
        # storage SCU for every class it may send (and grants C-GET SCUs the SCP role for them).
        self.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE, uids.MR_IMAGE_STORAGE])

    def _select(self, identifier: Dataset) -> list[Dataset]:
        if identifier.get('QueryRetrieveLevel') != 'STUDY':
            raise EventHandlingError('this archive answers at STUDY level only')  # -> C000H
        return [ds for ds in self.instances if matches(identifier, ds)]

    def on_receive_find(self, context: PContextDef,
                        ds: Dataset) -> Iterator[tuple[Dataset, statuses.Status]]:
        seen = set()
        for instance in self._select(ds):
            if instance.StudyInstanceUID in seen:
                continue  # one answer per study
            seen.add(instance.StudyInstanceUID)
            answer = Dataset()
            answer.QueryRetrieveLevel = 'STUDY'
            for element in ds:
                if element.keyword != 'QueryRetrieveLevel':
                    setattr(answer, element.keyword, instance.get(element.keyword, ''))
            yield answer, statuses.C_FIND_PENDING  # the final Success is added for us

    def on_receive_move(self, context: PContextDef, ds: Dataset, destination: str) -> Any:
        found = self._select(ds)
        # None for an unknown destination: answered A801H.
        return self.destinations.get(destination), len(found), iter(found)

    def on_receive_get(self, context: PContextDef, ds: Dataset) -> Any:
        found = self._select(ds)
        return len(found), iter(found)  # Datasets or Part-10 file paths
# [hooks end]


def main() -> None:
    study = make_study(series=2, instances=2, PatientID='P1', PatientName='Doe^John')
    with tempfile.TemporaryDirectory() as tmp:
        ws1_dir, got_dir = os.path.join(tmp, 'ws1'), os.path.join(tmp, 'got')
        with pynetdicom2.storage(ws1_dir, 'WS1', 0, host='127.0.0.1') as ws1:
            peers = {'WS1': {'aet': 'WS1', 'address': '127.0.0.1', 'port': ws1.local_ae.port}}
            with MemoryArchive('ARCHIVE', study, peers) as archive:
                remote = {'aet': 'ARCHIVE', 'address': '127.0.0.1',
                          'port': archive.local_ae.port}
                q = query('STUDY', PatientID='P1', StudyInstanceUID='', StudyDate='')
                for match in pynetdicom2.find('MYSCU', remote, q):
                    print('C-FIND ', match.StudyInstanceUID, match.StudyDate)
                print('C-MOVE ', pynetdicom2.move('MYSCU', remote, q, 'WS1'))
                print('C-GET  ', pynetdicom2.get('MYSCU', remote, q, got_dir))
                try:
                    pynetdicom2.move('MYSCU', remote, q, 'NOWHERE')
                except NetDICOMError as exc:  # any final status but Success/Warning
                    print('C-MOVE ', exc)
        print(f'WS1 received {len(os.listdir(ws1_dir))} files, '
              f'C-GET wrote {len(os.listdir(got_dir))} files')


if __name__ == '__main__':
    main()
