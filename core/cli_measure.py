"""`mnstudio eval` and `mnstudio bench`: accuracy and latency of one model, or paired against another
(`--against`: the same images, timed in turn)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.cli_common import load_model, named_by_folders, progress_printer
from core.errors import StudioError
from core.jobs import Progress


def against_model(args: argparse.Namespace, progress: Progress) -> tuple[Any, str] | None:
    """The model `--against` names: `parent` (the variant's own parent), a variant of the same project by id or
    name, or any model reference; with the name it is reported under."""
    from core.project import Project
    from core.references import resolve_reference, split_variant_reference

    if not args.against:
        return None
    reference = split_variant_reference(args.model)
    if reference is not None:
        project = Project.open(reference[0])
        variant = project.variant(reference[1])
        if args.against == "parent":
            if variant.parent is None:
                raise StudioError(f"{variant.name} is an original model: it has no parent to compare with")
            return project.load(variant.parent), project.variant(variant.parent).name
        if any(args.against in (v.id, v.name) for v in project.variants):
            other = project.variant(args.against)
            return project.load(other.id), other.name
    elif args.against == "parent":
        raise StudioError("--against parent needs a project variant (PROJECT_DIR:VARIANT) as the model")
    model = resolve_reference(args.against, "auto", trust_pickle=args.trust_pickle, progress=progress)
    return model, model.card.title


def cmd_eval(args: argparse.Namespace) -> dict[str, Any]:
    from core.data import open_dataset
    from core.data.datasets import positional_labels
    from core.metrics.accuracy import evaluate
    from core.metrics.accuracy_text import top1_text
    from core.metrics.paired import paired_accuracy

    progress = progress_printer()
    model = load_model(args, progress)
    against = against_model(args, progress)
    dataset = open_dataset(args.data, num_classes=model.card.num_classes, limit=args.limit, seed=args.seed)
    if not args.labels:
        model = named_by_folders(model, [dataset])
    result = evaluate(model, dataset, runtime=args.runtime, threads=args.threads, batch_size=args.batch_size,
                      progress=progress.span(0.0, 0.5 if against else 1.0))
    out = {"model": model.card.title, "spec": str(model.card.spec or ""), "weights": model.card.weights.label}
    out.update(result.to_dict(with_per_class=args.per_class))
    if against is not None:
        other, name = against
        theirs = evaluate(other, dataset, runtime=args.runtime, threads=args.threads, batch_size=args.batch_size,
                          progress=progress.span(0.5, 1.0))
        if theirs.images_id != result.images_id:
            raise StudioError(f"{name} could not read the same images as {model.card.title}: no paired comparison")
        paired = paired_accuracy(result.hits, theirs.hits, result.predicted, theirs.predicted)
        out.update({**paired.to_dict(), "against": name, "against_top1": round(theirs.top1, 3)})
        if not args.json:
            print(f"against {name}: Δtop-1 {paired.text()}, agreement {paired.agreement:.1f}%")
    if not result.finite:
        print(f"mnstudio: warning: {nonfinite_text(result)}", file=sys.stderr)
    if positional_labels(dataset):
        shown = ", ".join(f"{i} = {name}" for i, name in enumerate(dataset.class_names[:3]))
        print(f"mnstudio: note: labels are the class folders in sorted order ({shown}, ...): the model must have "
              "been trained with the same order", file=sys.stderr)
    if not args.json:
        skipped = f"; {len(result.skipped)} files skipped" if result.skipped else ""
        print(f"{model.card.title} [{model.card.weights.label}] on {result.n} images of {dataset.root}{skipped}")
        print(f"top-1 {top1_text(result.top1, result.top1_ci95, result.n)}   top-5 {result.top5:.1f} %"
              f"   {result.seconds:.1f} s")
    return out


def nonfinite_text(result: Any) -> str:
    return (f"{result.nonfinite_outputs} of {result.n} images gave NaN or Inf outputs (counted as wrong)"
            + (f"; non-finite weights in {', '.join(result.nonfinite_parameters[:3])}"
               if result.nonfinite_parameters else ""))


def cmd_bench(args: argparse.Namespace) -> dict[str, Any]:
    from core.metrics.latency import benchmark
    from core.metrics.memory import measure_peak_memory
    from core.metrics.paired_latency import paired_latency

    progress = progress_printer()
    model = load_model(args, progress)
    against = against_model(args, progress)
    if against is not None:
        other, name = against
        if args.batch != 1 or args.memory:
            raise StudioError("--against times one image at a time; leave out --batch and --memory")
        timing = paired_latency(model, other, runtime=args.runtime, threads=args.threads, pairs=args.runs,
                                warmup=args.warmup, progress=progress)
        if not args.json:
            print(f"{model.card.title} against {name}: {timing.text()}; medians {timing.median_ms:.2f} ms and "
                  f"{timing.reference_median_ms:.2f} ms, timed in turn at {timing.threads} thread(s)")
            if timing.noisy:
                print("mnstudio: warning: the timing was noisy (wide interval or spread); run it again",
                      file=sys.stderr)
        return {"model": model.card.title, "against": name, **timing.to_dict()}
    result = benchmark(model, runtime=args.runtime, threads=args.threads, runs=args.runs, warmup=args.warmup,
                       batch=args.batch, progress=progress)
    out: dict[str, Any] = {"model": model.card.title, "spec": str(model.card.spec or "")}
    out.update(result.to_dict())
    if args.memory:
        out["memory"] = measure_peak_memory(model, args.runtime, result.threads).to_dict()
    if not args.json:
        print(f"{model.card.title} in {result.runtime}, {result.threads} thread(s), batch {result.batch}, "
              f"{result.input_size}px, {result.runs} runs after {result.warmup} warm-up")
        print(f"median {result.median_ms:.2f} ms  p90 {result.p90_ms:.2f} ms  min {result.min_ms:.2f} ms  "
              f"CV {100 * result.cv:.1f}%  {result.fps:.1f} FPS")
        if args.memory:
            mem = out["memory"]
            print(f"peak RSS {mem['peak_mb']:.0f} MiB (inference adds {mem['inference_mb']:.1f} MiB)")
    return out
