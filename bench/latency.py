"""Latency of pretrained MobileNetV2 in torch and ONNX Runtime, measured in one process.

python bench/latency.py [--model mobilenet_v2] [--threads 1] [--runs 100]
"""

from __future__ import annotations

import argparse

from bench.common import print_table, save_results
from core.metrics.latency import benchmark
from core.zoo.loading import resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    model = resolve_model(args.model)
    rows = []
    for threads in args.threads:
        for runtime in ("torch", "onnxruntime"):
            result = benchmark(model, runtime=runtime, threads=threads, runs=args.runs, warmup=20)
            rows.append({"model": args.model, **{k: v for k, v in result.to_dict().items() if k != "warmup"}})
    print_table(rows, ["model", "runtime", "threads", "median_ms", "p90_ms", "min_ms", "cv", "fps"])
    by_threads = {r["threads"]: {} for r in rows}
    for r in rows:
        by_threads[r["threads"]][r["runtime"]] = r["median_ms"]
    for threads, medians in by_threads.items():
        print(
            f"{threads} thread(s): ONNX Runtime is {medians['torch'] / medians['onnxruntime']:.2f}× faster than torch"
        )
    print("saved", save_results("latency", rows))


if __name__ == "__main__":
    main()
