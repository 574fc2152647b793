"""Magnitude pruning: the article's s x std rule, percentiles, sparsity reports.

Taught in notebook 02_pruning. Masks only ever lose ones: pruning twice never revives a weight.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from numbers import Real
from typing import Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.prune as torch_prune
from tqdm.auto import tqdm

from .models import masked_layers
from .training import evaluate

__all__ = [
    "masked_layers", "PruneRecord", "prune_by_std", "prune_by_percentile", "layer_std",
    "SparsityReport", "sparsity_report", "print_nonzeros", "StdPruningMethod",
    "prune_by_std_torch", "sensitivity_scan",
]


@dataclass
class PruneRecord:
    """One layer's pruning: its name, the threshold used, weights kept and in total."""

    name: str
    threshold: float
    kept: int
    total: int

    @property
    def pruned_percent(self) -> float:
        return 100.0 * (self.total - self.kept) / self.total


def _require_masked_layers(model: nn.Module, layers: Iterable[str] | None = None):
    found = masked_layers(model)
    if not found:
        raise ValueError("model has no masked layer (MaskedLinear / MaskedConv2d); "
                         "build it with masks, e.g. LeNet300100(mask=True)")
    if layers is None:
        return found
    wanted = list(layers)
    names = [name for name, _ in found]
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise ValueError(f"layers must name masked layers {names}, got unknown {unknown}")
    return [(name, layer) for name, layer in found if name in wanted]


def check_number(value, argument: str, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{argument} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        accepted = f"a finite number >= {low}" if high == math.inf else f"in [{low}, {high}]"
        raise ValueError(f"{argument} must be {accepted}, got {value}")
    return value


def layer_std(weight: torch.Tensor) -> float:
    """Population standard deviation of every entry of ``weight`` (``np.std``, as in the article)."""
    return weight.detach().double().std(correction=0).item()


@torch.no_grad()
def _prune_layer(name: str, layer: nn.Module, threshold: float) -> PruneRecord:
    """Drop weights with |w| < threshold: the mask loses ones, pruned weights become exactly 0."""
    keep = layer.weight.abs() >= threshold
    layer.mask.mul_(keep.to(layer.mask.dtype))
    layer.weight.mul_(layer.mask)
    kept = int(layer.mask.count_nonzero().item())
    return PruneRecord(name, float(threshold), kept, layer.mask.numel())


def prune_by_std(model: nn.Module, s: float, layers: Iterable[str] | None = None) -> list[PruneRecord]:
    """Prune every masked layer (or only ``layers``) with threshold = s x std of that layer's weights.

    The article's rule (Han et al.'s "quality parameter" s). ``s`` must be a finite number >= 0.
    Returns one ``PruneRecord`` per pruned layer.
    """
    s = check_number(s, "s", 0.0)
    return [_prune_layer(name, layer, s * layer_std(layer.weight))
            for name, layer in _require_masked_layers(model, layers)]


def prune_by_percentile(model: nn.Module, q: float, layers: Iterable[str] | None = None) -> list[PruneRecord]:
    """Prune the q% smallest-magnitude surviving weights of every masked layer (q in [0, 100])."""
    q = check_number(q, "q", 0.0, 100.0)
    records = []
    for name, layer in _require_masked_layers(model, layers):
        alive = layer.weight.detach()[layer.mask.bool()].abs()
        threshold = float(np.percentile(alive.cpu().numpy(), q)) if alive.numel() else 0.0
        records.append(_prune_layer(name, layer, threshold))
    return records


@dataclass
class SparsityReport:
    """Nonzero counts per parameter, as ``(name, nonzeros, total, shape)`` rows, and their totals."""

    rows: list[tuple[str, int, int, tuple[int, ...]]]

    @property
    def total(self) -> int:
        return sum(row[2] for row in self.rows)

    @property
    def alive(self) -> int:
        return sum(row[1] for row in self.rows)

    @property
    def pruned(self) -> int:
        return self.total - self.alive

    @property
    def compression_rate(self) -> float:
        """total / alive: the article's "compression rate" (it counts nonzeros only)."""
        return self.total / self.alive if self.alive else math.inf

    @property
    def pruned_percent(self) -> float:
        return 100.0 * self.pruned / self.total


def sparsity_report(model: nn.Module) -> SparsityReport:
    """Count the nonzero entries of every parameter (weights and biases, as the article does)."""
    rows = [(name, int(p.count_nonzero().item()), p.numel(), tuple(p.shape))
            for name, p in model.named_parameters()]
    return SparsityReport(rows)


def print_nonzeros(model: nn.Module) -> SparsityReport:
    """Print the nonzero table in the article's format and return the report."""
    report = sparsity_report(model)
    for name, nonzeros, total, shape in report.rows:
        print(f"{name:20} | nonzeros = {nonzeros:7} / {total:7} ({100 * nonzeros / total:6.2f}%) "
              f"| total_pruned = {total - nonzeros:7} | shape = {shape}")
    print(f"alive: {report.alive}, pruned : {report.pruned}, total: {report.total}, "
          f"Compression rate : {report.compression_rate:10.2f}x  ({report.pruned_percent:6.2f}% pruned)")
    return report


class StdPruningMethod(torch_prune.BasePruningMethod):
    """The s x std rule as a ``torch.nn.utils.prune`` method: keep |w| >= s * std(w)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, s: float):
        self.s = check_number(s, "s", 0.0)

    def compute_mask(self, t: torch.Tensor, default_mask: torch.Tensor) -> torch.Tensor:
        threshold = self.s * layer_std(t)
        return default_mask * (t.abs() >= threshold).to(default_mask.dtype)


def prune_by_std_torch(model: nn.Module, s: float) -> dict[str, torch.Tensor]:
    """Apply ``StdPruningMethod`` to every ``nn.Linear`` / ``nn.Conv2d`` weight of a plain model.

    Returns ``{layer_name: weight_mask}``; the model then carries PyTorch's ``weight_orig`` and
    ``weight_mask`` (see ``torch.nn.utils.prune``).
    """
    masks = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            StdPruningMethod.apply(module, "weight", s=s)
            masks[name] = module.weight_mask.detach().clone()
    if not masks:
        raise ValueError("model has no nn.Linear or nn.Conv2d layer to prune")
    return masks


def sensitivity_scan(model: nn.Module, loader, s_values: Iterable[float], device=None,
                     progress: bool = True) -> dict[str, list[float]]:
    """Accuracy (%) when each masked layer alone is pruned with each s, without retraining.

    ``model`` is not changed (every point prunes a copy). Returns ``{layer_name: [accuracy per s]}``.
    """
    s_values = [check_number(s, "s_values", 0.0) for s in s_values]
    names = [name for name, _ in _require_masked_layers(model)]
    scan = {name: [] for name in names}
    bar = tqdm(total=len(names) * len(s_values), desc="sensitivity", disable=not progress)
    for name in names:
        for s in s_values:
            pruned = copy.deepcopy(model)
            prune_by_std(pruned, s, layers=[name])
            scan[name].append(evaluate(pruned, loader, device).accuracy)
            bar.update(1)
    bar.close()
    return scan
