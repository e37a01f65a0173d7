"""How accuracy reads wherever a person sees it (studio, command line, a search's reasons): one wording.

Top-1 as "80.4 % (±3.5, 500 images)": the half-width of its 95 % interval and the images it was measured on,
rather than a bracketed interval a reader has to subtract. A paired difference keeps its interval, which is
asymmetric and whose side of zero matters: "−0.3 pt [−0.9, +0.2], 1300 images".
"""

from __future__ import annotations


def images_text(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


def top1_text(top1: float, ci95: tuple[float, float] | None, n: int | None) -> str:
    details = ([f"±{(ci95[1] - ci95[0]) / 2:.1f}"] if ci95 else []) + ([images_text(n)] if n else [])
    return f"{top1:.1f} %" + (f" ({', '.join(details)})" if details else "")


def _signed(value: float) -> str:
    """One decimal with its sign, and a true minus sign."""
    return f"{value:+.1f}".replace("-", "−")


def delta_text(delta: float, ci95: tuple[float, float], n: int) -> str:
    low, high = ci95
    return f"{_signed(delta)} pt [{_signed(low)}, {_signed(high)}], {images_text(n)}"
