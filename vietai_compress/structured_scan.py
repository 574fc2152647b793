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


def structured_options(units: Mapping[str, float], keep: Mapping[str, float],
                       bits: Mapping[str, int] = DC_BITS) -> dict:
    """The pipeline's settings of LeNet-5 (images shifted by 2 pixels, as notebook 08) with ``units`` kept and
    retrained, then Deep Compression with ``keep``, ``bits`` and ``DC_ROUNDS``. The run records the smaller
    model before weight pruning too (its ``_units.pt`` checkpoint and its stage in the results)."""
    return {"model": "lenet5", "jitter": 2, "units": dict(units), "keep": dict(keep), "bits": dict(bits),
            "rounds": DC_ROUNDS}


def dc_candidates(units: Mapping[str, float]) -> list[tuple[str, dict]]:
    """(label, settings) of each ``DC_KEEP`` on the model with ``units`` kept."""
    from .beyond import describe

    options = [structured_options(units, keep) for keep in DC_KEEP]
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


# ---------------------------------------------------------------- class mode: the saved runs (notebooks 11 and 12)
MEASUREMENT = "structured_and_int8"  # ``measured/<name>.json``, written by ``scripts/structured_and_int8.py``


def saved_scan(saved: Mapping) -> list[ScanPoint]:
    """The unit scan recorded in ``saved`` (the measurement ``MEASUREMENT``): one ``ScanPoint`` per row. Class mode
    of notebook 11 reads it instead of scanning again."""
    return [ScanPoint(**row) for row in saved["scan"]]


def saved_points(rows: Sequence[Mapping]) -> list:
    """``beyond.Point`` objects from the rows of the measurement ``MEASUREMENT`` (``candidates``, ``over_seeds``):
    the rows record every field but the file, which stays on the machine that ran it (``file`` is
    ``""``). Class mode of notebooks 11 and 12."""
    from .beyond import Point

    return [Point(**row, file="") for row in rows]


def choose_or_largest(points: Sequence, min_ratio: float):
    """``beyond.choose_for_ratio``, or, when no point reaches ``min_ratio`` (quick mode's tiny runs only), the point
    with the largest ratio: (point, True when the rule chose it). Notebooks 11 and 12."""
    from .beyond import choose_for_ratio

    chosen = choose_for_ratio(points, min_ratio)
    return (chosen, True) if chosen is not None else (max(points, key=lambda p: p.ratio), False)


def chosen_structured(quick: bool, train: bool, out: Path | None = None, shrink: Mapping | None = None,
                      progress: bool = True):
    """Notebook 11's choice, for notebook 12: the ``beyond.Point`` of the Deep Compression candidate chosen on the
    model with the scanned units removed (``STRUCTURED_TARGET``). Class mode (full mode, not ``train``): read from
    the measurement ``MEASUREMENT`` (its ``file`` is ``""``). Otherwise the scan and the candidates, loaded when
    notebook 11 or ``scripts/structured_and_int8.py`` saved them, else run (``scan_base``, ``beyond.run_candidates``);
    in quick mode, when no candidate reaches the ratio, the most compressed one."""
    from . import measured
    from .beyond import run_candidates

    if not quick and not train:
        saved = measured.load(MEASUREMENT)
        return next(p for p in saved_points(saved["candidates"]) if p.label == saved["chosen"])
    base_val_error, scan = scan_base(quick, out, shrink, progress)
    points = run_candidates(dc_candidates(choose_units(scan, base_val_error)), quick=quick, out=out,
                            progress=progress, shrink=dict(shrink) if shrink else None)
    return choose_or_largest(points, STRUCTURED_TARGET[0])[0]


# Notebook 11's targets for the smaller model (whole units removed, retrained, before any weight is pruned), fixed
# before the runs, each with its origin. ``error``: its test error (%) no higher than Deep Compression's dense LeNet-5
# (``references.DEEP_COMPRESSION_LENET5``, 0.80%). ``macs``: at least 2x fewer multiply-accumulates per image than the
# dense model, beyond the 34% of VGG-16's operations (1.5x) that Li et al. (2017, ``references.LI_2017``) removed on
# CIFAR-10 with no loss: MNIST is a far easier task for LeNet-5. ``speed_256``: in PyTorch at batch 256, where the
# arithmetic is most of a call, at least as much faster as 2x fewer operations allow; ``speed_1``: at batch 1,
# where a call's fixed cost is most of it (notebook 10), faster at all.
LI_2017_VGG16_REMOVED = 0.34  # the share of VGG-16's operations Li et al. (2017) removed on CIFAR-10
UNITS_TARGET = {"error": 0.80, "macs": 2.0, "speed_256": 2.0, "speed_1": 1.0}
