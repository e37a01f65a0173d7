"""Numbers that cannot be right are not "verified": NaN/Inf weights and outputs are counted and named,
and an ONNX opset the exporter did not write fails loudly instead of being reported."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.data import open_dataset
from core.errors import ExportError
from core.export.job import ExportOptions
from core.export.registry import parse_formats
from core.export.run import export_model
from core.export.source import from_model
from core.export.verify import VerificationImages, verify
from core.jobs import silent
from core.metrics.accuracy import evaluate
from core.metrics.finite import nonfinite_parameters, nonfinite_rows
from core.model import LoadedModel
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec

SPEC = ModelSpec("mobilenet_v3_small", resolution=64)  # 1000 classes: the images' ImageNet labels fit
BROKEN = "features.0.0.weight"  # the stem convolution: one NaN there reaches every logit
OPTIONS = ExportOptions(threads=1, latency_runs=0)


@pytest.fixture(scope="module")
def images(val_dir: Path):
    return open_dataset(val_dir, limit=4)


@pytest.fixture(scope="module")
def nan_model() -> LoadedModel:
    model = create_model(SPEC, "none")
    assert model.module is not None
    with torch.no_grad():
        model.module.get_parameter(BROKEN)[0, 0, 0, 0] = float("nan")
    return model


def test_evaluate_counts_nan_outputs_as_misses_and_names_the_layer(nan_model: LoadedModel, images) -> None:
    result = evaluate(nan_model, images, threads=1)
    assert result.nonfinite_outputs == result.n == 4 and not result.finite
    assert result.top1 == result.top5 == 0.0  # NaN rows are misses, whatever their argsort says
    data = result.to_dict()
    assert data["nonfinite_outputs"] == 4 and data["nonfinite_parameters"] == [BROKEN]
    json.dumps(data, allow_nan=False)


def test_a_finite_model_reports_nothing(images) -> None:
    result = evaluate(create_model(SPEC, "none"), images, threads=1)
    assert result.finite and result.to_dict()["nonfinite_parameters"] == []


def test_nonfinite_parameters_reads_int8_packed_weights_and_fp16() -> None:
    from torch.ao.nn import quantized as nnq

    from core.compress.quantize import Fp16Module

    layer = nnq.Linear(4, 2)  # its weight and bias live in packed parameters, not in named_parameters()
    assert nonfinite_parameters(layer) == []
    layer.set_weight_bias(layer.weight(), torch.tensor([0.0, float("inf")]))
    assert nonfinite_parameters(layer) == ["_packed_params._packed_params"]

    inner = torch.nn.Linear(3, 2).half()
    with torch.no_grad():
        inner.bias[1] = float("nan")
    assert nonfinite_parameters(Fp16Module(inner)) == ["inner.bias"]


def test_nonfinite_rows_flags_nan_and_inf_images() -> None:
    logits = np.array([[0.0, 1.0], [np.nan, 1.0], [np.inf, 0.0]], dtype=np.float32)
    assert nonfinite_rows(logits).tolist() == [False, True, True]


@pytest.mark.parametrize("broken", ["artifact", "source"])
def test_verify_refuses_nan_logits_and_stays_strict_json(broken: str) -> None:
    rng = np.random.default_rng(0)
    data = VerificationImages(rng.standard_normal((6, 3, 8, 8), dtype=np.float32), np.arange(6), "noise")
    good = rng.standard_normal((6, 10)).astype(np.float32)
    bad = good.copy()
    bad[:, 0] = np.nan  # the argmax of every row is now the NaN: "agreement" would be perfect by accident
    reference, artifact = (good, bad) if broken == "artifact" else (bad, bad)
    result = verify(lambda: lambda _batch: artifact, reference, data, 99.0, 0, silent())
    whose = "the artifact's" if broken == "artifact" else "the source model's"
    assert not result["verified"] and result["reason"] == f"{whose} outputs are not finite (NaN/Inf) on 6 of 6 images"
    assert result["agreement_top1"] == 0.0 and result["max_abs_diff"] is None and result["cosine"] is None
    assert result["top1"] == 0.0
    json.dumps(result, allow_nan=False)


def test_onnx_export_of_a_nan_model_is_not_verified(nan_model: LoadedModel, images, tmp_path: Path) -> None:
    report = export_model(from_model(nan_model), parse_formats("onnx"), tmp_path, options=OPTIONS, evaluation=images)
    (result,) = report.results
    assert not result.verified
    assert result.verification["reason"] == "the source model's outputs are not finite (NaN/Inf) on 4 of 4 images"
    json.dumps(result.verification, allow_nan=False)


def test_an_opset_no_exporter_writes_fails_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    argv = ["export", "mobilenet_v3_small:res=64", "--weights", "none", "--format", "onnx", "--out", str(out)]
    assert main([*argv, "--opset", "3"]) == 2
    assert "ONNX opset 3 cannot be exported" in capsys.readouterr().err
    assert not list(out.glob("**/*.onnx"))


def test_an_opset_the_exporter_silently_changes_fails_loudly(tmp_path: Path) -> None:
    # Asked for 17, torch's dynamo exporter writes 18 and says nothing.
    source = from_model(create_model(replace(SPEC, num_classes=10), "none"))
    with pytest.raises(ExportError, match=r"opset 17 was asked for but the exporter wrote opset 18; .* opsets 18-"):
        export_model(source, parse_formats("onnx"), tmp_path, options=replace(OPTIONS, opset=17))
    assert not list(tmp_path.glob("**/*.onnx"))
