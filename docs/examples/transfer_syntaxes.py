"""Sending a file to a peer that accepts another transfer syntax, and choosing what to accept.

An archive that takes CT images in Implicit VR Little Endian only (as ``storescp +xi``
does), a file in Explicit VR Little Endian: the requester proposes the file's own syntax and
those it can convert to, the archive accepts implicit VR, and the file is converted as it
streams. The archive runs in this process to have something to talk to.
"""

from __future__ import annotations

import os
import tempfile

from pydicom import dcmread

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import commands, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.loopback import make_dataset, write_dataset

CT = uids.CT_IMAGE_STORAGE


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        incoming = os.path.join(tmp, 'incoming')
        archive = ae.StorageAE(incoming, 'ARCHIVE', 0, host='127.0.0.1')
        archive.add_scp(sc.storage_scp)
        # Per SOP class, what the archive accepts, in its order; 'acceptor': its order wins
        # over the requester's (the default, 'requester', keeps files as they were sent).
        archive.transfer_syntaxes_by_sop_class = {CT: [uids.ImplicitVRLittleEndian]}
        archive.transfer_syntax_preference = 'acceptor'
        with archive:
            remote = {'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': archive.local_ae.port}
            ds = make_dataset(CT)
            path = write_dataset(ds, tmp)  # Explicit VR Little Endian
            # Proposed: Explicit VR LE (the file's), then Explicit and Implicit VR LE.
            print(commands.store('MODALITY', remote, path))
        stored = dcmread(os.path.join(incoming, f'{ds.SOPInstanceUID}.dcm'))
        print('stored as', stored.file_meta.TransferSyntaxUID.name)


if __name__ == '__main__':
    main()
