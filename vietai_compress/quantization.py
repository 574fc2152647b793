"""Weight sharing by k-means, and trained quantization (fine-tuning the shared centroids).

Taught in notebook 04_weight_sharing. The article clusters the nonzero weights of each layer
(the ``data`` array of a CSR/CSC matrix) with scikit-learn's ``KMeans``, initialised linearly between
their minimum and maximum, and replaces every weight by its centroid. Deep Compression then trains
the centroids: each centroid moves by the summed gradient of the weights that share it.

Here the shared weights live in the layer: ``share_weights`` turns every masked layer into a
``SharedLinear`` / ``SharedConv2d`` that holds its centroids as a Parameter and the positions and
cluster labels of its nonzero weights as buffers, and builds its weight from them in every forward
pass. Autograd then gives each centroid exactly the summed gradient of its weights, so fine-tuning is
a plain call of ``training.train`` (``fine_tune_centroids``). ``strip_sharing`` turns the layers
back into plain masked layers.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.cluster import KMeans
from tqdm.auto import tqdm

from .checks import check_choice, check_int, check_layer_names
from .config import SEED, Device
from .models import MaskedConv2d, MaskedLinear, masked_layers
from .recipe import BITS, FINE_TUNE_LR, INIT
from .training import Batches, LossFn, evaluate, make_optimizer, nll_loss, train

INITS = ("linear", "random", "density", "kmeans++")
INITS_VI = {"linear": "tuyến tính", "random": "ngẫu nhiên", "density": "theo mật độ", "kmeans++": "k-means++"}


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
        """The weight tensor this codebook stands for, of the given shape, on the centroids' device.

        Differentiable with respect to the centroids: the gradient of centroid j is the sum of the
        gradients of the weights labelled j (the index's backward pass adds them up).
        """
        flat = self.centroids.new_zeros(math.prod(shape))
        flat = flat.index_put((self.positions,), self.centroids[self.labels])
        return flat.view(shape)


# ---------------------------------------------------------------- layers that share their weights
class _SharedWeights(nn.Module):
    """Base of the shared layers: centroids (k,) Parameter, positions (n,) and labels (n,) buffers."""

    def __init__(self, codebook: Codebook, shape: tuple[int, ...], bias: torch.Tensor | None):
        super().__init__()
        self.weight_shape = tuple(shape)
        self.centroids = nn.Parameter(codebook.centroids.detach().float().clone())
        self.register_buffer("positions", codebook.positions.detach().long().clone())
        self.register_buffer("labels", codebook.labels.detach().long().clone())
        self.bias = nn.Parameter(bias.detach().clone()) if bias is not None else None

    @property
    def codebook(self) -> Codebook:
        """The layer's codebook; its tensors share memory with the layer, so it is never stale."""
        return Codebook(self.centroids.detach(), self.positions, self.labels)

    @property
    def weight(self) -> torch.Tensor:
        """The dense weight, built from the centroids (gradients flow to the centroids)."""
        return Codebook(self.centroids, self.positions, self.labels).dense(self.weight_shape)

    @property
    def mask(self) -> torch.Tensor:
        """1 where a weight is stored, 0 elsewhere (what the masked layer's buffer held)."""
        flat = torch.zeros(math.prod(self.weight_shape), device=self.positions.device)
        flat[self.positions] = 1.0
        return flat.view(self.weight_shape)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # n and k differ from layer to layer: take the sizes the checkpoint has before loading it
        for name in ("centroids", "positions", "labels"):
            if prefix + name in state_dict:
                getattr(self, name).data = torch.empty_like(state_dict[prefix + name], device=self.positions.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"shape={self.weight_shape}, k={len(self.centroids)}, n={len(self.labels)}"


class SharedLinear(_SharedWeights):
    """A linear layer whose nonzero weights share k values: x (batch, in) -> (batch, out)."""

    def __init__(self, layer: nn.Linear, codebook: Codebook):
        super().__init__(codebook, tuple(layer.weight.shape), layer.bias)
        self.out_features, self.in_features = layer.weight.shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class SharedConv2d(_SharedWeights):
    """A 2-D convolution whose nonzero weights share k values: (batch, C, H, W) -> (batch, C', H', W')."""

    def __init__(self, layer: nn.Conv2d, codebook: Codebook):
        super().__init__(codebook, tuple(layer.weight.shape), layer.bias)
        if getattr(layer, "padding_mode", "zeros") != "zeros":
            raise ValueError(f"only padding_mode='zeros' is supported, got {layer.padding_mode!r}")
        self.in_channels, self.out_channels = layer.in_channels, layer.out_channels
        self.kernel_size, self.stride, self.padding = layer.kernel_size, layer.stride, layer.padding
        self.dilation, self.groups = layer.dilation, layer.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


SHARED_LAYER_TYPES = (SharedLinear, SharedConv2d)


def shared_layers(model: nn.Module) -> list[tuple[str, _SharedWeights]]:
    """Every shared layer of ``model`` as ``(name, layer)``, in model order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SHARED_LAYER_TYPES)]


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every masked or shared layer of ``model`` as ``(name, layer)``, in model order.

    Both kinds have ``weight`` (the dense weight as used in the forward pass), ``mask`` and ``bias``.
    """
    types = SHARED_LAYER_TYPES + (MaskedLinear, MaskedConv2d)
    return [(name, m) for name, m in model.named_modules() if isinstance(m, types)]


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, new)


def install_codebooks(model: nn.Module, codebooks: dict[str, Codebook]) -> dict[str, Codebook]:
    """Replace each named layer (masked or shared) by a shared layer holding its codebook, in place.

    The layer's bias and conv settings carry over. Used by ``share_weights``, by loading a shared checkpoint
    and by ``storage.load_compressed``. Returns the new layers' codebooks (views).
    """
    layers = dict(weight_layers(model))
    for name, codebook in codebooks.items():
        layer = layers[name]
        make = SharedConv2d if isinstance(layer, (nn.Conv2d, SharedConv2d)) else SharedLinear
        _replace(model, name, make(layer, codebook).to(layer.weight.device))
    return {name: codebook for name, codebook in model_codebooks(model).items() if name in codebooks}


# ---------------------------------------------------------------- k-means
def check_bits(bits: int) -> int:
    """Bits per shared weight: an int in [1, 16] (2**bits centroids)."""
    return check_int(bits, "bits", 1, 16)


def initial_centroids(values: np.ndarray, k: int, init: str, seed: int = SEED) -> np.ndarray | str:
    """Starting centroids for k-means on 1-D ``values`` (n,), as in Han et al. (Fig. 8).

    linear: evenly spaced between min and max; random: k distinct weights drawn at random;
    density: evenly spaced on the weights' CDF (quantiles); kmeans++: scikit-learn's k-means++.
    Returns an array (k,) or the string ``"k-means++"`` that ``KMeans`` understands.
    """
    check_choice(init, "init", INITS)
    if init == "linear":
        return np.linspace(values.min(), values.max(), k)
    if init == "random":
        return np.random.default_rng(seed).choice(np.unique(values), size=k, replace=False)
    if init == "density":
        return np.quantile(values, np.linspace(0.0, 1.0, k))
    return "k-means++"


def cluster_values(values: np.ndarray, bits: int, init: str = INIT, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Cluster 1-D ``values`` (n,) into at most 2**bits groups.

    Returns ``(centroids (k,) float32, labels (n,) int64)``. When the values hold no more than 2**bits
    distinct numbers, each distinct number is its own centroid (exact, no k-means needed).
    """
    bits, init = check_bits(bits), check_choice(init, "init", INITS)
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
def layer_codebook(weight: torch.Tensor, bits: int, init: str = INIT, seed: int = SEED) -> Codebook:
    """Cluster the nonzero entries of ``weight`` (any shape) into at most 2**bits shared values (CPU)."""
    flat = weight.detach().flatten().cpu()
    positions = flat.nonzero().flatten()
    values = flat[positions].double().numpy()
    if len(values) == 0:  # an all-zero layer: an empty codebook
        return Codebook(torch.zeros(0), positions, torch.zeros(0, dtype=torch.long))
    centroids, labels = cluster_values(values, bits, init, seed)
    return Codebook(torch.from_numpy(centroids), positions, torch.from_numpy(labels))


def bits_per_layer(bits: int | Mapping[str, int], names: list[str]) -> dict[str, int]:
    """One int for every layer, or a mapping that names each layer once (``{"fc1": 4, "fc2": 5, ...}``)."""
    if not isinstance(bits, Mapping):
        return dict.fromkeys(names, check_bits(bits))
    check_layer_names(bits, names, "bits")
    return {name: check_int(bits[name], f"bits[{name!r}]", 1, 16) for name in names}


def share_weights(model: nn.Module, bits: int | Mapping[str, int] = BITS, init: str = INIT,
                  seed: int = SEED) -> dict[str, Codebook]:
    """Replace every masked layer by a shared layer whose nonzero weights are their k-means centroids.

    At most 2**bits centroids per layer, with one ``bits`` for every layer or a mapping per layer (the
    paper: 8 bits for conv layers, 5 for fully connected ones); pruned weights stay exactly 0; an all-zero
    layer gets an empty codebook. The model is changed in place (its masked layers become ``SharedLinear``
    / ``SharedConv2d``); create a new optimizer afterwards. Returns ``{layer_name: Codebook}`` (views of
    the layers' tensors).
    """
    init = check_choice(init, "init", INITS)
    layers = masked_layers(model)
    if not layers:
        raise ValueError("model has no masked layer to share; build it with masks, e.g. LeNet300100()")
    bits = bits_per_layer(bits, [name for name, _ in layers])
    return install_codebooks(model, {name: layer_codebook(layer.weight * layer.mask, bits[name], init, seed)
                                     for name, layer in layers})


def model_codebooks(model: nn.Module) -> dict[str, Codebook]:
    """``{layer_name: Codebook}`` of every shared layer of ``model`` (views, never stale)."""
    return {name: layer.codebook for name, layer in shared_layers(model)}


@torch.no_grad()
def strip_sharing(model: nn.Module) -> nn.Module:
    """Turn every shared layer back into a plain masked layer with the same weight, mask and bias (in place)."""
    for name, layer in shared_layers(model):
        if isinstance(layer, SharedConv2d):
            plain = MaskedConv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                                 layer.padding, layer.dilation, layer.groups, bias=layer.bias is not None)
        else:
            plain = MaskedLinear(layer.in_features, layer.out_features, bias=layer.bias is not None)
        plain.to(layer.centroids.device)
        plain.weight.copy_(layer.weight)
        plain.mask.copy_(layer.mask)
        if layer.bias is not None:
            plain.bias.copy_(layer.bias)
        _replace(model, name, plain)
    return model


def share_like_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """Give ``model`` shared layers wherever ``state_dict`` holds centroids, so that it can be loaded.

    Used when a checkpoint of a weight-shared model is loaded into a freshly built (masked) model.
    """
    empty = layer_codebook(torch.zeros(0), 1)  # load_state_dict then gives each layer its own sizes
    install_codebooks(model, {name: empty for name, _ in masked_layers(model) if f"{name}.centroids" in state_dict})
    return model


def distinct_values(model: nn.Module) -> dict[str, int]:
    """Number of distinct nonzero weight values in every masked or shared layer."""
    result = {}
    for name, layer in weight_layers(model):
        weight = layer.weight.detach()
        result[name] = int(torch.unique(weight[weight != 0]).numel())
    return result


# ---------------------------------------------------------------- trained quantization
def fine_tune_centroids(model: nn.Module, loader: Batches, epochs: int, lr: float = FINE_TUNE_LR,
                        device: Device = None, progress: bool = True, eval_loader: Batches | None = None,
                        desc: str = "tinh chỉnh tâm cụm", loss_fn: LossFn = nll_loss) -> dict[str, list[float]]:
    """Trained quantization (Deep Compression, Fig. 3): train the centroids, keep the assignments.

    A plain ``train`` call with a fresh Adam (constant lr, no weight decay) over the model's parameters:
    the shared layers' centroids (each gets the summed gradient of its weights) and the biases.
    Pruned weights stay 0 and each layer keeps at most ``k`` distinct values by construction.
    ``loss_fn`` is ``train``'s (a distillation loss with a dense teacher, notebook 07). Returns the history.
    """
    if not shared_layers(model):
        raise ValueError("model has no shared layer; call share_weights(model, bits) first")
    optimizer = make_optimizer(model, lr=lr, weight_decay=0.0)
    return train(model, loader, optimizer, epochs, device, progress, eval_loader=eval_loader, desc=desc,
                 cosine=False, loss_fn=loss_fn)


def sharing_sweep(model: nn.Module, bits_values: Iterable[int], train_loader: Batches | Callable[[], Batches],
                  test_loader: Batches, inits: Iterable[str] = (INIT,), fine_tune: int = 0, lr: float = FINE_TUNE_LR,
                  device: Device = None, progress: bool = True, desc: str = "chia sẻ trọng số") -> list[dict]:
    """Accuracy of weight sharing for every (init, bits), each on a fresh copy of ``model``.

    Returns one dict per run: ``{"init", "bits", "accuracy"}``, plus ``"fine_tuned"`` (accuracy after
    ``fine_tune`` epochs of ``fine_tune_centroids``) when ``fine_tune`` > 0. ``model`` is not changed.
    ``train_loader`` may be a function that returns a new loader: each run then fine-tunes on the same batches
    (notebook 04 passes the pipeline's, so its 5-bit row is the pipeline's fine-tuned model).
    """
    fine_tune = check_int(fine_tune, "fine_tune", 0)
    bits_values, inits = list(bits_values), list(inits)
    rows = []
    bar = tqdm(total=len(inits) * len(bits_values), desc=desc, disable=not progress, unit=" lần đo")
    for init in inits:
        for bits in bits_values:
            shared = copy.deepcopy(model)
            share_weights(shared, bits, init)
            row = {"init": init, "bits": bits, "accuracy": evaluate(shared, test_loader, device).accuracy}
            if fine_tune:
                loader = train_loader() if callable(train_loader) else train_loader
                fine_tune_centroids(shared, loader, fine_tune, lr, device, progress=False)
                row["fine_tuned"] = evaluate(shared, test_loader, device).accuracy
            rows.append(row)
            bar.update(1)
    bar.close()
    return rows
