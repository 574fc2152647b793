"""Structured pruning: whole hidden units and conv filters removed, so that the layers become smaller dense
layers (notebook 11).

Li et al. (2017) rank the filters of a layer by the L1 norm of their weights and remove the smallest; what the
removed filter fed (the next layer's input channels, and, after a flatten, the fully connected columns it became)
goes with it. ``unit_norms`` is that ranking; Torch-Pruning's dependency graph (DepGraph, Fang et al. 2023)
does the surgery in ``prune_units``, following conv -> pool -> flatten -> linear. Afterwards the model is an
ordinary smaller model of masked layers: it retrains, prunes and shares weights as before.
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn as nn

from .checks import check_real
from .models import masked_layers

NORMS = (1, 2)


def unit_norms(weight: torch.Tensor, p: int = 1) -> torch.Tensor:
    """The Lp norm of each output unit's weights: weight (out, in) or (out, in, kh, kw) -> (out,)."""
    if p not in NORMS:
        raise ValueError(f"p must be 1 or 2 (L1 or L2 norm), got {p!r}")
    return weight.detach().flatten(1).norm(p=p, dim=1)


def units_to_remove(weight: torch.Tensor, keep: float, p: int = 1) -> list[int]:
    """The indices of the ``1 - keep`` fraction of units with the smallest Lp norms (at least one unit is kept),
    in increasing order."""
    keep = check_real(keep, "keep", 0.0, 1.0, low_open=True)
    units = weight.shape[0]
    kept = max(1, round(keep * units))
    order = torch.argsort(unit_norms(weight, p), stable=True)
    return sorted(order[:units - kept].tolist())


def _pruning_function(layer: nn.Module):
    import torch_pruning as tp

    return tp.prune_conv_out_channels if isinstance(layer, nn.Conv2d) else tp.prune_linear_out_channels


def dependency_graph(model: nn.Module):
    """Torch-Pruning's dependency graph of ``model`` (input (1, 1, 28, 28) on the model's device)."""
    import torch_pruning as tp

    example = torch.zeros(1, 1, 28, 28, device=next(model.parameters()).device)
    return tp.DependencyGraph().build_dependency(model, example_inputs=example)


def library_norms(model: nn.Module, name: str, p: int = 1) -> torch.Tensor:
    """Torch-Pruning's magnitude importance of the units of layer ``name``: the sum of |w|**p over each unit's own
    weights (the first member of its group), so ``unit_norms(w, p) ** p``, the same order. Notebook 11 checks
    ``unit_norms`` against it."""
    import torch_pruning as tp

    layer = model.get_submodule(name)
    group = dependency_graph(model).get_pruning_group(layer, _pruning_function(layer),
                                                      idxs=list(range(layer.weight.shape[0])))
    return tp.importance.MagnitudeImportance(p=p, group_reduction="first", normalizer=None)(group)


def prune_units(model: nn.Module, keep: Mapping[str, float], p: int = 1) -> dict[str, int]:
    """Keep the fraction ``keep[name]`` of the units (rows, conv filters) of each named masked layer, ranked by
    ``unit_norms``, and rebuild the model smaller in place (Torch-Pruning); the last layer (the classes) cannot
    be named. Masks start again from all ones. Returns ``{name: units kept}``.

    Unit pruning comes before weight pruning: every weight of the model must still be unmasked.
    """
    layers = dict(masked_layers(model))
    last = list(layers)[-1]
    if last in keep:
        raise ValueError(f"keep cannot name the output layer {last!r}: its units are the classes")
    unknown = sorted(set(keep) - set(layers))
    if unknown:
        raise ValueError(f"keep names layers {unknown} the model does not have; its layers are {list(layers)}")
    if any(not bool(layer.mask.all()) for layer in layers.values()):
        raise ValueError("prune_units needs a model without pruned weights: prune units first, then weights")
    graph = dependency_graph(model)
    for name, fraction in keep.items():
        layer = layers[name]
        remove = units_to_remove(layer.weight, fraction, p)
        if remove:
            graph.get_pruning_group(layer, _pruning_function(layer), idxs=remove).prune()
    for layer in layers.values():
        layer.mask = torch.ones_like(layer.weight, requires_grad=False)
    return {name: layers[name].weight.shape[0] for name in keep}


def unit_fractions(units: Mapping[str, float], names: list[str]) -> dict[str, float]:
    """``units`` checked against a model's masked layers ``names``: it names hidden layers only (never the last,
    whose units are the classes), each with a fraction in (0, 1]."""
    hidden = names[:-1]
    unknown = sorted(set(units) - set(hidden))
    if unknown:
        raise ValueError(f"units must name hidden layers among {hidden} (not the output layer), got {unknown}")
    return {name: check_real(units[name], f"units[{name!r}]", 0.0, 1.0, low_open=True) for name in hidden
            if name in units}


def macs_per_image(model: nn.Module) -> int:
    """Multiply-accumulates of one image through the model's conv and linear layers (``compression.layer_costs``)."""
    from .compression import layer_costs

    return sum(cost.macs for cost in layer_costs(model))


def keep_label(keep: Mapping[str, float]) -> str:
    """``conv1 50%, conv2 40%, fc1 30%``: a structured setting as tables print it."""
    return ", ".join(f"{name} {100 * fraction:g}%" for name, fraction in keep.items())


def units(model: nn.Module) -> dict[str, int]:
    """Output units (rows, filters) of every masked layer."""
    return {name: layer.weight.shape[0] for name, layer in masked_layers(model)}

