"""A scripted tour of the real window for screenshots: run under Xvfb by test_screenshot.py.

    python -m tests.studio.tour OUT_DIR

Loads pretrained MobileNetV2, compresses it to static int8 by hand (64 calibration
images, 100 evaluation images), shows the variants, the comparison charts, the graph (netron) and an
ONNX export's report, and saves what the X server shows at each step as OUT_DIR/<n>-<view>.png.
Waits on signals and polls with deadlines; exits non-zero with a message when a step fails.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from studio.graph_panel import prepare_web_engine

STEP_TIMEOUT_S = 600


def main(out_dir: Path) -> int:
    prepare_web_engine()
    from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

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

    failures: list[str] = []
    window.problem_shown.connect(failures.append)
    datasets = shared_dir() / "datasets"
    window.set_data_folder("calib", str(datasets / "imagenet_calib1000"))
    window.set_data_folder("evaluation", str(datasets / "imagenet_val1300"))
    window.assign_folders(replace(window.state.folders, evaluation_limit=100), "Evaluation size")
    loaded: list[object] = []
    window.model_loaded.connect(loaded.append)
    window.load_zoo(ZooChoice("mobilenet_v2", pretrained=True))
    wait_until(lambda: bool(loaded) and len(window.state.datasets) >= 2 and not window.runner.jobs, "the model")
    shot("1-model")

    panel = window.compress_panel
    window.tabs.setCurrentWidget(panel)
    panel.advanced.setChecked(True)  # static int8 by hand: the tour shows a short job, not a search
    panel.calibration.setValue(64)
    job = window.compress_current("V2 int8 (tour)")
    if job is None:
        raise SystemExit(f"tour: compression did not start: {failures}")
    wait_until(lambda: job.fraction >= 0.2 or not job.running, "calibration to start")
    shot("2-compress-running")
    wait_until(lambda: not job.running, "the compression")
    if job.state != "done":
        raise SystemExit(f"tour: compression {job.state}: {job.message}")

    window.tabs.setCurrentWidget(window.variants_panel)
    shot("3-variants")
    window.tabs.setCurrentWidget(window.compare_panel)
    shot("4-compare")
    window.compare_panel.views.setCurrentIndex(1)
    shot("5-pareto")

    urls: list[str] = []
    window.graph_shown.connect(urls.append)
    window.show_variant_graph(window.state.selected_variant or "")
    wait_until(lambda: bool(urls), "the graph")
    browser = window.graph_panel.browser
    if browser is None:
        raise SystemExit("tour: Qt WebEngine is unavailable, netron cannot be shown")
    nodes: list[int] = []
    # netron adds the "default" class to the page once the graph is drawn (its splash shows until then).
    count_nodes = "document.body.classList.contains('default') ? document.querySelectorAll('.node').length : 0"

    def poll_nodes() -> bool:
        browser.page().runJavaScript(count_nodes, 0, lambda n: nodes.append(int(n or 0)))  # type: ignore[attr-defined]
        return bool(nodes) and nodes[-1] > 50

    wait_until(poll_nodes, "netron to draw the graph", 120)
    shot("6-graph")

    reports: list[object] = []
    window.export_finished.connect(reports.append)
    for name, box in window.export_panel.formats.items():
        box.setChecked(name == "onnx")
    window.export_panel.folder.setText(str(out_dir / "exports"))
    window.tabs.setCurrentWidget(window.export_panel)
    window.export_panel.export_button.click()
    wait_until(lambda: bool(reports) or bool(failures), "the export")
    if failures:
        raise SystemExit(f"tour: {failures}")
    shot("7-export-report")
    window.close()
    return 0


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    sys.exit(main(target))
