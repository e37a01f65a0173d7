"""Compression recipes: a versioned tree of typed, validated steps with a JSON round trip.

A recipe is a pipeline such as prune → fine-tune → quantize. Every field is checked
when the recipe is built, so a bad recipe fails with a clear message before any
work starts; `requirements()` tells which data folders a run needs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_type_hints

from core.data.roles import DataRole
from core.precision import QUANTIZED, Int8Qat, Int8Static, Precision
from core.recipe_fields import RecipeError as RecipeError
from core.recipe_fields import check_choice, check_range, coerce_field, is_int, show
from core.recipe_target import Objective as Objective
from core.recipe_target import TargetStep
from core.recipe_target import Verdict as Verdict
from core.runtimes import Runtime as Runtime

RECIPE_FORMAT = "mnstudio-recipe"
RECIPE_VERSION = 1


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
        check_choice("prune", "kind", self.kind, self.KINDS)
        check_choice("prune", "scope", self.scope, self.SCOPES)
        check_choice("prune", "importance", self.importance, self.IMPORTANCES)
        check_range("prune", "ratio", self.ratio, 0.0, 1.0, high_open=True)
        for layer, ratio in self.layer_ratios.items():
            check_range("prune", f"layer_ratios[{layer!r}]", ratio, 0.0, 1.0, high_open=True)
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
    # Training images held out to keep the best weights by agreement with the parent (at most a fifth).
    held_out_images: int = 64
    # Weight of the pre-pool feature-map MSE beside the logit KL (MiR: the last feature map carries what
    # the classifier reads), normalised by the teacher features' mean square; 0: logits only.
    feature_weight: float = 0.0
    # Run the teacher once over a fixed set of augmented views (`views_per_image` per training image) and
    # train every epoch on those, instead of running the teacher on every batch.
    teacher_cache: bool = False
    views_per_image: int = 2
    # Draw cached views with weights 1 / (views of the same teacher top-1 class), so a folder of few classes
    # cannot pull the student towards them (needs teacher_cache).
    balance_classes: bool = False
    # Block-local reconstruction before the end-to-end phase: each changed block learns to map the teacher's
    # input to that block onto the teacher's output of it, for this many steps.
    local_steps: int = 0
    # Keep BatchNorm's running statistics as they are (its scale and shift still learn): on few images and
    # other input sizes, statistics re-estimated from training crops moved V2 further from its parent.
    freeze_batchnorm: bool = False
    # The smallest random crop, as a share of the image's area (torchvision's training default is 0.08; milder
    # crops keep the views closer to what the model is evaluated on).
    crop_min_area: float = 0.25

    TYPE: ClassVar[str] = "finetune"

    def __post_init__(self) -> None:
        if not (self.labels or self.distill):
            raise RecipeError("finetune needs labels, distill, or both")
        check_range("finetune", "epochs", self.epochs, 0.0, 1000.0)
        check_range("finetune", "learning_rate", self.learning_rate, 1e-8, 10.0)
        check_range("finetune", "batch_size", self.batch_size, 2, 4096)  # BatchNorm needs two samples
        check_range("finetune", "temperature", self.temperature, 0.1, 100.0)
        check_range("finetune", "distill_weight", self.distill_weight, 0.0, 1.0)
        if self.resolution is not None:
            check_range("finetune", "resolution", self.resolution, 32, 1024)
        if self.max_minutes is not None:
            check_range("finetune", "max_minutes", self.max_minutes, 0.01, 100_000.0)
        check_range("finetune", "bn_recalibration_images", self.bn_recalibration_images, 0, 1_000_000)
        check_range("finetune", "held_out_images", self.held_out_images, 0, 1_000_000)
        check_range("finetune", "feature_weight", self.feature_weight, 0.0, 1000.0)
        check_range("finetune", "views_per_image", self.views_per_image, 1, 64)
        check_range("finetune", "local_steps", self.local_steps, 0, 1_000_000)
        check_range("finetune", "crop_min_area", self.crop_min_area, 0.01, 1.0)
        if (self.feature_weight or self.teacher_cache or self.local_steps) and not self.distill:
            raise RecipeError("finetune.feature_weight, teacher_cache and local_steps need distill (a teacher)")
        if self.balance_classes and not self.teacher_cache:
            raise RecipeError("finetune.balance_classes needs teacher_cache (classes come from the teacher's outputs)")


@dataclass(frozen=True)
class ResolutionStep:
    """Shrink the input image: MACs fall with the pixel count, and on pretrained weights accuracy often
    falls little (V2 at 192 px: 79.00 against 78.69 % at 224; at 160 px 76.23 %, all 1,300 images)."""

    input_size: int = 160
    crop_fraction: float = 0.875  # evaluation: resize the short side to input_size / crop_fraction, centre-crop
    # Re-estimate BatchNorm statistics at the new size on this many calibration images (0: off). An option
    # to measure, not a default: on V2 it cost 3.6 pt at 160 px and 11 pt at 128 px (1,000 images).
    bn_recalibration_images: int = 0

    TYPE: ClassVar[str] = "resolution"

    def __post_init__(self) -> None:
        check_range("resolution", "input_size", self.input_size, 32, 1024)
        check_range("resolution", "crop_fraction", self.crop_fraction, 0.5, 1.0)
        check_range("resolution", "bn_recalibration_images", self.bn_recalibration_images, 0, 1_000_000)


@dataclass(frozen=True)
class DropBlocksStep:
    """Remove whole blocks whose input and output shapes match; an adaptor fitted by least squares on
    calibration features stands in for each run of removed blocks, folded into a neighbouring layer so
    the graph has no extra op (core.compress.drop_blocks)."""

    blocks: tuple[int, ...] = ()  # positions in the model's `features`
    fit_images: int = 256  # calibration images the adaptors are fitted on (0: no adaptor, a plain gap)

    TYPE: ClassVar[str] = "drop_blocks"

    def __post_init__(self) -> None:
        if not self.blocks:
            raise RecipeError("drop_blocks.blocks must name at least one block")
        for block in self.blocks:
            check_range("drop_blocks", "blocks", block, 1, 99)
        if len(set(self.blocks)) != len(self.blocks):
            raise RecipeError(f"drop_blocks.blocks names a block twice: {list(self.blocks)}")
        check_range("drop_blocks", "fit_images", self.fit_images, 0, 1_000_000)


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
    # Rescale activation channels before calibrating (core.quant.equalize). None: only with 7-bit
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
    MODES: ClassVar[tuple[str, ...]] = tuple(QUANTIZED)
    OBSERVERS: ClassVar[tuple[str, ...]] = ("minmax", "moving_average", "histogram", "percentile")

    @property
    def precision(self) -> Precision:
        """The typed precision this step makes; the `mode` string exists for the recipe's JSON."""
        return QUANTIZED[self.mode]

    @property
    def activations_7bit(self) -> bool:
        from core.runtime import seven_bit_int8

        return seven_bit_int8(self.reduce_range)

    @property
    def equalizes(self) -> bool:
        return self.activations_7bit if self.equalize is None else self.equalize

    def __post_init__(self) -> None:
        check_choice("quantize", "mode", self.mode, self.MODES)
        check_choice("quantize", "observer", self.observer, self.OBSERVERS)
        check_range("quantize", "calibration_images", self.calibration_images, 1, 1_000_000)
        check_range("quantize", "qat_epochs", self.qat_epochs, 0.0, 1000.0)
        check_range("quantize", "qat_learning_rate", self.qat_learning_rate, 1e-8, 1.0)
        if self.freeze_bn_after < 0 or self.freeze_observers_after < 0:
            raise RecipeError("quantize.freeze_bn_after and freeze_observers_after must not be negative")


Step = ResolutionStep | DropBlocksStep | PruneStep | FinetuneStep | QuantizeStep | TargetStep
StepT = TypeVar("StepT", ResolutionStep, DropBlocksStep, PruneStep, FinetuneStep, QuantizeStep, TargetStep)
STEP_TYPES: dict[str, type[Step]] = {
    cls.TYPE: cls for cls in (ResolutionStep, DropBlocksStep, PruneStep, FinetuneStep, QuantizeStep, TargetStep)
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
        if any(isinstance(s, TargetStep) for s in self.steps) and len(self.steps) > 1:
            raise RecipeError("a target step searches for the steps itself: it must be a recipe's only step")

    def step(self, kind: type[StepT]) -> StepT | None:
        """The recipe's step of this kind (each kind appears at most once in a studio recipe), or None."""
        return next((s for s in self.steps if isinstance(s, kind)), None)

    def timed_in(self, runtime: Runtime) -> Recipe:
        """The same recipe, its target search timing speed in `runtime` (itself when it has no target step)."""
        target = self.step(TargetStep)
        return self if target is None else replace(self, steps=(replace(target, runtime=runtime),))

    def with_budget_at_least(self, minutes: float) -> Recipe:
        """The same recipe, its target search given at least `minutes` (itself when it has no target step or
        already has as much)."""
        target = self.step(TargetStep)
        if target is None or target.budget_minutes >= minutes:
            return self
        return replace(self, steps=(replace(target, budget_minutes=float(minutes)),))

    def requirements(self) -> set[DataRole]:
        """The data folders a run needs."""
        needs: set[DataRole] = set()
        for step in self.steps:
            if isinstance(step, QuantizeStep) and isinstance(step.precision, Int8Static):
                needs.add(DataRole.CALIB)
            if isinstance(step, QuantizeStep) and isinstance(step.precision, Int8Qat):
                needs.add(DataRole.TRAIN)
            if isinstance(step, FinetuneStep):
                needs.add(DataRole.TRAIN)
            if isinstance(step, PruneStep) and step.needs_data:
                needs.add(DataRole.CALIB)
            if isinstance(step, ResolutionStep) and step.bn_recalibration_images:
                needs.add(DataRole.CALIB)
            if isinstance(step, DropBlocksStep) and step.fit_images:
                needs.add(DataRole.CALIB)
            if isinstance(step, TargetStep):
                # Fits and int8 read calibration images; verdicts need labels.
                needs.update((DataRole.CALIB, DataRole.EVALUATION))
        return needs

    def check_data(self, available: set[DataRole]) -> None:
        """Fail before any work starts when a step's data is missing."""
        missing = self.requirements() - available
        if missing:
            raise RecipeError(f"recipe {self.name!r} needs " + " and ".join(m.explained for m in sorted(missing)))

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
    def from_dict(cls, data: object) -> Recipe:
        """The recipe a JSON document describes; any malformed shape raises RecipeError (one line)."""
        if not isinstance(data, dict) or data.get("format") != RECIPE_FORMAT:
            raise RecipeError(f'not a studio recipe (expected "format": "{RECIPE_FORMAT}")')
        version = data.get("version", RECIPE_VERSION)
        if not is_int(version) or version < 1:
            raise RecipeError(f"recipe version must be a whole number of at least 1; got {show(version)}")
        if version > RECIPE_VERSION:
            raise RecipeError(f"recipe version {version} is newer than this studio understands")
        name, description = data.get("name", ""), data.get("description", "")
        for key, value in (("name", name), ("description", description)):
            if not isinstance(value, str):
                raise RecipeError(f"recipe {key} must be a string; got {show(value)}")
        raw_steps = data.get("steps", [])
        if not isinstance(raw_steps, list):
            raise RecipeError(f"recipe steps must be a list of objects; got {show(raw_steps)}")
        return cls(name, tuple(_step_from_dict(i + 1, raw) for i, raw in enumerate(raw_steps)), description, version)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RecipeError(f"recipe is not valid JSON: {exc}") from None
        except RecursionError:  # the decoder recurses once per nested list or object
            raise RecipeError("recipe is not valid JSON: nested too deeply") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        try:
            text = Path(path).read_text(encoding="utf-8")  # JSON is UTF-8 whatever the locale
        except OSError as exc:
            raise RecipeError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise RecipeError(f"recipe {path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
        return cls.from_json(text)


def _step_from_dict(number: int, raw: object) -> Step:
    if not isinstance(raw, dict):
        raise RecipeError(f"step {number} must be an object; got {show(raw)}")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in STEP_TYPES:  # a list as type would be unhashable
        raise RecipeError(f"step {number}: unknown type {show(kind)}; use one of {', '.join(STEP_TYPES)}")
    step_cls = STEP_TYPES[kind]
    hints = get_type_hints(step_cls)  # the module's annotations are strings (postponed evaluation)
    known = {f.name for f in fields(step_cls)}
    values = {k: v for k, v in raw.items() if k != "type"}
    unknown = set(values) - known
    if unknown:
        raise RecipeError(f"step {number} ({kind}): unknown fields {sorted(unknown, key=str)}")
    where = f"step {number} ({kind}):"
    return step_cls(**{name: coerce_field(f"{where} {name}", value, hints[name]) for name, value in values.items()})


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
