"""SOP class extended negotiation (PS3.7 D.3.3.5, D.3.3.6): what a requester proposes for a
SOP class beyond the presentation context, and what the acceptor grants.

A Q/R SCP (``pynetdicom2-qrscp``'s :class:`~pynetdicom2.qrscp.QRSCP`, which grants relational
queries) answers an IMAGE-level query by patient name only when relational queries were
agreed; a modality stores a vendor's specialised CT class, which the archive accepts as CT
Image Storage, its related general class; an SCP of our own answers with a hook.

One process plays every side here; in real life they are separate programs.
"""

import tempfile

from pydicom.uid import UID

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.extendednegotiation import STORAGE_SERVICE_CLASS, QueryOptions
from pynetdicom2.loopback import make_dataset, make_study, query
from pynetdicom2.qrscp import QRSCP
from pynetdicom2.userdataitems import SOPClassCommonExtendedNegotiationSubItem

FIND = uids.STUDY_ROOT_FIND_SOP_CLASS
#: A vendor's specialised CT class (an example UID under pydicom's root).
SPECIAL_CT = UID('1.2.826.0.1.3680043.8.498.77.3')


# [propose]
def images_of_doe(remote, relational):
    """An IMAGE-level query by patient name: relational queries proposed, or not."""
    client = ae.ClientAE('VIEWER').add_scu(sc.qr_find_scu, [FIND])
    if relational:
        # By SOP class UID, or by family for every class of it: {'find': QueryOptions(...)}
        client.extended_negotiation = {FIND: QueryOptions(relational=True)}
    with client.request_association(remote) as assoc:
        # What the A-ASSOCIATE-AC agreed to (absent: no reply, none of the options)
        agreed = assoc.extended_negotiation.get(FIND)
        print(f'  agreed: {agreed}')
        identifier = query('IMAGE', PatientName='Doe*', SOPInstanceUID='')
        for match, status in assoc.get_scu(FIND)(identifier, 1):
            if status.is_pending:
                print(f'  image {match.SOPInstanceUID}')
            else:
                print(f'  final status {status}')
# [propose]


# [specialised]
def store_specialised(remote):
    """Store an instance of a class the archive does not know, naming CT Image Storage as its
    related general class in a SOP Class Common Extended Negotiation sub-item (0x57)."""
    modality = ae.ClientAE('MODALITY').add_scu(sc.storage_scu, [SPECIAL_CT])
    common = SOPClassCommonExtendedNegotiationSubItem(
        SPECIAL_CT, STORAGE_SERVICE_CLASS, [uids.CT_IMAGE_STORAGE])
    ds = make_dataset(SPECIAL_CT, PatientName='Doe^Jane', PatientID='P1')
    target = RemoteAEConfig(remote.aet, remote.address, remote.port, user_data=[common])
    with modality.request_association(target) as assoc:
        print(f'  C-STORE {assoc.get_scu(SPECIAL_CT)(ds, 1)}')
# [specialised]


# [answer]
class Gatekeeper(ae.AE):
    """Answers relational queries only to the calling AE title it trusts."""

    def on_sop_class_extended_negotiation(self, asce, sop_class_uid, app_info):
        if asce.remote_ae.strip() != 'VIEWER':
            return None  # no reply item: the requester assumes none of the options
        # What we support; the reply is trimmed to what was asked (PS3.4 C.5.1.1)
        return QueryOptions(relational=True, fuzzy_matching=True)
# [answer]


# [run]
with tempfile.TemporaryDirectory() as folder:
    with QRSCP(folder, 'PACS', 0, host='127.0.0.1') as archive:
        archive.hierarchical_only = True  # refuse what hierarchical searches may not ask
        pacs = RemoteAEConfig('PACS', '127.0.0.1', archive.local_ae.port)
        loader = ae.ClientAE('LOADER').add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
        with loader.request_association(pacs) as assoc:
            for msg_id, ds in enumerate(make_study(1, 2, PatientName='Doe^Jane'), 1):
                assoc.get_scu(uids.CT_IMAGE_STORAGE)(ds, msg_id)

        print('hierarchical (nothing proposed):')
        images_of_doe(pacs, relational=False)
        print('relational queries proposed:')
        images_of_doe(pacs, relational=True)
        print('a specialised CT class, served as CT Image Storage:')
        store_specialised(pacs)

    with Gatekeeper('GATE', 0, host='127.0.0.1').add_scp(sc.qr_find_scp) as gate:
        print('our own answer to VIEWER:')
        images_of_doe(RemoteAEConfig('GATE', '127.0.0.1', gate.local_ae.port), relational=True)
# [run]
