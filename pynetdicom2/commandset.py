"""The command set of a DIMSE message (PS3.7 6.3.1, Annex E) as bytes, as a dict, as a Dataset.

A command set is a group 0000 data set, always encoded Implicit VR Little Endian (PS3.7 6.3.1).
:mod:`pynetdicom2.dimsemessages` keeps a message's command set in one of two forms: a *fields*
dict ``{element number: value}`` (new and received messages) or a pydicom
:class:`~pydicom.dataset.Dataset` (once someone reads ``command_set``). This module is the
codec of both forms and nothing else:

* the fast path: :func:`decode_fields` and :func:`encode_fields`, ``struct`` over the few VRs
  of the command dictionary, converting each value exactly as pydicom would;
* the general path: :func:`decode_command_set` and :func:`encode_element`, through pydicom,
  for whatever the fast path declines;
* :func:`fields_to_dataset`, from the first form to the second, and the value converters
  (:data:`FAST_SETTERS`) that keep a value in the fields form when it is set.

It knows no message classes, PDUs or sockets.

Usage::

    from pynetdicom2 import commandset

    fields = commandset.decode_fields(raw)     # None: let pydicom decode it
    if fields is None:
        dataset = commandset.decode_command_set(raw)
"""

from __future__ import annotations

import re
import struct
from typing import Any, Callable

from pydicom import config as pydicom_config
from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

from pynetdicom2.exceptions import DIMSEProcessingError

__all__ = [
    'NO_DATASET',
    'HAS_DATASET',
    'COMMAND_FIELD_TAG',
    'COMMAND_DATA_SET_TYPE_TAG',
    'COMMAND_VRS',
    'GROUP_LENGTH',
    'FAST_SETTERS',
    'SLOW',
    'decode_command_set',
    'decode_fields',
    'encode_element',
    'encode_fields',
    'fields_to_dataset',
    'vr_of',
]

# PS3.7 Annex E, Command Data Set Type (0000,0800): 0101H means no data set follows; any
# other value means one does. We send 0001H.
NO_DATASET = 0x0101
HAS_DATASET = 0x0001

#: Command Field (0000,0100) and Command Data Set Type (0000,0800), as fields-dict keys.
COMMAND_FIELD_TAG = 0x00000100
COMMAND_DATA_SET_TYPE_TAG = 0x00000800

#: (0000,0000) Command Group Length, UL: always 12 bytes.
GROUP_LENGTH = struct.Struct('<HHII')

_US_ELEMENT = struct.Struct('<HHIH')
_AT_ELEMENT = struct.Struct('<HHIHH')
_ELEMENT_HEADER = struct.Struct('<HHI')
_US_VALUE = struct.Struct('<H')
_UL_VALUE = struct.Struct('<I')
_AT_VALUE = struct.Struct('<HH')

_FAST_VRS = frozenset({'US', 'UL', 'UI', 'AE', 'LO', 'SH', 'AT'})
#: The command dictionary (PS3.7 Annex E, retired elements included): element number of
#: group 0000 -> VR, for the VRs this module decodes itself. Taken from pydicom's data
#: dictionary, so both decoders agree on every VR.
COMMAND_VRS: dict[int, str] = {
    tag: entry[0]
    for tag, entry in DicomDictionary.items()
    if tag >> 16 == 0 and entry[0] in _FAST_VRS
}
_BASE_TAGS: dict[int, BaseTag] = {tag: BaseTag(tag) for tag in COMMAND_VRS}
# PS3.5 Table 6.2-1 maximum lengths pydicom checks when it reads LO and SH (not AE).
_TEXT_MAX = {'LO': 64, 'SH': 16}
_MAX_UID = 64
# PS3.5 9.1: UID components without leading zeros. The fast path takes only what pydicom
# would accept without a word; anything else is left to pydicom (and its warnings).
_UID_BYTES = re.compile(rb'(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*')
_UID_TEXT = re.compile(r'(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*')
# Printable ASCII without the backslash (the value delimiter): text read as it is.
_PLAIN_TEXT = re.compile(rb'[\x20-\x5b\x5d-\x7e]*')
_IGNORE = pydicom_config.IGNORE


# --- the fast path: command elements as plain values ----------------------------------------
#
# A message keeps its command set as a dict {element number: value} until someone reads
# ``command_set``; only then is a pydicom Dataset built from it (DIMSEMessage.command_set).
# The dict holds exactly the values pydicom would hold (int, UID, str, BaseTag, MultiValue
# of BaseTag, or None), so the two forms are interchangeable. A value this module cannot
# convert exactly as pydicom does makes the message switch to its Dataset for good.

#: "Not for the fast path": what a converter of :data:`FAST_SETTERS` returns for a value it
#: leaves to pydicom.
SLOW = object()


def _fast_us(value: Any) -> Any:
    return value if type(value) is int and 0 <= value <= 0xFFFF else SLOW


def _fast_ul(value: Any) -> Any:
    return value if type(value) is int and 0 <= value <= 0xFFFFFFFF else SLOW


def _fast_ui(value: Any) -> Any:
    kind = type(value)
    if (kind is str or kind is UID) and len(value) <= _MAX_UID and _UID_TEXT.fullmatch(value):
        # Valid as pydicom checks UIDs, so UID() has nothing to warn about or strip.
        return value if kind is UID else UID(value, _IGNORE)
    return SLOW


#: VR -> converter of a value set on a message in the fields form: the value as pydicom would
#: hold it, or :data:`SLOW`.
FAST_SETTERS: dict[str, Callable[[Any], Any]] = {'US': _fast_us, 'UL': _fast_ul, 'UI': _fast_ui}


def vr_of(tag: int) -> str:
    """The VR of an element of group 0000: the command dictionary's, else pydicom's.

    >>> vr_of(0x0100), vr_of(0x1000)
    ('US', 'UI')
    """
    vr = COMMAND_VRS.get(tag)
    return vr if vr is not None else dictionary_VR(tag)


def fields_to_dataset(fields: dict[int, Any]) -> Dataset:
    """The pydicom Dataset of a fields dict (values are already converted)."""
    elements: dict[BaseTag, DataElement | RawDataElement] = {}
    for tag in sorted(fields):
        base = _BASE_TAGS.get(tag)
        if base is None:
            base = BaseTag(tag)
        elements[base] = DataElement(base, vr_of(tag), fields[tag], already_converted=True)
    return Dataset(elements)


def _malformed(raw: Any, why: str) -> DIMSEProcessingError:
    return DIMSEProcessingError(
        f'a command set of {len(raw)} bytes does not decode as Implicit VR Little Endian '
        f'(PS3.7 6.3.1): {why}'
    )


def decode_fields(raw: bytes) -> dict[int, Any] | None:
    """Decode a command set (Implicit VR Little Endian) into {element number: value}.

    The fast path of the reassembler: ``struct`` over the elements, each value converted
    here per its VR in the command dictionary, exactly as pydicom would convert it. Raises
    :class:`DIMSEProcessingError` for what no decoder could accept (a truncated element, an
    undefined length, a repeated element); returns None for anything merely unusual (an
    element outside the command dictionary or of another group, an empty or multi-valued
    value, a value pydicom would warn about or convert otherwise...), which
    :func:`decode_command_set` then decodes through pydicom.
    """
    fields: dict[int, Any] = {}
    end = len(raw)
    offset = 0
    header = _ELEMENT_HEADER.unpack_from
    while offset < end:
        if end - offset < 8:
            raise _malformed(raw, f'its last {end - offset} bytes are a truncated element')
        group, element, length = header(raw, offset)
        offset += 8
        if length > end - offset:
            if length == 0xFFFFFFFF:
                raise _malformed(
                    raw, f'element ({group:04X},{element:04X}) has an undefined length'
                )
            raise _malformed(
                raw,
                f'element ({group:04X},{element:04X}) is truncated: {length} bytes declared, '
                f'{end - offset} left',
            )
        vr = None if group else COMMAND_VRS.get(element)
        if vr is None or not length:
            return None
        if element in fields:
            raise _malformed(raw, f'element (0000,{element:04X}) is repeated')
        stop = offset + length
        if vr == 'US':
            if length != 2:
                return None
            value: Any = _US_VALUE.unpack_from(raw, offset)[0]
        elif vr == 'UI':
            uid = raw[offset:stop].rstrip(b'\0 ')
            if len(uid) > _MAX_UID or not _UID_BYTES.fullmatch(uid):
                return None
            value = UID(uid.decode('ascii'), _IGNORE)
        elif vr == 'UL':
            if length != 4:
                return None
            value = _UL_VALUE.unpack_from(raw, offset)[0]
        elif vr == 'AT':
            if length & 3:
                return None
            tags = [
                BaseTag((group_ << 16) | element_)
                for group_, element_ in _AT_VALUE.iter_unpack(raw[offset:stop])
            ]
            value = tags[0] if length == 4 else MultiValue(Tag, tags)
        else:  # AE, LO, SH
            data = raw[offset:stop]
            if not _PLAIN_TEXT.fullmatch(data):
                return None
            text = data.decode('ascii')
            if vr == 'AE':
                value = text.strip(' ')  # PS3.5: leading and trailing spaces are padding
            else:
                if length > _TEXT_MAX[vr]:
                    return None
                value = text.rstrip(' ')
        fields[element] = value
        offset = stop
    return fields


def encode_element(elem: DataElement) -> bytes:
    """One command element in Implicit VR Little Endian (PS3.5 7.1.3).

    The few VRs of the command dictionary (PS3.7 Annex E) are packed directly, which is
    several times faster than pydicom's generic writer; anything else goes through pydicom.
    """
    tag = elem.tag
    group, element = tag >> 16, tag & 0xFFFF
    vr = elem.VR
    value = elem.value
    try:
        if vr == 'US' and type(value) is int:
            return _US_ELEMENT.pack(group, element, 2, value)
        if vr == 'AT' and isinstance(value, BaseTag):
            return _AT_ELEMENT.pack(group, element, 4, value >> 16, value & 0xFFFF)
        if vr in ('UI', 'AE', 'LO', 'SH', 'CS') and isinstance(value, str):
            raw = value.encode('ascii')
            if len(raw) % 2:
                # PS3.5 6.2: UI is padded with a NUL byte, the text VRs with a space.
                raw += b'\0' if vr == 'UI' else b' '
            return b''.join((_ELEMENT_HEADER.pack(group, element, len(raw)), raw))
    except (struct.error, UnicodeEncodeError):
        pass  # let pydicom try (and explain) below
    buffer = DicomBytesIO()
    buffer.is_implicit_VR = True
    buffer.is_little_endian = True
    try:
        write_data_element(buffer, elem)
    except Exception as exc:
        raise DIMSEProcessingError(
            f'cannot encode command element {elem.keyword or tag} {tag} with value '
            f'{value!r}: {exc}'
        ) from exc
    return buffer.getvalue()


def decode_command_set(raw: bytes) -> Dataset:
    """Decode a command set (Implicit VR Little Endian) and convert every value now.

    pydicom converts values lazily; converting here makes a malformed value fail as a
    :class:`DIMSEProcessingError` at the reassembler instead of later in a service.
    """
    try:
        fp = DicomBytesIO(raw)
        # pydicom annotates read_dataset's fp as BinaryIO, yet reads its own DicomBytesIO too.
        command_set = read_dataset(fp, True, True)  # type: ignore[arg-type]
        # pydicom stops quietly at a truncated element; the elements must cover every byte.
        covered = 0
        for tag in command_set.keys():
            elem = command_set.get_item(tag)
            if not isinstance(elem, RawDataElement):
                # pydicom converts a zero-length value at once (an empty UID, say): that is a
                # value missing, for the service to refuse with a status, not a malformed
                # command set to abort for.
                covered += 8
                continue
            length = elem.length
            if length == 0xFFFFFFFF:
                raise ValueError(f'element {tag} has an undefined length')
            if len(elem.value or b'') != length:
                raise ValueError(f'element {tag} is truncated: {length} bytes declared')
            covered += 8 + length
        if covered != len(raw):
            raise ValueError(
                f'its elements cover {covered} bytes (truncated or repeated element)'
            )
        for _elem in command_set:  # iterating converts each raw element
            pass
    except Exception as exc:
        raise DIMSEProcessingError(
            f'a command set of {len(raw)} bytes does not decode as Implicit VR Little '
            f'Endian (PS3.7 6.3.1): {exc}'
        ) from exc
    return command_set


def encode_fields(fields: dict[int, Any]) -> bytes:
    """Encode a fields dict: (0000,0000) first, absent values left out (PS3.7 6.3.1).

    The fields form's counterpart of ``DIMSEMessage._encode_command_set``: the same bytes,
    without pydicom. Command Group Length is set in ``fields`` too.

    >>> fields = {0x0100: 0x0030, 0x0800: NO_DATASET}  # C-ECHO-RQ, no data set
    >>> encode_fields(fields)[:12].hex(), fields[0]
    ('000000000400000014000000', 20)
    """
    parts: list[bytes] = [b'']
    length = 0
    for tag in sorted(fields):
        value = fields[tag]
        # Absent (None or zero-length) values are left out, as in the Dataset form.
        if not tag or value is None:
            continue
        vr = vr_of(tag)
        kind = type(value)
        if kind is int and vr == 'US':
            encoded = _US_ELEMENT.pack(0, tag, 2, value)  # in range: checked when set
        elif kind is UID and len(value):  # a valid UID (checked when set or decoded)
            raw = value.encode('ascii')
            if len(raw) & 1:
                raw += b'\0'  # PS3.5 6.2: UI pads with a NUL byte
            encoded = b''.join((_ELEMENT_HEADER.pack(0, tag, len(raw)), raw))
        elif not isinstance(value, int) and not len(value):
            continue
        else:  # the rarer VRs and values: the Dataset form's encoder
            elem = DataElement(tag, vr, value, already_converted=True)
            encoded = encode_element(elem)
        length += len(encoded)
        parts.append(encoded)
    # PS3.7 Annex E: Command Group Length is the byte count of the elements after it.
    fields[0] = length
    parts[0] = GROUP_LENGTH.pack(0, 0, 4, length)
    return b''.join(parts)
