"""The Export tab: the output folder checked as it is typed, the Android bundle's input choices, the report with its
bundle row and folded details, a bundle of an unverified model written only after the user agrees, and Cancel
during a conversion stopping its child process with nothing left behind."""

from __future__ import annotations

import json
import multiprocessing
import zipfile
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from core.export import checks
from core.export.report import ExportReport, ExportResult
from studio.export_panel import REPORT_COLUMNS, ExportPanel
from studio.state import ZooChoice

JOB_TIMEOUT_MS = 300_000
REQUANTIZED = "re-quantized from the float parent: minmax observer, 16 calibration images, per-channel weights"


def _panel(qtbot) -> ExportPanel:
    panel = ExportPanel()
    qtbot.addWidget(panel)
    panel.show()
    return panel


def _rows(panel: ExportPanel) -> dict[str, list[str]]:
    table = panel.report_table
    return {table.item(r, 0).text(): [table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())}


def test_the_output_folder_is_checked_as_it_is_typed(qtbot, tmp_path: Path, monkeypatch) -> None:
    panel = _panel(qtbot)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file")
    panel.folder.setText(str(blocker))
    assert "is a file, not a folder" in panel.folder_problem.text() and not panel.folder_problem.isHidden()
    assert not panel.export_button.isEnabled()
    panel.folder.setText(str(blocker / "exports"))
    expected = f"{blocker / 'exports'} cannot be created here: {blocker} is a file, not a folder."
    assert panel.folder_problem.text() == expected
    monkeypatch.setattr(checks.os, "access", lambda _path, _mode: False)  # tests run as root, which writes anywhere
    panel.folder.setText(str(tmp_path))
    assert f"{tmp_path} is not writable" in panel.folder_problem.text() and not panel.export_button.isEnabled()
    monkeypatch.undo()
    panel.folder.setText(str(tmp_path / "new" / "exports"))  # created when the export starts
    assert panel.folder_problem.isHidden() and panel.export_button.isEnabled()
    assert not (tmp_path / "new").exists(), "typing creates nothing"


def test_the_android_input_choices_follow_the_bundle_and_reach_the_export(qtbot) -> None:
    panel = _panel(qtbot)
    assert not panel.layout_choice.isEnabled() and not panel.int8_io.isEnabled()
    for control in (panel.layout_choice, panel.int8_io, panel.details):
        assert control.toolTip() and control.whatsThis(), control
    assert "NHWC" in panel.layout_choice.toolTip() and "int8 I/O" in panel.int8_io.toolTip()
    panel.bundle.button(1).setChecked(True)  # Android
    assert panel.layout_choice.isEnabled() and panel.layout_choice.currentData() is True  # NHWC first
    panel.layout_choice.setCurrentIndex(1)
    panel.int8_io.setChecked(True)
    with qtbot.waitSignal(panel.export_requested) as android:
        panel.export_button.click()
    assert android.args[1] == "android" and android.args[3] == {"nhwc": False, "int8_io": True}
    panel.bundle.button(2).setChecked(True)  # iOS: the TFLite choices do not apply
    with qtbot.waitSignal(panel.export_requested) as ios:
        panel.export_button.click()
    assert ios.args[3] == {} and not panel.int8_io.isEnabled()


def test_the_report_lists_the_bundle_as_a_row_and_folds_the_converters_notes(qtbot, tmp_path: Path) -> None:
    panel = _panel(qtbot)
    model, bundle = tmp_path / "v2.tflite", tmp_path / "v2-android.zip"
    model.write_bytes(b"\0" * 1000)
    bundle.write_bytes(b"\0" * 250_000)
    tflite = ExportResult("tflite", str(model), 1000, "int8", 0.0, {"verified": True, "agreement_top1": 97.0},
                          [REQUANTIZED], {}, reused_at="2026-12-06 01:15:05")
    names = ["tench", "English springer", "cassette player", "chain saw", "church", "French horn"]
    report = ExportReport({"name": "v2", "class_names": names}, [tflite], {"n": 300, "dataset": "val"},
                          bundles=[str(bundle)])
    panel.show_report(report, tmp_path)
    rows = _rows(panel)
    assert rows["Android bundle"][1] == "yes" and rows["Android bundle"][-1] == str(bundle)
    assert rows["Android bundle"][-2] == "0.25"  # the zip's size, in MB
    summary = panel.summary.text()
    assert "reused the verified artifact exported at 2026-12-06 01:15:05; not converted again" in summary
    assert "1 of 1 files verified" in summary and "observer" not in summary
    assert "6 class names, in output order: tench, English springer, cassette player, chain saw, church, …" in summary
    assert not panel.details.isHidden() and panel.notes.isHidden()
    panel.details.setChecked(True)
    assert not panel.notes.isHidden() and REQUANTIZED in panel.notes.toPlainText()


def test_the_top1_column_reads_as_elsewhere_when_the_report_has_the_interval(qtbot, tmp_path: Path) -> None:
    panel = _panel(qtbot)
    check = {"verified": True, "top1": 81.667, "n": 300}
    with_interval = ExportResult("onnx", str(tmp_path / "v2.onnx"), 1000, "float", 0.0,
                                 {**check, "top1_ci95": [77.0, 85.6]}, [], {})
    without = ExportResult("tflite", str(tmp_path / "v2.tflite"), 1000, "float", 0.0, check, [], {})
    panel.show_report(ExportReport({"name": "v2"}, [with_interval, without], {"n": 300, "dataset": "val"}), tmp_path)
    rows, top1 = _rows(panel), REPORT_COLUMNS.index("Top-1")
    assert rows["ONNX"][top1] == "81.7 % (±4.3, 300 images)"
    assert rows["TensorFlow Lite (LiteRT)"][top1] == "81.67"


def test_an_output_path_that_is_a_file_is_refused_in_plain_words(qtbot, window, tmp_path: Path) -> None:
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=96, pretrained=False))
    blocker = tmp_path / "exports"
    blocker.write_text("a file where the folder should be")
    with qtbot.waitSignal(window.problem_shown) as shown:
        job = window.exports.export(["onnx"], None, str(blocker), {})
    assert job is None
    assert f"{blocker} is a file, not a folder" in shown.args[0] and "--out" not in shown.args[0]


def test_a_bundle_of_an_unverified_model_is_written_only_after_the_user_agrees(qtbot, window, tmp_path, monkeypatch
                                                                               ) -> None:
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=96, pretrained=False))
    asked: list[str] = []
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda _parent, _title, text: asked.append(text) or answers.pop(0))
    export = window.export_panel
    for box in export.formats.values():
        box.setChecked(False)
    export.bundle.button(1).setChecked(True)  # Android
    folder = tmp_path / "exports"
    export.folder.setText(str(folder))
    qtbot.waitUntil(lambda: not window.runner.jobs, timeout=60_000)  # the first run's default folders are open
    window.state.datasets = {}  # no images: nothing to verify the TFLite model with
    with qtbot.waitSignal(window.export_finished, timeout=JOB_TIMEOUT_MS) as refused:
        export.export_button.click()
    assert "was not verified: no images to verify with" in asked[0]
    assert not refused.args[0].bundles and not list(folder.glob("*.zip")), "nothing is bundled without consent"
    assert "No Android bundle was written" in export.summary.text()
    with qtbot.waitSignal(window.export_finished, timeout=JOB_TIMEOUT_MS) as accepted:
        export.export_button.click()
    (bundle,) = accepted.args[0].bundles
    with zipfile.ZipFile(bundle) as archive:
        assert json.loads(archive.read("metadata.json"))["verified"] is False
    assert _rows(export)["Android bundle"][-1] == bundle


def test_cancel_during_a_conversion_stops_the_child_process_and_leaves_no_file(qtbot, window, tmp_path) -> None:
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=96, pretrained=False))
    qtbot.waitUntil(lambda: not window.runner.jobs, timeout=60_000)
    folder = tmp_path / "exports"
    folder.mkdir()
    job = window.exports.export(["tflite"], None, str(folder), {})
    assert job is not None
    qtbot.waitUntil(lambda: "converting to TFLite" in job.message, timeout=120_000)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        job.cancel()
    assert job.state == "cancelled"
    assert not list(folder.iterdir()), "no staging folder, partial file or report is left"
    assert not multiprocessing.active_children(), "the conversion's process is gone"


def test_each_files_top1_is_paired_with_the_source_on_the_same_images(qtbot, tmp_path: Path) -> None:
    panel = _panel(qtbot)
    check = {"verified": True, "top1": 80.4, "n": 300, "top1_ci95": [75.8, 84.8], "delta_top1_source": -0.333,
             "delta_top1_source_ci95": [-1.0, 0.333]}
    result = ExportResult("tflite", str(tmp_path / "v2.tflite"), 1000, "int8", 0.0, check, [], {})
    images = {"n": 300, "dataset": "imagenet_val1300", "source_top1": 80.733}
    panel.show_report(ExportReport({"name": "v2"}, [result], images), tmp_path)
    cell = _rows(panel)["TensorFlow Lite (LiteRT)"][REPORT_COLUMNS.index("Top-1")]
    assert cell == "80.4 % (±4.5, 300 images); −0.3 pt [−1.0, +0.3] against the source, same images"
    assert "The source model scores 80.7 % top-1 on these images" in panel.summary.text()
