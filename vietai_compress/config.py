"""Run configuration: seeds, device, quick/full mode, data and artifact folders.

Taught in notebook 00_setup. Every other notebook starts with the same calls:
``QUICK = is_quick()``, ``seed_everything(42)``, ``device = get_device()``.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from .checks import check_int
from .recipe import SEED

# Denormal floats (|x| < 1.2e-38) cost a CPU many times more than normal ones. Retraining a pruned model makes
# them: a hidden unit whose outgoing weights are all pruned gets no gradient, so weight decay alone shrinks its
# incoming weights and their Adam state into that range, and retraining ran 3x slower per batch
# (benchmarks/train_speed.py). Flushing them to 0 changes no weight that matters. The setting is per thread and
# PyTorch's worker threads copy it from the thread that starts them, so it is made here, at import, before any.
def flush_denormals() -> None:
    """Treat denormal floats as 0 on this thread (see above). Called at import, and again after anything that
    resets the thread's floating-point flags (creating an ONNX Runtime session does: ``deploy.onnx_session``)."""
    torch.set_flush_denormal(True)


flush_denormals()

# One CPU thread for every computation, chosen here, once. A matrix product sums in an order that depends on the
# number of threads, so LeNet-300-100 trained with one thread and with two ends as two different models; with one,
# a run gives the same bytes every time on this machine, and the numbers in the notebooks are the ones you get. On
# the 2-core CPU one thread trains LeNet-300-100 about as fast as two and LeNet-5 about half as fast; every speed
# measurement of the series uses one thread too. ``torch.set_num_threads`` after importing this module overrides it.
THREADS = 1


def use_threads(threads: int = THREADS) -> None:
    """Run PyTorch's CPU operations, and NumPy's matrix products (its BLAS library, through threadpoolctl), on
    ``threads`` threads (called at import with ``THREADS``): the numpy runtime of notebook 10 is timed on one thread
    like PyTorch and ONNX Runtime, and leaves the other core alone."""
    threads = check_int(threads, "threads", 1)
    torch.set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")


use_threads()

Device = torch.device | str | None  # what every ``device=`` argument accepts (None: ``get_device()``)
_PACKAGE_DIR = Path(__file__).resolve().parent


def seed_everything(seed: int = SEED) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators (CPU and CUDA)."""
    seed = check_int(seed, "seed", 0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def get_device() -> torch.device:
    """The one place the device is chosen: CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def is_quick() -> bool:
    """True when ``VIETAI_QUICK`` is set to 1/true/yes (tests and CI): fewer epochs, same steps."""
    value = os.environ.get("VIETAI_QUICK", "0").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"VIETAI_QUICK must be 0 or 1, got {value!r}")


def mode_name(quick: bool | None = None) -> str:
    """``"quick"`` or ``"full"``; names the per-mode artifacts folder."""
    return "quick" if (is_quick() if quick is None else quick) else "full"


def repo_root() -> Path | None:
    """The repository checkout this package was installed from, or None (e.g. a pip install in Colab)."""
    root = _PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() else None


def _default_folder(name: str) -> Path:
    # In a checkout, "./data" means the repository's data folder wherever the kernel runs
    # (Jupyter starts kernels in notebooks/); elsewhere it is relative to the working directory.
    base = repo_root() or Path.cwd()
    return base / name


def data_root() -> Path:
    """Where MNIST lives: ``VIETAI_DATA`` if set, else ``./data`` (torchvision's MNIST layout)."""
    value = os.environ.get("VIETAI_DATA")
    return Path(value).expanduser().resolve() if value else _default_folder("data")


def artifacts_root() -> Path:
    """The folder of everything a run writes: ``VIETAI_ARTIFACTS`` if set, else ``./artifacts`` (in a checkout, the
    repository's). The notebooks and ``vietai-compress run`` both write there, one subfolder per mode."""
    value = os.environ.get("VIETAI_ARTIFACTS")
    return Path(value).expanduser().resolve() if value else _default_folder("artifacts")


def shown_path(path: Path) -> str:
    """``path`` as a notebook shows it: relative to the working directory when it lies inside it (``artifacts/full``),
    else whole (notebook 00)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def artifacts_dir(quick: bool | None = None) -> Path:
    """Folder for checkpoints and compressed files, one per mode: ``artifacts/quick`` or ``artifacts/full``.

    Keeping the modes apart means a quick-mode checkpoint is never picked up by a full-mode run.
    """
    return artifacts_root() / mode_name(quick)


def mode_banner(quick: bool, epochs: int, train: bool | None = None) -> str:
    """The banner printed by every settings cell, e.g. ``Chế độ: FULL (100 epoch)`` (Vietnamese nouns take no plural);
    given ``train`` (the notebook's ``TRAIN`` switch), full mode also says whether it trains or loads (class mode)."""
    banner = f"Chế độ: {mode_name(quick).upper()} ({epochs} epoch)"
    if quick or train is None:
        return banner
    if train:
        return banner + ", TRAIN = True: mọi bước huấn luyện chạy trên máy này"
    return banner + ", lớp học (TRAIN = False): các bước huấn luyện nạp kết quả của lần chạy tham chiếu"
