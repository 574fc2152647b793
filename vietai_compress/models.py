"""Layers that carry a pruning mask, and the article's LeNet-300-100.

Taught in notebook 01_base_training (the network) and 02_pruning (the mask).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_choice, check_int, check_real
from .recipe import TEACHER_DROPOUT, TEACHER_INPUT_DROPOUT


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
    ``widths`` = (fc1, fc2) hidden units, (300, 100) by default; fewer after structured pruning (notebook 11).
    """

    def __init__(self, mask: bool = True, widths: tuple[int, int] = (300, 100)):
        super().__init__()
        linear = MaskedLinear if mask else nn.Linear
        hidden1, hidden2 = (check_int(w, "widths", 1) for w in widths)
        self.fc1 = linear(784, hidden1)
        self.fc2 = linear(hidden1, hidden2)
        self.fc3 = linear(hidden2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, 28, 28) or (batch, 784) -> (batch, 10) log-probabilities."""
        x = x.view(-1, 784)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=1)


class MLP(nn.Module):
    """A fully connected 784 -> hidden ... -> 10 ReLU network of masked layers ``fc1`` .. ``fcN``, log_softmax out.

    Input (batch, 1, 28, 28) or (batch, 784); output (batch, 10) log-probabilities. Dropout (active in train
    mode only) on the input and after every hidden layer. Hinton et al. (2015) distil their MNIST teacher
    ``hinton_teacher()`` into students such as ``MLP((800, 800))`` and ``MLP((30, 30))`` (notebook 07).
    """

    def __init__(self, hidden: tuple[int, ...] = (800, 800), input_dropout: float = 0.0, dropout: float = 0.0):
        super().__init__()
        sizes = [784, *(check_int(h, "hidden sizes", 1) for h in hidden), 10]
        self.layers = len(sizes) - 1
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
            setattr(self, f"fc{i}", MaskedLinear(n_in, n_out))
        self.input_dropout = nn.Dropout(check_real(input_dropout, "input_dropout", 0.0, 0.99))
        self.dropout = nn.Dropout(check_real(dropout, "dropout", 0.0, 0.99))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, 28, 28) or (batch, 784) -> (batch, 10) log-probabilities."""
        x = self.input_dropout(x.view(-1, 784))
        for i in range(1, self.layers):
            x = self.dropout(F.relu(getattr(self, f"fc{i}")(x)))
        return F.log_softmax(getattr(self, f"fc{self.layers}")(x), dim=1)


def hinton_teacher(dropout: float = TEACHER_DROPOUT) -> MLP:
    """Hinton et al.'s MNIST teacher: 784-1200-1200-10, ReLU, dropout 0.2 on the input and ``dropout`` on the
    hidden units (trained on inputs jittered by up to 2 pixels, ``data.Jittered``). 2,395,210 parameters.

    Hinton et al. (2012) drop half of the hidden units; the recipe's ``TEACHER_DROPOUT`` is the rate chosen on
    the validation split for a 40-epoch budget (notebook 07, ``scripts/choose_teacher.py``)."""
    return MLP((1200, 1200), input_dropout=TEACHER_INPUT_DROPOUT, dropout=dropout)


class LeNet5(nn.Module):
    """Caffe's LeNet-5, Deep Compression's second MNIST row: conv 20@5x5, max-pool, conv 50@5x5, max-pool,
    fc 800 -> 500, ReLU, fc 500 -> 10, log_softmax; every layer masked.

    Input (batch, 1, 28, 28); output (batch, 10) log-probabilities.
    430,500 weights + 580 biases = 431,080 parameters (1,724,320 bytes as float32).
    ``widths`` = (conv1 filters, conv2 filters, fc1 units), (20, 50, 500) by default; fewer after structured
    pruning (notebook 11).
    """

    def __init__(self, widths: tuple[int, int, int] = (20, 50, 500)):
        super().__init__()
        filters1, filters2, hidden = (check_int(w, "widths", 1) for w in widths)
        self.conv1 = MaskedConv2d(1, filters1, 5)
        self.conv2 = MaskedConv2d(filters1, filters2, 5)
        self.fc1 = MaskedLinear(filters2 * 4 * 4, hidden)
        self.fc2 = MaskedLinear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, 28, 28) -> (batch, 10) log-probabilities."""
        x = F.max_pool2d(self.conv1(x.view(-1, 1, 28, 28)), 2)  # (batch, 20, 12, 12)
        x = F.max_pool2d(self.conv2(x), 2)  # (batch, 50, 4, 4)
        x = F.relu(self.fc1(x.flatten(1)))
        return F.log_softmax(self.fc2(x), dim=1)


LeNet = LeNet300100  # the article's name

MODELS = {"lenet300": LeNet300100, "lenet5": LeNet5}


def model_name(model: nn.Module) -> str:
    """The registry name of a model (``"lenet300"``, ``"lenet5"``); ``"lenet300"`` for any other network, whose
    stages then follow the article's recipe."""
    return next((name for name, cls in MODELS.items() if type(model) is cls), "lenet300")


def build_model(name: str, widths: tuple[int, ...] | None = None) -> nn.Module:
    """A fresh model by its registry name (``"lenet300"``, ``"lenet5"``), as used by the command line; ``widths``
    (the output units of every layer but the last) for a structurally pruned one."""
    cls = MODELS[check_choice(name, "model", sorted(MODELS))]
    return cls() if widths is None else cls(widths=tuple(widths))


def widths(model: nn.Module) -> tuple[int, ...]:
    """The output units of every weight layer (masked, or shared: ``quantization``) but the last: what
    ``build_model`` needs to rebuild ``model``."""
    shapes = [getattr(m, "weight_shape", None) or tuple(m.weight.shape) for m in model.modules()
              if isinstance(m, MASKED_LAYER_TYPES) or hasattr(m, "weight_shape")]
    return tuple(shape[0] for shape in shapes)[:-1]
