"""A script written for the original pynetdicom2 (0.9.8) API, kept exactly as such a script is.

A storage SCP (an AE subclass with on_association_request and on_receive_store) and an SCU
(ClientAE + add_scu + request_association + get_scu) talk to each other on the port given as
the first argument. tests/test_compat.py runs it unchanged against this library.
"""

import os
import sys
import tempfile

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import asceprovider, exceptions, statuses, uids
from pynetdicom2 import sopclass as sc

ALLOWED = ('MYSCU',)
received = []


class MyAE(ae.AE):
    def on_association_request(self, asce, rq):
        if rq.calling_ae_title not in ALLOWED:
            raise exceptions.AssociationRejectedError(1, 1, 3)

    def on_receive_store(self, context, ds):
        d = pydicom.dcmread(ds)
        received.append(str(d.SOPInstanceUID))
        return statuses.SUCCESS


def make_ct():
    ds = Dataset()
    ds.SOPClassUID = uids.CT_IMAGE_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = 'Compat^Script'
    return ds


def main(port):
    srv = MyAE('MYSCP', port, bind_and_activate=False)
    srv.add_scp(sc.verification_scp).add_scp(sc.storage_scp)
    with srv:
        client = ae.ClientAE('MYSCU')
        client.add_scu(sc.verification_scu)
        client.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE, uids.COMPREHENSIVE_SR_STORAGE])
        remote = asceprovider.RemoteAEConfig(aet='MYSCP', address='127.0.0.1', port=port,
                                             username='admin', password='123')
        with client.request_association(remote) as assoc:
            status = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
            print('echo', status, status.is_success)

            ds = make_ct()
            status = assoc.get_scu(uids.CT_IMAGE_STORAGE)(ds, 2)
            print('store dataset', status)

            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, 'ct.dcm')
                ds = make_ct()
                ds.file_meta = FileMetaDataset()
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
                ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                pydicom.dcmwrite(path, ds, write_like_original=False)
                status = assoc.get_scu(uids.CT_IMAGE_STORAGE)(path, 3)
                print('store file', status)

        intruder = ae.ClientAE('INTRUDER').add_scu(sc.verification_scu)
        try:
            with intruder.request_association({'aet': 'MYSCP', 'address': '127.0.0.1',
                                               'port': port}):
                print('intruder got in')
        except exceptions.AssociationRejectedError as e:
            print('rejected', e.result, e.source, e.diagnostic)
    print('received', len(received))


if __name__ == '__main__':
    main(int(sys.argv[1]))
