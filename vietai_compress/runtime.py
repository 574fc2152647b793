"""Run a ``.vcz`` file with numpy and scipy only: the model on a device that has no PyTorch (notebook 10).

``load(path)`` reads the file itself (``vcz``), checks its layers against the model's architecture
(``check_architecture``), rebuilds each layer's weight once from its positions and centroids, and removes the
units that cannot change the output (``remove_dead_units``): a hidden unit or a conv channel with no weights in
is a constant, folded into the next layer's bias; one with no weights out is dropped. Each layer then runs in
the form that measured fastest on a 2-core CPU: a fully connected layer as a scipy CSR matrix when fewer than
``SPARSE_BELOW`` of its weights are nonzero, else as a dense numpy matrix (``benchmarks/sparse_crossover.py``); a
conv layer as im2col + a dense matrix product. ``images.read_digit`` reads digit pictures with Pillow.
``web/vcz.js`` does the same in a browser (``docs/vcz_format.md``).

This module must not import torch (a test checks it in a fresh interpreter), nor anything that does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse

from .vcz import LayerRecord, read_file

# The layers between two weight layers of each registered model, in order (the torch models of ``models``).
ARCHITECTURES = {
    "lenet300": (("fc1", "relu"), ("fc2", "relu"), ("fc3",)),
    "lenet5": (("conv1", "maxpool"), ("conv2", "maxpool", "flatten"), ("fc1", "relu"), ("fc2",)),
}
CONV_INPUT = (1, 28, 28)  # LeNet-5 reads (channels, height, width) images
CONV_KERNEL = 5  # LeNet-5's conv layers: 5 x 5, stride 1, no padding
# The output units of every layer of the full models of ``models``: a file may hold fewer (structured pruning,
# notebook 11), never more.
FULL_UNITS = {"lenet300": (300, 100, 10), "lenet5": (20, 50, 500, 10)}
# A fully connected layer with fewer nonzero weights than this fraction runs as CSR, else dense: the crossover
# that benchmarks/sparse_crossover.py measured on a 2-core CPU (between 5% and 10% nonzero for 131x469 to 500x800,
# at batch 1 and 256).
SPARSE_BELOW = 0.08


@dataclass
class Layer:
    """One weight layer as numpy arrays: weight (out, in) or (out, in, kh, kw) float32, bias (out,) float32, and
    the operations that follow it (``"relu"``, ``"maxpool"`` 2x2, ``"flatten"``)."""

    name: str
    weight: np.ndarray
    bias: np.ndarray
    after: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "conv" if self.weight.ndim == 4 else "linear"


def architecture_shapes(model_name: str, units: list[int]) -> list[tuple[int, ...]]:
    """The weight shape of every layer of ``model_name`` when its layers have ``units`` outputs."""
    channels, side = CONV_INPUT[:2]
    features = math.prod(CONV_INPUT)
    shapes = []
    for (name, *after), out in zip(ARCHITECTURES[model_name], units):
        if name.startswith("conv"):
            shapes.append((out, channels, CONV_KERNEL, CONV_KERNEL))
            side = (side - CONV_KERNEL + 1) // (2 if "maxpool" in after else 1)
            channels, features = out, out * side * side
        else:
            shapes.append((out, features))
            features = out
    return shapes


def check_architecture(model_name: str, records: list[LayerRecord], source: str | Path) -> None:
    """Refuse a model the runtime does not run, or layers whose names or shapes do not fit its architecture
    (at most ``FULL_UNITS`` outputs per layer, 10 for the last). Raises ``ValueError``."""
    if model_name not in ARCHITECTURES:
        raise ValueError(f"{source} holds a {model_name!r} model; the runtime runs {sorted(ARCHITECTURES)}")
    if [r.name for r in records] != [ops[0] for ops in ARCHITECTURES[model_name]]:
        raise ValueError(f"{source}: layers {[r.name for r in records]} are not those of {model_name}")
    units = [r.shape[0] for r in records[:-1]] + [10]
    for record, full, shape in zip(records, FULL_UNITS[model_name], architecture_shapes(model_name, units)):
        if record.shape[0] > full:
            raise ValueError(f"{source}: layer {record.name!r} has {record.shape[0]} output units, more than the "
                             f"{full} of the full {model_name}")
        if record.shape != shape:
            raise ValueError(f"{source}: layer {record.name!r} has shape {record.shape}, {model_name} needs {shape}")


def read_layers(path: str | Path) -> tuple[str, list[Layer]]:
    """The model name and its layers as dense numpy arrays, from a ``.vcz`` file; raises ``ValueError`` for a
    model the runtime does not run or layers that do not fit its architecture (``check_architecture``)."""
    model_name, records = read_file(path)
    check_architecture(model_name, records, path)
    order = ARCHITECTURES[model_name]
    return model_name, [Layer(r.name, r.dense_weight(), r.bias if r.bias is not None else np.zeros(r.shape[0], np.float32),
                              ops[1:]) for r, ops in zip(records, order)]


# ---------------------------------------------------------------- dead units, removed exactly
def _constant_after(value: np.ndarray, ops: tuple[str, ...]) -> np.ndarray:
    """What a constant unit (its bias) becomes after the operations that follow it (max-pool keeps it)."""
    return np.maximum(value, 0) if "relu" in ops else value


def _inputs_of(layer: Layer, unit: int, spatial: int) -> np.ndarray:
    """The weights of ``layer`` that read unit ``unit`` of the layer before: (out, ...) (``spatial`` inputs per
    unit after a flatten)."""
    if layer.kind == "conv":
        return layer.weight[:, unit]
    return layer.weight[:, unit * spatial:(unit + 1) * spatial]


def _spatial_sizes(layers: list[Layer]) -> list[int]:
    """For each layer, how many inputs of the next layer one of its units feeds (16 for LeNet-5's conv2)."""
    sizes = []
    for layer, following in zip(layers, layers[1:]):
        units = layer.weight.shape[0]
        sizes.append(following.weight.shape[1] // units if following.kind == "linear" and units else 1)
    return sizes + [1]


def remove_dead_units(layers: list[Layer]) -> tuple[list[Layer], np.ndarray | None]:
    """Drop every unit (hidden unit or conv channel) that cannot change the output, with identical results.

    A unit with no weights in gives a constant: the next layer's bias absorbs it (all of its kernel for a conv
    with no padding, all of its inputs after a flatten) and the unit goes. A unit with no weights out goes.
    Repeats until nothing changes; the last layer keeps all its outputs, and a layer whose units are all dead keeps
    one that does nothing (no weights, bias 0), so that no layer is empty. For a fully connected first layer it
    also drops input features that no weight reads and returns their index (else None).
    Returns (smaller layers, kept input features (k,) or None); ``layers`` is not changed.
    """
    layers = [Layer(l.name, l.weight.copy(), l.bias.astype(np.float64), l.after) for l in layers]
    changed = True
    while changed:
        changed = False
        spatial = _spatial_sizes(layers)
        for i, (layer, following) in enumerate(zip(layers, layers[1:])):
            keep = []
            for unit in range(layer.weight.shape[0]):
                reads = _inputs_of(following, unit, spatial[i])
                if not reads.any():
                    continue  # nothing reads it: drop
                if not layer.weight[unit].any():  # no weights in: a constant, folded into the next bias
                    value = _constant_after(layer.bias[unit], layer.after)
                    following.bias += value * reads.reshape(len(reads), -1).sum(axis=1)
                    continue
                keep.append(unit)
            if not keep:  # every unit is dead: keep one that does nothing, so no layer is ever empty
                keep = [_silence(layer, following, 0, spatial[i])]
            if len(keep) < layer.weight.shape[0]:
                _keep_units(layer, following, np.array(keep, dtype=np.int64), spatial[i])
                changed = True
    inputs = None
    if layers[0].kind == "linear":
        inputs = np.flatnonzero(layers[0].weight.any(axis=0)) if layers[0].weight.any() else np.zeros(1, np.int64)
        layers[0].weight = layers[0].weight[:, inputs]
    for layer in layers:
        layer.bias = layer.bias.astype(np.float32)
    return layers, inputs


def _silence(layer: Layer, following: Layer, unit: int, spatial: int) -> int:
    """Make ``unit`` of ``layer`` a unit that changes nothing: no weights in or out, bias 0. Returns it."""
    layer.weight[unit], layer.bias[unit] = 0, 0
    _inputs_of(following, unit, spatial)[...] = 0
    return unit


def _keep_units(layer: Layer, following: Layer, keep: np.ndarray, spatial: int) -> None:
    """Keep only units ``keep`` of ``layer``, and the inputs of ``following`` that read them."""
    layer.weight, layer.bias = layer.weight[keep], layer.bias[keep]
    if following.kind == "conv":
        following.weight = following.weight[:, keep]
    else:
        columns = (keep[:, None] * spatial + np.arange(spatial)).ravel()
        following.weight = following.weight[:, columns]


# ---------------------------------------------------------------- running
def _im2col(x: np.ndarray, k: int) -> np.ndarray:
    """x (N, H, W, C) -> patches (N * H' * W', C * k * k) of a k x k valid convolution, in (C, kh, kw) order."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # (N, H', W', C, k, k)
    return windows.reshape(-1, windows.shape[3] * k * k)


def _max_pool(x: np.ndarray) -> np.ndarray:
    """2 x 2 max-pooling of x (N, H, W, C), H and W even -> (N, H / 2, W / 2, C)."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@dataclass
class Runtime:
    """A decoded model, ready to run: ``runtime.log_probs(images)`` and ``runtime.predict(images)``.

    Fully connected layers are (out, in) matrices, CSR or dense (``SPARSE_BELOW``), applied to activations kept
    as (features, batch); conv layers keep their images as (batch, height, width, channels) and multiply patches
    by a dense (C*k*k, out) matrix. Built by ``load``.
    """

    model_name: str
    layers: list[Layer]
    inputs: np.ndarray | None  # input features the first fully connected layer reads
    matrices: list = field(init=False)  # per layer: (out, in) CSR or dense (linear), or dense (C*k*k, out) (conv)

    def __post_init__(self):
        self.matrices = [self._matrix(i, layer) for i, layer in enumerate(self.layers)]

    def _matrix(self, i: int, layer: Layer):
        if layer.kind == "conv":
            return np.ascontiguousarray(layer.weight.reshape(len(layer.weight), -1).T)  # (C*k*k, out)
        weight = layer.weight
        if i > 0 and self.layers[i - 1].kind == "conv":  # torch flattens (C, H, W); these images are (H, W, C)
            channels = self.layers[i - 1].weight.shape[0]
            weight = weight.reshape(len(weight), channels, -1).transpose(0, 2, 1).reshape(len(weight), -1)
        if np.count_nonzero(weight) < SPARSE_BELOW * weight.size:
            return scipy.sparse.csr_matrix(weight)
        return np.ascontiguousarray(weight)

    @property
    def nonzeros(self) -> int:
        return sum(int(np.count_nonzero(layer.weight)) for layer in self.layers)

    def log_probs(self, images: np.ndarray) -> np.ndarray:
        """Normalised images (N, 1, 28, 28) or (N, 784) float32 -> log-probabilities (N, 10), as the torch model."""
        x = np.asarray(images, dtype=np.float32)
        n = len(x)
        if self.layers[0].kind == "conv":
            x = x.reshape(n, *CONV_INPUT).transpose(0, 2, 3, 1)  # (N, H, W, C)
        else:
            x = x.reshape(n, -1)[:, self.inputs].T  # (features, N)
        for layer, matrix in zip(self.layers, self.matrices):
            if layer.kind == "conv":
                k = layer.weight.shape[-1]
                height, width = x.shape[1] - k + 1, x.shape[2] - k + 1
                x = (_im2col(x, k) @ matrix + layer.bias).reshape(n, height, width, -1)
            else:
                x = matrix @ x + layer.bias[:, None]
            for op in layer.after:
                if op == "relu":
                    x = np.maximum(x, 0)
                elif op == "maxpool":
                    x = _max_pool(x)
                else:  # flatten (N, H, W, C) -> (features, N), the order the next matrix reads
                    x = x.reshape(n, -1).T
        return _log_softmax(np.ascontiguousarray(x.T))

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(digits (N,) int64, their probabilities (N,) float32) for normalised images (N, 1, 28, 28)."""
        log_probs = self.log_probs(images)
        digits = log_probs.argmax(axis=1)
        return digits, np.exp(log_probs[np.arange(len(digits)), digits])


def load(path: str | Path) -> Runtime:
    """Read a ``.vcz`` file (LeNet-300-100 or LeNet-5) into a ``Runtime``: weights built once, dead units
    removed. Raises ``ValueError`` for a bad file or a model the runtime does not know."""
    model_name, layers = read_layers(path)
    small, inputs = remove_dead_units(layers)
    return Runtime(model_name, small, inputs)
