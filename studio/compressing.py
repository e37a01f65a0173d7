"""Compressing the current model: the recipe (or a target's search) as one job, its candidates drawn as they are
verified, and what it stored made the current variant."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QWidget

# The engine's verbs are imported with the window, while the splash shows, not at the first click:
# a cold import on the GUI thread (torch-pruning, torchao) froze the window for ~80 ms.
from core.compress.pipeline import CompressionResult, compress
from core.data import combine_datasets
from core.data.roles import DataRole
from core.metrics.accuracy_text import resolution_text
from core.recipe import TargetStep
from studio.compress_panel import CompressPanel
from studio.host import Collaborator, ProjectUse
from studio.workers import Job


class Compressing(Collaborator):
    def __init__(self, host: QWidget, compress_panel: CompressPanel, track: Callable[[Job], None]) -> None:
        """`track(job)`: the Start tab follows a compression job."""
        super().__init__(host)
        self.compress_panel = compress_panel
        self.track = track

    def compress_current(self, name: str = "") -> Job | None:
        """Compress the current model with the state's recipe into the project (None: it said what is missing)."""
        state = self.host.state
        model, recipe = self.host.current_model(), state.recipe.with_budget_at_least(state.least_budget())
        if model is None:
            return None
        missing = state.missing_data()
        if missing:
            self.host.show_problem(f"This needs {' and '.join(missing)}: choose the folder in the Data tab.",
                                   title="Missing images")
            return None
        project, parent = self.host.ensure_project(), state.model_variant
        target = recipe.step(TargetStep)
        train = state.dataset(DataRole.TRAIN)
        if target is not None and state.dataset(DataRole.CALIB) is not None:
            # The search distils on every image it may train on: the calibration and the fine-tuning folders.
            train = combine_datasets([d for d in (state.dataset(DataRole.CALIB), train) if d is not None])
            self.compress_panel.search_chart.clear_candidates()

        def stored(result: CompressionResult) -> None:
            with state.batch():
                state.model_variant = result.parent.id  # later runs on this model share its stored parent
                state.selected_variant = result.variant.id
                state.variants_changed()
                if target is not None:
                    seconds = result.search.first_answer_seconds if result.search else None
                    self.host.settings.setValue(state.first_answer_key(), seconds)
                    state.first_answer_s = seconds
            if target is not None:
                search = result.metrics.search
                said = result.missed or f"Chose {result.variant.name}: {search.reason if search else ''}"
                self.compress_panel.show_outcome(said, missed=result.missed is not None)
                self.host.say(said if result.missed is None else f"Target missed: {said}")

        evaluation = state.evaluation()
        resolves = f" ({resolution_text(len(evaluation))})" if target is not None and evaluation is not None else ""
        job = self.host.start_job(f"Compressing {model.card.title} with {recipe.name}{resolves}", compress, model,
                                  recipe, project, parent_variant=parent, calib=state.dataset(DataRole.CALIB),
                                  train=train, evaluation=evaluation, name=name or None, threads=self.host.threads,
                                  on_success=stored, use=ProjectUse(project, frozenset({parent} if parent else ()),
                                                                    stores_parent=parent is None),
                                  budget_s=60 * target.budget_minutes if target else None,
                                  partial_keyword="on_candidate" if target else None)
        job.partial.connect(self.compress_panel.search_chart.add_candidate)
        self.track(job)
        return job
