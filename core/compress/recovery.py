"""How the search recovers a candidate: the distillation it runs, and the training images that fit its time."""

from __future__ import annotations

from core.data.datasets import ImageDataset
from core.recipe import FinetuneStep

CACHE_SHARE = 0.3  # of a candidate's distillation time, at most, for running the teacher over the views
VIEWS_PER_IMAGE = 2


def train_within(train: ImageDataset | None, seconds: float, teacher_seconds_per_image: float,
            seed: int) -> ImageDataset | None:
    """The training images whose cached views the teacher can produce in its share of `seconds` (a seeded
    subset when there are more: a short budget trains on fewer images, not on none)."""
    if train is None:
        return None
    # Decoding and augmenting cost about as much again as the teacher's pass.
    affordable = int(CACHE_SHARE * seconds / (2 * teacher_seconds_per_image * VIEWS_PER_IMAGE))
    return train.subset(max(64, affordable), seed=seed) if affordable < len(train) else train


def recovery_step(minutes: float) -> FinetuneStep:
    """The search's distillation, the best measured per CPU minute (`python -m bench.recovery`, V2 without blocks
    5 and 16, 5 min each, top-1 on all 1,300 images from 63.77 %): teacher outputs cached over two views per
    image, pre-pool features matched beside the logits, views drawn evenly over the teacher's classes (72.08 %;
    the same unbalanced 71.31 %, with the teacher live 71.77 %), BatchNorm statistics kept (training them cost
    V2 at 160 px 2.5 pt), AdamW at 1e-4 (3e-4: 68.62 %)."""
    return FinetuneStep(
        epochs=1000, learning_rate=1e-4, batch_size=32, labels=False, distill=True, max_minutes=round(minutes, 2),
        bn_recalibration_images=0, held_out_images=64, feature_weight=1.0, teacher_cache=True, balance_classes=True,
        views_per_image=VIEWS_PER_IMAGE, freeze_batchnorm=True,
    )
