"""SOP Class Extended Negotiation (PS3.7 D.3.3.5, D.3.3.6) as records and pure functions.

This module owns what the service-class application information of a SOP Class Extended
Negotiation Sub-item (0x56) means, and every decision taken about it and about the SOP Class
Common Extended Negotiation Sub-item (0x57): the records of PS3.4 for each service family,
their bytes, what an acceptor answers, what a requester proposes and how it reads the answer.
Like :mod:`pynetdicom2.negotiation` it takes sub-items in and gives sub-items and records out:
no sockets, no AE objects (the AE's decisions come in as callables). The sub-items' own bytes
are :mod:`pynetdicom2.userdataitems`'s.

The records, one byte per sub-field, a missing byte read as 0 (PS3.4 C.5.1.1, C.5.2.1: "a one
byte response to a multiple byte request means that the missing sub-fields shall be treated as
0 values"), bytes beyond those this edition knows kept as received (``trailing``):

* :class:`QueryOptions`, C-FIND of the Query/Retrieve family (PS3.4 C.5.1.1, Tables C.5-1
  and C.5-2): relational-queries, combined date-time matching, fuzzy semantic matching of
  person names, timezone query adjustment, Enhanced Multi-Frame Image Conversion, Empty Value
  Matching and Multiple Value Matching (bytes 1 to 7, bytes 2 to 7 optional);
* :class:`RetrieveOptions`, C-MOVE and C-GET (PS3.4 C.5.2.1, C.5.3.1, Tables C.5-3 and
  C.5-4): relational-retrieval and Enhanced Multi-Frame Image Conversion;
* :class:`WorklistOptions`, Basic Worklist Management (PS3.4 K.5.1): two reserved bytes that
  are always 1, then fuzzy semantic matching and timezone query adjustment;
* :class:`StorageOptions`, Storage (PS3.4 B.3.1, Tables B.3-1 and B.3-2): level of support,
  level of digital signature support, element coercion, each followed by a reserved byte;
* :class:`OpaqueOptions`, the bytes of any other service class, as they came.

Which record a SOP class's field is read as follows the class's service family
(:func:`service_family`, :func:`parse_app_info`).

Theory of operation:

* An acceptor answers each 0x56 item whose SOP class it accepted (:func:`negotiate`), with
  what the AE's hook offers (:func:`default_answer` unless overridden): None sends no item for
  the class, and the requester then assumes none of the options (PS3.7 D.3.3.5, PS3.4
  C.5.1.1). A Query/Retrieve or worklist answer never grants an option that was not asked for
  (each byte is 1 only when both sides said 1) and is no longer than the request, so a one-byte
  request gets a one-byte answer (PS3.4 C.5.1.1). A storage answer is the acceptor's own
  statement of its level of support (PS3.4 B.3.1.2).
* An acceptor may accept a proposed SOP class it does not serve as one of the related general
  classes the requester named in a 0x57 item (:func:`related_class_map`; by default a storage
  class whose related general class the AE stores, :func:`default_related_class`). 0x57 gets
  no reply (PS3.7 D.3.3.6).
* A requester proposes one 0x56 item per proposed SOP class its configuration names
  (:func:`proposal_items`), and reads the answer (:func:`read_reply`): a grant of more than it
  asked for is clipped, with a warning.

What an AE configures (``extended_negotiation``) maps a SOP class UID, or a family name
(:data:`FIND`, :data:`MOVE`, :data:`GET`, :data:`WORKLIST`, :data:`STORAGE`) for every class
of the family, to a record or its bytes: what it proposes as a requester, and the most it
grants as an acceptor.

>>> QueryOptions(relational=True).encode()
b'\\x01'
>>> parse_app_info(uids.STUDY_ROOT_FIND_SOP_CLASS, b'\\x01\\x00\\x01')
QueryOptions(relational=True, datetime_matching=False, fuzzy_matching=True, ...)
>>> answer(uids.STUDY_ROOT_FIND_SOP_CLASS, b'\\x01\\x00\\x01',
...        QueryOptions(relational=True, datetime_matching=True)).encode()
b'\\x01\\x00\\x00'
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, Union

from pydicom.uid import UID

from pynetdicom2 import uids
from pynetdicom2.userdataitems import (
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    UserItem,
)
from pynetdicom2.wirecodec import BytesLike

__all__ = [
    'FIND',
    'GET',
    'MOVE',
    'STORAGE',
    'STORAGE_SERVICE_CLASS',
    'STORING_SCP',
    'WORKLIST',
    'OpaqueOptions',
    'Options',
    'QueryOptions',
    'RetrieveOptions',
    'StorageOptions',
    'WorklistOptions',
    'answer',
    'default_answer',
    'default_related_class',
    'insert_sub_items',
    'negotiate',
    'options_for',
    'parse_app_info',
    'proposal_items',
    'read_reply',
    'related_class_map',
    'service_family',
]

logger = logging.getLogger('pynetdicom2.extendednegotiation')

#: The service families, as :func:`service_family` names them and an AE's
#: ``extended_negotiation`` may use them as keys.
FIND = 'find'
MOVE = 'move'
GET = 'get'
WORKLIST = 'worklist'
STORAGE = 'storage'

#: PS3.4 B.3.1.3: the Storage Service Class UID a 0x57 item names.
STORAGE_SERVICE_CLASS = UID('1.2.840.10008.4.2')

_FIND_CLASSES = frozenset(uids.ALL_FIND_SOP_CLASSES)
_MOVE_CLASSES = frozenset(uids.ALL_MOVE_SOP_CLASSES)
_GET_CLASSES = frozenset(uids.ALL_GET_SOP_CLASSES)
_WORKLIST_CLASSES = frozenset({uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS})
#: PS3.4 Y.5.1: Composite Instance Root Retrieve never negotiates relational-retrieval.
_NO_RELATIONAL_RETRIEVAL = frozenset({
    uids.COMPOSITE_INSTANCE_ROOT_RETRIEVE_MOVE_SOP_CLASS,
    uids.COMPOSITE_INSTANCE_ROOT_RETRIEVE_GET_SOP_CLASS,
})


def service_family(sop_class: str) -> str | None:
    """The family whose application information ``sop_class`` uses, or None.

    :data:`FIND` (:data:`pynetdicom2.uids.ALL_FIND_SOP_CLASSES`), :data:`MOVE`, :data:`GET`,
    :data:`WORKLIST` (Modality Worklist, PS3.4 K) or :data:`STORAGE` (every storage class
    known, private ones registered as storage included).

    >>> service_family(uids.STUDY_ROOT_MOVE_SOP_CLASS), service_family(uids.CT_IMAGE_STORAGE)
    ('move', 'storage')
    >>> service_family(uids.VERIFICATION_SOP_CLASS) is None
    True
    """
    if sop_class in _WORKLIST_CLASSES:
        return WORKLIST
    if sop_class in _FIND_CLASSES:
        return FIND
    if sop_class in _MOVE_CLASSES:
        return MOVE
    if sop_class in _GET_CLASSES:
        return GET
    if sop_class in uids.KNOWN_STORAGE_SOP_CLASSES:
        return STORAGE
    return None


# --- the records --------------------------------------------------------------------------------

_Flags = TypeVar('_Flags', bound='_FlagFields')


class _FlagFields:
    """One byte per sub-field, each 0 or 1: what Query/Retrieve and worklist share.

    ``_layout`` names the field of each byte; None is a reserved byte that is always 1
    (PS3.4 K.5.1.1). A byte other than 1 reads as 0: 1 is the only value that asks for, or
    grants, an option.
    """

    if TYPE_CHECKING:  # the dataclasses below provide them
        __dataclass_fields__: ClassVar[dict[str, Any]]
        length: int | None
        trailing: bytes

    _layout: ClassVar[tuple[str | None, ...]]
    #: Bytes always sent (PS3.4 K.5.1.1: a worklist field is three or four bytes long).
    _minimum: ClassVar[int] = 1

    def _values(self) -> list[int]:
        return [1 if name is None else int(bool(getattr(self, name))) for name in self._layout]

    def known_length(self) -> int:
        """How many of the sub-fields this library knows are sent: ``length`` when given,
        else up to the last one set (at least the minimum)."""
        if self.length is not None:
            return max(0, min(self.length, len(self._layout)))
        if self.trailing:
            return len(self._layout)
        used = max((index + 1 for index, value in enumerate(self._values()) if value), default=0)
        return max(self._minimum, used)

    def encode(self) -> bytes:
        """The service-class application information field."""
        known = self.known_length()
        body = bytes(self._values()[:known])
        if self.trailing:
            body = body.ljust(len(self._layout), b'\0') + self.trailing
        return body

    @classmethod
    def decode(cls: type[_Flags], data: BytesLike) -> _Flags:
        """The record of a field; missing bytes are 0, extra ones are kept in ``trailing``."""
        raw = bytes(data)
        known = len(cls._layout)
        values = {name: len(raw) > index and raw[index] == 1
                  for index, name in enumerate(cls._layout) if name is not None}
        # the dataclasses below take these fields; this mixin declares none
        return cls(**values, length=min(len(raw), known),  # type: ignore[call-arg]
                   trailing=raw[known:])

    def flags(self) -> dict[str, bool]:
        """The options by name."""
        return {name: bool(getattr(self, name)) for name in self._layout if name is not None}

    def __str__(self) -> str:
        """The options set, by name: ``QueryOptions(relational)``, ``RetrieveOptions(none)``."""
        chosen = [name for name, value in self.flags().items() if value]
        return f'{type(self).__name__}({", ".join(chosen) or "none"})'

    def clip(self: _Flags, limit: _FlagFields) -> _Flags:
        """This record with only the options ``limit`` has too (each byte the lower of two)."""
        flags = limit.flags()
        return replace(self, **{name: value and flags.get(name, False)
                                for name, value in self.flags().items()})

    def answer_to(self: _Flags, requested: _FlagFields) -> _Flags:
        """The acceptor's reply when it supports this to ``requested``: only what both have,
        and no longer than the request's known sub-fields (PS3.4 C.5.1.1, K.5.1)."""
        return replace(self.clip(requested), length=requested.known_length(), trailing=b'')


@dataclass(frozen=True)
class QueryOptions(_FlagFields):
    """C-FIND of the Query/Retrieve family (PS3.4 C.5.1.1, Tables C.5-1, C.5-2), bytes 1-7.

    ``relational`` (C.4.1.2.2.1: keys at any level, no unique keys needed above the query
    level), ``datetime_matching`` (C.2.2.2.5: a date and a time range matched as one),
    ``fuzzy_matching`` (of person names), ``timezone_adjustment`` (Timezone Offset From UTC
    adjusts times), ``enhanced_conversion`` (Query/Retrieve View, C.4.1.2.2.2),
    ``empty_value_matching`` and ``multiple_value_matching`` (bytes 6 and 7 of the current
    edition). ``length``: how many of these bytes to send (None: up to the last option set);
    ``trailing``: bytes after byte 7, kept as received.

    >>> QueryOptions(relational=True, timezone_adjustment=True).encode()
    b'\\x01\\x00\\x00\\x01'
    >>> QueryOptions.decode(b'\\x01') == QueryOptions(relational=True)
    True
    """

    relational: bool = False
    datetime_matching: bool = False
    fuzzy_matching: bool = False
    timezone_adjustment: bool = False
    enhanced_conversion: bool = False
    empty_value_matching: bool = False
    multiple_value_matching: bool = False
    length: int | None = field(default=None, compare=False, repr=False)
    trailing: bytes = b''

    _layout: ClassVar[tuple[str | None, ...]] = (
        'relational', 'datetime_matching', 'fuzzy_matching', 'timezone_adjustment',
        'enhanced_conversion', 'empty_value_matching', 'multiple_value_matching',
    )


@dataclass(frozen=True)
class RetrieveOptions(_FlagFields):
    """C-MOVE and C-GET of the Query/Retrieve family (PS3.4 C.5.2.1, C.5.3.1, Tables C.5-3,
    C.5-4): ``relational`` retrieval (C.4.2.2.2.1: no unique keys needed above the
    retrieval level) and ``enhanced_conversion`` (Query/Retrieve View).

    >>> RetrieveOptions(relational=True).encode(), RetrieveOptions.decode(b'\\x00\\x01')
    (b'\\x01', RetrieveOptions(relational=False, enhanced_conversion=True, ...))
    """

    relational: bool = False
    enhanced_conversion: bool = False
    length: int | None = field(default=None, compare=False, repr=False)
    trailing: bytes = b''

    _layout: ClassVar[tuple[str | None, ...]] = ('relational', 'enhanced_conversion')


@dataclass(frozen=True)
class WorklistOptions(_FlagFields):
    """Basic Worklist Management (PS3.4 K.5.1.1, K.5.1.2): bytes 1 and 2 reserved and always
    1, then ``fuzzy_matching`` (of person names) and ``timezone_adjustment``; three or four
    bytes long.

    >>> WorklistOptions().encode(), WorklistOptions(timezone_adjustment=True).encode()
    (b'\\x01\\x01\\x00', b'\\x01\\x01\\x00\\x01')
    """

    fuzzy_matching: bool = False
    timezone_adjustment: bool = False
    length: int | None = field(default=None, compare=False, repr=False)
    trailing: bytes = b''

    _layout: ClassVar[tuple[str | None, ...]] = (
        None, None, 'fuzzy_matching', 'timezone_adjustment')
    _minimum: ClassVar[int] = 3


@dataclass(frozen=True)
class StorageOptions:
    """Storage (PS3.4 B.3.1.1, B.3.1.2, Tables B.3-1, B.3-2): six bytes, the even ones
    reserved (sent as 0, not read).

    ``level_of_support``: 0, 1 or 2 for an SCP of that level, 3 for an SCU only;
    ``digital_signature``: 0 unspecified (or not a level 2 SCP), 1 to 3 the signature level;
    ``element_coercion``: 0 coerces no data element, 1 may coerce, 2 an SCU only. The
    defaults are those of a requester that is an SCU only (Table B.3-1). A field cut short
    reads its missing bytes as 0.

    >>> StorageOptions(level_of_support=2, element_coercion=0).encode()
    b'\\x02\\x00\\x00\\x00\\x00\\x00'
    """

    level_of_support: int = 3
    digital_signature: int = 0
    element_coercion: int = 2
    length: int | None = field(default=None, compare=False, repr=False)
    trailing: bytes = b''

    def __post_init__(self) -> None:
        for name in ('level_of_support', 'digital_signature', 'element_coercion'):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 0xFF:
                raise ValueError(f'{name} {value!r}: a byte, 0 to 255 (PS3.4 B.3.1)')

    def encode(self) -> bytes:
        """The service-class application information field."""
        body = bytes((self.level_of_support, 0, self.digital_signature, 0,
                      self.element_coercion, 0))
        if self.length is not None and not self.trailing:
            body = body[:max(0, self.length)]
        return body + self.trailing

    @classmethod
    def decode(cls, data: BytesLike) -> StorageOptions:
        """The record of a field; missing bytes are 0, bytes after the sixth kept."""
        raw = bytes(data)
        padded = raw[:6].ljust(6, b'\0')
        return cls(padded[0], padded[2], padded[4], length=min(len(raw), 6), trailing=raw[6:])


@dataclass(frozen=True)
class OpaqueOptions:
    """The application information of a SOP class of another service, bytes as they are.

    >>> OpaqueOptions(b'\\x07').encode()
    b'\\x07'
    """

    data: bytes = b''

    def encode(self) -> bytes:
        """The field, unchanged."""
        return bytes(self.data)

    @classmethod
    def decode(cls, data: BytesLike) -> OpaqueOptions:
        """The record of a field."""
        return cls(bytes(data))


#: A record of any family.
Options = Union[QueryOptions, RetrieveOptions, WorklistOptions, StorageOptions, OpaqueOptions]
_FLAG_RECORDS = (QueryOptions, RetrieveOptions, WorklistOptions)
_RECORDS: dict[str, type[QueryOptions | RetrieveOptions | WorklistOptions | StorageOptions]] = {
    FIND: QueryOptions, MOVE: RetrieveOptions, GET: RetrieveOptions, WORKLIST: WorklistOptions,
    STORAGE: StorageOptions,
}

#: What a storing AE (:class:`pynetdicom2.applicationentity.StorageAE`) answers for a storage
#: class: a level 2 SCP (it keeps every element as received, PS3.4 B.4.1), no signature level
#: stated, no coercion.
STORING_SCP = StorageOptions(level_of_support=2, digital_signature=0, element_coercion=0)


def parse_app_info(sop_class: str, data: BytesLike, family: str | None = None) -> Options:
    """The application information of ``sop_class`` as the record of its family (or of
    ``family``, e.g. :data:`STORAGE` for a class a 0x57 item says is of that service).

    >>> parse_app_info(uids.CT_IMAGE_STORAGE, b'\\x02')
    StorageOptions(level_of_support=2, digital_signature=0, element_coercion=0, ...)
    >>> parse_app_info('1.2.3.4', b'\\x09')
    OpaqueOptions(data=b'\\t')
    """
    family = family or service_family(sop_class)
    record = _RECORDS.get(family) if family is not None else None
    return record.decode(data) if record is not None else OpaqueOptions.decode(data)


def _as_options(sop_class: str, value: Options | BytesLike) -> Options:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return parse_app_info(sop_class, value)
    return value


def _family_of_service(item: SOPClassCommonExtendedNegotiationSubItem) -> str | None:
    """The family a 0x57 item's service class gives its SOP class (PS3.7 D.3.3.6, note)."""
    return STORAGE if item.service_class_uid == STORAGE_SERVICE_CLASS else None


def options_for(config: Mapping[str, Options | BytesLike], sop_class: str) -> Options | None:
    """What ``config`` (an AE's ``extended_negotiation``) says of ``sop_class``: its own
    entry, else its family's (:func:`service_family`), else None.

    >>> config = {FIND: QueryOptions(relational=True)}
    >>> options_for(config, uids.PATIENT_ROOT_FIND_SOP_CLASS).relational
    True
    >>> options_for(config, uids.STUDY_ROOT_MOVE_SOP_CLASS) is None
    True
    """
    value = config.get(sop_class)
    if value is None:
        family = service_family(sop_class)
        value = config.get(family) if family is not None else None
    return None if value is None else _as_options(sop_class, value)


# --- the acceptor -------------------------------------------------------------------------------


def answer(sop_class: str, requested: BytesLike, offered: Options | BytesLike | None,
           served_as: str | None = None) -> Options | None:
    """The acceptor's reply to a 0x56 item for ``sop_class`` asking ``requested``, when it
    offers ``offered`` (None: no reply item, PS3.7 D.3.3.5). ``served_as``: the class it is
    served as (:func:`related_class_map`), whose family reads the fields.

    A Query/Retrieve or worklist reply grants only what was asked for, byte by byte, and is
    no longer than the request (PS3.4 C.5.1.1, C.5.2.1, K.5.1); Composite Instance Root
    Retrieve never grants relational-retrieval (PS3.4 Y.5.1). A storage reply is the
    acceptor's statement (PS3.4 B.3.1.2), as offered. An offer that is not a record of the
    class's family is refused (None, logged); the application information of another service
    class is sent as offered.

    >>> answer(uids.STUDY_ROOT_GET_SOP_CLASS, b'\\x00', RetrieveOptions(relational=True))
    RetrieveOptions(relational=False, enhanced_conversion=False, ...)
    >>> answer(uids.CT_IMAGE_STORAGE, b'\\x03\\x00\\x00\\x00\\x02\\x00', STORING_SCP).encode()
    b'\\x02\\x00\\x00\\x00\\x00\\x00'
    """
    if offered is None:
        return None
    asked = parse_app_info(served_as or sop_class, requested)
    ours = _as_options(served_as or sop_class, offered)
    if isinstance(asked, OpaqueOptions):
        return ours
    if type(ours) is not type(asked):
        logger.warning('extended negotiation of %s: the answer %r is not a %s (PS3.4 C.5, '
                       'B.3.1, K.5.1); no reply item is sent', sop_class, ours,
                       type(asked).__name__)
        return None
    if isinstance(ours, StorageOptions):
        return ours
    assert isinstance(ours, _FLAG_RECORDS) and isinstance(asked, _FLAG_RECORDS)
    reply = ours.answer_to(asked)
    if isinstance(reply, RetrieveOptions) and sop_class in _NO_RELATIONAL_RETRIEVAL:
        reply = replace(reply, relational=False)
    return reply


Decision = Callable[[UID, bytes], Union[Options, BytesLike, None]]


def negotiate(
    user_items: Iterable[UserItem], accepted: Container[str], decide: Decision,
    served_as: Mapping[UID, UID] | None = None,
) -> tuple[list[SOPClassExtendedNegotiationSubItem], dict[UID, Options]]:
    """The acceptor's 0x56 reply items and what they agree to, by SOP class.

    ``user_items`` are the A-ASSOCIATE-RQ's user information sub-items; ``accepted`` the SOP
    classes of the accepted presentation contexts (an item for another class is not
    answered); ``decide(sop_class, app_info)`` is the AE's offer (see :func:`answer`);
    ``served_as`` maps a class served as another (:func:`related_class_map`) to it. Only the
    first item of a SOP class counts (PS3.7 D.3.3.5: one per class).

    >>> rq = [SOPClassExtendedNegotiationSubItem(uids.STUDY_ROOT_FIND_SOP_CLASS, b'\\x01\\x01'),
    ...       SOPClassExtendedNegotiationSubItem(uids.CT_IMAGE_STORAGE, b'\\x03')]
    >>> items, agreed = negotiate(rq, {uids.STUDY_ROOT_FIND_SOP_CLASS},
    ...                           lambda uid, info: QueryOptions(relational=True))
    >>> [(str(i.sop_class_uid), i.app_info) for i in items]
    [('1.2.840.10008.5.1.4.1.2.2.1', b'\\x01\\x00')]
    """
    replies: list[SOPClassExtendedNegotiationSubItem] = []
    agreed: dict[UID, Options] = {}
    seen: set[UID] = set()
    for item in user_items:
        if not isinstance(item, SOPClassExtendedNegotiationSubItem):
            continue
        uid = UID(item.sop_class_uid)
        if uid in seen:
            logger.warning('a second SOP class extended negotiation item for %s is ignored '
                           '(PS3.7 D.3.3.5)', uid)
            continue
        seen.add(uid)
        if uid not in accepted:
            logger.debug('extended negotiation of %s: its context was not accepted', uid)
            continue
        reply = answer(uid, item.app_info, decide(uid, item.app_info),
                       (served_as or {}).get(uid))
        if reply is None:
            continue
        replies.append(SOPClassExtendedNegotiationSubItem(uid, reply.encode()))
        agreed[uid] = reply
    return replies, agreed


def default_answer(ae: Any, sop_class: str, app_info: BytesLike,
                   served_as: str | None = None) -> Options | None:
    """What an AE offers by default (``AEBase.on_sop_class_extended_negotiation``); a class
    served as another (``served_as``, :func:`related_class_map`) gets the other's answer.

    The AE's ``extended_negotiation`` entry for the class or its family (:func:`options_for`);
    without one, nothing for a Query/Retrieve or worklist class (all 0: the request is
    answered, no option granted), the AE's ``storage_extended_negotiation`` for a storage
    class (a storing AE's is :data:`STORING_SCP`; None, no item, for an AE that does not say
    what it keeps), and no item for any other class.

    >>> class Archive:
    ...     extended_negotiation = {FIND: QueryOptions(relational=True)}
    >>> default_answer(Archive(), uids.STUDY_ROOT_FIND_SOP_CLASS, b'\\x01').relational
    True
    >>> default_answer(Archive(), uids.STUDY_ROOT_MOVE_SOP_CLASS, b'\\x01').relational
    False
    >>> default_answer(Archive(), uids.CT_IMAGE_STORAGE, b'\\x03') is None
    True
    """
    sop_class = served_as or sop_class
    ours = options_for(getattr(ae, 'extended_negotiation', None) or {}, sop_class)
    if ours is not None:
        return ours
    family = service_family(sop_class)
    if family == STORAGE:
        stated: Options | None = getattr(ae, 'storage_extended_negotiation', None)
        return stated
    if family is None:
        return None
    return _RECORDS[family]()


RelatedDecision = Callable[[SOPClassCommonExtendedNegotiationSubItem], Union[str, None]]


def related_class_map(
    user_items: Iterable[UserItem], proposed: Container[str], served: Container[str],
    decide: RelatedDecision,
) -> dict[UID, UID]:
    """Proposed SOP classes the acceptor does not serve, each mapped to the class it serves
    them as, from the requester's 0x57 items (PS3.7 D.3.3.6, PS3.4 B.3.1.4).

    ``proposed``: the abstract syntaxes of the proposed contexts; ``served``: the classes the
    acceptor is SCP of; ``decide(item)``: the class to serve it as, or None. A class already
    served, or not proposed, is not asked about; an answer that is not served is ignored.
    Only the first item of a SOP class counts.

    >>> item = SOPClassCommonExtendedNegotiationSubItem(
    ...     '1.2.826.0.1.3680043.9.9.1', STORAGE_SERVICE_CLASS, [uids.CT_IMAGE_STORAGE])
    >>> related_class_map([item], {'1.2.826.0.1.3680043.9.9.1'}, {uids.CT_IMAGE_STORAGE},
    ...                   lambda item: default_related_class(item, {uids.CT_IMAGE_STORAGE}))
    {'1.2.826.0.1.3680043.9.9.1': '1.2.840.10008.5.1.4.1.1.2'}
    """
    found: dict[UID, UID] = {}
    seen: set[UID] = set()
    for item in user_items:
        if not isinstance(item, SOPClassCommonExtendedNegotiationSubItem):
            continue
        uid = UID(item.sop_class_uid)
        if uid in seen:
            logger.warning('a second SOP class common extended negotiation item for %s is '
                           'ignored (PS3.7 D.3.3.6)', uid)
            continue
        seen.add(uid)
        if uid in served or uid not in proposed:
            continue
        general = decide(item)
        if general is None:
            continue
        if general not in served:
            logger.warning('%s would be served as %s, which has no SCP here; not accepted',
                           uid, general)
            continue
        found[uid] = UID(general)
        logger.info('%s (service class %s) is served as its related general SOP class %s '
                    '(PS3.7 D.3.3.6)', uid, item.service_class_uid, general)
    return found


def default_related_class(item: SOPClassCommonExtendedNegotiationSubItem,
                          served: Container[str]) -> UID | None:
    """By default, a class of the Storage Service Class is served as the first of its related
    general classes that is a storage class in ``served`` (PS3.4 B.3.1.3, B.3.1.4).

    >>> item = SOPClassCommonExtendedNegotiationSubItem(
    ...     '1.2.3', STORAGE_SERVICE_CLASS, ['1.2.4', uids.CT_IMAGE_STORAGE])
    >>> default_related_class(item, {'1.2.4', uids.CT_IMAGE_STORAGE})
    '1.2.840.10008.5.1.4.1.1.2'
    """
    if item.service_class_uid != STORAGE_SERVICE_CLASS:
        return None
    return next((UID(uid) for uid in item.related_general_sop_class_uids
                 if uid in served and uid in uids.KNOWN_STORAGE_SOP_CLASSES), None)


def insert_sub_items(user_data: list[UserItem], items: Iterable[UserItem]) -> None:
    """Put ``items`` in ``user_data`` (a user information item's sub-items) in the order of
    PS3.7 Annex D: after those of a lower type (0x51 to 0x55), before the identity items.

    >>> from pynetdicom2.userdataitems import MaximumLengthSubItem
    >>> subs = [MaximumLengthSubItem(0)]
    >>> insert_sub_items(subs, [SOPClassExtendedNegotiationSubItem('1.2', b'\\x01')])
    >>> [hex(item.item_type) for item in subs]
    ['0x51', '0x56']
    """
    new = list(items)
    if not new:
        return
    last = max(item.item_type for item in new)
    position = next((index for index, item in enumerate(user_data) if item.item_type > last),
                    len(user_data))
    user_data[position:position] = new


# --- the requester ------------------------------------------------------------------------------


def proposal_items(
    config: Mapping[str, Options | BytesLike], sop_classes: Iterable[str],
    user_data: Iterable[UserItem] = (),
) -> list[SOPClassExtendedNegotiationSubItem]:
    """The requester's 0x56 items: one per proposed SOP class ``config`` names (by UID or
    family, :func:`options_for`), in the proposal's order; none for a class that
    ``user_data`` (the caller's own sub-items) already has one for (PS3.7 D.3.3.5).

    >>> items = proposal_items({FIND: QueryOptions(relational=True)},
    ...                        [uids.STUDY_ROOT_FIND_SOP_CLASS, uids.CT_IMAGE_STORAGE])
    >>> [(str(item.sop_class_uid), item.app_info) for item in items]
    [('1.2.840.10008.5.1.4.1.2.2.1', b'\\x01')]
    """
    given = {UID(item.sop_class_uid) for item in user_data
             if isinstance(item, SOPClassExtendedNegotiationSubItem)}
    items = []
    for uid in dict.fromkeys(UID(sop_class) for sop_class in sop_classes):
        options = options_for(config, uid)
        if options is not None and uid not in given:
            items.append(SOPClassExtendedNegotiationSubItem(uid, options.encode()))
    return items


def read_reply(rq_items: Iterable[UserItem], ac_items: Iterable[UserItem],
               accepted: Container[str] | None = None) -> dict[UID, Options]:
    """What the A-ASSOCIATE-AC agreed to, by SOP class, against what the RQ proposed.

    A reply for a class nothing was proposed for, or whose context was not accepted
    (``accepted``: the accepted SOP classes, None for any), is ignored; a Query/Retrieve or
    worklist reply granting more than proposed is clipped to the proposal, with a warning.
    A class without a reply is absent: none of its options were agreed (PS3.4 C.5.1.1). A
    class the RQ's 0x57 item says is of the Storage Service Class is read as storage.

    >>> rq = [SOPClassExtendedNegotiationSubItem(uids.STUDY_ROOT_FIND_SOP_CLASS, b'\\x01')]
    >>> ac = [SOPClassExtendedNegotiationSubItem(uids.STUDY_ROOT_FIND_SOP_CLASS, b'\\x01\\x01')]
    >>> read_reply(rq, ac)[uids.STUDY_ROOT_FIND_SOP_CLASS].datetime_matching  # not asked for
    False
    """
    rq_items = list(rq_items)
    families = {UID(item.sop_class_uid): _family_of_service(item) for item in rq_items
                if isinstance(item, SOPClassCommonExtendedNegotiationSubItem)}
    proposed: dict[UID, Options] = {}
    for item in rq_items:
        if isinstance(item, SOPClassExtendedNegotiationSubItem):
            uid = UID(item.sop_class_uid)
            proposed.setdefault(uid, parse_app_info(uid, item.app_info, families.get(uid)))
    agreed: dict[UID, Options] = {}
    for item in ac_items:
        if not isinstance(item, SOPClassExtendedNegotiationSubItem):
            continue
        uid = UID(item.sop_class_uid)
        asked = proposed.get(uid)
        if asked is None or uid in agreed:
            logger.warning('the A-ASSOCIATE-AC answers extended negotiation of %s, which was '
                           'not proposed or is answered twice; ignored (PS3.7 D.3.3.5)', uid)
            continue
        if accepted is not None and uid not in accepted:
            continue
        reply = parse_app_info(uid, item.app_info, families.get(uid))
        if isinstance(reply, _FLAG_RECORDS) and isinstance(asked, type(reply)):
            clipped = reply.clip(asked)
            if clipped != reply:
                logger.warning('the A-ASSOCIATE-AC grants %s more than proposed: %r for %r; '
                               'only what was proposed is agreed (PS3.4 C.5)', uid,
                               reply.flags(), asked.flags())
            reply = clipped
        agreed[uid] = reply
    return agreed

