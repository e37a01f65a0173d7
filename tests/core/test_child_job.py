"""A job run in a child process: its progress and result come back, its errors come back as the same plain line,
a child that dies says so, and Cancel stops even a child stuck in code that never checks (SIGTERM ignored, as
native conversion code would), removing what it left."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from core.child_job import ChildFailed, run_in_child
from core.errors import ExportError, StudioError
from core.jobs import Cancelled, CancelToken, Progress


def counts(to: int, progress: Progress) -> int:
    for i in range(to):
        progress(i / to, f"step {i}")
    return to * 2


def refuses(progress: Progress) -> None:
    raise ExportError("the folder is full")


def breaks(progress: Progress) -> None:
    raise ZeroDivisionError("a bug")


def dies(progress: Progress) -> None:
    os._exit(3)


def stuck(marker: Path, progress: Progress) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as native code that never returns to Python
    marker.mkdir()
    (marker / "partial.bin").write_bytes(b"half")
    progress(0.5, "converting")
    while True:
        time.sleep(0.1)


def test_progress_and_result_come_back_from_the_child() -> None:
    seen: list[tuple[float, str]] = []
    assert run_in_child(counts, {"to": 4}, Progress(lambda f, m: seen.append((f, m)))) == 8
    assert seen == [(0.0, "step 0"), (0.25, "step 1"), (0.5, "step 2"), (0.75, "step 3")]


def test_a_refusal_comes_back_as_its_plain_line_and_a_bug_with_the_childs_traceback() -> None:
    with pytest.raises(StudioError, match="the folder is full"):
        run_in_child(refuses, {}, Progress())
    with pytest.raises(ChildFailed, match="ZeroDivisionError: a bug") as failed:
        run_in_child(breaks, {}, Progress())
    assert "in breaks" in failed.value.details


def test_a_child_that_dies_without_a_result_says_so() -> None:
    with pytest.raises(StudioError, match="ended without a result"):
        run_in_child(dies, {}, Progress())


def test_cancel_stops_a_child_that_ignores_sigterm_and_removes_what_it_left(tmp_path) -> None:
    token, marker = CancelToken(), tmp_path / ".partial-x"
    removed: list[bool] = []

    def on_progress(fraction: float, message: str) -> None:
        token.cancel()  # the user presses Cancel as the conversion starts
        stopped_at.append(time.monotonic())

    def leftovers() -> None:
        for path in marker.iterdir():
            path.unlink()
        marker.rmdir()
        removed.append(True)

    stopped_at: list[float] = []
    with pytest.raises(Cancelled):
        run_in_child(stuck, {"marker": marker}, Progress(on_progress, token), leftovers)
    assert removed and not marker.exists(), "what the killed child left is removed"
    # Bounded by the design (SIGTERM, one second's grace, SIGKILL), not by this machine's speed.
    assert time.monotonic() - stopped_at[0] < 2.0
