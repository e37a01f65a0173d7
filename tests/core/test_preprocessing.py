"""Preprocessing belongs to the model: a MobileNetV2 trained on [−1, 1] inputs (Keras-style) scores right only when
opened with its own setting, and the setting is stored with its variants."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.model import Normalization
from core.project import Project
from core.zoo.loading import create_model
from core.zoo.registry import IMAGENET_MEAN, IMAGENET_STD, ModelSpec

IMAGES = 100


@pytest.fixture(scope="module")
def keras_checkpoint(tmp_path_factory, shared) -> Path:
    """The pretrained V2 with its first convolution refitted to take (pixel − 0.5) / 0.5 instead of ImageNet's
    normalization: the same network, as if trained on [−1, 1] inputs."""
    module = copy.deepcopy(create_model(ModelSpec("mobilenet_v2"), "pretrained").module)
    conv, norm = module.features[0][0], module.features[0][1]
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    scale, shift = 1 / (2 * std), (1 - 2 * mean) / (2 * std)  # ImageNet's input = scale · keras input + shift
    with torch.no_grad():
        norm.running_mean.sub_((conv.weight * shift.view(1, 3, 1, 1)).sum((1, 2, 3)))
        conv.weight.mul_(scale.view(1, 3, 1, 1))
    path = tmp_path_factory.mktemp("keras") / "v2_keras.pth"
    torch.save(module.state_dict(), path)
    return path


def _top1(argv: list[str], capsys) -> float:
    assert main([*argv, "--limit", str(IMAGES), "--threads", "1", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["top1"]


def test_a_model_trained_in_minus_one_to_one_scores_right_only_with_its_own_setting(keras_checkpoint, val_dir,
                                                                                    capsys) -> None:
    stock = _top1(["eval", "mobilenet_v2", "--weights", "pretrained", "--data", str(val_dir)], capsys)
    own = _top1(["eval", str(keras_checkpoint), "--preprocess", "keras", "--data", str(val_dir)], capsys)
    wrong = _top1(["eval", str(keras_checkpoint), "--data", str(val_dir)], capsys)
    assert abs(own - stock) <= 5.0, f"its own setting: {own} against the stock model's {stock}"
    assert own - wrong >= 10.0, f"ImageNet's normalization scores it wrongly: {wrong} against {own}"


def test_the_setting_is_stored_with_its_variants(keras_checkpoint, tmp_path: Path) -> None:
    from core.zoo.loading import load_model_file

    model = load_model_file(keras_checkpoint).with_preprocessing(Normalization.KERAS, crop=1.0)
    project = Project.create(tmp_path / "p")
    stored = project.load(project.add_variant(model, "mine").id).card
    assert (stored.mean, stored.std, stored.crop_fraction) == ((0.5,) * 3, (0.5,) * 3, 1.0)
