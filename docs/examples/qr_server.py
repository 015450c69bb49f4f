"""A Query/Retrieve SCP over a folder (:class:`pynetdicom2.qrscp.QRSCP`) and the SCU side.

The archive, the C-MOVE destination and the SCU all run in this process, on free ports of
127.0.0.1; in real life they are three programs, usually on three machines.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pynetdicom2
from pynetdicom2.loopback import make_study, query, write_dataset
from pynetdicom2.qrscp import QRSCP


# [scu]
def query_and_retrieve(pacs: dict[str, Any], incoming: str) -> None:
    """The SCU side: each call is one association with the archive."""
    studies = query('STUDY', PatientName='*^J*', PatientID='', StudyInstanceUID='')
    for match in pynetdicom2.find('MYSCU', pacs, studies):  # Study Root unless root= says
        print('C-FIND ', match.PatientID, match.PatientName, match.StudyInstanceUID)

    moved = pynetdicom2.move('MYSCU', pacs, query('STUDY', PatientID='P1'), 'WS1')
    print('C-MOVE ', moved)

    got = pynetdicom2.get('MYSCU', pacs, query('STUDY', PatientID='P2'), incoming)
    print('C-GET  ', got)
# [scu end]


# [archive]
def serve(archive_dir: str, tmp: str) -> None:
    ws1_dir = os.path.join(tmp, 'ws1')  # the C-MOVE destination, a workstation
    with pynetdicom2.storage(ws1_dir, 'WS1', 0, host='127.0.0.1') as ws1, \
            QRSCP(archive_dir, 'PACS', 0, host='127.0.0.1',
                  destinations={'WS1': ('127.0.0.1', ws1.local_ae.port)}) as scp:
        pacs = {'aet': 'PACS', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        # Files already in the folder are indexed in the background while the archive
        # serves (queries see what is indexed so far); what arrives by C-STORE is indexed as
        # it is filed. A script that needs the whole folder in its answers waits for it.
        scp.wait_indexed()
        for ds in make_study(instances=3, PatientID='P2', PatientName='Roe^Jane'):
            pynetdicom2.store('MYSCU', pacs, ds)
        query_and_retrieve(pacs, os.path.join(tmp, 'got'))
# [archive end]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive_dir = os.path.join(tmp, 'archive')
        os.mkdir(archive_dir)
        for ds in make_study(instances=2, PatientID='P1', PatientName='Doe^John'):
            write_dataset(ds, archive_dir)
        serve(archive_dir, tmp)
        print('WS1 received', len(os.listdir(os.path.join(tmp, 'ws1'))), 'files;',
              'C-GET wrote', len(os.listdir(os.path.join(tmp, 'got'))), 'files')


if __name__ == '__main__':
    main()
