"""A ClientAE script for the original pynetdicom2 (0.9.8) API: every SCU service against a PACS.

One association does C-ECHO, C-STORE of a Dataset and of a Part-10 file, C-FIND and C-MOVE
(to a StorageAE of this script); a ClientStorageAE then does C-GET the original's way:
``update_context_def_list([...], store_in_file=True)`` + ``add_scu(sc.qr_get_scu)``. The PACS
is pynetdicom2.loopback.LoopbackSCP on the first port given, the C-MOVE destination listens
on the second.
"""

import os
import sys
import tempfile

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.loopback import LoopbackSCP, make_study

NEW_STUDY = generate_uid()


def new_image(number):
    image = Dataset()
    image.SOPClassUID = uids.CT_IMAGE_STORAGE
    image.SOPInstanceUID = generate_uid()
    image.PatientName, image.PatientID = 'Roe^Rick', 'P2'
    image.StudyInstanceUID, image.SeriesInstanceUID = NEW_STUDY, generate_uid()
    image.Modality, image.InstanceNumber = 'CT', number
    return image


def study_query(**keys):
    q = Dataset()
    q.QueryRetrieveLevel = 'STUDY'
    for keyword, value in keys.items():
        setattr(q, keyword, value)
    return q


def use_pacs(remote, tmp):
    client = ae.ClientAE('MYSCU')
    client.add_scu(sc.verification_scu).add_scu(sc.qr_find_scu).add_scu(sc.qr_move_scu)
    client.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
    with client.request_association(remote) as assoc:
        print('echo', assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1))

        store = assoc.get_scu(uids.CT_IMAGE_STORAGE)
        print('store dataset', store(new_image(1), 2))
        image = new_image(2)
        image.file_meta = FileMetaDataset()
        image.file_meta.MediaStorageSOPClassUID = image.SOPClassUID
        image.file_meta.MediaStorageSOPInstanceUID = image.SOPInstanceUID
        image.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = os.path.join(tmp, 'image2.dcm')
        image.save_as(path, write_like_original=False)
        print('store path', store(path, 3))

        q = study_query(PatientName='*', PatientID='', StudyInstanceUID='')
        found = {}
        for result, st in assoc.get_scu(uids.STUDY_ROOT_FIND_SOP_CLASS)(q, 4):
            if st.is_pending:
                found[result.PatientID] = result
            else:
                print('find', st)
        for patient_id in sorted(found):
            print('found', patient_id, found[patient_id].PatientName)

        q = study_query(StudyInstanceUID=found['P1'].StudyInstanceUID)
        for st, rsp in assoc.get_scu(uids.STUDY_ROOT_MOVE_SOP_CLASS)(q, 'DEST', 5):
            print('move', st, rsp.num_of_completed_sub_ops)


def get_study(remote, storage_dir):
    client = ae.ClientStorageAE(storage_dir, 'MYSCU')
    client.update_context_def_list([uids.CT_IMAGE_STORAGE], store_in_file=True)
    client.add_scu(sc.qr_get_scu)
    with client.request_association(remote) as assoc:
        q = study_query(StudyInstanceUID=NEW_STUDY)
        for ctx, ds in assoc.get_scu(uids.STUDY_ROOT_GET_SOP_CLASS)(q, 1):
            print('get received', ctx.sop_class.name, 'file' if hasattr(ds, 'read') else 'dataset')
    numbers = [int(pydicom.dcmread(os.path.join(storage_dir, name)).InstanceNumber)
               for name in os.listdir(storage_dir)]
    print('get files', sorted(numbers))


def main(pacs_port, dest_port):
    with tempfile.TemporaryDirectory() as tmp:
        with LoopbackSCP(os.path.join(tmp, 'pacs'), 'PACS', pacs_port) as pacs:
            pacs.add(*make_study(1, 3, PatientID='P1', PatientName='Doe^Jane'))
            pacs.destinations['DEST'] = {'aet': 'DEST', 'address': '127.0.0.1',
                                         'port': dest_port}
            dest = ae.StorageAE(os.path.join(tmp, 'dest'), 'DEST', dest_port)
            dest.add_scp(sc.storage_scp)
            with dest:
                remote = {'aet': 'PACS', 'address': '127.0.0.1', 'port': pacs_port}
                use_pacs(remote, tmp)
            print('moved files', len(os.listdir(os.path.join(tmp, 'dest'))))
            get_study(remote, os.path.join(tmp, 'got'))


if __name__ == '__main__':
    main(int(sys.argv[1]), int(sys.argv[2]))
