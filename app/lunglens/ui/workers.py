"""Background work: plain functions run in the global QThreadPool and report through signals.

A worker never touches a widget. Every job carries a generation number from its `JobSlot`;
when a newer job of the same kind has started, the older one's results are dropped, so a slow
load of a folder the reader has already left never lands on screen. Work that cannot look at its
cancel request (a request to a server that only its timeout ends) runs through `abandonable`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from lunglens.inference import Cancelled

#: How often a job waiting on work it cannot interrupt looks at its cancel request (seconds).
CANCEL_POLL_S = 0.05


class WorkerSignals(QObject):
    """What a job reports: `progress(done, total)`, then exactly one of `finished(result)`,
    `failed(message)` or `cancelled()`. A job asked to stop reports `cancelled()` even when its
    function returned a result after the request (the result is dropped)."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()


class _Runnable(QRunnable):
    def __init__(self, function: Callable, signals: WorkerSignals, cancel: threading.Event):
        super().__init__()
        self.function, self.signals, self.cancel = function, signals, cancel
        self.setAutoDelete(False)  # Python owns it (JobSlot._alive); Qt deleting it corrupts refcounts

    def run(self) -> None:
        try:
            result = self.function(self.signals.progress.emit, self.cancel)
        except Cancelled:
            self._report(self.signals.cancelled)
        except Exception as exc:  # noqa: BLE001 - a worker reports every failure as a message
            self._report(self.signals.failed, str(exc) or type(exc).__name__)
        else:
            if self.cancel.is_set():
                self._report(self.signals.cancelled)
            else:
                self._report(self.signals.finished, result)

    @staticmethod
    def _report(signal, *args) -> None:
        """Emit `signal`, unless the viewer was closed meanwhile and took its signals with it:
        then there is no one left to tell (Qt would print a traceback on the way out)."""
        with contextlib.suppress(RuntimeError):  # "Signal source has been deleted"
            signal.emit(*args)


def abandonable(function: Callable[[], object], cancel: threading.Event) -> object:
    """What `function()` returns (or raises), run in a daemon thread of its own, so that the job
    calling this raises Cancelled within CANCEL_POLL_S of `cancel` being set even while `function`
    blocks (a server that answers only at the request's timeout): the job's pool thread is free at
    once, and `function` runs on to its end alone, its answer dropped. `function` must not touch
    Qt objects (they may be gone by then); a daemon thread never holds up LungLens' exit."""
    outcome: list = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, function()))
        except BaseException as exc:  # noqa: BLE001 - handed to the job, which reports it
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="lunglens-abandonable", daemon=True).start()
    while not done.wait(CANCEL_POLL_S):
        if cancel.is_set():
            raise Cancelled
    returned, value = outcome[0]
    if not returned:
        raise value
    return value


class JobSlot:
    """One kind of background job (loading a series, analysing it, ...) of which only the
    newest counts. `start(function)` runs `function(progress, cancel)` in the thread pool and
    returns the signals to connect to. Results arrive in the GUI thread and are relayed only
    while their job is still the newest."""

    def __init__(self, pool: QThreadPool | None = None):
        self.pool = pool or QThreadPool.globalInstance()
        self.generation = 0
        self.running = False
        self._cancel = threading.Event()
        self._alive: set[tuple] = set()
        """Python references to jobs still in the pool (PySide must not collect them early)."""

    def start(
        self, function: Callable[[Callable[[int, int], None], threading.Event], object]
    ) -> WorkerSignals:
        self.drop()
        generation = self.generation
        self._cancel = threading.Event()
        inner, outer = WorkerSignals(), WorkerSignals()

        def relay(signal, finishing: bool):
            def forward(*args) -> None:
                if generation != self.generation:
                    return
                if finishing:
                    self.running = False
                signal.emit(*args)

            return forward

        inner.progress.connect(relay(outer.progress, False))
        inner.finished.connect(relay(outer.finished, True))
        inner.failed.connect(relay(outer.failed, True))
        inner.cancelled.connect(relay(outer.cancelled, True))
        runnable = _Runnable(function, inner, self._cancel)
        job = (inner, outer, runnable)
        self._alive.add(job)
        for signal in (inner.finished, inner.failed, inner.cancelled):
            signal.connect(lambda *_args, job=job: self._alive.discard(job))
        self.running = True
        self.pool.start(runnable)
        return outer

    def cancel(self) -> None:
        """Ask the running job to stop (it raises Cancelled at its next check)."""
        self._cancel.set()

    def drop(self) -> None:
        """Forget the running job: cancel it and never deliver its results."""
        self.cancel()
        self.generation += 1
        self.running = False
