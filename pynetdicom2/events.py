"""Observing an AE: what happens on its connections and associations, as it happens.

Hooks (``on_*`` methods of an AE) decide: they accept, refuse and answer. Observers only
watch: each is a callable given a :class:`Notice` when its :class:`Event` occurs, on any of
the AE's associations. They cannot change what happens, and an observer that raises is
logged (``pynetdicom2.events``) and otherwise ignored.

Usage::

    from pynetdicom2 import events

    def log_outcome(notice):
        print(notice.event.value, notice.association.remote_ae, notice.reason)

    ae.observers.add(events.Event.ASSOCIATION_ABORTED, log_outcome)
    ...
    ae.observers.remove(events.Event.ASSOCIATION_ABORTED, log_outcome)

Observers run synchronously, on the thread where the event happens: the association's
thread for association and DIMSE events, its DUL thread (``pynetdicom2-dul-...``) for
connections, PDUs and state transitions. Keep them quick, and hand long work to a queue of
your own. Events no observer asked for cost one attribute test where they happen: nothing is
built for them.

===========================  ===========================================================
Event                        :class:`Notice` fields set
===========================  ===========================================================
``CONNECTION_OPENED``        ``address``: the peer's (PS3.8 9.1: the transport connection)
``CONNECTION_CLOSED``        ``address``
``ASSOCIATION_REQUESTED``    ``pdu``: the A-ASSOCIATE-RQ, sent (requester) or received
``ASSOCIATION_ACCEPTED``     ``pdu``: the A-ASSOCIATE-AC
``ASSOCIATION_REJECTED``     ``pdu``: the A-ASSOCIATE-RJ; ``reason``: the exception, if any
``ASSOCIATION_RELEASED``     (association only)
``ASSOCIATION_ABORTED``      ``reason``: the A-ABORT PDU or the error that ended it
``PDU_SENT``                 ``pdu``
``PDU_RECEIVED``             ``pdu``
``DIMSE_SENT``               ``message``, ``context_id``
``DIMSE_RECEIVED``           ``message``, ``context_id``
``STATE_CHANGED``            ``transition``: (PS3.8 event, state before, state after), names
                             as in Table 9-10, e.g. ``('EVT_10', 'STA_6', 'STA_6')``
===========================  ===========================================================
"""

from __future__ import annotations

import enum
import logging
import threading
from typing import Any, Callable, NamedTuple

__all__ = ['Event', 'Notice', 'Observer', 'Observers']

logger = logging.getLogger('pynetdicom2.events')


class Event(enum.Enum):
    """What an observer may watch for. The value is the event's name in logs and docs."""

    CONNECTION_OPENED = 'connection opened'
    CONNECTION_CLOSED = 'connection closed'
    ASSOCIATION_REQUESTED = 'association requested'
    ASSOCIATION_ACCEPTED = 'association accepted'
    ASSOCIATION_REJECTED = 'association rejected'
    ASSOCIATION_RELEASED = 'association released'
    ASSOCIATION_ABORTED = 'association aborted'
    PDU_SENT = 'PDU sent'
    PDU_RECEIVED = 'PDU received'
    DIMSE_SENT = 'DIMSE message sent'
    DIMSE_RECEIVED = 'DIMSE message received'
    STATE_CHANGED = 'state machine transition'


class Notice(NamedTuple):
    """What an observer is given: the event, where it happened, and what it concerns.

    ``association`` is the :class:`~pynetdicom2.asceprovider.Association` (its ``ae``,
    ``remote_ae``, ``accepted_contexts``...), None for a connection no association was made
    for yet; ``address`` the peer's transport address where known. Fields an event does not
    set are None (see the table in :mod:`pynetdicom2.events`).
    """

    event: Event
    association: Any = None
    address: Any = None
    pdu: Any = None
    message: Any = None
    context_id: int | None = None
    transition: tuple[str, str, str] | None = None
    reason: Any = None


#: An observer: any callable taking a :class:`Notice`.
Observer = Callable[[Notice], Any]


class Observers:
    """An AE's observers by event (``ae.observers``); safe to change from any thread.

    For each event, an attribute named after it in lower case (``observers.pdu_sent``) holds
    the tuple of its observers: empty, hence false, while nobody watches, which is all the
    places where events happen test.

    >>> seen = []
    >>> observers = Observers()
    >>> observers.add(Event.ASSOCIATION_RELEASED, seen.append)
    >>> observers.association_released != (), observers.pdu_sent
    (True, ())
    >>> observers.notify(Event.ASSOCIATION_RELEASED, association='assoc')
    >>> seen[0].event.value, seen[0].association
    ('association released', 'assoc')
    """

    connection_opened: tuple[Observer, ...] = ()
    connection_closed: tuple[Observer, ...] = ()
    association_requested: tuple[Observer, ...] = ()
    association_accepted: tuple[Observer, ...] = ()
    association_rejected: tuple[Observer, ...] = ()
    association_released: tuple[Observer, ...] = ()
    association_aborted: tuple[Observer, ...] = ()
    pdu_sent: tuple[Observer, ...] = ()
    pdu_received: tuple[Observer, ...] = ()
    dimse_sent: tuple[Observer, ...] = ()
    dimse_received: tuple[Observer, ...] = ()
    state_changed: tuple[Observer, ...] = ()

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, event: Event, observer: Observer) -> None:
        """Call ``observer`` with a :class:`Notice` each time ``event`` happens."""
        if not isinstance(event, Event):
            raise TypeError(f'{event!r} is not a pynetdicom2.events.Event')
        if not callable(observer):
            raise TypeError(f'{observer!r} is not callable')
        name = event.name.lower()
        with self._lock:
            setattr(self, name, (*getattr(self, name), observer))

    def remove(self, event: Event, observer: Observer) -> None:
        """Stop calling ``observer`` for ``event`` (the last one added, if added twice)."""
        name = event.name.lower()
        with self._lock:
            current = list(getattr(self, name))
            for index in range(len(current) - 1, -1, -1):
                if current[index] == observer:
                    del current[index]
                    setattr(self, name, tuple(current))
                    return
        raise ValueError(f'{observer!r} does not observe {event.value}')

    def notify(self, event: Event, **fields: Any) -> None:
        """Give every observer of ``event`` a :class:`Notice` made of ``fields``."""
        observers = getattr(self, event.name.lower())
        if not observers:
            return
        notice = Notice(event, **fields)
        for observer in observers:
            try:
                observer(notice)
            except Exception:
                logger.exception('an observer of %s failed: %r', event.value, observer)


#: What a provider or association without an AE of ours observes: nothing.
NOBODY = Observers()
