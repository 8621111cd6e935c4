"""The emulator's task threads, reused: moto's interpreter starts a new thread for every Task state it runs (so
that it can stop waiting at the state's ``TimeoutSeconds``) and keeps every thread it ever started in a
module-level list (``TMP_THREADS``), which a long-running ``switchboard local`` would grow without end.

Two adapters, installed with the emulator's others (``local.emulator``):

1. ``install_task_threads``: a Task state's work runs on an idle thread of a cached pool (``PooledThread``
   stands in for ``threading.Thread`` in the one module of the interpreter that starts them) - a new thread only
   when every pooled one is busy, so a burst never queues behind a busy thread and a state's timeout never
   counts time spent waiting for one; a thread idle for ``IDLE_S`` ends. Each task runs in a fresh
   ``contextvars`` context, as on a new thread. The wait, its timeout and the error of a task that overran
   it are the interpreter's own, unchanged.
2. ``prune_finished_threads``: drops the threads that have ended from ``TMP_THREADS`` (called when the
   emulator trims its list of executions, every ``TRIM_EVERY`` starts).

The lean executor (``local.asl_executor``) runs its executions, Task states and Map iterations on the same
pool (``spawn``).

Why a pool of our own rather than ``concurrent.futures.ThreadPoolExecutor``: the executor's bounded pool
queues work once ``max_workers`` threads are busy - a task would then wait, its timeout running, behind
others - and it never lets an idle thread go.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

IDLE_S = 60.0  # a pooled thread that has had no task this long ends


class CachedThreads:
    """Runs callables on idle pooled threads, starting a new one only when none is idle."""

    def __init__(self, idle_s: float = IDLE_S) -> None:
        self.idle_s = idle_s
        self._idle: list[queue.SimpleQueue] = []
        self._lock = threading.Lock()
        self.started = 0  # threads started so far (for tests)

    def run(self, work: Callable[[], Any]) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
            if inbox is None:
                self.started += 1
        if inbox is not None:
            inbox.put(work)
            return
        inbox = queue.SimpleQueue()
        inbox.put(work)
        threading.Thread(target=self._serve, args=(inbox,), name="sfn-task", daemon=True).start()

    def _serve(self, inbox: queue.SimpleQueue) -> None:
        work = inbox.get()
        while True:
            try:
                contextvars.Context().run(work)  # as on a new thread: no context variable of an earlier task
            except BaseException:  # noqa: BLE001, S110 - the work reports its own outcome; the thread lives on
                pass
            with self._lock:
                self._idle.append(inbox)
            try:
                work = inbox.get(timeout=self.idle_s)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # nobody took it: end
                        self._idle.remove(inbox)
                        return
                work = inbox.get()  # taken while it was giving up: its task is on the way


_POOL = CachedThreads()
_INSTALLED: set[str] = set()


class PooledThread:
    """What the interpreter's Task states take for a ``threading.Thread``: ``start`` hands the target to the
    pool; ``is_alive`` until it has run (for ``prune_finished_threads``)."""

    def __init__(self, target: Callable[[], Any], daemon: bool = True, pool: CachedThreads | None = None) -> None:
        self._target = target
        self._pool = pool or _POOL
        self._done = threading.Event()

    def start(self) -> None:
        def run() -> None:
            try:
                self._target()
            finally:
                self._done.set()

        self._pool.run(run)

    def is_alive(self) -> bool:
        return not self._done.is_set()


def install_task_threads() -> None:
    """The Task states' threads come from the pool: ``Thread`` in the interpreter's module that runs them
    (``ExecutionState._evaluate_with_timeout``, otherwise moto's own code) is ``PooledThread``."""
    if "tasks" in _INSTALLED:
        return
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    execute_state.Thread = PooledThread  # type: ignore[attr-defined, misc, assignment]
    _INSTALLED.add("tasks")


def prune_finished_threads() -> None:
    """Drop the ended threads from moto's ``TMP_THREADS`` (in place: its modules hold the same list)."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    TMP_THREADS[:] = [t for t in list(TMP_THREADS) if t.is_alive()]


def spawn(work: Callable[[], Any]) -> None:
    """Run ``work`` on a pooled thread (the lean executor's executions, tasks and Map iterations)."""
    _POOL.run(work)
