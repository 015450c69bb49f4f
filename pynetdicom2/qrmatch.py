"""Query/Retrieve key matching (PS3.4 C.2.2.2): the one implementation of it in pynetdicom2.

This module owns the rules by which a C-FIND, C-MOVE or C-GET identifier selects stored
instances, and the shape of a C-FIND answer. It does no networking and keeps no index:
:class:`pynetdicom2.qrdatabase.QRDatabase` calls :func:`element_matches` from SQLite, and
:class:`pynetdicom2.loopback.LoopbackSCP` calls :func:`matches` on the headers of its files.

The kinds of matching, per key (an element of the identifier):

* universal matching (C.2.2.2.3): an empty key matches every instance, with or without the
  attribute; so does a key of VR SQ (sequence matching, C.2.2.2.6, is not supported: a
  sequence is a return key only) or of a binary VR (OB, OD, OF, OL, OV, OW, UN);
* list of UID matching (C.2.2.2.2): a UI key ``uid1\\uid2`` matches either UID (a single UID
  is a list of one);
* range matching (C.2.2.2.5) for DA, TM and DT: ``low-high``, ``low-`` and ``-high``, both
  ends inclusive. A bound given with less precision covers all it names: ``-1230`` includes
  ``123059.5`` and ``-2024`` (DT) the whole of 2024. A DT range splits at the ``-`` that
  leaves two valid values in order, so a UTC offset (``-0500``) is not taken for the
  separator; offsets are then not compared (values are compared as written). An instance
  without the attribute does not match a range;
* wildcard matching (C.2.2.2.4) for AE, CS, LO, LT, PN, SH, ST, UC, UR and UT: ``*`` is any
  run of characters, ``?`` any one character;
* a key of nothing but ``*`` is universal matching (C.2.2.2.3) whatever its VR, so it
  matches an instance without the attribute too: C.2.2.2.4 makes a lone ``*`` match any
  value including an empty one, and for the VRs that take no wildcards (DA, TM, DT, UI, the
  number strings ...) ``*`` is no valid value, only what a requester sends to mean "any";
* single value matching (C.2.2.2.1) otherwise: the whole value, case sensitive (PN too, which
  C.2.2.2.1 allows); the binary number VRs (US, SS, UL, SL, UV, SV, FL, FD) compare as numbers.

A multi-valued stored attribute is compared as its values joined by ``\\``. Every key must
match (the keys combine with AND). Specific Character Set and Query/Retrieve Level are not
keys; nor is anything in groups 0000 and 0002.

Every key is matched whatever its level, as a relational search does (PS3.4 C.4.1.3.2).
Where relational queries were not negotiated (PS3.4 C.5.1.1), a server refuses a C-FIND
identifier holding a key above the query level other than a unique key
(:func:`check_hierarchical`, PS3.4 C.4.1.2.1); the levels of the keys are
:func:`key_level`'s.

>>> element_matches('TM', '-1230', '123059.5'), element_matches('PN', 'Doe*', 'Doe^Jane')
(True, True)
>>> identifier = Dataset(); identifier.PatientName = 'D?e^*'; identifier.StudyTime = '1200-1230'
>>> stored = Dataset(); stored.PatientName = 'Doe^Jane'; stored.StudyTime = '123059.5'
>>> matches(identifier, stored)
True
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset

__all__ = [
    'LEVEL_KEYS', 'QueryError', 'answer', 'check_hierarchical', 'element_matches',
    'exact_values', 'hierarchical_violations', 'is_key', 'key_level', 'level_of', 'match_keys',
    'matches', 'range_bounds', 'value_text',
]

#: The unique key of each query/retrieve level (PS3.4 C.6.1.1).
LEVEL_KEYS = {
    'PATIENT': 'PatientID',
    'STUDY': 'StudyInstanceUID',
    'SERIES': 'SeriesInstanceUID',
    'IMAGE': 'SOPInstanceUID',
}
#: The levels a Study Root model offers (PS3.4 C.6.2: no PATIENT level).
STUDY_ROOT_LEVELS = frozenset({'STUDY', 'SERIES', 'IMAGE'})
_LEVEL_ORDER = ('PATIENT', 'STUDY', 'SERIES', 'IMAGE')

#: The keys of each level of the Patient Root model (PS3.4 C.6.1.1.2 to C.6.1.1.5, Tables C.6-1
#: to C.6-4), with other attributes of the modules of the level. In the Study Root model the
#: patient's keys are keys of the STUDY level (PS3.4 C.6.2.1.2). An attribute not listed is
#: taken for a key of the level queried.
_KEYWORDS_BY_LEVEL = {
    'PATIENT': (
        'PatientName', 'PatientID', 'IssuerOfPatientID', 'IssuerOfPatientIDQualifiersSequence',
        'ReferencedPatientSequence', 'PatientBirthDate', 'PatientBirthTime', 'PatientSex',
        'OtherPatientIDsSequence', 'OtherPatientNames', 'EthnicGroup', 'PatientComments',
        'NumberOfPatientRelatedStudies', 'NumberOfPatientRelatedSeries',
        'NumberOfPatientRelatedInstances', 'PatientBirthName', 'PatientMotherBirthName',
        'PatientSpeciesDescription', 'PatientBreedDescription', 'ResponsiblePerson',
        'PatientSexNeutered', 'QualityControlSubject',
    ),
    'STUDY': (
        'StudyDate', 'StudyTime', 'AccessionNumber', 'IssuerOfAccessionNumberSequence',
        'StudyID', 'StudyInstanceUID', 'ModalitiesInStudy', 'SOPClassesInStudy',
        'AnatomicRegionsInStudyCodeSequence', 'ReferringPhysicianName', 'StudyDescription',
        'ProcedureCodeSequence', 'NameOfPhysiciansReadingStudy',
        'AdmittingDiagnosesDescription', 'ReferencedStudySequence', 'PatientAge',
        'PatientSize', 'PatientWeight', 'Occupation', 'AdditionalPatientHistory',
        'OtherStudyNumbers', 'NumberOfStudyRelatedSeries', 'NumberOfStudyRelatedInstances',
    ),
    'SERIES': (
        'Modality', 'SeriesNumber', 'SeriesInstanceUID', 'NumberOfSeriesRelatedInstances',
        'SeriesDescription', 'SeriesDate', 'SeriesTime', 'BodyPartExamined', 'Laterality',
        'ProtocolName', 'PerformingPhysicianName', 'OperatorsName',
        'PerformedProcedureStepStartDate', 'PerformedProcedureStepStartTime',
        'RequestAttributesSequence',
    ),
    'IMAGE': (
        'InstanceNumber', 'SOPInstanceUID', 'SOPClassUID', 'AvailableTransferSyntaxUID',
        'AlternateRepresentationSequence', 'RelatedGeneralSOPClassUID',
        'ConceptNameCodeSequence', 'ContentTemplateSequence', 'ContainerIdentifier',
        'SpecimenDescriptionSequence', 'ContentDate', 'ContentTime', 'ImageType',
        'AcquisitionDate', 'AcquisitionTime', 'NumberOfFrames', 'Rows', 'Columns',
    ),
}
_LEVEL_OF_TAG = {
    int(tag): level for level, keywords in _KEYWORDS_BY_LEVEL.items()
    for tag in (tag_for_keyword(keyword) for keyword in keywords) if tag is not None
}

RANGE_VRS = frozenset({'DA', 'TM', 'DT'})
WILDCARD_VRS = frozenset({'AE', 'CS', 'LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UR', 'UT'})
NUMBER_VRS = frozenset({'US', 'UL', 'SS', 'SL', 'FL', 'FD', 'SV', 'UV'})
#: Keys of these VRs are return keys only: they match every instance.
RETURN_ONLY_VRS = frozenset({'SQ', 'OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN'})
_NOT_KEYS = frozenset({0x00080005, 0x00080052})  # SpecificCharacterSet, QueryRetrieveLevel

# PS3.5 6.2: DT is YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX].
_DATETIME = re.compile(r'\d{4,14}(?:\.\d{1,6})?(?:[+-]\d{4})?\Z')
_UTC_OFFSET = re.compile(r'[+-]\d{4}\Z')
#: Digits before the fraction: DA YYYYMMDD, TM HHMMSS, DT YYYYMMDDHHMMSS.
_WHOLE_DIGITS = {'DA': 8, 'TM': 6, 'DT': 14}


class QueryError(ValueError):
    """An identifier that cannot be answered (no or a bad QueryRetrieveLevel)."""


def value_text(value: Any) -> str:
    """An element value as the text matching compares: values joined by ``\\``.

    >>> value_text(['CT', 'MR']), value_text(None), value_text(16)
    ('CT\\\\MR', '', '16')
    """
    if value is None:
        return ''
    if isinstance(value, (list, tuple)) or type(value).__name__ == 'MultiValue':
        return '\\'.join(value_text(item) for item in value)
    return str(value)


# --- one key ------------------------------------------------------------------------------------


def _comparable(vr: str, text: str, fill: str) -> str:
    """A DA/TM/DT value at full precision, missing digits filled with ``fill``.

    Filled with ``'0'`` it is the first moment the value names, with ``'9'`` the last (or a
    point just past it that no valid value reaches): strings that compare in time order.
    """
    text = text.strip()
    if vr == 'DT':
        text = _UTC_OFFSET.sub('', text)
    elif vr == 'TM':
        text = text.replace(':', '')  # ACR-NEMA hh:mm:ss, still met in old archives
    elif vr == 'DA':
        text = text.replace('.', '')  # ACR-NEMA yyyy.mm.dd
    whole, _, fraction = text.partition('.')
    whole = whole.ljust(_WHOLE_DIGITS[vr], fill)
    return whole if vr == 'DA' else f'{whole}.{fraction.ljust(6, fill)}'


def range_bounds(vr: str, wanted: str) -> tuple[str, str] | None:
    """``(low, high)`` of a DA/TM/DT range key (``''`` for an open end), or None.

    >>> range_bounds('DA', '20240101-'), range_bounds('TM', '1200')
    (('20240101', ''), None)
    >>> range_bounds('DT', '20240101-0500-20240102'), range_bounds('DT', '20240101120000-0500')
    (('20240101-0500', '20240102'), None)
    """
    if vr not in RANGE_VRS or '-' not in wanted:
        return None
    if vr != 'DT':
        low, _, high = wanted.partition('-')
        return low.strip(), high.strip()
    for index, char in enumerate(wanted):
        if char != '-':
            continue
        low, high = wanted[:index].strip(), wanted[index + 1:].strip()
        if (low and not _DATETIME.match(low)) or (high and not _DATETIME.match(high)):
            continue
        if low and high and _comparable(vr, low, '0') > _comparable(vr, high, '9'):
            continue  # '<datetime>-0500' is one value with a UTC offset, not a range
        return low, high
    return None


def _in_range(vr: str, have: str, low: str, high: str) -> bool:
    if not have:
        return False
    value = _comparable(vr, have, '0')
    return ((not low or value >= _comparable(vr, low, '0'))
            and (not high or value <= _comparable(vr, high, '9')))


def _numbers(value: Any) -> list[float]:
    if isinstance(value, str):
        return [float(item) for item in value.split('\\')]
    if isinstance(value, (list, tuple)) or type(value).__name__ == 'MultiValue':
        return [float(item) for item in value]
    return [float(value)]


def _is_universal(vr: str, wanted: str) -> bool:
    """An empty key, a return-only VR, or a key of nothing but ``*`` (C.2.2.2.3, C.2.2.2.4)."""
    return wanted.strip('*') == '' or vr in RETURN_ONLY_VRS


def element_matches(vr: str, wanted: str, stored: Any) -> bool:
    """True when a stored value matches one key (PS3.4 C.2.2.2).

    ``vr`` is the key's VR, ``wanted`` its value as text (:func:`value_text`), ``stored`` the
    instance's value (None when it has no such attribute).

    >>> element_matches('UI', '1.2\\\\1.3', '1.3'), element_matches('DA', '-20231231', '20240101')
    (True, False)
    >>> element_matches('LO', '*', None), element_matches('LO', 'P?', None)
    (True, False)
    >>> element_matches('DA', '*', None), element_matches('UI', '*', '1.2.3')
    (True, True)
    """
    if _is_universal(vr, wanted):
        return True  # C.2.2.2.3 (and, for a lone '*', a note of C.2.2.2.4)
    have = value_text(stored)
    if vr == 'UI':
        return have in wanted.split('\\')  # C.2.2.2.2
    bounds = range_bounds(vr, wanted)
    if bounds is not None:
        return _in_range(vr, have, *bounds)  # C.2.2.2.5
    if vr in WILDCARD_VRS and ('*' in wanted or '?' in wanted):
        # C.2.2.2.4; '[' is not special in DICOM, so it is escaped for fnmatch.
        return fnmatch.fnmatchcase(have, wanted.replace('[', '[[]'))
    if vr in NUMBER_VRS and stored is not None:
        try:
            return _numbers(wanted) == _numbers(stored)
        except (TypeError, ValueError):
            pass  # not numbers after all: compare the text
    return have == wanted  # C.2.2.2.1


def exact_values(vr: str, wanted: str) -> list[str] | None:
    """The values a stored attribute must equal, when the key asks for exactly that.

    That is list of UID matching and single value matching of a text VR; None for any other
    kind (an index may narrow a search with the values, :func:`element_matches` decides).

    >>> exact_values('UI', '1.2\\\\1.3'), exact_values('LO', 'P1'), exact_values('LO', 'P*')
    (['1.2', '1.3'], ['P1'], None)
    """
    if _is_universal(vr, wanted) or vr in NUMBER_VRS or range_bounds(vr, wanted) is not None:
        return None
    if vr == 'UI':
        return wanted.split('\\')
    if vr in WILDCARD_VRS and ('*' in wanted or '?' in wanted):
        return None
    return [wanted]


# --- identifiers --------------------------------------------------------------------------------


def is_key(element: Any) -> bool:
    """True for an identifier element that is a matching or return key (PS3.4 C.4.1.1.3)."""
    tag = int(element.tag)
    return tag not in _NOT_KEYS and (tag >> 16) not in (0x0000, 0x0002)


def match_keys(identifier: Dataset) -> Iterator[tuple[int, str, str]]:
    """``(tag, vr, wanted)`` of each key that restricts the match (universal ones left out).

    >>> identifier = Dataset(); identifier.PatientID = 'P1'; identifier.StudyDate = ''
    >>> [(hex(tag), vr, wanted) for tag, vr, wanted in match_keys(identifier)]
    [('0x100020', 'LO', 'P1')]
    """
    for element in identifier:
        if not is_key(element):
            continue
        wanted = value_text(element.value)
        if not _is_universal(element.VR, wanted):
            yield int(element.tag), element.VR, wanted


def matches(identifier: Dataset, ds: Dataset) -> bool:
    """True when ``ds`` matches every key of ``identifier`` (PS3.4 C.2.2.2).

    >>> q = Dataset(); q.PatientName = 'Doe*'; q.StudyDate = '20240101-'
    >>> ds = Dataset(); ds.PatientName = 'Doe^John'; ds.StudyDate = '20240101'
    >>> matches(q, ds)
    True
    """
    for tag, vr, wanted in match_keys(identifier):
        element = ds.get(tag)
        if not element_matches(vr, wanted, None if element is None else element.value):
            return False
    return True


def level_of(identifier: Dataset, root: str | None = None) -> str:
    """The identifier's QueryRetrieveLevel, checked against the model (PS3.4 C.6).

    ``root`` is ``'PATIENT'`` or ``'STUDY'`` (None: any level of :data:`LEVEL_KEYS`);
    raises :class:`QueryError` when the level is missing, unknown or not in the model.

    >>> identifier = Dataset(); identifier.QueryRetrieveLevel = 'SERIES'
    >>> level_of(identifier, 'STUDY')
    'SERIES'
    """
    level = value_text(identifier.get('QueryRetrieveLevel', '')).strip().upper()
    if level not in LEVEL_KEYS:
        raise QueryError(f'unsupported QueryRetrieveLevel {level!r}')
    if root is not None and root.upper() == 'STUDY' and level not in STUDY_ROOT_LEVELS:
        raise QueryError(f'QueryRetrieveLevel {level} is not in the Study Root model')
    return level


def key_level(tag: int, root: str = 'PATIENT') -> str | None:
    """The level of the Patient Root (``root`` ``'PATIENT'``) or Study Root (``'STUDY'``)
    model a key belongs to (PS3.4 C.6.1.1, C.6.2.1), or None for an attribute not listed.

    >>> key_level(0x00100010), key_level(0x00100010, 'STUDY'), key_level(0x00090010) is None
    ('PATIENT', 'STUDY', True)
    """
    level = _LEVEL_OF_TAG.get(tag)
    if level == 'PATIENT' and root.upper() == 'STUDY':
        return 'STUDY'
    return level


def hierarchical_violations(identifier: Dataset, level: str,
                            root: str = 'PATIENT') -> list[tuple[str, str]]:
    """``(keyword, level)`` of each key a hierarchical C-FIND may not match on (PS3.4
    C.4.1.2.1: no Required or Optional Key of a level above the query level): a key of a
    level above ``level`` that is not that level's unique key, and is not a universal match
    (an empty key only asks for the value back). Relational queries allow them (PS3.4
    C.4.1.2.2.1).

    >>> q = Dataset(); q.PatientName = 'Doe*'; q.StudyDate = ''; q.SOPInstanceUID = ''
    >>> hierarchical_violations(q, 'IMAGE', 'STUDY'), hierarchical_violations(q, 'STUDY', 'STUDY')
    ([('PatientName', 'STUDY')], [])
    """
    above = _LEVEL_ORDER[:_LEVEL_ORDER.index(level)] if level in _LEVEL_ORDER else ()
    found = []
    for tag, _vr, _wanted in match_keys(identifier):
        keyword = keyword_for_tag(tag) or f'({tag >> 16:04X},{tag & 0xFFFF:04X})'
        key_at = key_level(tag, root)
        if key_at in above and keyword != LEVEL_KEYS[key_at]:
            found.append((keyword, key_at))
    return found


def check_hierarchical(identifier: Dataset, level: str, root: str = 'PATIENT') -> None:
    """Raise :class:`QueryError` for a C-FIND identifier a hierarchical search cannot answer
    (:func:`hierarchical_violations`): without relational queries agreed (PS3.4 C.5.1.1), a
    key above the query level other than a unique key is refused rather than ignored.

    >>> q = Dataset(); q.QueryRetrieveLevel = 'IMAGE'; q.PatientName = 'Doe*'
    >>> try:
    ...     check_hierarchical(q, 'IMAGE', 'STUDY')
    ... except QueryError as exc:
    ...     print(exc)
    PatientName is a key of the STUDY level, above the IMAGE level of the query: ...
    """
    violations = hierarchical_violations(identifier, level, root)
    if violations:
        keys = ', '.join(f'{keyword} is a key of the {key_at} level' for keyword, key_at
                         in violations)
        raise QueryError(
            f'{keys}, above the {level} level of the query: relational queries were not '
            'negotiated, so only the unique key of a level above may be given (PS3.4 '
            'C.4.1.2.1, C.5.1.1); propose relational queries or query at that level')


def answer(
    identifier: Dataset,
    level: str,
    unique_value: Any,
    value_of: Callable[[int], Any],
    charset: Any = None,
) -> Dataset:
    """A C-FIND answer (PS3.4 C.4.1.3.1): the identifier's keys with an entity's values.

    ``value_of(tag)`` is the entity's value of an attribute (None or ``''`` when it has
    none: the key comes back empty). The answer also carries the level, the level's unique
    key (``unique_value``) and, when given, the entity's Specific Character Set.

    >>> identifier = Dataset(); identifier.PatientName = ''; identifier.PatientBirthDate = ''
    >>> stored = {0x00100010: 'Doe^Jane'}
    >>> found = answer(identifier, 'PATIENT', 'P1', stored.get)
    >>> found.PatientID, str(found.PatientName), found.PatientBirthDate
    ('P1', 'Doe^Jane', None)
    """
    found = Dataset()
    if charset:
        found.add_new(0x00080005, 'CS', charset)
    found.QueryRetrieveLevel = level
    for element in identifier:
        if not is_key(element):
            continue
        value = None if element.VR in RETURN_ONLY_VRS else value_of(int(element.tag))
        found.add_new(element.tag, element.VR, None if value in (None, '', []) else value)
    setattr(found, LEVEL_KEYS[level], unique_value)
    return found
