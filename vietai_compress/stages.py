"""The stages of Deep Compression, shared by the notebooks and ``vietai-compress run``.

train base -> prune + retrain -> share + fine-tune -> encode (``storage.save_compressed``).
Each stage changes the model it is given, returns what it measured, and, given a ``path``, writes its
checkpoint with metadata it builds itself (``*_meta``), so no caller types metadata by hand. The
``load_or_*`` functions let every notebook run on its own: they load the checkpoint an earlier notebook
wrote when its metadata matches this run (mode, epochs, data source, settings), or run the stages.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch.nn as nn

from .checkpoints import (base_checkpoint_path, load_checkpoint, read_checkpoint_meta, retrained_checkpoint_path,
                          save_checkpoint, shared_checkpoint_path)
from .checks import check_int, check_real
from .config import Device, get_device, is_quick, mode_name, seed_everything
from .data import TensorLoader, mnist_loaders
from .models import build_model, masked_layers
from .pruning import PruningRound, keep_counts, prune_by_std, prune_in_rounds, prune_to_counts, std_kept_counts
from .quantization import bits_per_layer, fine_tune_centroids, share_weights
from .recipe import BATCH_SIZE, BITS, SENSITIVITY, article_epochs, fine_tune_epochs
from .training import Batches, make_optimizer, train

Loaders = tuple[TensorLoader, TensorLoader]  # (train, evaluation): test, or validation when choosing


# ---------------------------------------------------------------- metadata, built in one place
def base_meta(quick: bool, train_loader: Batches) -> dict:
    """What a base checkpoint records and is matched on: mode, epochs and data source."""
    return {"mode": mode_name(quick), "epochs": article_epochs(quick, len(train_loader)),
            "data": getattr(train_loader, "source", "tensors")}


def retrained_meta(quick: bool, train_loader: Batches, s: float, rounds: int,
                   keep: Mapping[str, float] | None = None) -> dict:
    """``base_meta`` plus the pruning: s (or the per-layer keep fractions) and the prune + retrain rounds."""
    pruning = {"s": float(s)} if keep is None else {"keep": dict(keep)}
    return {**base_meta(quick, train_loader), **pruning, "rounds": rounds}


def shared_meta(quick: bool, train_loader: Batches, s: float, rounds: int, bits: int | Mapping[str, int],
                ft_epochs: int, keep: Mapping[str, float] | None = None) -> dict:
    """``retrained_meta`` plus the weight sharing: bits (one, or per layer) and epochs of centroid fine-tuning."""
    bits = bits if not isinstance(bits, Mapping) else dict(bits)
    return {**retrained_meta(quick, train_loader, s, rounds, keep), "bits": bits, "fine_tune_epochs": ft_epochs}


# ---------------------------------------------------------------- the stages
def train_base(model: nn.Module, train_loader: Batches, quick: bool, device: Device = None, progress: bool = True,
               eval_loader: Batches | None = None, path: str | Path | None = None,
               desc: str = "base training") -> dict[str, list[float]]:
    """Train a fresh model with the article's recipe (Adam, lr 1e-3, weight decay 1e-4, cosine lr;
    100 epochs, one MNIST epoch of steps in quick mode). Notebook 01.

    Saves model, optimizer state (notebook 03 reuses it) and ``base_meta`` to ``path`` when given.
    Returns the training history (accuracy per epoch on ``eval_loader`` when given).
    """
    optimizer = make_optimizer(model)
    history = train(model, train_loader, optimizer, article_epochs(quick, len(train_loader)), device, progress,
                    eval_loader=eval_loader, desc=desc)
    if path is not None:
        save_checkpoint(model, path, optimizer, **base_meta(quick, train_loader))
    return history


def prune_and_retrain(model: nn.Module, train_loader: Batches, quick: bool, s: float = SENSITIVITY, rounds: int = 1,
                      device: Device = None, progress: bool = True, eval_loader: Batches | None = None,
                      path: str | Path | None = None, desc: str = "retraining",
                      keep: Mapping[str, float] | None = None) -> list[PruningRound]:
    """Prune with s x std and retrain with a fresh Adam for the article's epochs (notebook 03).

    ``keep`` (a fraction of the weights per layer, e.g. ``{"fc1": 0.04, "fc2": 0.08, "fc3": 0.3}``) replaces
    the s x std rule when given. ``rounds`` = 1 is the article's one-shot pruning; more rounds reach the same
    per-layer counts in several prune + retrain rounds sharing the same epochs (``prune_in_rounds``).
    Returns one ``PruningRound`` per round; saves ``retrained_meta`` with the model to ``path`` when given.
    """
    s, rounds = check_real(s, "s", 0.0), check_int(rounds, "rounds", 1)
    epochs = article_epochs(quick, len(train_loader))
    target = keep_counts(model, keep) if keep is not None else std_kept_counts(model, s)
    if rounds == 1:
        if keep is None:
            prune_by_std(model, s)  # the article's rule, threshold and all
        else:
            prune_to_counts(model, target)
        history = train(model, train_loader, make_optimizer(model), epochs, device, progress,
                        eval_loader=eval_loader, desc=desc)
        accuracy = history["test_accuracy"][-1] if history["test_accuracy"] else None
        result = [PruningRound(1, sum(target.values()), epochs, accuracy, history)]
    else:
        result = prune_in_rounds(model, target, rounds, train_loader, epochs, device, progress, eval_loader)
    if path is not None:
        save_checkpoint(model, path, **retrained_meta(quick, train_loader, s, rounds, keep))
    return result


def share_and_fine_tune(model: nn.Module, train_loader: Batches, quick: bool, bits: int | Mapping[str, int] = BITS,
                        ft_epochs: int | None = None, device: Device = None, progress: bool = True,
                        eval_loader: Batches | None = None, path: str | Path | None = None,
                        s: float = SENSITIVITY, rounds: int = 1,
                        keep: Mapping[str, float] | None = None) -> dict[str, list[float]]:
    """Share the weights with k-means (``bits`` per weight, one or per layer) and fine-tune the centroids
    (notebook 04).

    ``ft_epochs`` defaults to the recipe's (5; one MNIST epoch of steps in quick mode); 0 skips it.
    ``s``, ``rounds`` and ``keep`` say how the model given was pruned: they are recorded in the checkpoint
    (``shared_meta``) written to ``path`` when given. Returns the fine-tuning history.
    """
    bits = bits_per_layer(bits, [name for name, _ in masked_layers(model)])
    ft_epochs = fine_tune_epochs(quick, len(train_loader)) if ft_epochs is None else check_int(ft_epochs, "ft_epochs", 0)
    share_weights(model, bits)
    history = fine_tune_centroids(model, train_loader, ft_epochs, device=device, progress=progress,
                                  eval_loader=eval_loader)
    if path is not None:
        one = set(bits.values())
        recorded = one.pop() if len(one) == 1 else bits  # an int when every layer has the same bits
        save_checkpoint(model, path, **shared_meta(quick, train_loader, s, rounds, recorded, ft_epochs, keep))
    return history


# ---------------------------------------------------------------- load what an earlier notebook saved, or run it
def _matches(path: Path, expected: dict) -> bool:
    """True when a checkpoint exists and was written with the expected settings (mode, epochs, ...)."""
    if not path.is_file():
        return False
    meta = read_checkpoint_meta(path)
    if all(meta.get(key) == value for key, value in expected.items()):
        return True
    print(f"Ignoring {path}: written with {meta}, this run needs {expected}.")
    return False


def _defaults(quick: bool | None, loaders: Loaders | None, device: Device) -> tuple[bool, Loaders, Device]:
    quick = is_quick() if quick is None else quick
    device = device or get_device()
    return quick, loaders or mnist_loaders(BATCH_SIZE, device=device, quick=quick), device


def load_or_train_base_model(quick: bool | None = None, path: str | Path | None = None,
                             loaders: Loaders | None = None, device: Device = None, progress: bool = True,
                             model: str = "lenet300") -> nn.Module:
    """The trained base model of this mode: loaded from ``path`` or trained (``train_base``) and saved there.

    The seed is reset first, so the model starts from the same weights as notebook 01's. A checkpoint of
    the other mode, epochs or data source is never used.
    """
    quick, (train_loader, _), device = _defaults(quick, loaders, device)
    path = Path(path) if path is not None else base_checkpoint_path(quick, model)
    seed_everything()  # the same initial weights as notebook 01
    net = build_model(model).to(device)
    if _matches(path, base_meta(quick, train_loader)):
        load_checkpoint(path, net)
    else:
        train_base(net, train_loader, quick, device, progress, path=path)
    return net


def load_or_retrain_pruned_model(s: float = SENSITIVITY, quick: bool | None = None, loaders: Loaders | None = None,
                                 device: Device = None, progress: bool = True, rounds: int = 1,
                                 model: str = "lenet300") -> nn.Module:
    """The base model pruned with s x std and retrained (``prune_and_retrain``), as notebook 03."""
    quick, loaders, device = _defaults(quick, loaders, device)
    path = retrained_checkpoint_path(s, quick, rounds, model)
    if _matches(path, retrained_meta(quick, loaders[0], s, rounds)):
        net = build_model(model).to(device)
        load_checkpoint(path, net)
        return net
    net = load_or_train_base_model(quick, loaders=loaders, device=device, progress=progress, model=model)
    prune_and_retrain(net, loaders[0], quick, s, rounds, device, progress, path=path)
    return net


def load_or_share_model(s: float = SENSITIVITY, bits: int = BITS, quick: bool | None = None,
                        loaders: Loaders | None = None, device: Device = None, progress: bool = True,
                        rounds: int = 1, model: str = "lenet300") -> nn.Module:
    """The retrained model with shared weights and fine-tuned centroids (``share_and_fine_tune``), as notebook 04.

    The loaded checkpoint holds the shared layers themselves (centroids, positions, labels): nothing is
    clustered again.
    """
    quick, loaders, device = _defaults(quick, loaders, device)
    path = shared_checkpoint_path(s, bits, quick, rounds, model)
    ft_epochs = fine_tune_epochs(quick, len(loaders[0]))
    if _matches(path, shared_meta(quick, loaders[0], s, rounds, bits, ft_epochs)):
        net = build_model(model).to(device)
        load_checkpoint(path, net)
        return net
    net = load_or_retrain_pruned_model(s, quick, loaders, device, progress, rounds, model)
    share_and_fine_tune(net, loaders[0], quick, bits, ft_epochs, device, progress, path=path, s=s, rounds=rounds)
    return net
