"""Which recovery recovers most per CPU minute: the same structural change, distilled several ways.

    python -m bench.recovery [--model mobilenet_v2] [--resolution 160] [--drop 16] [--minutes 5]
                             [--configs live,cache,cache+feature,...]

The student is the parent at --resolution (and without the --drop blocks, adaptors fitted on 256
calibration images); each configuration distils it from the parent (teacher at its own input size) for
--minutes of wall time on imagenet_calib1000 + imagenette/train, unlabelled. Top-1 on all of
imagenet_val1300, with the paired difference against the parent and its 95 % interval.

Configurations (joined with +): live (the teacher runs on every batch) or cache (the teacher runs once
over 2 views per image); feature (pre-pool feature MSE beside the logit KL); balance (views drawn by the
teacher's class); local (60 steps of block-local reconstruction first); frozen (BatchNorm statistics kept);
mild (random crops of at least 60 % of the image, not 25 %); lrX (learning rate X, default 1e-4).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from bench.common import print_table, save_results
from core.compress.drop_blocks import remove_blocks
from core.compress.finetune import finetune
from core.compress.resolution import at_resolution
from core.data import combine_datasets, open_dataset
from core.metrics.accuracy import AccuracyResult, evaluate
from core.metrics.paired import paired_accuracy
from core.paths import shared_dir
from core.recipe import DropBlocksStep, FinetuneStep, ResolutionStep
from core.zoo.loading import resolve_model

CONFIGS = ("live", "cache", "cache+feature", "cache+feature+balance")


def _step(config: str, minutes: float, resolution: int) -> FinetuneStep:
    parts = set(config.split("+"))
    learning_rate = next((float(p[2:]) for p in parts if p.startswith("lr")), 1e-4)
    return FinetuneStep(
        epochs=1000, learning_rate=learning_rate, batch_size=32, labels=False, distill=True, resolution=resolution,
        max_minutes=minutes, bn_recalibration_images=0, held_out_images=64,
        feature_weight=1.0 if "feature" in parts else 0.0, teacher_cache="cache" in parts,
        balance_classes="balance" in parts, local_steps=60 if "local" in parts else 0,
        freeze_batchnorm="frozen" in parts, crop_min_area=0.6 if "mild" in parts else 0.25,
    )


def _row(name: str, result: AccuracyResult, parent: AccuracyResult, seconds: float, extra: dict[str, Any]) -> dict:
    paired = paired_accuracy(result.hits, parent.hits, result.predicted, parent.predicted)
    return {"recovery": name, "top1": f"{result.top1:.2f}", "delta": paired.text(),
            "agreement": f"{paired.agreement:.1f}", "seconds": round(seconds), **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--resolution", type=int, default=160)
    parser.add_argument("--crop", type=float, default=0.875)
    parser.add_argument("--drop", default="", help="blocks to drop, e.g. 16 or 6+16")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--eval-limit", type=int)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = shared_dir() / "datasets"
    evaluation = open_dataset(data / "imagenet_val1300", limit=args.eval_limit)
    calib = open_dataset(data / "imagenet_calib1000")
    train = combine_datasets([calib, open_dataset(data / "imagenette" / "train")])
    parent = resolve_model(args.model, "pretrained")
    reference = evaluate(parent, evaluation, threads=args.threads)
    student = at_resolution(parent, ResolutionStep(input_size=args.resolution, crop_fraction=args.crop))
    if args.drop:
        blocks = tuple(int(b) for b in args.drop.split("+"))
        student = remove_blocks(student, DropBlocksStep(blocks=blocks), calib=calib)
    rows = [_row("none (zero-shot)", evaluate(student, evaluation, threads=args.threads), reference, 0, {})]
    print(rows[-1], flush=True)
    for config in args.configs.split(","):
        started = time.perf_counter()
        tuned = finetune(student, _step(config, args.minutes, args.resolution), train=train, teacher=parent)
        seconds = time.perf_counter() - started
        report = tuned.report
        extra = {"steps": report.steps, "kept": report.kept, **{k: v for k, v in report.data.items() if k != "teacher"}}
        rows.append(_row(config, evaluate(tuned.model, evaluation, threads=args.threads), reference, seconds, extra))
        print(rows[-1], flush=True)
    print(f"parent {args.model}: top-1 {reference.top1:.2f} on {reference.n} images; student at {args.resolution} px"
          + (f" without blocks {args.drop}" if args.drop else "") + f"; {args.minutes:g} min per recovery")
    print_table(rows, list(dict.fromkeys(k for row in rows for k in row)))
    print("saved", save_results(f"recovery-{args.model.split(':')[0]}-{args.resolution}", rows))


if __name__ == "__main__":
    main()
