"""The article's recipe in one place: every constant a notebook, the pipeline or a test relies on.

Base training and retraining (notebooks 01 and 03): Adam, lr 1e-3, weight decay 1e-4, batch 128,
100 epochs; pruning with s = 2 (notebook 02); weight sharing with 5 bits (notebook 04) and 5 epochs of
centroid fine-tuning at lr 1e-4 (Deep Compression); relative positions in 5 bits for fully connected
layers and 8 bits for conv layers (notebook 06, as the paper). Quick mode keeps every step and shrinks
only the epochs (``article_epochs``, ``fine_tune_epochs``).
"""
from __future__ import annotations

from .checks import check_int

LR = 1e-3
WEIGHT_DECAY = 1e-4
BATCH_SIZE = 128
EPOCHS = 100
SENSITIVITY = 2.0  # s: the pruning threshold is s x std of each layer's weights
BITS = 5  # bits per shared weight: 2**5 = 32 centroids per layer
INIT = "linear"  # k-means initialisation of the shared weights
FINE_TUNE_EPOCHS = 5
FINE_TUNE_LR = 1e-4
GAP_BITS = {"linear": 5, "conv": 8}  # bits per relative position, by layer kind
MNIST_BATCHES = 469  # batches of 128 in one epoch of the 60,000 MNIST training images


def article_epochs(quick: bool, batches_per_epoch: int = MNIST_BATCHES) -> int:
    """Epochs for base training and retraining: 100 in full mode.

    Quick mode trains for about as many steps as one MNIST epoch: 1 epoch on MNIST, more on the small
    scikit-learn digits fallback (whose epoch is only 11 batches).
    """
    batches_per_epoch = check_int(batches_per_epoch, "batches_per_epoch", 1)
    if not quick:
        return EPOCHS
    return max(1, round(MNIST_BATCHES / batches_per_epoch))


def fine_tune_epochs(quick: bool, batches_per_epoch: int = MNIST_BATCHES) -> int:
    """Centroid fine-tuning epochs: 5 in full mode; in quick mode one MNIST epoch's worth of steps."""
    return article_epochs(quick, batches_per_epoch) if quick else FINE_TUNE_EPOCHS
