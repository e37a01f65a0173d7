"""The torchvision download path, exercised end to end against a local file:// URL."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from core.errors import WeightsUnavailableError
from core.jobs import Progress
from core.zoo import loading, weights
from core.zoo.registry import ModelSpec


def _published_weights(tmp_path: Path, corrupt: bool = False) -> str:
    """A state_dict saved under a torchvision-style name `<stem>-<sha256 prefix>.pth`."""
    staging = tmp_path / "staging.pth"
    torch.save(ModelSpec("mobilenet_v3_large").build().state_dict(), staging)
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()
    published = tmp_path / "server" / f"mobilenet_v3_large-{'0' * 8 if corrupt else digest[:8]}.pth"
    published.parent.mkdir()
    staging.rename(published)
    return published.as_uri()


def test_pretrained_weights_download_with_progress_and_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _published_weights(tmp_path)
    monkeypatch.setattr(weights, "torchvision_weights_entry", lambda arch, width: SimpleNamespace(url=url))
    monkeypatch.setattr(loading, "torchvision_weights_entry", lambda arch, width: SimpleNamespace(url=url))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    reports: list[float] = []
    model = loading.create_model(
        ModelSpec("mobilenet_v3_large"), "pretrained", Progress(lambda f, m: reports.append(f))
    )
    assert model.card.weights.kind == "pretrained" and model.card.weights.source == url
    assert (tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]).is_file()
    assert reports and max(reports) > 0.5


def test_corrupt_download_is_rejected_and_not_cached(tmp_path: Path) -> None:
    url = _published_weights(tmp_path, corrupt=True)
    target = tmp_path / "cache" / url.rsplit("/", 1)[-1]
    with pytest.raises(WeightsUnavailableError, match="corrupt"):
        weights.download_file(url, target, Progress())
    assert not target.exists()


def test_unreachable_download_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match="MNSTUDIO_WEIGHTS_DIR"):
        weights.download_file((tmp_path / "absent-abcdef12.pth").as_uri(), tmp_path / "x-abcdef12.pth", Progress())
