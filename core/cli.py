"""`mnstudio`: the headless command line; every command takes --json for scripts and CI.

With --json a command prints exactly one JSON object on stdout. Errors print one
line on stderr and exit non-zero (2 for bad input, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import __version__
from core.cli_common import (
    latency_runs,
    load_model,
    model_args,
    model_options,
    named_by_folders,
    non_negative_int,
    positive_int,
    progress_printer,
    thread_count,
)
from core.cli_measure import cmd_bench, cmd_eval
from core.data.roles import DataRole
from core.errors import StudioError
from core.export.bundle import AppBundle


def strict_json(value: Any) -> Any:
    """`value` with NaN and ±Infinity replaced by null: --json output is strict JSON that any parser reads."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


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
        })
    if not args.json:
        for row in rows:
            weights = ", ".join(f"{w}×" for w in row["pretrained"]) or "none (untrained only)"
            print(f"{row['name']:<20} {row['title']:<18} {row['macs'] / 1e6:6.1f} M MACs at 1.0×/224  "
                  f"widths {row['widths']}  pretrained: {weights}")
    return {"architectures": rows}


def cmd_info(args: argparse.Namespace) -> dict[str, Any]:
    from core.inspect import inspect_model

    options = model_options(args)
    described = inspect_model(args.model, args.weights, trust_pickle=args.trust_pickle, progress=progress_printer())
    model, report = options(described.model), described.complexity
    for warning in model.card.warnings:
        print(f"mnstudio: warning: {warning}", file=sys.stderr)
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
                      f"{x.macs:>14,}{std:>14}")
    return result


EXIT_TARGET_MISSED = 3


def cmd_compress(args: argparse.Namespace) -> dict[str, Any]:

    from core.compress.pipeline import compress
    from core.compress.search import check_feasible
    from core.data import combine_datasets, open_dataset
    from core.project import Project
    from core.recipe import TargetStep

    Project.check_location(args.out)
    recipe = _compress_recipe(args)
    recipe.check_data({role for role in DataRole if getattr(args, role.flag.removeprefix("--"))})  # before any work
    progress = progress_printer()
    model = load_model(args, progress)
    classes = model.card.num_classes

    def data(folder: str | None, limit: int | None) -> Any:
        return open_dataset(folder, num_classes=classes, limit=limit) if folder else None

    calib = data(args.calib, None)
    train = combine_datasets([data(folder, None) for folder in args.train]) if args.train else None
    evaluation = data(args.eval, args.eval_limit)
    if not args.labels:
        model = named_by_folders(model, [evaluation, train, calib])
    target = recipe.step(TargetStep)
    if target is not None:  # a search that cannot be done fails before the project folder is made
        check_feasible(calib, evaluation)
    project = Project.open_or_create(args.out)
    result = compress(model, recipe, project, calib=calib, train=train, evaluation=evaluation, name=args.name,
                      threads=args.threads, progress=progress)
    metrics, parent, search = result.metrics, result.parent.metrics, result.search
    summary: dict[str, Any] = {
        "variant": result.variant.id, "name": result.variant.name, "project": str(project.root),
        "top1": metrics.accuracy.top1 if metrics.accuracy else None,
        "top1_parent": parent.accuracy.top1 if parent.accuracy else None,
        "n": metrics.accuracy.n if metrics.accuracy else None,
        "macs": metrics.macs, "macs_parent": parent.macs, "params": metrics.params,
        "size_bytes": metrics.size_bytes, "size_bytes_parent": parent.size_bytes,
        "latency_ms": metrics.latency_ms, "latency_ms_parent": parent.latency_ms,
        "seconds": result.seconds, "steps": [step.to_dict() for step in metrics.steps],
        "warnings": list(metrics.warnings), "float_variant": result.float_graph.id if result.float_graph else None,
        "candidates": [row.to_dict() for row in search.rows] if search else [], "missed": result.missed,
        "first_answer_seconds": search.first_answer_seconds if search else None,
        "notes": list(search.notes) if search else [],
    }
    for warning in summary["warnings"]:
        print(f"mnstudio: warning: {warning}", file=sys.stderr)
    if result.missed:
        print(f"mnstudio: target missed: {result.missed}", file=sys.stderr)
    if not args.json:
        if summary["candidates"]:
            _print_candidates(summary["candidates"])
        for note in summary["notes"]:
            print(f"  note: {note}")
        print(f"{result.variant.name} -> {project.root} (variant {result.variant.id})")
        for key in ("top1", "macs", "size_bytes", "latency_ms"):
            print(f"  {key:<11} {summary[key]!s:>14}   parent {summary.get(key + '_parent')!s:>14}")
        print(
            f"  took {summary['seconds']:.0f} s: "
            + ", ".join(f"{s['step']} {s['seconds']:.0f} s" for s in summary["steps"])
        )
    return summary


def _compress_recipe(args: argparse.Namespace) -> Any:
    """--recipe (a preset or file), or a target search built from --target and its options."""
    from core.recipe import Recipe, RecipeError, TargetStep, load_recipe

    if (args.recipe is None) == (args.target is None):
        raise RecipeError("give either --recipe (a preset or recipe file) or --target (top-1 points to lose at most)")
    if args.recipe is not None:
        return load_recipe(args.recipe)
    precisions = tuple(p.strip() for p in args.precision.split(",") if p.strip())
    step = TargetStep(max_drop=args.target, objective=args.objective, runtime=args.runtime, precisions=precisions,
                      budget_minutes=args.budget, candidates=args.candidates, seed=args.seed)
    return Recipe(f"target −{args.target:g} pt", (step,), step.describe())


def _print_candidates(rows: list[dict[str, Any]]) -> None:
    print(f"{'candidate':<36} {'precision':<9} {'Δtop-1 [95% CI]':<26} {'latency ×':>9} {'measured in':<12} verdict")
    for row in rows:
        low, high = row.get("delta_top1_ci95") or (float("nan"), float("nan"))
        delta = f"{row['delta_top1']:+.2f} [{low:+.2f}, {high:+.2f}] n={row['n']}" if row.get("n") else "–"
        ratio = f"{row['latency_ratio']:.3f}" if row.get("latency_ratio") is not None else "–"
        print(f"{row['label'][:36]:<36} {row['precision']:<9} {delta:<26} {ratio:>9} {row['runtime']:<12} "
              f"{row['verdict']}")


def cmd_recipe(args: argparse.Namespace) -> dict[str, Any]:
    from core.compress.pipeline import replay_recipe
    from core.errors import ProjectError
    from core.project import Project
    from core.references import split_variant_reference
    from core.storage import atomic_write_text

    reference = split_variant_reference(args.variant)
    if reference is None:
        raise ProjectError(f"{args.variant!r} is not PROJECT_DIR:VARIANT of an existing project")
    project = Project.open(reference[0])
    recipe = replay_recipe(project, reference[1])
    root = project.lineage(reference[1])[0]
    if args.out:
        atomic_write_text(Path(args.out), recipe.to_json() + "\n")
    if not args.json:
        if not args.out:
            print(recipe.to_json())
        print(f"mnstudio: replay with: mnstudio compress '{root.spec or root.name}' --recipe "
              f"{args.out or 'RECIPE.json'} ...", file=sys.stderr)
    return {"recipe": recipe.to_dict(), "model": str(root.spec) if root.spec else root.name}


def cmd_sensitivity(args: argparse.Namespace) -> dict[str, Any]:
    from core.compress.sensitivity import analyze_sensitivity, suggest_pruning
    from core.data import open_dataset

    progress = progress_printer()
    model = load_model(args, progress)
    classes = model.card.num_classes
    evaluation = open_dataset(args.eval, num_classes=classes)
    calib = open_dataset(args.calib, num_classes=classes) if args.calib else None
    techniques = tuple(args.techniques.split(","))
    report = analyze_sensitivity(model, evaluation, techniques=techniques, calib=calib, images=args.images,
                                 prune_levels=tuple(args.levels), progress=progress)
    result = report.to_dict()
    if args.macs is not None or args.latency_ms is not None:
        suggestion = suggest_pruning(model, report, macs_fraction=args.macs, latency_ms=args.latency_ms,
                                     threads=args.threads, progress=progress)
        result["pruning_suggestion"] = suggestion.to_dict()
    if not args.json:
        print(f"{model.card.title}: {report.images} images, parent top-1 {report.parent_top1}")
        print(f"{'technique':<9} {'layer':<28} {'ratio':>5} {'MACs':>12} {'agree %':>8} {'top-1':>7}")
        for probe in sorted(report.probes, key=lambda p: p.agreement):
            top1 = "-" if probe.top1 is None else f"{probe.top1:.1f}"
            print(f"{probe.technique:<9} {probe.layer:<28} {probe.ratio:>5.2f} {probe.macs:>12,} "
                  f"{probe.agreement:>8.1f} {top1:>7}")
        print("keep in float:", ", ".join(result["keep_float"]) or "none needed")
        if "pruning_suggestion" in result:
            print("pruning suggestion:", json.dumps(result["pruning_suggestion"]))
    return result


def cmd_export(args: argparse.Namespace) -> dict[str, Any]:
    from core.data import open_dataset
    from core.export.checks import check_supported, check_writable
    from core.export.job import ExportOptions
    from core.export.registry import parse_formats
    from core.export.run import export_model
    from core.export.source import resolve_source

    formats = parse_formats(args.format) if args.format or not args.bundle else []  # a bundle adds its own format
    progress = progress_printer()
    model_changes = model_options(args)  # a bad labels file fails before the model loads
    source = resolve_source(args.model, args.weights, trust_pickle=args.trust_pickle, progress=progress)
    source.model = model_changes(source.model)
    classes = source.model.card.num_classes
    calib = open_dataset(args.calib, num_classes=classes) if args.calib else None
    options = ExportOptions(
        dynamic_batch=not args.static_batch, opset=args.opset, nhwc=args.nhwc, int8_io=args.int8_io, fp16=args.fp16,
        int8_weights=args.int8_weights, reduce_range=args.reduce_range, threads=args.threads,
        latency_runs=args.latency_runs,
    )
    check_supported(source, formats, calib, options)  # before the evaluation images are read
    check_writable(Path(args.out))
    evaluation = open_dataset(args.eval, num_classes=classes, limit=args.eval_limit) if args.eval else None
    if not args.labels:
        source.model = named_by_folders(source.model, [evaluation, calib])
    report = export_model(source, formats, args.out, options=options, calib=calib, evaluation=evaluation,
                          bundle=AppBundle.named(args.bundle), progress=progress)
    if not args.json:
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
        print(report.to_text(), end="")
        print("report: " + ", ".join(report.report_paths))
    failed = [r for r in report.results if not r.path]
    if failed and len(failed) == len(report.results):
        reasons = "; ".join(f"{r.format}: {r.verification.get('error', 'no file')}" for r in failed)
        raise StudioError(f"every format failed, nothing was exported ({reasons})"[:380])
    return report.to_dict()


def build_parser() -> argparse.ArgumentParser:
    from core.runtime import IN_PROCESS, default_threads

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
    model_args(info)
    info.add_argument("--layers", action="store_true", help="print the per-layer table")
    measuring = (
        ("eval", cmd_eval, "top-1/top-5 accuracy on a labelled image folder"),
        ("bench", cmd_bench, "latency (median, p90, spread) and optional peak memory"),
    )
    for name, handler, text in measuring:
        sub = command(name, handler, text)
        model_args(sub)
        sub.add_argument("--against", help="compare with another model on the same images (eval) or timed in turn "
                         "(bench): 'parent' (a project variant's own parent), a variant of the same project, or any "
                         "model reference")
        sub.add_argument("--runtime", choices=[str(r) for r in IN_PROCESS], default="torch")
        sub.add_argument("--threads", type=thread_count, default=default_threads(),
                         help="intra-op threads (default cores−1)")
    evaluate = commands.choices["eval"]
    evaluate.add_argument("--data", required=True, help="ImageFolder, folder with labels.csv")
    evaluate.add_argument("--limit", type=positive_int, help="evaluate a deterministic random subset of N images")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--batch-size", type=positive_int, default=32)
    evaluate.add_argument("--per-class", action="store_true", help="include per-class accuracy in --json")
    squeeze = command("compress", cmd_compress, "run a recipe (prune, fine-tune, quantize) into a project")
    model_args(squeeze)
    squeeze.add_argument("--recipe", help="preset name (balanced, fastest, smallest, near-lossless-int8) or a "
                         "recipe JSON file")
    squeeze.add_argument("--target", type=float, help="instead of --recipe: search for the best variant that loses "
                         "at most this many top-1 points (needs --calib and --eval; --train to distil)")
    squeeze.add_argument("--objective", default="latency", help="with --target: latency, size or macs")
    squeeze.add_argument("--runtime", default="onnxruntime", help="with --target: where latency is measured "
                         "(torch, onnxruntime, or litert: the finalists' .tflite files, as the Android bundle "
                         "runs them, after ONNX Runtime timed every candidate)")
    squeeze.add_argument("--precision", default="float,int8", help="with --target: float, int8 or both")
    squeeze.add_argument("--budget", type=float, default=25.0, help="with --target: minutes for the whole search")
    squeeze.add_argument("--candidates", type=non_negative_int, default=2, help="with --target: candidates distilled")
    squeeze.add_argument("--seed", type=int, default=0, help="with --target: the search's seed")
    squeeze.add_argument("--calib", help="calibration images (quantization, Taylor importance)")
    squeeze.add_argument("--train", action="append", help="training images (fine-tuning, distillation); give it "
                         "several times to train on several folders together")
    squeeze.add_argument("--eval", help="labelled images to measure accuracy of the parent and the variant")
    squeeze.add_argument("--eval-limit", type=positive_int, help="evaluate on a deterministic subset of N images")
    squeeze.add_argument("--out", required=True, help="project folder (created if missing)")
    squeeze.add_argument("--name", help="variant name")
    squeeze.add_argument("--threads", type=thread_count, default=default_threads())
    replay = command("recipe", cmd_recipe, "print the recipe that makes a project variant from its original model, "
                     "to replay it with compress --recipe")
    replay.add_argument("variant", help="PROJECT_DIR:VARIANT (id or name)")
    replay.add_argument("--out", help="write the recipe to this JSON file")
    sensitivity = command("sensitivity", cmd_sensitivity, "prune or quantize one layer at a time; suggest a plan")
    model_args(sensitivity)
    sensitivity.add_argument("--eval", required=True, help="images to score on (labels optional)")
    sensitivity.add_argument("--calib", help="calibration images (default: the --eval images)")
    sensitivity.add_argument("--techniques", default="prune,quantize", help="prune, quantize or both")
    sensitivity.add_argument("--images", type=positive_int, default=128, help="evaluation subset size")
    sensitivity.add_argument("--levels", type=float, nargs="+", default=[0.25, 0.5], help="pruning ratios probed")
    target = sensitivity.add_mutually_exclusive_group()
    target.add_argument("--macs", type=float, help="suggest per-layer ratios reaching this fraction of the MACs")
    target.add_argument("--latency-ms", type=float, help="suggest per-layer ratios reaching this torch latency")
    sensitivity.add_argument("--threads", type=thread_count, default=default_threads())
    export = command("export", cmd_export, "export to ONNX, TFLite, TorchScript, .pt2, ExecuTorch or Core ML, "
                     "each verified in its own runtime")
    model_args(export)
    export.add_argument("--format", default="", help="comma-separated: onnx,tflite,torchscript,pt2,pte,coreml "
                        "(optional with --bundle)")
    export.add_argument("--out", required=True, help="output folder (created if missing)")
    export.add_argument("--bundle", choices=[str(kind) for kind in AppBundle],
                        help="also zip an app bundle (adds tflite/coreml)")
    export.add_argument("--eval", help="labelled images: agreement with the source and top-1 of each artifact")
    export.add_argument(
        "--eval-limit", type=positive_int, default=300, help="verify on a deterministic subset of N images"
    )
    export.add_argument("--calib", help="calibration images (re-quantizing an int8 variant's float parent)")
    export.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    export.add_argument("--static-batch", action="store_true", help="ONNX/.pt2 with batch 1 instead of any batch")
    layout = export.add_mutually_exclusive_group()
    layout.add_argument("--nhwc", action="store_const", const=True, dest="nhwc",
                        help="TFLite: channels-last (N×H×W×3) input (default in an Android bundle)")
    layout.add_argument("--nchw", action="store_const", const=False, dest="nhwc",
                        help="TFLite: channels-first (N×3×H×W) input (default for a plain .tflite file)")
    io_type = export.add_mutually_exclusive_group()
    io_type.add_argument("--int8-io", action="store_const", const=True, dest="int8_io",
                         help="int8 TFLite: int8 input and output tensors (default: plain .tflite files)")
    io_type.add_argument("--float-io", action="store_const", const=False, dest="int8_io",
                         help="int8 TFLite: float32 input and output, quantized inside the model (default in an "
                              "Android bundle)")
    export.add_argument("--fp16", action="store_true", help="float sources: fp16 TFLite weights, fp16 Core ML")
    export.add_argument("--int8-weights", action="store_true", help="Core ML, float sources: int8 weights")
    export.add_argument("--reduce-range", action=argparse.BooleanOptionalAction, default=None,
                        help="ONNX int8: 7-bit weights (default: only on CPUs without VNNI)")
    export.add_argument(
        "--latency-runs", type=latency_runs, default=30, help="timed runs per artifact at 1 thread (0: skip)"
    )
    export.add_argument("--threads", type=thread_count, default=default_threads(), help="threads for conversion")
    bench = commands.choices["bench"]
    bench.add_argument("--runs", type=positive_int, default=50)
    bench.add_argument("--warmup", type=non_negative_int, default=10)
    bench.add_argument("--batch", type=positive_int, default=1)
    bench.add_argument("--memory", action="store_true", help="also measure peak memory in a fresh process")
    return parser


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a command as Ctrl-C does: staged files and folders are removed


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        result = args.handler(args)
    except StudioError as exc:
        print(f"\nmnstudio: error: {exc}" if sys.stderr.isatty() else f"mnstudio: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mnstudio: interrupted", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    if args.json:
        print(json.dumps(strict_json(result), allow_nan=False))
    # A target search that met nothing stored its closest candidate: a result, not bad input (2), nor a success.
    return EXIT_TARGET_MISSED if isinstance(result, dict) and result.get("missed") else 0


if __name__ == "__main__":
    sys.exit(main())
