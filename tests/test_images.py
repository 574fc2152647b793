"""A picture of a digit -> the 28 x 28 input MNIST models read (Pillow and numpy only)."""
import numpy as np
import pytest
from PIL import Image

from vietai_compress.images import MNIST_MEAN, MNIST_STD, normalize_pixels, prepare_digit, read_digit


def mnist_like_digit() -> np.ndarray:
    """A thick "7" drawn in a 20 x 20 box, centred by mass in 28 x 28, light on black (as MNIST's digits)."""
    digit = np.zeros((20, 20), np.float32)
    digit[0:4, 2:20] = 1.0  # the bar
    for row in range(4, 20):
        col = 19 - (row - 4) * 12 // 16
        digit[row, max(col - 3, 0):col + 1] = 1.0  # the stem
    return prepare_digit(digit)


def test_a_digit_is_fitted_into_20_pixels_and_centred_by_mass():
    big = np.zeros((300, 200), np.float32)
    big[50:250, 80:130] = 1.0  # a tall bar, 200 x 50 pixels
    out = prepare_digit(big)
    rows, cols = np.nonzero(out > 0.5)
    assert out.shape == (28, 28) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert rows.max() - rows.min() + 1 == 20 and cols.max() - cols.min() + 1 == 5  # the aspect ratio is kept
    mass = out.sum()
    centre = ((np.indices(out.shape)[0] * out).sum() / mass, (np.indices(out.shape)[1] * out).sum() / mass)
    assert abs(centre[0] - 13.5) <= 0.5 and abs(centre[1] - 13.5) <= 0.5


def test_dark_ink_on_light_paper_gives_the_same_digit_as_light_on_dark():
    light = np.zeros((60, 60), np.float32)
    light[10:50, 25:35] = 0.9
    np.testing.assert_allclose(prepare_digit(1.0 - light), prepare_digit(light), atol=1e-6)


def test_an_empty_picture_or_a_wrong_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="no digit"):
        prepare_digit(np.zeros((28, 28)))
    with pytest.raises(ValueError, match="grey image"):
        prepare_digit(np.zeros((28, 28, 3)))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_saved_mnist_like_digit_reads_back_as_itself(tmp_path, suffix):
    digit = mnist_like_digit()
    path = tmp_path / f"seven{suffix}"
    # a photo-like copy: 5x larger, dark ink on white paper, saved by Pillow
    Image.fromarray((255 * (1 - digit)).astype(np.uint8)).resize((140, 140), Image.Resampling.BICUBIC).save(path)
    x = read_digit(path)
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    assert np.isclose(x.min(), -MNIST_MEAN / MNIST_STD, atol=0.05)  # the background is MNIST's black
    expected = normalize_pixels(digit)
    assert np.corrcoef(x.ravel(), expected.ravel())[0, 1] > 0.95


def test_a_missing_file_and_a_file_that_is_not_an_image_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="image not found"):
        read_digit(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ValueError, match="not an image"):
        read_digit(tmp_path / "notes.png")
