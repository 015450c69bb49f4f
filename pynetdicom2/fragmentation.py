"""A DIMSE message cut into P-DATA-TF PDUs (PS3.8 9.3.5, Annex E; PS3.7 6.3.1).

A message is a command set followed, when it has one, by a data set. Each is cut into
fragments; each fragment travels in a presentation data value (PDV) item whose first byte, the
message control header, says command (bit 0) or data set, and last fragment (bit 1) or not
(PS3.8 E.2). Every P-DATA-TF must fit the peer's Maximum Length (PS3.8 D.1), and every fragment
but a malformed last one has an even length (PS3.8 E.1).

This module owns that cutting and nothing else: :func:`fragment` for bytes, :func:`fragment_file`
for a data set read from a file piece by piece, and :func:`p_data_pdus`, the generator of the
P-DATA-TF PDUs of one message that :meth:`pynetdicom2.dimsemessages.DIMSEMessage.encode`
returns (wrapped in a :class:`PDataStream`). Every name is a name of
:mod:`pynetdicom2.dimsemessages` too. The reverse, PDVs back into messages, is
:mod:`pynetdicom2.dimsedecoder`'s.

Usage::

    from pynetdicom2 import fragmentation

    for chunk, bit in fragmentation.fragment(data_set, 16384, fragmentation.DATA_FRAGMENT,
                                             fragmentation.DATA_LAST_FRAGMENT):
        ...
"""

from __future__ import annotations

import collections.abc
from typing import TYPE_CHECKING, Any, BinaryIO, Union

from pynetdicom2 import pdu
from pynetdicom2.exceptions import DIMSEProcessingError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Generator, Iterator, Sequence

__all__ = [
    'PDV_HEADER_LENGTH',
    'COMMAND_FRAGMENT',
    'COMMAND_LAST_FRAGMENT',
    'DATA_FRAGMENT',
    'DATA_LAST_FRAGMENT',
    'UNLIMITED_READ_SIZE',
    'DataSet',
    'PDataStream',
    'chunks',
    'fragment',
    'fragment_file',
    'p_data_pdus',
    'payload_size',
]

# PS3.8 9.3.5.1: item length (4) + presentation context ID (1) + message control header (1).
PDV_HEADER_LENGTH = 6

# PS3.8 E.2: message control header; bit 0 set = command, bit 1 set = last fragment.
COMMAND_FRAGMENT = 1
COMMAND_LAST_FRAGMENT = 3
DATA_FRAGMENT = 0
DATA_LAST_FRAGMENT = 2

#: Size of the reads from a data-set file when the peer's Maximum Length is 0 (unlimited):
#: big enough to keep system calls rare, small enough that a 2 GB file never sits in memory.
UNLIMITED_READ_SIZE = 1024 * 1024

DataSet = Union[bytes, bytearray, memoryview, BinaryIO]

_CONTROL_HEADERS = {bit: bytes((bit,)) for bit in range(4)}


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


def payload_size(max_pdu_length: int) -> int | None:
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
    size = payload_size(max_pdu_length)
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
    size = payload_size(max_pdu_length) or UNLIMITED_READ_SIZE
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



class PDataStream(collections.abc.Generator['pdu.PDataTfPDU', None, None]):
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


def p_data_pdus(
    pc_id: int,
    max_pdu_length: int,
    command: bytes,
    data_set: DataSet | None,
    fp: BinaryIO | None,
    pack: bool,
) -> Generator[pdu.PDataTfPDU, None, None]:
    """The P-DATA-TF PDUs of one message: ``command`` (encoded) then ``data_set``, if any.

    The command set goes in PDVs with control headers 1/3, the data set (bytes, or the file
    ``fp`` read from its current position) with 0/2; each PDU holds one PDV, except that with
    ``pack`` the last command fragment and the first data-set fragment share one PDU when both
    fit in ``max_pdu_length`` (PS3.8 9.3.5 allows several PDVs per P-DATA-TF). ``fp`` is closed
    when the generator ends or is closed.

    >>> [len(p.data_value_items) for p in p_data_pdus(1, 0, b'\\0' * 8, b'data', None, True)]
    [2]
    """
    pdv = pdu.PresentationDataValueItem
    p_data = pdu.PDataTfPDU
    headers = _CONTROL_HEADERS
    try:
        last_command: pdu.PresentationDataValueItem | None = None
        last_command_length = 0
        for chunk, bit in fragment(
            command, max_pdu_length, COMMAND_FRAGMENT, COMMAND_LAST_FRAGMENT
        ):
            item = pdv(pc_id, b''.join((headers[bit], chunk)))
            if bit == COMMAND_LAST_FRAGMENT:
                last_command, last_command_length = item, len(chunk)
            else:
                yield p_data([item])
        # fragment() always ends with the last fragment
        assert last_command is not None
        if data_set is None:
            yield p_data([last_command])
            return
        if fp is not None:
            pieces = fragment_file(fp, max_pdu_length, DATA_FRAGMENT, DATA_LAST_FRAGMENT)
        elif isinstance(data_set, (bytes, bytearray, memoryview)):
            pieces = fragment(data_set, max_pdu_length, DATA_FRAGMENT, DATA_LAST_FRAGMENT)
        else:
            raise TypeError(f'data_set is a file ({type(data_set).__name__}): pass it as fp too')
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
