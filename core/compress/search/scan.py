"""The search's scan: cheap proxies and measured latency for input sizes, single removed blocks, light pruning,
and the most promising combinations of them (see core.compress.search.run for the whole search).

Proxies are KL divergence and top-1 agreement with the parent on calibration images that no fitting step
reads; the time each candidate saves is measured in the search's runtime, timed alternately with the parent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.compress.candidates import Candidate, Scored
from core.compress.drop_blocks import plan_gaps
from core.compress.proxy import Proxy
from core.data.datasets import ImageDataset
from core.errors import StudioError
from core.jobs import Progress
from core.metrics.complexity import analyze_complexity
from core.metrics.paired_latency import paired_latency
from core.model import LoadedModel
from core.recipe import Objective, TargetStep
from core.zoo.blocks import block_views

# Coarse to fine, so that a short scan still spans the range.
RESOLUTIONS = (224, 192, 160, 128, 96, 208, 176, 144, 112)
CROPS = (0.875, 1.0)
SCAN_SHARE = 0.3  # of the budget; of the scan, input sizes take at most 35 %, single blocks 55 % of the rest
PRUNE_PROBES = (0.25,)
SHORTLIST = 4  # combinations built and measured for real
LATENCY_PAIRS = 15  # during the scan; verification times 30 pairs
SCAN_FIT_IMAGES = 64
# How far from the parent (disagreement on the score images, %) an aggressive candidate may start, per point of
# top-1 it may lose, above the parent's own instability (its disagreement with itself under the other crop):
# zero-shot, V2 at 192 px disagreed on 14.5 % of the calibration images and lost nothing on imagenet_val1300, at
# 160 px on 19.5 % and lost 2.46 pt, about 3 % per point above a 12 % floor; distillation wins some back.
DISAGREEMENT_PER_POINT_AGGRESSIVE = 6.0


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


CandidateListener = Callable[[dict[str, Any]], None]


def latency_ratio(candidate: LoadedModel, parent: LoadedModel, step: TargetStep, threads: int,
                  progress: Progress, pairs: int = LATENCY_PAIRS) -> float:
    """The candidate's median time over the parent's, the two timed in turn in the search's runtime."""
    return paired_latency(candidate, parent, runtime=step.runtime.proxy, threads=threads, pairs=pairs, warmup=3,
                          seed=step.seed, progress=progress).ratio


def scan_candidates(parent: LoadedModel, step: TargetStep, proxy: Proxy, fit: ImageDataset, threads: int,
                    deadline: Deadline, progress: Progress, listen: CandidateListener) -> Scan:
    assert parent.module is not None
    size, crop = parent.card.input_size, parent.card.crop_fraction
    scanned: list[Scored] = []

    def record(candidate: Candidate, made: LoadedModel, ratio: float | None = None, heard: bool = True) -> Scored:
        score = proxy.score(made, progress)
        assert made.module is not None
        complexity = analyze_complexity(made.module, made.card.input_size)
        entry = Scored(candidate, score.kl, score.agreement, complexity.macs, complexity.params, ratio)
        scanned.append(entry)
        if heard:
            listen({"stage": "scan", **entry.to_dict()})
        return entry

    # The parent itself, and under the other crop: how much it disagrees with itself for nothing.
    own = Candidate(size, crop, residual_streams=step.residual_streams)
    parent_entry = record(own, parent, 1.0)
    other = Candidate(size, next(c for c in CROPS if c != crop) if crop in CROPS else CROPS[0])
    instability = 100 - record(other, other.build(parent, fit), heard=False).agreement
    # Input sizes: cheap (no fitting), each crop probed, the better crop kept per size.
    sizes = [r for r in RESOLUTIONS if r < size]
    by_size: dict[int, Scored] = {size: parent_entry}
    resolution_progress = progress.span(0.0, 0.3)
    sizes_until = Deadline(0.35 * deadline.left())
    for number, resolution in enumerate(sizes):
        if sizes_until.left() <= 0:
            break
        for crop_fraction in CROPS:
            candidate = Candidate(resolution, crop_fraction, residual_streams=step.residual_streams)
            entry = record(candidate, candidate.build(parent, fit), heard=False)
            if resolution not in by_size or entry.kl < by_size[resolution].kl:
                by_size[resolution] = entry
        best = by_size[resolution]
        best.latency_ratio = latency_ratio(best.candidate.build(parent, fit), parent, step, threads,
                                            resolution_progress.span(number / len(sizes), (number + 1) / len(sizes)))
        listen({"stage": "scan", **best.to_dict()})
    # Blocks, one at a time at the parent's size: measured recoverability (KL after the adaptor) per time saved.
    singles: dict[int, Scored] = {}
    droppable = [v.index for v in block_views(parent.module) if v.droppable]
    block_progress = progress.span(0.3, 0.65)
    blocks_until = Deadline(0.55 * deadline.left())  # the rest of the scan is kept for combinations
    for number, block in enumerate(droppable):
        if blocks_until.left() <= 0:
            break
        try:
            plan_gaps(parent.module, (block,))
        except StudioError:
            continue  # both neighbours residual: only droppable together with a neighbour
        share = block_progress.span(number / len(droppable), (number + 1) / len(droppable))
        candidate = Candidate(size, crop, (block,), residual_streams=step.residual_streams)
        made = candidate.build(parent, fit, share.span(0, 0.5), fit_images=SCAN_FIT_IMAGES)
        singles[block] = record(candidate, made, latency_ratio(made, parent, step, threads, share.span(0.5, 1.0)))
    probes: dict[float, Scored] = {}
    for ratio in PRUNE_PROBES:
        candidate = Candidate(size, crop, prune=ratio, residual_streams=step.residual_streams)
        made = candidate.build(parent, fit, progress.span(0.65, 0.7), fit_images=SCAN_FIT_IMAGES)
        probes[ratio] = record(candidate, made, latency_ratio(made, parent, step, threads, progress.span(0.7, 0.72)))
    shortlist = _combinations(parent, step, by_size, singles, probes, instability)
    for number, candidate in enumerate(shortlist):
        if deadline.left() <= 0:
            break
        share = progress.span(0.72 + 0.28 * number / len(shortlist), 0.72 + 0.28 * (number + 1) / len(shortlist))
        made = candidate.build(parent, fit, share.span(0, 0.5), fit_images=SCAN_FIT_IMAGES)
        record(candidate, made, latency_ratio(made, parent, step, threads, share.span(0.5, 1.0)))
    return Scan(scanned, parent_entry, instability)


@dataclass
class Scan:
    entries: list[Scored]
    parent: Scored
    instability: float  # % of the score images on which the parent disagrees with itself under the other crop


def _combinations(parent: LoadedModel, step: TargetStep, by_size: dict[int, Scored], singles: dict[int, Scored],
                  probes: dict[float, Scored], instability: float) -> list[Candidate]:
    """The most promising mixes of size, blocks and pruning, from their parts' measured costs.

    Disagreements above the parent's own instability add up roughly and latency ratios multiply; the estimate
    only picks what to build and measure.
    """
    assert parent.module is not None
    limit = DISAGREEMENT_PER_POINT_AGGRESSIVE * step.max_drop
    ranked = sorted(singles.values(), key=lambda s: s.kl / max(1e-3, 1 - (s.latency_ratio or 1.0)))
    estimates: list[tuple[float, float, Candidate]] = []
    for resolution, sized in by_size.items():
        blocks: tuple[int, ...] = ()
        for extra in [None, *ranked]:
            if extra is not None:
                trial = tuple(sorted((*blocks, *extra.candidate.blocks)))
                try:
                    plan_gaps(parent.module, trial)
                except StudioError:
                    continue
                blocks = trial
            for ratio in (0.0, *probes):
                parts = [sized, *(singles[b] for b in blocks), *([probes[ratio]] if ratio else [])]
                disagreement = sum(max(0.0, 100 - p.agreement - instability) for p in parts)
                if disagreement > limit:
                    continue
                latency = 1.0
                for part in parts:
                    latency *= part.latency_ratio or 1.0
                candidate = Candidate(resolution, sized.candidate.crop, blocks, ratio, step.residual_streams)
                # MACs fall with the pixels and with each part; parameters (size) only with blocks and pruning.
                kept_params = 1.0
                for part in parts[1:]:
                    kept_params *= part.params / max(1, sized.params)
                cost = kept_params if step.objective is Objective.SIZE else latency
                estimates.append((cost, disagreement, candidate))
    estimates.sort(key=lambda e: (e[0], e[1]))
    seen: list[Candidate] = []
    for _, _, candidate in estimates:
        if candidate not in seen and (candidate.blocks or candidate.prune):
            seen.append(candidate)
        if len(seen) == SHORTLIST:
            break
    return seen
