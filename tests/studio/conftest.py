"""Studio tests run offscreen with fresh settings and fail if a test leaves worker threads running."""

from __future__ import annotations

import os
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from studio.graph_panel import prepare_web_engine

prepare_web_engine()  # before pytest-qt creates the QApplication


# Not counted: Qt's own pool threads, which Python sees as "dummy" threads once a job ran on them
# (the window fixture checks that its pool is idle instead), and tqdm's one shared monitor daemon,
# which the TFLite converter's progress bars start and which never runs jobs.
def _ours(thread: threading.Thread) -> bool:
    return not isinstance(thread, threading._DummyThread) and thread.name != "tqdm_monitor"


@pytest.fixture(autouse=True)
def no_leftover_threads(qapp):
    from PySide6.QtCore import QThreadPool

    before = {t.ident for t in threading.enumerate()}
    yield
    QThreadPool.globalInstance().waitForDone(5000)
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive() and _ours(t)]
    assert not leftover, f"test left threads running: {leftover}"


@pytest.fixture(autouse=True)
def fresh_settings(qapp):
    """Every test starts as a first run: no remembered project, folders, recipe or theme."""
    from PySide6.QtCore import QSettings

    qapp.setOrganizationName("mnstudio-tests")
    QSettings().clear()
    yield
    QSettings().clear()


@pytest.fixture
def window(qtbot):
    from studio.main_window import MainWindow

    win = MainWindow(threads=1)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    assert win.runner.shutdown(10_000), "jobs still running after the test"
    assert win.runner.pool.activeThreadCount() == 0
    win.graph_panel.shutdown()


@pytest.fixture
def ready_data(qtbot, window, calib_dir, val_dir, imagenette_dir):
    """The window with the shared calibration, evaluation and fine-tuning folders opened."""
    for role, folder in (("calib", calib_dir), ("evaluation", val_dir), ("train", imagenette_dir / "train")):
        window.set_data_folder(role, str(folder))
    qtbot.waitUntil(lambda: len(window.state.datasets) == 3, timeout=30_000)
    return window


@pytest.fixture
def tiny_project(tmp_path):
    """A project with an untrained V3-Small at 96 px and a child variant, built without the GUI."""
    from core.metrics.stored import VariantMetrics
    from core.project import Project
    from core.zoo.loading import create_model
    from tests.helpers import TINY

    project = Project.create(tmp_path / "project")
    model = create_model(TINY, "none")
    parent = project.add_variant(model, "tiny", metrics=VariantMetrics(size_bytes=10_000_000, macs=6_000_000))
    project.add_variant(model, "tiny copy", parent=parent.id, metrics=VariantMetrics(size_bytes=5_000_000))
    return project
