"""What every recipe step's fields share: the error a bad recipe raises, and the checks that name the field and
the allowed values in one readable line (values abbreviated), JSON values coerced to the field's annotation."""

from __future__ import annotations

import math
import reprlib
from enum import StrEnum
from types import NoneType, UnionType
from typing import Any, get_args, get_origin

from core.errors import StudioError


class RecipeError(StudioError):
    """A recipe is invalid; the message names the field and the allowed values."""


# Values quoted in messages are abbreviated: a recipe file can hold a megabyte string or lists nested a
# thousand deep, and the message must stay one readable line (repr also escapes newlines).
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60


def show(value: object) -> str:
    return _SHORT.repr(value)


def check_choice(step: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise RecipeError(f"{step}.{name} must be one of {', '.join(allowed)}; got {show(value)}")


def check_range(step: str, name: str, value: float, low: float, high: float, high_open: bool = False) -> None:
    # NaN fails every comparison, so it is named explicitly rather than left to the chained comparison.
    # Only floats are tested: math.isfinite overflows on ints too large for a float, which are finite anyway.
    finite = not isinstance(value, float) or math.isfinite(value)
    if not finite or not (low <= value < high if high_open else low <= value <= high):
        bracket = ")" if high_open else "]"
        raise RecipeError(f"{step}.{name} must be in [{low:g}, {high:g}{bracket}; got {show(value)}")


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not the number 1


_EXPECTED: dict[type, str] = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a string",
    dict: "an object",
    tuple: "a list",
}


def _expected(hint: Any) -> str:
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return "a string"
    if get_origin(hint) is UnionType:
        return " or ".join("null" if arg is NoneType else _expected(arg) for arg in get_args(hint))
    return _EXPECTED[get_origin(hint) or hint]


def coerce_field(where: str, value: object, hint: Any) -> Any:
    """`value` from JSON checked against a step field's annotation, lists turned into tuples.

    The step constructors trust their types (their range checks compare numbers), so a string, a bool
    or a list in a JSON file is caught here and named, before it can surface as a TypeError.
    """
    expected = _expected(hint)
    if get_origin(hint) is UnionType:
        if value is None:
            return None
        # The steps only use `X | None`; X is checked with the message naming null as allowed too.
        (hint,) = (arg for arg in get_args(hint) if arg is not NoneType)
    origin, args = get_origin(hint), get_args(hint)
    if origin is dict and isinstance(value, dict):
        key_hint, value_hint = args
        return {
            coerce_field(f"{where} key", key, key_hint): coerce_field(f"{where}[{key!r}]", item, value_hint)
            for key, item in value.items()
        }
    if origin is tuple and isinstance(value, list | tuple):  # tuple[X, ...]: JSON has only lists
        return tuple(coerce_field(f"{where}[{i}]", item, args[0]) for i, item in enumerate(value))
    if hint is float and (is_int(value) or isinstance(value, float)):
        return value
    if hint is int and is_int(value):
        return value
    if hint in (bool, str) and isinstance(value, hint):
        return value
    if isinstance(hint, type) and issubclass(hint, StrEnum) and isinstance(value, str):
        return value  # the step checks it is one of the choices, and names them
    raise RecipeError(f"{where} must be {expected}; got {show(value)}")
