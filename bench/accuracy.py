"""Top-1/top-5 of the pretrained zoo models on all of imagenet_val1300, against the reference figures.

python bench/accuracy.py [--limit N]
"""

from __future__ import annotations

import argparse

from bench.common import print_table, save_results
from core.data import open_dataset
from core.metrics.accuracy import evaluate
from core.paths import shared_dir
from core.zoo.loading import resolve_model

# Measured by whoever prepared ../shared (README there), CPU, Resize 256 / CenterCrop 224.
REFERENCE_TOP1 = {"mobilenet_v2": 78.69, "mobilenet_v3_small": 73.92, "mobilenet_v1:width=0.75": 76.85}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    dataset = open_dataset(shared_dir() / "datasets" / "imagenet_val1300", limit=args.limit)
    rows = []
    for spec, reference in REFERENCE_TOP1.items():
        model = resolve_model(spec, "pretrained")
        result = evaluate(model, dataset, threads=args.threads)
        rows.append({
            "model": str(model.card.spec), "top1": f"{result.top1:.2f}", "top5": f"{result.top5:.2f}",
            "top1_ci95": "–".join(f"{v:.1f}" for v in result.top1_ci95), "n": result.n,
            "reference_top1": reference, "delta": f"{result.top1 - reference:+.2f}", "seconds": f"{result.seconds:.0f}",
        })
    print_table(rows, list(rows[0]))
    print("saved", save_results("accuracy", rows))


if __name__ == "__main__":
    main()
