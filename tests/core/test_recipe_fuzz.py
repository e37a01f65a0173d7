"""Recipes read from JSON: any malformed shape is a one-line RecipeError, never a TypeError or a crash."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.recipe import (
    DropBlocksStep,
    FinetuneStep,
    PruneStep,
    QuantizeStep,
    Recipe,
    RecipeError,
    ResolutionStep,
    load_recipe,
    preset_names,
)

FUZZ = settings(max_examples=200, deadline=None)

# Every value json.loads can produce, NaN and ±Infinity included (the decoder accepts them).
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)
# The documents the fuzzers start from: recipes by hand (every step type but the target, which must stand
# alone) and the shipped presets (targets). The first one's steps are prune, finetune, quantize.
PRESETS = [
    Recipe("by hand", (PruneStep(layer_ratios={"features.1": 0.1}), FinetuneStep(resolution=160),
                       QuantizeStep(keep_float=("classifier.1",)))).to_dict(),
    Recipe("structure", (ResolutionStep(input_size=176), DropBlocksStep(blocks=(5, 6)))).to_dict(),
    *(load_recipe(name).to_dict() for name in preset_names()),
]


def read_or_reject(read: Any, document: Any) -> None:
    """The property: a recipe that round-trips through to_dict, or a RecipeError whose message is one line."""
    try:
        recipe = read(document)
    except RecipeError as exc:
        assert "\n" not in str(exc), str(exc)
        return
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    assert Recipe.from_json(recipe.to_json()) == recipe


def with_field(preset: int, step: int, name: str, value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(PRESETS[preset]))
    data["steps"][step][name] = value
    return data


@FUZZ
@given(JSON_VALUES)
def test_any_json_value_as_the_whole_document(document: Any) -> None:
    read_or_reject(Recipe.from_dict, document)


@FUZZ
@given(
    JSON_VALUES,
    st.sampled_from(["format", "version", "name", "description", "steps"]),
    st.integers(0, len(PRESETS) - 1),
)
def test_any_json_value_as_a_top_level_field(value: Any, name: str, preset: int) -> None:
    read_or_reject(Recipe.from_dict, {**PRESETS[preset], name: value})


@st.composite
def preset_with_one_field_replaced(draw: st.DrawFn) -> dict[str, Any]:
    preset = draw(st.integers(0, len(PRESETS) - 1))
    step = draw(st.integers(0, len(PRESETS[preset]["steps"]) - 1))
    # Known field names reach the type checks; "type" and a fresh name reach the step dispatch.
    name = draw(st.sampled_from([*PRESETS[preset]["steps"][step], "resolution", "keep_float"]) | st.text(max_size=8))
    return with_field(preset, step, name, draw(JSON_VALUES))


@FUZZ
@given(preset_with_one_field_replaced())
def test_a_valid_recipe_with_one_step_field_replaced_by_any_json_value(document: dict[str, Any]) -> None:
    read_or_reject(Recipe.from_dict, document)


@st.composite
def mutated_preset_text(draw: st.DrawFn) -> str:
    text = json.dumps(draw(st.sampled_from(PRESETS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 8))
        # Mostly JSON punctuation and literals, so mutations stay near-valid and reach from_dict.
        insert = draw(
            st.sampled_from(['"', ",", ":", "[", "]", "{", "}", "0", "-1", "NaN", "null", "true", '""'])
            | st.text(max_size=3)
        )
        text = text[:at] + insert + text[at + cut :]
    return text


@FUZZ
@given(mutated_preset_text())
def test_mutated_recipe_text(text: str) -> None:
    read_or_reject(Recipe.from_json, text)


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ({"version": "1"}, "recipe version must be a whole number of at least 1; got '1'"),
        ({"version": True}, "recipe version must be a whole number"),
        ({"version": 0}, "recipe version must be a whole number of at least 1; got 0"),
        ({"steps": "abc"}, "recipe steps must be a list of objects; got 'abc'"),
        ({"steps": {"a": 1}}, "recipe steps must be a list of objects"),
        ({"steps": None}, "recipe steps must be a list of objects; got None"),
        ({"steps": ["x"]}, "step 1 must be an object; got 'x'"),
        ({"steps": [[{"type": "prune"}]]}, "step 1 must be an object"),
        ({"steps": [{"type": ["prune"]}]}, r"step 1: unknown type \['prune'\]"),
        ({"name": None}, "recipe name must be a string; got None"),
        ({"name": 5}, "recipe name must be a string; got 5"),
        ({"description": ["a"]}, "recipe description must be a string"),
    ],
)
def test_malformed_top_level_fields_are_named(top: dict[str, Any], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        Recipe.from_dict({**PRESETS[0], **top})


# Step indices in the presets: 0 prune, 1 finetune, 2 quantize (checked below).
@pytest.mark.parametrize(
    ("step", "name", "value", "message"),
    [
        (0, "ratio", "0.3", r"step 1 \(prune\): ratio must be a number; got '0.3'"),
        (0, "ratio", True, r"step 1 \(prune\): ratio must be a number; got True"),
        (0, "ratio", math.nan, r"prune.ratio must be in \[0, 1\); got nan"),
        (0, "ratio", [0.3], "ratio must be a number"),
        (0, "round_to", 8.5, r"step 1 \(prune\): round_to must be a whole number; got 8.5"),
        (0, "round_to", [[8]], "round_to must be a whole number"),
        (0, "iterations", False, "iterations must be a whole number; got False"),
        (0, "compensate", 1, "compensate must be true or false; got 1"),
        (0, "kind", 3, "kind must be a string; got 3"),
        (0, "layer_ratios", [0.1], "layer_ratios must be an object; got"),
        (0, "layer_ratios", {"features.1": "0.1"}, r"layer_ratios\['features.1'\] must be a number; got '0.1'"),
        (0, "layer_ratios", {"features.1": math.inf}, r"layer_ratios\['features.1'\] must be in \[0, 1\)"),
        (1, "epochs", math.inf, r"finetune.epochs must be in \[0, 1000\]; got inf"),
        (1, "temperature", -math.inf, "finetune.temperature must be in"),
        (1, "learning_rate", math.nan, "finetune.learning_rate must be in"),
        (1, "resolution", 160.0, r"step 2 \(finetune\): resolution must be a whole number or null; got 160.0"),
        (1, "max_minutes", "20", "max_minutes must be a number or null; got '20'"),
        (1, "labels", None, "labels must be true or false; got None"),
        (2, "keep_float", "abc", r"step 3 \(quantize\): keep_float must be a list; got 'abc'"),
        (2, "keep_float", [1], r"keep_float\[0\] must be a string; got 1"),
        (2, "keep_float", [["classifier.1"]], r"keep_float\[0\] must be a string"),
        (2, "reduce_range", "yes", "reduce_range must be true or false or null; got 'yes'"),
        (2, "mode", None, "mode must be a string; got None"),
        (2, "type", {"quantize": 1}, "step 3: unknown type"),
    ],
)
def test_malformed_step_fields_are_named(step: int, name: str, value: Any, message: str) -> None:
    assert [s["type"] for s in PRESETS[0]["steps"]] == ["prune", "finetune", "quantize"]
    with pytest.raises(RecipeError, match=message) as caught:
        Recipe.from_dict(with_field(0, step, name, value))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "mnstudio-recipe", "name": "n", "steps": [{"type": "prune", "ratio": NaN}]}', "got nan"),
        ('{"format": "mnstudio-recipe", "name": "n", "steps": [{"type": "finetune", "epochs": Infinity}]}', "got inf"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("{", "not valid JSON"),
    ],
)
def test_json_text_that_python_decodes_loosely_is_still_checked(text: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        Recipe.from_json(text)


def test_a_file_that_is_not_utf8_is_explained(tmp_path: Any) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(RecipeError, match="is not UTF-8 text"):
        Recipe.load(path)


def test_huge_values_are_abbreviated_in_one_line() -> None:
    with pytest.raises(RecipeError) as caught:
        Recipe.from_dict(with_field(0, 0, "kind", "x\n" * 100_000))
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_round_trips(name: str) -> None:
    recipe = load_recipe(name)
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    assert Recipe.from_json(recipe.to_json()).to_dict() == recipe.to_dict()
