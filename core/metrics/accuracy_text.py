"""How accuracy reads wherever a person sees it (studio, command line, a search's reasons): one wording.

Top-1 as "80.4 % (±3.5, 500 images)": the half-width of its 95 % interval and the images it was measured on,
rather than a bracketed interval a reader has to subtract. A paired difference keeps its interval, which is
asymmetric and whose side of zero matters: "−0.3 pt [−0.9, +0.2], 1300 images".
"""

from __future__ import annotations


def images_text(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


def top1_text(top1: float, ci95: tuple[float, float] | None, n: int | None, source: str = "") -> str:
    """"80.4 % (±3.5, 500 images of imagenet_val1300)": `source` names the images (and a runtime other than
    PyTorch), so that two figures from different images or runtimes never read as one."""
    counted = images_text(n) + (f" of {source}" if source else "") if n else ""
    details = ([f"±{(ci95[1] - ci95[0]) / 2:.1f}"] if ci95 else []) + ([counted] if counted else [])
    return f"{top1:.1f} %" + (f" ({', '.join(details)})" if details else "")


def _signed(value: float) -> str:
    """One decimal with its sign, and a true minus sign."""
    return f"{value:+.1f}".replace("-", "−")


def points_text(delta: float, ci95: tuple[float, float]) -> str:
    """"−0.3 pt [−0.9, +0.2]": a paired difference of top-1 with its 95 % interval."""
    low, high = ci95
    return f"{_signed(delta)} pt [{_signed(low)}, {_signed(high)}]"


def delta_text(delta: float, ci95: tuple[float, float], n: int) -> str:
    return f"{points_text(delta, ci95)}, {images_text(n)}"


# Share of images on which a compressed model and its parent differ in being right: about 3 % for int8 and the
# zero-shot input sizes measured here. It sets how small a paired difference the evaluation images can resolve.
TYPICAL_DISCORDANCE = 0.03


def resolvable_points(n: int) -> float:
    """The half-width of a paired Δtop-1's 95 % interval to expect on `n` images."""
    return 196 * (TYPICAL_DISCORDANCE / max(1, n)) ** 0.5


def resolution_text(n: int) -> str:
    return (f"with {images_text(n)}, differences smaller than about ±{resolvable_points(n):.1f} points "
            "cannot be told apart")


class TargetCheck:
    """A paired Δtop-1 judged against "lose at most `max_drop` points". Met: the estimate is within the target;
    confirmed: the whole 95 % interval is. The words never claim more than the interval shows."""

    def __init__(self, delta: float, ci95: tuple[float, float], n: int, max_drop: float) -> None:
        self.delta, self.ci95, self.n, self.max_drop = delta, ci95, n, max_drop

    @property
    def met(self) -> bool:
        return self.delta >= -self.max_drop

    @property
    def confirmed(self) -> bool:
        return self.ci95[0] >= -self.max_drop

    def figure(self) -> str:
        low, high = self.ci95
        return f"{_signed(self.delta)} pt (could be between {_signed(low)} and {_signed(high)}, {images_text(self.n)})"

    def words(self) -> str:
        target = f"the {self.max_drop:g}-pt target"
        if self.confirmed:
            return f"{self.figure()}: within {target}, confirmed by the whole interval"
        if self.met:
            return (f"{self.figure()}: meets {target} on its estimate, not confirmed (a loss of up to "
                    f"{-self.ci95[0]:.1f} pt cannot be ruled out)")
        return f"{self.figure()}: misses {target} by {-self.max_drop - self.delta:.1f} pt"
