"""Quantization-aware training does what the recipe says, and its variants export as int8."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.ao.quantization import FakeQuantize

from core.compress.quantize import quantize
from core.data import open_dataset
from core.errors import ExportError
from core.export.checks import check_supported
from core.export.job import ExportOptions
from core.export.registry import FORMATS
from core.export.run import export_model
from core.export.source import from_project
from core.precision import Int8Qat
from core.project import Project
from core.quant.observers import OBSERVERS
from core.recipe import QuantizeStep
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec

RES = 64


@pytest.fixture(scope="module")
def parent():
    return create_model(ModelSpec("mobilenet_v3_small", resolution=RES), "pretrained")


def _fake_quantizers_seen_in_training(monkeypatch, parent, step: QuantizeStep, train) -> list[FakeQuantize]:
    import core.compress.finetune as finetune_module

    seen: list[FakeQuantize] = []
    real_finetune = finetune_module.finetune

    def watching(*args, on_step, **kwargs):
        def spy(done: int, student: torch.nn.Module) -> None:
            on_step(done, student)
            if not seen:
                seen.extend(m for m in student.modules() if type(m) is FakeQuantize)  # not the fixed-range ones

        return real_finetune(*args, on_step=spy, **kwargs)

    monkeypatch.setattr(finetune_module, "finetune", watching)
    quantize(parent, step, train=train)
    return seen


@pytest.mark.parametrize(("per_channel", "observer"), [(False, "minmax"), (True, "moving_average")])
def test_qat_trains_through_fake_quantization_with_the_recipes_observer_and_bits(
    monkeypatch, parent, imagenette_dir: Path, per_channel: bool, observer: str
) -> None:
    train = open_dataset(imagenette_dir / "train", limit=8)
    step = QuantizeStep(mode="qat", qat_epochs=1, per_channel=per_channel, observer=observer, reduce_range=False)
    fakes = _fake_quantizers_seen_in_training(monkeypatch, parent, step, train)
    assert fakes, "training saw no fake quantization (plain observers only)"
    activations = [f for f in fakes if f.dtype == torch.quint8]
    weights = [f for f in fakes if f.dtype == torch.qint8]
    assert activations and weights
    assert {type(f.activation_post_process) for f in activations} == {OBSERVERS[observer]}
    assert {(f.quant_min, f.quant_max) for f in activations} == {(0, 255)}, "8-bit activations, as asked"
    scheme = torch.per_channel_symmetric if per_channel else torch.per_tensor_symmetric
    assert {f.qscheme for f in weights} == {scheme}


def test_a_qat_variant_is_int8_on_its_card_reloads_and_exports_to_onnx_as_int8(
    parent, imagenette_dir: Path, val_dir: Path, tmp_path: Path
) -> None:
    train = open_dataset(imagenette_dir / "train", limit=8)
    qat = quantize(parent, QuantizeStep(mode="qat", qat_epochs=1), train=train)
    assert isinstance(qat.card.precision, Int8Qat)
    project = Project.create(tmp_path / "proj")
    stored_parent = project.add_variant(parent, "float")
    variant = project.add_variant(qat, "qat", parent=stored_parent.id)
    assert isinstance(Project.open(project.root).variant(variant.id).quantization.precision, Int8Qat)
    source = from_project(project.root, variant.id)
    assert isinstance(source.precision, Int8Qat)
    evaluation = open_dataset(val_dir, limit=8)
    report = export_model(source, [FORMATS["onnx"]], tmp_path / "out", options=ExportOptions(latency_runs=0),
                          evaluation=evaluation)
    result = report.results[0]
    assert result.precision == "int8" and result.details["scales"] == "variant", result.details
    with pytest.raises(ExportError, match="lose what quantization-aware training"):
        check_supported(source, [FORMATS["tflite"]], evaluation)
