"""The one adapter between core jobs and Qt: run a core function on a worker thread.

Every long core function takes a `Progress`. `JobRunner.start(fn, ...)` runs it on
a pool thread with a fresh cancel token and returns a `Job` whose signals are
always delivered on the GUI thread: the worker emits on a private relay, which
the `Job` (living on the GUI thread) receives through queued slots and re-emits.
So any receiver, even a plain lambda, runs on the GUI thread.
"""

from __future__ import annotations

import gc
import sys
import time
import traceback
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import torch
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from core.child_job import ChildFailed
from core.errors import StudioError, first_line, plain
from core.jobs import Cancelled, CancelToken, Progress


class _Relay(QObject):
    started = Signal()
    progressed = Signal(float, str)
    partial = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()


RATE_AFTER_S = 2.0  # a job's time left is estimated from its rate once it has run this long


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"  # asked to stop; it ends at its next checkpoint (or its child process is stopped)
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def unfinished(self) -> bool:
        return self in (JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING)

    @property
    def label(self) -> str:
        return "Cancelling…" if self is JobState.CANCELLING else self.value


class Job(QObject):
    """A queued or running core function. Signals arrive on the GUI thread; `finished` always comes last."""

    started = Signal()  # left the queue
    state_changed = Signal()  # Cancelling… at once, before the job reaches its checkpoint
    progressed = Signal(float, str, float)  # fraction, message, seconds left (-1 if unknown)
    partial = Signal(object)  # something the job found on its way (a search's candidate), before it ends
    succeeded = Signal(object)
    failed = Signal(str, str)  # user message, details
    cancelled = Signal()
    finished = Signal()

    def __init__(self, title: str, parent: QObject | None = None, budget_s: float | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.budget_s = budget_s  # a job that keeps to a time budget: its time left is known from the start
        self.token = CancelToken()
        self.relay = _Relay()
        self.relay.started.connect(self._on_start)
        self.relay.progressed.connect(self._on_progress)
        self.relay.partial.connect(self.partial)
        self.relay.succeeded.connect(self._on_success)
        self.relay.failed.connect(self._on_failure)
        self.relay.cancelled.connect(self._on_cancel)
        self.state = JobState.QUEUED
        self.fraction = 0.0
        self.message = "waiting for the jobs before it"
        self._started = time.monotonic()
        self.seconds = 0.0  # how long it ran, once it has ended

    @property
    def running(self) -> bool:
        """Queued, running or cancelling: not finished yet."""
        return self.state.unfinished

    def cancel(self) -> None:
        """Ask the job to stop; it says "Cancelling…" at once (in this event-loop turn) until it has."""
        self.token.cancel()
        if self.running and self.state is not JobState.CANCELLING:
            self.state, self.message = JobState.CANCELLING, "Cancelling…"
            self.state_changed.emit()

    @Slot()
    def _on_start(self) -> None:
        if self.state is JobState.QUEUED:  # a job cancelled in the queue stays "Cancelling…" until it is dropped
            self.state, self.message = JobState.RUNNING, "started"
        self._started = time.monotonic()
        self.started.emit()

    def eta_seconds(self, fraction: float) -> float:
        elapsed = time.monotonic() - self._started
        if self.budget_s is not None:
            return max(0.0, self.budget_s - elapsed) if self.state == "running" else self.budget_s
        measured = fraction > 0.02 and elapsed >= RATE_AFTER_S  # a rate from an instant would be made up
        return elapsed * (1 - fraction) / fraction if measured else -1.0

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        if self.state is JobState.CANCELLING:  # late reports from before the checkpoint: the state stands
            return
        self.fraction, self.message = fraction, message
        self.progressed.emit(fraction, message, self.eta_seconds(fraction))

    def _end(self, state: JobState) -> None:
        self.state, self.seconds = state, time.monotonic() - self._started
        self.finished.emit()

    @Slot(object)
    def _on_success(self, result: Any) -> None:
        self.fraction = 1.0
        self.succeeded.emit(result)
        self._end(JobState.DONE)

    @Slot(str, str)
    def _on_failure(self, message: str, details: str) -> None:
        self.message = message
        self.failed.emit(message, details)
        self._end(JobState.FAILED)

    @Slot()
    def _on_cancel(self) -> None:
        self.message = "cancelled"
        self.cancelled.emit()
        self._end(JobState.CANCELLED)


class _Task(QRunnable):
    def __init__(self, job: Job, fn: Callable[..., Any], threads: int, args: tuple, kwargs: dict,
                 partial_keyword: str | None) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.job, self.fn, self.threads, self.args, self.kwargs = job, fn, threads, args, kwargs
        if partial_keyword:  # the core function reports findings through this callback, from the worker
            self.kwargs = {**kwargs, partial_keyword: job.relay.partial.emit}

    def run(self) -> None:
        relay = self.job.relay
        if self.job.token.cancelled:  # cancelled while it waited in the queue
            relay.cancelled.emit()
            return
        relay.started.emit()
        torch.set_num_threads(self.threads)  # per thread: the pool thread must set its own
        progress = Progress(relay.progressed.emit, self.job.token)
        try:
            result = self.fn(*self.args, progress=progress, **self.kwargs)
        except Cancelled:
            relay.cancelled.emit()
        except StudioError as exc:
            relay.failed.emit(plain(str(exc)), "")
        except ChildFailed as exc:  # a bug in a child process: its own traceback
            relay.failed.emit(plain(str(exc)), plain(exc.details))
        except Exception as exc:  # a bug must reach the user as a message, not kill the thread silently
            message = f"unexpected error: {type(exc).__name__}: {first_line(exc)}"
            relay.failed.emit(message, plain(traceback.format_exc()))
        else:
            relay.succeeded.emit(result)


_collector: Any = None
GIL_SWITCH_S = 0.001


def collect_garbage_on_gui_thread() -> None:
    """Python's cyclic garbage collector runs in whichever thread happens to allocate past a threshold. In a worker
    it can destroy a widget (a closed window's menus) off the GUI thread: a test run deadlocked so, the worker
    waiting for the GIL inside QObject's destructor while the GUI thread waited for that object's lock. Automatic
    collection is turned off and runs on a GUI-thread timer instead (pyqtgraph's GarbageCollector, 0.5 s).

    What is alive when a window opens (torch, torchvision and the models loaded so far) is frozen out of the
    collector's reach (`gc.freeze`): a full collection on the GUI thread then walks only what was made since. A
    full collection over every object of a long-running process froze the window for 2.2 s during a compress."""
    global _collector
    gc.freeze()
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _collector = GarbageCollector(interval=0.5)


class JobRunner(QObject):
    """Runs jobs one after another on a worker thread (a queue) and tracks the unfinished ones.

    One at a time because every job is CPU-bound: two would only share the cores and both finish
    later, and their latency figures would measure each other.
    """

    job_started = Signal(object)

    def __init__(self, threads: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        collect_garbage_on_gui_thread()  # before any job runs Python on a worker thread
        # A worker running Python hands the interpreter lock to a waiting GUI thread after the switch interval;
        # Python's default of 5 ms, plus the time to wake the GUI thread, made 20-30 ms stalls a frame-time goal
        # (16 ms) cannot absorb. 1 ms costs the worker nothing measurable when the GUI thread is idle.
        sys.setswitchinterval(GIL_SWITCH_S)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.threads = threads
        self.jobs: list[Job] = []

    def start(self, title: str, fn: Callable[..., Any], *args: Any, budget_s: float | None = None,
              partial_keyword: str | None = None, **kwargs: Any) -> Job:
        """Queue `fn(*args, progress=..., **kwargs)`. `budget_s`: the job keeps to this time, so its ETA is known
        before it starts; `partial_keyword`: the keyword argument through which `fn` reports partial results."""
        job = Job(title, self, budget_s)
        self.jobs.append(job)
        job.finished.connect(lambda: self.jobs.remove(job))
        self.pool.start(_Task(job, fn, self.threads, args, kwargs, partial_keyword))
        self.job_started.emit(job)
        return job

    def cancel_all(self) -> None:
        for job in self.jobs:
            job.cancel()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything and wait for the threads; True if they all stopped."""
        self.cancel_all()
        return self.pool.waitForDone(timeout_ms)
