"""Data folders: the three layouts, class mapping, odd images, problems reported, subsets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.data import Preprocessing, open_dataset
from core.errors import DatasetError
from core.metrics.accuracy import evaluate
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec
from tests.helpers import write_image


def test_wordnet_folders_map_to_imagenet_indices(imagenette_dir: Path) -> None:
    dataset = open_dataset(imagenette_dir / "val", limit=50)
    assert dataset.kind == "imagefolder" and len(dataset) == 50
    # n01440764 (tench) is ImageNet class 0, n03888257 (parachute) class 701.
    labels = {s.path.parent.name: s.label for s in dataset.samples}
    assert labels.get("n01440764", 0) == 0
    assert set(labels.values()) <= {0, 217, 482, 491, 497, 566, 569, 571, 574, 701}


def test_plain_class_folders_are_numbered_in_sorted_order(tmp_path: Path) -> None:
    for name in ("dog", "cat", "bird"):
        write_image(tmp_path / name / "a.png")
    dataset = open_dataset(tmp_path, num_classes=3)
    assert dataset.class_names == ("bird", "cat", "dog")
    assert {s.path.parent.name: s.label for s in dataset.samples} == {"bird": 0, "cat": 1, "dog": 2}
    with pytest.raises(DatasetError, match="3 class folders but the model predicts 2 classes"):
        open_dataset(tmp_path, num_classes=2)


def test_labels_csv_with_missing_and_bad_rows(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    write_image(tmp_path / "b.jpg", seed=1)
    (tmp_path / "labels.csv").write_text("file,label\na.jpg,3\nb.jpg,7\ngone.jpg,1\n")
    dataset = open_dataset(tmp_path)
    assert dataset.kind == "labels_csv"
    assert [s.label for s in dataset.samples] == [3, 7]
    assert dataset.skipped == [(str(tmp_path / "gone.jpg"), "listed in labels.csv but missing")]
    (tmp_path / "labels.csv").write_text("file,label\na.jpg,cat\n")
    with pytest.raises(DatasetError, match="line 2: label 'cat' is not an integer"):
        open_dataset(tmp_path)
    (tmp_path / "labels.csv").write_text("file,label\na.jpg,1000\n")
    with pytest.raises(DatasetError, match=r"outside 0\.\.999"):
        open_dataset(tmp_path)
    (tmp_path / "labels.csv").write_text("path,class\na.jpg,1\n")
    with pytest.raises(DatasetError, match="'file' and 'label' columns"):
        open_dataset(tmp_path)


def test_empty_missing_and_imageless_folders_are_explained(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="data folder not found"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "photo.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"photo\.jpg is a file, not a folder of images"):
        open_dataset(tmp_path / "photo.jpg")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no usable images"):
        open_dataset(tmp_path / "empty")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hello")
    with pytest.raises(DatasetError, match=r"1 files skipped: not an image file"):
        open_dataset(tmp_path / "docs")


def test_odd_files_are_skipped_counted_and_reported(tmp_path: Path) -> None:
    write_image(tmp_path / "good.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "fake.jpg").write_bytes(b"\x00" * 100)
    dataset = open_dataset(tmp_path)
    assert dataset.kind == "unlabeled" and not dataset.labeled and len(dataset) == 1
    assert sorted(reason for _, reason in dataset.skipped) == ["not an image file", "unreadable image"]
    assert "skipped 1 not an image file, 1 unreadable image" in dataset.summary()


def test_truncated_images_are_skipped_at_decode_time(tmp_path: Path, val_dir: Path) -> None:
    source = sorted(val_dir.glob("*.JPEG"))[:3]
    for index, file in enumerate(source):
        data = file.read_bytes()
        (tmp_path / file.name).write_bytes(data[: len(data) // 3] if index == 1 else data)
    (tmp_path / "labels.csv").write_text("file,label\n" + "".join(f"{f.name},0\n" for f in source))
    dataset = open_dataset(tmp_path)
    result = evaluate(create_model(ModelSpec("mobilenet_v3_small", resolution=96), "none"), dataset, threads=1)
    assert result.n == 2
    assert [reason for _, reason in result.skipped] == ["unreadable image (OSError)"]


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "RGB"])
def test_every_colour_mode_becomes_a_normalised_rgb_tensor(mode: str, tmp_path: Path) -> None:
    suffix = ".jpg" if mode in ("L", "CMYK", "RGB") else ".png"
    write_image(tmp_path / f"x{suffix}", mode=mode, size=(50, 70))
    dataset = open_dataset(tmp_path)
    tensor = dataset.load(dataset.samples[0], Preprocessing(input_size=32, resize_size=37))
    assert tensor is not None and tensor.shape == (3, 32, 32) and tensor.dtype == torch.float32


def test_subsets_are_deterministic(val_dir: Path) -> None:
    first = open_dataset(val_dir, limit=20, seed=3)
    again = open_dataset(val_dir, limit=20, seed=3)
    other = open_dataset(val_dir, limit=20, seed=4)
    assert [s.path for s in first.samples] == [s.path for s in again.samples]
    assert [s.path for s in first.samples] != [s.path for s in other.samples]
    with pytest.raises(DatasetError, match="limit must be at least 1"):
        open_dataset(val_dir, limit=0)


def test_batches_cover_every_image_once(val_dir: Path) -> None:
    dataset = open_dataset(val_dir, limit=10)
    batches = list(dataset.batches(Preprocessing(64, 73), batch_size=4))
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    assert torch.cat([labels for _, labels in batches]).tolist() == [s.label for s in dataset.samples]
