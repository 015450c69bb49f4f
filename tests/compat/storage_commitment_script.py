"""Storage commitment for the original pynetdicom2 (0.9.8) API: a modality and an archive.

The modality (an AE with ``StorageCommitment()`` and ``storage_commitment_scu``, listening on
the first port) asks the archive (an AE with ``StorageCommitment()``, on the second port) to
commit three instances. The archive's ``on_commitment_request`` commits the two it holds and
names the modality as where the result goes; the result comes back as an N-EVENT-REPORT on a
new association, to the modality's ``on_commitment_response``, which hands it to the main
thread through a queue.
"""

import queue
import sys

from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids

MODALITY_PORT, ARCHIVE_PORT = int(sys.argv[1]), int(sys.argv[2])
NO_SUCH_OBJECT = sc.StorageCommitment.NO_SUCH_OBJECT_INSTANCE
ARCHIVED = {generate_uid(), generate_uid()}
results = queue.Queue()


class Modality(ae.AE):
    def on_commitment_response(self, transaction_uid, success, failure):
        results.put((transaction_uid, list(success), list(failure)))


class Archive(ae.AE):
    def on_commitment_request(self, remote_aet, sop_uids):
        committed, missing = [], []
        for sop_class, sop_instance in sop_uids:
            if sop_instance in ARCHIVED:
                committed.append((sop_class, sop_instance))
            else:
                missing.append((sop_class, sop_instance, NO_SUCH_OBJECT))
        print('archive asked by', remote_aet, 'for', len(committed) + len(missing))
        modality = {'aet': remote_aet, 'address': '127.0.0.1', 'port': MODALITY_PORT}
        return modality, committed, missing


def main():
    modality = Modality('MODALITY', MODALITY_PORT)
    modality.add_scp(sc.StorageCommitment()).add_scu(sc.storage_commitment_scu)
    archive = Archive('ARCHIVE', ARCHIVE_PORT).add_scp(sc.StorageCommitment())
    lost = generate_uid()
    references = [(uids.CT_IMAGE_STORAGE, uid) for uid in sorted(ARCHIVED)]
    references.append((uids.CT_IMAGE_STORAGE, lost))
    transaction = generate_uid()
    with archive, modality:
        remote = {'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': ARCHIVE_PORT}
        with modality.request_association(remote) as assoc:
            commit = assoc.get_scu(uids.STORAGE_COMMITMENT_SOP_CLASS)
            print('request', commit(transaction, references, 1))
            transaction_uid, success, failure = results.get(timeout=10)
    print('same transaction', transaction_uid == transaction)
    print('committed', sorted(uid for _, uid in success) == sorted(ARCHIVED))
    print('failed', [(uid == lost, reason) for _, uid, reason in failure])


if __name__ == '__main__':
    main()
