"""Data set encoding helpers over pydicom: bytes in a given transfer syntax and back.

Usage::

    from pynetdicom2 import dsutils
    raw = dsutils.encode(ds, is_implicit_vr=True, is_little_endian=True)
    same = dsutils.decode(raw, True, True)
"""

from __future__ import annotations

import array
import copy
import os
import zlib
from typing import Any

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_data_element, write_dataset
from pydicom.sequence import Sequence

from pynetdicom2.exceptions import NetDICOMError


def _buffer(is_implicit_vr: bool, is_little_endian: bool) -> DicomBytesIO:
    buffer = DicomBytesIO()
    buffer.is_implicit_VR = is_implicit_vr
    buffer.is_little_endian = is_little_endian
    return buffer


def decode(rawstr: bytes, is_implicit_vr: bool, is_little_endian: bool) -> Dataset:
    """Decode an encoded data set (no preamble, no file meta) into a :class:`Dataset`."""
    fp = DicomBytesIO(rawstr)
    # pydicom annotates read_dataset's fp as BinaryIO, yet reads its own DicomBytesIO too.
    return read_dataset(fp, is_implicit_vr, is_little_endian)  # type: ignore[arg-type]


def encode(ds: Dataset, is_implicit_vr: bool, is_little_endian: bool) -> bytes:
    """Encode ``ds`` in the given transfer syntax; an empty data set gives ``b''``."""
    buffer = _buffer(is_implicit_vr, is_little_endian)
    write_dataset(buffer, ds)
    return buffer.getvalue()


def encode_element(elem: DataElement, is_implicit_vr: bool, is_little_endian: bool) -> bytes:
    """Encode one data element in the given transfer syntax."""
    buffer = _buffer(is_implicit_vr, is_little_endian)
    write_data_element(buffer, elem)
    return buffer.getvalue()


#: PS3.5 A.5: the deflate algorithm of RFC 1951 alone, without the zlib header and checksum.
_RAW_DEFLATE = -zlib.MAX_WBITS


def deflate(raw: bytes) -> bytes:
    """Deflate an encoded data set (PS3.5 A.5), padded to an even length with one NUL byte.

    >>> len(deflate(b'')) % 2, inflate(deflate(b'abc' * 100)) == b'abc' * 100
    (0, True)
    """
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, _RAW_DEFLATE)
    deflated = compressor.compress(raw) + compressor.flush()
    # PS3.5 A.5: an odd-length deflated stream gets a trailing NUL, which inflating ignores
    # (it lies past the end of the stream); PS3.8 E.1 wants even fragments.
    return deflated + b'\0' if len(deflated) % 2 else deflated


def inflate(data: bytes | bytearray | memoryview) -> bytes:
    """The encoded data set inside a deflated one (PS3.5 A.5); a trailing pad is ignored."""
    return zlib.decompress(data, _RAW_DEFLATE)


# pydicom 3 renamed write_like_original=False (write a conformant Part-10 file) to
# enforce_file_format=True; both majors are supported.
_ENFORCE_FILE_FORMAT = (
    {'enforce_file_format': True} if int(pydicom.__version__.split('.')[0]) >= 3
    else {'write_like_original': False}
)


def save_part10(ds: Dataset, path: str | os.PathLike[str]) -> None:
    """Write ``ds`` to ``path`` as a DICOM Part-10 file: preamble, ``DICM``, file meta (from
    ``ds.file_meta``, completed where pydicom can), then the data set."""
    ds.save_as(path, **_ENFORCE_FILE_FORMAT)


#: PS3.5 7.3: values of these VRs are words of the given size, in the data set's byte order.
_WORD_SIZES = {'OW': 2, 'OF': 4, 'OL': 4, 'OD': 8, 'OV': 8}
_ARRAY_CODES = {2: 'H', 4: 'I', 8: 'Q'}


def swap_word_values(ds: Dataset) -> None:
    """Swap the bytes of every OW/OF/OL/OD/OV value of ``ds`` (and its items) in place.

    For a data set re-encoded in the other byte order (PS3.5 7.3): pydicom keeps these
    values as the bytes they were read as and writes them back unchanged, so the words must
    be swapped first. Raises :class:`~pynetdicom2.exceptions.NetDICOMError` on a platform
    without an array type of the word size.

    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset()
    >>> ds.add_new(0x7FE00010, 'OW', b'\\x00\\x01\\x00\\x02')
    >>> swap_word_values(ds)
    >>> ds.PixelData
    b'\\x01\\x00\\x02\\x00'
    """
    for element in ds:
        if element.VR == 'SQ':
            for item in element.value or ():
                swap_word_values(item)
            continue
        size = _WORD_SIZES.get(element.VR)
        value = element.value
        if size is None or not value or len(value) % size:
            continue
        words = array.array(_ARRAY_CODES[size])
        if words.itemsize != size:  # pragma: no cover - exotic platforms
            raise NetDICOMError(f'cannot swap {element.VR} words on this platform')
        words.frombytes(bytes(value))
        words.byteswap()
        element.value = words.tobytes()


def deep_copy(value: Any) -> Any:
    """A deep copy of a Dataset, a DataElement, a Sequence or any other value.

    pydicom 2.4's ``Dataset.__deepcopy__`` fails on an element whose value is a sequence of
    datasets that point back to their parent; copying element by element works on every
    supported pydicom.

    >>> ds = Dataset(); ds.PatientName = 'Doe^Jane'; ds.ReferencedSeriesSequence = [Dataset()]
    >>> copied = deep_copy(ds)
    >>> copied == ds, copied.ReferencedSeriesSequence[0] is ds.ReferencedSeriesSequence[0]
    (True, False)
    """
    if isinstance(value, Dataset):
        copied = Dataset()
        for element in value:
            copied.add(deep_copy(element))
        return copied
    if isinstance(value, DataElement):
        return DataElement(value.tag, value.VR, deep_copy(value.value), already_converted=True,
                           is_undefined_length=value.is_undefined_length)
    if isinstance(value, Sequence):
        return Sequence([deep_copy(item) for item in value])
    return copy.deepcopy(value)
