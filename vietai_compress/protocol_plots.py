"""The figure of notebook 09 that ``plots`` has no helper for: why a number chosen on the test set is too good."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def plot_optimism(kept: Mapping[int, np.ndarray], error: float, shown: Sequence[int] = (1, 7),
                  images: int = 10_000) -> Figure:
    """``kept`` maps a number of candidates K to the lowest of K measurements in each simulated experiment (%),
    shape (trials,) (``beyond.optimism``); every candidate truly errs ``error`` %. Left: histograms of the kept
    number for the K of ``shown``, the true error as a dashed line. Right: its mean against K (notebook 09)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    step = 100 / images  # one image of ``images``: the measurement's resolution, in points
    values = np.concatenate([kept[k] for k in shown])
    bins = np.arange(values.min() - step / 2, values.max() + step, step)
    for k in shown:
        left.hist(kept[k], bins=bins, alpha=0.6, label=f"K = {k}: trung bình {kept[k].mean():.2f}%")
    left.axvline(error, color="black", linestyle="--", linewidth=1, label=f"lỗi thật của mọi thiết lập: {error:.2f}%")
    left.set_title(f"Con số nhỏ nhất trong K phép đo, mỗi phép đo trên {images:,} ảnh")
    left.set_xlabel("lỗi đo được của thiết lập thắng (%)")
    left.set_ylabel("số thí nghiệm mô phỏng")
    left.legend(fontsize=8)
    ks = sorted(kept)
    right.plot(ks, [kept[k].mean() for k in ks], marker="o", label="trung bình con số được giữ")
    right.axhline(error, color="black", linestyle="--", linewidth=1, label="lỗi thật")
    right.set_title("Càng nhiều ứng viên, con số thắng càng lạc quan")
    right.set_xlabel("số ứng viên K (tốt như nhau)")
    right.set_ylabel("lỗi (%)")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def label_below(fig: Figure, *names: str) -> Figure:
    """Move the labels of the published points ``names`` of a ``plots.plot_ratio_vs_error`` figure below their
    points, where two labels would overlap (notebook 09: two later methods at nearly the same error), and widen the
    ratio axis by a quarter so that the long labels fit."""
    ax = fig.axes[0]
    for note in ax.texts:
        if note.get_text() in names:
            note.xyann = (6, -12)
    left, right = ax.get_xlim()
    ax.set_xlim(left, right * 1.25)
    return fig
