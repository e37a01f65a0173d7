"""Quantization-aware training: fake-quantized fine-tuning distilled from the float parent, then int8."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.model import LoadedModel
from core.precision import QuantInfo
from core.quant.equalize import equalized
from core.quant.observers import qat_qconfig_for
from core.recipe import QuantizeStep
from core.zoo.quantizable import (
    ENGINE,
    add_tf_same_hooks,
    clip_relu6_ranges,
    converted,
    mark_float_layers,
    quantizable_twin,
)

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset
    from core.jobs import Progress

def qat_int8(
    model: LoadedModel,
    step: QuantizeStep,
    info: QuantInfo,
    train: ImageDataset,
    checkpoint_dir: Path | None,
    progress: Progress,
) -> nn.Module:
    """Fake-quantized training distilled from the float parent; BN then observers freeze after k steps."""
    from torch.ao.nn.intrinsic.qat import freeze_bn_stats
    from torch.ao.quantization import disable_observer, prepare_qat

    from core.compress.finetune import finetune
    from core.recipe import FinetuneStep

    assert model.card.spec is not None
    torch.backends.quantized.engine = ENGINE
    twin: Any = quantizable_twin(model.card.spec, info.layer_shapes)
    float_module = equalized(model, step, train, progress.span(0.0, 0.02)).editable_module("quantized")
    twin.load_state_dict(float_module.state_dict(), strict=True)
    twin.train()
    twin.fuse_model(is_qat=True)
    add_tf_same_hooks(twin)
    twin.qconfig = qat_qconfig_for(step)  # the recipe's observer, bits and weight scheme, fake-quantized
    mark_float_layers(twin, info.keep_float)
    prepared = prepare_qat(twin, inplace=True)

    def freeze(done: int, student: nn.Module) -> None:
        clip_relu6_ranges(student)  # the fake-quantized ReLU saturates at 6, as the float ReLU6 did
        if done >= step.freeze_bn_after:
            student.apply(freeze_bn_stats)
        if done >= step.freeze_observers_after:
            student.apply(disable_observer)

    training = FinetuneStep(
        epochs=step.qat_epochs, learning_rate=step.qat_learning_rate, labels=train.labeled, distill=True,
        bn_recalibration_images=0,  # BN statistics are frozen into the int8 weights
        held_out_images=0,  # no judge for a fake-quantized student (it would feed its observers)
    )
    trained = finetune(
        LoadedModel(card=model.card, module=prepared), training, train=train, teacher=model,
        checkpoint_dir=checkpoint_dir, on_step=freeze, progress=progress.span(0.0, 0.95),
    ).model
    assert trained.module is not None
    progress(0.96, "converting to int8")
    clip_relu6_ranges(trained.module)
    return converted(trained.module)
