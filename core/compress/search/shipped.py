"""Timing a search's finalists in the runtime users ship: each one's .tflite, made by the exporter as the Android
bundle holds it (int8 re-quantized from its float graph with the same calibration settings), timed in turn with
the parent's .tflite in the LiteRT interpreter. Every candidate was first timed in ONNX Runtime, the fast proxy;
only the few that met the target are converted (a conversion takes seconds to a minute on a 2-core computer), in a
child process (core.child_job) so that Cancel stops it at once."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from core.child_job import run_in_child
from core.compress.search.verify import Verified
from core.data.datasets import ImageDataset
from core.errors import ExportError
from core.export.job import ExportOptions
from core.export.registry import FORMATS
from core.export.run import export_model
from core.export.source import ExportSource, from_model
from core.jobs import Progress
from core.metrics.paired_latency import PairedLatency, interleaved, random_inputs
from core.model import LoadedModel
from core.recipe import QuantizeStep
from core.runtimes import Runtime
from core.storage import torch_bytes
from core.zoo.quantized_store import rebuild_quantized, storable_state_dict

FINALISTS = 3  # the best by the proxy among those that met the target
PAIRS = 30


def litert_timings(parent: LoadedModel, finalists: Sequence[Verified], calib: ImageDataset, threads: int,
                   seed: int, progress: Progress) -> list[PairedLatency]:
    """Each finalist's LiteRT latency against the parent's, in one interleaved session (1 interpreter thread), in a
    child process: a conversion's native passes cannot outlast a Cancel there."""
    finalist_models = [(sendable(held.applied.model), held.applied.float_model,
                        next((s for s in held.recipe.steps if isinstance(s, QuantizeStep)), QuantizeStep()))
                       for held in finalists]
    arguments = {"parent": parent, "finalists": finalist_models, "calib": calib, "threads": threads, "seed": seed}
    timings: list[PairedLatency] = run_in_child(_convert_and_time, arguments, progress)
    return timings


Sendable = tuple[LoadedModel, bytes | None]  # a model without its int8 module, and that module's stored state
Finalist = tuple[Sendable, LoadedModel | None, QuantizeStep]  # the model, its float graph, its int8 settings


def sendable(model: LoadedModel) -> Sendable:
    """A model as it crosses to a child process. Eager int8 modules do not survive pickling (their `__setstate__`
    skips nn.Module's own fields, torch 2.14) nor a pickler's shared-memory tensors, so an int8 model crosses as its
    stored state_dict's bytes."""
    if model.card.quantization is None or model.module is None:
        return model, None
    return replace(model, module=None), torch_bytes(storable_state_dict(model.module))


def received(sent: Sendable) -> LoadedModel:
    """The model `sendable` sent, its int8 module rebuilt as a project rebuilds a stored variant's."""
    import torch

    model, state = sent
    if state is None:
        return model
    assert model.card.spec is not None and model.card.quantization is not None
    stored = torch.load(io.BytesIO(state), weights_only=True)
    return replace(model, module=rebuild_quantized(model.card.spec, model.card.quantization, stored))


def _convert_and_time(parent: LoadedModel, finalists: list[Finalist], calib: ImageDataset, threads: int, seed: int,
                      progress: Progress) -> list[PairedLatency]:
    fmt = FORMATS["tflite"]
    options = ExportOptions(threads=threads, latency_runs=0)
    models, sources = [parent], [from_model(parent)]
    for number, (sent, float_model, quantize) in enumerate(finalists):
        models.append(received(sent))
        sources.append(_source(parent, models[-1], float_model, quantize, number))
    with tempfile.TemporaryDirectory(prefix="mnstudio-litert-") as scratch:
        paths = []
        for number, source in enumerate(sources):
            share = progress.span(0.8 * number / len(sources), 0.8 * (number + 1) / len(sources))
            share(0.0, f"converting {source.name} to TFLite to time it in LiteRT")
            report = export_model(source, [fmt], Path(scratch) / str(number), options=options, calib=calib,
                                  progress=share)
            result = report.results[0]
            if not result.path:
                why = result.verification.get("error")
                raise ExportError(f"{source.name} could not be converted to TFLite: {why}")
            paths.append(Path(result.path))
        predictors = [fmt.predictor(path) for path in paths]
        return interleaved(predictors, random_inputs(models, seed), runtime=Runtime.LITERT, threads=1, rounds=PAIRS,
                           seed=seed, progress=progress.span(0.8, 1.0))


def _source(parent: LoadedModel, model: LoadedModel, float_model: LoadedModel | None, quantize: QuantizeStep,
            number: int) -> ExportSource:
    """A finalist as the exporter takes it: an int8 one with its float graph and the plain int8 step's settings."""
    name = f"candidate-{number}"
    if model.card.quantization is None:
        return ExportSource(model=model, name=name)
    float_graph = float_model or parent
    return ExportSource(model=model, name=name, float_parent=lambda: float_graph, quantize_step=quantize)
