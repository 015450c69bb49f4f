"""Tests written against the pynetdicom2 pytest plugin: no set-up, a real SCP on loopback.

``upload`` stands for the code you want to test: anything that sends data sets with C-STORE.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.exceptions import AssociationRejectedError
from pynetdicom2.loopback import make_study, query


def upload(datasets: Iterable[Dataset], host: str, port: int, called_aet: str,
           calling_aet: str = 'UPLOADER') -> int:
    """Send every data set with C-STORE; return how many were stored."""
    datasets = list(datasets)
    client = ae.ClientAE(calling_aet).add_scu(
        sc.storage_scu, sorted({ds.SOPClassUID for ds in datasets} or {uids.CT_IMAGE_STORAGE}))
    remote = {'aet': called_aet, 'address': host, 'port': port}
    stored = 0
    with client.request_association(remote) as assoc:
        for message_id, ds in enumerate(datasets, start=1):
            status = assoc.get_scu(ds.SOPClassUID)(ds, message_id)
            stored += status.is_success
    return stored


# --- start uploader test
def test_uploader_sends_the_study(dicom_scp, dicom_dataset):
    ds = dicom_dataset(PatientID='P1')
    assert upload([ds], host=dicom_scp.address, port=dicom_scp.port,
                  called_aet=dicom_scp.ae_title) == 1
    assert [request.command for request in dicom_scp.requests] == ['C-STORE']
    assert dicom_scp.requests[0].calling_aet == 'UPLOADER'
    assert dicom_scp.received[0].PatientID == 'P1'
# --- end uploader test


# --- start query test
def test_the_stored_studies_can_be_found(dicom_scp, dicom_client):
    dicom_scp.add(*make_study(series=2, instances=3, PatientID='P1'))
    matches = dicom_client.find(query('STUDY', PatientID='P*', StudyInstanceUID=''))
    assert [match.PatientID for match in matches] == ['P1']
# --- end query test


# --- start rejection test
def test_a_rejection_reaches_the_caller(dicom_scp):
    dicom_scp.calling_aets = {'SOMEONE-ELSE'}
    with pytest.raises(AssociationRejectedError) as rejected:
        upload([], host=dicom_scp.address, port=dicom_scp.port, called_aet=dicom_scp.ae_title)
    assert (rejected.value.result, rejected.value.source, rejected.value.diagnostic) == (1, 1, 3)
# --- end rejection test
