import math

import numpy as np
import pytest
import scipy.sparse
import torch
import torch.nn as nn

from vietai_compress.compression import compression_rate, index_bits, model_size_report
from vietai_compress.models import LeNet300100, MaskedLinear
from vietai_compress.pruning import prune_by_std
from vietai_compress.quantization import share_weights


def test_the_articles_4x4_example_gives_3_2():
    assert compression_rate(16, 32, 4) == pytest.approx(3.2)


def test_compression_rate_formula():
    n, b, k = 1000, 32, 32
    assert compression_rate(n, b, k) == pytest.approx(n * b / (n * 5 + k * b))
    assert compression_rate(10, 32, 1) == pytest.approx(10.0)  # one centroid: indices cost nothing


@pytest.mark.parametrize("args", [(0, 32, 4), (16, 0, 4), (16, 32, 0), (16, 32, math.nan)])
def test_compression_rate_rejects_values_below_1(args):
    with pytest.raises(ValueError, match="must be a finite number >= 1"):
        compression_rate(*args)


def test_compression_rate_rejects_a_string():
    with pytest.raises(TypeError, match="n must be a real number"):
        compression_rate("16", 32, 4)


def test_index_bits():
    assert [index_bits(k) for k in (1, 2, 3, 4, 5, 32, 33)] == [0, 1, 2, 2, 3, 5, 6]


def _small_model():
    torch.manual_seed(0)
    layer = MaskedLinear(20, 6)
    model = nn.Sequential(layer)
    prune_by_std(model, 1.0)
    return model, layer


def test_size_report_dense_and_csr_match_scipy():
    model, layer = _small_model()
    report = model_size_report(model)
    row = report.rows[0]
    w = layer.weight.detach().numpy()
    csr = scipy.sparse.csr_matrix(w)
    assert row.dense_bits == (120 + 6) * 32
    assert row.nonzeros == np.count_nonzero(w)
    assert row.pruned_bits == 8 * (csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes) + 6 * 32
    assert report.total_bytes("dense") == 126 * 4
    with pytest.raises(ValueError, match="share_weights"):
        report.total_bits("shared")


def test_size_report_of_a_shared_model_counts_indices_codebook_and_structure():
    model, layer = _small_model()
    share_weights(model, bits=2)
    row = model_size_report(model).rows[0]
    nnz = row.nonzeros
    assert row.k == 4
    assert row.shared_bits == nnz * 2 + 4 * 32 + row.csr_index_bits + 6 * 32
    assert row.csr_index_bits == 32 * (nnz + 6 + 1)  # int32 column index per nonzero + 7 row pointers


def test_lenet_dense_size_is_1066440_bytes():
    report = model_size_report(LeNet300100())
    assert report.total_bytes("dense") == 1_066_440
    assert "total" in report.table()


def test_total_bytes_is_the_sum_of_the_rows_the_table_prints():
    model = LeNet300100()
    prune_by_std(model, 2.0)
    share_weights(model, bits=5)
    report = model_size_report(model)
    for stage in ("dense", "pruned", "shared"):
        assert report.total_bytes(stage) == sum(-(-getattr(row, f"{stage}_bits") // 8) for row in report.rows)
        assert 0 <= report.total_bytes(stage) - report.total_bits(stage) / 8 < len(report.rows)


def test_size_table_speaks_vietnamese_on_request_and_rejects_other_languages():
    report = model_size_report(LeNet300100())
    assert "tổng" in report.table(lang="vi") and "total" not in report.table(lang="vi")
    with pytest.raises(ValueError, match="lang"):
        report.table(lang="fr")


def test_a_model_without_masked_layers_is_an_error():
    with pytest.raises(ValueError, match="no masked or shared layer"):
        model_size_report(nn.Linear(2, 2))


def test_breakdown_adds_up_to_the_totals():
    model, _ = _small_model()
    share_weights(model, bits=2)
    report = model_size_report(model)
    for stage in ("dense", "pruned", "shared"):
        assert sum(report.breakdown(stage).values()) == pytest.approx(report.total_bits(stage) / 8)
    with pytest.raises(ValueError, match="stage"):
        report.breakdown("zipped")


def test_layer_costs_count_weights_and_macs_per_output_position():
    from vietai_compress.compression import layer_costs
    from vietai_compress.models import LeNet5
    from vietai_compress.pruning import prune_by_std

    model = LeNet5()
    costs = {c.name: c for c in layer_costs(model)}
    assert {n: (c.weights, c.macs) for n, c in costs.items()} == {
        "conv1": (500, 500 * 24 * 24), "conv2": (25_000, 25_000 * 8 * 8), "fc1": (400_000, 400_000), "fc2": (5_000, 5_000)}
    assert all(c.nonzeros == c.weights and c.nonzero_macs == c.macs for c in costs.values())
    prune_by_std(model, 1.0)
    for c in layer_costs(model):
        layer = dict(model.named_modules())[c.name]
        positions = c.macs // c.weights
        assert c.nonzeros == int(layer.weight.count_nonzero()) < c.weights and c.nonzero_macs == c.nonzeros * positions
