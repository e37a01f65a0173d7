"""A target's words never claim more than the interval shows: "within" only when the whole 95 % interval of the
paired Δtop-1 lies within the target; no "no loss" or "no measurable loss" anywhere."""

from __future__ import annotations

import pytest

from core.metrics.accuracy_text import TargetCheck, resolution_text, resolvable_points

# (Δ, interval, n, max_drop) → met on the estimate, confirmed by the whole interval
TABLE = [
    ((-1.0, (-2.6, 0.4), 500, 1.0), True, False),  # the studio's case: the loss could be 2.6 points
    ((-0.2, (-0.6, 0.3), 1300, 1.0), True, True),
    ((0.15, (-0.5, 0.8), 1300, 0.3), True, False),
    ((-1.5, (-2.9, -0.2), 1300, 1.0), False, False),
    ((-0.3, (-0.3, 0.0), 1300, 0.3), True, True),  # on the boundary: within
    ((2.2, (1.2, 3.2), 1300, 1.0), True, True),
]


@pytest.mark.parametrize(("figures", "met", "confirmed"), TABLE)
def test_the_words_never_claim_a_loss_within_the_target_when_the_interval_says_otherwise(
    figures: tuple, met: bool, confirmed: bool
) -> None:
    delta, ci95, n, max_drop = figures
    check = TargetCheck(delta, ci95, n, max_drop)
    words = check.words()
    assert (check.met, check.confirmed) == (met, confirmed)
    assert ("within" in words) == confirmed, words
    assert "no loss" not in words and "no measurable loss" not in words
    low, high = (f"{v:+.1f}".replace("-", "−") for v in ci95)
    assert f"could be between {low} and {high}" in words, "the interval is always beside the figure"
    assert ("misses" in words) == (not met)


def test_what_the_evaluation_images_can_resolve_is_said_up_front() -> None:
    assert resolution_text(500) == "with 500 images, differences smaller than about ±1.5 points cannot be told apart"
    assert resolvable_points(1300) < resolvable_points(500) < resolvable_points(200)

