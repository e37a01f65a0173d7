"""The zoo: every registered architecture builds, runs, counts and round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from core.errors import SpecError, WeightsUnavailableError
from core.metrics.complexity import analyze_complexity
from core.project import Project
from core.zoo.loading import create_model
from core.zoo.registry import ARCHITECTURES, ModelSpec
from core.zoo.tf_same import Conv2dSame

ARCH_NAMES = sorted(ARCHITECTURES)


@pytest.mark.parametrize("arch", ARCH_NAMES)
@pytest.mark.parametrize("width", [0.5, 1.0])
def test_every_architecture_builds_and_runs(arch: str, width: float) -> None:
    model = create_model(ModelSpec(arch, width=width, resolution=128, num_classes=10), "none")
    with torch.inference_mode():
        out = model.module(torch.randn(2, 3, 128, 128))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    assert model.card.weights.label == "untrained (random init)"
    assert not model.card.weights.trained


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_every_architecture_round_trips_through_the_project_store(arch: str, tmp_path: Path) -> None:
    model = create_model(ModelSpec(arch, resolution=96), "none")
    project = Project.create(tmp_path / "p")
    variant = project.add_variant(model, f"{arch} base")
    reloaded = Project.open(tmp_path / "p").load(variant.id)
    x = torch.randn(1, 3, 96, 96)
    with torch.inference_mode():
        assert torch.equal(model.module(x), reloaded.module(x))
    assert reloaded.card.spec == model.card.spec


@pytest.mark.parametrize(
    ("spec", "macs_millions", "params_millions"),
    [
        ("mobilenet_v2", 300.8, 3.50),
        ("mobilenet_v3_large", 216.6, 5.48),
        ("mobilenet_v3_small", 56.5, 2.54),
        ("mobilenet_v1", 568.7, 4.23),  # paper: 569 M
        ("mobilenet_v1:width=0.5,res=160", 76.5, 1.33),  # paper: 76 M
    ],
)
def test_macs_and_params_match_reference_counts(spec: str, macs_millions: float, params_millions: float) -> None:
    model = create_model(ModelSpec.parse(spec), "none")
    report = analyze_complexity(model.module, model.card.input_size)
    assert report.macs / 1e6 == pytest.approx(macs_millions, abs=0.05)
    assert report.params / 1e6 == pytest.approx(params_millions, abs=0.005)
    assert sum(layer.macs for layer in report.layers) == report.macs


def test_separable_table_shows_the_standard_conv_cost() -> None:
    model = create_model(ModelSpec("mobilenet_v1"), "none")
    report = analyze_complexity(model.module, 224)
    depthwise = [x for x in report.layers if x.kind == "depthwise"]
    assert len(depthwise) == 13 and all(x.standard_conv_macs for x in depthwise)
    # MobileNet paper, section 3.1: 3×3 depthwise-separable convs use 8–9× less computation.
    assert 8.0 < report.separable_savings < 9.0
    first = depthwise[0]
    assert first.standard_conv_macs == 112 * 112 * 9 * 32 * 64


def test_spec_parse_and_string_round_trip() -> None:
    spec = ModelSpec.parse("mobilenet_v1:alpha=0.5,res=160,padding=tf_same")
    assert (spec.width, spec.resolution, spec.padding) == (0.5, 160, "tf_same")
    assert ModelSpec.parse(str(spec)) == spec
    assert str(ModelSpec("mobilenet_v2")) == "mobilenet_v2"
    assert ModelSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("resnet50", "unknown architecture"),
        ("mobilenet_v2:width=0", "width must be"),
        ("mobilenet_v2:res=8", "resolution must be"),
        ("mobilenet_v2:classes=0", "num_classes"),
        ("mobilenet_v2:padding=valid", "padding must be"),
        ("mobilenet_v2:depth=3", "bad model option"),
        ("mobilenet_v2:width=wide", "bad value"),
    ],
)
def test_invalid_specs_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        ModelSpec.parse(text)


def test_tf_same_padding_pads_after_on_even_inputs() -> None:
    conv = Conv2dSame(3, 4, 3, 2, 0, bias=False)
    x = torch.randn(1, 3, 8, 8)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2)
    assert torch.allclose(conv(x), expected)
    odd = torch.randn(1, 3, 7, 7)
    assert torch.allclose(conv(odd), F.conv2d(F.pad(odd, (1, 1, 1, 1)), conv.weight, stride=2))


def test_local_weights_are_recognised_with_the_padding_they_need(shared: Path) -> None:
    v3 = create_model(ModelSpec("mobilenet_v3_small"), "pretrained")
    assert v3.card.spec.padding == "tf_same"
    assert v3.card.weights.kind == "pretrained" and "TF-slim" in v3.card.weights.label
    v1 = create_model(ModelSpec("mobilenet_v1", width=0.75, resolution=192), "pretrained")
    assert v1.card.spec == ModelSpec("mobilenet_v1", width=0.75, resolution=192, padding="tf_same")


def test_missing_pretrained_weights_are_reported_or_fall_back_to_untrained(shared: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match=r"no pretrained weights for mobilenet_v1 width 0\.5"):
        create_model(ModelSpec("mobilenet_v1", width=0.5), "pretrained")
    fallback = create_model(ModelSpec("mobilenet_v1", width=0.5), "auto")
    assert fallback.card.weights.kind == "untrained"


def test_weights_dir_from_environment_is_searched_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.paths import weights_dirs

    monkeypatch.setenv("MNSTUDIO_WEIGHTS_DIR", str(tmp_path))
    assert weights_dirs()[0] == tmp_path
