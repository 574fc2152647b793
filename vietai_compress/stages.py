"""The stages of Deep Compression, shared by the notebooks and ``vietai-compress run``.

train base -> prune + retrain -> share + fine-tune -> encode (``storage.save_compressed``).
Each stage changes the model it is given, returns what it measured, and, given a ``path``, writes its
checkpoint with metadata it builds itself (``*_meta``), so no caller types metadata by hand. ``pipeline.Run``
chains them, loading a stage's checkpoint instead when its metadata matches the run (``matches``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

import torch.nn as nn

from . import reference
from .checkpoints import (load_payload, read_checkpoint_meta, read_payload, save_checkpoint,
                          teacher_checkpoint_path)
from .checks import check_int, check_real
from .config import Device, get_device, is_quick, mode_name, seed_everything
from .data import Jittered, TensorLoader
from .distillation import distillation_objective, with_teacher_logits
from .models import hinton_teacher, masked_layers, model_name
from .pruning import PruningRound, keep_counts, prune_by_std, prune_in_rounds, prune_to_counts, std_kept_counts
from .quantization import bits_per_layer, fine_tune_centroids, share_weights
from .recipe import (BITS, DISTILL_ALPHA, DISTILL_T, SENSITIVITY, TEACHER_DROPOUT, TEACHER_EPOCHS,
                     fine_tune_epochs, mode_epochs, model_epochs)
from .training import Batches, LossFn, make_optimizer, nll_loss, train

Loaders = tuple[TensorLoader, TensorLoader]  # (train, evaluation): test, or validation when choosing


# ---------------------------------------------------------------- metadata, built in one place
def base_meta(quick: bool, train_loader: Batches, model: str = "lenet300", epochs: int | None = None) -> dict:
    """What a base checkpoint records and is matched on: mode, epochs (default ``model_epochs``), data source
    and number of training images (55,000 when the validation split is held out, 60,000 otherwise); and the
    pixels of shift of its images (``data.Jittered``, LeNet-5's recipe; 0 for plain images)."""
    epochs = model_epochs(model, quick, len(train_loader)) if epochs is None else epochs
    images = len(train_loader.labels) if isinstance(train_loader, (TensorLoader, Jittered)) else None
    return {"mode": mode_name(quick), "epochs": epochs, "data": getattr(train_loader, "source", "tensors"),
            "train_images": images, "jitter": train_loader.max_shift if isinstance(train_loader, Jittered) else 0}


def retrained_meta(quick: bool, train_loader: Batches, s: float, rounds: int,
                   keep: Mapping[str, float] | None = None, distill: bool = False, model: str = "lenet300",
                   epochs: int | None = None) -> dict:
    """``base_meta`` plus the pruning: s (or the per-layer keep fractions), the prune + retrain rounds and,
    when the dense model taught the retraining, the distillation's T and alpha."""
    pruning = {"s": float(s)} if keep is None else {"keep": dict(keep)}
    taught = {"distill": {"T": DISTILL_T, "alpha": DISTILL_ALPHA}} if distill else {}
    return {**base_meta(quick, train_loader, model, epochs), **pruning, "rounds": rounds, **taught}


def shared_meta(quick: bool, train_loader: Batches, s: float, rounds: int, bits: int | Mapping[str, int],
                ft_epochs: int, keep: Mapping[str, float] | None = None, distill: bool = False,
                model: str = "lenet300", epochs: int | None = None) -> dict:
    """``retrained_meta`` plus the weight sharing: bits (one number when every layer has the same, else per layer)
    and epochs of centroid fine-tuning."""
    if isinstance(bits, Mapping):
        bits = next(iter(set(bits.values()))) if len(set(bits.values())) == 1 else dict(bits)
    return {**retrained_meta(quick, train_loader, s, rounds, keep, distill, model, epochs), "bits": bits,
            "fine_tune_epochs": ft_epochs}


def units_meta(quick: bool, train_loader: Batches, units: Mapping[str, float], model: str = "lenet300",
               epochs: int | None = None) -> dict:
    """``base_meta`` plus the fraction of units each named layer kept (structured pruning, notebook 11)."""
    return {**base_meta(quick, train_loader, model, epochs), "units": dict(units)}


def taught_by(teacher: nn.Module | None, train_loader: TensorLoader | Jittered) -> tuple[Batches, LossFn]:
    """The loader and loss of retraining and fine-tuning: the article's NLL, or with a ``teacher`` (the dense
    base model) distillation at the recipe's T and alpha, its logits computed once (notebook 07), or on every
    batch when the loader jitters its images."""
    if teacher is None:
        return train_loader, nll_loss
    if isinstance(train_loader, Jittered):  # shifted images: the teacher runs on every batch
        return train_loader, distillation_objective(DISTILL_T, DISTILL_ALPHA, teacher)
    return with_teacher_logits(train_loader, teacher), distillation_objective(DISTILL_T, DISTILL_ALPHA)


# ---------------------------------------------------------------- the stages
def _own_copy(loader: Batches) -> Batches:
    """A copy of a ``TensorLoader`` with its own shuffling (``TensorLoader.copy``): what comes after a stage
    that may load its model from disk instead of training it then sees the same batches either way."""
    return loader.copy() if isinstance(loader, (TensorLoader, Jittered)) else loader


def train_base(model: nn.Module, train_loader: Batches, quick: bool, device: Device = None, progress: bool = True,
               eval_loader: Batches | None = None, path: str | Path | None = None,
               desc: str = "huấn luyện mô hình gốc", epochs: int | None = None) -> dict[str, list[float]]:
    """Train a fresh model with the article's recipe (Adam, lr 1e-3, weight decay 1e-4, cosine lr;
    100 epochs, 12 for LeNet-5, one MNIST epoch of steps in quick mode: ``model_epochs``). Notebook 01.

    ``epochs`` overrides the recipe's (notebook 08 trains on fewer images in quick mode).
    Saves model, optimizer state (notebook 03 reuses it) and ``base_meta`` to ``path`` when given.
    Returns the training history (accuracy per epoch on ``eval_loader`` when given).
    """
    optimizer = make_optimizer(model)
    meta = base_meta(quick, train_loader, model_name(model), epochs)
    started = time.perf_counter()
    history = train(model, _own_copy(train_loader), optimizer, meta["epochs"], device, progress,
                    eval_loader=eval_loader, desc=desc)
    if path is not None:
        save_checkpoint(model, path, optimizer, **meta, seconds=time.perf_counter() - started, history=history)
    return history


def prune_and_retrain(model: nn.Module, train_loader: Batches, quick: bool, s: float = SENSITIVITY, rounds: int = 1,
                      device: Device = None, progress: bool = True, eval_loader: Batches | None = None,
                      path: str | Path | None = None, desc: str = "huấn luyện lại",
                      keep: Mapping[str, float] | None = None, teacher: nn.Module | None = None,
                      epochs: int | None = None, parent: str | None = None) -> list[PruningRound]:
    """Prune with s x std and retrain with a fresh Adam for the recipe's epochs (``model_epochs``; notebook 03).

    ``keep`` (a fraction of the weights per layer, e.g. ``{"fc1": 0.04, "fc2": 0.08, "fc3": 0.3}``) replaces
    the s x std rule when given. ``rounds`` = 1 is the article's one-shot pruning; more rounds reach the same
    per-layer counts in several prune + retrain rounds sharing the same epochs (``prune_in_rounds``).
    With a ``teacher`` (the dense model before pruning) the retraining distils from it (``taught_by``).
    ``epochs`` overrides the recipe's. Returns one ``PruningRound`` per round; saves ``retrained_meta`` with
    the model to ``path`` when given (and ``parent``, the ``checkpoints.fingerprint`` of the model it started from).
    """
    s, rounds = check_real(s, "s", 0.0), check_int(rounds, "rounds", 1)
    name = model_name(model)
    epochs = model_epochs(name, quick, len(train_loader)) if epochs is None else check_int(epochs, "epochs", 1)
    target = keep_counts(model, keep) if keep is not None else std_kept_counts(model, s)
    started = time.perf_counter()
    loader, loss_fn = taught_by(teacher, train_loader)
    if rounds == 1:
        if keep is None:
            prune_by_std(model, s)  # the article's rule, threshold and all
        else:
            prune_to_counts(model, target)
        history = train(model, loader, make_optimizer(model), epochs, device, progress,
                        eval_loader=eval_loader, desc=desc, loss_fn=loss_fn)
        accuracy = history["eval_accuracy"][-1] if history["eval_accuracy"] else None
        result = [PruningRound(1, sum(target.values()), epochs, accuracy, history)]
    else:
        result = prune_in_rounds(model, target, rounds, loader, epochs, device, progress, eval_loader, loss_fn,
                                 desc=f"{desc}, vòng")
    if path is not None:
        save_checkpoint(model, path, **retrained_meta(quick, train_loader, s, rounds, keep, teacher is not None, name,
                                                      epochs), seconds=time.perf_counter() - started, parent=parent,
                        history=[{"kept": r.kept, "epochs": r.epochs, "accuracy": r.accuracy, **r.history}
                                 for r in result])
    return result


def prune_units_and_retrain(model: nn.Module, train_loader: Batches, quick: bool, units: Mapping[str, float],
                            device: Device = None, progress: bool = True, path: str | Path | None = None,
                            teacher: nn.Module | None = None, epochs: int | None = None,
                            desc: str = "huấn luyện lại sau khi bỏ nơ-ron", parent: str | None = None
                            ) -> dict[str, list[float]]:
    """Structured pruning (notebook 11): keep the fraction ``units[name]`` of each named layer's units, ranked by
    L1 norm (``structured.prune_units``; the model shrinks in place), then retrain with a fresh Adam for the
    recipe's epochs (or ``epochs``), distilled from ``teacher`` when given. Saves the model and ``units_meta`` (and
    ``parent``, as ``prune_and_retrain``) to ``path`` when given. Returns the training history."""
    from .structured import prune_units

    name = model_name(model)
    epochs = model_epochs(name, quick, len(train_loader)) if epochs is None else check_int(epochs, "epochs", 1)
    started = time.perf_counter()
    prune_units(model, units)
    loader, loss_fn = taught_by(teacher, train_loader)
    history = train(model, loader, make_optimizer(model), epochs, device, progress, desc=desc, loss_fn=loss_fn)
    if path is not None:
        save_checkpoint(model, path, **units_meta(quick, train_loader, units, name, epochs),
                        seconds=time.perf_counter() - started, parent=parent, history=history)
    return history


def share_and_fine_tune(model: nn.Module, train_loader: Batches, quick: bool, bits: int | Mapping[str, int] = BITS,
                        ft_epochs: int | None = None, device: Device = None, progress: bool = True,
                        eval_loader: Batches | None = None, path: str | Path | None = None,
                        s: float = SENSITIVITY, rounds: int = 1, keep: Mapping[str, float] | None = None,
                        teacher: nn.Module | None = None, epochs: int | None = None,
                        parent: str | None = None) -> dict[str, list[float]]:
    """Share the weights with k-means (``bits`` per weight, one or per layer) and fine-tune the centroids
    (notebook 04).

    ``ft_epochs`` defaults to the recipe's (5; one MNIST epoch of steps in quick mode); 0 skips it.
    ``s``, ``rounds``, ``keep`` and ``epochs`` say how the model given was pruned and retrained: they are
    recorded in the checkpoint (``shared_meta``, and ``parent`` as ``prune_and_retrain``) written to ``path`` when
    given. With a ``teacher`` the fine-tuning distils from it.
    Returns the fine-tuning history.
    """
    bits = bits_per_layer(bits, [name for name, _ in masked_layers(model)])
    ft_epochs = fine_tune_epochs(quick, len(train_loader)) if ft_epochs is None else check_int(ft_epochs, "ft_epochs", 0)
    started = time.perf_counter()
    share_weights(model, bits)
    loader, loss_fn = taught_by(teacher, train_loader)
    history = fine_tune_centroids(model, loader, ft_epochs, device=device, progress=progress,
                                  eval_loader=eval_loader, loss_fn=loss_fn)
    if path is not None:
        save_checkpoint(model, path, **shared_meta(quick, train_loader, s, rounds, bits, ft_epochs, keep,
                                                   teacher is not None, model_name(model), epochs),
                        seconds=time.perf_counter() - started, parent=parent, history=history)
    return history


# ---------------------------------------------------------------- is a saved checkpoint this run's?
# What a checkpoint written before a key existed was trained with: jitter came later, and before it every
# model learned from plain images.
META_DEFAULTS = {"jitter": 0}


def matches_meta(meta: dict, expected: dict, source: str) -> bool:
    """True when a checkpoint's ``meta`` records the ``expected`` settings (mode, epochs, data, jitter, ...);
    otherwise says, in the notebooks' language, that the checkpoint at ``source`` is not used."""
    meta = {**META_DEFAULTS, **meta}
    if all(meta.get(key) == value for key, value in expected.items()):
        return True
    differ = {key: meta.get(key) for key, value in expected.items() if meta.get(key) != value}
    print(f"Không dùng {source}: nó được ghi với {differ}, lần chạy này cần "
          f"{ {key: expected[key] for key in differ} }.")
    return False


def matches(path: Path, expected: dict) -> bool:
    """True when the checkpoint at ``path`` exists and records the ``expected`` settings (``matches_meta``)."""
    return Path(path).is_file() and matches_meta(read_checkpoint_meta(path), expected, str(path))


def saved_payload(path: Path, expected: dict, relative: Path, shipped: bool, what: str,
                  device: Device = None) -> dict | None:
    """The checkpoint at ``path`` when it records the ``expected`` settings; else, with ``shipped`` (class mode),
    the reference run's file at ``relative`` (its path under ``artifacts/full/``) when it does, saying in the
    notebooks' language that ``what`` was loaded and which notebook trains it; else None."""
    if matches(path, expected):
        return read_payload(path)
    if shipped and reference.has(relative):
        payload = reference.read_payload(relative, device)
        if matches_meta(payload["meta"], expected, str(reference.folder() / relative)):
            print(reference.loaded_message(what, relative))
            return payload
    return None


def teacher_meta(quick: bool, train_loader: TensorLoader, epochs: int, dropout: float = TEACHER_DROPOUT) -> dict:
    """``base_meta`` (55,000 training images: the validation split is held out from the teacher too) plus
    the jitter of its inputs and its hidden-unit dropout."""
    return {**base_meta(quick, train_loader, epochs=epochs), "jitter": 2, "dropout": dropout}


def load_or_train_teacher(train_loader: TensorLoader, quick: bool | None = None, epochs: int | None = None,
                          device: Device = None, progress: bool = True, path: str | Path | None = None,
                          desc: str = "mô hình thầy", dropout: float = TEACHER_DROPOUT,
                          shipped: bool = False) -> nn.Module:
    """Hinton et al.'s MNIST teacher (``hinton_teacher(dropout)``: 784-1200-1200-10) in eval mode: loaded
    from ``path`` (default ``teacher_checkpoint_path``: ``artifacts/<mode>/teacher_1200-1200_d<dropout>.pt``)
    when its ``teacher_meta`` matches, or trained on ``train_loader``'s images jittered by up to 2 pixels and
    saved there (notebook 07). ``epochs`` defaults to the recipe's 40 (one MNIST epoch of steps in quick mode);
    ``dropout`` to the recipe's hidden-unit dropout, chosen on validation (``scripts/choose_teacher.py``). With
    ``shipped`` (class mode), the reference run's teacher is loaded when no matching one was saved."""
    quick = is_quick() if quick is None else quick
    device = device or get_device()
    dropout = check_real(dropout, "dropout", 0.0, 0.99)
    path = Path(path) if path is not None else teacher_checkpoint_path(quick, dropout)
    if epochs is None:
        epochs = mode_epochs(quick, TEACHER_EPOCHS, len(train_loader))
    meta = teacher_meta(quick, train_loader, check_int(epochs, "epochs", 1), dropout)
    seed_everything()
    teacher = hinton_teacher(dropout).to(device)
    payload = saved_payload(path, meta, Path(path.name), shipped and not quick, "mô hình thầy", device)
    if payload is not None:
        load_payload(payload, teacher)
    else:
        started = time.perf_counter()
        train(teacher, Jittered(_own_copy(train_loader), max_shift=2), make_optimizer(teacher), meta["epochs"], device,
              progress, desc=desc)
        save_checkpoint(teacher, path, **meta, seconds=time.perf_counter() - started)
    return teacher.eval()
