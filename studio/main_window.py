"""The studio's main window: model tab, job status bar, drag-and-drop of model files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
)

from core import __version__
from core.inspect import ModelReport, inspect_model
from core.runtime import default_threads
from core.settings import load_settings, save_settings
from studio.model_panel import ModelView, ZooPicker
from studio.state import StudioState, ZooChoice
from studio.workers import Job, JobRunner

MODEL_FILE_FILTER = "Models (*.pth *.pt *.pt2 *.onnx);;All files (*)"


class MainWindow(QMainWindow):
    model_loaded = Signal(object)  # ModelReport
    load_failed = Signal(str)

    def __init__(self, state: StudioState | None = None, threads: int | None = None) -> None:
        super().__init__()
        self.state = state or StudioState()
        self.runner = JobRunner(threads or default_threads(), self)
        self.current_load: Job | None = None
        self.setWindowTitle("MobileNet Compression Studio")
        self.resize(1280, 800)
        self.setAcceptDrops(True)

        self.picker = ZooPicker(self.state.choice)
        self.view = ModelView()
        splitter = QSplitter()
        splitter.addWidget(self.picker)
        splitter.addWidget(self.view)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 980])
        self.tabs = QTabWidget()
        self.tabs.addTab(splitter, "Model")
        self.setCentralWidget(self.tabs)

        self.status_text = QLabel("Ready")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(260)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job; nothing is lost")
        for widget in (self.progress, self.cancel_button):
            widget.hide()
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self.runner.cancel_all)

        self._build_menus()
        self.picker.load_requested.connect(self.load_zoo)
        self.picker.open_file_requested.connect(self.ask_open_file)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open model…", self, shortcut=QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self.ask_open_file)
        weights_action = QAction("Set &weights folder…", self)
        weights_action.setToolTip("A folder of pretrained weight files the zoo should use")
        weights_action.triggered.connect(self.ask_weights_folder)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addActions([open_action, weights_action, quit_action])
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About", self)
        about.triggered.connect(lambda: QMessageBox.about(self, "About", f"MobileNet Compression Studio {__version__}"))
        help_menu.addAction(about)

    # Loading -----------------------------------------------------------------------------------
    def load_zoo(self, choice: ZooChoice) -> Job:
        self.state.choice = choice
        return self._start_load(f"Loading {choice.spec}", str(choice.spec), choice.weights)

    def load_file(self, path: str | Path) -> Job:
        return self._start_load(f"Opening {Path(path).name}", str(path), "auto")

    def ask_open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model", "", MODEL_FILE_FILTER)
        if path:
            self.load_file(path)

    def ask_weights_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with pretrained weights", load_settings().weights_dir)
        if folder:
            self.set_weights_folder(folder)

    def set_weights_folder(self, folder: str) -> None:
        save_settings(replace(load_settings(), weights_dir=folder))
        self.picker.set_choice(self.picker.choice())  # refreshes where the weights will come from
        self.status_text.setText(f"Weights folder: {folder}")

    def _start_load(self, title: str, text: str, weights: str) -> Job:
        if self.current_load is not None and self.current_load.running:
            self.current_load.cancel()
        job = self.runner.start(title, inspect_model, text, weights)
        self.current_load = job
        self._track(job)
        job.succeeded.connect(self._on_loaded)
        job.failed.connect(self._on_load_failed)
        return job

    def _on_loaded(self, report: ModelReport) -> None:
        self.state.report, self.state.error = report, ""
        self.view.show_report(report)
        self.model_loaded.emit(report)

    def _on_load_failed(self, message: str, details: str) -> None:
        self.state.error = message
        self.view.show_error(message)
        self.load_failed.emit(message)

    # Job status --------------------------------------------------------------------------------
    def _track(self, job: Job) -> None:
        self.status_text.setText(job.title + "…")
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        job.progressed.connect(self._on_progress)
        job.cancelled.connect(lambda: self.status_text.setText(f"{job.title}: cancelled"))
        job.failed.connect(lambda message, _: self.status_text.setText(f"{job.title}: failed"))
        job.succeeded.connect(lambda _: self.status_text.setText(f"{job.title}: done"))
        job.finished.connect(self._on_job_finished)

    def _on_progress(self, fraction: float, message: str, eta: float) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.status_text.setText(message + (f" — about {eta:.0f} s left" if eta >= 1 else ""))

    def _on_job_finished(self) -> None:
        if not self.runner.jobs:
            self.progress.hide()
            self.cancel_button.hide()

    # Drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.load_file(event.mimeData().urls()[0].toLocalFile())
        event.acceptProposedAction()

    def closeEvent(self, event) -> None:
        self.runner.shutdown()
        super().closeEvent(event)
