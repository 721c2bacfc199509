"""Where runs execute: local worker processes, or an existing Dask distributed cluster.

Both paths call the same pure function (``market.sweep.worker.run_one``) on the same plain
inputs and hand each result to ``on_result`` in the parent process as soon as it arrives, with a
bounded number of runs in flight (results stream; memory stays flat for large studies).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from market._memory import keep_freed_memory
from market.sweep.study import StudyError
from market.sweep.worker import run_one

Task = dict[str, Any]
OnResult = Callable[[Task, dict[str, Any]], None]
PRELOAD = ["market.sweep.worker"]
"""Imported once by the fork server; each worker process it forks then sets the allocator
(``market._memory.keep_freed_memory``: the worker processes are the project's own)."""
"""Imported once by the fork server, so each worker starts without importing the model."""
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""Worker processes run one simulation each: nested BLAS thread pools would only oversubscribe
the cores (Dask's nanny sets the same for its workers). Values already set are kept."""
MAX_ATTEMPTS_AFTER_CRASH = 2
"""A run in flight when a worker process dies is retried; after this many deaths it is failed."""


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def failed_result(task: Task, error: str) -> dict[str, Any]:
    """The result of a run that did not return (its worker died)."""
    return {"run_id": task["run_id"], "status": "failed", "error": error, "metrics": {},
            "series": {}, "elapsed_s": float("nan")}


def run_local(tasks: Sequence[Task], on_result: OnResult, workers: int,
              fn: Callable[[Task], dict[str, Any]] = run_one) -> None:
    """Run tasks on ``workers`` local processes (fork server: no fork of a threaded parent).

    A worker process that dies (segfault, out-of-memory kill) breaks the pool: it is rebuilt
    and the runs that were in flight are retried; a run in flight at ``MAX_ATTEMPTS_AFTER_CRASH``
    deaths is recorded as failed.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    _start_forkserver()
    queue = deque(tasks)
    attempts: dict[str, int] = {}
    window = 2 * workers
    while queue:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                   initializer=keep_freed_memory)
        inflight: dict[Future, Task] = {}
        broken = False
        stopping = False
        try:
            while queue or inflight:
                while queue and len(inflight) < window and not broken:
                    task = queue.popleft()
                    inflight[pool.submit(fn, task)] = task
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = inflight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        _crashed(task, attempts, queue, on_result)
                        continue
                    on_result(task, result)
                if broken and not inflight:
                    break
        except BaseException:  # Ctrl-C, SIGTERM: keep what finished, stop the rest now
            stopping = True
            _keep_finished(inflight, on_result)
            _stop_workers(pool)
            raise
        finally:
            pool.shutdown(wait=not stopping, cancel_futures=True)


STOP_GRACE_S = 2.0
"""Seconds a worker gets to exit after SIGTERM before it is killed, when a sweep is stopped."""


def _keep_finished(inflight: dict[Future, Task], on_result: OnResult) -> None:
    """Hand over the results of runs that finished but were not yet collected."""
    for fut, task in list(inflight.items()):
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            on_result(task, fut.result())


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes at once (runs in flight are abandoned; a resume
    reruns them), killing any that has not exited after ``STOP_GRACE_S``."""
    import time

    processes = list((getattr(pool, "_processes", None) or {}).values())
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in processes:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)


def _start_forkserver() -> None:
    """Start the fork server (once per process) with single-threaded numerical libraries."""
    from multiprocessing import forkserver

    added = {k: v for k, v in SINGLE_THREADED.items() if k not in os.environ}
    os.environ.update(added)
    try:
        forkserver.ensure_running()
    finally:
        for k in added:
            os.environ.pop(k, None)


def _crashed(task: Task, attempts: dict[str, int], queue: deque, on_result: OnResult) -> None:
    rid = task["run_id"]
    attempts[rid] = attempts.get(rid, 0) + 1
    if attempts[rid] >= MAX_ATTEMPTS_AFTER_CRASH:
        on_result(task, failed_result(task, f"worker process died while running this run "
                                            f"({attempts[rid]} attempts)"))
    else:
        queue.appendleft(task)


def run_dask(tasks: Sequence[Task], on_result: OnResult, scheduler: str,
             fn: Callable[[Task], dict[str, Any]] = run_one, timeout_s: float = 30.0) -> None:
    """Run tasks on the Dask cluster at ``scheduler`` (``tcp://HOST:PORT``).

    The workers need this package importable (the same version as here). A task whose worker
    dies is retried by Dask itself (``distributed.scheduler.allowed-failures``); if it still
    fails it is recorded as failed with Dask's error.
    """
    import uuid

    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise StudyError(f"--scheduler needs Dask: pip install 'compute-market[dask]' "
                         f"({exc})") from None
    token = uuid.uuid4().hex[:8]
    queue = deque(tasks)
    try:
        client = Client(scheduler, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise StudyError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    with client:
        threads = sum(client.nthreads().values())
        window = max(16, 4 * threads)
        meta: dict[str, Task] = {}
        pending = as_completed(loop=client.loop)

        def submit() -> None:
            task = queue.popleft()
            fut = client.submit(fn, task, key=f"sweep-{task['run_id']}-{token}", pure=False)
            meta[fut.key] = task
            pending.add(fut)

        while queue and len(meta) < window:
            submit()
        for fut in pending:
            task = meta.pop(fut.key)
            try:
                result = fut.result()
            except Exception as exc:  # KilledWorker and the like: record it, go on
                result = failed_result(task, f"dask: {type(exc).__name__}: {exc}")
            fut.release()
            on_result(task, result)
            while queue and len(meta) < window:
                submit()
