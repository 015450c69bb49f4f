"""A script written the pynetdicom2 0.9 way, run as it is.

Between the ``[0.9 script]`` markers every name and call is one 0.9 had: top-level imports,
an AE subclass whose hooks answer C-ECHO, C-STORE and C-FIND and turn strangers away, a lock
of 0.9's type, a ClientAE that registers its services and calls them through ``get_scu``,
a C-GET whose storage context comes from ``update_context_def_list``, and a one-liner.

The archive is set up after the markers with two things 0.9 lacked: a C-GET SCP, and
``host='127.0.0.1'`` (0.9 listened on every interface), which keeps the example on loopback.
"""

# [0.9 script]
import os
import tempfile
import threading

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pynetdicom2 import (
    AE,
    ClientAE,
    ClientStorageAE,
    exceptions,
    qr_find_scp,
    qr_find_scu,
    qr_get_scu,
    statuses,
    storage_scp,
    storage_scu,
    uids,
    verification_scp,
    verification_scu,
    verify,
)
from pynetdicom2.asceprovider import RemoteAEConfig

KNOWN_CALLERS = ('MYSCU',)


class Archive(AE):
    """Keeps the instances it receives in memory and answers study queries from them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()  # 0.9's kind of lock: not re-entrant
        self.instances = []

    def on_association_request(self, asce, rq):
        if rq.calling_ae_title not in KNOWN_CALLERS:
            raise exceptions.AssociationRejectedError(1, 1, 3)  # calling AE not recognized

    def on_receive_echo(self, context):
        return statuses.SUCCESS

    def on_receive_store(self, context, ds):
        instance = pydicom.dcmread(ds)  # storage_scp hands over a Part-10 file object
        with self.lock:
            self.instances.append(instance)
        return statuses.SUCCESS

    def on_receive_find(self, context, ds):
        with self.lock:
            studies = {i.StudyInstanceUID: i.PatientName for i in self.instances}
        for study_uid, patient_name in studies.items():
            match = Dataset()
            match.QueryRetrieveLevel = 'STUDY'
            match.StudyInstanceUID = study_uid
            match.PatientName = patient_name
            yield match, statuses.C_FIND_PENDING  # the final Success is added


def ct_image():
    ds = Dataset()
    ds.SOPClassUID = uids.CT_IMAGE_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.PatientName = 'Doe^Jane'
    ds.PatientID = 'P1'
    ds.Modality = 'CT'
    return ds


def use_the_archive(port, incoming):
    remote = RemoteAEConfig(aet='ARCHIVE', address='127.0.0.1', port=port)

    client = ClientAE('MYSCU')
    client.add_scu(verification_scu).add_scu(qr_find_scu)
    client.add_scu(storage_scu, [uids.CT_IMAGE_STORAGE])
    with client.request_association(remote) as assoc:
        print('C-ECHO ', assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1))
        print('C-STORE', assoc.get_scu(uids.CT_IMAGE_STORAGE)(ct_image(), 2))
        query = Dataset()
        query.QueryRetrieveLevel = 'STUDY'
        query.PatientName = ''
        query.StudyInstanceUID = ''
        studies = []
        for match, status in assoc.get_scu(uids.STUDY_ROOT_FIND_SOP_CLASS)(query, 3):
            if status.is_pending:
                print('C-FIND ', match.PatientName)
                studies.append(match.StudyInstanceUID)

    getter = ClientStorageAE(incoming, 'MYSCU')
    getter.update_context_def_list([uids.CT_IMAGE_STORAGE], store_in_file=True)
    getter.add_scu(qr_get_scu)
    query = Dataset()
    query.QueryRetrieveLevel = 'STUDY'
    query.StudyInstanceUID = studies[0]
    with getter.request_association(remote) as assoc:
        received = list(assoc.get_scu(uids.STUDY_ROOT_GET_SOP_CLASS)(query, 1))
    print('C-GET  ', len(received), 'instance(s),', len(os.listdir(incoming)), 'file(s)')

    stranger = ClientAE('STRANGER').add_scu(verification_scu)
    try:
        with stranger.request_association({'aet': 'ARCHIVE', 'address': '127.0.0.1',
                                           'port': port}):
            pass
    except exceptions.AssociationRejectedError as exc:
        print('STRANGER rejected:', exc.result, exc.source, exc.diagnostic)

    print('verify()', verify('MYSCU', remote))
# [0.9 script end]


class GetArchive(Archive):
    """The same archive, also a C-GET SCP (an addition of this library)."""

    def on_receive_get(self, context, ds):
        with self.lock:
            found = [i for i in self.instances if i.StudyInstanceUID == ds.StudyInstanceUID]
        return len(found), iter(found)


def main():
    from pynetdicom2.sopclass import qr_get_scp

    archive = GetArchive('ARCHIVE', 0, host='127.0.0.1')
    archive.add_scp(verification_scp).add_scp(storage_scp).add_scp(qr_find_scp)
    archive.add_scp(qr_get_scp)
    archive.add_scu(storage_scu, [uids.CT_IMAGE_STORAGE])  # sends CT back, so grants the role
    with archive, tempfile.TemporaryDirectory() as incoming:
        use_the_archive(archive.server.server_address[1], incoming)


if __name__ == '__main__':
    main()
