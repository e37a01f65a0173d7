"""Fine-tuning: distillation from the parent, labels, unlabeled data, cancel and resume."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from core.compress.finetune import CHECKPOINT_FILE, finetune
from core.compress.pruning import prune
from core.data import Preprocessing, open_dataset
from core.errors import DatasetError, StudioError
from core.jobs import Cancelled, CancelToken, Progress
from core.precision import INT8_STATIC, QuantInfo
from core.recipe import FinetuneStep, PruneStep
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec

RES = 96


@pytest.fixture(scope="module")
def parent():
    return create_model(ModelSpec("mobilenet_v3_small", resolution=RES), "pretrained")


@pytest.fixture(scope="module")
def train(imagenette_dir: Path):
    return open_dataset(imagenette_dir / "train", limit=96, seed=0)


def _kl_to_teacher(student, teacher, images: torch.Tensor) -> float:
    with torch.inference_mode():
        return F.kl_div(F.log_softmax(student(images), 1), F.log_softmax(teacher(images), 1),
                        reduction="batchmean", log_target=True).item()


def test_distillation_brings_a_pruned_student_closer_to_its_parent(imagenette_dir: Path) -> None:
    # 160 px: at 96 px the pretrained teacher itself is too poor for a clear signal.
    teacher = create_model(ModelSpec("mobilenet_v3_small", resolution=160), "pretrained")
    student = prune(teacher, PruneStep(ratio=0.3, compensate=False))
    held_out = torch.cat(
        [b for b, _ in open_dataset(imagenette_dir / "val", limit=64).batches(Preprocessing(160, 183), 64)]
    )
    step = FinetuneStep(epochs=1, batch_size=16, learning_rate=1e-3, bn_recalibration_images=128)
    tuned = finetune(student, step, train=open_dataset(imagenette_dir / "train", limit=256), teacher=teacher).model
    before = _kl_to_teacher(student.module, teacher.module, held_out)
    after = _kl_to_teacher(tuned.module, teacher.module, held_out)
    assert after < 0.85 * before, (before, after)
    assert tuned.card.title.endswith("fine-tuned") and not tuned.module.training


def test_unlabeled_data_is_allowed_for_distillation_only(parent, shared: Path) -> None:
    unlabeled = open_dataset(shared / "datasets" / "imagenet_calib1000", limit=32)
    with pytest.raises(DatasetError, match="no labels"):
        finetune(parent, FinetuneStep(labels=True, distill=False), train=unlabeled)
    step = FinetuneStep(labels=False, distill=True, epochs=1, batch_size=16, bn_recalibration_images=0)
    tuned = finetune(parent, step, train=unlabeled, teacher=parent).model
    assert tuned.module is not parent.module


def test_missing_teacher_and_quantized_students_are_refused(parent, train) -> None:
    with pytest.raises(StudioError, match="needs the parent variant as teacher"):
        finetune(parent, FinetuneStep(distill=True), train=train)
    from dataclasses import replace

    quantized = replace(parent, card=replace(parent.card, quantization=QuantInfo(INT8_STATIC, True, (), {})))
    with pytest.raises(StudioError, match="quantize after fine-tuning"):
        finetune(quantized, FinetuneStep(distill=False), train=train)


def test_a_cancelled_run_resumes_from_its_checkpoint(parent, train, tmp_path: Path) -> None:
    step = FinetuneStep(epochs=1, batch_size=16, distill=False, bn_recalibration_images=0, held_out_images=0)
    token = CancelToken()
    messages: list[str] = []

    def cancel_after_two_steps(fraction: float, message: str) -> None:
        messages.append(message)
        if "step 2/" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        finetune(parent, step, train=train, checkpoint_dir=tmp_path, progress=Progress(cancel_after_two_steps, token))
    assert (tmp_path / CHECKPOINT_FILE).is_file()
    resumed: list[str] = []
    finetune(parent, step, train=train, checkpoint_dir=tmp_path, progress=Progress(lambda f, m: resumed.append(m)))
    assert resumed[0] == "resuming at step 3/6"  # cancel is seen at the next checkpoint, after step 3
    assert any("step 6/6" in m for m in resumed)
    assert not (tmp_path / CHECKPOINT_FILE).exists(), "a finished run removes its checkpoint"


def test_a_finished_run_removes_what_a_write_killed_mid_checkpoint_left(parent, train, tmp_path: Path) -> None:
    # kill -9 during atomic_write leaves its temporary file; the project keeps any folder holding a file.
    leftover = tmp_path / f".{CHECKPOINT_FILE}.x1y2z3.tmp"
    leftover.write_bytes(b"half a checkpoint")
    finetune(parent, FinetuneStep(epochs=1, batch_size=32, distill=False, bn_recalibration_images=0),
             train=train, checkpoint_dir=tmp_path)
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())


def test_a_killed_run_resumes_from_the_last_epoch(parent, train, tmp_path: Path) -> None:
    step = FinetuneStep(epochs=2, batch_size=16, distill=False, bn_recalibration_images=0, held_out_images=0)

    def crash_in_second_epoch(fraction: float, message: str) -> None:
        if "step 8/" in message:
            raise KeyboardInterrupt  # stands in for a kill: no cancel path runs

    with pytest.raises(KeyboardInterrupt):
        finetune(parent, step, train=train, checkpoint_dir=tmp_path, progress=Progress(crash_in_second_epoch))
    resumed: list[str] = []
    finetune(parent, step, train=train, checkpoint_dir=tmp_path, progress=Progress(lambda f, m: resumed.append(m)))
    assert resumed[0] == "resuming at step 6/12"


def test_a_checkpoint_from_another_run_is_ignored(parent, train, tmp_path: Path) -> None:
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"")
    torch.save({"fingerprint": "someone else", "step": 5}, tmp_path / CHECKPOINT_FILE)
    seen: list[str] = []
    finetune(parent, FinetuneStep(epochs=1, batch_size=32, distill=False, bn_recalibration_images=0),
             train=train, checkpoint_dir=tmp_path, progress=Progress(lambda f, m: seen.append(m)))
    assert not any(m.startswith("resuming") for m in seen)


def test_a_time_budget_anneals_the_learning_rate_to_its_end(parent, train, monkeypatch) -> None:
    """With `max_minutes` shorter than the epochs, the cosine schedule follows the clock, not the steps."""
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # every reading of the clock is one more second of training
        return now[0]

    monkeypatch.setattr("core.compress.finetune.time", SimpleNamespace(monotonic=clock))
    step = FinetuneStep(epochs=100, learning_rate=0.01, batch_size=16, distill=False, max_minutes=0.5,
                        bn_recalibration_images=0, held_out_images=0)
    rates: list[float] = []
    finetune(parent, step, train=train, progress=Progress(lambda f, m: rates.extend(_learning_rates(m))))
    steps_possible = 100 * len(train) // 16
    assert 3 < len(rates) < steps_possible / 10, "the 30 s budget, not the 600 steps, ends the run"
    assert rates[0] > 0.009 and rates[-1] < 0.001
    assert rates == sorted(rates, reverse=True)


def _learning_rates(message: str) -> list[float]:
    return [float(message.rsplit("learning rate ", 1)[1])] if "learning rate" in message else []


def test_a_fine_tune_that_makes_the_model_worse_returns_its_start_and_says_so(parent, train) -> None:
    # A learning rate 10,000× too high wrecks the weights within one epoch.
    step = FinetuneStep(epochs=1, batch_size=16, learning_rate=1.0, labels=False, distill=True,
                        bn_recalibration_images=0, held_out_images=24)
    tuned = finetune(parent, step, train=train, teacher=parent)
    assert tuned.report.kept == "start" and tuned.report.held_out == 19  # a fifth of 96 at most
    assert tuned.report.agreement_start == 100.0 and "kept" in tuned.report.note
    assert tuned.report.note in tuned.model.card.warnings
    for name, value in parent.module.state_dict().items():
        assert torch.equal(tuned.model.module.state_dict()[name], value), name


@pytest.mark.parametrize(
    ("scores", "kept", "agreement"),
    [
        ([50.0, 60.0, 80.0], "trained", 80.0),  # start, after epoch 1, final: the final weights are best
        ([50.0, 70.0, 60.0], "best during training", 70.0),
        ([50.0, 40.0, 45.0], "start", 50.0),
    ],
)
def test_the_weights_kept_are_the_best_by_held_out_agreement(
    parent, train, monkeypatch, scores: list[float], kept: str, agreement: float
) -> None:
    """Scored by a scripted judge: which weights come back must not depend on training noise."""
    import core.compress.finetune as finetune_module

    script = iter(scores)
    monkeypatch.setattr(finetune_module._Judge, "score", lambda self, module: next(script))
    step = FinetuneStep(epochs=1, batch_size=16, labels=False, distill=True, bn_recalibration_images=0)
    tuned = finetune(parent, step, train=train, teacher=parent)
    assert (tuned.report.kept, tuned.report.agreement_kept) == (kept, agreement)
    assert bool(tuned.report.note) == (kept != "trained")
