"""The ``.vcz`` byte format: pruned positions, shared-weight indices and Huffman coding on disk.

Taught in notebook 06_huffman_and_storage; read without PyTorch by ``runtime`` (notebook 10). This module
imports numpy only: it turns records of numpy arrays (``LayerRecord``) into bytes and back, so a device
that has no PyTorch can read a file. ``storage`` converts between these records and torch layers.

Per layer, as in Deep Compression:

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

Written atomically; reading checks every field against its range before anything uses it, so a bad file
raises ``ValueError``.
"""
from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checks import check_choice
from .fileio import atomic_write_bytes
from .huffman import HuffmanCode

MAGIC = b"VIETAIC\x00"
VERSION = 1
_HEADER = struct.Struct("<8sHII")  # magic, version, payload length, crc32 of the payload
KINDS = ("linear", "conv")  # the kind byte indexes this tuple
NDIM = {"linear": 2, "conv": 4}
MAX_GAP_BITS = 16
MAX_CENTROIDS = 2 ** 16  # share_weights uses at most 16 bits


def index_bits(k: int) -> int:
    """Bits of a fixed-width cluster index for k centroids: ceil(log2 k) (0 for k <= 1)."""
    return math.ceil(math.log2(k)) if k > 1 else 0


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


# ---------------------------------------------------------------- one layer
@dataclass
class LayerRecord:
    """One layer of a file: what is written, and, once read, what its bytes were spent on.

    shape: (out, in) for a linear layer, (out, in / groups, kh, kw) for a conv layer. centroids (k,) float32;
    bias (out,) float32 or None; positions (n,) int64, the sorted row-major index of every nonzero weight;
    labels (n,) int64 in [0, k), the centroid of each. The weight is ``centroids[labels]`` at ``positions``
    and 0 everywhere else (``dense_weight``).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    gap_bits: int
    centroids: np.ndarray
    bias: np.ndarray | None
    positions: np.ndarray
    labels: np.ndarray
    gap_symbols: int = 0  # filled in when read: gap stream length, one per weight plus the fillers
    gap_bytes: int = 0
    index_bytes: int = 0
    record_bytes: int = 0  # everything this layer takes in the file

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

    def values(self) -> np.ndarray:
        """The value of every nonzero weight (n,) float32, in the order of ``positions``."""
        return self.centroids[self.labels]

    def dense_weight(self) -> np.ndarray:
        """The full weight array of ``shape``, float32, zeros where nothing is stored."""
        flat = np.zeros(self.weights, dtype=np.float32)
        flat[self.positions] = self.values()
        return flat.reshape(self.shape)


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


def _layer_bytes(layer: LayerRecord) -> bytes:
    """Everything after a layer's name, as in the byte table of this module's docstring."""
    check_choice(layer.kind, "kind", KINDS)
    shape = layer.shape
    record = struct.pack("<BB", KINDS.index(layer.kind), len(shape)) + struct.pack(f"<{len(shape)}I", *shape)
    record += struct.pack("<BIB", layer.gap_bits, layer.k, layer.bias is not None)
    record += np.asarray(layer.centroids, dtype="<f4").tobytes()
    if layer.bias is not None:
        record += np.asarray(layer.bias, dtype="<f4").tobytes()
    record += _stream(positions_to_gaps(layer.positions, layer.gap_bits), 2 ** layer.gap_bits)
    record += _stream(np.asarray(layer.labels, dtype=np.int64), max(layer.k, 1))
    return record


def encode(model_name: str, layers: list[LayerRecord]) -> bytes:
    """A whole file, header included, as bytes."""
    payload = bytearray(_string(model_name) + struct.pack("<H", len(layers)))
    for layer in layers:
        payload += _string(layer.name) + _layer_bytes(layer)
    return _HEADER.pack(MAGIC, VERSION, len(payload), zlib.crc32(payload)) + bytes(payload)


def write_file(path: str | Path, model_name: str, layers: list[LayerRecord]) -> Path:
    """Write ``encode(model_name, layers)`` to ``path`` atomically. Returns the path."""
    return atomic_write_bytes(path, encode(model_name, layers))


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


def decode(data: bytes, source: str = "the data") -> tuple[str, list[LayerRecord]]:
    """Check and decode a whole file's bytes: returns (model name, layers). Raises ValueError on bad bytes;
    ``source`` (e.g. the file's path) names them in the message."""
    if len(data) < _HEADER.size or data[:8] != MAGIC:
        raise ValueError(f"{source} is not a vietai-compress file (wrong magic)")
    _, version, length, crc = _HEADER.unpack_from(data)
    if version > VERSION:
        raise ValueError(f"{source} has format version {version}, newer than this package reads ({VERSION}); "
                         "upgrade vietai_compress")
    payload = data[_HEADER.size:]
    if len(payload) != length:
        raise ValueError(f"{source} is truncated or has extra bytes ({len(payload)} payload bytes, header says "
                         f"{length})")
    if zlib.crc32(payload) != crc:
        raise ValueError(f"{source} is corrupt (checksum mismatch)")
    reader = _Reader(payload)
    model_name = reader.string("model name")
    (count,) = reader.unpack("H")
    layers = [_read_layer(reader) for _ in range(count)]
    if reader.offset != len(payload):
        raise ValueError(f"{source} has {len(payload) - reader.offset} unread bytes after its last layer")
    return model_name, layers


def read_file(path: str | Path) -> tuple[str, list[LayerRecord]]:
    """Check and decode a ``.vcz`` file: returns (model name, layers). Raises ValueError on a bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"compressed file not found: {path}")
    return decode(path.read_bytes(), str(path))


def _read_layer(reader: _Reader) -> LayerRecord:
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
    return LayerRecord(name, kind, shape, gap_bits, centroids, bias, positions, labels,
                       len(gaps), gap_bytes, index_bytes, reader.offset - start)


# ---------------------------------------------------------------- size report
@dataclass
class FileSizeReport:
    """Deep Compression's Table 2 for one file: per layer and in total."""

    path: Path
    file_bytes: int
    layers: list[LayerRecord]

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
    _, layers = read_file(path)
    return FileSizeReport(Path(path), Path(path).stat().st_size, layers)
