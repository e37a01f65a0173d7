"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Writes that can be large are serialized in memory first, checked against the free space of the
disk that will hold them, and written by Python's own file I/O: a full disk then raises a clear
error instead of aborting the process inside a C++ writer (torch's zip writer calls abort()
on ENOSPC), and no partial file is left behind.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import DiskFullError, StorageError

# Head-room kept free on top of what a write needs: file-system metadata and the index files after it.
FREE_SPACE_MARGIN = 1 << 20


def _existing_parent(folder: Path) -> Path:
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_free_space(folder: Path, needed: int, what: str = "the file") -> None:
    """Raise `DiskFullError` naming the disk unless `needed` bytes (plus a margin) fit in `folder`."""
    existing = _existing_parent(folder)
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return  # an unknown file system: let the write itself report
    if free < needed + FREE_SPACE_MARGIN:
        raise DiskFullError(
            f"not enough free space for {what} on the disk holding {existing}: needs {_mb(needed)}, "
            f"{_mb(free)} free; free some space or choose a folder on another disk"
        )


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f} MB"


def explain_os_error(exc: OSError, folder: Path) -> str:
    """One line for a failed write, naming the disk when it is full."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"the disk holding {_existing_parent(folder)} is full ({exc.strerror or exc}); free some space "
                "or choose a folder on another disk")
    return f"cannot write to {folder}: {exc.strerror or exc}"


def storage_error(exc: OSError, folder: Path) -> StorageError:
    """The StudioError for a failed write: `DiskFullError` when the disk is full."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return (DiskFullError if full else StorageError)(explain_os_error(exc, folder))


def torch_bytes(obj: Any) -> bytes:
    """`torch.save(obj)` into memory, so that the bytes can be checked and written safely."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_through_memory(path: Path, save: Callable[[io.BytesIO], object]) -> None:
    """Let a library's writer (torch.jit.save, torch.export.save) write into memory, then write the bytes
    after checking the free space: those writers abort the whole process on a full disk."""
    buffer = io.BytesIO()
    save(buffer)
    write_bytes(path, buffer.getvalue())


def disk_full_cause(exc: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT OSError behind `exc` (a back end may wrap it in its own exception), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` after checking the free space, removing the file if the write fails."""
    path = Path(path)
    check_free_space(path.parent, len(data), path.name)
    try:
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp_path)` then move the finished file over `path`; OS errors become `StorageError`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise storage_error(exc, path.parent) from exc
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise storage_error(exc, path.parent) from exc
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def remove_with_leftovers(path: Path) -> None:
    """Remove `path` and the temporary files that killed `atomic_write`s of it left beside it."""
    path = Path(path)
    path.unlink(missing_ok=True)
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        if leftover.is_file() and not leftover.is_symlink():
            leftover.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: write_bytes(tmp, data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    """`torch.save` that never aborts on a full disk and never leaves a partial file."""
    atomic_write_bytes(path, torch_bytes(obj))


MAX_JSON_BYTES = 64 << 20  # the studio's own JSON files are kilobytes; a larger one is not one of them


def read_json(path: Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON file the studio wrote (an index, project.json, variant.json, settings.json), read defensively:
    only a regular file (a FIFO would hang the read), at most `max_bytes`, and nesting too deep for Python's
    parser is a ValueError like any other corruption. Raises FileNotFoundError, OSError or ValueError."""
    import json
    import stat

    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{Path(path).name} is not a regular file (a pipe, device or socket)")
    if info.st_size > max_bytes:
        raise ValueError(f"{Path(path).name} is {info.st_size} bytes, too large for one of the studio's files")
    with open(path, "rb") as fh:
        text = fh.read(max_bytes + 1)
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{Path(path).name} is nested too deeply to be one of the studio's files") from None
