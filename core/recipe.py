"""Compression recipes: a versioned tree of typed, validated steps with a JSON round trip.

A recipe is a pipeline such as prune → fine-tune → quantize. Every field is checked
when the recipe is built, so a bad recipe fails with a clear message before any
work starts; `requirements()` tells which data folders a run needs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from core.errors import StudioError

RECIPE_FORMAT = "mnstudio-recipe"
RECIPE_VERSION = 1


class RecipeError(StudioError):
    """A recipe is invalid; the message names the field and the allowed values."""


def _check_choice(step: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise RecipeError(f"{step}.{name} must be one of {', '.join(allowed)}; got {value!r}")


def _check_range(step: str, name: str, value: float, low: float, high: float, high_open: bool = False) -> None:
    if not (low <= value < high if high_open else low <= value <= high):
        bracket = ")" if high_open else "]"
        raise RecipeError(f"{step}.{name} must be in [{low:g}, {high:g}{bracket}; got {value!r}")


@dataclass(frozen=True)
class PruneStep:
    """Remove channels (structured: the network really shrinks) or weights (unstructured: zeros)."""

    kind: str = "structured"  # structured | unstructured
    ratio: float = 0.3  # fraction of channels (structured) or weights (unstructured) removed
    scope: str = "uniform"  # uniform: same ratio per layer; global: one ranking over all layers
    importance: str = "l1"  # l1 | l2 | activation (needs data) | taylor (needs data) | bn_scale
    round_to: int = 8  # channel counts rounded to a multiple (unrounded counts made int8 9× slower)
    layer_ratios: dict[str, float] = field(default_factory=dict)  # per-layer overrides
    iterations: int = 1  # prune in N steps, fine-tuning between them when a FinetuneStep follows
    # Structured only: fold removed channels' mean output into the next bias (needs calibration data).
    compensate: bool = True
    # Structured only: also narrow the residual streams and linear bottlenecks. False keeps their width
    # and prunes only channels that pass an activation inside a block (expansions, squeeze-excite, the
    # head); sensitivity analysis measured the streams as the most fragile groups of V2.
    bottlenecks: bool = True

    TYPE: ClassVar[str] = "prune"
    KINDS: ClassVar[tuple[str, ...]] = ("structured", "unstructured")
    SCOPES: ClassVar[tuple[str, ...]] = ("uniform", "global")
    IMPORTANCES: ClassVar[tuple[str, ...]] = ("l1", "l2", "activation", "taylor", "bn_scale")

    @property
    def needs_data(self) -> bool:
        """Calibration images are read for data-driven importance and for bias compensation."""
        return self.kind == "structured" and (self.compensate or self.importance in ("activation", "taylor"))

    def __post_init__(self) -> None:
        _check_choice("prune", "kind", self.kind, self.KINDS)
        _check_choice("prune", "scope", self.scope, self.SCOPES)
        _check_choice("prune", "importance", self.importance, self.IMPORTANCES)
        _check_range("prune", "ratio", self.ratio, 0.0, 1.0, high_open=True)
        for layer, ratio in self.layer_ratios.items():
            _check_range("prune", f"layer_ratios[{layer!r}]", ratio, 0.0, 1.0, high_open=True)
        if self.round_to < 1:
            raise RecipeError(f"prune.round_to must be at least 1; got {self.round_to}")
        if self.iterations < 1:
            raise RecipeError(f"prune.iterations must be at least 1; got {self.iterations}")
        if self.kind == "unstructured" and self.importance not in ("l1", "l2"):
            raise RecipeError("unstructured pruning ranks weights by magnitude: importance must be l1 or l2")


@dataclass(frozen=True)
class FinetuneStep:
    """Recover accuracy: cross-entropy on labels, distillation from the parent, or both."""

    epochs: float = 1.0
    learning_rate: float = 1e-4  # AdamW (see core.compress.finetune for the measured choice)
    batch_size: int = 32
    labels: bool = True  # cross-entropy on labels (needs labelled training data)
    distill: bool = True  # KL divergence to the parent variant's outputs
    temperature: float = 2.0
    distill_weight: float = 0.7  # weight of the distillation term; labels get 1 - weight
    resolution: int | None = None  # train at a lower resolution to save CPU time
    max_minutes: float | None = None  # stop after this wall time (a CPU budget)
    bn_recalibration_images: int = 256  # re-estimate BatchNorm statistics afterwards

    TYPE: ClassVar[str] = "finetune"

    def __post_init__(self) -> None:
        if not (self.labels or self.distill):
            raise RecipeError("finetune needs labels, distill, or both")
        _check_range("finetune", "epochs", self.epochs, 0.0, 1000.0)
        _check_range("finetune", "learning_rate", self.learning_rate, 1e-8, 10.0)
        _check_range("finetune", "batch_size", self.batch_size, 1, 4096)
        _check_range("finetune", "temperature", self.temperature, 0.1, 100.0)
        _check_range("finetune", "distill_weight", self.distill_weight, 0.0, 1.0)
        if self.resolution is not None:
            _check_range("finetune", "resolution", self.resolution, 32, 1024)
        if self.max_minutes is not None:
            _check_range("finetune", "max_minutes", self.max_minutes, 0.01, 100_000.0)
        _check_range("finetune", "bn_recalibration_images", self.bn_recalibration_images, 0, 1_000_000)


@dataclass(frozen=True)
class QuantizeStep:
    """Lower the precision: dynamic, static int8 (calibrated), quantization-aware training, or fp16."""

    mode: str = "static"  # dynamic | static | qat | fp16
    observer: str = "percentile"  # minmax | moving_average | histogram | percentile (best measured: see README)
    calibration_images: int = 512
    per_channel: bool = True
    keep_float: tuple[str, ...] = ()  # layers left in float
    # 7-bit activations: needed where the CPU lacks VNNI (8-bit sums can overflow there) and
    # costs accuracy elsewhere (V1-0.75: −2 pt). None: decided by the CPU that quantizes.
    reduce_range: bool | None = None
    # Rescale activation channels before calibrating (core.compress.equalize). None: only with 7-bit
    # activations, where it gained 1.2 pt on V1-0.75; with 8-bit ones it cost 0.5 pt there.
    equalize: bool | None = None
    # Static int8: shift each int8 layer's bias by its output's mean error against float (64 images).
    # None: kept only where it brings the int8 outputs closer to float on other calibration images
    # (measured: V1-0.75 −2.4 → −0.1 pt; it cost V2 0.5 pt and V3-Small 4.5 pt).
    bias_correction: bool | None = None
    qat_epochs: float = 1.0
    qat_learning_rate: float = 2e-5  # AdamW; lower than fine-tuning: QAT starts from a good model
    freeze_bn_after: int = 200  # QAT steps before BatchNorm statistics freeze
    freeze_observers_after: int = 300  # QAT steps before quantization ranges freeze

    TYPE: ClassVar[str] = "quantize"
    MODES: ClassVar[tuple[str, ...]] = ("dynamic", "static", "qat", "fp16")
    OBSERVERS: ClassVar[tuple[str, ...]] = ("minmax", "moving_average", "histogram", "percentile")

    @property
    def activations_7bit(self) -> bool:
        from core.runtime import seven_bit_int8

        return seven_bit_int8(self.reduce_range)

    @property
    def equalizes(self) -> bool:
        return self.activations_7bit if self.equalize is None else self.equalize

    def __post_init__(self) -> None:
        _check_choice("quantize", "mode", self.mode, self.MODES)
        _check_choice("quantize", "observer", self.observer, self.OBSERVERS)
        _check_range("quantize", "calibration_images", self.calibration_images, 1, 1_000_000)
        _check_range("quantize", "qat_epochs", self.qat_epochs, 0.0, 1000.0)
        _check_range("quantize", "qat_learning_rate", self.qat_learning_rate, 1e-8, 1.0)
        if self.freeze_bn_after < 0 or self.freeze_observers_after < 0:
            raise RecipeError("quantize.freeze_bn_after and freeze_observers_after must not be negative")


Step = PruneStep | FinetuneStep | QuantizeStep
StepT = TypeVar("StepT", PruneStep, FinetuneStep, QuantizeStep)
STEP_TYPES: dict[str, type[PruneStep] | type[FinetuneStep] | type[QuantizeStep]] = {
    cls.TYPE: cls for cls in (PruneStep, FinetuneStep, QuantizeStep)
}


@dataclass(frozen=True)
class Recipe:
    name: str
    steps: tuple[Step, ...]
    description: str = ""
    version: int = RECIPE_VERSION

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise RecipeError("a recipe needs a name")
        if not self.steps:
            raise RecipeError(f"recipe {self.name!r} has no steps")
        quantize = [i for i, s in enumerate(self.steps) if isinstance(s, QuantizeStep)]
        if len(quantize) > 1 or (quantize and quantize[0] != len(self.steps) - 1):
            raise RecipeError("quantization must be the single last step of a recipe")

    def step(self, kind: type[StepT]) -> StepT | None:
        """The recipe's step of this kind (each kind appears at most once in a studio recipe), or None."""
        return next((s for s in self.steps if isinstance(s, kind)), None)

    def requirements(self) -> set[str]:
        """Data folders a run needs: "calib" (calibration images), "train" (labelled training images)."""
        needs: set[str] = set()
        for step in self.steps:
            if isinstance(step, QuantizeStep) and step.mode == "static":
                needs.add("calib")
            if isinstance(step, QuantizeStep) and step.mode == "qat":
                needs.add("train")
            if isinstance(step, FinetuneStep):
                needs.add("train")
            if isinstance(step, PruneStep) and step.needs_data:
                needs.add("calib")
        return needs

    def check_data(self, available: set[str]) -> None:
        """Fail before any work starts when a step's data is missing."""
        missing = self.requirements() - available
        explain = {"calib": "calibration images (--calib)", "train": "training images (--train)"}
        if missing:
            raise RecipeError(f"recipe {self.name!r} needs " + " and ".join(explain[m] for m in sorted(missing)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RECIPE_FORMAT,
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "steps": [{"type": step.TYPE, **_jsonable(asdict(step))} for step in self.steps],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        if not isinstance(data, dict) or data.get("format") != RECIPE_FORMAT:
            raise RecipeError(f'not a studio recipe (expected "format": "{RECIPE_FORMAT}")')
        if data.get("version", 0) > RECIPE_VERSION:
            raise RecipeError(f"recipe version {data['version']} is newer than this studio understands")
        steps: list[Step] = []
        for index, raw in enumerate(data.get("steps") or []):
            raw = dict(raw)
            kind = raw.pop("type", None)
            if kind not in STEP_TYPES:
                raise RecipeError(f"step {index + 1}: unknown type {kind!r}; use one of {', '.join(STEP_TYPES)}")
            step_cls = STEP_TYPES[kind]
            known = {f.name for f in fields(step_cls)}
            unknown = set(raw) - known
            if unknown:
                raise RecipeError(f"step {index + 1} ({kind}): unknown fields {sorted(unknown)}")
            if "keep_float" in raw:
                raw["keep_float"] = tuple(raw["keep_float"])
            try:
                steps.append(step_cls(**raw))
            except TypeError as exc:
                raise RecipeError(f"step {index + 1} ({kind}): {exc}") from None
        return cls(data.get("name", ""), tuple(steps), data.get("description", ""), data.get("version", 1))

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RecipeError(f"recipe is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        try:
            return cls.from_json(Path(path).read_text())
        except OSError as exc:
            raise RecipeError(f"cannot read recipe {path}: {exc.strerror or exc}") from None


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def presets_dir() -> Path:
    from core.paths import ASSETS_DIR

    return ASSETS_DIR / "recipes"


def preset_names() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.json"))


def load_recipe(name_or_path: str) -> Recipe:
    """A shipped preset by name ("balanced") or a recipe JSON file."""
    preset = presets_dir() / f"{name_or_path.lower().replace(' ', '-')}.json"
    if preset.is_file():
        return Recipe.load(preset)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise RecipeError(f"no recipe file or preset {name_or_path!r}; presets: {', '.join(preset_names())}")
    return Recipe.load(path)
