"""The article's compression formula, and honest model sizes in bits and bytes.

Taught in notebook 05_compression_math. The article's "16.70x" after pruning counts nonzero
weights only; a real file must also say *where* they are. ``model_size_report`` counts both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import torch
import torch.nn as nn

from .checks import check_choice, check_real
from .quantization import SHARED_LAYER_TYPES, weight_layers
from .vcz import index_bits

FLOAT_BITS = 32


def compression_rate(n: int, b: int, k: int) -> float:
    """Deep Compression's rate for weight sharing: n*b / (n*log2(k) + k*b).

    n weights of b bits each are replaced by n indices of log2(k) bits plus a table of k centroids of
    b bits. The article's 4x4 example (n=16, b=32, k=4) gives 3.2.
    """
    n, b, k = (check_real(value, argument, 1.0) for value, argument in ((n, "n"), (b, "b"), (k, "k")))
    return n * b / (n * math.log2(k) + k * b)


@dataclass
class LayerSize:
    """Sizes, in bits, of one masked layer (its weight and bias) stored three ways."""

    name: str
    weights: int
    nonzeros: int
    biases: int
    csr_index_bits: int  # column indices + row pointers, int32 each (what scipy.sparse stores)
    k: int | None  # centroids in the codebook; None when the layer is not shared

    @property
    def dense_bits(self) -> int:
        return (self.weights + self.biases) * FLOAT_BITS

    @property
    def bias_bits(self) -> int:
        return self.biases * FLOAT_BITS

    @property
    def pruned_bits(self) -> int:
        """CSR: a 32-bit value per nonzero, plus the index arrays, plus the dense bias."""
        return self.nonzeros * FLOAT_BITS + self.csr_index_bits + self.bias_bits

    @property
    def cluster_index_bits(self) -> int:
        return self.nonzeros * index_bits(self.k) if self.k is not None else 0

    @property
    def codebook_bits(self) -> int:
        return self.k * FLOAT_BITS if self.k is not None else 0

    @property
    def shared_bits(self) -> int | None:
        """CSR structure, a ceil(log2 k)-bit cluster index per nonzero, the codebook and the bias."""
        if self.k is None:
            return None
        return self.cluster_index_bits + self.codebook_bits + self.csr_index_bits + self.bias_bits

    def bytes(self, stage: str) -> int:
        """Whole bytes of this layer at ``stage`` ("dense", "pruned" or "shared"): its bits rounded up."""
        return math.ceil(getattr(self, f"{stage}_bits") / 8)


@dataclass
class SizeReport:
    """Per-layer ``LayerSize`` rows; totals in bits and bytes for each way of storing the model."""

    rows: list[LayerSize]

    def total_bits(self, stage: str) -> int:
        """Sum of ``<stage>_bits`` over the layers; stage is "dense", "pruned" or "shared"."""
        values = [getattr(row, f"{stage}_bits") for row in self.rows]
        if any(v is None for v in values):
            raise ValueError(f"stage {stage!r} needs every layer shared (share_weights)")
        return sum(values)

    def total_bytes(self, stage: str) -> int:
        """Bytes of the whole model at ``stage``: each layer rounded up to whole bytes, as the table shows it."""
        self.total_bits(stage)  # raises without codebooks
        return sum(row.bytes(stage) for row in self.rows)

    def ratio(self, stage: str) -> float:
        """How many times smaller than dense float32."""
        return self.total_bits("dense") / self.total_bits(stage)

    def breakdown(self, stage: str) -> dict[str, float]:
        """Bytes per part of the stored model for a stage ("dense", "pruned", "shared"): where the bits go."""
        def total(attribute: str) -> float:
            return sum(getattr(row, attribute) for row in self.rows) / 8

        biases = total("bias_bits")
        if stage == "dense":
            return {"giá trị trọng số (values)": total("dense_bits") - biases, "bias": biases}
        nonzero_values = sum(row.nonzeros for row in self.rows) * FLOAT_BITS / 8
        if stage == "pruned":
            return {"giá trị trọng số (values)": nonzero_values, "vị trí (CSR indices)": total("csr_index_bits"),
                    "bias": biases}
        if stage == "shared":
            self.total_bits("shared")  # raises without codebooks
            return {"chỉ số cụm (cluster indices)": total("cluster_index_bits"), "bảng tâm cụm (codebook)":
                    total("codebook_bits"), "vị trí (CSR indices)": total("csr_index_bits"), "bias": biases}
        raise ValueError(f"stage must be 'dense', 'pruned' or 'shared', got {stage!r}")

    def table(self, lang: str = "en") -> str:
        """A printable table: one line per layer, bytes for each way of storing it, and the total.

        ``lang`` is "en" or "vi" (the notebooks' column names, in Vietnamese).
        """
        words = TABLE_WORDS[check_choice(lang, "lang", TABLE_WORDS)]
        stages = ["dense", "pruned"] + (["shared"] if all(r.k is not None for r in self.rows) else [])
        header = (f"{words['layer']:8} {words['weights']:>9} {words['nonzero']:>8} {'k':>4} "
                  + " ".join(f"{words[s]:>12}" for s in stages))
        lines = [header, "-" * len(header)]
        for r in self.rows:
            sizes = " ".join(f"{r.bytes(s):>12,}" for s in stages)
            lines.append(f"{r.name:8} {r.weights:>9,} {r.nonzeros:>8,} {r.k if r.k is not None else '-':>4} {sizes}")
        totals = " ".join(f"{self.total_bytes(s):>12,}" for s in stages)
        lines.append(f"{words['total']:8} {sum(r.weights for r in self.rows):>9,} "
                     f"{sum(r.nonzeros for r in self.rows):>8,} {'':>4} {totals}")
        lines.append(f"{words['ratio']:8} {'':>9} {'':>8} {'':>4} " + " ".join(f"{self.ratio(s):>11.2f}x" for s in stages))
        return "\n".join(lines)


TABLE_WORDS = {
    "en": {"layer": "layer", "weights": "weights", "nonzero": "nonzero", "total": "total", "ratio": "ratio",
           "dense": "dense (B)", "pruned": "pruned (B)", "shared": "shared (B)"},
    "vi": {"layer": "lớp", "weights": "trọng số", "nonzero": "khác 0", "total": "tổng", "ratio": "tỉ lệ",
           "dense": "dày đặc (B)", "pruned": "cắt tỉa (B)", "shared": "chia sẻ (B)"},
}


def csr_index_bits(weight: np.ndarray) -> int:
    """Bits of the index arrays scipy.sparse keeps for ``weight`` as CSR (2-D view (rows, -1))."""
    matrix = scipy.sparse.csr_matrix(weight.reshape(weight.shape[0], -1))
    return 8 * (matrix.indices.nbytes + matrix.indptr.nbytes)


def model_size_report(model: nn.Module) -> SizeReport:
    """Sizes of every masked or shared layer stored dense, pruned (CSR) and, once shared, pruned + shared."""
    rows = []
    for name, layer in weight_layers(model):
        weight = layer.weight.detach().cpu().numpy()
        k = len(layer.centroids) if isinstance(layer, SHARED_LAYER_TYPES) else None
        rows.append(LayerSize(
            name=name,
            weights=weight.size,
            nonzeros=int(np.count_nonzero(weight)),
            biases=layer.bias.numel() if layer.bias is not None else 0,
            csr_index_bits=csr_index_bits(weight),
            k=k,
        ))
    if not rows:
        raise ValueError("model has no masked or shared layer to measure")
    return SizeReport(rows)


@dataclass
class LayerCost:
    """Weights and multiply-accumulates (MACs) of one masked layer for one input image (notebook 08)."""

    name: str
    weights: int
    nonzeros: int
    macs: int  # dense: every weight is used once per output position
    nonzero_macs: int  # what a sparse kernel would compute: nonzeros times output positions


@torch.no_grad()
def layer_costs(model: nn.Module, image_shape: tuple[int, ...] = (1, 1, 28, 28)) -> list[LayerCost]:
    """Weights and MACs per masked layer for one image of ``image_shape`` (B=1, C, H, W).

    A conv layer reuses each weight at every output position (H_out x W_out of them), so it has few weights
    but many MACs; a fully connected layer uses each weight once. Measured with forward hooks.
    """
    positions: dict[str, int] = {}
    handles = [layer.register_forward_hook(
        lambda module, inputs, output, name=name: positions.__setitem__(name, output[0, 0].numel()))
        for name, layer in weight_layers(model)]
    try:
        model.eval()(torch.zeros(image_shape, device=next(model.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    costs = []
    for name, layer in weight_layers(model):
        weights, nonzeros = layer.weight.numel(), int(layer.weight.count_nonzero())
        costs.append(LayerCost(name, weights, nonzeros, weights * positions[name], nonzeros * positions[name]))
    return costs
