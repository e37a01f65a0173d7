"""Converters' chatter kept off standard output: `--json` promises exactly one JSON object there, and
litert-torch prints its progress lines from C++ and Python alike, so the redirect is at the file-descriptor level."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

_LOCK = threading.Lock()  # one redirect at a time: nested or concurrent ones would restore the wrong descriptor


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Within the block, whatever anything writes to standard output (fd 1) goes to standard error (fd 2)."""
    with _LOCK:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            os.dup2(2, 1)
            with contextlib.redirect_stdout(sys.stderr):  # Python's writes, wherever sys.stdout's own descriptor is
                yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
