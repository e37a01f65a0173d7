"""`mnstudio`: --json prints exactly one object; errors exit non-zero with one line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "exactly one JSON line on stdout"
    return json.loads(out)


def test_zoo_lists_every_architecture(capsys) -> None:
    data = run_json(capsys, "zoo")
    names = [a["name"] for a in data["architectures"]]
    assert names == ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]
    assert [round(a["macs"] / 1e6, 1) for a in data["architectures"]] == [568.7, 300.8, 216.6, 56.5]


def test_info_reports_integer_params_macs_and_layers(capsys) -> None:
    data = run_json(capsys, "info", "mobilenet_v2", "--weights", "none")
    assert data["params"] == 3_504_872 and data["macs"] == 300_774_272
    assert isinstance(data["params"], int) and isinstance(data["macs"], int)
    assert len(data["layers"]) == 53 and data["layers"][0]["name"] == "features.0.0"
    assert data["card"]["weights"] == "untrained (random init)"


def test_eval_reports_accuracy_with_sample_size_and_interval(capsys, val_dir: Path) -> None:
    data = run_json(capsys, "eval", "mobilenet_v3_small", "--data", str(val_dir), "--limit", "40", "--threads", "1")
    assert data["n"] == 40 and 0 <= data["top1"] <= data["top5"] <= 100
    low, high = data["top1_ci95"]
    assert low <= data["top1"] <= high
    assert data["weights"].startswith("ImageNet")


def test_eval_prints_top1_with_its_half_interval_and_images(capsys, val_dir: Path) -> None:
    assert main(["eval", "mobilenet_v3_small:res=96", "--data", str(val_dir), "--limit", "8", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^top-1 \d+\.\d % \(±\d+\.\d, 8 images\)   top-5 \d+\.\d %", out, re.MULTILINE), out
    assert "CI" not in out and "n=" not in out


def test_bench_reports_median_p90_and_spread(capsys) -> None:
    data = run_json(
        capsys, "bench", "mobilenet_v3_small:res=96", "--runs", "5", "--warmup", "1", "--threads", "1",
        "--weights", "none",
    )
    assert data["runtime"] == "torch" and data["runs"] == 5
    assert 0 < data["median_ms"] <= data["p90_ms"] and data["cv"] >= 0


def test_sensitivity_reports_probes_and_a_checked_suggestion(capsys, val_dir: Path) -> None:
    data = run_json(
        capsys, "sensitivity", "mobilenet_v1:width=0.5,res=96", "--eval", str(val_dir), "--images", "8",
        "--levels", "0.5", "--macs", "0.7", "--threads", "1",
    )
    techniques = {p["technique"] for p in data["probes"]}
    assert techniques == {"prune", "quantize"} and data["images"] == 8
    suggestion = data["pruning_suggestion"]
    assert suggestion["macs"] <= suggestion["target_macs"] == int(0.7 * data["parent_macs"])
    assert suggestion["layer_ratios"] and set(suggestion["layer_ratios"].values()) == {0.5}


def test_installed_command_fails_with_one_line(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "mnstudio"
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([str(command), "info", str(bad), "--json"], capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("mnstudio: error: bad.pth")
