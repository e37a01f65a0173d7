"""What a folder of images is for, declared once: its name in recipes, settings and the studio, its flag on the
command line, and how each is explained when it is missing."""

from __future__ import annotations

from enum import StrEnum


class DataRole(StrEnum):
    CALIB = "calib"  # unlabelled images that set int8 ranges and guide pruning
    EVALUATION = "evaluation"  # labelled images accuracy is measured on (never fitted on)
    TRAIN = "train"  # labelled images to fine-tune or distil on

    @property
    def heading(self) -> str:
        return {DataRole.CALIB: "Calibration images", DataRole.EVALUATION: "Evaluation images (labelled)",
                DataRole.TRAIN: "Fine-tuning images (labelled)"}[self]

    @property
    def need(self) -> str:
        """What a recipe missing it needs, in the studio's words."""
        return {DataRole.CALIB: "calibration images", DataRole.EVALUATION: "labelled evaluation images",
                DataRole.TRAIN: "fine-tuning images"}[self]

    @property
    def flag(self) -> str:
        return {DataRole.CALIB: "--calib", DataRole.EVALUATION: "--eval", DataRole.TRAIN: "--train"}[self]

    @property
    def explained(self) -> str:
        """What a recipe missing it needs, in the command line's words."""
        return {DataRole.CALIB: "calibration images", DataRole.EVALUATION: "labelled evaluation images to verify "
                "the target on", DataRole.TRAIN: "training images"}[self] + f" ({self.flag})"
