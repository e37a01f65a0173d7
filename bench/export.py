"""Export pretrained MobileNetV2 (fp32, int8 PTQ, pruned 30 %) to every format and verify each artifact.

python -m bench.export [--eval-images 300] [--formats onnx,tflite,torchscript,pt2,pte,coreml]

Agreement with the source variant on 300 images of imagenet_val1300 (targets: ≥ 99 % float,
≥ 97 % int8); TFLite int8 top-1 against the torch int8 variant on all 1,300 images (target:
within 1 point). Sizes, conversion times and latency (median, 1 thread) in one table.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

from bench.common import print_table, save_results
from core.compress.pruning import prune
from core.compress.quantize import quantize
from core.data import open_dataset
from core.export.job import ExportOptions
from core.export.registry import parse_formats
from core.export.run import export_model
from core.export.source import ExportSource, from_model
from core.export.verify import load_images, logits, top1_percent
from core.jobs import silent
from core.paths import shared_dir
from core.recipe import PruneStep, QuantizeStep
from core.runtime import torch_predictor, torch_threads
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec

COLUMNS = ["variant", "format", "precision", "size_mb", "agreement_top1", "max_abs_diff", "cosine", "top1",
           "latency_ms", "seconds", "verified"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--formats", default="onnx,tflite,torchscript,pt2,pte,coreml")
    parser.add_argument("--eval-images", type=int, default=300)
    parser.add_argument("--out", help="keep the artifacts here (default: a temporary folder)")
    parser.add_argument("--variants", default="fp32,int8,pruned", help="which of fp32,int8,pruned to export")
    args = parser.parse_args()
    torch.set_num_threads(1)
    datasets = shared_dir() / "datasets"
    val = open_dataset(datasets / "imagenet_val1300")
    calib = open_dataset(datasets / "imagenet_calib1000")
    evaluation = val.subset(args.eval_images, seed=0)
    formats = parse_formats(args.formats)
    options = ExportOptions(threads=2, latency_runs=30)

    fp32 = create_model(ModelSpec("mobilenet_v2"), "pretrained")
    step = QuantizeStep(calibration_images=512)  # the studio's default observer (percentile)
    int8 = quantize(fp32, step, calib=calib)
    pruned = prune(fp32, PruneStep(ratio=0.3), calib=calib)
    sources = {
        "V2 fp32": from_model(fp32),
        "V2 int8": ExportSource(int8, "V2 int8", float_parent=lambda: fp32, quantize_step=step),
        "V2 pruned 30%": ExportSource(pruned, "V2 pruned 30"),
    }
    wanted = set(args.variants.split(","))
    sources = {label: source for label, source in sources.items() if label.split()[1] in wanted}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mnstudio-bench-export-") as scratch:
        out = Path(args.out or scratch)
        tflite_int8 = None
        for label, source in sources.items():
            report = export_model(source, formats, out, options=options, calib=calib, evaluation=evaluation)
            print(report.to_text())
            for result in report.results:
                row = {"variant": label, **result.to_dict(), "size_mb": round(result.size_bytes / 1e6, 2)}
                row["max_abs_diff"] = _short(row.get("max_abs_diff"))
                rows.append({k: v for k, v in row.items() if k not in ("notes", "details")})
                if label == "V2 int8" and result.format == "tflite" and result.path:
                    tflite_int8 = Path(result.path)
        print_table(rows, COLUMNS)
        full = _tflite_int8_on_all_images(tflite_int8, int8, val) if tflite_int8 else {}
    if full:
        print(f"TFLite int8 top-1 {full['tflite_int8_top1']:.2f}% vs torch int8 {full['torch_int8_top1']:.2f}% "
              f"on {full['n']} images (difference {full['difference']:+.2f} points; target within 1)")
        rows.append({"variant": "V2 int8", "format": "tflite (all images)", **full})
    print("saved", save_results("export", rows))


def _short(value: Any) -> Any:
    return float(f"{value:.3g}") if isinstance(value, float) else value


def _tflite_int8_on_all_images(path: Path, int8: Any, val: Any) -> dict[str, Any]:
    from core.export.tflite_format import predictor

    data = load_images(val, int8.card, silent())
    assert data.labels is not None
    with torch_threads(1):
        torch_top1 = top1_percent(logits(torch_predictor(int8.module), data.images, silent()), data.labels)
    tflite_top1 = top1_percent(logits(predictor(path), data.images, silent()), data.labels)
    return {"n": len(data), "tflite_int8_top1": tflite_top1, "torch_int8_top1": torch_top1,
            "difference": round(tflite_top1 - torch_top1, 2)}


if __name__ == "__main__":
    main()
