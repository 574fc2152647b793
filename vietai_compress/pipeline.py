"""The whole Deep Compression pipeline in one call, as run by ``vietai-compress run``.

train (or reuse) -> prune -> retrain (once, or in several rounds) -> share weights -> fine-tune centroids
-> encode -> decode -> verify.
Each step is a helper taught in notebooks 01-06; this module only chains them and measures.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .checkpoints import load_or_train_base_model, run_meta, save_checkpoint
from .compression import model_size_report
from .config import get_device, mode_name, seed_everything
from .data import mnist_loaders
from .fileio import atomic_write_text
from .models import build_model
from .pruning import check_number, check_rounds, prune_by_std, prune_iteratively
from .quantization import check_bits, fine_tune_centroids, fine_tune_epochs, share_weights
from .storage import load_compressed, save_compressed, size_report
from .training import ARTICLE_BATCH_SIZE, article_epochs, check_epochs, evaluate, make_optimizer, train


@dataclass
class Settings:
    """What ``run_pipeline`` does; the command line's options."""

    model: str = "lenet300"
    quick: bool = False
    sensitivity: float = 2.0
    bits: int = 5
    rounds: int = 1  # prune + retrain rounds; 1 is the article's one-shot pruning
    out: Path = Path("artifacts")
    fine_tune_epochs: int | None = None  # None: 5 in full mode, one MNIST epoch of steps in quick mode
    reuse_base: bool = True
    progress: bool = True

    def __post_init__(self):
        self.sensitivity = check_number(self.sensitivity, "sensitivity", 0.0)
        self.bits = check_bits(self.bits)
        check_rounds(self.rounds)
        if self.fine_tune_epochs is not None:
            check_epochs(self.fine_tune_epochs)
        self.out = Path(self.out)
        build_model(self.model)  # raises for an unknown model name


@dataclass
class Stage:
    """One row of the final table."""

    stage: str
    accuracy: float
    nonzeros: int
    bytes: int
    ratio: float = field(default=0.0)


def _nonzero_weights(model) -> int:
    return sum(row.nonzeros for row in model_size_report(model).rows)


def run_pipeline(settings: Settings) -> dict:
    """Run every step, write checkpoints, the compressed file and ``results.json`` under ``out/<mode>/``.

    Returns the results: settings, one ``Stage`` per step (test accuracy, nonzero weights, bytes, ratio
    to dense float32), the compressed file's path and the time it took to load and decode it.
    """
    out = settings.out / mode_name(settings.quick)
    device = get_device()
    seed_everything()
    loaders = mnist_loaders(ARTICLE_BATCH_SIZE, device=device, quick=settings.quick)
    train_loader, test_loader = loaders
    epochs = article_epochs(settings.quick, len(train_loader))
    stages: list[Stage] = []

    def record(stage: str, model, size: int) -> None:
        stages.append(Stage(stage, evaluate(model, test_loader, device).accuracy, _nonzero_weights(model), size))

    base_path = out / f"{settings.model}_base.pt"
    if not settings.reuse_base and base_path.exists():
        base_path.unlink()
    model = load_or_train_base_model(settings.quick, base_path, loaders, device, settings.progress)
    dense_bytes = model_size_report(model).total_bytes("dense")
    record("base (dense float32)", model, dense_bytes)

    name = f"{settings.model}_s{settings.sensitivity:g}" + (f"_r{settings.rounds}" if settings.rounds > 1 else "")
    if settings.rounds == 1:
        prune_by_std(model, settings.sensitivity)
        record(f"pruned (s = {settings.sensitivity:g}, CSR)", model, model_size_report(model).total_bytes("pruned"))
        train(model, train_loader, make_optimizer(model), epochs, device, settings.progress, desc="retraining")
        record("retrained (CSR)", model, model_size_report(model).total_bytes("pruned"))
    else:
        prune_iteratively(model, settings.sensitivity, settings.rounds, train_loader, epochs, device,
                          settings.progress)
        record(f"pruned + retrained, {settings.rounds} rounds", model, model_size_report(model).total_bytes("pruned"))
    save_checkpoint(model, out / f"{name}_retrained.pt", **run_meta(settings.quick, train_loader),
                    s=settings.sensitivity, rounds=settings.rounds)

    codebooks = share_weights(model, settings.bits)
    record(f"shared ({settings.bits} bits, CSR)", model, model_size_report(model, codebooks).total_bytes("shared"))
    ft_epochs = settings.fine_tune_epochs
    if ft_epochs is None:
        ft_epochs = fine_tune_epochs(settings.quick, len(train_loader))
    if ft_epochs:
        fine_tune_centroids(model, codebooks, train_loader, ft_epochs, device=device, progress=settings.progress)
        record(f"centroids fine-tuned ({ft_epochs} ep)", model, model_size_report(model, codebooks).total_bytes("shared"))

    path = save_compressed(model, out / f"{name}_b{settings.bits}.vcz", codebooks)
    start = time.perf_counter()
    decoded = build_model(settings.model)
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
        "settings": {**asdict(settings), "out": str(settings.out), "epochs": epochs, "fine_tune_epochs": ft_epochs,
                     "data": train_loader.source},
        "stages": [asdict(stage) for stage in stages],
        "file": str(path), "file_bytes": path.stat().st_size, "dense_bytes": dense_bytes,
        "decode_seconds": decode_seconds, "outputs_identical": identical,
        "size_report": size_report(path).rows(),
    }
    atomic_write_text(out / "results.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results


@torch.no_grad()
def _same_outputs(a, b, loader) -> bool:
    """True when both models give bit-identical outputs on every test batch."""
    a.eval(), b.eval()
    return all(torch.equal(a(images), b(images)) for images, _ in loader)


def format_table(results: dict) -> str:
    """The pipeline's closing table: stage, test accuracy, nonzero weights, size in bytes, ratio to dense."""
    lines = [f"{'stage':28} {'test acc':>9} {'nonzero':>9} {'bytes':>11} {'ratio':>8}", "-" * 69]
    for s in results["stages"]:
        lines.append(f"{s['stage']:28} {s['accuracy']:>8.2f}% {s['nonzeros']:>9,} {s['bytes']:>11,} "
                     f"{s['ratio']:>7.1f}x")
    lines.append(f"decoded {results['file']} in {results['decode_seconds'] * 1000:.0f} ms; "
                 f"outputs identical to the model before encoding: {results['outputs_identical']}")
    return "\n".join(lines)
