"""Hostile inputs on the command line: each case exits 2 with one specific line and writes or loses nothing.

Every case runs `mnstudio` in-process against a sandbox folder; the sandbox is snapshotted (paths,
sizes, modification times) before and after, so a case that writes a partial file, creates an
output folder, or deletes anything fails on the snapshot, not only on its message.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.errors import ProjectError
from core.project import Project
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec
from tests.helpers import write_image

TINY = "mobilenet_v3_small:res=64"
STATIC_RECIPE = {"format": "mnstudio-recipe", "version": 1, "name": "r", "steps": [{"type": "quantize"}]}


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


@dataclass
class Sandbox:
    root: Path
    project: Path
    variant_id: str
    images: Path

    def file(self, name: str, data: bytes | str) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(path)

    def recipe(self, document: object) -> str:
        return self.file(f"recipe-{abs(hash(json.dumps(document, default=str)))}.json", json.dumps(document))

    def variant_json(self, **changes: object) -> None:
        """Edit the stored variant's variant.json as a hostile user would."""
        path = self.project / "variants" / self.variant_id / "variant.json"
        data = json.loads(path.read_text())
        data.update(changes)
        path.write_text(json.dumps(data))


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    project = Project.create(tmp_path / "proj")
    model = create_model(ModelSpec("mobilenet_v3_small", resolution=64), "none")
    variant = project.add_variant(model, "base")
    images = tmp_path / "images"
    for i in range(3):
        write_image(images / f"img{i}.png", seed=i)
    (images / "labels.csv").write_text("file,label\n" + "".join(f"img{i}.png,{i}\n" for i in range(3)))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.txt").write_text("keep me")
    return Sandbox(tmp_path, project.root, variant.id, images)


# Each case: (name, argv maker, words the one-line message must contain). `out` is a path that must not
# exist afterwards: a failing command creates no output folder.
Case = tuple[str, Callable[[Sandbox, Path], list[str]], str]


def _pickled_module(s: Sandbox) -> str:
    path = s.root / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    return str(path)


def _pickled_code(s: Sandbox) -> str:
    class Payload:
        def __reduce__(self):
            return (shutil.rmtree, (str(s.root / "victim"),))

    path = s.root / "payload.pth"
    path.write_bytes(pickle.dumps(Payload(), protocol=2))
    return str(path)


def _tiny_onnx_garbage(s: Sandbox) -> str:
    return s.file("broken.onnx", b"\x08\x07garbage")


def _with_traversal_id(s: Sandbox) -> list[str]:
    s.variant_json(id="../../victim")
    return ["info", f"{s.project}:../../victim"]


def _with_traversal_model_file(s: Sandbox) -> list[str]:
    s.file("secret.pt", b"not yours")
    s.variant_json(model_file="../../../secret.pt")
    return ["info", f"{s.project}:{s.variant_id}"]


def _with_symlinked_variant(s: Sandbox) -> list[str]:
    folder = s.project / "variants" / s.variant_id
    moved = s.root / "elsewhere"
    folder.rename(moved)
    folder.symlink_to(moved, target_is_directory=True)
    return ["info", f"{s.project}:{s.variant_id}"]


def _with_duplicate_names(s: Sandbox) -> list[str]:
    project = Project.open(s.project)
    project.add_variant(project.load(s.variant_id), "base")
    return ["info", f"{s.project}:base"]


def _index_listing(s: Sandbox, ids: object) -> list[str]:
    index = json.loads((s.project / "project.json").read_text())
    index["variants"] = ids
    (s.project / "project.json").write_text(json.dumps(index))
    return ["info", f"{s.project}:{s.variant_id}"]


def _nan_recipe(s: Sandbox) -> str:
    return s.file("nan.json", '{"format": "mnstudio-recipe", "name": "n", "steps": [{"type": "prune", "ratio": NaN}]}')


def _bomb_folder(s: Sandbox) -> str:
    from PIL import Image

    folder = s.root / "bomb"
    folder.mkdir()
    Image.new("L", (12_000, 12_000)).save(folder / "huge.png")  # 144 Mpx: over Pillow's bomb limit of 89 Mpx
    (folder / "labels.csv").write_text("file,label\nhuge.png,1\n")
    return str(folder)


def _eval_labels(s: Sandbox, labels_csv: str) -> list[str]:
    folder = Path(s.file(f"labels-{abs(hash(labels_csv))}/labels.csv", labels_csv)).parent
    return ["eval", TINY, "--weights", "none", "--data", str(folder)]


def _compress(s: Sandbox, out: Path, recipe: str, *extra: str) -> list[str]:
    return ["compress", TINY, "--weights", "none", "--recipe", recipe, "--out", str(out), "--threads", "1", *extra]


def _export(s: Sandbox, out: Path, *extra: str) -> list[str]:
    return ["export", TINY, "--weights", "none", "--out", str(out), "--latency-runs", "0", *extra]


CASES: list[Case] = [
    # 1. A project never reaches outside its folder.
    ("variant id climbing out of the project", lambda s, o: _with_traversal_id(s), "variant"),
    ("model file climbing out of its folder", lambda s, o: _with_traversal_model_file(s), "plain file name"),
    ("variant folder that is a symlink out", lambda s, o: _with_symlinked_variant(s), "outside the project"),
    ("index listing a path as a variant", lambda s, o: _index_listing(s, ["../../victim"]), "no variant"),
    ("index whose variant list is a string", lambda s, o: _index_listing(s, "abc"), "must be a list"),
    # 2. Ambiguous names are refused.
    ("two variants with the asked name", lambda s, o: _with_duplicate_names(s), "name one by its id"),
    # 3./4. Outputs that cannot be written.
    ("compress --out is a regular file", lambda s, o: _compress(s, Path(s.file("a_file", "x")), "near-lossless-int8",
                                                                "--calib", str(s.images)), "is a file"),
    ("export --out is a regular file", lambda s, o: _export(s, Path(s.file("b_file", "x")), "--format", "onnx"),
     "cannot write exports"),
    # 5. Images.
    ("an evaluation folder holding only a decompression bomb",
     lambda s, o: ["eval", TINY, "--weights", "none", "--data", _bomb_folder(s)], "too large"),
    ("evaluation folder that is missing", lambda s, o: ["eval", TINY, "--data", str(s.root / "nope")], "not found"),
    ("evaluation folder without images",
     lambda s, o: ["eval", TINY, "--weights", "none", "--data", str(s.root / "victim")], "no usable images"),
    ("labels.csv with a label that is not a number", lambda s, o: _eval_labels(s, "file,label\na,x\n"),
     "not an integer"),
    ("labels.csv with a label beyond the classes", lambda s, o: _eval_labels(s, "file,label\na,1000\n"), "outside"),
    ("labels.csv without its header", lambda s, o: _eval_labels(s, "a.png,1\n"), "header"),
    # 6. Recipes.
    ("recipe version given as a string",
     lambda s, o: _compress(s, o, s.recipe({**STATIC_RECIPE, "version": "1"})), "version"),
    ("recipe steps given as a string", lambda s, o: _compress(s, o, s.recipe({**STATIC_RECIPE, "steps": "prune"})),
     "steps"),
    ("recipe steps given as an object",
     lambda s, o: _compress(s, o, s.recipe({**STATIC_RECIPE, "steps": {"type": "prune"}})), "steps"),
    ("recipe step given as a string", lambda s, o: _compress(s, o, s.recipe({**STATIC_RECIPE, "steps": ["prune"]})),
     "step 1"),
    ("recipe number given as a string",
     lambda s, o: _compress(s, o, s.recipe({**STATIC_RECIPE, "steps": [{"type": "prune", "ratio": "0.3"}]})),
     "ratio"),
    ("recipe ratio given as NaN", lambda s, o: _compress(s, o, _nan_recipe(s)), "ratio"),
    ("recipe keep_float given as a string",
     lambda s, o: _compress(s, o, s.recipe({**STATIC_RECIPE, "steps": [{"type": "quantize", "keep_float": "abc"}]})),
     "keep_float"),
    ("recipe of an unknown step type",
     lambda s, o: _compress(s, o, s.recipe({**STATIC_RECIPE, "steps": [{"type": "melt"}]})), "unknown type"),
    ("recipe that is not JSON", lambda s, o: _compress(s, o, s.file("bad.json", "{ truncated")), "not valid JSON"),
    ("recipe that is not a studio recipe", lambda s, o: _compress(s, o, s.recipe([1, 2])), "not a studio recipe"),
    ("recipe file that does not exist", lambda s, o: _compress(s, o, str(s.root / "none.json")), "no recipe file"),
    ("static int8 recipe without calibration images", lambda s, o: _compress(s, o, "near-lossless-int8"),
     "calibration images"),
    # 7. Export options that cannot be honoured.
    ("ONNX opset 3", lambda s, o: _export(s, o, "--format", "onnx", "--opset", "3"), "opset"),
    ("an unknown export format", lambda s, o: _export(s, o, "--format", "gguf"), "unknown export format"),
    ("an empty export format list", lambda s, o: _export(s, o, "--format", ","), "no export format"),
    # 10. Messages a person can act on.
    ("a pickled module", lambda s, o: ["info", _pickled_module(s)], "--trust-pickle"),
    ("a pickle that would delete files", lambda s, o: ["info", _pickled_code(s)], "holds code"),
    ("a folder passed as a model", lambda s, o: ["info", str(s.root / "victim")], "is a folder"),
    ("a model file that does not exist", lambda s, o: ["info", str(s.root / "missing.pth")], "no such file"),
    ("garbage bytes named .pth", lambda s, o: ["info", s.file("junk.pth", b"\x00\x01garbage")], "not a readable"),
    ("an empty .pt file", lambda s, o: ["info", s.file("empty.pt", b"")], "not a readable"),
    ("a text file named .pth", lambda s, o: ["info", s.file("notes.pth", "hello, this is not a model\n")],
     "not a readable"),
    ("a truncated checkpoint", lambda s, o: ["info", s.file("cut.pth", _truncated_checkpoint())], "not a readable"),
    ("a broken ONNX file", lambda s, o: ["info", _tiny_onnx_garbage(s)], "not a valid ONNX"),
    ("a checkpoint of tensors that is no MobileNet",
     lambda s, o: ["info", _saved(s, "other.pt", {"fc.weight": torch.zeros(3, 3)})], "not a MobileNet"),
    ("a checkpoint holding no tensors", lambda s, o: ["info", _saved(s, "dict.pt", {"epoch": 3})], "no state_dict"),
    ("an unknown zoo name", lambda s, o: ["info", "mobilenet_v9"], "neither a file nor a zoo model"),
    ("a width that is not a number", lambda s, o: ["info", "mobilenet_v1:width=abc"], "width"),
    ("weights from a file that does not exist",
     lambda s, o: ["info", TINY, "--weights", str(s.root / "none.pth")], "no such file"),
    ("an unknown variant of a project", lambda s, o: ["info", f"{s.project}:nobody"], "no variant"),
    ("eval of a variant that does not exist",
     lambda s, o: ["eval", f"{s.project}:nobody", "--data", str(s.images)], "no variant"),
]


def _truncated_checkpoint() -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(1000)}, buffer)
    return buffer.getvalue()[:300]


def _saved(s: Sandbox, name: str, obj: object) -> str:
    path = s.root / name
    torch.save(obj, path)
    return str(path)


@pytest.mark.parametrize(("argv", "words"), [pytest.param(a, w, id=n) for n, a, w in CASES])
def test_hostile_input_exits_2_with_one_specific_line_and_writes_nothing(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], argv: Callable[[Sandbox, Path], list[str]], words: str
) -> None:
    out = sandbox.root / "out"
    args = argv(sandbox, out)  # setting the case up may change the sandbox; the command itself may not
    before = snapshot(sandbox.root)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse refuses malformed arguments itself
        code = exc.code
    captured = capsys.readouterr()
    assert code == 2
    message = captured.err.strip().splitlines()[-1]
    assert words.lower() in message.lower(), message
    assert len(message) < 400 and captured.out == ""
    assert snapshot(sandbox.root) == before
    assert not out.exists()
    assert (sandbox.root / "victim" / "thesis.txt").read_text() == "keep me"


@pytest.mark.parametrize("threads", ["-3", "0", "two"])
def test_thread_counts_that_are_not_positive_whole_numbers_are_refused(capsys, threads: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", TINY, "--weights", "none", "--threads", threads])
    assert exited.value.code == 2 and "--threads" in capsys.readouterr().err


def test_a_stored_variant_opened_on_its_own_warns_that_it_needs_its_project(sandbox: Sandbox, capsys) -> None:
    model_file = sandbox.project / "variants" / sandbox.variant_id / "model.pt"
    assert main(["info", str(model_file), "--json"]) == 0
    captured = capsys.readouterr()
    assert f"open it as {sandbox.project}:{sandbox.variant_id}" in captured.err
    assert json.loads(captured.out)["card"]["warnings"]


def test_info_and_eval_take_a_project_variant(sandbox: Sandbox, capsys) -> None:
    assert main(["info", f"{sandbox.project}:base", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["card"]["input_size"] == 64
    reference = f"{sandbox.project}:{sandbox.variant_id}"
    assert main(["eval", reference, "--data", str(sandbox.images), "--threads", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 3


def test_labels_csv_entries_outside_the_folder_are_not_read(sandbox: Sandbox, capsys) -> None:
    outside = write_image(sandbox.root / "private.png", seed=9)
    (sandbox.images / "labels.csv").write_text(f"file,label\nimg0.png,0\n../private.png,1\n{outside},2\n")
    assert main(["eval", TINY, "--weights", "none", "--data", str(sandbox.images), "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 1 and result["skipped"] == 2


def test_a_hostile_project_cannot_make_delete_remove_an_outside_folder(sandbox: Sandbox) -> None:
    sandbox.variant_json(id="../../victim")
    index = json.loads((sandbox.project / "project.json").read_text())
    (sandbox.project / "project.json").write_text(json.dumps({**index, "variants": ["../../victim"]}))
    project = Project.open(sandbox.project)
    assert project.variants == [] and "not a valid variant id" in project.problems[0]
    with pytest.raises(ProjectError, match="not a valid variant id"):
        project.delete("../../victim")
    assert (sandbox.root / "victim" / "thesis.txt").read_text() == "keep me"
