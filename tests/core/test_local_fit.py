"""Block-local reconstruction: the blocks that absorbed an adaptor learn what the teacher feeds the next block."""

from __future__ import annotations

from pathlib import Path

import torch

from core.compress.drop_blocks import remove_blocks
from core.compress.local_fit import changed_blocks, reconstruct_locally
from core.data import Preprocessing, open_dataset
from core.recipe import DropBlocksStep
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec


def test_the_block_that_absorbed_a_dropped_run_learns_the_runs_output(calib_dir: Path) -> None:
    teacher = create_model(ModelSpec("mobilenet_v2", resolution=96), "pretrained")
    calib = open_dataset(calib_dir, limit=64, seed=0)
    # Block 5 folds into block 4's projection: block 4 must now produce what the teacher's block 5 did.
    student = remove_blocks(teacher, DropBlocksStep(blocks=(5,), fit_images=32), calib=calib)
    assert changed_blocks(student.module, teacher.module) == [4]
    images = torch.cat([b for b, _ in calib.batches(Preprocessing.for_card(teacher.card), 32)])

    def block_error() -> float:
        with torch.no_grad():
            wanted = teacher.module.features[:6](images)
            made = student.module.features[:6](images)
        return torch.nn.functional.mse_loss(made, wanted).item()

    before = block_error()
    losses: list[float] = []
    batches = iter([images[i : i + 16] for i in range(0, 64, 16)] * 10)
    reconstruct_locally(student.module, teacher.module, batches, 30, 1e-3, lambda _done, loss: losses.append(loss),
                        freeze_batchnorm=True)
    student.module.eval()
    assert len(losses) == 30 and block_error() < 0.8 * before, (before, block_error())
