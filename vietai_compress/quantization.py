"""Weight sharing by k-means, and trained quantization (fine-tuning the shared centroids).

Taught in notebook 04_weight_sharing. The article clusters the nonzero weights of each layer
(the ``data`` array of a CSR/CSC matrix) with scikit-learn's ``KMeans``, initialised linearly between
their minimum and maximum, and replaces every weight by its centroid. Deep Compression then trains
the centroids: each centroid moves by the summed gradient of the weights that share it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.cluster import KMeans
from tqdm.auto import tqdm

from .config import SEED, get_device
from .models import masked_layers
from .training import article_epochs, check_epochs, evaluate

INITS = ("linear", "random", "density", "kmeans++")
FINE_TUNE_LR = 1e-4
FINE_TUNE_EPOCHS = 5


@dataclass
class Codebook:
    """One layer's shared weights: what a compressed file must store.

    centroids: (k,) float32, the shared values. positions: (n,) int64, the row-major (flattened) index of
    every nonzero weight. labels: (n,) int64 in [0, k), the centroid of each of those weights.
    The layer's weight equals ``centroids[labels]`` at ``positions`` and 0 everywhere else.
    """

    centroids: torch.Tensor
    positions: torch.Tensor
    labels: torch.Tensor

    @property
    def k(self) -> int:
        return len(self.centroids)

    @property
    def n(self) -> int:
        return len(self.labels)

    def dense(self, shape: tuple[int, ...]) -> torch.Tensor:
        """The weight tensor this codebook stands for, of the given shape, float32 on the CPU."""
        flat = torch.zeros(int(np.prod(shape)), dtype=torch.float32)
        flat[self.positions] = self.centroids[self.labels]
        return flat.view(shape)


def check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an int in [1, 16], got {bits!r}")
    return int(bits)


def _check_init(init) -> str:
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return init


def initial_centroids(values: np.ndarray, k: int, init: str, seed: int = SEED):
    """Starting centroids for k-means on 1-D ``values`` (n,), as in Han et al. (Fig. 8).

    linear: evenly spaced between min and max; random: k distinct weights drawn at random;
    density: evenly spaced on the weights' CDF (quantiles); kmeans++: scikit-learn's k-means++.
    Returns an array (k,) or the string ``"k-means++"`` that ``KMeans`` understands.
    """
    _check_init(init)
    if init == "linear":
        return np.linspace(values.min(), values.max(), k)
    if init == "random":
        return np.random.default_rng(seed).choice(np.unique(values), size=k, replace=False)
    if init == "density":
        return np.quantile(values, np.linspace(0.0, 1.0, k))
    return "k-means++"


def cluster_values(values: np.ndarray, bits: int, init: str = "linear", seed: int = SEED):
    """Cluster 1-D ``values`` (n,) into at most 2**bits groups.

    Returns ``(centroids (k,) float32, labels (n,) int64)``. When the values hold no more than 2**bits
    distinct numbers, each distinct number is its own centroid (exact, no k-means needed).
    """
    bits, init = check_bits(bits), _check_init(init)
    distinct, inverse = np.unique(values, return_inverse=True)
    if len(distinct) <= 2 ** bits:
        return distinct.astype(np.float32), inverse.astype(np.int64)
    k = 2 ** bits
    start = initial_centroids(values, k, init, seed)
    start = start.reshape(-1, 1) if isinstance(start, np.ndarray) else start
    kmeans = KMeans(n_clusters=k, init=start, n_init=1, tol=0.0, random_state=seed)  # tol 0: run to convergence
    labels = kmeans.fit(values.reshape(-1, 1).astype(np.float64)).labels_.astype(np.int64)
    # Each centroid is the exact mean of its weights. KMeans centres the data internally, which rounds a
    # tiny weight (say 1e-38, left by weight decay) in a cluster of its own to a centroid of exactly 0.
    counts = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=values, minlength=k)
    centroids = np.where(counts > 0, sums / np.maximum(counts, 1), kmeans.cluster_centers_.ravel())
    return centroids.astype(np.float32), labels


@torch.no_grad()
def share_weights(model: nn.Module, bits: int = 5, init: str = "linear", seed: int = SEED) -> dict[str, Codebook]:
    """Replace the nonzero weights of every masked layer by their k-means centroid (at most 2**bits).

    Pruned weights stay exactly 0; an all-zero layer is left alone (empty codebook); dtype stays
    float32. Returns ``{layer_name: Codebook}``.
    """
    bits, init = check_bits(bits), _check_init(init)
    codebooks = {}
    for name, layer in masked_layers(model):
        flat = layer.weight.detach().flatten()
        positions = flat.nonzero().flatten().cpu()
        values = flat[positions.to(flat.device)].cpu().double().numpy()
        if len(values) == 0:
            centroids, labels = np.zeros(0, np.float32), np.zeros(0, np.int64)
        else:
            centroids, labels = cluster_values(values, bits, init, seed)
        codebook = Codebook(torch.from_numpy(centroids), positions, torch.from_numpy(labels))
        _write_codebook(layer, codebook)
        codebooks[name] = codebook
    return codebooks


@torch.no_grad()
def _write_codebook(layer: nn.Module, codebook: Codebook) -> None:
    """Set the layer's weight to centroids[labels] at the codebook's positions (0 elsewhere)."""
    layer.weight.copy_(codebook.dense(tuple(layer.weight.shape)).to(layer.weight.device))


def distinct_values(model: nn.Module) -> dict[str, int]:
    """Number of distinct nonzero weight values in every masked layer."""
    return {name: int(torch.unique(layer.weight[layer.weight != 0]).numel())
            for name, layer in masked_layers(model)}


def fine_tune_centroids(model: nn.Module, codebooks: dict[str, Codebook], loader, epochs: int,
                        lr: float = FINE_TUNE_LR, device=None, progress: bool = True, eval_loader=None) -> dict:
    """Trained quantization (Deep Compression, Fig. 3): train the centroids, keep the assignments.

    Each centroid's gradient is the sum of the gradients of the weights that share it; the other
    parameters (biases) train as usual; pruned weights stay 0. After every step each layer holds
    at most ``k`` distinct values. Updates ``codebooks`` in place and returns
    ``{"loss": [...], "test_accuracy": [...]}`` per epoch (accuracy only with ``eval_loader``).
    """
    check_epochs(epochs)
    device = device or get_device()
    model.to(device)
    layers = dict(masked_layers(model))
    unknown = sorted(set(codebooks) - set(layers))
    if unknown:
        raise ValueError(f"codebooks name layers the model does not have: {unknown}")
    centroids = {name: cb.centroids.clone().to(device).requires_grad_() for name, cb in codebooks.items()}
    index = {name: (cb.positions.to(device), cb.labels.to(device)) for name, cb in codebooks.items()}
    shared = {id(layers[name].weight) for name in codebooks}
    others = [p for p in model.parameters() if id(p) not in shared]
    optimizer = torch.optim.Adam(list(centroids.values()) + others, lr=lr)

    history = {"loss": [], "test_accuracy": []}
    bar = tqdm(total=epochs * len(loader), desc="fine-tune centroids", disable=not progress, unit="batch")
    for epoch in range(epochs):
        model.train()
        total_loss, batches = 0.0, 0
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad(set_to_none=True)
            model.zero_grad(set_to_none=True)
            loss = F.nll_loss(model(images), labels)
            loss.backward()
            for name, c in centroids.items():
                positions, members = index[name]
                weight_grad = layers[name].weight.grad.flatten()[positions]
                c.grad = torch.zeros_like(c).index_add_(0, members, weight_grad)
            optimizer.step()
            with torch.no_grad():
                for name, c in centroids.items():
                    positions, members = index[name]
                    layers[name].weight.view(-1)[positions] = c[members]
            total_loss += loss.item()
            batches += 1
            bar.update(1)
        history["loss"].append(total_loss / max(batches, 1))
        if eval_loader is not None:
            history["test_accuracy"].append(evaluate(model, eval_loader, device).accuracy)
        bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{history['loss'][-1]:.4f}")
    bar.close()
    for name, c in centroids.items():
        codebooks[name].centroids = c.detach().cpu()
    return history


def fine_tune_epochs(quick: bool, batches_per_epoch: int) -> int:
    """Centroid fine-tuning epochs: 5 in full mode; in quick mode one MNIST epoch's worth of steps."""
    return article_epochs(quick, batches_per_epoch) if quick else FINE_TUNE_EPOCHS


def sharing_sweep(model: nn.Module, bits_values, train_loader, test_loader, inits=("linear",),
                  fine_tune: int = 0, lr: float = FINE_TUNE_LR, device=None, progress: bool = True) -> list[dict]:
    """Accuracy of weight sharing for every (init, bits), each on a fresh copy of ``model``.

    Returns one dict per run: ``{"init", "bits", "accuracy"}``, plus ``"fine_tuned"`` (accuracy after
    ``fine_tune`` epochs of ``fine_tune_centroids``) when ``fine_tune`` > 0. ``model`` is not changed.
    """
    check_epochs(fine_tune)
    rows = []
    bar = tqdm(total=len(inits) * len(bits_values), desc="weight sharing", disable=not progress)
    for init in inits:
        for bits in bits_values:
            shared = copy.deepcopy(model)
            codebooks = share_weights(shared, bits, init)
            row = {"init": init, "bits": bits, "accuracy": evaluate(shared, test_loader, device).accuracy}
            if fine_tune:
                fine_tune_centroids(shared, codebooks, train_loader, fine_tune, lr, device, progress=False)
                row["fine_tuned"] = evaluate(shared, test_loader, device).accuracy
            rows.append(row)
            bar.update(1)
    bar.close()
    return rows
