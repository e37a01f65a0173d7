"""ImageNet-1k class order (torchvision's): WordNet ids and display names."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from core.paths import ASSETS_DIR


@dataclass(frozen=True)
class ClassList:
    wnids: tuple[str, ...]
    names: tuple[str, ...]

    def index_of_wnid(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.wnids)}


@cache
def imagenet_classes() -> ClassList:
    rows = [
        line.split("\t")
        for line in (ASSETS_DIR / "imagenet1k_classes.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    return ClassList(tuple(r[1] for r in rows), tuple(r[2] for r in rows))
