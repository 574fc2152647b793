"""The ``vietai-compress`` command: run the pipeline, inspect a compressed file, evaluate it.

    vietai-compress run [--preset NAME] [--model lenet300|lenet5] [--quick] [--units conv1=0.5,...]
                        [--sensitivity 2 | --keep fc1=0.04,...] [--rounds 1] [--bits 5 | --bits fc1=4,fc2=4,fc3=5]
                        [--fine-tune-epochs 5] [--distill] [--jitter 2] [--seed 42] [--no-holdout]
                        [--out artifacts/]
                        [--retrain-base]
    vietai-compress inspect FILE
    vietai-compress evaluate FILE
    vietai-compress export FILE --format onnx [--int8 dynamic|static] [--out FILE.onnx]
    vietai-compress predict FILE IMAGE [IMAGE ...]

``python -m vietai_compress`` does the same. Errors print one line and exit with status 1 (2 for
bad arguments), without a traceback. ``inspect`` and ``predict`` run without PyTorch (numpy, scipy and
Pillow only): this module imports torch only inside the commands that need it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from .recipe import PRESETS, SEED


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser(preset: dict | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="vietai-compress", description="Deep Compression of LeNet-300-100 or LeNet-5 on MNIST.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="train, prune, retrain, share, fine-tune, encode, decode, verify")
    run.add_argument("--preset", choices=sorted(PRESETS), default=None,
                     help="named settings (recipe.PRESETS): 'article' (the default); 'best-jitter', 'smallest-jitter' "
                          "and 'lenet5-best' (chosen on the validation split in notebook 09); "
                          "'lenet5-a', 'lenet5-b', 'lenet5-c' (notebook 08); 'lenet5-structured' (notebook 11). "
                          "Options given with it override its values")
    run.add_argument("--model", default="lenet300", help="model to compress: lenet300 or lenet5 (default: lenet300)")
    run.add_argument("--quick", action="store_true", default=None,
                     help="quick mode: fewer epochs (default: the VIETAI_QUICK environment variable)")
    run.add_argument("--sensitivity", type=float, default=2.0, help="pruning threshold = s x std (default: 2)")
    run.add_argument("--keep", type=_per_layer(float), default=None, metavar="fc1=0.04,fc2=0.08,...",
                     help="fraction of the weights each layer keeps, instead of --sensitivity")
    run.add_argument("--units", type=_per_layer(float), default=None, metavar="conv1=0.5,conv2=0.5,...",
                     help="structured pruning first: the fraction of the units (hidden units, conv filters) each "
                          "named hidden layer keeps, ranked by L1 norm, then retraining (notebook 11)")
    run.add_argument("--rounds", type=int, default=1,
                     help="prune + retrain in this many rounds, same final sparsity and epochs (default: 1)")
    run.add_argument("--bits", type=_int_or_per_layer, default=5, metavar="5 | fc1=4,fc2=4,...",
                     help="bits per shared weight, 1-16, for every layer or per layer (default: 5)")
    run.add_argument("--fine-tune-epochs", type=int, default=None,
                     help="epochs of centroid fine-tuning, 0 to skip (default: 5; fewer in quick mode)")
    run.add_argument("--distill", action="store_true",
                     help="the dense base model teaches the retraining and the centroid fine-tuning "
                          "(knowledge distillation, T and alpha of the recipe)")
    run.add_argument("--jitter", type=int, default=None, metavar="PIXELS",
                     help="shift the training images by up to this many pixels, 0-8 (default: the recipe's, "
                          "2 for lenet5 and 0 for lenet300)")
    run.add_argument("--seed", type=int, default=SEED, help=f"seed of weight init and shuffling (default: {SEED})")
    run.add_argument("--holdout", action=argparse.BooleanOptionalAction, default=True,
                     help="train on 55,000 images and report each stage on the 5,000 held out for validation "
                          "too (default); --no-holdout trains on all 60,000")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder (default: the notebooks' artifacts/ folder, or VIETAI_ARTIFACTS)")
    run.add_argument("--retrain-base", action="store_true", help="train the base model even if one is saved")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    run.set_defaults(**(preset or {}))
    for name, text in (("inspect", "print where the bytes of a compressed file go"),
                       ("evaluate", "decode a compressed file and print its MNIST test accuracy")):
        command = commands.add_parser(name, help=text)
        command.add_argument("file", type=Path)
    export = commands.add_parser("export", help="write a compressed file as an ONNX model (dead units removed)")
    export.add_argument("file", type=Path)
    export.add_argument("--format", choices=["onnx"], default="onnx", help="output format (default: onnx)")
    export.add_argument("--int8", choices=["dynamic", "static"], default=None,
                        help="quantize to int8 with ONNX Runtime: 'dynamic' (weights only) or 'static' (weights and "
                             "activations, calibrated on 1,000 MNIST training images)")
    export.add_argument("--out", type=Path, default=None, help="output file (default: FILE with .onnx, or _int8.onnx)")
    predict = commands.add_parser("predict", help="read digit images (PNG, JPEG, ...) and print each digit and its "
                                                  "probability; runs without PyTorch")
    predict.add_argument("file", type=Path)
    predict.add_argument("images", type=Path, nargs="+")
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line; a ``--preset`` sets the defaults of ``run`` that the line does not give."""
    args = _parser().parse_args(argv)
    if getattr(args, "preset", None):
        args = _parser(PRESETS[args.preset]).parse_args(argv)
    return args


def _per_layer(cast: Callable[[str], float]) -> Callable[[str], dict]:
    """An argparse type for ``name=value,name=value`` (per-layer settings)."""
    def parse(text: str) -> dict:
        pairs = [item.split("=") for item in text.split(",")]
        if not all(len(pair) == 2 and pair[0].strip() for pair in pairs):
            raise argparse.ArgumentTypeError(f"expected layer=value,layer=value, got {text!r}")
        try:
            return {name.strip(): cast(value) for name, value in pairs}
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{text!r}: {err}") from err
    return parse


def _int_or_per_layer(text: str) -> int | dict:
    """An argparse type for ``5`` (every layer) or ``fc1=4,fc2=4,fc3=5`` (per layer)."""
    if "=" in text:
        return _per_layer(int)(text)
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or layer=int,layer=int, got {text!r}") from None


def _run(args) -> None:
    from .config import is_quick
    from .pipeline import Settings, format_table, run_pipeline

    out = {"out": args.out} if args.out is not None else {}
    settings = Settings(model=args.model, quick=is_quick() if args.quick is None else args.quick,
                        sensitivity=args.sensitivity, rounds=args.rounds, bits=args.bits, keep=args.keep,
                        fine_tune_epochs=args.fine_tune_epochs, distill=args.distill, **out,
                        reuse_base=not args.retrain_base, progress=not args.no_progress, seed=args.seed,
                        holdout=args.holdout, jitter=args.jitter, units=args.units)
    results = run_pipeline(settings)
    print(format_table(results))


def _inspect(args) -> None:
    from .vcz import size_report

    print(size_report(args.file).table())


def _evaluate(args) -> None:
    from .config import get_device
    from .data import mnist_loaders
    from .storage import load_model
    from .training import evaluate

    model_name, model = load_model(args.file)
    _, test_loader = mnist_loaders(device=get_device())
    result = evaluate(model, test_loader)
    print(f"{args.file}: {model_name}, test accuracy {result.accuracy:.2f}% "
          f"({result.correct}/{result.total} on {test_loader.source})")


def _export(args) -> None:
    import tempfile

    from .deploy import export_onnx, quantize_dynamic, quantize_static, small_model
    from .storage import load_model

    model_name, model = load_model(args.file)
    out = args.out or args.file.with_name(args.file.stem + (f"_int8_{args.int8}.onnx" if args.int8 else ".onnx"))
    if not args.int8:
        export_onnx(small_model(model, model_name), out)
    else:
        with tempfile.TemporaryDirectory() as folder:
            fp32 = export_onnx(small_model(model, model_name), Path(folder) / "fp32.onnx")
            if args.int8 == "dynamic":
                quantize_dynamic(fp32, out)
            else:
                from .data import mnist_loaders

                train_loader, _ = mnist_loaders()
                quantize_static(fp32, out, train_loader.images[:1000].cpu().numpy())
    print(f"{out}: {out.stat().st_size:,} bytes")


def _predict(args) -> None:
    import numpy as np

    from .images import read_digit
    from .runtime import load

    runtime = load(args.file)
    digits, probabilities = runtime.predict(np.stack([read_digit(path) for path in args.images]))
    for path, digit, probability in zip(args.images, digits, probabilities):
        print(f"{path}: {digit} ({100 * probability:.1f}%)")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        {"run": _run, "inspect": _inspect, "evaluate": _evaluate, "export": _export,
         "predict": _predict}[args.command](args)
    except (ValueError, TypeError, OSError, RuntimeError) as err:
        print(f"vietai-compress: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
