"""Verifying what an export made: the verification images and the source's (and an int8 source's float
parent's) logits on them, computed once per export, and each artifact run in its own runtime against them
(the rule is core.export.verify's)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import StudioError, first_line
from core.export.job import Artifact, ExportJob, ExportOptions
from core.export.registry import ExportFormat
from core.export.source import ExportSource
from core.export.verify import FLOAT_AGREEMENT, INT8_AGREEMENT, VerificationImages, load_images, logits, verify
from core.jobs import Progress, silent
from core.precision import Int8Static
from core.runtime import torch_predictor, torch_threads

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset

FALLBACK_VERIFICATION_IMAGES = 64  # calibration images stand in when no evaluation folder is given


def verification_images(
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


def float_parent_logits(job: ExportJob, data: VerificationImages | None) -> Any:
    """An int8 source's float parent's logits, when the parent is at hand (else None). Without calibration images
    there is none: the parent stands in for the float graph only equalized on them as `quantize` did."""
    source = job.source
    requantizable = isinstance(source.precision, Int8Static) and source.float_parent and not source.parent_problem
    if data is None or not requantizable or job.calib is None:
        return None
    module = job.float_parent().module
    assert module is not None
    with torch_threads(1):
        return logits(torch_predictor(module), data.images, silent())


def verify_artifact(
    fmt: ExportFormat, artifact: Artifact, path: Path, data: VerificationImages | None,
    references: tuple[Any, Any], options: ExportOptions, progress: Progress,
) -> dict[str, Any]:
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
                          float_parent=references[1], requantized=options.requantizes(fmt))
    except StudioError:
        raise
    except Exception as exc:  # the runtime refused the artifact: that is the verification's finding
        return {"verified": False, "error": f"{fmt.runtime} could not run the artifact: {first_line(exc)}"}
