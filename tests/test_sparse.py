import pytest
import torch
import torch.nn as nn

from vietai_compress.models import LeNet300100, MaskedConv2d, MaskedLinear
from vietai_compress.pruning import prune_by_std
from vietai_compress.sparse import SparseMLP, seconds_per_call


@pytest.mark.parametrize("backend", ["torch", "scipy"])
def test_sparse_mlp_matches_the_dense_model(backend):
    torch.manual_seed(0)
    model = LeNet300100()
    prune_by_std(model, 1.0)
    x = torch.randn(3, 1, 28, 28)
    sparse = SparseMLP(model, backend)
    assert torch.allclose(sparse(x), model(x), atol=1e-5)
    assert torch.allclose(sparse(x[:1]), model(x[:1]), atol=1e-5)


def test_sparse_mlp_stores_only_the_nonzeros():
    torch.manual_seed(0)
    model = LeNet300100()
    prune_by_std(model, 1.0)
    sparse = SparseMLP(model, "torch")
    assert sum(w.values().numel() for w in sparse.weights) == sum(int(m.mask.sum()) for m in
                                                                  (model.fc1, model.fc2, model.fc3))


def test_sparse_mlp_rejects_conv_models_and_bad_backends():
    with pytest.raises(TypeError, match="MaskedLinear"):
        SparseMLP(nn.Sequential(MaskedConv2d(1, 1, 3)))
    with pytest.raises(ValueError, match="backend"):
        SparseMLP(nn.Sequential(MaskedLinear(2, 2)), "cuda")


def test_seconds_per_call_is_positive_and_small_for_a_noop():
    t = seconds_per_call(lambda: None, repeat=2, min_time=0.01)
    assert 0 < t < 1e-3
