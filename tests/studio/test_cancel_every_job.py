"""Cancel on each kind of job (measure, compress, search, export): the job reads "Cancelling…" in the same
event-loop turn, everywhere it is shown, and then ends cancelled. How soon it ends is a property of where the job
checks: between images and candidates, or at once for a conversion in its child process (`python -m bench.gui`
prints the figures; no test here depends on this machine's speed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.recipe import QuantizeStep, Recipe, TargetStep
from studio.state import ZooChoice
from studio.workers import JobState


def _start(kind: str, window, folder: Path):
    if kind == "measure":
        return window.start.measure_current()
    if kind == "compress":
        window.assign_recipe(Recipe("int8", (QuantizeStep(calibration_images=64),)))
        return window.compress_current()
    if kind == "search":
        window.assign_recipe(Recipe("t", (TargetStep(budget_minutes=5.0, candidates=0),)))
        return window.compress_current()
    return window.exports.export(["tflite"], None, str(folder), {})


@pytest.mark.parametrize("kind", ["measure", "compress", "search", "export"])
def test_cancel_says_cancelling_at_once_and_each_kind_of_job_ends_cancelled(kind: str, qtbot, ready_data,
                                                                            tmp_path: Path) -> None:
    window = ready_data
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=96, pretrained=False))
    qtbot.waitUntil(lambda: not window.runner.jobs, timeout=60_000)
    job = _start(kind, window, tmp_path)
    assert job is not None
    with qtbot.waitSignal(job.progressed, timeout=120_000):  # under way
        pass
    window.job_status.cancel_button.click()
    assert job.state is JobState.CANCELLING, "in the same event-loop turn"
    row = window.jobs_panel.table.rowCount() - 1
    assert window.jobs_panel.table.item(row, 1).text() == "Cancelling…"
    assert "Cancelling…" in window.job_status.text.text()
    with qtbot.waitSignal(job.finished, timeout=60_000):
        pass
    assert job.state is JobState.CANCELLED
