"""Start the studio: splash while PyTorch loads, then the main window with a pretrained MobileNetV2.

Once that model is loaded and the event loop answers, one line `ready in N.N s` (seconds since the process
started) goes to stderr: `bench.gui` reads it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import cast

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import QApplication

from core.paths import ASSETS_DIR
from studio.splash import Splash

ICON = ASSETS_DIR / "icons" / "mnstudio.svg"
DEFAULT_MODEL = "mobilenet_v2"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mnstudio-gui", description="MobileNet Compression Studio")
    parser.add_argument("--model", help="zoo model to open at start (default: the last model file opened, else "
                        f"{DEFAULT_MODEL})")
    parser.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the screen once loaded, then quit")
    parser.add_argument("--quit-when-ready", action="store_true", help="quit once ready (start-up benchmarks)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    from studio.graph_panel import prepare_web_engine

    prepare_web_engine()  # must precede the QApplication
    app = cast(QApplication, QApplication.instance() or QApplication(sys.argv[:1]))
    app.setApplicationName("MobileNet Compression Studio")
    app.setOrganizationName("mnstudio")
    app.setWindowIcon(QIcon(str(ICON)))
    splash = Splash(QIcon(str(ICON)), "MobileNet Compression Studio")
    splash.say("Loading PyTorch…")
    # Import torch and torchvision here, on the GUI thread while the splash shows: a cold import inside a worker
    # holds the interpreter lock for up to ~90 ms at a time (torchvision pulls in torch._dynamo and triton), so the
    # window stuttered while the default model loaded.
    import torch  # noqa: F401
    import torchvision  # noqa: F401

    from core.zoo.weights import local_weight_files

    splash.say("Looking for pretrained weights…")
    local_weight_files()  # hashes (and caches) weight files now, so the zoo picker's hints are instant later

    from core.zoo.registry import ModelSpec
    from studio.main_window import MainWindow
    from studio.state import ZooChoice
    from studio.workers import Job

    spec = ModelSpec.parse(args.model or DEFAULT_MODEL)
    window = MainWindow()
    window.show()
    splash.finish(window)
    # The first model only (a later load is not start-up), once the event loop turns again.
    window.model_loaded.connect(lambda _: QTimer.singleShot(0, _say_ready), Qt.ConnectionType.SingleShotConnection)
    if args.quit_when_ready:
        window.model_loaded.connect(lambda _: QTimer.singleShot(0, window.close))
    if args.screenshot:
        # After the event loop turns once more, so the finished job's status bar is drawn too.
        window.model_loaded.connect(lambda _: QTimer.singleShot(0, lambda: _save_screenshot(window, args.screenshot)))
        window.load_failed.connect(lambda _: app.exit(1))
    window.picker.set_choice(ZooChoice(spec.arch, spec.width, spec.resolution, pretrained=True))
    # The last model file opened comes back (not for a named model, a screenshot or a timing); if it fails to open,
    # the stock model does: the way out.
    reopen = args.model is None and not args.screenshot and not args.quit_when_ready
    last = window.recent_models.reopen_last() if reopen else None
    if isinstance(last, Job):

        def fall_back(*_: object) -> None:
            window.recent_models.forget_last()
            window.load_zoo(window.picker.choice())

        last.failed.connect(fall_back)
    else:
        window.load_zoo(window.picker.choice())
    return app.exec()


def seconds_since_launch() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere: since this module was imported)."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


_IMPORTED = time.monotonic()


def _say_ready() -> None:
    print(f"ready in {seconds_since_launch():.1f} s", file=sys.stderr, flush=True)


def _save_screenshot(window, path: str) -> None:
    """Grab what the X server shows (the root window), not just what Qt would paint."""
    window.repaint()
    QApplication.processEvents()
    screen = QGuiApplication.primaryScreen()
    pixmap: QPixmap = screen.grabWindow(0)
    ok = pixmap.save(path, "PNG")
    window.close()
    QApplication.exit(0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
