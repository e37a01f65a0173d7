"""The status bar's view of the job queue: what runs (or waits), its progress and time left, one Cancel for all,
and how each job ended (also when its result went to a project that is no longer open)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

from studio.workers import Job

if TYPE_CHECKING:
    from studio.main_window import MainWindow


class JobStatus(QObject):
    @property
    def window(self) -> MainWindow:
        # The Qt parent, not an attribute: a Python reference back to the window would close a reference cycle
        # (see ProjectActions.window).
        return cast("MainWindow", self.parent())

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
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
        self.cancel_button.clicked.connect(window.runner.cancel_all)
        window.runner.job_started.connect(self.track)

    def track(self, job: Job) -> None:
        self.window.jobs_panel.add(job)
        self.text.setText(job.title + (" (queued)" if len(self.window.runner.jobs) > 1 else "…"))
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        job.progressed.connect(self._on_progress)
        job.finished.connect(lambda: self._on_finished(job))

    def _on_progress(self, fraction: float, message: str, eta: float) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.text.setText(message + (f" — about {eta:.0f} s left" if eta >= 1 else ""))

    def _on_finished(self, job: Job) -> None:
        window = self.window
        elsewhere = window.projects.left_behind(job)
        note = f"; stored in project {elsewhere}, which is no longer open" if elsewhere else ""
        self.text.setText(f"{job.title}: {job.state}{note}")
        if not window.runner.jobs:
            self.progress.hide()
            self.cancel_button.hide()
