"""Every form a compressed model can run in, measured side by side (notebook 10, ``benchmarks/inference_speed.py``).

``build_variants`` turns one ``.vcz`` file (and the dense base model it was compressed from, the reference)
into ``Variant`` objects: dense PyTorch, the decoded model as shared layers and in its inference form, the
smaller model without dead units, ONNX Runtime fp32 and int8 (dynamic, static), and the torch-free runtime.
Each variant writes the file it needs, so its bytes on disk are real. ``measure`` times them at each batch size
with ``timing.compare`` and reads each one's test accuracy.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import onnx
import torch
import torch.nn as nn

from . import runtime
from .deploy import (export_onnx, inference_form, onnx_log_probs, onnx_session, quantize_dynamic, quantize_static,
                     small_model)
from .storage import load_model
from .timing import Timing, compare

# The variants in the order tables show them, with the notebooks' Vietnamese names.
NAMES_VI = {
    "dense": "PyTorch dày đặc (tham chiếu)",
    "shared": "tệp đã giải mã, lớp chia sẻ",
    "inference": "tệp đã giải mã, dạng suy luận",
    "small": "bỏ nơ-ron chết, PyTorch",
    "onnx": "bỏ nơ-ron chết, ONNX Runtime fp32",
    "onnx_int8_dynamic": "ONNX Runtime int8 động",
    "onnx_int8_static": "ONNX Runtime int8 tĩnh (QDQ)",
    "runtime": "bộ chạy không cần PyTorch",
    "structured": "bỏ bộ lọc (có cấu trúc), PyTorch",
    "structured_onnx": "bỏ bộ lọc, ONNX Runtime fp32",
    "structured_onnx_int8_static": "bỏ bộ lọc, ONNX Runtime int8 tĩnh",
    "structured_onnx_int8_dynamic": "bỏ bộ lọc, ONNX Runtime int8 động",
}


@dataclass
class Variant:
    """One way to run the model: ``prepare`` turns normalised images (N, 1, 28, 28) float32 into its input,
    ``call`` runs one batch of that input; ``file`` is what it needs on disk."""

    name: str
    prepare: Callable[[np.ndarray], Any]
    call: Callable[[Any], Any]
    output: Callable[[Any], np.ndarray]  # call's result -> log-probabilities (N, 10) numpy
    file: Path

    def log_probs(self, images: np.ndarray) -> np.ndarray:
        return self.output(self.call(self.prepare(images)))

    @property
    def bytes(self) -> int:
        return self.file.stat().st_size


def _torch_variant(name: str, model: nn.Module, file: Path) -> Variant:
    model = model.cpu().eval()

    @torch.inference_mode()
    def call(x: torch.Tensor) -> torch.Tensor:
        return model(x)

    return Variant(name, torch.from_numpy, call, lambda out: out.numpy(), file)


def _onnx_variant(name: str, file: Path, threads: int | None) -> Variant:
    session = onnx_session(file, threads)
    return Variant(name, np.ascontiguousarray, lambda x: onnx_log_probs(session, x), lambda out: out, file)


def _saved(model: nn.Module, path: Path) -> Path:
    torch.save(model.state_dict(), path)
    return path


def build_variants(path: str | Path, dense: nn.Module, calibration: np.ndarray, folder: str | Path,
                   threads: int | None = None) -> dict[str, Variant]:
    """Every variant of the compressed file ``path``, with the dense base model ``dense`` as the reference.

    ``calibration``: training images (N, 1, 28, 28) for the static int8 model's activation ranges; ``folder``
    receives the files the variants need (dense and small state_dicts, ONNX files); ``threads`` is given to
    ONNX Runtime (PyTorch's is ``torch.set_num_threads``). Returns ``{name: Variant}`` in ``NAMES_VI``'s order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(path)
    model_name, shared = load_model(path, training=True)
    fast = inference_form(shared)
    small = small_model(fast, model_name)
    onnx_file = export_onnx(small, folder / "small.onnx")
    variants = [
        _torch_variant("dense", inference_form(dense), _saved(inference_form(dense), folder / "dense.pt")),
        _torch_variant("shared", copy.deepcopy(shared), path),
        _torch_variant("inference", fast, path),
        _torch_variant("small", small, _saved(small, folder / "small.pt")),
        _onnx_variant("onnx", onnx_file, threads),
        _onnx_variant("onnx_int8_dynamic", quantize_dynamic(onnx_file, folder / "small_int8_dynamic.onnx"), threads),
        _onnx_variant("onnx_int8_static", quantize_static(onnx_file, folder / "small_int8_static.onnx", calibration),
                      threads),
    ]
    fast_runtime = runtime.load(path)
    variants.append(Variant("runtime", np.ascontiguousarray, fast_runtime.log_probs, lambda out: out, path))
    return {v.name: v for v in variants}


def model_variants(model: nn.Module, calibration: np.ndarray, folder: str | Path, threads: int | None = None,
                   prefix: str = "structured") -> dict[str, Variant]:
    """A plain PyTorch model (e.g. one with whole units removed, notebook 11) in PyTorch eager, ONNX Runtime fp32
    and ONNX Runtime int8 static (calibrated on ``calibration`` images): ``{prefix: ..., prefix + "_onnx": ...,
    prefix + "_onnx_int8_static": ...}``, each with the file it needs written to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fast = inference_form(model)
    onnx_file = export_onnx(fast, folder / f"{prefix}.onnx")
    int8 = quantize_static(onnx_file, folder / f"{prefix}_int8_static.onnx", calibration)
    return {prefix: _torch_variant(prefix, fast, _saved(fast, folder / f"{prefix}.pt")),
            f"{prefix}_onnx": _onnx_variant(f"{prefix}_onnx", onnx_file, threads),
            f"{prefix}_onnx_int8_static": _onnx_variant(f"{prefix}_onnx_int8_static", int8, threads)}


def accuracy_of(variant: Variant, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Accuracy (%) of ``variant`` on ``images`` (N, 1, 28, 28) with ``labels`` (N,), in batches."""
    correct = sum(int((variant.log_probs(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum())
                  for i in range(0, len(labels), batch_size))
    return 100.0 * correct / len(labels)


def floors(threads: int | None, folder: str | Path) -> dict[str, Callable[[], object]]:
    """Calls that do nothing useful, the smallest time a call can take: an ONNX Runtime session of one
    Identity node and a PyTorch ``nn.Identity`` under ``inference_mode``."""
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "floor",
                                   [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    path = Path(folder) / "identity.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    session, x = onnx_session(path, threads), {"x": np.zeros(1, np.float32)}
    identity, t = nn.Identity(), torch.zeros(1)

    def empty_torch():
        with torch.inference_mode():
            return identity(t)

    return {"onnx_empty": lambda: session.run(None, x), "torch_empty": empty_torch}


@dataclass
class Row:
    """One variant at one batch size: its timing, its ratio to the dense reference (p50), its bytes and accuracy."""

    name: str
    batch: int
    timing: Timing
    speedup: float
    bytes: int
    accuracy: float


def measure(variants: dict[str, Variant], images: np.ndarray, labels: np.ndarray, batches: Sequence[int] = (1, 256),
            seconds: float = 1.0, reference: str = "dense") -> list[Row]:
    """Time every variant at every batch size (side by side, ``timing.compare``) and read its test accuracy
    on ``images`` / ``labels``. One ``Row`` per (batch, variant); ``speedup`` = reference p50 / variant p50."""
    accuracy = {name: accuracy_of(v, images, labels) for name, v in variants.items()}
    rows = []
    for batch in batches:
        inputs = {name: v.prepare(images[:batch]) for name, v in variants.items()}
        timings = compare({name: (lambda v=v, x=inputs[name]: v.call(x)) for name, v in variants.items()}, seconds,
                          rounds=20)
        for name, v in variants.items():
            rows.append(Row(name, batch, timings[name], timings[reference].p50 / timings[name].p50, v.bytes,
                            accuracy[name]))
    return rows


# ---------------------------------------------------------------- one plain model, every way (notebooks 11 and 12)
def dense_variant(model: nn.Module, folder: str | Path) -> Variant:
    """The reference of a measurement: ``model`` (the dense base model) in its inference form, run by PyTorch eager
    (``"dense"``), its ``state_dict`` written to ``folder`` (notebooks 11 and 12)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fast = inference_form(model)
    return _torch_variant("dense", fast, _saved(fast, folder / "dense.pt"))


def plain_variants(model: nn.Module, folder: str | Path, threads: int | None = None,
                   calibration: np.ndarray | None = None, prefix: str = "structured") -> dict[str, Variant]:
    """A plain PyTorch model (notebook 11's smaller model) in PyTorch eager and ONNX Runtime fp32 (``prefix``,
    ``prefix + "_onnx"``); given ``calibration`` training images (N, 1, 28, 28), also ONNX Runtime int8 dynamic and
    static (``prefix + "_onnx_int8_dynamic"``, ``prefix + "_onnx_int8_static"``, notebook 12). Each writes the file
    it needs to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fast = inference_form(model)
    onnx_file = export_onnx(fast, folder / f"{prefix}.onnx")
    variants = {prefix: _torch_variant(prefix, fast, _saved(fast, folder / f"{prefix}.pt")),
                f"{prefix}_onnx": _onnx_variant(f"{prefix}_onnx", onnx_file, threads)}
    if calibration is not None:
        dynamic = quantize_dynamic(onnx_file, folder / f"{prefix}_int8_dynamic.onnx")
        static = quantize_static(onnx_file, folder / f"{prefix}_int8_static.onnx", calibration)
        variants[f"{prefix}_onnx_int8_dynamic"] = _onnx_variant(f"{prefix}_onnx_int8_dynamic", dynamic, threads)
        variants[f"{prefix}_onnx_int8_static"] = _onnx_variant(f"{prefix}_onnx_int8_static", static, threads)
    return variants


# ---------------------------------------------------------------- what an ONNX file holds, and what ONNX Runtime runs
def onnx_tensors(path: str | Path) -> list[tuple[str, str, int]]:
    """(name, element type such as ``"float32"`` or ``"int8"``, bytes) of every constant tensor stored in the ONNX
    file ``path``: weights, biases, scales, zero points, shapes. Notebook 12 reads which weights an int8 file keeps
    in float32."""
    from onnx import numpy_helper

    return [(t.name, str(array.dtype), int(array.nbytes))
            for t in onnx.load(str(path)).graph.initializer for array in [numpy_helper.to_array(t)]]


def tensor_bytes(path: str | Path) -> dict[str, int]:
    """Bytes of the constant tensors of the ONNX file ``path`` by element type, e.g. ``{"float32": 4_876, "int8":
    55_800, ...}`` (``onnx_tensors``; notebook 12)."""
    totals: dict[str, int] = {}
    for _, kind, size in onnx_tensors(path):
        totals[kind] = totals.get(kind, 0) + size
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def _op_counts(nodes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def onnx_ops(path: str | Path) -> dict[str, int]:
    """How many nodes of each operator the graph stored in the ONNX file ``path`` holds (notebook 12: the
    QuantizeLinear / DequantizeLinear nodes an int8 static file adds)."""
    return _op_counts(onnx.load(str(path)).graph.node)


def op_times(path: str | Path, images: np.ndarray, threads: int | None = None, calls: int = 20) -> dict[str, float]:
    """Microseconds per call that ONNX Runtime spends in each operator when it runs the file ``path`` on ``images``
    (N, 1, 28, 28) ``calls`` times, read from its profiler: the operators it actually runs after its graph
    optimisations (fused nodes, layout changes such as ``Transpose`` around ``QLinearConv``), most costly first.
    The profiler adds its own cost to every node: compare the shares, not the totals, with ``measure`` (notebook 12:
    where an int8 model's time goes)."""
    import json
    import tempfile

    import onnxruntime as ort

    from .config import flush_denormals

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only
    options.enable_profiling = True
    feed = {"images": np.ascontiguousarray(images, dtype=np.float32)}
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = str(Path(folder) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        flush_denormals()  # the session reset this thread's floating-point flags (``deploy.onnx_session``)
        for _ in range(calls):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    times: dict[str, float] = {}
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            op = event["args"]["op_name"]
            times[op] = times.get(op, 0.0) + event["dur"] / calls
    return dict(sorted(times.items(), key=lambda item: -item[1]))
