"""Open a model and describe it: the card, complexity, and size (what the model view shows)."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import StudioError
from core.jobs import Progress, silent
from core.metrics.complexity import ComplexityReport, analyze_complexity
from core.metrics.size import state_dict_bytes
from core.model import LoadedModel
from core.project import model_fingerprint
from core.references import resolve_reference


@dataclass
class ModelReport:
    model: LoadedModel
    complexity: ComplexityReport
    size_bytes: int
    fingerprint: str = ""  # of its weights: finds it again in a project that stored it (hashed off the GUI thread)


def describe(model: LoadedModel) -> ModelReport:
    if model.module is None:
        raise StudioError(f"{model.card.title} is an ONNX file: MACs are counted on torch models; open its source")
    return ModelReport(model, analyze_complexity(model.module, model.card.input_size), state_dict_bytes(model.module),
                       model_fingerprint(model))


def inspect_model(
    text: str, weights: str = "auto", *, trust_pickle: bool = False, progress: Progress | None = None
) -> ModelReport:
    """Load a zoo spec, a model file or a project variant and describe it."""
    progress = progress or silent()
    model = resolve_reference(text, weights, trust_pickle=trust_pickle, progress=progress.span(0.0, 0.8))
    progress(0.8, "counting MACs")
    report = describe(model)
    progress(1.0, "ready")
    return report
