"""Small synthetic models and data shared by the unit tests (no MNIST needed)."""
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from vietai_compress.data import TensorLoader
from vietai_compress.models import MaskedConv2d, MaskedLinear


def tiny_masked_mlp(seed: int = 0) -> nn.Module:
    """4 -> 16 -> 3 masked MLP with log-probabilities out."""
    torch.manual_seed(seed)
    return nn.Sequential(MaskedLinear(4, 16), nn.ReLU(), MaskedLinear(16, 3), nn.LogSoftmax(dim=1))


def blob_loaders(n: int = 240, batch_size: int = 32, seed: int = 0):
    """Three well separated Gaussian blobs in 4-D: an easy 3-class problem."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    centers = torch.tensor([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0]])
    x = centers[labels] + 0.5 * torch.randn(n, 4, generator=g)
    train = TensorLoader(x, labels, batch_size, shuffle=True, seed=seed)
    test = TensorLoader(x, labels, 64)
    return train, test


def fake_mnist_loaders(n: int = 64, seed: int = 0):
    """Random MNIST-shaped batches: images (n, 1, 28, 28), labels (n,)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return TensorLoader(x, y, 32, shuffle=True, seed=seed), TensorLoader(x, y, 64)


def write_fake_mnist(root: Path, n_train: int = 20, n_test: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Write MNIST-format IDX files (torchvision's layout root/MNIST/raw/) holding random digits."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    out = []
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + pixels.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())
        out.append((pixels, labels))
    return out


def pattern_mnist_loaders(n: int = 512, seed: int = 0):
    """A learnable MNIST-shaped problem: each class is a fixed random 28x28 pattern plus noise."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.randn(10, 1, 28, 28, generator=g)
    y = torch.arange(n) % 10
    x = templates[y] + 0.5 * torch.randn(n, 1, 28, 28, generator=g)
    return TensorLoader(x, y, 128, shuffle=True, seed=seed), TensorLoader(x[:256], y[:256], 128)


class TinyConvNet(nn.Module):
    """A masked conv layer (4 filters, 3x3) and a masked linear layer, on 8x8 images: (N, 1, 8, 8) -> (N, 10)."""

    def __init__(self):
        super().__init__()
        self.conv = MaskedConv2d(1, 4, 3)
        self.fc = MaskedLinear(4 * 6 * 6, 10, bias=False)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))
