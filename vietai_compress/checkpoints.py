"""Checkpoints (atomic, loaded with ``weights_only=True``) and the results log.

Taught in notebook 01_base_training (saving) and used by every later notebook, so that each one
also runs on its own: ``load_or_train_base_model()`` loads the base model of the current mode or
trains it with the article's recipe.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import torch
import torch.nn as nn

from .config import artifacts_dir, get_device, is_quick, mode_name, seed_everything
from .data import mnist_loaders
from .fileio import atomic_write
from .models import LeNet300100
from .pruning import prune_by_std
from .quantization import Codebook, fine_tune_centroids, fine_tune_epochs, share_weights
from .training import ARTICLE_BATCH_SIZE, article_epochs, evaluate, make_optimizer, train


def save_checkpoint(model: nn.Module, path: str | Path, optimizer: torch.optim.Optimizer | None = None,
                    **meta) -> Path:
    """Write the model's state_dict (masks included), optional optimizer state and ``meta`` atomically.

    ``meta`` holds plain values only (numbers, strings, lists, dicts), e.g. ``mode="full", epochs=100``.
    """
    try:
        json.dumps(meta)
    except TypeError as err:
        raise TypeError(f"meta must hold plain JSON values (numbers, strings, lists, dicts): {err}") from err
    payload = {"state_dict": model.state_dict(), "meta": meta}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def read_checkpoint_meta(path: str | Path) -> dict:
    """The ``meta`` dict of a checkpoint, without touching any model."""
    return _load_payload(path)["meta"]


def _load_payload(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{path} is not a vietai_compress checkpoint (no state_dict)")
    return payload


def load_checkpoint(path: str | Path, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Load a checkpoint written by ``save_checkpoint`` into ``model`` (and ``optimizer``); return its meta.

    Uses ``torch.load(..., weights_only=True)``: no arbitrary object is ever unpickled.
    """
    payload = _load_payload(path)
    model.load_state_dict(payload["state_dict"])
    if optimizer is not None:
        if "optimizer" not in payload:
            raise ValueError(f"{path} holds no optimizer state")
        optimizer.load_state_dict(payload["optimizer"])
    return payload.get("meta", {})


def base_checkpoint_path(quick: bool | None = None) -> Path:
    """``artifacts/<mode>/lenet300_base.pt``: the base model written by notebook 01."""
    return artifacts_dir(quick) / "lenet300_base.pt"


def retrained_checkpoint_path(s: float = 2.0, quick: bool | None = None) -> Path:
    """``artifacts/<mode>/lenet300_s<s>_retrained.pt``: pruned with s x std and retrained (notebook 03)."""
    return artifacts_dir(quick) / f"lenet300_s{s:g}_retrained.pt"


def shared_checkpoint_path(s: float = 2.0, bits: int = 5, quick: bool | None = None) -> Path:
    """``artifacts/<mode>/lenet300_s<s>_b<bits>_shared.pt``: weight-shared and fine-tuned (notebook 04)."""
    return artifacts_dir(quick) / f"lenet300_s{s:g}_b{bits}_shared.pt"


def run_meta(quick: bool, train_loader) -> dict:
    """What a checkpoint of this run is written with and checked against: mode, epochs and data source."""
    return {"mode": mode_name(quick), "epochs": article_epochs(quick, len(train_loader)),
            "data": getattr(train_loader, "source", "tensors")}


def _matches(path: Path, expected: dict) -> bool:
    """True when a checkpoint exists and was written with the expected settings (mode, epochs, ...)."""
    if not path.is_file():
        return False
    meta = read_checkpoint_meta(path)
    if all(meta.get(key) == value for key, value in expected.items()):
        return True
    print(f"Ignoring {path}: written with {meta}, this run needs {expected}.")
    return False


def load_or_train_base_model(quick: bool | None = None, path: str | Path | None = None, loaders=None,
                             device=None, progress: bool = True) -> nn.Module:
    """The trained base LeNet-300-100 of this mode: loaded from ``path`` or trained and saved there.

    Training follows the article (Adam, lr 1e-3, weight decay 1e-4, batch 128, seed as already set;
    100 epochs, 1 in quick mode). A checkpoint of the other mode is never used.
    """
    quick = is_quick() if quick is None else quick
    path = Path(path) if path is not None else base_checkpoint_path(quick)
    device = device or get_device()
    train_loader, test_loader = loaders or mnist_loaders(ARTICLE_BATCH_SIZE, device=device, quick=quick)
    expected = run_meta(quick, train_loader)
    seed_everything()  # the same initial weights as notebook 01
    model = LeNet300100().to(device)
    if _matches(path, expected):
        load_checkpoint(path, model)
        return model
    optimizer = make_optimizer(model)
    train(model, train_loader, optimizer, expected["epochs"], device, progress, desc="base training")
    accuracy = evaluate(model, test_loader, device).accuracy
    save_checkpoint(model, path, optimizer, accuracy=accuracy, **expected)
    return model


def load_or_retrain_pruned_model(s: float = 2.0, quick: bool | None = None, loaders=None, device=None,
                                 progress: bool = True) -> nn.Module:
    """The base model pruned with ``prune_by_std(s)`` and retrained (fresh optimizer), as notebook 03.

    Loaded from ``retrained_checkpoint_path(s)`` when present for this mode, else computed and saved.
    """
    quick = is_quick() if quick is None else quick
    path = retrained_checkpoint_path(s, quick)
    device = device or get_device()
    loaders = loaders or mnist_loaders(ARTICLE_BATCH_SIZE, device=device, quick=quick)
    expected = {**run_meta(quick, loaders[0]), "s": float(s)}
    model = LeNet300100().to(device)
    if _matches(path, expected):
        load_checkpoint(path, model)
        return model
    model = load_or_train_base_model(quick, loaders=loaders, device=device, progress=progress)
    prune_by_std(model, s)
    train(model, loaders[0], make_optimizer(model), expected["epochs"], device, progress, desc="retraining")
    accuracy = evaluate(model, loaders[1], device).accuracy
    save_checkpoint(model, path, accuracy=accuracy, **expected)
    return model


def load_or_share_model(s: float = 2.0, bits: int = 5, quick: bool | None = None, loaders=None, device=None,
                        progress: bool = True) -> tuple[nn.Module, dict[str, Codebook]]:
    """The retrained model with shared weights (linear init) and fine-tuned centroids, as notebook 04.

    Loaded from ``shared_checkpoint_path(s, bits)`` when present for this mode, else computed and saved.
    Returns ``(model, codebooks)``; the codebooks of a loaded model are its distinct weight values
    (``share_weights`` finds at most 2**bits of them and keeps them exactly).
    """
    quick = is_quick() if quick is None else quick
    path = shared_checkpoint_path(s, bits, quick)
    device = device or get_device()
    loaders = loaders or mnist_loaders(ARTICLE_BATCH_SIZE, device=device, quick=quick)
    epochs = fine_tune_epochs(quick, len(loaders[0]))
    expected = {**run_meta(quick, loaders[0]), "s": float(s), "bits": bits, "fine_tune_epochs": epochs}
    model = LeNet300100().to(device)
    if _matches(path, expected):
        load_checkpoint(path, model)
        return model, share_weights(model, bits)
    model = load_or_retrain_pruned_model(s, quick, loaders, device, progress)
    codebooks = share_weights(model, bits)
    fine_tune_centroids(model, codebooks, loaders[0], epochs, device=device, progress=progress)
    accuracy = evaluate(model, loaders[1], device).accuracy
    save_checkpoint(model, path, accuracy=accuracy, **expected)
    return model, codebooks


def save_log(path: str | Path, stage: str, **fields) -> dict:
    """Append one JSON line ``{"time", "stage", **fields}`` (e.g. accuracy, nonzeros) to a results log."""
    record = {"time": _dt.datetime.now().isoformat(timespec="seconds"), "stage": stage, **fields}
    line = json.dumps(record, ensure_ascii=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
    return record


def read_log(path: str | Path) -> list[dict]:
    """Every record of a results log, oldest first."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
