"""Timing a search's finalists in the runtime users ship: each one's .tflite, made by the exporter as the Android
bundle holds it (int8 re-quantized from its float graph with the same calibration settings), timed in turn with
the parent's .tflite in the LiteRT interpreter. Every candidate was first timed in ONNX Runtime, the fast proxy;
only the few that met the target are converted (a conversion takes seconds to a minute on a 2-core computer)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from core.compress.search.verify import Verified
from core.data.datasets import ImageDataset
from core.export.job import ExportOptions
from core.export.registry import FORMATS
from core.export.run import export_model
from core.export.source import ExportSource, from_model
from core.jobs import Progress
from core.metrics.paired_latency import PairedLatency, interleaved, random_inputs
from core.model import LoadedModel
from core.recipe import QuantizeStep

FINALISTS = 3  # the best by the proxy among those that met the target
PAIRS = 30


def litert_timings(parent: LoadedModel, finalists: Sequence[Verified], calib: ImageDataset, threads: int,
                   seed: int, progress: Progress) -> list[PairedLatency]:  # fmt: skip
    """Each finalist's LiteRT latency against the parent's, in one interleaved session (1 interpreter thread)."""
    fmt = FORMATS["tflite"]
    options = ExportOptions(threads=threads, latency_runs=0)
    sources = [from_model(parent)] + [_source(parent, held, number) for number, held in enumerate(finalists)]
    with tempfile.TemporaryDirectory(prefix="mnstudio-litert-") as scratch:
        paths = []
        for number, source in enumerate(sources):
            share = progress.span(0.8 * number / len(sources), 0.8 * (number + 1) / len(sources))
            share(0.0, f"converting {source.name} to TFLite to time it in LiteRT")
            report = export_model(source, [fmt], Path(scratch) / str(number), options=options, calib=calib,
                                  progress=share)  # fmt: skip
            result = report.results[0]
            if not result.path:
                why = result.verification.get("error")
                raise RuntimeError(f"{source.name} could not be converted to TFLite: {why}")
            paths.append(Path(result.path))
        predictors = [fmt.predictor(path) for path in paths]
        models = [parent] + [held.applied.model for held in finalists]
        return interleaved(predictors, random_inputs(models, seed), runtime="litert", threads=1, rounds=PAIRS,
                           seed=seed, progress=progress.span(0.8, 1.0))  # fmt: skip


def _source(parent: LoadedModel, held: Verified, number: int) -> ExportSource:
    """A finalist as the exporter takes it: an int8 one with its float graph and the plain int8 step's settings."""
    model = held.applied.model
    name = f"candidate-{number}"
    if model.card.quantization is None:
        return ExportSource(model=model, name=name)
    float_graph = held.applied.float_model or parent
    quantize = next((s for s in held.recipe.steps if isinstance(s, QuantizeStep)), QuantizeStep())
    return ExportSource(model=model, name=name, float_parent=lambda: float_graph, quantize_step=quantize)
