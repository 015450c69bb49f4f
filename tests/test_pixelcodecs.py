"""Compressed pixel data decoded for a peer that takes only uncompressed syntaxes
(pynetdicom2.pixelcodecs, the ``codecs`` extra; pydicom 3)."""

from __future__ import annotations

import pytest
from aetools import fast, serving
from pydicom import dcmread

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import commands, pixelcodecs, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.loopback import make_dataset, write_dataset

CT = uids.CT_IMAGE_STORAGE
RLE = uids.RLE_LOSSLESS

needs_rle = pytest.mark.skipif(
    not pixelcodecs.can_decompress(RLE),
    reason="no pixel data decoders here (pydicom 3 and numpy: pip install "
           "'pynetdicom2[codecs]', Python 3.10 or later)")


def rle_file(directory):
    import numpy as np

    ds = make_dataset(CT)
    ds.Rows, ds.Columns = 64, 48
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation, ds.SamplesPerPixel = 15, 0, 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.PixelData = np.arange(64 * 48, dtype='<u2').reshape(64, 48).tobytes()
    ds.compress(RLE, generate_instance_uid=False)
    return ds, write_dataset(ds, directory)


def implicit_only_archive(directory):
    archive = ae.StorageAE(directory, 'ARCHIVE', 0, host='127.0.0.1')
    archive.add_scp(sc.storage_scp)
    archive.transfer_syntaxes_by_sop_class = {CT: [uids.ImplicitVRLittleEndian]}
    return archive


def remote(archive):
    return {'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': archive.local_ae.port}


def test_uncompressed_syntaxes_are_not_decoded():
    assert not pixelcodecs.can_decompress(uids.ExplicitVRLittleEndian)
    assert not pixelcodecs.can_decompress(RLE, uids.JPEG_BASELINE_PROCESS_1)


@needs_rle
def test_an_rle_file_is_decoded_for_an_archive_that_takes_implicit_vr_only(tmp_path):
    ds, path = rle_file(tmp_path)
    with serving(implicit_only_archive(tmp_path / 'in')) as archive:
        assert commands.store('SCU', remote(archive), path).is_success
    stored = dcmread(tmp_path / 'in' / f'{ds.SOPInstanceUID}.dcm')
    assert stored.file_meta.TransferSyntaxUID == uids.ImplicitVRLittleEndian
    assert stored.SOPInstanceUID == ds.SOPInstanceUID
    assert (stored.pixel_array == dcmread(path).pixel_array).all()


@needs_rle
def test_an_archive_that_takes_rle_gets_the_file_as_it_is(tmp_path):
    """The compressed syntax has a context of its own: accepted, nothing is decoded."""
    ds, path = rle_file(tmp_path)
    archive = ae.StorageAE(tmp_path / 'in', 'ARCHIVE', 0, uids.ALL_TS, host='127.0.0.1')
    with serving(archive.add_scp(sc.storage_scp)) as archive:
        assert commands.store('SCU', remote(archive), path).is_success
    stored = tmp_path / 'in' / f'{ds.SOPInstanceUID}.dcm'
    assert dcmread(stored).file_meta.TransferSyntaxUID == RLE
    assert dcmread(stored).PixelData == dcmread(path).PixelData


@needs_rle
def test_a_file_that_does_not_decode_is_named_and_the_association_goes_on(tmp_path):
    ds, path = rle_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-40] + bytes(40))  # the RLE segments ruined, the structure whole
    client = fast(ae.ClientAE('SCU', [uids.ImplicitVRLittleEndian])).add_scu(sc.storage_scu, [CT])
    with serving(implicit_only_archive(tmp_path / 'in')) as archive:
        with client.request_association(remote(archive)) as assoc:
            store = assoc.get_scu(CT)
            try:
                store(path, 1)
            except NetDICOMError as exc:
                assert str(path) in str(exc)
            assert store(make_dataset(CT), 2).is_success


@needs_rle
@pytest.mark.parametrize('target', sorted(pixelcodecs.LOSSLESS))
def test_compression_on_request_is_lossless(tmp_path, target):
    """A client that proposes a lossless compressed syntax (and nothing else) gets its
    uncompressed file compressed to it when the archive accepts it."""
    if not pixelcodecs.can_compress(uids.ExplicitVRLittleEndian, target):
        pytest.skip(f'no encoder for {target} here')
    ds, rle_path = rle_file(tmp_path)
    plain = dcmread(rle_path)
    plain.decompress(generate_instance_uid=False)
    (tmp_path / 'plain').mkdir()
    path = write_dataset(plain, tmp_path / 'plain')  # Explicit VR Little Endian
    archive = ae.StorageAE(tmp_path / 'in', 'ARCHIVE', 0, uids.ALL_TS, host='127.0.0.1')
    client = fast(ae.ClientAE('SCU', [target])).add_scu(sc.storage_scu, [CT])
    with serving(archive.add_scp(sc.storage_scp)) as archive:
        with client.request_association(remote(archive)) as assoc:
            assert assoc.get_scu(CT)(path, 1).is_success
    stored = dcmread(tmp_path / 'in' / f'{ds.SOPInstanceUID}.dcm')
    assert stored.file_meta.TransferSyntaxUID == target
    assert (stored.pixel_array == plain.pixel_array).all()


def test_lossy_syntaxes_are_never_a_compression_target():
    assert not pixelcodecs.can_compress(uids.ExplicitVRLittleEndian,
                                        uids.JPEG_BASELINE_PROCESS_1)
    assert uids.JPEG_BASELINE_PROCESS_1 not in pixelcodecs.LOSSLESS


@needs_rle
@pytest.mark.parametrize('source', sorted(pixelcodecs.LOSSLESS))
def test_every_lossless_syntax_we_write_is_decoded_for_an_implicit_only_archive(
        tmp_path, source):
    """JPEG-LS and JPEG 2000 too (DCMTK makes no JPEG 2000 file: pydicom's encoders do)."""
    if not (pixelcodecs.can_compress(uids.ExplicitVRLittleEndian, source)
            and pixelcodecs.can_decompress(source)):
        pytest.skip(f'no encoder or decoder for {source} here')
    ds, rle_path = rle_file(tmp_path)
    plain = dcmread(rle_path)
    plain.decompress(generate_instance_uid=False)
    (tmp_path / 'plain').mkdir()
    compressed = pixelcodecs.compressed(write_dataset(plain, tmp_path / 'plain'), source)
    (tmp_path / 'src').mkdir()
    path = write_dataset(compressed, tmp_path / 'src')
    with serving(implicit_only_archive(tmp_path / 'in')) as archive:
        assert commands.store('SCU', remote(archive), path).is_success
    stored = dcmread(tmp_path / 'in' / f'{ds.SOPInstanceUID}.dcm')
    assert stored.file_meta.TransferSyntaxUID == uids.ImplicitVRLittleEndian
    assert (stored.pixel_array == plain.pixel_array).all()
