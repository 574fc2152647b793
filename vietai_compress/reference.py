"""The reference run's results, shipped inside the package: what class mode loads instead of training.

The expensive steps of the notebooks (training, retraining, centroid fine-tuning, the searches of notebooks 09,
11 and 12) were run once, on a 2-core CPU, by ``python scripts/run_notebooks.py --rebuild``: the reference run. The
checkpoints and measurements the notebooks read are copied into ``vietai_compress/reference/``, each under the path
it has in ``artifacts/full/`` (``seed42-holdout/lenet300_base.pt``, ``notebooks/07_students.json``, ...). A
notebook run in full mode with ``TRAIN = False`` (class mode) looks for what an earlier notebook saved in
``artifacts/full/``, then here, and trains only when neither has it (``pipeline.Run``).

``manifest.json`` records every file's SHA-256 and size, the notebook that makes it and the seconds that took on
the 2-core CPU. A file whose bytes differ from its SHA-256 is refused with one ``ValueError``: nothing edited or
corrupt is ever loaded. Checkpoints load with ``torch.load(..., weights_only=True)``.

How the checkpoints are stored, to keep the whole folder small (``pack``, ``unpack``):

* a masked layer whose mask is all ones (a dense model) keeps its weight and drops the mask;
* a pruned layer keeps only its kept weights: ``<layer>.weight@kept`` (n,) float32 and ``<layer>.mask@kept`` (n,)
  int32, their flat positions; every other weight and mask entry is 0, with the sign each pruned zero had
  (``<layer>.weight@negzero``, one bit each: pruning turns a negative weight into -0.0, and a later stage's
  fingerprint of the model it started from hashes those bytes). This is exact, byte for byte;
* integer buffers (the positions and cluster labels of a shared layer) are stored in the narrowest integer type
  that holds them, ``<name>@int64`` marking the ones read back as int64. This is exact;
* an optimizer state is shipped only where class mode reads it: Adam's moving averages of the base model, for
  notebook 03's experiment, as they are (float32): the experiment counts the pruned weights that an old average
  pushes away from 0, and with bfloat16 averages two of those 249,100 counted weights differed.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

FOLDER = Path(__file__).resolve().parent / "reference"
MANIFEST = "manifest.json"
_INTEGER_TYPES = (torch.uint8, torch.int16, torch.int32)


def folder() -> Path:
    """The shipped files' folder: the package's ``reference/``, or ``VIETAI_REFERENCE`` when set (the rebuild points
    it at a candidate store to learn which files class mode reads)."""
    value = os.environ.get("VIETAI_REFERENCE")
    return Path(value).expanduser().resolve() if value else FOLDER


def manifest() -> dict:
    """``{relative path: {"sha256", "bytes", "notebook", "seconds", "what"}}`` of every shipped file ({} if none)."""
    return _manifest(folder())


@lru_cache(maxsize=4)
def _manifest(where: Path) -> dict:
    file = where / MANIFEST
    return json.loads(file.read_text(encoding="utf-8"))["files"] if file.is_file() else {}


def has(relative: str | Path) -> bool:
    """True when the reference run shipped ``relative`` (a path as under ``artifacts/full/``)."""
    return Path(relative).as_posix() in manifest()


def entry(relative: str | Path) -> dict:
    """The manifest's record of ``relative``; ``KeyError`` naming it when it was not shipped."""
    key = Path(relative).as_posix()
    if key not in manifest():
        raise KeyError(f"{key} is not among the reference run's files ({folder() / MANIFEST})")
    return manifest()[key]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(relative: str | Path) -> bytes:
    """The bytes of a shipped file, checked against the SHA-256 recorded for it."""
    record = entry(relative)
    path = folder() / Path(relative)
    log_read(relative)
    if not path.is_file():
        raise FileNotFoundError(f"the reference file {path} is missing; reinstall vietai_compress")
    data = path.read_bytes()
    if sha256(data) != record["sha256"]:
        raise ValueError(f"the reference file {path} does not match its SHA-256 in {MANIFEST}: it was edited or is "
                         "corrupt; reinstall vietai_compress (or remake it: scripts/run_notebooks.py --rebuild)")
    return data


def read_json(relative: str | Path) -> dict:
    """A shipped measurement (JSON), checked against its SHA-256."""
    return json.loads(read_bytes(relative).decode("utf-8"))


def read_payload(relative: str | Path, device: torch.device | str | None = None) -> dict:
    """A shipped checkpoint as ``checkpoints.save_checkpoint`` wrote it (``{"state_dict", "meta", ...}``), checked
    against its SHA-256, loaded with ``weights_only=True`` onto ``device`` (default ``config.get_device()``)."""
    from .config import get_device

    payload = torch.load(io.BytesIO(read_bytes(relative)), map_location=device or get_device(), weights_only=True)
    return unpack(payload)


def log_read(relative: str | Path, part: str = "") -> None:
    """With ``VIETAI_REFERENCE_LOG`` set (``scripts/run_notebooks.py --rebuild``), note that class mode read the
    shipped file ``relative`` (or its ``part``, e.g. ``"optimizer"``): one line per read."""
    if os.environ.get("VIETAI_REFERENCE_LOG"):
        with open(os.environ["VIETAI_REFERENCE_LOG"], "a", encoding="utf-8") as log:
            log.write(f"{Path(relative).as_posix()} {part}".rstrip() + "\n")


def loaded_message(what: str, relative: str | Path) -> str:
    """The line a notebook prints when class mode loads ``what`` from the reference run instead of training it."""
    record = entry(relative)
    took = f", khoảng {vi_duration(record['seconds'])} trên CPU 2 nhân" if record.get("seconds") else ""
    return (f"Đã nạp {what} của lần chạy tham chiếu ({Path(relative).name}; notebook {record['notebook']} huấn luyện "
            f"nó{took}). Đặt TRAIN = True để tự huấn luyện.")


def vi_duration(seconds: float) -> str:
    """``"2 phút 10 giây"``, ``"45 giây"``, ``"1 giờ 5 phút"``: a duration as the notebooks write it."""
    seconds = round(float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} giờ {minutes} phút" if minutes else f"{hours} giờ"
    if minutes:
        return f"{minutes} phút {secs} giây" if secs else f"{minutes} phút"
    return f"{secs} giây"


# ---------------------------------------------------------------- compact storage
def pack(payload: dict) -> dict:
    """A checkpoint payload in the compact form described in this module's docstring."""
    state = dict(payload["state_dict"])
    packed = {}
    for key in [k for k in state if k.endswith(".mask") and k[:-5] + ".weight" in state]:
        packed.update(_pack_masked(key[:-5], state.pop(key[:-5] + ".weight"), state.pop(key)))
    for key, tensor in state.items():
        packed.update(_pack_integers(key, tensor))
    result = {**payload, "state_dict": packed}
    return result


def unpack(payload: dict) -> dict:
    """The checkpoint payload that ``pack`` was given (Adam's averages as float32 again)."""
    packed = payload["state_dict"]
    state = {}
    for key, tensor in packed.items():
        layer, marked, form = key.rpartition("@")
        if not marked:
            state[key] = tensor
        elif form == "ones":  # a dense layer: its mask is all ones
            state[layer[:-5] + ".mask"] = torch.ones(tuple(tensor.tolist()), device=tensor.device)
        elif form == "kept" and layer.endswith(".mask"):
            name = layer[:-5]
            shape = tuple(packed[name + ".mask@shape"].tolist())
            weight, state[name + ".mask"] = _unpack_kept(shape, tensor, packed[name + ".weight@kept"])
            state[name + ".weight"] = _with_negative_zeros(weight, state[name + ".mask"],
                                                           packed.get(name + ".weight@negzero"))
        elif form == "int64":
            state[layer] = tensor.long()
    result = {**payload, "state_dict": state}
    return result


def _pack_masked(name: str, weight: torch.Tensor, mask: torch.Tensor) -> dict:
    """A masked layer's weight and mask: dense without its mask of ones, or only its kept weights."""
    if bool(mask.all()):
        return {name + ".weight": weight, name + ".mask@ones": torch.tensor(mask.shape, dtype=torch.int32)}
    if bool((weight[mask == 0] != 0).any()) or bool(((mask != 0) & (mask != 1)).any()):
        return {name + ".weight": weight, name + ".mask": mask}  # never after training; stored as it is
    kept = mask.flatten().nonzero().flatten()
    # the pruned zeros' signs: pruning multiplies by the mask, so a negative weight becomes -0.0, and a later stage's
    # record of the model it started from (checkpoints.fingerprint) hashes those bytes
    signs = np.packbits(torch.signbit(weight.flatten()[mask.flatten() == 0]).cpu().numpy())
    return {name + ".weight@kept": weight.flatten()[kept].clone(), name + ".mask@kept": kept.to(torch.int32),
            name + ".mask@shape": torch.tensor(mask.shape, dtype=torch.int32),
            name + ".weight@negzero": torch.from_numpy(signs)}


def _unpack_kept(shape: tuple[int, ...], kept: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    index = (kept.long(),)
    weight = values.new_zeros(shape).flatten().index_put(index, values).view(shape)
    mask = values.new_zeros(shape).flatten().index_put(index, torch.ones_like(values)).view(shape)
    return weight, mask


def _with_negative_zeros(weight: torch.Tensor, mask: torch.Tensor, signs: torch.Tensor | None) -> torch.Tensor:
    """``weight`` with its pruned zeros given back the signs ``_pack_masked`` recorded (packed bits, in order)."""
    if signs is None:
        return weight
    pruned = (mask.flatten() == 0).nonzero().flatten()
    negative = torch.from_numpy(np.unpackbits(signs.cpu().numpy())[:len(pruned)].astype(bool))
    flat = weight.flatten().clone()
    flat[pruned[negative.to(pruned.device)]] = -0.0
    return flat.view(weight.shape)


def _pack_integers(key: str, tensor: torch.Tensor) -> dict:
    """An int64 tensor in the narrowest integer type that holds its values, marked to be read back as int64."""
    if tensor.dtype != torch.int64 or tensor.numel() == 0:
        return {key: tensor}
    low, high = int(tensor.min()), int(tensor.max())
    for dtype in _INTEGER_TYPES:
        if torch.iinfo(dtype).min <= low and high <= torch.iinfo(dtype).max:
            return {key + "@int64": tensor.to(dtype)}
    return {key: tensor}
