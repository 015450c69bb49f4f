"""Query/retrieve beyond patients and studies, both sides: a Relevant Patient Information
Query (PS3.4 Q) and an instance-level C-GET with Composite Instance Root Retrieve (PS3.4 Y).

The archive runs in this process to have something to talk to; in real life it is a PACS.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids
from pynetdicom2.fsm import PContextDef
from pynetdicom2.loopback import make_dataset

CT = uids.CT_IMAGE_STORAGE
RELEVANT = uids.GENERAL_RELEVANT_PATIENT_INFORMATION_QUERY_SOP_CLASS
ROOT_GET = uids.COMPOSITE_INSTANCE_ROOT_RETRIEVE_GET_SOP_CLASS


# [server]
@sc.sop_classes(uids.RELEVANT_PATIENT_INFORMATION_QUERY_SOP_CLASSES)
def relevant_patient_scp(asce: Any, ctx: PContextDef, msg: Any) -> None:
    sc.qr_find_scp(asce, ctx, msg)  # the Q/R C-FIND SCP, registered for these classes


@sc.sop_classes([ROOT_GET])
def instance_get_scp(asce: Any, ctx: PContextDef, msg: Any) -> None:
    sc.qr_get_scp(asce, ctx, msg)


class Archive(ae.AE):
    """Answers the three relevant patient queries and retrieves instances by their UID."""

    def __init__(self, instances: list[Dataset]) -> None:
        super().__init__('ARCHIVE', 0, host='127.0.0.1')
        self.instances = {str(ds.SOPInstanceUID): ds for ds in instances}
        self.add_scp(relevant_patient_scp).add_scp(instance_get_scp)
        self.add_scu(sc.storage_scu, [CT])  # the C-STORE sub-operations of the C-GET

    def on_receive_find(self, context: PContextDef, ds: Dataset) -> Iterator[Any]:
        # context.sop_class says which query (General, Breast Imaging or Cardiac) it is.
        # PS3.4 Q.2.1: one match at most; C100H when the patient is ambiguous.
        match = Dataset()
        match.PatientID = ds.PatientID
        match.PatientName = 'Doe^Jane'
        yield match, statuses.C_FIND_PENDING

    def on_receive_get(self, context: PContextDef, ds: Dataset) -> Any:
        wanted = ds.SOPInstanceUID
        uids_asked = [wanted] if isinstance(wanted, str) else list(wanted)
        found = [self.instances[uid] for uid in uids_asked if uid in self.instances]
        return len(found), iter(found)
# [server end]


# [client]
def query_and_retrieve(remote: dict[str, Any], incoming: str, instance: Dataset) -> None:
    client = ae.ClientStorageAE(incoming, 'VIEWER')
    client.add_scu(sc.qr_find_scu, [RELEVANT])
    # Any C-GET class makes the association propose the storage classes with the SCP role.
    client.add_scu(sc.qr_get_scu, [ROOT_GET])
    client.add_scu(sc.storage_scu, [CT])
    with client.request_association(remote) as assoc:
        query = Dataset()
        query.PatientID = 'P1'
        query.PatientName = ''
        for match, status in assoc.get_scu(RELEVANT)(query, 1):
            if status.is_pending:
                print('relevant patient:', match.PatientID, match.PatientName)
            else:
                print('C-FIND:', status)
        request = Dataset()  # PS3.4 C.6.3: the IMAGE level names the study and series too
        request.QueryRetrieveLevel = 'IMAGE'
        request.StudyInstanceUID = instance.StudyInstanceUID
        request.SeriesInstanceUID = instance.SeriesInstanceUID
        request.SOPInstanceUID = instance.SOPInstanceUID
        with assoc.get_scu(ROOT_GET)(request, 2) as get:
            for ctx, _file in get:
                print('received', ctx.sop_class.name)
        print('C-GET:', get.status)
# [client end]


def main() -> None:
    instances = [make_dataset(CT, PatientID='P1') for _ in range(3)]
    with tempfile.TemporaryDirectory() as incoming, Archive(instances) as archive:
        remote = {'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': archive.local_ae.port}
        query_and_retrieve(remote, incoming, instances[1])
        print('files:', len(os.listdir(incoming)))


if __name__ == '__main__':
    main()
