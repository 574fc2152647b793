"""A photo or drawing of one digit -> the 28 x 28 normalised image an MNIST model reads (notebook 10).

MNIST's digits are light on a black background, fitted into a 20 x 20 box that keeps their aspect ratio,
then placed in a 28 x 28 image so that their centre of mass is the centre (LeCun et al.'s preparation of
the data set). ``prepare_digit`` does the same to any picture; Pillow reads PNG, JPEG and the other common
formats. Imports numpy and Pillow only (the ``runtime`` uses it on devices without PyTorch).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

MNIST_MEAN = 0.1307  # mean and std of MNIST's training pixels in [0, 1]: every model here reads
MNIST_STD = 0.3081  # (pixel - mean) / std
DIGIT_BOX = 20  # pixels of the longer side of a digit inside the 28 x 28 image
SIZE = 28
INK = 0.1  # a pixel brighter than this (in [0, 1], after inversion) is part of the digit


def prepare_digit(pixels: np.ndarray) -> np.ndarray:
    """Grey pixels (H, W) in [0, 1], any size, light or dark background -> MNIST-like pixels (28, 28) in [0, 1].

    A picture whose mean is above 0.5 (dark ink on light paper) is inverted first. Raises ``ValueError`` when
    nothing in it is darker or lighter than the background.
    """
    from PIL import Image

    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim != 2:
        raise ValueError(f"pixels must be a grey image (H, W), got shape {pixels.shape}")
    if pixels.mean() > 0.5:
        pixels = 1.0 - pixels
    rows, cols = np.nonzero(pixels > INK)
    if len(rows) == 0:
        raise ValueError("the image holds no digit: every pixel has the background's brightness")
    digit = pixels[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = DIGIT_BOX / max(digit.shape)
    height, width = (max(1, round(side * scale)) for side in digit.shape)
    small = np.asarray(Image.fromarray(digit).resize((width, height), Image.Resampling.LANCZOS)).clip(0, 1)
    return _centre_by_mass(small)


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place ``digit`` (h, w), both at most 20, in a 28 x 28 black image with its centre of mass at the centre."""
    mass = digit.sum()
    rows, cols = np.indices(digit.shape)
    centre = ((rows * digit).sum() / mass, (cols * digit).sum() / mass)
    top = int(np.clip(round(SIZE / 2 - 0.5 - centre[0]), 0, SIZE - digit.shape[0]))
    left = int(np.clip(round(SIZE / 2 - 0.5 - centre[1]), 0, SIZE - digit.shape[1]))
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return out


def normalize_pixels(pixels: np.ndarray) -> np.ndarray:
    """Pixels (..., 28, 28) in [0, 1] -> the models' input (..., 1, 28, 28) float32: (pixel - mean) / std."""
    return ((np.asarray(pixels, dtype=np.float32) - MNIST_MEAN) / MNIST_STD)[..., None, :, :]


def read_digit(path: str | Path) -> np.ndarray:
    """An image file of one digit (PNG, JPEG, ...) -> the normalised input (1, 28, 28) float32.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not an image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path} is not an image Pillow can read (PNG, JPEG, ...): {err}") from err
    return normalize_pixels(prepare_digit(grey))
