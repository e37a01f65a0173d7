"""The Qt job adapter: signals on the GUI thread, cancel, failures reported."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from core.errors import DatasetError
from core.jobs import Progress
from core.metrics.latency import benchmark
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec
from studio.workers import JobRunner


def _count_to(n: int, progress: Progress) -> int:
    for i in range(n):
        progress((i + 1) / n, f"step {i + 1}")
    return n


def _fail(kind: str, progress: Progress) -> None:
    progress(0.5, "about to fail")
    if kind == "expected":
        raise DatasetError("no usable images in /data")
    raise ZeroDivisionError("bug")


def test_every_signal_reaches_receivers_on_the_gui_thread(qtbot) -> None:
    runner = JobRunner(threads=1)
    gui_thread = QApplication.instance().thread()
    threads_seen: list[bool] = []
    job = runner.start("count", _count_to, 5)
    job.progressed.connect(lambda *_: threads_seen.append(QThread.currentThread() is gui_thread))
    with qtbot.waitSignal(job.finished, timeout=10_000):
        job.succeeded.connect(lambda result: threads_seen.append(QThread.currentThread() is gui_thread))
    assert threads_seen and all(threads_seen)
    assert not job.running and runner.jobs == []
    assert runner.shutdown(5000)


def test_results_and_failures_are_reported(qtbot) -> None:
    runner = JobRunner(threads=1)
    ok = runner.start("count", _count_to, 3)
    with qtbot.waitSignal(ok.succeeded, timeout=10_000) as success:
        pass
    assert success.args == [3]
    expected = runner.start("fail", _fail, "expected")
    with qtbot.waitSignal(expected.failed, timeout=10_000) as failure:
        pass
    assert failure.args == ["no usable images in /data", ""]
    bug = runner.start("bug", _fail, "bug")
    with qtbot.waitSignal(bug.failed, timeout=10_000) as crash:
        pass
    assert crash.args[0] == "unexpected error: ZeroDivisionError: bug" and "Traceback" in crash.args[1]
    assert runner.shutdown(5000)


def test_cancel_stops_a_long_benchmark_within_two_seconds(qtbot) -> None:
    runner = JobRunner(threads=1)
    model = create_model(ModelSpec("mobilenet_v2"), "none")
    job = runner.start("bench", benchmark, model, runs=100_000, warmup=1)
    with qtbot.waitSignal(job.progressed, timeout=30_000):
        pass
    cancelled_at = time.perf_counter()
    job.cancel()
    with qtbot.waitSignal(job.cancelled, timeout=2_000):
        pass
    assert time.perf_counter() - cancelled_at < 2.0
    assert runner.shutdown(5000)


class _Cycle:
    """Cyclic garbage that records which thread frees it."""

    freed_on: ClassVar[list[str]] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.freed_on.append(threading.current_thread().name)


def _allocate_cycles(count: int, progress: Progress) -> int:
    for index in range(count):  # enough garbage to cross every collection threshold many times
        _Cycle()
        if index % 1000 == 0:
            progress(index / count)
    return count


def test_python_garbage_is_collected_on_the_gui_thread_only(qtbot) -> None:
    runner = JobRunner(threads=1)
    _Cycle.freed_on.clear()
    job = runner.start("allocate", _allocate_cycles, 50_000)
    with qtbot.waitSignal(job.finished, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: len(_Cycle.freed_on) >= 50_000, timeout=10_000)  # the GUI thread's timer collects
    assert set(_Cycle.freed_on) == {threading.main_thread().name}
