"""Jobs tab: the queue (state, progress, time left, cancel) and a log of what every job said."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.workers import Job


def _eta_text(seconds: float) -> str:
    if seconds < 0:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s left" if minutes else f"{secs} s left"


class JobsPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Job", "State", "Progress", "Message", ""])
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.log)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def add(self, job: Job) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(job.title))
        self.table.setItem(row, 1, QTableWidgetItem(job.state))
        bar = QProgressBar()
        bar.setRange(0, 1000)
        self.table.setCellWidget(row, 2, bar)
        self.table.setItem(row, 3, QTableWidgetItem(f"{job.message}  {_eta_text(job.eta_seconds(0.0))}".strip()))
        cancel = QPushButton("Cancel")
        cancel.setToolTip("Stop this job (or take it off the queue); finished results are kept")
        cancel.clicked.connect(job.cancel)
        self.table.setCellWidget(row, 4, cancel)
        self._write(job, "queued")
        last = {"message": ""}

        def on_progress(fraction: float, message: str, eta: float) -> None:
            bar.setValue(int(1000 * fraction))
            self.table.item(row, 3).setText(f"{message}  {_eta_text(eta)}".strip())
            if message != last["message"]:
                last["message"] = message
                self._write(job, message)

        def on_state() -> None:
            self.table.item(row, 1).setText(job.state)
            if not job.running:
                cancel.setEnabled(False)
                self.table.item(row, 3).setText(job.message)
                if job.state == "done":
                    bar.setValue(1000)
                self._write(job, job.state if job.state != "failed" else f"failed: {job.message}")

        job.started.connect(on_state)
        job.progressed.connect(on_progress)
        job.finished.connect(on_state)

    def _write(self, job: Job, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {job.title}: {text}")
