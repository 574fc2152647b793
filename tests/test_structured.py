"""Structured pruning: the norm ranking, and Torch-Pruning's surgery that follows conv -> pool -> flatten -> linear."""
import pytest
import torch

from vietai_compress.compression import layer_costs
from vietai_compress.models import LeNet5, LeNet300100
from vietai_compress.pruning import prune_by_std
from vietai_compress.structured import library_norms, macs_per_image, prune_units, unit_norms, units, units_to_remove


def test_unit_norms_and_the_units_to_remove_are_known_answers():
    weight = torch.tensor([[3.0, -4.0], [0.5, 0.5], [-1.0, 0.0], [2.0, 2.0]])
    assert unit_norms(weight, 1).tolist() == [7.0, 1.0, 1.0, 4.0]
    assert unit_norms(weight, 2).tolist() == pytest.approx([5.0, 0.5 ** 0.5, 1.0, 8 ** 0.5])
    assert units_to_remove(weight, 0.5, 1) == [1, 2]  # the two smallest L1 norms (a tie: the first one first)
    assert units_to_remove(weight, 0.5, 2) == [1, 2]
    assert units_to_remove(weight, 0.01) == [1, 2, 3]  # at least one unit stays: the largest norm
    assert units_to_remove(weight, 1.0) == []
    with pytest.raises(ValueError, match="p must be"):
        unit_norms(weight, 3)
    with pytest.raises(ValueError, match="keep"):
        units_to_remove(weight, 0.0)


@pytest.mark.parametrize("name", ["conv1", "conv2", "fc1"])
def test_the_norm_ranking_is_torch_prunings_magnitude_importance(name):
    torch.manual_seed(0)
    model = LeNet5()
    layer = model.get_submodule(name)
    torch.testing.assert_close(library_norms(model, name, p=1), unit_norms(layer.weight, 1))
    torch.testing.assert_close(library_norms(model, name, p=2), unit_norms(layer.weight, 2) ** 2)  # no root


def test_the_filters_kept_are_the_strongest_and_what_they_fed_follows_them():
    torch.manual_seed(0)
    model = LeNet5()
    before = model.conv2.weight.detach().clone()
    fc1_before = model.fc1.weight.detach().clone()
    strongest = torch.argsort(unit_norms(before), descending=True)[:25].sort().values
    prune_units(model, {"conv2": 0.5})
    assert torch.equal(model.conv2.weight, before[strongest])
    columns = (strongest[:, None] * 16 + torch.arange(16)).flatten()  # each conv2 channel is 4 x 4 inputs of fc1
    assert torch.equal(model.fc1.weight, fc1_before[:, columns])


def test_lenet5_with_half_its_units_is_a_smaller_model_with_a_quarter_of_the_macs():
    torch.manual_seed(0)
    model = LeNet5()
    assert prune_units(model, {"conv1": 0.5, "conv2": 0.5, "fc1": 0.5}) == {"conv1": 10, "conv2": 25, "fc1": 250}
    assert units(model) == {"conv1": 10, "conv2": 25, "fc1": 250, "fc2": 10}
    assert model.conv2.weight.shape == (25, 10, 5, 5) and model.fc1.weight.shape == (250, 25 * 16)
    assert all(layer.mask.shape == layer.weight.shape and layer.mask.all() for layer in (model.conv1, model.fc1))
    assert model(torch.randn(4, 1, 28, 28)).shape == (4, 10)
    dense = sum(c.macs for c in layer_costs(LeNet5()))
    assert macs_per_image(model) == 10 * 25 * 24 * 24 + 25 * 250 * 8 * 8 + 400 * 250 + 250 * 10
    assert macs_per_image(model) < dense / 3


def test_pruning_units_of_a_model_with_pruned_weights_or_of_the_output_layer_is_refused():
    model = LeNet300100()
    with pytest.raises(ValueError, match="output layer"):
        prune_units(model, {"fc3": 0.5})
    with pytest.raises(ValueError, match="does not have"):
        prune_units(model, {"fc9": 0.5})
    prune_by_std(model, 1.0)
    with pytest.raises(ValueError, match="prune units first"):
        prune_units(model, {"fc1": 0.5})
