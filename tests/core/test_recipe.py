"""Recipes: typed steps validated on construction, versioned, JSON round trip, data requirements."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data.roles import DataRole
from core.recipe import (
    STEP_TYPES,
    DropBlocksStep,
    FinetuneStep,
    PruneStep,
    QuantizeStep,
    Recipe,
    RecipeError,
    ResolutionStep,
    TargetStep,
)


def balanced() -> Recipe:
    return Recipe(
        "Balanced",
        (
            PruneStep(ratio=0.3, layer_ratios={"features.1": 0.0}),
            FinetuneStep(epochs=2, resolution=160, max_minutes=20),
            QuantizeStep(mode="static", observer="histogram", keep_float=("classifier.1",)),
        ),
        description="prune, distil, int8",
    )


def test_json_round_trip_preserves_every_field(tmp_path: Path) -> None:
    recipe = balanced()
    assert Recipe.from_json(recipe.to_json()) == recipe
    path = tmp_path / "r.json"
    path.write_text(recipe.to_json())
    assert Recipe.load(path) == recipe
    assert recipe.to_dict()["steps"][2]["keep_float"] == ["classifier.1"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PruneStep(ratio=-0.1), r"prune.ratio must be in \[0, 1\)"),
        (lambda: PruneStep(ratio=1.0), r"prune.ratio must be in \[0, 1\)"),
        (lambda: PruneStep(layer_ratios={"features.3": 1.5}), r"layer_ratios\['features.3'\]"),
        (
            lambda: PruneStep(importance="random"),
            "prune.importance must be one of l1, l2, activation, taylor, bn_scale",
        ),
        (lambda: PruneStep(kind="unstructured", importance="taylor"), "magnitude"),
        (lambda: PruneStep(round_to=0), "round_to"),
        (lambda: QuantizeStep(observer="kl"), "quantize.observer must be one of minmax"),
        (lambda: QuantizeStep(mode="int4"), "quantize.mode must be one of dynamic"),
        (lambda: QuantizeStep(calibration_images=0), "calibration_images"),
        (lambda: FinetuneStep(labels=False, distill=False), "labels, distill, or both"),
        (lambda: FinetuneStep(learning_rate=0), "learning_rate"),
        (lambda: Recipe("empty", ()), "has no steps"),
        (lambda: Recipe("q first", (QuantizeStep(), PruneStep())), "single last step"),
    ],
)
def test_bad_recipes_fail_on_construction_with_a_clear_message(make, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        make()


def test_bad_json_recipes_are_explained() -> None:
    with pytest.raises(RecipeError, match="not valid JSON"):
        Recipe.from_json("{")
    with pytest.raises(RecipeError, match="not a studio recipe"):
        Recipe.from_json('{"name": "x"}')
    good = balanced().to_dict()
    with pytest.raises(RecipeError, match="newer than this studio"):
        Recipe.from_dict({**good, "version": 99})
    with pytest.raises(RecipeError, match="unknown type 'distil'"):
        Recipe.from_dict({**good, "steps": [{"type": "distil"}]})
    with pytest.raises(RecipeError, match=r"unknown fields \['ratoi'\]"):
        Recipe.from_dict({**good, "steps": [{"type": "prune", "ratoi": 0.3}]})
    with pytest.raises(RecipeError, match=r"prune.ratio must be in \[0, 1\)"):
        Recipe.from_dict({**good, "steps": [{"type": "prune", "ratio": 2}]})


def test_missing_data_is_reported_before_any_work() -> None:
    qat = Recipe("qat", (QuantizeStep(mode="qat"),))
    assert qat.requirements() == {"train"}
    with pytest.raises(RecipeError, match=r"needs training images \(--train\)"):
        qat.check_data({"calib"})
    assert balanced().requirements() == {"calib", "train"}
    balanced().check_data({"calib", "train"})
    assert Recipe("fp16", (QuantizeStep(mode="fp16"),)).requirements() == set()


def test_equalization_follows_the_activation_precision_unless_set() -> None:
    assert QuantizeStep(reduce_range=True).equalizes and not QuantizeStep(reduce_range=False).equalizes
    assert QuantizeStep(reduce_range=False, equalize=True).equalizes
    round_trip = Recipe.from_json(Recipe("q", (QuantizeStep(equalize=False, reduce_range=True),)).to_json())
    assert round_trip.steps[0] == QuantizeStep(equalize=False, reduce_range=True)


# One configured example of every registered step type, and the data it needs; a new step type without an
# example here fails `test_every_registered_step_round_trips_and_names_its_data`.
STEP_EXAMPLES = {
    "resolution": (ResolutionStep(input_size=176, crop_fraction=1.0, bn_recalibration_images=64), {"calib"}),
    "drop_blocks": (DropBlocksStep(blocks=(5, 6), fit_images=128), {"calib"}),
    "prune": (PruneStep(ratio=0.2, bottlenecks=False), {"calib"}),
    "finetune": (FinetuneStep(feature_weight=1.0, teacher_cache=True, balance_classes=True, freeze_batchnorm=True),
                 {"train"}),
    "quantize": (QuantizeStep(mode="static"), {"calib"}),
    "target": (TargetStep(max_drop=2.0, objective="size", precisions=("int8",)), {DataRole.CALIB, DataRole.EVALUATION}),
}


@pytest.mark.parametrize("kind", sorted(STEP_TYPES))
def test_every_registered_step_round_trips_and_names_its_data(kind: str) -> None:
    step, needs = STEP_EXAMPLES[kind]
    assert type(step) is STEP_TYPES[kind]
    recipe = Recipe("one step", (step,))
    assert Recipe.from_json(recipe.to_json()) == recipe
    assert recipe.requirements() == needs
