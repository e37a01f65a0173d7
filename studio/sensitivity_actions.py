"""Sensitivity analysis from the Compress tab: probe the layers the recipe would change (pruning, static int8) on
evaluation images, then turn the analysis into per-layer pruning ratios and layers kept at full precision.

Each is a core job run by the window's runner; the suggestion becomes one undoable recipe edit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtWidgets import QWidget

from core.compress.sensitivity import analyze_sensitivity, suggest_pruning
from core.data.roles import DataRole
from core.precision import Int8Static
from core.recipe import PruneStep, QuantizeStep, Recipe
from studio.compress_panel import CUSTOM
from studio.host import Collaborator
from studio.sensitivity_box import SensitivityBox
from studio.workers import Job

SENSITIVITY_IMAGES = 64


def _static_int8(step: object) -> bool:
    return isinstance(step, QuantizeStep) and isinstance(step.precision, Int8Static)


class SensitivityActions(Collaborator):
    def __init__(self, host: QWidget, panel: SensitivityBox) -> None:
        super().__init__(host)
        self.panel = panel

    def analyze(self) -> Job | None:
        host = self.host
        model, evaluation = host.current_model(), host.state.dataset(DataRole.EVALUATION)
        if model is None:
            return None
        if evaluation is None:
            host.show_problem("Sensitivity analysis scores on evaluation images: choose them in the Data tab.")
            return None
        prune, quantize = host.state.recipe.step(PruneStep), host.state.recipe.step(QuantizeStep)
        # Probe what the recipe does: pruning probes for a prune step, int8 probes for static quantization.
        techniques = tuple(name for name, used in (("prune", prune is not None), ("quantize", _static_int8(quantize)))
                           if used) or ("prune", "quantize")
        return host.start_job("Analyzing sensitivity", analyze_sensitivity, model, evaluation, techniques=techniques,
                              calib=host.state.dataset(DataRole.CALIB), images=SENSITIVITY_IMAGES,
                              prune_settings=prune, on_success=self.panel.show_report)

    def apply_suggestion(self, macs_fraction: float) -> Job | None:
        host = self.host
        model, report = host.current_model(), self.panel.report
        if model is None or report is None:
            return None

        def apply(suggestion: Any) -> None:
            recipe = host.state.recipe
            keep = report.keep_float_suggestion()
            steps = [suggestion.step(recipe.step(PruneStep))] + [
                replace(s, keep_float=keep) if isinstance(s, QuantizeStep) and _static_int8(s) else s
                for s in recipe.steps
                if not isinstance(s, PruneStep)
            ]
            host.assign("recipe", Recipe(CUSTOM, tuple(steps), "Sensitivity suggestion"), "Apply suggestion")

        return host.start_job("Suggesting per-layer ratios", suggest_pruning, model, report,
                                macs_fraction=macs_fraction, threads=host.threads,
                                on_success=apply)
