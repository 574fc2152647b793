"""A real compressed file from a torch model, and back: the bridge between shared layers and ``vcz`` records.

Taught in notebook 06_huffman_and_storage. The byte format itself (its table, reading and writing) lives in
``vcz``, which imports no torch, so that ``runtime`` can read a file on a device without PyTorch; this module
only turns shared layers into ``vcz.LayerRecord`` and records back into shared layers. Every layer of the
model must be shared (``share_weights``); its codebook is read from the layer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn

from .checks import check_int
from .deploy import inference_form
from .models import MODELS, build_model
from .quantization import SHARED_LAYER_TYPES, Codebook, SharedConv2d, install_codebooks, weight_layers
from .recipe import GAP_BITS
from .vcz import KINDS, MAX_GAP_BITS, LayerRecord, read_file, write_file


def _layer_kind(layer: nn.Module) -> str:
    return "conv" if isinstance(layer, (SharedConv2d, nn.Conv2d)) else "linear"


def _shared_layers_only(model: nn.Module) -> list[tuple[str, nn.Module]]:
    layers = weight_layers(model)
    if not layers:
        raise ValueError("model has no masked or shared layer to compress")
    covered = {id(p) for _, layer in layers for p in layer.parameters()}
    others = [name for name, p in model.named_parameters() if id(p) not in covered]
    if others:
        raise ValueError(f"only masked and shared layers can be stored; the model also has parameters {others}")
    plain = [name for name, layer in layers if not isinstance(layer, SHARED_LAYER_TYPES)]
    if plain:
        raise ValueError(f"layers {plain} are not shared yet; call share_weights(model, bits) first")
    return layers


def _model_name(model: nn.Module) -> str:
    return next((name for name, cls in MODELS.items() if type(model) is cls), "custom")


def _gap_bits_by_kind(gap_bits: int | Mapping[str, int] | None) -> dict[str, int]:
    """One int for every layer, or a mapping by kind (``{"linear": 5, "conv": 8}``, the default)."""
    if gap_bits is None:
        return dict(GAP_BITS)
    if isinstance(gap_bits, Mapping):
        unknown = sorted(set(gap_bits) - set(KINDS))
        if unknown:
            raise ValueError(f"gap_bits keys must be layer kinds {KINDS}, got {unknown}")
        chosen = {**GAP_BITS, **gap_bits}
    else:
        chosen = dict.fromkeys(KINDS, gap_bits)
    return {kind: check_int(bits, f"gap_bits[{kind!r}]", 1, MAX_GAP_BITS) for kind, bits in chosen.items()}


def save_compressed(model: nn.Module, path: str | Path, gap_bits: int | Mapping[str, int] | None = None) -> Path:
    """Write the weight-shared ``model`` to ``path`` in the compressed format. Returns the path.

    Every layer must be shared (``share_weights``). ``gap_bits``: bits per relative position, one int
    for every layer or a mapping by layer kind; default 5 for fully connected, 8 for conv layers
    (``recipe.GAP_BITS``). Each layer's gap bits are stored in the file, so any setting reads back.
    """
    bits_by_kind = _gap_bits_by_kind(gap_bits)
    records = [layer_record(name, layer, bits_by_kind[_layer_kind(layer)]) for name, layer in _shared_layers_only(model)]
    return write_file(path, _model_name(model), records)


def layer_record(name: str, layer: nn.Module, gap_bits: int) -> LayerRecord:
    """A shared layer as the numpy record ``vcz`` writes (centroids, bias, positions, labels)."""
    codebook = layer.codebook
    bias = layer.bias.detach().cpu().numpy().astype(np.float32) if layer.bias is not None else None
    return LayerRecord(name, _layer_kind(layer), tuple(layer.weight_shape), gap_bits,
                       codebook.centroids.cpu().numpy().astype(np.float32), bias,
                       codebook.positions.cpu().numpy().astype(np.int64), codebook.labels.cpu().numpy().astype(np.int64))


def record_codebook(record: LayerRecord) -> Codebook:
    """The torch ``Codebook`` of a record read from a file."""
    return Codebook(torch.from_numpy(record.centroids), torch.from_numpy(record.positions),
                    torch.from_numpy(record.labels))


def load_compressed(path: str | Path, model: nn.Module) -> dict[str, Codebook]:
    """Load a compressed file into ``model``: every layer becomes a shared layer with the file's codebook.

    ``model`` is a freshly built model of the same architecture (masked layers, e.g. ``LeNet300100()``)
    or an already shared one. Everything is decoded and checked against the model's layer names, kinds
    and shapes first; a bad file or a model that does not match raises ``ValueError`` and leaves the
    model untouched. Returns the codebooks.
    """
    _, stored = read_file(path)
    layers = dict(weight_layers(model))
    if [s.name for s in stored] != list(layers):
        raise ValueError(f"{path} holds layers {[s.name for s in stored]}, the model has {list(layers)}")
    for s in stored:
        layer = layers[s.name]
        shape = tuple(layer.weight.shape)
        if shape != s.shape or _layer_kind(layer) != s.kind or (layer.bias is None) != (s.bias is None):
            raise ValueError(f"layer {s.name!r}: the file has a {s.kind} weight of shape {s.shape}"
                             f"{'' if s.bias is not None else ' without bias'}, the model a {_layer_kind(layer)} "
                             f"weight of shape {shape}{'' if layer.bias is not None else ' without bias'}")
    with torch.no_grad():
        for s in stored:
            if s.bias is not None:
                layers[s.name].bias.copy_(torch.from_numpy(s.bias))
    return install_codebooks(model, {s.name: record_codebook(s) for s in stored})


def load_model(path: str | Path, training: bool = False) -> tuple[str, nn.Module]:
    """The registered model a compressed file holds (``"lenet300"`` or ``"lenet5"``), decoded: (name, model).

    By default in its inference form (``deploy.inference_form``: plain layers whose weights are built once);
    ``training=True`` keeps the shared layers, whose centroids can be fine-tuned.
    """
    model_name, records = read_file(path)
    if model_name not in MODELS:
        raise ValueError(f"{path} holds a {model_name!r} model; registered models are {sorted(MODELS)}")
    model = build_model(model_name, tuple(r.shape[0] for r in records)[:-1])  # widths: structured pruning
    load_compressed(path, model)
    return model_name, model if training else inference_form(model)
