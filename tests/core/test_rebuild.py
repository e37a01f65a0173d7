"""Every common save format of a user's fine-tuned MobileNet opens as the zoo architecture it is, so it can be
compressed: TorchScript, a torch.export program and a trusted pickled module are rebuilt from their weights when
the rebuilt model gives the same outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.compress.pipeline import compress
from core.data import open_dataset
from core.project import Project
from core.recipe import QuantizeStep, Recipe
from core.zoo.loading import load_model_file
from core.zoo.registry import ModelSpec
from tests.helpers import write_image


def _saved(kind: str, folder: Path) -> Path:
    module = ModelSpec("mobilenet_v3_small", num_classes=3).build().eval()
    path = folder / f"mine.{'pt2' if kind == 'pt2' else 'pt'}"
    if kind == "torchscript":
        torch.jit.script(module).save(str(path))
    elif kind == "pt2":
        torch.export.save(torch.export.export(module, (torch.zeros(1, 3, 224, 224),)), str(path))
    else:
        torch.save(module, path)
    return path


@pytest.mark.parametrize("kind", ["torchscript", "pt2", "pickle"])
def test_a_saved_zoo_architecture_opens_rebuilt_and_compresses(kind: str, tmp_path: Path) -> None:
    path = _saved(kind, tmp_path)
    model = load_model_file(path, trust_pickle=kind == "pickle")
    assert model.card.spec is not None and model.card.spec.arch == "mobilenet_v3_small"
    assert model.card.num_classes == 3 and model.card.format == "pytorch"
    assert any("rebuilt as" in warning for warning in model.card.warnings)
    images = tmp_path / "images"
    for i in range(4):
        write_image(images / f"{i}.png", seed=i)
    project = Project.create(tmp_path / "p")
    result = compress(model, Recipe("int8", (QuantizeStep(calibration_images=4),)), project,
                      calib=open_dataset(images, num_classes=None))
    assert result.variant.quantization is not None
    assert Project.open(project.root).variant(result.parent.id).format == "state_dict", "kept as a safe state_dict"


def test_a_module_that_is_no_zoo_architecture_stays_as_it_is(tmp_path: Path) -> None:
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                 torch.nn.Linear(4, 5)).eval()
    path = tmp_path / "other.pt"
    torch.jit.script(module).save(str(path))
    model = load_model_file(path)
    assert model.card.spec is None and model.card.format == "torchscript" and model.card.num_classes == 5
