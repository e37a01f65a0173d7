"""Re-measure all: every variant of a project compared with the original of its lineage in one session.

Latency: each original and its variants are timed in rounds, in turn, in each chosen runtime (one interleaved
session, so the load of the moment weighs on all alike); a variant whose timing is noisy is timed once more
against the original with twice the rounds, and labelled noisy if it still is. In PyTorch and ONNX Runtime the
models themselves run; in LiteRT and ExecuTorch their exported files do (converted once, through the exporter,
into the variant's folder, and reused). Accuracy: where labelled
images are given, each is scored on the same images and compared with its original, paired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.compare import root_of
from core.data.datasets import ImageDataset
from core.errors import StudioError
from core.export.job import ExportOptions
from core.export.registry import ExportFormat, timed_formats
from core.export.run import export_model
from core.export.source import from_project
from core.jobs import Progress, silent
from core.metrics.accuracy import evaluate
from core.metrics.paired import PairedAccuracy, paired_accuracy
from core.metrics.paired_latency import PairedLatency, interleaved, interleaved_latency, random_inputs
from core.metrics.stored import StoredAccuracy
from core.model import LoadedModel
from core.project import Project, Variant
from core.runtimes import Runtime

ROUNDS = 30
ARTIFACTS = "artifacts"  # in a variant's folder: its exported files, kept to time them again


@dataclass
class Remeasured:
    timed: dict[str, dict[str, PairedLatency]] = field(default_factory=dict)  # variant id → runtime → ratio
    scored: dict[str, PairedAccuracy] = field(default_factory=dict)  # variant id → paired accuracy
    skipped: list[str] = field(default_factory=list)  # "name: why", for variants that could not be loaded
    retried: list[str] = field(default_factory=list)  # ids timed again because the first timing was noisy


def remeasure_all(
    project: Project,
    *,
    runtimes: tuple[str, ...] = ("torch",),
    evaluation: ImageDataset | None = None,
    calib: ImageDataset | None = None,
    threads: int = 1,
    rounds: int = ROUNDS,
    progress: Progress | None = None,
) -> Remeasured:
    """Time (and, with `evaluation`, score) every variant against its original; store the paired figures.
    `runtimes`: torch, onnxruntime, and the runtimes whose files are timed (litert, executorch: an int8 variant's
    file is re-quantized from its float parent on `calib`)."""
    progress = progress or silent()
    variants = project.variants
    by_id = {v.id: v for v in variants}
    families: dict[str, list[Variant]] = {}
    for variant in variants:
        families.setdefault(root_of(variant, by_id).id, []).append(variant)
    families = {root: members for root, members in families.items() if len(members) > 1}
    if not families:
        raise StudioError("nothing to compare: the project has no variant made from another")
    result = Remeasured()
    share = 1.0 / len(families)
    for number, (root_id, members) in enumerate(families.items()):
        span = progress.span(number * share, (number + 1) * share)
        loaded = _load_all(project, [by_id[root_id]] + [m for m in members if m.id != root_id], result, span)
        if len(loaded) < 2 or loaded[0][0].id != root_id:
            continue
        timing = span.span(0.0, 0.6 if evaluation is not None else 1.0)
        for index, runtime in enumerate(runtimes):
            try:
                _time_family(project, loaded, runtime, threads, rounds, calib, result,
                             timing.span(index / len(runtimes), (index + 1) / len(runtimes)))
            except StudioError as exc:  # e.g. a variant stored as an ONNX file cannot run in torch
                result.skipped.append(f"{by_id[root_id].name} and its variants in {runtime}: {exc}")
        if evaluation is not None:
            _score_family(project, loaded, evaluation, threads, result, span.span(0.6, 1.0))
    progress(1.0, f"re-measured {sum(len(m) for m in families.values())} variants")
    return result


def _load_all(project: Project, members: list[Variant], result: Remeasured, progress: Progress
              ) -> list[tuple[Variant, LoadedModel]]:
    loaded = []
    for variant in members:
        progress(0.0, f"loading {variant.name}")
        try:
            loaded.append((variant, project.load(variant.id)))
        except StudioError as exc:
            result.skipped.append(f"{variant.name}: {exc}")
    return loaded


def _time_family(project: Project, loaded: list[tuple[Variant, LoadedModel]], runtime: str, threads: int,
                 rounds: int, calib: ImageDataset | None, result: Remeasured, progress: Progress) -> None:
    root, others = loaded[0][0], loaded[1:]
    if not Runtime.named(runtime).in_process:  # exported files: made (or found) first, then timed
        timer = _file_timer(project, loaded, runtime, calib, progress.span(0.0, 0.5))
        progress = progress.span(0.5, 1.0)
    else:
        timer = _model_timer(loaded, runtime, threads)
    timings = timer(list(range(len(loaded))), rounds, 0, progress.span(0.0, 0.8))
    noisy = [i for i, t in enumerate(timings) if t.noisy]
    for count, index in enumerate(noisy):  # once more, alone with the original and for longer
        again = progress.span(0.8 + 0.2 * count / len(noisy), 0.8 + 0.2 * (count + 1) / len(noisy))
        (timings[index],) = timer([0, index + 1], 2 * rounds, 1, again)
        result.retried.append(others[index][0].id)
    for (variant, _), timing in zip(others, timings, strict=True):
        stored = replace(timing, against=root.id, retried=variant.id in result.retried)
        project.update_metrics(variant.id, paired_latency={Runtime.named(runtime): stored})
        result.timed.setdefault(variant.id, {})[runtime] = timing


# Times the models at these positions of a family (the original first) in turn: rounds, seed, progress.
Timer = Callable[[list[int], int, int, Progress], list[PairedLatency]]


def _model_timer(loaded: list[tuple[Variant, LoadedModel]], runtime: str, threads: int) -> Timer:
    def time_models(which: list[int], rounds: int, seed: int, progress: Progress) -> list[PairedLatency]:
        return interleaved_latency([loaded[i][1] for i in which], runtime=runtime, threads=threads, rounds=rounds,
                                   seed=seed, progress=progress)

    return time_models


def _file_timer(project: Project, loaded: list[tuple[Variant, LoadedModel]], runtime: str,
                calib: ImageDataset | None, progress: Progress) -> Timer:
    """Each model's file in the runtime's format (exported once into the variant's folder), run at 1 thread."""
    fmt = timed_formats()[Runtime.named(runtime)]
    predictors = []
    for index, (variant, _) in enumerate(loaded):
        step = progress.span(index / len(loaded), (index + 1) / len(loaded))
        predictors.append(fmt.predictor(_exported(project, variant, fmt, calib, step)))
    inputs = random_inputs([model for _, model in loaded], seed=0)

    def time_files(which: list[int], rounds: int, seed: int, progress: Progress) -> list[PairedLatency]:
        return interleaved([predictors[i] for i in which], [inputs[i] for i in which], runtime=runtime, threads=1,
                           rounds=rounds, seed=seed, progress=progress)

    return time_files


def _exported(project: Project, variant: Variant, fmt: ExportFormat, calib: ImageDataset | None,
              progress: Progress) -> Path:
    """The variant's file in `fmt`, made by the exporter (verified on calibration images) and kept in its folder. A
    file already there is reused only through the exporter's index, which verifies it again: a file put in its
    place is never timed as the variant."""
    folder = project.variant_dir(variant, ARTIFACTS)
    progress(0.0, f"exporting {variant.name} to {fmt.title} to time it (or checking the file made before)")
    report = export_model(from_project(project.root, variant.id), [fmt], folder,
                          options=ExportOptions(threads=1, latency_runs=0), calib=calib, progress=progress)
    result = report.results[0]
    if not result.path:
        raise StudioError(f"{variant.name} could not be exported to {fmt.title}: {result.verification.get('error')}")
    return Path(result.path)


def _score_family(project: Project, loaded: list[tuple[Variant, LoadedModel]], evaluation: ImageDataset,
                  threads: int, result: Remeasured, progress: Progress) -> None:
    share = 1.0 / len(loaded)
    scores = []
    for index, (variant, model) in enumerate(loaded):
        scoring = progress.span(index * share, (index + 1) * share)
        accuracy = evaluate(model, evaluation, threads=threads, progress=scoring)
        project.update_metrics(variant.id, accuracy=StoredAccuracy.of(accuracy))
        scores.append(accuracy)
    root = loaded[0][0]
    for (variant, _), accuracy in zip(loaded[1:], scores[1:], strict=True):
        stored = replace(paired_accuracy(accuracy.hits, scores[0].hits, accuracy.predicted, scores[0].predicted),
                         against=root.id)
        project.update_metrics(variant.id, paired_accuracy=stored)
        result.scored[variant.id] = stored
