"""A project folder holding variants: model file, recipe, metrics and parent link.

Layout:
    project.json                  name, format version, variant order
    variants/<id>/variant.json    card, spec, recipe, metrics, parent
    variants/<id>/model.pt        state_dict (loads with weights_only=True), or the
                                  user's original file for models the zoo did not build

Every write is atomic (temp file or temp folder, then rename), so a crash or a
full disk leaves the previous state readable.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.errors import ProjectError
from core.model import LoadedModel
from core.storage import atomic_write_text
from core.zoo.registry import ModelSpec
from core.zoo.weights import WeightsInfo

PROJECT_FORMAT = "mnstudio-project"
PROJECT_VERSION = 1
PROJECT_FILE = "project.json"
VARIANT_FILE = "variant.json"


@dataclass
class Variant:
    id: str
    name: str
    model_file: str
    format: str
    spec: ModelSpec | None
    weights: WeightsInfo
    parent: str | None = None
    created: float = field(default_factory=time.time)
    recipe: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] | None = None  # how to rebuild an int8/fp16 variant's skeleton
    pruned: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "model_file": self.model_file,
            "format": self.format,
            "spec": self.spec.to_dict() if self.spec else None,
            "weights": self.weights.__dict__,
            "parent": self.parent,
            "created": self.created,
            "recipe": self.recipe,
            "metrics": self.metrics,
            "quantization": self.quantization,
            "pruned": self.pruned,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Variant:
        return cls(
            id=data["id"],
            name=data["name"],
            model_file=data["model_file"],
            format=data["format"],
            spec=ModelSpec.from_dict(data["spec"]) if data.get("spec") else None,
            weights=WeightsInfo(**data["weights"]),
            parent=data.get("parent"),
            created=data.get("created", 0.0),
            recipe=data.get("recipe") or {},
            metrics=data.get("metrics") or {},
            quantization=data.get("quantization"),
            pruned=data.get("pruned", False),
        )


class Project:
    """An open project folder. Create with `Project.create`, reopen with `Project.open`."""

    def __init__(self, root: Path, name: str, variants: list[Variant], problems: list[str]) -> None:
        self.root = root
        self.name = name
        self.variants = variants
        self.problems = problems  # variants that could not be read when opening

    @classmethod
    def create(cls, root: str | Path, name: str | None = None) -> Project:
        root = Path(root).expanduser()
        if (root / PROJECT_FILE).exists():
            raise ProjectError(f"{root} already holds a project; open it instead")
        if root.exists() and any(root.iterdir()):
            raise ProjectError(f"{root} is not empty; choose an empty or new folder for a project")
        try:
            (root / "variants").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"cannot create a project in {root}: {exc.strerror or exc}") from exc
        project = cls(root, name or root.name, [], [])
        project._save_index()
        return project

    @classmethod
    def open(cls, root: str | Path) -> Project:
        root = Path(root).expanduser()
        index_path = root / PROJECT_FILE
        try:
            index = json.loads(index_path.read_text())
        except FileNotFoundError:
            raise ProjectError(f"{root} is not a studio project (no {PROJECT_FILE})") from None
        except (OSError, ValueError) as exc:
            raise ProjectError(f"{index_path} is unreadable or corrupt: {exc}") from exc
        if not isinstance(index, dict) or index.get("format") != PROJECT_FORMAT:
            raise ProjectError(f"{index_path} is not a studio project file")
        if index.get("version", 0) > PROJECT_VERSION:
            raise ProjectError(f"{root} was written by a newer studio (format {index['version']}); update the studio")
        variants, problems = [], []
        for variant_id in index.get("variants", []):
            try:
                data = json.loads((root / "variants" / variant_id / VARIANT_FILE).read_text())
                variants.append(Variant.from_dict(data))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"variant {variant_id} is unreadable and was left out: {exc}")
        return cls(root, index.get("name", root.name), variants, problems)

    def _save_index(self) -> None:
        index = {
            "format": PROJECT_FORMAT,
            "version": PROJECT_VERSION,
            "name": self.name,
            "variants": [v.id for v in self.variants],
        }
        atomic_write_text(self.root / PROJECT_FILE, json.dumps(index, indent=2))

    def variant(self, variant_id: str) -> Variant:
        for variant in self.variants:
            if variant.id == variant_id or variant.name == variant_id:
                return variant
        raise ProjectError(f"no variant {variant_id!r} in project {self.name}")

    def variant_dir(self, variant: Variant) -> Path:
        return self.root / "variants" / variant.id

    def add_variant(
        self,
        model: LoadedModel,
        name: str,
        *,
        parent: str | None = None,
        recipe: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> Variant:
        """Store `model` as a new variant (written to a temp folder, then renamed into place)."""
        import torch

        from core.compress.quantize import storable_state_dict

        if parent is not None:
            self.variant(parent)
        variant_id = uuid.uuid4().hex[:12]
        card = model.card
        if card.spec is not None and card.format == "pytorch" and model.module is not None:
            model_file, fmt = "model.pt", "state_dict"
        elif card.path and card.format in ("torchscript", "pt2", "onnx"):
            model_file, fmt = "model" + Path(card.path).suffix, card.format
        else:
            raise ProjectError(f"{card.title} cannot be stored: save it as a state_dict, TorchScript, .pt2 or ONNX")
        variant = Variant(
            variant_id, name, model_file, fmt, card.spec, card.weights, parent,
            recipe=recipe or {}, metrics=metrics or {}, quantization=card.quantization, pruned=card.pruned,
        )  # fmt: skip
        staging = self.root / "variants" / f".incoming-{variant_id}"
        try:
            staging.mkdir(parents=True)
            if fmt == "state_dict":
                assert model.module is not None
                torch.save(storable_state_dict(model.module), staging / model_file)
            else:
                shutil.copyfile(card.path, staging / model_file)
            (staging / VARIANT_FILE).write_text(json.dumps(variant.to_dict(), indent=2))
            os.replace(staging, self.variant_dir(variant))
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ProjectError(f"cannot write variant to {self.root}: {exc.strerror or exc}") from exc
        self.variants.append(variant)
        self._save_index()
        return variant

    def _save_variant(self, variant: Variant) -> None:
        atomic_write_text(self.variant_dir(variant) / VARIANT_FILE, json.dumps(variant.to_dict(), indent=2))

    def update_metrics(self, variant_id: str, metrics: dict[str, Any]) -> Variant:
        variant = self.variant(variant_id)
        variant.metrics = {**variant.metrics, **metrics}
        self._save_variant(variant)
        return variant

    def rename(self, variant_id: str, name: str) -> Variant:
        if not name.strip():
            raise ProjectError("a variant name cannot be empty")
        variant = self.variant(variant_id)
        variant.name = name.strip()
        self._save_variant(variant)
        return variant

    def delete(self, variant_id: str) -> None:
        variant = self.variant(variant_id)
        children = [v.name for v in self.variants if v.parent == variant.id]
        if children:
            raise ProjectError(f"{variant.name} has derived variants ({', '.join(children)}); delete those first")
        self.variants.remove(variant)
        self._save_index()
        shutil.rmtree(self.variant_dir(variant), ignore_errors=True)

    def load(self, variant_id: str) -> LoadedModel:
        """Re-create a stored variant as a runnable model."""
        from core.zoo.loading import assemble_model, load_model_file, load_state_dict_into, read_state_dict

        variant = self.variant(variant_id)
        path = self.variant_dir(variant) / variant.model_file
        if variant.format != "state_dict":
            return load_model_file(path)
        assert variant.spec is not None
        if variant.quantization:
            return self._load_quantized(variant, path)
        module, pruned = load_state_dict_into(variant.spec, read_state_dict(path), f"variant {variant.name}")
        return assemble_model(variant.spec, module, variant.weights, "pytorch", str(path), pruned=pruned)

    def _load_quantized(self, variant: Variant, path: Path) -> LoadedModel:
        from core.compress.quantize import QuantInfo, rebuild_quantized
        from core.zoo.loading import assemble_model, read_checkpoint

        assert variant.spec is not None and variant.quantization is not None
        info = QuantInfo.from_dict(variant.quantization)
        state_dict = read_checkpoint(path)
        try:
            module = rebuild_quantized(variant.spec, info, state_dict)
        except (RuntimeError, KeyError) as exc:
            raise ProjectError(
                f"variant {variant.name}'s int8 weights do not match its recorded layout: {exc}"
            ) from exc
        model = assemble_model(variant.spec, module, variant.weights, "pytorch", str(path))
        card = replace(model.card, title=variant.name, quantization=variant.quantization, pruned=variant.pruned)
        return LoadedModel(card=card, module=module)
