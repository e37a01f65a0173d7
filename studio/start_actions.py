"""The Start tab's behaviour: its steps redrawn from the window's state whenever that changes, and each step's
button followed (a tab shown, the export set up for an app bundle, or the current model measured as a job)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject

from core.compare import VariantRow
from core.compress.pipeline import store_original
from studio.guide import Activity, Go, GuideStep, guide_steps
from studio.project_actions import ProjectUse
from studio.workers import Job

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from core.project import Variant
    from studio.main_window import MainWindow



class StartActions(QObject):
    @property
    def window(self) -> MainWindow:
        # The Qt parent, not an attribute: a Python reference back to the window would close a reference cycle
        # (see ProjectActions.window).
        return cast("MainWindow", self.parent())

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.rows: Sequence[VariantRow] = []
        self.steps: tuple[GuideStep, ...] = ()
        self.measuring: Job | None = None
        self.compressing: Job | None = None
        self.bundle = ""

    def refresh(self, rows: Sequence[VariantRow] | None = None) -> None:
        """Redraw the steps; `rows`: the project's variants when they changed."""
        window = self.window
        if rows is not None:
            self.rows = rows
        activity = Activity(
            loading=window.current_load is not None and window.current_load.running,
            measuring=self.measuring is not None and self.measuring.running,
            compressing=self.compressing is not None and self.compressing.running,
            bundle=self.bundle,
        )  # fmt: skip
        self.steps = guide_steps(window.state, self.rows, activity)
        window.start_view.show_steps(self.steps)

    def track_compression(self, job: Job) -> None:
        self.compressing = job
        job.finished.connect(self.refresh)
        self.refresh()

    def note_bundles(self, bundles: Sequence[str]) -> None:
        if bundles:
            self.bundle = bundles[-1]
            self.refresh()

    def forget_bundle(self) -> None:
        """Another model is current: step 4 no longer says "Done" for the last model's bundle."""
        self.bundle = ""
        self.refresh()

    def follow(self, index: int) -> None:
        """Do what step `index`'s button says."""
        window = self.window
        go = self.steps[index].go
        tabs: dict[Go, QWidget] = {Go.MODEL: window.model_tab, Go.DATA: window.data_panel,
                                   Go.COMPRESS: window.compress_panel, Go.JOBS: window.jobs_panel,
                                   Go.COMPARE: window.compare_panel, Go.EXPORT: window.export_panel}  # fmt: skip
        if go is Go.MEASURE:
            self.measure_current()
            return
        if go is Go.COMPRESS and window.compress_panel.advanced.isChecked():
            window.compress_panel.advanced.setChecked(False)  # the target form: what a newcomer should fill in
        if go is Go.EXPORT:
            window.export_panel.choose_bundle("android")
        if go is not None:
            window.tabs.setCurrentWidget(tabs[go])

    def measure_current(self) -> Job | None:
        """Store the current model in the project and measure its size, speed and accuracy (a job)."""
        window = self.window
        model = window.current_model()
        if model is None:
            return None
        project = window.ensure_project()

        def stored(variant: Variant) -> None:
            window.state.model_variant = variant.id
            window.refresh_variants()

        job = window.start_job(f"Measuring {model.card.title}", store_original, model, project,
                               window.state.evaluation(), window.runner.threads, on_success=stored,
                               use=ProjectUse(project, stores_parent=True))  # fmt: skip
        self.measuring = job
        job.finished.connect(self.refresh)
        self.refresh()
        return job
