"""Small .vcz files and the answers the Python readers give on them, for the tests of both readers.

The files are built from numpy records (no training, a fixed seed): LeNet-300-100 and LeNet-5 at full width and
narrow (a few hundred bytes, small enough to corrupt every byte). ``write_node_fixtures`` writes them with the
Python answers for the Node tests of ``web/vcz.js`` (``tests/js``); ``doc_fields`` reads a file with the byte tables
of ``docs/vcz_format.md`` alone.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import math
import re
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from vietai_compress import runtime
from vietai_compress.huffman import HuffmanCode
from vietai_compress.vcz import LayerRecord, encode

ROOT = Path(__file__).resolve().parents[1]
FORMAT_DOC = ROOT / "docs" / "vcz_format.md"
HEADER_BYTES = 18
CRC_FIELD = slice(14, 18)


# ---------------------------------------------------------------- the document's byte tables
def doc_table(title: str) -> list[tuple[str, str, str]]:
    """The rows (field, type, count) of the table under the heading ``### title`` of docs/vcz_format.md."""
    section = FORMAT_DOC.read_text(encoding="utf-8").split(f"\n### {title}\n", 1)[1]
    table = re.search(r"(^\|.*\n)+", section, flags=re.MULTILINE).group(0)  # the first table under the heading
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines()]
    return [(cells[0].strip("`"), cells[1], cells[2]) for cells in rows if cells[0].startswith("`")]


_TYPES = {"u8": "<B", "u16": "<H", "u32": "<I", "f32": "<f"}


def _count(expression: str, fields: dict) -> int:
    """A count of the tables: a number or a short expression of fields read before (``2 ** gap_bits``)."""
    return int(eval(expression, {"__builtins__": {}, "max": max}, dict(fields)))  # the repository's own document


def _read_rows(data: bytes, offset: int, rows, prefix: str, out: list) -> tuple[int, dict]:
    fields = {}
    for name, kind, count_text in rows:
        count = _count(count_text, fields)
        if kind in ("bytes", "utf8"):
            size, value = count, data[offset:offset + count]
            value = value.decode("utf-8") if kind == "utf8" else value
        else:
            size = struct.calcsize(_TYPES[kind]) * count
            value = [struct.unpack_from(_TYPES[kind], data, offset + i * size // count)[0] for i in range(count)]
            value = value[0] if count_text == "1" else value
        if offset + size > len(data):
            raise ValueError(f"{prefix}{name} runs past the end of the data")
        fields[name] = value
        out.append({"field": prefix + name, "offset": offset, "size": size, "value": value})
        offset += size
    return offset, fields


def doc_fields(data: bytes) -> list[dict]:
    """Every field of a .vcz file in order, read with nothing but the tables of docs/vcz_format.md: dicts with
    ``field`` (``layers[0].k``), ``offset``, ``size`` (bytes) and ``value``."""
    out = []
    offset, _ = _read_rows(data, 0, doc_table("Header"), "", out)
    offset, payload = _read_rows(data, offset, doc_table("Payload"), "", out)
    for i in range(payload["layer_count"]):
        offset, _ = _read_rows(data, offset, doc_table("Layer record"), f"layers[{i}].", out)
    return out


def field_offsets(data: bytes) -> dict[str, int]:
    """Where every field starts, by name, in the file."""
    return {f["field"]: f["offset"] for f in doc_fields(data)}


# ---------------------------------------------------------------- files built from records
def _record(rng, name: str, shape: tuple[int, ...], density: float, k: int, gap_bits: int, scale: float,
            no_inputs: int = 0, no_outputs: tuple[int, ...] = ()) -> LayerRecord:
    """A layer with about ``density`` of its weights nonzero, k shared values; its first ``no_inputs`` units have
    no weights in (constants), and the inputs ``no_outputs`` are read by no weight."""
    mask = rng.random(shape) < density
    mask[:no_inputs] = False
    mask[:, list(no_outputs)] = False
    positions = np.flatnonzero(mask)
    centroids = np.sort(rng.normal(0, scale, k)).astype(np.float32)
    labels = rng.integers(0, k, len(positions))
    bias = rng.normal(0, 0.3, shape[0]).astype(np.float32)
    kind = "conv" if len(shape) == 4 else "linear"
    return LayerRecord(name, kind, shape, gap_bits, centroids, bias, positions, labels)


def lenet300_records(units=(300, 100), density=(0.04, 0.1, 0.5), seed: int = 0) -> list[LayerRecord]:
    rng = np.random.default_rng(seed)
    h1, h2 = units
    return [_record(rng, "fc1", (h1, 784), density[0], 32, 5, 0.3, no_inputs=2),
            _record(rng, "fc2", (h2, h1), density[1], 16, 5, 0.4, no_inputs=1, no_outputs=(h1 - 1,)),
            _record(rng, "fc3", (10, h2), density[2], 8, 5, 0.5, no_outputs=(0,))]


def lenet5_records(units=(20, 50, 500), density=(0.6, 0.1, 0.05, 0.3), seed: int = 1) -> list[LayerRecord]:
    rng = np.random.default_rng(seed)
    c1, c2, h = units
    return [_record(rng, "conv1", (c1, 1, 5, 5), density[0], 16, 8, 0.3, no_inputs=1),
            _record(rng, "conv2", (c2, c1, 5, 5), density[1], 16, 8, 0.2, no_inputs=1),
            _record(rng, "fc1", (h, c2 * 16), density[2], 32, 5, 0.2, no_inputs=1),
            _record(rng, "fc2", (10, h), density[3], 16, 5, 0.3)]


def fixture_files() -> dict[str, bytes]:
    """The .vcz files both readers are tested on, by file name."""
    return {
        "lenet300.vcz": encode("lenet300", lenet300_records()),
        "lenet5.vcz": encode("lenet5", lenet5_records()),
        "lenet300_narrow.vcz": encode("lenet300", lenet300_records((8, 6), (0.03, 0.5, 0.6))),
        "lenet5_narrow.vcz": encode("lenet5", lenet5_records((4, 6, 12), (0.5, 0.3, 0.3, 0.6))),
    }


def refused_files() -> dict[str, tuple[bytes, str]]:
    """Valid .vcz files the runtime must refuse, with a piece of the error it gives."""
    narrow = lenet300_records((8, 6), (0.03, 0.5, 0.6))
    wide = lenet300_records((301, 6), (0.01, 0.5, 0.6))
    narrow5 = lenet5_records((4, 6, 12))
    return {
        "unknown model": (encode("custom", narrow), "'custom' model"),
        "layer names": (encode("lenet300", narrow[:2] + [dataclasses.replace(narrow[2], name="fc9")]),
                        "not those of lenet300"),
        "layer count": (encode("lenet300", narrow[:2]), "not those of lenet300"),
        "kernel": (encode("lenet5", [_resized(narrow5[0], (4, 1, 3, 3))] + narrow5[1:]), "needs (4, 1, 5, 5)"),
        "input width": (encode("lenet300", [narrow[0], _resized(narrow[1], (6, 9)), narrow[2]]), "needs (6, 8)"),
        "too many units": (encode("lenet300", wide), "more than the 300"),
        "last layer": (encode("lenet300", narrow[:2] + [_resized(narrow[2], (9, 6))]), "needs (10, 6)"),
    }


def _resized(record: LayerRecord, shape: tuple[int, ...]) -> LayerRecord:
    """The record with another shape and its weights kept where they fit."""
    keep = record.positions < math.prod(shape)
    return LayerRecord(record.name, record.kind, shape, record.gap_bits, record.centroids,
                       np.resize(record.bias, shape[0]), record.positions[keep], record.labels[keep])


# ---------------------------------------------------------------- corrupt copies
def resigned(data: bytes) -> bytes:
    """The file with its header's payload length and CRC-32 recomputed from its payload."""
    payload = data[HEADER_BYTES:]
    return data[:10] + struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def flipped(data: bytes, position: int) -> bytes:
    """The file with byte ``position`` inverted (^ 0xFF) and the CRC-32 recomputed, so that the checksum check
    passes, unless the flipped byte is part of the CRC or the length field itself."""
    changed = bytearray(data)
    changed[position] ^= 0xFF
    if position >= HEADER_BYTES:
        changed[CRC_FIELD] = struct.pack("<I", zlib.crc32(bytes(changed[HEADER_BYTES:])))
    return bytes(changed)


def python_verdict(data: bytes, images: np.ndarray) -> list | None:
    """What the Python runtime makes of a file: its log-probabilities on ``images`` (N, 784) as lists, or None
    when it refuses the file with a ValueError (any other exception propagates)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.vcz"
        path.write_bytes(data)
        try:
            model = runtime.load(path)
        except ValueError:
            return None
    return model.log_probs(images).tolist()


def random_images(count: int = 8, seed: int = 2) -> np.ndarray:
    """Random normalised images (count, 784) float32."""
    return np.random.default_rng(seed).normal(0, 1, (count, 784)).astype(np.float32)


# ---------------------------------------------------------------- Huffman streams and digit pictures
def huffman_cases(seed: int = 3) -> list[dict]:
    """Symbol streams, their code lengths and the bytes ``HuffmanCode.encode`` writes."""
    rng = np.random.default_rng(seed)
    streams = [np.array([5] * 9), np.array([0, 1]), rng.integers(0, 32, 500), rng.geometric(0.5, 3000) - 1,
               rng.geometric(0.3, 2000) % 256, rng.choice([7, 40000, 65535], 300, p=[0.9, 0.09, 0.01]),
               np.zeros(0, np.int64)]
    alphabets = [8, 2, 32, 64, 256, 65536, 4]
    cases = []
    for symbols, alphabet in zip(streams, alphabets):
        code = HuffmanCode.from_symbols(symbols, alphabet)
        cases.append({"alphabet": alphabet, "lengths": code.lengths.tolist(), "symbols": symbols.tolist(),
                      "data": _b64(code.encode(symbols))})
    return cases


def digit_pictures(seed: int = 4) -> list[tuple[str, np.ndarray]]:
    """Grey pictures (H, W) uint8 of digit-like strokes: light on dark and dark on light, wide, tall and small."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    pictures = []
    for name, (width, height), line, invert in [("canvas", (280, 280), 18, False), ("wide", (200, 90), 9, False),
                                                 ("tall", (41, 230), 5, True), ("tiny", (12, 9), 1, False),
                                                 ("thin", (300, 300), 2, True), ("one", (280, 280), 20, False)]:
        image = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(image)
        strokes = 1 if name == "one" else 3
        for _ in range(strokes):
            points = [(float(rng.uniform(0.15, 0.85) * width), float(rng.uniform(0.1, 0.9) * height)) for _ in range(4)]
            draw.line(points, fill=int(rng.integers(180, 256)), width=line, joint="curve")
        grey = np.asarray(image)
        pictures.append((name, 255 - grey if invert else grey))
    return pictures


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_node_fixtures(folder: Path) -> Path:
    """Write the files and the Python answers the Node tests read into ``folder``; returns its manifest.json."""
    from PIL import Image

    from vietai_compress.images import normalize_pixels, prepare_digit
    from vietai_compress.vcz import decode

    folder.mkdir(parents=True, exist_ok=True)
    images = random_images()
    files = {}
    for name, data in fixture_files().items():
        (folder / name).write_bytes(data)
        model_name, records = decode(data)
        small = runtime.load(folder / name)
        files[name] = {
            "model": model_name, "bytes": len(data), "offsets": field_offsets(data),
            "layers": [{"name": r.name, "kind": r.kind, "shape": list(r.shape), "gapBits": r.gap_bits,
                        "centroids": r.centroids.tolist(), "positions": r.positions.tolist(),
                        "labels": r.labels.tolist(), "recordBytes": r.record_bytes} for r in records],
            "logProbs": python_verdict(data, images),
            "inputs": small.inputs.tolist() if small.inputs is not None else None,
            "smallShapes": [list(layer.weight.shape) for layer in small.layers],
        }
    flips = {name: [python_verdict(flipped(data, p), images[:2]) for p in range(len(data))]
             for name, data in fixture_files().items() if "narrow" in name}
    rgba = np.random.default_rng(5).integers(0, 256, (7, 11, 4), dtype=np.uint8)
    pictures = [{"name": name, "width": grey.shape[1], "height": grey.shape[0], "grey": _b64(grey.tobytes()),
                 "prepared": prepare_digit(grey.astype(np.float32) / 255.0).ravel().tolist()}
                for name, grey in digit_pictures()]
    rng = np.random.default_rng(6)
    sums = [rng.random(n).astype(np.float32) * np.float32(scale)
            for n, scale in [(5, 1), (77, 1e3), (400, 1), (78400, 1)]]
    levels = (np.arange(256, dtype=np.float32) / 255.0).reshape(16, 16)
    manifest = {
        "images": _b64(images.tobytes()), "files": files, "flips": flips,
        "refused": {name: {"data": _b64(data), "error": error} for name, (data, error) in refused_files().items()},
        "huffman": huffman_cases(), "pictures": pictures,
        "sums": [{"values": _b64(values.tobytes()), "sum": float(values.sum())} for values in sums],
        "normalized": normalize_pixels(levels).ravel().tolist(),
        "rgba": {"data": _b64(rgba.tobytes()), "width": 11, "height": 7,
                 "grey": np.asarray(Image.fromarray(rgba).convert("L")).ravel().tolist()},
    }
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return path
