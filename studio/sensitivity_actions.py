"""Sensitivity analysis from the Compress tab: probe the layers the recipe would change (pruning, static int8) on
evaluation images, then turn the analysis into per-layer pruning ratios and layers kept at full precision.

Each is a core job run by the window's runner; the suggestion becomes one undoable recipe edit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QObject

from core.compress.sensitivity import analyze_sensitivity, suggest_pruning
from core.precision import Int8Static
from core.recipe import PruneStep, QuantizeStep, Recipe
from studio.compress_panel import CUSTOM
from studio.workers import Job

if TYPE_CHECKING:
    from studio.main_window import MainWindow

SENSITIVITY_IMAGES = 64


def _static_int8(step: object) -> bool:
    return isinstance(step, QuantizeStep) and isinstance(step.precision, Int8Static)


class SensitivityActions(QObject):
    @property
    def window(self) -> MainWindow:
        # The Qt parent, not an attribute: a Python reference back to the window would close a reference cycle
        # (see ProjectActions.window).
        return cast("MainWindow", self.parent())

    def analyze(self) -> Job | None:
        window = self.window
        model, evaluation = window.current_model(), window.state.dataset("evaluation")
        if model is None:
            return None
        if evaluation is None:
            window.show_problem("Sensitivity analysis scores on evaluation images: choose them in the Data tab.")
            return None
        prune, quantize = window.state.recipe.step(PruneStep), window.state.recipe.step(QuantizeStep)
        # Probe what the recipe does: pruning probes for a prune step, int8 probes for static quantization.
        techniques = tuple(name for name, used in (("prune", prune is not None), ("quantize", _static_int8(quantize)))
                           if used) or ("prune", "quantize")  # fmt: skip
        return window.start_job("Analyzing sensitivity", analyze_sensitivity, model, evaluation,
                                techniques=techniques, calib=window.state.dataset("calib"), images=SENSITIVITY_IMAGES,
                                prune_settings=prune, on_success=window.compress_panel.show_sensitivity)  # fmt: skip

    def apply_suggestion(self, macs_fraction: float) -> Job | None:
        window = self.window
        model, report = window.current_model(), window.compress_panel.report
        if model is None or report is None:
            return None

        def apply(suggestion: Any) -> None:
            recipe = window.state.recipe
            keep = report.keep_float_suggestion()
            steps = [suggestion.step(recipe.step(PruneStep))] + [
                replace(s, keep_float=keep) if isinstance(s, QuantizeStep) and _static_int8(s) else s
                for s in recipe.steps
                if not isinstance(s, PruneStep)
            ]
            window.assign_recipe(Recipe(CUSTOM, tuple(steps), "Sensitivity suggestion"), "Apply suggestion")

        return window.start_job("Suggesting per-layer ratios", suggest_pruning, model, report,
                                macs_fraction=macs_fraction, threads=window.runner.threads,
                                on_success=apply)  # fmt: skip
