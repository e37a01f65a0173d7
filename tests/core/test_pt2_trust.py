""".pt2 archives that would run code when loaded are refused at every door, unless the user trusts the file.

The hostile archive is a real torch.export program of a small MobileNet whose bias weight is marked
`"use_pickle": true` and replaced by a pickle that creates a file: torch.export.load would unpickle it with
code allowed. Each door (info, eval, a project variant stored as model.pt2, an export's verification) must
refuse it without creating that file.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.errors import ModelLoadError, UntrustedPickleError
from core.project import Project
from core.zoo.loading import load_model_file
from core.zoo.pt2_archive import code_entries
from core.zoo.registry import ModelSpec
from tests.helpers import write_image

RES = 224  # foreign programs are probed at 224 px


class _Touch:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _program(path: Path, zoo: bool = True) -> Path:
    """A torch.export program of a small MobileNet, or (`zoo=False`) of a network the zoo does not know, which
    stays a .pt2 file when stored in a project (a MobileNet is rebuilt and stored as a state_dict)."""
    module = ModelSpec("mobilenet_v3_small", resolution=RES).build().eval() if zoo else torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 1000)).eval()
    torch.export.save(torch.export.export(module, (torch.zeros(1, 3, RES, RES),)), str(path))
    return path


def _rewrite(path: Path, change) -> None:
    """Rewrite the archive, passing each (name, bytes) through `change`."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            archive.writestr(name, change(name, data))


def _with_pickled_weight(path: Path, marker: Path) -> Path:
    """Mark the last weight `use_pickle` and replace its bytes with a pickle that touches `marker`."""
    configs = {}

    def mark(name: str, data: bytes) -> bytes:
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            last = list(config["config"])[-1]
            config["config"][last]["use_pickle"] = True
            configs["file"] = config["config"][last]["path_name"]
            return json.dumps(config).encode()
        return data

    _rewrite(path, mark)
    buffer = io.BytesIO()
    torch.save(_Touch(marker), buffer)
    _rewrite(path, lambda name, data: buffer.getvalue() if name.endswith("/" + configs["file"]) else data)
    return path


def _with_pickled_sample_inputs(path: Path, marker: Path) -> Path:
    """Sample inputs the safe unpickler refuses: torch retries them with code allowed."""
    payload = pickle.dumps(_Touch(marker), protocol=2)
    _rewrite(path, lambda name, data: payload if "/data/sample_inputs/" in name else data)
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture
def evil(tmp_path: Path, marker: Path) -> Path:
    return _with_pickled_weight(_program(tmp_path / "evil.pt2"), marker)


def test_code_in_a_pt2_is_refused_on_info_without_running(evil: Path, marker: Path, capsys) -> None:
    assert main(["info", str(evil)]) == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "holds code" in message and "--trust-pickle" in message
    assert not marker.exists()


def test_code_in_a_pt2_is_refused_on_eval(evil: Path, marker: Path, tmp_path: Path, capsys) -> None:
    images = tmp_path / "images"
    write_image(images / "a.png")
    (images / "labels.csv").write_text("file,label\na.png,1\n")
    assert main(["eval", str(evil), "--data", str(images), "--threads", "1"]) == 2
    assert "holds code" in capsys.readouterr().err
    assert not marker.exists()


def test_code_in_a_pt2_sample_inputs_is_refused(tmp_path: Path, marker: Path) -> None:
    path = _with_pickled_sample_inputs(_program(tmp_path / "inputs.pt2"), marker)
    assert any("sample_inputs" in entry for entry in code_entries(path))
    with pytest.raises(UntrustedPickleError):
        load_model_file(path)
    assert not marker.exists()


def test_code_in_a_pt2_stored_in_a_project_is_refused_on_load_and_export(
    tmp_path: Path, marker: Path, capsys
) -> None:
    clean = load_model_file(_program(tmp_path / "clean.pt2", zoo=False))
    project = Project.create(tmp_path / "proj")
    variant = project.add_variant(clean, "mine")
    _with_pickled_weight(project.model_path(variant), marker)  # the stored copy is tampered with afterwards
    with pytest.raises(UntrustedPickleError):
        project.load(variant.id)
    out = tmp_path / "out"
    assert main(["export", f"{project.root}:{variant.id}", "--format", "onnx", "--out", str(out)]) == 2
    assert "holds code" in capsys.readouterr().err
    assert not marker.exists() and not out.exists()


def test_a_plain_pt2_opens_and_a_trusted_one_loads(tmp_path: Path, evil: Path, marker: Path) -> None:
    plain = _program(tmp_path / "plain.pt2")
    assert code_entries(plain) == []
    assert load_model_file(plain).card.num_classes == 1000
    with pytest.raises(ModelLoadError, match="not a loadable"):  # the user trusts it: torch runs the pickle,
        load_model_file(evil, trust_pickle=True)  # whose result (os.system's exit code) is no tensor
    assert marker.exists()


def test_an_exported_pt2_is_checked_before_it_is_run_for_verification(evil: Path, marker: Path) -> None:
    from core.export.torch_formats import pt2_predictor

    with pytest.raises(UntrustedPickleError):
        pt2_predictor(evil)
    assert not marker.exists()
