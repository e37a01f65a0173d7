"""Progress reporting and cancellation for every long-running core function.

A long function takes a `Progress`; each call to it reports a fraction and a
message and is also the cancellation checkpoint (it raises `Cancelled`), so a
function that reports often enough is cancellable for free.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ProgressCallback = Callable[[float, str], None]


class Cancelled(Exception):
    """Raised at a progress checkpoint after the job's cancel token was set."""


class CancelToken:
    """Thread-safe flag a GUI or CLI sets to stop a running job."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class Progress:
    """Reports `fraction` in [0, 1] of a job and checks for cancellation.

    `span(start, end)` gives a child that maps its own [0, 1] onto [start, end]
    of the parent, so nested steps compose without knowing each other.
    """

    callback: ProgressCallback | None = None
    token: CancelToken = field(default_factory=CancelToken)
    start: float = 0.0
    end: float = 1.0

    def __call__(self, fraction: float, message: str = "") -> None:
        if self.token.cancelled:
            raise Cancelled(message or "cancelled")
        if self.callback is not None:
            clamped = min(max(fraction, 0.0), 1.0)
            self.callback(self.start + (self.end - self.start) * clamped, message)

    def check(self) -> None:
        """A cancellation checkpoint that reports nothing."""
        if self.token.cancelled:
            raise Cancelled("cancelled")

    def span(self, start: float, end: float) -> Progress:
        width = self.end - self.start
        return Progress(self.callback, self.token, self.start + width * start, self.start + width * end)

    def steps(self, total: int, message: str, min_interval_s: float = 0.05) -> Callable[[int], None]:
        """A per-item reporter for loops of `total` items; rate-limits callbacks, never checkpoints."""
        last = [0.0]

        def report(done: int) -> None:
            now = time.monotonic()
            if done >= total or now - last[0] >= min_interval_s:
                last[0] = now
                self(done / max(total, 1), f"{message} {done}/{total}")
            else:
                self.check()

        return report


def silent() -> Progress:
    """A progress that reports nowhere and is never cancelled."""
    return Progress()
