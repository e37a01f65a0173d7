"""An exported file's top-1 is paired with its source on the same verification images."""

from __future__ import annotations

import numpy as np

from core.export.verify import VerificationImages, verify
from core.jobs import silent


def test_a_files_top1_difference_from_its_source_is_paired_on_the_same_images() -> None:
    labels = np.arange(100) % 4
    source = np.eye(4, dtype=np.float32)[labels]  # right on every image
    converted = source.copy()
    converted[:3] = np.eye(4, dtype=np.float32)[(labels[:3] + 1) % 4]  # wrong on the first three
    images = np.zeros((100, 3, 8, 8), dtype=np.float32) + np.arange(100, dtype=np.float32)[:, None, None, None]
    data = VerificationImages(images, labels, "photos")  # each image holds its own index

    def predictor():  # the converted file, answering each batch by the images' indices
        return lambda batch: converted[batch[:, 0, 0, 0].astype(int)]

    checked = verify(predictor, source, data, threshold=90.0, latency_runs=0, progress=silent())
    assert checked["top1"] == 97.0 and checked["delta_top1_source"] == -3.0
    low, high = checked["delta_top1_source_ci95"]
    assert low < -3.0 < high <= 0.0, "a paired interval around −3 that cannot reach a gain: the source is never wrong"


def test_an_int8_variant_whose_recipe_this_version_cannot_read_is_not_re_quantized(tmp_path, monkeypatch) -> None:
    from core.export.source import from_project
    from core.precision import INT8_STATIC, QuantInfo
    from core.project import Project
    from core.zoo.loading import create_model
    from tests.helpers import TINY

    project = Project.create(tmp_path / "p")
    parent = project.add_variant(create_model(TINY, "none"), "float")
    child = project.add_variant(create_model(TINY, "none"), "int8", parent=parent.id,
                                recipe={"name": "from the future", "steps": [{"type": "warp"}]})

    def as_int8(variant):  # stored as an int8 variant reads back
        variant.quantization = QuantInfo(INT8_STATIC, True, (), {})

    project._change_variant(child.id, as_int8)
    monkeypatch.setattr(Project, "load", lambda self, variant_id: create_model(TINY, "none"))  # weights: moot here
    source = from_project(project.root, child.id)
    assert source.parent_problem and "cannot be read by this studio version" in source.parent_problem
