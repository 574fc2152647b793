"""Sliders: move s (notebook 02) or the bits per weight (notebook 04) and watch a layer change.

Each slider runs a pure callback that computes what its figure shows (``pruning_view``, ``sharing_view``), then
draws it (``draw_pruning_view``, ``draw_sharing_view``); the model given is never changed. For the committed
notebook and viewers without a kernel, ``pruning_panels`` and ``sharing_panels`` draw the same views, from the same
callbacks, side by side in one figure. ipywidgets is imported inside the slider functions only, so this module
imports without a display. What a reader sees is Vietnamese, as in ``plots``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
from matplotlib.figure import Figure

from .checks import check_int, check_real
from .config import Device
from .pruning import prune_by_std, std_mask
from .quantization import check_bits, cluster_values, weight_layers
from .recipe import BITS, SENSITIVITY
from .training import Batches, evaluate

S_VALUES = tuple(0.25 * i for i in range(13))  # the s slider: 0, 0.25, ..., 3
MAX_PANELS = 6
KEPT_COLOUR, PRUNED_COLOUR = "tab:blue", "#bdbdbd"


# ---------------------------------------------------------------- shared helpers
def _layer(model: nn.Module, layer: str) -> nn.Module:
    """The masked or shared layer ``layer`` of ``model``; a clear error naming the layers it has."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers = dict(weight_layers(model))
    if not isinstance(layer, str) or layer not in layers:
        raise ValueError(f"layer must be one of the model's masked or shared layers {list(layers)}, got {layer!r}")
    return layers[layer]


@torch.no_grad()
def alive_weights(model: nn.Module, layer: str) -> np.ndarray:
    """The nonzero weights of ``layer`` that its mask keeps, flattened (n,) float64, in row-major order (the values
    ``quantization.layer_codebook`` clusters)."""
    module = _layer(model, layer)
    flat = (module.weight * module.mask).detach().flatten().cpu()
    return flat[flat != 0].double().numpy()


def _axes(ax, figsize=(8, 3.8)):
    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=figsize)


def _percent(share: float) -> str:
    return f"{100 * share:.2f}%"


def _even_steps(values: Sequence[float], argument: str, low: float, integer: bool = False) -> tuple[float, ...]:
    """(min, max, step) of an increasing, evenly spaced sequence of at least 2 values >= ``low``: a slider's range."""
    check = check_int if integer else check_real
    values = [check(v, argument, low) for v in values]
    steps = np.diff(values)
    if len(values) < 2 or np.any(steps <= 0) or not np.allclose(steps, steps[0]):
        raise ValueError(f"{argument} must be at least 2 increasing, evenly spaced values (a slider's positions), "
                         f"got {values}")
    return values[0], values[-1], steps[0].item()


def _panel_values(values: Sequence, argument: str, check) -> list:
    values = [check(v) for v in values]
    if not 0 < len(values) <= MAX_PANELS:
        raise ValueError(f"{argument} must hold between 1 and {MAX_PANELS} values (one panel each), got {len(values)}")
    return values


# ---------------------------------------------------------------- notebook 02: the s x std rule
@dataclass(frozen=True)
class PruningView:
    """What pruning a copy of a model with ``prune_by_std(copy, s)`` gives, per masked layer: the threshold
    s x std, the weights kept and the weights in total; and the copy's accuracy (%) on the validation split."""

    s: float
    thresholds: dict[str, float]
    kept: dict[str, int]
    weights: dict[str, int]
    val_accuracy: float

    def kept_share(self, layer: str | None = None) -> float:
        """Share of the weights kept (0..1), of one layer or (None) of the whole model."""
        names = list(self.kept) if layer is None else [layer]
        return sum(self.kept[n] for n in names) / sum(self.weights[n] for n in names)


def pruning_view(model: nn.Module, val_loader: Batches, s: float, device: Device = None) -> PruningView:
    """Prune a copy of ``model`` (masked layers) with the article's rule at ``s`` (``pruning.prune_by_std``) and
    evaluate it on ``val_loader`` (images (B, 1, 28, 28)); ``model`` is not changed (notebook 02's slider)."""
    s = check_real(s, "s", 0.0)
    pruned = copy.deepcopy(model)
    records = prune_by_std(pruned, s)
    accuracy = evaluate(pruned, val_loader, device).accuracy
    return PruningView(s, {r.name: r.threshold for r in records}, {r.name: r.kept for r in records},
                       {r.name: r.total for r in records}, accuracy)


@torch.no_grad()
def draw_pruning_view(model: nn.Module, view: PruningView, layer: str = "fc1", ax=None) -> Figure:
    """Histogram (log counts) of ``layer``'s weights still alive in ``model``, those the rule at ``view.s`` keeps in
    blue and those it prunes in grey (``pruning.std_mask``, the same rule), the ±threshold as red lines; the
    title gives s, the threshold, the shares kept and the validation accuracy of ``view``."""
    module = _layer(model, layer)
    if layer not in view.thresholds:
        raise ValueError(f"layer must be one of the view's layers {list(view.thresholds)}, got {layer!r}")
    weight, mask = module.weight.detach().cpu(), module.mask.detach().cpu()
    keep = std_mask(weight, view.s, mask).bool()
    kept, pruned = weight[keep].double().numpy(), weight[mask.bool() & ~keep].double().numpy()
    fig, ax = _axes(ax)
    alive = np.concatenate([kept, pruned])
    bins = np.linspace(alive.min(), alive.max(), 121) if alive.size else 10
    ax.hist([pruned, kept], bins=bins, stacked=True, color=[PRUNED_COLOUR, KEPT_COLOUR],
            label=[f"bị cắt ({pruned.size:,})", f"được giữ ({kept.size:,})"])
    threshold = view.thresholds[layer]
    for x in (-threshold, threshold):
        ax.axvline(x, color="tab:red", linestyle="--", linewidth=1, label="± ngưỡng" if x > 0 else None)
    if alive.size:  # a layer pruned to nothing has no count to put on a log axis
        ax.set_yscale("log")
    ax.set_xlabel("giá trị trọng số")
    ax.set_ylabel("số trọng số (thang log)")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"s = {view.s:.2f}: ngưỡng ±{threshold:.4f} (s × độ lệch chuẩn của {layer})\n"
                 f"giữ {_percent(view.kept_share(layer))} trọng số của {layer}, {_percent(view.kept_share())} "
                 f"của cả mô hình\nđộ chính xác trên tập validation: {view.val_accuracy:.2f}%", fontsize=9)
    return fig


def pruning_panels(model: nn.Module, val_loader: Batches, s_values: Sequence[float] = (1.0, 2.0, 3.0),
                   device: Device = None, layer: str = "fc1") -> Figure:
    """The slider's view at each of ``s_values`` (1 to 6 values), side by side in one figure (notebook 02, for
    readers without a kernel): ``pruning_view`` then ``draw_pruning_view`` for each."""
    s_values = _panel_values(s_values, "s_values", lambda s: check_real(s, "s_values", 0.0))
    fig, axes = plt.subplots(1, len(s_values), figsize=(5.2 * len(s_values), 4.2), sharey=True, squeeze=False)
    for ax, s in zip(axes[0], s_values):
        draw_pruning_view(model, pruning_view(model, val_loader, s, device), layer, ax)
    fig.suptitle(f"Cắt tỉa theo s × độ lệch chuẩn: {layer} với {len(s_values)} giá trị s "
                 "(mỗi s cắt một bản sao, mô hình không đổi)", fontsize=11)
    fig.tight_layout()
    return fig


def pruning_slider(model: nn.Module, val_loader: Batches, s_values: Sequence[float] = S_VALUES, device: Device = None,
                   layer: str = "fc1"):
    """A slider for s over the evenly spaced ``s_values`` (default 0 to 3 by 0.25, starting at the article's 2),
    showing ``draw_pruning_view`` of ``pruning_view`` at each position (notebook 02). Returns the
    ``ipywidgets.interactive``; its ``result`` is the last ``PruningView``. ``model`` is never changed."""
    import ipywidgets

    _layer(model, layer)
    low, high, step = _even_steps(s_values, "s_values", 0.0)
    slider = ipywidgets.FloatSlider(value=SENSITIVITY if low <= SENSITIVITY <= high else low, min=low, max=high,
                                    step=step, description="s", continuous_update=False, readout_format=".2f")

    def show(s: float) -> PruningView:
        view = pruning_view(model, val_loader, s, device)
        draw_pruning_view(model, view, layer)
        return view

    return ipywidgets.interactive(show, s=slider)


# ---------------------------------------------------------------- notebook 04: k-means weight sharing
@dataclass(frozen=True, eq=False)
class SharingView:
    """One layer's nonzero weights clustered into at most 2**bits shared values: ``centroids`` (k,) float32 and
    ``counts`` (k,), how many weights each centroid holds."""

    layer: str
    bits: int
    centroids: np.ndarray
    counts: np.ndarray

    @property
    def k(self) -> int:
        return len(self.centroids)

    @property
    def n(self) -> int:
        return int(self.counts.sum())


def sharing_view(model: nn.Module, layer: str, bits: int) -> SharingView:
    """Cluster the nonzero weights of ``layer`` (``alive_weights``) into at most 2**bits centroids with the package's
    k-means, linear init (``quantization.cluster_values``); ``model`` is not changed (notebook 04's slider)."""
    bits = check_bits(bits)
    values = alive_weights(model, layer)
    if values.size == 0:
        raise ValueError(f"layer {layer!r} has no nonzero weight to cluster")
    centroids, labels = cluster_values(values, bits, init="linear")
    return SharingView(layer, bits, centroids, np.bincount(labels, minlength=len(centroids)))


def draw_sharing_view(model: nn.Module, view: SharingView, ax=None) -> Figure:
    """Histogram (log counts) of the layer's nonzero weights, and each of the view's centroids as a red stem at its
    value whose height is the number of weights it holds (same count axis); the title gives n, bits, k and the
    largest and smallest clusters."""
    values = alive_weights(model, view.layer)
    fig, ax = _axes(ax)
    ax.hist(values, bins=120, color=KEPT_COLOUR, alpha=0.6)
    ax.vlines(view.centroids, 0.7, view.counts, color="tab:red", linewidth=1)
    ax.scatter(view.centroids, view.counts, s=14, color="tab:red", zorder=3, gid="sharing-centroids")
    ax.set_yscale("log")
    ax.set_xlabel("giá trị trọng số")
    ax.set_ylabel("số trọng số (thang log)")
    ax.set_title(f"{view.layer}, {view.bits} bit: {view.n:,} trọng số khác 0 → {view.k} tâm cụm\n"
                 f"tâm cụm đông nhất giữ {view.counts.max():,} trọng số, ít nhất {view.counts.min():,}\n"
                 "xanh: số trọng số mỗi khoảng; đỏ: tâm cụm và số trọng số nó giữ", fontsize=9)
    return fig


def sharing_panels(model: nn.Module, layer: str = "fc2", bits_values: Sequence[int] = (2, 3, 5)) -> Figure:
    """The slider's view at each of ``bits_values`` (1 to 6 values), side by side in one figure (notebook 04, for
    readers without a kernel): ``sharing_view`` then ``draw_sharing_view`` for each."""
    bits_values = _panel_values(bits_values, "bits_values", check_bits)
    fig, axes = plt.subplots(1, len(bits_values), figsize=(5.2 * len(bits_values), 4.0), sharey=True, squeeze=False)
    for ax, bits in zip(axes[0], bits_values):
        draw_sharing_view(model, sharing_view(model, layer, bits), ax)
    fig.suptitle(f"Chia sẻ trọng số bằng k-means: {layer} với {len(bits_values)} số bit (k = 2^bit tâm cụm)",
                 fontsize=11)
    fig.tight_layout()
    return fig


def bits_slider(model: nn.Module, layer: str = "fc2", bits_values: Sequence[int] = range(1, 9)):
    """A slider for the bits per weight over the evenly spaced ``bits_values`` (default 1 to 8, starting at the
    article's 5), showing ``draw_sharing_view`` of ``sharing_view`` at each position (notebook 04). Returns the
    ``ipywidgets.interactive``; its ``result`` is the last ``SharingView``. ``model`` is never changed."""
    import ipywidgets

    _layer(model, layer)
    low, high, step = _even_steps(bits_values, "bits_values", 1, integer=True)
    check_bits(high)
    slider = ipywidgets.IntSlider(value=BITS if low <= BITS <= high and (BITS - low) % step == 0 else low, min=low,
                                  max=high, step=step, description="bit", continuous_update=False)

    def show(bits: int) -> SharingView:
        view = sharing_view(model, layer, bits)
        draw_sharing_view(model, view)
        return view

    return ipywidgets.interactive(show, bits=slider)
