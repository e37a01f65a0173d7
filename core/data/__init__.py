"""Image folders for evaluation, calibration and fine-tuning."""

from core.data.datasets import ImageDataset, Preprocessing, open_dataset

__all__ = ["ImageDataset", "Preprocessing", "open_dataset"]
