"""The target step: say what is needed (the objective, the points of accuracy a variant may lose, the minutes to
search, where speed is measured), not how; the search (core.compress.search) finds the steps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

from core.precision import FLOAT, INT8_STATIC, Int8Static, Precision
from core.recipe_fields import RecipeError, check_choice, check_range, show
from core.runtimes import Runtime


class Measured(Protocol):
    """What an objective reads of a variant's stored figures (core.metrics.stored.VariantMetrics)."""

    @property
    def size_bytes(self) -> int | None: ...

    @property
    def macs(self) -> int | None: ...


class Objective(StrEnum):
    """What a target search makes as small as it can. "size" is the file's bytes, nothing else."""

    LATENCY = "latency"
    SIZE = "size"
    MACS = "macs"

    def measured(self, metrics: Measured) -> int | None:
        """The stored figure it reads (None: latency, a ratio timed in turn with the parent, or not measured)."""
        return {Objective.LATENCY: None, Objective.SIZE: metrics.size_bytes, Objective.MACS: metrics.macs}[self]

    def describe(self, runtime: Runtime) -> str:
        return {Objective.LATENCY: f"the fastest in {runtime.label}", Objective.SIZE: "the smallest file",
                Objective.MACS: "the fewest MACs"}[self]


class Verdict(StrEnum):
    """What a target search says of a verified candidate."""

    CHOSEN = "chosen"  # met the target, and the best by the objective: stored
    MET = "met"  # met the target; a row of the result
    MISSED = "missed"  # the closest to the target when none met it: stored, marked missed
    REJECTED = "rejected"  # a row of the result only

    @property
    def met_target(self) -> bool:
        return self in (Verdict.CHOSEN, Verdict.MET)


@dataclass(frozen=True)
class TargetStep:
    """Say what is needed, not how: the search (core.compress.search) finds the best variant by `objective`
    that loses at most `max_drop` top-1 points on the evaluation images, within `budget_minutes`."""

    max_drop: float = 1.0  # top-1 points the variant may lose against its parent, measured on the same images
    objective: Objective = Objective.LATENCY  # latency (in `runtime`) | size (the file's bytes) | macs
    runtime: Runtime = Runtime.ONNXRUNTIME  # where latency is measured
    precisions: tuple[str, ...] = ("float", "int8")  # what the variant may compute in
    budget_minutes: float = 25.0  # the whole search: scan, recovery, verification
    candidates: int = 2  # structural candidates distilled and verified after the zero-shot ladder (0: the ladder only)
    residual_streams: bool = False  # also prune residual streams (measured as V2's most fragile channels)
    seed: int = 0  # the search is repeatable: same data, same seed, same candidates

    TYPE: ClassVar[str] = "target"
    OBJECTIVES: ClassVar[tuple[str, ...]] = tuple(Objective)
    RUNTIMES: ClassVar[tuple[Runtime, ...]] = (Runtime.TORCH, Runtime.ONNXRUNTIME, Runtime.LITERT)  # not ExecuTorch
    PRECISIONS: ClassVar[dict[str, Precision]] = {"float": FLOAT, "int8": INT8_STATIC}

    @property
    def allowed(self) -> tuple[Precision, ...]:
        """The typed precisions a variant may have; the strings exist for the recipe's JSON."""
        return tuple(self.PRECISIONS[key] for key in self.precisions)

    @property
    def allows_int8(self) -> bool:
        return any(isinstance(p, Int8Static) for p in self.allowed)

    def __post_init__(self) -> None:
        check_range("target", "max_drop", self.max_drop, 0.0, 100.0)
        check_choice("target", "objective", self.objective, self.OBJECTIVES)
        check_choice("target", "runtime", self.runtime, self.RUNTIMES)
        object.__setattr__(self, "objective", Objective(self.objective))  # read from JSON as plain strings
        object.__setattr__(self, "runtime", Runtime(self.runtime))
        if not self.precisions:
            raise RecipeError("target.precisions must name at least one of float, int8")
        for precision in self.precisions:
            check_choice("target", "precisions", precision, tuple(self.PRECISIONS))
        if not (isinstance(self.budget_minutes, int | float) and math.isfinite(self.budget_minutes)) or (
            self.budget_minutes <= 0 or self.budget_minutes > 100_000
        ):
            raise RecipeError(f"target.budget_minutes must be more than 0 and at most 100000; "
                              f"got {show(self.budget_minutes)}")
        check_range("target", "candidates", self.candidates, 0, 20)
        check_range("target", "seed", self.seed, 0, 2**31 - 1)

    def describe(self) -> str:
        return (f"{self.objective.describe(self.runtime)} losing at most {self.max_drop:g} pt of top-1 "
                f"({' or '.join(self.precisions)}), searched in at most {self.budget_minutes:g} min")
