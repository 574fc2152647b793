import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.sparse
import torch
from matplotlib.figure import Figure

from helpers import TinyConvNet, tiny_masked_mlp
from vietai_compress import diagrams
from vietai_compress.huffman import HuffmanCode, code_lengths
from vietai_compress.linear_quant import dequantize, quantize, tensor_qparams
from vietai_compress.models import LeNet5, LeNet300100
from vietai_compress.pruning import prune_by_std
from vietai_compress.quantization import cluster_values, share_weights
from vietai_compress.storage import save_compressed
from vietai_compress.vcz import read_file

ARTICLE_W = np.array([[2.09, -0.98, 1.48, 0.09],  # Deep Compression's Figure 3, as notebook 05 writes it
                      [0.05, -0.14, -1.08, 2.12],
                      [-0.91, 1.92, 0.00, -1.03],
                      [1.87, 0.00, 1.53, 1.49]])
TEXTBOOK_COUNTS = [45, 13, 12, 16, 9, 5]  # CLRS's a..f


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _texts(fig, gid):
    """The strings of every text a figure shows under ``gid``, in drawing order."""
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == gid]


def _offsets(fig, gid):
    return np.asarray(next(c for ax in fig.axes for c in ax.collections if c.get_gid() == gid).get_offsets())


def _title(fig):
    return " ".join(ax.get_title() for ax in fig.axes)


def _pixels(fig):
    fig.set_dpi(30)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


# ---------------------------------------------------------------- LeNet-300-100 and its mask
def test_lenet300_diagram_draws_w_times_m_with_pruned_cells_at_zero():
    weight, mask = diagrams.example_weight_and_mask()
    fig = diagrams.lenet300_diagram()
    assert isinstance(fig, Figure)
    assert _texts(fig, "weight") == [f"{v:.2f}" if v else "0" for v in weight.ravel()]
    assert _texts(fig, "mask") == [f"{v:.0f}" for v in mask.ravel()]
    assert _texts(fig, "product") == [f"{v:.2f}" if v else "0" for v in (weight * mask).ravel()]
    assert f"giữ {int(mask.sum())}/{mask.size}" in _title(fig) and 0 < mask.sum() < mask.size


def test_lenet300_diagram_draws_a_real_block_of_a_model():
    torch.manual_seed(0)
    model = LeNet300100()
    prune_by_std(model, 1.0)
    weight, mask = model.fc2.weight[:8, :8], model.fc2.mask[:8, :8]
    fig = diagrams.lenet300_diagram(weight, mask, layer="fc2")
    assert _texts(fig, "product").count("0") == int((mask == 0).sum())
    assert "W: trọng số của fc2\n(8×8 ô đầu tiên)" in [ax.get_title() for ax in fig.axes]


@pytest.mark.parametrize("kwargs, error, words", [
    ({"weight": np.ones((3, 3))}, ValueError, "both weight and mask"),
    ({"weight": np.ones((9, 9)), "mask": np.ones((9, 9))}, ValueError, "at most 8x8"),
    ({"weight": np.ones((3, 3)), "mask": np.full((3, 3), 0.5)}, ValueError, "only 0 and 1"),
    ({"weight": np.ones((3, 3)), "mask": np.ones((3, 4))}, ValueError, "same shape"),
    ({"weight": "W", "mask": np.ones((3, 3))}, TypeError, "weight must be a torch tensor or a numpy array"),
    ({"layer": "fc4"}, ValueError, "layer must be one of"),
])
def test_lenet300_diagram_rejects_bad_blocks(kwargs, error, words):
    with pytest.raises(error, match=words):
        diagrams.lenet300_diagram(**kwargs)


def test_mask_image_counts_the_units_reading_each_pixel_and_the_unread_pixels():
    rng = np.random.default_rng(0)
    mask = (rng.random((300, 784)) < 0.1).astype(np.float32)
    mask[:, :50] = 0  # 50 pixels nobody reads, plus the random ones
    unread = int((mask.sum(axis=0) == 0).sum())
    assert unread >= 50 and diagrams.unread_pixels(mask) == unread
    for given in (mask, torch.from_numpy(mask)):
        fig = diagrams.mask_as_image(given)
        image = fig.axes[0].images[0].get_array()
        assert np.array_equal(image.filled(0), mask.sum(axis=0).reshape(28, 28))
        assert int(image.mask.sum()) == unread  # the pixels drawn in red
        assert f"{unread:,} / 784 điểm ảnh không còn nơ-ron nào đọc" in fig.axes[0].get_title()
        assert len(fig.axes) == 2  # the image and its colour bar


@pytest.mark.parametrize("mask, error, words", [
    (np.ones((300, 100)), ValueError, r"mask_fc1 must be fc1's mask of shape \(units, 784\)"),
    (np.ones(784), ValueError, "mask_fc1 must have 2 dimension"),
    (np.full((3, 784), 2.0), ValueError, "mask_fc1 must hold only 0 and 1"),
    ([["a"] * 784], TypeError, "mask_fc1 must hold numbers"),
])
def test_mask_image_rejects_what_is_not_fc1s_mask(mask, error, words):
    with pytest.raises(error, match=words):
        diagrams.mask_as_image(mask)


# ---------------------------------------------------------------- CSR
@pytest.mark.parametrize("matrix", [ARTICLE_W, ARTICLE_W * (np.abs(ARTICLE_W) > 1.2), np.eye(3)[:, :2]])
def test_csr_arrays_show_scipys_three_arrays(matrix):
    csr = scipy.sparse.csr_matrix(matrix)
    fig = diagrams.csr_arrays(torch.tensor(matrix))
    assert [float(t) for t in _texts(fig, "csr-data")] == pytest.approx(np.round(csr.data, 2))
    assert [int(t) for t in _texts(fig, "csr-indices")] == csr.indices.tolist()
    assert [int(t) for t in _texts(fig, "csr-indptr")] == csr.indptr.tolist()
    assert [float(t) for t in _texts(fig, "csr-cell")] == pytest.approx(np.round(matrix.ravel(), 2))
    assert "-0" not in _texts(fig, "csr-cell")


@pytest.mark.parametrize("matrix, words", [(np.ones((9, 2)), "at most 8x8"), (np.zeros((3, 3)), "between 1 and 24"),
                                           (np.ones((5, 5)), "between 1 and 24")])
def test_csr_arrays_reject_matrices_too_big_to_read(matrix, words):
    with pytest.raises(ValueError, match=f"matrix must .*{words}"):
        diagrams.csr_arrays(matrix)


# ---------------------------------------------------------------- Huffman
def _expected_codes(counts):
    code = HuffmanCode(code_lengths(np.asarray(counts)))
    return {s: format(int(code.codes[s]), f"0{int(code.lengths[s])}b") for s in np.flatnonzero(code.lengths)}


def test_huffman_tree_of_the_textbook_example_is_the_packages_canonical_code():
    fig = diagrams.huffman_tree(TEXTBOOK_COUNTS, symbols="abcdef")
    codes = dict(zip(_texts(fig, "huffman-symbol"), _texts(fig, "huffman-code")))
    assert codes == {"a": "0", "b": "100", "c": "101", "d": "110", "e": "1110", "f": "1111"}
    assert codes == {"abcdef"[s]: c for s, c in _expected_codes(TEXTBOOK_COUNTS).items()}
    assert dict(zip(_texts(fig, "huffman-symbol"), _texts(fig, "huffman-count"))) == dict(
        zip("abcdef", map(str, TEXTBOOK_COUNTS)))
    assert sorted(_texts(fig, "huffman-edge")) == ["0"] * 5 + ["1"] * 5  # 6 leaves, 5 inner nodes, 10 edges
    assert "2.24 bit" in fig.axes[0].get_title()  # 224 bits for 100 symbols


def test_huffman_tree_of_32_symbols_has_a_leaf_per_used_symbol_with_its_code():
    counts = np.bincount(np.random.default_rng(0).geometric(0.12, 3000).clip(1, 34) - 1, minlength=34)
    counts[[5, 20]] = 0  # unused symbols get no leaf
    fig = diagrams.huffman_tree(counts)
    symbols = [int(s) for s in _texts(fig, "huffman-symbol")]
    assert symbols == [s for s in range(34) if counts[s] > 0]
    assert dict(zip(symbols, _texts(fig, "huffman-code"))) == _expected_codes(counts)
    assert [int(c.replace(",", "")) for c in _texts(fig, "huffman-count")] == counts[symbols].tolist()
    codes = [t for t in fig.axes[0].texts if t.get_gid() == "huffman-code"]
    assert all(t.get_rotation() == 90 for t in codes)  # turned upright to fit 32 leaves


def test_huffman_tree_of_one_symbol_is_one_edge_labelled_0():
    fig = diagrams.huffman_tree([0, 7, 0])
    assert _texts(fig, "huffman-code") == ["0"] and _texts(fig, "huffman-edge") == ["0"]


@pytest.mark.parametrize("counts, symbols, error, words", [
    ([1, 2, 3], "ab", ValueError, "symbols must name each of the 3 counts"),
    ([0, 0], None, ValueError, "counts must have between 1 and 64 positive counts"),
    ([1.5, 2.0], None, TypeError, "counts must be integers"),
    ([[1, 2]], None, ValueError, "counts must be a 1-D array"),
])
def test_huffman_tree_rejects_bad_counts(counts, symbols, error, words):
    with pytest.raises(error, match=words):
        diagrams.huffman_tree(counts, symbols)


# ---------------------------------------------------------------- the .vcz layout


@pytest.mark.parametrize("make", [tiny_masked_mlp, TinyConvNet])
def test_vcz_layout_parts_add_up_exactly_to_the_file_size(tmp_path, make):
    torch.manual_seed(0)
    model = make()
    prune_by_std(model, 0.5)
    share_weights(model, bits=2)
    path = save_compressed(model, tmp_path / "model.vcz")
    size = path.stat().st_size
    rows = diagrams.vcz_byte_parts(path)
    _, layers = read_file(path)
    assert list(rows) == ["tệp"] + [layer.name for layer in layers]
    assert sum(sum(parts.values()) for parts in rows.values()) == size
    for layer in layers:
        parts = rows[layer.name]
        assert sum(parts.values()) == layer.record_bytes
        assert (parts["gap_bits"], parts["index_bits"]) == (layer.gap_bytes, layer.index_bytes)
        assert (parts["centroids"], parts["bias"]) == (4 * layer.k, 4 * layer.biases)
    fig = diagrams.vcz_layout(path)
    printed = [int(word.replace(",", "")) for line in _texts(fig, "vcz-parts") for word in line.split()
               if word.replace(",", "").isdigit()]
    assert sum(printed) == size  # every part's bytes are printed, and they add up to the file
    assert sum(int(t.split(": ")[1].split(" byte")[0].replace(",", "")) for t in _texts(fig, "vcz-row-total")) == size
    assert f"{size:,} byte" in fig.axes[0].get_title()


def test_vcz_layout_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="compressed file not found"):
        diagrams.vcz_layout(tmp_path / "missing.vcz")


# ---------------------------------------------------------------- removing a conv filter
def test_filter_removal_counts_what_leaves_with_a_filter():
    fig = diagrams.filter_removal(conv1_filter=3, conv2_filter=7)
    titles = _title(fig)
    for words in ("−25 trọng số, −1 bias", "−50 × 25 = 1,250 trọng số", "−20 × 25 = 500 trọng số, −1 bias",
                  "kênh 7 mất 16 giá trị", "cột 112-127 không còn: −16 × 500 = 8,000 trọng số"):
        assert words in titles
    grids = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    conv2_inputs, fc1 = grids[2], grids[5]
    assert conv2_inputs.shape == (50, 20) and np.flatnonzero(conv2_inputs.min(axis=0) == 0).tolist() == [3]
    assert fc1.shape == (500, 800) and np.flatnonzero(fc1.min(axis=0) == 0).tolist() == list(range(112, 128))


def test_filter_removal_counts_agree_with_structured_pruning():
    pytest.importorskip("torch_pruning")
    from vietai_compress.structured import prune_units

    weights = lambda model: {name: getattr(model, name).weight.numel() for name in ("conv1", "conv2", "fc1")}
    for keep, lost in (({"conv1": 19 / 20}, {"conv1": 25, "conv2": 1_250, "fc1": 0}),
                       ({"conv2": 49 / 50}, {"conv1": 0, "conv2": 500, "fc1": 8_000})):
        model = LeNet5()
        before = weights(model)
        prune_units(model, keep)
        assert {name: before[name] - n for name, n in weights(model).items()} == lost


@pytest.mark.parametrize("kwargs, error, words", [
    ({"conv1_filter": 20}, ValueError, r"conv1_filter must be an int in \[0, 19\]"),
    ({"conv2_filter": -1}, ValueError, r"conv2_filter must be an int in \[0, 49\]"),
    ({"conv1_filter": 1.0}, TypeError, "conv1_filter must be an int"),
    ({"model": LeNet300100()}, TypeError, "model must be a LeNet-5"),
])
def test_filter_removal_rejects_filters_lenet5_does_not_have(kwargs, error, words):
    with pytest.raises(error, match=words):
        diagrams.filter_removal(**kwargs)


# ---------------------------------------------------------------- the affine grid
@pytest.mark.parametrize("bits, symmetric", [(3, False), (3, True), (4, False), (8, True)])
def test_affine_grid_snaps_each_value_to_dequantize_of_quantize(bits, symmetric):
    values = torch.from_numpy(np.random.default_rng(bits).normal(0.1, 0.5, 25)).float()
    q = tensor_qparams(values, bits, symmetric=symmetric)
    fig = diagrams.affine_grid(values, bits, symmetric)
    assert _offsets(fig, "affine-snapped")[:, 0] == pytest.approx(dequantize(quantize(values, q), q).numpy())
    assert _offsets(fig, "affine-values")[:, 0] == pytest.approx(values.numpy())
    assert f"điểm không Z = {int(q.zero_point)}" in " ".join(t.get_text() for t in fig.axes[0].texts)
    assert f"thang đo S = {float(q.scale):.4g}" in " ".join(t.get_text() for t in fig.axes[0].texts)
    labels = _texts(fig, "affine-q")  # the integers q under the levels, when there are few enough to read
    if bits <= 4:
        assert [int(t.split()[0]) for t in labels] == list(range(-2 ** (bits - 1), 2 ** (bits - 1)))
        assert labels[0].endswith("(không dùng)") == symmetric  # symmetric leaves the most negative q unused
    else:
        assert labels == []


def test_affine_grid_contrasts_with_the_packages_k_means_levels():
    values = np.random.default_rng(0).normal(0.0, 0.5, 40)
    centroids, labels = cluster_values(values, 3)
    fig = diagrams.affine_grid(values, 3, True, kmeans_levels=True)
    assert _offsets(fig, "kmeans-snapped")[:, 0] == pytest.approx(centroids[labels], abs=1e-6)
    given = diagrams.affine_grid(values, 2, False, kmeans_levels=[-0.5, 0.0, 0.5])
    assert set(np.round(_offsets(given, "kmeans-snapped")[:, 0], 6)) <= {-0.5, 0.0, 0.5}
    assert "k-means" in given.axes[0].get_title()


@pytest.mark.parametrize("kwargs, error, words", [
    ({"bits": 1}, ValueError, r"bits must be an int in \[2, 8\]"),
    ({"bits": 9}, ValueError, r"bits must be an int in \[2, 8\]"),
    ({"symmetric": "yes"}, TypeError, "symmetric must be True or False"),
    ({"values": np.zeros(201)}, ValueError, "values must hold between 1 and 200"),
    ({"kmeans_levels": np.zeros(9)}, ValueError, r"kmeans_levels must hold between 1 and 2\*\*bits = 8"),
])
def test_affine_grid_rejects_bad_settings(kwargs, error, words):
    arguments = {"values": np.linspace(-1, 1, 9), "bits": 3, "symmetric": False, **kwargs}
    with pytest.raises(error, match=words):
        diagrams.affine_grid(**arguments)


# ---------------------------------------------------------------- the course map
SCOREBOARD = {"01": (98.46, 1_066_440), "02": (54.70, 133_396), "03": (98.30, 133_396), "04": (98.2, 30_000)}


def test_pipeline_map_shows_the_scoreboard_up_to_the_current_stage():
    fig = diagrams.pipeline_map("03", SCOREBOARD)
    assert _texts(fig, "pipeline-score") == ["98.46%\n1,066,440 byte", "54.70%\n133,396 byte\n(nhỏ hơn 8.0 lần)",
                                             "98.30%\n133,396 byte\n(nhỏ hơn 8.0 lần)", "—", "—", "—"]
    here = [t for t in fig.axes[0].texts if t.get_text() == "bạn đang ở đây"]
    assert len(here) == 1 and here[0].xy[0] == pytest.approx(2 * 2.2)  # over the third box
    assert "06\nHuffman + tệp" in [t.get_text() for t in fig.axes[0].texts]


def test_pipeline_map_without_a_scoreboard_shows_dashes():
    assert _texts(diagrams.pipeline_map("01"), "pipeline-score") == ["—"] * 6


@pytest.mark.parametrize("stage, scoreboard, error, words", [
    ("07", None, ValueError, "stage must be one of"),
    (3, None, TypeError, "stage must be a string"),
    ("02", {"01": (120.0, 10)}, ValueError, r"accuracy \(%\) must be a finite number in \[0.0, 100.0\]"),
    ("02", {"01": (98.0, -1)}, ValueError, "bytes must be an int >= 1"),
    ("02", {"01": 98.0}, TypeError, "must be a pair"),
    ("02", {"1": (98.0, 10)}, ValueError, "scoreboard key must be one of"),
    ("02", [("01", (98.0, 10))], TypeError, "scoreboard must map a stage"),
])
def test_pipeline_map_rejects_bad_stages_and_scores(stage, scoreboard, error, words):
    with pytest.raises(error, match=words):
        diagrams.pipeline_map(stage, scoreboard)


# ---------------------------------------------------------------- every diagram
def _small_file(tmp):
    torch.manual_seed(0)
    model = tiny_masked_mlp()
    prune_by_std(model, 0.5)
    share_weights(model, bits=2)
    return save_compressed(model, tmp / "small.vcz")


DRAW = {
    "lenet300": lambda tmp: diagrams.lenet300_diagram(),
    "mask": lambda tmp: diagrams.mask_as_image(np.eye(300, 784)),
    "vcz": lambda tmp: diagrams.vcz_layout(_small_file(tmp)),
    "csr": lambda tmp: diagrams.csr_arrays(ARTICLE_W),
    "huffman": lambda tmp: diagrams.huffman_tree(TEXTBOOK_COUNTS, "abcdef"),
    "filters": lambda tmp: diagrams.filter_removal(),
    "affine": lambda tmp: diagrams.affine_grid(np.linspace(-1, 2, 12), 3, False, kmeans_levels=True),
    "pipeline": lambda tmp: diagrams.pipeline_map("02", SCOREBOARD),
}


@pytest.mark.parametrize("name", list(DRAW))
def test_diagrams_return_a_figure_and_draw_the_same_every_time(name, tmp_path):
    first, second = DRAW[name](tmp_path), DRAW[name](tmp_path)
    assert isinstance(first, Figure)
    assert np.array_equal(_pixels(first), _pixels(second))


def test_single_panel_diagrams_draw_on_given_axes():
    fig, axes = plt.subplots(1, 3)
    assert diagrams.huffman_tree(TEXTBOOK_COUNTS, ax=axes[0]) is fig
    assert diagrams.affine_grid([0.0, 1.0], 2, False, ax=axes[1]) is fig
    assert diagrams.pipeline_map("05", ax=axes[2]) is fig
    assert len(fig.axes) == 3
