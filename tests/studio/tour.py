"""A scripted tour of the real window for screenshots: run under Xvfb by test_screenshot.py.

    python -m tests.studio.tour OUT_DIR [--readme DIR]

Follows a newcomer's path from the Start tab: pretrained MobileNetV2 measured (100 evaluation images), the target
form, a short static int8 compression by hand (64 calibration images), the variants, the comparison charts (light,
then dark), the graph as netron draws it, an Android bundle from the Start tab's export step, the Start tab with
every step done, and the dialog a dropped text file gets. What the X server shows at each step is saved as
OUT_DIR/<n>-<view>.png; with --readme, the README's screenshots (one per step of the flow) are written to DIR as small
PNGs. Waits on signals and polls with deadlines; exits non-zero with a message when a step fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from studio.graph_panel import prepare_web_engine

STEP_TIMEOUT_S = 600
# The README's screenshots: the views that show each step of the flow, and the file each is saved as.
README_VIEWS = {"01-start": "start.png", "03-target-form": "target-form.png", "06-compare": "compare.png",
                "08-compare-dark": "compare-dark.png", "10-export-bundle": "export-bundle.png",
                "11-start-done": "start-done.png"}
README_WIDTH = 960


def main(out_dir: Path, readme_dir: Path | None) -> int:
    prepare_web_engine()
    import torchvision  # noqa: F401  (as studio.app does, before the window)
    from PIL import Image
    from PySide6.QtCore import QCoreApplication, QEventLoop, QMimeData, QPointF, QSettings, Qt, QTimer, QUrl
    from PySide6.QtGui import QDropEvent, QGuiApplication
    from PySide6.QtWidgets import QApplication, QMessageBox

    from core.paths import shared_dir
    from studio.main_window import MainWindow
    from studio.state import ZooChoice
    from studio.theme import apply_theme

    app = QApplication(sys.argv[:1])
    app.setOrganizationName("mnstudio-tour")
    QSettings().clear()
    apply_theme(app)
    window = MainWindow(threads=1)
    window.resize(1280, 800)
    window.move(0, 0)
    window.show()

    def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = STEP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        loop = QEventLoop()
        timer = QTimer()
        timer.timeout.connect(lambda: (condition() or time.monotonic() > deadline) and loop.quit())
        timer.start(50)
        if not condition():
            loop.exec()
        timer.stop()
        if not condition():
            raise SystemExit(f"tour: timed out waiting for {what}")

    def shot(name: str) -> None:
        window.repaint()
        QCoreApplication.processEvents()
        path = out_dir / f"{name}.png"
        if not QGuiApplication.primaryScreen().grabWindow(0).save(str(path), "PNG"):
            raise SystemExit(f"tour: could not save {path}")
        print(f"tour: saved {path}", flush=True)
        if readme_dir is not None and name in README_VIEWS:
            image = Image.open(path).convert("RGB")
            small = image.resize((README_WIDTH, round(image.height * README_WIDTH / image.width)), Image.LANCZOS)
            small.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(readme_dir / README_VIEWS[name],
                                                                              optimize=True)

    def run(job: object, what: str) -> None:
        if job is None:
            raise SystemExit(f"tour: {what} did not start: {failures}")
        wait_until(lambda: not job.running, what)  # type: ignore[attr-defined]
        if job.state != "done":  # type: ignore[attr-defined]
            raise SystemExit(f"tour: {what} {job.state}: {job.message}")  # type: ignore[attr-defined]

    failures: list[str] = []
    window.problem_shown.connect(failures.append)
    datasets = shared_dir() / "datasets"
    window.set_data_folder("calib", str(datasets / "imagenet_calib1000"))
    window.set_data_folder("evaluation", str(datasets / "imagenet_val1300"))
    window.data.assign(replace(window.state.folders, evaluation_limit=100), "Evaluation size")
    loaded: list[object] = []
    window.model_loaded.connect(loaded.append)
    window.load_zoo(ZooChoice("mobilenet_v2", pretrained=True))
    wait_until(lambda: bool(loaded) and len(window.state.datasets) >= 2 and not window.runner.jobs, "the model")
    run(window.start.measure_current(), "measuring the model")
    window.tabs.setCurrentWidget(window.start_view)
    shot("01-start")
    window.tabs.setCurrentWidget(window.model_tab)
    shot("02-model")

    window.tabs.setCurrentWidget(window.start_view)
    window.start.do_step(1)  # "Make it smaller or faster": the target form
    shot("03-target-form")
    panel = window.compress_panel
    panel.advanced.setChecked(True)  # static int8 by hand: the tour shows a short job, not a search
    panel.quantize.calibration.setValue(64)
    job = window.compress_current("V2 int8 (tour)")
    if job is None:
        raise SystemExit(f"tour: compression did not start: {failures}")
    wait_until(lambda: job.fraction >= 0.2 or not job.running, "calibration to start")
    shot("04-compress-running")
    run(job, "the compression")

    window.tabs.setCurrentWidget(window.variants_panel)
    shot("05-variants")
    window.tabs.setCurrentWidget(window.compare_panel)
    shot("06-compare")
    window.compare_panel.views.setCurrentIndex(1)
    shot("07-pareto")
    window.compare_panel.views.setCurrentIndex(0)
    window.set_theme("dark")
    shot("08-compare-dark")
    window.set_theme("light")

    drawn: list[bool] = []
    window.graph_panel.graph_drawn.connect(lambda: drawn.append(True))
    window.graphs.show_variant_graph(window.state.selected_variant or "")
    wait_until(lambda: bool(drawn), "netron to draw the graph", 180)
    browser = window.graph_panel.browser
    assert browser is not None
    # netron's page says it is drawn before Chromium has composited the frame: wait until what the view shows is
    # the graph (many colours, wide), not the splash (a small logo on white).
    wait_until(lambda: _drawn(browser), "the drawn graph", 60)
    shot("09-graph")

    reports: list[object] = []
    window.export_finished.connect(reports.append)
    window.tabs.setCurrentWidget(window.start_view)
    window.start.do_step(3)  # "Export for Android / iOS": the Android bundle
    window.export_panel.folder.setText(str(out_dir / "exports"))
    window.export_panel.export_button.click()
    wait_until(lambda: bool(reports) or bool(failures), "the Android bundle")
    if failures:
        raise SystemExit(f"tour: {failures}")
    shot("10-export-bundle")
    window.tabs.setCurrentWidget(window.start_view)
    shot("11-start-done")

    notes = out_dir / "notes.txt"
    notes.write_text("not a model")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(notes))])
    window.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))
    dialog = window.findChild(QMessageBox)
    wait_until(lambda: dialog is not None and dialog.isVisible(), "the failure dialog", 10)
    shot("12-failure-dialog")
    dialog.close()
    window.close()
    return 0


def _drawn(browser: object) -> bool:
    """The graph, not netron's splash: MobileNetV2's chain of layers runs from the top of the view past its bottom,
    while the splash's logo sits in the middle."""
    image = browser.grab().toImage()  # type: ignore[attr-defined]
    background = image.pixel(image.width() - 2, image.height() // 2)
    rows = [y for y in range(0, image.height(), 8)
            if any(image.pixel(x, y) != background for x in range(0, image.width(), 8))]
    return bool(rows) and rows[-1] - rows[0] > 0.7 * image.height()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--readme", type=Path, help="also write the README's screenshots (small PNGs) here")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.readme:
        args.readme.mkdir(parents=True, exist_ok=True)
    sys.exit(main(args.out_dir, args.readme))
