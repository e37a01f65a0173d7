"""The Start tab's behaviour: its steps redrawn from the window's state whenever that changes, and each step's
button followed (a tab shown, the export set up for an app bundle, or the current model measured as a job)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from PySide6.QtWidgets import QWidget

from core.compress.pipeline import store_original
from core.export.bundle import AppBundle
from studio.compress_panel import CompressPanel
from studio.export_panel import ExportPanel
from studio.guide import Go, GuideStep, guide_steps
from studio.host import Collaborator, ProjectUse, Tab
from studio.start_view import StartView
from studio.workers import Job

if TYPE_CHECKING:
    from core.project import Variant
    from studio.state import StudioState

TAB_OF_STEP = {Go.MODEL: Tab.MODEL, Go.DATA: Tab.DATA, Go.COMPRESS: Tab.COMPRESS, Go.JOBS: Tab.JOBS,
               Go.COMPARE: Tab.COMPARE, Go.EXPORT: Tab.EXPORT}


class StartActions(Collaborator):
    def __init__(self, host: QWidget, view: StartView, compress_panel: CompressPanel, export_panel: ExportPanel
                 ) -> None:
        super().__init__(host)
        self.view, self.compress_panel, self.export_panel = view, compress_panel, export_panel
        self.steps: tuple[GuideStep, ...] = ()
        self.latest: dict[str, Job] = {}  # the latest job of each kind tracked

    def follow(self, state: StudioState) -> None:
        """Redraw the steps from `state` now and whenever it changes."""
        state.changed.connect(self._redraw)
        self._redraw()

    def _redraw(self) -> None:
        state = self.host.state
        self.steps = guide_steps(state, state.rows(), state.activity)
        self.view.show_steps(self.steps)

    def track(self, job: Job, doing: Literal["measuring", "compressing"]) -> None:
        """`doing`: the Activity field that is true while `job` runs (while the latest such job runs, when a newer
        one was started before an older one ended)."""
        state = self.host.state
        self.latest[doing] = job

        def finished() -> None:
            if self.latest.get(doing) is job:
                state.activity = state.activity.with_(**{doing: False})

        state.activity = state.activity.with_(**{doing: True})
        job.finished.connect(finished)

    def note_bundles(self, bundles: Sequence[str]) -> None:
        if bundles:
            state = self.host.state
            state.activity = state.activity.with_(bundle=bundles[-1])

    def do_step(self, index: int) -> None:
        """Do what step `index`'s button says."""
        go = self.steps[index].go
        if go is Go.MEASURE:
            self.measure_current()
            return
        if go is Go.COMPRESS:
            self.compress_panel.show_target_form()  # what a newcomer should fill in
        if go is Go.EXPORT:
            self.export_panel.choose_bundle(AppBundle.ANDROID)
        if go is not None:
            self.host.show_tab(TAB_OF_STEP[go])

    def measure_current(self) -> Job | None:
        """Store the current model in the project and measure its size, speed and accuracy (a job)."""
        host = self.host
        model = host.current_model()
        if model is None:
            return None
        project, state = host.ensure_project(), host.state

        def stored(variant: Variant) -> None:
            with state.batch():
                state.model_variant = variant.id
                state.variants_changed()

        job = host.start_job(f"Measuring {model.card.title}", store_original, model, project, state.evaluation(),
                             host.threads, on_success=stored, use=ProjectUse(project, stores_parent=True))
        self.track(job, "measuring")
        return job
