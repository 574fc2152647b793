"""How many units each layer keeps, chosen on the validation split, then Deep Compression on top (notebook 11).

``unit_sensitivity`` prunes one hidden layer at a time to each fraction of its units (``structured.prune_units``,
L1 ranking), fine-tunes that smaller copy briefly and measures its validation error: each layer's sensitivity to
pruning, as Li et al. (2017) measure it. ``choose_units`` is the rule, fixed before the scan ran: for each layer,
the smallest fraction whose validation error stays within ``UNIT_TOLERANCE`` points of the base model's.
``load_or_scan`` saves a scan beside the pipeline's runs, so that ``scripts/structured_and_int8.py`` and the
notebook read the same one. Then Deep Compression's candidates on the smaller model (``dc_candidates``), chosen
by ``beyond.choose_for_ratio`` and repeated on fresh seeds, as notebooks 08 and 09 do.
"""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import torch.nn as nn
from tqdm.auto import tqdm

from .checks import check_real
from .compression import layer_costs
from .fileio import atomic_write_text
from .models import masked_layers
from .structured import prune_units
from .training import Batches, evaluate, make_optimizer, train

UNIT_FRACTIONS = (0.75, 0.5, 0.35, 0.25, 0.15)  # fractions of a layer's units tried, one layer at a time
UNIT_TOLERANCE = 0.20  # points of validation error a layer may lose against the base model (``choose_units``)
SCAN_EPOCHS = 1  # epochs of fine-tuning after each cut, before the validation error is read
# The fine-tuning's learning rate: small, as fine-tuning's is (notebook 04's centroids also use 1e-4). One epoch of a
# fresh Adam at training's 1e-3 moves the model out of its minimum: every cut then read 0.8-1.5% on validation
# against the base model's 0.48%, whatever its size, and the scan said nothing about the layers.
SCAN_LR = 1e-4


@dataclass
class ScanPoint:
    """One layer cut to ``keep`` of its units (``units`` left), fine-tuned: its validation error (%) and the
    multiply-accumulates per image of the whole model."""

    layer: str
    keep: float
    units: int
    val_error: float
    macs: int


def unit_sensitivity(model: nn.Module, train_loader: Batches, val_loader: Batches,
                     fractions: Sequence[float] = UNIT_FRACTIONS, epochs: int = SCAN_EPOCHS, device=None,
                     progress: bool = True, desc: str = "độ nhạy từng lớp") -> list[ScanPoint]:
    """Each hidden layer of ``model`` alone cut to each of ``fractions`` of its units, on a copy fine-tuned for
    ``epochs`` epochs on ``train_loader`` at ``SCAN_LR``; one ``ScanPoint`` per (layer, fraction). ``model`` is not
    changed."""
    hidden = [name for name, _ in masked_layers(model)][:-1]
    fractions = [check_real(f, "fractions", 0.0, 1.0, low_open=True) for f in fractions]
    trials = [(name, f) for name in hidden for f in fractions]
    points = []
    for name, fraction in tqdm(trials, desc=desc, disable=not progress, unit=" lần cắt"):
        smaller = copy.deepcopy(model)
        units = prune_units(smaller, {name: fraction})[name]
        train(smaller, train_loader, make_optimizer(smaller, lr=SCAN_LR), epochs, device, progress=False)
        error = 100.0 - evaluate(smaller, val_loader, device).accuracy
        points.append(ScanPoint(name, fraction, units, round(error, 2), sum(c.macs for c in layer_costs(smaller))))
    return points


def hundredths(percent: float) -> int:
    """``percent`` in hundredths of a point, rounded to an integer (validation errors are kept to 2 decimals)."""
    return round(percent * 100)


def choose_units(points: Sequence[ScanPoint], base_val_error: float,
                 tolerance: float = UNIT_TOLERANCE) -> dict[str, float]:
    """The rule fixed before the scan: for each layer, the smallest fraction whose validation error is at most
    ``base_val_error + tolerance`` (points); a layer where none is keeps all its units and is left out. The test
    set is not looked at."""
    # Compared in hundredths of a point, as integers: in floats 0.48 + 0.20 is 0.6799..., below an error of 0.68.
    bound = hundredths(check_real(base_val_error, "base_val_error", 0.0) + check_real(tolerance, "tolerance", 0.0))
    chosen = {}
    for layer in dict.fromkeys(p.layer for p in points):
        within = [p.keep for p in points if p.layer == layer and hundredths(p.val_error) <= bound]
        if within:
            chosen[layer] = min(within)
    return chosen


def load_or_scan(path: str | Path, model: nn.Module, train_loader: Batches, val_loader: Batches,
                 fractions: Sequence[float] = UNIT_FRACTIONS, epochs: int = SCAN_EPOCHS, device=None,
                 progress: bool = True, about: Mapping | None = None) -> list[ScanPoint]:
    """``unit_sensitivity``, read from the JSON at ``path`` when a scan of the same fractions, epochs and
    ``about`` (what the base model and its data were, e.g. the pipeline's settings) wrote it; else run and
    written there."""
    path = Path(path)
    key = {"fractions": list(fractions), "epochs": epochs, "lr": SCAN_LR, "about": dict(about or {})}
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            return [ScanPoint(**p) for p in saved["points"]]
    points = unit_sensitivity(model, train_loader, val_loader, fractions, epochs, device, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"key": key, "points": [asdict(p) for p in points]}, indent=2) + "\n")
    return points


# ---------------------------------------------------------------- Deep Compression on the smaller model
# The targets of notebook 11 for LeNet-5, each against a published result: an error no higher than the paper's
# dense LeNet-5 (Deep Compression, Table 1: 0.80%), and a file at least 64x smaller than dense float32 (Deep
# Compression reached 39x at 0.74%), while the model also runs faster.
STRUCTURED_TARGET = (64.0, 0.80)
# Weights kept per layer and bits, fixed before any ran: a smaller model has fewer weights to spare, so every
# candidate keeps more of each layer than notebook 08's settings (66/12/3/19%).
DC_KEEP = [
    {"conv1": 0.8, "conv2": 0.5, "fc1": 0.3, "fc2": 0.5},
    {"conv1": 0.7, "conv2": 0.35, "fc1": 0.15, "fc2": 0.3},
    {"conv1": 0.6, "conv2": 0.25, "fc1": 0.08, "fc2": 0.2},
]
DC_BITS = {"conv1": 5, "conv2": 5, "fc1": 4, "fc2": 4}
DC_ROUNDS = 3


# Then toward soft weight-sharing's LeNet-5 point (162x at 0.97%), which notebook 09 reached by pruning weights only
# (160.6x at 0.97%): at least 160x at no more than the paper's dense error. fc1 holds about two thirds of the
# 64x file's bytes, so each candidate, fixed before any ran, cuts fc1 harder or stores it in 3 bits. The rule is
# ``beyond.choose_for_ratio`` over these and ``DC_KEEP``'s runs; the choice is then run on seeds no choice has seen.
FRONTIER_TARGET = (160.0, 0.80)
FRONTIER_CANDIDATES = [
    ({"conv1": 0.7, "conv2": 0.35, "fc1": 0.12, "fc2": 0.3}, DC_BITS),
    ({"conv1": 0.7, "conv2": 0.35, "fc1": 0.15, "fc2": 0.3}, {**DC_BITS, "fc1": 3}),
    ({"conv1": 0.7, "conv2": 0.3, "fc1": 0.1, "fc2": 0.3}, DC_BITS),
]
FRONTIER_SEEDS = (46, 47, 48)  # after 43-45 (``beyond.FRESH_SEEDS``), which the first choice's test errors used


def structured_options(units: Mapping[str, float], keep: Mapping[str, float],
                       bits: Mapping[str, int] = DC_BITS) -> dict:
    """The pipeline's settings of LeNet-5 (images shifted by 2 pixels, as notebook 08) with ``units`` kept and
    retrained, then Deep Compression with ``keep``, ``bits`` and ``DC_ROUNDS``. The run records the smaller
    model before weight pruning too (its ``_units.pt`` checkpoint and its stage in the results)."""
    return {"model": "lenet5", "jitter": 2, "units": dict(units), "keep": dict(keep), "bits": dict(bits),
            "rounds": DC_ROUNDS}


def dc_candidates(units: Mapping[str, float], frontier: bool = False) -> list[tuple[str, dict]]:
    """(label, settings) of each ``DC_KEEP`` (or, with ``frontier``, each ``FRONTIER_CANDIDATES``) on the model
    with ``units`` kept."""
    from .beyond import describe

    chosen = FRONTIER_CANDIDATES if frontier else [(keep, DC_BITS) for keep in DC_KEEP]
    options = [structured_options(units, keep, bits) for keep, bits in chosen]
    return [(describe(o), o) for o in options]


# ---------------------------------------------------------------- the base model and its scan, as the pipeline sees them
def pipeline_base(quick: bool, out: Path | None = None, shrink: Mapping | None = None, progress: bool = True,
                  seed: int | None = None, shipped: bool = False):
    """The dense LeNet-5 of the pipeline's run on images shifted by 2 pixels (``pipeline.Run``: loaded, or
    trained and saved), with what it was trained and is judged on: (settings, model, training loader, validation
    loader, validation error in %). ``shipped``: class mode (``pipeline.Run``)."""
    from .config import SEED, artifacts_root
    from .pipeline import Run, Settings

    settings = Settings(model="lenet5", quick=quick, out=out or artifacts_root(), jitter=2, progress=progress,
                        seed=SEED if seed is None else seed, **(shrink or {}))
    run = Run(settings, shipped=shipped)
    base = run.base()
    return settings, base, run.train_loader(), run.val_loader, round(100.0 - evaluate(base, run.val_loader).accuracy, 2)


def scan_base(quick: bool, out: Path | None = None, shrink: Mapping | None = None, progress: bool = True,
              seed: int | None = None) -> tuple[float, list[ScanPoint]]:
    """``pipeline_base``'s validation error and its unit scan (``load_or_scan``, saved beside its checkpoint)."""
    from .config import get_device

    settings, base, train_loader, val_loader, base_val_error = pipeline_base(quick, out, shrink, progress, seed)
    about = {"folder": settings.folder.name, "epochs": settings.epochs}
    scan = load_or_scan(settings.folder / "lenet5_unit_scan.json", base, train_loader, val_loader, UNIT_FRACTIONS,
                        SCAN_EPOCHS, get_device(), progress, about)
    return base_val_error, scan


def smaller_model(point) -> tuple[nn.Module, dict]:
    """The model of a structured run (a ``beyond.Point`` with ``units`` in its settings) after its units were
    removed and it was retrained, before any weight was pruned (its ``_units.pt`` checkpoint), and that stage's row
    of the run's results (``accuracy`` and ``val_accuracy`` in %)."""
    from .checkpoints import load_checkpoint_model
    from .pipeline import Settings

    file = Path(point.file)
    results = json.loads(file.with_suffix(".json").read_text())
    stage = next(s for s in results["stages"] if s["stage"].startswith("units kept"))
    name = Settings(**point.settings).name
    return load_checkpoint_model(file.parent / f"{name}_units.pt", "lenet5").eval(), stage
