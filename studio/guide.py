"""The Start view's four steps, computed from the studio's state (Qt-free): what is done, what is ready to run,
what still needs images, and the one action that moves each step on.

1. Your model: the loaded model, its size and compute, and its measured speed and accuracy.
2. Make it smaller or faster: the target form (Compress tab); needs calibration and evaluation images.
3. Compare: the variants made from this model against it.
4. Export for Android / iOS: a verified app bundle of the chosen variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from core.compare import VariantRow
from core.data.roles import DataRole
from core.metrics.speed_text import HEADLINE_RUNTIME
from core.recipe import Verdict
from core.runtimes import Runtime
from studio.state import Activity, StudioState


class StepState(Enum):
    DONE = "done"
    READY = "ready"
    RUNNING = "running"
    NEEDS_DATA = "needs data"
    ATTENTION = "attention"  # it works, but not as the user likely expects (an untrained model)
    WAITING = "waiting"  # for an earlier step


class Go(Enum):
    """Where a step's button leads."""

    MODEL = "model"  # the Model tab: pick another model, see its layers
    MEASURE = "measure"  # measure the current model's speed and accuracy (a job)
    DATA = "data"  # the Data tab: choose image folders
    COMPRESS = "compress"  # the Compress tab's target form
    JOBS = "jobs"  # the Jobs tab: what is running
    COMPARE = "compare"
    EXPORT = "export"  # the Export tab, an app bundle chosen


@dataclass(frozen=True)
class GuideStep:
    title: str
    state: StepState
    detail: str
    action: str  # the button's words; "" for no button
    go: Go | None = None


def _model_step(state: StudioState, original: VariantRow | None, activity: Activity) -> GuideStep:
    report = state.report
    if report is None:
        if activity.loading:
            return GuideStep("Your model", StepState.RUNNING, "Loading the model…", "")
        return GuideStep("Your model", StepState.READY, state.error or "No model is loaded yet.", "Choose a model",
                         Go.MODEL)
    card = report.model.card
    macs = report.complexity.macs / 1e6
    size = f"{card.title}: {report.size_bytes / 1e6:.1f} MB, {macs:.0f} million multiply-adds per image"
    if not card.weights.trained:
        untrained = f"{size}. Untrained: its answers are guesses. Choose a pretrained model or your own checkpoint."
        return GuideStep("Your model", StepState.ATTENTION, untrained, "Choose a model", Go.MODEL)
    if original is not None and original.top1 is not None and original.latency_ms is not None:
        measured = f"Accuracy {original.top1_text()}; {original.latency_ms:.1f} ms per image on this computer"
        return GuideStep("Your model", StepState.DONE, f"{size}. {measured}.", "See its layers", Go.MODEL)
    if activity.measuring:
        return GuideStep("Your model", StepState.RUNNING, f"{size}. Measuring its speed and accuracy…", "Show progress",
                         Go.JOBS)
    if state.dataset(DataRole.EVALUATION) is None:
        return GuideStep("Your model", StepState.NEEDS_DATA, f"{size}. Its accuracy needs labelled images to measure "
                         "on.", "Choose images", Go.DATA)
    return GuideStep("Your model", StepState.READY, f"{size}. Speed and accuracy not measured yet.",
                     "Measure speed and accuracy", Go.MEASURE)


def _compress_step(state: StudioState, children: Sequence[VariantRow], activity: Activity) -> GuideStep:
    title = "Make it smaller or faster"
    if state.report is None:
        return GuideStep(title, StepState.WAITING, "Load a model first.", "")
    if activity.compressing:
        return GuideStep(title, StepState.RUNNING, "Looking for a smaller or faster model…", "Show progress", Go.JOBS)
    card = state.report.model.card
    if card.spec is None or card.quantization is not None:  # said at open, before anything reads "Ready"
        what = "already quantized" if card.quantization is not None else "not a MobileNet the studio can rebuild"
        return GuideStep(title, StepState.ATTENTION, f"{card.title} is {what}: it can be measured, exported and "
                         "drawn, but not made smaller. To compress it, open its float weights (a state_dict).",
                         "Choose a model", Go.MODEL)
    missing = [what for role, what in ((DataRole.CALIB, "example images"), (DataRole.EVALUATION, "labelled images"))
               if state.dataset(role) is None]
    if missing:
        return GuideStep(title, StepState.NEEDS_DATA, f"This needs {' and '.join(missing)} (Data tab).",
                         "Choose images", Go.DATA)
    if children:
        best = next((row for row in children if row.search is Verdict.CHOSEN), children[-1])
        return GuideStep(title, StepState.DONE, f"Made {_versions(len(children))} smaller or faster; the latest "
                         f"pick: {best.name} ({_gains(best)}).", "Try another target", Go.COMPRESS)
    return GuideStep(title, StepState.READY, "Say what matters (speed or size) and how much accuracy you can lose; "
                     "the studio searches for the best model.", "Make it smaller or faster", Go.COMPRESS)


def _versions(count: int) -> str:
    return "one version" if count == 1 else f"{count} versions"


def _gains(row: VariantRow) -> str:
    said = [f"{row.size_mb:.1f} MB"] if row.size_mb is not None else []
    # The headline figure, LiteRT on this computer, where it was timed; else the runtime the table shows.
    speed, runtime = (row.headline_speed, HEADLINE_RUNTIME) if row.headline_speed else (row.speed, row.latency_runtime)
    if speed is not None:
        said.append(f"{speed.verdict()} in {Runtime(runtime).full_label} on this computer")
    if row.delta_top1 is not None:  # the paired figure, as the Variants and Compare tabs give it
        said.append(f"top-1 {row.delta_text()} against the original")
    return ", ".join(said) or "not measured"


def _compare_step(children: Sequence[VariantRow]) -> GuideStep:
    if not children:
        return GuideStep("Compare", StepState.WAITING, "After step 2: every version side by side with the original.",
                         "")
    versions = _versions(len(children)).capitalize()
    return GuideStep("Compare", StepState.READY, f"{versions} against the original: size, speed and accuracy, with "
                     "how sure each figure is.", "Compare them", Go.COMPARE)


def _export_step(state: StudioState, activity: Activity) -> GuideStep:
    title = "Export for Android / iOS"
    if state.report is None and state.selected_variant is None:
        return GuideStep(title, StepState.WAITING, "Load a model first.", "")
    if activity.bundle:
        return GuideStep(title, StepState.DONE, f"Saved {activity.bundle}.", "Export again", Go.EXPORT)
    chosen = state.project.variant(state.selected_variant).name if state.project and state.selected_variant else (
        state.report.model.card.title if state.report else "")
    return GuideStep(title, StepState.READY, f"An app bundle of {chosen}: the model checked in its phone runtime, "
                     "its labels and code to paste.", "Export for Android / iOS", Go.EXPORT)


def guide_steps(state: StudioState, rows: Sequence[VariantRow], activity: Activity) -> tuple[GuideStep, ...]:
    """The four steps for the current model; `rows`: the project's variants (core.compare.variant_rows)."""
    original = next((row for row in rows if row.id == state.model_variant), None)
    children = [row for row in rows if original is not None and row.parent == original.id]
    return (_model_step(state, original, activity), _compress_step(state, children, activity),
            _compare_step(children), _export_step(state, activity))
