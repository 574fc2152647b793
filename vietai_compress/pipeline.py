"""The whole Deep Compression pipeline in one call, as run by ``vietai-compress run``.

train (or reuse) -> prune -> retrain (once, or in several rounds) -> share weights -> fine-tune centroids
-> encode -> decode -> verify.
Each step is a stage of ``stages`` (the same functions notebooks 01-06 call); this module chains them
and measures.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import torch
import torch.nn as nn

from .checkpoints import bits_label, run_name
from .checks import check_int, check_real
from .compression import model_size_report
from .config import SEED, get_device, mode_name, seed_everything
from .data import Jittered, expected_source, mnist_loaders
from .fileio import atomic_write_text
from .models import build_model, masked_layers, widths
from .pruning import keep_fractions
from .structured import keep_label, unit_fractions
from .quantization import bits_per_layer, check_bits
from .recipe import BATCH_SIZE, BITS, SENSITIVITY, fine_tune_epochs, model_epochs, model_jitter
from .stages import load_or_train_base_model, prune_and_retrain, prune_units_and_retrain, share_and_fine_tune
from .storage import load_compressed, save_compressed
from .training import Batches, evaluate
from .vcz import size_report


@dataclass
class Settings:
    """What ``run_pipeline`` does; the command line's options."""

    model: str = "lenet300"
    quick: bool = False
    sensitivity: float = SENSITIVITY
    bits: int | dict[str, int] = BITS  # one for every layer, or per layer
    rounds: int = 1  # prune + retrain rounds; 1 is the article's one-shot pruning
    keep: dict[str, float] | None = None  # fractions of weights kept per layer, instead of s x std
    out: Path = Path("artifacts")
    fine_tune_epochs: int | None = None  # None: 5 in full mode, one MNIST epoch of steps in quick mode
    distill: bool = False  # the dense base model teaches retraining and fine-tuning (notebook 07)
    reuse_base: bool = True
    progress: bool = True
    seed: int = SEED  # weight init and shuffling, of the base model and of the compression
    holdout: bool = True  # train on 55,000 images and measure every stage on the 5,000 held out too
    train_images: int | None = None  # only the first N training images (quick runs of notebook 09)
    epochs: int | None = None  # base training and retraining; None: the recipe's (``model_epochs``)
    jitter: int | None = None  # pixels of random shift of the training images; None: the recipe's (``model_jitter``)
    units: dict[str, float] | None = None  # fraction of the units each layer keeps before weight pruning (notebook 11)
    eval_images: int | None = None  # measure on the first N validation and test images only (quick runs of notebooks)

    @property
    def shift(self) -> int:
        """The pixels of jitter this run trains with: ``jitter``, or the recipe's for the model (2 for LeNet-5)."""
        return model_jitter(self.model) if self.jitter is None else self.jitter

    @property
    def folder(self) -> Path:
        """``out/<mode>/seed<N>-holdout`` (``-all`` when trained on all 60,000 images), then what else changes
        the training: ``-jitter<pixels>``, ``-images<N>``, ``-epochs<N>``. Models trained on other images,
        shifts, epochs or seeds never share a file; ``-eval<N>`` marks runs measured on fewer images."""
        parts = [f"seed{self.seed}", "holdout" if self.holdout else "all"]
        parts += [f"jitter{self.shift}"] if self.shift else []
        parts += [f"images{self.train_images}"] if self.train_images is not None else []
        parts += [f"epochs{self.epochs}"] if self.epochs is not None else []
        parts += [f"eval{self.eval_images}"] if self.eval_images is not None else []
        return self.out / mode_name(self.quick) / "-".join(parts)

    @property
    def name(self) -> str:
        """The name of the pruning and retraining, e.g. ``lenet300_s2`` (``run_name``)."""
        return run_name(self.model, self.sensitivity, self.rounds, self.keep, self.distill, self.units)

    @property
    def stem(self) -> str:
        """The name of this setting's files, e.g. ``lenet300_s2_b5``: ``name`` plus the bits, and ``_ft<N>``
        when the epochs of centroid fine-tuning are not the recipe's."""
        fine_tune = f"_ft{self.fine_tune_epochs}" if self.fine_tune_epochs is not None else ""
        return f"{self.name}_b{bits_label(self.bits)}{fine_tune}"

    def __post_init__(self):
        self.sensitivity = check_real(self.sensitivity, "sensitivity", 0.0)
        names = [name for name, _ in masked_layers(build_model(self.model))]  # raises for an unknown model
        if isinstance(self.bits, Mapping):
            self.bits = bits_per_layer(self.bits, names)
        else:
            self.bits = check_bits(self.bits)
        if self.keep is not None:
            self.keep = keep_fractions(self.keep, names)
        if self.units is not None:
            self.units = unit_fractions(self.units, names)
        self.rounds = check_int(self.rounds, "rounds", 1)
        self.seed = check_int(self.seed, "seed", 0)
        if self.train_images is not None:
            self.train_images = check_int(self.train_images, "train_images", 1)
        if self.epochs is not None:
            self.epochs = check_int(self.epochs, "epochs", 1)
        if self.eval_images is not None:
            self.eval_images = check_int(self.eval_images, "eval_images", 1)
        if self.jitter is not None:
            self.jitter = check_int(self.jitter, "jitter", 0, 8)
        if self.fine_tune_epochs is not None:
            self.fine_tune_epochs = check_int(self.fine_tune_epochs, "fine_tune_epochs", 0)
        self.out = Path(self.out)


@dataclass
class Stage:
    """One row of the final table."""

    stage: str
    accuracy: float
    nonzeros: int
    bytes: int
    ratio: float = field(default=0.0)
    val_accuracy: float | None = None  # on the held-out validation images, with ``Settings.holdout``


def _nonzero_weights(model: nn.Module) -> int:
    return sum(row.nonzeros for row in model_size_report(model).rows)


def run_pipeline(settings: Settings) -> dict:
    """Run every stage, write checkpoints, the compressed file and the results under ``settings.folder``.

    Returns the results: settings, one ``Stage`` per step (test accuracy, and validation accuracy with
    ``holdout``; nonzero weights, bytes, ratio to dense float32), the compressed file's path and the time
    it took to load and decode it. They are written to ``results.json`` (the last run) and to
    ``<file stem>.json`` beside the compressed file, with the seconds the whole run took.
    """
    started = time.perf_counter()
    quick, out = settings.quick, settings.folder
    device = get_device()
    seed_everything(settings.seed)
    loaders = mnist_loaders(BATCH_SIZE, device=device, quick=quick, seed=settings.seed, validation=settings.holdout)
    train_loader, test_loader = loaders[0], loaders[-1]
    val_loader = loaders[1] if settings.holdout else None
    if settings.eval_images is not None:
        test_loader = first_images(test_loader, settings.eval_images)
        val_loader = first_images(val_loader, settings.eval_images) if val_loader is not None else None
    if settings.train_images is not None:
        train_loader = first_images(train_loader, settings.train_images)
    if settings.shift:
        train_loader = Jittered(train_loader, settings.shift, seed=settings.seed)
    loaders = (train_loader, test_loader)
    epochs = settings.epochs or model_epochs(settings.model, quick, len(train_loader))
    stages: list[Stage] = []

    def record(stage: str, model: nn.Module, size: int) -> None:
        val = evaluate(model, val_loader, device).accuracy if val_loader is not None else None
        stages.append(Stage(stage, evaluate(model, test_loader, device).accuracy, _nonzero_weights(model), size,
                            val_accuracy=val))

    base_path = out / f"{settings.model}_base.pt"
    if not settings.reuse_base and base_path.exists():
        base_path.unlink()
    model = load_or_train_base_model(quick, base_path, loaders, device, settings.progress, settings.model, epochs,
                                     seed=settings.seed)
    dense_bytes = model_size_report(model).total_bytes("dense")
    record("base (dense float32)", model, dense_bytes)

    s, rounds, bits, keep = settings.sensitivity, settings.rounds, settings.bits, settings.keep
    teacher = copy.deepcopy(model).eval() if settings.distill else None
    if settings.units:
        prune_units_and_retrain(model, train_loader, quick, settings.units, device, settings.progress,
                                path=out / f"{settings.name}_units.pt", teacher=teacher, epochs=epochs)
        record(f"units kept ({keep_label(settings.units)}) + retrained, dense", model,
               model_size_report(model).total_bytes("dense"))
    prune_and_retrain(model, train_loader, quick, s, rounds, device, settings.progress,
                      path=out / f"{settings.name}_retrained.pt", keep=keep, teacher=teacher, epochs=epochs)
    in_rounds = f", {rounds} rounds" if rounds > 1 else ""
    in_rounds += ", distilled" if settings.distill else ""
    rule = f"s = {s:g}" if keep is None else "keep " + ", ".join(f"{n} {100 * f:g}%" for n, f in keep.items())
    record(f"pruned ({rule}) + retrained{in_rounds}, CSR", model, model_size_report(model).total_bytes("pruned"))

    ft_epochs = settings.fine_tune_epochs
    if ft_epochs is None:
        ft_epochs = fine_tune_epochs(quick, len(train_loader))
    share_and_fine_tune(model, train_loader, quick, bits, ft_epochs, device, settings.progress,
                        path=out / f"{settings.stem}_shared.pt", s=s, rounds=rounds, keep=keep,
                        teacher=teacher, epochs=epochs)
    fine_tuned = f", centroids fine-tuned ({ft_epochs} ep)" if ft_epochs else ""
    record(f"shared ({bits_label(bits)} bits{fine_tuned}, CSR)", model, model_size_report(model).total_bytes("shared"))

    path = save_compressed(model, out / f"{settings.stem}.vcz")
    start = time.perf_counter()
    decoded = build_model(settings.model, widths(model))
    load_compressed(path, decoded)
    decode_seconds = time.perf_counter() - start
    decoded.to(device)
    record("compressed file (Huffman)", decoded, path.stat().st_size)
    identical = _same_outputs(model, decoded, test_loader)
    if not identical:
        raise RuntimeError(f"{path} does not reproduce the model's outputs")

    for stage in stages:
        stage.ratio = dense_bytes / stage.bytes
    results = {
        "requested": {**asdict(settings), "out": str(settings.out)},
        "settings": {**asdict(settings), "out": str(settings.out), "epochs": epochs, "jitter": settings.shift,
                     "fine_tune_epochs": ft_epochs, "data": train_loader.source, "train_images": len(train_loader.labels)},
        "stages": [asdict(stage) for stage in stages],
        "file": str(path), "file_bytes": path.stat().st_size, "dense_bytes": dense_bytes,
        "decode_seconds": decode_seconds, "outputs_identical": identical,
        "size_report": size_report(path).rows(),
        "seconds": time.perf_counter() - started,  # the whole run, base training included when it trained one
    }
    text = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    atomic_write_text(path.with_suffix(".json"), text)
    atomic_write_text(out / "results.json", text)
    return results


def load_or_run(settings: Settings) -> dict:
    """The results of ``run_pipeline(settings)``: read from ``<folder>/<stem>.json`` when an earlier run of
    exactly these settings wrote it, on the data this run would read (``expected_source``: MNIST, or quick
    mode's digits), and its compressed file is still beside it; otherwise run now. The output folder may be
    named differently (relative or absolute): the results are found in it, and their ``file`` points there.
    Results written before jitter existed were trained on plain images (jitter 0)."""
    path = settings.folder / f"{settings.stem}.json"
    if path.is_file():
        results = json.loads(path.read_text())
        wanted = asdict(settings)
        saved = results.get("requested", {})
        done = results.get("settings", {})
        same_data = done.get("jitter", 0) == settings.shift and done.get("data") == expected_source(settings.quick)
        compressed = settings.folder / Path(results["file"]).name
        # jitter is compared as trained (same_data): a request for None means the model's own, so None and 0 are
        # one run for LeNet-300-100 and must not make each other run again
        ignored = ("out", "progress", "reuse_base", "jitter")
        if all(saved.get(key) == value for key, value in wanted.items() if key not in ignored) \
                and same_data and compressed.is_file():
            return {**results, "file": str(compressed)}
    return run_pipeline(settings)


def first_images(loader: Batches, count: int) -> Batches:
    """The first ``count`` images of ``loader`` (all of them when it holds fewer)."""
    return loader.subset(torch.arange(len(loader.labels)) < count)


@torch.no_grad()
def _same_outputs(a: nn.Module, b: nn.Module, loader: Batches) -> bool:
    """True when both models give bit-identical outputs on every test batch."""
    a.eval(), b.eval()
    return all(torch.equal(a(images), b(images)) for images, _ in loader)


def format_table(results: dict) -> str:
    """The pipeline's closing table: stage, test accuracy (and validation accuracy with ``holdout``), nonzero
    weights, size in bytes, ratio to dense."""
    width = max(28, *(len(s["stage"]) for s in results["stages"]))
    with_val = results["stages"][0].get("val_accuracy") is not None
    val_head = f" {'val acc':>9}" if with_val else ""
    lines = [f"{'stage':{width}}{val_head} {'test acc':>9} {'nonzero':>9} {'bytes':>11} {'ratio':>8}",
             "-" * (width + 41 + len(val_head))]
    for s in results["stages"]:
        val = f" {s['val_accuracy']:>8.2f}%" if with_val else ""
        lines.append(f"{s['stage']:{width}}{val} {s['accuracy']:>8.2f}% {s['nonzeros']:>9,} {s['bytes']:>11,} "
                     f"{s['ratio']:>7.1f}x")
    lines.append(f"decoded {results['file']} in {results['decode_seconds'] * 1000:.0f} ms; "
                 f"outputs identical to the model before encoding: {results['outputs_identical']}")
    return "\n".join(lines)
