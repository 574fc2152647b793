"""Training with pruned weights held at exactly zero, and evaluation.

Taught in notebook 01_base_training (``train``, ``evaluate``) and 03_retraining (why the
re-masking after every optimizer step is needed). The recipe's constants live in ``recipe``.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Iterable, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .checks import check_int
from .config import Device, get_device
from .models import masked_layers
from .recipe import LR, WEIGHT_DECAY

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]  # a loader: (images, labels) batches
LossFn = Callable[..., torch.Tensor]  # (model, images, labels, *extra) -> the loss


def make_optimizer(model: nn.Module, lr: float = LR, weight_decay: float = WEIGHT_DECAY) -> torch.optim.Adam:
    """A fresh Adam optimizer with the article's settings (new state: no momentum yet).

    ``fused=True``: one kernel per parameter instead of a chain of element-wise operations. The same
    update, and after pruning it matters: 94% of the Adam state is then exactly zero, and PyTorch's
    element-wise ``sqrt`` runs about 25x slower on zeros than on other numbers on the CPU, which made
    retraining about 1.3x slower per batch than base training (``benchmarks/train_speed.py``).
    """
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)


class EvalResult(NamedTuple):
    """What ``evaluate`` measures: mean loss, accuracy in %, correct, total, wall-clock seconds."""

    loss: float
    accuracy: float
    correct: int
    total: int
    seconds: float

    @property
    def errors(self) -> int:
        """Misclassified samples: MNIST papers report these as counts out of the 10,000 test images."""
        return self.total - self.correct


@torch.no_grad()
def apply_masks_(model: nn.Module) -> None:
    """Set every pruned weight back to exactly 0 (weight *= mask), on the weight's own device."""
    for _, layer in masked_layers(model):
        layer.weight.mul_(layer.mask)


def cosine_factor(epoch: int, epochs: int) -> float:
    """Learning-rate multiplier of a cosine schedule: 1 at epoch 0, falling towards 0 at the last."""
    return 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def nll_loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The article's loss: NLL of the model's log-probabilities (B, classes) against labels (B,)."""
    return F.nll_loss(model(images), labels)


def train(model: nn.Module, loader: Batches, optimizer: torch.optim.Optimizer, epochs: int,
          device: Device = None, progress: bool = True, remask: bool = True, eval_loader: Batches | None = None,
          desc: str = "huấn luyện", cosine: bool = True, loss_fn: LossFn = nll_loss) -> dict[str, list[float]]:
    """Train ``model`` for ``epochs`` passes over ``loader`` and return its history.

    Batches: images (B, 1, 28, 28), labels (B,) and possibly more (a teacher's logits, notebook 07);
    ``loss_fn(model, images, labels, *more)`` gives the loss (default: the article's NLL). After every optimizer step the pruned weights are set back to
    exactly 0 (``remask=False`` only exists for notebook 03's experiment).
    With ``cosine`` the learning rate of epoch e is lr * cosine_factor(e, epochs), so the last
    epochs settle instead of bouncing (notebook 01); the optimizer's lr is restored at the end.
    Returns ``{"loss": [mean loss per epoch], "eval_accuracy": [...]}``; the second list is filled
    only when ``eval_loader`` is given (evaluated after every epoch).
    """
    check_int(epochs, "epochs", 0)
    device = device or get_device()
    model.to(device)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    history = {"loss": [], "eval_accuracy": []}
    bar = tqdm(total=epochs * len(loader), desc=desc, disable=not progress, unit=" lô")
    try:  # the lr is restored even when training is interrupted (Ctrl+C in a notebook)
        for epoch in range(epochs):
            if cosine:
                for group, lr in zip(optimizer.param_groups, base_lrs):
                    group["lr"] = lr * cosine_factor(epoch, epochs)
            history["loss"].append(_train_epoch(model, loader, optimizer, device, remask, loss_fn, bar))
            postfix = {"epoch": f"{epoch + 1}/{epochs}", "mất mát": f"{history['loss'][-1]:.4f}"}
            if eval_loader is not None:
                history["eval_accuracy"].append(evaluate(model, eval_loader, device).accuracy)
                postfix["chính xác"] = f"{history['eval_accuracy'][-1]:.2f}%"
            bar.set_postfix(postfix)
    finally:
        bar.close()
        for group, lr in zip(optimizer.param_groups, base_lrs):
            group["lr"] = lr
    return history


def _train_epoch(model: nn.Module, loader: Batches, optimizer: torch.optim.Optimizer, device: Device,
                 remask: bool, loss_fn: LossFn, bar) -> float:
    """One pass over ``loader``; returns the mean loss. Pruned weights are re-masked after every step."""
    model.train()
    total_loss, batches = 0.0, 0
    for images, labels, *more in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model, images, labels, *(t.to(device) for t in more))
        loss.backward()
        optimizer.step()
        if remask:
            apply_masks_(model)
        total_loss += loss.item()
        batches += 1
        bar.update(1)
    return total_loss / max(batches, 1)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Batches, device: Device = None) -> EvalResult:
    """Mean NLL loss and accuracy (%) of ``model`` over every batch of ``loader``."""
    device = device or get_device()
    model.to(device).eval()
    start = time.perf_counter()
    loss_sum, correct, total = 0.0, 0, 0
    for images, labels, *_ in loader:
        images, labels = images.to(device), labels.to(device)
        log_probs = model(images)
        loss_sum += F.nll_loss(log_probs, labels, reduction="sum").item()
        correct += (log_probs.argmax(dim=1) == labels).sum().item()
        total += labels.numel()
    if total == 0:
        raise ValueError("loader yielded no samples")
    seconds = time.perf_counter() - start
    return EvalResult(loss_sum / total, 100.0 * correct / total, correct, total, seconds)
