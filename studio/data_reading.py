"""The image folders the studio reads: each role's folder (calibration, evaluation, fine-tuning) is remembered,
read as a job when it is chosen (or at launch), and its images or its problem go into the state; a folder
replaced while it was read is not taken."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QWidget

from core.data import open_dataset
from core.data.roles import DataRole
from studio.host import Collaborator
from studio.state import DataFolders
from studio.workers import Job


class DataReading(Collaborator):
    def __init__(self, host: QWidget, read: Callable[[], None]) -> None:
        """`read()`: a folder was read (the current model may take its class names)."""
        super().__init__(host)
        self.read = read
        self.jobs: dict[DataRole, Job] = {}  # the last job that read each role's folder

    def set_folder(self, role: str, folder: str) -> None:
        """`role`: a DataRole (Qt hands a str enum across a signal as its plain value)."""
        chosen = DataRole(role)
        self.assign(self.host.state.folders.with_folder(chosen, folder), f"{chosen.heading} folder")

    def assign(self, folders: DataFolders, text: str) -> None:
        self.host.assign("folders", folders, text)

    def open_chosen(self) -> None:
        """Read every chosen folder not read or being read yet (at launch)."""
        state = self.host.state
        for role in DataRole:
            reading = self.jobs.get(role)
            being_read = reading is not None and reading.running
            if state.folders.folder(role) and role not in state.datasets and not being_read:
                self.open(role)

    def folders_changed(self) -> None:
        """The chosen folders changed (an edit, an undo): remember them, read new ones, drop cleared ones."""
        host = self.host
        folders = host.state.folders
        for role in DataRole:
            host.settings.setValue(f"data/{role}", folders.folder(role))
            opened = host.state.datasets.get(role)
            if folders.folder(role) and (opened is None or str(opened.root) != str(Path(folders.folder(role)))):
                self.open(role)
            elif not folders.folder(role):
                self._read(role, None, "")
        host.settings.setValue("data/evaluation_limit", folders.evaluation_limit)

    def open(self, role: DataRole) -> Job:
        host, state = self.host, self.host.state
        folder = state.folders.folder(role)
        classes = state.report.model.card.num_classes if state.report else 1000
        state.reading |= {role}

        def opened(dataset: Any) -> None:
            if state.folders.folder(role) == folder:  # not replaced while it was read
                self._read(role, dataset, "")
                self.read()

        def failed(message: str, details: str) -> None:
            if state.folders.folder(role) != folder:
                return
            self._read(role, None, message)
            host.show_problem(f"{role.heading}: {message}. Choose a folder of .jpg or .png images; labelled "
                              "images need one sub-folder per class or a labels.csv (Help › User guide).", details,
                              title="No images in this folder")

        job = host.start_job(f"Reading {role.heading.lower()}",
                             lambda progress: open_dataset(folder, num_classes=classes), on_success=opened,
                             on_failure=failed)
        self.jobs[role] = job
        return job

    def _read(self, role: DataRole, dataset: Any, problem: str) -> None:
        """`role`'s folder was read (`dataset`), could not be (`problem`), or was closed (neither)."""
        state = self.host.state
        with state.batch():
            state.with_dataset(role, dataset)
            state.reading -= {role}
            state.data_problems = {**{r: p for r, p in state.data_problems.items() if r != role},
                                   **({role: problem} if problem else {})}
