"""The status bar's view of the job queue: what runs (or waits), its progress and time left, one Cancel for all,
and how each job ended (also when its result went to a project that is no longer open)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QProgressBar, QPushButton, QSystemTrayIcon

from studio.jobs_panel import JobsPanel
from studio.workers import Job, JobRunner

ANNOUNCE_AFTER_S = 60.0  # jobs at least this long announce their end beyond the status bar


class JobStatus(QObject):
    announced = Signal(str)  # the end of a long job, as announced

    def __init__(self, window: QMainWindow, runner: JobRunner, jobs_panel: JobsPanel,
                 left_behind: Callable[[Job], str]) -> None:
        """`left_behind(job)`: the name of the closed project a finished job's result went to, else ''."""
        super().__init__(window)  # the window is reached as the Qt parent: no Python reference cycle
        self.runner, self.jobs_panel, self.left_behind = runner, jobs_panel, left_behind
        self.tray: QSystemTrayIcon | None = None
        self.text = QLabel("Ready")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(260)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job and empty the queue; finished results are kept")
        for widget in (self.progress, self.cancel_button):
            widget.hide()
        window.statusBar().addWidget(self.text, 1)
        window.statusBar().addPermanentWidget(self.progress)
        window.statusBar().addPermanentWidget(self.cancel_button)
        self.cancel_button.clicked.connect(runner.cancel_all)
        runner.job_started.connect(self.track)

    @property
    def window(self) -> QMainWindow:
        return cast(QMainWindow, self.parent())

    def track(self, job: Job) -> None:
        self.jobs_panel.add(job)
        self.text.setText(job.title + (" (queued)" if len(self.runner.jobs) > 1 else "…"))
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        job.progressed.connect(self._on_progress)
        job.state_changed.connect(lambda: self.text.setText(f"{job.title}: {job.state.label}"))
        job.finished.connect(lambda: self._on_finished(job))

    def _on_progress(self, fraction: float, message: str, eta: float) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.text.setText(message + (f" — about {eta:.0f} s left" if eta >= 1 else ""))

    def _on_finished(self, job: Job) -> None:
        elsewhere = self.left_behind(job)
        note = f"; stored in project {elsewhere}, which is no longer open" if elsewhere else ""
        took = f" after {job.seconds / 60:.1f} min" if job.seconds >= ANNOUNCE_AFTER_S else ""
        self.text.setText(f"{job.title}: {job.state.label}{took}{note}")
        if took:  # a long job's end is announced: the user has likely turned to something else
            self._announce(f"{job.title}: {job.state.label}{took}")
        if not self.runner.jobs:
            self.progress.hide()
            self.cancel_button.hide()

    def _announce(self, text: str) -> None:
        """The window's taskbar entry asks for attention, and the desktop shows a notification where it has a tray."""
        window = self.window
        QApplication.alert(window)
        if QSystemTrayIcon.isSystemTrayAvailable():
            if self.tray is None:
                self.tray = QSystemTrayIcon(window.windowIcon(), self)
                self.tray.show()
            self.tray.showMessage("MobileNet Compression Studio", text)
        self.announced.emit(text)
