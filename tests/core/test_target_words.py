"""A target's words never claim more than the interval shows: "within" only when the whole 95 % interval of the
paired Δtop-1 lies within the target; no "no loss" or "no measurable loss" anywhere.
The speed headline (LiteRT on this computer) says "as fast" or "slower" only when the interval excludes 1×."""

from __future__ import annotations

import pytest

from core.metrics.accuracy_text import TargetCheck, resolution_text, resolvable_points
from core.metrics.speed_text import PairedSpeed, speed_headline

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



# (ratio, interval) → the verdict the words may give
SPEEDS = [
    ((0.39, (0.37, 0.41)), "2.6× as fast as the original"),
    ((0.95, (0.88, 1.03)), "no clear difference from the original"),  # the interval spans 1×: no "faster"
    ((1.7, (1.6, 1.8)), "1.7× slower than the original"),  # V3-Small's int8 on x86: said plainly
    ((1.02, (0.97, 1.08)), "no clear difference from the original"),
]


@pytest.mark.parametrize(("figures", "verdict"), SPEEDS)
def test_the_speed_headline_names_litert_and_this_computer_and_claims_no_more_than_its_interval(
    figures: tuple, verdict: str
) -> None:
    ratio, ci95 = figures
    words = speed_headline(PairedSpeed(ratio, ci95))
    assert words.startswith("Speed in LiteRT, measured on this computer: " + verdict), words
    assert f"could be {ci95[0]:.2f}–{ci95[1]:.2f}×" in words, "the interval is always beside the figure"
    assert "phone" in words, "a desktop timing is said to be this computer's"


def test_an_untimed_variant_says_its_litert_speed_is_not_measured_and_how_to_measure_it() -> None:
    words = speed_headline(None)
    assert "not measured" in words and "Re-measure all" in words and "fast" not in words
