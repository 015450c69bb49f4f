"""C-GET with SCP/SCU role selection (PS3.7 D.3.3.4), seen from the SCU.

A C-GET SCP sends the matches back as C-STORE sub-operations on the same association, so
the SCU must have proposed a storage context, with the SCP role, for each class it expects.
The archive runs in this process to have something to talk to; in real life it is a PACS.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.fsm import PContextDef
from pynetdicom2.loopback import make_dataset, query

CT, MR = uids.CT_IMAGE_STORAGE, uids.MR_IMAGE_STORAGE
GET = uids.STUDY_ROOT_GET_SOP_CLASS


class Archive(ae.AE):
    """A C-GET SCP that may send CT only: it grants the SCP role for CT, refuses it for MR."""

    def __init__(self, instances: list[Dataset]) -> None:
        super().__init__('ARCHIVE', 0, host='127.0.0.1')
        self.instances = instances
        self.add_scp(sc.qr_get_scp)
        self.add_scu(sc.storage_scu, [CT])  # the classes it can send, hence grant

    def on_receive_get(self, context: PContextDef, ds: Dataset) -> Any:
        return len(self.instances), iter(self.instances)


# [client]
def retrieve(remote: dict[str, Any], incoming: str) -> None:
    client = ae.ClientStorageAE(incoming, 'GETSCU')  # files what it receives in incoming/
    client.add_scu(sc.qr_get_scu, [GET])
    # With a C-GET SCU registered, these storage classes are proposed with a role
    # selection item (SCU role 1: we registered their SCU; SCP role 1: we receive).
    client.add_scu(sc.storage_scu, [CT, MR])
    with client.request_association(remote) as assoc:
        granted = sorted(sop_class.name for _, sop_class, _ in assoc.sop_classes_as_scp.values())
        print('SCP role granted for:', granted)
        with assoc.get_scu(GET)(query('STUDY', PatientID='P1'), 1) as get:
            for ctx, _file in get:  # each C-STORE, already answered and filed
                print('received', ctx.sop_class.name)
    rsp = get.response
    print('final status:', get.status)
    print(f'completed {rsp.num_of_completed_sub_ops}, failed {rsp.num_of_failed_sub_ops}, '
          f'warning {rsp.num_of_warning_sub_ops}')
    if get.identifier is not None:
        print('failed instances:', get.identifier.FailedSOPInstanceUIDList)
# [client end]


def main() -> None:
    study = [make_dataset(CT, PatientID='P1'), make_dataset(CT, PatientID='P1'),
             make_dataset(MR, PatientID='P1', Modality='MR')]
    with tempfile.TemporaryDirectory() as incoming, Archive(study) as archive:
        retrieve({'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': archive.local_ae.port},
                 incoming)
        print('files:', len(os.listdir(incoming)))


if __name__ == '__main__':
    main()
