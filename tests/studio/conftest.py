"""Studio tests run offscreen and fail if a test leaves worker threads running."""

from __future__ import annotations

import os
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def no_leftover_threads(qapp):
    from PySide6.QtCore import QThreadPool

    before = {t.ident for t in threading.enumerate()}
    yield
    QThreadPool.globalInstance().waitForDone(5000)
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert not leftover, f"test left threads running: {leftover}"


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
