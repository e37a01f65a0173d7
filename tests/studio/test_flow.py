"""The whole point-and-click flow on real data: pretrained V2 → static int8 by hand with 64 calibration
images → evaluated on 100 images → in the table and the charts → exported to ONNX and TFLite → report."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg

from core.recipe import QuantizeStep, TargetStep
from studio.state import ZooChoice

JOB_TIMEOUT_MS = 900_000


def _click_preset(panel, title: str) -> None:
    index = panel.preset.findText(title)
    assert index > 0, f"no preset {title}"
    panel.preset.setCurrentIndex(index)
    panel.preset.activated.emit(index)


def test_near_lossless_int8_from_pretrained_v2_to_verified_exports(qtbot, ready_data, tmp_path: Path) -> None:
    window = ready_data
    window.data_panel.limit.setValue(100)
    window.data_panel.limit.editingFinished.emit()
    assert window.state.folders.evaluation_limit == 100

    window.picker.set_choice(ZooChoice("mobilenet_v2", pretrained=True))
    with qtbot.waitSignal(window.model_loaded, timeout=60_000) as loaded:
        window.picker.load_button.click()
    assert loaded.args[0].model.card.weights.trained

    panel = window.compress_panel
    _click_preset(panel, "Near-lossless int8")
    assert isinstance(window.state.recipe.steps[0], TargetStep) and not panel.target_form.isHidden()
    panel.advanced.setChecked(True)  # the knobs by hand: static int8 on 64 images, no search
    assert panel.target_form.isHidden() and not panel.quantize.isHidden()
    panel.quantize.calibration.setValue(64)
    (step,) = window.state.recipe.steps
    assert isinstance(step, QuantizeStep) and step.mode == "static" and step.calibration_images == 64

    with qtbot.waitSignal(window.runner.job_started) as started:
        panel.run_button.click()
    job = started.args[0]
    assert window.progress.isVisible() and job.title == "Compressing MobileNetV2 with Custom"
    with qtbot.waitSignal(job.finished, timeout=JOB_TIMEOUT_MS):
        pass
    assert job.state == "done", job.message
    parent, variant = window.variants_panel.model.rows
    assert variant.parent == parent.id and window.state.selected_variant == variant.id
    assert variant.images == parent.images == 100
    assert variant.top1 is not None and parent.top1 is not None and abs(variant.top1 - parent.top1) <= 5
    assert variant.size_mb < 0.3 * parent.size_mb and variant.latency_ms is not None
    assert variant.delta_top1 is not None and variant.paired_n == 100, "paired with its parent on the same images"
    assert variant.latency_ratio is not None, "timed in turn with its parent when it was made"
    table = window.variants_panel.model
    assert table.index(1, 1).data().endswith("100 images") and "×" in table.index(1, 2).data()
    top1_text = table.index(1, 9).data()
    assert "(±" in top1_text and top1_text.endswith(", 100 images of imagenet_val1300)")  # half-width, n, images

    # Charts: one bar per variant in each metric, both variants on the accuracy/latency plot.
    window.tabs.setCurrentWidget(window.compare_panel)
    for plot in window.compare_panel.bars.plots.values():
        bars = [item for item in plot.items if isinstance(item, pg.BarGraphItem)]
        assert len(bars) == 1 and len(bars[0].opts["width"]) == 2
    assert variant.id in {row.id for row in window.compare_panel.pareto_size.front}
    assert variant.name in window.compare_panel.card.text()

    export = window.export_panel
    for name, box in export.formats.items():
        box.setChecked(name in ("onnx", "tflite"))
    export.folder.setText(str(tmp_path / "exports"))
    with qtbot.waitSignal(window.export_finished, timeout=JOB_TIMEOUT_MS) as finished:
        export.export_button.click()
    report = finished.args[0]
    assert [r.format for r in report.results] == ["onnx", "tflite"]
    assert all(Path(r.path).is_file() for r in report.results)
    rows = {export.report_table.item(r, 0).text(): r for r in range(export.report_table.rowCount())}
    assert set(rows) == {"ONNX", "TensorFlow Lite (LiteRT)"}
    onnx_row = rows["ONNX"]
    assert export.report_table.item(onnx_row, 1).text() == "yes"
    agreement = float(export.report_table.item(rows["TensorFlow Lite (LiteRT)"], 2).text())
    assert agreement >= 90.0
    assert "verified</b> on 100 images" in export.summary.text()
    assert export.location.text() == str(tmp_path / "exports") and export.open_folder.isEnabled()
    assert window.jobs_panel.table.rowCount() >= 3
    assert all(window.jobs_panel.table.item(r, 1).text() == "done" for r in range(window.jobs_panel.table.rowCount()))


def test_compress_without_calibration_images_says_what_is_missing(qtbot, window) -> None:
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=96, pretrained=False))
    qtbot.waitUntil(lambda: not window.runner.jobs, timeout=30_000)
    window.set_data_folder("calib", "")
    with qtbot.waitSignal(window.problem_shown) as shown:
        assert window.compress_current() is None
    assert "calibration images" in shown.args[0] and "Data tab" in shown.args[0]
    assert window.state.project is None  # nothing was created for a run that could not start
