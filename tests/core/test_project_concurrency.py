"""One writer at a time: concurrent runs into one project lose nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from core.project import Project
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec

DYNAMIC = {"format": "mnstudio-recipe", "version": 1, "name": "dynamic",
           "steps": [{"type": "quantize", "mode": "dynamic"}]}


def test_two_concurrent_compress_runs_into_one_project_both_keep_their_variant(tmp_path: Path) -> None:
    import torch

    recipe = tmp_path / "dynamic.json"
    recipe.write_text(json.dumps(DYNAMIC))
    weights = tmp_path / "weights.pth"  # both runs start from the same weights, so they share one parent
    torch.save(ModelSpec("mobilenet_v3_small", resolution=64).build().state_dict(), weights)
    out = tmp_path / "shared-project"
    command = [sys.executable, "-m", "core.cli", "compress", "mobilenet_v3_small:res=64", "--weights", str(weights),
               "--recipe", str(recipe), "--out", str(out), "--threads", "1", "--json"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen([*command, "--name", f"run {i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env) for i in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    summaries = [json.loads(stdout) for stdout, _ in outputs]
    project = Project.open(out)
    parents = [v for v in project.variants if v.parent is None]
    children = sorted((v.name, v.parent) for v in project.variants if v.parent is not None)
    assert len(parents) == 1, "the run that came second found the parent the first one stored"
    assert children == [("run 0", parents[0].id), ("run 1", parents[0].id)]
    assert {s["variant"] for s in summaries} == {v.id for v in project.variants if v.parent}
    folders = {p.name for p in (out / "variants").iterdir()}
    assert folders == {v.id for v in project.variants}, "no orphan or staging folder"


def test_threads_adding_variants_at_once_lose_none(tmp_path: Path) -> None:
    model = create_model(ModelSpec("mobilenet_v3_small", resolution=64, num_classes=10), "none")
    Project.create(tmp_path / "proj")
    errors: list[BaseException] = []

    def add(index: int) -> None:
        try:  # each thread has its own Project object, as separate processes would
            Project.open(tmp_path / "proj").add_variant(model, f"v{index}")
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(v.name for v in Project.open(tmp_path / "proj").variants) == ["v0", "v1", "v2", "v3"]


def test_a_variant_deleted_meanwhile_is_not_recreated_by_a_late_metrics_update(tmp_path: Path) -> None:
    import pytest

    from core.errors import ProjectError

    model = create_model(ModelSpec("mobilenet_v3_small", resolution=64, num_classes=10), "none")
    measuring = Project.create(tmp_path / "proj")
    variant = measuring.add_variant(model, "v")
    Project.open(tmp_path / "proj").delete(variant.id)  # another writer deletes it during a measurement
    with pytest.raises(ProjectError, match="no variant"):
        measuring.update_metrics(variant.id, seconds=1.0)
    assert not (tmp_path / "proj" / "variants" / variant.id).exists()


def test_a_child_of_a_parent_deleted_meanwhile_is_refused(tmp_path: Path) -> None:
    import pytest

    from core.errors import ProjectError

    model = create_model(ModelSpec("mobilenet_v3_small", resolution=64, num_classes=10), "none")
    compressing = Project.create(tmp_path / "proj")
    parent = compressing.add_variant(model, "parent")
    Project.open(tmp_path / "proj").delete(parent.id)
    with pytest.raises(ProjectError, match="no variant"):
        compressing.add_variant(model, "child", parent=parent.id)
    assert Project.open(tmp_path / "proj").variants == []
    assert list((tmp_path / "proj" / "variants").iterdir()) == []
