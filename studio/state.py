"""Qt-free, evented state behind the views: the current model, the data, the recipe being edited, the project,
the selection and what the window is busy with. Every view redraws itself from it when it changes (`changed`)."""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from psygnal import EmissionInfo, Signal, evented

from core.compare import DEFAULT_MAX_DROP, VariantRow, in_lineage, root_of, shown_root, variant_rows
from core.data.datasets import ImageDataset
from core.data.roles import DataRole
from core.inspect import ModelReport
from core.project import Project, Variant
from core.recipe import Recipe, TargetStep, load_recipe
from core.zoo.registry import ModelSpec

DEFAULT_PRESET = "near-lossless-int8"


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

    def folder(self, role: DataRole) -> str:
        return str(getattr(self, DataRole(role).value))

    def with_folder(self, role: DataRole, folder: str) -> DataFolders:
        changed: dict[str, Any] = {DataRole(role).value: folder}
        return replace(self, **changed)


@dataclass(frozen=True)
class Activity:
    """What the window is doing and has done beyond the fields of StudioState: its running jobs, the last bundle."""

    loading: bool = False
    measuring: bool = False
    compressing: bool = False
    bundle: str = ""  # path of the last app bundle written for the current model

    def with_(self, **changes: object) -> Activity:
        return replace(self, **changes)  # type: ignore[arg-type]


# Fields holding objects that are compared by identity: a model, an open project, opened folders.
_BY_IDENTITY = {name: operator.is_ for name in ("report", "project", "datasets")}


@evented(equality_operators=_BY_IDENTITY)
@dataclass
class StudioState:
    """Assigning a field emits `changed` with its name, once for a whole `batch()`; a field's value is replaced,
    never changed in place (`with_dataset`, `variants_changed`), so that every change is heard. A new report of
    another model (other weights) is also heard as "model": views forget what they showed of the last one."""

    changed: ClassVar[Signal] = Signal(frozenset)  # the names of the fields that changed

    choice: ZooChoice = ZooChoice()
    report: ModelReport | None = None
    error: str = ""
    folders: DataFolders = DataFolders()
    datasets: dict[DataRole, ImageDataset] = field(default_factory=dict)  # opened folders, by role
    recipe: Recipe = field(default_factory=lambda: load_recipe(DEFAULT_PRESET))
    project: Project | None = None
    selected_variant: str | None = None
    model_variant: str | None = None  # the project variant the current model is stored as, once it is
    shown_lineage: str | None = None  # the original whose lineage Variants and Compare show; "": every model;
    # None: the current model's (the default, and again whenever another model is opened)
    first_answer_s: float | None = None  # how soon a search of the current model verified an answer here
    target_fps: float = 30.0
    latency_runtime: str = "torch"  # the runtime whose paired latency the Variants table and charts show
    accepted_drop: float | None = None  # points a recommendation may lose; None: the recipe's target, else 1
    activity: Activity = Activity()
    reading: frozenset[DataRole] = frozenset()  # the data roles whose folders are being read
    data_problems: dict[DataRole, str] = field(default_factory=dict)  # why a role's folder could not be read
    revision: int = 0  # counts changes to the open project's variants (stored, renamed, deleted, re-measured)

    def __post_init__(self) -> None:
        self._batch: set[str] | None = None
        self._rows: list[VariantRow] | None = None  # drawn from the project, revision and runtime of now
        self._model = self._identity()
        self.events.all.connect(self._heard)  # type: ignore[attr-defined]  # added by @evented

    def _heard(self, info: EmissionInfo) -> None:
        names = {info.signal.name}
        if names & {"project", "revision", "latency_runtime"}:
            self._rows = None
        if "report" in names and self._identity() != self._model:
            self._model = self._identity()
            names.add("model")
        if self._batch is not None:
            self._batch.update(names)
        else:
            self.changed.emit(frozenset(names))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Assign several fields as one change: views redraw once, after the last, and never see half of it."""
        if self._batch is not None:  # inside another batch: that one emits
            yield
            return
        self._batch = set()
        try:
            yield
        finally:
            names, self._batch = frozenset(self._batch), None
            if names:
                self.changed.emit(names)

    def variants_changed(self) -> None:
        """The open project's variants were stored, renamed, deleted or re-measured (by a job, or an edit)."""
        self.revision += 1

    def with_dataset(self, role: DataRole, dataset: ImageDataset | None) -> None:
        """The folder of `role` was opened (or closed: None)."""
        if self.datasets.get(role) is not dataset:
            datasets = {**self.datasets, role: dataset}
            self.datasets = {r: d for r, d in datasets.items() if d is not None}

    def rows(self) -> Sequence[VariantRow]:
        """The open project's variants as the views list them (core.compare rows), timed in `latency_runtime`."""
        if self._rows is None:
            self._rows = variant_rows(self._variants(), runtime=self.latency_runtime)
        return self._rows

    def first_answer_key(self) -> str:
        """Where the time to a search's first verified answer is kept (settings) for the current model on this
        computer."""
        card = self.report.model.card if self.report is not None else None
        return f"search/first_answer/{card.title}@{card.input_size}" if card is not None else "search/first_answer"

    def least_budget(self) -> int:
        """Minutes a target search of the current model may be given at least: how long its first verified answer
        took on this computer (1 while that is not measured yet)."""
        return max(1, math.ceil((self.first_answer_s or 0.0) / 60))

    def recommendation_drop(self) -> float:
        """Points of top-1 a recommended variant may lose: as the user set it on the Compare tab, else the
        current recipe's target (a preset's), else core.compare's default."""
        if self.accepted_drop is not None:
            return self.accepted_drop
        target = self.recipe.step(TargetStep)
        return target.max_drop if target is not None else DEFAULT_MAX_DROP

    def dataset(self, role: DataRole, limit: int | None = None) -> ImageDataset | None:
        data = self.datasets.get(role)
        return data.subset(limit) if data is not None and limit else data

    def opened_folders(self) -> list[ImageDataset | None]:
        """The open folders that may name the model's classes, the evaluation folder first."""
        return [self.dataset(role) for role in (DataRole.EVALUATION, DataRole.TRAIN, DataRole.CALIB)]

    def evaluation(self) -> ImageDataset | None:
        return self.dataset(DataRole.EVALUATION, self.folders.evaluation_limit)

    def missing_data(self) -> list[str]:
        """What the recipe needs that no open folder gives, in words for the Data tab."""
        return [role.need for role in sorted(self.recipe.requirements()) if self.datasets.get(role) is None]

    # What the views show, drawn from the fields above ------------------------------------------------------
    def _variants(self) -> list[Variant]:
        return self.project.variants if self.project is not None else []

    def _identity(self) -> str:
        """Tells models apart (their weights' fingerprint): a settings edit keeps it, opening another model not."""
        report = self.report
        return (report.fingerprint or str(id(report.model))) if report is not None else ""

    def shown_root(self) -> str | None:
        """The original whose lineage Variants lists ("": every model; None: none, the current model is not
        stored yet)."""
        variants = self._variants()
        root = shown_root(variants, self.shown_lineage, self.model_variant)
        unstored = root is None and self.shown_lineage is None and self.report is not None
        return None if unstored else root or ""

    def originals(self) -> list[Variant]:
        variants = self._variants()
        by_id = {v.id: v for v in variants}
        return [v for v in variants if root_of(v, by_id) is v]

    def compared_lineage(self) -> tuple[str | None, list[VariantRow]]:
        """Compare shows one lineage: the one shown in Variants, else that of the variant picked there, as
        (its original's id, its rows). Accuracies measured on another model's label set never share its axes."""
        variants = self._variants()
        by_id = {v.id: v for v in variants}
        root = shown_root(variants, self.shown_lineage, self.model_variant)
        picked = by_id.get(self.selected_variant or "")
        if root is None and picked is not None:
            root = root_of(picked, by_id).id
        return root, (in_lineage(self.rows(), root) if root is not None else [])

    def selection(self) -> tuple[Variant | None, Variant | None, VariantRow | None]:
        """The variant picked in Variants, its parent and its row (None each when nothing is picked)."""
        project, chosen = self.project, self.selected_variant
        variant = project.variant(chosen) if project is not None and chosen else None
        parent = project.variant(variant.parent) if project is not None and variant and variant.parent else None
        row = next((row for row in self.rows() if variant is not None and row.id == variant.id), None)
        return variant, parent, row
