"""The studio state is evented: views redraw from its `changed` signal, once for a batch, and nothing else tells
them to. Qt-free (no window is made here)."""

from __future__ import annotations

import re
from pathlib import Path

from core.zoo.loading import create_model
from studio.state import StudioState
from tests.helpers import TINY


def heard(state: StudioState) -> list[frozenset[str]]:
    changes: list[frozenset[str]] = []
    state.changed.connect(changes.append)
    return changes


def test_assigning_a_field_emits_its_name_and_assigning_the_same_value_emits_nothing() -> None:
    state = StudioState()
    changes = heard(state)
    state.target_fps = 20.0
    state.target_fps = 20.0
    assert changes == [frozenset({"target_fps"})]


def test_a_batch_is_heard_once_after_its_last_assignment() -> None:
    state = StudioState()
    changes = heard(state)
    with state.batch():
        state.selected_variant, state.model_variant = "a", "b"
        with state.batch():  # a nested batch belongs to the outer one
            state.variants_changed()
        assert changes == [], "nothing is heard before the batch ends: a view never sees half of it"
    assert changes == [frozenset({"selected_variant", "model_variant", "revision"})]


def test_changes_to_the_projects_variants_and_to_opened_folders_are_heard(tmp_path) -> None:
    from core.data.datasets import ImageDataset, Sample
    from core.project import Project

    state = StudioState(project=Project.create(tmp_path / "p"))
    changes = heard(state)
    assert state.rows() == []
    state.project.add_variant(create_model(TINY, "none"), "tiny")  # type: ignore[union-attr]
    state.variants_changed()
    assert [row.name for row in state.rows()] == ["tiny"], "the rows are drawn again after a change"
    images = ImageDataset(Path("images"), "labels_csv", [Sample(Path("a.png"), 0)])
    state.with_dataset("calib", images)
    state.with_dataset("calib", images)  # the same folder again: nothing changed
    state.with_dataset("calib", None)
    assert changes == [frozenset({"revision"}), frozenset({"datasets"}), frozenset({"datasets"})]
    assert state.datasets == {}


def test_no_code_redraws_a_view_by_hand() -> None:
    """Views redraw from the state's events: the window and its collaborators assign state, never call a
    view's redraw (the panels' `_state_changed`, `_redraw*`) or the window's old fan-out."""
    studio = Path(__file__).resolve().parents[2] / "studio"
    by_hand = re.compile(r"\b(?!self\b)\w+\.(_state_changed|_redraw\w*|refresh_variants|refresh)\(")
    found = [f"{path.name}: {line.strip()}" for path in studio.glob("*.py")
             for line in path.read_text().splitlines() if by_hand.search(line)]
    assert found == []
