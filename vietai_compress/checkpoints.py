"""Checkpoints (atomic, loaded with ``weights_only=True``), their file names, and the results log.

Taught in notebook 01_base_training (saving) and used by every later notebook through ``stages``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Mapping

import torch
import torch.nn as nn

from .config import artifacts_dir
from .fileio import atomic_write
from .models import build_model
from .quantization import share_like_state_dict
from .recipe import BITS, SENSITIVITY, TEACHER_DROPOUT


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


def fingerprint(model: nn.Module) -> str:
    """A short SHA-256 of every tensor of ``model``'s state (names, shapes and bytes): what a later stage records
    as its ``parent``, so that it is never reused after the model it started from changed."""
    return fingerprint_state(model.state_dict())


def fingerprint_state(state: dict[str, torch.Tensor]) -> str:
    """``fingerprint`` of a state dict (name -> tensor)."""
    digest = hashlib.sha256()
    for key, tensor in sorted(state.items()):
        digest.update(f"{key}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_checkpoint_model(path: str | Path, name: str) -> nn.Module:
    """A model of the registry ``name`` (``"lenet5"``, ...) built with the widths its checkpoint's weights have (a
    structurally pruned model is smaller: notebook 11), with the checkpoint loaded."""
    return model_from_payload(read_payload(path), name)


def model_from_payload(payload: dict, name: str) -> nn.Module:
    """``load_checkpoint_model`` for a payload already read (``read_payload``, or ``reference.read_payload``)."""
    units = [tensor.shape[0] for key, tensor in payload["state_dict"].items() if key.endswith(".bias")]
    model = build_model(name, tuple(units[:-1]))  # every layer of the registered models has a bias
    load_payload(payload, model)
    return model


def read_checkpoint_meta(path: str | Path) -> dict:
    """The ``meta`` dict of a checkpoint, without touching any model."""
    return read_payload(path)["meta"]


def read_payload(path: str | Path) -> dict:
    """A checkpoint's contents, ``{"state_dict", "meta"[, "optimizer"]}``, read with ``weights_only=True``."""
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

    Uses ``torch.load(..., weights_only=True)``: no arbitrary object is ever unpickled. A checkpoint of a
    weight-shared model loads into a freshly built one: its layers become shared layers first.
    """
    return load_payload(read_payload(path), model, optimizer)


def load_payload(payload: dict, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Load a checkpoint's contents (``read_payload``) into ``model`` (and ``optimizer``); return its meta."""
    share_like_state_dict(model, payload["state_dict"])
    model.load_state_dict(payload["state_dict"])
    if optimizer is not None:
        if "optimizer" not in payload:
            raise ValueError("the checkpoint holds no optimizer state")
        optimizer.load_state_dict(payload["optimizer"])
    return payload.get("meta", {})


def base_checkpoint_path(quick: bool | None = None, model: str = "lenet300") -> Path:
    """``artifacts/<mode>/lenet300_base.pt``: the base model written by notebook 01."""
    return artifacts_dir(quick) / f"{model}_base.pt"


def teacher_checkpoint_path(quick: bool | None = None, dropout: float = TEACHER_DROPOUT) -> Path:
    """``artifacts/<mode>/teacher_1200-1200_d<dropout>.pt``: Hinton et al.'s MNIST teacher with that hidden-unit
    dropout, trained in notebook 07 (or by ``scripts/choose_teacher.py``, which compares several)."""
    return artifacts_dir(quick) / f"teacher_1200-1200_d{dropout:g}.pt"


def retrained_checkpoint_path(s: float = SENSITIVITY, quick: bool | None = None, rounds: int = 1,
                              model: str = "lenet300", keep: Mapping[str, float] | None = None,
                              distill: bool = False) -> Path:
    """``artifacts/<mode>/lenet300_s<s>[_r<rounds>][_kd]_retrained.pt``: pruned and retrained (notebook 03)."""
    return artifacts_dir(quick) / f"{run_name(model, s, rounds, keep, distill)}_retrained.pt"


def shared_checkpoint_path(s: float = SENSITIVITY, bits: int | Mapping[str, int] = BITS, quick: bool | None = None,
                           rounds: int = 1, model: str = "lenet300", keep: Mapping[str, float] | None = None,
                           distill: bool = False) -> Path:
    """``artifacts/<mode>/lenet300_s<s>[_r<rounds>][_kd]_b<bits>_shared.pt``: weight-shared and fine-tuned (notebook 04)."""
    return artifacts_dir(quick) / f"{run_name(model, s, rounds, keep, distill)}_b{bits_label(bits)}_shared.pt"


def run_name(model: str, s: float, rounds: int, keep: Mapping[str, float] | None = None, distill: bool = False,
             units: Mapping[str, float] | None = None) -> str:
    """The stem every file of one setting shares, e.g. ``lenet300_s2``, ``lenet300_s1.75_r3`` or, with
    per-layer keep fractions, ``lenet300_keep-fc1-0.04-fc2-0.08-fc3-0.3_r5``; ``_kd`` when the dense
    model taught the retraining (knowledge distillation, notebook 07); ``units-conv1-0.5-...`` first when whole
    units were pruned before the weights (structured pruning, notebook 11)."""
    pruning = f"s{s:g}" if keep is None else "keep-" + "-".join(f"{name}-{f:g}" for name, f in keep.items())
    structured = "units-" + "-".join(f"{name}-{f:g}" for name, f in units.items()) + "_" if units else ""
    return f"{model}_{structured}{pruning}" + (f"_r{rounds}" if rounds > 1 else "") + ("_kd" if distill else "")


def bits_label(bits: int | Mapping[str, int]) -> str:
    """``5`` for one setting, ``4-4-5`` for bits per layer (in the model's layer order)."""
    return str(bits) if not isinstance(bits, Mapping) else "-".join(str(b) for b in bits.values())


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
