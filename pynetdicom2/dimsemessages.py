"""DIMSE messages (PS3.7): command sets as attributes, encoding, and the decoder that uses them.

This module owns the 23 DIMSE message classes (``CEchoRQMessage`` ... ``NDeleteRSPMessage``,
plus ``CCancelRQMessage``): a command set (a pydicom :class:`Dataset` of group 0000 elements)
with named properties, and an optional data set (encoded bytes or a binary file object).
``DIMSEMessage.encode()`` encodes the command set once in Implicit VR Little Endian and cuts
it, with the data set, into P-DATA-TF PDUs that fit the peer's Maximum Length;
:class:`DIMSEDecoder`, the one reassembler of the project, turns PDVs back into messages.

Their parts live in modules of their own, and every public name of those is a name of this
module too, the same object:

* :mod:`pynetdicom2.commandset`: the command-set codec, the fast path through a dict of plain
  values and the general one through pydicom;
* :mod:`pynetdicom2.fragmentation`: cutting a message into PDVs and P-DATA-TF PDUs
  (``fragment``, ``fragment_file``, ``chunks``, the message control header bits);
* :mod:`pynetdicom2.dimsedecoder`: the reassembly itself, which :class:`DIMSEDecoder` completes
  with the message classes of this module.

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

import functools
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, overload

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

from pynetdicom2 import dimsedecoder, fragmentation, pdu
from pynetdicom2.commandset import (
    COMMAND_DATA_SET_TYPE_TAG,
    COMMAND_FIELD_TAG,
    FAST_SETTERS,
    GROUP_LENGTH,
    HAS_DATASET,
    NO_DATASET,
    SLOW,
    decode_command_set,
    decode_fields,
    encode_element,
    encode_fields,
    fields_to_dataset,
    vr_of,
)
from pynetdicom2.exceptions import DIMSEProcessingError
from pynetdicom2.fragmentation import DataSet, PDataStream, p_data_pdus, payload_size

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Generator

# PS3.7 Annex E, Priority (0000,0700).
PRIORITY_LOW = 2
PRIORITY_MEDIUM = 0
PRIORITY_HIGH = 1

COMMAND_GROUP_LENGTH_TAG = (0, 0)

# Names of this module at home in pynetdicom2.fragmentation (cutting a message into PDVs) and
# pynetdicom2.dimsedecoder (putting it together again): the same objects.
PDV_HEADER_LENGTH = fragmentation.PDV_HEADER_LENGTH
COMMAND_FRAGMENT = fragmentation.COMMAND_FRAGMENT
COMMAND_LAST_FRAGMENT = fragmentation.COMMAND_LAST_FRAGMENT
DATA_FRAGMENT = fragmentation.DATA_FRAGMENT
DATA_LAST_FRAGMENT = fragmentation.DATA_LAST_FRAGMENT
UNLIMITED_READ_SIZE = fragmentation.UNLIMITED_READ_SIZE
chunks = fragmentation.chunks
fragment = fragmentation.fragment
fragment_file = fragmentation.fragment_file
GetFileCallback = dimsedecoder.GetFileCallback
MAX_COMMAND_SET_LENGTH = dimsedecoder.MAX_COMMAND_SET_LENGTH
DEFAULT_MAX_DATA_SET_IN_MEMORY = dimsedecoder.DEFAULT_MAX_DATA_SET_IN_MEMORY


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
    convert = FAST_SETTERS.get(vr)

    def getter(self: DIMSEMessage) -> Any:
        fields = self._fields
        if fields is None:
            return value_or_none(self.command_set.get(element_tag))
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
                if converted is not SLOW:
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

def _is_absent(value: Any) -> bool:
    """True for values that are not sent: None and zero-length values."""
    if value is None:
        return True
    return not isinstance(value, int) and _is_empty_sequence(value)




# --- messages -----------------------------------------------------------------------------


@functools.cache
def _template(
    command_field: int, keywords: tuple[str, ...]
) -> dict[int, Any]:
    """The fields of a new message: every keyword None, Command Field, no data set."""
    fields: dict[int, Any] = {int(tag): None for tag, _vr in _tags_and_vrs(keywords)}
    fields[COMMAND_FIELD_TAG] = command_field
    fields[COMMAND_DATA_SET_TYPE_TAG] = NO_DATASET
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

    @overload
    def __get__(self, msg: None, owner: type | None = None) -> _CommandSetAttribute: ...

    @overload
    def __get__(self, msg: DIMSEMessage, owner: type | None = None) -> Dataset: ...

    def __get__(
        self, msg: DIMSEMessage | None, owner: type | None = None
    ) -> Dataset | _CommandSetAttribute:
        if msg is None:
            return self
        command_set = msg._command_set
        if command_set is None:
            fields = msg._fields
            assert fields is not None
            command_set = msg._command_set = fields_to_dataset(fields)
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
        """A received message whose command set was decoded by :func:`decode_fields`."""
        if cls.__init__ is not DIMSEMessage.__init__:  # a subclass with its own constructor
            return cls(fields_to_dataset(fields))
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
            return value_or_none(self.command_set.get(tag))
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
            _set_element(self.command_set, Tag(tag), vr_of(tag), value)

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
        self._set_us(COMMAND_DATA_SET_TYPE_TAG, HAS_DATASET if value else NO_DATASET)

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
            encoded = encode_element(elem)
            length += len(encoded)
            parts.append(encoded)
        # PS3.7 Annex E: Command Group Length is the byte count of the elements after it.
        self._set_group_length(length)
        parts[0] = GROUP_LENGTH.pack(0, 0, 4, length)
        return b''.join(parts)

    # The fields form's encoder: pynetdicom2.commandset's, the same bytes without pydicom.
    _encode_fields = staticmethod(encode_fields)

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
        payload_size(max_pdu_length)  # refuse an impossible limit now, in the caller's thread
        data_set = self._data_set if self._data_set else None
        # The command must tell the truth about what follows it (PS3.7 Annex E), whatever
        # was done to CommandDataSetType by hand.
        data_set_type = self._get_field(COMMAND_DATA_SET_TYPE_TAG)
        if data_set is not None and data_set_type in (None, NO_DATASET):
            self._set_us(COMMAND_DATA_SET_TYPE_TAG, HAS_DATASET)
        elif data_set is None and data_set_type != NO_DATASET:
            self._set_us(COMMAND_DATA_SET_TYPE_TAG, NO_DATASET)
        command = self._encode_command_set()
        fp: BinaryIO | None = None
        if data_set is not None and not isinstance(data_set, (bytes, bytearray, memoryview)):
            fp = data_set
        pdus = self._pdus(pc_id, max_pdu_length, command, data_set, fp, pack)
        return PDataStream(pdus, fp)

    # The PDUs of an encoded message: pynetdicom2.fragmentation's generator.
    _pdus = staticmethod(p_data_pdus)

    def __repr__(self) -> str:
        fields = self._fields  # a look at the fields form leaves it as it is
        return str(self._command_set if fields is None else fields_to_dataset(fields))


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

    priority = dimse_property((0x0000, 0x0700))


class SubOpsCountMixin:
    """Adds the C-GET/C-MOVE sub-operation counters (0000,1020) to (0000,1023)."""

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


def decode_message(raw: bytes) -> DIMSEMessage:
    """Decode a complete command set into its message: the fast path, else pydicom's.

    >>> pdv = next(CEchoRQMessage().encode(1, 0)).data_value_items[0]
    >>> type(decode_message(bytes(pdv.data_value[1:]))).__name__
    'CEchoRQMessage'
    """
    fields = decode_fields(raw)
    if fields is None:
        return DIMSEDecoder._command_set_to_message(decode_command_set(raw))
    command_field = fields.get(COMMAND_FIELD_TAG)
    if command_field is None:
        raise DIMSEProcessingError(_NO_COMMAND_FIELD)
    return _message_class(command_field)._from_fields(fields)


class DIMSEDecoder(dimsedecoder.Reassembler):
    """Reassemble PDVs into DIMSE messages (PS3.7 6.3, PS3.8 Annex E).

    :class:`pynetdicom2.dimsedecoder.Reassembler`, which does the reassembling, with the
    message classes of this module: its arguments, what it does with files and errors, and its
    fields are described there.

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

    decode_message = staticmethod(decode_message)

    @staticmethod
    def _command_set_to_message(command_set: Dataset) -> DIMSEMessage:
        """Wrap a decoded command set in the message class its Command Field names."""
        elem = command_set.get(COMMAND_FIELD_TAG)
        if elem is None:
            raise DIMSEProcessingError(_NO_COMMAND_FIELD)
        return _message_class(elem.value)(command_set)
