"""torch's zip archives (.pth/.pt checkpoints, .pt2 programs) checked as data before torch reads them.

torch writes every record stored, never compressed, so a compressed record is not torch's: a 2 MB file holding a
deflated 2 GiB record took 2.1 GB of memory before torch refused it. Such records are refused, and the records'
total unpacked size is capped, before `torch.load` or `torch.export.load` sees the file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from core.errors import ModelLoadError

# The largest MobileNet checkpoint is tens of megabytes; a few gigabytes leaves room for any model the studio
# can open and stops a file that would unpack to more than this machine's memory.
MAX_UNPACKED_BYTES = 2 << 30


def check_archive(path: Path, max_unpacked: int = MAX_UNPACKED_BYTES) -> None:
    """Refuse a zip archive with compressed records or more than `max_unpacked` bytes in all (not a zip: nothing
    to check here; torch's own reader says what it is)."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path.name} is not a readable archive: {exc}") from exc
    compressed = [r.filename for r in records if r.compress_type != zipfile.ZIP_STORED]
    if compressed:
        raise ModelLoadError(f"{path.name} holds compressed records ({compressed[0]}), which PyTorch never writes; "
                             "refusing to unpack it (it may be a zip bomb)")
    total = sum(r.file_size for r in records)
    if total > max_unpacked:
        raise ModelLoadError(f"{path.name} would unpack to {total / 2**30:.1f} GiB, more than any model the studio "
                             f"opens ({max_unpacked / 2**30:.0f} GiB); refusing to read it")
