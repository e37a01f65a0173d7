"""Opening the current model: a zoo model, a model file (asking first when opening it would run its code) or a
stored variant, each as a job; the state then holds it and every view follows. A newer load cancels an older one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from core.data.labels import names_from_folders
from core.errors import UntrustedPickleError
from core.inspect import ModelReport, describe, inspect_model
from core.project import Project
from studio.host import Collaborator, ProjectUse
from studio.state import ZooChoice
from studio.workers import Job


@dataclass(frozen=True)
class NeedsTrust:
    """A model file that would run code when loaded: the user is asked before it is opened."""

    path: str
    reason: str


def _open_or_ask(path: str, trusted: bool, progress: Any) -> ModelReport | NeedsTrust:
    try:
        return inspect_model(path, "auto", trust_pickle=trusted, progress=progress)
    except UntrustedPickleError as exc:
        return NeedsTrust(path, str(exc))


class ModelLoading(Collaborator):
    loaded = Signal(object)  # ModelReport
    failed = Signal(str)

    def __init__(self, host: QWidget, opened_file: Callable[[str, object], None]) -> None:
        """`opened_file(path, result)`: a load of a model file ended (File › Recent models remembers a model)."""
        super().__init__(host)
        self.opened_file = opened_file
        self.current: Job | None = None

    def load_zoo(self, choice: ZooChoice) -> Job:
        self.host.state.choice = choice
        return self._start(f"Loading {choice.spec}", str(choice.spec), inspect_model, str(choice.spec),
                           choice.weights)

    def load_file(self, path: str | Path, trusted: bool = False) -> Job:
        """Open a model file; one that would run code when loaded is opened only after the user trusts it."""
        name = Path(path).name
        job = self._start(f"Opening {name}", name, _open_or_ask, str(path), trusted)
        job.succeeded.connect(partial(self.opened_file, str(path)))
        return job

    def use_variant(self, variant_id: str) -> Job:
        project = self.host.ensure_project()

        def load(progress: Any) -> ModelReport:
            progress(0.0, "loading the variant")
            return describe(project.load(variant_id))

        name = project.variant(variant_id).name
        return self._start(f"Opening variant {name}", name, load, variant=(project, variant_id))

    def confirm_trust(self, name: str, reason: str) -> bool:
        """Ask, in plain words, whether to run the code a model file holds (the studio's `--trust-pickle`)."""
        answer = QMessageBox.question(
            self.dialog_parent, "Trust this file?",
            f"{name} holds Python code, not just weights: opening it runs that code on this computer, with your "
            "permissions.\n\nOpen it only if you made it yourself or it comes from someone you trust. Once opened, "
            "a MobileNet is kept as plain weights (a state_dict), so it never needs trusting again.\n\n"
            f"What was found: {reason}",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Open

    def take_names_from_folders(self) -> None:
        """A model still shown with the default class names takes an open labelled folder's, undoably, and the
        status bar says so."""
        state = self.host.state
        report = state.report
        if report is None:
            return
        named, note = names_from_folders(report.model, state.opened_folders())
        if note is None:
            return
        self.host.assign("report", replace(report, model=named), "Take the class names from the folders")
        self.host.say(f"{note[0].upper()}{note[1:].split('; give')[0]} (Edit › Undo keeps the model's own)")

    def _start(self, title: str, name: str, load: Callable[..., ModelReport | NeedsTrust], *args: Any,
               variant: tuple[Project, str] | None = None) -> Job:
        """Load `name` as the current model; `variant`: the (project, variant id) it is stored as."""
        if self.current is not None and self.current.running:
            self.current.cancel()
        variant_id = variant[1] if variant is not None else None
        job = self.host.start_job(title, load, *args, on_success=lambda report: self._loaded(report, variant_id),
                                  use=ProjectUse(variant[0], frozenset({variant[1]})) if variant else None,
                                  on_failure=lambda message, details: self._failed(name, message, details))
        self.current = job
        state = self.host.state
        state.activity = state.activity.with_(loading=True)
        job.finished.connect(self._finished)
        return job

    def _finished(self) -> None:
        state = self.host.state
        state.activity = state.activity.with_(loading=self.current is not None and self.current.running)

    def _loaded(self, report: ModelReport | NeedsTrust, variant_id: str | None) -> None:
        state = self.host.state
        if isinstance(report, NeedsTrust):
            if self.confirm_trust(Path(report.path).name, report.reason):
                self.load_file(report.path, trusted=True)
            else:  # the user said no: no dialog to warn about it, the Model tab says what happened
                state.error = f"{Path(report.path).name} was not opened: it holds code and was not trusted."
                self.failed.emit(state.error)
            return
        a_variant = variant_id is not None
        if not a_variant and state.project is not None:
            # Stored before (in an earlier session, say): Compare shows that lineage.
            found = state.project.find_by_fingerprint(report.fingerprint)
            variant_id = found.id if found is not None else None
        with state.batch():  # every view follows the model just opened, drawn once
            state.report, state.error, state.shown_lineage = report, "", None
            state.model_variant = variant_id
            if not a_variant:
                state.selected_variant = None  # a new model: no view keeps the last one's variant picked
            state.activity = state.activity.with_(bundle="")  # the last model's bundle is not this one's
            measured = self.host.settings.value(state.first_answer_key(), None)
            state.first_answer_s = float(str(measured)) if measured else None  # this model's least budget
        self.take_names_from_folders()
        self.loaded.emit(report)

    def _failed(self, name: str, message: str, details: str) -> None:
        if details:  # not a refusal the core explained but an exception it let through: say it plainly
            message = f"{name} could not be opened as a model; it may be damaged or not a model at all."
        self.host.state.error = message
        self.host.show_problem(message, details, title="Cannot open the model")
        self.failed.emit(message)
