import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import blob_loaders, tiny_masked_mlp
from vietai_compress.models import MaskedLinear, masked_layers
from vietai_compress.pruning import prune_by_std
from vietai_compress.quantization import (INITS, Codebook, cluster_values, distinct_values, fine_tune_centroids, sharing_sweep,
                                          initial_centroids, share_weights)
from vietai_compress.training import make_optimizer, train


def _pruned_layer_model(n_in=64, n_out=32, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(MaskedLinear(n_in, n_out))
    prune_by_std(model, 0.5)
    return model


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("bits", [1, 3, 5])
def test_share_weights_leaves_at_most_2_pow_bits_values_and_zeros_alone(init, bits):
    model = _pruned_layer_model()
    layer = model[0]
    mask_before = layer.mask.clone()
    zeros_before = layer.weight == 0
    codebooks = share_weights(model, bits=bits, init=init)
    assert layer.weight.dtype == torch.float32
    assert torch.all(layer.weight[zeros_before] == 0)
    assert torch.equal(layer.mask, mask_before)
    assert distinct_values(model)["0"] <= 2 ** bits
    cb = codebooks["0"]
    assert cb.centroids.dtype == torch.float32 and cb.k == 2 ** bits
    assert cb.n == int((~zeros_before).sum())
    assert torch.equal(cb.dense(tuple(layer.weight.shape)), layer.weight.detach())


def test_each_weight_goes_to_its_nearest_centroid():
    model = _pruned_layer_model()
    before = model[0].weight.detach().clone()
    cb = share_weights(model, bits=3)["0"]
    values = before.flatten()[cb.positions]
    nearest = (values[:, None] - cb.centroids[None, :]).abs().argmin(dim=1)
    assert torch.equal(nearest, cb.labels)


def test_linear_init_matches_the_article_and_kmeans_converges_from_it():
    values = np.array([-2.0, -1.9, 0.1, 0.2, 1.0, 1.1, 3.0])
    assert np.allclose(initial_centroids(values, 4, "linear"), [-2.0, -1 / 3, 4 / 3, 3.0])
    centroids, labels = cluster_values(values, bits=2)
    assert np.allclose(np.sort(centroids), [-1.95, 0.15, 1.05, 3.0], atol=1e-6)
    assert len(set(labels[:2])) == 1 and labels[0] != labels[2]


def test_density_init_follows_the_cdf_and_random_init_picks_weights():
    values = np.arange(101, dtype=float)
    assert np.allclose(initial_centroids(values, 5, "density"), [0, 25, 50, 75, 100])
    picked = initial_centroids(values, 5, "random", seed=1)
    assert len(set(picked)) == 5 and set(picked) <= set(values)


def test_fewer_distinct_weights_than_clusters_keeps_them_exactly():
    # the article's code raises here (a short run leaves fc3 with 25 weights for 32 clusters)
    layer = MaskedLinear(5, 5)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, :3] = torch.tensor([0.5, -0.25, 0.5])
    codebooks = share_weights(nn.Sequential(layer), bits=5)
    cb = codebooks["0"]
    assert cb.k == 2 and sorted(cb.centroids.tolist()) == [-0.25, 0.5]
    assert torch.equal(layer.weight[0, :3], torch.tensor([0.5, -0.25, 0.5]))


def test_all_zero_layer_is_left_alone():
    layer = MaskedLinear(3, 3)
    with torch.no_grad():
        layer.weight.zero_()
    cb = share_weights(nn.Sequential(layer), bits=2)["0"]
    assert cb.k == 0 and cb.n == 0 and torch.all(layer.weight == 0)


@pytest.mark.parametrize("bits", [0, 17, 2.5, True, "5"])
def test_bits_outside_1_16_is_an_error(bits):
    with pytest.raises(ValueError, match=r"bits must be an int in \[1, 16\]"):
        share_weights(_pruned_layer_model(), bits=bits)


def test_unknown_init_is_an_error():
    with pytest.raises(ValueError, match="init must be one of"):
        share_weights(_pruned_layer_model(), init="median")


def _trained_pruned_shared():
    torch.manual_seed(0)
    train_loader, test_loader = blob_loaders()
    model = tiny_masked_mlp()
    train(model, train_loader, make_optimizer(model, lr=0.01), 3, "cpu", progress=False)
    prune_by_std(model, 0.5)
    codebooks = share_weights(model, bits=2)
    return model, codebooks, train_loader, test_loader


def test_fine_tuning_moves_centroids_by_the_summed_gradient():
    model, codebooks, loader, _ = _trained_pruned_shared()
    images, labels = next(iter(loader))
    one_batch = [(images, labels)]
    layer = dict(masked_layers(model))["0"]
    model.zero_grad()
    torch.nn.functional.nll_loss(model(images), labels).backward()
    cb = codebooks["0"]
    expected_grad = torch.zeros(cb.k).index_add_(0, cb.labels, layer.weight.grad.flatten()[cb.positions])
    before = cb.centroids.clone()
    fine_tune_centroids(model, codebooks, one_batch, 1, lr=1e-3, device="cpu", progress=False)
    step = codebooks["0"].centroids - before
    # Adam's first step moves every parameter by lr against the sign of its gradient
    nonzero = expected_grad != 0
    assert torch.allclose(step[nonzero], -1e-3 * expected_grad[nonzero].sign(), atol=1e-6)


def test_fine_tuning_keeps_assignments_zeros_and_at_most_k_values():
    model, codebooks, loader, test_loader = _trained_pruned_shared()
    masks = {name: layer.mask.clone() for name, layer in masked_layers(model)}
    labels = {name: cb.labels.clone() for name, cb in codebooks.items()}
    history = fine_tune_centroids(model, codebooks, loader, 2, lr=1e-3, device="cpu", progress=False,
                                  eval_loader=test_loader)
    assert len(history["loss"]) == 2 and len(history["test_accuracy"]) == 2
    for name, layer in masked_layers(model):
        assert torch.all(layer.weight[masks[name] == 0] == 0)
        assert torch.equal(codebooks[name].labels, labels[name])
        assert distinct_values(model)[name] <= codebooks[name].k
        assert torch.equal(codebooks[name].dense(tuple(layer.weight.shape)), layer.weight.detach())


def test_fine_tuning_rejects_codebooks_of_unknown_layers():
    model, codebooks, loader, _ = _trained_pruned_shared()
    codebooks["fc9"] = codebooks["0"]
    with pytest.raises(ValueError, match="fc9"):
        fine_tune_centroids(model, codebooks, loader, 1, device="cpu", progress=False)


def test_codebook_dense():
    cb = Codebook(torch.tensor([1.5, -2.0]), torch.tensor([0, 3]), torch.tensor([1, 0]))
    assert torch.equal(cb.dense((2, 2)), torch.tensor([[-2.0, 0.0], [0.0, 1.5]]))


def test_sharing_sweep_reports_every_setting_and_leaves_the_model_alone():
    model, _, loader, test_loader = _trained_pruned_shared()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rows = sharing_sweep(model, [1, 2], loader, test_loader, inits=("linear", "density"), fine_tune=1,
                         device="cpu", progress=False)
    assert [(r["init"], r["bits"]) for r in rows] == [("linear", 1), ("linear", 2), ("density", 1), ("density", 2)]
    assert all(0 <= r["accuracy"] <= 100 and 0 <= r["fine_tuned"] <= 100 for r in rows)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key])
    assert "fine_tuned" not in sharing_sweep(model, [2], loader, test_loader, device="cpu", progress=False)[0]


def test_a_tiny_weight_in_its_own_cluster_does_not_become_zero():
    # a weight decayed to ~1e-38 during retraining; scikit-learn's centring would round its centroid to 0
    values = np.array([-1.5, -1.0, -0.9, 1.0, 1.1, -4.2e-38, 2.0, 1.5, 0.7, -0.6, 0.3, -0.3] * 2)
    centroids, labels = cluster_values(values, bits=3)
    assert np.all(centroids[labels] != 0)
    for c in range(len(centroids)):
        members = values[labels == c]
        if len(members):
            assert centroids[c] == np.float32(members.mean())
