"""A user's own 10-class MobileNet, end to end as the README's "Your own model" walks it: a stock V2 given a
new 10-class head (the ImageNet rows of Imagenette's classes, so that it answers like a fine-tuned model) is saved
the three ways PyTorch's tutorials do. Each file opens, is compressed to int8 (the pickled one only with the user's
consent) and is exported as an Android bundle whose labels.txt and TFLite metadata hold the folder names in folder
order, and whose .tflite, run in the LiteRT interpreter, agrees with the int8 model it came from."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.data.classes import imagenet_classes
from core.export.tflite_metadata import read_metadata
from core.project import Project
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec

PHOTOS_PER_CLASS = 4


@pytest.fixture(scope="module")
def photos(imagenette_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few of Imagenette's validation photos per class, in its ten WordNet-id folders."""
    folder = tmp_path_factory.mktemp("photos")
    for source in sorted(p for p in (imagenette_dir / "val").iterdir() if p.is_dir()):
        (folder / source.name).mkdir()
        for photo in sorted(source.iterdir())[:PHOTOS_PER_CLASS]:
            shutil.copy(photo, folder / source.name / photo.name)
    return folder


@pytest.fixture(scope="module")
def saved(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    module = create_model(ModelSpec("mobilenet_v2"), "pretrained").module
    assert module is not None
    index = imagenet_classes().index_of_wnid()
    rows = [index[folder.name] for folder in sorted(photos.iterdir())]
    last = module.classifier[-1]
    head = torch.nn.Linear(last.in_features, len(rows))
    with torch.no_grad():
        head.weight.copy_(last.weight[rows])
        head.bias.copy_(last.bias[rows])
    module.classifier[-1] = head
    module.eval()
    folder = tmp_path_factory.mktemp("saved")
    paths = {"state_dict": folder / "my_v2_imagenette.pth", "pickle": folder / "my_v2_imagenette_model.pt",
             "torchscript": folder / "my_v2_imagenette_script.pt"}
    torch.save(module.state_dict(), paths["state_dict"])
    torch.save(module, paths["pickle"])
    torch.jit.trace(module, torch.zeros(1, 3, 224, 224)).save(str(paths["torchscript"]))
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["state_dict", "pickle", "torchscript"])
def test_a_users_10_class_model_saved_each_way_reaches_an_android_bundle_with_its_names(
    kind: str, saved: dict[str, Path], photos: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    folders = [folder.name for folder in sorted(photos.iterdir())]
    readable = dict(zip(imagenet_classes().wnids, imagenet_classes().names, strict=True))
    names = [readable[wnid].split(",")[0] for wnid in folders]
    recipe = tmp_path / "int8.json"
    recipe.write_text(json.dumps({"format": "mnstudio-recipe", "version": 1, "name": "int8",
                                  "steps": [{"type": "quantize", "calibration_images": 16}]}))
    project = tmp_path / "project"
    compress = ["compress", str(saved[kind]), "--recipe", str(recipe), "--calib", str(photos), "--eval", str(photos),
                "--out", str(project), "--threads", "1"]
    if kind == "pickle":
        assert main(compress) == 2, "a pickled module is refused until the user trusts the file"
        assert "--trust-pickle" in capfd.readouterr().err
        compress.append("--trust-pickle")
    assert main(compress) == 0
    assert "class names taken from the 10 class folders" in capfd.readouterr().err
    int8 = next(v for v in Project.open(project).variants if v.quantization is not None)
    assert list(int8.class_names) == names and int8.name.startswith(saved[kind].stem)
    out = tmp_path / "out"
    assert main(["export", f"{project}:{int8.id}", "--bundle", "android", "--calib", str(photos), "--eval",
                 str(photos), "--out", str(out), "--latency-runs", "0", "--threads", "1", "--json"]) == 0
    captured = capfd.readouterr()
    report = json.loads(captured.out)
    tflite = report["formats"]["tflite"]  # run in LiteRT on the 40 photos, against the int8 model it came from
    assert tflite["verified"] and tflite["agreement_top1"] >= 95.0, json.dumps(tflite)
    (bundle,) = out.glob("*-android.zip")
    with zipfile.ZipFile(bundle) as archive:
        assert archive.read("labels.txt").decode().splitlines() == names, "the folder names, in folder order"
        model = archive.read(json.loads(archive.read("metadata.json"))["model"])
    assert read_metadata(model)["labels"] == names, "the .tflite's own metadata names the same classes"
