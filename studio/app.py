"""Start the studio: splash while PyTorch loads, then the main window with a pretrained MobileNetV2."""

from __future__ import annotations

import argparse
import sys

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QSplashScreen

from core.paths import ASSETS_DIR

ICON = ASSETS_DIR / "icons" / "mnstudio.svg"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mnstudio-gui", description="MobileNet Compression Studio")
    parser.add_argument("--model", default="mobilenet_v2", help="zoo model to open at start")
    parser.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the screen once loaded, then quit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    from studio.graph_panel import prepare_web_engine

    prepare_web_engine()  # must precede the QApplication
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("MobileNet Compression Studio")
    app.setOrganizationName("mnstudio")
    app.setWindowIcon(QIcon(str(ICON)))
    splash = QSplashScreen(QIcon(str(ICON)).pixmap(256, 256))
    splash.showMessage("Loading PyTorch…", Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter)
    splash.show()
    app.processEvents()
    # Import torch here, on the GUI thread at start-up: a cold import inside a worker stalls the GUI.
    import torch  # noqa: F401

    from core.zoo.weights import local_weight_files

    splash.showMessage("Looking for pretrained weights…", Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter)
    app.processEvents()
    local_weight_files()  # hashes (and caches) weight files now, so the zoo picker's hints are instant later

    from core.zoo.registry import ModelSpec
    from studio.main_window import MainWindow
    from studio.state import ZooChoice

    spec = ModelSpec.parse(args.model)
    window = MainWindow()
    window.show()
    splash.finish(window)
    if args.screenshot:
        # After the event loop turns once more, so the finished job's status bar is drawn too.
        window.model_loaded.connect(lambda _: QTimer.singleShot(0, lambda: _save_screenshot(window, args.screenshot)))
        window.load_failed.connect(lambda _: app.exit(1))
    window.picker.set_choice(ZooChoice(spec.arch, spec.width, spec.resolution, pretrained=True))
    window.load_zoo(window.picker.choice())
    return app.exec()


def _save_screenshot(window, path: str) -> None:
    """Grab what the X server shows (the root window), not just what Qt would paint."""
    window.repaint()
    QApplication.processEvents()
    screen = QGuiApplication.primaryScreen()
    pixmap: QPixmap = screen.grabWindow(0)
    ok = pixmap.save(path, "PNG")
    window.close()
    QApplication.instance().exit(0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
