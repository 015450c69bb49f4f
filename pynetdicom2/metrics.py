"""Counters of one AE: associations by outcome, DIMSE messages by type and status, bytes.

Every AE counts (``ae.metrics``, an :class:`AEMetrics`) from the moment it is made, at the
cost of an addition per message and per system call; :meth:`AEMetrics.snapshot` reads them
all at once, consistently, from any thread. :mod:`pynetdicom2.prometheus` exports them.

Usage::

    counts = ae.metrics.snapshot()
    counts.associations['accepted'], counts.bytes_received
    counts.messages[('received', 'C-STORE-RQ', None)]      # requests have no status
    counts.messages[('sent', 'C-STORE-RSP', 0x0000)]
    counts.failures['aborted']

Association outcomes (:data:`OUTCOMES`): ``requested`` (an A-ASSOCIATE-RQ sent or received),
``accepted``, ``rejected``, ``released``, ``aborted``. Failures (:data:`FAILURES`):
``rejected`` and ``aborted`` associations, ``status``: responses with a Failure status
(PS3.7 C), sent or received, and ``transport``: connections that ended in a transport error.
"""

from __future__ import annotations

import collections
import threading
import weakref
from typing import Any, NamedTuple

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses
from pynetdicom2.fsm import Events, States

__all__ = ['AEMetrics', 'FAILURES', 'OUTCOMES', 'Snapshot', 'association_outcomes', 'message_name']

OUTCOMES = ('requested', 'accepted', 'rejected', 'released', 'aborted')
FAILURES = ('rejected', 'aborted', 'status', 'transport')

# PS3.7 E.1 (Command Field); a response's is the request's with bit 15 set.
_REQUEST_NAMES = {
    0x0001: 'C-STORE', 0x0010: 'C-GET', 0x0020: 'C-FIND', 0x0021: 'C-MOVE', 0x0030: 'C-ECHO',
    0x0100: 'N-EVENT-REPORT', 0x0110: 'N-GET', 0x0120: 'N-SET', 0x0130: 'N-ACTION',
    0x0140: 'N-CREATE', 0x0150: 'N-DELETE',
}


_NEGOTIATING = frozenset({States.STA_3, States.STA_5})
_GONE = frozenset({States.STA_1, States.STA_13})
_RELEASING = frozenset({States.STA_7, States.STA_8, States.STA_9, States.STA_10,
                        States.STA_11, States.STA_12})
_REJECTIONS = frozenset({Events.EVT_4, Events.EVT_8})
_RELEASE_ENDS = frozenset({Events.EVT_13, Events.EVT_14})
_REQUESTED = ('requested',)
_ACCEPTED = ('accepted',)
_REJECTED = ('rejected',)
_REFUSED_AT_ONCE = ('requested', 'rejected')
_RELEASED = ('released',)
_ABORTED = ('aborted',)


def association_outcomes(event: Events, before: States, after: States) -> tuple[str, ...]:
    """What a state change of the PS3.8 machine (Table 9-10) means for the association:
    :data:`OUTCOMES`, in order (two for a request AE-6 refuses at once), often none.

    An A-ASSOCIATE-RQ sent (AE-2) or received (Evt6) is ``requested``; entering Sta6 from
    Sta3 or Sta5 is ``accepted``; an A-ASSOCIATE-RJ sent or received (or AE-6's, Sta2 to
    Sta13) ``rejected``; an A-RELEASE-RP that ends it (AR-3, AR-4) ``released``; any other
    way out of an association, being negotiated or established, ``aborted`` (A-ABORT either
    way, a lost transport, ARTIM, an invalid PDU).

    >>> association_outcomes(Events.EVT_10, States.STA_6, States.STA_6)
    ()
    >>> association_outcomes(Events.EVT_16, States.STA_6, States.STA_1)
    ('aborted',)
    >>> association_outcomes(Events.EVT_6, States.STA_2, States.STA_13)
    ('requested', 'rejected')
    """
    if after is before:
        return ()
    if after is States.STA_5 or (event is Events.EVT_6 and after is States.STA_3):
        return _REQUESTED
    if after is States.STA_6:
        return _ACCEPTED if before in _NEGOTIATING else ()
    if after not in _GONE:
        return ()
    if event is Events.EVT_6:  # AE-6 refusing the request outright
        return _REFUSED_AT_ONCE
    if event in _REJECTIONS and before in _NEGOTIATING:
        return _REJECTED
    if before in _RELEASING:
        return _RELEASED if event in _RELEASE_ENDS else _ABORTED
    if before is States.STA_6 or before in _NEGOTIATING:
        return _ABORTED
    return ()


def message_name(command_field: int) -> str:
    """A message's name in PS3.7 by its Command Field (E.1).

    >>> message_name(0x0001), message_name(0x8020), message_name(0x0FFF)
    ('C-STORE-RQ', 'C-FIND-RSP', 'C-CANCEL-RQ')
    """
    if command_field == 0x0FFF:
        return 'C-CANCEL-RQ'
    name = _REQUEST_NAMES.get(command_field & 0x7FFF)
    if name is None:
        return f'{command_field:04X}H'
    return f'{name}-RSP' if command_field & 0x8000 else f'{name}-RQ'


class Snapshot(NamedTuple):
    """The counters at one moment (:meth:`AEMetrics.snapshot`); every count since the AE
    was made, but ``active_associations`` and ``open_connections``, which are now."""

    associations: dict[str, int]
    messages: dict[tuple[str, str, int | None], int]
    failures: dict[str, int]
    bytes_received: int
    bytes_sent: int
    active_associations: int
    open_connections: int


class AEMetrics:
    """The counters of one AE, shared by all its associations (see the module).

    Bytes are counted by each connection's DUL thread on its own and summed when read, so
    the socket's path takes no lock; the rest is counted under one lock.

    >>> metrics = AEMetrics()
    >>> metrics.association('requested'); metrics.association('accepted')
    >>> counts = metrics.snapshot()
    >>> counts.associations['accepted'], counts.active_associations
    (1, 1)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._associations: collections.Counter[str] = collections.Counter()
        self._messages: collections.Counter[tuple[str, type, int | None]] = (
            collections.Counter()
        )
        self._failures: collections.Counter[str] = collections.Counter()
        self._bytes_received = 0  # of connections that have closed
        self._bytes_sent = 0
        self._active = 0
        # Open connections: objects with ``bytes_received`` and ``bytes_sent``.
        self._open: weakref.WeakSet[Any] = weakref.WeakSet()

    def association(self, outcome: str) -> None:
        """Count an association's outcome (one of :data:`OUTCOMES`)."""
        with self._lock:
            self._associations[outcome] += 1
            if outcome == 'accepted':
                self._active += 1
            elif outcome in ('released', 'aborted'):
                self._active = max(0, self._active - 1)
            if outcome in ('rejected', 'aborted'):
                self._failures[outcome] += 1

    def message(self, direction: str, msg: Any) -> None:
        """Count a DIMSE message (a :class:`~pynetdicom2.dimsemessages.DIMSEMessage`),
        ``'sent'`` or ``'received'``, by its type and, for a response, its Status."""
        status = msg.status if isinstance(msg, dm.DIMSEResponseMessage) else None
        key = (direction, type(msg), status if type(status) is int else None)
        with self._lock:
            self._messages[key] += 1

    def connection_opened(self, connection: Any) -> None:
        """A connection whose ``bytes_received``/``bytes_sent`` count from now on."""
        with self._lock:
            self._open.add(connection)

    def connection_closed(self, connection: Any, transport_error: bool = False) -> None:
        """Fold a closed connection's bytes into the totals (once)."""
        with self._lock:
            if connection not in self._open:
                return
            self._open.discard(connection)
            self._bytes_received += connection.bytes_received
            self._bytes_sent += connection.bytes_sent
            if transport_error:
                self._failures['transport'] += 1

    def snapshot(self) -> Snapshot:
        """Every counter, read at once."""
        with self._lock:
            open_connections = list(self._open)
            received = self._bytes_received + sum(c.bytes_received for c in open_connections)
            sent = self._bytes_sent + sum(c.bytes_sent for c in open_connections)
            raw_messages = dict(self._messages)
            failures = collections.Counter(self._failures)
            associations = dict(self._associations)
            active = self._active
        messages: dict[tuple[str, str, int | None], int] = {}
        for (direction, kind, status), count in raw_messages.items():
            key = (direction, message_name(getattr(kind, 'command_field', 0)), status)
            messages[key] = messages.get(key, 0) + count
            if status is not None and statuses.Status(status, kind).is_failure:
                failures['status'] += count
        return Snapshot(
            associations={outcome: associations.get(outcome, 0) for outcome in OUTCOMES},
            messages=messages,
            failures={kind: failures.get(kind, 0) for kind in FAILURES},
            bytes_received=received,
            bytes_sent=sent,
            active_associations=active,
            open_connections=len(open_connections),
        )


