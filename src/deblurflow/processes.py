"""Independent jobs in parallel processes: what the data stages render and blur with.

The sample's sequences (sources/sample.py) and the synthesize stage's sequences are independent
of each other and each draws from its own random streams, so they can run in any order on any
number of processes and still write the same bytes. Processes are spawned, not forked: the
parent may hold threads (tqdm, torch, OpenCV) that a fork would copy locked. Each process runs
OpenCV on one thread: the parallelism is across jobs.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import TypeVar

import cv2

Job = TypeVar("Job")
Result = TypeVar("Result")


def cpu_workers(cap: int = 8) -> int:
    """The processes to run at once: the cores this process may use, 1 to ``cap``.

    The cap bounds memory on large machines (each process holds its own inputs, e.g. the
    sample's photos), where a render of a few minutes gains little from more processes.
    """
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may use (Linux)
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cap, cores))


def _one_opencv_thread() -> None:
    cv2.setNumThreads(1)


def run_jobs(
    fn: Callable[[Job], Result], jobs: Sequence[Job], workers: int
) -> Iterator[tuple[Job, Result]]:
    """Yield (job, fn(job)) for every job as it finishes, in ``workers`` processes.

    Inline, in job order, when ``workers`` is 1 or there is one job. ``fn`` and the jobs must
    pickle (a module-level function, or a ``functools.partial`` of one). A job's exception is
    raised here with its message intact, and the jobs not yet started are cancelled.
    """
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield job, fn(job)
        return
    ctx = multiprocessing.get_context("spawn")
    n_proc = min(workers, len(jobs))
    with ProcessPoolExecutor(n_proc, mp_context=ctx, initializer=_one_opencv_thread) as pool:
        futures: dict[Future, Job] = {pool.submit(fn, job): job for job in jobs}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:  # a failed job, Ctrl-C, or the caller stopped early
            for future in futures:
                future.cancel()
            raise
