"""Reusing a verified artifact: an identical export takes the file an earlier one made and verified in the same
folder; anything that changes the file, or a file changed since, converts again; a broken index is ignored.

TorchScript on an untrained V3-Small at 96 px keeps each conversion to about a second; the TFLite case (an
Android bundle after the same TFLite export) is in test_export.py, on the export it already makes."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core.data import open_dataset
from core.export import torch_formats
from core.export.job import ExportOptions
from core.export.registry import parse_formats
from core.export.reuse import INDEX_FILE
from core.export.run import export_model
from core.export.source import from_model
from core.model import LoadedModel
from core.zoo.loading import create_model
from tests.helpers import TINY, write_image

OPTIONS = ExportOptions(threads=1, latency_runs=0)
TORCHSCRIPT = parse_formats("torchscript")


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return create_model(TINY, "none")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for seed in range(4):
        write_image(folder / f"{seed}.png", size=(120, 100), seed=seed)
    return open_dataset(folder)


@pytest.fixture
def conversions(monkeypatch) -> list[str]:
    """The formats the TorchScript module converted, counted as they happen."""
    made: list[str] = []
    convert = torch_formats.convert

    def counted(job, fmt, target, progress):
        made.append(fmt.name)
        return convert(job, fmt, target, progress)

    monkeypatch.setattr(torch_formats, "convert", counted)
    return made


def _export(model: LoadedModel, out: Path, images, options: ExportOptions = OPTIONS):
    (result,) = export_model(from_model(model), TORCHSCRIPT, out, options=options, evaluation=images).results
    return result


def test_a_second_identical_export_reuses_the_verified_file_without_converting(model, images, tmp_path,
                                                                                monkeypatch) -> None:
    first = _export(model, tmp_path, images)
    assert first.verified and first.reused_at is None

    def refuse(*_args):
        raise AssertionError("converted again")

    monkeypatch.setattr(torch_formats, "convert", refuse)
    report = export_model(from_model(model), TORCHSCRIPT, tmp_path, options=replace(OPTIONS, threads=2),
                          evaluation=images)
    (second,) = report.results
    assert second.reused_at is not None and second.path == first.path and second.seconds == 0.0
    assert second.verification == first.verification and second.notes == first.notes and second.verified
    assert f"reused the verified artifact exported at {second.reused_at}; not converted again" in report.to_text()
    assert json.loads(Path(report.report_paths[0]).read_text())["formats"]["torchscript"]["reused_at"]


def test_a_changed_option_or_changed_weights_converts_again(model, images, tmp_path, conversions) -> None:
    _export(model, tmp_path / "option", images)
    # Every option but the thread count is part of what is compared, whether or not the format uses it.
    assert _export(model, tmp_path / "option", images, replace(OPTIONS, dynamic_batch=False)).reused_at is None
    changed = copy.deepcopy(model)
    with torch.no_grad():
        next(changed.module.parameters()).add_(0.01)
    _export(model, tmp_path / "weights", images)
    assert _export(changed, tmp_path / "weights", images).reused_at is None
    assert conversions == ["torchscript"] * 4


def test_a_file_modified_since_it_was_verified_converts_again(model, images, tmp_path, conversions) -> None:
    first = _export(model, tmp_path, images)
    with open(first.path, "ab") as file:
        file.write(b"\0")
    again = _export(model, tmp_path, images)
    assert again.reused_at is None and again.verified and conversions == ["torchscript"] * 2


def test_other_verification_images_or_an_unverified_file_convert_again(model, images, tmp_path, conversions) -> None:
    unverified = export_model(from_model(model), TORCHSCRIPT, tmp_path / "none", options=OPTIONS).results[0]
    assert not unverified.verified
    assert export_model(from_model(model), TORCHSCRIPT, tmp_path / "none", options=OPTIONS).results[0].reused_at is None
    _export(model, tmp_path / "some", images)
    assert _export(model, tmp_path / "some", images.subset(3)).reused_at is None
    assert conversions == ["torchscript"] * 4


def test_a_corrupt_or_foreign_index_is_ignored(model, images, tmp_path, conversions) -> None:
    first = _export(model, tmp_path, images)
    index_path = tmp_path / INDEX_FILE
    index = json.loads(index_path.read_text())
    (entry,) = index["artifacts"].values()
    outside = tmp_path.parent / Path(first.path).name  # an identical file outside the folder
    outside.write_bytes(Path(first.path).read_bytes())
    entry["file"] = f"../{outside.name}"
    index_path.write_text(json.dumps(index))
    assert _export(model, tmp_path, images).reused_at is None  # an entry never names a file outside
    index_path.write_text("{not json")
    assert _export(model, tmp_path, images).reused_at is None
    assert conversions == ["torchscript"] * 3
    assert _export(model, tmp_path, images).reused_at is not None  # the index written over the corrupt one works


def test_reuse_never_trusts_the_hash_in_the_index_it_reuses_from(model, images, tmp_path, conversions) -> None:
    first = _export(model, tmp_path, images)
    other = create_model(TINY, "pretrained")  # another model's file, put in place, its hash written in the index
    forged = _export(other, tmp_path / "other", images)
    Path(first.path).write_bytes(Path(forged.path).read_bytes())
    index_path = tmp_path / INDEX_FILE
    index = json.loads(index_path.read_text())
    (entry,) = index["artifacts"].values()
    entry["sha256"] = hashlib.sha256(Path(first.path).read_bytes()).hexdigest()
    index_path.write_text(json.dumps(index))
    again = _export(model, tmp_path, images)
    assert again.reused_at is None and again.verified, "verified again, refused, converted again"
    assert conversions == ["torchscript"] * 3
