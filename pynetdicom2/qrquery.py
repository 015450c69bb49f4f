"""The query layer the archive's indexes share: an identifier's keys as index conditions.

This module owns what an index of :mod:`pynetdicom2.qrdatabase` needs to know about a
C-FIND, C-MOVE or C-GET identifier besides the matching rules themselves, which are
:mod:`pynetdicom2.qrmatch`'s (PS3.4 C.2.2.2): which keys restrict the match, the indexed
column a key is held in, and what a database can evaluate of each key by itself. It also
says what an index dialect provides (:class:`IndexBackend`): the SQLite one is in
:mod:`pynetdicom2.qrdatabase`, the PostgreSQL one in :mod:`pynetdicom2.qrpostgres`. It does
no I/O.

A key (:class:`KeyCondition`, from :func:`key_conditions`) is described by what a database
can do with it:

* exact values (:attr:`KeyCondition.values`): list of UID matching (C.2.2.2.2) and single
  value matching of a text VR (C.2.2.2.1), which an index answers with ``=``;
* a ``LIKE`` pattern (:attr:`KeyCondition.pattern`, ``\\`` escapes) for wildcard matching
  (C.2.2.2.4): ``*`` becomes ``%``, ``?`` becomes ``_``, and ``%``, ``_`` and ``\\`` are
  escaped. ``LIKE``, as DICOM's wildcards, is case sensitive and counts characters;
* range bounds (:attr:`KeyCondition.bounds`) for range matching (C.2.2.2.5) of a DA, TM or
  DT attribute of the data dictionary, as :func:`moment` strings: a stored value at full
  precision compares with them as text, in code point order;
* nothing, for the rest (the binary number VRs, ranges on other attributes or with bounds
  that are not plain digits): the index reads the value and :meth:`KeyCondition.matches`
  decides.

:attr:`KeyCondition.exact` is True when what a database evaluates decides the key for every
value the index stored faithfully, so a dialect may then leave the key to SQL alone.

>>> from pynetdicom2.loopback import query
>>> [(k.column, k.values, k.pattern, k.bounds, k.exact) for k in key_conditions(
...     query('STUDY', PatientID='P?', StudyDate='20240101-', Rows=512))]
[(None, None, None, ('20240101', ''), True),
 ('patient_id', None, 'P_', None, True),
 (None, None, None, None, False)]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset

from pynetdicom2.qrmatch import (
    LEVEL_KEYS,
    RANGE_VRS,
    WILDCARD_VRS,
    element_matches,
    exact_values,
    match_keys,
    range_bounds,
)

__all__ = ['LEVELS', 'IndexBackend', 'KeyCondition', 'Row', 'dictionary_range_vr',
           'key_conditions', 'like_pattern', 'moment', 'tag_key']

#: The unique key of each query/retrieve level and the column holding it (PS3.4 C.6.1.1).
LEVELS = {
    'PATIENT': (LEVEL_KEYS['PATIENT'], 'patient_id'),
    'STUDY': (LEVEL_KEYS['STUDY'], 'study_uid'),
    'SERIES': (LEVEL_KEYS['SERIES'], 'series_uid'),
    'IMAGE': (LEVEL_KEYS['IMAGE'], 'sop_uid'),
}
_COLUMNS = dict(LEVELS.values())

#: One instance as an index stores it: SOP Instance UID, path, mtime, SOP Class UID,
#: Patient ID, Study and Series Instance UIDs, and the attributes as JSON (tag -> value).
Row = tuple[str, str, float, str, str, str, str, str]

# A DA, TM or DT value of plain ASCII digits (PS3.5 6.2), the only values moment() takes.
_PLAIN = {
    'DA': re.compile(r'[0-9]+\Z'),
    'TM': re.compile(r'[0-9]+(?:\.[0-9]*)?\Z'),
    'DT': re.compile(r'[0-9]+(?:\.[0-9]*)?(?:[+-][0-9]{4})?\Z'),
}
_OFFSET = re.compile(r'[+-][0-9]{4}\Z')
#: Digits before the fraction: DA YYYYMMDD, TM HHMMSS, DT YYYYMMDDHHMMSS (PS3.5 6.2).
_WHOLE = {'DA': 8, 'TM': 6, 'DT': 14}


def moment(vr: str, text: str, fill: str = '0') -> str | None:
    """A DA, TM or DT value of plain digits at full precision, or None for any other text.

    The missing digits are ``fill``: ``'0'`` gives the first moment the value names, ``'9'``
    the last (PS3.4 C.2.2.2.5: a bound covers all it names). A DT value's UTC offset is
    left out, as :mod:`pynetdicom2.qrmatch` leaves it when it compares ranges. Two moments
    of one VR compare, as text, in time order. A value with anything but digits, one ``.``
    and (DT) an offset, such as ACR-NEMA's ``10:15`` or padding, is None: an index keeps
    such values for :func:`pynetdicom2.qrmatch.element_matches` to decide.

    >>> moment('DA', '2024'), moment('TM', '1230', '9'), moment('DT', '20240101-0500')
    ('20240000', '123099.999999', '20240101000000.000000')
    >>> moment('TM', '10:15') is None, moment('DA', '') is None
    (True, True)
    """
    if not _PLAIN[vr].match(text):
        return None
    if vr == 'DT':
        text = _OFFSET.sub('', text)
    whole, _, fraction = text.partition('.')
    whole = whole.ljust(_WHOLE[vr], fill)
    return whole if vr == 'DA' else f'{whole}.{fraction.ljust(6, fill)}'


def like_pattern(wanted: str) -> str:
    """The SQL ``LIKE`` pattern of a wildcard key (PS3.4 C.2.2.2.4), ``\\`` as the escape.

    >>> like_pattern('Doe^J*'), like_pattern('5%_?')
    ('Doe^J%', '5\\\\%\\\\__')
    """
    out = []
    for char in wanted:
        if char == '*':
            out.append('%')
        elif char == '?':
            out.append('_')
        elif char in '%_\\':
            out.append('\\' + char)
        else:
            out.append(char)
    return ''.join(out)


def dictionary_range_vr(tag: int) -> str | None:
    """The data dictionary's VR of ``tag`` when it is DA, TM or DT, else None.

    >>> dictionary_range_vr(0x00080020), dictionary_range_vr(0x00100010)
    ('DA', None)
    """
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return None
    return vr if vr in RANGE_VRS else None


def tag_key(tag: int) -> str:
    """The name of a tag in an index's JSON: 8 hex digits (``'00100020'``)."""
    return f'{tag:08X}'


class KeyCondition(NamedTuple):
    """One key of an identifier that restricts the match, and what an index can do with it."""

    tag: int
    vr: str
    wanted: str
    #: The indexed column holding the attribute (the unique keys), or None.
    column: str | None
    #: The values the stored attribute must equal (text, joined by ``\\`` when multi-valued).
    values: tuple[str, ...] | None
    #: The ``LIKE`` pattern of a wildcard key.
    pattern: str | None
    #: ``(low, high)`` moments of a range key (``''``: an open end); the attribute's
    #: dictionary VR is the key's, so an index may keep its values as moments.
    bounds: tuple[str, str] | None
    #: What an index evaluates (values, pattern, bounds) decides the key by itself.
    exact: bool

    @property
    def name(self) -> str:
        """The attribute's name in an index's JSON (:func:`tag_key`)."""
        return tag_key(self.tag)

    def matches(self, stored: Any) -> bool:
        """True when a stored value (None: absent) matches the key (PS3.4 C.2.2.2)."""
        return element_matches(self.vr, self.wanted, stored)


def _range_bounds(tag: int, vr: str, wanted: str) -> tuple[str, str] | None:
    bounds = range_bounds(vr, wanted)
    if bounds is None or dictionary_range_vr(tag) != vr:
        return None
    low, high = bounds
    first = moment(vr, low, '0') if low else ''
    last = moment(vr, high, '9') if high else ''
    if first is None or last is None:
        return None
    return first, last


def key_conditions(identifier: Dataset) -> list[KeyCondition]:
    """The :class:`KeyCondition` of each key of ``identifier`` that restricts the match
    (universal keys, PS3.4 C.2.2.2.3, are left out), in the identifier's order."""
    found = []
    for tag, vr, wanted in match_keys(identifier):
        column = _COLUMNS.get(keyword_for_tag(tag))
        exact = exact_values(vr, wanted)
        values = tuple(exact) if exact is not None else None
        pattern = None
        bounds = None
        if values is None and vr in WILDCARD_VRS and ('*' in wanted or '?' in wanted):
            pattern = like_pattern(wanted)
        elif values is None and vr in RANGE_VRS:
            bounds = _range_bounds(tag, vr, wanted)
        found.append(KeyCondition(tag, vr, wanted, column, values, pattern, bounds,
                                  values is not None or pattern is not None
                                  or bounds is not None))
    return found


class IndexBackend(Protocol):
    """What an index dialect provides to :class:`pynetdicom2.qrdatabase.QRDatabase`.

    Rows are :data:`Row` tuples; the order of instances is the order they were indexed in,
    an instance indexed again going last. Methods are called from several threads at once.
    """

    #: The database as logs name it (a path, or a URL without its password).
    display: str

    def check(self, row: Row) -> None:
        """Raise :class:`pynetdicom2.exceptions.InvalidDataSetError` for a row the database
        cannot store."""

    def write(self, rows: Sequence[Row]) -> None:
        """Index ``rows`` in one transaction; a SOP Instance UID indexed before is replaced."""

    def remove(self, sop_uid: str) -> None:
        """Forget one instance."""

    def forget(self, files: Sequence[tuple[str, float]]) -> None:
        """Forget the instances of these ``(path, mtime)``, if still indexed with that mtime."""

    def count(self) -> int:
        """The number of instances."""

    def known(self) -> list[tuple[str, float]]:
        """``(path, mtime)`` of every instance."""

    def entities(self, keys: Sequence[KeyCondition], level: str) -> list[tuple[str, str]]:
        """``(unique key value, attributes as JSON)`` of the first instance indexed of each
        entity at ``level`` with an instance that matches every key, in that order."""

    def paths(self, keys: Sequence[KeyCondition]) -> list[str]:
        """The paths of the instances that match every key, in the order indexed."""

    def instances(self) -> list[tuple[str, str]]:
        """``(SOPInstanceUID, path)`` of every instance, in the order indexed."""

    def close(self) -> None:
        """Release the connections."""
