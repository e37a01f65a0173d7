"""The export report: one row per artifact with its verification, as JSON and as text."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.export.job import ExportOptions
from core.export.source import ExportSource
from core.export.verify import (
    FLOAT_AGREEMENT,
    INT8_AGREEMENT,
    REQUANTIZED_SLACK,
    VerificationImages,
    compare,
    top1_percent,
)
from core.metrics.accuracy_text import points_text
from core.storage import atomic_write_text


@dataclass
class ExportResult:
    format: str
    path: str
    size_bytes: int
    precision: str
    seconds: float  # conversion time
    verification: dict[str, Any]
    notes: list[str]
    details: dict[str, Any]
    reused_at: str | None = None  # when the verified file this export reused was made (core.export.reuse)

    @property
    def verified(self) -> bool:
        return bool(self.verification.get("verified"))

    @property
    def reuse_note(self) -> str | None:
        if self.reused_at is None:
            return None
        return f"reused the verified artifact exported at {self.reused_at}; not converted again"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "path": self.path, "size_bytes": self.size_bytes, "precision": self.precision,
            "seconds": round(self.seconds, 2), **self.verification, "verified": self.verified,
            "notes": self.notes, "details": self.details,
        } | ({"reused_at": self.reused_at, "reused": self.reuse_note} if self.reused_at else {})


@dataclass
class ExportReport:
    source: dict[str, Any]
    results: list[ExportResult]
    verification_images: dict[str, Any]
    bundles: list[str] = field(default_factory=list)
    report_paths: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "verification_images": self.verification_images,
            "rule": f"verified: top-1 agreement with the source ≥ {FLOAT_AGREEMENT:g}% (float/fp16) or "
                    f"≥ {INT8_AGREEMENT:g}% (int8), measured in the artifact's own runtime; an int8 artifact "
                    f"re-quantized from the float parent also passes when, against that parent, its agreement and "
                    f"its paired Δtop-1 trail the source's by at most {REQUANTIZED_SLACK:g} pt",
            "formats": {r.format: r.to_dict() for r in self.results}, "bundles": self.bundles,
            "reports": self.report_paths,
        }

    def to_text(self) -> str:
        lines = [f"Export of {self.source['name']} ({self.source['precision']})"]
        names = self.source.get("class_names") or []
        if names:  # a wrong label set is visible before shipping
            lines.append(f"{len(names)} class names: {', '.join(names[:5])}{', …' if len(names) > 5 else ''}")
        images = self.verification_images
        lines.append(f"verified on {images.get('n', 0)} images from {images.get('dataset', '-')}"
                     + (f"; source top-1 {images['source_top1']:.2f}%" if "source_top1" in images else ""))
        if "source_agreement_top1_float_parent" in images:
            agreement = images["source_agreement_top1_float_parent"]
            lines.append(f"the int8 source agrees with its float parent on {agreement:.1f}% of them")
        header = f"{'format':<12}{'precision':<14}{'size MB':>9}{'agree %':>9}{'max |Δ|':>10}{'cosine':>9}"
        lines.append(header + f"{'top-1 %':>9}{'ms':>8}{'conv s':>8}  verified")
        for r in self.results:
            v = r.verification

            def cell(key: str, fmt: str, width: int, v: dict[str, Any] = v) -> str:
                return f"{v[key]:{width}{fmt}}" if v.get(key) is not None else " " * (width - 1) + "-"

            lines.append(
                f"{r.format:<12}{r.precision:<14}{r.size_bytes / 1e6:9.2f}{cell('agreement_top1', '.1f', 9)}"
                f"{cell('max_abs_diff', '.2g', 10)}{cell('cosine', '.4f', 9)}{cell('top1', '.2f', 9)}"
                f"{cell('latency_ms', '.2f', 8)}{r.seconds:8.1f}  {'yes' if r.verified else 'NO'}"
            )
            if v.get("delta_top1_source_ci95"):
                paired = points_text(v["delta_top1_source"], tuple(v["delta_top1_source_ci95"]))
                lines.append(f"    {r.format}: top-1 {paired} against the source, paired on the same images")
            if "agreement_top1_float_parent" in v:
                lines.append(
                    f"    {r.format}: top-1 agreement with the float parent {v['agreement_top1_float_parent']:.1f}%"
                )
            if "verified_as_requantized" in v:
                delta = v.get("delta_top1_float_parent")
                against = "" if delta is None else (
                    f", Δtop-1 against it {delta:+.2f} pt (the source's {v['source_delta_top1_float_parent']:+.2f})")
                lines.append(f"    {r.format}: re-quantized from the float parent{against}: "
                             f"{'passes' if v['verified_as_requantized'] else 'fails'} as a re-quantization")
            if "error" in v or "reason" in v:
                lines.append(f"    {r.format}: {v.get('error') or v.get('reason')}")
            if r.reuse_note:
                lines.append(f"    {r.format}: {r.reuse_note}")
            lines.extend(f"    {r.format}: {note}" for note in r.notes)
        lines.extend(f"bundle: {b}" for b in self.bundles)
        return "\n".join(lines) + "\n"


def describe_source(source: ExportSource, options: ExportOptions) -> dict[str, Any]:
    card = source.model.card
    described: dict[str, Any] = {
        "name": source.name, "precision": str(source.precision), "spec": str(card.spec or ""), "pruned": card.pruned,
        "input_size": card.input_size, "resize_size": card.resize_size, "num_classes": card.num_classes,
        "mean": list(card.mean), "std": list(card.std), "class_names": list(card.class_names), "options": {
            k: getattr(options, k)
            for k in ("dynamic_batch", "opset", "nhwc", "int8_io", "fp16", "int8_weights", "reduce_range")
        },
    }
    if source.quantize_step is not None:
        step = source.quantize_step
        described["calibration"] = {"observer": step.observer, "images": step.calibration_images,
                                    "per_channel": step.per_channel}
    return described


def describe_images(data: VerificationImages | None, reference: Any, parent_reference: Any) -> dict[str, Any]:
    if data is None:
        return {"n": 0}
    described: dict[str, Any] = {"n": len(data), "dataset": data.dataset}
    if data.labels is not None:
        described["source_top1"] = top1_percent(reference, data.labels)
    if parent_reference is not None:
        described["source_agreement_top1_float_parent"] = compare(parent_reference, reference)["agreement_top1"]
        if data.labels is not None:
            described["float_parent_top1"] = top1_percent(parent_reference, data.labels)
    return described


def save_report(report: ExportReport, out_dir: Path, stem: str) -> None:
    json_path, text_path = out_dir / f"{stem}.export.json", out_dir / f"{stem}.export.txt"
    report.report_paths = [str(json_path), str(text_path)]
    atomic_write_text(json_path, json.dumps(report.to_dict(), indent=2))
    atomic_write_text(text_path, report.to_text())
