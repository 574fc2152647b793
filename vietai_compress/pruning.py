"""Magnitude pruning: the article's s x std rule, percentiles, sparsity reports.

Taught in notebook 02_pruning; iterative pruning (several prune + retrain rounds) in 03_retraining.
Masks only ever lose ones: pruning twice never revives a weight.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.prune as torch_prune
from tqdm.auto import tqdm

from .checks import check_int, check_layer_names, check_real
from .config import Device
from .models import masked_layers
from .training import Batches, LossFn, evaluate, make_optimizer, nll_loss, train

__all__ = [
    "masked_layers", "PruneRecord", "std_mask", "prune_by_std", "prune_by_percentile", "layer_std",
    "SparsityReport", "sparsity_report", "print_nonzeros", "StdPruningMethod",
    "prune_by_std_torch", "sensitivity_scan", "std_kept_counts", "prune_to_counts", "round_counts",
    "split_epochs", "PruningRound", "keep_counts", "prune_in_rounds", "prune_iteratively",
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


def layer_std(weight: torch.Tensor) -> float:
    """Population standard deviation of every entry of ``weight`` (``np.std``, as in the article)."""
    return weight.detach().double().std(correction=0).item()


@torch.no_grad()
def std_mask(weight: torch.Tensor, s: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The article's rule, the one place it is written: keep |w| >= s x std(w), and only where ``mask`` is 1.

    weight: any shape (out, in) or (out, in, kh, kw); std over all its entries, pruned zeros included,
    as the article's ``np.std(weight)``. Returns a 0/1 mask of the same shape and dtype as ``mask``
    (float32 when no mask is given). Used by ``prune_by_std``, ``StdPruningMethod`` and ``std_kept_counts``.
    """
    s = check_real(s, "s", 0.0)
    keep = weight.abs() >= s * layer_std(weight)
    if mask is None:
        return keep.float()
    return mask * keep.to(mask.dtype)


@torch.no_grad()
def _apply_mask(name: str, layer: nn.Module, keep: torch.Tensor, threshold: float) -> PruneRecord:
    """The mask loses the ones ``keep`` drops; pruned weights become exactly 0. Masks never gain ones."""
    layer.mask.mul_(keep.to(layer.mask.dtype))
    layer.weight.mul_(layer.mask)
    kept = int(layer.mask.count_nonzero().item())
    return PruneRecord(name, float(threshold), kept, layer.mask.numel())


def prune_by_std(model: nn.Module, s: float, layers: Iterable[str] | None = None) -> list[PruneRecord]:
    """Prune every masked layer (or only ``layers``) with threshold = s x std of that layer's weights.

    The article's rule (Han et al.'s "quality parameter" s). ``s`` must be a finite number >= 0.
    Returns one ``PruneRecord`` per pruned layer.
    """
    s = check_real(s, "s", 0.0)
    return [_apply_mask(name, layer, std_mask(layer.weight, s), s * layer_std(layer.weight))
            for name, layer in _require_masked_layers(model, layers)]


def prune_by_percentile(model: nn.Module, q: float, layers: Iterable[str] | None = None) -> list[PruneRecord]:
    """Prune the q% smallest-magnitude surviving weights of every masked layer (q in [0, 100])."""
    q = check_real(q, "q", 0.0, 100.0)
    records = []
    for name, layer in _require_masked_layers(model, layers):
        alive = layer.weight.detach()[layer.mask.bool()].abs()
        threshold = float(np.percentile(alive.cpu().numpy(), q)) if alive.numel() else 0.0
        records.append(_apply_mask(name, layer, layer.weight.abs() >= threshold, threshold))
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
    """Print the nonzero table of the article (its columns, in Vietnamese: nonzeros, pruned, shape; then alive,
    pruned, total and the compression rate) and return the report (notebooks 01-03)."""
    report = sparsity_report(model)
    for name, nonzeros, total, shape in report.rows:
        print(f"{name:20} | khác 0 = {nonzeros:7,} / {total:7,} ({100 * nonzeros / total:6.2f}%) "
              f"| đã cắt = {total - nonzeros:7,} | kích thước = {tuple(shape)}")
    print(f"còn lại: {report.alive:,}, đã cắt: {report.pruned:,}, tổng: {report.total:,}, "
          f"tỉ lệ nén: {report.compression_rate:.2f}x ({report.pruned_percent:.2f}% đã cắt)")
    return report


class StdPruningMethod(torch_prune.BasePruningMethod):
    """The s x std rule (``std_mask``) as a ``torch.nn.utils.prune`` method: keep |w| >= s * std(w)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, s: float):
        self.s = check_real(s, "s", 0.0)

    def compute_mask(self, t: torch.Tensor, default_mask: torch.Tensor) -> torch.Tensor:
        return std_mask(t, self.s, default_mask)


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


def sensitivity_scan(model: nn.Module, loader: Batches, s_values: Iterable[float], device: Device = None,
                     progress: bool = True, desc: str = "độ nhạy") -> dict[str, list[float]]:
    """Accuracy (%) when each masked layer alone is pruned with each s, without retraining.

    ``model`` is not changed (every point prunes a copy). Returns ``{layer_name: [accuracy per s]}``.
    """
    s_values = [check_real(s, "s_values", 0.0) for s in s_values]
    names = [name for name, _ in _require_masked_layers(model)]
    scan = {name: [] for name in names}
    bar = tqdm(total=len(names) * len(s_values), desc=desc, disable=not progress, unit=" lần đo")
    for name in names:
        for s in s_values:
            pruned = copy.deepcopy(model)
            prune_by_std(pruned, s, layers=[name])
            scan[name].append(evaluate(pruned, loader, device).accuracy)
            bar.update(1)
    bar.close()
    return scan


@torch.no_grad()
def std_kept_counts(model: nn.Module, s: float) -> dict[str, int]:
    """How many weights of each masked layer ``prune_by_std(model, s)`` would keep; ``model`` is unchanged."""
    return {name: int(std_mask(layer.weight, s, layer.mask).count_nonzero().item())
            for name, layer in _require_masked_layers(model)}


def _top_k_keeping_each_unit(magnitude: torch.Tensor, k: int) -> torch.Tensor:
    """A 0/1 mask (out, ...) of the k largest entries of ``magnitude`` (pruned entries are -1).

    When k allows it, every output unit (row) that still has a weight keeps its largest one first:
    a unit with no input left is dead, and in the last layer that is a digit the network can never
    predict. The rest of the k go to the largest remaining magnitudes of the whole layer.
    """
    rows = magnitude.reshape(len(magnitude), -1)
    best = rows.max(dim=1)
    alive_rows = (best.values >= 0).nonzero().flatten()
    keep = torch.zeros_like(rows)
    if k >= len(alive_rows):
        keep[alive_rows, best.indices[alive_rows]] = 1.0
    rest = rows.masked_fill(keep.bool(), -1.0).flatten()
    keep.view(-1)[rest.topk(k - int(keep.sum().item())).indices] = 1.0
    return keep.view_as(magnitude)


@torch.no_grad()
def prune_to_counts(model: nn.Module, counts: dict[str, int]) -> list[PruneRecord]:
    """Keep only ``counts[name]`` surviving weights of each named masked layer, the largest in magnitude.

    Exact counts (``topk``), unlike a threshold, so several rounds can end on exactly the counts
    a one-shot ``prune_by_std`` keeps. Each output unit keeps its largest weight when the count allows
    it (``_top_k_keeping_each_unit``). Already pruned weights stay pruned, however large they grew.
    """
    records = []
    for name, layer in _require_masked_layers(model, counts):
        alive = int(layer.mask.count_nonzero().item())
        k = check_int(counts[name], f"counts[{name!r}] (the weights to keep)", 0, alive)
        magnitude = layer.weight.abs().masked_fill(layer.mask == 0, -1.0)
        keep = _top_k_keeping_each_unit(magnitude, k)
        threshold = magnitude[keep.bool()].min().item() if k else math.inf
        records.append(_apply_mask(name, layer, keep, threshold))
    return records


def round_counts(start: dict[str, int], target: dict[str, int], rounds: int) -> list[dict[str, int]]:
    """Weights each layer keeps after every round, falling geometrically from ``start`` to ``target``.

    Round r of R keeps ``start * (target / start) ** (r / R)``, so every round removes the same share of
    the weights still alive; the last round keeps exactly ``target``.
    """
    rounds = check_int(rounds, "rounds", 1)
    if set(start) != set(target):
        raise ValueError(f"start and target must name the same layers, got {sorted(start)} and {sorted(target)}")
    for name in target:
        check_int(target[name], f"target[{name!r}]", 0, start[name])
    schedule = []
    for r in range(1, rounds + 1):
        schedule.append({name: round(n * (target[name] / n) ** (r / rounds)) if n else 0
                         for name, n in start.items()})
    schedule[-1] = dict(target)
    return schedule


def split_epochs(epochs: int, rounds: int) -> list[int]:
    """Share ``epochs`` between ``rounds`` as evenly as possible, earlier rounds first.

    Each round gets at least 1 epoch (so the total can exceed ``epochs``), unless ``epochs`` is 0.
    """
    epochs, rounds = check_int(epochs, "epochs", 0), check_int(rounds, "rounds", 1)
    if epochs == 0:
        return [0] * rounds
    share, extra = divmod(epochs, rounds)
    return [max(1, share + (r < extra)) for r in range(rounds)]


@dataclass
class PruningRound:
    """One round of ``prune_iteratively``: weights kept (all masked layers), epochs retrained, accuracy
    after the round (None without an ``eval_loader``) and the training history of the round."""

    round: int
    kept: int
    epochs: int
    accuracy: float | None
    history: dict[str, list[float]]


def keep_counts(model: nn.Module, keep: Mapping[str, float]) -> dict[str, int]:
    """Weights each masked layer keeps for a fraction of its weights per layer, e.g. ``{"fc1": 0.04, ...}``.

    ``keep`` names every masked layer once, each with a fraction in (0, 1]; the count is
    ``round(fraction * weights)``, at least 1 and at most the weights still alive.
    """
    layers = _require_masked_layers(model)
    keep = keep_fractions(keep, [name for name, _ in layers])
    counts = {}
    for name, layer in layers:
        alive = int(layer.mask.count_nonzero().item())
        counts[name] = min(alive, max(1, round(keep[name] * layer.mask.numel())))
    return counts


def keep_fractions(keep: Mapping[str, float], names: list[str]) -> dict[str, float]:
    """``keep`` checked: it names each of ``names`` once, with a fraction in (0, 1]."""
    check_layer_names(keep, names, "keep")
    return {name: check_real(keep[name], f"keep[{name!r}]", 0.0, 1.0, low_open=True) for name in names}


def prune_in_rounds(model: nn.Module, target: dict[str, int], rounds: int, loader: Batches, epochs: int,
                    device: Device = None, progress: bool = True, eval_loader: Batches | None = None,
                    loss_fn: LossFn = nll_loss, desc: str = "vòng") -> list[PruningRound]:
    """Reach ``target`` weights per masked layer in ``rounds`` prune + retrain rounds (``round_counts``).

    The ``epochs`` of retraining are shared between the rounds (``split_epochs``), each with a fresh Adam.
    Han et al. (2015) found that pruning a little at a time loses less accuracy. Images (B, 1, 28, 28)
    from ``loader``; the accuracy of each round is measured only when ``eval_loader`` is given. ``loss_fn``
    is ``train``'s (a distillation loss when a dense teacher guides the retraining, notebook 07).
    """
    start = {name: int(layer.mask.count_nonzero().item()) for name, layer in _require_masked_layers(model)}
    history = []
    for r, (counts, round_epochs) in enumerate(zip(round_counts(start, target, rounds),
                                                   split_epochs(epochs, rounds)), start=1):
        prune_to_counts(model, counts)
        trained = train(model, loader, make_optimizer(model), round_epochs, device, progress,
                        desc=f"{desc} {r}/{rounds}", loss_fn=loss_fn)
        accuracy = evaluate(model, eval_loader, device).accuracy if eval_loader is not None else None
        history.append(PruningRound(r, sum(counts.values()), round_epochs, accuracy, trained))
    return history


def prune_iteratively(model: nn.Module, s: float, rounds: int, loader: Batches, epochs: int,
                      device: Device = None, progress: bool = True,
                      eval_loader: Batches | None = None, desc: str = "vòng") -> list[PruningRound]:
    """Reach the sparsity of ``prune_by_std(model, s)`` in ``rounds`` prune + retrain rounds (notebook 03).

    Each layer ends with exactly as many weights as the one-shot rule keeps on the model given
    (``std_kept_counts``); see ``prune_in_rounds``.
    """
    return prune_in_rounds(model, std_kept_counts(model, s), rounds, loader, epochs, device, progress, eval_loader,
                           desc=desc)
