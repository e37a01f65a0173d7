"""Under Xvfb, the real window (xcb platform) renders and a screenshot of the X screen is saved."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from core.paths import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.mark.xvfb
def test_real_window_renders_under_xvfb(shared) -> None:
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (make test installs it)")
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "main-window.png"
    target.unlink(missing_ok=True)
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    command = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m", "studio.app",
               "--screenshot", str(target)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    image = Image.open(target).convert("RGB")
    assert image.size == (1280, 800)
    # A real window has text, a table and widgets: thousands of distinct colours, not a blank screen.
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 500
