"""Fast forms of a compressed model for inference, in PyTorch and ONNX Runtime (notebook 10).

* ``inference_form``: the decoded model with its weights built once, as plain ``nn.Linear`` / ``nn.Conv2d``
  (the shared layers rebuild theirs from the centroids on every call, which training needs and inference
  does not);
* ``small_model``: the same without the units that cannot change the output (``runtime.remove_dead_units``):
  smaller dense layers, identical predictions;
* ``export_onnx`` (``torch.onnx.export``), ``quantize_dynamic`` and ``quantize_static`` (int8, from
  ``onnxruntime.quantization``) and ``onnx_session`` to run a file in ONNX Runtime.

onnx and onnxruntime are imported only by the functions that use them (``pip install vietai-compress[deploy]``).
"""
from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_choice, check_int
from .config import flush_denormals
from .fileio import atomic_write
from .quantization import SHARED_LAYER_TYPES, weight_layers
from .runtime import ARCHITECTURES, Layer, remove_dead_units


# ---------------------------------------------------------------- PyTorch
@torch.no_grad()
def _plain(layer: nn.Module) -> nn.Module:
    """A masked or shared layer as a plain ``nn.Linear`` / ``nn.Conv2d`` holding its weight as used in the forward."""
    weight = layer.weight.detach()
    if weight.ndim == 4:
        plain = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                          layer.dilation, layer.groups, bias=layer.bias is not None)
    else:
        plain = nn.Linear(weight.shape[1], weight.shape[0], bias=layer.bias is not None)
    plain.weight.copy_(weight)
    if layer.bias is not None:
        plain.bias.copy_(layer.bias)
    return plain.to(weight.device)


def inference_form(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode whose masked and shared layers are plain layers with the same weights.

    The forward pass is the model's own (same class); no weight is rebuilt or masked on a call. Fine-tune the
    original, not this copy: its zeros are no longer held at zero.
    """
    fast = copy.deepcopy(model).eval()
    for name, layer in weight_layers(fast):
        parent, _, child = name.rpartition(".")
        setattr(fast.get_submodule(parent), child, _plain(layer))
    return fast


def model_layers(model: nn.Module, after: list[tuple[str, ...]]) -> list[Layer]:
    """The weight layers of ``model`` (masked, shared or plain) as the runtime's numpy ``Layer`` records;
    ``after`` holds the operations that follow each layer, as in ``runtime.ARCHITECTURES``."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d) + SHARED_LAYER_TYPES)]
    if len(found) != len(after):
        raise ValueError(f"the model has {len(found)} weight layers {[n for n, _ in found]}, expected {len(after)}")
    layers = []
    for (name, layer), ops in zip(found, after):
        weight = layer.weight.detach().cpu().numpy().astype(np.float32)
        bias = layer.bias.detach().cpu().numpy() if layer.bias is not None else np.zeros(len(weight), np.float32)
        layers.append(Layer(name, weight, bias, tuple(ops)))
    return layers


class SmallNet(nn.Module):
    """Dense layers without dead units: input (batch, 1, 28, 28) -> (batch, 10) log-probabilities.

    Built by ``small_model``; ``inputs`` (k,) are the input pixels the first fully connected layer reads.
    """

    def __init__(self, layers: list[Layer], inputs: np.ndarray | None):
        super().__init__()
        self.ops = [layer.after for layer in layers]
        self.layers = nn.ModuleList(_from_numpy(layer) for layer in layers)
        self.register_buffer("inputs", torch.from_numpy(inputs) if inputs is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inputs is not None:
            x = x.flatten(1)[:, self.inputs]
        for layer, ops in zip(self.layers, self.ops):
            x = layer(x)
            for op in ops:
                x = _OPS[op](x)
        return F.log_softmax(x, dim=1)


_OPS = {"relu": F.relu, "maxpool": lambda x: F.max_pool2d(x, 2), "flatten": lambda x: x.flatten(1)}


def _from_numpy(layer: Layer) -> nn.Module:
    weight = torch.from_numpy(layer.weight)
    module = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:]) if layer.kind == "conv" else \
        nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        module.weight.copy_(weight)
        module.bias.copy_(torch.from_numpy(layer.bias))
    return module


def small_model(model: nn.Module, model_name: str) -> SmallNet:
    """``model`` (masked, shared or plain layers of a registered model, e.g. ``"lenet300"``) as a ``SmallNet``:
    the hidden units and conv channels that cannot change the output removed (``runtime.remove_dead_units``).
    Its outputs equal the model's up to float rounding (biases of constant units are folded)."""
    after = [ops[1:] for ops in ARCHITECTURES[check_choice(model_name, "model_name", ARCHITECTURES)]]
    layers, inputs = remove_dead_units(model_layers(model, after))
    device = next(model.parameters()).device
    return SmallNet(layers, inputs).to(device).eval()


# ---------------------------------------------------------------- ONNX
def export_onnx(model: nn.Module, path: str | Path) -> Path:
    """Export ``model`` (input (batch, 1, 28, 28), any batch size) to an ONNX file with ``torch.onnx.export``.

    Input ``images``, output ``log_probs``; written atomically. Returns the path.
    """
    model = copy.deepcopy(model).cpu().eval()
    example = (torch.zeros(2, 1, 28, 28),)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, example, str(tmp), input_names=["images"], output_names=["log_probs"],
                              dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False, dynamo=True,
                              external_data=False)

    return atomic_write(path, write)


def onnx_session(path: str | Path, threads: int | None = None):
    """An ONNX Runtime session for ``path`` on the CPU; ``threads`` intra-op threads (default: ONNX Runtime's)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = check_int(threads, "threads", 1)
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    flush_denormals()  # the session reset this thread's floating-point flags; training needs them back
    return session


def onnx_log_probs(session, images: np.ndarray) -> np.ndarray:
    """Run an exported model: images (N, 1, 28, 28) float32 -> log-probabilities (N, 10)."""
    return session.run(None, {"images": np.ascontiguousarray(images, dtype=np.float32)})[0]


def _with_preprocessed(source: str | Path, target: str | Path, quantize) -> Path:
    """Run ONNX Runtime's pre-processing (shape inference, graph optimisation) on ``source``, then
    ``quantize(preprocessed, tmp)``, and move the result onto ``target`` atomically."""
    from onnxruntime.quantization import quant_pre_process

    def write(tmp: Path) -> None:
        prepared = tmp.with_name(tmp.name + ".pre.onnx")
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            quantize(str(prepared), str(tmp))
        finally:
            flush_denormals()  # ONNX Runtime's sessions, inside, reset this thread's floating-point flags
            if prepared.exists():
                os.remove(prepared)

    return atomic_write(target, write)


def initializer_bytes(path: str | Path) -> dict[str, int]:
    """Bytes of an ONNX file's stored tensors (its initializers), per element type: ``{"float32": ..., "int8": ...}``.
    Notebook 10 reads where an int8 file's bytes still are."""
    import onnx
    from onnx import numpy_helper

    sizes: dict[str, int] = {}
    for tensor in onnx.load(str(path)).graph.initializer:
        array = numpy_helper.to_array(tensor)
        sizes[str(array.dtype)] = sizes.get(str(array.dtype), 0) + array.nbytes
    return sizes


def quantize_dynamic(source: str | Path, target: str | Path) -> Path:
    """int8 weights, activations quantized on the fly per batch (``onnxruntime.quantization.quantize_dynamic``)."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    return _with_preprocessed(source, target, lambda src, dst: ort_quantize_dynamic(src, dst, weight_type=QuantType.QInt8))


class _Calibration:
    """Batches of calibration images for ``quantize_static`` (``CalibrationDataReader``'s protocol)."""

    def __init__(self, images: np.ndarray, batch_size: int = 100):
        self.batches = iter(np.array_split(np.asarray(images, np.float32), max(1, len(images) // batch_size)))

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {"images": batch}


def quantize_static(source: str | Path, target: str | Path, calibration: np.ndarray) -> Path:
    """int8 weights (per output channel) and activations, in QDQ form, with activation ranges calibrated on
    ``calibration`` images (N, 1, 28, 28) (``onnxruntime.quantization.quantize_static``, MinMax)."""
    from onnxruntime.quantization import QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    if len(calibration) == 0:
        raise ValueError("calibration must hold at least one image")
    return _with_preprocessed(source, target, lambda src, dst: ort_quantize_static(
        src, dst, _Calibration(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8))


# ---------------------------------------------------------------- a Python without PyTorch
RUNTIME_DISTRIBUTIONS = ("numpy", "scipy", "pillow")  # all that ``runtime`` and ``predict`` need


def _installed_tops(name: str) -> set[Path]:
    """The top-level folders and files an installed distribution put in site-packages (numpy, numpy.libs, ...)."""
    import importlib.metadata

    distribution = importlib.metadata.distribution(name)
    return {Path(distribution.locate_file(f.parts[0])) for f in distribution.files or [] if f.parts[0] != ".."}


def torch_free_python(folder: str | Path) -> Path:
    """Make a new virtual environment in ``folder`` that holds numpy, scipy, Pillow and this package, and
    nothing else (no torch); return its ``python``.

    The three distributions and the package are linked from this Python's installation instead of downloaded,
    so it works offline; on a real device ``pip install numpy scipy pillow`` and ``pip install --no-deps
    "git+https://github.com/vietai/vietai-compress"`` give the same environment (notebook 10)."""
    import subprocess
    import venv

    folder = Path(folder)
    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(folder)
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    tops = {Path(__file__).resolve().parent}.union(*(_installed_tops(name) for name in RUNTIME_DISTRIBUTIONS))
    for top in tops:
        (purelib / top.name).symlink_to(top, target_is_directory=top.is_dir())
    return python
