"""Hostile inputs, round 3: each class of defect at the one place every door passes through, and each reached
through two doors (stray folders, pipes, zip bombs, wrong batch sizes, over-deep JSON, chatter on stdout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.data import open_dataset
from core.errors import DatasetError, ModelLoadError, ProjectError
from core.export.reuse import INDEX_FILE, ArtifactIndex
from core.project import Project
from core.settings import Settings, load_settings
from core.zoo.loading import create_model, load_model_file, read_checkpoint
from core.zoo.registry import ModelSpec
from tests.helpers import write_image

TINY = "mobilenet_v3_small:res=64"
WNIDS = ("n01440764", "n02102040", "n02979186")  # tench, springer, cassette player: torchvision 0, 217, 482


def _wnid_folder(root: Path) -> Path:
    for i, wnid in enumerate(WNIDS):
        write_image(root / wnid / f"{i}.png", seed=i)
    return root


# 2. One stray folder must not renumber every class.
def test_a_stray_folder_does_not_renumber_every_class(tmp_path: Path) -> None:
    root = _wnid_folder(tmp_path / "val")
    (root / "__MACOSX").mkdir()
    (root / "empty").mkdir()
    write_image(root / (WNIDS[0] + "\r") / "extra.png", seed=9)  # a name written on Windows
    dataset = open_dataset(root, num_classes=1000)
    assert sorted({s.label for s in dataset.samples}) == [0, 217, 482], "ImageNet indices, not positions"


def test_odd_folders_among_wnids_are_refused_and_listed_through_eval(tmp_path: Path, capsys) -> None:
    root = _wnid_folder(tmp_path / "val")
    write_image(root / "holiday photos" / "x.png")
    with pytest.raises(DatasetError, match="holiday photos"):
        open_dataset(root, num_classes=1000)
    assert main(["eval", TINY, "--weights", "none", "--data", str(root), "--threads", "1"]) == 2
    assert "'holiday photos'" in capsys.readouterr().err


def test_positional_labels_are_said(tmp_path: Path, capsys) -> None:
    for i, name in enumerate(("cat", "dog")):
        write_image(tmp_path / "pets" / name / f"{i}.png", seed=i)
    assert main(["eval", TINY, "--weights", "none", "--data", str(tmp_path / "pets"), "--threads", "1"]) == 0
    assert "labels are the class folders in sorted order (0 = cat, 1 = dog" in capsys.readouterr().err


# 5. Anything that is not a regular file is skipped or refused, never read (a FIFO hangs a read for ever).
def test_a_fifo_among_the_images_is_skipped_with_its_reason(tmp_path: Path) -> None:
    root = tmp_path / "images"
    write_image(root / "a.png")
    os.mkfifo(root / "b.jpg")
    dataset = open_dataset(root, num_classes=None)
    assert len(dataset) == 1 and (str(root / "b.jpg"), "not a regular file") in dataset.skipped


def test_a_fifo_as_labels_csv_or_a_project_file_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "images"
    write_image(root / "a.png")
    os.mkfifo(root / "labels.csv")
    with pytest.raises(DatasetError, match="not a regular file"):
        open_dataset(root)
    project = Project.create(tmp_path / "p")
    (project.root / "project.json").unlink()
    os.mkfifo(project.root / "project.json")
    with pytest.raises(ProjectError, match="not a regular file"):
        Project.open(project.root)
    os.mkfifo(tmp_path / INDEX_FILE)
    assert ArtifactIndex(tmp_path, None, 0).entries == {}, "a FIFO index is ignored, not read"


# 6. A zip bomb is refused before torch unpacks it.
def _bomb(path: Path, size: int = 64 << 20) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/data/0", bytes(size))
    return path


def test_a_zip_bomb_is_refused_before_torch_reads_it_through_weights(tmp_path: Path, capsys) -> None:
    bomb = _bomb(tmp_path / "bomb.pth")
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(ModelLoadError, match="compressed records"):
        read_checkpoint(bomb)
    assert main(["info", TINY, "--weights", str(bomb)]) == 2
    assert "zip bomb" in capsys.readouterr().err


def test_a_zip_bomb_stored_as_a_variant_is_refused(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "p")
    variant = project.add_variant(create_model(ModelSpec("mobilenet_v3_small", resolution=64), "none"), "v")
    _bomb(project.model_path(variant))
    with pytest.raises(ModelLoadError, match="compressed records"):
        project.load(variant.id)


def test_an_archive_over_the_unpacked_cap_is_refused(tmp_path: Path) -> None:
    from core.zoo.archive import check_archive

    path = tmp_path / "big.pt"
    torch.save({"w": torch.zeros(1000)}, path)
    check_archive(path)  # torch's own file passes
    with pytest.raises(ModelLoadError, match="would unpack to"):
        check_archive(path, max_unpacked=1000)


# 8. One row of logits per image, whatever the model.
class _Rows(torch.nn.Module):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows
        self.linear = torch.nn.Linear(3, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean((2, 3)))[:1].expand(self.rows, 1000)


@pytest.mark.parametrize("rows", [1, 3])
def test_a_model_that_does_not_return_one_row_per_image_is_refused_at_open(rows: int, tmp_path: Path) -> None:
    path = tmp_path / "fixed.pt"
    torch.jit.script(_Rows(rows)).save(str(path))
    with pytest.raises(ModelLoadError, match="one row of logits per image"):
        load_model_file(path)


def test_an_onnx_model_with_one_dimensional_output_is_blamed_on_its_output(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["y"], keepdims=0)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "flat.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(ModelLoadError, match="returns output of shape"):
        load_model_file(path)


# 9. One plain line, never a traceback.
def _deep(depth: int = 200_000) -> str:
    return "[" * depth + "]" * depth


def test_json_nested_too_deep_leaves_one_variant_out_or_refuses_the_project(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "p")
    keep = project.add_variant(create_model(ModelSpec("mobilenet_v3_small", resolution=64), "none"), "keep")
    bad = project.add_variant(create_model(ModelSpec("mobilenet_v3_small", resolution=64), "none"), "bad")
    (project.variant_dir(bad) / "variant.json").write_text(_deep())
    reopened = Project.open(project.root)
    assert [v.id for v in reopened.variants] == [keep.id] and "nested too deeply" in reopened.problems[0]
    (project.root / "project.json").write_text(_deep())
    with pytest.raises(ProjectError, match="nested too deeply"):
        Project.open(project.root)
    (tmp_path / INDEX_FILE).write_text(_deep())
    assert ArtifactIndex(tmp_path, None, 0).entries == {}


@pytest.mark.parametrize("content", ["[1, 2]", '{"weights_dir": 7}', _deep(50_000)])
def test_a_settings_file_of_the_wrong_shape_gives_defaults(content: str, monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(content)
    monkeypatch.setattr(Settings, "path", staticmethod(lambda: path))
    assert load_settings() == Settings()
    assert main(["info", TINY, "--weights", "none", "--json"]) == 0


@pytest.mark.parametrize(("argv", "words"), [
    (["info", "mobilenet_v2:classes=100000000"], "num_classes must be between 1 and 100000"),
    (["info", TINY, "--weights", "/dev/zero"], "not a regular file"),
])
def test_impossible_values_are_one_line(argv: list[str], words: str, capsys) -> None:
    assert main(argv) == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "words"), [
    (["eval", TINY, "--threads", "10000", "--data", "."], "--threads: must be between 1 and 256"),
    (["export", TINY, "--format", "onnx", "--out", "x", "--latency-runs", "100000000"], "between 0 and 10000"),
    (["compress", TINY, "--target", "1", "--budget", "1e9", "--out", "x"], "at most 100000"),
])
def test_absurd_counts_are_refused_before_any_work(argv: list[str], words: str, capsys, tmp_path: Path,
                                                  monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# Weak cases: a spreadsheet's BOM, duplicate rows and hard links.
def test_a_bom_labels_csv_is_read_and_duplicates_count_once(tmp_path: Path) -> None:
    root = tmp_path / "images"
    write_image(root / "a.png", seed=1)
    write_image(root / "b.png", seed=2)
    os.link(root / "b.png", root / "c.png")
    (root / "labels.csv").write_text("\ufefffile,label\na.png,1\na.png,1\nb.png,2\nc.png,2\n", encoding="utf-8")
    dataset = open_dataset(root)
    assert len(dataset) == 2 and sum("the same file as" in why for _, why in dataset.skipped) == 2


# 10. --json is exactly one JSON object on stdout, whatever the converters print.
@pytest.mark.slow
def test_export_json_is_one_json_object_with_every_format(tmp_path: Path) -> None:
    images = tmp_path / "images"
    for i in range(2):
        write_image(images / f"{i}.png", seed=i)
    done = subprocess.run([sys.executable, "-m", "core.cli", "export", TINY, "--weights", "none", "--format",
                           "onnx,tflite,torchscript,pt2,pte,coreml", "--out", str(tmp_path / "out"), "--calib",
                           str(images), "--latency-runs", "0", "--threads", "1", "--json"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert set(report["formats"]) >= {"onnx", "tflite", "torchscript", "pt2"}


def test_a_users_folder_or_link_with_an_artifacts_name_is_never_removed(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    (out / "MobileNetV3-Small.onnx").mkdir(parents=True)
    (out / "MobileNetV3-Small.onnx" / "notes.txt").write_text("keep me")
    assert main(["export", TINY, "--weights", "none", "--format", "onnx", "--out", str(out), "--latency-runs",
                 "0", "--threads", "1"]) == 2
    assert "not an earlier export" in capsys.readouterr().err
    assert (out / "MobileNetV3-Small.onnx" / "notes.txt").read_text() == "keep me"
    link = tmp_path / "linked"
    link.mkdir()
    (link / "MobileNetV3-Small.onnx").symlink_to(tmp_path / "elsewhere.onnx")
    assert main(["export", TINY, "--weights", "none", "--format", "onnx", "--out", str(link), "--latency-runs",
                 "0", "--threads", "1"]) == 2
    assert "is a link" in capsys.readouterr().err and not (tmp_path / "elsewhere.onnx").exists()


def test_an_export_where_every_format_failed_does_not_exit_0(tmp_path: Path, capsys, monkeypatch) -> None:
    from core.export import torch_formats

    def broken(*_args):
        raise RuntimeError("the converter broke")

    monkeypatch.setattr(torch_formats, "convert", broken)
    assert main(["export", TINY, "--weights", "none", "--format", "torchscript", "--out", str(tmp_path / "out"),
                 "--latency-runs", "0", "--threads", "1"]) == 2
    assert "every format failed" in capsys.readouterr().err


def test_an_int8_variant_whose_parent_is_missing_still_exports_to_torchscript(tmp_path: Path, capsys) -> None:
    from core.compress.quantize import quantize
    from core.recipe import QuantizeStep

    images = tmp_path / "images"
    for i in range(4):
        write_image(images / f"{i}.png", seed=i)
    model = create_model(ModelSpec("mobilenet_v3_small", resolution=64), "none")
    project = Project.create(tmp_path / "p")
    parent = project.add_variant(model, "fp32")
    int8 = quantize(model, QuantizeStep(calibration_images=4), calib=open_dataset(images, num_classes=None))
    variant = project.add_variant(int8, "int8", parent=parent.id, recipe={"steps": [{"type": "quantize"}]})
    index = json.loads((project.root / "project.json").read_text())
    index["variants"].remove(parent.id)  # the parent lost from the index (deleted by hand)
    (project.root / "project.json").write_text(json.dumps(index))
    out = tmp_path / "out"
    assert main(["export", f"{project.root}:{variant.id}", "--format", "torchscript", "--out", str(out),
                 "--latency-runs", "0", "--threads", "1"]) == 0
    assert any(p.suffix == ".pt" for p in out.iterdir())


def test_an_onnx_model_that_answers_once_per_batch_is_refused_when_scored(tmp_path: Path, capsys) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((3, 1000), np.float32), "w")
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[0, 2, 3], keepdims=0),
             helper.make_node("Unsqueeze", ["m", "zero"], ["row"]), helper.make_node("MatMul", ["row", "w"], ["y"])]
    zero = numpy_helper.from_array(np.array([0], np.int64), "zero")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 64, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1000])], [weight, zero])
    path = tmp_path / "once.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    images = tmp_path / "images"
    for i in range(3):
        write_image(images / f"{i}.png", seed=i)
    (images / "labels.csv").write_text("file,label\n" + "".join(f"{i}.png,{i}\n" for i in range(3)))
    assert main(["eval", str(path), "--data", str(images), "--runtime", "onnxruntime", "--threads", "1"]) == 2
    assert "one row of class scores per image" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_ends_an_export_as_ctrl_c_does_and_leaves_no_scratch_folder(tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "export", TINY, "--weights", "none", "--format",
                                "onnx", "--out", str(out), "--latency-runs", "10000", "--threads", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not any(out.glob(".export-*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # until the export has made its scratch folder
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in err
    assert not list(out.glob(".export-*")) and not list(out.glob(".partial-*"))
