"""Small builders for test inputs: image folders with real pixels, model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, mode: str = "RGB", size: tuple[int, int] = (64, 48), seed: int = 0) -> Path:
    """A noise image in `mode` (RGB, L, CMYK, RGBA, P), saved in the format the suffix names."""
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    image = rgb.convert(mode) if mode != "P" else rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def copy_images(source: Path, target: Path, count: int) -> list[Path]:
    """Copy the first `count` real images of `source` into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))[:count]
    copied = []
    for file in files:
        (target / file.name).write_bytes(file.read_bytes())
        copied.append(target / file.name)
    return copied
