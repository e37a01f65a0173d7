"""Applying the Model tab's settings to the current model: preprocessing and class names, each one undoable edit
of the studio state. It is given what it needs (the state, an undoable assignment, a way to say a problem and to
ask for a file), not the window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from core.data.labels import labelled_names, read_labels_file, with_class_names
from core.errors import StudioError
from core.model import LoadedModel, Normalization
from studio.model_settings import ModelSettings
from studio.state import StudioState

Assign = Callable[[str, Any, str], None]  # field, value, undo text


class ModelSettingsActions:
    def __init__(self, panel: ModelSettings, state: StudioState, assign: Assign, show_problem: Callable[[str], None],
                 ask_labels_file: Callable[[], str]) -> None:
        self.panel, self.state, self.assign = panel, state, assign
        self.show_problem, self.ask_labels_file = show_problem, ask_labels_file
        panel.normalization_chosen.connect(self.set_normalization)
        panel.crop_chosen.connect(self.set_crop)
        panel.names_edited.connect(lambda names: self.set_names(names, "the names typed in"))
        panel.import_names_requested.connect(self.import_names)
        panel.folder_names_requested.connect(self.names_from_folder)

    def _change(self, text: str, change: Callable[[LoadedModel], LoadedModel]) -> None:
        report = self.state.report
        if report is None:
            return
        try:
            changed = change(report.model)
        except StudioError as exc:
            self.show_problem(str(exc))
            self.panel.revert()  # the panel shows the model as it still is
            return
        self.assign("report", replace(report, model=changed), text)

    def set_normalization(self, chosen: str) -> None:
        """`chosen`: a Normalization (Qt hands a str enum across a signal as its plain value)."""
        normalization = Normalization(chosen)
        self._change(f"Pixels scaled as {normalization.label}", lambda m: m.with_preprocessing(normalization))

    def set_crop(self, crop: float) -> None:
        report = self.state.report
        if report is not None and abs(report.model.card.crop_fraction - crop) > 1e-9:
            self._change(f"Centre crop {crop:g}", lambda m: m.with_preprocessing(crop=crop))

    def set_names(self, names: tuple[str, ...], source: str) -> None:
        self._change("Edit class names", _named(names, source))

    def import_names(self) -> None:
        path = self.ask_labels_file()
        if not path:
            return
        try:
            names = read_labels_file(path)
        except StudioError as exc:
            self.show_problem(str(exc))
            return
        self._change("Import class names", _named(names, path))

    def names_from_folder(self) -> None:
        """The names of the first open labelled folder (evaluation, training, calibration) with one sub-folder for
        each of the model's classes."""
        report = self.state.report
        if report is None:
            return
        found = labelled_names(report.model.card.num_classes, self.state.opened_folders())
        if found is not None:
            names, dataset = found
            self._change("Take the class names from the folder", _named(names, str(dataset.root)))
            return
        self.show_problem(f"No open labelled folder has one sub-folder for each of the model's "
                          f"{report.model.card.num_classes} classes (Data tab).")

def _named(names: tuple[str, ...], source: str) -> Callable[[LoadedModel], LoadedModel]:
    return lambda model: with_class_names(model, tuple(names), source)
