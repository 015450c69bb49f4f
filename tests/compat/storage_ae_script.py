"""A storage server for the original pynetdicom2 (0.9.8) API: StorageAE + storage_scp.

``StorageAE(dir, aet, port)`` binds in its constructor and, with ``storage_scp`` added,
writes each data set it receives to ``dir/<SOPInstanceUID>.dcm``; a ClientAE sends it a CT
and an MR image, one each as a Dataset and as a Part-10 file. Written with the top-level
names of the original package (``from pynetdicom2 import ClientAE, ...``).
"""

import os
import sys
import tempfile

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pynetdicom2 import (
    ClientAE,
    StorageAE,
    storage_scp,
    storage_scu,
    uids,
    verification_scp,
    verification_scu,
)


def image(sop_class, modality):
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    ds.PatientID, ds.Modality = 'STORE1', modality
    return ds


def as_file(ds, directory):
    path = os.path.join(directory, ds.Modality + '.dcm')
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    pydicom.dcmwrite(path, ds, write_like_original=False)
    return path


def main(port):
    with tempfile.TemporaryDirectory() as incoming, tempfile.TemporaryDirectory() as outgoing:
        server = StorageAE(incoming, 'STORESCP', port)
        server.add_scp(verification_scp).add_scp(storage_scp)
        with server:
            client = ClientAE('MODALITY').add_scu(verification_scu)
            client.add_scu(storage_scu, [uids.CT_IMAGE_STORAGE, uids.MR_IMAGE_STORAGE])
            sent = [image(uids.CT_IMAGE_STORAGE, 'CT'), image(uids.MR_IMAGE_STORAGE, 'MR'),
                    as_file(image(uids.CT_IMAGE_STORAGE, 'CT'), outgoing),
                    as_file(image(uids.MR_IMAGE_STORAGE, 'MR'), outgoing)]
            remote = {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': port}
            with client.request_association(remote) as assoc:
                print('echo', assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1))
                for msg_id, ds_or_path in enumerate(sent, 2):
                    if isinstance(ds_or_path, str):
                        sop_class = pydicom.dcmread(ds_or_path).SOPClassUID
                    else:
                        sop_class = ds_or_path.SOPClassUID
                    status = assoc.get_scu(sop_class)(ds_or_path, msg_id)
                    print('store', type(ds_or_path).__name__, sop_class.name, status)
        stored = []
        for name in os.listdir(incoming):
            ds = pydicom.dcmread(os.path.join(incoming, name))
            stored.append((ds.Modality, ds.PatientID, name == ds.SOPInstanceUID + '.dcm'))
        print('stored', sorted(stored))


if __name__ == '__main__':
    main(int(sys.argv[1]))
