"""Custom services: an SCP function, a MessageDispatcherSCP subclass and a matching SCU.

* ``checking_store_scp``: a C-STORE SCP written as a decorated function, with its data sets
  written to a file as they arrive (``@store_in_file``); it keeps them in the folder of a
  StorageAE, but refuses data sets without a Patient ID.
* ``Counter``: an SCP for a made-up SOP class, one method per DIMSE-N command (N-GET,
  N-ACTION), built on :class:`MessageDispatcherSCP`.
* ``counter_scu``: the SCU function that reads the counter.

One process plays both sides here; in real life the SCP and the SCU are two programs.
"""

import os
import tempfile
import threading

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import dsutils, statuses, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import AssociationAbortedError

#: A made-up SOP class for the example; use a UID under your own organisation's root.
COUNTER = '1.2.826.0.1.3680043.8.498.4242.1'
COUNTER_INSTANCE = '1.2.826.0.1.3680043.8.498.4242.1.1'


# [function-scp]
@sc.store_in_file  # the data set goes to ae.get_file(), not to memory
@sc.sop_classes([uids.CT_IMAGE_STORAGE, uids.MR_IMAGE_STORAGE])
def checking_store_scp(asce, ctx, msg):
    """A C-STORE SCP: ``msg.data_set`` is a Part-10 file object, at its preamble."""
    if not isinstance(msg, dm.CStoreRQMessage):
        asce.respond_unsupported(ctx.id, msg)  # e.g. a C-FIND on a storage context: 0122H
        return
    rsp = dm.CStoreRSPMessage()
    rsp.message_id_being_responded_to = msg.message_id
    rsp.sop_class_uid = msg.sop_class_uid
    rsp.affected_sop_instance_uid = msg.affected_sop_instance_uid
    if msg.storage_error is not None:  # the file could not be written (disk full ...)
        rsp.status = int(statuses.C_STORE_OUT_OF_RESOURCES)
    elif msg.data_set is None:
        rsp.status = int(statuses.C_STORE_CANNOT_UNDERSTAND)
    else:
        ds = pydicom.dcmread(msg.data_set, stop_before_pixels=True)
        if ds.get('PatientID'):
            try:
                # Keep the file: a StorageAE renames it to <SOPInstanceUID>.dcm.
                asce.keep_received_file(msg.data_set, msg.command_set)
                rsp.status = int(statuses.SUCCESS)
            except OSError:
                rsp.status = int(statuses.C_STORE_OUT_OF_RESOURCES)
        else:
            rsp.status = 0xA900  # Error: data set does not match SOP class
    asce.send(rsp, ctx.id)
    # When the service returns, the association closes msg.data_set and, unless it was
    # kept, removes its file.


# [function-scp]


# [dispatcher-scp]
class Counter(sc.MessageDispatcherSCP):
    """N-GET reads the counter, N-ACTION type 1 increments it; other commands get 0122H."""

    sop_classes = [COUNTER]
    store_in_file = False

    def __init__(self):
        self.value = 0
        self.lock = threading.Lock()  # methods run on association threads, several at once

    def n_get(self, asce, ctx, msg):
        rsp = dm.NGetRSPMessage()
        rsp.message_id_being_responded_to = msg.message_id
        rsp.sop_class_uid = ctx.sop_class
        rsp.affected_sop_instance_uid = msg.requested_sop_instance_uid
        if msg.requested_sop_instance_uid != COUNTER_INSTANCE:
            rsp.status = 0x0112  # No such SOP instance
        else:
            attributes = Dataset()
            with self.lock:
                attributes.InstanceNumber = self.value
            rsp.status = int(statuses.SUCCESS)
            ts = ctx.supported_ts
            rsp.data_set = dsutils.encode(attributes, ts.is_implicit_VR, ts.is_little_endian)
        asce.send(rsp, ctx.id)

    def n_action(self, asce, ctx, msg):
        if msg.action_type_id == 99:
            # Any exception that leaves a service ends the association: it is aborted.
            raise RuntimeError('the counter fell over')
        rsp = dm.NActionRSPMessage()
        rsp.message_id_being_responded_to = msg.message_id
        rsp.sop_class_uid = ctx.sop_class
        rsp.affected_sop_instance_uid = msg.requested_sop_instance_uid
        rsp.action_type_id = msg.action_type_id
        if msg.action_type_id == 1:
            with self.lock:
                self.value += 1
            rsp.status = int(statuses.SUCCESS)
        else:
            rsp.status = 0x0123  # No such action
        asce.send(rsp, ctx.id)


# [dispatcher-scp]


# [scu]
@sc.sop_classes([COUNTER])
def counter_scu(asce, ctx, msg_id, increment=False):
    """Increment the counter (N-ACTION type 1) if asked, then read it (N-GET)."""
    if increment:
        rq = dm.NActionRQMessage()
        rq.message_id = msg_id
        rq.sop_class_uid = ctx.sop_class
        rq.requested_sop_instance_uid = COUNTER_INSTANCE
        rq.action_type_id = 1
        asce.send(rq, ctx.id)
        rsp, _ = asce.receive()  # waits ae.dcm_timeout at most
        if rsp.status != 0:
            return statuses.Status(rsp.status, dm.NActionRSPMessage), None
        msg_id += 1
    rq = dm.NGetRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = ctx.sop_class
    rq.requested_sop_instance_uid = COUNTER_INSTANCE
    asce.send(rq, ctx.id)
    rsp, _ = asce.receive()
    status = statuses.Status(rsp.status, dm.NGetRSPMessage)
    if not status.is_success or not rsp.data_set:
        return status, None
    ts = ctx.supported_ts
    return status, dsutils.decode(rsp.data_set, ts.is_implicit_VR, ts.is_little_endian)


# [scu]


def ct(patient_id):
    ds = Dataset()
    ds.SOPClassUID = uids.CT_IMAGE_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = 'CT'
    if patient_id:
        ds.PatientID = patient_id
    return ds


# [run]
with tempfile.TemporaryDirectory() as folder:
    scp = ae.StorageAE(folder, 'CUSTOM', 0, host='127.0.0.1')
    scp.add_scp(checking_store_scp).add_scp(Counter())
    with scp:
        remote = {'aet': 'CUSTOM', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        client = ae.ClientAE('SCU')
        client.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE]).add_scu(counter_scu)
        with client.request_association(remote) as assoc:
            store = assoc.get_scu(uids.CT_IMAGE_STORAGE)
            print('SCU: C-STORE with a patient ID:', store(ct('P1'), 1))
            print('SCU: C-STORE without one:', store(ct(''), 2))
            counter = assoc.get_scu(COUNTER)
            status, attributes = counter(3, increment=True)
            print('SCU: counter after one increment:', attributes.InstanceNumber, status)
            status, attributes = counter(5, increment=True)
            print('SCU: counter after two increments:', attributes.InstanceNumber, status)

        # The generic N-ACTION SCU, registered for the same class on another client AE
        # (an AE has one SCU per SOP class). Action 99 makes the SCP raise: it aborts.
        other = ae.ClientAE('OTHER').add_scu(sc.n_action_scu, [COUNTER])
        try:
            with other.request_association(remote) as assoc:
                unknown = assoc.get_scu(COUNTER)(COUNTER_INSTANCE, 7, 1)
                print('SCU: N-ACTION type 7:', unknown.status)
                assoc.get_scu(COUNTER)(COUNTER_INSTANCE, 99, 2)
        except AssociationAbortedError as exc:
            print(f'SCU: N-ACTION type 99: association aborted (source {exc.source})')
    print('SCP folder:', sorted(os.listdir(folder)))
# [run]
