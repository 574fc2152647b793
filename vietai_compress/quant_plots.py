"""The figure of notebook 12: k-means against linear quantization of the weights, bit width by bit width.

``plot_kmeans_vs_linear`` draws ``linear_quant.kmeans_vs_linear``'s points (as dicts, the way
``course.measurement`` saves them) on a linear error axis: a few 2-bit points are many times worse than the rest,
and on a log axis (or a linear one reaching them) the differences that matter at 3 to 8 bits cannot be read. So the
axis stops a little above the worst point at ``min_bits`` bits or more, and each point beyond it is drawn on the top
edge as a triangle (filled after fine-tuning, open before), side by side with the others there, its value written
to their right.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .checks import check_int

METHODS_VI = {"k-means": "k-means", "linear": "tuyến tính"}
COLOURS = {"k-means": "tab:blue", "linear": "tab:orange"}


def _errors(rows: Sequence[Mapping]) -> dict[tuple[str, int, bool], float]:
    """``{(method, bits, fine_tuned): validation error in %}`` of one model's points."""
    return {(r["method"], int(r["bits"]), bool(r["fine_tuned"])): 100.0 - float(r["val_accuracy"]) for r in rows}


def axis_top(rows: Sequence[Mapping], min_bits: int = 3, margin: float = 1.25) -> float:
    """Where the error axis stops: ``margin`` times the worst error among the points of at least ``min_bits`` bits."""
    errors = _errors(rows)
    kept = [e for (_, bits, _), e in errors.items() if bits >= min_bits] or list(errors.values())
    return margin * max(kept)


def _spread(x: int, row: list, curve: tuple[str, bool], step: float = 0.1) -> float:
    """Where a point of ``curve`` at ``x`` is drawn: side by side with the other points clipped there (``row``), so
    that no triangle hides another; at ``x`` itself when it is not clipped."""
    return x + step * (row.index(curve) - (len(row) - 1) / 2) if curve in row else x


def plot_kmeans_vs_linear(results: Mapping[str, Sequence[Mapping]], min_bits: int = 3) -> Figure:
    """One panel per model of ``results`` (``{model label: points}``, each point a dict with ``method``
    (``"k-means"`` or ``"linear"``), ``bits``, ``fine_tuned`` and ``val_accuracy`` in %): validation error against
    bits, k-means in blue and linear in orange, dashed before fine-tuning and solid after. Errors above the axis
    (``axis_top``) sit on its top edge as triangles side by side, their values listed to the right (notebook 12)."""
    min_bits = check_int(min_bits, "min_bits", 1)
    if not results:
        raise ValueError("results is empty: nothing to draw")
    fig, axes = plt.subplots(1, len(results), figsize=(6.2 * len(results), 4.6), squeeze=False)
    for ax, (label, rows) in zip(axes[0], results.items()):
        errors, top = _errors(rows), axis_top(rows, min_bits)
        bits = sorted({b for _, b, _ in errors}, reverse=True)  # evenly spaced, fewer bits to the right
        curves = [(method, tuned) for method in METHODS_VI for tuned in (False, True)]
        clipped = {x: [c for c in curves if errors.get((c[0], b, c[1]), 0.0) > top] for x, b in enumerate(bits)}
        for method, tuned in curves:
            shown = [(x, errors[(method, b, tuned)]) for x, b in enumerate(bits) if (method, b, tuned) in errors]
            when = "sau" if tuned else "trước"
            xs = [_spread(x, clipped[x], (method, tuned)) for x, _ in shown]
            ax.plot(xs, [min(v, top) for _, v in shown], "-" if tuned else "--", marker="o",
                    color=COLOURS[method], label=f"{METHODS_VI[method]}, {when} khi tinh chỉnh")
            for x, (_, v) in zip(xs, shown):
                if v > top:
                    ax.plot([x], [top], marker="^", markersize=9, color=COLOURS[method], linestyle="none",
                            markerfacecolor=COLOURS[method] if tuned else "white", clip_on=False, zorder=4)
        for x, row in clipped.items():  # the values, stacked to the right of the triangles, where no line runs
            for k, (method, tuned) in enumerate(row):
                text = f"{METHODS_VI[method]}, {'sau' if tuned else 'trước'}: {errors[(method, bits[x], tuned)]:.2f}%"
                ax.annotate(text, (x + 0.2, top), textcoords="offset points", xytext=(0, -14 - 12 * k),
                            color=COLOURS[method], fontsize=8, bbox={"facecolor": "white", "edgecolor": "none",
                                                                      "pad": 0.5})
        if clipped[len(bits) - 1]:  # room for the labels beside the last bit width
            ax.set_xlim(-0.3, len(bits) - 1 + 2.0)
        ax.set_ylim(0, top)
        ax.set_xticks(range(len(bits)), [str(b) for b in bits])
        ax.set_xlabel("số bit mỗi trọng số")
        ax.set_ylabel("lỗi validation (%)")
        ax.set_title(f"{label}\n(tam giác: lỗi vượt khỏi trục, giá trị ghi bên phải)", fontsize=10)
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9)
    fig.suptitle("Lượng tử hoá trọng số: k-means (mức tuỳ ý) và tuyến tính (mức cách đều)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
