"""MNIST decoded once into memory and batched as tensors.

Taught in notebook 00_setup (where the data comes from) and used by every notebook after it.
The article feeds a ``torchvision`` ``DataLoader`` that converts every image from PIL on every epoch;
here the 70,000 images are decoded once, normalised once, and each batch is a slice of one tensor.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from .config import SEED, data_root, get_device, is_quick

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class TensorLoader:
    """Iterates over ``(images, labels)`` batches of in-memory tensors.

    images: (N, 1, 28, 28) float32, labels: (N,) int64, both on the same device.
    With ``shuffle=True`` every pass draws a new permutation from a generator seeded once,
    so a run is repeatable. ``len(loader)`` is the number of batches and ``loader.dataset``
    is a ``TensorDataset``, as with a ``DataLoader``; ``loader.source`` says where the data came from
    ("MNIST" or "digits" for the quick-mode fallback).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 shuffle: bool = False, seed: int = SEED, source: str = "tensors"):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if len(images) != len(labels):
            raise ValueError(f"images and labels differ in length: {len(images)} != {len(labels)}")
        self.dataset = TensorDataset(images, labels)
        self.images, self.labels = images, labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.source = source
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.labels.device)
        else:
            order = None
        for start in range(0, n, self.batch_size):
            if order is None:
                yield self.images[start:start + self.batch_size], self.labels[start:start + self.batch_size]
            else:
                idx = order[start:start + self.batch_size]
                yield self.images[idx], self.labels[idx]


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (N, 28, 28) or floats in [0, 1] -> normalised float32 (N, 1, 28, 28)."""
    x = pixels.float()
    if pixels.dtype == torch.uint8:
        x = x / 255.0
    return ((x - MNIST_MEAN) / MNIST_STD).unsqueeze(1)


def load_mnist(train: bool, root: str | Path | None = None, download: bool = True):
    """Decode one MNIST split: returns images (N, 1, 28, 28) float32 normalised, labels (N,) int64."""
    from torchvision import datasets  # imported here: torchvision is slow to import

    ds = datasets.MNIST(str(root or data_root()), train=train, download=download)
    return normalize(ds.data), ds.targets.long()


def load_digits_as_mnist(seed: int = SEED):
    """scikit-learn's bundled 8x8 digits (1,797 images) resized to 28x28 and normalised like MNIST.

    Returns ``(train_images, train_labels, test_images, test_labels)``, a stratified 75/25 split.
    Only a stand-in for quick mode on a machine with neither MNIST on disk nor internet.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = torch.tensor(digits.images, dtype=torch.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    big = F.interpolate(pixels.unsqueeze(1), size=(28, 28), mode="bilinear", align_corners=False)
    images = normalize(big.squeeze(1))
    labels = torch.tensor(digits.target, dtype=torch.long)
    idx_train, idx_test = train_test_split(torch.arange(len(labels)).numpy(), test_size=0.25,
                                           random_state=seed, stratify=labels.numpy())
    return images[idx_train], labels[idx_train], images[idx_test], labels[idx_test]


def mnist_loaders(batch_size: int = 128, root: str | Path | None = None, device=None,
                  test_batch_size: int = 1000, download: bool = True, quick: bool | None = None,
                  seed: int = SEED):
    """Train and test loaders over the full MNIST (60,000 / 10,000 images), normalised.

    Returns ``(train_loader, test_loader)``; batches are images (B, 1, 28, 28) float32 and labels (B,)
    int64 on ``device`` (default: ``get_device()``). The train loader shuffles with a seeded generator.

    Data comes from ``root`` (default: ``data_root()``, i.e. ``VIETAI_DATA``), downloaded by torchvision
    when missing and ``download`` is true. If MNIST can be neither read nor downloaded, quick mode falls
    back to scikit-learn's 8x8 digits (with a warning) and full mode raises ``FileNotFoundError``.
    """
    device = torch.device(device) if device is not None else get_device()
    quick = is_quick() if quick is None else quick
    root = Path(root) if root is not None else data_root()
    source = "MNIST"
    try:
        train_x, train_y = load_mnist(True, root, download)
        test_x, test_y = load_mnist(False, root, download)
    except (RuntimeError, OSError) as err:  # torchvision: "Dataset not found" / "Error downloading"
        if not quick:
            raise FileNotFoundError(
                f"MNIST was not found under {root} and could not be downloaded ({err}). "
                "Set VIETAI_DATA to the folder that holds MNIST/raw/, or connect to the internet."
            ) from err
        train_x, train_y, test_x, test_y = load_digits_as_mnist(seed)
        source = "digits"
        print(f"WARNING: MNIST not found under {root} and not downloadable; quick mode uses "
              f"scikit-learn's 8x8 digits resized to 28x28 ({len(train_y)} train / {len(test_y)} test).",
              file=sys.stderr)
    train = TensorLoader(train_x.to(device), train_y.to(device), batch_size, shuffle=True, seed=seed, source=source)
    test = TensorLoader(test_x.to(device), test_y.to(device), test_batch_size, source=source)
    return train, test
