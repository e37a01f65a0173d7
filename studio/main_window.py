"""The studio's main window: one tab per step (model, data, compress, jobs, variants, compare, graph,
export), settings, undo/redo, themes and the job status bar; the project's own actions are in
`studio.project_actions`.

Slots here assign state or start one core verb as a job; the panels only draw state.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.errors import plain
from core.project import Project
from core.recipe import Recipe, RecipeError
from core.runtime import default_threads
from core.settings import load_settings, save_settings
from studio.actions import weakly
from studio.compare_panel import ComparePanel
from studio.compress_panel import CompressPanel
from studio.compressing import Compressing
from studio.data_panel import DataPanel, default_folders
from studio.data_reading import DataReading
from studio.drop_overlay import MODEL_FILE_FILTER, DropOverlay, not_a_model
from studio.export_actions import ExportActions
from studio.export_panel import ExportPanel
from studio.graph_actions import GraphActions
from studio.graph_panel import GraphPanel
from studio.help_dialog import GuideDialog
from studio.host import ProjectUse, Tab
from studio.job_status import JobStatus
from studio.jobs_panel import JobsPanel
from studio.measure_actions import MeasureActions
from studio.menus import build_menus
from studio.model_loading import ModelLoading
from studio.model_panel import ModelView, ZooPicker
from studio.model_settings import ModelSettings
from studio.model_settings_actions import ModelSettingsActions
from studio.project_actions import ProjectActions
from studio.recent_models import RecentModels
from studio.sensitivity_actions import SensitivityActions
from studio.start_actions import StartActions
from studio.start_view import StartView
from studio.state import StudioState, ZooChoice
from studio.theme import apply_theme
from studio.undo import Edit
from studio.variants_panel import VariantsPanel
from studio.whats_this import explain_controls
from studio.workers import Job, JobRunner


class MainWindow(QMainWindow):
    model_loaded = Signal(object)  # ModelReport
    load_failed = Signal(str)
    variants_changed = Signal()
    export_finished = Signal(object)  # ExportReport
    graph_shown = Signal(str)  # URL
    problem_shown = Signal(str)  # the message of an error dialog

    def __init__(self, state: StudioState | None = None, threads: int | None = None) -> None:
        super().__init__()
        self.settings = QSettings()
        apply_theme(QApplication.instance(), str(self.settings.value("theme", "light")))  # type: ignore[arg-type]
        self.state = state or StudioState(folders=default_folders(self.settings))
        self.runner = JobRunner(threads or default_threads(), self)
        self.undo_stack = QUndoStack(self)
        self.projects = ProjectActions(self)
        self.measures = MeasureActions(self)
        self.recent_models = RecentModels(self, self.settings, weakly(self.load_file))
        self.loading = ModelLoading(self, self.recent_models.opened)
        self.loading.loaded.connect(self.model_loaded)
        self.loading.failed.connect(self.load_failed)
        self.data = DataReading(self, self.loading.take_names_from_folders)
        self.setWindowTitle("MobileNet Compression Studio")
        self.resize(1280, 800)
        self.setAcceptDrops(True)
        self.drop_overlay = DropOverlay(self)

        self.start_view = StartView()
        self.picker = ZooPicker(self.state.choice)
        self.view = ModelView()
        self.model_settings = ModelSettings()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.picker)
        left_layout.addWidget(self.model_settings, 1)
        self.model_tab = QSplitter()
        self.model_tab.addWidget(left)
        self.model_tab.addWidget(self.view)
        self.model_tab.setStretchFactor(1, 1)
        self.model_tab.setSizes([300, 980])
        self.data_panel = DataPanel()
        self.compress_panel = CompressPanel()
        self.jobs_panel = JobsPanel()
        self.variants_panel = VariantsPanel()
        self.compare_panel = ComparePanel()
        self.graph_panel = GraphPanel()
        self.export_panel = ExportPanel()
        self.start = StartActions(self, self.start_view, self.compress_panel, self.export_panel)
        self.exports = ExportActions(self, self.export_panel)
        self.graphs = GraphActions(self, self.graph_panel)
        self.sensitivity = SensitivityActions(self, self.compress_panel.sensitivity)
        self.compressing = Compressing(self, self.compress_panel, partial(self.start.track, doing="compressing"))
        self.tabs = QTabWidget()
        self.tab_pages = dict(zip(Tab, (self.start_view, self.model_tab, self.data_panel, self.compress_panel,
                                        self.jobs_panel, self.variants_panel, self.compare_panel, self.graph_panel,
                                        self.export_panel), strict=True))
        for tab, page in self.tab_pages.items():
            self.tabs.addTab(page, tab.title)
        self.setCentralWidget(self.tabs)
        self.job_status = JobStatus(self, self.runner, self.jobs_panel, self.projects.left_behind)
        # The status bar's parts, by the names the window's collaborators and tests use.
        self.status_text, self.progress = self.job_status.text, self.job_status.progress
        self.cancel_button = self.job_status.cancel_button
        self.theme_actions = build_menus(self)
        self._connect_panels()
        explain_controls(self)

        self._restore_recipe()
        # Every view redraws itself from the state when it changes; the window keeps the settings and the opened
        # folders in step with it.
        for view in (self.view, self.model_settings, self.data_panel, self.compress_panel, self.variants_panel,
                     self.compare_panel, self.export_panel, self.start):
            view.follow(self.state)
        self.state.changed.connect(self._state_changed)
        self.projects.open_remembered()
        # At the first turn of the event loop, so a model load queued by whoever built the window runs first:
        # at start-up the user waits for the model, and reading three image folders took half a second.
        # Through a weak reference, with the window as the timer's context: a pending call must neither keep a
        # closed window alive (it would be left to the cyclic collector, see studio.workers) nor run on a deleted one.
        window = weakref.ref(self)

        def open_folders() -> None:
            opened = window()
            if opened is not None:
                opened.data.open_chosen()

        QTimer.singleShot(0, self, open_folders)

    def _connect_panels(self) -> None:
        self.settings_actions = ModelSettingsActions(self.model_settings, self.state, weakly(self.assign),
                                                     weakly(self._show_settings_problem), weakly(self._ask_labels_file))
        self.start_view.step_clicked.connect(self.start.do_step)
        self.start_view.layers_link.linkActivated.connect(lambda _: self.show_tab(Tab.MODEL))
        self.exports.finished.connect(lambda report: self.start.note_bundles(report.bundles))
        self.exports.finished.connect(self.export_finished)
        self.graphs.shown.connect(self.graph_shown)
        self.picker.load_requested.connect(self.load_zoo)
        self.picker.open_file_requested.connect(self.ask_open_file)
        self.data_panel.folder_chosen.connect(self.set_data_folder)
        self.data_panel.evaluation_limit_changed.connect(
            lambda limit: self.data.assign(replace(self.state.folders, evaluation_limit=limit), "Evaluation size")
        )
        self.compress_panel.recipe_edited.connect(self.assign_recipe)
        self.compress_panel.run_requested.connect(self.compress_current)
        self.compress_panel.sensitivity.analyze_requested.connect(self.sensitivity.analyze)
        self.compress_panel.sensitivity.suggestion_requested.connect(self.sensitivity.apply_suggestion)
        self.variants_panel.selected.connect(self.select_variant)
        self.variants_panel.model.rename_requested.connect(self.projects.rename_variant)
        self.variants_panel.delete_requested.connect(self.projects.ask_delete_variant)
        self.variants_panel.evaluate_requested.connect(self.measures.reevaluate)
        self.variants_panel.benchmark_requested.connect(self.measures.rebenchmark)
        self.variants_panel.open_requested.connect(self.use_variant_as_model)
        self.variants_panel.graph_requested.connect(self.graphs.show_variant_graph)
        self.variants_panel.export_requested.connect(lambda _: self.show_tab(Tab.EXPORT))
        self.compare_panel.deployment.measure_requested.connect(self.measures.measure_deployment)
        self.compare_panel.deployment.target_changed.connect(self.set_target_fps)
        self.compare_panel.remeasure_requested.connect(self.measures.remeasure_all)
        self.compare_panel.accepted_drop_changed.connect(self.set_accepted_drop)
        self.variants_panel.remeasure_all_requested.connect(self.measures.remeasure_all)
        self.variants_panel.runtime_changed.connect(self.set_latency_runtime)
        self.variants_panel.lineage_chosen.connect(self.show_lineage)
        self.export_panel.bundle_chosen.connect(self.compress_panel.follow_destination)
        self.graph_panel.variant_graph_requested.connect(
            lambda: self.graphs.show_variant_graph(self.state.selected_variant) if self.state.selected_variant
            else self.show_problem("Select a variant in the Variants tab first.")
        )
        self.graph_panel.model_graph_requested.connect(self.graphs.show_model_graph)
        self.graph_panel.file_graph_requested.connect(self.graphs.ask_graph_file)
        self.export_panel.export_requested.connect(self.exports.export)

    def show_guide(self) -> GuideDialog:
        guide = GuideDialog(self)
        guide.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        guide.show()
        return guide

    # Errors ------------------------------------------------------------------------------------
    def show_problem(self, message: str, details: str = "", title: str = "Something went wrong") -> None:
        """A non-blocking dialog: what went wrong (the message says what to do); a traceback under Details.
        Terminal colour codes a back end put in its message never reach the window."""
        message, details = plain(message), plain(details)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setInformativeText("This looks like a bug in the studio; the details help to report it.")
            box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.status_text.setText(message)
        self.problem_shown.emit(message)

    def say(self, text: str) -> None:
        self.statusBar().showMessage(text)  # over the job line, so that a job ending next does not hide it

    def show_tab(self, tab: Tab) -> None:
        self.tabs.setCurrentWidget(self.tab_pages[tab])

    @property
    def threads(self) -> int:
        return self.runner.threads

    # The menus' verbs ----------------------------------------------------------------------------
    def add_project_actions(self, menu: QMenu) -> None:
        self.projects.add_to_menu(menu)

    def recent_models_menu(self) -> QMenu:
        return self.recent_models.menu

    def export_now(self) -> None:
        self.export_panel.request_export()

    def cancel_all(self) -> None:
        self.runner.cancel_all()

    # Jobs ----------------------------------------------------------------------------------------
    def start_job(self, title: str, fn: Callable[..., Any], *args: Any, on_success: Callable[[Any], None],
                  use: ProjectUse | None = None, budget_s: float | None = None, partial_keyword: str | None = None,
                  on_failure: Callable[[str, str], None] | None = None, **kwargs: Any) -> Job:
        """Run `fn` as a job; one that reads or writes a project says what in `use` (see ProjectActions.bind)."""
        job = self.runner.start(title, fn, *args, budget_s=budget_s, partial_keyword=partial_keyword, **kwargs)
        if use is None:
            job.succeeded.connect(on_success)
        else:
            self.projects.bind(job, use, on_success)
        job.failed.connect(on_failure or (lambda message, details: self.show_problem(f"{title} failed: {message}",
                                                                                     details)))
        return job

    # Undoable state ----------------------------------------------------------------------------
    def assign(self, field: str, value: Any, text: str) -> None:
        """Set a field of the state as an undoable edit (the views follow the state)."""
        old = getattr(self.state, field)
        if old == value:
            return

        def setter(new: Any) -> Callable[[], None]:
            return lambda: setattr(self.state, field, new)

        self.undo_stack.push(Edit(text, setter(value), setter(old), merge_key=f"{field}:{text}"))

    def _show_settings_problem(self, text: str) -> None:
        self.show_problem(text, title="Cannot use these settings")

    def _ask_labels_file(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "Class names, one a line", "", "Text files (*.txt);;All files (*)")
        return path

    def assign_recipe(self, recipe: Recipe, text: str = "Edit recipe") -> None:
        """Less time than this model's first verified answer took here cannot be asked for: such a target's budget
        is raised as it is assigned (the form shows that least)."""
        self.assign("recipe", recipe.with_budget_at_least(self.state.least_budget()), text)

    def _state_changed(self, names: frozenset[str]) -> None:
        """What follows a change beyond the views: the settings remember it, and chosen folders are opened."""
        if "recipe" in names:
            self.settings.setValue("recipe", self.state.recipe.to_json())  # the draft survives a restart
        if "folders" in names:
            self.data.folders_changed()
        if "first_answer_s" in names:  # measured just now (never inside an undo): a lower budget is raised to it
            self.assign_recipe(self.state.recipe, "Budget raised to the least useful")
        if "project" in names and self.state.project is not None:
            self.setWindowTitle(f"{self.state.project.name} — MobileNet Compression Studio")
        if names & {"project", "revision"}:
            self.variants_changed.emit()

    def _restore_recipe(self) -> None:
        saved = self.settings.value("recipe", None)
        if saved:
            with contextlib.suppress(RecipeError):  # a draft from another studio version: keep the default
                self.state.recipe = Recipe.from_json(str(saved))

    def set_data_folder(self, role: str, folder: str) -> None:
        self.data.set_folder(role, folder)

    def set_target_fps(self, fps: float) -> None:
        self.state.target_fps = fps

    def set_latency_runtime(self, runtime: str) -> None:
        self.state.latency_runtime = runtime

    def set_accepted_drop(self, points: float) -> None:
        if points != self.state.recommendation_drop():
            self.state.accepted_drop = points

    def set_theme(self, name: str) -> None:
        apply_theme(QApplication.instance(), name)  # type: ignore[arg-type]
        self.settings.setValue("theme", name)
        self.theme_actions[name].setChecked(True)

    # Loading -----------------------------------------------------------------------------------
    def load_zoo(self, choice: ZooChoice) -> Job:
        return self.loading.load_zoo(choice)

    def load_file(self, path: str | Path, trusted: bool = False) -> Job:
        return self.loading.load_file(path, trusted)

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

    # Project -----------------------------------------------------------------------------------
    def ensure_project(self) -> Project:
        return self.projects.ensure_project()

    def set_project(self, project: Project) -> None:
        self.projects.set_project(project)

    # Variants ----------------------------------------------------------------------------------
    def show_lineage(self, root: str | None) -> None:
        """Variants and Compare show `root`'s lineage ("": every model; None: the current model's) until another
        model is opened."""
        self.state.shown_lineage = root

    def select_variant(self, variant_id: str | None) -> None:
        self.state.selected_variant = variant_id

    def use_variant_as_model(self, variant_id: str) -> Job:
        return self.loading.use_variant(variant_id)

    # Compression -------------------------------------------------------------------------------
    def current_model(self) -> Any:
        if self.state.report is None:
            self.show_problem("Load a model first (Model tab).")
            return None
        return self.state.report.model

    def compress_current(self, name: str = "") -> Job | None:
        return self.compressing.compress_current(name)

    # Drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        # Accepted whatever it is, so that the overlay hears when the drag leaves; a drag that cannot be opened is
        # refused as it moves (the cursor shows it) and the overlay says why.
        urls = event.mimeData().urls()
        self.drop_overlay.say(not_a_model(urls), Path(urls[0].toLocalFile()).name if urls else "")
        event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if not_a_model(event.mimeData().urls()):
            event.ignore()
        else:
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop_overlay.hide()

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_overlay.hide()
        urls = event.mimeData().urls()
        problem = not_a_model(urls)
        if problem:
            event.ignore()
            self.show_problem(problem, title="Not a model file")
            return
        self.load_file(urls[0].toLocalFile())
        event.acceptProposedAction()

    def closeEvent(self, event: Any) -> None:
        self.runner.shutdown()
        self.graph_panel.shutdown()
        super().closeEvent(event)
