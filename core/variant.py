"""A project's variant as its `variant.json` stores it: one reader (`Variant.from_dict`, which checks every field
a hand-edited or hostile file could get wrong) and one writer (`Variant.to_dict`)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from core.errors import ProjectError
from core.formats import StoredFormat
from core.metrics.stored import VariantMetrics
from core.precision import QuantInfo
from core.recipe import Recipe, RecipeError
from core.zoo.registry import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
from core.zoo.weights import WeightsInfo

VARIANT_FILE = "variant.json"
# Ids and file names read from a project's JSON are used as path components: plain names only, so a
# hand-edited or hostile project cannot point a load or a delete outside its own folders.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PLAIN_FILE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def check_variant_id(value: Any) -> str:
    if not isinstance(value, str) or not _PLAIN_ID.fullmatch(value):
        raise ProjectError(f"{value!r} is not a valid variant id (letters, digits, - and _ only)")
    return value


def check_file_name(value: Any) -> str:
    if not isinstance(value, str) or not _PLAIN_FILE.fullmatch(value) or ".." in value:
        raise ProjectError(f"{value!r} is not a plain file name inside the variant folder")
    return value


def _typed(data: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    value = data.get(key, default)
    if value is not default and not isinstance(value, kind):
        raise ProjectError(f"{VARIANT_FILE}: {key} has the wrong type ({type(value).__name__})")
    return value


@dataclass
class Variant:
    id: str
    name: str
    model_file: str
    format: StoredFormat
    spec: ModelSpec | None
    weights: WeightsInfo
    parent: str | None = None
    created: float = field(default_factory=time.time)
    recipe: dict[str, Any] = field(default_factory=dict)
    metrics: VariantMetrics = field(default_factory=VariantMetrics)
    quantization: QuantInfo | None = None  # how to rebuild an int8/fp16 variant's skeleton
    pruned: bool = False
    fingerprint: str = ""  # of the stored weights: a re-run finds its parent instead of storing it again
    class_names: tuple[str, ...] = ()  # the model's own class names, in class order (empty: the default ones)
    mean: tuple[float, float, float] = IMAGENET_MEAN  # how its inputs are normalized (set when it was opened)
    std: tuple[float, float, float] = IMAGENET_STD

    @cached_property
    def made_by(self) -> Recipe | None:
        """The recipe that made it, parsed once (None: an original, or a recipe this version cannot read)."""
        if not self.recipe:
            return None
        try:
            return Recipe.from_dict(self.recipe)
        except RecipeError:
            return None

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
            "metrics": self.metrics.to_dict(),
            "quantization": self.quantization.to_dict() if self.quantization else None,
            "pruned": self.pruned,
            "fingerprint": self.fingerprint,
            "class_names": list(self.class_names),
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Variant:
        if not isinstance(data, dict):
            raise ProjectError(f"{VARIANT_FILE} does not hold an object")
        try:
            fmt = StoredFormat(str(data.get("format")))
        except ValueError:
            raise ProjectError(f"{VARIANT_FILE}: unknown model format {data.get('format')!r}") from None
        parent = data.get("parent")
        return cls(
            id=check_variant_id(data.get("id")),
            name=_typed(data, "name", str, ""),
            model_file=check_file_name(data.get("model_file")),
            format=fmt,
            spec=ModelSpec.from_dict(data["spec"]) if data.get("spec") else None,
            weights=WeightsInfo(**_typed(data, "weights", dict, {})),
            parent=None if parent is None else check_variant_id(parent),
            created=_typed(data, "created", (int, float), 0.0),
            recipe=_typed(data, "recipe", dict, None) or {},
            metrics=VariantMetrics.read(_typed(data, "metrics", dict, None) or {}),
            quantization=_quant_info(data.get("quantization")),
            pruned=_typed(data, "pruned", bool, False),
            fingerprint=_typed(data, "fingerprint", str, ""),
            class_names=_names(data.get("class_names")),
            mean=_channels(data.get("mean"), IMAGENET_MEAN),
            std=_channels(data.get("std"), IMAGENET_STD),
        )


def _channels(data: Any, default: tuple[float, float, float]) -> tuple[float, float, float]:
    if data is None:
        return default  # written before normalization was stored: ImageNet's, as every model then had
    if not isinstance(data, list) or len(data) != 3 or not all(isinstance(v, int | float) for v in data):
        raise ProjectError(f"{VARIANT_FILE}: mean and std must be lists of three numbers")
    return float(data[0]), float(data[1]), float(data[2])


def _names(data: Any) -> tuple[str, ...]:
    if data is None:
        return ()
    if not isinstance(data, list) or not all(isinstance(name, str) for name in data):
        raise ProjectError(f"{VARIANT_FILE}: class_names must be a list of strings")
    return tuple(data)


def _quant_info(data: Any) -> QuantInfo | None:
    try:
        return None if data is None else QuantInfo.from_dict(data)
    except ValueError as exc:
        raise ProjectError(f"{VARIANT_FILE}: {exc}") from None
