"""DIMSE messages (PS3.7): command sets as attributes, fragmentation, and reassembly.

This module owns three things and nothing else:

* the 23 DIMSE message classes (``CEchoRQMessage`` ... ``NDeleteRSPMessage``, plus
  ``CCancelRQMessage``): a command set (a pydicom :class:`Dataset` of group 0000 elements)
  with named properties, and an optional data set (encoded bytes or a binary file object);
* ``DIMSEMessage.encode()``: a command set encoded once in Implicit VR Little Endian, then
  cut, with the data set, into P-DATA-TF PDUs that fit the peer's Maximum Length;
* :class:`DIMSEDecoder`, the one reassembler of the project: PDVs in, complete messages out.

It is pure code: it never touches a socket, a thread or a timer, and it does not know
statuses (``statuses`` imports this module, never the reverse). The only I/O it does is on
file objects it is handed: reading a data set to send, writing a received one through
``get_file_cb``.

Theory of operation (PS3.7 6.3, PS3.8 9.3.5 and Annex E): a message is a command set followed,
when Command Data Set Type is not 0101H, by one data set. Each is cut into fragments; each
fragment travels in a presentation data value (PDV) item whose first byte, the message control
header, says command (bit 0) or data set, and last fragment (bit 1) or not. All fragments of a
command set come before any fragment of its data set, and every PDV of one message uses the
same presentation context.

Usage::

    from pynetdicom2 import dimsemessages as dm

    rq = dm.CEchoRQMessage()
    rq.message_id = 1
    rq.sop_class_uid = '1.2.840.10008.1.1'
    for p_data in rq.encode(pc_id=1, max_pdu_length=16384):
        sock.sendall(p_data.encode())

    decoder = dm.DIMSEDecoder(accepted_contexts, store_in_file=set(), get_file_cb=get_file)
    for msg, pc_id in decoder.process(p_data_tf_pdu):
        ...
"""

from __future__ import annotations

import collections.abc
import contextlib
import functools
import re
import struct
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, ClassVar, Union

from pydicom import config as pydicom_config
from pydicom.datadict import DicomDictionary, dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

from pynetdicom2 import pdu
from pynetdicom2.exceptions import DIMSEProcessingError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Container, Generator, Iterator, Mapping, Sequence

# PS3.7 Annex E, Command Data Set Type (0000,0800): 0101H means no data set follows; any
# other value means one does. We send 0001H.
NO_DATASET = 0x0101
HAS_DATASET = 0x0001

# PS3.7 Annex E, Priority (0000,0700).
PRIORITY_LOW = 2
PRIORITY_MEDIUM = 0
PRIORITY_HIGH = 1

# PS3.8 9.3.5.1: item length (4) + presentation context ID (1) + message control header (1).
PDV_HEADER_LENGTH = 6

# PS3.8 E.2: message control header; bit 0 set = command, bit 1 set = last fragment.
COMMAND_FRAGMENT = 1
COMMAND_LAST_FRAGMENT = 3
DATA_FRAGMENT = 0
DATA_LAST_FRAGMENT = 2

COMMAND_GROUP_LENGTH_TAG = (0, 0)
_COMMAND_FIELD_TAG = 0x00000100
_COMMAND_DATA_SET_TYPE_TAG = 0x00000800

#: Size of the reads from a data-set file when the peer's Maximum Length is 0 (unlimited):
#: big enough to keep system calls rare, small enough that a 2 GB file never sits in memory.
UNLIMITED_READ_SIZE = 1024 * 1024

DataSet = Union[bytes, bytearray, memoryview, BinaryIO]
GetFileCallback = Callable[[Any, Dataset], tuple[BinaryIO, int]]

_CONTROL_HEADERS = {bit: bytes((bit,)) for bit in range(4)}
_GROUP_LENGTH = struct.Struct('<HHII')  # (0000,0000) UL, always 12 bytes
_US_ELEMENT = struct.Struct('<HHIH')
_AT_ELEMENT = struct.Struct('<HHIHH')
_ELEMENT_HEADER = struct.Struct('<HHI')
_US_VALUE = struct.Struct('<H')
_UL_VALUE = struct.Struct('<I')
_AT_VALUE = struct.Struct('<HH')

# The command dictionary (PS3.7 Annex E, retired elements included): element number of
# group 0000 -> VR, for the VRs this module decodes itself. Taken from pydicom's data
# dictionary, so both decoders agree on every VR.
_FAST_VRS = frozenset({'US', 'UL', 'UI', 'AE', 'LO', 'SH', 'AT'})
_COMMAND_VRS: dict[int, str] = {
    tag: entry[0]
    for tag, entry in DicomDictionary.items()
    if tag >> 16 == 0 and entry[0] in _FAST_VRS
}
_BASE_TAGS: dict[int, BaseTag] = {tag: BaseTag(tag) for tag in _COMMAND_VRS}
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


# --- helpers ------------------------------------------------------------------------------


def value_or_none(elem: DataElement | None) -> Any:
    """Return the value of ``elem``, or None when the element is absent or empty.

    A zero-length command element carries no value, so it reads the same as an absent one
    (we never send one: see :meth:`DIMSEMessage.encode`).

    >>> value_or_none(None) is None
    True
    >>> value_or_none(DataElement(0x00000110, 'US', 7))
    7
    """
    if elem is None:
        return None
    value = elem.value
    if value is None or (not isinstance(value, int) and _is_empty_sequence(value)):
        return None
    return value


def _is_empty_sequence(value: Any) -> bool:
    try:
        return len(value) == 0
    except TypeError:
        return False


def chunks(seq: Sequence[Any], size: int) -> Iterator[tuple[Any, bool]]:
    """Cut ``seq`` into slices of at most ``size`` items; yield ``(chunk, has_next)``.

    An empty sequence yields one empty chunk, so that a caller always gets a last fragment.
    Slicing a memoryview gives views, so no bytes are copied.

    >>> list(chunks(b'abcde', 2))
    [(b'ab', True), (b'cd', True), (b'e', False)]
    """
    if size <= 0:
        raise ValueError(f'chunk size must be positive, got {size}')
    total = len(seq)
    if total == 0:
        yield seq[0:0], False
        return
    for start in range(0, total, size):
        end = start + size
        yield seq[start:end], end < total


def _payload_size(max_pdu_length: int) -> int | None:
    """The largest even PDV payload for one PDV per P-DATA-TF, or None when unlimited."""
    # PS3.8 D.1: the peer's Maximum Length bounds the variable field of each P-DATA-TF PDU
    # (the PDV items); 0 means no limit. Each PDV item spends 6 bytes on its own header,
    # and PS3.8 E.1 wants every fragment of an even length: an odd maximum loses a byte.
    if max_pdu_length == 0:
        return None
    if max_pdu_length < PDV_HEADER_LENGTH + 2:
        raise DIMSEProcessingError(
            f'the peer maximum PDU length {max_pdu_length} leaves no room for PDV data: '
            f'expected 0 (unlimited) or at least {PDV_HEADER_LENGTH + 2} bytes (PS3.8 D.1, '
            'E.1: a fragment is at least 2 bytes)'
        )
    return (max_pdu_length - PDV_HEADER_LENGTH) & ~1


def _even(chunk: Any) -> Any:
    """``chunk``, or a copy with one NUL byte more when its length is odd (PS3.8 E.1).

    Only the last fragment of a malformed or deflated data set can be odd: every encoded
    element has an even length (PS3.5 7.1.1), and PS3.5 A.5 pads a deflated stream so.
    """
    return b''.join((chunk, b'\0')) if len(chunk) % 2 else chunk


def fragment(
    data: bytes | bytearray | memoryview, max_pdu_length: int, normal: int, last: int
) -> Iterator[tuple[Any, int]]:
    """Cut ``data`` into PDV payloads that fit ``max_pdu_length``; yield ``(chunk, bit)``.

    ``bit`` is the message control header: ``normal`` for every fragment but the last,
    ``last`` for the final one. A ``max_pdu_length`` of 0 means unlimited (one fragment);
    1 to 7 leaves no room for data and raises :class:`DIMSEProcessingError`. Every chunk has
    an even length (PS3.8 E.1; an odd ``data`` gets a NUL byte at its end). Chunks are
    memoryview slices of ``data`` (no copies), the padded last one aside.

    >>> [(bytes(c), b) for c, b in fragment(b'abcdefgh', 10, DATA_FRAGMENT, DATA_LAST_FRAGMENT)]
    [(b'abcd', 0), (b'efgh', 2)]
    """
    size = _payload_size(max_pdu_length)
    if size is None:
        yield _even(data), last
        return
    view = memoryview(data)
    if view.format != 'B' or view.ndim != 1:
        view = view.cast('B')  # slice by bytes, whatever the buffer's item type
    for chunk, has_next in chunks(view, size):
        yield (chunk, normal) if has_next else (_even(chunk), last)


def fragment_file(
    fp: BinaryIO, max_pdu_length: int, normal: int, last: int
) -> Iterator[tuple[bytes, int]]:
    """Read ``fp`` from its current position in PDV-sized pieces; yield ``(chunk, bit)``.

    The file is never read whole: each piece is ``max_pdu_length - 6`` bytes rounded down to
    even (:data:`UNLIMITED_READ_SIZE` when ``max_pdu_length`` is 0), filled by as many reads
    as the file needs (a short read is not the end of a pipe or a raw file), so every piece
    is even (PS3.8 E.1) but an odd last one, which gets a NUL byte (PS3.5 A.5 pads a deflated
    data set so). One piece is read ahead to know which one is last; an empty file yields
    one empty last fragment. The file is not closed here (``DIMSEMessage.encode`` does that).

    >>> import io
    >>> list(fragment_file(io.BytesIO(b'abcdef'), 10, 0, 2))
    [(b'abcd', 0), (b'ef', 2)]
    """
    size = _payload_size(max_pdu_length) or UNLIMITED_READ_SIZE
    current = _read_full(fp, size)
    while True:
        following = _read_full(fp, size) if len(current) == size else b''
        if not following:
            yield _even(current), last
            return
        yield current, normal
        current = following


def _read_full(fp: BinaryIO, size: int) -> bytes:
    """``size`` bytes of ``fp``, fewer only at its end (an empty read)."""
    piece = fp.read(size) or b''
    if len(piece) == size or not piece:
        return piece
    pieces = [piece]
    missing = size - len(piece)
    while missing:
        more = fp.read(missing)
        if not more:
            break
        pieces.append(more)
        missing -= len(more)
    return b''.join(pieces)


def dimse_property(tag: int | tuple[int, int]) -> property:
    """Build a property reading and writing ``command_set[tag].value``.

    The getter returns None when the element is absent (or empty); the setter adds the
    element, with its VR from the data dictionary, when it is missing. Setting None keeps
    the element but it is not sent (see :meth:`DIMSEMessage.encode`).

    >>> class Msg(DIMSEMessage):
    ...     command_field = 0x0030
    ...     message_id = dimse_property((0x0000, 0x0110))
    """
    element_tag = Tag(tag)
    vr = dictionary_VR(element_tag)
    key = int(element_tag)  # the fields dict is keyed by plain ints (BaseTag.__eq__ is slow)
    convert = _FAST_SETTERS.get(vr)

    def getter(self: DIMSEMessage) -> Any:
        fields = self._fields
        if fields is None:
            return value_or_none(self._command_set.get(element_tag))  # type: ignore[union-attr]
        value = fields.get(key)
        if value is None or isinstance(value, int):
            return value
        return value if len(value) else None

    def setter(self: DIMSEMessage, value: Any) -> None:
        fields = self._fields
        if fields is not None:
            if value is None:
                fields[key] = None
                return
            if convert is not None:
                converted = convert(value)
                if converted is not _SLOW:
                    fields[key] = converted
                    return
        # Anything else goes through pydicom, with its conversions and value checks.
        _set_element(self.command_set, element_tag, vr, value)

    return property(getter, setter, doc=f'Command element {element_tag} (None when absent).')


def _set_element(command_set: Dataset, tag: BaseTag, vr: str, value: Any) -> None:
    if tag in command_set:
        command_set[tag].value = value
    else:
        command_set.add_new(tag, vr, value)


# --- the fast path: command elements as plain values ----------------------------------------
#
# A message keeps its command set as a dict {element number: value} until someone reads
# ``command_set``; only then is a pydicom Dataset built from it (DIMSEMessage.command_set).
# The dict holds exactly the values pydicom would hold (int, UID, str, BaseTag, MultiValue
# of BaseTag, or None), so the two forms are interchangeable. A value this module cannot
# convert exactly as pydicom does makes the message switch to its Dataset for good.

_SLOW = object()  # "not for the fast path": the setter hands the value to pydicom


def _fast_us(value: Any) -> Any:
    return value if type(value) is int and 0 <= value <= 0xFFFF else _SLOW


def _fast_ul(value: Any) -> Any:
    return value if type(value) is int and 0 <= value <= 0xFFFFFFFF else _SLOW


def _fast_ui(value: Any) -> Any:
    kind = type(value)
    if (kind is str or kind is UID) and len(value) <= _MAX_UID and _UID_TEXT.fullmatch(value):
        # Valid as pydicom checks UIDs, so UID() has nothing to warn about or strip.
        return value if kind is UID else UID(value, _IGNORE)
    return _SLOW


_FAST_SETTERS: dict[str, Callable[[Any], Any]] = {'US': _fast_us, 'UL': _fast_ul, 'UI': _fast_ui}


def _vr_of(tag: int) -> str:
    vr = _COMMAND_VRS.get(tag)
    return vr if vr is not None else dictionary_VR(tag)


def _fields_to_dataset(fields: dict[int, Any]) -> Dataset:
    """The pydicom Dataset of a fields dict (values are already converted)."""
    elements = {}
    for tag in sorted(fields):
        base = _BASE_TAGS.get(tag)
        if base is None:
            base = BaseTag(tag)
        elements[base] = DataElement(base, _vr_of(tag), fields[tag], already_converted=True)
    return Dataset(elements)


def _malformed(raw: Any, why: str) -> DIMSEProcessingError:
    return DIMSEProcessingError(
        f'a command set of {len(raw)} bytes does not decode as Implicit VR Little Endian '
        f'(PS3.7 6.3.1): {why}'
    )


def _decode_fields(raw: bytes) -> dict[int, Any] | None:
    """Decode a command set (Implicit VR Little Endian) into {element number: value}.

    The fast path of the reassembler: ``struct`` over the elements, each value converted
    here per its VR in the command dictionary, exactly as pydicom would convert it. Raises
    :class:`DIMSEProcessingError` for what no decoder could accept (a truncated element, an
    undefined length, a repeated element); returns None for anything merely unusual (an
    element outside the command dictionary or of another group, an empty or multi-valued
    value, a value pydicom would warn about or convert otherwise...), which
    :func:`_decode_command_set` then decodes through pydicom.
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
        vr = None if group else _COMMAND_VRS.get(element)
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
            text = raw[offset:stop].rstrip(b'\0 ')
            if len(text) > _MAX_UID or not _UID_BYTES.fullmatch(text):
                return None
            value = UID(text.decode('ascii'), _IGNORE)
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


def _is_absent(value: Any) -> bool:
    """True for values that are not sent: None and zero-length values."""
    if value is None:
        return True
    return not isinstance(value, int) and _is_empty_sequence(value)


def _encode_element(elem: DataElement) -> bytes:
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


def _decode_command_set(raw: bytes) -> Dataset:
    """Decode a command set (Implicit VR Little Endian) and convert every value now.

    pydicom converts values lazily; converting here makes a malformed value fail as a
    :class:`DIMSEProcessingError` at the reassembler instead of later in a service.
    """
    try:
        command_set = read_dataset(DicomBytesIO(raw), True, True)
        # pydicom stops quietly at a truncated element; the elements must cover every byte.
        covered = 0
        for tag in command_set.keys():
            elem = command_set.get_item(tag)
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


class _PDataStream(collections.abc.Generator):  # type: ignore[type-arg]
    """The generator ``DIMSEMessage.encode`` returns.

    It behaves like the plain generator it wraps, and also closes the data-set file when it
    is closed before its first item (a plain generator would not run its ``finally``).
    """

    def __init__(self, pdus: Generator[pdu.PDataTfPDU, None, None], fp: BinaryIO | None):
        self._pdus = pdus
        self._fp = fp

    def send(self, value: None) -> pdu.PDataTfPDU:
        return self._pdus.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> pdu.PDataTfPDU:
        if val is None and tb is None:
            return self._pdus.throw(typ)
        return self._pdus.throw(typ, val, tb)  # pragma: no cover - legacy signature

    def close(self) -> None:
        try:
            self._pdus.close()
        finally:
            if self._fp is not None:
                self._fp.close()


# --- messages -----------------------------------------------------------------------------


@functools.cache
def _template(
    command_field: int, keywords: tuple[str, ...]
) -> dict[int, Any]:
    """The fields of a new message: every keyword None, Command Field, no data set."""
    fields: dict[int, Any] = {int(tag): None for tag, _vr in _tags_and_vrs(keywords)}
    fields[_COMMAND_FIELD_TAG] = command_field
    fields[_COMMAND_DATA_SET_TYPE_TAG] = NO_DATASET
    return fields


@functools.cache
def _tags_and_vrs(keywords: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    """(tag, VR) of each command keyword, looked up once per message class."""
    tags_and_vrs = []
    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise ValueError(f'{keyword!r} is not a DICOM keyword')
        tags_and_vrs.append((tag, dictionary_VR(tag)))
    return tuple(tags_and_vrs)


class _CommandSetAttribute:
    """``DIMSEMessage.command_set``: the command set, a pydicom Dataset of group 0000.

    Built on first use from the message's fields form; from then on it is the one command
    set of the message (changes to it are what is sent). An attribute, not a property: the
    properties of a message are its command elements and ``data_set``.
    """

    def __get__(self, msg: DIMSEMessage | None, owner: type | None = None) -> Any:
        if msg is None:
            return self
        command_set = msg._command_set
        if command_set is None:
            fields = msg._fields
            assert fields is not None
            command_set = msg._command_set = _fields_to_dataset(fields)
            msg._fields = None
        return command_set

    def __set__(self, msg: DIMSEMessage, value: Dataset) -> None:
        msg._command_set = value
        msg._fields = None


class DIMSEMessage:
    """A DIMSE message: a command set, and an optional data set.

    A new message's ``command_set`` holds CommandField, CommandDataSetType = 0101H (no data
    set) and every keyword of ``command_fields`` with the value None, so every property
    reads None until set. ``data_set`` is the encoded data set (bytes) or a binary file
    object positioned at its start.

    ``storage_error`` is None, except on a received message whose data set could not be
    written to the file ``get_file_cb`` gave (or that file could not be had): it then holds
    that :class:`OSError`, ``data_set`` is None, and the service should answer A700H (out of
    resources) instead of aborting the association.

    >>> rq = CStoreRQMessage()
    >>> rq.message_id, rq.priority
    (None, None)
    >>> rq.data_set = b'...'
    >>> hex(rq.command_set.CommandDataSetType)
    '0x1'
    """

    command_field: ClassVar[int]
    command_fields: ClassVar[list[str]] = []

    sop_class_uid = dimse_property((0x0000, 0x0002))

    # The command set lives in exactly one of two forms: ``_fields``, a dict {element
    # number: value} (new and received messages, the fast path), or ``_command_set``, a
    # pydicom Dataset (once ``command_set`` was read, or given to the constructor).
    _fields: dict[int, Any] | None
    _command_set: Dataset | None

    def __init__(self, command_set: Dataset | None = None) -> None:
        if command_set is None:
            self._fields = _template(self.command_field, tuple(self.command_fields)).copy()
            self._command_set = None
        else:
            self._fields = None
            self._command_set = command_set
        self._data_set: DataSet | None = None
        self.storage_error: OSError | None = None

    @classmethod
    def _from_fields(cls, fields: dict[int, Any]) -> DIMSEMessage:
        """A received message whose command set was decoded by :func:`_decode_fields`."""
        if cls.__init__ is not DIMSEMessage.__init__:  # a subclass with its own constructor
            return cls(_fields_to_dataset(fields))
        msg = cls.__new__(cls)
        msg._fields = fields
        msg._command_set = None
        msg._data_set = None
        msg.storage_error = None
        return msg

    command_set = _CommandSetAttribute()

    def _get_field(self, tag: int) -> Any:
        """The value of a command element (None when absent or empty), in either form."""
        fields = self._fields
        if fields is None:
            return value_or_none(self._command_set.get(tag))  # type: ignore[union-attr]
        value = fields.get(tag)
        if value is None or isinstance(value, int):
            return value
        return value if len(value) else None

    def _set_us(self, tag: int, value: int) -> None:
        """Set a US or UL command element to a valid int, in either form."""
        fields = self._fields
        if fields is not None:
            fields[tag] = value
        else:
            _set_element(self._command_set, Tag(tag), _vr_of(tag), value)  # type: ignore[arg-type]

    @property
    def data_set(self) -> DataSet | None:
        """The encoded data set (bytes) or a binary file object, or None.

        Setting a truthy value sets Command Data Set Type to 0001H; setting None or ``b''``
        sets it to 0101H (no data set).
        """
        return self._data_set

    @data_set.setter
    def data_set(self, value: DataSet | None) -> None:
        self._data_set = value
        # PS3.7 Annex E: the command set must say whether a data set follows.
        self._set_us(_COMMAND_DATA_SET_TYPE_TAG, HAS_DATASET if value else NO_DATASET)

    def _encode_command_set(self) -> bytes:
        """Encode the command set once: (0000,0000) first, absent values left out."""
        fields = self._fields
        if fields is not None:
            return self._encode_fields(fields)
        parts: list[bytes] = [b'']
        length = 0
        for elem in self.command_set:
            tag = elem.tag
            if tag == 0:
                continue
            if tag >> 16:
                raise DIMSEProcessingError(
                    f'a command set holds group 0000 elements only (PS3.7 6.3.1), '
                    f'found {elem.keyword or "element"} {tag}'
                )
            # PS3.7 9.3 / 10.3 tables: U (user option) and C (conditional) elements that do
            # not apply are absent. A None (or zero-length) value is therefore left out, not
            # sent empty, which strict peers (e.g. DCMTK) reject for required elements.
            if _is_absent(elem.value):
                continue
            encoded = _encode_element(elem)
            length += len(encoded)
            parts.append(encoded)
        # PS3.7 Annex E: Command Group Length is the byte count of the elements after it.
        self._set_group_length(length)
        parts[0] = _GROUP_LENGTH.pack(0, 0, 4, length)
        return b''.join(parts)

    def _encode_fields(self, fields: dict[int, Any]) -> bytes:
        """``_encode_command_set`` for the fields form: the same bytes, without pydicom."""
        parts: list[bytes] = [b'']
        length = 0
        for tag in sorted(fields):
            value = fields[tag]
            # Absent (None or zero-length) values are left out, as in the Dataset form.
            if not tag or value is None:
                continue
            vr = _vr_of(tag)
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
                encoded = _encode_element(elem)
            length += len(encoded)
            parts.append(encoded)
        # PS3.7 Annex E: Command Group Length is the byte count of the elements after it.
        fields[0] = length
        parts[0] = _GROUP_LENGTH.pack(0, 0, 4, length)
        return b''.join(parts)

    def _set_group_length(self, length: int) -> None:
        command_set = self.command_set
        if 0 in command_set:
            command_set[0].value = length
        else:
            command_set.add_new(0, 'UL', length)

    def set_length(self) -> None:
        """Set (0000,0000) Command Group Length to the encoded length of the other elements.

        ``encode()`` does this itself; call it to inspect the command set before sending.

        >>> rq = CEchoRQMessage(); rq.set_length(); rq.command_set.CommandGroupLength
        20
        """
        self._encode_command_set()

    def encode(
        self, pc_id: int, max_pdu_length: int, pack: bool = True
    ) -> Generator[pdu.PDataTfPDU, None, None]:
        """Return a generator of the P-DATA-TF PDUs that carry this message.

        The command set is encoded once, Implicit VR Little Endian with its group length,
        and fragmented with control headers 1/3; the data set follows with 0/2. Elements
        whose value is None (or zero-length) are left out, never sent empty, and Command
        Data Set Type is corrected to match ``data_set`` if it was set by hand. Every PDU
        fits ``max_pdu_length``, the peer's Maximum Length (PS3.8 D.1): a PDV carries at most
        ``max_pdu_length - 6`` bytes. 0 means unlimited (the command and a bytes data set in
        one fragment each; a file is read :data:`UNLIMITED_READ_SIZE` bytes at a time).

        Each PDU holds one PDV, except that, with ``pack`` (the default), the last command
        fragment and the first data-set fragment share one PDU when both fit in
        ``max_pdu_length`` (PS3.8 9.3.5 allows several PDVs per P-DATA-TF). A small C-STORE
        or C-FIND then costs one PDU, and one TCP segment, instead of two.

        A file data set is read lazily, piece by piece, and closed when the generator
        finishes or is closed. Errors found before anything is read (a ``max_pdu_length``
        of 1 to 6, an unencodable command element) raise :class:`DIMSEProcessingError` here,
        in the caller's thread; the data set then stays open and the caller's.

        >>> pdus = list(CEchoRQMessage().encode(pc_id=1, max_pdu_length=0))
        >>> len(pdus), pdus[0].data_value_items[0].data_value[0]
        (1, 3)
        """
        _payload_size(max_pdu_length)  # refuse an impossible limit now, in the caller's thread
        data_set = self._data_set if self._data_set else None
        # The command must tell the truth about what follows it (PS3.7 Annex E), whatever
        # was done to CommandDataSetType by hand.
        data_set_type = self._get_field(_COMMAND_DATA_SET_TYPE_TAG)
        if data_set is not None and data_set_type in (None, NO_DATASET):
            self._set_us(_COMMAND_DATA_SET_TYPE_TAG, HAS_DATASET)
        elif data_set is None and data_set_type != NO_DATASET:
            self._set_us(_COMMAND_DATA_SET_TYPE_TAG, NO_DATASET)
        command = self._encode_command_set()
        fp: BinaryIO | None = None
        if data_set is not None and not isinstance(data_set, (bytes, bytearray, memoryview)):
            fp = data_set
        pdus = self._pdus(pc_id, max_pdu_length, command, data_set, fp, pack)
        return _PDataStream(pdus, fp)

    @staticmethod
    def _pdus(
        pc_id: int,
        max_pdu_length: int,
        command: bytes,
        data_set: DataSet | None,
        fp: BinaryIO | None,
        pack: bool,
    ) -> Generator[pdu.PDataTfPDU, None, None]:
        pdv = pdu.PresentationDataValueItem
        p_data = pdu.PDataTfPDU
        headers = _CONTROL_HEADERS
        try:
            last_command = None
            last_command_length = 0
            for chunk, bit in fragment(
                command, max_pdu_length, COMMAND_FRAGMENT, COMMAND_LAST_FRAGMENT
            ):
                item = pdv(pc_id, b''.join((headers[bit], chunk)))
                if bit == COMMAND_LAST_FRAGMENT:
                    last_command, last_command_length = item, len(chunk)
                else:
                    yield p_data([item])
            if data_set is None:
                yield p_data([last_command])
                return
            if fp is not None:
                pieces = fragment_file(fp, max_pdu_length, DATA_FRAGMENT, DATA_LAST_FRAGMENT)
            else:
                pieces = fragment(
                    data_set,  # type: ignore[arg-type]
                    max_pdu_length,
                    DATA_FRAGMENT,
                    DATA_LAST_FRAGMENT,
                )
            chunk, bit = next(pieces)
            first_data = pdv(pc_id, b''.join((headers[bit], chunk)))
            # Both PDV items, each with its 6-byte header, must fit in the peer's limit.
            together = 2 * PDV_HEADER_LENGTH + last_command_length + len(chunk)
            if pack and (max_pdu_length == 0 or together <= max_pdu_length):
                yield p_data([last_command, first_data])
            else:
                yield p_data([last_command])
                yield p_data([first_data])
            for chunk, bit in pieces:
                yield p_data([pdv(pc_id, b''.join((headers[bit], chunk)))])
        finally:
            if fp is not None:
                fp.close()

    def __repr__(self) -> str:
        fields = self._fields  # a look at the fields form leaves it as it is
        return str(self._command_set if fields is None else _fields_to_dataset(fields))


class DIMSERequestMessage(DIMSEMessage):
    """Base of the request messages: adds Message ID (0000,0110)."""

    message_id = dimse_property((0x0000, 0x0110))


class DIMSEResponseMessage(DIMSEMessage):
    """Base of the response messages: Message ID Being Responded To and Status.

    The status-dependent elements of PS3.7 Annex C (Offending Element, Error Comment, Error
    ID) have properties too; they are not in ``command_fields`` and are sent only when set.
    """

    message_id_being_responded_to = dimse_property((0x0000, 0x0120))
    status = dimse_property((0x0000, 0x0900))
    offending_element = dimse_property((0x0000, 0x0901))
    error_comment = dimse_property((0x0000, 0x0902))
    error_id = dimse_property((0x0000, 0x0903))


class PriorityMixin:
    """Adds Priority (0000,0700): PRIORITY_LOW, PRIORITY_MEDIUM or PRIORITY_HIGH."""

    command_set: Dataset
    priority = dimse_property((0x0000, 0x0700))


class SubOpsCountMixin:
    """Adds the C-GET/C-MOVE sub-operation counters (0000,1020) to (0000,1023)."""

    command_set: Dataset
    num_of_remaining_sub_ops = dimse_property((0x0000, 0x1020))
    num_of_completed_sub_ops = dimse_property((0x0000, 0x1021))
    num_of_failed_sub_ops = dimse_property((0x0000, 0x1022))
    num_of_warning_sub_ops = dimse_property((0x0000, 0x1023))


_SUB_OPS = [
    'NumberOfRemainingSuboperations',
    'NumberOfCompletedSuboperations',
    'NumberOfFailedSuboperations',
    'NumberOfWarningSuboperations',
]

# The command_fields lists follow the tables of PS3.7 9.3 and 10.3, without CommandField
# and CommandDataSetType, which every new message sets to real values.


class CEchoRQMessage(DIMSERequestMessage):
    """C-ECHO-RQ (PS3.7 9.3.5.1)."""

    command_field = 0x0030
    command_fields = ['CommandGroupLength', 'AffectedSOPClassUID', 'MessageID']


class CEchoRSPMessage(DIMSEResponseMessage):
    """C-ECHO-RSP (PS3.7 9.3.5.2)."""

    command_field = 0x8030
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageIDBeingRespondedTo', 'Status',
    ]


class CStoreRQMessage(DIMSERequestMessage, PriorityMixin):
    """C-STORE-RQ (PS3.7 9.3.1.1)."""

    command_field = 0x0001
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageID', 'Priority',
        'AffectedSOPInstanceUID', 'MoveOriginatorApplicationEntityTitle',
        'MoveOriginatorMessageID',
    ]
    affected_sop_instance_uid = dimse_property((0x0000, 0x1000))
    move_originator_aet = dimse_property((0x0000, 0x1030))
    move_originator_message_id = dimse_property((0x0000, 0x1031))


class CStoreRSPMessage(DIMSEResponseMessage):
    """C-STORE-RSP (PS3.7 9.3.1.2)."""

    command_field = 0x8001
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageIDBeingRespondedTo', 'Status',
        'AffectedSOPInstanceUID',
    ]
    affected_sop_instance_uid = dimse_property((0x0000, 0x1000))


class CFindRQMessage(DIMSERequestMessage, PriorityMixin):
    """C-FIND-RQ (PS3.7 9.3.2.1)."""

    command_field = 0x0020
    command_fields = ['CommandGroupLength', 'AffectedSOPClassUID', 'MessageID', 'Priority']


class CFindRSPMessage(DIMSEResponseMessage):
    """C-FIND-RSP (PS3.7 9.3.2.2)."""

    command_field = 0x8020
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageIDBeingRespondedTo', 'Status',
    ]


class CGetRQMessage(DIMSERequestMessage, PriorityMixin):
    """C-GET-RQ (PS3.7 9.3.3.1)."""

    command_field = 0x0010
    command_fields = ['CommandGroupLength', 'AffectedSOPClassUID', 'MessageID', 'Priority']


class CGetRSPMessage(DIMSEResponseMessage, SubOpsCountMixin):
    """C-GET-RSP (PS3.7 9.3.3.2)."""

    command_field = 0x8010
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageIDBeingRespondedTo', 'Status',
        *_SUB_OPS,
    ]


class CMoveRQMessage(DIMSERequestMessage, PriorityMixin):
    """C-MOVE-RQ (PS3.7 9.3.4.1)."""

    command_field = 0x0021
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageID', 'MoveDestination',
        'Priority',
    ]
    move_destination = dimse_property((0x0000, 0x0600))


class CMoveRSPMessage(DIMSEResponseMessage, SubOpsCountMixin):
    """C-MOVE-RSP (PS3.7 9.3.4.2)."""

    command_field = 0x8021
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageIDBeingRespondedTo', 'Status',
        *_SUB_OPS,
    ]


class CCancelRQMessage(DIMSEResponseMessage):
    """C-CANCEL-RQ (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3).

    It names the request it cancels with Message ID Being Responded To, hence a response
    subclass, as in the original.
    """

    command_field = 0x0FFF
    command_fields = ['CommandGroupLength', 'MessageIDBeingRespondedTo']


class NEventReportRQMessage(DIMSERequestMessage):
    """N-EVENT-REPORT-RQ (PS3.7 10.3.1.1)."""

    command_field = 0x0100
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageID', 'AffectedSOPInstanceUID',
        'EventTypeID',
    ]
    event_type_id = dimse_property((0x0000, 0x1002))
    affected_sop_instance_uid = dimse_property((0x0000, 0x1000))


class NEventReportRSPMessage(DIMSEResponseMessage):
    """N-EVENT-REPORT-RSP (PS3.7 10.3.1.2)."""

    command_field = 0x8100
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageIDBeingRespondedTo', 'Status',
        'AffectedSOPInstanceUID', 'EventTypeID',
    ]
    event_type_id = dimse_property((0x0000, 0x1002))
    affected_sop_instance_uid = dimse_property((0x0000, 0x1000))


class NGetRQMessage(DIMSERequestMessage):
    """N-GET-RQ (PS3.7 10.3.2.1); ``sop_class_uid`` is the Requested SOP Class UID."""

    command_field = 0x0110
    command_fields = [
        'CommandGroupLength', 'RequestedSOPClassUID', 'MessageID', 'RequestedSOPInstanceUID',
        'AttributeIdentifierList',
    ]
    sop_class_uid = dimse_property((0x0000, 0x0003))
    requested_sop_instance_uid = dimse_property((0x0000, 0x1001))
    attribute_identifier_list = dimse_property((0x0000, 0x1005))


class NGetRSPMessage(DIMSEResponseMessage):
    """N-GET-RSP (PS3.7 10.3.2.2).

    As in the original, ``command_fields`` has no AffectedSOPClassUID (it is user optional
    here); ``sop_class_uid`` still sets it.
    """

    command_field = 0x8110
    command_fields = [
        'CommandGroupLength', 'MessageIDBeingRespondedTo', 'Status', 'AffectedSOPInstanceUID',
    ]
    affected_sop_instance_uid = dimse_property((0x0000, 0x1000))


class NSetRQMessage(DIMSERequestMessage):
    """N-SET-RQ (PS3.7 10.3.3.1); ``sop_class_uid`` is the Requested SOP Class UID."""

    command_field = 0x0120
    command_fields = [
        'CommandGroupLength', 'RequestedSOPClassUID', 'MessageID', 'RequestedSOPInstanceUID',
    ]
    sop_class_uid = dimse_property((0x0000, 0x0003))
    requested_sop_instance_uid = dimse_property((0x0000, 0x1001))


class NSetRSPMessage(DIMSEResponseMessage):
    """N-SET-RSP (PS3.7 10.3.3.2)."""

    command_field = 0x8120
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageIDBeingRespondedTo', 'Status',
        'AffectedSOPInstanceUID',
    ]
    affected_sop_instance_uid = dimse_property((0x0000, 0x1000))


class NActionRQMessage(DIMSERequestMessage):
    """N-ACTION-RQ (PS3.7 10.3.4.1); ``sop_class_uid`` is the Requested SOP Class UID."""

    command_field = 0x0130
    command_fields = [
        'CommandGroupLength', 'RequestedSOPClassUID', 'MessageID', 'RequestedSOPInstanceUID',
        'ActionTypeID',
    ]
    sop_class_uid = dimse_property((0x0000, 0x0003))
    requested_sop_instance_uid = dimse_property((0x0000, 0x1001))
    action_type_id = dimse_property((0x0000, 0x1008))


class NActionRSPMessage(DIMSEResponseMessage):
    """N-ACTION-RSP (PS3.7 10.3.4.2)."""

    command_field = 0x8130
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageIDBeingRespondedTo', 'Status',
        'AffectedSOPInstanceUID', 'ActionTypeID',
    ]
    affected_sop_instance_uid = dimse_property((0x0000, 0x1000))
    action_type_id = dimse_property((0x0000, 0x1008))


class NCreateRQMessage(DIMSERequestMessage):
    """N-CREATE-RQ (PS3.7 10.3.5.1)."""

    command_field = 0x0140
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageID', 'AffectedSOPInstanceUID',
    ]
    affected_sop_instance_uid = dimse_property((0x0000, 0x1000))


class NCreateRSPMessage(DIMSEResponseMessage):
    """N-CREATE-RSP (PS3.7 10.3.5.2)."""

    command_field = 0x8140
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageIDBeingRespondedTo', 'Status',
        'AffectedSOPInstanceUID',
    ]
    affected_sop_instance_uid = dimse_property((0x0000, 0x1000))


class NDeleteRQMessage(DIMSERequestMessage):
    """N-DELETE-RQ (PS3.7 10.3.6.1); ``sop_class_uid`` is the Requested SOP Class UID."""

    command_field = 0x0150
    command_fields = [
        'CommandGroupLength', 'RequestedSOPClassUID', 'MessageID', 'RequestedSOPInstanceUID',
    ]
    sop_class_uid = dimse_property((0x0000, 0x0003))
    requested_sop_instance_uid = dimse_property((0x0000, 0x1001))


class NDeleteRSPMessage(DIMSEResponseMessage):
    """N-DELETE-RSP (PS3.7 10.3.6.2)."""

    command_field = 0x8150
    command_fields = [
        'CommandGroupLength', 'AffectedSOPClassUID', 'MessageIDBeingRespondedTo', 'Status',
        'AffectedSOPInstanceUID',
    ]
    affected_sop_instance_uid = dimse_property((0x0000, 0x1000))


#: Command Field (0000,0100) -> message class, for all 23 messages (PS3.7 Annex E).
MESSAGE_TYPE: dict[int, type[DIMSEMessage]] = {
    cls.command_field: cls
    for cls in (
        CEchoRQMessage, CEchoRSPMessage,
        CStoreRQMessage, CStoreRSPMessage,
        CFindRQMessage, CFindRSPMessage,
        CGetRQMessage, CGetRSPMessage,
        CMoveRQMessage, CMoveRSPMessage,
        CCancelRQMessage,
        NEventReportRQMessage, NEventReportRSPMessage,
        NGetRQMessage, NGetRSPMessage,
        NSetRQMessage, NSetRSPMessage,
        NActionRQMessage, NActionRSPMessage,
        NCreateRQMessage, NCreateRSPMessage,
        NDeleteRQMessage, NDeleteRSPMessage,
    )
}


# --- reassembly ---------------------------------------------------------------------------


def _write_all(fp: BinaryIO, data: Any) -> None:
    """Write all of ``data``; raw (unbuffered) files may take less than asked."""
    view = memoryview(data)
    while view:
        written = fp.write(view)
        if written is None or written >= len(view):
            return
        view = view[written:]


def _message_name(msg: DIMSEMessage | None) -> str:
    return type(msg).__name__ if msg is not None else 'message'


class DIMSEDecoder:
    """Reassemble PDVs into DIMSE messages (PS3.7 6.3, PS3.8 Annex E).

    ``accepted_contexts`` maps presentation context ID -> context (an opaque object, handed
    to ``get_file_cb``); the upper layer may fill the mapping, or replace the attribute, once
    the association is negotiated. ``store_in_file`` is a container of SOP Class UIDs whose
    data sets go straight to a file: for those, ``get_file_cb(context, command_set)`` is
    called once, when the command set is complete, and returns ``(fp, start)``; each data
    fragment is written to ``fp`` as it arrives, and at the end ``fp.seek(start)`` becomes
    ``msg.data_set``. Any other data set is joined once into bytes.

    An :class:`OSError` from ``get_file_cb``, from a write or from the final seek is not a
    protocol error: the rest of that data set is read and discarded, the file is closed, and
    the message is delivered with ``data_set`` None and ``storage_error`` set to the error.

    Everything the peer got wrong raises :class:`DIMSEProcessingError` (and resets the
    decoder); the association should then be aborted.

    Buffers: PDV data values may be memoryview slices of a receive buffer, which the
    caller may overwrite as soon as :meth:`feed` returns: a fragment going to a file is
    written at once, and what the decoder keeps (command fragments, data-set fragments
    going to memory) it copies.

    Fields, as in the original: ``receiving`` (a message is in progress),
    ``command_set_received``, ``data_set_received``, ``pc_id`` and ``msg`` (the message in
    progress).

    >>> from pynetdicom2 import uids
    >>> from pynetdicom2.fsm import PContextDef
    >>> context = PContextDef(1, uids.VERIFICATION_SOP_CLASS, uids.ImplicitVRLittleEndian)
    >>> decoder = DIMSEDecoder({1: context}, store_in_file=(), get_file_cb=None)
    >>> rq = CEchoRQMessage()
    >>> rq.message_id, rq.affected_sop_class_uid = 7, uids.VERIFICATION_SOP_CLASS
    >>> for p_data in rq.encode(1, 0):
    ...     for msg, pc_id in decoder.process(p_data):
    ...         print(type(msg).__name__, pc_id, msg.message_id)
    CEchoRQMessage 1 7
    """

    def __init__(
        self,
        accepted_contexts: Mapping[int, Any],
        store_in_file: Container[str],
        get_file_cb: GetFileCallback | None,
    ) -> None:
        self.accepted_contexts = accepted_contexts
        self.store_in_file = store_in_file
        self.get_file_cb = get_file_cb
        self.receiving = False
        self.command_set_received = False
        self.data_set_received = False
        self.pc_id: int | None = None
        self.msg: DIMSEMessage | None = None
        self._command_fragments: list[Any] = []
        self._data_fragments: list[Any] = []
        self._fp: BinaryIO | None = None
        self._start = 0
        self._storage_error: OSError | None = None
        # The last message delivered without a data set, to explain a stray data fragment.
        self._previous: DIMSEMessage | None = None

    def process(self, p_data: pdu.PDataTfPDU) -> list[tuple[DIMSEMessage, int]]:
        """Feed every PDV of one P-DATA-TF PDU; return the messages it completed, in order.

        Usually zero or one; a PDU may complete several small messages.
        """
        items = p_data.data_value_items
        if len(items) == 1:  # the usual P-DATA-TF: feed() inlined
            item = items[0]
            data_value = item.data_value
            fp = self._fp
            if (
                fp is not None
                and item.context_id == self.pc_id
                and len(data_value)
                and not data_value[0] & 3
                and self.command_set_received
            ):
                # The hottest path: a middle fragment of a data set streamed to its file
                # (what _feed and _data_fragment would do, in one call).
                payload = memoryview(data_value)[1:]
                try:
                    written = fp.write(payload)
                    if written is not None and written < len(payload):
                        _write_all(fp, payload[written:])
                except OSError as exc:
                    self._storage_failed(exc)
                return []
            try:
                result = self._feed(items[0])
            except BaseException:
                self.discard()
                raise
            return [] if result is None else [result]
        completed = []
        for item in items:
            result = self.feed(item)
            if result is not None:
                completed.append(result)
        return completed

    def feed(self, pdv: pdu.PresentationDataValueItem) -> tuple[DIMSEMessage, int] | None:
        """Take one PDV; return ``(message, pc_id)`` when it completes a message, else None."""
        try:
            return self._feed(pdv)
        except BaseException:
            # A protocol error, or e.g. a non-OSError from get_file_cb: leave no half-built
            # message (or open file) behind.
            self.discard()
            raise

    def _feed(self, pdv: pdu.PresentationDataValueItem) -> tuple[DIMSEMessage, int] | None:
        data_value = pdv.data_value
        pc_id = pdv.context_id
        if self.command_set_received and pc_id == self.pc_id and len(data_value):
            control = data_value[0]
            if not control & 1:
                # The hot path, a data-set stream: the next fragment of the message in
                # progress. The general checks below would come to the same conclusion.
                self._data_fragment(memoryview(data_value)[1:])
                if control & 2:
                    self.data_set_received = True
                    return self._message_complete()
                return None
        if len(data_value) < 1:
            raise DIMSEProcessingError(
                f'a PDV on presentation context {pc_id} has no message control header '
                f'(PS3.8 E.2): expected at least 1 byte, got 0'
            )
        control = data_value[0]
        is_command = control & 1
        is_last = control & 2
        if not self.receiving:
            if not is_command:
                raise DIMSEProcessingError(self._stray_data_message(pc_id))
            if pc_id not in self.accepted_contexts:
                raise DIMSEProcessingError(
                    f'a PDV uses presentation context {pc_id}, which was not accepted '
                    f'(accepted: {sorted(self.accepted_contexts)})'
                )
            self.receiving = True
            self.pc_id = pc_id
            self._previous = None
        elif pc_id != self.pc_id:
            # PS3.8 E.2 / PS3.7 6.3: all fragments of one message use one presentation context.
            raise DIMSEProcessingError(
                f'a PDV on presentation context {pc_id} arrived while a '
                f'{_message_name(self.msg)} on context {self.pc_id} was incomplete'
            )
        payload = memoryview(data_value)[1:]  # a view: no copy until the final join
        if is_command:
            if self.command_set_received:
                raise DIMSEProcessingError(
                    f'a command fragment arrived on context {pc_id} while the data set of '
                    f'{_message_name(self.msg)} was expected (PS3.7 6.3)'
                )
            self._command_fragments.append(bytes(payload))  # the buffer is the caller's
            if is_last:
                return self._command_complete()
            return None
        if not self.command_set_received:
            raise DIMSEProcessingError(
                f'a data set fragment arrived on context {pc_id} before the last fragment of '
                f'the command set (PS3.7 6.3: the command set comes first)'
            )
        self._data_fragment(payload)
        if is_last:
            self.data_set_received = True
            return self._message_complete()
        return None

    def _stray_data_message(self, pc_id: int) -> str:
        previous = self._previous
        if previous is not None:
            return (
                f'a data set fragment arrived on context {pc_id}, but the preceding '
                f'{type(previous).__name__} said no data set follows (Command Data Set '
                f'Type {NO_DATASET:04X}H, PS3.7 Annex E)'
            )
        return (
            f'a data set fragment arrived on context {pc_id} before any command set '
            f'(PS3.7 6.3: the command set comes first)'
        )

    def _command_complete(self) -> tuple[DIMSEMessage, int] | None:
        fragments = self._command_fragments
        raw = fragments[0] if len(fragments) == 1 else b''.join(fragments)
        self._command_fragments = []
        msg = _decode_message(raw)
        self.msg = msg
        self.command_set_received = True
        data_set_type = msg._get_field(_COMMAND_DATA_SET_TYPE_TAG)
        # PS3.7 Annex E: 0101H, and by extension a missing value, means no data set.
        if data_set_type is None or data_set_type == NO_DATASET:
            self._previous = msg
            return self._message_complete()
        sop_class = msg.sop_class_uid
        if self.get_file_cb is not None and sop_class is not None and (
            sop_class in self.store_in_file
        ):
            assert self.pc_id is not None
            context = self.accepted_contexts[self.pc_id]
            try:
                self._fp, self._start = self.get_file_cb(context, msg.command_set)
            except OSError as exc:
                self._storage_error = exc
        return None

    def _data_fragment(self, payload: Any) -> None:
        fp = self._fp
        if fp is not None:
            try:
                written = fp.write(payload)
                if written is not None and written < len(payload):
                    _write_all(fp, payload[written:])  # a raw file took less than asked
            except OSError as exc:
                self._storage_failed(exc)
        elif self._storage_error is None:
            # A copy: the caller may reuse its buffer once feed() returns. One fragment,
            # the usual small data set, is then delivered as is (join returns it).
            self._data_fragments.append(bytes(payload))
        # else: draining a data set that could not be stored

    def _storage_failed(self, exc: OSError) -> None:
        self._storage_error = exc
        fp, self._fp = self._fp, None
        if fp is not None:
            with contextlib.suppress(OSError):
                fp.close()

    def _message_complete(self) -> tuple[DIMSEMessage, int]:
        msg = self.msg
        pc_id = self.pc_id
        assert msg is not None and pc_id is not None
        if self.data_set_received:
            if self._fp is not None:
                try:
                    self._fp.seek(self._start)
                except OSError as exc:
                    self._storage_failed(exc)
                else:
                    msg._data_set = self._fp
                    self._fp = None
            elif self._storage_error is None:
                msg._data_set = b''.join(self._data_fragments)
            msg.storage_error = self._storage_error
        self._reset()
        return msg, pc_id

    def _reset(self) -> None:
        self.receiving = False
        self.command_set_received = False
        self.data_set_received = False
        self.pc_id = None
        self.msg = None
        self._command_fragments = []
        self._data_fragments = []
        self._fp = None
        self._start = 0
        self._storage_error = None

    def discard(self) -> None:
        """Drop the message in progress, closing its file if any (e.g. on abort).

        Deleting that file is the storage layer's business: it created it.
        """
        fp = self._fp
        self._reset()
        self._previous = None
        if fp is not None:
            with contextlib.suppress(OSError):
                fp.close()

    @staticmethod
    def _command_set_to_message(command_set: Dataset) -> DIMSEMessage:
        """Wrap a decoded command set in the message class its Command Field names."""
        elem = command_set.get(_COMMAND_FIELD_TAG)
        if elem is None:
            raise DIMSEProcessingError(_NO_COMMAND_FIELD)
        return _message_class(elem.value)(command_set)


_NO_COMMAND_FIELD = 'the command set has no Command Field (0000,0100) (PS3.7 Annex E)'


def _message_class(command_field: Any) -> type[DIMSEMessage]:
    """The message class a Command Field value names, or DIMSEProcessingError."""
    cls = MESSAGE_TYPE.get(command_field) if isinstance(command_field, int) else None
    if cls is None:
        if isinstance(command_field, int):
            shown = f'{command_field:04X}H'
        else:
            shown = repr(command_field)
        raise DIMSEProcessingError(
            f'unknown Command Field {shown}: expected one of '
            f'{", ".join(f"{field:04X}H" for field in MESSAGE_TYPE)} (PS3.7 Annex E)'
        )
    return cls


def _decode_message(raw: bytes) -> DIMSEMessage:
    """Decode a complete command set into its message: the fast path, else pydicom's."""
    fields = _decode_fields(raw)
    if fields is None:
        return DIMSEDecoder._command_set_to_message(_decode_command_set(raw))
    command_field = fields.get(_COMMAND_FIELD_TAG)
    if command_field is None:
        raise DIMSEProcessingError(_NO_COMMAND_FIELD)
    return _message_class(command_field)._from_fields(fields)
