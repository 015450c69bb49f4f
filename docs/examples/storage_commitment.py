"""Storage Commitment Push Model (PS3.4 Annex J): store, ask for commitment, get the result.

The modality stores two CT images on the archive, then asks it to commit three: the two it
sent and one it never sent. The archive answers the N-ACTION at once, then reports the
result as an N-EVENT-REPORT on a new association to the modality's own listening AE: two
committed, one failed with reason 0112H (no such object instance).

One process plays both AEs here; in real life the modality and the archive are two
programs on two machines.
"""

import queue
import tempfile
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids


# [archive]
class Archive(ae.StorageAE):
    """Stores C-STOREs in a folder; commits what is there; reports to AEs it knows."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: Where to send results, by the calling AE title of the request (PS3.4 J.3.3.1.3:
        #: the report goes on an association the archive requests).
        self.known_aes = {}

    def on_commitment_request(self, remote_aet, uids_iter):
        destination = self.known_aes.get(remote_aet)  # None: no report is sent
        success, failure = [], []
        for sop_class, sop_instance in uids_iter:
            if (self.storage_dir / f'{sop_instance}.dcm').exists():
                success.append((sop_class, sop_instance))
            else:
                reason = sc.StorageCommitment.NO_SUCH_OBJECT_INSTANCE
                failure.append((sop_class, sop_instance, reason))
        return destination, success, failure


# [archive]


# [modality]
class Modality(ae.AE):
    """Sends images and commitment requests; listens for the commitment results."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.results = queue.Queue()

    def on_commitment_response(self, transaction_uid, success_iter, failure_iter):
        # Called on the thread of the archive's association; hand the result over.
        self.results.put((transaction_uid, list(success_iter), list(failure_iter)))


# [modality]


def ct_image():
    ds = Dataset()
    ds.SOPClassUID = uids.CT_IMAGE_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = 'P1'
    ds.PatientName = 'Doe^Jane'
    ds.Modality = 'CT'
    return ds


# [run]
with tempfile.TemporaryDirectory() as folder:
    archive = Archive(Path(folder) / 'archive', 'ARCHIVE', 0, host='127.0.0.1')
    archive.add_scp(sc.storage_scp).add_scp(sc.StorageCommitment())

    modality = Modality('MODALITY', 0, host='127.0.0.1')
    modality.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
    # The SCU sends the N-ACTION; the SCP receives the N-EVENT-REPORT later. Having the SCU
    # registered also lets the modality accept the SCP role the archive proposes for it.
    modality.add_scu(sc.storage_commitment_scu).add_scp(sc.StorageCommitment())

    with archive, modality:
        archive.known_aes['MODALITY'] = {
            'aet': 'MODALITY',
            'address': '127.0.0.1',
            'port': modality.local_ae.port,
        }
        to_archive = {'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': archive.local_ae.port}
        images = [ct_image(), ct_image()]
        never_sent = ct_image()
        transaction_uid = generate_uid()
        pairs = [(ds.SOPClassUID, ds.SOPInstanceUID) for ds in [*images, never_sent]]

        with modality.request_association(to_archive) as assoc:
            for msg_id, ds in enumerate(images, 1):
                print(f'C-STORE {ds.SOPInstanceUID}:', assoc.get_scu(ds.SOPClassUID)(ds, msg_id))
            status = assoc.get_scu(uids.STORAGE_COMMITMENT_SOP_CLASS)(transaction_uid, pairs, 3)
            print('N-ACTION (request storage commitment):', status)

        # The result comes on its own association, whenever the archive is ready.
        tuid, success, failure = modality.results.get(timeout=10)
        print('N-EVENT-REPORT for our transaction:', tuid == transaction_uid)
        for _sop_class, sop_instance in success:
            print(f'  committed {sop_instance}')
        for _sop_class, sop_instance, reason in failure:
            print(f'  failed    {sop_instance}, reason {reason:04X}H')
# [run]
