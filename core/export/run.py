"""`export_model`: convert a source to each asked format, verify every artifact, write a report.

Every artifact is written under a temporary name beside its final path and renamed into place
only after conversion finished and no cancellation was asked for, so a cancelled or failed export
leaves no half-written file. The output folder is checked for writability before any work.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ExportError, StudioError
from core.export.registry import FORMATS, FP16, INT8, INT8_DYNAMIC, ExportFormat
from core.export.source import ExportSource
from core.export.verify import (
    FLOAT_AGREEMENT,
    INT8_AGREEMENT,
    VerificationImages,
    compare,
    load_images,
    logits,
    top1_percent,
    verify,
)
from core.jobs import Progress, silent
from core.runtime import Predictor, default_threads, seven_bit_int8, torch_predictor, torch_threads
from core.storage import atomic_write_text

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset
    from core.model import LoadedModel

BUNDLES = ("android", "ios")
FALLBACK_VERIFICATION_IMAGES = 64  # calibration images stand in when no evaluation folder is given


@dataclass(frozen=True)
class ExportOptions:
    dynamic_batch: bool = True  # ONNX and .pt2: any batch size (TFLite, ExecuTorch and Core ML use batch 1)
    opset: int | None = None  # ONNX opset; None = the exporter's default
    nhwc: bool = False  # TFLite: channels-last (N×H×W×3) input, as Android camera code produces
    fp16: bool = False  # float sources: fp16 weights in TFLite, fp16 compute in Core ML
    int8_weights: bool = False  # Core ML, float sources: int8 weight compression (float compute)
    reduce_range: bool | None = None  # ONNX int8: 7-bit weights; None = only on CPUs without VNNI
    threads: int = field(default_factory=default_threads)  # conversion and calibration
    latency_runs: int = 30  # timed runs at 1 thread; 0 skips latency

    @property
    def onnx_reduce_range(self) -> bool:
        return seven_bit_int8(self.reduce_range)

    def requantizes(self, fmt: ExportFormat) -> bool:
        """Whether `fmt` re-quantizes an int8 source's float parent (and so needs it and calibration images)."""
        return fmt.requantizes or (fmt.name == "onnx" and self.onnx_reduce_range)


@dataclass
class Artifact:
    """What a converter made: its precision, how to run it, and what it reports."""

    precision: str
    predictor: Callable[[Path], Predictor] | None  # None: no runtime on this machine
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class ExportJob:
    """One export run's shared state: a converter reads its source, options and data here."""

    def __init__(self, source: ExportSource, options: ExportOptions, calib: ImageDataset | None, scratch: Path):
        self.source = source
        self.options = options
        self.calib = calib
        self.scratch = scratch  # a private temporary folder for intermediate files
        self._cache: dict[str, Any] = {}

    @property
    def model(self) -> LoadedModel:
        return self.source.model

    @property
    def input_size(self) -> int:
        return self.model.card.input_size

    def example(self, batch: int = 1) -> Any:
        import torch

        return torch.zeros(batch, 3, self.input_size, self.input_size)

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """Work several formats share (the float parent, a PT2E quantization) is done once per run."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def float_parent(self) -> LoadedModel:
        """The float graph the int8 variant was quantized from, activation-equalized as `quantize` did,
        with the variant's bias correction carried over."""
        from core.compress.quantize import carry_bias_correction, equalized

        def load() -> LoadedModel:
            assert self.calib is not None and self.source.quantize_step is not None
            parent = equalized(self.source.load_float_parent(), self.source.quantize_step, self.calib)
            return carry_bias_correction(parent, self.model)

        return self.cached("float_parent", load)

    def calibration_images(self) -> ImageDataset:
        """The variant's number of calibration images, chosen as `quantize` chose them."""
        assert self.calib is not None and self.source.quantize_step is not None
        return self.calib.subset(self.source.quantize_step.calibration_images, seed=0)

    def float_module(self) -> Any:
        """The float torch module of a float or fp16 source (fp16 weights widened exactly to fp32)."""
        from core.compress.quantize import Fp16Module

        module = self.model.module
        if isinstance(module, Fp16Module):
            return self.cached("widened", lambda: _widened(module.inner))
        return module


def _widened(half: Any) -> Any:
    import copy

    return copy.deepcopy(half).float().eval()


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

    @property
    def verified(self) -> bool:
        return bool(self.verification.get("verified"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "path": self.path, "size_bytes": self.size_bytes, "precision": self.precision,
            "seconds": round(self.seconds, 2), **self.verification, "verified": self.verified,
            "notes": self.notes, "details": self.details,
        }  # fmt: skip


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
                    f"≥ {INT8_AGREEMENT:g}% (int8), measured in the artifact's own runtime",
            "formats": {r.format: r.to_dict() for r in self.results}, "bundles": self.bundles,
            "reports": self.report_paths,
        }  # fmt: skip

    def to_text(self) -> str:
        lines = [f"Export of {self.source['name']} ({self.source['precision']})"]
        images = self.verification_images
        lines.append(f"verified on {images.get('n', 0)} images from {images.get('dataset', '-')}"
                     + (f"; source top-1 {images['source_top1']:.2f}%" if "source_top1" in images else ""))  # fmt: skip
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
            if "agreement_top1_float_parent" in v:
                lines.append(
                    f"    {r.format}: top-1 agreement with the float parent {v['agreement_top1_float_parent']:.1f}%"
                )
            if "error" in v or "reason" in v:
                lines.append(f"    {r.format}: {v.get('error') or v.get('reason')}")
            lines.extend(f"    {r.format}: {note}" for note in r.notes)
        lines.extend(f"bundle: {b}" for b in self.bundles)
        return "\n".join(lines) + "\n"


def check_supported(
    source: ExportSource,
    formats: list[ExportFormat],
    calib: ImageDataset | None,
    options: ExportOptions | None = None,
) -> None:
    """Refuse combinations that cannot work before any work starts; the message names the alternative."""
    if source.model.module is None:
        raise ExportError(
            f"{source.name} is an ONNX file: exporters start from a PyTorch model; export the model or "
            "project variant it was made from"
        )
    precision = source.precision
    for fmt in formats:
        if precision not in fmt.precisions:
            takes = [f.name for f in _formats_taking(precision)]
            why = {
                FP16: "fp16 variants keep fp16 weights only where the format stores them",
                INT8_DYNAMIC: "dynamic int8 quantizes only the Linear layer at run time",
            }.get(precision, f"{fmt.title} cannot hold a {precision} model")
            raise ExportError(
                f"{fmt.title} cannot export {source.name} ({precision}): {why}; use --format "
                f"{','.join(takes) or 'torchscript'}, or export the float parent"
                + (" with --fp16" if precision == FP16 else "")
            )
        if precision == INT8 and (options or ExportOptions()).requantizes(fmt):
            if source.parent_problem:
                raise ExportError(source.parent_problem)
            if source.float_parent is None:
                source.load_float_parent()  # raises with the explanation
            if calib is None:
                raise ExportError(
                    f"{fmt.title} re-quantizes the float parent of {source.name} and needs calibration images "
                    "(--calib DIR); or use --format torchscript, which exports the int8 model as it is"
                )


def _formats_taking(precision: str) -> list[ExportFormat]:
    return [f for f in FORMATS.values() if precision in f.precisions]


def check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise ExportError(f"cannot write exports to {out_dir}: {exc.strerror or exc}; choose another --out") from exc


@contextlib.contextmanager
def staged(target: Path, progress: Progress) -> Iterator[Path]:
    """A temporary path beside `target` (file or folder) that becomes `target` only on success."""
    temp = target.parent / f".partial-{uuid.uuid4().hex[:8]}-{target.name}"
    try:
        yield temp
        progress.check()  # a cancel during the conversion stops here, before anything is in place
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(temp, target)
    finally:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def export_model(
    source: ExportSource,
    formats: list[ExportFormat],
    out_dir: str | Path,
    *,
    options: ExportOptions | None = None,
    calib: ImageDataset | None = None,
    evaluation: ImageDataset | None = None,
    bundle: str | None = None,
    progress: Progress | None = None,
) -> ExportReport:
    """Export `source` to `formats` in `out_dir`, verify each artifact, and save the report beside them."""
    progress = progress or silent()
    options = options or ExportOptions()
    out_dir = Path(out_dir).expanduser()
    formats = _with_bundle_format(formats, bundle)
    if not formats:
        raise ExportError(f"no export format given; choose from {', '.join(FORMATS)}")
    check_supported(source, formats, calib, options)
    check_writable(out_dir)
    progress(0.0, "preparing verification images")
    data, reference = _reference(source, evaluation, calib, progress.span(0.0, 0.05))
    results: list[ExportResult] = []
    width = 0.9 / len(formats)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir) as scratch:
        job = ExportJob(source, options, calib, Path(scratch))
        parent_reference = _float_parent_reference(job, data)
        for index, fmt in enumerate(formats):
            step = progress.span(0.05 + index * width, 0.05 + (index + 1) * width)
            results.append(_export_one(job, fmt, out_dir, data, (reference, parent_reference), step))
    report = ExportReport(_describe(source, options), results, _describe_images(data, reference, parent_reference))
    if bundle:
        from core.export.bundle import write_bundle

        progress(0.96, f"bundling for {bundle}")
        report.bundles.append(str(write_bundle(bundle, report, source, out_dir, progress)))
    _save_report(report, out_dir, source.stem)
    progress(1.0, "exported")
    return report


def _with_bundle_format(formats: list[ExportFormat], bundle: str | None) -> list[ExportFormat]:
    if bundle is None:
        return formats
    if bundle not in BUNDLES:
        raise ExportError(f"unknown bundle {bundle!r}; choose {' or '.join(BUNDLES)}")
    needed = FORMATS["tflite" if bundle == "android" else "coreml"]
    return formats if needed in formats else [*formats, needed]


def _reference(
    source: ExportSource, evaluation: ImageDataset | None, calib: ImageDataset | None, progress: Progress
) -> tuple[VerificationImages | None, Any]:
    """The verification images and the source's logits on them (1 thread, like the artifacts)."""
    dataset = evaluation or (calib.subset(FALLBACK_VERIFICATION_IMAGES, seed=1) if calib else None)
    if dataset is None:
        return None, None
    data = load_images(dataset, source.model.card, progress.span(0.0, 0.5))
    assert source.model.module is not None
    with torch_threads(1):
        reference = logits(torch_predictor(source.model.module), data.images, progress.span(0.5, 1.0))
    return data, reference


def _float_parent_reference(job: ExportJob, data: VerificationImages | None) -> Any:
    """An int8 source's float parent's logits, when the parent is at hand (else None)."""
    source = job.source
    if data is None or source.precision != INT8 or source.float_parent is None or source.parent_problem:
        return None
    module = job.float_parent().module
    assert module is not None
    with torch_threads(1):
        return logits(torch_predictor(module), data.images, silent())


def _export_one(
    job: ExportJob, fmt: ExportFormat, out_dir: Path, data: VerificationImages | None,
    references: tuple[Any, Any], progress: Progress,
) -> ExportResult:  # fmt: skip
    converter = importlib.import_module(fmt.module)
    target = out_dir / f"{job.source.stem}{fmt.suffix}"
    progress(0.0, f"converting to {fmt.title}")
    started = time.perf_counter()
    try:
        with staged(target, progress) as temp, torch_threads(job.options.threads):
            artifact: Artifact = converter.convert(job, fmt, temp, progress.span(0.0, 0.7))
    except StudioError:
        raise
    except Exception as exc:  # a back end's own failure: reported for this format, the others go on
        failure = {"verified": False, "error": f"{fmt.title} conversion failed: {_first_line(exc)}"}
        return ExportResult(fmt.name, "", 0, job.source.precision, time.perf_counter() - started, failure, [], {})
    seconds = time.perf_counter() - started
    verification = _verify(fmt, artifact, target, data, references, job.options, progress.span(0.7, 1.0))
    return ExportResult(fmt.name, str(target), _size(target), artifact.precision, seconds, verification,
                        job.source.notes + artifact.notes, artifact.details)  # fmt: skip


def _verify(
    fmt: ExportFormat, artifact: Artifact, path: Path, data: VerificationImages | None,
    references: tuple[Any, Any], options: ExportOptions, progress: Progress,
) -> dict[str, Any]:  # fmt: skip
    if artifact.predictor is None:
        return {"verified": False, "reason": f"{fmt.runtime} cannot run the model on this machine"}
    if data is None:
        return {"verified": False, "reason": "no images to verify with: give evaluation (--eval) or --calib images"}
    predictor = artifact.predictor
    threshold = INT8_AGREEMENT if INT8 in artifact.precision else FLOAT_AGREEMENT
    progress(0.0, f"verifying {fmt.title}")
    try:
        with torch_threads(1):
            return verify(lambda: predictor(path), references[0], data, threshold, options.latency_runs, progress,
                          float_parent=references[1])  # fmt: skip
    except StudioError:
        raise
    except Exception as exc:  # the runtime refused the artifact: that is the verification's finding
        return {"verified": False, "error": f"{fmt.runtime} could not run the artifact: {_first_line(exc)}"}


def _describe(source: ExportSource, options: ExportOptions) -> dict[str, Any]:
    card = source.model.card
    described: dict[str, Any] = {
        "name": source.name, "precision": source.precision, "spec": str(card.spec or ""), "pruned": card.pruned,
        "input_size": card.input_size, "resize_size": card.resize_size, "num_classes": card.num_classes,
        "mean": list(card.mean), "std": list(card.std), "options": {
            k: getattr(options, k) for k in ("dynamic_batch", "opset", "nhwc", "fp16", "int8_weights", "reduce_range")
        },
    }  # fmt: skip
    if source.quantize_step is not None:
        step = source.quantize_step
        described["calibration"] = {"observer": step.observer, "images": step.calibration_images,
                                    "per_channel": step.per_channel}  # fmt: skip
    return described


def _describe_images(data: VerificationImages | None, reference: Any, parent_reference: Any) -> dict[str, Any]:
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


def _save_report(report: ExportReport, out_dir: Path, stem: str) -> None:
    json_path, text_path = out_dir / f"{stem}.export.json", out_dir / f"{stem}.export.txt"
    report.report_paths = [str(json_path), str(text_path)]
    atomic_write_text(json_path, json.dumps(report.to_dict(), indent=2))
    atomic_write_text(text_path, report.to_text())
