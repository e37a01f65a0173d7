"""`export_model`: convert a source to each asked format, verify every artifact, write a report.

Every artifact is written under a temporary name beside its final path and renamed into place
only after conversion finished and no cancellation was asked for, so a cancelled or failed export
leaves no half-written file. The output folder is checked for writability before any work. A file
an earlier export made and verified there, identical in every respect, is reused (core.export.reuse).
"""

from __future__ import annotations

import dataclasses
import importlib
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ExportError, StudioError, first_line
from core.export.bundle import AppBundle, write_bundle
from core.export.checks import check_supported, check_writable
from core.export.console import stdout_to_stderr
from core.export.job import Artifact, ExportJob, ExportOptions
from core.export.registry import FORMATS, ExportFormat
from core.export.report import ExportReport, ExportResult, describe_images, describe_source, save_report
from core.export.reuse import ArtifactIndex
from core.export.source import ExportSource
from core.export.staging import artifact_size, staged
from core.export.verify import VerificationImages
from core.export.verifying import float_parent_logits, verification_images, verify_artifact
from core.jobs import Progress, silent
from core.metrics.size import state_dict_bytes
from core.precision import artifact_precision
from core.runtime import torch_threads
from core.storage import check_free_space, disk_full_cause, storage_error

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset

def export_model(
    source: ExportSource,
    formats: list[ExportFormat],
    out_dir: str | Path,
    *,
    options: ExportOptions | None = None,
    calib: ImageDataset | None = None,
    evaluation: ImageDataset | None = None,
    bundle: AppBundle | None = None,
    progress: Progress | None = None,
) -> ExportReport:
    """Export `source` to `formats` in `out_dir`, verify each artifact, and save the report beside them."""
    progress = progress or silent()
    options = (options or ExportOptions()).decided(bundle)
    out_dir = Path(out_dir).expanduser()
    formats = with_bundle_format(formats, bundle)
    if not formats:
        raise ExportError(f"no export format given; choose from {', '.join(FORMATS)}")
    check_supported(source, formats, calib, options)
    check_writable(out_dir)
    # Every artifact holds about the source's weights (a float parent's, when it is re-quantized).
    assert source.model.module is not None  # check_supported refused module-less sources
    check_free_space(out_dir, len(formats) * state_dict_bytes(source.model.module), f"{len(formats)} export(s)")
    progress(0.0, "preparing verification images")
    data, reference = verification_images(source, evaluation, calib, progress.span(0.0, 0.05))
    results: list[ExportResult] = []
    width = 0.9 / len(formats)
    made = ArtifactIndex(out_dir, data, options.latency_runs)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir) as scratch:
        job = ExportJob(source, options, calib, Path(scratch))
        parent_reference = float_parent_logits(job, data)
        for index, fmt in enumerate(formats):
            step = progress.span(0.05 + index * width, 0.05 + (index + 1) * width)
            results.append(_export_one(job, fmt, out_dir, data, (reference, parent_reference), made, step))
    report = ExportReport(describe_source(source, options), results, describe_images(data, reference, parent_reference))
    if bundle:
        return add_bundle(bundle, report, source, out_dir, progress.span(0.96, 1.0))
    save_report(report, out_dir, source.stem)
    progress(1.0, "exported")
    return report


def add_bundle(kind: AppBundle, report: ExportReport, source: ExportSource, out_dir: Path, progress: Progress
               ) -> ExportReport:
    """Zip an app bundle from an export's artifact, list it in the report and save the report again."""
    progress(0.0, f"bundling for {kind}")
    report.bundles.append(str(write_bundle(kind, report, source, out_dir, progress)))
    save_report(report, out_dir, source.stem)
    progress(1.0, "exported")
    return report


def bundle_problem(kind: AppBundle, report: ExportReport) -> str | None:
    """Why the artifact a `kind` bundle would hold is not verified, in one line; None when it is."""
    fmt = kind.format_name
    result = kind.result_in(report)
    if result is None or not result.path:
        return f"the {FORMATS[fmt].title} export failed" + (f": {result.verification['error']}" if result else "")
    if result.verified:
        return None
    why = result.verification.get("reason") or result.verification.get("error") or (
        f"it agrees with the source on {result.verification.get('agreement_top1', 0):.1f}% of the images")
    return f"the {FORMATS[fmt].title} model was not verified: {why}"


def with_bundle_format(formats: list[ExportFormat], bundle: AppBundle | None) -> list[ExportFormat]:
    """`formats` with the one a `bundle` needs added."""
    if bundle is None:
        return formats
    needed = FORMATS[bundle.format_name]
    return formats if needed in formats else [*formats, needed]


def _export_one(
    job: ExportJob, fmt: ExportFormat, out_dir: Path, data: VerificationImages | None,
    references: tuple[Any, Any], made: ArtifactIndex, progress: Progress,
) -> ExportResult:
    converter = importlib.import_module(fmt.module)
    target = out_dir / f"{job.source.stem}{fmt.suffix}"
    key = made.key(job, fmt, target)
    reused = made.find(key, target)
    if reused is not None and fmt.reload:
        # The index lives in a folder others can write: the file is verified again (a second or so), never
        # trusted on the index's word; a file that fails is converted again.
        progress(0.0, f"{fmt.title}: checking the verified file from {reused.reused_at} again")
        again = Artifact(artifact_precision(reused.precision), fmt.predictor)
        verification = verify_artifact(fmt, again, target, data, references, job.options, progress)
        if verification.get("verified") is True:
            progress(1.0, f"{fmt.title}: the verified file from {reused.reused_at} is reused")
            return dataclasses.replace(reused, verification=verification)
    progress(0.0, f"converting to {fmt.title}")
    started = time.perf_counter()
    try:
        # Converters print progress lines: --json keeps standard output for its one object.
        with staged(target, progress) as temp, torch_threads(job.options.threads), stdout_to_stderr():
            artifact: Artifact = converter.convert(job, fmt, temp, progress.span(0.0, 0.7))
    except StudioError:
        raise
    except Exception as exc:  # a back end's own failure: reported for this format, the others go on
        full = disk_full_cause(exc)
        if full is not None:  # no other format would fit either: stop, and say which disk
            raise storage_error(full, out_dir) from exc
        failure = {"verified": False, "error": f"{fmt.title} conversion failed: {first_line(exc)}"}
        return ExportResult(fmt.name, "", 0, str(job.source.precision), time.perf_counter() - started, failure, [], {})
    seconds = time.perf_counter() - started
    verification = verify_artifact(fmt, artifact, target, data, references, job.options, progress.span(0.7, 1.0))
    result = ExportResult(fmt.name, str(target), artifact_size(target), str(artifact.precision), seconds,
                          verification, job.source.notes + artifact.notes, artifact.details)
    made.record(key, result)
    return result
