"""Convert an encoded data set between the uncompressed transfer syntaxes, as a stream.

A C-STORE SCU holds a file in one transfer syntax; the peer may have accepted another. This
module rewrites the data set on the way out, element by element, without decoding it into a
:class:`~pydicom.dataset.Dataset` and without holding a large value in memory: it is the
sibling of :mod:`pynetdicom2.datasetcheck`, which walks the same element headers (PS3.5 7.1)
but only reads. Memory is bounded by ``chunk_size``, not by the data set: a 600 MB image
goes through in pieces of about a megabyte.

The four syntaxes, in every direction (:data:`SYNTAXES`):

* Implicit VR Little Endian ``1.2.840.10008.1.2`` (PS3.5 A.1);
* Explicit VR Little Endian ``1.2.840.10008.1.2.1`` (A.2);
* Explicit VR Big Endian ``1.2.840.10008.1.2.2`` (A.3, retired but still met);
* Deflated Explicit VR Little Endian ``1.2.840.10008.1.2.1.99`` (A.5): the explicit VR
  little endian stream in raw deflate (RFC 1951, no zlib header), padded to an even length.

What changes, and why:

* Element headers (PS3.5 7.1.1-7.1.3). An explicit VR source's VRs are kept. An implicit
  VR source has none: they come from pydicom's data dictionary (repeating groups 50xx and
  60xx included, :func:`dictionary_vr`), with these rules where it says nothing or several:

  - a group length (gggg,0000) is UL; a private creator (odd group, element 0010-00FF) LO;
    any other private element, and a public tag the dictionary lacks, UN (PS3.5 6.2.2,
    7.8.1);
  - 'US or SS' (pixel values, LUT descriptors): SS when Pixel Representation (0028,0103)
    is 1, else US (PS3.3 C.7.6.3.1.5 Note 2);
  - 'OB or OW': Pixel Data (7FE0,0010) is OB when Bits Allocated (0028,0100) is 8 or less,
    else OW (PS3.5 A.2, A.3: 8-bit pixels are then not swapped); the waveform elements
    (5400,xxxx) the same by Waveform Bits Allocated (5400,1004); Overlay Data (60xx,3000)
    and the rest OW (PS3.5 A.1, 8.1.2);
  - 'US or OW', 'US or SS or OW' (LUT Data): a single value is US (SS by Pixel
    Representation where allowed), a table OW;
  - the deciding value is the nearest one already seen, the item's own before that of the
    data sets around it; none seen yet (Zero Velocity Pixel Value (0018,9810) comes before
    Pixel Representation, say) gives US or OW, OW being what implicit VR meant (PS3.5 A.1);
  - a value too long for a 2-byte length field (over 65534 bytes of US, say) becomes UN,
    its bytes as implicit VR little endian had them, not swapped (PS3.5 6.2.2, Note 2).

* Values are byte-swapped when the byte order changes, by the VR's word size (PS3.5 7.3):
  US, SS, OW and AT by 2 bytes, UL, SL, FL, OF and OL by 4, FD, OD, SV, UV and OV by 8;
  strings, OB and UN are bytes and stay as they are.
* Sequences and items (PS3.5 7.5). Between explicit VR syntaxes every element keeps its
  length, so defined lengths are kept and the output has the input's structure. Between
  implicit and explicit VR, header sizes change (12 bytes against 8 for OB, SQ, UN...), so a
  defined length would have to be computed before its sequence is written: that takes a
  first pass over the file, or holding the sequence. Instead every converted sequence and
  item of defined length is written with an undefined length and its delimiter, which every
  transfer syntax allows; empty ones keep their zero length. Group lengths (gggg,0000) and
  Length to End (0008,0001), retired (PS3.5 7.2), would be wrong after such a change: they
  are dropped then, and kept between explicit VR syntaxes.
* A UN of undefined length in an explicit source holds a sequence that stays in implicit VR
  little endian form whatever the transfer syntax, big endian included (PS3.5 6.2.2 and its
  Note 2): its content is copied byte for byte. (pydicom 2.4 and 3 cannot read such a UN
  in a big endian data set; the standard is followed nevertheless.) In an implicit source,
  an element of undefined length can only be a sequence (PS3.5 7.1.3, 7.5), so one the
  dictionary does not know, a private sequence say, is written as SQ and its items are
  converted: a big endian peer then gets big endian items.

Converting to the same syntax passes the bytes through unchanged and unchecked (check them
with :mod:`pynetdicom2.datasetcheck` first if needed). Malformed input raises
:class:`~pynetdicom2.exceptions.InvalidDataSetError` saying what and at which byte of the
(inflated) data set, possibly after some pieces were yielded: the receiver must then be told
(a C-STORE sender aborts). What is refused: a header or value cut short, an explicit VR that
is not one, an undefined length on a VR that cannot have one, encapsulated pixel data (a
native syntax has none, PS3.5 A.4), an item or delimiter out of place, an element running
past the end of its item, sequences left open, nesting deeper than
:data:`~pynetdicom2.datasetcheck.MAX_DEPTH`, deflated data that does not inflate or is
followed by bytes other than its pad. Odd value lengths and elements out of order pass.

Usage::

    from pynetdicom2 import filestorage, transcode

    with open('ct.dcm', 'rb') as fp:
        meta = filestorage.read_meta(fp)                     # fp now at the data set
        if transcode.can_convert(meta.transfer_syntax, accepted):
            for piece in transcode.convert(fp, meta.transfer_syntax, accepted):
                send(piece)                                  # e.g. into P-DATA fragments
"""

from __future__ import annotations

import array
import functools
import io
import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from pydicom.datadict import dictionary_VR

from pynetdicom2.datasetcheck import MAX_DEPTH
from pynetdicom2.exceptions import InvalidDataSetError, NetDICOMError

__all__ = [
    'DEFAULT_CHUNK_SIZE', 'SYNTAXES', 'can_convert', 'convert', 'convert_bytes', 'dictionary_vr',
]

IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2'
EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1'
EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2'
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99'

#: Pieces are joined up to about this many bytes, and values are read in pieces of this size.
DEFAULT_CHUNK_SIZE = 1 << 20


class _Encoding(NamedTuple):
    """How a transfer syntax encodes a data set (PS3.5 Annex A)."""

    implicit: bool
    little: bool
    deflated: bool


_ENCODINGS = {
    IMPLICIT_VR_LITTLE_ENDIAN: _Encoding(implicit=True, little=True, deflated=False),
    EXPLICIT_VR_LITTLE_ENDIAN: _Encoding(implicit=False, little=True, deflated=False),
    EXPLICIT_VR_BIG_ENDIAN: _Encoding(implicit=False, little=False, deflated=False),
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: _Encoding(implicit=False, little=True, deflated=True),
}

#: The transfer syntaxes :func:`convert` reads and writes, in any pair.
SYNTAXES = frozenset(_ENCODINGS)

# PS3.5 Table 7.1-1: explicit VRs with a 2-byte reserved field and a 4-byte length...
_LONG_VRS = frozenset({b'OB', b'OD', b'OF', b'OL', b'OV', b'OW', b'SQ', b'SV', b'UC', b'UN',
                       b'UR', b'UT', b'UV'})
# ...and Table 7.1-2: those with a 2-byte length.
_SHORT_VRS = frozenset({b'AE', b'AS', b'AT', b'CS', b'DA', b'DS', b'DT', b'FL', b'FD', b'IS',
                        b'LO', b'LT', b'PN', b'SH', b'SL', b'SS', b'ST', b'TM', b'UI', b'UL',
                        b'US'})
# PS3.5 7.3: the size of the words whose bytes swap with the byte order (AT: two US words).
_WORD_SIZES = {b'US': 2, b'SS': 2, b'OW': 2, b'AT': 2, b'UL': 4, b'SL': 4, b'FL': 4, b'OF': 4,
               b'OL': 4, b'FD': 8, b'OD': 8, b'SV': 8, b'UV': 8, b'OV': 8}
_ARRAY_CODES = {
    size: next(code for code in 'HILQ' if array.array(code).itemsize == size)
    for size in (2, 4, 8)
}

_UNDEFINED = 0xFFFFFFFF
_MAX_SHORT_LENGTH = 0xFFFE  # 2**16 - 2: longer needs UN (PS3.5 6.2.2)
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_LENGTH_TO_END = 0x00080001
_PIXEL_DATA = 0x7FE00010
# The elements whose values decide the ambiguous VRs (PS3.5 A.1-A.2, PS3.3 C.7.6.3).
_BITS_ALLOCATED = 0x00280100
_PIXEL_REPRESENTATION = 0x00280103
_WAVEFORM_BITS_ALLOCATED = 0x54001004
_DECIDING = frozenset({_BITS_ALLOCATED, _PIXEL_REPRESENTATION, _WAVEFORM_BITS_ALLOCATED})

_LITTLE_TAG_LENGTH = struct.Struct('<HHI')
_WINDOW = 64 * 1024  # the read-ahead that element headers and small values are cut from
_FEED = 64 * 1024  # compressed bytes handed to the inflater at a time
_MIN_CHUNK = 16

# What a stack frame is: the top-level data set, an item's data set, or a sequence.
_TOP, _ITEM_FRAME, _SEQUENCE_FRAME = 0, 1, 2


# -- the data dictionary ----------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def dictionary_vr(tag: int) -> bytes:
    """The VR an implicit VR element is written with in explicit VR: the dictionary's, or
    one of several ('US or SS'; the converter resolves those from the data set).

    Rules beyond pydicom's dictionary (which includes the repeating groups 50xx and 60xx):
    a group length (gggg,0000) is UL (PS3.5 7.2); in a private group (odd group number,
    PS3.5 7.8.1) a private creator (gggg,0010-00FF) is LO and anything else is UN, as is a
    public tag the dictionary does not know (PS3.5 6.2.2).

    >>> dictionary_vr(0x00100010), dictionary_vr(0x00091010), dictionary_vr(0x00090010)
    (b'PN', b'UN', b'LO')
    >>> dictionary_vr(0x60023000), dictionary_vr(0x00280106)
    (b'OB or OW', b'US or SS')
    """
    element = tag & 0xFFFF
    if element == 0:
        return b'UL'
    if tag >> 16 & 1:
        return b'LO' if 0x0010 <= element <= 0x00FF else b'UN'
    try:
        vr = dictionary_VR(tag).encode('ascii')
    except KeyError:
        return b'UN'
    if vr in _SHORT_VRS or vr in _LONG_VRS or b' or ' in vr:
        return vr
    return b'UN'  # a pseudo-VR such as the items' 'NONE'


def _name(tag: int) -> str:
    return f'({tag >> 16:04X},{tag & 0xFFFF:04X})'


def _swapped(data: bytes, word: int) -> bytes:
    """``data`` with the bytes of each ``word``-byte word reversed (PS3.5 7.3). A trailing
    partial word (an odd length, malformed but met) is left as it is."""
    size = len(data)
    if size == word:
        return data[::-1]
    whole = size - size % word
    words = array.array(_ARRAY_CODES[word])
    words.frombytes(data if whole == size else data[:whole])
    words.byteswap()
    return words.tobytes() if whole == size else words.tobytes() + data[whole:]


# -- reading ------------------------------------------------------------------------------------


class _Reader:
    """The source, read forward: a window ``buf`` from ``pos`` for headers and small values,
    direct reads for large values. ``base`` is the data set offset of ``buf[0]`` (offsets
    count inflated bytes when the source is deflated)."""

    def __init__(self, fp: BinaryIO, deflated: bool, window: int) -> None:
        self.fp = fp
        self.inflater = zlib.decompressobj(-zlib.MAX_WBITS) if deflated else None
        self.window = window
        self.buf = b''
        self.pos = 0
        self.base = 0

    @property
    def where(self) -> int:
        return self.base + self.pos

    def need(self, size: int) -> bool:
        """True when ``size`` bytes are in the window at ``pos`` (reading more if needed)."""
        have = len(self.buf) - self.pos
        if have >= size:
            return True
        self.base += self.pos
        self.buf = self.buf[self.pos:] + self._read(max(size - have, self.window))
        self.pos = 0
        return len(self.buf) >= size

    def take(self, size: int) -> bytes:
        """Up to ``size`` bytes: what the window has, else a direct read; ``b''`` at the end."""
        have = len(self.buf) - self.pos
        if have > 0:
            data = self.buf[self.pos:self.pos + size]
            self.pos += len(data)
            return data
        self.base += self.pos
        self.buf = b''
        self.pos = 0
        data = self._read(size)
        self.base += len(data)
        return data

    def _read(self, size: int) -> bytes:
        """``size`` bytes from the source, fewer only at its end."""
        if self.inflater is not None:
            return self._inflate(size)
        data = self.fp.read(size) or b''
        if len(data) == size or not data:
            return data
        parts = [data]  # a pipe or socket may answer short: keep asking
        got = len(data)
        while got < size:
            data = self.fp.read(size - got) or b''
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b''.join(parts)

    def _inflate(self, size: int) -> bytes:
        inflater = self.inflater
        assert inflater is not None
        parts: list[bytes] = []
        got = 0
        while got < size and not inflater.eof:
            data = inflater.unconsumed_tail or self.fp.read(_FEED) or b''
            if not data:
                break
            try:
                # max_length bounds what one call makes: a small input can inflate hugely.
                part = inflater.decompress(data, size - got)
            except zlib.error as exc:
                raise InvalidDataSetError(
                    f'the deflated data set does not inflate near byte {self.where + got}: '
                    f'{exc} (PS3.5 A.5)'
                ) from None
            parts.append(part)
            got += len(part)
        return b''.join(parts)

    def finish(self) -> None:
        """After the last element: a deflate stream must be whole, followed by its pad only."""
        inflater = self.inflater
        if inflater is None:
            return
        if not inflater.eof:
            raise InvalidDataSetError('the deflated data set ends before its deflate stream '
                                      'does: it is cut short (PS3.5 A.5)')
        if inflater.unused_data.strip(b'\0') or (self.fp.read(_FEED) or b'').strip(b'\0'):
            raise InvalidDataSetError('bytes other than a NUL pad follow the deflated data set '
                                      '(PS3.5 A.5)')


# -- writing ------------------------------------------------------------------------------------


class _Output:
    """The converted bytes, joined into pieces of about ``chunk_size`` (one per element would
    make a DIMSE fragment of every element), deflated when the target syntax is."""

    def __init__(self, chunk_size: int, deflate: bool) -> None:
        self.chunk_size = chunk_size
        self.pending: list[bytes] = []
        self.size = 0
        self.ready: list[bytes] = []
        self.compressor = (zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED,
                                            -zlib.MAX_WBITS) if deflate else None)
        self.compressed: list[bytes] = []
        self.compressed_size = 0
        self.total = 0  # bytes made ready, for the deflate pad's parity

    def add(self, data: bytes) -> None:
        if len(data) >= self.chunk_size:
            self.flush()  # a large piece goes on its own, without being copied again
            self._emit(data)
            return
        self.pending.append(data)
        self.size += len(data)
        if self.size >= self.chunk_size:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            data = b''.join(self.pending)
            self.pending.clear()
            self.size = 0
            self._emit(data)

    def _emit(self, data: bytes) -> None:
        if self.compressor is None:
            self._ready(data)
            return
        data = self.compressor.compress(data)
        if data:  # zlib keeps most of its input back: gather what it gives up to a piece
            self.compressed.append(data)
            self.compressed_size += len(data)
            if self.compressed_size >= self.chunk_size:
                self._release_compressed()

    def _release_compressed(self) -> None:
        if self.compressed:
            self._ready(b''.join(self.compressed))
            self.compressed.clear()
            self.compressed_size = 0

    def _ready(self, data: bytes) -> None:
        self.ready.append(data)
        self.total += len(data)

    def take(self) -> list[bytes]:
        ready, self.ready = self.ready, []
        return ready

    def finish(self) -> list[bytes]:
        """The last pieces; a deflate stream is ended and padded to an even length with a
        NUL (PS3.5 A.5)."""
        self.flush()
        if self.compressor is not None:
            self.compressed.append(self.compressor.flush())
            self._release_compressed()
            if self.total % 2:
                self._ready(b'\0')
        return self.take()


# -- the conversion -----------------------------------------------------------------------------


class _Frame:
    """An open level of the data set: the top level, an item or a sequence (PS3.5 7.5).

    ``end`` is where a defined length ends it (None: a delimiter does); ``limit`` the
    nearest such end around it, which nothing inside may cross; ``verbatim`` marks the
    content of a UN of undefined length, copied as it is (implicit VR little endian,
    PS3.5 6.2.2); ``delimit`` that it was written with an undefined length, so its end
    writes a delimiter; ``seen`` the values that decide ambiguous VRs in an item."""

    __slots__ = ('kind', 'tag', 'start', 'end', 'limit', 'verbatim', 'delimit', 'seen')

    def __init__(self, kind: int, tag: int, start: int, end: int | None,
                 limit: int | None, verbatim: bool = False, delimit: bool = False) -> None:
        self.kind = kind
        self.tag = tag
        self.start = start
        self.end = end
        self.limit = end if end is not None else limit
        self.verbatim = verbatim
        self.delimit = delimit
        self.seen: dict[int, int] = {}

    def describe(self) -> str:
        if self.kind == _ITEM_FRAME:
            return f'the item begun at byte {self.start}'
        return f'the sequence {_name(self.tag)} begun at byte {self.start}'


class _Copy:
    """A value being copied in pieces: how much is left, and the partial word carried
    from one piece to the next when swapping."""

    __slots__ = ('remaining', 'word', 'carry', 'tag', 'start')

    def __init__(self, remaining: int, word: int, tag: int, start: int) -> None:
        self.remaining = remaining
        self.word = word
        self.carry = b''
        self.tag = tag
        self.start = start


class _Converter:
    """One conversion: a loop of steps, each one header (with its value when small) or one
    piece of a large value, over a stack of frames; no recursion, so that a large value
    deep in a sequence is yielded piece by piece."""

    def __init__(self, fp: BinaryIO, source: _Encoding, target: _Encoding,
                 chunk_size: int) -> None:
        chunk_size = max(chunk_size, _MIN_CHUNK)
        self.reader = _Reader(fp, source.deflated, min(chunk_size, _WINDOW))
        self.out = _Output(chunk_size, target.deflated)
        self.piece = chunk_size
        self.source_implicit = source.implicit
        self.target_implicit = target.implicit
        # Between explicit VR syntaxes every element keeps its length (see the module doc).
        self.keep_lengths = source.implicit == target.implicit
        self.swap = source.little != target.little
        order = '<' if source.little else '>'
        self.in_tag_length = struct.Struct(order + 'HHI')
        self.in_short = struct.Struct(order + 'HH2sH')
        self.in_long_length = struct.Struct(order + 'I')
        order = '<' if target.little else '>'
        self.out_tag_length = struct.Struct(order + 'HHI')
        self.out_short = struct.Struct(order + 'HH2sH')
        self.out_long = struct.Struct(order + 'HH2sHI')
        self.stack = [_Frame(_TOP, 0, 0, None, None)]
        self.copy: _Copy | None = None

    def run(self) -> Iterator[bytes]:
        out = self.out
        step = self._step
        while step():
            if out.ready:
                yield from out.take()
        self.reader.finish()
        yield from out.finish()

    def _step(self) -> bool:
        """Convert the next header, or the next piece of a value; False at the end."""
        if self.copy is not None:
            self._copy_piece(self.copy)
            return True
        frame = self.stack[-1]
        reader = self.reader
        start = reader.base + reader.pos
        if frame.end is not None and start >= frame.end:
            self._close(frame, start, frame.end)
        elif reader.pos >= len(reader.buf) and not reader.need(1):
            if len(self.stack) > 1:
                raise InvalidDataSetError(f'the data set ends inside {frame.describe()}: '
                                          'cut short, or a delimiter missing (PS3.5 7.5)')
            return False
        elif frame.kind == _SEQUENCE_FRAME:
            self._item(frame, start)
        else:
            self._element(frame, start)
        return True

    # -- headers in ------------------------------------------------------------------------

    def _header(self, frame: _Frame, start: int) -> tuple[int, bytes | None, int]:
        """The next header: ``(tag, explicit VR or None, length)``."""
        reader = self.reader
        if not reader.need(8):
            raise InvalidDataSetError(
                f'the data set is cut short at byte {start}: a header needs 8 bytes, '
                f'{len(reader.buf) - reader.pos} are left'
            )
        buf, pos = reader.buf, reader.pos
        vr: bytes | None = None
        if frame.verbatim or self.source_implicit:
            tag_length = _LITTLE_TAG_LENGTH if frame.verbatim else self.in_tag_length
            group, element, length = tag_length.unpack_from(buf, pos)
            reader.pos = pos + 8
        else:
            group, element, vr, length = self.in_short.unpack_from(buf, pos)
            if group == 0xFFFE:  # items and delimiters have no VR (PS3.5 7.5)
                group, element, length = self.in_tag_length.unpack_from(buf, pos)
                vr = None
                reader.pos = pos + 8
            elif vr in _SHORT_VRS:
                reader.pos = pos + 8
            else:
                length = self._long_length(group << 16 | element, vr, start)
        limit = frame.limit
        if limit is not None and reader.base + reader.pos > limit:
            raise InvalidDataSetError(
                f'the header at byte {start} runs past the end of {frame.describe()}, '
                f'at byte {limit}'
            )
        return group << 16 | element, vr, length

    def _long_length(self, tag: int, vr: bytes, start: int) -> int:
        """The 4-byte length of an explicit VR header (PS3.5 7.1.2)."""
        if vr not in _LONG_VRS:
            raise InvalidDataSetError(
                f'{_name(tag)} at byte {start} has VR {vr!r}, which is not a DICOM VR '
                '(PS3.5 6.2): not an explicit VR data set, or garbage'
            )
        reader = self.reader
        if not reader.need(12):
            raise InvalidDataSetError(
                f'the data set is cut short in the header of {_name(tag)} at byte {start}'
            )
        reader.pos += 12
        return int(self.in_long_length.unpack_from(reader.buf, reader.pos - 4)[0])

    # -- headers out ------------------------------------------------------------------------

    def _element_header(self, tag: int, vr: bytes, length: int) -> bytes:
        if self.target_implicit:
            return self.out_tag_length.pack(tag >> 16, tag & 0xFFFF, length)
        if vr in _LONG_VRS:
            return self.out_long.pack(tag >> 16, tag & 0xFFFF, vr, 0, length)
        return self.out_short.pack(tag >> 16, tag & 0xFFFF, vr, length)

    def _write_marker(self, tag: int, length: int, verbatim: bool) -> None:
        """An item or delimiter header: the target's byte order, or little endian inside
        a UN of undefined length (PS3.5 6.2.2)."""
        tag_length = _LITTLE_TAG_LENGTH if verbatim else self.out_tag_length
        self.out.add(tag_length.pack(0xFFFE, tag & 0xFFFF, length))

    # -- data elements ----------------------------------------------------------------------

    def _element(self, frame: _Frame, start: int) -> None:
        """A data element (or the item delimiter) in the top level or an item."""
        tag, vr, length = self._header(frame, start)
        if tag >> 16 == 0xFFFE:
            self._item_end(frame, tag, start)
            return
        if frame.verbatim:
            header = _LITTLE_TAG_LENGTH.pack(tag >> 16, tag & 0xFFFF, length)
            if length == _UNDEFINED:
                self.out.add(header)
                self._push(_SEQUENCE_FRAME, tag, start, None, verbatim=True)
            else:
                self._value(frame, length, 1, tag, start, header)
            return
        if vr is None:  # an implicit VR source
            vr = dictionary_vr(tag)
            if len(vr) != 2:
                vr = self._resolve(tag, vr, length)
            if length == _UNDEFINED:
                if vr == b'UN':
                    vr = b'SQ'  # only a sequence has an undefined length here (PS3.5 7.1.3)
            elif length > _MAX_SHORT_LENGTH and vr in _SHORT_VRS:
                vr = b'UN'  # PS3.5 6.2.2: too long for its 2-byte length field
        if length == _UNDEFINED:
            self._undefined_length(frame, tag, vr, start)
        elif vr == b'SQ' and length:
            self.out.add(self._element_header(tag, vr,
                                              length if self.keep_lengths else _UNDEFINED))
            self._push(_SEQUENCE_FRAME, tag, start, self.reader.where + length,
                       delimit=not self.keep_lengths)
        elif not self.keep_lengths and (tag & 0xFFFF == 0 or tag == _LENGTH_TO_END):
            self._value(frame, length, 0, tag, start)  # PS3.5 7.2: dropped, see the module doc
        else:
            if self.source_implicit and tag in _DECIDING:
                self._remember(frame, tag, length)
            word = _WORD_SIZES.get(vr, 1) if self.swap else 1
            self._value(frame, length, word, tag, start, self._element_header(tag, vr, length))

    def _undefined_length(self, frame: _Frame, tag: int, vr: bytes, start: int) -> None:
        """A sequence of undefined length, or the UN that holds one (PS3.5 7.1.2, 7.5)."""
        if vr in (b'OB', b'OW'):
            raise InvalidDataSetError(
                f'{_name(tag)} at byte {start} is encapsulated (undefined length {vr!r}): '
                'that belongs to a compressed transfer syntax, not this one (PS3.5 A.4)'
            )
        if vr != b'SQ' and vr != b'UN':
            raise InvalidDataSetError(
                f'{_name(tag)} at byte {start} has VR {vr.decode("ascii", "replace")} and an '
                'undefined length, which only SQ and UN may have here (PS3.5 7.1.2)'
            )
        self.out.add(self._element_header(tag, vr, _UNDEFINED))
        self._push(_SEQUENCE_FRAME, tag, start, None, verbatim=vr == b'UN')

    def _item_end(self, frame: _Frame, tag: int, start: int) -> None:
        if tag == _ITEM_END and frame.kind == _ITEM_FRAME and frame.end is None:
            self.stack.pop()
            self._write_marker(_ITEM_END, 0, frame.verbatim)
            return
        raise InvalidDataSetError(
            f'an item or delimiter {_name(tag)} at byte {start} stands where a data element '
            'belongs (PS3.5 7.5)'
        )

    # -- sequences and items ------------------------------------------------------------------

    def _item(self, frame: _Frame, start: int) -> None:
        """An item header or the sequence delimiter, in a sequence (PS3.5 7.5)."""
        tag, _vr, length = self._header(frame, start)
        if tag == _SEQUENCE_END and frame.end is None:
            self.stack.pop()
            self._write_marker(_SEQUENCE_END, 0, frame.verbatim)
            return
        if tag != _ITEM:
            expected = 'an item (FFFE,E000)'
            if frame.end is None:
                expected += ' or the sequence delimiter (FFFE,E0DD)'
            raise InvalidDataSetError(
                f'{_name(tag)} at byte {start} inside {frame.describe()}: expected {expected} '
                '(PS3.5 7.5)'
            )
        if frame.verbatim and length != _UNDEFINED:  # nothing inside it changes: a value
            self._value(frame, length, 1, tag, start, _LITTLE_TAG_LENGTH.pack(0xFFFE, 0xE000,
                                                                              length))
        elif length == _UNDEFINED:
            self._write_marker(_ITEM, _UNDEFINED, frame.verbatim)
            self._push(_ITEM_FRAME, tag, start, None, verbatim=frame.verbatim)
        elif length == 0:
            self._write_marker(_ITEM, 0, False)
        else:
            self._write_marker(_ITEM, length if self.keep_lengths else _UNDEFINED, False)
            self._push(_ITEM_FRAME, tag, start, self.reader.where + length,
                       delimit=not self.keep_lengths)

    def _push(self, kind: int, tag: int, start: int, end: int | None,
              verbatim: bool = False, delimit: bool = False) -> None:
        parent = self.stack[-1]
        if end is not None:
            self._check_fits(parent, end - self.reader.where, tag, start)
        if len(self.stack) > 2 * MAX_DEPTH:
            raise InvalidDataSetError(f'sequences nest deeper than {MAX_DEPTH} levels')
        self.stack.append(_Frame(kind, tag, start, end, parent.limit, verbatim, delimit))

    def _close(self, frame: _Frame, where: int, end: int) -> None:
        """The end of an item or sequence of defined length."""
        if where > end:
            raise InvalidDataSetError(f'the last element of {frame.describe()} runs past its '
                                      f'end, at byte {end}')
        self.stack.pop()
        if frame.delimit:
            self._write_marker(_ITEM_END if frame.kind == _ITEM_FRAME else _SEQUENCE_END, 0,
                               False)

    # -- values ---------------------------------------------------------------------------------

    def _check_fits(self, frame: _Frame, length: int, tag: int, start: int) -> None:
        limit = frame.limit
        if limit is not None and self.reader.where + length > limit:
            raise InvalidDataSetError(
                f'{_name(tag)} at byte {start} ({length} bytes) runs past the end of '
                f'{frame.describe()}, at byte {limit}'
            )

    def _value(self, frame: _Frame, length: int, word: int, tag: int, start: int,
               header: bytes = b'') -> None:
        """Write ``header`` and copy the value after it, swapping words of ``word`` bytes
        (1: none; 0: drop the value)."""
        self._check_fits(frame, length, tag, start)
        reader = self.reader
        if length > reader.window:
            if header:
                self.out.add(header)
            self.copy = _Copy(length, word, tag, start)  # the steps to come copy it
            return
        if not reader.need(length):
            raise self._cut_short(tag, start, length, len(reader.buf) - reader.pos)
        data = reader.buf[reader.pos:reader.pos + length]
        reader.pos += length
        if word > 1 and length:
            data = _swapped(data, word)
        if word:
            self.out.add(header + data)  # one piece: fewer calls for many small elements

    def _copy_piece(self, copy: _Copy) -> None:
        """The next piece of a large value, read, swapped and written."""
        data = self.reader.take(min(copy.remaining, self.piece))
        if not data:
            raise self._cut_short(copy.tag, copy.start, copy.remaining, 0)
        copy.remaining -= len(data)
        if not copy.remaining:
            self.copy = None
        word = copy.word
        if word > 1:
            if copy.carry:
                data = copy.carry + data
            cut = len(data) - len(data) % word if copy.remaining else len(data)
            copy.carry = data[cut:]
            data = _swapped(data[:cut], word)
        if word and data:
            self.out.add(data)

    @staticmethod
    def _cut_short(tag: int, start: int, length: int, left: int) -> InvalidDataSetError:
        what = 'the item' if tag == _ITEM else _name(tag)
        return InvalidDataSetError(
            f'the data set is cut short: {what} at byte {start} needs {length} more bytes, '
            f'{left} are left'
        )

    # -- ambiguous VRs --------------------------------------------------------------------------

    def _remember(self, frame: _Frame, tag: int, length: int) -> None:
        """Keep a value that decides ambiguous VRs further on (an implicit source is little
        endian)."""
        reader = self.reader
        if 2 <= length <= reader.window and reader.need(2):
            frame.seen[tag] = int.from_bytes(reader.buf[reader.pos:reader.pos + 2], 'little')

    def _seen(self, tag: int) -> int | None:
        """The value of ``tag`` in the nearest enclosing data set that has it: an item's
        own Pixel Representation first, else the top level's."""
        for frame in reversed(self.stack):
            if tag in frame.seen:
                return frame.seen[tag]
        return None

    def _resolve(self, tag: int, vr: bytes, length: int) -> bytes:
        """One VR for a dictionary VR that names several, from what the data set said
        before it: the rules are in the module's docstring."""
        if vr == b'US or SS':
            return b'SS' if self._seen(_PIXEL_REPRESENTATION) == 1 else b'US'
        if vr == b'OB or OW':
            if tag == _PIXEL_DATA or tag & 0xFF00FFFF == 0x7F000010:
                bits = self._seen(_BITS_ALLOCATED)
            elif tag >> 16 == 0x5400:
                bits = self._seen(_WAVEFORM_BITS_ALLOCATED)
            else:
                bits = None
            return b'OB' if bits is not None and bits <= 8 else b'OW'
        if length > 2 or length == _UNDEFINED:
            return b'OW'
        if b'SS' in vr and self._seen(_PIXEL_REPRESENTATION) == 1:
            return b'SS'
        return b'US'


# -- the API -----------------------------------------------------------------------------------


def can_convert(source_syntax: str, target_syntax: str) -> bool:
    """True when :func:`convert` converts from ``source_syntax`` to ``target_syntax``: both
    are among :data:`SYNTAXES` (the same one included).

    >>> can_convert('1.2.840.10008.1.2', '1.2.840.10008.1.2.2')
    True
    >>> can_convert('1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.1')   # JPEG: not here
    False
    """
    return str(source_syntax) in _ENCODINGS and str(target_syntax) in _ENCODINGS


def convert(fp: BinaryIO, source_syntax: str, target_syntax: str,
            chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """The data set read from ``fp``, converted from ``source_syntax`` to ``target_syntax``,
    in pieces.

    ``fp`` is read from its position to its end (the data set only: no preamble, no file
    meta) and left there. The pieces are about ``chunk_size`` bytes (values are read in
    pieces of that size; a piece is rarely more than twice it), the last one smaller; what
    the conversion holds in memory is a few of them, whatever the size of the data set.
    The unsupported syntaxes (see :func:`can_convert`) raise
    :class:`~pynetdicom2.exceptions.NetDICOMError` at once; malformed input raises
    :class:`~pynetdicom2.exceptions.InvalidDataSetError` while iterating; an :class:`OSError`
    from the file passes through.

    >>> import io
    >>> from pydicom.dataset import Dataset
    >>> from pynetdicom2 import dsutils
    >>> ds = Dataset()
    >>> ds.PatientName, ds.Rows = 'Doe^Jane', 512
    >>> implicit = dsutils.encode(ds, True, True)
    >>> big = b''.join(convert(io.BytesIO(implicit), '1.2.840.10008.1.2', '1.2.840.10008.1.2.2'))
    >>> big.hex(' ')
    '00 10 00 10 50 4e 00 08 44 6f 65 5e 4a 61 6e 65 00 28 00 10 55 53 00 02 02 00'
    >>> dsutils.decode(big, False, False).Rows
    512
    """
    source = _encoding(source_syntax, 'source')
    target = _encoding(target_syntax, 'target')
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be positive, not {chunk_size}')
    if source == target:
        return _passthrough(fp, chunk_size)
    return _Converter(fp, source, target, chunk_size).run()


def convert_bytes(data: bytes | bytearray | memoryview, source_syntax: str,
                  target_syntax: str) -> bytes:
    """:func:`convert` for a data set held in memory; the result is held in memory too.

    >>> convert_bytes(b'\\x10\\x00\\x20\\x00\\x02\\x00\\x00\\x00AB', '1.2.840.10008.1.2',
    ...               '1.2.840.10008.1.2.1')
    b'\\x10\\x00 \\x00LO\\x02\\x00AB'
    """
    return b''.join(convert(io.BytesIO(data), source_syntax, target_syntax))


def _encoding(syntax: str, role: str) -> _Encoding:
    try:
        return _ENCODINGS[str(syntax)]
    except KeyError:
        raise NetDICOMError(
            f'cannot convert a data set with {role} transfer syntax {syntax}: only Implicit '
            'VR Little Endian, Explicit VR Little and Big Endian and Deflated Explicit VR '
            'Little Endian are converted'
        ) from None


def _passthrough(fp: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    """The bytes of ``fp`` as they are, in pieces of ``chunk_size``."""
    while True:
        data = fp.read(chunk_size)
        if not data:
            return
        yield data
