"""The `resolution` step: the same network fed smaller images (the seeds' own knob, ρ).

It changes what the model is fed, not its weights: the card and the spec carry the new input size
and crop, so MACs, latency, evaluation preprocessing and every exporter's input shape follow, and
a stored variant reloads at that size. BatchNorm re-estimation at the new size is optional.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING

from core.errors import StudioError
from core.jobs import Progress, silent
from core.model import LoadedModel
from core.recipe import ResolutionStep

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset


def at_resolution(
    model: LoadedModel, step: ResolutionStep, *, calib: ImageDataset | None = None, progress: Progress | None = None
) -> LoadedModel:
    """A copy of `model` that takes `step.input_size` px images, cropped as the step says."""
    from core.compress.finetune import recalibrate_batchnorm
    from core.data.datasets import Preprocessing

    progress = progress or silent()
    module = model.editable_module("resized")
    assert model.card.spec is not None
    spec = model.card.spec.replace(resolution=step.input_size, crop=step.crop_fraction)
    card = replace(model.card, spec=spec, input_size=step.input_size, crop_fraction=step.crop_fraction, path="",
                   title=f"{model.card.title} @{step.input_size}px")
    resized = LoadedModel(card=card, module=copy.deepcopy(module).eval())
    if step.bn_recalibration_images:
        if calib is None:
            raise StudioError("re-estimating BatchNorm at the new size needs calibration images (--calib)")
        assert resized.module is not None
        progress(0.0, f"re-estimating BatchNorm statistics at {step.input_size} px")
        recalibrate_batchnorm(resized.module, calib, Preprocessing.for_card(card), step.bn_recalibration_images,
                              progress)
    progress(1.0, f"input {step.input_size} px")
    return resized
