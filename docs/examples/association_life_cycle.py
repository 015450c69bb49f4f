"""An association's life: request, look at what was negotiated, use it, release; a rejection.

The peer is a loopback SCP in the same process; in real life it is your PACS.
"""

import tempfile

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.exceptions import AssociationRejectedError, ClassNotSupportedError
from pynetdicom2.loopback import LoopbackSCP

with tempfile.TemporaryDirectory() as folder, LoopbackSCP(folder, 'PACS') as pacs:
    # --- start
    client = ae.ClientAE('MYSCU').add_scu(sc.verification_scu)
    client.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
    remote = RemoteAEConfig('PACS', '127.0.0.1', pacs.port)   # or a dict with the same keys

    with client.request_association(remote) as assoc:   # an AssociationRequester
        for pc_id, context in assoc.context_def_list.items():
            print('proposed', pc_id, context.sop_class.name)
        for sop_class, (pc_id, syntax) in assoc.sop_classes_as_scu.items():
            print('accepted', pc_id, sop_class.name, 'in', syntax.name)
        echo = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)   # bound to assoc and its context
        print('C-ECHO:', echo(1))
        try:
            assoc.get_scu(uids.MR_IMAGE_STORAGE)
        except ClassNotSupportedError as exc:
            print('not negotiated:', exc)
    # leaving the block released the association (an exception would have aborted it)

    pacs.calling_aets = {'SOMEONE-ELSE'}   # the SCP now refuses our calling AE title
    try:
        with client.request_association(remote):
            pass
    except AssociationRejectedError as exc:
        print('rejected: result', exc.result, 'source', exc.source, 'reason', exc.diagnostic)
    # --- end
