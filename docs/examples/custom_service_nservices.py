"""DIMSE-N services without writing messages: NServiceSCP, NServiceSCU and MPPS.

* A made-up thermometer SOP class, the way every service is extended: the AE overrides the
  hooks (``on_n_get`` returns ``(status, data set)``, ``on_n_action`` raises
  EventHandlingError for a failure status) and registers ``NServiceSCP([THERMOMETER])``
  with ``add_scp``, as it would override ``on_receive_store`` and register ``storage_scp``.
* Modality Performed Procedure Step (PS3.4 F.7): the ready-made SCP keeps the steps, the
  SCU sends N-CREATE (IN PROGRESS) then N-SET (COMPLETED).

One process plays both sides here; in real life the SCP and the SCU are two programs.
"""

from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses
from pynetdicom2.exceptions import EventHandlingError

#: A made-up SOP class and its one instance; use UIDs under your own organisation's root.
THERMOMETER = '1.2.826.0.1.3680043.8.498.4242.2'
PROBE = '1.2.826.0.1.3680043.8.498.4242.2.1'
MPPS = sc.MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS


# [scps]
class Department(ae.AE):
    """The AE answers the thermometer's N-GET and N-ACTION through its hooks."""

    def on_n_get(self, context, sop_instance_uid, attribute_identifier_list):
        if sop_instance_uid != PROBE:
            return 0x0112, None  # No such SOP instance; a failure carries no data set
        reading = Dataset()
        reading.ContentLabel = 'ROOM3'  # any attributes the SOP class defines
        reading.NumericValue = '21.5'
        return statuses.SUCCESS, reading

    def on_n_action(self, context, sop_instance_uid, action_type_id, action_information):
        # EventHandlingError here is answered 0110H (processing failure); the association
        # goes on. Hooks not overridden (on_n_set, on_n_delete ...) answer 0211H.
        raise EventHandlingError('calibration is not possible remotely')


class StepLog(sc.ModalityPerformedProcedureStep):
    def step_created(self, asce, sop_instance_uid, attributes):
        print(f'SCP: step created by {asce.remote_ae}: {attributes.PerformedProcedureStepStatus}')

    def step_updated(self, asce, sop_instance_uid, attributes):
        print(f'SCP: step updated: {attributes.PerformedProcedureStepStatus}')


# [scps]


# [run]
scp = Department('DEPARTMENT', 0, host='127.0.0.1')
scp.add_scp(sc.NServiceSCP([THERMOMETER])).add_scp(StepLog())
with scp:
    remote = {'aet': 'DEPARTMENT', 'address': '127.0.0.1', 'port': scp.local_ae.port}
    client = ae.ClientAE('MODALITY')
    client.add_scu(sc.NServiceSCU([THERMOMETER], ['n_get', 'n_action']))
    client.add_scu(sc.mpps_scu)  # NServiceSCU([MPPS], ['n_create', 'n_set'])
    with client.request_association(remote) as assoc:
        thermometer = assoc.get_scu(THERMOMETER)
        rsp = thermometer('n_get', PROBE, 1)  # (status, data_set, sop_instance_uid, message)
        print('SCU: N-GET', rsp.status, rsp.data_set.ContentLabel, rsp.data_set.NumericValue)
        print('SCU: N-GET of another instance', thermometer('n_get', '1.2.3', 2).status)
        print('SCU: N-ACTION', thermometer('n_action', PROBE, 1, 3).status)

        mpps = assoc.get_scu(MPPS)
        step = Dataset()
        step.PatientID = 'P1'
        step.PerformedProcedureStepStatus = 'IN PROGRESS'
        created = mpps('n_create', step, 4)  # the SCP assigns the SOP instance UID
        print('SCU: N-CREATE', created.status)
        done = Dataset()
        done.PerformedProcedureStepStatus = 'COMPLETED'
        done.PerformedProcedureStepEndDate = '20260131'
        done.PerformedProcedureStepEndTime = '103000'
        print('SCU: N-SET', mpps('n_set', created.sop_instance_uid, done, 5).status)
# [run]
