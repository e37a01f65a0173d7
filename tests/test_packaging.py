"""Packaging files are valid and point at things that exist."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import tomllib

import pytest

from core.paths import REPO_ROOT

DESKTOP = REPO_ROOT / "packaging" / "mnstudio.desktop"


def test_desktop_entry_launches_the_gui_script() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(DESKTOP)
    section = entry["Desktop Entry"]
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["gui-scripts"]
    assert section["Exec"].split()[0] in scripts
    assert (REPO_ROOT / "assets" / "icons" / f"{section['Icon']}.svg").is_file()


def test_desktop_entry_passes_desktop_file_validate() -> None:
    if shutil.which("desktop-file-validate") is None:
        pytest.skip("desktop-file-validate is not installed (make test installs desktop-file-utils)")
    done = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout
