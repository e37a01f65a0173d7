"""Class names belong to the model: a user's 3-class model takes its labelled folder's names (ImageNet WordNet ids
shown readable), keeps them through compression in its project, and ships them in the Android bundle's labels.txt,
the ONNX file's metadata and the .tflite's model metadata; --labels names the classes otherwise, and a wrong count
is one line before any work."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import onnx
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter

from core.cli import main
from core.export.tflite_metadata import TENSOR_AXIS_LABELS, read_metadata
from core.project import Project
from core.zoo.registry import ModelSpec
from tests.helpers import write_image

FOLDERS = ("n01440764", "n02102040", "n02979186")  # Imagenette's tench, English springer, cassette player
READABLE = ["tench", "English springer", "cassette player"]


@pytest.fixture
def user(tmp_path: Path) -> dict[str, Path]:
    """A stock V3-Small with a new 3-class head saved as a state_dict, and an ImageFolder of its classes."""
    model = ModelSpec("mobilenet_v3_small", resolution=64, num_classes=3).build()
    checkpoint = tmp_path / "my_v3_imagenette.pth"
    torch.save(model.state_dict(), checkpoint)
    photos = tmp_path / "photos"
    for label, folder in enumerate(FOLDERS):
        for i in range(3):
            write_image(photos / folder / f"{i}.png", size=(72, 72), seed=10 * label + i)
    return {"checkpoint": checkpoint, "photos": photos, "root": tmp_path}


def test_a_users_model_takes_its_folders_names_into_the_project_and_the_android_bundle(user, capsys) -> None:
    recipe = user["root"] / "int8.json"
    recipe.write_text(json.dumps({"format": "mnstudio-recipe", "version": 1, "name": "int8",
                                  "steps": [{"type": "quantize", "calibration_images": 9}]}))
    project = user["root"] / "proj"
    assert main(["compress", str(user["checkpoint"]), "--recipe", str(recipe), "--calib", str(user["photos"]),
                 "--eval", str(user["photos"]), "--out", str(project), "--threads", "1"]) == 0
    assert "class names taken from the 3 class folders" in capsys.readouterr().err
    stored = Project.open(project)
    assert all(list(v.class_names) == READABLE for v in stored.variants), "the original and its int8 keep them"
    int8 = next(v for v in stored.variants if v.quantization is not None)
    out = user["root"] / "out"
    assert main(["export", f"{project}:{int8.id}", "--format", "onnx", "--bundle", "android", "--calib",
                 str(user["photos"]), "--out", str(out), "--latency-runs", "0", "--threads", "1"]) == 0
    report = capsys.readouterr().out
    assert "3 class names: tench, English springer, cassette player" in report
    (bundle,) = out.glob("*-android.zip")
    with zipfile.ZipFile(bundle) as archive:
        assert archive.read("labels.txt").decode().splitlines() == READABLE, "in folder order"
        metadata = json.loads(archive.read("metadata.json"))
        assert metadata["class_names"] == READABLE
        tflite = archive.read(metadata["model"])
    found = read_metadata(tflite)  # what Android Studio's model binding reads: the output's axis labels
    assert found["labels"] == READABLE and found["labels_type"] == TENSOR_AXIS_LABELS and found["output"] == "logits"
    assert found["mean"] == pytest.approx([255 * m for m in metadata["mean"]]) and found["min_parser_version"]
    interpreter = Interpreter(model_content=tflite)  # the labels archive appended to it does not disturb LiteRT
    interpreter.allocate_tensors()
    assert list(interpreter.get_output_details()[0]["shape"]) == [1, 3]
    (onnx_file,) = out.glob("*.onnx")
    metadata = {p.key: p.value for p in onnx.load(str(onnx_file), load_external_data=False).metadata_props}
    assert json.loads(metadata["class_names"]) == READABLE


def test_labels_name_the_classes_and_a_wrong_count_is_one_line(user, capsys) -> None:
    labels = user["root"] / "labels.txt"
    labels.write_text("fish\ndog\ntape\n")
    assert main(["info", str(user["checkpoint"]), "--labels", str(labels), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["card"]["class_names"][:3] == ["fish", "dog", "tape"]
    labels.write_text("fish\ndog\n")
    assert main(["eval", str(user["checkpoint"]), "--labels", str(labels), "--data", str(user["photos"])]) == 2
    assert "names 2 classes but the model predicts 3" in capsys.readouterr().err


def test_a_labels_csv_names_its_classes_in_a_name_column_and_a_label_named_twice_is_one_line(user, capsys) -> None:
    photos = user["root"] / "listed"
    photos.mkdir()
    rows = ["file,label,name"]
    for i, (label, name) in enumerate([(2, "cassette player"), (0, "tench"), (1, "springer"), (0, "tench")]):
        write_image(photos / f"{i}.png", size=(72, 72), seed=i)
        rows.append(f"{i}.png,{label},{name}")
    (photos / "labels.csv").write_text("\n".join(rows) + "\n")
    project = user["root"] / "proj"
    recipe = user["root"] / "int8.json"
    recipe.write_text(json.dumps({"format": "mnstudio-recipe", "version": 1, "name": "int8",
                                  "steps": [{"type": "quantize", "calibration_images": 4}]}))
    assert main(["compress", str(user["checkpoint"]), "--recipe", str(recipe), "--calib", str(photos), "--eval",
                 str(photos), "--out", str(project), "--threads", "1"]) == 0
    assert "class names taken from the name column of" in capsys.readouterr().err
    assert list(Project.open(project).variants[0].class_names) == ["tench", "springer", "cassette player"]
    (photos / "labels.csv").write_text("\n".join([*rows, "0.png,0,goldfish"]) + "\n")
    assert main(["eval", str(user["checkpoint"]), "--data", str(photos)]) == 2
    assert "label 0 is named 'goldfish' here and 'tench' before" in capsys.readouterr().err
