"""Identifiers: the small data sets of C-FIND, C-MOVE and C-GET, encoded and decoded quickly.

This module owns the conversion between a :class:`~pydicom.dataset.Dataset` identifier (PS3.4
C.4.1.1.3: query keys, matches, the Failed SOP Instance UID List) and the bytes of a DIMSE data
set in an accepted transfer syntax, including Deflated (PS3.5 A.5) and encapsulated syntaxes
(an identifier has no pixel data: PS3.5 A.4 makes it explicit VR little endian). It does not
know about messages, contexts or associations (:mod:`pynetdicom2.sopclass` does).

Why a module of its own: a Q/R SCP answers thousands of matches per request, and pydicom's
general writer spends most of that time on checks a flat identifier of strings and numbers
never needs. :func:`encode_identifier` therefore writes such data sets itself (PS3.5 7.1:
tag, VR, length, value, padded to even length) and hands anything else to pydicom: sequences,
binary and ambiguous VRs, and text that is not plain ASCII (whose bytes depend on the
Specific Character Set). The fast path gives exactly the bytes pydicom would
(``tests/test_identifiers.py`` compares them).

Usage::

    from pynetdicom2.identifiers import decode_identifier, encode_identifier

    data = encode_identifier(match, context.supported_ts)
    match = decode_identifier(data, context.supported_ts)
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import PersonName

from pynetdicom2 import dsutils

__all__ = ['decode_identifier', 'encode_identifier']

#: PS3.5 6.2: VRs whose value is text with no character set of its own (always ASCII here).
_TEXT_VRS = frozenset(
    {'AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI',
     'UR', 'UT'}
)
#: PS3.5 6.2: VRs holding binary numbers, and their struct codes.
_NUMBER_VRS = {'US': 'H', 'SS': 'h', 'UL': 'I', 'SL': 'i', 'FL': 'f', 'FD': 'd', 'SV': 'q',
               'UV': 'Q'}
#: PS3.5 7.1.2: in explicit VR these VRs have a 2-byte reserved field and a 4-byte length.
_LONG_LENGTH_VRS = frozenset(
    {'OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV'}
)


class _Unsuitable(Exception):
    """The data set needs pydicom's writer (it is not a flat, ASCII identifier)."""


def _text(value: Any) -> str:
    """One text value as pydicom writes it (numbers keep the string they were read from)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ''
    original = getattr(value, 'original_string', None)
    if isinstance(original, str):
        return original
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _Unsuitable


def _value_bytes(element: DataElement, little: bool) -> bytes:
    vr = element.VR
    value = element.value
    if vr in _TEXT_VRS:
        if isinstance(value, (MultiValue, list, tuple)):
            text = '\\'.join(_text(v) for v in value)
        else:
            text = _text(value)
        if not text.isascii():
            raise _Unsuitable  # the bytes depend on the character set: pydicom's job
        raw = text.encode('ascii')
        if len(raw) % 2:
            raw += b'\0' if vr == 'UI' else b' '  # PS3.5 6.2: UI pads with NUL, text with space
        return raw
    code = _NUMBER_VRS.get(vr)
    if code is None:
        raise _Unsuitable
    if value is None or value == '':
        return b''
    order = '<' if little else '>'
    if isinstance(value, (MultiValue, list, tuple)):
        return struct.pack(f'{order}{len(value)}{code}', *value)
    return struct.pack(order + code, value)


def _fast_encode(ds: Dataset, implicit: bool, little: bool) -> bytes:
    order = '<' if little else '>'
    implicit_header = struct.Struct(order + 'HHI')
    short_header = struct.Struct(order + 'HH2sH')
    long_header = struct.Struct(order + 'HH2sHI')
    parts: list[bytes] = []
    for element in ds.elements():
        if not isinstance(element, DataElement):
            raise _Unsuitable  # still raw: it keeps the encoding it was read with
        tag = element.tag
        group, number = tag >> 16, tag & 0xFFFF
        value = _value_bytes(element, little)
        if implicit:
            parts.append(implicit_header.pack(group, number, len(value)))
        elif element.VR in _LONG_LENGTH_VRS:
            parts.append(long_header.pack(group, number, element.VR.encode(), 0, len(value)))
        else:
            if len(value) > 0xFFFF:
                raise _Unsuitable
            parts.append(short_header.pack(group, number, element.VR.encode(), len(value)))
        parts.append(value)
    return b''.join(parts)


def _encode(ds: Dataset, implicit: bool, little: bool) -> bytes:
    try:
        return _fast_encode(ds, implicit, little)
    except (_Unsuitable, struct.error, TypeError, ValueError, OverflowError):
        return dsutils.encode(ds, implicit, little)


def encode_identifier(ds: Dataset, ts: str) -> bytes:
    """Encode an identifier in the accepted transfer syntax ``ts``.

    >>> from pynetdicom2 import uids
    >>> query = Dataset()
    >>> query.QueryRetrieveLevel = 'STUDY'
    >>> query.StudyInstanceUID = ''
    >>> encode_identifier(query, uids.ImplicitVRLittleEndian)[:8]   # (0008,0052), length 6
    b'\\x08\\x00R\\x00\\x06\\x00\\x00\\x00'
    """
    syntax = ts if isinstance(ts, UID) else UID(ts)
    if syntax.is_deflated:
        return dsutils.deflate(_encode(ds, False, True))
    if syntax.is_compressed:
        return _encode(ds, False, True)
    return _encode(ds, syntax.is_implicit_VR, syntax.is_little_endian)


def decode_identifier(data: Any, ts: str) -> Dataset:
    """Decode a received identifier: bytes, or a file a custom AE wrote it to (Part 10).

    >>> from pynetdicom2 import uids
    >>> query = Dataset()
    >>> query.QueryRetrieveLevel = 'STUDY'
    >>> data = encode_identifier(query, uids.ImplicitVRLittleEndian)   # as received
    >>> decode_identifier(data, uids.ImplicitVRLittleEndian).QueryRetrieveLevel
    'STUDY'
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        from pydicom import dcmread

        return dcmread(data, force=True)
    syntax = ts if isinstance(ts, UID) else UID(ts)
    raw = bytes(data)
    if syntax.is_deflated:
        return dsutils.decode(dsutils.inflate(raw), False, True)
    if syntax.is_compressed:
        return dsutils.decode(raw, False, True)
    return dsutils.decode(raw, syntax.is_implicit_VR, syntax.is_little_endian)
