"""Modality worklist for the original pynetdicom2 (0.9.8) API: a RIS and a modality.

The RIS is an AE with ``modality_work_list_scp`` whose ``on_receive_find`` yields the
scheduled procedure steps for the modality asked about; the modality is a ClientAE with
``modality_work_list_scu`` asking for its CT steps of a day. The RIS listens on the port
given.
"""

import sys

from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids

SCHEDULE = [
    ('Doe^John', 'ACC1', 'CT', '20240131'),
    ('Roe^Jane', 'ACC2', 'MR', '20240131'),
    ('Poe^Edgar', 'ACC3', 'CT', '20240131'),
    ('Loe^Lars', 'ACC4', 'CT', '20240201'),
]


def worklist_item(patient_name, accession, modality, date):
    step = Dataset()
    step.Modality = modality
    step.ScheduledProcedureStepStartDate = date
    step.ScheduledStationAETitle = 'CT1' if modality == 'CT' else 'MR1'
    item = Dataset()
    item.PatientName = patient_name
    item.AccessionNumber = accession
    item.ScheduledProcedureStepSequence = [step]
    return item


class RIS(ae.AE):
    def on_receive_find(self, context, ds):
        wanted = ds.ScheduledProcedureStepSequence[0]
        for entry in SCHEDULE:
            item = worklist_item(*entry)
            step = item.ScheduledProcedureStepSequence[0]
            if (step.Modality, step.ScheduledProcedureStepStartDate) == (
                    wanted.Modality, wanted.ScheduledProcedureStepStartDate):
                yield item, statuses.C_FIND_PENDING


def main(port):
    ris = RIS('RIS', port).add_scp(sc.modality_work_list_scp)
    with ris:
        client = ae.ClientAE('CT1').add_scu(sc.modality_work_list_scu)
        q = Dataset()
        q.PatientName = ''
        q.AccessionNumber = ''
        q.ScheduledProcedureStepSequence = [Dataset()]
        q.ScheduledProcedureStepSequence[0].Modality = 'CT'
        q.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate = '20240131'
        q.ScheduledProcedureStepSequence[0].ScheduledStationAETitle = ''
        remote = {'aet': 'RIS', 'address': '127.0.0.1', 'port': port}
        with client.request_association(remote) as assoc:
            mwl = assoc.get_scu(uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS)
            for item, status in mwl(q, 1):
                if status.is_pending:
                    step = item.ScheduledProcedureStepSequence[0]
                    print('scheduled', item.PatientName, item.AccessionNumber,
                          step.ScheduledStationAETitle)
                else:
                    print('worklist', status)


if __name__ == '__main__':
    main(int(sys.argv[1]))
