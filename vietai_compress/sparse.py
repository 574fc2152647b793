"""Sparse inference for a pruned fully connected network, and a small timing helper.

Taught in notebook 06_huffman_and_storage: does a pruned model actually run faster at batch size 1?
"""
from __future__ import annotations

import timeit
import warnings
from typing import Callable

import numpy as np
import scipy.sparse
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_choice
from .models import MaskedLinear
from .quantization import SharedLinear, weight_layers


def _linear_layers(model: nn.Module) -> list[nn.Module]:
    layers = [layer for _, layer in weight_layers(model)]
    if not layers or not all(isinstance(layer, (MaskedLinear, SharedLinear)) for layer in layers):
        raise TypeError("sparse inference needs a model made of MaskedLinear or SharedLinear layers "
                        "(e.g. LeNet300100)")
    return layers


class SparseMLP(nn.Module):
    """The layers of a pruned MLP (ReLU between layers, log_softmax at the end) as sparse CSR matrices.

    ``backend="torch"`` uses ``torch.sparse_csr`` tensors, ``"scipy"`` uses ``scipy.sparse.csr_matrix``.
    Input (batch, 784) or (batch, 1, 28, 28); output (batch, classes) log-probabilities, on the CPU.
    """

    def __init__(self, model: nn.Module, backend: str = "torch"):
        super().__init__()
        self.backend = check_choice(backend, "backend", ("torch", "scipy"))
        layers = _linear_layers(model)
        weights = [(layer.weight * layer.mask).detach().cpu() for layer in layers]
        self.biases = [layer.bias.detach().cpu() for layer in layers]
        if backend == "torch":
            with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
                warnings.simplefilter("ignore", UserWarning)
                self.weights = [w.to_sparse_csr() for w in weights]
        else:
            self.weights = [scipy.sparse.csr_matrix(w.numpy()) for w in weights]
            self.biases = [b.numpy() for b in self.biases]

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), -1).cpu()
        if self.backend == "scipy":
            return self._forward_scipy(x.numpy())
        h = x.T  # (features, batch): W (out, in) @ h
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.sparse.mm(w, h) + b[:, None]
            if i < len(self.weights) - 1:
                h = F.relu(h)
        return F.log_softmax(h.T, dim=1)

    def _forward_scipy(self, x: np.ndarray) -> torch.Tensor:
        h = x.T
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = w @ h + b[:, None]
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0)
        return F.log_softmax(torch.from_numpy(np.ascontiguousarray(h.T)), dim=1)


def seconds_per_call(fn: Callable[[], object], repeat: int = 7, min_time: float = 0.2) -> float:
    """Best-of-``repeat`` time of one call of ``fn()`` in seconds (``timeit``, each run at least ``min_time``)."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(number, int(number * min_time / 0.2))
    return min(timer.repeat(repeat=repeat, number=number)) / number
