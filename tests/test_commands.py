"""One-call helpers: verify, store (path or Dataset) and the storage SCP, against each other."""

from __future__ import annotations

import os

import pytest
from aetools import dataset, same_elements, write_file
from pydicom import dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate

import pynetdicom2
from pynetdicom2 import commands, sopclass, uids
from pynetdicom2.exceptions import AssociationAbortedError, NetDICOMError


@pytest.fixture
def scp(tmp_path):
    with commands.storage(tmp_path / 'in', 'STORESCP', 0, host='127.0.0.1') as ae:
        ae.artim_timeout = 2.0
        ae.network_timeout = 5.0
        yield ae


def remote(ae):
    return {'aet': ae.ae_title, 'address': '127.0.0.1', 'port': ae.local_ae.port}


def test_top_level_names():
    assert pynetdicom2.verify is commands.verify
    assert pynetdicom2.store is commands.store
    assert pynetdicom2.storage is commands.storage
    assert pynetdicom2.PContextDef(1, '1.2', '1.2.3').supported_ts == '1.2.3'


def test_storage_registers_the_storage_and_verification_scps(scp):
    assert scp.supported_scp[uids.CT_IMAGE_STORAGE] is sopclass.storage_scp
    assert scp.supported_scp[uids.VERIFICATION_SOP_CLASS] is sopclass.verification_scp
    assert scp.supported_ts == uids.ALL_TS


def test_verify(scp):
    assert commands.verify('SCU', remote(scp)).is_success


@pytest.mark.parametrize(
    'ts', [uids.ExplicitVRLittleEndian, uids.ImplicitVRLittleEndian, uids.ExplicitVRBigEndian]
)
def test_store_a_path(scp, tmp_path, ts):
    ds = dataset(pixel_bytes=1000)
    path = write_file(tmp_path / 'f.dcm', ds, ts)
    assert commands.store('SCU', remote(scp), str(path)).is_success
    stored = dcmread(scp.storage_dir / f'{ds.SOPInstanceUID}.dcm')
    assert stored.file_meta.TransferSyntaxUID == ts
    assert same_elements(stored, ds)


def test_store_a_dataset(scp):
    ds = dataset()
    assert commands.store('SCU', remote(scp), ds).is_success
    assert same_elements(dcmread(scp.storage_dir / f'{ds.SOPInstanceUID}.dcm'), ds)


def test_store_a_compressed_file_as_it_is(scp, tmp_path):
    ds = dataset()
    ds.PixelData = encapsulate([b'\xff\xd8not-really-jpeg\xff\xd9'])
    ds['PixelData'].VR = 'OB'
    path = write_file(tmp_path / 'jpeg.dcm', ds, uids.JPEG_BASELINE_PROCESS_1)
    assert commands.store('SCU', remote(scp), path).is_success
    stored = scp.storage_dir / f'{ds.SOPInstanceUID}.dcm'
    assert dcmread(stored).file_meta.TransferSyntaxUID == uids.JPEG_BASELINE_PROCESS_1
    assert dcmread(stored).PixelData == ds.PixelData


def test_store_a_dataset_with_its_own_transfer_syntax(scp):
    ds = dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uids.ExplicitVRBigEndian
    assert commands.store('SCU', remote(scp), ds).is_success
    stored = dcmread(scp.storage_dir / f'{ds.SOPInstanceUID}.dcm')
    assert stored.file_meta.TransferSyntaxUID == uids.ExplicitVRBigEndian


def test_store_refuses_what_it_cannot_send(scp, tmp_path):
    with pytest.raises(NetDICOMError, match='SOPClassUID'):
        commands.store('SCU', remote(scp), dataset(sop_class=''))
    (tmp_path / 'junk').write_bytes(b'x' * 300)
    with pytest.raises(NetDICOMError, match='not a DICOM'):
        commands.store('SCU', remote(scp), tmp_path / 'junk')
    with pytest.raises(FileNotFoundError):
        commands.store('SCU', remote(scp), tmp_path / 'missing.dcm')
    assert os.listdir(scp.storage_dir) == []


def test_verify_an_absent_peer_fails_clearly(scp):
    port = scp.local_ae.port
    scp.quit()
    with pytest.raises(AssociationAbortedError, match='cannot connect'):
        commands.verify('SCU', {'aet': 'X', 'address': '127.0.0.1', 'port': port})


def test_the_readme_example_runs(capsys, tmp_path):
    """README's "run it" command: examples/store_loopback.py, with and without files."""
    import runpy
    from pathlib import Path

    example = runpy.run_path(str(Path(__file__).parents[1] / 'examples' / 'store_loopback.py'))
    assert example['main']([]) == 0
    path = write_file(tmp_path / 'ct.dcm', dataset())
    assert example['main']([str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count('C-STORE  (0x0) Success') == 2 and out.count('received ') == 2
