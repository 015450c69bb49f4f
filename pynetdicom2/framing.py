"""Framing of the PDUs a DICOM upper-layer transport receives (PS3.8 9.3.1).

A PDU is a 6-byte header (PDU type, reserved, PDU length) followed by PDU-length bytes; the
transport is a byte stream that cuts them anywhere. :class:`Framer` turns the bytes into whole
PDUs and nothing else: it knows no socket, thread or state machine. The DUL thread of
:mod:`pynetdicom2.dulprovider` reads into the buffer the framer offers and takes the PDUs it
cuts, in order, from the queue the framer appends to.

Every read lands in one receive ring buffer (``recv_into``, never byte by byte, never
``bytes +=``). The 6-byte header is checked before anything is allocated: an unknown PDU type,
or a declared length above the local maximum (our announced Maximum Length for P-DATA-TF, a
fixed cap for the other PDUs), is an invalid PDU (Evt19, A-ABORT reason 1 or 6, PS3.8 9.3.8)
without reading the body. A complete P-DATA-TF is handed on as a ``memoryview`` of the ring,
without a copy: the ring is not written over while such views are in use (until
:meth:`Framer.release`, once every queued PDU was handled; the DIMSE reassembler copies what it
keeps). Any other PDU gets a buffer of its own; a PDU too large for the ring is received
straight into its own ``bytearray``.

Usage::

    incoming = collections.deque()
    framer = Framer(pdata_cap=16384 + 6, other_cap=1 << 20, out=incoming)
    count = sock.recv_into(framer.target())
    framer.advance(count)          # whole PDUs (or a FramingError) are now in ``incoming``
    ...                            # handle them, then
    framer.release()
"""

from __future__ import annotations

import collections
import struct
from typing import Union

from pynetdicom2.pdu import PDU_HEADER_LENGTH, PDU_TYPES

__all__ = [
    'HEADER_LENGTH',
    'PDU_LENGTH',
    'RING_SIZE',
    'RING_MAX',
    'SMALL_PDU',
    'EndOfStream',
    'Framer',
    'FramingError',
    'Incoming',
]

#: PS3.8 9.3.1: PDU-type (1), reserved (1), PDU-length (4, big endian).
HEADER_LENGTH = PDU_HEADER_LENGTH
#: The PDU-length field, at offset 2 of the header.
PDU_LENGTH = struct.Struct('>I')
_KNOWN_PDU_TYPES = frozenset(PDU_TYPES)
# Ring buffer for incoming bytes: one recv_into can take many small PDUs at once. It starts
# at RING_SIZE and doubles, up to RING_MAX, whenever one recv_into fills it: an idle or
# request/response association keeps 256 KiB, a data-set stream reads 1 MiB per system call
# (each call gives the interpreter lock away and takes it back, the costly part of a stream
# between two threads of one process).
RING_SIZE = 256 * 1024
RING_MAX = 1024 * 1024
# PDUs up to this total size are cut out of the ring; bigger ones get a buffer of their own.
SMALL_PDU = 64 * 1024


class FramingError:
    """A PDU header we refuse (unknown type, oversized); becomes Evt19 with ``reason``."""

    __slots__ = ('message', 'reason')

    def __init__(self, message: str, reason: int) -> None:
        self.message = message
        self.reason = reason


class EndOfStream:
    """The peer closed (or reset) the transport: Evt17 once the PDUs before it are handled."""

    __slots__ = ('error',)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


Incoming = Union[bytes, bytearray, memoryview, FramingError, EndOfStream]


class Framer:
    """Cut a byte stream into whole PDUs, checking each header before allocating.

    ``target()`` is where the next ``recv_into`` writes; ``advance(n)`` accounts for ``n``
    received bytes and appends what they completed to ``out``: one buffer per PDU (header
    included), a :class:`FramingError`, nothing at all. After a framing error the stream
    cannot be resynchronised, so the rest of it is read and dropped.

    A P-DATA-TF cut out of the ring is a ``memoryview`` of it (copying 16 KiB per PDU was a
    quarter of the receive path). Until :meth:`release` says those views are done with,
    ``_fence`` marks the end of the last one, and nothing below it is written again: when
    the ring runs out of room, the partial PDU moves to a fresh ring instead of to the front
    of this one (which lives on as long as a view of it does).

    >>> out = collections.deque()
    >>> framer = Framer(pdata_cap=16390, other_cap=1 << 20, out=out)
    >>> release_rq = bytes.fromhex('05 00 00000004 00000000')  # PS3.8 9.3.6
    >>> framer.target()[:13] = release_rq + release_rq[:3]  # one PDU, the start of another
    >>> framer.advance(13)
    >>> framer.target()[:7] = release_rq[3:]  # the rest of it
    >>> framer.advance(7)
    >>> [bytes(pdu).hex() for pdu in out]
    ['05000000000400000000', '05000000000400000000']
    >>> framer.target()[:6] = bytes.fromhex('09 00 00000000')  # no PDU has type 0x09
    >>> framer.advance(6)
    >>> out[2].message, out[2].reason, framer.lost
    ('unknown PDU type 0x09 (length 0)', 1, True)
    """

    def __init__(self, pdata_cap: int, other_cap: int, out: collections.deque[Incoming]) -> None:
        self.pdata_cap = pdata_cap
        self.other_cap = other_cap
        self.out = out
        self.lost = False
        self._ring = bytearray(RING_SIZE)
        self._view = memoryview(self._ring)
        self._start = 0
        self._end = 0
        self._big: bytearray | None = None
        self._big_view: memoryview | None = None
        self._big_filled = 0
        self._fence = 0  # end of the last P-DATA view handed out and not yet released

    def release(self) -> None:
        """Every PDU handed out so far was handled: the whole ring may be written again."""
        self._fence = 0
        if self._start == self._end:
            self._start = self._end = 0

    def target(self) -> memoryview:
        if self._big_view is not None:
            return self._big_view[self._big_filled :]
        if self.lost:
            if self._fence:
                self._fresh_ring(len(self._ring))
            return self._view
        if len(self._ring) - self._end < SMALL_PDU + HEADER_LENGTH and self._start:
            if self._fence:
                self._fresh_ring(len(self._ring))  # views of this ring are still in use
            else:
                # Move the partial PDU to the front; it is at most SMALL_PDU + header long.
                length = self._end - self._start
                self._ring[:length] = self._view[self._start : self._end]
                self._start, self._end = 0, length
        return self._view[self._end :]

    def _fresh_ring(self, size: int) -> None:
        """Continue in a new ring of ``size`` bytes, taking the partial PDU along."""
        ring = bytearray(size)
        length = self._end - self._start
        ring[:length] = self._view[self._start : self._end]
        self._ring, self._view = ring, memoryview(ring)
        self._start, self._end = 0, length
        self._fence = 0

    def advance(self, count: int) -> None:
        if self._big is not None:
            self._big_filled += count
            if self._big_filled == len(self._big):
                self.out.append(self._big)
                self._big = self._big_view = None
                self._big_filled = 0
            return
        if self.lost:
            return
        end = self._end + count
        self._end = end
        filled = end == len(self._ring)
        self._cut()
        if filled and len(self._ring) < RING_MAX:
            self._grow()

    def _grow(self) -> None:
        """Double the ring (the socket had more than it could take), keeping a partial PDU."""
        self._fresh_ring(2 * len(self._ring))

    def _cut(self) -> None:
        ring, start, end = self._ring, self._start, self._end
        view = self._view
        while end - start >= HEADER_LENGTH:
            pdu_type = ring[start]
            (length,) = PDU_LENGTH.unpack_from(ring, start + 2)
            if pdu_type not in _KNOWN_PDU_TYPES:
                # PS3.8 9.3.8 reason 1: unrecognized PDU. Its length means nothing to us.
                self._refuse(f'unknown PDU type {pdu_type:#04x} (length {length})', 1)
                return
            cap = self.pdata_cap if pdu_type == 0x04 else self.other_cap
            if length > cap:
                # Refused before allocating: PS3.8 9.3.8 reason 6, invalid PDU parameter value.
                self._refuse(
                    f'PDU type {pdu_type:#04x} declares {length} bytes, above the local '
                    f'maximum of {cap}',
                    6,
                )
                return
            total = HEADER_LENGTH + length
            if end - start >= total:
                if pdu_type == 0x04:
                    # A view, no copy; the ring below the fence is not written again.
                    start += total
                    self.out.append(view[start - total : start])
                    self._fence = start
                else:
                    self.out.append(ring[start : start + total])
                    start += total
            elif total > SMALL_PDU:
                have = end - start
                big = bytearray(total)
                big[:have] = view[start:end]
                self._big, self._big_view, self._big_filled = big, memoryview(big), have
                start = end
                break
            else:
                break
        if start == end and not self._fence:
            start = end = 0
        self._start, self._end = start, end

    def _refuse(self, message: str, reason: int) -> None:
        self.out.append(FramingError(message, reason))
        self.lost = True
        self._start = self._end
        if not self._fence:
            self._start = self._end = 0
