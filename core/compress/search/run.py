"""The target search: "lose at most X points, as fast (small) as possible" → verified candidates, one stored.

An anytime search that starts with what is nearly free:
1. The zero-shot ladder (core.compress.search.plan): the plain int8 step, then smaller input sizes ranked by a
   cheap proxy (KL and top-1 agreement with the parent on calibration images no fitting step reads).
2. Recovery, with what is left of the budget, and only for candidates that can beat what the ladder holds: the
   scan (core.compress.search.scan) ranks removed blocks, light pruning and their mixes, and the chosen ones
   are distilled from the parent (core.compress.recovery), then quantized where allowed.
3. Every candidate is made in memory by the concrete-recipe executor (core.compress.apply) and verified
   (core.compress.search.verify): paired Δtop-1 on the evaluation images, latency timed in turn with the parent.

The search always holds its best verified candidate: cancel, an exhausted budget or a later failure ends it with
that candidate. The project is written once, at the end: the chosen variant (with its float graph where it is
int8), or, when nothing met the target, the closest candidate, marked missed. The first candidate is verified
whatever the budget, so a search never ends with nothing for want of time.

The search is seeded: its image subsets, views and training order follow the seed. Latency ratios are
measurements, so two runs may rank candidates that lie within the timing noise differently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from core.child_job import ChildFailed
from core.compress.apply import apply_recipe
from core.compress.candidates import FIT_IMAGES, Candidate, Scored
from core.compress.proxy import Proxy
from core.compress.recovery import recovery_step, train_within
from core.compress.search.plan import Rung, int8_rung, size_rungs
from core.compress.search.scan import (
    DISAGREEMENT_PER_POINT_AGGRESSIVE,
    SCAN_SHARE,
    CandidateListener,
    Deadline,
    Scan,
    scan_candidates,
)
from core.compress.search.shipped import FINALISTS, litert_timings
from core.compress.search.verify import CandidateRow, Verdict, Verified, verify
from core.compress.store import store_made
from core.data.datasets import ImageDataset
from core.errors import StudioError
from core.jobs import Cancelled, Progress, silent
from core.metrics.accuracy import evaluate
from core.metrics.accuracy_text import resolution_text
from core.metrics.records import SearchRecord
from core.metrics.stored import StoredAccuracy
from core.model import LoadedModel
from core.precision import FLOAT
from core.project import Project, Variant
from core.recipe import Objective, QuantizeStep, Recipe, Runtime, TargetStep

SCORE_IMAGES = 200  # calibration images held out of every fit: the proxies are computed on them
WORTHWHILE = 0.9  # a structural candidate is worth recovering when it costs at most this share of the parent
BEAT = 0.95  # ... and when its estimate is below this share of the best verified cost


@dataclass
class SearchResult:
    parent: Variant
    chosen: Variant  # stored: the best that met the target, else the closest, marked missed
    chosen_model: LoadedModel
    met: bool
    rows: list[CandidateRow]
    scanned: list[Scored]
    float_graph: Variant | None = None  # the chosen int8 variant's float parent
    float_model: LoadedModel | None = None
    seconds: float = 0.0
    first_answer_seconds: float = 0.0  # until the first candidate was verified
    notes: list[str] = field(default_factory=list)  # why the search ended early, what the images can resolve

    def missed_text(self, step: TargetStep) -> str | None:
        """One plain sentence when the target was missed: by how much, and why."""
        if self.met:
            return None
        row = next(r for r in self.rows if r.verdict == Verdict.MISSED)
        return (f"no candidate met the target ({step.describe()}); the closest, {row.label}, is stored marked "
                f"'missed': {row.reason}")


def search(
    model: LoadedModel,
    step: TargetStep,
    project: Project,
    parent: Variant,
    *,
    calib: ImageDataset,
    train: ImageDataset | None,
    evaluation: ImageDataset,
    threads: int = 1,
    progress: Progress | None = None,
    on_candidate: CandidateListener | None = None,
) -> SearchResult:
    """Search, verify, and store the outcome; the parent must already be stored as `parent`."""
    progress = progress or silent()
    run = _Run(model, step, parent, calib, train, evaluation, threads, on_candidate or (lambda _row: None))
    try:
        run.ladder(progress.span(0.0, 0.5))
        run.recover(progress.span(0.5, 0.85))
        run.time_shipped(progress.span(0.85, 0.98))
    except Cancelled:
        if not run.verified:
            raise
        run.notes.append("cancelled: the best candidate verified until then is kept")
    except (StudioError, RuntimeError, ValueError) as exc:  # a later candidate failed: what was verified stands
        if not run.verified:
            raise
        run.notes.append(f"stopped after a candidate failed ({exc}); the best verified until then is kept")
    result = run.store(project)
    if not progress.token.cancelled:
        progress(1.0, f"chose {result.chosen.name}" if result.met else "no candidate met the target")
    return result


class _Run:
    """One search's state: what it has verified so far, and the time it has left."""

    def __init__(self, model: LoadedModel, step: TargetStep, parent: Variant, calib: ImageDataset,
                 train: ImageDataset | None, evaluation: ImageDataset, threads: int,
                 listen: CandidateListener) -> None:
        self.model, self.step, self.parent, self.calib, self.train = model, step, parent, calib, train
        self.evaluation, self.threads, self.listen = evaluation, threads, listen
        self.started = time.monotonic()
        self.deadline = Deadline(60 * step.budget_minutes)
        ordered = calib.shuffled(step.seed)
        self.score_images = replace(ordered, samples=ordered.samples[:SCORE_IMAGES])
        self.fit = replace(ordered, samples=ordered.samples[SCORE_IMAGES:])
        self.verified: list[Verified] = []
        self.scanned: list[Scored] = []
        self.notes: list[str] = [resolution_text(len(evaluation))]
        self.first_answer = 0.0
        self.reference: Any = None
        self.proxy: Proxy | None = None
        self.int8_pays = step.allows_int8

    def ladder(self, progress: Progress) -> None:
        progress(0.0, "scoring the parent")
        self.reference = evaluate(self.model, self.evaluation, threads=self.threads, progress=progress.span(0.0, 0.15))
        first = int8_rung(self.step)
        if first is not None:
            held = self._verify(first, progress.span(0.15, 0.45))
            # Where int8 is not measurably faster here, smaller inputs are tried in float when float is allowed.
            self.int8_pays = held.shortfall is None
        int8 = self.int8_pays or FLOAT not in self.step.allowed
        self.proxy = Proxy(self.model, self.score_images, progress.span(0.45, 0.47))
        rungs, scored = size_rungs(self.model, self.step, self.proxy, self.fit, int8, self.deadline,
                                   progress.span(0.47, 0.55), self.listen)
        self.scanned += scored
        for number, rung in enumerate(rungs):
            if self.verified and self.deadline.left() < self._verification_seconds():
                self.notes.append("the budget ran out during the input-size ladder")
                return
            held = self._verify(rung, progress.span(0.55 + 0.45 * number / len(rungs),
                                                     0.55 + 0.45 * (number + 1) / len(rungs)))
            if held.meets:
                return  # larger sizes are slower: the walk stops at the first that meets the target

    def recover(self, progress: Progress) -> None:
        """Distilled structural candidates, with the time left, where they can beat what is held."""
        if not self.step.candidates or self.deadline.left() < 3 * self._verification_seconds():
            return
        assert self.proxy is not None
        scan_deadline = Deadline(min(self.deadline.left() / 2, SCAN_SHARE * 60 * self.step.budget_minutes))
        scan = scan_candidates(self.model, self.step, self.proxy, self.fit, self.threads, scan_deadline,
                               progress.span(0.0, 0.3), self.listen)
        self.scanned += scan.entries
        chosen = _choose(self.step, scan, self._relative(self._best_cost()), self._int8_factor())
        teacher_seconds = self.proxy.score(self.model).seconds_per_image
        for number, candidate in enumerate(chosen):
            verification = self._verification_seconds()
            if self.deadline.left() < 2 * verification:
                self.notes.append("the budget ran out before every recovery candidate was verified")
                return
            seconds = (self.deadline.left() - verification * (len(chosen) - number)) / (len(chosen) - number)
            share = progress.span(0.3 + 0.7 * number / len(chosen), 0.3 + 0.7 * (number + 1) / len(chosen))
            recipe = self._recovery_recipe(candidate, seconds)
            self._verify(Rung(recipe.name, recipe), share,
                         train=train_within(self.train, seconds, teacher_seconds, self.step.seed))

    def time_shipped(self, progress: Progress) -> None:
        """Where the target names LiteRT: the best few that met it on the proxy, timed in LiteRT against the parent;
        their LiteRT figures decide, and one not measurably faster there no longer meets the target."""
        if self.step.runtime is not Runtime.LITERT or self.step.objective is not Objective.LATENCY:
            return
        finalists = sorted((h for h in self.verified if h.meets), key=lambda h: h.cost)[:FINALISTS]
        if not finalists:
            return
        try:
            timings = litert_timings(self.model, finalists, self.calib, self.threads, self.step.seed, progress)
        except (StudioError, RuntimeError, ChildFailed) as exc:  # the proxy's figures stand, and the note says so
            self.notes.append(f"LiteRT could not time the finalists ({exc}); chosen on ONNX Runtime's figures")
            return
        for held in (h for h in self.verified if h.meets and h not in finalists):
            held.meets, held.row.verdict = False, Verdict.REJECTED
            held.row.reason += "; not among the finalists timed in LiteRT"
        for held, timing in zip(finalists, timings, strict=True):
            timed = replace(timing, against=self.parent.id)
            held.metrics = held.metrics.updated(paired_latency={Runtime.LITERT: timed})
            held.row.latency_ratio, held.row.latency_ratio_ci95 = round(timing.ratio, 4), timing.ratio_ci95
            held.row.runtime, held.cost = Runtime.LITERT, timing.ratio
            if timing.ratio_ci95[1] >= 1.0:
                held.meets, held.row.verdict = False, Verdict.REJECTED
                held.row.reason += f"; but it is not measurably faster in LiteRT on this computer ({timing.text()})"

    def _recovery_recipe(self, candidate: Candidate, seconds: float) -> Recipe:
        steps = list(candidate.steps(self.model, FIT_IMAGES))
        if self.train is not None and seconds >= 15:
            steps.append(recovery_step(seconds / 60))
        label = candidate.label()
        if self.int8_pays:
            steps.append(QuantizeStep())
            label += ", int8"
        return Recipe(label, tuple(steps), f"found by a target search: {self.step.describe()}")

    def _verify(self, rung: Rung, progress: Progress, train: ImageDataset | None = None) -> Verified:
        applied = apply_recipe(self.model, rung.recipe, calib=self.calib, train=train or self.train,
                               progress=progress.span(0.0, 0.5))
        held = verify(applied, rung.recipe, rung.label, self.step, self.model, self.parent.id, self.parent.metrics,
                      self.reference, self.evaluation, self.threads, progress.span(0.5, 1.0))
        held.row.seconds = round(time.monotonic() - self.started, 1)
        if not self.verified:
            self.first_answer = held.row.seconds
        self.verified.append(held)
        self.listen({"stage": "verified", **held.row.to_dict()})
        return held

    def _verification_seconds(self) -> float:
        """How long the slowest candidate so far took to make and verify: what another one needs."""
        times = [held.row.seconds or 0.0 for held in self.verified]
        steps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
        return max(steps, default=60.0)

    def _best_cost(self) -> float:
        return min((held.cost for held in self.verified if held.meets), default=float("inf"))

    def _int8_factor(self) -> float:
        """What int8 did to the parent's cost, as a share (1 where int8 is not used)."""
        first = self.verified[0] if self.verified and self.int8_pays and self.step.allows_int8 else None
        return self._relative(first.cost) if first is not None else 1.0

    def _relative(self, cost: float) -> float:
        """A verified cost as a share of the parent's (latency is already a ratio)."""
        return cost / float(self.step.objective.measured(self.parent.metrics) or 1.0)

    def store(self, project: Project) -> SearchResult:
        """Write the project once: the best candidate that met the target, else the closest, marked missed."""
        met = [held for held in self.verified if held.meets]
        # Nothing met: the closest is one that improves on the parent by the objective if any does, then the
        # smallest loss.
        best = min(met, key=lambda held: held.cost) if met else max(self.verified, key=lambda held: (
            held.shortfall is None, held.row.delta_top1 if held.row.delta_top1 is not None else -1e9))
        best.row.verdict = Verdict.CHOSEN if met else Verdict.MISSED
        project.update_metrics(self.parent.id, accuracy=StoredAccuracy.of(self.reference))
        metrics = replace(best.metrics, search=_search_record(best.row, self.step, self.notes))
        name = f"{self.model.card.title} · {best.row.label}"
        variant, float_graph = store_made(project, self.parent, best.applied, best.recipe, name, metrics,
                                          best.float_metrics)
        best.row.variant = variant.id
        return SearchResult(
            project.variant(self.parent.id), variant, best.applied.model, bool(met), [h.row for h in self.verified],
            self.scanned, float_graph, best.applied.float_model, time.monotonic() - self.started, self.first_answer,
            self.notes,
        )


def check_feasible(calib: ImageDataset, evaluation: ImageDataset) -> None:
    """Fail before any work when the data cannot support a search. The budget is never refused here: the first
    candidate is verified whatever the budget (the studio's form says what a useful budget is on this computer)."""
    if len(calib) < SCORE_IMAGES + 32:
        raise StudioError(f"a target search needs at least {SCORE_IMAGES + 32} calibration images (--calib); "
                          f"{calib.root} has {len(calib)}")
    if not evaluation.labeled:
        raise StudioError(f"{evaluation.root} has no labels: a target is verified on labelled images (--eval)")


def _choose(step: TargetStep, scan: Scan, best: float, int8: float) -> list[Candidate]:
    """What to recover, in order: the candidate closest to the parent among those that save at least `WORTHWHILE`
    (safe); then the best by the objective that the proxies allow (aggressive), and so on up to `step.candidates`.
    Only those whose estimate (the scan's float figure times `int8`, what int8 did to the parent) beats `best`, the
    best verified candidate (both as shares of the parent). The likeliest go first, so an early end most likely
    kept a good one."""
    measured = [s for s in scan.entries if s.latency_ratio is not None or step.objective is not Objective.LATENCY]

    def cost(entry: Scored) -> float:
        # The scan's proxy of the file's size is the parameter count, which the file follows.
        return {Objective.LATENCY: entry.latency_ratio or 1.0, Objective.MACS: float(entry.macs),
                Objective.SIZE: float(entry.params)}[step.objective]

    parent = cost(scan.parent)
    worthwhile = [s for s in measured if cost(s) <= WORTHWHILE * parent and cost(s) / parent * int8 < BEAT * best]
    limit = scan.instability + DISAGREEMENT_PER_POINT_AGGRESSIVE * step.max_drop
    aggressive = sorted((s for s in worthwhile if 100 - s.agreement <= limit), key=cost)
    safe = sorted(worthwhile, key=lambda s: -s.agreement)
    picks: list[Candidate] = []
    for ranked in (safe, aggressive, safe[1:], aggressive[1:]):
        fresh = [s.candidate for s in ranked if s.candidate not in picks]
        if fresh and len(picks) < step.candidates:
            picks.append(fresh[0])
    return picks


def _search_record(row: CandidateRow, step: TargetStep, notes: list[str]) -> SearchRecord:
    return SearchRecord(row.verdict, row.reason, row.confirmed, step.describe(), step.max_drop, step.objective,
                        step.runtime, tuple(notes))
