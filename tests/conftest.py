"""Shared fixtures: isolated user folders, one torch thread, and the shared data folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Isolate the user's config and caches before any project module reads them.
_SANDBOX = Path(tempfile.mkdtemp(prefix="mnstudio-tests-"))
os.environ["XDG_CONFIG_HOME"] = str(_SANDBOX / "config")
os.environ["XDG_CACHE_HOME"] = str(_SANDBOX / "cache")
os.environ["XDG_DATA_HOME"] = str(_SANDBOX / "data")
os.environ["TORCH_HOME"] = str(_SANDBOX / "torch")
os.environ.pop("MNSTUDIO_WEIGHTS_DIR", None)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared() -> Path:
    from core.paths import shared_dir

    folder = shared_dir()
    if not folder.is_dir():
        pytest.skip(f"shared data folder {folder} is absent (set MNSTUDIO_SHARED)")
    return folder


@pytest.fixture(scope="session")
def val_dir(shared: Path) -> Path:
    return shared / "datasets" / "imagenet_val1300"


@pytest.fixture(scope="session")
def calib_dir(shared: Path) -> Path:
    return shared / "datasets" / "imagenet_calib1000"


@pytest.fixture(scope="session")
def imagenette_dir(shared: Path) -> Path:
    return shared / "datasets" / "imagenette"
