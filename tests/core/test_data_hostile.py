"""Hostile and unusual data: high bit depths, decompression bombs, huge photos, labels.csv escaping its folder."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import Preprocessing, open_dataset
from core.data.datasets import TrainPreprocessing, read_rgb
from tests.helpers import write_image


def _png(path: Path, pixels: np.ndarray, colour_type: int, size: tuple[int, int] | None = None) -> Path:
    """A PNG written by hand, so it can hold what Pillow cannot save (48-bit RGB) or lie about its size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = pixels.shape[:2]
    width, height = size or (width, height)
    depth = pixels.dtype.itemsize * 8
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def photo(val_dir: Path) -> Path:
    return sorted(val_dir.glob("*.JPEG"))[0]


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int32)


def _read_rgb_before(path: Path) -> Image.Image:
    """read_rgb as it was before high bit depths and reduced decoding, to prove ordinary images are untouched."""
    with Image.open(path) as opened:
        opened.load()
        image: Image.Image = opened.convert("RGBA") if opened.mode == "P" else opened
        if image.mode in ("RGBA", "LA"):
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            return background
        return image.convert("RGB")


@pytest.mark.parametrize(
    ("suffix", "mode", "scale"),
    [
        (".png", "I;16", 257),
        (".tif", "I;16", 257),
        (".tif", "I;16B", 257),
        (".tif", "I", 257),
        (".tif", "F", 1 / 255),
        (".tif", "F", 1),
        (".tif", "F", 257),
    ],
)
def test_high_bit_depth_grayscale_scales_to_its_8bit_decode(
    suffix: str, mode: str, scale: float, photo: Path, tmp_path: Path
) -> None:
    gray = np.asarray(Image.open(photo).convert("L"))
    dtype = {"I;16": np.uint16, "I;16B": ">u2", "I": np.int32, "F": np.float32}[mode]
    (wide := Image.fromarray((gray.astype(np.float64) * scale).astype(dtype))).save(tmp_path / f"wide{suffix}")
    assert wide.mode == mode and Image.open(tmp_path / f"wide{suffix}").mode == mode
    decoded = read_rgb(tmp_path / f"wide{suffix}")
    assert decoded.mode == "RGB"
    assert np.abs(_pixels(decoded) - _pixels(Image.fromarray(gray).convert("RGB"))).max() <= 1


def test_48_bit_rgb_png_matches_its_8bit_decode(photo: Path, tmp_path: Path) -> None:
    rgb = np.asarray(read_rgb(photo))
    path = _png(tmp_path / "deep.png", (rgb.astype(np.uint16) * 257).astype(">u2"), colour_type=2)
    assert np.abs(_pixels(read_rgb(path)) - rgb.astype(np.int32)).max() <= 1


def test_sixteen_bit_png_goes_through_a_dataset(photo: Path, tmp_path: Path) -> None:
    gray = np.asarray(Image.open(photo).convert("L"))
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "wide.png")
    Image.fromarray(gray).save(tmp_path / "narrow.png")
    dataset = open_dataset(tmp_path)
    wide, narrow = (dataset.load(s, Preprocessing(64, 73)) for s in dataset.samples)
    assert wide is not None and narrow is not None and torch.allclose(wide, narrow, atol=0.02)


def test_header_claiming_huge_dimensions_is_skipped_at_scan_time(photo: Path, tmp_path: Path) -> None:
    (tmp_path / "good.jpg").write_bytes(photo.read_bytes())
    _png(tmp_path / "bomb.png", np.zeros((1, 1), np.uint8), colour_type=0, size=(100_000, 100_000))
    dataset = open_dataset(tmp_path)
    assert [s.path.name for s in dataset.samples] == ["good.jpg"]
    assert dataset.skipped == [(str(tmp_path / "bomb.png"), "too large")]


@pytest.mark.parametrize("warning_action", ["default", "error"])
@pytest.mark.parametrize("over", [1.5, 3.0])  # Pillow warns up to twice its limit and raises beyond
def test_images_over_the_pixel_limit_are_skipped_at_scan_and_decode_time(
    over: float, warning_action: str, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "big.jpg").write_bytes(photo.read_bytes())
    write_image(tmp_path / "small.png")  # 64x48, under every limit used here
    scanned_before = open_dataset(tmp_path)
    width, height = Image.open(photo).size
    with warnings.catch_warnings():
        warnings.simplefilter(warning_action)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", int(width * height / over))
        scanned_after = open_dataset(tmp_path)
        batches = list(scanned_before.batches(Preprocessing(64, 73)))
    assert [s.path.name for s in scanned_after.samples] == ["small.png"]
    assert scanned_after.skipped == [(str(tmp_path / "big.jpg"), "too large")]
    assert [len(labels) for _, labels in batches] == [1]
    assert scanned_before.skipped == [(str(tmp_path / "big.jpg"), "too large")]


@pytest.fixture(scope="module")
def huge_jpeg(photo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("huge") / "huge.jpg"
    Image.open(photo).convert("RGB").resize((4000, 3000), Image.Resampling.BILINEAR).save(path, quality=90)
    return path


def test_huge_jpeg_decodes_reduced_but_no_smaller_than_needed(huge_jpeg: Path) -> None:
    full = read_rgb(huge_jpeg)
    reduced = read_rgb(huge_jpeg, min_side=256)
    assert full.size == (4000, 3000)
    assert 256 <= min(reduced.size) < 512 and reduced.size[0] * 3 == reduced.size[1] * 4
    # A faithful shrink, not a crop or garbage: close to the full decode resized the slow way.
    resized = full.resize(reduced.size, Image.Resampling.BOX)
    assert np.abs(_pixels(reduced) - _pixels(resized)).mean() < 3


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
def test_huge_png_decodes_reduced(mode: str, tmp_path: Path) -> None:
    path = write_image(tmp_path / "huge.png", mode=mode, size=(2400, 1800))  # over REDUCE_ABOVE_PIXELS
    reduced = read_rgb(path, min_side=256)
    assert reduced.mode == "RGB" and reduced.size == (343, 258)  # factor 1800 // 256 = 7, rounded up


def test_preprocessing_decodes_huge_images_reduced_with_the_same_result(huge_jpeg: Path) -> None:
    assert Preprocessing(224, 256).decode_min_side == 256
    assert TrainPreprocessing(224, (0.5,) * 3, (0.5,) * 3).decode_min_side == 448
    dataset = open_dataset(huge_jpeg.parent)
    preprocess = Preprocessing(224, 256)
    loaded = dataset.load(dataset.samples[0], preprocess)
    assert loaded is not None
    assert (loaded - preprocess(read_rgb(huge_jpeg))).abs().mean() < 0.02
    trained = dataset.load(dataset.samples[0], TrainPreprocessing(96, (0.5,) * 3, (0.5,) * 3))
    assert trained is not None and trained.shape == (3, 96, 96)


@pytest.mark.parametrize("min_side", [None, 256, 448])
def test_normal_images_decode_exactly_as_before(min_side: int | None, val_dir: Path, tmp_path: Path) -> None:
    files = sorted(val_dir.glob("*.JPEG"))[:20]
    for mode in ("L", "RGBA", "P", "CMYK"):
        files.append(write_image(tmp_path / f"{mode}.{'jpg' if mode in ('L', 'CMYK') else 'png'}", mode, (500, 375)))
    for file in files:
        assert np.array_equal(np.asarray(read_rgb(file, min_side)), np.asarray(_read_rgb_before(file))), file.name


def test_labels_csv_cannot_reach_outside_the_folder(photo: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jpg").write_bytes(photo.read_bytes())
    outside = tmp_path / "x.jpg"
    outside.write_bytes(photo.read_bytes())
    (data / "inner_link.jpg").symlink_to(data / "a.jpg")
    (data / "outer_link.jpg").symlink_to(outside)
    (data / "loop.jpg").symlink_to(data / "loop.jpg")
    rows = ["a.jpg", "../x.jpg", str(outside), "outer_link.jpg", "inner_link.jpg", "loop.jpg", "../data/a.jpg"]
    (data / "labels.csv").write_text("file,label\n" + "".join(f"{row},1\n" for row in rows))
    dataset = open_dataset(data)
    # A link inside the folder, or a second path to the same image, is that image once (not two in n).
    assert [s.path for s in dataset.samples] == [data / "a.jpg"]
    assert dataset.skipped == [
        (str(data / "../x.jpg"), "outside the data folder"),
        (str(outside), "outside the data folder"),
        (str(data / "outer_link.jpg"), "outside the data folder"),
        (str(data / "loop.jpg"), "outside the data folder"),
        (str(data / "inner_link.jpg"), "the same file as a.jpg"),
        (str(data / "../data/a.jpg"), "the same file as a.jpg"),
    ]
    assert all(dataset.load(s, Preprocessing(64, 73)) is not None for s in dataset.samples)
