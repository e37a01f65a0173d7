"""Re-measure all: every variant of a project compared with the original of its lineage in one session.

Latency: each original and its variants are timed in rounds, in turn, in each chosen runtime (one interleaved
session, so the load of the moment weighs on all alike); a variant whose timing is noisy is timed once more
against the original with twice the rounds, and labelled noisy if it still is. Accuracy: where labelled
images are given, each is scored on the same images and compared with its original, paired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.compare import root_of
from core.data.datasets import ImageDataset
from core.errors import StudioError
from core.jobs import Progress, silent
from core.metrics.accuracy import evaluate
from core.metrics.paired import paired_accuracy
from core.metrics.paired_latency import PairedLatency, interleaved_latency
from core.model import LoadedModel
from core.project import Project, Variant

ROUNDS = 30


@dataclass
class Remeasured:
    timed: dict[str, dict[str, PairedLatency]] = field(default_factory=dict)  # variant id → runtime → ratio
    scored: dict[str, dict[str, Any]] = field(default_factory=dict)  # variant id → paired accuracy
    skipped: list[str] = field(default_factory=list)  # "name: why", for variants that could not be loaded
    retried: list[str] = field(default_factory=list)  # ids timed again because the first timing was noisy


def remeasure_all(
    project: Project,
    *,
    runtimes: tuple[str, ...] = ("torch",),
    evaluation: ImageDataset | None = None,
    threads: int = 1,
    rounds: int = ROUNDS,
    progress: Progress | None = None,
) -> Remeasured:
    """Time (and, with `evaluation`, score) every variant against its original; store the paired figures."""
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
                _time_family(project, loaded, runtime, threads, rounds, result,
                             timing.span(index / len(runtimes), (index + 1) / len(runtimes)))  # fmt: skip
            except StudioError as exc:  # e.g. a variant stored as an ONNX file cannot run in torch
                result.skipped.append(f"{by_id[root_id].name} and its variants in {runtime}: {exc}")
        if evaluation is not None:
            _score_family(project, loaded, evaluation, threads, result, span.span(0.6, 1.0))
    progress(1.0, f"re-measured {sum(len(m) for m in families.values())} variants")
    return result


def _load_all(project: Project, members: list[Variant], result: Remeasured, progress: Progress
              ) -> list[tuple[Variant, LoadedModel]]:  # fmt: skip
    loaded = []
    for variant in members:
        progress(0.0, f"loading {variant.name}")
        try:
            loaded.append((variant, project.load(variant.id)))
        except StudioError as exc:
            result.skipped.append(f"{variant.name}: {exc}")
    return loaded


def _time_family(project: Project, loaded: list[tuple[Variant, LoadedModel]], runtime: str, threads: int,
                 rounds: int, result: Remeasured, progress: Progress) -> None:  # fmt: skip
    (root, original), others = loaded[0], loaded[1:]
    timings = interleaved_latency([original] + [m for _, m in others], runtime=runtime, threads=threads, rounds=rounds,
                                  progress=progress.span(0.0, 0.8))  # fmt: skip
    noisy = [i for i, t in enumerate(timings) if t.noisy]
    for count, index in enumerate(noisy):  # once more, alone with the original and for longer
        again = progress.span(0.8 + 0.2 * count / len(noisy), 0.8 + 0.2 * (count + 1) / len(noisy))
        (timings[index],) = interleaved_latency([original, others[index][1]], runtime=runtime, threads=threads,
                                                rounds=2 * rounds, seed=1, progress=again)  # fmt: skip
        result.retried.append(others[index][0].id)
    for (variant, _), timing in zip(others, timings, strict=True):
        stored = {**timing.to_dict(), "against": root.id, "retried": variant.id in result.retried}
        project.update_metrics(variant.id, {"paired_latency": {runtime: stored}})
        result.timed.setdefault(variant.id, {})[runtime] = timing


def _score_family(project: Project, loaded: list[tuple[Variant, LoadedModel]], evaluation: ImageDataset,
                  threads: int, result: Remeasured, progress: Progress) -> None:  # fmt: skip
    share = 1.0 / len(loaded)
    scores = []
    for index, (variant, model) in enumerate(loaded):
        scoring = progress.span(index * share, (index + 1) * share)
        accuracy = evaluate(model, evaluation, threads=threads, progress=scoring)
        project.update_metrics(variant.id, {"accuracy": accuracy.to_dict(with_per_image=True)})
        scores.append(accuracy)
    root = loaded[0][0]
    for (variant, _), accuracy in zip(loaded[1:], scores[1:], strict=True):
        paired = paired_accuracy(accuracy.hits, scores[0].hits, accuracy.predicted, scores[0].predicted)
        stored = {**paired.to_dict(), "against": root.id}
        project.update_metrics(variant.id, {"paired_accuracy": stored})
        result.scored[variant.id] = stored
