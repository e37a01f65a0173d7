"""Under Xvfb, the real window (xcb platform) renders: the start-up screen, then every main view."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from core.paths import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
VIEWS = ("01-start", "02-model", "03-target-form", "04-compress-running", "05-variants", "06-compare", "07-pareto",
         "08-compare-dark", "09-graph", "10-export-bundle", "11-start-done", "12-failure-dialog")


def _under_xvfb(*command: str, timeout: int) -> subprocess.CompletedProcess[str]:
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (make test installs it)")
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    return subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, *command],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)


def _looks_rendered(path: Path) -> Image.Image:
    image = Image.open(path).convert("RGB")
    assert image.size == (1280, 800)
    # A real window has text, tables and charts: hundreds of distinct colours, not a blank screen.
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 500, f"{path.name} looks blank"
    return image


@pytest.mark.xvfb
def test_real_window_renders_under_xvfb(shared) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "main-window.png"
    target.unlink(missing_ok=True)
    done = _under_xvfb("-m", "studio.app", "--screenshot", str(target), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    _looks_rendered(target)


@pytest.mark.xvfb
@pytest.mark.slow
def test_every_main_view_renders_under_xvfb(shared) -> None:
    folder = ARTIFACTS / "views"
    shutil.rmtree(folder, ignore_errors=True)
    done = _under_xvfb("-m", "tests.studio.tour", str(folder), timeout=1200)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    images = {view: _looks_rendered(folder / f"{view}.png") for view in VIEWS}
    assert len({image.tobytes() for image in images.values()}) == len(VIEWS)  # every view differs
