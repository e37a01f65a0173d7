"""Hooks that never outlive the measurement that registered them, even when it fails or is cancelled."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def removed_after(handles: Iterable[Any]) -> Iterator[None]:
    """Remove the given hook handles when the block ends, however it ends."""
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
