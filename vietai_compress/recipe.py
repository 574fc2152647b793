"""The article's recipe in one place: every constant a notebook, the pipeline or a test relies on.

Base training and retraining (notebooks 01 and 03): Adam, lr 1e-3, weight decay 1e-4, batch 128,
100 epochs; pruning with s = 2 (notebook 02); weight sharing with 5 bits (notebook 04) and 5 epochs of
centroid fine-tuning at lr 1e-4 (Deep Compression); relative positions in 5 bits for fully connected
layers and 8 bits for conv layers (notebook 06, as the paper). Quick mode keeps every step and shrinks
only the epochs (``article_epochs``, ``fine_tune_epochs``).
"""
from __future__ import annotations

from .checks import check_int

SEED = 42  # weight init, batch order, k-means: every run starts from it unless told otherwise
LR = 1e-3
WEIGHT_DECAY = 1e-4
BATCH_SIZE = 128
EPOCHS = 100
LENET5_EPOCHS = 12  # LeNet-5 (notebook 08): 11-18 s an epoch on a 2-core CPU, 0.55% test error after 12 (jittered)
# LeNet-5's training images are shifted by up to 2 pixels (``data.Jittered``) in every stage that trains it: on the
# validation split this took the base model from 0.60% to 0.48% error and lowered every compressed one's (README)
LENET5_JITTER = 2
SENSITIVITY = 2.0  # s: the pruning threshold is s x std of each layer's weights
BITS = 5  # bits per shared weight: 2**5 = 32 centroids per layer
INIT = "linear"  # k-means initialisation of the shared weights
FINE_TUNE_EPOCHS = 5
FINE_TUNE_LR = 1e-4
GAP_BITS = {"linear": 5, "conv": 8}  # bits per relative position, by layer kind
TEACHER_EPOCHS = 40  # Hinton et al.'s 1200-1200 teacher (notebook 07): about 11-13 s an epoch on a 2-core CPU
TEACHER_INPUT_DROPOUT = 0.2  # the teacher's dropout on its inputs, as Hinton et al. (2012)
# ... and on its hidden units: Hinton et al. (2012) used 0.5 over thousands of epochs; in our 40 epochs fewer
# hidden units dropped learn more (chosen on the validation split by scripts/choose_teacher.py, whose JSON a
# test checks against this value)
TEACHER_DROPOUT = 0.1
DISTILL_EPOCHS = 20  # students of notebook 07, alone or distilled (800-800: about 4 s an epoch)
HINT_EPOCHS = 5  # FitNets' first stage: a student layer learns to match a teacher layer (notebook 07)
# Temperature and weight of the soft targets when the dense model teaches the pruned one (``--distill``, notebook
# 09): the cell with the fewest validation errors when notebook 07's 3 x 3 grid (section 7) was first run. Its
# cells differ by a few validation images, so a run on another CPU may rank them otherwise; notebook 07 prints both.
DISTILL_T = 4.0
DISTILL_ALPHA = 0.5
# Named settings of ``vietai-compress run --preset``: the article's recipe, and the settings notebooks 08, 09 and
# 11 chose on validation (scripts/beyond_the_paper.py and scripts/structured_and_int8.py; tests check each entry
# against the JSON that chose it).
PRESETS = {
    "article": {"sensitivity": SENSITIVITY, "keep": None, "rounds": 1, "bits": BITS, "distill": False},
    # notebook 09, round 3: the settings chosen on validation for target 1 (>= 80x) and for the stretch target
    # (>= 120x), on images shifted by up to 1 pixel (the jitter chosen on validation)
    "best-jitter": {"keep": {"fc1": 0.025, "fc2": 0.05, "fc3": 0.25}, "rounds": 10,
                    "bits": {"fc1": 4, "fc2": 4, "fc3": 5}, "distill": True, "jitter": 1},
    "smallest-jitter": {"keep": {"fc1": 0.015, "fc2": 0.04, "fc3": 0.2}, "rounds": 10,
                        "bits": {"fc1": 4, "fc2": 4, "fc3": 5}, "distill": True, "jitter": 1},
    # notebook 08's settings A, B and C: for each of its targets (at least 39x, 64x, 100x), the most accurate on
    # validation among its candidates (a test checks them against what notebook 08 chose)
    "lenet5-a": {"model": "lenet5", "keep": {"conv1": 0.66, "conv2": 0.12, "fc1": 0.08, "fc2": 0.19}, "rounds": 3,
                 "bits": {"conv1": 5, "conv2": 5, "fc1": 4, "fc2": 4}, "distill": False},
    "lenet5-b": {"model": "lenet5", "keep": {"conv1": 0.66, "conv2": 0.12, "fc1": 0.03, "fc2": 0.19}, "rounds": 3,
                 "bits": {"conv1": 5, "conv2": 5, "fc1": 4, "fc2": 4}, "distill": False},
    "lenet5-c": {"model": "lenet5", "keep": {"conv1": 0.5, "conv2": 0.08, "fc1": 0.02, "fc2": 0.15}, "rounds": 3,
                 "bits": {"conv1": 5, "conv2": 5, "fc1": 3, "fc2": 4}, "distill": False},
    # notebook 09's LeNet-5 (the most accurate on validation among its candidates of at least 160x)
    "lenet5-best": {"model": "lenet5", "keep": {"conv1": 0.4, "conv2": 0.04, "fc1": 0.01, "fc2": 0.1}, "rounds": 3,
                    "bits": {"conv1": 4, "conv2": 3, "fc1": 3, "fc2": 3}, "distill": False, "jitter": 2},
    # notebook 11's: units kept per layer by the validation scan, then the most accurate Deep Compression candidate
    # of at least 64x (scripts/structured_and_int8.py)
    "lenet5-structured": {"model": "lenet5", "units": {"conv1": 0.35, "conv2": 0.5, "fc1": 0.25},
                          "keep": {"conv1": 0.7, "conv2": 0.35, "fc1": 0.15, "fc2": 0.3}, "rounds": 3,
                          "bits": {"conv1": 5, "conv2": 5, "fc1": 4, "fc2": 4}, "distill": False, "jitter": 2},
}
MNIST_BATCHES = 469  # batches of 128 in one epoch of the 60,000 MNIST training images


def mode_epochs(quick: bool, full_epochs: int, batches_per_epoch: int = MNIST_BATCHES,
                quick_batches: int = MNIST_BATCHES) -> int:
    """``full_epochs`` in full mode; quick mode trains for about ``quick_batches`` steps (default: one MNIST
    epoch): 1 epoch on MNIST, more on the small scikit-learn digits fallback (11 batches an epoch)."""
    batches_per_epoch = check_int(batches_per_epoch, "batches_per_epoch", 1)
    quick_batches = check_int(quick_batches, "quick_batches", 1)
    if not quick:
        return check_int(full_epochs, "full_epochs", 1)
    return max(1, round(quick_batches / batches_per_epoch))


def article_epochs(quick: bool, batches_per_epoch: int = MNIST_BATCHES) -> int:
    """Epochs for base training and retraining: 100 in full mode, one MNIST epoch of steps in quick mode."""
    return mode_epochs(quick, EPOCHS, batches_per_epoch)


def model_epochs(model: str, quick: bool, batches_per_epoch: int = MNIST_BATCHES) -> int:
    """Epochs of base training and of retraining for a registered model: the article's 100 for LeNet-300-100,
    12 for LeNet-5 (``LENET5_EPOCHS``); one MNIST epoch of steps in quick mode."""
    return mode_epochs(quick, LENET5_EPOCHS if model == "lenet5" else EPOCHS, batches_per_epoch)


def model_jitter(model: str) -> int:
    """Pixels of random shift of the training images for a registered model: ``LENET5_JITTER`` for LeNet-5,
    0 (the article's plain images) for LeNet-300-100."""
    return LENET5_JITTER if model == "lenet5" else 0


def fine_tune_epochs(quick: bool, batches_per_epoch: int = MNIST_BATCHES) -> int:
    """Centroid fine-tuning epochs: 5 in full mode; in quick mode one MNIST epoch's worth of steps."""
    return article_epochs(quick, batches_per_epoch) if quick else FINE_TUNE_EPOCHS
