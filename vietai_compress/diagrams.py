"""Diagrams: the course's ideas as pictures, drawn from the package's own computations.

Each function draws one figure and returns it; none calls ``plt.show()`` (the notebook ends the cell with it).
What a reader sees is Vietnamese; numbers use Python's format (``1,066,440``, ``98.46%``) and KB = 1,000 bytes,
as in ``plots``. The numbers a diagram shows come from the package's helpers (``pruning``, ``huffman``, ``vcz``,
``linear_quant``, ``quantization``, scipy.sparse), never typed in; the texts that show them carry a ``gid``
(``"csr-data"``, ``"huffman-code"``, ...) so that a test can read back what a figure shows.

Taught in: ``lenet300_diagram`` (notebooks 01, 02), ``mask_as_image`` (02, 03), ``csr_arrays`` (05),
``huffman_tree`` and ``vcz_layout`` (06), ``filter_removal`` (11), ``affine_grid`` (12), ``pipeline_map`` (01-06).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse
import torch
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch, FancyBboxPatch, Rectangle
from matplotlib.ticker import MaxNLocator

from . import vcz
from .checks import check_choice, check_int, check_real
from .huffman import HuffmanCode, code_lengths
from .linear_quant import dequantize, int_range, quantize, tensor_qparams
from .pruning import std_mask
from .quantization import cluster_values

GREY = "#d9d9d9"  # pruned or removed
KEPT = "#9ecae1"  # kept
REMOVED_EDGE = "tab:red"


# ---------------------------------------------------------------- shared helpers
def _as_array(x, argument: str, ndim: int | None = None) -> np.ndarray:
    """A torch tensor, numpy array or nested list as a float64 numpy array (``ndim`` dimensions when given)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    elif isinstance(x, (np.ndarray, list, tuple)):
        x = np.asarray(x)
    else:
        raise TypeError(f"{argument} must be a torch tensor or a numpy array, got {type(x).__name__}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"{argument} must hold numbers, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{argument} must have {ndim} dimension(s), got shape {tuple(x.shape)}")
    return x.astype(np.float64)


def _check_binary(mask: np.ndarray, argument: str) -> np.ndarray:
    if not np.isin(mask, (0.0, 1.0)).all():
        raise ValueError(f"{argument} must hold only 0 and 1 (a pruning mask)")
    return mask


def _figure_and_axes(ax, figsize: tuple[float, float]):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def _number(value: float) -> str:
    """A cell value as the course prints it: integers as ``12``, others with 2 decimals (``-0.98``); never ``-0``."""
    value = float(value) + 0.0
    return f"{value:,.0f}" if value.is_integer() else f"{value:.2f}"


def _bytes(size: int) -> str:
    return f"{size:,} byte"


def _box(ax, x: float, y: float, w: float, h: float, text: str, face: str, fontsize: float = 10,
         weight: str = "normal") -> None:
    """A rounded box centred at (x, y) with ``text`` inside."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.06",
                                facecolor=face, edgecolor="black", linewidth=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, fontweight=weight)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str = "black", width: float = 1.2):
    ax.annotate("", end, start, arrowprops={"arrowstyle": "-|>", "color": color, "linewidth": width})


def _link(fig, axes_from, xy_from, axes_to, xy_to) -> None:
    """An arrow from a point of one axes to a point of another (axes coordinates)."""
    fig.add_artist(ConnectionPatch(xy_from, xy_to, "axes fraction", "axes fraction", axesA=axes_from,
                                   axesB=axes_to, arrowstyle="-|>", color="black", linewidth=1.2))


# ---------------------------------------------------------------- 1. LeNet-300-100 and its mask
LENET300_LAYERS = (("fc1", 784, 300), ("fc2", 300, 100), ("fc3", 100, 10))
MAX_GRID = 8  # the largest block of a weight matrix whose numbers stay legible


def example_weight_and_mask(size: int = 6, s: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small example weight (size, size) rounded to 2 decimals and its mask by the s x std rule
    (``pruning.std_mask``): what ``lenet300_diagram`` draws when given no real block."""
    weight = np.round(np.random.default_rng(seed).normal(0.0, 0.5, (size, size)), 2)
    return weight, std_mask(torch.from_numpy(weight), s).double().numpy()


def _network_row(ax, layer: str) -> None:
    """784 -> 300 -> 100 -> 10 as boxes (the activations) and arrows (the weight layers); ``layer`` in red."""
    sizes = [784] + [out for _, _, out in LENET300_LAYERS]
    texts = ["đầu vào\n784 điểm ảnh\n(ảnh 28×28)", "300 nơ-ron\nReLU", "100 nơ-ron\nReLU",
             "10 đầu ra\n(chữ số 0-9)\nlog_softmax"]
    xs = [0.0, 3.0, 6.0, 9.0]
    for x, n, text in zip(xs, sizes, texts):
        height = 0.7 + 1.3 * math.log(n) / math.log(784)
        _box(ax, x, 0.0, 1.5, height, text, "#eef3fb", fontsize=9)
    for (name, n_in, n_out), x0, x1 in zip(LENET300_LAYERS, xs, xs[1:]):
        color = "tab:red" if name == layer else "black"
        _arrow(ax, (x0 + 0.8, 0.0), (x1 - 0.8, 0.0), color, 2.0 if name == layer else 1.2)
        ax.text((x0 + x1) / 2, 0.12, f"{name}\nW: {n_out}×{n_in}", ha="center", va="bottom", fontsize=9,
                color=color, fontweight="bold" if name == layer else "normal")
        ax.text((x0 + x1) / 2, -0.12, f"{n_out * n_in:,} trọng số", ha="center", va="top", fontsize=8, color=color)
    ax.set_xlim(-1.0, 10.0)
    ax.set_ylim(-1.1, 1.1)
    ax.axis("off")


def _grid(ax, values: np.ndarray, greyed: np.ndarray, cmap, vmin: float, vmax: float, fmt, gid: str) -> None:
    """A matrix as coloured cells with its numbers; cells where ``greyed`` is True are grey."""
    ax.imshow(np.ma.masked_array(values, greyed), cmap=cmap.with_extremes(bad=GREY), vmin=vmin, vmax=vmax)
    fontsize = 10 if values.shape[1] <= 6 else 6.5
    dark = np.abs(values) > 0.6 * max(abs(vmin), abs(vmax)) if vmin < 0 else np.zeros_like(greyed)
    for (r, c), v in np.ndenumerate(values):
        colour = "dimgray" if greyed[r, c] else ("white" if dark[r, c] else "black")
        ax.text(c, r, fmt(v), ha="center", va="center", fontsize=fontsize, gid=gid, color=colour)
    ax.set_xticks(np.arange(values.shape[1] + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(values.shape[0] + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)


def lenet300_diagram(weight=None, mask=None, layer: str = "fc1") -> Figure:
    """LeNet-300-100 (784 -> 300 -> 100 -> 10, ReLU) above one layer's weight as W ⊙ M = the weight used
    (notebooks 01 and 02).

    ``weight`` and ``mask``: a small block (rows, cols), at most 8x8, of a layer's weight and its 0/1 mask
    (e.g. ``model.fc1.weight[:8, :8]`` and ``model.fc1.mask[:8, :8]``), torch or numpy; both or neither
    (then ``example_weight_and_mask()``, titled as an example). ``layer`` ("fc1", "fc2" or "fc3") is the layer the
    block comes from, drawn in red in the network. Pruned cells of the product are grey and exactly 0.
    """
    layer = check_choice(layer, "layer", [name for name, _, _ in LENET300_LAYERS])
    if (weight is None) != (mask is None):
        raise ValueError("give both weight and mask (blocks of the same shape), or neither for the example")
    example = weight is None
    if example:
        weight, mask = example_weight_and_mask()
    weight, mask = _as_array(weight, "weight", 2), _check_binary(_as_array(mask, "mask", 2), "mask")
    if weight.shape != mask.shape:
        raise ValueError(f"weight and mask must have the same shape, got {weight.shape} and {mask.shape}")
    if max(weight.shape) > MAX_GRID:
        raise ValueError(f"weight must be a small block, at most {MAX_GRID}x{MAX_GRID} (e.g. weight[:8, :8]), "
                         f"got shape {weight.shape}")
    fig = plt.figure(figsize=(11, 6.8))
    grid = fig.add_gridspec(2, 5, height_ratios=(0.8, 1.7), width_ratios=(1, 0.16, 1, 0.16, 1))
    _network_row(fig.add_subplot(grid[0, :]), layer)
    source = "ví dụ" if example else f"{weight.shape[0]}×{weight.shape[1]} ô đầu tiên"
    _product_row(fig, grid, weight, mask, f"W: trọng số của {layer}\n({source})")
    fig.suptitle("LeNet-300-100: 784 → 300 → 100 → 10; mỗi lớp dùng W ⊙ M "
                 "(⊙: nhân từng phần tử, cùng vị trí)", fontsize=12)
    fig.tight_layout()
    return fig


def _product_row(fig, grid, weight: np.ndarray, mask: np.ndarray, weight_title: str) -> None:
    """W ⊙ M = the weight used, as three grids of numbers in the second row of ``grid``."""
    scale = float(np.abs(weight).max()) or 1.0
    decimals = 3 if scale < 0.1 else 2

    def value(v: float) -> str:
        return f"{v:.{decimals}f}" if v else "0"

    diverging, kept = plt.get_cmap("RdBu_r"), mask == 0
    panels = [(weight, np.zeros_like(kept), diverging, -scale, scale, value, "weight", weight_title),
              (mask, kept, ListedColormap(["white", KEPT]), 0, 1, lambda v: f"{v:.0f}", "mask",
               "M: mặt nạ\n(1 = giữ, 0 = cắt)"),
              (weight * mask, kept, diverging, -scale, scale, value, "product",
               f"W ⊙ M: trọng số thực sự dùng\n(ô xám: đã cắt, đúng bằng 0; giữ {int(mask.sum())}/{mask.size})")]
    for column, (values, greyed, cmap, low, high, fmt, gid, title) in zip((0, 2, 4), panels):
        ax = fig.add_subplot(grid[1, column])
        _grid(ax, values, greyed, cmap, low, high, fmt, gid)
        ax.set_title(title, fontsize=10)
    for column, symbol in ((1, "⊙"), (3, "=")):
        ax = fig.add_subplot(grid[1, column])
        ax.text(0.5, 0.5, symbol, ha="center", va="center", fontsize=28)
        ax.axis("off")


# ---------------------------------------------------------------- 2. fc1's mask as an image
def unread_pixels(mask_fc1) -> int:
    """Pixels no unit of fc1 reads any more: the all-zero columns of fc1's mask (units, 784)."""
    return int((_fc1_reads(mask_fc1)[0] == 0).sum())


def _fc1_reads(mask_fc1) -> tuple[np.ndarray, int]:
    """How many units read each pixel, fc1's mask (units, 784) summed over the units as (28, 28); and the units."""
    mask = _check_binary(_as_array(mask_fc1, "mask_fc1", 2), "mask_fc1")
    if mask.shape[1] != 784:
        raise ValueError(f"mask_fc1 must be fc1's mask of shape (units, 784), got {tuple(mask.shape)}")
    return mask.sum(axis=0).reshape(28, 28), len(mask)


def mask_as_image(mask_fc1, ax=None) -> Figure:
    """fc1's mask (units, 784), torch or numpy, summed over its units and drawn as a 28x28 image: how many units
    still read each pixel; pixels no unit reads (0) in red, their count in the title (notebooks 02 and 03)."""
    reads, units = _fc1_reads(mask_fc1)
    unread = int((reads == 0).sum())
    fig, ax = _figure_and_axes(ax, (6.2, 5.4))
    image = ax.imshow(np.ma.masked_equal(reads, 0), cmap=plt.get_cmap("viridis").with_extremes(bad="tab:red"),
                      vmin=0, vmax=max(float(reads.max()), 1.0))
    fig.colorbar(image, ax=ax, label=f"số nơ-ron (trong {units:,}) còn đọc điểm ảnh")
    ax.set_title(f"Mặt nạ fc1: mỗi điểm ảnh còn được bao nhiêu nơ-ron đọc\n"
                 f"{unread:,} / 784 điểm ảnh không còn nơ-ron nào đọc (ô đỏ)", fontsize=10)
    ax.set_xlabel("cột điểm ảnh")
    ax.set_ylabel("hàng điểm ảnh")
    return fig


# ---------------------------------------------------------------- 3. CSR arrays
MAX_CSR_NONZEROS = 24


def _array_row(ax, y: float, values: Sequence, colours: Sequence, label: str, gid: str) -> None:
    """One array as a row of boxes at height y, index above each box, ``label`` on the left."""
    for i, (value, colour) in enumerate(zip(values, colours)):
        ax.add_patch(Rectangle((i, y - 0.35), 1, 0.7, facecolor=colour, edgecolor="black"))
        ax.text(i + 0.5, y, value, ha="center", va="center", fontsize=9, gid=gid)
        ax.text(i + 0.5, y + 0.42, str(i), ha="center", va="bottom", fontsize=7, color="dimgray")
    ax.text(-0.3, y, label, ha="right", va="center", fontsize=10)


def csr_arrays(matrix) -> Figure:
    """A small dense matrix (rows, cols), at most 8x8 with at most 24 nonzeros, torch or numpy, beside its
    CSR arrays as ``scipy.sparse.csr_matrix`` stores them (notebook 05): values (data), column indices (indices)
    and row pointers (indptr). One colour per row links each nonzero to its entries; indptr[r] points at the
    first entry of row r, and row r's entries are indptr[r] .. indptr[r + 1] - 1."""
    dense = _as_array(matrix, "matrix", 2)
    if max(dense.shape) > 8:
        raise ValueError(f"matrix must be small to stay legible, at most 8x8, got shape {dense.shape}")
    csr = scipy.sparse.csr_matrix(dense)
    if not 0 < csr.nnz <= MAX_CSR_NONZEROS:
        raise ValueError(f"matrix must have between 1 and {MAX_CSR_NONZEROS} nonzeros, got {csr.nnz}")
    rows = len(dense)
    colours = plt.get_cmap("Pastel1")(np.arange(rows) % 9)
    width = 3.2 + 0.55 * (csr.nnz + 2)
    fig, (left, right) = plt.subplots(1, 2, figsize=(3.2 + width, 3.6),
                                      gridspec_kw={"width_ratios": (3.2, width)})
    cells = np.full(dense.shape + (4,), to_rgba(GREY))
    cells[dense != 0] = colours[np.nonzero(dense)[0]]
    left.imshow(cells)
    for (r, c), v in np.ndenumerate(dense):
        left.text(c, r, _number(v), ha="center", va="center", fontsize=10, gid="csr-cell")
    left.set_xticks(range(dense.shape[1]))
    left.set_yticks(range(rows))
    left.set_xlabel("cột")
    left.set_ylabel("hàng")
    left.set_title(f"ma trận dày đặc {dense.shape[0]}×{dense.shape[1]}\n({csr.nnz} số khác 0; ô xám: số 0)",
                   fontsize=10)
    entry_rows = np.repeat(np.arange(rows), np.diff(csr.indptr))
    _array_row(right, 2.0, [_number(v) for v in csr.data], colours[entry_rows], "giá trị\n(data)", "csr-data")
    _array_row(right, 1.0, [str(i) for i in csr.indices], colours[entry_rows], "chỉ số cột\n(indices)",
               "csr-indices")
    _array_row(right, -0.6, [str(p) for p in csr.indptr], ["white"] * (rows + 1), "con trỏ hàng\n(indptr)",
               "csr-indptr")
    for r, start in enumerate(csr.indptr):
        right.annotate("", (start, 0.62), (r + 0.5, -0.25),
                       arrowprops={"arrowstyle": "-|>", "color": "dimgray", "linewidth": 1, "shrinkA": 0, "shrinkB": 0})
    right.set_xlim(-2.6, max(csr.nnz, rows + 1) + 0.3)
    right.set_ylim(-1.2, 2.8)
    right.axis("off")
    right.set_title(f"CSR: {csr.nnz} giá trị + {csr.nnz} chỉ số cột + {rows + 1} con trỏ hàng\n"
                    "(mũi tên: hàng r bắt đầu ở vị trí indptr[r], hết trước indptr[r + 1])", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- 4. Huffman tree
MAX_TREE_SYMBOLS = 64
UPRIGHT_LEAVES = 12  # more leaves than this: their counts and codes are turned upright


def _canonical_tree(lengths: np.ndarray, codes: np.ndarray) -> dict[str, int | None]:
    """Every node of the canonical code's tree, by its path of bits ("" the root, "01" ...): the symbol at a leaf,
    None at an inner node."""
    nodes: dict[str, int | None] = {"": None}
    for symbol in np.flatnonzero(lengths):
        bits = format(int(codes[symbol]), f"0{int(lengths[symbol])}b")
        for depth in range(1, len(bits)):
            nodes.setdefault(bits[:depth], None)
        nodes[bits] = int(symbol)
    return nodes


def _tree_positions(nodes: dict[str, int | None]) -> dict[str, float]:
    """x of every node: leaves 0, 1, 2 ... from left (bit 0) to right, an inner node over its children."""
    x: dict[str, float] = {}
    leaves = 0

    def place(path: str) -> float:
        nonlocal leaves
        children = [path + bit for bit in "01" if path + bit in nodes]
        if not children:
            x[path] = float(leaves)
            leaves += 1
        else:
            x[path] = float(np.mean([place(child) for child in children]))
        return x[path]

    place("")
    return x


def huffman_tree(counts, symbols: Sequence[str] | None = None, ax=None) -> Figure:
    """The tree of the canonical Huffman code the package builds from symbol counts (A,) (notebook 06):
    ``HuffmanCode(code_lengths(counts))``, as written to a ``.vcz`` file. Edges are labelled 0 (left) and 1
    (right); an inner node shows the count below it; a leaf shows its symbol, its count and its code. Symbols with
    count 0 have no code and no leaf. ``symbols``: a name for each of the A symbols (default ``0 .. A-1``), e.g.
    ``"abcdef"`` for the textbook's counts (45, 13, 12, 16, 9, 5). Legible up to about 32 used symbols."""
    counts = np.asarray(counts.detach().cpu() if isinstance(counts, torch.Tensor) else counts)
    code = HuffmanCode(code_lengths(counts))
    used = np.flatnonzero(code.lengths)
    if not 0 < len(used) <= MAX_TREE_SYMBOLS:
        raise ValueError(f"counts must have between 1 and {MAX_TREE_SYMBOLS} positive counts, got {len(used)}")
    names = [str(s) for s in range(len(counts))] if symbols is None else [str(s) for s in symbols]
    if len(names) != len(counts):
        raise ValueError(f"symbols must name each of the {len(counts)} counts, got {len(names)} names")
    nodes = _canonical_tree(code.lengths, code.codes)
    x = _tree_positions(nodes)
    depth, upright = int(code.lengths.max()), len(used) <= UPRIGHT_LEAVES
    fig, ax = _figure_and_axes(ax, (max(7.0, (0.62 if upright else 0.36) * len(used) + 1.5),
                                    0.75 * depth + (2.4 if upright else 3.2)))
    for path in nodes:
        if path:
            _tree_edge(ax, x[path[:-1]], x[path], len(path), path[-1])
    for path, symbol in nodes.items():
        if symbol is None:
            below = sum(int(counts[s]) for p, s in nodes.items() if s is not None and p.startswith(path))
            ax.text(x[path], -len(path), f"{below:,}", ha="center", va="center", fontsize=7, zorder=3,
                    bbox={"boxstyle": "circle,pad=0.3", "facecolor": "#eef3fb", "edgecolor": "gray"})
        else:
            _tree_leaf(ax, x[path], -len(path), names[symbol], int(counts[symbol]), path, upright)
    ax.set_xlim(-0.7, len(used) - 0.3)
    ax.set_ylim(-depth - (0.9 if upright else 1.9), 0.5)
    ax.axis("off")
    ax.set_title(f"Cây Huffman (mã chính tắc) của {len(used)} ký hiệu: trung bình {code.average_length(counts):.2f} "
                 "bit mỗi ký hiệu\nnhánh trái 0, phải 1; dưới lá: số lần, rồi mã; "
                 "trong nút: tổng số lần bên dưới", fontsize=10)
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


def _tree_edge(ax, x_parent: float, x_child: float, depth: int, bit: str) -> None:
    """The edge to a node at ``depth``, labelled with the node's last bit (0 to the left, 1 to the right)."""
    ax.plot([x_parent, x_child], [1 - depth, -depth], color="gray", linewidth=1, zorder=1)
    ax.text((x_parent + x_child) / 2, 0.5 - depth, bit, ha="center", va="center",
            fontsize=8, color="tab:blue", fontweight="bold", gid="huffman-edge",
            bbox={"boxstyle": "circle,pad=0.15", "facecolor": "white", "edgecolor": "none"})


def _tree_leaf(ax, x: float, y: float, name: str, count: int, code: str, upright: bool) -> None:
    """A leaf: its symbol in a box, then its count and its code below it (turned upright for many leaves)."""
    ax.text(x, y, name, ha="center", va="center", fontsize=9, fontweight="bold", zorder=3, gid="huffman-symbol",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": KEPT, "edgecolor": "black"})
    rotation, gap = (0, 11) if upright else (90, 33)
    style = {"ha": "center", "va": "top", "fontsize": 7, "rotation": rotation, "textcoords": "offset points"}
    ax.annotate(f"{count:,}", (x, y), xytext=(0, -11), gid="huffman-count", **style)
    ax.annotate(code, (x, y), xytext=(0, -11 - gap), family="monospace", color="tab:blue", gid="huffman-code",
                **style)


# ---------------------------------------------------------------- 5. where a .vcz file's bytes go
VCZ_PARTS = {  # part -> (legend label, short label printed under the bars, colour)
    "header": ("đầu tệp (magic, phiên bản, độ dài, CRC-32)", "đầu tệp", "#636363"),
    "model": ("tên mô hình + số lớp", "tên mô hình + số lớp", "#bdbdbd"),
    "fields": ("đầu lớp: tên, kiểu, kích thước, số bit vị trí, k, có bias", "đầu lớp", "#969696"),
    "centroids": ("tâm cụm (float32)", "tâm cụm", "tab:orange"),
    "bias": ("bias (float32)", "bias", "tab:purple"),
    "gap_table": ("vị trí: bảng độ dài mã + 2 số đếm", "vị trí: bảng", "#9ecae1"),
    "gap_bits": ("vị trí: các bit mã Huffman", "bit", "tab:blue"),
    "index_table": ("chỉ số cụm: bảng độ dài mã + 2 số đếm", "chỉ số cụm: bảng", "#a1d99b"),
    "index_bits": ("chỉ số cụm: các bit mã Huffman", "bit", "tab:green"),
}
_STREAM_COUNTS = 8  # a stream's symbol count and byte count, u32 each


def _layer_parts(layer: vcz.LayerRecord) -> dict[str, int]:
    """Bytes of each part of one layer record (the byte table of ``vcz``); they add up to ``record_bytes``."""
    parts = {  # name (u8 length + UTF-8), kind u8, ndim u8, shape u32 x ndim, gap_bits u8, k u32, has_bias u8
        "fields": 1 + len(layer.name.encode("utf-8")) + 1 + 1 + 4 * len(layer.shape) + 1 + 4 + 1,
        "centroids": 4 * layer.k,
        "bias": 4 * layer.biases,
        "gap_table": 2 ** layer.gap_bits + _STREAM_COUNTS,
        "gap_bits": layer.gap_bytes,
        "index_table": max(layer.k, 1) + _STREAM_COUNTS,
        "index_bits": layer.index_bytes,
    }
    if sum(parts.values()) != layer.record_bytes:
        raise ValueError(f"layer {layer.name!r}: its parts add up to {sum(parts.values())} bytes, the file's record "
                         f"has {layer.record_bytes}: the byte table of vcz changed")
    return parts


def vcz_byte_parts(path: str | Path) -> dict[str, dict[str, int]]:
    """Where every byte of a ``.vcz`` file goes: ``{row: {part: bytes}}``, the first row the file's header and
    model name, then one row per layer (parts as ``VCZ_PARTS``). The parts add up exactly to the file size."""
    model_name, layers = vcz.read_file(path)
    rows = {"tệp": {"header": vcz._HEADER.size, "model": 1 + len(model_name.encode("utf-8")) + 2}}
    rows.update({layer.name: _layer_parts(layer) for layer in layers})
    total = sum(sum(parts.values()) for parts in rows.values())
    if total != Path(path).stat().st_size:
        raise ValueError(f"{path}: the parts add up to {total:,} bytes, the file has {Path(path).stat().st_size:,}")
    return rows


def _parts_line(parts: dict[str, int]) -> str:
    """``đầu lớp 20 · tâm cụm 128 · bias 1,200 · vị trí: bảng 40 + bit 9,876 · chỉ số cụm: bảng 40 + bit ...``:
    every part's bytes, a stream's table and its bits joined by +."""
    words: list[str] = []
    for part, count in parts.items():
        word = f"{VCZ_PARTS[part][1]} {count:,}"
        if part.endswith("_bits"):
            words[-1] += " + " + word
        else:
            words.append(word)
    return "  ·  ".join(words)


def _stacked_row(ax, y: float, parts: dict[str, int], legend: bool) -> None:
    """One bar at height y split into its parts as % of the row, the wide ones labelled with their bytes."""
    total, left = sum(parts.values()), 0.0
    for part, count in parts.items():
        label, _, colour = VCZ_PARTS[part]
        width = 100 * count / total
        ax.barh(y, width, left=left, color=colour, edgecolor="white", height=0.7, label=label if legend else None)
        if width >= 8:
            ax.text(left + width / 2, y, f"{count:,}", ha="center", va="center", fontsize=8,
                    color="black" if part in ("model", "fields", "gap_table", "index_table") else "white")
        left += width


def vcz_layout(path: str | Path) -> Figure:
    """The byte layout of a real ``.vcz`` file (notebook 06): one bar per row (the header and model name, then
    each layer), split into its parts (``vcz_byte_parts``) as % of the row, with every part's byte count printed
    under the bar and the row's total at its right. The printed counts add up exactly to the file size."""
    rows = vcz_byte_parts(path)
    size = sum(sum(parts.values()) for parts in rows.values())
    fig, ax = plt.subplots(figsize=(12, 1.25 * len(rows) + 1.6))
    for i, (row, parts) in enumerate(rows.items()):
        y = -1.6 * i
        _stacked_row(ax, y, parts, legend=i < 2)  # the header's parts, then a layer's
        ax.text(101, y, f"{row}: {sum(parts.values()):,} byte\n({100 * sum(parts.values()) / size:.1f}% tệp)",
                ha="left", va="center", fontsize=9, gid="vcz-row-total")
        ax.text(0, y - 0.45, _parts_line(parts), ha="left", va="top", fontsize=8, gid="vcz-parts")
    ax.set_xlim(0, 100)
    ax.set_ylim(-1.6 * (len(rows) - 1) - 1.1, 0.6)
    ax.set_yticks([])
    ax.set_xlabel("phần trăm số byte của dòng (%)")
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.set_title(f"Tệp {Path(path).name}: {size:,} byte = {size / 1000:,.1f} KB (1 KB = 1,000 byte); "
                 "mỗi dòng một phần của tệp, theo thứ tự ghi", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- 6. removing a conv filter
def _lenet5_shapes(model) -> dict[str, tuple[int, ...]]:
    if model is None:
        from .models import LeNet5

        model = LeNet5()
    try:
        shapes = {name: tuple(getattr(model, name).weight.shape) for name in ("conv1", "conv2", "fc1")}
    except AttributeError as err:
        raise TypeError("model must be a LeNet-5 with layers conv1, conv2 and fc1 (models.LeNet5)") from err
    return shapes


def _alive_image(ax, alive: np.ndarray, title: str, xlabel: str, ylabel: str, side: str = "left") -> None:
    """A 0/1 grid (kept in blue, removed in grey) with integer ticks; the row axis on ``side`` ("left", "right"
    or "none": the title names the row), so that the arrows between grids cross no labels."""
    ax.imshow(alive, cmap=ListedColormap([GREY, KEPT]), vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(labelsize=7)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    if alive.shape[1] == 1:
        ax.set_xticks([])
    if side == "none":
        ax.set_yticks([])
        return
    ax.set_ylabel(ylabel, fontsize=8)
    if side == "right":
        ax.yaxis.tick_right()
        ax.yaxis.set_label_position("right")


def _outline(ax, x0: float, y0: float, w: float, h: float) -> None:
    """A removed block of a grid: outlined and crossed in red."""
    ax.add_patch(Rectangle((x0, y0), w, h, fill=False, edgecolor=REMOVED_EDGE, linewidth=1.5))
    ax.plot([x0, x0 + w], [y0, y0 + h], color=REMOVED_EDGE, linewidth=1)
    ax.plot([x0, x0 + w], [y0 + h, y0], color=REMOVED_EDGE, linewidth=1)


def _removed(shape: tuple[int, int], rows=None, columns=None) -> np.ndarray:
    """A grid of ones (kept) with ``rows`` or ``columns`` (slices or indices) set to 0 (removed)."""
    alive = np.ones(shape)
    if rows is not None:
        alive[rows, :] = 0
    if columns is not None:
        alive[:, columns] = 0
    return alive


def filter_removal(conv1_filter: int = 3, conv2_filter: int = 7, model=None) -> Figure:
    """Why removing a conv filter removes more than the filter (notebook 11), with LeNet-5's shapes (read from
    ``model``, a ``models.LeNet5``, default ``LeNet5()``: conv1 20@5x5, conv2 50@5x5 on 20 channels, fc1 800 -> 500).

    Top row: filter ``conv1_filter`` of conv1 goes, so its output channel goes, so every conv2 filter loses the
    matching input channel (a column of conv2's filters x channels grid). Bottom row: filter ``conv2_filter`` of
    conv2 goes, so its 4x4 = 16 values after max-pool go, so fc1 loses the 16 matching columns after flatten.
    Removed parts are grey, outlined and crossed in red; the titles count the weights removed.
    """
    shapes = _lenet5_shapes(model)
    j = check_int(conv1_filter, "conv1_filter", 0, shapes["conv1"][0] - 1)
    m = check_int(conv2_filter, "conv2_filter", 0, shapes["conv2"][0] - 1)
    fig = plt.figure(figsize=(13, 8.6), layout="constrained")
    top, bottom = fig.subfigures(2, 1, hspace=0.06)
    rows = [_conv1_filter_row(top, shapes, j), _conv2_filter_row(bottom, shapes, m)]
    for start, end in [pair for axes in rows for pair in zip(axes, axes[1:])]:
        _link(fig, start, (1.03, 0.5), end, (-0.03, 0.5))
    fig.suptitle("Cắt tỉa có cấu trúc: bỏ một bộ lọc thì bỏ luôn những gì nó nuôi ở lớp sau "
                 "(xám, gạch chéo đỏ: phần bị bỏ)", fontsize=12)
    return fig


def _conv1_filter_row(panel, shapes: dict[str, tuple[int, ...]], j: int) -> list:
    """conv1's filters, its output channels, conv2's filters x input channels, with filter j of conv1 removed."""
    (f1, _, kh1, kw1), (f2, c2, kh2, kw2) = shapes["conv1"], shapes["conv2"]
    axes = panel.subplots(1, 3, width_ratios=(0.4, 0.4, 1.6), gridspec_kw={"wspace": 0.25})
    panel.suptitle(f"Bỏ bộ lọc {j} của conv1", fontsize=11, fontweight="bold")
    _alive_image(axes[0], _removed((f1, 1), rows=j), f"conv1: {f1} bộ lọc {kh1}×{kw1}\nbỏ bộ lọc {j}:\n"
                 f"−{kh1 * kw1} trọng số, −1 bias", "", "bộ lọc của conv1")
    _outline(axes[0], -0.5, j - 0.5, 1, 1)
    _alive_image(axes[1], _removed((f1, 1), rows=j), f"đầu ra conv1:\n{f1} kênh;\nkênh {j} không còn", "", "kênh",
                 "none")
    _outline(axes[1], -0.5, j - 0.5, 1, 1)
    _alive_image(axes[2], _removed((f2, c2), columns=j), f"conv2: {f2} bộ lọc × {c2} kênh vào (mỗi ô "
                 f"{kh2}×{kw2})\ncột {j} không còn đầu vào: −{f2} × {kh2 * kw2} = {f2 * kh2 * kw2:,} trọng số",
                 "kênh vào", "bộ lọc của conv2", "right")
    _outline(axes[2], j - 0.5, -0.5, 1, f2)
    return list(axes)


def _conv2_filter_row(panel, shapes: dict[str, tuple[int, ...]], m: int) -> list:
    """conv2's filters, its pooled output channels, fc1's columns, with filter m of conv2 removed."""
    (f2, c2, kh2, kw2), (hidden, flat) = shapes["conv2"], shapes["fc1"]
    per_channel = flat // f2  # 4 x 4 values per channel after the second max-pool
    side, cols = math.isqrt(per_channel), slice(m * per_channel, (m + 1) * per_channel)
    axes = panel.subplots(1, 3, width_ratios=(0.9, 0.8, 1.6), gridspec_kw={"wspace": 0.25})
    panel.suptitle(f"Bỏ bộ lọc {m} của conv2", fontsize=11, fontweight="bold")
    _alive_image(axes[0], _removed((f2, c2), rows=m), f"conv2: {f2} bộ lọc × {c2} kênh vào\n"
                 f"−{c2} × {kh2 * kw2} = {c2 * kh2 * kw2:,} trọng số, −1 bias", "kênh vào", "bộ lọc của conv2")
    _outline(axes[0], -0.5, m - 0.5, c2, 1)
    _alive_image(axes[1], _removed((f2, per_channel), rows=m), f"đầu ra conv2 sau max-pool:\n{f2} kênh × "
                 f"{side}×{side}; kênh {m} mất {per_channel} giá trị",
                 f"{side}×{side} = {per_channel} giá trị mỗi kênh", "kênh", "none")
    _outline(axes[1], -0.5, m - 0.5, per_channel, 1)
    _alive_image(axes[2], _removed((hidden, flat), columns=cols), f"fc1: {hidden} nơ-ron × {flat} đầu vào (làm "
                 f"phẳng {f2}×{side}×{side})\ncột {cols.start}-{cols.stop - 1} không còn: −{per_channel} × {hidden} = "
                 f"{per_channel * hidden:,} trọng số", "cột (đầu vào sau khi làm phẳng)", "nơ-ron của fc1", "right")
    _outline(axes[2], cols.start - 0.5, -0.5, per_channel, hidden)
    return list(axes)


# ---------------------------------------------------------------- 7. the affine grid
MAX_GRID_BITS = 8
MAX_VALUES = 200


def affine_snap(values, bits: int, symmetric: bool):
    """The affine quantization of 1-D ``values`` (n,) with ``bits`` per tensor (``linear_quant``): returns
    ``(qparams, integers (n,), snapped values (n,) = dequantize(quantize(values)), levels (2**bits,))``."""
    x = torch.as_tensor(_as_array(values, "values").ravel(), dtype=torch.float32)
    q = tensor_qparams(x, bits, symmetric=symmetric)
    integers = quantize(x, q)
    qmin, qmax = int_range(bits)
    return q, integers, dequantize(integers, q), dequantize(torch.arange(qmin, qmax + 1), q)


def _kmeans_snap(values: np.ndarray, bits: int, kmeans_levels) -> tuple[np.ndarray, np.ndarray]:
    """(levels (k,), each value's level (n,)): ``cluster_values`` when ``kmeans_levels`` is True, else the nearest
    of the given levels."""
    if kmeans_levels is True:
        centroids, labels = cluster_values(values, bits)
        return centroids.astype(np.float64), centroids[labels].astype(np.float64)
    levels = np.sort(_as_array(kmeans_levels, "kmeans_levels", 1))
    if not 0 < len(levels) <= 2 ** bits:
        raise ValueError(f"kmeans_levels must hold between 1 and 2**bits = {2 ** bits} levels, got {len(levels)}")
    return levels, levels[np.abs(values[:, None] - levels[None, :]).argmin(axis=1)]


def _scale_arrow(ax, levels: np.ndarray, zero_index: int, scale: float) -> None:
    """S as the spacing of two neighbouring levels, drawn above the grid away from the zero point's mark."""
    i = len(levels) - 2 if zero_index < len(levels) - 3 else 0
    left, right = levels[i], levels[i + 1]
    ax.annotate("", (right, 1.32), (left, 1.32),
                arrowprops={"arrowstyle": "<->", "color": "tab:purple", "shrinkA": 0, "shrinkB": 0})
    ax.text(right if i else left, 1.4, f"thang đo S = {scale:.4g}" + (" (khoảng cách hai mức)" if i == 0 else ""),
            ha="right" if i else "left", va="bottom", fontsize=9, color="tab:purple")


def _snap_row(ax, x: np.ndarray, levels: np.ndarray, snapped: np.ndarray, y: float, colour: str, gid: str) -> None:
    """A row of levels as ticks at height y, each value (drawn at height 0) joined to the level it snaps to."""
    ax.axhline(y, color="black", linewidth=0.8, zorder=1)
    ax.vlines(levels, y - 0.1, y + 0.1, color=colour, linewidth=1.5, zorder=2)
    ax.plot(np.stack([x, snapped]), np.stack([np.zeros_like(x), np.full_like(x, y)]), color=colour, alpha=0.4,
            linewidth=0.8, zorder=1)
    ax.scatter(snapped, np.full_like(snapped, y), s=28, color=colour, zorder=3, gid=gid)


def _affine_marks(ax, levels: np.ndarray, qmin: int, zero: int, scale: float, symmetric: bool) -> None:
    """The integer q of every level (when 16 or fewer), the unused level of the symmetric grid, Z and S."""
    if symmetric:  # the most negative integer is left unused (linear_quant.qparams): a grey tick
        ax.vlines(levels[:1], 0.9, 1.1, color="lightgray", linewidth=1.5, zorder=2)
    if len(levels) <= 16:
        for i, level in enumerate(levels):
            unused = symmetric and i == 0
            ax.text(level, 1.14, f"{qmin + i}" + (" (không dùng)" if unused else ""), ha="center", va="bottom",
                    fontsize=8, color="gray" if unused else "tab:blue", gid="affine-q")
    ax.scatter([levels[zero - qmin]], [1.55], marker="v", s=70, color="tab:red", zorder=3)
    ax.text(levels[zero - qmin], 1.63, f"điểm không Z = {zero}: mức của số thực 0", ha="center", va="bottom",
            fontsize=9, color="tab:red")
    _scale_arrow(ax, levels, zero - qmin, scale)


def affine_grid(values, bits: int = 3, symmetric: bool = False, kmeans_levels=None, ax=None) -> Figure:
    """Affine (linear) quantization on a number line (notebook 12): the real ``values`` (n,), n <= 200, torch or
    numpy, in the middle; above, the 2**bits evenly spaced levels S·(q − Z) of ``linear_quant.tensor_qparams`` as
    ticks, each value joined to the level it is snapped to (``dequantize(quantize(values))``), the zero point Z
    (the level of the real number 0) marked and the scale S drawn as the spacing. ``bits`` in [2, 8].
    ``symmetric``: Z = 0 and 2**bits − 1 levels symmetric about 0 (weights). ``kmeans_levels``: True to add,
    below, the k-means levels of the same values (``quantization.cluster_values``, at most 2**bits), or an array of
    levels; None for none. The title gives the number of levels used and the mean rounding error of each."""
    bits = check_int(bits, "bits", 2, MAX_GRID_BITS)
    if not isinstance(symmetric, bool):
        raise TypeError(f"symmetric must be True or False, got {type(symmetric).__name__}")
    x = _as_array(values, "values").ravel()
    if not 0 < len(x) <= MAX_VALUES:
        raise ValueError(f"values must hold between 1 and {MAX_VALUES} numbers to stay legible, got {len(x)}")
    q, _, snapped, levels = (t.double().numpy() if isinstance(t, torch.Tensor) else t
                             for t in affine_snap(x, bits, symmetric))
    kmeans = _kmeans_snap(x, bits, kmeans_levels) if kmeans_levels is not None else None
    fig, ax = _figure_and_axes(ax, (11, 3.6 if kmeans is None else 4.6))
    _snap_row(ax, x, levels[1:] if symmetric else levels, snapped, 1.0, "tab:blue", "affine-snapped")
    _affine_marks(ax, levels, int_range(bits)[0], int(q.zero_point), float(q.scale), symmetric)
    ax.scatter(x, np.zeros_like(x), s=18, color="black", zorder=3, gid="affine-values")
    ax.axhline(0, color="lightgray", linewidth=0.8, zorder=0)
    used = 2 ** bits - symmetric  # the symmetric grid leaves its most negative integer unused: 2**bits − 1 levels
    ticks = {1: f"lưới tuyến tính\nS·(q − Z), {used} mức", 0: "giá trị thực r"}
    title = (f"Lượng tử hoá tuyến tính {bits} bit, {'đối xứng' if symmetric else 'bất đối xứng'}: {used} mức "
             f"cách đều S; sai số trung bình |r − r̂| = {np.abs(x - snapped).mean():.3g}")
    if kmeans is not None:
        _snap_row(ax, x, *kmeans, -1.0, "tab:orange", "kmeans-snapped")
        ticks[-1] = f"k-means\n{len(kmeans[0])} tâm cụm"
        title += f"\nk-means cùng {bits} bit: mức không cách đều; sai số trung bình {np.abs(x - kmeans[1]).mean():.3g}"
    _number_line(ax, np.concatenate([x, levels]), ticks, title)
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


def _number_line(ax, shown: np.ndarray, ticks: dict[float, str], title: str) -> None:
    """Axes of a number line: x spans ``shown`` with a margin, one labelled row per tick, no frame but the x axis."""
    margin = 0.05 * (shown.max() - shown.min() or 1.0)
    ax.set_xlim(shown.min() - margin, shown.max() + margin)
    ax.set_ylim(min(ticks) - 0.4, 2.0)
    ax.set_yticks(list(ticks), list(ticks.values()))
    ax.set_xlabel("giá trị thực")
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.set_title(title, fontsize=10)


# ---------------------------------------------------------------- 8. where we are in the course
PIPELINE_STAGES = {"01": "huấn luyện", "02": "cắt tỉa", "03": "huấn luyện lại", "04": "chia sẻ trọng số",
                   "05": "phép tính nén", "06": "Huffman + tệp"}


def _scoreboard(scoreboard: Mapping | None) -> dict[str, tuple[float, int]]:
    """``scoreboard`` checked: stages among ``PIPELINE_STAGES``, each (test accuracy in [0, 100] %, bytes >= 1)."""
    if scoreboard is None:
        return {}
    if not isinstance(scoreboard, Mapping):
        raise TypeError(f"scoreboard must map a stage ('01'..'06') to (test accuracy %, bytes), "
                        f"got {type(scoreboard).__name__}")
    checked = {}
    for stage, entry in scoreboard.items():
        check_choice(stage, "scoreboard key", PIPELINE_STAGES)
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise TypeError(f"scoreboard[{stage!r}] must be a pair (test accuracy %, bytes), got {entry!r}")
        checked[stage] = (check_real(entry[0], f"scoreboard[{stage!r}] accuracy (%)", 0.0, 100.0),
                          check_int(entry[1], f"scoreboard[{stage!r}] bytes", 1))
    return checked


def _score(board: dict[str, tuple[float, int]], stage: str) -> str:
    """``98.46%\\n133,396 byte\\n(nhỏ hơn 8.0 lần)``: a stage's test accuracy, bytes and ratio to stage 01."""
    if stage not in board:
        return "—"
    accuracy, size = board[stage]
    ratio = f"\n(nhỏ hơn {board['01'][1] / size:,.1f} lần)" if "01" in board and stage != "01" else ""
    return f"{accuracy:.2f}%\n{_bytes(size)}{ratio}"


def pipeline_map(stage: str, scoreboard: Mapping | None = None, ax=None) -> Figure:
    """The course's pipeline 01 -> 06 as a row of boxes, ``stage`` ("01".."06") highlighted as "bạn đang ở đây"
    (notebooks 01-06). Under every stage reached so far (up to ``stage``) its ``scoreboard`` entry,
    ``{"01": (98.46, 1_066_440), ...}``: test accuracy in % and bytes, with the ratio to stage 01's bytes when
    known; "—" under the stages not reached yet or without an entry."""
    stage = check_choice(stage, "stage", PIPELINE_STAGES)
    board = _scoreboard(scoreboard)
    fig, ax = _figure_and_axes(ax, (13, 3.0))
    here = list(PIPELINE_STAGES).index(stage)
    for i, (number, label) in enumerate(PIPELINE_STAGES.items()):
        face = "tab:orange" if i == here else (KEPT if i < here else "#f0f0f0")
        _box(ax, 2.2 * i, 0.0, 1.8, 0.8, f"{number}\n{label}", face, weight="bold" if i == here else "normal")
        if i:
            _arrow(ax, (2.2 * i - 1.3, 0.0), (2.2 * i - 0.9, 0.0))
        ax.text(2.2 * i, -0.55, _score(board, number) if i <= here else "—", ha="center", va="top", fontsize=9,
                gid="pipeline-score")
    ax.annotate("bạn đang ở đây", (2.2 * here, 0.42), (2.2 * here, 0.95), ha="center", va="bottom", fontsize=10,
                color="tab:red", fontweight="bold", arrowprops={"arrowstyle": "-|>", "color": "tab:red"})
    ax.text(-1.2, -0.55, "độ chính xác trên\ntập kiểm tra;\nkích thước", ha="right", va="top", fontsize=8,
            color="dimgray")
    ax.set_xlim(-2.6, 2.2 * (len(PIPELINE_STAGES) - 1) + 1.1)
    ax.set_ylim(-1.45, 1.35)
    ax.axis("off")
    ax.set_title("Các bước của Deep Compression trong khoá học (notebook 01-06)", fontsize=11)
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig
