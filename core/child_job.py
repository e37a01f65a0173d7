"""Run a long core function in a child process, so that native work holding the interpreter lock (TorchScript's
passes, TFLite and ONNX conversion) can neither stall the caller's window nor outlast a Cancel.

The child reports through a queue; the parent relays each report to its own `Progress`, which stays the cancel
checkpoint. On Cancel (or any failure in the parent) the child is stopped: SIGTERM first, which the child turns
into KeyboardInterrupt so that its `finally` blocks remove temporary files, then SIGKILL after `GRACE_S` if native
code never returned to Python; `leftovers` then removes what a killed child could not. A stop takes at most
`GRACE_S` plus a join, whatever the child was doing.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import traceback
from collections.abc import Callable
from typing import Any

from core.errors import StudioError, first_line
from core.jobs import Progress

GRACE_S = 1.0  # between SIGTERM and SIGKILL
POLL_S = 0.05  # how often the parent checks for Cancel while the child is silent


class ChildFailed(Exception):
    """The child raised something that is not a StudioError (a bug): its type and first line, with the child's
    traceback as `details`."""

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.details = details


def run_in_child(fn: Callable[..., Any], kwargs: dict[str, Any], progress: Progress,
                 leftovers: Callable[[], None] | None = None) -> Any:
    """`fn(progress=…, **kwargs)` in a fresh (spawned) Python process; its result, or its exception raised here.
    `fn` and `kwargs` must pickle (module-level functions, plain data, float torch modules); the result should be
    plain data (a tensor would cross back by shared memory that ends with the child)."""
    context = multiprocessing.get_context("spawn")  # never fork a process that runs Qt and torch thread pools
    reports: Any = context.Queue()
    child = context.Process(target=_child_main, args=(fn, kwargs, reports), daemon=True, name="mnstudio-child")
    child.start()
    try:
        while True:
            try:
                kind, *payload = reports.get(timeout=POLL_S)
            except queue.Empty:
                progress.check()
                if not child.is_alive() and reports.empty():
                    raise StudioError(f"the worker process ended without a result (exit code {child.exitcode}); "
                                      "it may have run out of memory") from None
                continue
            if kind == "progress":
                progress(*payload)
            elif kind == "done":
                return payload[0]
            else:
                error, details = payload
                if isinstance(error, StudioError):
                    raise error
                raise ChildFailed(error, details)
    except BaseException:
        _stop(child)
        if leftovers is not None:
            leftovers()
        raise
    finally:
        child.join(GRACE_S)
        reports.close()


def _stop(child: Any) -> None:
    if child.is_alive():
        child.terminate()
        child.join(GRACE_S)
    if child.is_alive():
        child.kill()
        child.join()


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _child_main(fn: Callable[..., Any], kwargs: dict[str, Any], reports: Any) -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    progress = Progress(lambda fraction, message: reports.put(("progress", fraction, message)))
    try:
        result = fn(progress=progress, **kwargs)
    except KeyboardInterrupt:
        return
    except StudioError as exc:
        reports.put(("error", StudioError(str(exc)) if type(exc).__init__ is not StudioError.__init__ else exc, ""))
    except Exception as exc:
        reports.put(("error", f"unexpected error: {type(exc).__name__}: {first_line(exc)}", traceback.format_exc()))
    else:
        reports.put(("done", result))
