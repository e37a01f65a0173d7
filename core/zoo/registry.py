"""Architecture registry with metadata cards, and typed model specifications."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import SpecError

if TYPE_CHECKING:
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STANDARD_RESOLUTIONS = (128, 160, 192, 224)
PADDINGS = ("torch", "tf_same")
MAX_CLASSES = 100_000  # ten times ImageNet-21k's; the classifier alone then holds about 128 M weights
_SPEC_ALIASES = {"alpha": "width", "res": "resolution", "classes": "num_classes"}


@dataclass(frozen=True)
class ArchCard:
    """What the studio knows about an architecture before building it."""

    name: str
    title: str
    paper: str
    summary: str
    builder: Callable[[float, int], nn.Module] = field(repr=False)
    widths: tuple[float, ...]
    # Width → torchvision weights enum member ("MobileNet_V2_Weights.IMAGENET1K_V1"), for download.
    torchvision_weights: dict[float, str] = field(default_factory=dict)
    license: str = "BSD-3-Clause (torchvision architecture code)"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


ARCHITECTURES: dict[str, ArchCard] = {}


def register_arch(card: ArchCard) -> ArchCard:
    if card.name in ARCHITECTURES:
        raise ValueError(f"architecture {card.name!r} registered twice")
    ARCHITECTURES[card.name] = card
    return card


def get_arch(name: str) -> ArchCard:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise SpecError(f"unknown architecture {name!r}; choose one of: {', '.join(ARCHITECTURES)}") from None


_SPEC_TYPES: dict[str, type] = {"width": float, "resolution": int, "num_classes": int, "crop": float}


@dataclass(frozen=True)
class ModelSpec:
    """One concrete network: architecture, width α, input resolution, classes, padding."""

    arch: str
    width: float = 1.0
    resolution: int = 224
    num_classes: int = 1000
    padding: str = "torch"
    # Evaluation crop: the short side is resized to resolution / crop, then centre-cropped (torchvision: 0.875).
    crop: float = 0.875
    # Blocks of `features` removed whole (core.zoo.blocks): they are built as identities.
    dropped: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        get_arch(self.arch)
        if not 0.1 <= self.width <= 4.0:
            raise SpecError(f"width must be between 0.1 and 4.0, got {self.width}")
        if not 32 <= self.resolution <= 1024:
            raise SpecError(f"resolution must be between 32 and 1024 pixels, got {self.resolution}")
        if not 1 <= self.num_classes <= MAX_CLASSES:  # 100 million classes would ask for 512 GB of weights
            raise SpecError(f"num_classes must be between 1 and {MAX_CLASSES}, got {self.num_classes}")
        if self.padding not in PADDINGS:
            raise SpecError(f"padding must be one of {PADDINGS}, got {self.padding!r}")
        if not 0.5 <= self.crop <= 1.0:
            raise SpecError(f"crop must be between 0.5 and 1.0 (the centre crop's share), got {self.crop}")
        if not isinstance(self.dropped, tuple) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i < 100 for i in self.dropped
        ) or list(self.dropped) != sorted(set(self.dropped)):
            raise SpecError(f"dropped must list block numbers 1-99 in increasing order, got {self.dropped!r}")

    @property
    def card(self) -> ArchCard:
        return get_arch(self.arch)

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """Parse `arch[:key=value,...]`, e.g. `mobilenet_v1:width=0.5,res=160,padding=tf_same`."""
        arch, _, options = text.partition(":")
        values: dict[str, Any] = {"arch": arch.strip()}
        for item in filter(None, (part.strip() for part in options.split(","))):
            key, sep, value = item.partition("=")
            key = _SPEC_ALIASES.get(key.strip(), key.strip())
            if not sep or key not in ("width", "resolution", "num_classes", "padding", "crop", "drop"):
                raise SpecError(f"bad model option {item!r}; use width=, res=, classes=, padding=, crop= or drop=")
            try:
                if key == "drop":  # drop=5+6: the blocks removed
                    values["dropped"] = tuple(sorted({int(part) for part in value.split("+")}))
                    continue
                values[key] = _SPEC_TYPES.get(key, str)(value)
            except ValueError:
                raise SpecError(f"bad value in model option {item!r}") from None
        return cls(**values)

    def __str__(self) -> str:
        defaults = ModelSpec(self.arch)
        options = [
            f"{short}={getattr(self, name):g}" if isinstance(getattr(self, name), float)
            else f"{short}={getattr(self, name)}"
            for name, short in (("width", "width"), ("resolution", "res"), ("num_classes", "classes"),
                                ("padding", "padding"), ("crop", "crop"))
            if getattr(self, name) != getattr(defaults, name)
        ]
        if self.dropped:
            options.append("drop=" + "+".join(str(i) for i in self.dropped))
        return self.arch + (":" + ",".join(options) if options else "")

    def replace(self, **changes: Any) -> ModelSpec:
        return ModelSpec(**{**asdict(self), **changes})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dropped"] = list(self.dropped)
        if not self.dropped:
            del data["dropped"]  # project files written before block dropping stay byte-identical
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {"arch", "width", "resolution", "num_classes", "padding", "crop", "dropped"}
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"unknown model spec fields: {sorted(unknown)}")
        dropped = data.get("dropped", [])
        if not isinstance(dropped, list):
            raise SpecError(f"model spec dropped must be a list of block numbers, got {dropped!r}")
        return cls(**{**data, "dropped": tuple(dropped)})

    def build(self) -> nn.Module:
        """An untrained module for this spec, in eval mode."""
        from core.zoo.blocks import drop_blocks
        from core.zoo.tf_same import use_tf_same_padding

        module = self.card.builder(self.width, self.num_classes)
        if self.padding == "tf_same":
            use_tf_same_padding(module)
        drop_blocks(module, self.dropped)
        return module.eval()


def _mobilenet_v1(width: float, num_classes: int) -> nn.Module:
    from core.zoo.mobilenet_v1 import MobileNetV1

    return MobileNetV1(width_mult=width, num_classes=num_classes)


def _mobilenet_v2(width: float, num_classes: int) -> nn.Module:
    from torchvision.models import mobilenet_v2

    return mobilenet_v2(width_mult=width, num_classes=num_classes)


def _mobilenet_v3_large(width: float, num_classes: int) -> nn.Module:
    from torchvision.models import mobilenet_v3_large

    return mobilenet_v3_large(width_mult=width, num_classes=num_classes)


def _mobilenet_v3_small(width: float, num_classes: int) -> nn.Module:
    from torchvision.models import mobilenet_v3_small

    return mobilenet_v3_small(width_mult=width, num_classes=num_classes)


register_arch(ArchCard(
    name="mobilenet_v1", title="MobileNetV1",
    paper="Howard et al. 2017, MobileNets: Efficient CNNs for Mobile Vision Applications",
    summary="Stem conv + 13 depthwise-separable blocks; the original width/resolution trade-off.",
    builder=_mobilenet_v1, widths=(0.25, 0.5, 0.75, 1.0),
    license="Apache-2.0 (studio implementation)",
))
register_arch(ArchCard(
    name="mobilenet_v2", title="MobileNetV2",
    paper="Sandler et al. 2018, MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    summary="Inverted residual blocks with linear bottlenecks.",
    builder=_mobilenet_v2, widths=(0.35, 0.5, 0.75, 1.0, 1.4),
    torchvision_weights={1.0: "MobileNet_V2_Weights.IMAGENET1K_V1"},
))
register_arch(ArchCard(
    name="mobilenet_v3_large", title="MobileNetV3-Large",
    paper="Howard et al. 2019, Searching for MobileNetV3",
    summary="NAS-found blocks with squeeze-excite and hard-swish; the larger variant.",
    builder=_mobilenet_v3_large, widths=(0.75, 1.0),
    torchvision_weights={1.0: "MobileNet_V3_Large_Weights.IMAGENET1K_V1"},
))
register_arch(ArchCard(
    name="mobilenet_v3_small", title="MobileNetV3-Small",
    paper="Howard et al. 2019, Searching for MobileNetV3",
    summary="NAS-found blocks with squeeze-excite and hard-swish; the low-resource variant.",
    builder=_mobilenet_v3_small, widths=(0.75, 1.0),
    torchvision_weights={1.0: "MobileNet_V3_Small_Weights.IMAGENET1K_V1"},
))
