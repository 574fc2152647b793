"""Figures used by the notebooks. Each function draws one figure and returns it.

Titles and axis labels are in Vietnamese, like the notebooks' prose. Notebooks end the cell with
``plt.show()``.
"""
from __future__ import annotations

import textwrap
from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
import numpy as np
import torch

from .data import MNIST_MEAN, MNIST_STD


def plot_digit_grid(images: torch.Tensor, labels: torch.Tensor, rows: int = 4, cols: int = 8) -> Figure:
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


def plot_training_curve(history: dict, title: str = "Huấn luyện LeNet-300-100", baseline: float | None = None,
                        baseline_label: str = "mô hình gốc") -> Figure:
    """Training loss per epoch, and the validation accuracy per epoch when recorded (``history["eval_accuracy"]``,
    evaluated on the validation split in notebooks 01 and 03).

    ``baseline`` (an accuracy, %) is drawn as a dotted line on the accuracy axis, in the same legend.
    """
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(epochs, history["loss"], marker="o" if len(epochs) < 20 else None, label="mất mát (huấn luyện)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mất mát trung bình (NLL, thang log)")
    ax.set_yscale("log")
    if history.get("eval_accuracy"):
        right = ax.twinx()
        right.plot(epochs, history["eval_accuracy"], color="tab:orange",
                   marker="o" if len(epochs) < 20 else None, label="độ chính xác (validation)")
        if baseline is not None:
            right.axhline(baseline, color="gray", linestyle=":", label=baseline_label)
            last = history["eval_accuracy"][len(epochs) // 10:]  # the first epochs climb from far below
            _pad_limits(right, [*last, baseline])
        right.set_ylabel("độ chính xác trên tập validation (%)", color="tab:orange")
        fig.legend(loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    ax.set_title(title)
    fig.tight_layout(rect=(0, 0.08 if history.get("eval_accuracy") else 0, 1, 1))
    return fig


def plot_weight_histograms(before: torch.Tensor, after: torch.Tensor, name: str, threshold: float | None = None,
                           log: bool = True) -> Figure:
    """Histogram of a layer's weights before pruning, and of the surviving (nonzero) ones after (notebook 02).

    ``log``: a log count axis, so that the bell's tails and the few large weights stay visible.
    """
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
        ax.set_ylabel("số trọng số (thang log)" if log else "số trọng số")
        if log:
            ax.set_yscale("log")
        if threshold is not None:
            for x in (-threshold, threshold):
                ax.axvline(x, color="tab:red", linestyle="--", linewidth=1,
                           label="± ngưỡng (s x độ lệch chuẩn)" if x > 0 else None)
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _accuracy_lines(x: Sequence[float], series: dict[str, Sequence[float]], xlabel: str, title: str,
                    baseline: float | None, baseline_label: str):
    """Validation accuracy (%) against x, one line per series, with an optional dotted baseline: the scans of
    notebooks 02-04 measure on the validation split, where settings are chosen."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, accuracies in series.items():
        ax.plot(x, accuracies, marker="o", label=label)
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle=":", label=baseline_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("độ chính xác trên tập validation (%)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_sensitivity(scan: dict[str, Sequence[float]], s_values: Sequence[float], baseline: float | None = None) -> Figure:
    """Accuracy against s, one line per layer pruned alone (notebook 02)."""
    return _accuracy_lines(s_values, scan, "s (ngưỡng = s × độ lệch chuẩn)",
                           "Độ nhạy của từng lớp khi cắt tỉa riêng lớp đó (không huấn luyện lại)",
                           baseline, "chưa cắt tỉa")


def plot_iterative_pruning(kept: Sequence[int], accuracies: Sequence[float], one_shot_accuracy: float,
                           baseline: float | None = None) -> Figure:
    """Accuracy after each prune + retrain round against the weights kept, and one-shot pruning drawn as a dashed
    line at its accuracy, so that it never hides the last round (notebook 03). Plain numbers on the log axis."""
    fig = _accuracy_lines(kept, {"cắt tỉa lặp (sau mỗi vòng)": accuracies}, "số trọng số khác 0 (thang log)",
                          "Cắt tỉa lặp và cắt tỉa một lần, cùng số trọng số cuối", baseline, "mô hình gốc")
    ax = fig.axes[0]
    ax.axhline(one_shot_accuracy, color="tab:red", linestyle="--", linewidth=1,
               label=f"cắt tỉa một lần, {kept[-1]:,} trọng số")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    ax.set_xticks(list(kept))
    ax.invert_xaxis()  # read left to right as pruning goes on
    _pad_limits(ax, [*accuracies, one_shot_accuracy] + ([baseline] if baseline is not None else []))
    ax.legend()
    return fig


def _pad_limits(ax, values: Sequence[float], margin: float = 0.15) -> None:
    """Accuracy limits with room above and below every value, so that no line sits on the frame."""
    low, high = min(values), max(values)
    pad = max(margin * (high - low), 0.05)
    ax.set_ylim(low - pad, high + pad)


def plot_bars(labels: Sequence[str], values: Sequence[float], title: str, ylabel: str, log: bool = False) -> Figure:
    """A labelled bar chart (e.g. pruned weights that drifted away from 0, sizes per stage)."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    labels = [label if "\n" in label else textwrap.fill(label, 18) for label in labels]  # long names on two lines
    bars = ax.bar(labels, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}" for v in values])
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.margins(y=0.12)  # room for the labels above the bars
    fig.tight_layout()
    return fig


def plot_centroids(weights: torch.Tensor, centroids: torch.Tensor, name: str) -> Figure:
    """Histogram of a layer's nonzero weights with the shared centroids marked (notebook 04)."""
    values = weights.detach().cpu().flatten().numpy()
    values = values[values != 0]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.hist(values, bins=200, color="tab:blue", alpha=0.8, label="trọng số khác 0")
    for i, c in enumerate(centroids.detach().cpu().numpy()):
        ax.axvline(c, color="tab:red", linewidth=1, label="tâm cụm (centroid)" if i == 0 else None)
    ax.set_yscale("log")  # a few values near 0 are far more frequent than the tails, where the large weights are
    ax.set_title(f"{name}: {values.size:,} trọng số khác 0 và {len(centroids)} tâm cụm")
    ax.set_xlabel("giá trị trọng số")
    ax.set_ylabel("số trọng số (thang log)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_accuracy_vs_bits(bits: Sequence[int], series: dict[str, Sequence[float]], baseline: float | None = None,
                          zoom: tuple[float, float] | None = None) -> Figure:
    """Accuracy against bits per weight, one line per setting (notebook 04). With ``zoom`` (low, high) in %, the
    accuracy axis shows only that range, so that small differences between the higher bit counts can be read;
    points below it are marked at its floor with their value."""
    fig = _accuracy_lines(bits, series, "số bit mỗi trọng số (k = 2^bit tâm cụm)", "Độ chính xác theo số bit",
                          baseline, "trước khi chia sẻ")
    ax = fig.axes[0]
    ax.set_xticks(list(bits))
    if zoom is not None:
        ax.set_ylim(*zoom)
        for i, line in enumerate([line for line in ax.lines if len(line.get_xdata()) == len(bits)]):
            for x, y in zip(line.get_xdata(), line.get_ydata()):
                if y < zoom[0]:  # one label per line, stacked, so two lines below the frame do not overlap
                    ax.annotate(f"↓ {y:.1f}%", (x, zoom[0]), textcoords="offset points", xytext=(2, 4 + 11 * i),
                                fontsize=8, color=line.get_color())
        ax.set_title("Độ chính xác theo số bit (phóng to; mũi tên: điểm nằm dưới khung)")
    return fig


def plot_grouped_bars(groups: Sequence[str], series: dict[str, Sequence[float]], title: str, ylabel: str,
                      ylim: tuple[float, float] | None = None) -> Figure:
    """Bars grouped by ``groups`` (x axis), one colour per series (e.g. k-means inits per bit count)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(series)
    x = np.arange(len(groups))
    for i, (label, values) in enumerate(series.items()):
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
        ax.bar_label(bars, fmt=lambda v: f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}", fontsize=8)
    ax.set_xticks(x, groups)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_cluster_example(weights: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> Figure:
    """The article's figure: a weight matrix coloured by cluster, the centroid table, the index matrix (notebook 05)."""
    k = len(centroids)
    colours = plt.get_cmap("tab10")(np.arange(k))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), gridspec_kw={"width_ratios": [4, 1.4, 4]})
    panels = [(axes[0], weights, "trọng số (số thực 32 bit)", "{:.2f}"),
              (axes[2], labels, f"chỉ số cụm ({int(np.ceil(np.log2(k)))} bit mỗi ô)", "{:d}")]
    for ax, values, title, fmt in panels:
        ax.imshow(colours[labels][..., :3], alpha=0.55)
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, fmt.format(v.item()), ha="center", va="center", fontsize=11)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].imshow(colours[:, None, :3], alpha=0.55)
    for i, c in enumerate(centroids):
        axes[1].text(0, i, f"{i}: {c:.2f}", ha="center", va="center", fontsize=11)
    axes[1].set_title("bảng tâm cụm")
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    fig.suptitle("Chia sẻ trọng số: mỗi trọng số được thay bằng tâm cụm của nó")
    fig.tight_layout()
    return fig


def plot_size_breakdown(stages: dict[str, dict[str, float]], title: str = "Bộ nhớ theo từng giai đoạn") -> Figure:
    """Left: total size of each stage in KB (1 KB = 1,000 bytes). Right: what share of it each part takes
    (notebook 05).

    ``stages`` maps a stage name to ``{part: bytes}`` (values, indices, codebook, bias, ...).
    """
    parts = list(dict.fromkeys(part for sizes in stages.values() for part in sizes))
    names = list(stages)
    totals = np.array([sum(sizes.values()) for sizes in stages.values()]) / 1000
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    bars = left.bar(names, totals, color="tab:gray")
    left.bar_label(bars, labels=[f"{t:,.1f} KB\n({totals[0] / t:.1f}x)" for t in totals], fontsize=9)
    left.set_ylim(0, 1.2 * totals.max())
    left.set_ylabel("kích thước (KB, 1 KB = 1,000 byte)")
    left.set_title("Tổng kích thước")
    bottom = np.zeros(len(names))
    for part in parts:
        share = np.array([100 * sizes.get(part, 0) / sum(sizes.values()) for sizes in stages.values()])
        right.bar(names, share, bottom=bottom, label=part)
        bottom += share
    right.set_ylabel("phần trăm kích thước (%)")
    right.set_title("Các bit đi đâu")
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_symbol_histograms(streams: dict[str, np.ndarray], title: str = "Tần suất các ký hiệu") -> Figure:
    """One bar chart of symbol counts per stream, side by side (notebook 06)."""
    fig, axes = plt.subplots(1, len(streams), figsize=(5.5 * len(streams), 3.8))
    for ax, (name, counts) in zip(np.atleast_1d(axes), streams.items()):
        ax.bar(np.arange(len(counts)), counts, color="tab:blue")
        ax.set_title(name)
        ax.set_xlabel("ký hiệu (symbol)")
        ax.set_ylabel("số lần xuất hiện")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_soft_targets(images: torch.Tensor, labels: torch.Tensor, probabilities: dict[float, torch.Tensor],
                      row_labels: Sequence[str] | None = None) -> Figure:
    """One row per image (N, 1, 28, 28): the digit, then the teacher's probabilities (N, 10) at each
    temperature T of ``probabilities`` as bars on a log scale (notebook 07, "dark knowledge"); ``row_labels`` (N,)
    say what each row shows, above its digit."""
    temperatures = list(probabilities)
    rows = len(images)
    fig, axes = plt.subplots(rows, 1 + len(temperatures), figsize=(3.2 * (1 + len(temperatures)), 1.9 * rows),
                             gridspec_kw={"width_ratios": [0.6] + [1] * len(temperatures)}, squeeze=False)
    pixels = (images[:, 0].cpu() * MNIST_STD + MNIST_MEAN).clamp(0, 1)
    for r in range(rows):
        axes[r, 0].imshow(pixels[r].numpy(), cmap="gray_r")
        prefix = f"{row_labels[r]}\n" if row_labels is not None else ""
        axes[r, 0].set_title(f"{prefix}nhãn: {int(labels[r])}", fontsize=9)
        axes[r, 0].axis("off")
        for c, T in enumerate(temperatures, start=1):
            p = probabilities[T][r].detach().cpu().numpy()
            ax = axes[r, c]
            ax.bar(range(10), p, color=["tab:red" if d == int(labels[r]) else "tab:blue" for d in range(10)])
            ax.set_yscale("log")
            ax.set_ylim(1e-10, 1.5)
            ax.set_xticks(range(10))
            ax.tick_params(labelsize=8)
            if r == 0:
                ax.set_title(f"T = {T:g}")
            if c == 1:
                ax.set_ylabel("xác suất (log)", fontsize=8)
    fig.suptitle("Xác suất mềm (soft targets) của mô hình thầy theo nhiệt độ T (cột đỏ: nhãn đúng)")
    fig.tight_layout()
    return fig


def plot_lines(x: Sequence[float], series: dict[str, Sequence[float]], title: str, xlabel: str, ylabel: str,
               logx: bool = False, logy: bool = False, marks: dict[str, float] | None = None) -> Figure:
    """One line with markers per series against x (e.g. errors against the temperature T, notebook 07); ``marks``
    draws labelled vertical lines at chosen x values (``{label: x}``). Counts (all integers) get integer ticks."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in series.items():
        ax.plot(x, values, marker="o", label=label)
    for i, (label, value) in enumerate((marks or {}).items()):
        ax.axvline(value, color=f"C{len(series) + i}", linestyle="--", linewidth=1, label=label)
    if all(float(v).is_integer() for values in series.values() for v in values):
        ax.yaxis.get_major_locator().set_params(integer=True)
    if logx:
        ax.set_xscale("log")
        ax.set_xticks(list(x), [f"{v:g}" for v in x])
        ax.minorticks_off()
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_filters(stages: dict[str, torch.Tensor], title: str = "Các bộ lọc 5x5 của conv1", columns: int = 5) -> Figure:
    """One panel per stage, each a grid of the conv filters (out, 1, kh, kw) with ``columns`` filters a row, on one
    colour scale per stage; pruned weights (exactly 0) in grey (notebook 08: conv1 before and after compression)."""
    count = max(w.shape[0] for w in stages.values())
    rows = -(-count // columns)
    fig = plt.figure(figsize=(3.4 * len(stages), 0.68 * rows + 0.7))
    panels = fig.subfigures(1, len(stages))
    colours = plt.get_cmap("RdBu_r").with_extremes(bad="lightgray")
    for panel, (label, weights) in zip(np.atleast_1d(panels), stages.items()):
        w = weights.detach().cpu()[:, 0].numpy()
        scale = float(np.abs(w).max()) or 1.0
        axes = panel.subplots(rows, columns, squeeze=False, gridspec_kw={"wspace": 0.06, "hspace": 0.06})
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < len(w):
                ax.imshow(np.ma.masked_equal(w[i], 0.0), cmap=colours, vmin=-scale, vmax=scale)
        panel.suptitle(label, fontsize=10)
    fig.suptitle(f"{title} (đỏ: dương, xanh: âm, xám: đã cắt)", y=1.12)
    return fig


def _times(value: float, _position=None) -> str:
    return f"{value:g}x"


def plot_ratio_vs_error(series: dict[str, Sequence[tuple]], references: dict[str, tuple[float, float]] | None = None,
                        title: str = "Tỉ lệ nén và lỗi", error_label: str = "lỗi (%)") -> Figure:
    """Compression ratio (x, log scale) against error in % (y) (notebooks 08 and 09).

    ``series``: one marker style per series of points ``(ratio, error)``, or ``(ratio, error, (error_min,
    error_max), (ratio_min, ratio_max))`` for a median over seeds drawn with its spread. ``references``:
    published points ``{label: (ratio, error)}``, drawn as labelled grey stars; a label should say what the
    method's ratio counts (file bytes or parameters).
    """
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    ratios_seen = []
    for label, points in series.items():
        for i, point in enumerate(points):
            ratio, error = point[:2]
            spread = point[2:]
            kwargs = {"label": label if i == 0 else None, "color": f"C{list(series).index(label)}"}
            if spread:
                (e_low, e_high), (r_low, r_high) = spread
                ax.errorbar([ratio], [error], yerr=[[error - e_low], [e_high - error]],
                            xerr=[[ratio - r_low], [r_high - ratio]], fmt="o", capsize=3, zorder=3, **kwargs)
            else:
                ax.scatter([ratio], [error], s=40, zorder=3, **kwargs)
            ratios_seen.append(ratio)
    for label, (ratio, error) in (references or {}).items():
        ax.scatter([ratio], [error], marker="*", s=160, color="gray", zorder=2)
        ax.annotate(label, (ratio, error), textcoords="offset points", xytext=(6, 4), fontsize=8)
        ratios_seen.append(ratio)
    ax.set_xscale("log")
    if ratios_seen:
        ax.set_xlim(min(ratios_seen) / 1.3, max(ratios_seen) * 2.2)  # room for the references' labels
    ax.xaxis.set_major_formatter(FuncFormatter(_times))
    ax.xaxis.set_minor_formatter(_only_2_and_5(_times))
    ax.margins(y=0.12)
    ax.set_xlabel("tỉ lệ nén (thang log): byte float32 / byte tệp nén, trừ khi nhãn nói khác")
    ax.set_ylabel(error_label)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _kilobytes(size: float, _position=None) -> str:
    """A tick of a bytes axis in KB (1 KB = 1,000 bytes, as everywhere in the series): ``20 KB``, ``1,000 KB``."""
    return f"{size / 1000:,.0f} KB"


def _milliseconds(ms: float, _position=None) -> str:
    return f"{ms:g}"


def _only_2_and_5(format_tick):
    """A minor-tick formatter of a log axis that labels only the ticks 2 and 5 times a power of ten."""
    def label(value: float, position=None) -> str:
        leading = round(value / 10 ** np.floor(np.log10(value)))
        return format_tick(value) if leading in (2, 5) else ""
    return FuncFormatter(label)


def plain_log_axis(axis) -> None:
    """Label a log axis (``ax.yaxis``) with plain numbers (``2``, ``5``, ``10``, ``20``) instead of ``2 x 10^1``:
    the powers of ten and the ticks 2 and 5 times them (notebook 11's error-against-bits figure)."""
    axis.set_major_formatter(FuncFormatter(_milliseconds))
    axis.set_minor_formatter(_only_2_and_5(_milliseconds))


def plot_latency_vs_bytes(panels: dict[str, dict[str, tuple[float, float]]], reference: str | None = None,
                          title: str = "Thời gian suy luận và số byte trên đĩa") -> Figure:
    """One panel per batch size: each variant at (bytes on disk, p50 ms per call), both axes log (notebooks 10, 11).

    ``panels``: ``{"batch 1": {variant label: (bytes, ms)}}``; the ``reference`` variant's time is a dotted line.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, (panel, points) in zip(axes[0], panels.items()):
        for i, (label, (size, ms)) in enumerate(points.items()):
            ax.scatter([size], [ms], s=50, marker="os^vD<>p*h"[i % 10], label=label, zorder=3)
        if reference is not None:
            ax.axhline(points[reference][1], color="gray", linestyle=":", linewidth=1, label="thời gian của tham chiếu")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_kilobytes))
        ax.xaxis.set_minor_formatter(_only_2_and_5(_kilobytes))
        ax.yaxis.set_major_formatter(FuncFormatter(_milliseconds))
        ax.yaxis.set_minor_formatter(_only_2_and_5(_milliseconds))
        ax.set_xlabel("kích thước trên đĩa (KB, thang log)")
        ax.set_ylabel("thời gian mỗi lần gọi, trung vị (ms, thang log)")
        ax.set_title(panel)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def plot_latency_map(panels: dict[str, list[tuple[str, str, float, float]]],
                     title: str = "Mọi cách chạy của mọi mô hình: thời gian và kích thước") -> Figure:
    """One panel per batch size holding every (model, way of running it, bytes on disk, p50 ms) point: colour
    says the model, marker says how it runs; both axes log (notebook 11 puts notebooks 06, 08, 10, 11 together)."""
    models = list(dict.fromkeys(m for points in panels.values() for m, *_ in points))
    forms = list(dict.fromkeys(f for points in panels.values() for _, f, *_ in points))
    colors = {m: plt.cm.tab10(i % 10) for i, m in enumerate(models)}
    markers = {f: "os^vD<>p*h"[i % 10] for i, f in enumerate(forms)}
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5.0), squeeze=False)
    for ax, (panel, points) in zip(axes[0], panels.items()):
        for model, form, size, ms in points:
            ax.scatter([size], [ms], s=55, color=colors[model], marker=markers[form], zorder=3, edgecolor="black",
                       linewidth=0.4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_kilobytes))
        ax.xaxis.set_minor_formatter(_only_2_and_5(_kilobytes))
        ax.yaxis.set_major_formatter(FuncFormatter(_milliseconds))
        ax.yaxis.set_minor_formatter(_only_2_and_5(_milliseconds))
        ax.set_xlabel("kích thước trên đĩa (KB, thang log)")
        ax.set_ylabel("thời gian mỗi lần gọi, trung vị (ms, thang log)")
        ax.set_title(panel)
        ax.grid(True, which="both", alpha=0.3)
    model_handles = [plt.Line2D([], [], color=colors[m], marker="o", linestyle="", label=m) for m in models]
    form_handles = [plt.Line2D([], [], color="gray", marker=markers[f], linestyle="", label=f) for f in forms]
    fig.legend(handles=model_handles, loc="lower left", fontsize=8, title="mô hình (màu)", title_fontsize=8,
               bbox_to_anchor=(0.02, -0.02), ncol=2)
    fig.legend(handles=form_handles, loc="lower right", fontsize=8, title="cách chạy (hình dấu)", title_fontsize=8,
               bbox_to_anchor=(0.98, 0.0), ncol=2)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.15, 1, 1))
    return fig
