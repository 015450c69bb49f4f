"""pynetdicom habits in pynetdicom2 terms: hooks instead of event handlers, get_scu instead of
send_*.

The comments name what a pynetdicom 3 program would use at each step. The archive answers
C-ECHO, C-STORE, C-FIND, C-GET and N-GET; the client uses each service once on one
association. Both run in this process, on loopback; in real life they are two programs.
"""

from __future__ import annotations

from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids
from pynetdicom2.loopback import make_dataset

PRINTER = '1.2.840.10008.5.1.1.16'  # Printer SOP class, N-GET only
PRINTER_INSTANCE = '1.2.840.10008.5.1.1.17'  # its well-known instance


# [server]
class Archive(ae.AE):
    """Each on_* method takes the place of one evt_handlers entry of start_server()."""

    def __init__(self) -> None:
        super().__init__('ARCHIVE', 0, host='127.0.0.1')  # start_server(('127.0.0.1', 0))
        self.instances: list[Dataset] = []

    def on_association_request(self, asce: Any, rq: Any) -> None:  # EVT_REQUESTED
        print(f'archive: association request from {rq.calling_ae_title}')

    def on_receive_echo(self, context: Any) -> statuses.Status:  # EVT_C_ECHO
        return statuses.SUCCESS

    def on_receive_store(self, context: Any, ds: Any) -> statuses.Status:  # EVT_C_STORE
        instance = dcmread(ds)  # a Part-10 file object where pynetdicom has event.dataset
        with self.lock:
            self.instances.append(instance)
        return statuses.SUCCESS  # a Status, or the int code

    def on_receive_find(self, context: Any, ds: Dataset) -> Any:  # EVT_C_FIND
        with self.lock:
            matches = [i for i in self.instances if i.PatientID == ds.PatientID]
        for instance in matches:
            match = Dataset()
            match.QueryRetrieveLevel = 'STUDY'
            match.PatientID = instance.PatientID
            match.StudyInstanceUID = instance.StudyInstanceUID
            yield match, statuses.C_FIND_PENDING  # (identifier, status): the other way round

    def on_receive_get(self, context: Any, ds: Dataset) -> Any:  # EVT_C_GET
        with self.lock:
            found = [i for i in self.instances if i.StudyInstanceUID == ds.StudyInstanceUID]
        return len(found), iter(found)  # the count first, then the instances


class Printer(sc.NServiceSCP):
    """EVT_N_GET (and the other DIMSE-N events) are methods of an NServiceSCP subclass."""

    sop_classes = [PRINTER]

    def on_n_get(self, asce: Any, ctx: Any, sop_instance_uid: Any, attributes: Any) -> Any:
        ds = Dataset()
        ds.PrinterStatus = 'NORMAL'
        return statuses.SUCCESS, ds


def make_archive() -> Archive:
    archive = Archive()
    # add_supported_context(...) for each SOP class: add_scp registers the service's classes.
    archive.add_scp(sc.verification_scp).add_scp(sc.storage_scp)
    archive.add_scp(sc.qr_find_scp).add_scp(sc.qr_get_scp).add_scp(Printer())
    # add_supported_context(CT, scp_role=True, scu_role=True) on a C-GET SCP: be CT's SCU.
    archive.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
    archive.dcm_timeout = 30  # dimse_timeout
    return archive
# [server end]


# [client]
class Client(ae.ClientAE):
    """The C-STORE sub-operations of a C-GET reach a hook, not an EVT_C_STORE handler."""

    def on_receive_store(self, context: Any, ds: Any) -> statuses.Status:
        print(f'client: C-GET brought back a {ds.Modality} image of {ds.PatientID}')  # Dataset
        return statuses.SUCCESS


def use(remote: dict[str, Any]) -> None:
    client = Client('MYSCU')  # AE(ae_title='MYSCU')
    # add_requested_context(...) for each class; build_role() is not needed for C-GET.
    client.add_scu(sc.verification_scu)
    client.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
    client.add_scu(sc.qr_find_scu, [uids.STUDY_ROOT_FIND_SOP_CLASS])
    client.add_scu(sc.qr_get_scu, [uids.STUDY_ROOT_GET_SOP_CLASS])
    client.add_scu(sc.n_get_scu, [PRINTER])
    # assoc = ae.associate('127.0.0.1', port, ae_title='ARCHIVE'); if assoc.is_established:
    with client.request_association(remote) as assoc:
        echo = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)  # send_c_echo()
        print('C-ECHO ', echo, echo.is_success)

        ct = make_dataset(uids.CT_IMAGE_STORAGE, PatientID='P1')
        print('C-STORE', assoc.get_scu(uids.CT_IMAGE_STORAGE)(ct, 2))  # send_c_store(ct)

        query = Dataset()
        query.QueryRetrieveLevel = 'STUDY'
        query.PatientID = 'P1'
        query.StudyInstanceUID = ''
        find = assoc.get_scu(uids.STUDY_ROOT_FIND_SOP_CLASS)  # send_c_find(query, model)
        for identifier, status in find(query, 3):
            if status.is_pending:  # pynetdicom: status.Status in (0xFF00, 0xFF01)
                same = identifier.StudyInstanceUID == ct.StudyInstanceUID
                print('C-FIND ', identifier.PatientID, 'the study just stored:', same)
            else:
                print('C-FIND ', status)

        query.StudyInstanceUID = ct.StudyInstanceUID
        get = assoc.get_scu(uids.STUDY_ROOT_GET_SOP_CLASS)(query, 4)  # send_c_get(query, model)
        for _context, _dataset in get:  # each sub-operation, already answered by the hook
            pass
        print('C-GET  ', get.status, 'completed:', get.response.num_of_completed_sub_ops)

        printer = assoc.get_scu(PRINTER)  # send_n_get(['PrinterStatus'], PRINTER, instance)
        reply = printer(PRINTER_INSTANCE, 5, ['PrinterStatus'])
        print('N-GET  ', reply.status, reply.data_set.PrinterStatus)
    # Leaving the block is assoc.release(); an exception in it is assoc.abort().
# [client end]


def main() -> None:
    with make_archive() as archive:  # start_server(..., block=False); shutdown() at the end
        use({'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': archive.local_ae.port})


if __name__ == '__main__':
    main()
