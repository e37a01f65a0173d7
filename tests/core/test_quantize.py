"""Quantization: static int8 for every architecture (also pruned), dynamic, fp16; safe reloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.compress.pruning import prune
from core.compress.quantize import quantize
from core.data import open_dataset
from core.errors import StudioError
from core.metrics.size import state_dict_bytes
from core.precision import Int8Qat, Int8Static
from core.project import Project
from core.recipe import PruneStep, QuantizeStep
from core.runtime import predictor_for
from core.zoo.loading import create_model
from core.zoo.registry import ARCHITECTURES, ModelSpec

RES = 96


@pytest.fixture(scope="module")
def calib(shared: Path):
    return open_dataset(shared / "datasets" / "imagenet_calib1000", limit=16)


@pytest.fixture(scope="module")
def images(val_dir: Path) -> np.ndarray:
    from core.data.datasets import Preprocessing

    dataset = open_dataset(val_dir, limit=48, seed=2)
    return torch.cat([b for b, _ in dataset.batches(Preprocessing(224, 256), batch_size=48)]).numpy()


def _logits(model, x: np.ndarray) -> np.ndarray:
    with predictor_for(model, "torch", 1) as predict:
        return predict(x)


def _reload(model, tmp_path: Path):
    project = Project.create(tmp_path / "p")
    variant = project.add_variant(model, model.card.title)
    return Project.open(tmp_path / "p").load(variant.id)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_static_int8_for_every_architecture_reloads_bit_exactly(arch: str, calib, tmp_path: Path) -> None:
    parent = create_model(ModelSpec(arch, resolution=RES), "none")
    int8 = quantize(parent, QuantizeStep(observer="moving_average", calibration_images=16), calib=calib)
    assert isinstance(int8.card.precision, Int8Static) and int8.card.title.endswith("int8")
    assert any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in int8.module.modules())
    x = np.random.default_rng(0).standard_normal((2, 3, RES, RES), dtype=np.float32)
    reloaded = _reload(int8, tmp_path)
    assert np.array_equal(_logits(int8, x), _logits(reloaded, x))
    assert state_dict_bytes(int8.module) < 0.35 * state_dict_bytes(parent.module)


@pytest.mark.parametrize(
    ("spec", "floor"),
    # Measured with 16 calibration images: 0.96, 0.88, 0.81. V1's first depthwise block loses most
    # precision (known MobileNetV1 weakness; cross-layer equalization is the planned fix).
    [("mobilenet_v2", 0.9), ("mobilenet_v3_small", 0.8), ("mobilenet_v1:width=0.75", 0.7)],
)
def test_pretrained_int8_agrees_with_float_on_real_images(spec: str, floor: float, calib, images) -> None:
    parent = create_model(ModelSpec.parse(spec), "pretrained")  # V3-Small and V1 use TF-SAME padding hooks
    int8 = quantize(parent, QuantizeStep(calibration_images=16), calib=calib)
    agreement = (_logits(parent, images).argmax(1) == _logits(int8, images).argmax(1)).mean()
    assert agreement >= floor
    # Float biases and per-layer scales weigh more in the small V3 (0.274) than in V2 (0.268).
    limit = 0.27 if spec == "mobilenet_v2" else 0.28
    assert state_dict_bytes(int8.module) <= limit * state_dict_bytes(parent.module), "int8 stored compactly"


def test_bias_correction_removes_the_mean_error_of_int8_outputs(calib, images) -> None:
    parent = create_model(ModelSpec.parse("mobilenet_v1:width=0.75"), "pretrained")
    reference = _logits(parent, images)

    def mean_error(correct: bool) -> float:
        int8 = quantize(parent, QuantizeStep(calibration_images=16, bias_correction=correct), calib=calib)
        return float(np.abs((_logits(int8, images) - reference).mean(0)).mean())  # per class, then averaged

    plain, corrected = mean_error(False), mean_error(True)
    assert corrected < 0.8 * plain, (plain, corrected)


def test_exporters_float_parent_carries_the_bias_correction(calib) -> None:
    from core.quant.bias_correction import carry_bias_correction

    parent = create_model(ModelSpec("mobilenet_v2", resolution=RES), "pretrained")
    plain = quantize(parent, QuantizeStep(calibration_images=16, bias_correction=False), calib=calib)
    corrected = quantize(parent, QuantizeStep(calibration_images=16, bias_correction=True), calib=calib)
    assert carry_bias_correction(parent, plain).module is not parent.module, "a copy, even with no shift"
    carried = carry_bias_correction(parent, corrected)
    int8_shift = corrected.module.classifier[1].bias() - plain.module.classifier[1].bias()
    assert torch.allclose(carried.module.classifier[1].bias - parent.module.classifier[1].bias, int8_shift, atol=1e-5)
    first_norm_shift = carried.module.features[0][1].bias - parent.module.features[0][1].bias
    assert first_norm_shift.abs().max() > 0, "a conv's shift goes into the BatchNorm after it"
    fp16 = quantize(parent, QuantizeStep(mode="fp16"))
    assert carry_bias_correction(parent, fp16) is parent


def test_pruned_then_quantized_keeps_its_channels_through_a_reload(calib, tmp_path: Path) -> None:
    pruned = prune(
        create_model(ModelSpec("mobilenet_v2", resolution=RES), "none"), PruneStep(ratio=0.3, compensate=False)
    )
    int8 = quantize(pruned, QuantizeStep(observer="minmax", calibration_images=8), calib=calib)
    reloaded = _reload(int8, tmp_path)
    assert reloaded.card.pruned and isinstance(reloaded.card.precision, Int8Static)
    x = np.random.default_rng(1).standard_normal((1, 3, RES, RES), dtype=np.float32)
    assert np.array_equal(_logits(int8, x), _logits(reloaded, x))


def test_layers_can_be_kept_in_float(calib) -> None:
    parent = create_model(ModelSpec("mobilenet_v3_small", resolution=RES), "none")
    step = QuantizeStep(calibration_images=8, observer="minmax", keep_float=("classifier.3",))
    int8 = quantize(parent, step, calib=calib)
    classifier = dict(int8.module.named_modules())["classifier.3.1"]
    assert type(classifier) is torch.nn.Linear
    assert _logits(int8, np.zeros((1, 3, RES, RES), np.float32)).shape == (1, 1000)
    with pytest.raises(StudioError, match="does not have: head"):
        quantize(parent, QuantizeStep(keep_float=("head",)), calib=calib)


def test_dynamic_and_fp16_variants_reload(tmp_path: Path, images: np.ndarray) -> None:
    parent = create_model(ModelSpec("mobilenet_v3_small"), "pretrained")  # real logits, not 1e-10 noise
    x = images[:4]
    expected = _logits(parent, x)
    for mode, tolerance in (("dynamic", 0.05), ("fp16", 0.01)):
        variant = quantize(parent, QuantizeStep(mode=mode))
        got = _logits(variant, x)
        assert np.abs(got - expected).max() <= tolerance * np.abs(expected).max()
        reloaded = _reload(variant, tmp_path / mode)
        assert np.array_equal(_logits(reloaded, x), got)
    fp16 = quantize(parent, QuantizeStep(mode="fp16"))
    assert state_dict_bytes(fp16.module) < 0.55 * state_dict_bytes(parent.module)


def test_quantization_errors_name_what_is_missing() -> None:
    parent = create_model(ModelSpec("mobilenet_v3_small", resolution=RES), "none")
    with pytest.raises(StudioError, match="needs calibration images"):
        quantize(parent, QuantizeStep(mode="static"))
    with pytest.raises(StudioError, match="needs training images"):
        quantize(parent, QuantizeStep(mode="qat"))


def test_quantization_aware_training_freezes_then_converts_and_reloads(
    imagenette_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch.ao.quantization import FakeQuantizeBase

    import core.compress.finetune as finetune_module

    parent = create_model(ModelSpec("mobilenet_v2", resolution=RES), "pretrained")
    train = open_dataset(imagenette_dir / "train", limit=24)
    frozen_at: dict[str, int] = {}
    real_finetune = finetune_module.finetune

    def watching(*args, on_step, **kwargs):
        def spy(done: int, student: torch.nn.Module) -> None:
            on_step(done, student)
            fakes = [m for m in student.modules() if isinstance(m, FakeQuantizeBase)]
            if "observers" not in frozen_at and fakes and not any(bool(m.observer_enabled[0]) for m in fakes):
                frozen_at["observers"] = done

        return real_finetune(*args, on_step=spy, **kwargs)

    monkeypatch.setattr(finetune_module, "finetune", watching)
    step = QuantizeStep(mode="qat", qat_epochs=3, freeze_bn_after=1, freeze_observers_after=2)
    int8 = quantize(parent, step, train=train, checkpoint_dir=tmp_path / "ckpt")
    assert frozen_at == {"observers": 2}
    assert isinstance(int8.card.precision, Int8Qat) and int8.card.title.endswith("int8-qat")
    assert any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in int8.module.modules())
    x = np.random.default_rng(0).standard_normal((2, 3, RES, RES), dtype=np.float32)
    assert np.array_equal(_logits(int8, x), _logits(_reload(int8, tmp_path), x))
    assert not (tmp_path / "ckpt").exists() or not any((tmp_path / "ckpt").iterdir()), "checkpoint removed when done"


@pytest.mark.parametrize("spec", ["mobilenet_v1:width=0.25,padding=tf_same", "mobilenet_v3_small:padding=tf_same"])
def test_tf_same_convs_keep_fast_kernel_padding_and_compute_exactly_tf_same(spec: str) -> None:
    """Strided convs keep symmetric padding (x86 int8's fast kernels need it); hooks re-align to TF-SAME."""
    from core.zoo.quantizable import add_tf_same_hooks, layer_shapes, quantizable_twin

    parent = create_model(ModelSpec.parse(spec), "none")
    twin = quantizable_twin(parent.card.spec, layer_shapes(parent.module))
    twin.load_state_dict(parent.module.state_dict())
    twin.fuse_model(is_qat=False)
    add_tf_same_hooks(twin)
    strided = [m for m in twin.modules() if isinstance(m, torch.nn.Conv2d) and m.stride != (1, 1)]
    assert strided and all(m.padding[0] == (m.kernel_size[0] - 1) // 2 for m in strided)
    reference = parent.module
    for module in reference.modules():  # the twin computes ReLU6 as ReLU until int8 saturation caps it
        for name, child in module.named_children():
            if isinstance(child, torch.nn.ReLU6):
                setattr(module, name, torch.nn.ReLU())
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = reference(x)
        assert torch.allclose(twin(x), expected, atol=1e-4 * expected.abs().max().item())
