"""The search's zero-shot ladder: what is nearly free comes first.

1. The parent quantized with the plain int8 step: the same calibration and observer as `quantize`, so the
   search's int8 is never worse than the step a user would run by hand.
2. Smaller input sizes, each with the crop the proxy prefers, in int8 where int8 pays on this computer (else in
   float): the sizes whose proxy predicts the target can be met, the smallest (fastest) first.

Nothing here trains. Recovery (distillation, removed blocks, pruning) comes after, with what is left of the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.compress.candidates import Candidate, Scored
from core.compress.proxy import Proxy
from core.compress.search.scan import CROPS, CandidateListener, Deadline
from core.data.datasets import ImageDataset
from core.jobs import Progress
from core.metrics.complexity import analyze_complexity
from core.model import LoadedModel
from core.recipe import Objective, QuantizeStep, Recipe, ResolutionStep, Step, TargetStep

LADDER_SIZES = (192, 160, 128, 96, 208, 176, 144, 112)  # coarse to fine: a short scan still spans the range
# Zero-shot, V2 at 192 px disagreed with itself at 224 on 14.5 % of the score images and lost nothing on
# imagenet_val1300; at 160 px on 19.5 % and lost 2.46 pt: about 3 % more disagreement per point lost, above the
# parent's own instability (its disagreement with itself under the other crop).
ZERO_SHOT_DISAGREEMENT_PER_POINT = 3.0
SIZE_RUNGS = 3  # sizes verified at most: the walk stops at the first that meets the target


@dataclass(frozen=True)
class Rung:
    label: str
    recipe: Recipe


def int8_rung(step: TargetStep) -> Rung | None:
    if not step.allows_int8:
        return None
    return Rung("original, int8", Recipe("int8", (QuantizeStep(),), "the original quantized alone"))


def size_rungs(parent: LoadedModel, step: TargetStep, proxy: Proxy, fit: ImageDataset, int8: bool, deadline: Deadline,
               progress: Progress, listen: CandidateListener) -> tuple[list[Rung], list[Scored]]:
    """The smaller input sizes worth verifying, fastest first, and every size the proxy scored. None where the
    objective is the file's size, which the input size does not change."""
    if step.objective is Objective.SIZE:
        return [], []
    size, crop = parent.card.input_size, parent.card.crop_fraction
    other = Candidate(size, next(c for c in CROPS if c != crop) if crop in CROPS else CROPS[0])
    instability = 100 - proxy.score(other.build(parent, fit), progress).agreement
    scored: list[Scored] = []
    best: dict[int, Scored] = {}
    sizes = [r for r in LADDER_SIZES if r < size]
    for number, resolution in enumerate(sizes):
        if deadline.left() <= 0:
            break
        share = progress.span(number / len(sizes), (number + 1) / len(sizes))
        for crop_fraction in CROPS:
            candidate = Candidate(resolution, crop_fraction)
            made = candidate.build(parent, fit)
            score = proxy.score(made, share)
            assert made.module is not None
            complexity = analyze_complexity(made.module, resolution)
            entry = Scored(candidate, score.kl, score.agreement, complexity.macs, complexity.params)
            scored.append(entry)
            if resolution not in best or entry.kl < best[resolution].kl:
                best[resolution] = entry
        listen({"stage": "scan", **best[resolution].to_dict()})
    limit = instability + ZERO_SHOT_DISAGREEMENT_PER_POINT * step.max_drop
    promising = sorted((e for e in best.values() if 100 - e.agreement <= limit), key=lambda e: e.candidate.resolution)
    rungs = []
    for entry in promising[:SIZE_RUNGS]:
        candidate = entry.candidate
        steps: list[Step] = [ResolutionStep(input_size=candidate.resolution, crop_fraction=candidate.crop)]
        if int8:
            steps.append(QuantizeStep())
        label = candidate.label() + (", int8" if int8 else "")
        rungs.append(Rung(label, Recipe(label, tuple(steps), f"a smaller input, no training: {step.describe()}")))
    return rungs, scored
