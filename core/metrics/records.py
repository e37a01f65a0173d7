"""Reading a flat record (a dataclass of numbers, strings, intervals and closed-set values) back from the JSON its
`to_dict` wrote, leniently: a value that is missing or of another type is the field's default, and a record
missing a field without a default is not read at all (None), never filled with a made-up figure. So a project
written by another studio version, or edited by hand, still opens.

Also the small records a variant's metrics hold that no measurement module owns: a step's time, and what a target
search said of the variant it stored.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from typing import Any, TypeVar

from core.recipe_target import Objective, Verdict
from core.runtimes import Runtime

R = TypeVar("R")
_UNREAD = object()


def number(value: Any) -> float | None:
    """A finite number as stored, else None (a boolean, a string, NaN, an infinity, an integer past float's
    range)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        read = float(value)
    except OverflowError:
        return None
    return read if math.isfinite(read) else None


def whole(value: Any) -> int | None:
    """A whole number as stored (2.0 is 2; 1.5 is not a count), else None."""
    read = number(value)
    return int(read) if read is not None and read.is_integer() else None


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _value(hint: Any, value: Any) -> Any:
    """`value` as the type `hint` declares, or _UNREAD."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            if (read := _value(arg, value)) is not _UNREAD:
                return read
        return _UNREAD
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value) if isinstance(value, str) and value in {member.value for member in hint} else _UNREAD
    if hint is bool:
        return value if isinstance(value, bool) else _UNREAD
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) and number(value) is not None else (
            _UNREAD)
    if hint is float:
        return _UNREAD if (read := number(value)) is None else read
    if hint is str:
        return value if isinstance(value, str) else _UNREAD
    if origin is tuple and isinstance(value, list | tuple):
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        read = tuple(_value(arg, item) for arg, item in zip(items, value, strict=False))
        return read if len(read) == len(value) == len(items) and _UNREAD not in read else _UNREAD
    if origin in (dict, Mapping) and isinstance(value, Mapping):
        return dict(value)
    return _UNREAD


def read_flat(cls: type[R], stored: Any) -> R | None:
    """A `cls` from what its `to_dict` stored (None when a field without a default is unreadable)."""
    data, hints, values = mapping(stored), typing.get_type_hints(cls), {}
    for item in fields(cls):  # type: ignore[arg-type]
        read = _value(hints[item.name], data.get(item.name, _UNREAD))
        if read is not _UNREAD:
            values[item.name] = read
        elif item.default is MISSING and item.default_factory is MISSING:
            return None
    return cls(**values)


@dataclass(frozen=True)
class StepTime:
    """One recipe step as it ran: its type, its seconds, and the step's own report (a fine-tune's, as
    core.compress.finetune.FinetuneReport wrote it)."""

    step: str
    seconds: float
    report: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "seconds": self.seconds, **self.report}

    @classmethod
    def read(cls, stored: Any) -> StepTime | None:
        data = mapping(stored)
        timed = read_flat(cls, data)
        return None if timed is None else cls(timed.step, timed.seconds,
                                              {k: v for k, v in data.items() if k not in ("step", "seconds")})


@dataclass(frozen=True)
class SearchRecord:
    """What the target search said of the variant it stored: its verdict and why, against which target."""

    verdict: Verdict
    reason: str = ""
    confirmed: bool = False  # the whole interval of Δtop-1 lies within the target
    target: str = ""  # the target, in words
    max_drop: float | None = None
    objective: Objective | None = None
    runtime: Runtime | None = None
    notes: tuple[str, ...] = ()  # what the search had to say: budget ran out, a candidate failed, …

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "reason": self.reason, "confirmed": self.confirmed,
                "target": self.target, "max_drop": self.max_drop,
                "objective": None if self.objective is None else self.objective.value,
                "runtime": None if self.runtime is None else self.runtime.value, "notes": list(self.notes)}

    @classmethod
    def read(cls, stored: Any) -> SearchRecord | None:
        return read_flat(cls, stored)
