"""The trust gate every door that opens a torch.export (.pt2) archive passes through.

`torch.export.load` unpickles with code allowed wherever the archive asks it to: a weight or constant marked
`"use_pickle": true` (`torch.load(weights_only=False)`), opaque and custom-class constants (`pickle.loads`), and
sample inputs or legacy weight files that the safe unpickler refuses (it falls back to `weights_only=False`).
An archive may also carry AOTInductor native code. `code_entries` finds every such entry by reading the
archive as data, before torch sees it, so an untrusted archive is refused without running anything in it.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from core.errors import ModelLoadError, UntrustedPickleError
from core.zoo.archive import check_archive

# Sample inputs and legacy payloads are read into memory to try the safe unpickler on them; a real one is
# a few kilobytes (sample inputs) to a model's weights (legacy files), so anything larger is refused.
_MAX_PICKLE_PROBE = 512 * 1024 * 1024
_CODE_OBJECT_PREFIXES = ("custom_obj_", "opaque_obj_")


def code_entries(path: Path) -> list[str]:
    """The archive's entries that would run code when torch loads it (empty: safe to load)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _code_entries(archive)
    except (zipfile.BadZipFile, OSError, ValueError, RecursionError) as exc:
        raise ModelLoadError(f"{path.name} is not a readable torch.export archive: {exc}") from exc


def _code_entries(archive: zipfile.ZipFile) -> list[str]:
    found = []
    for info in archive.infolist():
        inner = info.filename.split("/", 1)[1] if "/" in info.filename else info.filename
        if inner.startswith("data/aotinductor/"):
            found.append(f"{inner} (compiled native code)")
        elif inner.endswith("_config.json") and inner.startswith(("data/weights/", "data/constants/")):
            found += [f"{inner}: {name}" for name in _pickled_payloads(_read_json(archive, info))]
        elif _is_pickle_torch_reads(inner) and not _safe_pickle(archive, info):
            found.append(inner)
    return found


def _is_pickle_torch_reads(inner: str) -> bool:
    """Sample inputs, and legacy one-file weights or constants: pickles torch retries with code allowed."""
    return inner.endswith(".pt") and inner.startswith(("data/sample_inputs/", "data/weights/", "data/constants/"))


def _read_json(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    if info.file_size > 64 * 1024 * 1024:
        raise ValueError(f"{info.filename} is {info.file_size} bytes, too large for a weights index")
    return json.loads(archive.read(info))


def _pickled_payloads(config: Any) -> list[str]:
    """Names in a weights or constants config that torch would unpickle with code allowed."""
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise ValueError("its weights index is not a {'config': {...}} object")
    flagged = []
    for name, meta in entries.items():
        if not isinstance(meta, dict):
            raise ValueError(f"its weights index entry {name!r} is not an object")
        path_name = str(meta.get("path_name", ""))
        if meta.get("use_pickle") or path_name.startswith(_CODE_OBJECT_PREFIXES):
            flagged.append(str(name))
    return flagged


def _safe_pickle(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    import torch

    if info.file_size > _MAX_PICKLE_PROBE:
        return False
    try:
        torch.load(io.BytesIO(archive.read(info)), map_location="cpu", weights_only=True)
    except Exception:  # the safe unpickler refuses code in many ways; any refusal means torch would retry unsafely
        return False
    return True


def check_trusted(path: Path, trust_pickle: bool) -> None:
    """Refuse an archive holding code unless the user trusts the file."""
    if trust_pickle:
        return
    entries = code_entries(path)
    if entries:
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
        raise UntrustedPickleError(
            f"{path.name} holds code, not just weights ({shown}), which would run when loaded; re-export it "
            "with plain tensors, or pass --trust-pickle ('Trust this file' in the studio) only if you made it yourself"
        )


def load_exported_program(path: Path, trust_pickle: bool = False) -> Any:
    """`torch.export.load` behind the trust gate: an archive with pickled or native code is refused first."""
    import torch

    check_archive(path)
    check_trusted(path, trust_pickle)
    return torch.export.load(str(path))
