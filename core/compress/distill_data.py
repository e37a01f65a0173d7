"""What a fine-tune trains on: augmented views of the training images with the teacher's outputs.

The teacher sees each random crop at its own input size, the student the same crop resized to its
size, so a student fed smaller images still learns from the teacher at its best. The teacher's
outputs are its logits and its pre-pool feature map, average-pooled to the student's map size.

`LiveSource` runs the teacher on every batch. `CachedSource` runs it once over a fixed set of
views (a few per image) and trains every epoch on those, so an epoch costs the student alone; it
can also draw views by the teacher's top-1 class, so that a folder holding few classes does not
pull the student towards them (imagenette/train is 10 classes; calib1000 one image of each of 1,000).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.data.datasets import ImageDataset, TrainPreprocessing
from core.errors import DatasetError
from core.jobs import Progress


@dataclass
class Batch:
    images: torch.Tensor  # what the student reads, at its input size
    labels: torch.Tensor  # −1 where unknown
    logits: torch.Tensor | None  # the teacher's, None without a teacher
    features: torch.Tensor | None  # the teacher's pre-pool map at the student's map size, when distilled


class FeatureTap:
    """Keeps the output of `module.features` (the pre-pool map) of the last forward pass."""

    def __init__(self, module: nn.Module) -> None:
        self.value: torch.Tensor | None = None
        features: Any = getattr(module, "features", None)
        self.handle = features.register_forward_hook(self._keep) if isinstance(features, nn.Module) else None

    def _keep(self, _module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        self.value = output

    def close(self) -> None:
        if self.handle is not None:
            self.handle.remove()


@dataclass(frozen=True)
class Views:
    """How views are made: crops at the teacher's size, resized for the student."""

    teacher_size: int
    student_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    feature_map: tuple[int, int] | None  # the student's pre-pool map size (H, W); None: no feature targets
    min_area: float = 0.25  # of the random crops, as a share of the image

    def augment(self, seed: int) -> TrainPreprocessing:
        return TrainPreprocessing(self.teacher_size, self.mean, self.std, seed=seed, min_area=self.min_area)

    def for_student(self, images: torch.Tensor) -> torch.Tensor:
        if self.student_size == self.teacher_size:
            return images
        size = (self.student_size, self.student_size)
        return F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)


def student_feature_map(student: nn.Module, size: int, teacher: nn.Module | None) -> tuple[int, int] | None:
    """The student's pre-pool map size, or None when its channels differ from the teacher's (a pruned head)."""
    if teacher is None:
        return None
    shapes = []
    for module, side in ((student, size), (teacher, size)):
        tap = FeatureTap(module)
        try:
            with torch.no_grad():
                module.eval()(torch.zeros(1, 3, side, side, device=next(module.parameters()).device))
        finally:
            tap.close()
        shapes.append(None if tap.value is None else tuple(tap.value.shape[1:]))
    if shapes[0] is None or shapes[1] is None or shapes[0][0] != shapes[1][0]:
        return None
    return int(shapes[0][1]), int(shapes[0][2])


@torch.no_grad()
def teacher_outputs(
    teacher: nn.Module, images: torch.Tensor, tap: FeatureTap, views: Views
) -> tuple[torch.Tensor, torch.Tensor | None]:
    logits = teacher(images)
    if views.feature_map is None or tap.value is None:
        return logits, None
    return logits, F.adaptive_avg_pool2d(tap.value, views.feature_map)


class LiveSource:
    """Fresh random views every epoch; the teacher runs on every batch."""

    def __init__(self, train: ImageDataset, teacher: nn.Module | None, views: Views, batch_size: int,
                 device: torch.device, seed: int) -> None:
        self.train, self.teacher, self.views = train, teacher, views
        self.batch_size, self.device, self.seed = batch_size, device, seed
        self.steps_per_epoch = max(1, len(train) // batch_size)
        self.report: dict[str, Any] = {"teacher": "live"}

    def epoch(self, epoch: int) -> Iterator[Batch]:
        augment = self.views.augment(self.seed + epoch)
        tap = FeatureTap(self.teacher) if self.teacher is not None else None
        try:
            for images, labels in self.train.shuffled(self.seed + epoch).batches(augment, self.batch_size):
                images = images.to(self.device)
                logits = features = None
                if self.teacher is not None and tap is not None:
                    logits, features = teacher_outputs(self.teacher, images, tap, self.views)
                yield Batch(self.views.for_student(images), labels.to(self.device), logits, features)
        finally:
            if tap is not None:
                tap.close()


class CachedSource:
    """A fixed set of views and the teacher's outputs on them, made once; epochs draw from it."""

    def __init__(self, train: ImageDataset, teacher: nn.Module, views: Views, batch_size: int, device: torch.device,
                 seed: int, views_per_image: int, balance: bool, progress: Progress) -> None:
        self.batch_size, self.device, self.seed, self.balance = batch_size, device, seed, balance
        images: list[torch.Tensor] = []
        labels: list[torch.Tensor] = []
        logits: list[torch.Tensor] = []
        features: list[torch.Tensor] = []
        tap = FeatureTap(teacher)
        try:
            for view in range(views_per_image):
                augment = views.augment(seed * 1000 + view)
                share = progress.span(view / views_per_image, (view + 1) / views_per_image)
                for batch, batch_labels in train.batches(augment, 64, share):
                    batch = batch.to(device)
                    out, maps = teacher_outputs(teacher, batch, tap, views)
                    images.append(views.for_student(batch).half().cpu())
                    labels.append(batch_labels)
                    logits.append(out.half().cpu())
                    if maps is not None:
                        features.append(maps.half().cpu())
        finally:
            tap.close()
        if not images:
            raise DatasetError(f"no image of {train.root} could be read for training")
        self.images, self.labels, self.logits = torch.cat(images), torch.cat(labels), torch.cat(logits)
        self.features = torch.cat(features) if features else None
        classes = self.logits.float().argmax(1)
        counts = torch.bincount(classes, minlength=self.logits.shape[1]).float()
        self.weights = (1.0 / counts[classes]) if balance else torch.ones(len(classes))
        self.steps_per_epoch = max(1, len(self.images) // batch_size)
        self.report = {"teacher": "cached", "views": len(self.images), **_class_mix(classes, self.weights)}

    def epoch(self, epoch: int) -> Iterator[Batch]:
        generator = torch.Generator().manual_seed(self.seed + epoch)
        count = len(self.images)
        if self.balance:
            order = torch.multinomial(self.weights, count, replacement=True, generator=generator)
        else:
            order = torch.randperm(count, generator=generator)
        for start in range(0, count - self.batch_size + 1, self.batch_size):
            chosen = order[start : start + self.batch_size]
            yield Batch(
                self.images[chosen].float().to(self.device), self.labels[chosen].to(self.device),
                self.logits[chosen].float().to(self.device),
                self.features[chosen].float().to(self.device) if self.features is not None else None,
            )


def _class_mix(classes: torch.Tensor, weights: torch.Tensor) -> dict[str, Any]:
    """How the views spread over the teacher's classes, as drawn: classes seen, and the share that the ten
    most frequent classes take (0.01 would be an even spread over 1,000)."""
    drawn = torch.zeros(int(classes.max()) + 1, dtype=torch.float64).index_add_(0, classes, weights.double())
    plain = torch.bincount(classes).double()
    return {
        "classes": int((plain > 0).sum()),
        "top10_share": round(float(plain.topk(min(10, len(plain))).values.sum() / plain.sum()), 4),
        "top10_share_drawn": round(float(drawn.topk(min(10, len(drawn))).values.sum() / drawn.sum()), 4),
    }
