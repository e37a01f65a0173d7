"""Where the studio finds shared data, weights and its caches (all configurable)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"


def shared_dir() -> Path:
    """The shared data folder: `$MNSTUDIO_SHARED`, else `../shared` beside the checkout."""
    return Path(os.environ.get("MNSTUDIO_SHARED", REPO_ROOT.parent / "shared")).expanduser().resolve()


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "mnstudio"


def projects_dir() -> Path:
    """Where the studio keeps projects the user has not placed elsewhere."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "mnstudio" / "projects"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnstudio"


def weights_dirs() -> list[Path]:
    """Folders searched for local weight files, in priority order.

    `$MNSTUDIO_WEIGHTS_DIR` (os.pathsep-separated) first, then the folder saved in
    the user's settings, then `<shared>/weights`.
    """
    from core.settings import load_settings

    dirs = [Path(p).expanduser() for p in os.environ.get("MNSTUDIO_WEIGHTS_DIR", "").split(os.pathsep) if p]
    configured = load_settings().weights_dir
    if configured:
        dirs.append(Path(configured).expanduser())
    dirs.append(shared_dir() / "weights")
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique
