"""A variant's stored metrics are one typed tree, read in one place and written in one place: what the writer
stores reads back as the same values; what is missing or malformed reads as None, never as a made-up figure; and
what a project stores says its layout's version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.metrics.memory import MemoryResult
from core.metrics.paired import PairedAccuracy
from core.metrics.records import SearchRecord, StepTime
from core.metrics.stored import METRICS_VERSION, StoredAccuracy, VariantMetrics
from core.project import Project
from core.recipe import Objective, Verdict
from core.runtimes import Runtime
from core.zoo.loading import create_model
from tests.helpers import TINY, latency, timing


def _everything() -> VariantMetrics:
    accuracy = StoredAccuracy(98.4, 99.8, 2, (97.3, 99.5), (99.0, 100.0), Runtime.ONNXRUNTIME, "/photos/val", 1.5,
                              0, 0, (), "ab12", "10", (3, 7))
    return VariantMetrics(
        size_bytes=2_540_000, macs=56_000_000, params=2_500_000, channels={"features.0": 16},
        latency=latency(4.2), latency_by_resolution={160: latency(18.0, input_size=160), 224: latency(32.0)},
        memory=MemoryResult("torch", 300.0, 320.0, 361.0, 41.0), accuracy=accuracy,
        paired_accuracy=PairedAccuracy(-0.2, (-1.2, 0.8), 97.5, 1300, against="root"),
        paired_latency={Runtime.LITERT: timing(0.54, 0.53, 0.56, against="root", runtime="litert")},
        steps=(StepTime("prune", 12.0), StepTime("finetune", 30.5, {"steps": 40, "kept": "trained"})),
        warnings=("a warning",), seconds=45.0,
        search=SearchRecord(Verdict.CHOSEN, "Δtop-1 within", True, "lose at most 1 pt", 1.0, Objective.LATENCY,
                            Runtime.LITERT, ("a note",)),
    )


def test_what_the_writer_stores_reads_back_as_the_same_values() -> None:
    made = _everything()
    written = VariantMetrics.read(json.loads(json.dumps(made.to_dict())))  # figures rounded as they are stored
    assert VariantMetrics.read(json.loads(json.dumps(written.to_dict()))) == written
    assert written.accuracy == made.accuracy and written.steps == made.steps and written.search == made.search
    assert written.paired_accuracy == made.paired_accuracy and written.channels == made.channels
    assert written.latency_ms == 4.2 and written.memory_mb == 361.0 and written.search_verdict is Verdict.CHOSEN
    assert written.accuracy is not None and written.accuracy.per_image
    assert written.accuracy.source == "val in ONNX Runtime"
    assert written.paired_latency[Runtime.LITERT].ratio_ci95 == (0.53, 0.56)
    assert written.fps_by_resolution == ((160, round(1000 / 18, 4)), (224, round(1000 / 32, 4)))


def test_a_stored_layout_of_version_1_reads_as_typed_values() -> None:
    stored = _everything().to_dict()
    assert set(stored) == {"version", "size_bytes", "macs", "params", "channels", "latency", "latency_by_resolution",
                           "memory", "accuracy", "paired_accuracy", "paired_latency", "steps", "warnings", "seconds",
                           "search"}, "the keys every studio version has written"
    assert stored["accuracy"]["per_image"] == {"predicted": [3, 7], "hits": "10"}
    assert stored["paired_latency"]["litert"]["noisy"] is False and stored["latency_by_resolution"]["160"]["fps"]
    assert stored["steps"][1] == {"step": "finetune", "seconds": 30.5, "steps": 40, "kept": "trained"}
    del stored["version"]  # written before the version was stored
    assert VariantMetrics.read(stored).version == 1


def test_missing_or_malformed_figures_read_as_none_not_as_made_up_ones() -> None:
    read = VariantMetrics.read({
        "size_bytes": "big", "macs": 1.5, "params": 10**400, "seconds": float("nan"), "latency": [],
        "accuracy": {"top1": None, "n": 40},
        "paired_latency": {"litert": {"ratio": 0.5}, "quantum": {"ratio": 0.1, "ratio_ci95": [0.1, 0.1]}},
        "latency_by_resolution": {"huge": {"fps": 1.0}, "224": {"fps": 31.0}, "²": {}}, "search": {"verdict": "maybe"},
        "steps": [{"step": "prune"}], "warnings": "not a list", "channels": {"a": 1.5, "b": True, "c": 3},
    })
    assert read.size_bytes is None and read.macs is None and read.params is None and read.seconds is None
    assert read.latency_ms is None and read.accuracy is None and dict(read.channels) == {"c": 3}
    assert dict(read.paired_latency) == {}, "a ratio without its interval, or an unknown runtime, is not a timing"
    assert read.fps_by_resolution == (), "a frame rate without the timing it came from is not a timing"
    assert read.search_verdict is None and read.steps == () and read.warnings == ()


@pytest.mark.parametrize("hostile", [
    {"steps": 5}, {"steps": {"a": 1}}, {"search": {"verdict": ["chosen"]}}, {"search": {"verdict": {"a": 1}}},
    {"accuracy": {"top1": 50.0, "runtime": ["torch"], "n": 10**400}}, {"paired_latency": []}, [], None,
    {"paired_latency": {"torch": {"ratio": 10**400, "ratio_ci95": [1, 2]}}},
])
def test_a_hostile_layout_reads_without_raising(hostile) -> None:
    json.dumps(VariantMetrics.read(hostile).to_dict())


@pytest.mark.parametrize("predicted,hits", [([float("inf"), 1], "11"), (["a", None], "11"), ([True, 2.7], "11"),
                                            ([1, 2], "é1")])
def test_per_image_answers_that_are_not_classes_and_hits_are_not_read(predicted, hits) -> None:
    stored = {"top1": 50.0, "images_id": "x", "per_image": {"hits": hits, "predicted": predicted}}
    read = StoredAccuracy.read(stored)
    assert read is not None and read.top1 == 50.0 and not read.per_image, "the figure stays; the answers go"


def test_keys_another_version_wrote_are_written_back_as_they_were() -> None:
    stored = {"version": 2, "size_bytes": 10, "energy_mj": {"per_image": 1.2}}
    assert VariantMetrics.read(stored).updated(macs=5).to_dict() == {**stored, "macs": 5}


def test_a_stored_variants_metrics_say_their_layout_version(tmp_path) -> None:
    project = Project.create(tmp_path / "p")
    variant = project.add_variant(create_model(TINY, "none"), "tiny", metrics=VariantMetrics(size_bytes=1))
    reopened = Project.open(project.root).variant(variant.id)
    stored = json.loads((project.variant_dir(reopened) / "variant.json").read_text())["metrics"]
    assert stored["version"] == METRICS_VERSION and reopened.metrics.size_bytes == 1


def test_an_update_keeps_other_runtimes_timings_and_stores_what_reopens(tmp_path) -> None:
    project = Project.create(tmp_path / "p")
    variant = project.add_variant(create_model(TINY, "none"), "tiny", metrics=_everything())
    updated = project.update_metrics(variant.id, paired_latency={Runtime.TORCH: timing(0.401234567, 0.38, 0.43)},
                                     seconds=None)
    assert set(updated.metrics.paired_latency) == {Runtime.LITERT, Runtime.TORCH} and updated.metrics.seconds is None
    assert Project.open(project.root).variant(variant.id).metrics == updated.metrics, "what is held is what is stored"


def test_metrics_an_earlier_version_stored_are_written_back_unchanged() -> None:
    # Stored by the studio before metrics were typed (commit c5eab37): a target search's int8 variant, a recipe's
    # int8 variant and its float graph (a fine-tune's report among its steps), on 40 images.
    earlier = json.loads((Path(__file__).parent / "data" / "metrics_v1.json").read_text())
    for made_by, stored in earlier.items():
        read = VariantMetrics.read(stored)
        assert read.accuracy is not None and read.accuracy.per_image and read.latency is not None, made_by
        assert json.loads(json.dumps(read.to_dict())) == stored, made_by
    searched = VariantMetrics.read(earlier["a target search's chosen int8 variant"])
    assert searched.search_verdict is Verdict.CHOSEN and searched.paired_accuracy is not None
    assert searched.paired_accuracy.against and Runtime.ONNXRUNTIME in searched.paired_latency
