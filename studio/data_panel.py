"""Data tab: the calibration, evaluation and fine-tuning folders, what each holds and what was skipped; the
folders a first run starts with."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.data.datasets import ImageDataset
from core.data.roles import DataRole
from core.paths import shared_dir
from studio.state import DataFolders, StudioState

TIPS = {
    DataRole.CALIB: "Sample images that set int8 activation ranges and guide pruning; labels are not needed. "
             "A few hundred photos like the ones the app will see.",
    DataRole.EVALUATION: "Labelled images (ImageNet class folders or labels.csv) to measure accuracy before and after.",
    DataRole.TRAIN: "Labelled images to fine-tune on after pruning (Imagenette works; labels may be unused with "
             "distillation).",
    "limit": "Accuracy is measured on a fixed random subset of this many images; more is slower and surer.",
}


class DataRow(QWidget):
    """A folder field with Browse, and a line saying what the folder holds."""

    chosen = Signal(str, str)  # role, folder

    def __init__(self, role: DataRole) -> None:
        super().__init__()
        self.role = role
        self.path = QLineEdit()
        self.path.setPlaceholderText("choose a folder of images")
        self.path.setToolTip(TIPS[role])
        self.browse = QPushButton("Browse…")
        self.browse.setToolTip("Choose the folder on this computer")
        self.status = QLabel("not set")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(self.browse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.browse.clicked.connect(self._ask)
        self.path.editingFinished.connect(lambda: self.chosen.emit(self.role, self.path.text().strip()))

    def _ask(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.role.heading, self.path.text())
        if folder:
            self.chosen.emit(self.role, folder)


class DataPanel(QWidget):
    folder_chosen = Signal(str, str)  # role, folder
    evaluation_limit_changed = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.rows = {role: DataRow(role) for role in DataRole}
        self._problems: dict[str, list[str]] = {}
        self.limit = QSpinBox()
        self.limit.setRange(10, 1_000_000)
        self.limit.setSingleStep(100)
        self.limit.setToolTip(TIPS["limit"])
        self.problems = QPlainTextEdit()
        self.problems.setReadOnly(True)
        self.problems.setPlaceholderText("Files that could not be used are listed here.")
        box = QGroupBox("Image folders (remembered between runs)")
        form = QFormLayout(box)
        for role, row in self.rows.items():
            form.addRow(role.heading, row)
            row.chosen.connect(self.folder_chosen)
        form.addRow("Evaluate on", self.limit)
        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(QLabel("Skipped files"))
        layout.addWidget(self.problems, 1)
        self.limit.editingFinished.connect(lambda: self.evaluation_limit_changed.emit(self.limit.value()))

    def follow(self, state: StudioState) -> None:
        """Redraw from `state` now and whenever the folders chosen, or what was read from them, change."""
        self._state = state
        state.changed.connect(self._state_changed)
        self._state_changed(frozenset({"folders", "datasets"}))

    def _state_changed(self, names: frozenset[str]) -> None:
        state = self._state
        if "folders" in names:
            self.show_folders(state.folders)
        if names & {"folders", "datasets", "reading", "data_problems"}:
            for role in DataRole:
                if role in state.reading:
                    self.show_opening(role)
                else:
                    self.show_dataset(role, state.datasets.get(role), state.data_problems.get(role, ""))

    def show_folders(self, folders: DataFolders) -> None:
        for role, row in self.rows.items():
            row.path.setText(folders.folder(role))
        self.limit.setValue(folders.evaluation_limit)

    def show_opening(self, role: DataRole) -> None:
        self.rows[role].status.setText("reading the folder…")

    def show_dataset(self, role: DataRole, dataset: ImageDataset | None, error: str = "") -> None:
        row = self.rows[role]
        if error:
            row.status.setText(f"⚠ {error}")
        elif dataset is None:
            row.status.setText("not set")
        else:
            labels = f"{len(dataset.class_names) or 'no'} class names" if dataset.labeled else "unlabelled"
            skipped = f", {len(dataset.skipped)} files skipped" if dataset.skipped else ""
            row.status.setText(f"{len(dataset)} images ({dataset.kind}, {labels}){skipped}")
        self._problems[role] = [error] if error else [f"{p} — {why}" for p, why in (dataset.skipped if dataset else [])]
        self.problems.setPlainText("\n".join(
            f"{DataRole(r).heading}: {line}" for r, lines in self._problems.items() for line in lines
        ))


SHARED_FOLDERS = {DataRole.CALIB: "imagenet_calib1000", DataRole.EVALUATION: "imagenet_val1300",
                  DataRole.TRAIN: "imagenette/train"}


def default_folders(settings: QSettings) -> DataFolders:
    """The folders used last time; on a first run, the shared data folder's datasets where present."""
    folders = {}
    for role, name in SHARED_FOLDERS.items():
        remembered = settings.value(f"data/{role}", None)
        default = shared_dir() / "datasets" / name
        folders[role.value] = str(remembered) if remembered is not None else str(default) if default.is_dir() else ""
    return DataFolders(**folders, evaluation_limit=int(str(settings.value("data/evaluation_limit", 500))))
