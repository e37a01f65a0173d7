"""The `quantize` verb: static int8 (calibrated), QAT int8, dynamic int8 (Linear layers), and fp16.

Static int8 uses PyTorch's eager-mode x86 (fbgemm) back end, which runs real int8
kernels on desktop CPUs: per-channel symmetric weights, a choice of activation
observer, conv-bn(-relu) fused before calibration (the quantizable twins are in
`core.zoo.quantizable`), optional activation equalization and bias correction
(`core.quant.bias_correction`). The precision a step makes is a typed value
(`core.precision`), and the work is dispatched on its type.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.compress.qat import qat_int8
from core.errors import StudioError
from core.jobs import Progress, silent
from core.model import LoadedModel
from core.precision import Fp16, Int8Dynamic, Int8Qat, Int8Static, QuantInfo
from core.quant.bias_correction import (
    BIAS_CHECK_IMAGES,
    BIAS_CORRECTION_IMAGES,
    MIN_BIAS_CHECK_IMAGES,
    correct_biases,
    divergence,
    int8_layers,
)
from core.quant.equalize import equalized
from core.quant.observers import qconfig_for
from core.recipe import QuantizeStep
from core.zoo.quantizable import ENGINE, clip_relu6_ranges, converted, float_reference, layer_shapes, prepared_twin
from core.zoo.quantized_store import Fp16Module

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset

def quantize(
    model: LoadedModel,
    step: QuantizeStep,
    *,
    calib: ImageDataset | None = None,
    train: ImageDataset | None = None,
    checkpoint_dir: Path | None = None,
    progress: Progress | None = None,
) -> LoadedModel:
    """A quantized copy of `model` (the parent is left untouched)."""
    progress = progress or silent()
    float_module = model.editable_module("quantized")
    start = time.perf_counter()
    precision = step.precision
    info = QuantInfo(precision, step.per_channel, step.keep_float, layer_shapes(float_module))
    module: nn.Module
    if isinstance(precision, Int8Static):
        if calib is None:
            raise StudioError("static int8 needs calibration images (--calib)")
        module = _static_int8(model, step, info, calib, progress)
    elif isinstance(precision, Int8Qat):
        if train is None:
            raise StudioError("quantization-aware training needs training images (--train)")
        module = qat_int8(model, step, info, train, checkpoint_dir, progress)
    elif isinstance(precision, Int8Dynamic):
        torch.backends.quantized.engine = ENGINE
        module = torch.ao.quantization.quantize_dynamic(copy.deepcopy(float_module), {nn.Linear}, torch.qint8)
    else:
        assert isinstance(precision, Fp16)
        module = Fp16Module(copy.deepcopy(float_module).half())
    progress(1.0, f"quantized ({precision}) in {time.perf_counter() - start:.0f} s")
    card = replace(model.card, title=f"{model.card.title} {precision}", path="", quantization=info)
    return LoadedModel(card=card, module=module)


def _static_int8(
    model: LoadedModel, step: QuantizeStep, info: QuantInfo, calib: ImageDataset, progress: Progress
) -> nn.Module:
    from core.data.datasets import Preprocessing

    assert model.card.spec is not None
    progress(0.0, "equalizing activation ranges" if step.equalizes else "preparing")
    float_state = equalized(model, step, calib, progress.span(0.0, 0.05)).editable_module("quantized").state_dict()
    prepared = prepared_twin(model.card.spec, info, qconfig_for(step), float_state)
    images = calib.subset(step.calibration_images, seed=0)
    preprocess = Preprocessing.for_card(model.card)
    calibrate = progress.span(0.05, 0.85)
    calibrate(0.0, f"calibrating on {len(images)} images")
    with torch.inference_mode():
        for batch, _ in images.batches(preprocess, batch_size=32, progress=calibrate):
            prepared(batch)
    clip_relu6_ranges(prepared)
    progress(0.86, "converting to int8")
    quantized = converted(prepared)
    if step.bias_correction is not False:
        reference = float_reference(model.card.spec, info, float_state)
        order = images.shuffled(3).samples
        correction, check = order[:BIAS_CORRECTION_IMAGES], order[BIAS_CORRECTION_IMAGES:][:BIAS_CHECK_IMAGES]
        if step.bias_correction is None and len(check) < MIN_BIAS_CHECK_IMAGES:
            return quantized  # too few images left to tell whether the correction helps

        def read(samples: list[Any]) -> list[torch.Tensor]:
            chosen = replace(images, samples=samples)
            return [batch for batch, _ in chosen.batches(preprocess, batch_size=32, progress=progress.span(0.86, 0.9))]

        correction_batches = read(correction)
        check_batches = read(check) if step.bias_correction is None else []
        before = divergence(quantized, reference, check_batches, progress)
        saved = {name: layer.bias() for name, layer in int8_layers(quantized).items()}
        correct_biases(quantized, reference, correction_batches, progress.span(0.9, 1.0))
        if step.bias_correction is None and divergence(quantized, reference, check_batches, progress) >= before:
            for name, layer in int8_layers(quantized).items():
                layer.set_weight_bias(layer.weight(), saved[name])
            progress(1.0, "bias correction did not bring int8 closer to float on held-out images: not kept")
    return quantized
