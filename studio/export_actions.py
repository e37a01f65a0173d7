"""Exporting from the studio: the selected variant (else the current model) to the ticked formats, then an
app bundle once its artifact's verification is known (asking first when it was not verified). The conversion runs
in a child process (core.export.isolated), so that it cannot stall the window and Cancel stops it at once.

Each is a core job run by the window's runner; the Export tab draws the report it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from core.data.roles import DataRole
from core.errors import ProjectError
from core.export.bundle import AppBundle
from core.export.checks import folder_problem
from core.export.isolated import export_isolated
from core.export.job import ExportOptions
from core.export.registry import FORMATS
from core.export.run import add_bundle, bundle_problem, with_bundle_format
from core.export.source import from_model, from_project
from studio.export_panel import ExportPanel
from studio.host import Collaborator, ProjectUse
from studio.workers import Job


class ExportActions(Collaborator):
    finished = Signal(object)  # ExportReport: an export, with its bundle if one was asked for, is done

    def __init__(self, host: QWidget, panel: ExportPanel) -> None:
        super().__init__(host)
        self.panel = panel

    def _export_source(self) -> tuple[Callable[[], Any], ProjectUse | None] | None:
        """What to export: the selected variant (which the export then uses), else the current model."""
        host = self.host
        project, chosen = host.state.project, host.state.selected_variant
        if project is not None and chosen is not None:
            return partial(from_project, project.root, chosen), ProjectUse(project, frozenset({chosen}))
        model = host.current_model()
        return None if model is None else (partial(from_model, model), None)

    def export(self, formats: list[str], bundle: AppBundle | None, folder: str, tflite: dict[str, bool]
               ) -> Job | None:
        """`tflite`: the Android bundle's ExportOptions choices (nhwc, int8_io); empty for the defaults."""
        host = self.host
        chosen = self._export_source()
        if chosen is None:
            return None
        source, use = chosen
        if not formats and not bundle:
            host.show_problem("Tick at least one format or a bundle.")
            return None
        project = host.ensure_project()
        try:  # a folder inside the project (its default exports folder) may not be a link leading out of it
            out_dir = project.checked(Path(folder).expanduser() if folder else project.root / "exports")
        except ProjectError as exc:
            host.show_problem(f"{exc}. Choose another output folder in the Export tab.",
                              title="Choose another output folder")
            return None
        problem = folder_problem(out_dir)
        if problem is not None:  # the folder changed since it was typed, or the project's default cannot be used
            host.show_problem(f"{problem}. Choose another output folder in the Export tab.",
                              title="Choose another output folder")
            return None
        evaluation = host.state.evaluation()
        calib = host.state.dataset(DataRole.CALIB)
        # Decided for the bundle here: the export runs without it, and the bundle is added once it is verified.
        options = ExportOptions(threads=host.threads, **tflite).decided(bundle)
        chosen_formats = [fmt.name for fmt in with_bundle_format([FORMATS[name] for name in formats], bundle)]

        def run(progress: Any) -> Any:  # the bundle comes after, once its artifact's verification is known
            return export_isolated(source, chosen_formats, out_dir, options=options, calib=calib,
                                   evaluation=evaluation, progress=progress)

        def done(report: Any) -> None:
            self.panel.show_report(report, out_dir)
            if bundle is None:
                self.finished.emit(report)
                return
            problem = bundle_problem(bundle, report)
            if problem is not None and not self.confirm_unverified_bundle(bundle, problem):
                self.panel.note_bundle_skipped(f"No {bundle.label} bundle was written: {problem}.")
                self.finished.emit(report)
                return
            host.start_job(f"Bundling for {bundle.label}",
                           lambda progress: add_bundle(bundle, report, source(), out_dir, progress),
                           on_success=finished, use=use)

        def finished(report: Any) -> None:
            self.panel.show_report(report, out_dir)
            self.finished.emit(report)

        return host.start_job("Exporting", run, on_success=done, use=use)

    def confirm_unverified_bundle(self, bundle: AppBundle, problem: str) -> bool:
        answer = QMessageBox.question(
            self.dialog_parent, "The model was not verified",
            f"{problem[0].upper()}{problem[1:]}.\n\nBuild the {bundle.label} bundle anyway? Its metadata and report "
            "will say that its model was not verified.",
        )
        return answer == QMessageBox.StandardButton.Yes
