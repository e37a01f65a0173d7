"""What every `mnstudio` command shares: progress on a terminal, the model argument and its loading, counts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from core.jobs import Progress
from core.model import Normalization


def progress_printer() -> Progress:
    """Progress on stderr for people at a terminal; silent in pipes and CI logs."""
    if not sys.stderr.isatty():
        return Progress()

    def show(fraction: float, message: str) -> None:
        sys.stderr.write(f"\r\033[K{100 * fraction:5.1f}% {message}")
        sys.stderr.flush()

    return Progress(show)


MODEL_HELP = (
    "zoo name with options (mobilenet_v1:width=0.5,res=160), a model file, or a project variant "
    "PROJECT_DIR:VARIANT (id or name)"
)


def model_args(parser: argparse.ArgumentParser, help: str = MODEL_HELP) -> None:
    parser.add_argument("model", help=help)
    parser.add_argument(
        "--weights", default="auto",
        help="pretrained | none (untrained) | auto (pretrained if available) | PATH to a state_dict",
    )
    parser.add_argument("--trust-pickle", action="store_true", help="allow pickled modules (runs code in the file)")
    parser.add_argument("--labels", help="the model's class names: a text file, one name a line, in class order "
                        "(default: the model's own, else a labelled folder's class folders when they match)")
    parser.add_argument("--preprocess", choices=[str(n) for n in Normalization],
                        help="how the model's pixels were normalized in training: imagenet (torchvision's mean and "
                        "std, the default), keras ([-1, 1]) or unit ([0, 1])")
    parser.add_argument("--crop", type=float, help="the share of the resized image the model sees (default 0.875; "
                        "1.0: the whole image, resized)")


def model_options(args: argparse.Namespace) -> Callable[[Any], Any]:
    """What the model options (--labels, --preprocess, --crop) do to a loaded model; a bad labels file fails here,
    before the model loads."""
    from core.data.labels import read_labels_file, with_class_names

    names = read_labels_file(args.labels) if args.labels else None
    normalization = Normalization(args.preprocess) if args.preprocess else None

    def apply(model: Any) -> Any:
        if names is not None:
            model = with_class_names(model, names, args.labels)
        if normalization is not None or args.crop is not None:
            model = model.with_preprocessing(normalization, args.crop)
        return model

    return apply


def load_model(args: argparse.Namespace, progress: Progress):
    from core.references import resolve_reference

    options = model_options(args)
    model = options(resolve_reference(args.model, args.weights, trust_pickle=args.trust_pickle, progress=progress))
    for warning in model.card.warnings:
        print(f"mnstudio: warning: {warning}", file=sys.stderr)
    return model


def named_by_folders(model: Any, datasets: list[Any]) -> Any:
    """The model with a labelled folder's class names when it has none of its own (said on stderr)."""
    from core.data.labels import names_from_folders

    model, note = names_from_folders(model, datasets)
    if note:
        print(f"mnstudio: note: {note}", file=sys.stderr)
    return model


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """argparse type for counts (threads, runs, images): a whole number of at least `minimum` (and at most
    `maximum`: 10,000 threads made an evaluation 56× slower, 100 million timed runs never ended)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bounds}; got {value}")
        return value

    return parse


positive_int, non_negative_int = whole_number(1), whole_number(0)
MAX_THREADS = 256
thread_count = whole_number(1, MAX_THREADS)
latency_runs = whole_number(0, 10_000)
