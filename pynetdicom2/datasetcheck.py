"""Is this an encoded data set, whole? A walk over its element headers (PS3.5 7).

A C-STORE's data set is written to disk as it arrives and never decoded on the way: that is
what keeps a large study cheap to receive. It also means nothing looked at it. This module
looks, cheaply: it reads every top-level element header (tag, VR, length, PS3.5 7.1), skips
the values, follows sequences and encapsulated pixel data of undefined length through their
items and delimiters (PS3.5 7.5, A.4), and checks that the last element ends exactly where
the data ends. Values are not decoded (pixel data is skipped with one seek), so a 600 MB
image costs a few reads. On the way it picks up the SOP Class UID (0008,0016) and SOP
Instance UID (0008,0018), which a C-STORE SCP compares with the command (PS3.4 B.2.3) and a
C-STORE SCU uses when a file's meta lacks them.

What is refused (:class:`~pynetdicom2.exceptions.InvalidDataSetError`, whose message says
where): an empty data set, a header or value cut short, an explicit VR that is not a VR, an
undefined length on a VR that cannot have one, an item or delimiter where an element belongs,
sequences left open, nesting deeper than :data:`MAX_DEPTH`, deflated data that does not
inflate, and bytes after the end. What is tolerated, as real devices send it: elements out of
tag order and odd value lengths.

Usage::

    from pynetdicom2 import datasetcheck

    with open('ct.dcm', 'rb') as fp:
        meta = filestorage.read_meta(fp)                       # fp at the data set
        found = datasetcheck.check_file(fp, meta.transfer_syntax)
    print(found.sop_class_uid, found.sop_instance_uid)
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from typing import BinaryIO, NamedTuple

from pynetdicom2.exceptions import InvalidDataSetError

__all__ = ['MAX_DEPTH', 'DataSetSummary', 'check_bytes', 'check_file']

#: Sequences nested deeper than this are refused (real data sets nest a handful of levels).
MAX_DEPTH = 64

_IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2'
_EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2'
# Deflated Explicit VR Little Endian and JPIP Referenced Deflate: the whole data set deflated.
_DEFLATED = ('1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.4.95')

# PS3.5 Table 7.1-1: explicit VRs with a 2-byte reserved field and a 4-byte length.
_LONG_VRS = frozenset({b'OB', b'OD', b'OF', b'OL', b'OV', b'OW', b'SQ', b'SV', b'UC', b'UN',
                       b'UR', b'UT', b'UV'})
_SHORT_VRS = frozenset({b'AE', b'AS', b'AT', b'CS', b'DA', b'DS', b'DT', b'FL', b'FD', b'IS',
                        b'LO', b'LT', b'PN', b'SH', b'SL', b'SS', b'ST', b'TM', b'UI', b'UL',
                        b'US'})
# PS3.5 7.1.1-7.1.3: the VRs whose value may have an undefined length (SQ; UN holding a
# sequence, 6.2.2; OB/OW holding encapsulated fragments, A.4).
_MAY_BE_UNDEFINED = frozenset({b'SQ', b'UN', b'OB', b'OW'})
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_SOP_CLASS_UID = 0x00080016
_SOP_INSTANCE_UID = 0x00080018
_PIXEL_DATA = 0x7FE00010
_MAX_UID_VALUE = 66  # 64 characters and padding, with room for a stray pad byte
_CHUNK = 64 * 1024
_STRUCTS = {
    little: (struct.Struct(endian + 'HHI'), struct.Struct(endian + 'HH2sH'),
             struct.Struct(endian + 'I'))
    for little, endian in ((True, '<'), (False, '>'))
}


class DataSetSummary(NamedTuple):
    """What :func:`check_file` and :func:`check_bytes` found: the top-level SOP UIDs (None
    when absent, trailing padding removed) and the data set's encoded length."""

    sop_class_uid: str | None
    sop_instance_uid: str | None
    length: int


class _Source:
    """The encoded bytes, read forward in chunks; skipping is a seek where it can be."""

    def __init__(self, fp: BinaryIO, deflated: bool) -> None:
        self.fp = fp
        self.inflater = zlib.decompressobj(-zlib.MAX_WBITS) if deflated else None
        # Where a plain file is and where it ends, when the file can tell: reads then ask for
        # exactly what is left and skips are seeks (a small data set costs one read).
        self.here: int | None = None
        self.end: int | None = None
        if self.inflater is None:
            try:
                self.here = fp.tell()
                self.end = os.fstat(fp.fileno()).st_size
            except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
                try:
                    self.end = fp.seek(0, io.SEEK_END)
                    fp.seek(self.here or 0)
                except (OSError, AttributeError, ValueError):
                    self.here = self.end = None

    def read(self, size: int) -> bytes:
        if self.inflater is None:
            if self.end is not None and self.here is not None:
                size = min(size, self.end - self.here)
                if size <= 0:
                    return b''
                data = self.fp.read(size) or b''
                self.here += len(data)
                return data
            return self.fp.read(size) or b''
        inflater = self.inflater
        out = b''
        while len(out) < size and not inflater.eof:
            data = inflater.unconsumed_tail or self.fp.read(_CHUNK) or b''
            if not data:
                break
            try:
                out += inflater.decompress(data, size - len(out))
            except zlib.error as exc:
                raise InvalidDataSetError(
                    f'the deflated data set does not inflate: {exc}') from None
        return out

    def skip(self, size: int) -> int:
        """Skip ``size`` bytes; return how many there were (fewer at the end)."""
        if self.inflater is None and self.end is not None and self.here is not None:
            size = max(0, min(size, self.end - self.here))
            self.here += size
            self.fp.seek(self.here)
            return size
        skipped = 0
        while skipped < size:
            data = self.read(min(_CHUNK, size - skipped))
            if not data:
                break
            skipped += len(data)
        return skipped

    def check_deflate_finished(self) -> None:
        inflater = self.inflater
        if inflater is None:
            return
        if not inflater.eof:
            raise InvalidDataSetError('the deflated data set ends before its deflate stream does')
        if inflater.unused_data.strip(b'\0') or (self.fp.read(1) or b'').strip(b'\0'):
            raise InvalidDataSetError('bytes follow the deflated data set')


class _Walker:
    """The walk itself: a window of the data (``buf`` from ``pos``) over a :class:`_Source`."""

    def __init__(self, source: _Source, implicit: bool, little: bool) -> None:
        self.source = source
        self.implicit = implicit
        # implicit VR and item headers; explicit VR with a 2-byte length; a 4-byte length
        self.tag_length, self.explicit_short, self.long_length = _STRUCTS[little]
        self.buf = b''
        self.pos = 0
        self.offset = 0  # data set offset of buf[0]
        self.sop_class: str | None = None
        self.sop_instance: str | None = None

    # -- the window -----------------------------------------------------------------------

    def _have(self, size: int) -> bool:
        """True when ``size`` bytes are in the window at ``pos`` (reading more if needed)."""
        missing = self.pos + size - len(self.buf)
        if missing <= 0:
            return True
        rest = self.buf[self.pos:]
        self.offset += self.pos
        self.pos = 0
        self.buf = rest + self.source.read(max(missing, _CHUNK))
        return len(self.buf) >= size

    def _skip(self, size: int, what: str, start: int) -> None:
        """Move past a value of ``size`` bytes, which must all be there; ``what``, a tag
        (:func:`_name`) or a word, and ``start`` say what and where for the error."""
        ahead = len(self.buf) - self.pos
        if size <= ahead:
            self.pos += size
            return
        skipped = self.source.skip(size - ahead)
        self.offset += len(self.buf) + skipped
        self.buf = b''
        self.pos = 0
        if skipped < size - ahead:
            raise InvalidDataSetError(
                f'the data set is cut short: {what} at byte {start} needs {size} bytes, '
                f'{ahead + skipped} are left'
            )

    def _where(self) -> int:
        return self.offset + self.pos

    def at_end(self) -> bool:
        return not self._have(1)

    # -- elements ---------------------------------------------------------------------------

    def _header(self) -> tuple[int, bytes | None, int]:
        """Read one element, item or delimiter header: ``(tag, vr or None, length)``."""
        buf, pos = self.buf, self.pos
        if pos + 8 > len(buf):
            if not self._have(8):
                raise InvalidDataSetError(
                    f'the data set is cut short at byte {self._where()}: an element header '
                    f'needs 8 bytes, {len(self.buf) - self.pos} are left'
                )
            buf, pos = self.buf, self.pos
        if not self.implicit:
            group, element, vr, length = self.explicit_short.unpack_from(buf, pos)
            if group != 0xFFFE:  # items and delimiters have no VR (PS3.5 7.5)
                if vr in _SHORT_VRS:
                    self.pos = pos + 8
                    return group << 16 | element, vr, length
                return self._long_header(group, element, vr)
        group, element, length = self.tag_length.unpack_from(buf, pos)
        self.pos = pos + 8
        return group << 16 | element, None, length

    def _long_header(self, group: int, element: int, vr: bytes) -> tuple[int, bytes, int]:
        """The rest of an explicit VR header with a 4-byte length (PS3.5 7.1.2)."""
        start = self._where()
        if vr not in _LONG_VRS:
            raise InvalidDataSetError(
                f'element ({group:04X},{element:04X}) at byte {start} has VR {vr!r}, which is '
                'not a DICOM VR (PS3.5 6.2): not an explicit VR data set, or garbage'
            )
        if not self._have(12):
            raise InvalidDataSetError(
                f'the data set is cut short in the header of ({group:04X},{element:04X}) '
                f'at byte {start}'
            )
        self.pos += 12
        return group << 16 | element, vr, self.long_length.unpack_from(self.buf, self.pos - 4)[0]

    def walk(self) -> None:
        """Walk the whole data set: top-level elements until the data ends."""
        if self.at_end():
            raise InvalidDataSetError('the data set is empty')
        header = self._header
        while self.pos < len(self.buf) or self._have(1):
            start = self.offset + self.pos
            tag, vr, length = header()
            if length == _UNDEFINED:
                if tag >> 16 == 0xFFFE:
                    raise self._misplaced(tag, start)
                self._undefined_length(tag, vr, start, 1)
            elif tag == _SOP_CLASS_UID or tag == _SOP_INSTANCE_UID:
                self._uid(tag, length, start)
            elif tag >> 16 == 0xFFFE:
                raise self._misplaced(tag, start)
            else:
                end = self.pos + length
                if end <= len(self.buf):
                    self.pos = end  # the usual case: the value is in the window
                else:
                    self._skip(length, _name(tag), start)

    @staticmethod
    def _misplaced(tag: int, start: int) -> InvalidDataSetError:
        return InvalidDataSetError(
            f'an item or delimiter {_name(tag)} at byte {start} stands where a data element '
            'belongs (PS3.5 7.5)'
        )

    def _uid(self, tag: int, length: int, start: int) -> None:
        if length > _MAX_UID_VALUE or not self._have(length):
            self._skip(length, _name(tag), start)
            return
        value = self.buf[self.pos:self.pos + length]
        self.pos += length
        text = value.rstrip(b'\0 ').decode('ascii', 'replace')
        if tag == _SOP_CLASS_UID:
            self.sop_class = text
        else:
            self.sop_instance = text

    def _undefined_length(self, tag: int, vr: bytes | None, start: int, depth: int) -> None:
        """An element of undefined length: a sequence, or encapsulated fragments (PS3.5 A.4)."""
        if vr is not None and vr not in _MAY_BE_UNDEFINED:
            raise InvalidDataSetError(
                f'{_name(tag)} at byte {start} has VR {vr.decode("ascii")} and an undefined '
                'length, which only SQ, UN, OB and OW may have (PS3.5 7.1)'
            )
        if depth > MAX_DEPTH:
            raise InvalidDataSetError(f'sequences nest deeper than {MAX_DEPTH} levels')
        fragments = vr in (b'OB', b'OW') or (vr is None and tag == _PIXEL_DATA)
        implicit, structs = self.implicit, (self.tag_length, self.explicit_short,
                                            self.long_length)
        if vr == b'UN':
            # PS3.5 6.2.2: the content of such a UN is implicit VR little endian, in a big
            # endian data set too.
            self.implicit = True
            self.tag_length, self.explicit_short, self.long_length = _STRUCTS[True]
        try:
            self._items(tag, start, depth, fragments)
        finally:
            self.implicit = implicit
            self.tag_length, self.explicit_short, self.long_length = structs

    def _items(self, tag: int, start: int, depth: int, fragments: bool) -> None:
        """Items up to the sequence delimiter of the element ``tag`` begun at ``start``."""
        while True:
            if self.at_end():
                raise InvalidDataSetError(
                    f'the data set ends inside {_name(tag)} begun at byte {start}: '
                    'no sequence delimitation item (PS3.5 7.5)'
                )
            item_start = self._where()
            item, _vr, length = self._header()
            if item == _SEQUENCE_END:
                return
            if item != _ITEM:
                raise InvalidDataSetError(
                    f'{_name(item)} at byte {item_start} inside {_name(tag)}: expected an item '
                    '(FFFE,E000) or the sequence delimiter (FFFE,E0DD) (PS3.5 7.5)'
                )
            if length != _UNDEFINED:
                self._skip(length, 'the item', item_start)
            elif fragments:
                raise InvalidDataSetError(
                    f'a fragment of {_name(tag)} at byte {item_start} has an undefined length '
                    '(PS3.5 A.4: fragments have defined lengths)'
                )
            else:
                self._nested(item_start, depth)

    def _nested(self, item_start: int, depth: int) -> None:
        """The data set of an item of undefined length, up to its item delimiter."""
        while True:
            if self.at_end():
                raise InvalidDataSetError(
                    f'the data set ends inside the item begun at byte {item_start}: no item '
                    'delimitation item (PS3.5 7.5)'
                )
            start = self._where()
            tag, vr, length = self._header()
            if tag == _ITEM_END:
                return
            if tag >> 16 == 0xFFFE:
                raise InvalidDataSetError(
                    f'{_name(tag)} at byte {start} inside the item begun at byte '
                    f'{item_start}: expected an element or the item delimiter (PS3.5 7.5)'
                )
            if length == _UNDEFINED:
                self._undefined_length(tag, vr, start, depth + 1)
            else:
                self._skip(length, _name(tag), start)


def _name(tag: int) -> str:
    return f'({tag >> 16:04X},{tag & 0xFFFF:04X})'


def _walk(fp: BinaryIO, transfer_syntax: str) -> DataSetSummary:
    syntax = str(transfer_syntax)
    deflated = syntax in _DEFLATED
    source = _Source(fp, deflated)
    walker = _Walker(source, implicit=syntax == _IMPLICIT_VR_LITTLE_ENDIAN,
                     little=syntax != _EXPLICIT_VR_BIG_ENDIAN)
    walker.walk()
    source.check_deflate_finished()
    return DataSetSummary(walker.sop_class, walker.sop_instance, walker._where())


def check_file(fp: BinaryIO, transfer_syntax: str) -> DataSetSummary:
    """Walk the data set from ``fp``'s position to its end; leave ``fp`` where it was.

    ``transfer_syntax`` is the UID the data set is encoded in (the file meta's, or the
    presentation context's). Raises :class:`~pynetdicom2.exceptions.InvalidDataSetError`
    saying what is wrong and at which byte of the data set; an :class:`OSError` from the file
    passes through.

    >>> import io
    >>> from pynetdicom2.loopback import make_dataset
    >>> from pynetdicom2 import dsutils
    >>> ds = make_dataset()
    >>> encoded = dsutils.encode(ds, False, True)
    >>> check_file(io.BytesIO(encoded), '1.2.840.10008.1.2.1').sop_instance_uid == ds.SOPInstanceUID
    True
    >>> check_file(io.BytesIO(encoded[:-3]), '1.2.840.10008.1.2.1')
    Traceback (most recent call last):
    ...
    pynetdicom2.exceptions.InvalidDataSetError: the data set is cut short ...
    """
    start = fp.tell()
    try:
        return _walk(fp, transfer_syntax)
    finally:
        fp.seek(start)


def check_bytes(data: bytes | bytearray | memoryview, transfer_syntax: str) -> DataSetSummary:
    """:func:`check_file` for a data set held in memory."""
    return _walk(io.BytesIO(data), transfer_syntax)

