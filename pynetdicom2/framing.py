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

What a connection costs before it is an association is what its peer actually sent, not what
a header declares: a server must survive many connections that announce large PDUs and send
nothing more. Until :meth:`Framer.enter_data_phase` (the provider calls it once the association
is established, PS3.8 Sta6) the ring starts at :data:`ASSOCIATION_RING`, and a PDU's own buffer
never starts above :data:`BODY_FIRST` bytes: both grow, doubling, only as bytes arrive. In the
data phase a PDU's own buffer starts at :data:`RING_MAX` at most and grows the same way, so a
peer granted an unlimited Maximum Length (0, PS3.8 D.1) cannot make us allocate the 64 MiB it
may declare without sending them.

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
    'ASSOCIATION_RING',
    'BODY_FIRST',
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
#: The ring of a connection that is not yet an association: an A-ASSOCIATE-RQ is a few KiB
#: (tens with many contexts or an identity token); a bigger one grows the ring as it arrives.
ASSOCIATION_RING = 8 * 1024
#: First size of the own buffer of a large PDU before the data phase (it doubles as the bytes
#: arrive): a header alone costs this much, not the length it declares.
BODY_FIRST = 16 * 1024


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

    ``association_phase=True`` (what the transport passes) starts with the small buffers of
    a connection that is not yet an association, until :meth:`enter_data_phase`.

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

    def __init__(
        self,
        pdata_cap: int,
        other_cap: int,
        out: collections.deque[Incoming],
        *,
        association_phase: bool = False,
    ) -> None:
        self.pdata_cap = pdata_cap
        self.other_cap = other_cap
        self.out = out
        self.lost = False
        # Before the data phase everything starts small: the peer is not yet anyone we agreed
        # to serve (see the module's documentation).
        self._body_first = BODY_FIRST if association_phase else RING_MAX
        self._ring = bytearray(ASSOCIATION_RING if association_phase else RING_SIZE)
        self._view = memoryview(self._ring)
        self._start = 0
        self._end = 0
        self._big: bytearray | None = None  # the own buffer of a large PDU being received
        self._big_total = 0  # that PDU's size, header included
        self._big_filled = 0
        self._fence = 0  # end of the last P-DATA view handed out and not yet released

    def enter_data_phase(self) -> None:
        """The association is established (PS3.8 Sta6): use the data-phase sizes from now on.

        The ring becomes at least :data:`RING_SIZE` (a stream of P-DATA-TFs reads many PDUs
        per system call), and a large PDU's own buffer starts at up to :data:`RING_MAX`.
        """
        self._body_first = RING_MAX
        if len(self._ring) < RING_SIZE:
            self._fresh_ring(RING_SIZE)

    def release(self) -> None:
        """Every PDU handed out so far was handled: the whole ring may be written again."""
        self._fence = 0
        if self._start == self._end:
            self._start = self._end = 0

    def target(self) -> memoryview:
        if self._big is not None:
            # A fresh view each time: the buffer may grow (resize) between two reads.
            return memoryview(self._big)[self._big_filled :]
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
        big = self._big
        if big is not None:
            self._big_filled += count
            if self._big_filled == len(big):
                if len(big) < self._big_total:
                    self._grow_big(big)
                else:
                    self.out.append(big)
                    self._big = None
                    self._big_total = self._big_filled = 0
            return
        if self.lost:
            return
        end = self._end + count
        self._end = end
        filled = end == len(self._ring)
        self._cut()
        if filled and len(self._ring) < RING_MAX:
            self._grow()

    def _grow_big(self, big: bytearray) -> None:
        """The bytes so far filled a large PDU's buffer: double it, up to the PDU's size.

        Doubling keeps the copies of a PDU that does arrive to about its size, and what a
        peer makes us allocate to about twice what it sent.
        """
        more = min(self._big_total, 2 * len(big)) - len(big)
        try:
            big.extend(bytes(more))  # realloc: often in place, no copy
        except BufferError:  # a view of it is still alive somewhere: copy instead
            grown = bytearray(len(big) + more)
            grown[: len(big)] = big
            self._big = grown

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
                # Its own buffer, sized by what arrived, not by what the header declares.
                have = end - start
                big = bytearray(min(total, max(self._body_first, 2 * have)))
                big[:have] = view[start:end]
                self._big, self._big_total, self._big_filled = big, total, have
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
