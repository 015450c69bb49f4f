"""A private storage SOP class (PS3.5 9.2.2): registered once, then stored with C-STORE and
retrieved with C-GET like a standard one.

The archive runs in this process to have something to talk to; in real life it is a PACS.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import commands, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.fsm import PContextDef
from pynetdicom2.loopback import make_dataset, query

# [register]
# A UID under your organization's root, never under 1.2.840.10008 (DICOM's own).
ACME_RAW = uids.register_private_sop_class(
    '1.2.826.0.1.3680043.9.7433.15.1', 'Acme Raw Data Storage', storage=True)
# [register end]


# [archive]
@sc.store_in_file
@sc.sop_classes([ACME_RAW])
def acme_storage_scp(asce: Any, ctx: PContextDef, msg: Any) -> None:
    sc.storage_scp(asce, ctx, msg)  # the standard storage SCP, for the private class


class Archive(ae.StorageAE):
    """Stores the standard classes and Acme's; sends back all it holds on C-GET."""

    def __init__(self, storage_dir: str) -> None:
        super().__init__(storage_dir, 'ARCHIVE', 0, host='127.0.0.1')
        self.add_scp(sc.storage_scp).add_scp(acme_storage_scp).add_scp(sc.qr_get_scp)
        self.add_scu(sc.storage_scu, [ACME_RAW])  # the C-STORE sub-operations of a C-GET

    def on_receive_get(self, context: PContextDef, ds: Dataset) -> Any:
        files = sorted(self.storage_dir.glob('*.dcm'))
        return len(files), iter(files)
# [archive end]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with Archive(os.path.join(tmp, 'archive')) as archive:
            remote = {'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': archive.local_ae.port}
            # [client]
            raw = make_dataset(ACME_RAW)
            print('C-STORE:', commands.store('MODALITY', remote, raw))
            # commands.get proposes the registered private storage classes too.
            viewer = os.path.join(tmp, 'viewer')
            got = commands.get('VIEWER', remote, query('STUDY'), viewer)
            print('C-GET completed:', got.num_of_completed_sub_ops)
            for name in os.listdir(viewer):
                ds = dcmread(os.path.join(viewer, name), stop_before_pixels=True)
                print('received:', uids.sop_class_name(ds.SOPClassUID))
            # [client end]
    uids.unregister_private_sop_class(ACME_RAW)


if __name__ == '__main__':
    main()
