"""A project never reads, writes or deletes outside its own resolved folder, whichever link leads out of it.

Each case plants a symbolic link inside a real project (its `variants/` folder, a variant's model file, its
default exports folder) pointing at an outside folder holding a victim's file, then goes through one door.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.cli import main
from core.errors import ProjectError
from core.project import Project
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec

TINY = "mobilenet_v3_small:res=64"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project.create(tmp_path / "proj")
    project.add_variant(create_model(ModelSpec("mobilenet_v3_small", resolution=64), "none"), "base")
    return project


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "thesis.txt").write_text("keep me")
    return folder


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _link_variants_out(project: Project, outside: Path) -> None:
    """Move `variants/` outside and leave a link to it: every variant now lives outside the project."""
    variants = project.root / "variants"
    for entry in variants.iterdir():
        shutil.move(str(entry), outside / entry.name)
    variants.rmdir()
    variants.symlink_to(outside, target_is_directory=True)


def test_a_symlinked_variants_folder_is_not_written_through_by_compress(
    project: Project, outside: Path, tmp_path: Path, capsys
) -> None:
    _link_variants_out(project, outside)
    before = _listing(outside)
    recipe = tmp_path / "smaller.json"
    recipe.write_text(json.dumps({"format": "mnstudio-recipe", "version": 1, "name": "smaller",
                                  "steps": [{"type": "resolution", "input_size": 48}]}))
    code = main(["compress", TINY, "--weights", "none", "--recipe", str(recipe), "--out", str(project.root),
                 "--threads", "1"])
    assert code == 2 and "outside the project through a link" in capsys.readouterr().err
    assert _listing(outside) == before


def test_a_symlinked_variants_folder_is_not_deleted_through(project: Project, outside: Path) -> None:
    variant_id = project.variants[0].id
    _link_variants_out(project, outside)
    before = _listing(outside)
    with pytest.raises(ProjectError, match="outside the project"):  # the studio opened it before the link came
        project.delete(variant_id)
    assert _listing(outside) == before and (outside / "thesis.txt").read_text() == "keep me"


def test_a_symlinked_variants_folder_is_not_read_through(project: Project, outside: Path) -> None:
    _link_variants_out(project, outside)
    reopened = Project.open(project.root)
    assert reopened.variants == [] and "outside the project" in reopened.problems[0]


def test_a_variant_model_file_linked_out_of_the_project_is_not_loaded(project: Project, outside: Path) -> None:
    variant = project.variants[0]
    model = project.model_path(variant)
    shutil.move(str(model), outside / "model.pt")
    model.symlink_to(outside / "model.pt")
    with pytest.raises(ProjectError, match="outside its folder"):
        project.load(variant.id)


def test_a_default_exports_folder_linked_out_of_the_project_is_refused(project: Project, outside: Path) -> None:
    (project.root / "exports").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ProjectError, match="outside the project"):
        project.checked(project.root / "exports")
    assert project.checked(outside) == outside  # a folder the user chose outside the project stays theirs
