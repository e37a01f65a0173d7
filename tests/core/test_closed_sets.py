"""Closed sets are typed values declared once: no code compares one of their members as a string, and every entry
of each registry resolves (exporters, runtimes, objectives, app bundles, data roles, model formats)."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from enum import StrEnum
from pathlib import Path

import pytest

from core.cli import build_parser
from core.data.roles import DataRole
from core.export.bundle import AppBundle
from core.export.registry import FORMATS, timed_formats
from core.formats import ModelFormat, StoredFormat
from core.metrics.stored import VariantMetrics
from core.model import Normalization
from core.recipe import Objective, TargetStep, Verdict
from core.runtimes import Runtime

CLOSED_SETS: tuple[type[StrEnum], ...] = (Runtime, DataRole, ModelFormat, StoredFormat, AppBundle, Objective, Verdict,
                                          Normalization)
ROOT = Path(__file__).resolve().parents[2]


def string_comparisons(source: str, values: set[str]) -> list[str]:
    """Lines of `source` that compare something with one of `values` written as a string literal: ==, !=, `is`,
    or membership in a literal tuple, list or set (iterating over one, `for x in (...)`, is not a comparison)."""
    alternatives = "|".join(re.escape(v) for v in sorted(values))
    literal = rf"""["']({alternatives})["']"""
    compared = re.compile(rf"(==|!=|\bis(\s+not)?)\s*{literal}|{literal}\s*(==|!=)")
    member = re.compile(rf"(?<!\bfor)(\s+\w[\w.()]*\s+(not\s+)?in\s*)[(\[{{][^)\]}}]*{literal}")
    loop = re.compile(r"\bfor\s+[\w, ()]+\s+in\s*[(\[{]")
    return [line.strip() for line in source.splitlines()
            if compared.search(line) or (member.search(line) and not loop.search(line))]


def test_the_check_finds_a_member_compared_as_a_string() -> None:
    values = {"litert", "evaluation"}
    assert string_comparisons('if runtime == "litert":', values)
    assert string_comparisons("if 'evaluation' != role:", values)
    assert string_comparisons('if fmt in ("torchscript", "litert"):', values)
    assert not string_comparisons("if runtime is Runtime.LITERT:", values)
    assert not string_comparisons('name = "litert"  # a value, not a comparison', values)
    assert not string_comparisons('for name in ("litert", "evaluation"):', values), "iterating is not comparing"


def test_no_closed_set_member_is_compared_as_a_string_in_core_or_studio() -> None:
    values = {member.value for kind in CLOSED_SETS for member in kind}
    found = [f"{path.relative_to(ROOT)}: {line}" for folder in ("core", "studio")
             for path in (ROOT / folder).rglob("*.py") for line in string_comparisons(path.read_text(), values)]
    assert found == []


def test_every_export_format_resolves_to_its_converter_and_runner() -> None:
    for name, fmt in FORMATS.items():
        assert fmt.name == name
        module = importlib.import_module(fmt.module)  # back ends are imported inside its functions, not here
        assert not fmt.reload or callable(getattr(module, fmt.reload)), f"{name}: no {fmt.reload} in {fmt.module}"
    for runtime, fmt in timed_formats().items():
        assert fmt.timed_as is runtime and fmt.reload, f"{runtime} times {fmt.name} files, which must run here"


def test_every_runtime_is_installed_and_either_runs_models_or_times_an_export_format() -> None:
    for runtime in Runtime:
        assert importlib.metadata.version(runtime.package), f"{runtime.package} is not installed"
        assert runtime.label in runtime.full_label
        assert runtime.in_process or runtime in timed_formats(), f"{runtime} can neither run a model nor a file"
        assert Runtime.named(runtime.value) is runtime


def test_every_search_objective_describes_itself_and_reads_a_stored_metric() -> None:
    measured = VariantMetrics(size_bytes=1, macs=2)  # what core.compress.store records for every variant
    for objective in Objective:
        assert (objective.measured(measured) is None) is (objective is Objective.LATENCY), objective
        for runtime in TargetStep.RUNTIMES:
            assert objective.describe(runtime)
            assert TargetStep(objective=objective.value, runtime=runtime.value).objective is objective


def test_every_app_bundle_holds_a_registered_format_and_names_its_files() -> None:
    for kind in AppBundle:
        assert kind.format_name in FORMATS
        assert AppBundle.of_path(f"/out/model-{kind}.zip") is kind
        assert AppBundle.named(kind.value) is kind
    assert AppBundle.named("") is None


def test_every_data_role_is_a_flag_of_the_compress_command() -> None:
    argv = ["compress", "mobilenet_v2", "--recipe", "fastest", "--out", "/projects/p"]
    for role in DataRole:
        argv += [role.flag, f"/photos/{role}"]
    args = build_parser().parse_args(argv)
    for role in DataRole:
        given = getattr(args, role.flag.removeprefix("--"))
        assert f"/photos/{role}" in (given if isinstance(given, list) else [given]) and role.need and role.heading


@pytest.mark.parametrize("fmt", list(ModelFormat))
def test_every_model_format_is_stored_as_a_stored_format_or_refused(fmt: ModelFormat) -> None:
    assert fmt.stored_as is None or fmt.stored_as in StoredFormat
    assert (fmt.stored_as is None) == (fmt is ModelFormat.PICKLE), "only a pickled module cannot be stored"
