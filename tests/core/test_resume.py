"""An interrupted compress resumes: kill -9 during fine-tuning, and the same command finishes from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.project import Project

RECIPE = {
    "format": "mnstudio-recipe", "version": 1, "name": "distil",
    "steps": [{"type": "finetune", "epochs": 40, "batch_size": 8, "labels": False, "distill": True,
               "bn_recalibration_images": 0, "held_out_images": 0}],
}


def test_a_killed_fine_tune_resumes_from_its_checkpoint_and_reuses_its_parent(tmp_path: Path, imagenette_dir) -> None:
    from tests.helpers import copy_images

    train = tmp_path / "train"
    copy_images(imagenette_dir / "train" / "n01440764", train / "n01440764", 16)
    recipe = tmp_path / "distil.json"
    recipe.write_text(json.dumps(RECIPE))
    out = tmp_path / "project"
    command = [sys.executable, "-m", "core.cli", "compress", "mobilenet_v3_small:res=64", "--weights", "pretrained",
               "--recipe", str(recipe), "--train", str(train), "--out", str(out), "--threads", "1",
               "--json"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 240
    while not list(out.glob("checkpoints/*/finetune-checkpoint.pt")):  # the first epoch's checkpoint
        assert first.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # a few more steps, as a user's kill would come mid-epoch
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert len(Project.open(out).variants) == 1, "the parent was stored before fine-tuning began"

    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    finetune = json.loads(second.stdout)["steps"][0]
    assert finetune["resumed_at"] is not None and finetune["resumed_at"] >= 2, finetune
    assert finetune["steps"] == 80
    project = Project.open(out)
    assert len(project.variants) == 2, "the parent was found, not stored again"
    assert project.variants[1].parent == project.variants[0].id
    assert not (out / "checkpoints").exists() or not any((out / "checkpoints").iterdir()), "no checkpoint left"
