"""Jobs tab: the queue (state, progress, time left, cancel) and a log of what every job said."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
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

from studio.workers import Job, JobState

CANCEL_COLUMN = 4


def _eta_text(seconds: float) -> str:
    """The time left, from the job's measured rate; "estimating…" until it has one."""
    if seconds < 0:
        return "estimating…"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s left" if minutes else f"{secs} s left"


class JobTable(QTableWidget):
    """Every column as wide as its contents; the job's name also takes whatever width is left. A stretched header
    section would shrink below its contents in a narrow window and cut names short."""

    def __init__(self) -> None:
        super().__init__(0, 5)
        self.setHorizontalHeaderLabels(["Job", "State", "Progress", "Message", ""])
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.verticalHeader().hide()

    def _fit_names(self) -> None:
        header = self.horizontalHeader()
        others = sum(header.sectionSize(column) for column in range(1, self.columnCount()))
        contents = max(self.sizeHintForColumn(0), header.sectionSizeHint(0))
        self.setColumnWidth(0, max(contents, self.viewport().width() - others))

    def updateGeometries(self) -> None:
        """After every change of the view's or a column's size: a column fitting new contents included."""
        super().updateGeometries()
        self._fit_names()


class JobsPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.table = JobTable()
        self.table.setToolTip("Every job of this session, newest last: its state, progress and time left; one runs "
                              "at a time because each uses the whole processor")
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
        title, state, said = QTableWidgetItem(job.title), QTableWidgetItem(job.state.label), QTableWidgetItem()
        known = job.eta_seconds(0.0)  # a job that keeps to a budget knows its time before it starts
        said.setText(f"{job.message}  {_eta_text(known) if known >= 0 else ''}".strip())
        bar = QProgressBar()
        bar.setRange(0, 1000)
        self.table.setItem(row, 0, title)
        self.table.setItem(row, 1, state)
        self.table.setCellWidget(row, 2, bar)
        self.table.setItem(row, 3, said)
        cancel = QPushButton("Cancel")
        cancel.setToolTip("Stop this job, or take it off the queue if it has not started; finished results are kept")
        cancel.setWhatsThis("Cancels this job: a running job stops at its next checkpoint, a queued one never starts. "
                            "Results already stored stay. Jobs that have ended have nothing to cancel and lose "
                            "this button.")
        cancel.clicked.connect(job.cancel)
        self.table.setCellWidget(row, CANCEL_COLUMN, cancel)
        self.table.scrollToItem(title)
        self._write(job, "queued")
        last = {"message": ""}

        def on_progress(fraction: float, message: str, eta: float) -> None:
            bar.setValue(int(1000 * fraction))
            said.setText(f"{message}  {_eta_text(eta)}".strip())
            if message != last["message"]:
                last["message"] = message
                self._write(job, message)

        def on_state() -> None:
            state.setText(job.state.label)
            if job.state is JobState.CANCELLING:
                said.setText(job.message)
                cancel.setEnabled(False)
                self._write(job, job.message)
            if not job.running:
                self.table.removeCellWidget(row, CANCEL_COLUMN)  # nothing left to cancel
                said.setText(job.message)
                if job.state is JobState.DONE:
                    bar.setValue(1000)
                self._write(job, f"failed: {job.message}" if job.state is JobState.FAILED else job.state.label)

        job.started.connect(on_state)
        job.state_changed.connect(on_state)
        job.progressed.connect(on_progress)
        job.finished.connect(on_state)

    def _write(self, job: Job, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {job.title}: {text}")
        self.log.moveCursor(QTextCursor.MoveOperation.End)  # shows the newest line, even after reading older ones
