"""How much accuracy distillation recovers after structured pruning, for several training budgets.

    python -m bench.distillation [--model mobilenet_v2] [--ratio 0.3] [--epochs 5 15 30] [--eval-limit N]

Trains on imagenet_calib1000 (unlabeled: distillation only) at --resolution; evaluates on
imagenet_val1300. Uses CUDA when present (the recipe is the same on CPU, only slower).
"""

from __future__ import annotations

import argparse
import time

from bench.common import print_table, save_results
from core.compress.finetune import finetune
from core.compress.pruning import prune
from core.data import open_dataset
from core.metrics.accuracy import evaluate
from core.paths import shared_dir
from core.recipe import FinetuneStep, PruneStep
from core.zoo.loading import resolve_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--ratio", type=float, nargs="+", default=[0.3])
    parser.add_argument("--epochs", type=float, nargs="+", default=[5, 15, 30])
    parser.add_argument("--resolution", type=int, default=160)
    parser.add_argument("--lr", type=float, nargs="+", default=[1e-4])
    parser.add_argument("--eval-limit", type=int)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    data = shared_dir() / "datasets"
    evaluation = open_dataset(data / "imagenet_val1300", limit=args.eval_limit)
    train = open_dataset(data / "imagenet_calib1000")
    parent = resolve_model(args.model, "pretrained")
    parent_top1 = evaluate(parent, evaluation, threads=args.threads).top1
    rows = []
    for ratio in args.ratio:
        pruned = prune(parent, PruneStep(ratio=ratio), calib=train)
        pruned_top1 = evaluate(pruned, evaluation, threads=args.threads).top1
        rows.append({"ratio": ratio, "epochs": 0, "lr": "-", "top1": f"{pruned_top1:.2f}",
                     "drop": f"{parent_top1 - pruned_top1:.2f}", "train_s": 0})
        for lr in args.lr:
            for epochs in args.epochs:
                step = FinetuneStep(epochs=epochs, learning_rate=lr, labels=False, distill=True,
                                    resolution=args.resolution, bn_recalibration_images=512)
                started = time.perf_counter()
                tuned = finetune(pruned, step, train=train, teacher=parent).model
                seconds = time.perf_counter() - started
                top1 = evaluate(tuned, evaluation, threads=args.threads).top1
                rows.append({"ratio": ratio, "epochs": epochs, "lr": lr, "top1": f"{top1:.2f}",
                             "drop": f"{parent_top1 - top1:.2f}", "train_s": round(seconds)})
                print(rows[-1], flush=True)
    print(f"parent {args.model}: top-1 {parent_top1:.2f} on {len(evaluation)} images")
    print_table(rows, list(rows[0]))
    print("saved", save_results("distillation", rows))


if __name__ == "__main__":
    main()
