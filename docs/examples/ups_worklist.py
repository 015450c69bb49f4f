"""Unified Procedure Step (PS3.4 Annex CC) and Instance Availability Notification (Annex R).

A worklist manager keeps the workitems; a RIS pushes one; a watching dashboard subscribes to
every workitem and hears of each change on associations the worklist opens to it; a
reconstruction server finds the workitem, claims it, reports progress and completes it;
then the archive tells the RIS that the results are available.

One process plays every AE here; in real life they are programs on different machines.
"""

import queue

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids

PUSH = uids.UNIFIED_PROCEDURE_STEP_PUSH_SOP_CLASS
PULL = uids.UNIFIED_PROCEDURE_STEP_PULL_SOP_CLASS
WATCH = uids.UNIFIED_PROCEDURE_STEP_WATCH_SOP_CLASS
IAN = uids.INSTANCE_AVAILABILITY_NOTIFICATION_SOP_CLASS


# [watcher]
class Dashboard(ae.AE):
    """Listens for the worklist's event reports (N-EVENT-REPORT, PS3.4 CC.2.4)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.events = queue.Queue()
        self.add_scp(sc.UPSEventReceiver())  # takes the reports, grants the SCP role
        self.add_scu(sc.ups_scu, [WATCH])  # to subscribe

    def on_n_event_report(self, context, sop_instance_uid, event_type_id, event_information):
        # Called on the thread of the worklist's association: hand the report over.
        self.events.put((sc.UPSEventType(event_type_id).name, event_information))
        return statuses.SUCCESS


# [watcher]


# [ris]
class RIS(ae.AE):
    """Takes Instance Availability Notifications (N-CREATE, PS3.4 R.3.2)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.available = queue.Queue()
        self.add_scp(sc.InstanceAvailabilityNotification())
        self.add_scu(sc.ups_scu, [PUSH])  # to push workitems

    def on_n_create(self, context, sop_instance_uid, attribute_list):
        study = attribute_list.CurrentRequestedProcedureEvidenceSequence[0]
        self.available.put(study.StudyInstanceUID)
        return statuses.SUCCESS


# [ris]


def reconstruction(study_uid):
    ds = Dataset()
    ds.ProcedureStepState = 'SCHEDULED'
    ds.InputReadinessState = 'READY'
    ds.ProcedureStepLabel = 'CT reconstruction'
    ds.WorklistLabel = 'RECON'
    ds.PatientName = 'Doe^Jane'
    ds.PatientID = 'P1'
    ds.ScheduledProcedureStepStartDateTime = '20240131101500'
    ds.StudyInstanceUID = study_uid
    return ds


def show(dashboard, count):
    for _ in range(count):
        name, info = dashboard.events.get(timeout=10)
        print(f'  dashboard: {name} {info.get("ProcedureStepState", "")}'.rstrip())


# [run]
worklist = ae.AE('WORKLIST', 0, host='127.0.0.1')
manager = sc.UnifiedProcedureStepSCP()
worklist.add_scp(manager)
dashboard = Dashboard('DASHBOARD', 0, host='127.0.0.1')
ris = RIS('RIS', 0, host='127.0.0.1')
performer = ae.ClientAE('RECON').add_scu(sc.ups_scu)
archive = ae.ClientAE('ARCHIVE').add_scu(sc.ian_scu)

with worklist, dashboard, ris:
    # Where the worklist finds the dashboard when it has something to report.
    manager.destinations['DASHBOARD'] = {
        'aet': 'DASHBOARD', 'address': '127.0.0.1', 'port': dashboard.local_ae.port}
    to_worklist = {'aet': 'WORKLIST', 'address': '127.0.0.1', 'port': worklist.local_ae.port}
    study_uid = generate_uid()

    with dashboard.request_association(to_worklist) as assoc:
        rsp = assoc.get_scu(WATCH)(
            'subscribe', uids.UPS_GLOBAL_SUBSCRIPTION_SOP_INSTANCE, 1)
        print('subscribe to every workitem:', rsp.status)

    with ris.request_association(to_worklist) as assoc:
        rsp = assoc.get_scu(PUSH)('create', reconstruction(study_uid), 1)
        print('N-CREATE (push):', rsp.status)
    show(dashboard, 1)

    with performer.request_association(to_worklist) as assoc:
        pull = assoc.get_scu(PULL)
        query = Dataset()
        query.WorklistLabel = 'RECON'
        query.ProcedureStepState = 'SCHEDULED'
        query.SOPInstanceUID = ''
        query.ProcedureStepLabel = ''
        found = [item for item, status in pull('find', query, 1) if status.is_pending]
        uid = found[0].SOPInstanceUID
        print('C-FIND:', found[0].ProcedureStepLabel)

        transaction_uid = generate_uid()  # our key to the workitem from now on
        print('claim:', pull('change_state', uid, 'IN PROGRESS', transaction_uid, 2).status)
        taken = pull('change_state', uid, 'IN PROGRESS', generate_uid(), 3).status
        print(f'claim it again: 0x{int(taken):04X}')  # C302H: already IN PROGRESS
        show(dashboard, 1)

        progress, done = Dataset(), Dataset()
        progress.ProcedureStepProgress = 50
        done.PerformedProcedureStepStartDateTime = '20240131101500'
        done.PerformedProcedureStepEndDateTime = '20240131103000'
        mods = Dataset()
        mods.ProcedureStepProgressInformationSequence = [progress]
        mods.UnifiedProcedureStepPerformedProcedureSequence = [done]
        print('N-SET:', pull('set', uid, transaction_uid, mods, 4).status)
        show(dashboard, 1)
        print('complete:', pull('change_state', uid, 'COMPLETED', transaction_uid, 5).status)
        show(dashboard, 1)

    notification = sc.instance_availability(
        study_uid, {generate_uid(): [(uids.CT_IMAGE_STORAGE, generate_uid())]}, 'ARCHIVE')
    to_ris = {'aet': 'RIS', 'address': '127.0.0.1', 'port': ris.local_ae.port}
    with archive.request_association(to_ris) as assoc:
        print('N-CREATE (instance availability):', assoc.get_scu(IAN)(notification, 1).status)
    print('RIS: study available:', ris.available.get(timeout=10) == study_uid)
# [run]
