"""`export_model`: convert a source to each asked format, verify every artifact, write a report.

Every artifact is written under a temporary name beside its final path and renamed into place
only after conversion finished and no cancellation was asked for, so a cancelled or failed export
leaves no half-written file. The output folder is checked for writability before any work.
"""

from __future__ import annotations

import importlib
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ExportError, StudioError
from core.export.checks import check_supported, check_writable
from core.export.job import Artifact, ExportJob, ExportOptions
from core.export.registry import FORMATS, ExportFormat
from core.export.report import ExportReport, ExportResult, describe_images, describe_source, save_report
from core.export.source import ExportSource
from core.export.staging import artifact_size, staged
from core.export.verify import FLOAT_AGREEMENT, INT8_AGREEMENT, VerificationImages, load_images, logits, verify
from core.jobs import Progress, silent
from core.metrics.size import state_dict_bytes
from core.precision import Int8Static
from core.runtime import torch_predictor, torch_threads
from core.storage import check_free_space, disk_full_cause, storage_error

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset

BUNDLES = ("android", "ios")
FALLBACK_VERIFICATION_IMAGES = 64  # calibration images stand in when no evaluation folder is given


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
    # Every artifact holds about the source's weights (a float parent's, when it is re-quantized).
    assert source.model.module is not None  # check_supported refused module-less sources
    check_free_space(out_dir, len(formats) * state_dict_bytes(source.model.module), f"{len(formats)} export(s)")
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
    report = ExportReport(describe_source(source, options), results, describe_images(data, reference, parent_reference))
    if bundle:
        from core.export.bundle import write_bundle

        progress(0.96, f"bundling for {bundle}")
        report.bundles.append(str(write_bundle(bundle, report, source, out_dir, progress)))
    save_report(report, out_dir, source.stem)
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
    requantizable = isinstance(source.precision, Int8Static) and source.float_parent and not source.parent_problem
    if data is None or not requantizable:
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
        full = disk_full_cause(exc)
        if full is not None:  # no other format would fit either: stop, and say which disk
            raise storage_error(full, out_dir) from exc
        failure = {"verified": False, "error": f"{fmt.title} conversion failed: {_first_line(exc)}"}
        return ExportResult(fmt.name, "", 0, str(job.source.precision), time.perf_counter() - started, failure, [], {})
    seconds = time.perf_counter() - started
    verification = _verify(fmt, artifact, target, data, references, job.options, progress.span(0.7, 1.0))
    return ExportResult(fmt.name, str(target), artifact_size(target), str(artifact.precision), seconds, verification,
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
    threshold = INT8_AGREEMENT if artifact.precision.int8 else FLOAT_AGREEMENT
    progress(0.0, f"verifying {fmt.title}")
    try:
        with torch_threads(1):
            return verify(lambda: predictor(path), references[0], data, threshold, options.latency_runs, progress,
                          float_parent=references[1], requantized=options.requantizes(fmt))  # fmt: skip
    except StudioError:
        raise
    except Exception as exc:  # the runtime refused the artifact: that is the verification's finding
        return {"verified": False, "error": f"{fmt.runtime} could not run the artifact: {_first_line(exc)}"}
