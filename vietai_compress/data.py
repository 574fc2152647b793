"""MNIST decoded once into memory and batched as tensors.

Taught in notebook 00_setup (where the data comes from) and used by every notebook after it.
The article feeds a ``torchvision`` ``DataLoader`` that converts every image from PIL on every epoch;
here the 70,000 images are decoded once, normalised once, and each batch is a slice of one tensor.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from .checks import check_int
from .config import SEED, Device, data_root, get_device, is_quick
from .images import MNIST_MEAN, MNIST_STD
MNIST_TRAIN_IMAGES = 60_000
VALIDATION_IMAGES = 5_000  # the last 5,000 of MNIST's training images: where every setting is chosen


class TensorLoader:
    """Iterates over ``(images, labels)`` batches of in-memory tensors.

    images: (N, 1, 28, 28) float32, labels: (N,) int64, both on the same device.
    With ``shuffle=True`` every pass draws a new permutation from a generator seeded once,
    so a run is repeatable. ``len(loader)`` is the number of batches and ``loader.dataset``
    is a ``TensorDataset``, as with a ``DataLoader``; ``loader.source`` says where the data came from
    ("MNIST" or "digits" for the quick-mode fallback). Given ``logits`` (N, C), a teacher's outputs for
    the same images, every batch is ``(images, labels, logits)`` (notebook 07, ``with_teacher_logits``).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 shuffle: bool = False, seed: int = SEED, source: str = "tensors",
                 logits: torch.Tensor | None = None):
        batch_size = check_int(batch_size, "batch_size", 1)
        if len(images) != len(labels) or (logits is not None and len(logits) != len(labels)):
            raise ValueError(f"images, labels (and logits) differ in length: {len(images)}, {len(labels)}"
                             + (f", {len(logits)}" if logits is not None else ""))
        self.dataset = TensorDataset(images, labels)
        self.images, self.labels, self.logits = images, labels, logits
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.source, self.seed = source, seed
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.labels)
        tensors = [self.images, self.labels] + ([self.logits] if self.logits is not None else [])
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.labels.device)
        else:
            order = None
        for start in range(0, n, self.batch_size):
            if order is None:
                yield tuple(t[start:start + self.batch_size] for t in tensors)
            else:
                idx = order[start:start + self.batch_size]
                yield tuple(t[idx] for t in tensors)

    def batch_sizes(self) -> list[int]:
        """The size of every batch of one pass: ``batch_size``, the last one smaller."""
        n = len(self.labels)
        return [min(self.batch_size, n - start) for start in range(0, n, self.batch_size)]

    def skip(self, passes: int) -> "TensorLoader":
        """Draw the shuffling of ``passes`` passes without yielding a batch: afterwards the loader is where
        ``passes`` passes of training would have left it. A stage loaded from its checkpoint instead of trained
        (``pipeline.Run``) leaves the batches of the next stage as they would have been. Returns the loader."""
        for _ in range(check_int(passes, "passes", 0)):
            if self.shuffle:
                torch.randperm(len(self.labels), generator=self.generator)
        return self

    def copy(self) -> "TensorLoader":
        """The same samples and batches with a newly seeded shuffling generator. Training on a copy leaves this
        loader's order untouched, so later runs do not depend on whether a model was trained or loaded."""
        return self.with_logits(self.logits)

    def with_logits(self, logits: torch.Tensor | None) -> "TensorLoader":
        """The same samples, batched and shuffled alike, each with a teacher's ``logits`` (N, C)."""
        return TensorLoader(self.images, self.labels, self.batch_size, self.shuffle, self.seed, self.source, logits)

    def subset(self, keep: torch.Tensor) -> "TensorLoader":
        """The samples where the boolean ``keep`` (N,) is true, batched and shuffled alike (notebook 07
        removes every 3 from the transfer set)."""
        if keep.shape != self.labels.shape or keep.dtype != torch.bool:
            raise ValueError(f"keep must be a bool tensor of shape {tuple(self.labels.shape)}, "
                             f"got {keep.dtype} {tuple(keep.shape)}")
        logits = None if self.logits is None else self.logits[keep]
        return TensorLoader(self.images[keep], self.labels[keep], self.batch_size, self.shuffle, self.seed,
                            self.source, logits)


def jitter(images: torch.Tensor, max_shift: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift every image by a random whole number of pixels in [-max_shift, max_shift], along each axis.

    images: (B, C, H, W) normalised -> the same shape; the border a shift uncovers is background (a black
    pixel, normalised). Hinton et al. (2015) train their MNIST teacher on inputs jittered by up to 2 pixels.
    """
    max_shift = check_int(max_shift, "max_shift", 0, 8)
    if max_shift == 0:
        return images
    batch, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4, value=-MNIST_MEAN / MNIST_STD)
    shifts = torch.randint(0, 2 * max_shift + 1, (2, batch), generator=generator).to(images.device)
    rows = (shifts[0][:, None] + torch.arange(height, device=images.device))[:, :, None]  # (B, H, 1)
    cols = (shifts[1][:, None] + torch.arange(width, device=images.device))[:, None, :]  # (B, 1, W)
    picked = padded[torch.arange(batch, device=images.device)[:, None, None], :, rows, cols]  # (B, H, W, C)
    return picked.permute(0, 3, 1, 2)


class Jittered:
    """A loader whose images are ``jitter``-ed anew on every pass (seeded): batches (B, 1, 28, 28), (B,).

    It stands in for its ``TensorLoader`` in training (``len``, ``labels``, ``source``, ``copy``), and training
    stages record ``max_shift`` with their checkpoints (``stages.base_meta``). A loader that carries a teacher's
    logits is refused: they were computed on the images before the shift (the teacher must then run on every
    batch, ``distillation_objective(..., teacher=)``).
    """

    def __init__(self, loader: TensorLoader, max_shift: int = 2, seed: int = SEED):
        if loader.logits is not None:
            raise ValueError("loader carries teacher logits of the unshifted images; jitter the loader without them")
        self.loader, self.max_shift = loader, check_int(max_shift, "max_shift", 0, 8)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.labels, self.source = loader.labels, loader.source

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, labels in self.loader:
            yield jitter(images, self.max_shift, self.generator), labels

    def skip(self, passes: int) -> "Jittered":
        """Draw the shuffling and the shifts of ``passes`` passes without yielding a batch (``TensorLoader.skip``):
        the same random numbers ``jitter`` draws, one (2, batch) draw per batch. Returns the loader."""
        self.loader.skip(passes)
        for _ in range(check_int(passes, "passes", 0)):
            for size in self.loader.batch_sizes():
                if self.max_shift:
                    torch.randint(0, 2 * self.max_shift + 1, (2, size), generator=self.generator)
        return self

    def copy(self) -> "Jittered":
        """The same images, shifts and batches from the start, with newly seeded generators (``TensorLoader.copy``)."""
        return Jittered(self.loader.copy(), self.max_shift, self.seed)


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (N, 28, 28) or floats in [0, 1] -> normalised float32 (N, 1, 28, 28)."""
    x = pixels.float()
    if pixels.dtype == torch.uint8:
        x = x / 255.0
    return ((x - MNIST_MEAN) / MNIST_STD).unsqueeze(1)


def load_mnist(train: bool, root: str | Path | None = None, download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode one MNIST split: returns images (N, 1, 28, 28) float32 normalised, labels (N,) int64."""
    from torchvision import datasets  # imported here: torchvision is slow to import

    ds = datasets.MNIST(str(root or data_root()), train=train, download=download)
    return normalize(ds.data), ds.targets.long()


def load_digits_as_mnist(seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
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


def validation_size(train_images: int) -> int:
    """How many of ``train_images`` are held out for validation: 5,000 of MNIST's 60,000, the same share
    (1/12) of any other training set (112 of the 1,347 training digits of the quick-mode fallback)."""
    return round(train_images * VALIDATION_IMAGES / MNIST_TRAIN_IMAGES)


def split_validation(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The last ``validation_size(N)`` images (N, ...) and labels (N,) held out: (train_x, train_y, val_x, val_y).

    A fixed split, the same in every notebook and in the command line: MNIST's last 5,000 training images.
    """
    cut = len(labels) - validation_size(len(labels))
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


def _load_images(root: Path, download: bool, quick: bool, seed: int) -> tuple[tuple[torch.Tensor, ...], str]:
    """(train_x, train_y, test_x, test_y) and their source: MNIST, or the digits in quick mode without it."""
    try:
        return (*load_mnist(True, root, download), *load_mnist(False, root, download)), "MNIST"
    except (RuntimeError, OSError) as err:  # torchvision: "Dataset not found" / "Error downloading"
        if not quick:
            raise FileNotFoundError(
                f"MNIST was not found under {root} and could not be downloaded ({err}). "
                "Set VIETAI_DATA to the folder that holds MNIST/raw/, or connect to the internet."
            ) from err
    arrays = load_digits_as_mnist(seed)
    print(f"WARNING: MNIST not found under {root} and not downloadable; quick mode uses scikit-learn's "
          f"8x8 digits resized to 28x28 ({len(arrays[1])} train / {len(arrays[3])} test).", file=sys.stderr)
    return arrays, "digits"


def mnist_on_disk(root: str | Path | None = None) -> bool:
    """True when the four MNIST files torchvision reads are under ``root/MNIST/raw/`` (default ``data_root()``)."""
    from torchvision import datasets

    raw = Path(root or data_root()) / "MNIST" / "raw"
    return all((raw / Path(url).stem).is_file() for url, _ in datasets.MNIST.resources)  # name without .gz


def expected_source(quick: bool, root: str | Path | None = None) -> str:
    """The ``source`` ``mnist_loaders`` will give, without decoding anything: "MNIST" when it is on disk (or, in
    full mode, must be downloaded), "digits" in quick mode otherwise (a download may still bring MNIST)."""
    return "MNIST" if mnist_on_disk(root) or not quick else "digits"


def mnist_loaders(batch_size: int = 128, root: str | Path | None = None, device: Device = None,
                  test_batch_size: int = 1000, download: bool = True, quick: bool | None = None,
                  seed: int = SEED, validation: bool = False) -> tuple[TensorLoader, ...]:
    """Train and test loaders over MNIST (60,000 / 10,000 images), normalised; with a validation split.

    Returns ``(train_loader, test_loader)``, or with ``validation=True`` ``(train_loader, val_loader,
    test_loader)``: the last 5,000 training images become the validation set (``split_validation``) and
    the first 55,000 the training set. Batches are images (B, 1, 28, 28) float32 and labels (B,) int64
    on ``device`` (default: ``get_device()``). The train loader shuffles with a seeded generator.

    Data comes from ``root`` (default: ``data_root()``, i.e. ``VIETAI_DATA``), downloaded by torchvision
    when missing and ``download`` is true. If MNIST can be neither read nor downloaded, quick mode falls
    back to scikit-learn's 8x8 digits (with a warning; split the same way) and full mode raises
    ``FileNotFoundError``.
    """
    device = torch.device(device) if device is not None else get_device()
    quick = is_quick() if quick is None else quick
    root = Path(root) if root is not None else data_root()
    (train_x, train_y, test_x, test_y), source = _load_images(root, download, quick, seed)
    loaders = []
    if validation:
        train_x, train_y, val_x, val_y = split_validation(train_x, train_y)
        loaders.append(TensorLoader(val_x.to(device), val_y.to(device), test_batch_size, source=source))
    train = TensorLoader(train_x.to(device), train_y.to(device), batch_size, shuffle=True, seed=seed, source=source)
    test = TensorLoader(test_x.to(device), test_y.to(device), test_batch_size, source=source)
    return (train, *loaders, test)
