"""Figures used by the notebooks. Each function draws one figure and returns it.

Titles and axis labels are in Vietnamese, like the notebooks' prose. Notebooks end the cell with
``plt.show()``.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .data import MNIST_MEAN, MNIST_STD


def plot_digit_grid(images: torch.Tensor, labels: torch.Tensor, rows: int = 4, cols: int = 8):
    """A grid of normalised images (N, 1, 28, 28) with their labels (N,) as titles (notebook 00)."""
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.6 * rows))
    pixels = (images[: rows * cols, 0].cpu() * MNIST_STD + MNIST_MEAN).clamp(0, 1)
    for ax, img, label in zip(axes.flat, pixels, labels[: rows * cols].tolist()):
        ax.imshow(img.numpy(), cmap="gray_r")
        ax.set_title(str(label), fontsize=10)
        ax.axis("off")
    fig.suptitle("Một số chữ số MNIST (nhãn ở trên mỗi ảnh)")
    fig.tight_layout()
    return fig


def plot_training_curve(history: dict, title: str = "Huấn luyện LeNet-300-100"):
    """Training loss per epoch, and test accuracy per epoch when recorded (notebooks 01 and 03)."""
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(epochs, history["loss"], marker="o" if len(epochs) < 20 else None, label="loss (train)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss trung bình (NLL)")
    ax.set_yscale("log")
    if history.get("test_accuracy"):
        right = ax.twinx()
        right.plot(epochs, history["test_accuracy"], color="tab:orange",
                   marker="o" if len(epochs) < 20 else None, label="độ chính xác (test)")
        right.set_ylabel("độ chính xác trên tập test (%)")
        fig.legend(loc="center right", bbox_to_anchor=(0.85, 0.5))
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_weight_histograms(before: torch.Tensor, after: torch.Tensor, name: str, threshold: float | None = None):
    """Histogram of a layer's weights before pruning, and of the surviving (nonzero) ones after (notebook 02)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    w_before = before.detach().cpu().flatten().numpy()
    w_after = after.detach().cpu().flatten().numpy()
    w_after = w_after[w_after != 0]
    axes[0].hist(w_before, bins=200, color="tab:blue")
    axes[0].set_title(f"{name}: trước khi cắt tỉa ({w_before.size:,} trọng số)")
    axes[1].hist(w_after, bins=200, color="tab:green")
    axes[1].set_title(f"{name}: sau khi cắt tỉa ({w_after.size:,} trọng số khác 0)")
    for ax in axes:
        ax.set_xlabel("giá trị trọng số")
        ax.set_ylabel("số trọng số")
        if threshold is not None:
            for x in (-threshold, threshold):
                ax.axvline(x, color="tab:red", linestyle="--", linewidth=1)
    fig.tight_layout()
    return fig


def plot_sensitivity(scan: dict[str, Sequence[float]], s_values: Sequence[float], baseline: float | None = None):
    """Accuracy against s, one line per layer pruned alone (notebook 02)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, accuracies in scan.items():
        ax.plot(s_values, accuracies, marker="o", label=name)
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle=":", label="chưa cắt tỉa")
    ax.set_xlabel("s (ngưỡng = s × độ lệch chuẩn)")
    ax.set_ylabel("độ chính xác trên tập test (%)")
    ax.set_title("Độ nhạy của từng lớp khi cắt tỉa riêng lớp đó (không huấn luyện lại)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_bars(labels: Sequence[str], values: Sequence[float], title: str, ylabel: str, log: bool = False):
    """A labelled bar chart (e.g. pruned weights that drifted away from 0, sizes per stage)."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    bars = ax.bar(labels, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}" for v in values])
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    fig.tight_layout()
    return fig
