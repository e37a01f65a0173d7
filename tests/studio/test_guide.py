"""The Start tab's steps follow the state: what is loaded, which images are open, what was made and exported."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.compare import variant_rows
from core.data.datasets import ImageDataset
from core.inspect import describe
from core.runtimes import Runtime
from core.zoo.loading import create_model
from core.zoo.weights import WeightsInfo
from studio.guide import Go, StepState, guide_steps
from studio.state import Activity, StudioState
from tests.helpers import TINY, answers, scored_variant, timing

PRETRAINED = WeightsInfo("pretrained", "ImageNet")


@pytest.fixture(scope="module")
def report():
    model = create_model(TINY, "none")
    model.card = replace(model.card, weights=PRETRAINED)  # as if pretrained: untrained is its own case below
    return describe(model)


def _images(role: str) -> ImageDataset:
    return ImageDataset(Path(f"/{role}"), "imagefolder", [])


def _states(steps) -> list[StepState]:
    return [step.state for step in steps]


def test_without_a_model_only_choosing_one_is_possible() -> None:
    steps = guide_steps(StudioState(), [], Activity())
    assert _states(steps) == [StepState.READY, StepState.WAITING, StepState.WAITING, StepState.WAITING]
    assert steps[0].go is Go.MODEL and not steps[1].action


def test_a_loaded_model_without_images_asks_for_them(report) -> None:
    steps = guide_steps(StudioState(report=report), [], Activity())
    assert steps[0].state is StepState.NEEDS_DATA and steps[0].go is Go.DATA, "accuracy needs labelled images"
    assert steps[1].state is StepState.NEEDS_DATA and "example images and labelled images" in steps[1].detail
    assert steps[3].state is StepState.READY and steps[3].go is Go.EXPORT


def test_with_images_the_model_can_be_measured_and_compressed(report) -> None:
    state = StudioState(report=report, datasets={"calib": _images("calib"), "evaluation": _images("evaluation")})
    steps = guide_steps(state, [], Activity())
    assert (steps[0].state, steps[0].go) == (StepState.READY, Go.MEASURE)
    assert (steps[1].state, steps[1].go) == (StepState.READY, Go.COMPRESS)
    assert steps[2].state is StepState.WAITING


def test_an_untrained_model_is_flagged_before_anything_else(report) -> None:
    untrained = replace(report, model=replace(report.model, card=replace(report.model.card,
                                                                         weights=WeightsInfo("untrained", "none"))))
    steps = guide_steps(StudioState(report=untrained), [], Activity())
    assert steps[0].state is StepState.ATTENTION and "Untrained" in steps[0].detail


def test_a_measured_model_and_its_variants_move_every_step_on(report) -> None:
    hits, predicted = answers(set())
    original = scored_variant("fp32", None, hits, predicted)
    original.metrics = original.metrics.updated(paired_latency={Runtime.TORCH: timing(1.0, 1.0, 1.0)})
    child = scored_variant("int8", "fp32", *answers({3}), ratio=(0.5, 0.45, 0.55), size=3.5)
    rows = variant_rows([original, child])
    state = StudioState(report=report, model_variant="fp32",
                        datasets={"calib": _images("calib"), "evaluation": _images("evaluation")})
    steps = guide_steps(state, rows, Activity(bundle="/out/int8-android.zip"))
    assert _states(steps) == [StepState.DONE, StepState.DONE, StepState.READY, StepState.DONE]
    assert "Accuracy 100.0 % (±5.0, 40 images)" in steps[0].detail
    assert steps[1].detail.startswith("Made one version smaller or faster; the latest pick: int8 (3.5 MB, 2.0× as "
                                      "fast in PyTorch on this computer, top-1 −2.5 pt [")
    assert steps[2].detail.startswith("One version against the original")
    assert steps[3].detail == "Saved /out/int8-android.zip."
    child.metrics = child.metrics.updated(paired_latency={Runtime.LITERT: timing(1.3, 1.2, 1.4, runtime="litert")})
    headline = guide_steps(state, variant_rows([original, child]), Activity())[1].detail
    assert "(3.5 MB, 1.3× slower in LiteRT (.tflite, XNNPACK) on this computer," in headline, "LiteRT comes first"


def test_running_jobs_show_as_working_with_a_way_to_follow_them(report) -> None:
    state = StudioState(report=report, datasets={"calib": _images("calib"), "evaluation": _images("evaluation")})
    steps = guide_steps(state, [], Activity(measuring=True, compressing=True))
    assert [steps[0].state, steps[1].state] == [StepState.RUNNING, StepState.RUNNING]
    assert steps[0].go is steps[1].go is Go.JOBS
    assert guide_steps(StudioState(), [], Activity(loading=True))[0].state is StepState.RUNNING


def test_a_file_that_cannot_be_compressed_says_so_before_anything_reads_ready(tmp_path) -> None:
    import torch

    from core.zoo.loading import load_model_file

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                 torch.nn.Linear(4, 5)).eval()
    path = tmp_path / "other.pt"
    torch.jit.script(module).save(str(path))
    step = guide_steps(StudioState(report=describe(load_model_file(path))), [], Activity())[1]
    assert step.state is StepState.ATTENTION and "not made smaller" in step.detail and step.go is Go.MODEL
