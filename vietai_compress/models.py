"""Layers that carry a pruning mask, and the article's LeNet-300-100.

Taught in notebook 01_base_training (the network) and 02_pruning (the mask).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_choice


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a 0/1 mask in every forward pass.

    weight: (out_features, in_features) float32; mask: same shape, a registered buffer (saved in the
    state_dict, moved with ``.to(device)``, never trained). Because the forward uses ``weight * mask``,
    the gradient that reaches a pruned weight is exactly zero (notebook 03 explains why that alone is
    not enough with momentum).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        self.register_buffer("mask", torch.ones_like(self.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, in_features) -> (batch, out_features)."""
        return F.linear(x, self.weight * self.mask, self.bias)


class MaskedConv2d(nn.Conv2d):
    """A 2-D convolution with a 0/1 mask on its weight (out, in/groups, kh, kw), as ``MaskedLinear``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("mask", torch.ones_like(self.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, in_channels, H, W) -> (batch, out_channels, H', W')."""
        return self._conv_forward(x, self.weight * self.mask, self.bias)


MASKED_LAYER_TYPES = (MaskedLinear, MaskedConv2d)


def masked_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every masked layer of ``model`` as ``(name, layer)``, found by type (never by a hard-coded name)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, MASKED_LAYER_TYPES)]


class LeNet300100(nn.Module):
    """The article's fully connected LeNet-300-100: 784 -> 300 -> 100 -> 10, ReLU, log_softmax.

    Input (batch, 1, 28, 28) or (batch, 784); output (batch, 10) log-probabilities.
    266,200 weights + 410 biases = 266,610 parameters (1,066,440 bytes as float32).
    ``mask=False`` builds the same network from plain ``nn.Linear`` (used with ``torch.nn.utils.prune``).
    """

    def __init__(self, mask: bool = True):
        super().__init__()
        linear = MaskedLinear if mask else nn.Linear
        self.fc1 = linear(784, 300)
        self.fc2 = linear(300, 100)
        self.fc3 = linear(100, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, 28, 28) or (batch, 784) -> (batch, 10) log-probabilities."""
        x = x.view(-1, 784)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=1)


LeNet = LeNet300100  # the article's name

MODELS = {"lenet300": LeNet300100}


def build_model(name: str) -> nn.Module:
    """A fresh model by its registry name (``"lenet300"``), as used by the command line."""
    return MODELS[check_choice(name, "model", sorted(MODELS))]()
