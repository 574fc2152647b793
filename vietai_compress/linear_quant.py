"""Linear (affine, uniform) quantization: int8 weights and activations with a scale and a zero point (notebook 12).

Written out because it is the lesson (Jacob et al. 2018, "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference"). A real number r is stored as an integer q with
r ~ scale * (q - zero_point); ``quantize`` / ``dequantize`` per tensor or per output channel (axis 0).
``integer_linear`` runs one fully connected layer with integers only: int8 x int8 products summed in int32, the
bias in int32, and the sum brought back to int8 by a fixed-point multiplier (``fixed_point``).
Post-training quantization (PTQ) measures activation ranges on training images (``calibrate``) and runs the
model with every weight and activation rounded (``QuantizedNet``); quantization-aware training (QAT) trains
through the rounding with the straight-through estimator (``fake_quantize``: forward rounds, backward passes
the gradient where the value was inside the range). ``torch.fake_quantize_per_channel_affine`` is the reference
the tests assert against. Deployed int8 runs through ONNX Runtime (``deploy.quantize_static``).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .checks import check_int
from .training import Batches


def int_range(bits: int = 8) -> tuple[int, int]:
    """The signed integers of ``bits`` bits: (-2**(bits-1), 2**(bits-1) - 1), e.g. (-128, 127)."""
    bits = check_int(bits, "bits", 2, 16)
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


@dataclass
class QParams:
    """scale (float32) and zero_point (int64), each a scalar tensor (per tensor) or (channels,) (per channel,
    along axis 0); ``bits`` of the integers."""

    scale: torch.Tensor
    zero_point: torch.Tensor
    bits: int = 8

    def _view(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (-1,) + (1,) * (x.dim() - 1) if self.scale.dim() else ()
        return self.scale.reshape(shape), self.zero_point.reshape(shape)


def qparams(low: torch.Tensor, high: torch.Tensor, bits: int = 8, symmetric: bool = False) -> QParams:
    """Scale and zero point that map [low, high] (scalars, or (channels,)) onto the integers of ``bits`` bits.

    The range is widened to contain 0, so that 0 is represented exactly (pruned weights, ReLU zeros). Symmetric:
    [-m, m] with m = max(|low|, |high|) and zero point 0 (the usual choice for weights).
    """
    qmin, qmax = int_range(bits)
    low = torch.minimum(torch.as_tensor(low, dtype=torch.float32), torch.tensor(0.0))
    high = torch.maximum(torch.as_tensor(high, dtype=torch.float32), torch.tensor(0.0))
    if symmetric:  # [-m, m] onto [-qmax, qmax]: the most negative integer is left unused
        scale = torch.maximum(-low, high) / qmax
        zero_point = torch.zeros_like(scale, dtype=torch.int64)
    else:
        scale = (high - low) / (qmax - qmin)
        zero_point = torch.round(qmin - low / torch.where(scale > 0, scale, 1.0)).to(torch.int64)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero range: any scale represents it
    return QParams(scale, zero_point.clamp(qmin, qmax), bits)


def tensor_qparams(x: torch.Tensor, bits: int = 8, per_channel: bool = False, symmetric: bool = False) -> QParams:
    """``qparams`` from the minimum and maximum of ``x``, over all of it or per output channel (axis 0)."""
    x = x.detach()
    if per_channel:
        flat = x.flatten(1)
        return qparams(flat.min(dim=1).values, flat.max(dim=1).values, bits, symmetric)
    return qparams(x.min(), x.max(), bits, symmetric)


def _rounded(x: torch.Tensor, q: QParams) -> torch.Tensor:
    """round(x / scale + zero_point) as floats, computed as PyTorch's fake-quantization kernels compute it."""
    scale, zero_point = q._view(x)
    return torch.round(x * (1.0 / scale) + zero_point)


def quantize(x: torch.Tensor, q: QParams) -> torch.Tensor:
    """Real values -> integers (int64): clamp(round(x / scale + zero_point), qmin, qmax)."""
    qmin, qmax = int_range(q.bits)
    return _rounded(x, q).clamp(qmin, qmax).to(torch.int64)


def dequantize(values: torch.Tensor, q: QParams) -> torch.Tensor:
    """Integers -> the real values they stand for: scale * (q - zero_point), float32."""
    scale, zero_point = q._view(values)
    return (values - zero_point).to(torch.float32) * scale


def fake_quantize(x: torch.Tensor, q: QParams) -> torch.Tensor:
    """``dequantize(quantize(x))`` in the forward pass; in the backward pass the straight-through estimator: the
    gradient goes through unchanged where the rounded value was inside the integer range, and is 0 where it was
    clamped (as ``torch.fake_quantize_per_channel_affine``)."""
    qmin, qmax = int_range(q.bits)
    rounded = _rounded(x, q)
    inside = (rounded >= qmin) & (rounded <= qmax)
    value = dequantize(rounded.clamp(qmin, qmax), q)
    return torch.where(inside, x + (value - x).detach(), value.detach())


# ---------------------------------------------------------------- one layer, integers only
def fixed_point(multiplier: float) -> tuple[int, int]:
    """A real multiplier in (0, 1) as an int32 m0 in [2**30, 2**31) and a right shift: multiplier ~ m0 * 2**-(31 +
    shift) (gemmlowp's requantization, Jacob et al. 2018, section 2.2)."""
    if not 0 < multiplier < 1:
        raise ValueError(f"multiplier must be in (0, 1), got {multiplier}")
    mantissa, exponent = math.frexp(multiplier)  # multiplier = mantissa * 2**exponent, mantissa in [0.5, 1)
    m0 = round(mantissa * 2 ** 31)
    if m0 == 2 ** 31:
        m0, exponent = m0 // 2, exponent + 1
    return m0, -exponent


def requantize(accumulator: torch.Tensor, m0: torch.Tensor, shift: torch.Tensor, zero_point: int, bits: int = 8) -> torch.Tensor:
    """int32 sums (N, out) -> int8 outputs with integer operations only: (acc * m0) >> (31 + shift), rounded to
    nearest, plus the output zero point, clamped. m0 and shift are (out,) int64 (one per output channel)."""
    qmin, qmax = int_range(bits)
    total_shift = 31 + shift
    product = accumulator.to(torch.int64) * m0
    rounded = (product + (1 << (total_shift - 1))) >> total_shift
    return (rounded + zero_point).clamp(qmin, qmax)


@dataclass
class IntegerLinear:
    """A fully connected layer ready for integer-only inference: int8 weights (out, in) per output channel
    (symmetric, zero point 0), the int32 bias, and the fixed-point multipliers from input scale x weight scale to
    the output scale."""

    weight: torch.Tensor  # (out, in) int64 holding int8 values
    bias: torch.Tensor  # (out,) int64 holding int32 values, in units of input scale x weight scale
    m0: torch.Tensor  # (out,)
    shift: torch.Tensor  # (out,)
    x_q: QParams
    y_q: QParams

    @classmethod
    def from_float(cls, layer: nn.Linear, x_q: QParams, y_q: QParams) -> "IntegerLinear":
        w_q = tensor_qparams(layer.weight, 8, per_channel=True, symmetric=True)
        accumulator_scale = x_q.scale * w_q.scale  # (out,)
        bias = torch.round(layer.bias.detach() / accumulator_scale).to(torch.int64)
        pairs = [fixed_point(float(m)) for m in accumulator_scale / y_q.scale]
        return cls(quantize(layer.weight.detach(), w_q), bias, torch.tensor([p[0] for p in pairs]),
                   torch.tensor([p[1] for p in pairs]), x_q, y_q)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """int8 inputs (N, in) -> int8 outputs (N, out): int8 x int8 summed in int32, + bias, requantized."""
        accumulator = (x - self.x_q.zero_point) @ self.weight.T + self.bias  # every term an integer
        if accumulator.abs().max() >= 2 ** 31:
            raise OverflowError("the int32 accumulator overflowed: the layer has too many inputs for 8 bits")
        return requantize(accumulator, self.m0, self.shift, int(self.y_q.zero_point), self.y_q.bits)


# ---------------------------------------------------------------- whole models: PTQ and QAT
WEIGHT_TYPES = (nn.Linear, nn.Conv2d)


def weight_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every ``nn.Linear`` / ``nn.Conv2d`` (masked ones included), in model order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHT_TYPES)]


@torch.no_grad()
def calibrate(model: nn.Module, loader: Batches, batches: int = 10) -> dict[str, tuple[float, float]]:
    """The range (min, max) of the input of every weight layer over the first ``batches`` batches of ``loader``:
    post-training quantization's calibration (activation ranges measured on training images)."""
    ranges: dict[str, list[float]] = {}

    def hook(name):
        def record(module, inputs):
            x = inputs[0]
            low, high = ranges.get(name, (math.inf, -math.inf))
            ranges[name] = [min(low, float(x.min())), max(high, float(x.max()))]
        return record

    handles = [m.register_forward_pre_hook(hook(name)) for name, m in weight_modules(model)]
    model.eval()
    try:
        for i, (images, *_) in enumerate(loader):
            if i >= batches:
                break
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    return {name: (low, high) for name, (low, high) in ranges.items()}


class FakeQuantized(nn.Module):
    """A weight layer whose input and weight are fake-quantized on every call: the input per tensor with fixed
    calibrated ``QParams`` (activations), the weight per output channel, symmetric, from its current range (so
    the weight keeps training through ``fake_quantize`` in QAT). Pruned weights stay 0 (0 is exact)."""

    def __init__(self, layer: nn.Module, input_q: QParams, bits: int = 8, weight_only: bool = False):
        super().__init__()
        self.layer, self.input_q, self.bits, self.weight_only = layer, input_q, bits, weight_only

    def quantized_weight(self) -> torch.Tensor:
        weight = self.layer.weight * self.layer.mask if hasattr(self.layer, "mask") else self.layer.weight
        return fake_quantize(weight, tensor_qparams(weight, self.bits, per_channel=True, symmetric=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.weight_only:
            x = fake_quantize(x, self.input_q)
        weight = self.quantized_weight()
        if isinstance(self.layer, nn.Conv2d):
            return self.layer._conv_forward(x, weight, self.layer.bias)
        return F.linear(x, weight, self.layer.bias)


def fake_quantized(model: nn.Module, ranges: dict[str, tuple[float, float]] | None, bits: int = 8,
                   weight_only: bool = False) -> nn.Module:
    """A copy of ``model`` whose weight layers are ``FakeQuantized`` with ``bits``: weights per output channel and
    (unless ``weight_only``) their inputs per tensor with the calibrated ``ranges`` (None with ``weight_only``).
    Evaluate it for PTQ; train it (``training.train``) for QAT, then ``strip_fake_quantization`` to get the
    weights back."""
    if ranges is None and not weight_only:
        raise ValueError("ranges are needed to quantize activations: calibrate(model, loader), or weight_only=True")
    quantized = copy.deepcopy(model)
    for name, layer in weight_modules(quantized):
        low, high = ranges[name] if ranges is not None else (0.0, 0.0)
        parent, _, child = name.rpartition(".")
        setattr(quantized.get_submodule(parent), child,
                FakeQuantized(layer, qparams(torch.tensor(low), torch.tensor(high), bits), bits, weight_only))
    return quantized


@torch.no_grad()
def strip_fake_quantization(model: nn.Module) -> nn.Module:
    """Replace each ``FakeQuantized`` by its layer holding the rounded weights (in place): after QAT, every
    weight layer has at most 2**bits distinct values per output channel, and pruned weights are still 0."""
    for name, module in list(model.named_modules()):
        if isinstance(module, FakeQuantized):
            module.layer.weight.copy_(module.quantized_weight())
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, module.layer)
    return model



# ---------------------------------------------------------------- k-means against linear, bit by bit
@dataclass
class BitsPoint:
    """Validation accuracy (%) of a pruned model whose weights are quantized to ``bits`` by ``method``
    (``"k-means"``: Deep Compression's shared weights, one codebook per layer; ``"linear"``: uniform levels,
    symmetric per output channel), before or after ``fine_tuned`` (centroids, or QAT)."""

    method: str
    bits: int
    fine_tuned: bool
    val_accuracy: float


def kmeans_vs_linear(pruned: nn.Module, train_loader: Batches, val_loader: Batches,
                     bits: tuple[int, ...] = (8, 5, 4, 3, 2), epochs: int = 1, device=None,
                     progress: bool = True) -> list[BitsPoint]:
    """Quantize the weights of ``pruned`` (masked layers; activations stay float) both ways at each ``bits`` and
    read the validation accuracy, then fine-tune each for ``epochs`` with the same optimizer (Adam at the
    centroid fine-tuning's lr, no weight decay, constant lr): the centroids for k-means, the weights through
    ``fake_quantize`` (QAT) for linear. Pruned weights stay 0 in both. ``pruned`` is not changed (notebook 12)."""
    from .quantization import FINE_TUNE_LR, fine_tune_centroids, share_weights
    from .training import evaluate, make_optimizer, train

    points = []
    for b in tqdm(bits, desc="k-means và tuyến tính", disable=not progress, unit=" mức bit"):
        kmeans = copy.deepcopy(pruned)
        share_weights(kmeans, b)
        points.append(BitsPoint("k-means", b, False, evaluate(kmeans, val_loader, device).accuracy))
        fine_tune_centroids(kmeans, train_loader, epochs, device=device, progress=False)
        points.append(BitsPoint("k-means", b, True, evaluate(kmeans, val_loader, device).accuracy))
        linear = fake_quantized(pruned, None, b, weight_only=True)
        points.append(BitsPoint("linear", b, False, evaluate(linear, val_loader, device).accuracy))
        train(linear, train_loader, make_optimizer(linear, lr=FINE_TUNE_LR, weight_decay=0.0), epochs, device,
              progress=False, cosine=False)
        points.append(BitsPoint("linear", b, True, evaluate(linear, val_loader, device).accuracy))
    return points


def kmeans_vs_linear_before(pruned: nn.Module, val_loader: Batches, bits: tuple[int, ...] = (8, 5, 4, 3, 2),
                            device=None) -> list[BitsPoint]:
    """The points of ``kmeans_vs_linear`` before any fine-tuning, without training: for each of ``bits``, the
    validation accuracy with the weights quantized by k-means, then linearly (weight only). The same numbers as
    ``kmeans_vs_linear``'s ``fine_tuned=False`` points, in seconds: notebook 12 computes them live in class mode and
    checks them against the saved run. ``pruned`` is not changed."""
    from .quantization import share_weights
    from .training import evaluate

    points = []
    for b in bits:
        kmeans = copy.deepcopy(pruned)
        share_weights(kmeans, b)
        points.append(BitsPoint("k-means", b, False, evaluate(kmeans, val_loader, device).accuracy))
        linear = fake_quantized(pruned, None, b, weight_only=True)
        points.append(BitsPoint("linear", b, False, evaluate(linear, val_loader, device).accuracy))
    return points
