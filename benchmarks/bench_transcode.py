"""Rates of pynetdicom2.transcode: a small data set, and a large pixel value, between the
uncompressed transfer syntaxes.

Run it from the repository root::

    python benchmarks/bench_transcode.py            # best of 5 repeats
    python benchmarks/bench_transcode.py --quick    # fewer, smaller runs, noisier numbers

Small: a CT-like data set of about 2.5 kB (patient, study, series and image modules, a
nested sequence, a private block, 1 kB of pixel data), microseconds per conversion.
Large: 64 MiB of 16-bit pixel data read from a temporary file, MB/s of data set converted
(1 MB = 10**6 bytes), with the chunk size at its default (1 MiB). The pixels are 12-bit
noise: deflate rates depend on the data (a smooth image deflates faster and smaller).
"""

from __future__ import annotations

import argparse
import array
import io
import os
import random
import struct
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402

from pynetdicom2 import dsutils, transcode, uids  # noqa: E402

IMPLICIT = str(uids.ImplicitVRLittleEndian)
EXPLICIT = str(uids.ExplicitVRLittleEndian)
BIG = str(uids.ExplicitVRBigEndian)
DEFLATED = str(uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
NAMES = {IMPLICIT: 'implicit', EXPLICIT: 'explicit', BIG: 'big', DEFLATED: 'deflated'}
CASES = [(IMPLICIT, EXPLICIT), (IMPLICIT, BIG), (EXPLICIT, BIG), (EXPLICIT, IMPLICIT),
         (EXPLICIT, DEFLATED), (DEFLATED, EXPLICIT), (DEFLATED, IMPLICIT)]


def small_dataset() -> Dataset:
    """About 2.5 kB in implicit VR: the attributes of a typical CT header, and 1 kB of
    pixel data."""
    ds = Dataset()
    for keyword, value in {
        'SpecificCharacterSet': 'ISO_IR 100', 'ImageType': ['ORIGINAL', 'PRIMARY', 'AXIAL'],
        'SOPClassUID': uids.CT_IMAGE_STORAGE, 'SOPInstanceUID': '1.2.826.0.1.3680043.9.1.2.3',
        'StudyDate': '20240131', 'SeriesDate': '20240131', 'StudyTime': '101010',
        'AccessionNumber': 'A123456', 'Modality': 'CT', 'Manufacturer': 'Example',
        'InstitutionName': 'General Hospital', 'ReferringPhysicianName': 'Doe^John',
        'StudyDescription': 'CT CHEST', 'SeriesDescription': 'AXIAL 1.0',
        'PatientName': 'Doe^Jane', 'PatientID': 'ID-000123', 'PatientBirthDate': '19700101',
        'PatientSex': 'F', 'PatientAge': '054Y', 'SliceThickness': '1.0', 'KVP': '120',
        'StudyInstanceUID': '1.2.826.0.1.3680043.9.1.2', 'SeriesInstanceUID': '1.2.826.0.1.3',
        'StudyID': '1', 'SeriesNumber': '3', 'InstanceNumber': '42',
        'ImagePositionPatient': ['-250.0', '-250.0', '-120.5'],
        'ImageOrientationPatient': ['1', '0', '0', '0', '1', '0'],
        'FrameOfReferenceUID': '1.2.826.0.1.3680043.9.1.4', 'SliceLocation': '-120.5',
        'SamplesPerPixel': 1, 'PhotometricInterpretation': 'MONOCHROME2', 'Rows': 16,
        'Columns': 32, 'PixelSpacing': ['0.7', '0.7'], 'BitsAllocated': 16, 'BitsStored': 12,
        'HighBit': 11, 'PixelRepresentation': 0, 'WindowCenter': '40', 'WindowWidth': '400',
        'RescaleIntercept': '-1024', 'RescaleSlope': '1',
    }.items():
        setattr(ds, keyword, value)
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = '121311', 'DCM', 'Local'
    reference = Dataset()
    reference.ReferencedSOPClassUID = uids.CT_IMAGE_STORAGE
    reference.ReferencedSOPInstanceUID = '1.2.826.0.1.3680043.9.1.2.2'
    reference.PurposeOfReferenceCodeSequence = Sequence([code])
    ds.ReferencedImageSequence = Sequence([reference])
    ds.add_new(0x00290010, 'LO', 'EXAMPLE PRIVATE')
    for element in range(0x1001, 0x1011):
        ds.add_new(0x00290000 | element, 'LO', f'private value {element}')
    ds.PixelData = bytes(range(256)) * 4
    ds['PixelData'].VR = 'OW'
    return ds


def encoded(ds: Dataset, syntax: str) -> bytes:
    if syntax == IMPLICIT:
        return dsutils.encode(ds, True, True)
    if syntax == BIG:
        return dsutils.encode(ds, False, False)
    raw = dsutils.encode(ds, False, True)
    return dsutils.deflate(raw) if syntax == DEFLATED else raw


def bench_small(repeat: int, number: int) -> None:
    ds = small_dataset()
    print(f'small data set ({len(encoded(ds, IMPLICIT))} bytes in implicit VR)')
    for source, target in CASES:
        data = encoded(ds, source)
        best = min(timeit.repeat(lambda: transcode.convert_bytes(data, source, target),  # noqa: B023
                                 repeat=repeat, number=number)) / number
        print(f'  {NAMES[source]:>9} -> {NAMES[target]:<9} {best * 1e6:8.1f} us')


def pixel_block() -> bytes:
    """1 MiB of 12-bit noise in 16-bit words: deflate finds little to share in it, as in
    a real image's pixel data."""
    noise = random.Random(1)
    return array.array('H', (noise.getrandbits(12) for _ in range(512 * 1024))).tobytes()


def large_file(folder: str, syntax: str, size: int) -> str:
    """A data set with ``size`` bytes of 16-bit pixel data, written in ``syntax``."""
    ds = small_dataset()
    del ds.PixelData
    head = encoded(ds, EXPLICIT if syntax == DEFLATED else syntax)
    if syntax == IMPLICIT:
        head += struct.pack('<HHI', 0x7FE0, 0x0010, size)
    else:
        head += struct.pack('<HH2sHI' if syntax != BIG else '>HH2sHI', 0x7FE0, 0x0010,
                            b'OW', 0, size)
    block = pixel_block()
    path = os.path.join(folder, NAMES[syntax])
    with open(path, 'wb') as fp:
        if syntax == DEFLATED:
            fp.write(b''.join(transcode.convert(io.BytesIO(head + block * (size // len(block))),
                                                EXPLICIT, DEFLATED)))
        else:
            fp.write(head)
            for _ in range(size // len(block)):
                fp.write(block)
    return path


def bench_large(repeat: int, size: int) -> None:
    print(f'large value ({size >> 20} MiB of OW pixel data, from a file)')
    with tempfile.TemporaryDirectory() as folder:
        paths = {syntax: large_file(folder, syntax, size) for syntax in NAMES}
        for source, target in CASES:
            best = float('inf')
            for _ in range(repeat):
                with open(paths[source], 'rb') as fp:
                    began = time.perf_counter()
                    for _piece in transcode.convert(fp, source, target):
                        pass
                    best = min(best, time.perf_counter() - began)
            print(f'  {NAMES[source]:>9} -> {NAMES[target]:<9} {size / best / 1e6:8.0f} MB/s')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='fewer, smaller runs')
    quick = parser.parse_args().quick
    bench_small(repeat=3 if quick else 5, number=200 if quick else 2000)
    bench_large(repeat=1 if quick else 3, size=(16 if quick else 64) << 20)


if __name__ == '__main__':
    main()
