import math
import struct
import zlib

import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import TinyConvNet, tiny_masked_mlp
from vietai_compress.models import LeNet300100, MaskedConv2d, MaskedLinear
from vietai_compress.pruning import prune_by_std
from vietai_compress.quantization import SharedLinear, share_weights, weight_layers
from vietai_compress.storage import load_compressed, save_compressed
from vietai_compress.vcz import MAGIC, VERSION, gaps_to_positions, positions_to_gaps, read_file, size_report


@pytest.mark.parametrize("gap_bits", [2, 5, 8])
def test_relative_positions_round_trip_with_fillers(gap_bits):
    rng = np.random.default_rng(gap_bits)
    positions = np.sort(rng.choice(5000, size=300, replace=False))
    positions = np.concatenate([[0], positions[positions > 0], [9999]])  # a first weight and a long gap
    symbols = positions_to_gaps(positions, gap_bits)
    assert symbols.max() <= 2 ** gap_bits - 1
    assert np.array_equal(gaps_to_positions(symbols, gap_bits), positions)


def test_fillers_follow_deep_compressions_rule():
    # 3-bit gaps: the filler 7 skips 7 zeros; positions 1 and 20 -> gaps 1 and 18 = 7 + 7 + 4
    assert positions_to_gaps(np.array([1, 20]), 3).tolist() == [1, 7, 7, 4]
    assert gaps_to_positions(np.array([1, 7, 7, 4]), 3).tolist() == [1, 20]
    assert positions_to_gaps(np.array([], dtype=np.int64), 5).size == 0




def _shared(model, s=1.0, bits=3):
    prune_by_std(model, s)
    return share_weights(model, bits=bits)


@pytest.mark.parametrize("make, x", [(tiny_masked_mlp, torch.randn(16, 4)),
                                     (TinyConvNet, torch.randn(4, 1, 8, 8)),
                                     (LeNet300100, torch.randn(8, 784))])
def test_loaded_model_gives_exactly_the_same_outputs(tmp_path, make, x):
    torch.manual_seed(0)
    model = make()
    codebooks = _shared(model)
    path = save_compressed(model, tmp_path / "m.vcz")
    fresh = make()
    loaded = load_compressed(path, fresh)
    model.eval(), fresh.eval()
    assert torch.equal(model(x), fresh(x))
    for (name, a), (_, b) in zip(weight_layers(model), weight_layers(fresh)):
        assert torch.equal(a.weight, b.weight) and torch.equal(a.mask, b.mask)
        assert torch.equal(loaded[name].labels, codebooks[name].labels)


def test_conv_layers_use_8_bit_gaps_and_linear_5(tmp_path):
    torch.manual_seed(0)
    model = TinyConvNet()
    _shared(model)
    path = save_compressed(model, tmp_path / "m.vcz")
    _, layers = read_file(path)
    assert [(s.kind, s.gap_bits) for s in layers] == [("conv", 8), ("linear", 5)]


@pytest.mark.parametrize("gap_bits, expected", [(3, [3, 3]), ({"conv": 4}, [4, 5]), ({"linear": 2, "conv": 6}, [6, 2])])
def test_gap_bits_are_chosen_per_call_and_read_back(tmp_path, gap_bits, expected):
    torch.manual_seed(0)
    model = TinyConvNet()
    _shared(model)
    path = save_compressed(model, tmp_path / "m.vcz", gap_bits=gap_bits)
    assert [s.gap_bits for s in read_file(path)[1]] == expected
    fresh = TinyConvNet()
    load_compressed(path, fresh)
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(model(x), fresh(x))


@pytest.mark.parametrize("gap_bits, error", [(0, ValueError), (17, ValueError), (2.5, TypeError),
                                             ({"fc": 5}, ValueError), ({"conv": "8"}, TypeError)])
def test_bad_gap_bits_are_refused(tmp_path, gap_bits, error):
    model = tiny_masked_mlp()
    _shared(model)
    with pytest.raises(error, match="gap_bits"):
        save_compressed(model, tmp_path / "m.vcz", gap_bits=gap_bits)


def test_file_is_much_smaller_than_dense(tmp_path):
    torch.manual_seed(0)
    model = LeNet300100()
    _shared(model, s=1.5, bits=4)
    path = save_compressed(model, tmp_path / "m.vcz")
    report = size_report(path)
    assert report.file_bytes == path.stat().st_size
    assert report.dense_bytes == 1_066_440
    assert report.ratio > 5
    rows = report.rows()
    assert [r["layer"] for r in rows] == ["fc1", "fc2", "fc3", "total"]
    assert all(r["weight_bits"] == 4 for r in rows[:3])
    assert rows[-1]["bytes"] == path.stat().st_size > sum(r["bytes"] for r in rows[:3])  # + header and names
    for row, layer in zip(rows, report.layers):  # Huffman never loses to 4 fixed bits,
        assert row["weight_bits_huffman"] <= 4 + 8 / layer.n  # but the stream is padded to whole bytes
    assert f"{path.stat().st_size:,} byte" in report.table(lang="vi")
    with pytest.raises(ValueError, match="lang"):
        report.table(lang="de")


def test_an_all_zero_layer_round_trips(tmp_path):
    model = tiny_masked_mlp()
    with torch.no_grad():
        model[2].weight.zero_()
    share_weights(model, bits=2)
    path = save_compressed(model, tmp_path / "m.vcz")
    fresh = tiny_masked_mlp(seed=5)
    load_compressed(path, fresh)
    assert torch.all(fresh[2].weight == 0) and torch.all(fresh[2].mask == 0)


def _saved(tmp_path):
    torch.manual_seed(0)
    model = tiny_masked_mlp()
    _shared(model)
    return save_compressed(model, tmp_path / "m.vcz")


def _assert_rejected_and_untouched(path, match):
    target = tiny_masked_mlp(seed=3)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        load_compressed(path, target)
    for key, value in target.state_dict().items():
        assert torch.equal(value, before[key])


def test_truncated_file_is_rejected(tmp_path):
    path = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[:-10])
    _assert_rejected_and_untouched(path, "truncated")


def test_flipped_byte_is_rejected(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    _assert_rejected_and_untouched(path, "checksum")


def test_wrong_magic_is_rejected(tmp_path):
    path = _saved(tmp_path)
    path.write_bytes(b"PK\x03\x04" + path.read_bytes()[4:])
    _assert_rejected_and_untouched(path, "magic")


def test_newer_version_is_rejected(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(MAGIC + struct.pack("<H", VERSION + 1) + data[10:])
    _assert_rejected_and_untouched(path, "newer")


def test_inconsistent_payload_with_valid_checksum_is_rejected(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    payload = data[18:-3]  # cut inside the last stream, then re-sign it
    header = struct.pack("<8sHII", MAGIC, VERSION, len(payload), zlib.crc32(payload))
    path.write_bytes(header + payload)
    _assert_rejected_and_untouched(path, "truncated")


def test_model_with_other_shapes_is_rejected_untouched(tmp_path):
    path = _saved(tmp_path)
    other = nn.Sequential(MaskedLinear(4, 8), nn.ReLU(), MaskedLinear(8, 3), nn.LogSoftmax(dim=1))
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(ValueError, match="shape"):
        load_compressed(path, other)
    for key, value in other.state_dict().items():
        assert torch.equal(value, before[key])
    with pytest.raises(ValueError, match="layers"):
        load_compressed(path, LeNet300100())


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.vcz"):
        load_compressed(tmp_path / "nope.vcz", tiny_masked_mlp())


def test_a_model_that_is_not_shared_is_refused(tmp_path):
    model = tiny_masked_mlp()
    prune_by_std(model, 1.0)
    with pytest.raises(ValueError, match="share_weights"):
        save_compressed(model, tmp_path / "m.vcz")


def test_unsupported_parameters_are_refused(tmp_path):
    model = nn.Sequential(MaskedLinear(4, 4), nn.BatchNorm1d(4))
    share_weights(model, bits=2)
    with pytest.raises(ValueError, match="only masked and shared layers"):
        save_compressed(model, tmp_path / "m.vcz")


def test_a_loaded_model_has_shared_layers_and_can_be_saved_again(tmp_path):
    path = _saved(tmp_path)
    model = tiny_masked_mlp(seed=3)
    load_compressed(path, model)
    assert isinstance(model[0], SharedLinear)
    again = save_compressed(model, tmp_path / "again.vcz")
    assert again.read_bytes() == path.read_bytes()


# ---------------------------------------------------------------- crafted files: valid CRC, bad content
# The tiny MLP's file: payload = name "custom" (1 + 6 bytes) | layer count (2) | first layer "0" (1 + 1)
# | kind (1) | ndim (1) | shape 16 x 4 (8) | gap bits (1) | k (4) | has_bias (1) | centroids ...
_LAYER = 1 + 6 + 2 + 2
_FIELDS = {  # field: (offset in the payload, struct format, bad value, what the error names)
    "layer count": (7, "<H", 3, "truncated"),
    "model name": (1, "<B", 0xFF, "UTF-8"),
    "layer name": (_LAYER - 1, "<B", 0xFF, "UTF-8"),
    "kind": (_LAYER, "<B", 7, "kind byte is 7"),
    "ndim": (_LAYER + 1, "<B", 3, "number of dimensions"),
    "shape: zero": (_LAYER + 2, "<I", 0, "dimension"),
    "shape: too small for the positions": (_LAYER + 6, "<I", 1, "do not fit"),
    "shape: more weights than a file can hold": (_LAYER + 2, "<I", 2 ** 31 - 1, "number of weights"),
    "gap bits: zero": (_LAYER + 10, "<B", 0, "gap bits"),
    "gap bits: too many": (_LAYER + 10, "<B", 40, "gap bits"),
    "k: more centroids than weights": (_LAYER + 11, "<I", 65, "number of centroids"),
    "k: fewer than the labels need": (_LAYER + 11, "<I", 0, "truncated|centroid|Kraft|corrupt|fit"),
    "bias flag": (_LAYER + 15, "<B", 2, "bias flag"),
    "centroid: NaN": (_LAYER + 16, "<f", math.nan, "not a finite number"),
    "centroid: inf": (_LAYER + 16, "<f", math.inf, "not a finite number"),
}


def _payload(path):
    data = path.read_bytes()
    return bytearray(data[18:])


def _resigned(path, payload):
    header = struct.pack("<8sHII", MAGIC, VERSION, len(payload), zlib.crc32(bytes(payload)))
    path.write_bytes(header + bytes(payload))


@pytest.mark.parametrize("field", list(_FIELDS))
def test_a_crafted_field_with_a_valid_checksum_is_a_value_error(tmp_path, field):
    path = _saved(tmp_path)
    offset, fmt, value, match = _FIELDS[field]
    payload = _payload(path)
    assert payload[1:7] == b"custom" and payload[_LAYER - 1:_LAYER + 2] == b"0\x00\x02"  # the layout above
    struct.pack_into(fmt, payload, offset, value)
    _resigned(path, payload)
    _assert_rejected_and_untouched(path, match)


def test_a_crafted_code_table_or_symbol_count_is_a_value_error(tmp_path):
    path = _saved(tmp_path)
    _, layers = read_file(path)
    stream_start = _LAYER + 16 + 4 * (layers[0].k + 16)  # after the centroids and the 16 biases
    for offset, fmt, value, match in [(stream_start, "<B", 60, "code lengths"),  # a code longer than allowed
                                      (stream_start + 32, "<I", 10 ** 9, "cannot fit")]:  # symbols > bits
        payload = _payload(path)
        struct.pack_into(fmt, payload, offset, value)
        _resigned(path, payload)
        _assert_rejected_and_untouched(path, match)


def test_extra_bytes_after_the_last_layer_are_refused(tmp_path):
    path = _saved(tmp_path)
    _resigned(path, _payload(path) + b"\x00")
    _assert_rejected_and_untouched(path, "unread bytes")


def test_a_file_of_a_conv_layer_is_refused_by_a_linear_model(tmp_path):
    torch.manual_seed(0)
    conv = nn.Sequential(MaskedConv2d(1, 16, 2))  # weight (16, 1, 2, 2): as many weights as a 16 x 4 linear
    _shared(conv)
    path = save_compressed(conv, tmp_path / "conv.vcz")
    _assert_rejected_and_untouched(path, "layers|conv")


def test_the_cli_reports_a_crafted_file_in_one_line(tmp_path, capsys):
    from vietai_compress.cli import main

    path = _saved(tmp_path)
    payload = _payload(path)
    payload[_LAYER] = 7
    _resigned(path, payload)
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kind byte" in err


def test_write_is_atomic(tmp_path):
    path = _saved(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.vcz"]
    assert path.read_bytes()[:8] == MAGIC


def test_a_grouped_strided_padded_conv_round_trips(tmp_path):
    torch.manual_seed(0)
    make = lambda: nn.Sequential(MaskedConv2d(4, 8, 3, stride=2, padding=1, groups=2), nn.Flatten(),
                                 MaskedLinear(8 * 4 * 4, 10))
    model = make()
    _shared(model, s=0.5, bits=4)
    path = save_compressed(model, tmp_path / "g.vcz")
    fresh = make()
    load_compressed(path, fresh)
    x = torch.randn(3, 4, 8, 8)
    assert torch.equal(model(x), fresh(x))
    assert read_file(path)[1][0].shape == (8, 2, 3, 3)  # (out, in / groups, kh, kw)


def test_lenet5_round_trips_with_8_bit_conv_gaps_and_per_layer_bits(tmp_path):
    from vietai_compress.models import LeNet5

    torch.manual_seed(0)
    model = LeNet5()
    prune_by_std(model, 1.0)
    share_weights(model, bits={"conv1": 8, "conv2": 8, "fc1": 5, "fc2": 5})
    path = save_compressed(model, tmp_path / "lenet5.vcz")
    name, layers = read_file(path)
    assert name == "lenet5" and [(s.kind, s.gap_bits) for s in layers] == [("conv", 8), ("conv", 8),
                                                                             ("linear", 5), ("linear", 5)]
    assert size_report(path).dense_bytes == 1_724_320
    fresh = LeNet5()
    load_compressed(path, fresh)
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(model(x), fresh(x))
    with pytest.raises(ValueError, match="layers"):
        load_compressed(path, LeNet300100())  # a file written for one model is refused by the other
