"""Qt-free state behind the views: what the user picked and what is loaded."""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.inspect import ModelReport
from core.zoo.registry import ModelSpec


@dataclass(frozen=True)
class ZooChoice:
    """The zoo picker's selection."""

    arch: str = "mobilenet_v2"
    width: float = 1.0
    resolution: int = 224
    pretrained: bool = True

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(self.arch, width=self.width, resolution=self.resolution)

    @property
    def weights(self) -> str:
        return "auto" if self.pretrained else "none"

    def with_(self, **changes: object) -> ZooChoice:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass
class StudioState:
    choice: ZooChoice = ZooChoice()
    report: ModelReport | None = None
    error: str = ""
