"""`mnstudio`: the headless command line; every command takes --json for scripts and CI.

With --json a command prints exactly one JSON object on stdout. Errors print one
line on stderr and exit non-zero (2 for bad input, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from core import __version__
from core.errors import StudioError
from core.jobs import Progress


def _progress_printer() -> Progress:
    """Progress on stderr for people at a terminal; silent in pipes and CI logs."""
    if not sys.stderr.isatty():
        return Progress()

    def show(fraction: float, message: str) -> None:
        sys.stderr.write(f"\r\033[K{100 * fraction:5.1f}% {message}")
        sys.stderr.flush()

    return Progress(show)


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="zoo name with options (mobilenet_v1:width=0.5,res=160) or a model file")
    parser.add_argument(
        "--weights", default="auto",
        help="pretrained | none (untrained) | auto (pretrained if available) | PATH to a state_dict",
    )  # fmt: skip
    parser.add_argument("--trust-pickle", action="store_true", help="allow pickled modules (runs code in the file)")


def _load(args: argparse.Namespace, progress: Progress):
    from core.zoo.loading import resolve_model

    return resolve_model(args.model, args.weights, trust_pickle=args.trust_pickle, progress=progress)


def cmd_zoo(args: argparse.Namespace) -> dict[str, Any]:
    from core.metrics.complexity import analyze_complexity
    from core.zoo.registry import ARCHITECTURES, STANDARD_RESOLUTIONS, ModelSpec
    from core.zoo.weights import pretrained_source

    rows: list[dict[str, Any]] = []
    for card in ARCHITECTURES.values():
        pretrained = {f"{w:g}": pretrained_source(card.name, w) for w in card.widths}
        complexity = analyze_complexity(ModelSpec(card.name).build(), 224)
        rows.append({
            "name": card.name, "title": card.title, "paper": card.paper, "summary": card.summary,
            "widths": list(card.widths), "resolutions": list(STANDARD_RESOLUTIONS),
            "input_size": 224, "mean": list(card.mean), "std": list(card.std), "num_classes": 1000,
            "macs": complexity.macs, "params": complexity.params,
            "pretrained": {w: src for w, src in pretrained.items() if src}, "license": card.license,
        })  # fmt: skip
    if not args.json:
        for row in rows:
            weights = ", ".join(f"{w}×" for w in row["pretrained"]) or "none (untrained only)"
            print(f"{row['name']:<20} {row['title']:<18} {row['macs'] / 1e6:6.1f} M MACs at 1.0×/224  "
                  f"widths {row['widths']}  pretrained: {weights}")  # fmt: skip
    return {"architectures": rows}


def cmd_info(args: argparse.Namespace) -> dict[str, Any]:
    from core.inspect import inspect_model

    described = inspect_model(args.model, args.weights, trust_pickle=args.trust_pickle, progress=_progress_printer())
    model, report = described.model, described.complexity
    result: dict[str, Any] = {"card": model.card.to_dict(), **report.to_dict()}
    result["size_bytes"] = described.size_bytes
    result["separable_savings"] = report.separable_savings
    if not args.json:
        card = model.card
        print(f"{card.title}  [{card.spec or card.format}]  weights: {card.weights.label}")
        print(f"input {card.input_size}×{card.input_size}, {card.num_classes} classes")
        print(
            f"params {report.params:,}   MACs {report.macs / 1e6:.1f} M   fp32 size {result['size_bytes'] / 1e6:.2f} MB"
        )
        if report.separable_savings:
            print(f"depthwise-separable convs cost 1/{report.separable_savings:.1f} of standard convs")
        if args.layers:
            print(f"{'layer':<28}{'kind':<10}{'in':>6}{'out':>6}{'k':>3}{'s':>3}{'MACs':>14}{'std conv':>14}")
            for x in report.layers:
                std = f"{x.standard_conv_macs:,}" if x.standard_conv_macs else ""
                print(f"{x.name:<28}{x.kind:<10}{x.in_channels:>6}{x.out_channels:>6}{x.kernel:>3}{x.stride:>3}"
                      f"{x.macs:>14,}{std:>14}")  # fmt: skip
    return result


def cmd_eval(args: argparse.Namespace) -> dict[str, Any]:
    from core.data import open_dataset
    from core.metrics.accuracy import evaluate

    progress = _progress_printer()
    model = _load(args, progress)
    dataset = open_dataset(args.data, num_classes=model.card.num_classes, limit=args.limit, seed=args.seed)
    result = evaluate(model, dataset, runtime=args.runtime, threads=args.threads, batch_size=args.batch_size,
                      progress=progress)  # fmt: skip
    out = {"model": model.card.title, "spec": str(model.card.spec or ""), "weights": model.card.weights.label}
    out.update(result.to_dict(with_per_class=args.per_class))
    if not args.json:
        low, high = result.top1_ci95
        print(f"{model.card.title} [{model.card.weights.label}] on {dataset.summary()}")
        print(f"top-1 {result.top1:.2f}% (95% CI {low:.1f}–{high:.1f}, n={result.n})   top-5 {result.top5:.2f}%"
              f"   {result.seconds:.1f} s")  # fmt: skip
    return out


def cmd_bench(args: argparse.Namespace) -> dict[str, Any]:
    from core.metrics.latency import benchmark
    from core.metrics.memory import measure_peak_memory

    progress = _progress_printer()
    model = _load(args, progress)
    result = benchmark(model, runtime=args.runtime, threads=args.threads, runs=args.runs, warmup=args.warmup,
                       batch=args.batch, progress=progress)  # fmt: skip
    out: dict[str, Any] = {"model": model.card.title, "spec": str(model.card.spec or "")}
    out.update(result.to_dict())
    if args.memory:
        out["memory"] = measure_peak_memory(model, args.runtime, result.threads).to_dict()
    if not args.json:
        print(f"{model.card.title} in {result.runtime}, {result.threads} thread(s), batch {result.batch}, "
              f"{result.input_size}px, {result.runs} runs after {result.warmup} warm-up")  # fmt: skip
        print(f"median {result.median_ms:.2f} ms  p90 {result.p90_ms:.2f} ms  min {result.min_ms:.2f} ms  "
              f"CV {100 * result.cv:.1f}%  {result.fps:.1f} FPS")  # fmt: skip
        if args.memory:
            mem = out["memory"]
            print(f"peak RSS {mem['peak_mb']:.0f} MiB (inference adds {mem['inference_mb']:.1f} MiB)")
    return out


def build_parser() -> argparse.ArgumentParser:
    from core.runtime import RUNTIMES, default_threads

    parser = argparse.ArgumentParser(prog="mnstudio", description="MobileNet Compression Studio (headless)")
    parser.add_argument("--version", action="version", version=f"mnstudio {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], dict[str, Any]], help: str):
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
        sub.set_defaults(handler=handler)
        return sub

    command("zoo", cmd_zoo, "list the architectures and where their weights come from")
    info = command("info", cmd_info, "model card, parameters, MACs and per-layer table")
    _model_args(info)
    info.add_argument("--layers", action="store_true", help="print the per-layer table")
    measuring = (
        ("eval", cmd_eval, "top-1/top-5 accuracy on a labelled image folder"),
        ("bench", cmd_bench, "latency (median, p90, spread) and optional peak memory"),
    )
    for name, handler, text in measuring:
        sub = command(name, handler, text)
        _model_args(sub)
        sub.add_argument("--runtime", choices=RUNTIMES, default="torch")
        sub.add_argument("--threads", type=int, default=default_threads(), help="intra-op threads (default cores−1)")
    evaluate = commands.choices["eval"]
    evaluate.add_argument("--data", required=True, help="ImageFolder, folder with labels.csv")
    evaluate.add_argument("--limit", type=int, help="evaluate a deterministic random subset of N images")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.add_argument("--per-class", action="store_true", help="include per-class accuracy in --json")
    bench = commands.choices["bench"]
    bench.add_argument("--runs", type=int, default=50)
    bench.add_argument("--warmup", type=int, default=10)
    bench.add_argument("--batch", type=int, default=1)
    bench.add_argument("--memory", action="store_true", help="also measure peak memory in a fresh process")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.handler(args)
    except StudioError as exc:
        print(f"\nmnstudio: error: {exc}" if sys.stderr.isatty() else f"mnstudio: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mnstudio: interrupted", file=sys.stderr)
        return 130
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
