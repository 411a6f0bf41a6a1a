"""How many threads one LungLens process may use for its own work (slice decoding, onnxruntime,
quantification), per-slice work split across them, and a side thread for work that overlaps the
caller's."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor

THREADS_VARIABLE = "LUNGLENS_THREADS"
"""Environment variable holding a process's share of the cores (a batch worker: cores / workers)."""


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity where the OS tells it (a container
    given 2 of 64 cores), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on this OS
        return os.cpu_count() or 1


def thread_budget() -> int | None:
    """The process's share of the cores: `LUNGLENS_THREADS` when it holds a positive integer, at
    most the machine's cores (more threads than cores only wait for one another: onnxruntime with
    100 threads on 2 cores classified tens of times slower), else None (use what the machine has)."""
    try:
        threads = int(os.environ.get(THREADS_VARIABLE, ""))
    except ValueError:
        return None
    return min(threads, available_cores()) if threads > 0 else None


def thread_count() -> int:
    """Threads a process's own parallel work may use: its thread budget, else the machine's cores."""
    return thread_budget() or available_cores()


def for_each_slice(work: Callable[[int], None], slices: Sequence[int]) -> None:
    """`work(z)` for every z of `slices`, split into `thread_count()` contiguous runs done side
    by side (OpenCV and numpy release the GIL); `work` must write only slice z's output."""
    slices = list(slices)
    threads = min(thread_count(), len(slices))
    if threads <= 1:
        for z in slices:
            work(z)
        return

    def run(part: Sequence[int]) -> None:
        for z in part:
            work(z)

    bounds = [len(slices) * i // threads for i in range(threads + 1)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for done in [pool.submit(run, slices[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]:
            done.result()


def side_thread() -> ThreadPoolExecutor | InlineExecutor:
    """A context-managed executor with one worker thread, for work that overlaps the caller's
    (OpenCV, numpy, scipy and zlib release the GIL), or, when the process may use one thread only
    (`thread_count`), one that runs each job at once in the caller's thread. The budget holds per
    pool: a side job that splits its own work (`for_each_slice`) briefly
    runs beside the caller's pool."""
    return ThreadPoolExecutor(max_workers=1) if thread_count() > 1 else InlineExecutor()


class InlineExecutor(Executor):
    """`submit` runs the job at once in the caller's thread and returns its finished future."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # raised by `result()`, as from a thread
            future.set_exception(exc)
        return future
