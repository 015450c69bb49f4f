"""The operations in flight on one association: their window and where their messages go.

PS3.7 D.3.3.3 lets an association have several operations outstanding at once (the
Asynchronous Operations Window); responses then come back in any order and are told apart by
their Message ID Being Responded To (PS3.7 9.3.1.2). :class:`MessageRouter` is what makes one
:class:`~pynetdicom2.asceprovider.Association` safe to share between threads:

* a request of ours is registered (:meth:`MessageRouter.begin`) before it is sent, which also
  takes a place in the window: a thread that would exceed the negotiated number of outstanding
  requests waits for a place, so a peer that granted one operation (or answered nothing, as
  DCMTK and pynetdicom do) never sees two;
* every response is routed to the mailbox of the request it answers, a C-CANCEL-RQ to the
  mailbox of the peer's operation it cancels (:meth:`MessageRouter.expect_cancel`), anything
  else (the peer's requests, a response to no registered request, A-RELEASE PDUs) to the
  mailbox of whoever reads the association's messages in order
  (:meth:`~pynetdicom2.asceprovider.Association.receive`);
* an A-ABORT, or the end of the provider, reaches every waiting thread.

There is no reader thread: whichever thread waits first reads the DUL's queue for everyone
(leader/follower), routing what is not its own and waking its owner. A thread that uses the
association alone therefore reads its messages itself, with no hand-off to another thread
(see :mod:`pynetdicom2.dulprovider` for why hand-offs are what costs).

:class:`Performers` are the bounded worker threads with which an acceptor performs several of
the peer's requests at once.

Usage (what :class:`~pynetdicom2.asceprovider.Association` does)::

    router = MessageRouter(dul.receive, association_error)
    router.set_window(4)
    mailbox = router.begin(msg_id)         # before sending request msg_id
    msg, pc_id = router.wait(mailbox, timeout=15)    # its response, whoever read it
"""

from __future__ import annotations

import collections
import copy
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Union

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import pdu
from pynetdicom2.exceptions import DCMTimeoutError, DIMSEProcessingError, NetDICOMError

__all__ = ['CANCELLABLE', 'Mailbox', 'MessageRouter', 'Performers', 'is_final']

logger = logging.getLogger('pynetdicom2.asceprovider')

#: What the DUL hands up: a DIMSE message with its context ID, or a PDU (A-ABORT ...).
Indication = Union[tuple[dm.DIMSEMessage, int], Any]
Received = tuple[dm.DIMSEMessage, int]

#: Requests a C-CANCEL-RQ may name (PS3.7 9.3.2.3): from the moment one arrives, a cancel
#: of it is routed to it, even one read by another thread before the request is performed.
CANCELLABLE = (dm.CFindRQMessage, dm.CGetRQMessage, dm.CMoveRQMessage)

# PS3.7 C.4: the pending statuses; any other status ends an operation.
_PENDING = frozenset({0xFF00, 0xFF01})
_MAX_MESSAGE_ID = 0xFFFF


def is_final(msg: dm.DIMSEMessage) -> bool:
    """Whether ``msg`` is the last response of its operation (a status that is not pending)."""
    return getattr(msg, 'status', None) not in _PENDING


class Mailbox:
    """Messages waiting for the thread (or threads) they belong to, in arrival order."""

    __slots__ = ('items',)

    def __init__(self) -> None:
        # Received messages; the unclaimed mailbox also holds A-RELEASE PDUs.
        self.items: collections.deque[Any] = collections.deque()


class MessageRouter:
    """Routes one association's incoming messages to the operations waiting for them.

    ``fetch(timeout)`` is the DUL's ``receive``; ``explain(pdu)`` turns a PDU that is not a
    DIMSE message into the exception a service user sees (an A-ABORT: AssociationAbortedError).
    The window starts at one request outstanding (:meth:`set_window` after negotiation).
    """

    def __init__(
        self, fetch: Callable[[float | None], Indication], explain: Callable[[Any], NetDICOMError]
    ) -> None:
        self._fetch = fetch
        self._explain = explain
        self._cond = threading.Condition(threading.Lock())
        self._reading = False
        #: Our outstanding requests: message ID -> the mailbox of its responses.
        self._responses: dict[int, Mailbox] = {}
        #: Requests of ours whose responses are read in order (sent with ``send``, or given
        #: up on): those responses go to :attr:`unclaimed`.
        self._in_order: set[int] = set()
        #: The peer's operations we perform that a C-CANCEL-RQ may name: ID -> mailbox.
        self._cancels: dict[int, Mailbox] = {}
        #: Everything else, for :meth:`wait_unclaimed`.
        self.unclaimed = Mailbox()
        self._end: Any = None
        self._release_rq: pdu.AReleaseRqPDU | None = None
        self._window = 1
        self._last_id = 0

    # -- the window and message IDs ---------------------------------------------------------

    def set_window(self, limit: int) -> None:
        """At most ``limit`` of our requests outstanding at once (0: no limit)."""
        with self._cond:
            self._window = limit
            self._cond.notify_all()

    @property
    def outstanding(self) -> int:
        """How many of our requests await their final response."""
        return len(self._responses)

    def new_message_id(self) -> int:
        """A Message ID (1-65535) that no outstanding request of ours uses."""
        with self._cond:
            for _ in range(_MAX_MESSAGE_ID):
                self._last_id = self._last_id % _MAX_MESSAGE_ID + 1
                if self._last_id not in self._responses:
                    return self._last_id
        raise DIMSEProcessingError('65535 requests outstanding: no Message ID is free')

    def begin(self, msg_id: int, mailbox: Mailbox | None = None, *, wait: bool = True
              ) -> Mailbox | None:
        """Register request ``msg_id`` before it is sent; its responses go to the mailbox.

        Waits for a place in the window (unless ``wait`` is False: None then means it is
        full). Raises :class:`DIMSEProcessingError` when ``msg_id`` is already outstanding
        (each concurrent request needs its own: :meth:`new_message_id`), and the
        association's error once it has ended.
        """
        with self._cond:
            if msg_id in self._responses:
                raise DIMSEProcessingError(
                    f'message ID {msg_id} is already outstanding on this association: give '
                    'each concurrent request its own (assoc.new_message_id())'
                )
            while self._window and len(self._responses) >= self._window:
                self._raise_if_ended()
                if not wait:
                    return None
                self._cond.wait()
            self._raise_if_ended()
            box = mailbox if mailbox is not None else Mailbox()
            self._responses[msg_id] = box
            return box

    def forget(self, msg_id: int) -> None:
        """Give up on request ``msg_id``: its place in the window is free, and a late
        response goes to :attr:`unclaimed`."""
        with self._cond:
            if self._responses.pop(msg_id, None) is not None:
                self._in_order.add(msg_id)
                self._cond.notify_all()

    def expect_in_order(self, msg_id: int) -> None:
        """A request sent outside the window (``Association.send``): its responses go to
        :attr:`unclaimed`, read in arrival order."""
        with self._cond:
            if msg_id not in self._responses:
                self._in_order.add(msg_id)

    def expect_cancel(self, msg_id: int | None) -> Mailbox:
        """Route a C-CANCEL-RQ naming the peer's request ``msg_id`` to the returned mailbox."""
        box = Mailbox()
        if msg_id is not None:
            with self._cond:
                self._cancels[msg_id] = box
        return box

    def cancel_done(self, msg_id: int | None) -> None:
        """The peer's request ``msg_id`` was answered: a C-CANCEL-RQ for it is now stray."""
        with self._cond:
            self._cancels.pop(msg_id, None)  # type: ignore[arg-type]

    def mailbox(self, msg_id: int) -> Mailbox | None:
        """Where the responses of our outstanding request ``msg_id`` go (None: not registered)."""
        with self._cond:
            return self._responses.get(msg_id)

    def cancel_mailbox(self, msg_id: int | None) -> Mailbox | None:
        """Where a C-CANCEL-RQ for the peer's request ``msg_id`` goes (None: not expected)."""
        with self._cond:
            return self._cancels.get(msg_id)  # type: ignore[arg-type]

    def defer(self, item: Received) -> None:
        """Put a message aside for :meth:`wait_unclaimed` (after those already there)."""
        with self._cond:
            self.unclaimed.items.append(item)
            self._cond.notify_all()

    # -- waiting -------------------------------------------------------------------------------

    def wait(self, mailbox: Mailbox, timeout: float | None, *, requests: bool = False
             ) -> Received:
        """The next message of ``mailbox`` (or, with ``requests``, a request of the peer's).

        Raises :class:`DCMTimeoutError` when nothing comes within ``timeout`` seconds (None:
        no limit; 0: only what has already arrived), and the association's error once it has
        ended. The final response of an operation unregisters it (:func:`is_final`).
        """

        def take() -> Any:
            if mailbox.items:
                item = mailbox.items.popleft()
                if mailbox is not self.unclaimed:
                    self._settle(mailbox, item[0])
                return item
            if requests:
                request = self._take_request()
                if request is not None:
                    return request
            if self._release_rq is not None and mailbox is not self.unclaimed:
                # No response will come now that the peer asked to release (PS3.8 7.2).
                raise self._explain(self._release_rq)
            return None

        received: Received = self._wait(take, timeout)
        return received

    def wait_unclaimed(self, timeout: float | None, *, releasing: bool = False) -> Indication:
        """The next message nobody registered for, or a release PDU, in arrival order.

        ``releasing``: for the release itself, which a peer out of step in DIMSE (a response
        to nothing of ours) does not stop: only an abort or the provider's end do.
        """
        return self._wait(self._take_unclaimed, timeout, releasing)

    def _take_unclaimed(self) -> Indication | None:
        items = self.unclaimed.items
        return items.popleft() if items else None

    def _take_request(self) -> Received | None:
        items = self.unclaimed.items
        for index, item in enumerate(items):
            if isinstance(item, tuple) and isinstance(item[0], dm.DIMSERequestMessage):
                del items[index]
                return item
        return None

    def _settle(self, mailbox: Mailbox, msg: dm.DIMSEMessage) -> None:
        """Under the lock: a final response frees its request's place in the window."""
        if (isinstance(msg, dm.DIMSEResponseMessage) and not isinstance(msg, dm.CCancelRQMessage)
                and is_final(msg)):
            msg_id = msg.message_id_being_responded_to
            if self._responses.get(msg_id) is mailbox:
                del self._responses[msg_id]
                self._cond.notify_all()

    def _wait(self, take: Callable[[], Any], timeout: float | None, releasing: bool = False
              ) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        cond = self._cond
        with cond:
            while True:
                item = take()
                if item is not None:
                    return item
                self._raise_if_ended(releasing)
                if not self._reading:
                    self._reading = True
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise DCMTimeoutError(f'nothing from the peer within {timeout} s')
                cond.wait(remaining)
        try:
            while True:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    indication = self._fetch(remaining)
                except DCMTimeoutError:
                    raise
                except NetDICOMError as exc:
                    with cond:
                        if self._end is None or isinstance(self._end, DIMSEProcessingError):
                            self._end = exc
                        self._raise_if_ended()  # what ended it first, e.g. our own abort
                with cond:
                    self._route(indication)
                    item = take()
                    if item is not None:
                        return item
                    self._raise_if_ended(releasing)
        finally:
            with cond:
                self._reading = False
                cond.notify_all()

    def _route(self, indication: Indication) -> None:
        """Under the lock: put what arrived where its owner looks."""
        if not isinstance(indication, tuple):
            if isinstance(indication, (pdu.AReleaseRqPDU, pdu.AReleaseRpPDU)):
                self.unclaimed.items.append(indication)
                if isinstance(indication, pdu.AReleaseRqPDU):
                    self._release_rq = indication
            elif self._end is None or isinstance(self._end, DIMSEProcessingError):
                self._end = indication  # an A-ABORT: every waiting thread hears of it
            self._cond.notify_all()
            return
        msg = indication[0]
        box: Mailbox | None = None
        if isinstance(msg, dm.CCancelRQMessage):  # (a DIMSEResponseMessage by its fields)
            box = self._cancels.get(msg.message_id_being_responded_to)
        elif isinstance(msg, dm.DIMSEResponseMessage):
            msg_id = msg.message_id_being_responded_to
            box = self._responses.get(msg_id)
            if box is None:
                if msg_id not in self._in_order:
                    # PS3.7 9.3.1.2: it must answer a request of ours. The peer is out of
                    # step, and every thread waiting on the association hears of it.
                    self._end = DIMSEProcessingError(
                        f'{type(msg).__name__} to message {msg_id}, which is not a request of '
                        f'ours outstanding (outstanding: {sorted(self._responses)})'
                    )
                    self._cond.notify_all()
                    return
                if is_final(msg):
                    self._in_order.discard(msg_id)
        elif isinstance(msg, CANCELLABLE) and msg.message_id is not None:
            self._cancels[msg.message_id] = Mailbox()
        (box or self.unclaimed).items.append(indication)
        self._cond.notify_all()

    def _raise_if_ended(self, releasing: bool = False) -> None:
        end = self._end
        if end is None or (releasing and isinstance(end, DIMSEProcessingError)):
            return
        if isinstance(end, BaseException):
            raise copy.copy(end) from None  # each thread gets its own traceback
        raise self._explain(end)

    def end_with(self, primitive: Any) -> None:
        """End every wait, now and later, with what ``primitive`` means (our own A-ABORT)."""
        with self._cond:
            if self._end is None:
                self._end = primitive
            self._cond.notify_all()

    @property
    def ended(self) -> bool:
        """True once the association was aborted or its provider has ended."""
        return self._end is not None


class Performers:
    """Up to ``limit`` named threads performing an acceptor's requests at once.

    Threads start as work arrives (never more than ``limit``) and end at :meth:`close`, which
    joins them. ``name`` prefixes their names.
    """

    def __init__(self, limit: int, name: str) -> None:
        self._limit = limit
        self._name = name
        self._work: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._idle = 0
        self._busy = 0

    @property
    def busy(self) -> bool:
        """True while a request is being performed or waits for a thread."""
        with self._lock:
            return self._busy > 0

    def submit(self, work: Callable[..., None], *args: Any) -> None:
        with self._lock:
            self._busy += 1
            start = self._idle == 0 and len(self._threads) < self._limit
            if start:
                thread = threading.Thread(
                    target=self._run, name=f'{self._name}-{len(self._threads) + 1}', daemon=True
                )
                self._threads.append(thread)
            elif self._idle:
                self._idle -= 1  # that thread takes this work
        self._work.put((work, args))
        if start:
            thread.start()

    def _run(self) -> None:
        while True:
            job = self._work.get()
            if job is None:
                return
            work, args = job
            try:
                work(*args)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._idle += 1

    def close(self) -> None:
        """Let the running requests finish, then end and join every thread."""
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._work.put(None)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()
