"""Print management (PS3.4 Annex H) and the other DIMSE-N services of PS3.4 P, KK, EE, S, DD.

A modality prints a film of two images on a DICOM printer and reads the printer's status; the
printer reports a film jam while the modality listens. Then one device plays the other SCPs:
a procedure log (Application Event Logging), a repository making inventories (Storage
Management), a display system, a media burner (Media Creation Management) and a machine
parameter verifier (RT Machine Verification), each asked by its SCU.

One process plays every AE here; in real life they are programs on different machines.
"""

import queue
import threading

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids

GRAYSCALE = uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META_SOP_CLASS


# [printer]
class Printer(ae.AE):
    """A DICOM printer: the SCP keeps the film session; the hook of a print prints."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scp = sc.PrintManagement()
        self.add_scp(self.scp)

    def on_n_action(self, context, sop_instance_uid, action_type_id, action_information):
        # Asked before the SCP records the print job: refuse here, and nothing is printed.
        print(f'  printer: print {uids.sop_class_name(context.sop_class)}')
        return statuses.SUCCESS


# [printer]


# [modality]
class Modality(ae.ClientAE):
    """Prints, and hears the printer's status changes (N-EVENT-REPORT, PS3.4 H.4.6.2.1)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_scu(sc.print_management_scu)

    def on_n_event_report(self, context, sop_instance_uid, event_type_id, event_information):
        print(f'  modality: printer {sc.PrinterEvent(event_type_id).name}:',
              event_information.PrinterStatusInfo)
        return statuses.SUCCESS


def print_two_images(assoc):
    job = assoc.get_scu(GRAYSCALE)
    session = job('create_film_session', 1, None).sop_instance_uid
    film = job('create_film_box', session, 2, 'STANDARD\\2,1')
    print('film box:', film.status, len(film.data_set.ReferencedImageBoxSequence), 'image boxes')
    for position, box in enumerate(film.data_set.ReferencedImageBoxSequence, 1):
        pixels = bytes(range(256)) * 256  # 256 x 256, 8 bits
        image = sc.grayscale_image_box(position, 256, 256, pixels)
        job('set_image_box', box.ReferencedSOPInstanceUID, image, 2 + position)
    printed = job('print_film_box', film.sop_instance_uid, 5)
    print('print:', printed.status)
    return printed


# [modality]


# [others]
class Devices(ae.AE):
    """Serves the other DIMSE-N classes; the hooks hold what each site decides."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        display = Dataset()
        display.Manufacturer = 'ACME'
        self.inventory = sc.InventoryCreation()
        self.media = sc.MediaCreationManagement()
        self.verifier = sc.RTMachineVerification()
        for scp in (sc.ApplicationEventLogging(), self.inventory, sc.DisplaySystem(display),
                    self.media, self.verifier):
            self.add_scp(scp)

    def on_n_action(self, context, sop_instance_uid, action_type_id, action_information):
        if context.sop_class == uids.RT_CONVENTIONAL_MACHINE_VERIFICATION_SOP_CLASS:
            beam = self.verifier.instance(sop_instance_uid)
            machine = beam.GeneralMachineVerificationSequence[0].TreatmentMachineName
            result = Dataset()
            result.TreatmentVerificationStatus = (
                'VERIFIED' if machine == 'LINAC1' else 'NOT_VERIFIED')
            return statuses.SUCCESS, result
        return statuses.SUCCESS  # logged, inventory started, media scheduled


# [others]


def procedure_log_event():
    ds = Dataset()
    ds.PatientID = 'P1'
    ds.StudyInstanceUID = '1.2.826.0.1.3680043.8.498.1'
    ds.StudyID = ''
    ds.SynchronizationFrameOfReferenceUID = ''
    ds.PerformedLocation = 'CATH LAB 1'
    ds.ValueType = 'CONTAINER'  # the TID 3001 content follows in the Content Sequence
    ds.ContentSequence = []
    return ds


def beam_parameters():
    general = Dataset()
    general.TreatmentMachineName = 'LINAC1'
    ds = Dataset()
    ds.GeneralMachineVerificationSequence = [general]
    return ds


# [run]
printer = Printer('PRINTER', 0, host='127.0.0.1')
devices = Devices('DEVICES', 0, host='127.0.0.1')
modality = Modality('MODALITY')
client = ae.ClientAE('CLIENT')
for scu in (sc.event_logging_scu, sc.inventory_creation_scu, sc.display_system_scu,
            sc.media_creation_scu, sc.rt_verification_scu):
    client.add_scu(scu)

with printer, devices:
    to_printer = {'aet': 'PRINTER', 'address': '127.0.0.1', 'port': printer.local_ae.port}
    with modality.request_association(to_printer) as assoc:
        print_two_images(assoc)
        got = assoc.get_scu(GRAYSCALE)('get_printer', 6, ['PrinterStatus'])
        print('printer status:', got.data_set.PrinterStatus)
        # The printer reports on every association printing; the modality reads it.
        jam = threading.Thread(target=printer.scp.report_printer_status,
                               args=('WARNING', 'FILM JAM'))
        jam.start()
        assoc.get_scu(GRAYSCALE)('receive_event', 10)
        jam.join()
    job = next(iter(printer.scp.jobs.values()))
    print('print job:', job.attributes.ExecutionStatus, len(job.films[0][1]), 'images')

    to_devices = {'aet': 'DEVICES', 'address': '127.0.0.1', 'port': devices.local_ae.port}
    with client.request_association(to_devices) as assoc:
        logged = assoc.get_scu(uids.PROCEDURAL_EVENT_LOGGING_SOP_CLASS)(procedure_log_event(), 1)
        print('procedural event logged:', logged.status)

        inventory = assoc.get_scu(uids.INVENTORY_CREATION_SOP_CLASS)
        transaction_uid = generate_uid()
        print('inventory initiated:', inventory('initiate', transaction_uid, 2, 'STUDY').status)
        reports = queue.Queue()
        finished = Dataset()
        finished.TransactionStatus = 'FAILURE'
        finished.TransactionStatusComment = 'nothing to list'
        reporter = threading.Thread(target=lambda: reports.put(devices.inventory.report(
            transaction_uid, sc.InventoryEvent.TERMINATED_WITHOUT_INSTANCES, finished)))
        reporter.start()
        report = inventory('receive_event', 10)
        reporter.join()
        print('inventory report:', sc.InventoryEvent(report.event_type_id).name,
              report.information.TransactionStatus)

        shown = assoc.get_scu(uids.DISPLAY_SYSTEM_SOP_CLASS)(3, ['Manufacturer'])
        print('display system:', shown.data_set.Manufacturer)

        media = assoc.get_scu(uids.MEDIA_CREATION_MANAGEMENT_SOP_CLASS)
        request = sc.media_request([(uids.CT_IMAGE_STORAGE, generate_uid())], 'Doe^Jane')
        uid = media('create', request, 4).sop_instance_uid
        print('media creation initiated:', media('initiate', uid, 5, copies=1).status)
        devices.media.update(uid, sc.MediaExecutionStatus.DONE,
                             TotalNumberOfPiecesOfMediaCreated=1)
        print('media creation:', media('get', uid, 6, ['ExecutionStatus']).data_set
              .ExecutionStatus)

        mv = assoc.get_scu(uids.RT_CONVENTIONAL_MACHINE_VERIFICATION_SOP_CLASS)
        uid = mv('create', uids.RT_PLAN_STORAGE, generate_uid(), 'P1', 7).sop_instance_uid
        mv('set', uid, beam_parameters(), 8)
        result = mv('verify', uid, 9)
        print('beam verification:', result.report.information.TreatmentVerificationStatus)
        mv('delete', uid, 10)
# [run]
