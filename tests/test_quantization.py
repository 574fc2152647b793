import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import blob_loaders, tiny_masked_mlp
from vietai_compress.models import MaskedLinear
from vietai_compress.pruning import prune_by_std
from vietai_compress.quantization import (INITS, Codebook, SharedConv2d, SharedLinear, cluster_values,
                                          distinct_values, fine_tune_centroids, initial_centroids, model_codebooks,
                                          share_weights, shared_layers, sharing_sweep, strip_sharing, weight_layers)
from vietai_compress.models import MaskedConv2d
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
    mask_before = model[0].mask.clone()
    zeros_before = model[0].weight == 0
    codebooks = share_weights(model, bits=bits, init=init)
    layer = model[0]
    assert isinstance(layer, SharedLinear)
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
    model = nn.Sequential(layer)
    cb = share_weights(model, bits=5)["0"]
    assert cb.k == 2 and sorted(cb.centroids.tolist()) == [-0.25, 0.5]
    assert torch.equal(model[0].weight[0, :3], torch.tensor([0.5, -0.25, 0.5]))


def test_all_zero_layer_is_left_alone():
    layer = MaskedLinear(3, 3)
    with torch.no_grad():
        layer.weight.zero_()
    model = nn.Sequential(layer)
    cb = share_weights(model, bits=2)["0"]
    assert cb.k == 0 and cb.n == 0 and torch.all(model[0].weight == 0)
    assert torch.equal(model(torch.ones(2, 3)), layer(torch.ones(2, 3)))


@pytest.mark.parametrize("bits, error", [(0, ValueError), (17, ValueError), (2.5, TypeError), (True, TypeError),
                                         ("5", TypeError)])
def test_bits_outside_1_16_is_an_error(bits, error):
    with pytest.raises(error, match=r"bits must be an int"):
        share_weights(_pruned_layer_model(), bits=bits)


@pytest.mark.parametrize("init, error", [("median", ValueError), (None, TypeError)])
def test_unknown_init_is_an_error(init, error):
    with pytest.raises(error, match="init must be"):
        share_weights(_pruned_layer_model(), init=init)


def test_shared_layer_computes_what_the_masked_layer_did():
    torch.manual_seed(0)
    model = nn.Sequential(MaskedConv2d(2, 3, 3, stride=2, padding=1), nn.Flatten(), MaskedLinear(3 * 4 * 4, 5))
    prune_by_std(model, 0.5)
    x = torch.randn(4, 2, 8, 8)
    share_weights(model, bits=8)  # 8 bits: more centroids than weights, so every weight is kept exactly
    assert [type(m) for _, m in shared_layers(model)] == [SharedConv2d, SharedLinear]
    plain = strip_sharing(model)
    assert [type(m) for _, m in weight_layers(plain)] == [MaskedConv2d, MaskedLinear]
    assert torch.allclose(plain(x), nn.Sequential(*plain)(x))
    share_weights(plain, bits=8)
    assert torch.equal(plain(x), model(x))


def test_strip_sharing_gives_back_the_same_weights_masks_and_outputs():
    model = _pruned_layer_model()
    share_weights(model, bits=3)
    x = torch.randn(7, 64)
    shared_out, weight, mask = model(x), model[0].weight.detach().clone(), model[0].mask.clone()
    strip_sharing(model)
    assert isinstance(model[0], MaskedLinear)
    assert torch.equal(model[0].weight, weight) and torch.equal(model[0].mask, mask)
    assert torch.equal(model(x), shared_out)


def test_centroid_gradient_is_the_summed_gradient_of_its_weights():
    model = _pruned_layer_model()
    x, target = torch.randn(16, 64), torch.randint(0, 32, (16,))
    share_weights(model, bits=3)
    layer = model[0]
    weight = layer.weight.detach().requires_grad_()  # the same weights as a plain tensor
    torch.nn.functional.cross_entropy(torch.nn.functional.linear(x, weight, layer.bias), target).backward()
    torch.nn.functional.cross_entropy(model(x), target).backward()
    expected = torch.zeros(8).index_add_(0, layer.labels, weight.grad.flatten()[layer.positions])
    assert torch.allclose(layer.centroids.grad, expected, atol=1e-7)
    assert layer.positions.grad is None and not layer.labels.requires_grad


def _trained_pruned():
    torch.manual_seed(0)
    train_loader, test_loader = blob_loaders()
    model = tiny_masked_mlp()
    train(model, train_loader, make_optimizer(model, lr=0.01), 3, "cpu", progress=False)
    prune_by_std(model, 0.5)
    return model, train_loader, test_loader


def _trained_pruned_shared():
    model, train_loader, test_loader = _trained_pruned()
    codebooks = share_weights(model, bits=2)
    return model, codebooks, train_loader, test_loader


def test_fine_tuning_moves_centroids_by_the_summed_gradient():
    model, codebooks, loader, _ = _trained_pruned_shared()
    images, labels = next(iter(loader))
    one_batch = [(images, labels)]
    layer = dict(weight_layers(model))["0"]
    weight = layer.weight.detach().requires_grad_()
    log_probs = torch.log_softmax(model[2](torch.relu(torch.nn.functional.linear(images, weight, layer.bias))), 1)
    torch.nn.functional.nll_loss(log_probs, labels).backward()
    expected_grad = torch.zeros(layer.centroids.numel()).index_add_(0, layer.labels, weight.grad.flatten()[layer.positions])
    before = layer.centroids.detach().clone()
    fine_tune_centroids(model, one_batch, 1, lr=1e-3, device="cpu", progress=False)
    step = layer.centroids.detach() - before
    # Adam's first step moves every parameter by lr against the sign of its gradient
    nonzero = expected_grad.abs() > 1e-9
    assert nonzero.any()
    assert torch.allclose(step[nonzero], -1e-3 * expected_grad[nonzero].sign(), atol=1e-6)


def test_fine_tuning_keeps_assignments_zeros_and_at_most_k_values():
    model, codebooks, loader, test_loader = _trained_pruned_shared()
    masks = {name: layer.mask.clone() for name, layer in weight_layers(model)}
    labels = {name: cb.labels.clone() for name, cb in codebooks.items()}
    centroids = {name: cb.centroids.clone() for name, cb in codebooks.items()}
    history = fine_tune_centroids(model, loader, 2, lr=1e-3, device="cpu", progress=False,
                                  eval_loader=test_loader)
    assert len(history["loss"]) == 2 and len(history["eval_accuracy"]) == 2
    for name, layer in weight_layers(model):
        assert torch.all(layer.weight[masks[name] == 0] == 0)
        assert torch.equal(layer.labels, labels[name])
        assert not torch.equal(layer.centroids.detach(), centroids[name])  # the centroids did train
        assert distinct_values(model)[name] <= layer.centroids.numel()
        assert torch.equal(codebooks[name].dense(tuple(layer.weight.shape)), layer.weight.detach())  # never stale


def test_fine_tuning_needs_shared_layers():
    model = tiny_masked_mlp()
    with pytest.raises(ValueError, match="share_weights"):
        fine_tune_centroids(model, blob_loaders()[0], 1, device="cpu", progress=False)


def test_model_codebooks_are_views_of_the_layers():
    model, codebooks, _, _ = _trained_pruned_shared()
    with torch.no_grad():
        model[0].centroids.add_(1.0)
    assert torch.equal(model_codebooks(model)["0"].centroids, model[0].centroids.detach())
    assert torch.equal(codebooks["0"].centroids, model[0].centroids.detach())


def test_codebook_dense():
    cb = Codebook(torch.tensor([1.5, -2.0]), torch.tensor([0, 3]), torch.tensor([1, 0]))
    assert torch.equal(cb.dense((2, 2)), torch.tensor([[-2.0, 0.0], [0.0, 1.5]]))


def test_sharing_sweep_reports_every_setting_and_leaves_the_model_alone():
    model, loader, test_loader = _trained_pruned()
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


def test_bits_can_differ_per_layer():
    torch.manual_seed(0)
    model = nn.Sequential(MaskedConv2d(1, 8, 3), nn.Flatten(), MaskedLinear(8 * 6 * 6, 10))
    prune_by_std(model, 0.25)
    codebooks = share_weights(model, bits={"0": 3, "2": 1})
    assert codebooks["0"].k == 8 and codebooks["2"].k == 2
    assert distinct_values(model) == {"0": 8, "2": 2}


@pytest.mark.parametrize("bits, error, match", [({"0": 3}, ValueError, "missing"), ({"0": 3, "2": 2, "9": 1}, ValueError, "unknown"),
                                                ({"0": 3, "2": 0}, ValueError, r"bits\['2'\]"),
                                                ({"0": 3, "2": "4"}, TypeError, r"bits\['2'\]")])
def test_bad_per_layer_bits_are_refused(bits, error, match):
    model = nn.Sequential(MaskedConv2d(1, 8, 3), nn.Flatten(), MaskedLinear(8 * 6 * 6, 10))
    with pytest.raises(error, match=match):
        share_weights(model, bits=bits)
    assert isinstance(model[0], MaskedConv2d)  # nothing was changed
