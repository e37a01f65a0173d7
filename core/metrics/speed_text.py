"""The one headline figure for speed: a variant's latency against its original's, timed in turn in LiteRT (the
.tflite in the LiteRT interpreter with XNNPACK, as the Android bundle runs it) on this computer.

The words never claim more than the interval shows: "faster" only when the whole interval lies below 1×, "slower"
only when it lies above, and always "on this computer", since a desktop CPU is not a phone's.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.runtimes import Runtime

HEADLINE_RUNTIME = Runtime.LITERT
HEADLINE_TITLE = "Speed in LiteRT, measured on this computer"


@dataclass(frozen=True)
class PairedSpeed:
    """A latency ratio (this model's median time over its original's) with its 95 % interval."""

    ratio: float
    ci95: tuple[float, float]
    noisy: bool = False

    def verdict(self, original: str = "") -> str:
        """"2.6× as fast", "1.7× slower" or "no clear difference" (the interval decides); `original` names what it
        is compared with ("the original")."""
        low, high = self.ci95
        if high < 1.0:
            return f"{1 / self.ratio:.1f}× as fast" + (f" as {original}" if original else "")
        if low > 1.0:
            return f"{self.ratio:.1f}× slower" + (f" than {original}" if original else "")
        return "no clear difference" + (f" from {original}" if original else "")

    def short_text(self, original: str = "") -> str:
        """The verdict, then the ratio with its interval."""
        low, high = self.ci95
        noisy = ", noisy" if self.noisy else ""
        return f"{self.verdict(original)} ({self.ratio:.2f}× the latency, could be {low:.2f}–{high:.2f}×{noisy})"

def speed_headline(speed: PairedSpeed | None, is_original: bool = False) -> str:
    """"Speed in LiteRT, measured on this computer: 2.6× as fast as the original (…). A phone's CPU may differ."."""
    if is_original:
        return f"{HEADLINE_TITLE}: this is the original its variants are timed against."
    if speed is None:
        return ("Speed in LiteRT: not measured on this computer yet (Variants › Re-measure all, with LiteRT chosen, "
                "times it in turn with its original).")
    return f"{HEADLINE_TITLE}: {speed.short_text('the original')}. A phone's CPU may differ."
