"""Serving one AE from several worker processes that share its listening socket.

A Python server runs its associations on one core: the interpreter lock serialises their
threads. :class:`WorkerPool` binds the AE's port once, then forks ``workers`` processes that
all accept on that one socket (the kernel gives each connection to one of them), and
supervises them:

* **shared socket, not SO_REUSEPORT**: one listening socket, inherited by every worker, so a
  connection queued on it is served by whichever worker accepts it next. (With a socket per
  worker, SO_REUSEPORT resets the connections queued on the socket of a worker that stops.)
* **one limit for all**: the AE's ``maximum_associations`` counts the associations of every
  worker, in shared memory (:class:`SharedAdmissions`); a request beyond it is rejected
  transient, local limit exceeded (PS3.8 9.3.4, A-ASSOCIATE-RJ 2/3/2), whichever worker
  reads it.
* **SIGTERM (or SIGINT) stops them all gracefully**: the supervisor passes SIGTERM on; each worker
  stops accepting, lets the associations in progress end for up to ``grace`` seconds, then
  aborts the rest (a data set not received whole is never kept: its staged file is removed)
  and exits. A worker still running ``grace`` + 10 s later is killed.
* **a worker that dies is restarted**, and logged (``pynetdicom2.workers``); one that dies
  again and again (:data:`MAX_QUICK_DEATHS` within :data:`QUICK_DEATH_SECONDS` of its start)
  is not, and the pool stops.

Workers are forked (POSIX only): the AE is configured once, in the supervisor, and each
worker starts as a copy of it, before any thread exists. So make the AE, register its
services, and hand it to the pool before anything starts a thread (the pool refuses
otherwise): a worker's threads are its own. An AE with work of its own to start in each
process defines ``on_worker_start(number)``, called in worker ``number`` (0 to N-1) before
it serves (:class:`pynetdicom2.qrscp.QRSCP` indexes its folder in worker 0).

Usage::

    srv = StorageAE('/srv/incoming', 'STORESCP', 11112).add_scp(sc.storage_scp)
    srv.maximum_associations = 50            # for all workers together
    WorkerPool(srv, workers=4).serve()       # until SIGTERM or Ctrl-C

    srv.serve_forever(workers=4)             # the same
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from types import FrameType
from typing import Any

from pynetdicom2.exceptions import NetDICOMError

__all__ = ['MAX_QUICK_DEATHS', 'QUICK_DEATH_SECONDS', 'SharedAdmissions', 'WorkerPool']

logger = logging.getLogger('pynetdicom2.workers')

#: A worker that dies this many times in a row within :data:`QUICK_DEATH_SECONDS` of its
#: start is not restarted again (it would only crash again: a bad configuration).
MAX_QUICK_DEATHS = 5
QUICK_DEATH_SECONDS = 5.0
#: Seconds a worker is given beyond ``grace`` to exit after SIGTERM before it is killed.
KILL_MARGIN = 10.0


class SharedAdmissions:
    """How many associations every worker together serves, in memory they all share.

    One count per worker: :meth:`admit` takes a place for this process's worker
    (:attr:`worker`) unless ``limit`` are taken in all (the check and the count under one lock
    shared by the processes), :meth:`release` gives it back, and :meth:`reset` frees the
    places of a worker that died, which could not.

    >>> import multiprocessing
    >>> places = SharedAdmissions(multiprocessing.get_context('fork'), workers=2)
    >>> places.worker = 1
    >>> places.admit(1), places.admit(1), places.count
    (True, False, 1)
    >>> places.reset(1); places.count
    0
    """

    def __init__(self, context: Any, workers: int) -> None:
        self._counts = context.Array('i', workers)
        #: The worker this process is (set in each worker after the fork).
        self.worker = 0

    def admit(self, limit: int | None) -> bool:
        with self._counts.get_lock():
            if limit is not None and sum(self._counts) >= limit:
                return False
            self._counts[self.worker] += 1
            return True

    def release(self) -> None:
        with self._counts.get_lock():
            self._counts[self.worker] = max(0, self._counts[self.worker] - 1)

    def reset(self, worker: int) -> None:
        """Worker ``worker`` ended: the places it held are free."""
        with self._counts.get_lock():
            self._counts[worker] = 0

    @property
    def count(self) -> int:
        """Associations admitted by all workers now."""
        with self._counts.get_lock():
            return sum(self._counts)


_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
_WATCHED = _STOP_SIGNALS | {signal.SIGCHLD}


class WorkerPool:
    """Serve ``ae`` (an :class:`~pynetdicom2.applicationentity.AE`) from ``workers``
    processes; see the module. ``grace``: seconds the associations in progress have to end
    after SIGTERM before they are aborted."""

    def __init__(self, ae: Any, workers: int, *, grace: float = 30.0) -> None:
        if not hasattr(os, 'fork') or not hasattr(signal, 'sigtimedwait'):
            raise NetDICOMError('worker processes need os.fork and signal.sigtimedwait '
                                '(Linux and most POSIX systems)')
        if not isinstance(workers, int) or workers < 1:
            raise NetDICOMError(f'workers: {workers!r}; expected 1 or more')
        self.ae = ae
        self.workers = workers
        self.grace = grace
        self.admissions = SharedAdmissions(multiprocessing.get_context('fork'), workers)
        self._pids: dict[int, tuple[int, float]] = {}  # pid -> (worker number, start time)
        self._quick_deaths: dict[int, int] = {}
        self._exit_status = 0
        self._mask: set[Any] = set()  # the signal mask before serve()

    # -- the supervisor ----------------------------------------------------------------------

    def serve(self) -> int:
        """Bind, fork the workers and supervise them until SIGTERM or SIGINT; then stop them
        all and return 0 (1 when a worker kept dying)."""
        others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
        if others:
            raise NetDICOMError(
                f'cannot fork workers while threads run ({", ".join(others)}): create the '
                'AE and the pool before starting anything else'
            )
        self.ae.activate()  # the one listening socket every worker inherits
        self.ae.server.admissions = self.admissions
        # Signals are taken synchronously (sigtimedwait), never by a handler mid-fork.
        self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
        try:
            for number in range(self.workers):
                self._start(number)
            logger.info('%s: %d workers on port %d', self.ae.ae_title, self.workers,
                        self.ae.local_ae.port)
            self._supervise()
        finally:
            try:
                self._stop_all()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
                self.ae.quit()
        return self._exit_status

    def _start(self, number: int) -> None:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, measured there
            status = 1
            try:
                status = self._run_worker(number)
            except BaseException:
                logger.exception('worker %d failed', number)
            finally:
                os._exit(status)
        self._pids[pid] = (number, time.monotonic())
        logger.debug('worker %d started: pid %d', number, pid)

    def _supervise(self) -> None:
        while self._pids:
            info = signal.sigtimedwait(_WATCHED, 3600.0)
            if info is None:
                continue
            if info.si_signo in _STOP_SIGNALS:
                logger.info('%s received: stopping the workers',
                            signal.Signals(info.si_signo).name)
                return
            for pid, status in self._reap():
                number, started = self._pids.pop(pid)
                self.admissions.reset(number)  # its associations died with it
                logger.warning('worker %d (pid %d) ended: %s; restarting it', number, pid,
                               _describe(status))
                if time.monotonic() - started < QUICK_DEATH_SECONDS:
                    self._quick_deaths[number] = self._quick_deaths.get(number, 0) + 1
                    if self._quick_deaths[number] >= MAX_QUICK_DEATHS:
                        logger.error('worker %d died %d times within %s s of starting: '
                                     'stopping', number, MAX_QUICK_DEATHS, QUICK_DEATH_SECONDS)
                        self._exit_status = 1
                        return
                else:
                    self._quick_deaths[number] = 0
                self._start(number)

    def _reap(self) -> list[tuple[int, int]]:
        """Every worker that has ended, with its wait status (SIGCHLD may stand for several)."""
        ended = []
        while self._pids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in self._pids:
                ended.append((pid, status))
        return ended

    def _stop_all(self) -> None:
        """SIGTERM every worker, wait for them (``grace`` + :data:`KILL_MARGIN` s), kill the
        rest; a second SIGTERM or Ctrl-C meanwhile is ignored (no orphans)."""
        for pid in self._pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace + KILL_MARGIN
        killed = False
        while self._pids:
            for pid, status in self._reap():
                number, _ = self._pids.pop(pid)
                logger.debug('worker %d (pid %d) stopped: %s', number, pid, _describe(status))
            if not self._pids:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not killed:
                for late in self._pids:
                    logger.warning('worker pid %d did not stop in time: killed', late)
                    _signal(late, signal.SIGKILL)
                killed = True
                deadline = time.monotonic() + KILL_MARGIN
                continue
            if remaining <= 0:
                logger.error('workers %s survived SIGKILL', sorted(self._pids))
                return
            signal.sigtimedwait({signal.SIGCHLD}, remaining)

    # -- a worker ----------------------------------------------------------------------------

    def _run_worker(self, number: int) -> int:  # pragma: no cover - runs in the child
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
        ae = self.ae
        self.admissions.worker = number
        ae.server.prepare_worker()
        started = getattr(ae, 'on_worker_start', None)
        if started is not None:  # an AE with per-process work (qrscp indexes in worker 0)
            started(number)
        with ae:
            logger.debug('worker %d (pid %d) serving', number, os.getpid())
            stop.wait()
            ae.server.shutdown()  # no more connections accepted by this worker
            if not ae.server.wait_idle(self.grace):
                logger.warning('worker %d: associations still running after %s s: aborting',
                               number, self.grace)
        return 0


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f'killed by {signal.Signals(os.WTERMSIG(status)).name}'
    return f'exit status {os.WEXITSTATUS(status)}'


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
