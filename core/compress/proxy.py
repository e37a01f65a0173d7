"""Cheap proxies for a candidate's accuracy: KL divergence and top-1 agreement with the parent, on calibration
images that no fitting step reads. They rank candidates; only verification on labelled images decides."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.data.datasets import ImageDataset, Preprocessing
from core.errors import StudioError
from core.jobs import Progress, silent
from core.model import LoadedModel


@dataclass(frozen=True)
class ProxyScore:
    kl: float
    agreement: float  # %
    seconds_per_image: float  # the candidate's forward pass here, for time estimates


class Proxy:
    """The parent's outputs on the score images, and the candidates' distance from them."""

    def __init__(self, parent: LoadedModel, images: ImageDataset, progress: Progress | None = None) -> None:
        self.images = images
        self._inputs: dict[tuple[int, int], torch.Tensor] = {}
        assert parent.module is not None
        with torch.no_grad():
            self.reference = parent.module.eval()(self.inputs(parent, progress or silent())).log_softmax(1)
        if not len(self.reference):
            raise StudioError(f"no calibration image of {images.root} could be read")

    def inputs(self, model: LoadedModel, progress: Progress | None = None) -> torch.Tensor:
        """The score images preprocessed for `model` (cached per input size and resize)."""
        key = (model.card.input_size, model.card.resize_size)
        if key not in self._inputs:
            preprocess = Preprocessing.for_card(model.card)
            self._inputs[key] = torch.cat([b for b, _ in self.images.batches(preprocess, 64, progress)])
        return self._inputs[key]

    @torch.no_grad()
    def score(self, model: LoadedModel, progress: Progress | None = None) -> ProxyScore:
        assert model.module is not None
        progress = progress or silent()
        progress.check()
        inputs = self.inputs(model)  # decoding a new size reports nothing: the caller's bar stays where it is
        started = time.perf_counter()
        chunks = []
        for chunk in inputs.split(32):
            progress.check()  # a cancel is seen within one small batch
            chunks.append(model.module.eval()(chunk))
        outputs = torch.cat(chunks).log_softmax(1)
        seconds = (time.perf_counter() - started) / len(inputs)
        kl = F.kl_div(outputs, self.reference, log_target=True, reduction="batchmean").item()
        agreement = 100 * (outputs.argmax(1) == self.reference.argmax(1)).float().mean().item()
        return ProxyScore(kl, agreement, seconds)
