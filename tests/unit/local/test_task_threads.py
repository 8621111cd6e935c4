"""The emulator's Task states run on reused threads: a burst gets a thread each at once, an idle thread is
reused, each task sees a fresh context, and moto's list of threads keeps only the live ones."""

from __future__ import annotations

import contextvars
import threading
import time

from switchboard.local.task_threads import CachedThreads, PooledThread, prune_finished_threads

FLAG: contextvars.ContextVar[str | None] = contextvars.ContextVar("flag", default=None)


def _run_all(pool: CachedThreads, works: list) -> None:
    threads = [PooledThread(target=w, pool=pool) for w in works]
    for t in threads:
        t.start()
    give_up = time.monotonic() + 10
    while any(t.is_alive() for t in threads) and time.monotonic() < give_up:
        time.sleep(0.005)
    assert not any(t.is_alive() for t in threads)


def test_a_burst_runs_side_by_side_and_idle_threads_are_reused():
    pool = CachedThreads()
    barrier = threading.Barrier(4, timeout=5)
    _run_all(pool, [barrier.wait] * 4)  # four tasks that wait for each other: each needs its own thread
    assert pool.started == 4
    seen: list[str] = []
    for _ in range(20):  # one after another: the idle threads serve them, none is started
        _run_all(pool, [lambda: seen.append(threading.current_thread().name)])
    assert pool.started == 4 and len(seen) == 20


def test_each_task_sees_a_fresh_context_and_a_failing_task_does_not_kill_its_thread():
    pool = CachedThreads()
    values: list[str | None] = []

    def sets() -> None:
        values.append(FLAG.get())
        FLAG.set("left behind")

    def fails() -> None:
        raise RuntimeError("task failed")

    for work in (sets, fails, sets):
        _run_all(pool, [work])
    assert values == [None, None] and pool.started == 1


def test_an_idle_thread_ends_and_a_new_one_serves_the_next_task():
    pool = CachedThreads(idle_s=0.05)
    _run_all(pool, [lambda: None])
    time.sleep(0.3)
    _run_all(pool, [lambda: None])
    assert pool.started == 2


def test_moto_s_thread_list_keeps_only_live_threads():
    from moto.stepfunctions.parser.utils import TMP_THREADS

    finished = threading.Thread(target=lambda: None)
    finished.start()
    finished.join()
    stop = threading.Event()
    alive = threading.Thread(target=stop.wait, daemon=True)
    alive.start()
    TMP_THREADS.extend([finished, alive])
    try:
        prune_finished_threads()
        assert finished not in TMP_THREADS and alive in TMP_THREADS
    finally:
        stop.set()
        alive.join()
        prune_finished_threads()
