"""The Start tab's behaviour: its steps redrawn from the window's state whenever that changes, and each step's
button followed (a tab shown, the export set up for an app bundle, or the current model measured as a job)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, cast

from PySide6.QtCore import QObject

from core.compress.pipeline import store_original
from studio.guide import Go, GuideStep, guide_steps
from studio.project_actions import ProjectUse
from studio.workers import Job

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from core.project import Variant
    from studio.main_window import MainWindow
    from studio.state import StudioState



class StartActions(QObject):
    @property
    def window(self) -> MainWindow:
        # The Qt parent, not an attribute: a Python reference back to the window would close a reference cycle
        # (see ProjectActions.window).
        return cast("MainWindow", self.parent())

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.steps: tuple[GuideStep, ...] = ()

    def follow(self, state: StudioState) -> None:
        """Redraw the steps from `state` now and whenever it changes."""
        state.changed.connect(self._redraw)
        self._redraw()

    def _redraw(self) -> None:
        state = self.window.state
        self.steps = guide_steps(state, state.rows(), state.activity)
        self.window.start_view.show_steps(self.steps)

    def track(self, job: Job, doing: Literal["measuring", "compressing"]) -> None:
        """`doing`: the Activity field that is true while `job` runs."""
        state = self.window.state

        def finished() -> None:
            state.activity = state.activity.with_(**{doing: False})

        state.activity = state.activity.with_(**{doing: True})
        job.finished.connect(finished)

    def note_bundles(self, bundles: Sequence[str]) -> None:
        if bundles:
            state = self.window.state
            state.activity = state.activity.with_(bundle=bundles[-1])

    def do_step(self, index: int) -> None:
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
            with window.state.batch():
                window.state.model_variant = variant.id
                window.state.variants_changed()

        job = window.start_job(f"Measuring {model.card.title}", store_original, model, project,
                               window.state.evaluation(), window.runner.threads, on_success=stored,
                               use=ProjectUse(project, stores_parent=True))  # fmt: skip
        self.track(job, "measuring")
        return job
