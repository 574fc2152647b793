"""Knowledge distillation ("truyền nội công"): a small network learns from a big one.

Taught in notebook 07_knowledge_distillation. Two ways, as the article describes them:

* soft targets (Hinton et al. 2015): the student matches the teacher's probabilities softened by a
  temperature T, as well as the true labels (``distillation_loss``, ``train_distilled``);
* hints (Romero et al. 2015, FitNets): a student hidden layer is regressed onto a teacher hidden layer,
  through a small learned projection where their widths differ (``HintRegressor``, ``hint_loss``).

Models here return log-probabilities (B, classes); those are valid logits for a softmax with temperature
(a constant shift per row changes nothing), so the same helpers take logits or log-probabilities.
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_int, check_real
from .config import Device, get_device
from .data import TensorLoader
from .models import masked_layers
from .training import Batches, LossFn, evaluate, train


def _check_temperature(T: float) -> float:
    return check_real(T, "T", 0.0, low_open=True)


def soft_targets(logits: torch.Tensor, T: float) -> torch.Tensor:
    """softmax(logits / T): logits (B, C) -> probabilities (B, C); a larger T gives softer targets."""
    return F.softmax(logits / _check_temperature(T), dim=1)


def _check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor) -> None:
    if student_logits.dim() != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student_logits and teacher_logits must both be (batch, classes), got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    if labels.shape != student_logits.shape[:1]:
        raise ValueError(f"labels must be (batch,) = ({len(student_logits)},), got {tuple(labels.shape)}")


def soft_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float) -> torch.Tensor:
    """KL(teacher_T || student_T), averaged over the batch: logits (B, C) each -> a scalar."""
    T = _check_temperature(T)
    return F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                    reduction="batchmean", log_target=True)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      T: float, alpha: float) -> torch.Tensor:
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy(student, labels).

    student_logits, teacher_logits: (B, C); labels: (B,) int64. The soft term's gradient shrinks as
    1/T^2 (notebook 07 checks it numerically); the T^2 factor keeps its weight the same whatever T.
    """
    T, alpha = _check_temperature(T), check_real(alpha, "alpha", 0.0, 1.0)
    _check_logits(student_logits, teacher_logits, labels)
    hard = F.cross_entropy(student_logits, labels)
    if alpha == 0.0:
        return hard
    return alpha * T * T * soft_loss(student_logits, teacher_logits, T) + (1.0 - alpha) * hard


def soft_gradient_norm(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float) -> float:
    """Norm of d soft_loss / d student_logits for logits (B, C): it shrinks as 1/T^2 once T is large
    (notebook 07 plots T^2 times it, flat in T)."""
    student_logits = student_logits.detach().clone().requires_grad_(True)
    soft_loss(student_logits, teacher_logits, T).backward()
    return student_logits.grad.norm().item()


@torch.no_grad()
def teacher_logits(teacher: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The teacher's outputs (N, C) for images (N, 1, 28, 28), in eval mode (no dropout), batch by batch."""
    teacher.eval()
    return torch.cat([teacher(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def with_teacher_logits(loader: TensorLoader, teacher: nn.Module) -> TensorLoader:
    """``loader`` whose batches also carry the teacher's logits: (images, labels, logits (B, C)).

    The teacher runs once over the training images instead of once per batch of every epoch; the same
    outputs, since it is frozen and in eval mode (jittered images need the teacher on every batch instead).
    """
    return loader.with_logits(teacher_logits(teacher.to(loader.images.device), loader.images))


def distillation_objective(T: float, alpha: float, teacher: nn.Module | None = None) -> LossFn:
    """``train``'s loss_fn for distillation: ``distillation_loss`` against the teacher's logits.

    The logits come with the batch when the loader carries them (``with_teacher_logits``); otherwise the
    frozen ``teacher`` runs on each batch, without gradients (it must then be given, in eval mode).
    """
    T, alpha = _check_temperature(T), check_real(alpha, "alpha", 0.0, 1.0)

    def loss_fn(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                logits: torch.Tensor | None = None) -> torch.Tensor:
        if logits is None:
            if teacher is None:
                raise ValueError("teacher is None and the loader carries no teacher logits (with_teacher_logits)")
            with torch.no_grad():
                logits = teacher(images)
        return distillation_loss(model(images), logits, labels, T, alpha)

    return loss_fn


def train_distilled(student: nn.Module, teacher: nn.Module | None, loader: Batches, optimizer: torch.optim.Optimizer,
                    epochs: int, T: float, alpha: float, device: Device = None, progress: bool = True,
                    eval_loader: Batches | None = None, desc: str = "chưng cất",
                    cosine: bool = True) -> dict[str, list[float]]:
    """Train ``student`` on ``distillation_loss`` against a frozen ``teacher``: the package's ``train`` loop.

    Progress bar, cosine schedule and re-masking of a pruned student come from ``train``. The teacher's
    logits come with the batches when ``loader`` carries them (``with_teacher_logits``; ``teacher`` may
    then be None); otherwise the teacher runs on each batch, in eval mode without gradients.
    Images (B, 1, 28, 28), labels (B,). Returns the history.
    """
    device = device or get_device()
    if teacher is not None:
        teacher.to(device).eval()
    return train(student, loader, optimizer, epochs, device, progress, eval_loader=eval_loader, desc=desc,
                 cosine=cosine, loss_fn=distillation_objective(T, alpha, teacher))


# ---------------------------------------------------------------- a missing class (Hinton et al., section 3)
@torch.no_grad()
def errors_per_class(model: nn.Module, loader: Batches, classes: int = 10, device: Device = None) -> torch.Tensor:
    """Test errors of ``model`` counted by true class: (classes,) int64, summing to the total errors."""
    device = device or get_device()
    model.to(device).eval()
    errors = torch.zeros(classes, dtype=torch.long)
    for images, labels, *_ in loader:
        wrong = model(images.to(device)).argmax(dim=1).cpu() != labels.cpu()
        errors += torch.bincount(labels.cpu()[wrong], minlength=classes)
    return errors


@torch.no_grad()
def shift_class_bias_(model: nn.Module, label: int, delta: float) -> None:
    """Add ``delta`` to the output bias of class ``label`` (the model's last masked layer), in place."""
    _, last = masked_layers(model)[-1]
    label = check_int(label, "label", 0, last.bias.numel() - 1)
    last.bias[label] += delta


def best_bias_shift(model: nn.Module, label: int, deltas: Iterable[float], loader: Batches,
                    device: Device = None) -> tuple[float, list[float]]:
    """The shift of class ``label``'s output bias with the best accuracy on ``loader`` (the validation
    split), and the accuracy (%) of every shift tried. ``model`` is left as it was."""
    deltas = [float(d) for d in deltas]
    if not deltas:
        raise ValueError("deltas must hold at least one value")
    bias = masked_layers(model)[-1][1].bias
    original = bias.detach().clone()
    accuracies = []
    for delta in deltas:
        shift_class_bias_(model, label, delta)
        accuracies.append(evaluate(model, loader, device).accuracy)
        with torch.no_grad():
            bias.copy_(original)  # exactly as it was (adding -delta back could differ in the last bit)
    return deltas[max(range(len(deltas)), key=accuracies.__getitem__)], accuracies


# ---------------------------------------------------------------- hints (FitNets)
@contextlib.contextmanager
def captured_output(layer: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, ``store["output"]`` holds the output of ``layer``'s latest forward pass."""
    store: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: store.__setitem__("output", output))
    try:
        yield store
    finally:
        handle.remove()


class HintRegressor(nn.Module):
    """The small learned projection from a student hidden layer (B, student_width) to a teacher's (B, teacher_width)."""

    def __init__(self, student_width: int, teacher_width: int):
        super().__init__()
        self.project = nn.Linear(student_width, teacher_width)

    def forward(self, student_hidden: torch.Tensor) -> torch.Tensor:
        return self.project(student_hidden)


def hint_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, regressor: nn.Module) -> torch.Tensor:
    """Mean squared error between the projected student layer (B, s) -> (B, t) and the teacher layer (B, t)."""
    projected = regressor(student_hidden)
    if projected.shape != teacher_hidden.shape:
        raise ValueError(f"the regressor maps the student layer to {tuple(projected.shape)}, "
                         f"but the teacher layer is {tuple(teacher_hidden.shape)}")
    return F.mse_loss(projected, teacher_hidden)


def train_hints(student: nn.Module, student_layer: str, teacher: nn.Module, teacher_layer: str,
                regressor: nn.Module, loader: Batches, optimizer: torch.optim.Optimizer, epochs: int,
                device: Device = None, progress: bool = True, desc: str = "gợi ý") -> dict[str, list[float]]:
    """FitNets' first stage: train the student up to ``student_layer`` (and the regressor) to match the
    output of the teacher's ``teacher_layer``, with the package's ``train`` loop.

    ``optimizer`` must hold the student's and the regressor's parameters. Layers are named as in
    ``named_modules()`` (e.g. ``"fc1"``); their outputs are taken before the ReLU. Returns the history.
    """
    device = device or get_device()
    teacher.to(device).eval()
    regressor.to(device)
    s_layer, t_layer = student.get_submodule(student_layer), teacher.get_submodule(teacher_layer)

    def loss_fn(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *cached) -> torch.Tensor:
        with torch.no_grad(), captured_output(t_layer) as taught:
            teacher(images)
        with captured_output(s_layer) as learnt:
            model(images)
        return hint_loss(learnt["output"], taught["output"], regressor)

    return train(student, loader, optimizer, epochs, device, progress, desc=desc, loss_fn=loss_fn)
