"""docs/vcz_format.md against the code: its constants, its byte tables (a reader written from them alone parses
real files as vcz.decode does), its worked example and its models."""
import math
import re
import struct
import zlib

import numpy as np
import pytest

from vcz_fixtures import FORMAT_DOC, doc_fields, doc_table, fixture_files
from vietai_compress import runtime, vcz
from vietai_compress.huffman import MAX_CODE_LENGTH, canonical_codes
from vietai_compress.images import MNIST_MEAN, MNIST_STD

DOC = FORMAT_DOC.read_text(encoding="utf-8")


def _row(title: str, field: str) -> str:
    """The 'valid values' cell of a field in one of the byte tables."""
    line = next(line for line in DOC.split(f"\n### {title}\n", 1)[1].splitlines() if line.startswith(f"| `{field}` |"))
    return line.split("|")[4]


def test_the_documents_constants_are_the_codes():
    magic = bytes.fromhex(re.search(r"exactly `([0-9a-f ]+)`", _row("Header", "magic")).group(1))
    assert magic == vcz.MAGIC
    assert f"at most {vcz.VERSION} " in _row("Header", "version")
    assert f"The header is {struct.calcsize('<8sHII')} bytes" in DOC
    assert "1 to 16" in _row("Layer record", "gap_bits") and vcz.MAX_GAP_BITS == 16
    assert "min(65536, `weights`)" in _row("Layer record", "k") and vcz.MAX_CENTROIDS == 65536
    assert f"0 to {MAX_CODE_LENGTH}" in _row("Layer record", "gap_code_lengths")
    assert f"0 to {MAX_CODE_LENGTH}" in _row("Layer record", "index_code_lengths")
    assert "0 (fully connected, \"linear\") or 1 (convolution, \"conv\")" in _row("Layer record", "kind")
    assert vcz.KINDS == ("linear", "conv") and vcz.NDIM == {"linear": 2, "conv": 4}
    assert f"(pixel - {MNIST_MEAN}) / {MNIST_STD}" in DOC


def test_the_tables_list_every_field_in_the_order_the_writer_writes_them():
    assert [row[0] for row in doc_table("Header")] == ["magic", "version", "payload_length", "payload_crc32"]
    assert [row[0] for row in doc_table("Payload")] == ["model_name_length", "model_name", "layer_count"]
    assert len(doc_table("Layer record")) == 18


@pytest.mark.parametrize("name", sorted(fixture_files()))
def test_a_reader_written_from_the_tables_alone_reads_what_vcz_decode_reads(name):
    data = fixture_files()[name]
    fields = {f["field"]: f["value"] for f in doc_fields(data)}
    last = doc_fields(data)[-1]
    assert last["offset"] + last["size"] == len(data)  # every byte is some field's, none is left over
    payload = data[18:]
    assert fields["magic"] == vcz.MAGIC and fields["version"] == vcz.VERSION
    assert fields["payload_length"] == len(payload) and fields["payload_crc32"] == zlib.crc32(payload)
    model_name, records = vcz.decode(data)
    assert fields["model_name"] == model_name and fields["layer_count"] == len(records)
    for i, record in enumerate(records):
        layer = {key.split(".", 1)[1]: value for key, value in fields.items() if key.startswith(f"layers[{i}].")}
        assert (layer["name"], vcz.KINDS[layer["kind"]], tuple(layer["shape"])) == \
            (record.name, record.kind, record.shape)
        assert (layer["gap_bits"], layer["k"], layer["has_bias"]) == \
            (record.gap_bits, record.k, record.bias is not None)
        np.testing.assert_array_equal(np.float32(layer["centroids"]), record.centroids)
        np.testing.assert_array_equal(np.float32(layer["bias"]), record.bias)
        assert (layer["gap_symbol_count"], layer["gap_byte_count"]) == (record.gap_symbols, record.gap_bytes)
        assert (layer["index_symbol_count"], layer["index_byte_count"]) == (record.n, record.index_bytes)
        assert len(layer["gap_code_lengths"]) == 2 ** record.gap_bits


def _example_bytes() -> bytes:
    dump = DOC.split("writes these 84 bytes:", 1)[1].split("```")[1]
    return bytes.fromhex("".join(line[10:] for line in dump.strip().splitlines()))


def test_the_worked_example_is_what_vcz_encode_writes_and_decodes_as_described():
    record = vcz.LayerRecord("fc", "linear", (2, 4), 2, np.array([-1.0, 0.5], np.float32),
                             np.array([0.25, -0.25], np.float32), np.array([0, 1, 7]), np.array([1, 0, 1]))
    assert _example_bytes() == vcz.encode("tiny", [record])
    (layer,) = vcz.decode(_example_bytes())[1]
    np.testing.assert_array_equal(layer.dense_weight(), [[0.5, -1.0, 0, 0], [0, 0, 0, 0.5]])
    assert vcz.positions_to_gaps(np.array([0, 1, 7]), 2).tolist() == [0, 0, 3, 2]


def test_the_annotated_bytes_of_the_example_are_the_whole_file_in_order():
    table = DOC.split("| bytes | field | value |", 1)[1].split("\n\n", 1)[0]
    groups = [re.findall(r"`([0-9a-f ]+)`", line.split("|")[1]) for line in table.strip().splitlines()[1:]]
    assert bytes.fromhex("".join(" ".join(g) for g in groups)) == _example_bytes()


def test_the_canonical_code_example():
    assert ("lengths `[1, 0, 2, 2]` (symbol 1 has no code) give symbol 0 the code `0`, symbol 2 `10`, symbol 3 "
            "`11`") in DOC
    codes = canonical_codes(np.array([1, 0, 2, 2]))
    assert [int(codes[s]) for s in (0, 2, 3)] == [0b0, 0b10, 0b11]


def _model_table(heading: str) -> list[tuple[str, str, str]]:
    table = DOC.split(heading, 1)[1].split("| layer | kind | shape | then |", 1)[1].split("\n\n", 1)[0]
    return [tuple(c.strip().strip("`") for c in line.split("|")[1:4]) for line in table.strip().splitlines()[1:]]


@pytest.mark.parametrize("model, heading, units", [
    ("lenet300", "**`lenet300`, LeNet-300-100**", {"h1": 300, "h2": 100}),
    ("lenet5", "**`lenet5`, LeNet-5 as in Caffe**", {"c1": 20, "c2": 50, "h": 500})])
def test_the_model_tables_are_the_runtimes_architectures(model, heading, units):
    rows = _model_table(heading)
    assert [name for name, _, _ in rows] == [ops[0] for ops in runtime.ARCHITECTURES[model]]
    kinds = ["conv" if name.startswith("conv") else "linear" for name, _, _ in rows]
    assert [kind for _, kind, _ in rows] == kinds
    shapes = [tuple(eval(shape.replace(" x ", " * "), {"__builtins__": {}}, units)) for _, _, shape in rows]
    assert shapes == runtime.architecture_shapes(model, [*units.values(), 10])
    assert f"full units {', '.join(map(str, runtime.FULL_UNITS[model]))}" in DOC
    assert math.prod(runtime.CONV_INPUT) == 784
