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


def artifacts_dir(quick: bool | None = None) -> Path:
    """Folder for checkpoints and compressed files, one per mode: ``artifacts/quick`` or ``artifacts/full``.

    ``VIETAI_ARTIFACTS`` overrides the parent folder. Keeping the modes apart means a quick-mode
    checkpoint is never picked up by a full-mode run.
    """
    value = os.environ.get("VIETAI_ARTIFACTS")
    parent = Path(value).expanduser().resolve() if value else _default_folder("artifacts")
    return parent / mode_name(quick)


def mode_banner(quick: bool, epochs: int) -> str:
    """The banner printed by every config cell, e.g. ``Chế độ: FULL (100 epoch)`` (Vietnamese nouns take no plural)."""
    return f"Chế độ: {mode_name(quick).upper()} ({epochs} epoch)"
