"""The `finetune` verb: recover accuracy after pruning, by labels, by distillation, or both.

Loss = (1 − w)·CE(student, label) + w·T²·KL(teacher_T ‖ student_T), with the parent
variant as teacher; unlabeled data is allowed when only distilling. AdamW with a
cosine schedule over the epochs, or over the time budget (`max_minutes`) when that
ends first. Training may run at a lower resolution to save CPU time; BatchNorm
statistics are then re-estimated at the model's own resolution. A checkpoint
(weights, optimizer, step, time spent) is written at every epoch end, every few
minutes and on cancel, so a cancelled or killed run resumes. Uses CUDA when present.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.compress.distill_data import CachedSource, FeatureTap, LiveSource, Views, student_feature_map
from core.compress.local_fit import reconstruct_locally, train_mode
from core.data.datasets import ImageDataset, Preprocessing
from core.errors import DatasetError, StudioError
from core.jobs import Cancelled, Progress, silent
from core.model import LoadedModel
from core.recipe import FinetuneStep
from core.storage import atomic_torch_save, remove_with_leftovers
from core.zoo.archive import check_archive

CHECKPOINT_FILE = "finetune-checkpoint.pt"
CHECKPOINT_EVERY_S = 120.0
MIN_IMAGES_TO_HOLD_OUT = 20  # below this every image trains: too few to judge progress on


@dataclass(frozen=True)
class FinetuneReport:
    """What a fine-tune did: steps, where it resumed, and which weights it kept by held-out agreement."""

    steps: int
    resumed_at: int | None
    held_out: int  # images never trained on, scored against the teacher (or the labels)
    agreement_start: float | None  # top-1 agreement (%) with the teacher before training
    agreement_kept: float | None
    kept: str  # "trained" | "best during training" | "start"
    note: str = ""  # said to the user when the kept weights are not the trained ones
    data: dict[str, Any] = field(default_factory=dict)  # how the teacher ran, and the class mix drawn

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FinetuneResult:
    model: LoadedModel
    report: FinetuneReport


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor | None,
    labels: torch.Tensor,
    step: FinetuneStep,
    student_features: torch.Tensor | None = None,
    teacher_features: torch.Tensor | None = None,
) -> torch.Tensor:
    losses = []
    if step.distill:
        assert teacher is not None
        t = step.temperature
        kl = F.kl_div(
            F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1), reduction="batchmean", log_target=True
        )
        losses.append((step.distill_weight if step.labels else 1.0) * t * t * kl)
    if step.labels:
        losses.append((1.0 - step.distill_weight if step.distill else 1.0) * F.cross_entropy(student, labels))
    if step.feature_weight and student_features is not None and teacher_features is not None:
        scale = teacher_features.pow(2).mean().clamp_min(1e-8)
        losses.append(step.feature_weight * F.mse_loss(student_features, teacher_features) / scale)
    return torch.stack(losses).sum()


def _fingerprint(model: LoadedModel, step: FinetuneStep, train: ImageDataset) -> str:
    """Identifies a run: a checkpoint is resumed only for the same parent, settings and data."""
    assert model.module is not None
    digest = hashlib.sha256(
        json.dumps({"optimizer": "adamw", "step": repr(step), "data": str(train.root), "n": len(train)}).encode()
    )
    for name, tensor in sorted(model.module.state_dict().items())[:8]:
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes()[:4096])
    return digest.hexdigest()[:16]


def finetune(
    model: LoadedModel,
    step: FinetuneStep,
    *,
    train: ImageDataset,
    teacher: LoadedModel | None = None,
    checkpoint_dir: Path | None = None,
    seed: int = 0,
    on_step: Callable[[int, nn.Module], None] | None = None,
    progress: Progress | None = None,
) -> FinetuneResult:
    """A fine-tuned copy of `model` (float, pruned, or prepared for quantization-aware training).

    A few images of `train` are held out (`step.held_out_images`); the weights kept are the best by
    top-1 agreement with the teacher on them, among the start, each epoch's and the final ones, so a
    fine-tune never returns a model worse than its start without saying so in the report.

    `on_step(steps_done, student)` runs before training and after every step (QAT freezes BN and
    observers from it); it must be idempotent because a resumed run calls it again.
    """
    progress = progress or silent()
    if model.module is None or model.card.quantization:
        raise StudioError("fine-tuning needs a float torch model; quantize after fine-tuning")
    if step.labels and not train.labeled:
        raise DatasetError(f"{train.root} has no labels: fine-tune with distill only, or give labelled images")
    if step.distill and (teacher is None or teacher.module is None):
        raise StudioError("distillation needs the parent variant as teacher")
    if len(train) < 2:
        raise DatasetError(f"fine-tuning needs at least 2 training images; {train.root} has {len(train)}")
    held_out, train = _hold_out(train, step.held_out_images)
    device = _device()
    started = time.monotonic()
    student = copy.deepcopy(model.module).to(device)
    teacher_module = teacher.module.to(device).eval() if step.distill and teacher and teacher.module else None
    resolution = step.resolution or model.card.input_size
    views = Views(
        teacher_size=teacher.card.input_size if teacher_module is not None and teacher else resolution,
        student_size=resolution, mean=model.card.mean, std=model.card.std,
        feature_map=student_feature_map(student, resolution, teacher_module) if step.feature_weight else None,
        min_area=step.crop_min_area,
    )
    source: LiveSource | CachedSource
    if step.teacher_cache and teacher_module is not None:
        source = CachedSource(train, teacher_module, views, step.batch_size, device, seed, step.views_per_image,
                              step.balance_classes, progress.span(0.0, 0.1))
    else:
        source = LiveSource(train, teacher_module, views, step.batch_size, device, seed)
    preparation_s = time.monotonic() - started  # counted in the time budget, not in the schedule
    steps_per_epoch = source.steps_per_epoch
    total_steps = max(1, math.ceil(step.epochs * steps_per_epoch))
    # AdamW, not SGD: on a pruned V2 (50.8 % top-1), SGD+Nesterov at 1e-3 fell to 30.4 % within 2.5 min
    # while AdamW at 1e-4 rose to 56.8 % in 60 steps (250 images); its per-weight step sizes suit these
    # weights, whose BatchNorm scales were folded in and de-quantized.
    optimizer = torch.optim.AdamW(student.parameters(), lr=step.learning_rate, weight_decay=0.0)
    budget_s = 60 * step.max_minutes if step.max_minutes is not None else math.inf
    done, spent_before, resumed_at = 0, 0.0, None
    checkpoint = checkpoint_dir / CHECKPOINT_FILE if checkpoint_dir else None
    fingerprint = _fingerprint(model, step, train)
    state = _read_checkpoint(checkpoint, device) if checkpoint is not None else None
    if state is not None and state.get("fingerprint") == fingerprint:
        try:
            student.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            done, spent_before = int(state["step"]), float(state.get("seconds", 0.0))
            resumed_at = done
            progress(done / total_steps * 0.9, f"resuming at step {done}/{total_steps}")
        except (RuntimeError, KeyError, ValueError, TypeError):  # a damaged checkpoint: start afresh
            student.load_state_dict(model.module.state_dict())
            optimizer = torch.optim.AdamW(student.parameters(), lr=step.learning_rate, weight_decay=0.0)

    def save_checkpoint() -> None:
        if checkpoint is None:
            return
        state = {
            "fingerprint": fingerprint, "step": done, "seconds": spent(), "model": student.state_dict(),
            "optimizer": optimizer.state_dict(),
        }
        atomic_torch_save(checkpoint, state)

    def spent() -> float:
        return spent_before + time.monotonic() - started

    def position() -> float:
        """How far training is: by steps, or by the time budget (less what preparing the data took) when that
        runs out first."""
        training_budget = max(budget_s - preparation_s, 1e-9)
        return min(1.0, max(done / total_steps, (spent() - preparation_s) / training_budget))

    def set_learning_rate() -> None:
        # Cosine decay over `position`, so a budget-limited run still ends at a low learning rate
        # instead of stopping mid-schedule.
        for group in optimizer.param_groups:
            group["lr"] = step.learning_rate * 0.5 * (1 + math.cos(math.pi * position()))

    train_progress = progress.span(0.1 if step.teacher_cache else 0.0, 0.9)
    last_save = time.monotonic()
    # The judge of progress: top-1 agreement with the teacher (or accuracy) on images never trained on.
    # Not for QAT students: scoring them would feed held-out images to their observers.
    judge = None
    if on_step is None:
        judge = _Judge(held_out, teacher_module if step.distill else None, model.card,
                       teacher.card if teacher else model.card, device)
    start_score = judge.score(model.module.to(device)) if judge else None
    best_score, best_state = start_score, None
    if step.local_steps and teacher_module is not None and resumed_at is None:
        _reconstruct(student, teacher_module, source, step, progress.span(0.1, 0.2))
        train_progress = progress.span(0.2, 0.9)
    train_mode(student, step.freeze_batchnorm)
    if on_step is not None:
        on_step(done, student)
    student_tap = FeatureTap(student) if views.feature_map is not None else None

    def keep_if_best() -> None:
        nonlocal best_score, best_state
        if judge is None:
            return
        score = judge.score(student)
        train_mode(student, step.freeze_batchnorm)
        if best_score is None or score > best_score:
            best_score, best_state = score, copy.deepcopy(student.state_dict())
    try:
        while done < total_steps:
            epoch = done // steps_per_epoch
            skip = done - epoch * steps_per_epoch
            done_before_epoch = done
            for index, batch in enumerate(source.epoch(epoch)):
                if index < skip or len(batch.labels) < 2:  # BatchNorm needs two samples; resumed steps are skipped
                    continue
                logits = student(batch.images)
                loss = distillation_loss(logits, batch.logits, batch.labels, step,
                                         student_tap.value if student_tap else None, batch.features)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                set_learning_rate()
                optimizer.step()
                done += 1
                if on_step is not None:
                    on_step(done, student)
                learning_rate = optimizer.param_groups[0]["lr"]
                train_progress(position(), f"epoch {epoch + 1}, step {done}/{total_steps}, loss {loss.item():.3f}, "
                                           f"learning rate {learning_rate:.2g}")
                out_of_time = spent() > budget_s
                if done % steps_per_epoch == 0 or time.monotonic() - last_save > CHECKPOINT_EVERY_S:
                    keep_if_best()
                    save_checkpoint()
                    last_save = time.monotonic()
                if done >= total_steps or out_of_time:
                    break
            if spent() > budget_s:
                break
            if done == done_before_epoch:
                raise DatasetError(f"no batch of {train.root} could be read for training")
    except Cancelled:
        save_checkpoint()
        raise
    finally:
        if student_tap is not None:
            student_tap.close()
        model.module.cpu()  # the judge scored the start on the training device
        if teacher_module is not None:
            teacher_module.cpu()
    student.eval()
    final_score = judge.score(student) if judge else None
    if step.bn_recalibration_images:
        # Kept only where it measurably helps: on V3-Small at 96 px it took held-out agreement from 42 % to 11 %.
        before = {k: v.clone() for k, v in student.state_dict().items() if "running_" in k or "num_batches" in k}
        recalibrate_batchnorm(student, train, Preprocessing.for_card(model.card), step.bn_recalibration_images,
                              progress.span(0.9, 0.97))
        recalibrated = judge.score(student) if judge else None
        if final_score is not None and recalibrated is not None and recalibrated < final_score:
            student.load_state_dict(before, strict=False)
        else:
            final_score = recalibrated
    kept = "trained"
    if judge is not None and final_score is not None and best_score is not None and final_score < best_score:
        if best_state is None:  # nothing beat the start: fine-tuning made the model worse
            student.load_state_dict(model.module.state_dict())
            kept = "start"
        else:
            student.load_state_dict(best_state)
            kept = "best during training"
    student.eval().cpu()
    if checkpoint is not None:
        # A run killed while writing its checkpoint left a temporary file that would keep the folder forever.
        remove_with_leftovers(checkpoint)
    report = FinetuneReport(
        steps=done, resumed_at=resumed_at, held_out=len(held_out) if held_out else 0,
        agreement_start=start_score, agreement_kept=best_score if kept != "trained" else final_score, kept=kept,
        note=_kept_note(kept, start_score, final_score, best_score, judge), data=source.report,
    )
    card = replace(model.card, title=f"{model.card.title} fine-tuned", path="")
    if report.note:
        card = replace(card, warnings=(*card.warnings, report.note))
    progress(1.0, report.note or f"fine-tuned {done} steps in {time.monotonic() - started:.0f} s")
    return FinetuneResult(LoadedModel(card=card, module=student), report)


def _reconstruct(student: nn.Module, teacher: nn.Module, source: LiveSource | CachedSource, step: FinetuneStep,
                 progress: Progress) -> None:
    """Block-local reconstruction on the training views, the teacher at the student's input size."""

    def images() -> Any:
        epoch = 0
        while True:
            for batch in source.epoch(10_000 + epoch):
                yield batch.images
            epoch += 1

    def report(done: int, loss: float) -> None:
        progress(done / step.local_steps, f"block-local reconstruction, step {done}/{step.local_steps}, "
                                          f"loss {loss:.3f}")

    reconstruct_locally(student, teacher, images(), step.local_steps, step.learning_rate, report, step.freeze_batchnorm)


@torch.no_grad()
def recalibrate_batchnorm(
    module: nn.Module, data: ImageDataset, preprocess: Preprocessing, images: int, progress: Progress
) -> None:
    """Re-estimate BatchNorm running statistics (cumulative average) on `images` images at eval preprocessing."""
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    if not norms:
        return
    saved_momentum: dict[nn.BatchNorm2d, Any] = {m: m.momentum for m in norms}
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average over all batches
    device = next(module.parameters()).device
    module.train()
    try:
        for batch, _ in data.subset(min(images, len(data)), seed=1).batches(preprocess, 32, progress):
            module(batch.to(device))
    finally:
        module.eval()
        for norm, momentum in saved_momentum.items():
            norm.momentum = momentum


def _read_checkpoint(path: Path, device: torch.device) -> dict[str, Any] | None:
    """The saved state of an interrupted run, or None when there is none or it cannot be read."""
    if not path.is_file():
        return None
    try:
        check_archive(path)  # a planted zip bomb is refused before torch unpacks it
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception:  # a truncated, foreign or refused file: the run starts afresh and overwrites it
        return None
    return state if isinstance(state, dict) else None


def _hold_out(train: ImageDataset, wanted: int) -> tuple[ImageDataset | None, ImageDataset]:
    """(held-out images, the rest to train on): at most a fifth of the set, none from a tiny set."""
    count = min(wanted, len(train) // 5)
    if len(train) < MIN_IMAGES_TO_HOLD_OUT or count < 1:
        return None, train
    order = train.shuffled(seed=12345).samples  # training reshuffles every epoch anyway
    return replace(train, samples=order[:count]), replace(train, samples=order[count:])


class _Judge:
    """Top-1 agreement (%) of a student with the teacher, or accuracy when there is no teacher.

    The teacher sees the images as it was made to (its own input size), the student as it will be fed.
    """

    def __init__(self, images: ImageDataset | None, teacher: nn.Module | None, card: Any, teacher_card: Any,
                 device: torch.device):
        self.batches: list[tuple[torch.Tensor, torch.Tensor]] = []
        if images is not None:
            self.batches = list(images.batches(Preprocessing.for_card(card), 32))
        self.targets = []
        if teacher is not None and images is not None:
            with torch.no_grad():
                for batch, _ in images.batches(Preprocessing.for_card(teacher_card), 32):
                    self.targets.append(teacher(batch.to(device)).argmax(1).cpu())
        else:
            self.targets = [labels for _, labels in self.batches]
        self.count = sum(len(t) for t in self.targets)

    def __bool__(self) -> bool:
        return bool(self.batches) and all(bool((t >= 0).all()) for t in self.targets)

    @torch.no_grad()
    def score(self, module: nn.Module) -> float:
        module.eval()
        device = next(module.parameters()).device
        hits = total = 0
        for (batch, _), target in zip(self.batches, self.targets, strict=True):
            hits += int((module(batch.to(device)).argmax(1).cpu() == target).sum())
            total += len(target)
        return round(100 * hits / max(1, total), 2)


def _kept_note(kept: str, start: float | None, final: float | None, best: float | None, judge: Any) -> str:
    if kept == "start":
        return (f"fine-tuning lowered top-1 agreement with the parent on {judge.count} held-out images "
                f"({start:.1f} % → {final:.1f} %), so the weights from before fine-tuning were kept")
    if kept == "best during training":
        return (f"the last weights agreed less with the parent on held-out images ({final:.1f} %) than an earlier "
                f"checkpoint ({best:.1f} %), which was kept")
    return ""
