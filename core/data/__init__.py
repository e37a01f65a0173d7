"""Image folders for evaluation, calibration and fine-tuning."""

from core.data.datasets import ImageDataset, Preprocessing, combine_datasets, open_dataset

__all__ = ["ImageDataset", "Preprocessing", "combine_datasets", "open_dataset"]
