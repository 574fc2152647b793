"""A real compressed file: pruned positions, shared-weight indices and Huffman coding on disk.

Taught in notebook 06_huffman_and_storage. Every layer of the model must be shared
(``share_weights``); its codebook is read from the layer. Per layer, as in Deep Compression:

* positions of the nonzero weights as relative gaps of ``gap_bits`` bits (5 for fully connected
  layers, 8 for conv layers by default). Gap symbols 0 .. 2**b - 2 mean "skip that many zeros, then a
  weight"; the largest symbol 2**b - 1 is the filler: "skip 2**b - 1 zeros, no weight here" (the paper's
  filler zero, its zero weight implied instead of stored);
* the cluster index of every nonzero weight, and the codebook (float32 centroids);
* the bias as float32;
* both integer streams Huffman-coded, each with its table of code lengths (one byte per symbol).

Byte layout (little-endian; ``str`` is a u8 length, then that many UTF-8 bytes):

    header   magic "VIETAIC\\0" (8) | version u16 | payload length u32 | CRC-32 of the payload u32
    payload  model name str | layer count u16 | layer records, one after the other
    layer    name str | kind u8 (0 linear, 1 conv) | ndim u8 (2 linear, 4 conv) | shape u32 x ndim
             | gap_bits u8 (1-16) | k u32 (<= 2**16) | has_bias u8 (0/1)
             | centroids f32 x k | bias f32 x shape[0] if has_bias
             | gap stream (alphabet 2**gap_bits) | index stream (alphabet max(k, 1))
    stream   code lengths u8 x alphabet | symbol count u32 | byte count u32 | coded bits

Written atomically; loading checks every field against its range before it touches the model, so a
bad file raises ``ValueError`` and never leaves a model half loaded.
"""
from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn

from .checks import check_choice, check_int
from .compression import index_bits
from .fileio import atomic_write_bytes
from .huffman import HuffmanCode
from .models import MODELS
from .quantization import SHARED_LAYER_TYPES, Codebook, SharedConv2d, install_codebooks, weight_layers
from .recipe import GAP_BITS

MAGIC = b"VIETAIC\x00"
VERSION = 1
_HEADER = struct.Struct("<8sHII")  # magic, version, payload length, crc32 of the payload
KINDS = ("linear", "conv")  # the kind byte indexes this tuple
NDIM = {"linear": 2, "conv": 4}
MAX_GAP_BITS = 16
MAX_CENTROIDS = 2 ** 16  # share_weights uses at most 16 bits


# ---------------------------------------------------------------- relative positions
def positions_to_gaps(positions: np.ndarray, gap_bits: int) -> np.ndarray:
    """Sorted flat positions (n,) -> gap symbols, with fillers where a gap does not fit in gap_bits."""
    filler = 2 ** gap_bits - 1
    positions = np.asarray(positions, dtype=np.int64)
    gaps = np.diff(positions, prepend=-1) - 1  # zeros skipped before each weight
    fillers, rest = np.divmod(gaps, filler)
    symbols = np.full(int((fillers + 1).sum()), filler, dtype=np.int64)
    symbols[np.cumsum(fillers + 1) - 1] = rest  # each weight's symbol comes after its fillers
    return symbols


def gaps_to_positions(symbols: np.ndarray, gap_bits: int) -> np.ndarray:
    """Inverse of ``positions_to_gaps``: gap symbols -> flat positions (n,) of the nonzero weights."""
    filler = 2 ** gap_bits - 1
    symbols = np.asarray(symbols, dtype=np.int64)
    advance = np.where(symbols == filler, filler, symbols + 1)
    return (np.cumsum(advance) - 1)[symbols != filler]


# ---------------------------------------------------------------- writing
def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"names are limited to 255 bytes, got {text[:40]!r}...")
    return struct.pack("<B", len(raw)) + raw


def _stream(symbols: np.ndarray, alphabet: int) -> bytes:
    """A Huffman-coded stream: code lengths (one byte per symbol), symbol count, byte count, bits."""
    code = HuffmanCode.from_symbols(symbols, alphabet)
    data = code.encode(symbols)
    return code.lengths.astype(np.uint8).tobytes() + struct.pack("<II", len(symbols), len(data)) + data


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
    layers = _shared_layers_only(model)
    bits_by_kind = _gap_bits_by_kind(gap_bits)
    payload = bytearray(_string(_model_name(model)) + struct.pack("<H", len(layers)))
    for name, layer in layers:
        payload += _string(name) + _layer_record(layer, bits_by_kind[_layer_kind(layer)])
    header = _HEADER.pack(MAGIC, VERSION, len(payload), zlib.crc32(payload))
    return atomic_write_bytes(path, header + bytes(payload))


def _layer_record(layer: nn.Module, gap_bits: int) -> bytes:
    """Everything after a layer's name, as in the byte table of this module's docstring."""
    codebook = layer.codebook
    kind = _layer_kind(layer)
    shape = layer.weight_shape
    has_bias = layer.bias is not None
    record = struct.pack("<BB", KINDS.index(kind), len(shape)) + struct.pack(f"<{len(shape)}I", *shape)
    record += struct.pack("<BIB", gap_bits, codebook.k, has_bias)
    record += codebook.centroids.cpu().numpy().astype("<f4").tobytes()
    if has_bias:
        record += layer.bias.detach().cpu().numpy().astype("<f4").tobytes()
    record += _stream(positions_to_gaps(codebook.positions.cpu().numpy(), gap_bits), 2 ** gap_bits)
    record += _stream(codebook.labels.cpu().numpy(), max(codebook.k, 1))
    return record


# ---------------------------------------------------------------- reading
class _Reader:
    """Reads little-endian fields from a payload; running out of bytes is a clear error."""

    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def take(self, n: int) -> bytes:
        if self.offset + n > len(self.data):
            raise ValueError("compressed file is truncated")
        chunk = self.data[self.offset:self.offset + n]
        self.offset += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def string(self, what: str) -> str:
        (n,) = self.unpack("B")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"the {what} in the file is not valid UTF-8") from err

    def floats(self, n: int, what: str) -> np.ndarray:
        values = np.frombuffer(self.take(4 * n), dtype="<f4").astype(np.float32)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{what} holds a value that is not a finite number")
        return values

    def stream(self, alphabet: int, what: str) -> tuple[np.ndarray, int]:
        """Decode one Huffman stream; returns (symbols, bytes of coded bits)."""
        lengths = np.frombuffer(self.take(alphabet), dtype=np.uint8)
        n, size = self.unpack("II")
        data = self.take(size)
        if n > 8 * size:  # every symbol takes at least one bit
            raise ValueError(f"{what}: {n} symbols cannot fit in {size} bytes")
        return HuffmanCode(lengths).decode(data, n), size


def _in_range(value: int, what: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"{what} is {value}, outside its range [{low}, {high}]")
    return value


@dataclass
class StoredLayer:
    """One layer as decoded from a file, plus what its bytes were spent on."""

    name: str
    kind: str
    shape: tuple[int, ...]
    gap_bits: int
    centroids: np.ndarray
    bias: np.ndarray | None
    positions: np.ndarray
    labels: np.ndarray
    gap_symbols: int  # gap stream length: one per weight plus the fillers
    gap_bytes: int
    index_bytes: int
    record_bytes: int  # everything this layer takes in the file

    @property
    def weights(self) -> int:
        return math.prod(self.shape)

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def k(self) -> int:
        return len(self.centroids)

    @property
    def biases(self) -> int:
        return len(self.bias) if self.bias is not None else 0

    @property
    def dense_bits(self) -> int:
        return 32 * (self.weights + self.biases)

    @property
    def bits_before_huffman(self) -> int:
        """Fixed-width gaps and cluster indices, plus the float32 codebook and bias (P+Q)."""
        return self.gap_symbols * self.gap_bits + self.n * index_bits(self.k) + 32 * (self.k + self.biases)

    @property
    def codebook(self) -> Codebook:
        return Codebook(torch.from_numpy(self.centroids), torch.from_numpy(self.positions),
                        torch.from_numpy(self.labels))

    def weight(self) -> torch.Tensor:
        return self.codebook.dense(self.shape)


def read_compressed(path: str | Path) -> tuple[str, list[StoredLayer]]:
    """Check and decode a compressed file: returns (model name, layers). Raises ValueError on a bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"compressed file not found: {path}")
    data = path.read_bytes()
    if len(data) < _HEADER.size or data[:8] != MAGIC:
        raise ValueError(f"{path} is not a vietai-compress file (wrong magic)")
    _, version, length, crc = _HEADER.unpack_from(data)
    if version > VERSION:
        raise ValueError(f"{path} has format version {version}, newer than this package reads ({VERSION}); "
                         "upgrade vietai_compress")
    payload = data[_HEADER.size:]
    if len(payload) != length:
        raise ValueError(f"{path} is truncated or has extra bytes ({len(payload)} payload bytes, header says {length})")
    if zlib.crc32(payload) != crc:
        raise ValueError(f"{path} is corrupt (checksum mismatch)")
    reader = _Reader(payload)
    model_name = reader.string("model name")
    (count,) = reader.unpack("H")
    layers = [_read_layer(reader) for _ in range(count)]
    if reader.offset != len(payload):
        raise ValueError(f"{path} has {len(payload) - reader.offset} unread bytes after its last layer")
    return model_name, layers


def _read_layer(reader: _Reader) -> StoredLayer:
    start = reader.offset
    name = reader.string("layer name")
    kind_id, ndim = reader.unpack("BB")
    kind = KINDS[_in_range(kind_id, f"layer {name!r}: kind byte", 0, len(KINDS) - 1)]
    _in_range(ndim, f"layer {name!r}: number of dimensions of a {kind} weight", NDIM[kind], NDIM[kind])
    shape = tuple(reader.unpack(f"{ndim}I"))
    for size in shape:
        _in_range(size, f"layer {name!r}: a dimension of the weight", 1, 2 ** 31 - 1)
    weights = math.prod(shape)
    _in_range(weights, f"layer {name!r}: number of weights", 1, 2 ** 31 - 1)
    gap_bits, k, has_bias = reader.unpack("BIB")
    _in_range(gap_bits, f"layer {name!r}: gap bits", 1, MAX_GAP_BITS)
    _in_range(k, f"layer {name!r}: number of centroids", 0, min(MAX_CENTROIDS, weights))
    _in_range(has_bias, f"layer {name!r}: bias flag", 0, 1)
    centroids = reader.floats(k, f"layer {name!r}: codebook")
    bias = reader.floats(shape[0], f"layer {name!r}: bias") if has_bias else None
    gaps, gap_bytes = reader.stream(2 ** gap_bits, f"layer {name!r}: gap stream")
    labels, index_bytes = reader.stream(max(k, 1), f"layer {name!r}: index stream")
    positions = gaps_to_positions(gaps, gap_bits)
    if len(positions) != len(labels) or (len(positions) and positions[-1] >= weights):
        raise ValueError(f"layer {name!r}: positions and indices do not fit its shape {shape}")
    if len(labels) and k == 0:
        raise ValueError(f"layer {name!r}: {len(labels)} weights but no centroid")
    return StoredLayer(name, kind, shape, gap_bits, centroids, bias, positions, labels,
                       len(gaps), gap_bytes, index_bytes, reader.offset - start)


def load_compressed(path: str | Path, model: nn.Module) -> dict[str, Codebook]:
    """Load a compressed file into ``model``: every layer becomes a shared layer with the file's codebook.

    ``model`` is a freshly built model of the same architecture (masked layers, e.g. ``LeNet300100()``)
    or an already shared one. Everything is decoded and checked against the model's layer names, kinds
    and shapes first; a bad file or a model that does not match raises ``ValueError`` and leaves the
    model untouched. Returns the codebooks.
    """
    _, stored = read_compressed(path)
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
    return install_codebooks(model, {s.name: s.codebook for s in stored})


# ---------------------------------------------------------------- size report
@dataclass
class FileSizeReport:
    """Deep Compression's Table 2 for one file: per layer and in total."""

    path: Path
    file_bytes: int
    layers: list[StoredLayer]

    @property
    def dense_bytes(self) -> int:
        return sum(s.dense_bits for s in self.layers) // 8

    @property
    def ratio(self) -> float:
        return self.dense_bytes / self.file_bytes

    def rows(self) -> list[dict]:
        """One dict per layer and a last one for the total, with the paper's columns.

        Bits per weight are spent on cluster indices, bits per index on relative positions (both per
        nonzero weight); rates are sizes in % of dense float32, before (P+Q) and after Huffman (+H).
        """
        rows = [{
            "layer": s.name, "weights": s.weights, "kept_percent": 100 * s.n / s.weights,
            "weight_bits": index_bits(s.k), "weight_bits_huffman": 8 * s.index_bytes / max(s.n, 1),
            "index_bits": s.gap_symbols * s.gap_bits / max(s.n, 1), "index_bits_huffman": 8 * s.gap_bytes / max(s.n, 1),
            "rate_percent": 100 * s.bits_before_huffman / s.dense_bits,
            "rate_percent_huffman": 100 * 8 * s.record_bytes / s.dense_bits, "bytes": s.record_bytes,
        } for s in self.layers]
        n = max(sum(s.n for s in self.layers), 1)
        weights = sum(s.weights for s in self.layers)
        rows.append({
            "layer": "total", "weights": weights, "kept_percent": 100 * n / weights,
            "weight_bits": sum(index_bits(s.k) * s.n for s in self.layers) / n,
            "weight_bits_huffman": sum(8 * s.index_bytes for s in self.layers) / n,
            "index_bits": sum(s.gap_symbols * s.gap_bits for s in self.layers) / n,
            "index_bits_huffman": sum(8 * s.gap_bytes for s in self.layers) / n,
            "rate_percent": 100 * sum(s.bits_before_huffman for s in self.layers) / (8 * self.dense_bytes),
            "rate_percent_huffman": 100 * self.file_bytes / self.dense_bytes, "bytes": self.file_bytes,
        })
        return rows

    def table(self, lang: str = "en") -> str:
        """The report as printable text, one line per layer, then the total and the file's ratio.

        ``lang`` is "en" or "vi" (the notebooks' column names, in Vietnamese).
        """
        w = REPORT_WORDS[check_choice(lang, "lang", REPORT_WORDS)]
        head = (f"{w['layer']:8} {w['weights']:>9} {w['kept']:>7} {w['w bits']:>7} {w['w bits']:>7} {w['idx bits']:>9} "
                f"{w['idx bits']:>9} {w['rate']:>7} {w['rate']:>7}\n"
                f"{'':8} {'':>9} {'(P)':>7} {'(P+Q)':>7} {'(+H)':>7} {'(P+Q)':>9} {'(+H)':>9} {'(P+Q)':>7} {'(+H)':>7}")
        lines = [head, "-" * 81]
        for r in self.rows():
            layer = w["total"] if r["layer"] == "total" else r["layer"]
            lines.append(f"{layer:8} {r['weights']:>9,} {r['kept_percent']:>6.2f}% {r['weight_bits']:>7.2f} "
                         f"{r['weight_bits_huffman']:>7.2f} {r['index_bits']:>9.2f} {r['index_bits_huffman']:>9.2f} "
                         f"{r['rate_percent']:>6.2f}% {r['rate_percent_huffman']:>6.2f}%")
        lines.append(w["footer"].format(file=self.file_bytes, dense=self.dense_bytes, ratio=self.ratio))
        return "\n".join(lines)


REPORT_WORDS = {
    "en": {"layer": "layer", "weights": "weights", "kept": "kept", "w bits": "w bits", "idx bits": "idx bits",
           "rate": "rate", "total": "total", "footer": "file: {file:,} bytes on disk; dense float32: {dense:,} bytes; {ratio:.1f}x smaller"},
    "vi": {"layer": "lớp", "weights": "trọng số", "kept": "giữ", "w bits": "bit/cụm", "idx bits": "bit/v.trí",
           "rate": "tỉ lệ", "total": "tổng", "footer": "tệp: {file:,} byte trên đĩa; float32 dày đặc: {dense:,} byte; nhỏ hơn {ratio:.1f} lần"},
}


def size_report(path: str | Path) -> FileSizeReport:
    """Read a compressed file and report where its bytes go (the paper's Table 2 columns)."""
    _, layers = read_compressed(path)
    return FileSizeReport(Path(path), Path(path).stat().st_size, layers)
