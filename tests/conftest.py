import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).parent))  # for `import helpers`

from helpers import pattern_mnist_loaders  # noqa: E402


@pytest.fixture
def fake_data(monkeypatch):
    """The pipeline and `evaluate` read a small synthetic MNIST-shaped set instead of MNIST; with
    ``validation=True`` the test images stand in for the validation split. Each call builds new loaders
    (the same images, a newly seeded shuffle), as ``mnist_loaders`` does."""
    import vietai_compress.data
    import vietai_compress.pipeline

    loaders = pattern_mnist_loaders()

    def fake_loaders(*args, validation=False, **kwargs):
        train, test = pattern_mnist_loaders()
        return (train, test, test) if validation else (train, test)

    monkeypatch.setattr(vietai_compress.pipeline, "mnist_loaders", fake_loaders)
    monkeypatch.setattr(vietai_compress.data, "mnist_loaders", fake_loaders)
    monkeypatch.setattr(vietai_compress.pipeline, "expected_source", lambda quick: loaders[0].source)
    return loaders
