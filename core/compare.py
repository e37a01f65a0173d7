"""Comparing a project's variants: one row of measured numbers each, the Pareto front, recommendations.

Everything here reads the metrics the pipeline stored; nothing is estimated. A number that was
never measured stays None and is shown as missing, never as zero. Comparisons are paired with the original
model of each lineage: accuracy on the same images (Δtop-1 with its interval), latency timed in turn in one
session (a ratio with its interval); a variant never measured so has no paired figure, not a made-up one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from core.metrics.accuracy import hits_from_text
from core.metrics.accuracy_text import TargetCheck, delta_text, top1_text
from core.metrics.paired import PairedAccuracy, paired_accuracy
from core.metrics.speed_text import HEADLINE_RUNTIME, PairedSpeed, speed_headline
from core.metrics.stored import VariantMetrics
from core.project import Variant
from core.recipe_target import Verdict
from core.runtimes import Runtime

DEFAULT_MAX_DROP = 1.0  # points of top-1 a recommendation may lose against the original, unless the user says
COLLAPSED_DROP = 5.0  # points: a variant that lost more than this is drawn as a warning, whatever the target
WEAK_EVIDENCE_IMAGES = 500  # fewer paired images than this, and a recommendation asks for more


@dataclass(frozen=True)
class VariantRow:
    id: str
    name: str
    parent: str | None
    size_mb: float | None
    macs_m: float | None
    params_m: float | None
    latency_ms: float | None
    latency_p90_ms: float | None
    latency_cv: float | None
    memory_mb: float | None
    top1: float | None
    top5: float | None
    top1_ci95: tuple[float, float] | None
    images: int | None
    accuracy_source: str = ""  # which images top-1 was measured on, and the runtime when it is not PyTorch
    input_size: int | None = None  # pixels per side the variant is fed
    dropped: tuple[int, ...] = ()  # blocks removed whole
    search: Verdict | None = None  # a target search's verdict on it
    # Paired with the original model of its lineage (`against`), on the same images and in one timing session.
    against: str | None = None
    delta_top1: float | None = None
    delta_top1_ci95: tuple[float, float] | None = None
    agreement: float | None = None
    paired_n: int | None = None
    latency_ratio: float | None = None  # this variant's median time over the original's, timed in turn
    latency_ratio_ci95: tuple[float, float] | None = None
    latency_noisy: bool = False
    latency_runtime: str = "torch"
    headline_speed: PairedSpeed | None = None  # timed in LiteRT against the original, whatever runtime is chosen
    nonfinite: bool = False
    fps_by_resolution: tuple[tuple[int, float], ...] = ()  # (pixels per side, frames per second), smallest first

    @property
    def is_original(self) -> bool:
        return self.against == self.id

    def delta_text(self) -> str:
        """"−0.3 pt [−0.9, +0.2], 1300 images" (or why there is no paired figure)."""
        if self.delta_top1 is None or self.delta_top1_ci95 is None or self.paired_n is None:
            return "–"
        if self.is_original:
            return "original"
        return delta_text(self.delta_top1, self.delta_top1_ci95, self.paired_n)

    def top1_text(self) -> str:
        """"80.4 % (±3.5, 500 images)"."""
        return "–" if self.top1 is None else top1_text(self.top1, self.top1_ci95, self.images, self.accuracy_source)

    @property
    def speed(self) -> PairedSpeed | None:
        """The latency ratio in `latency_runtime`, with its interval, where it was timed."""
        if self.latency_ratio is None or self.latency_ratio_ci95 is None:
            return None
        return PairedSpeed(self.latency_ratio, self.latency_ratio_ci95, self.latency_noisy)

    def speed_headline(self) -> str:
        """The one headline figure for speed: LiteRT on this computer, paired with the original."""
        return speed_headline(self.headline_speed, self.is_original)

    def ratio_text(self) -> str:
        if self.latency_ratio is None or self.latency_ratio_ci95 is None:
            return "–"
        if self.is_original:
            return "1×"
        low, high = self.latency_ratio_ci95
        return f"{self.latency_ratio:.2f}× [{low:.2f}, {high:.2f}]" + (" noisy" if self.latency_noisy else "")


def _scaled(value: Any, scale: float) -> float | None:
    return None if value is None else value / scale


def root_of(variant: Variant, by_id: dict[str, Variant]) -> Variant:
    """The original model of a variant's lineage (itself when it has no stored parent)."""
    seen = {variant.id}
    while variant.parent and variant.parent in by_id and variant.parent not in seen:
        variant = by_id[variant.parent]
        seen.add(variant.id)
    return variant


def shown_root(variants: Sequence[Variant], chosen: str | None, current: str | None) -> str | None:
    """The original whose lineage is shown: the one `chosen` ("" for every model), else that of the `current`
    model's stored variant; None for every model."""
    if chosen is not None:
        return chosen or None
    by_id = {v.id: v for v in variants}
    return root_of(by_id[current], by_id).id if current in by_id else None


def in_lineage(rows: Sequence[VariantRow], root: str | None) -> list[VariantRow]:
    """The rows of `root`'s lineage (all of them for None)."""
    return [row for row in rows if root is None or root in (row.id, row.against)]


@lru_cache(maxsize=256)
def _paired_from_strings(hits: str, reference_hits: str, predicted: tuple[int, ...],
                         reference_predicted: tuple[int, ...]) -> PairedAccuracy:
    """Bootstraps are cached: the rows are rebuilt after every job, on the GUI thread."""
    import numpy as np

    return paired_accuracy(hits_from_text(hits), hits_from_text(reference_hits), np.asarray(predicted),
                           np.asarray(reference_predicted))


def paired_with_original(variant: Variant, original: Variant) -> PairedAccuracy | None:
    """Δtop-1 of `variant` against `original`: stored by the run that measured both, else computed from their
    per-image answers when both were scored on the same images; None when they never were."""
    return _paired(variant.metrics, original.metrics, original.id)


def _paired(mine: VariantMetrics, theirs: VariantMetrics, original_id: str) -> PairedAccuracy | None:
    stored = mine.paired_accuracy
    if stored is not None and stored.against == original_id:
        return stored
    a, b = mine.accuracy, theirs.accuracy
    if a is None or b is None or not a.per_image or not b.per_image or a.images_id != b.images_id:
        return None
    return _paired_from_strings(a.hits, b.hits, a.predicted, b.predicted)


def _paired_speed(metrics: VariantMetrics, is_original: bool, original_id: str, runtime: str) -> PairedSpeed | None:
    """A latency ratio against the original in `runtime` (1× for the original itself), when it was timed so."""
    if is_original:
        return PairedSpeed(1.0, (1.0, 1.0))
    timed = metrics.paired_latency.get(Runtime(runtime))
    if timed is None or timed.against != original_id:
        return None
    return PairedSpeed(timed.ratio, timed.ratio_ci95, timed.noisy)


def variant_rows(variants: Sequence[Variant], runtime: str = "torch") -> list[VariantRow]:
    """One row per variant; paired figures against the original of its lineage, latency in `runtime`."""
    by_id = {v.id: v for v in variants}
    rows = []
    for variant in variants:
        m, original = variant.metrics, root_of(variant, by_id)
        accuracy, is_original = m.accuracy, original is variant
        accuracy_n = accuracy.n if accuracy is not None else None
        paired = PairedAccuracy(0.0, (0.0, 0.0), 100.0, accuracy_n) if is_original and accuracy_n else (
            _paired(m, original.metrics, original.id))
        speed = _paired_speed(m, is_original, original.id, runtime)
        ratio, ratio_ci, noisy = (speed.ratio, speed.ci95, speed.noisy) if speed else (None, None, False)
        rows.append(VariantRow(
            id=variant.id, name=variant.name, parent=variant.parent,
            size_mb=_scaled(m.size_bytes, 1e6), macs_m=_scaled(m.macs, 1e6), params_m=_scaled(m.params, 1e6),
            latency_ms=m.latency_ms, latency_p90_ms=m.latency.p90_ms if m.latency else None,
            latency_cv=m.latency.cv if m.latency else None, memory_mb=m.memory_mb,
            top1=accuracy.top1 if accuracy else None, top5=accuracy.top5 if accuracy else None,
            top1_ci95=accuracy.top1_ci95 if accuracy else None, images=accuracy_n,
            accuracy_source=accuracy.source if accuracy else "",
            input_size=variant.spec.resolution if variant.spec else None,
            dropped=variant.spec.dropped if variant.spec else (), search=m.search_verdict, against=original.id,
            delta_top1=paired.delta_top1 if paired else None,
            delta_top1_ci95=paired.delta_top1_ci95 if paired else None,
            agreement=paired.agreement if paired else None, paired_n=paired.n if paired else None,
            latency_ratio=ratio, latency_ratio_ci95=ratio_ci, latency_noisy=noisy, latency_runtime=runtime,
            headline_speed=_paired_speed(m, is_original, original.id, HEADLINE_RUNTIME),
            nonfinite=accuracy.nonfinite if accuracy else False, fps_by_resolution=m.fps_by_resolution,
        ))
    return rows


def collapsed(row: VariantRow, max_drop: float = DEFAULT_MAX_DROP) -> str | None:
    """Why a variant's accuracy collapsed (drawn in a warning colour, never recommended), or None."""
    if row.nonfinite:
        return "its outputs are not finite (NaN/Inf)"
    if row.delta_top1 is None or row.delta_top1_ci95 is None:
        return None
    if row.delta_top1_ci95[1] < -max_drop:
        return f"its whole interval lies below −{max_drop:g} pt ({row.delta_text()})"
    if row.delta_top1 < -COLLAPSED_DROP:
        return f"it lost more than {COLLAPSED_DROP:g} pt ({row.delta_text()})"
    return None


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: lower cost (x) and higher accuracy (y)."""
    front = []
    for i, (cost, accuracy) in enumerate(points):
        dominated = any(
            c <= cost and a >= accuracy and (c < cost or a > accuracy) for j, (c, a) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


@dataclass(frozen=True)
class Recommendation:
    title: str
    row: VariantRow
    why: str  # the evidence: paired Δ with n and interval, the latency ratio with its runtime
    weak: bool = False  # the evidence is thin (few images, a noisy or unpaired timing): re-measure


@dataclass(frozen=True)
class Recommendations:
    picks: list[Recommendation]
    excluded: list[tuple[VariantRow, str]]  # variants never recommended, and why
    original: VariantRow | None
    max_drop: float

    def titles(self) -> dict[str, str]:
        return {pick.title: pick.row.id for pick in self.picks}


def _evidence(row: VariantRow, with_latency: bool, max_drop: float) -> tuple[str, bool]:
    accuracy = "the original itself" if row.is_original else f"Δtop-1 {_check(row, max_drop).words()}"
    weak = (row.paired_n or 0) < WEAK_EVIDENCE_IMAGES
    if not with_latency:
        return accuracy, weak
    timing = f"{row.ratio_text()} the original's latency in {row.latency_runtime}"
    return f"{timing}; {accuracy}", weak or row.latency_noisy


def _check(row: VariantRow, max_drop: float) -> TargetCheck:
    return TargetCheck(row.delta_top1 or 0.0, row.delta_top1_ci95 or (0.0, 0.0), row.paired_n or 0, max_drop)


def recommend(rows: Sequence[VariantRow], max_drop: float = DEFAULT_MAX_DROP, original: str | None = None
              ) -> Recommendations:
    """Fastest, smallest and best balance among the variants of one original (`original`, else the one with
    the most variants) that lost at most `max_drop` points against it, paired on the same images. A variant
    with no paired accuracy, or that missed the target or collapsed, is never recommended: it is listed in
    `excluded` with the reason. Best balance: the fastest whose whole interval lies within the target (confirmed)."""
    if not rows:
        return Recommendations([], [], None, max_drop)
    by_id = {r.id: r for r in rows}
    originals = [r.against for r in rows if r.against]
    root_id = original if original in by_id else max(set(originals), key=originals.count, default=None)
    family = [r for r in rows if r.against == root_id]
    within: list[VariantRow] = []
    excluded: list[tuple[VariantRow, str]] = []
    for row in family:
        reason = collapsed(row, max_drop)
        if reason is None and row.delta_top1 is None:
            reason = "its accuracy was not measured" + ("" if row.is_original else " on the original's images") + (
                " (Re-measure all, with labelled evaluation images open)")
        elif reason is None and row.delta_top1 is not None and row.delta_top1 < -max_drop:
            reason = f"it misses the {max_drop:g} pt target ({row.delta_text()})"
        if reason is None:
            within.append(row)
        else:
            excluded.append((row, reason))
    picks: list[Recommendation] = []
    timed = [r for r in within if r.latency_ratio is not None]
    if timed:
        fastest = min(timed, key=lambda r: r.latency_ratio or 0.0)
        why, weak = _evidence(fastest, with_latency=True, max_drop=max_drop)
        picks.append(Recommendation("Fastest", fastest, why, weak))
    sized = [r for r in within if r.size_mb is not None]
    if sized:
        smallest = min(sized, key=lambda r: r.size_mb or 0.0)
        why, weak = _evidence(smallest, with_latency=False, max_drop=max_drop)
        picks.append(Recommendation("Smallest", smallest, f"{smallest.size_mb:.2f} MB; {why}", weak))
    confirmed = [r for r in timed if r.is_original or (r.delta_top1 is not None and _check(r, max_drop).confirmed)]
    if confirmed:
        balance = min(confirmed, key=lambda r: r.latency_ratio or 0.0)
        why, weak = _evidence(balance, with_latency=True, max_drop=max_drop)
        picks.append(Recommendation("Best balance", balance, f"the fastest whose whole interval lies within the "
                                                              f"{max_drop:g}-pt target: {why}", weak))
    return Recommendations(picks, excluded, by_id.get(root_id or ""), max_drop)


def fps_verdict(fps: float, target_fps: float) -> str:
    return "meets" if fps >= target_fps else f"misses by {target_fps - fps:.0f} FPS"
