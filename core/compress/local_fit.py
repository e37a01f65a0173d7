"""Block-local reconstruction: before end-to-end distillation, each changed block of the student learns to
turn the teacher's input to it into the teacher's output of it.

A changed block is one whose weights differ from the teacher's block at the same position: the layer that
absorbed a dropped run's adaptor, or a pruned block. It reads the teacher's output of the previous kept
block and learns what the teacher feeds the next kept block, so every changed block trains at once from one
teacher pass, on its own error only (PRACTISE and
MiR both recover few-shot this way before, or instead of, end-to-end training).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.hooks import removed_after


def changed_blocks(student: nn.Module, teacher: nn.Module) -> list[int]:
    """Positions in `features` of the kept student blocks whose weights differ from the teacher's."""
    student_blocks: Any = student.features
    teacher_blocks: Any = teacher.features
    changed = []
    for index, (mine, theirs) in enumerate(zip(student_blocks, teacher_blocks, strict=True)):
        if isinstance(mine, nn.Identity):
            continue
        own, other = mine.state_dict(), theirs.state_dict()
        if own.keys() != other.keys() or any(
            own[k].shape != other[k].shape or not torch.equal(own[k], other[k]) for k in own
        ):
            changed.append(index)
    return changed


def reconstruct_locally(
    student: nn.Module,
    teacher: nn.Module,
    images: Iterator[torch.Tensor],
    steps: int,
    learning_rate: float,
    on_step: Callable[[int, float], None],
    freeze_batchnorm: bool = False,
) -> list[int]:
    """Train the changed blocks for `steps` batches of `images` (at the student's input size); returns them."""
    blocks = changed_blocks(student, teacher)
    if not blocks or steps < 1:
        return blocks
    student_blocks: Any = student.features
    teacher_blocks: Any = teacher.features
    kept = [i for i, block in enumerate(student_blocks) if not isinstance(block, nn.Identity)]
    source = {j: max((k for k in kept if k < j), default=None) for j in blocks}  # whose output block j reads
    # What block j must produce: what the teacher feeds the next kept block. Past a dropped run that is the
    # teacher's output of the run's last block (block j absorbed the run's adaptor).
    target = {j: min((k for k in kept if k > j), default=len(student_blocks)) - 1 for j in blocks}
    parameters = [p for j in blocks for p in student_blocks[j].parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.0)
    outputs: dict[int, torch.Tensor] = {}

    def keep(index: int) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            outputs[index] = output

        return hook

    watched = set(target.values()) | {k for k in source.values() if k is not None}
    hooks = [teacher_blocks[i].register_forward_hook(keep(i)) for i in watched]
    teacher.eval()
    for j in blocks:
        train_mode(student_blocks[j], freeze_batchnorm)
    with removed_after(hooks):
        for done, batch in enumerate(images, start=1):
            with torch.no_grad():
                teacher(batch)
            loss = torch.stack([_block_error(student_blocks[j], batch, outputs, source[j], target[j])
                                for j in blocks]).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            on_step(done, loss.item())
            if done >= steps:
                break
    return blocks


def _block_error(block: nn.Module, images: torch.Tensor, outputs: dict[int, torch.Tensor], previous: int | None,
                 index: int) -> torch.Tensor:
    """The block's output from the teacher's input to it, against the teacher's output, relative to its power."""
    produced = block(images if previous is None else outputs[previous])
    return F.mse_loss(produced, outputs[index]) / outputs[index].pow(2).mean().clamp_min(1e-8)


def train_mode(module: nn.Module, freeze_batchnorm: bool) -> None:
    """Training mode; with `freeze_batchnorm`, BatchNorm normalises by its running statistics and keeps them."""
    module.train()
    if freeze_batchnorm:
        for norm in module.modules():
            if isinstance(norm, nn.modules.batchnorm._BatchNorm):
                norm.eval()
