"""Comparing a project's variants: one row of measured numbers each, the Pareto front, recommendations.

Everything here reads the metrics the pipeline stored; nothing is estimated. A number that was
never measured stays None and is shown as missing, never as zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.project import Variant

# A variant is "near-lossless" within this many top-1 points of its root parent.
BALANCE_TOLERANCE_PT = 1.0


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
    retention: float | None  # top-1 as a fraction of the parent's, on the same images
    speedup: float | None  # parent latency / this latency
    input_size: int | None = None  # pixels per side the variant is fed
    dropped: tuple[int, ...] = ()  # blocks removed whole
    search: str | None = None  # a target search's verdict on it: chosen | met


def _get(metrics: dict[str, Any], *keys: str) -> Any:
    value: Any = metrics
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _scaled(value: Any, scale: float) -> float | None:
    return None if value is None else value / scale


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def variant_rows(variants: Sequence[Variant]) -> list[VariantRow]:
    by_id = {v.id: v for v in variants}
    rows = []
    for variant in variants:
        m = variant.metrics
        parent = by_id.get(variant.parent or "")
        parent_m = parent.metrics if parent else {}
        top1, latency = _get(m, "accuracy", "top1"), _get(m, "latency", "median_ms")
        same_images = _get(m, "accuracy", "n") == _get(parent_m, "accuracy", "n")
        ci = _get(m, "accuracy", "top1_ci95")
        rows.append(VariantRow(
            id=variant.id, name=variant.name, parent=variant.parent,
            size_mb=_scaled(m.get("size_bytes"), 1e6), macs_m=_scaled(m.get("macs"), 1e6),
            params_m=_scaled(m.get("params"), 1e6), latency_ms=latency,
            latency_p90_ms=_get(m, "latency", "p90_ms"), latency_cv=_get(m, "latency", "cv"),
            memory_mb=_get(m, "memory", "peak_mb"), top1=top1, top5=_get(m, "accuracy", "top5"),
            top1_ci95=tuple(ci) if ci else None, images=_get(m, "accuracy", "n"),
            retention=_ratio(top1, _get(parent_m, "accuracy", "top1")) if parent and same_images else None,
            speedup=_ratio(_get(parent_m, "latency", "median_ms"), latency) if parent else None,
            input_size=variant.spec.resolution if variant.spec else None,
            dropped=variant.spec.dropped if variant.spec else (), search=_get(m, "search", "verdict"),
        ))  # fmt: skip
    return rows


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
    why: str


def _root_top1(row: VariantRow, by_id: dict[str, VariantRow]) -> float | None:
    while row.parent and row.parent in by_id:
        row = by_id[row.parent]
    return row.top1


def recommend(rows: Sequence[VariantRow]) -> list[Recommendation]:
    """Fastest, smallest, and the best balance: the fastest variant within 1 pt of its original model."""
    out = []
    timed = [r for r in rows if r.latency_ms is not None]
    if timed:
        fastest = min(timed, key=lambda r: r.latency_ms or 0.0)
        out.append(Recommendation("Fastest", fastest, f"{fastest.latency_ms:.1f} ms median on this machine"))
    sized = [r for r in rows if r.size_mb is not None]
    if sized:
        smallest = min(sized, key=lambda r: r.size_mb or 0.0)
        out.append(Recommendation("Smallest", smallest, f"{smallest.size_mb:.2f} MB of weights"))
    by_id = {r.id: r for r in rows}
    near_lossless = []
    for row in timed:
        root = _root_top1(row, by_id)
        if row.top1 is not None and root is not None and root - row.top1 <= BALANCE_TOLERANCE_PT:
            near_lossless.append((row, root - row.top1))
    if near_lossless:
        row, drop = min(near_lossless, key=lambda pair: pair[0].latency_ms or 0.0)
        out.append(Recommendation(
            "Best balance", row,
            f"fastest within {BALANCE_TOLERANCE_PT:g} pt of the original: {row.latency_ms:.1f} ms, "
            f"top-1 {row.top1:.1f}% ({-drop:+.1f} pt, n={row.images})",
        ))  # fmt: skip
    return out


def fps_verdict(fps: float, target_fps: float) -> str:
    return "meets" if fps >= target_fps else f"misses by {target_fps - fps:.0f} FPS"
