"""Qt-free state behind the views: what the user picked, which data, the recipe being edited, the project."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.compare import DEFAULT_MAX_DROP
from core.data.datasets import ImageDataset
from core.inspect import ModelReport
from core.project import Project
from core.recipe import Recipe, TargetStep, load_recipe
from core.zoo.registry import ModelSpec

DEFAULT_PRESET = "near-lossless-int8"
DATA_ROLES = {
    "calib": "Calibration images",
    "evaluation": "Evaluation images (labelled)",
    "train": "Fine-tuning images (labelled)",
}


# A recipe's requirements (core.recipe) and the Data tab's folders that meet them.
ROLE_OF_NEED = {"calib": "calib", "train": "train", "evaluation": "eval"}
NEEDS = {"calib": "calibration images", "train": "fine-tuning images", "eval": "labelled evaluation images"}


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


@dataclass(frozen=True)
class DataFolders:
    """Where each kind of image lives, and how many evaluation images a measurement reads."""

    calib: str = ""
    evaluation: str = ""
    train: str = ""
    evaluation_limit: int = 500

    def folder(self, role: str) -> str:
        return str(getattr(self, role))

    def with_folder(self, role: str, folder: str) -> DataFolders:
        if role not in DATA_ROLES:
            raise ValueError(f"no data role {role!r}")
        changed: dict[str, Any] = {role: folder}
        return replace(self, **changed)


@dataclass
class StudioState:
    choice: ZooChoice = ZooChoice()
    report: ModelReport | None = None
    error: str = ""
    folders: DataFolders = DataFolders()
    datasets: dict[str, ImageDataset] = field(default_factory=dict)  # opened folders, by role
    recipe: Recipe = field(default_factory=lambda: load_recipe(DEFAULT_PRESET))
    project: Project | None = None
    selected_variant: str | None = None
    model_variant: str | None = None  # the project variant the current model is stored as, once it is
    shown_lineage: str | None = None  # the original whose lineage Variants and Compare show; "": every model;
    # None: the current model's (the default, and again whenever another model is opened)
    target_fps: float = 30.0
    latency_runtime: str = "torch"  # the runtime whose paired latency the Variants table and charts show
    accepted_drop: float | None = None  # points a recommendation may lose; None: the recipe's target, else 1

    def recommendation_drop(self) -> float:
        """Points of top-1 a recommended variant may lose: as the user set it on the Compare tab, else the
        current recipe's target (a preset's), else core.compare's default."""
        if self.accepted_drop is not None:
            return self.accepted_drop
        target = self.recipe.step(TargetStep)
        return target.max_drop if target is not None else DEFAULT_MAX_DROP

    def dataset(self, role: str, limit: int | None = None) -> ImageDataset | None:
        data = self.datasets.get(role)
        return data.subset(limit) if data is not None and limit else data

    def evaluation(self) -> ImageDataset | None:
        return self.dataset("evaluation", self.folders.evaluation_limit)

    def missing_data(self) -> list[str]:
        """What the recipe needs that no open folder gives, in words for the Data tab."""
        met = {ROLE_OF_NEED[role] for role, data in self.datasets.items() if data is not None and role in ROLE_OF_NEED}
        return [NEEDS[need] for need in sorted(self.recipe.requirements()) if need not in met]
