"""A search candidate: a concrete structural change (input size, removed blocks, expansion pruning) and the
recipe that makes it, so a chosen variant replays headlessly without searching again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.compress.drop_blocks import remove_blocks
from core.compress.pruning import prune
from core.compress.resolution import at_resolution
from core.jobs import Progress, silent
from core.model import LoadedModel
from core.recipe import DropBlocksStep, PruneStep, ResolutionStep, Step

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset

FIT_IMAGES = 256  # calibration images the adaptors and the pruning compensation are fitted on


@dataclass(frozen=True)
class Candidate:
    resolution: int
    crop: float
    blocks: tuple[int, ...] = ()
    prune: float = 0.0  # fraction of the channels inside blocks (expansions, squeeze-excite, head) removed
    residual_streams: bool = False  # prune the residual streams too

    def label(self) -> str:
        parts = [f"{self.resolution} px" + (f" crop {self.crop:g}" if self.crop != 0.875 else "")]
        if self.blocks:
            parts.append("−blocks " + "+".join(map(str, self.blocks)))
        if self.prune:
            parts.append(f"prune {100 * self.prune:.0f} %")
        return ", ".join(parts)

    def steps(self, parent: LoadedModel, fit_images: int = FIT_IMAGES) -> tuple[Step, ...]:
        """The structural steps, none where the candidate leaves the parent as it is."""
        steps: list[Step] = []
        if (self.resolution, self.crop) != (parent.card.input_size, parent.card.crop_fraction):
            steps.append(ResolutionStep(input_size=self.resolution, crop_fraction=self.crop))
        if self.blocks:
            steps.append(DropBlocksStep(blocks=self.blocks, fit_images=fit_images))
        if self.prune:
            steps.append(PruneStep(ratio=self.prune, importance="activation", bottlenecks=self.residual_streams))
        return tuple(steps)

    def build(self, parent: LoadedModel, calib: ImageDataset, progress: Progress | None = None,
              fit_images: int = FIT_IMAGES) -> LoadedModel:
        """The candidate model, untrained: adaptors and pruning compensation fitted on `calib`."""
        progress = progress or silent()
        model = parent
        steps = self.steps(parent, fit_images)
        for index, step in enumerate(steps):
            share = progress.span(index / len(steps), (index + 1) / len(steps))
            if isinstance(step, ResolutionStep):
                model = at_resolution(model, step, progress=share)
            elif isinstance(step, DropBlocksStep):
                model = remove_blocks(model, step, calib=calib, progress=share)
            elif isinstance(step, PruneStep):
                model = prune(model, step, calib=calib, progress=share)
        return model

    def to_dict(self) -> dict[str, Any]:
        return {"resolution": self.resolution, "crop": self.crop, "blocks": list(self.blocks), "prune": self.prune}


@dataclass
class Scored:
    """A candidate with what the scan measured: proxies against the parent, MACs, latency ratio."""

    candidate: Candidate
    kl: float  # mean KL divergence from the parent's class probabilities on the score images
    agreement: float  # % of score images where it predicts the parent's top-1 class
    macs: int
    params: int
    latency_ratio: float | None = None  # float model, in the search's runtime, against the parent (paired)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.candidate.to_dict(), "label": self.candidate.label(), "kl": round(self.kl, 4),
                "agreement": round(self.agreement, 2), "macs": self.macs, "params": self.params,
                "latency_ratio": None if self.latency_ratio is None else round(self.latency_ratio, 4)}
