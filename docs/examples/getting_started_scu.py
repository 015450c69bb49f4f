"""A first SCU: C-ECHO, C-STORE and C-FIND against an SCP.

The SCP here is :class:`pynetdicom2.loopback.LoopbackSCP`, started in this process on a free
port of 127.0.0.1 so that the script runs anywhere. In real life the SCU and the SCP are two
programs: point ``remote`` at your PACS's AE title, address and port instead.
"""

from __future__ import annotations

import tempfile
from typing import Any

from pydicom.dataset import Dataset

import pynetdicom2
from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.loopback import LoopbackSCP, make_dataset


def study_query(patient_id: str) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = 'STUDY'
    query.PatientID = patient_id
    query.PatientName = ''       # empty: return this attribute
    query.StudyInstanceUID = ''
    return query


# [one-call helpers]
def one_call_helpers(remote: dict[str, Any]) -> None:
    print('C-ECHO ', pynetdicom2.verify('MYSCU', remote))

    ct = make_dataset(uids.CT_IMAGE_STORAGE, PatientID='P1', PatientName='Doe^John')
    print('C-STORE', pynetdicom2.store('MYSCU', remote, ct))  # or a path to a .dcm file

    for match in pynetdicom2.find('MYSCU', remote, study_query('P1')):  # Study Root
        print('C-FIND ', match.PatientName, match.StudyInstanceUID)
# [one-call helpers end]


# [one association]
def one_association(remote: dict[str, Any]) -> None:
    # Register the services once; every request below shares one association.
    client = ae.ClientAE('MYSCU')
    client.add_scu(sc.verification_scu)
    client.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
    client.add_scu(sc.qr_find_scu, [uids.STUDY_ROOT_FIND_SOP_CLASS])
    with client.request_association(remote) as assoc:
        echo = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
        store = assoc.get_scu(uids.CT_IMAGE_STORAGE)(make_dataset(PatientID='P1'), 2)
        responses = assoc.get_scu(uids.STUDY_ROOT_FIND_SOP_CLASS)(study_query('P1'), 3)
        studies = [ds.StudyInstanceUID for ds, status in responses if status.is_pending]
    print(f'one association: echo {echo}, store {store}, {len(studies)} studies found')
# [one association end]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp, 'PACS') as scp:
        remote = {'aet': 'PACS', 'address': '127.0.0.1', 'port': scp.port}
        one_call_helpers(remote)
        one_association(remote)


if __name__ == '__main__':
    main()
