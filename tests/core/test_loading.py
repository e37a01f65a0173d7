"""Loading users' models: architecture inference, other formats, and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import ModelLoadError, SpecError, UntrustedPickleError
from core.runtime import export_onnx, predictor_for
from core.zoo.loading import create_model, load_model_file, resolve_model
from core.zoo.registry import ModelSpec


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec("mobilenet_v1", width=0.25),
        ModelSpec("mobilenet_v1", width=1.0, num_classes=10),
        ModelSpec("mobilenet_v2", width=0.35),
        ModelSpec("mobilenet_v2", width=1.4, num_classes=37),
        ModelSpec("mobilenet_v3_large", width=0.75),
        ModelSpec("mobilenet_v3_small", num_classes=10),
    ],
    ids=str,
)
def test_state_dict_architecture_width_and_classes_are_inferred(spec: ModelSpec, tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save(spec.build().state_dict(), path)
    model = load_model_file(path)
    assert model.card.spec == spec
    assert model.card.format == "pytorch" and model.card.weights.kind == "file"


def test_wrapped_and_data_parallel_checkpoints_load(tmp_path: Path) -> None:
    module = ModelSpec("mobilenet_v3_small").build()
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in module.state_dict().items()}}, path)
    model = load_model_file(path)
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        assert torch.equal(model.module(x), module(x))


def test_resolution_and_padding_options_apply_to_files(tmp_path: Path) -> None:
    path = tmp_path / "v2.pth"
    torch.save(ModelSpec("mobilenet_v2").build().state_dict(), path)
    model = load_model_file(path, resolution=160, padding="tf_same")
    assert model.card.spec == ModelSpec("mobilenet_v2", resolution=160, padding="tf_same")


def test_corrupt_and_truncated_checkpoints_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelLoadError, match="not a readable PyTorch checkpoint"):
        load_model_file(garbage)
    good = tmp_path / "good.pth"
    torch.save(ModelSpec("mobilenet_v3_small").build().state_dict(), good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="not a readable PyTorch checkpoint"):
        load_model_file(truncated)
    with pytest.raises(ModelLoadError, match="no such file"):
        load_model_file(tmp_path / "missing.pth")


def test_foreign_architectures_are_named_not_guessed(tmp_path: Path) -> None:
    from torchvision.models import resnet18

    path = tmp_path / "resnet.pth"
    torch.save(resnet18().state_dict(), path)
    with pytest.raises(ModelLoadError, match="not a MobileNet from the zoo"):
        load_model_file(path)
    not_tensors = tmp_path / "config.pth"
    torch.save({"lr": 0.1, "epochs": 3}, not_tensors)
    with pytest.raises(ModelLoadError, match="holds no state_dict"):
        load_model_file(not_tensors)


def test_weights_for_the_wrong_architecture_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "v3.pth"
    torch.save(ModelSpec("mobilenet_v3_small").build().state_dict(), path)
    with pytest.raises(ModelLoadError, match="does not fit mobilenet_v2"):
        create_model(ModelSpec("mobilenet_v2"), str(path))


def test_pruned_looking_state_dict_is_explained(tmp_path: Path) -> None:
    state = ModelSpec("mobilenet_v2").build().state_dict()
    state["features.1.conv.0.0.weight"] = state["features.1.conv.0.0.weight"][:16]
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(ModelLoadError, match="do not chain together"):
        load_model_file(path)


def test_pickled_modules_need_an_explicit_trust_opt_in(tmp_path: Path) -> None:
    module = ModelSpec("mobilenet_v3_small", resolution=96).build()
    path = tmp_path / "whole_model.pt"
    torch.save(module, path)
    with pytest.raises(UntrustedPickleError, match="pickled Python objects"):
        load_model_file(path)
    trusted = load_model_file(path, trust_pickle=True, resolution=96)
    assert trusted.card.num_classes == 1000 and trusted.card.format == "pytorch", "rebuilt as its zoo architecture"


def test_torchscript_and_torch_export_files_run_like_their_source(tmp_path: Path) -> None:
    module = ModelSpec("mobilenet_v3_small", num_classes=10).build().eval()
    x = torch.randn(1, 3, 224, 224)
    scripted = tmp_path / "model.ts.pt"
    torch.jit.save(torch.jit.trace(module, x), scripted)
    exported = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(module, (x,)), exported)
    with torch.inference_mode():
        expected = module(x)
        for path in (scripted, exported):  # a zoo architecture: rebuilt from its weights (tests/core/test_rebuild.py)
            loaded = load_model_file(path)
            assert loaded.card.format == "pytorch" and loaded.card.num_classes == 10
            assert torch.allclose(loaded.module(x), expected, atol=1e-5)


def test_onnx_files_run_in_onnx_runtime(tmp_path: Path) -> None:
    module = ModelSpec("mobilenet_v3_small", resolution=96).build()
    path = export_onnx(module, tmp_path / "model.onnx", 96)
    model = load_model_file(path)
    assert model.card.format == "onnx" and model.runtimes == ("onnxruntime",)
    x = np.random.default_rng(0).standard_normal((2, 3, 96, 96), dtype=np.float32)
    with predictor_for(model, "onnxruntime", 1) as predict:
        got = predict(x)
    with torch.inference_mode():
        expected = module(torch.from_numpy(x)).numpy()
    assert np.abs(got - expected).max() < 1e-4
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelLoadError, match="not a valid ONNX model"):
        load_model_file(bad)


def test_model_argument_is_a_path_or_a_zoo_spec(tmp_path: Path) -> None:
    assert resolve_model("mobilenet_v1:width=0.25", "none").card.spec == ModelSpec("mobilenet_v1", width=0.25)
    with pytest.raises(SpecError, match="neither a file nor a zoo model"):
        resolve_model("no_such_model")
    with pytest.raises(ModelLoadError, match="no such file"):
        resolve_model(str(tmp_path / "missing.pth"))
