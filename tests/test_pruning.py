import copy
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import blob_loaders, tiny_masked_mlp
from vietai_compress.models import LeNet300100, MaskedLinear, masked_layers
from vietai_compress.pruning import (StdPruningMethod, keep_counts, layer_std, print_nonzeros, prune_by_percentile,
                                     prune_by_std, prune_by_std_torch, prune_in_rounds, prune_iteratively,
                                     prune_to_counts, round_counts, sensitivity_scan, sparsity_report, split_epochs,
                                     std_kept_counts, std_mask)
from vietai_compress.training import evaluate, make_optimizer, train


def test_prune_by_std_uses_s_times_numpy_std_per_layer():
    model = tiny_masked_mlp()
    originals = {name: layer.weight.detach().clone() for name, layer in masked_layers(model)}
    records = prune_by_std(model, 1.0)
    assert [r.name for r in records] == ["0", "2"]
    for record, (name, layer) in zip(records, masked_layers(model)):
        w = originals[name].numpy()
        assert record.threshold == pytest.approx(1.0 * np.std(w), rel=1e-6)
        keep = np.abs(w) >= record.threshold
        assert record.kept == keep.sum() and record.total == w.size
        assert np.array_equal(layer.mask.numpy(), keep.astype(np.float32))
        assert torch.all(layer.weight[layer.mask == 0] == 0)
        assert torch.equal(layer.weight[layer.mask == 1], originals[name][layer.mask == 1])


def test_prune_by_std_with_s_zero_keeps_everything():
    model = tiny_masked_mlp()
    records = prune_by_std(model, 0)
    assert all(r.kept == r.total for r in records)


def test_pruning_twice_never_revives_a_weight():
    model = tiny_masked_mlp()
    prune_by_std(model, 1.0)
    first_masks = [layer.mask.clone() for _, layer in masked_layers(model)]
    with torch.no_grad():  # a pruned weight that drifted far away must stay pruned
        for _, layer in masked_layers(model):
            layer.weight.add_(10.0)
    prune_by_std(model, 0.5)
    for before, (_, layer) in zip(first_masks, masked_layers(model)):
        assert torch.all(layer.mask <= before)
        assert torch.all(layer.weight[before == 0] == 0)


def test_prune_only_named_layers():
    model = tiny_masked_mlp()
    prune_by_std(model, 1.0, layers=["2"])
    first, second = [layer for _, layer in masked_layers(model)]
    assert torch.all(first.mask == 1) and not torch.all(second.mask == 1)
    with pytest.raises(ValueError, match="layers"):
        prune_by_std(model, 1.0, layers=["fc9"])


@pytest.mark.parametrize("s, error", [(-0.1, ValueError), (math.nan, ValueError), (math.inf, ValueError),
                                      ("2", TypeError), (None, TypeError), (True, TypeError)])
def test_prune_by_std_rejects_bad_s(s, error):
    with pytest.raises(error, match="s must"):
        prune_by_std(tiny_masked_mlp(), s)


@pytest.mark.parametrize("q", [-1, 100.5, math.nan])
def test_prune_by_percentile_rejects_q_outside_0_100(q):
    with pytest.raises(ValueError, match=r"q must be a finite number in \[0.0, 100.0\]"):
        prune_by_percentile(tiny_masked_mlp(), q)


def test_model_without_masked_layers_is_an_error():
    with pytest.raises(ValueError, match="no masked layer"):
        prune_by_std(LeNet300100(mask=False), 2)
    with pytest.raises(ValueError, match="no masked layer"):
        prune_by_percentile(nn.Linear(2, 2), 50)


def test_prune_by_percentile_drops_the_smallest_q_percent_of_alive_weights():
    model = tiny_masked_mlp()
    records = prune_by_percentile(model, 50)
    for r in records:
        assert r.kept == r.total // 2  # random weights: no ties
    records = prune_by_percentile(model, 50)  # percentile of the survivors, not of all entries
    for r in records:
        assert r.kept == r.total // 4
    assert all(r.kept == r.total for r in prune_by_percentile(tiny_masked_mlp(), 0))


def test_sparsity_report_counts_weights_and_biases():
    model = tiny_masked_mlp()
    prune_by_std(model, 1.0)
    report = sparsity_report(model)
    nonzero = sum(int(p.count_nonzero()) for p in model.parameters())
    total = sum(p.numel() for p in model.parameters())
    assert (report.alive, report.total, report.pruned) == (nonzero, total, total - nonzero)
    assert report.compression_rate == pytest.approx(total / nonzero)
    assert [row[0] for row in report.rows] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_print_nonzeros_returns_the_report(capsys):
    model = tiny_masked_mlp()
    report = print_nonzeros(model)
    assert report == sparsity_report(model)
    out = capsys.readouterr().out
    assert out.count("\n") == len(report.rows) + 1  # one line per parameter, then the totals
    assert report.alive == report.total == 131


def test_torch_prune_with_the_std_rule_keeps_exactly_the_same_weights():
    ours = LeNet300100(mask=True)
    plain = LeNet300100(mask=False)
    plain.load_state_dict({k: v for k, v in ours.state_dict().items() if "mask" not in k})
    prune_by_std(ours, 2.0)
    masks = prune_by_std_torch(plain, 2.0)
    for name, layer in masked_layers(ours):
        assert torch.equal(masks[name], layer.mask)
        assert torch.equal(getattr(plain, name).weight, layer.weight)


def test_sensitivity_scan_leaves_the_model_alone():
    train, test = blob_loaders()
    model = tiny_masked_mlp()
    state = copy.deepcopy(model.state_dict())
    scan = sensitivity_scan(model, test, [0.0, 1.0, 3.0], device="cpu", progress=False)
    assert list(scan) == ["0", "2"] and all(len(v) == 3 for v in scan.values())
    baseline = evaluate(model, test, "cpu").accuracy
    assert all(v[0] == baseline for v in scan.values())  # s = 0 prunes nothing
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key])


def test_layer_std_is_the_population_std():
    w = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert layer_std(w) == pytest.approx(np.std([1, 2, 3, 4]))


def test_std_kept_counts_predicts_prune_by_std_without_touching_the_model():
    model = tiny_masked_mlp()
    before = copy.deepcopy(model.state_dict())
    counts = std_kept_counts(model, 1.0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    records = prune_by_std(model, 1.0)
    assert counts == {r.name: r.kept for r in records}


def test_prune_to_counts_keeps_the_largest_surviving_weights():
    model = tiny_masked_mlp()
    prune_by_percentile(model, 50)
    first = masked_layers(model)[0][1]
    old_mask = first.mask.clone()
    with torch.no_grad():  # a pruned weight that grew large must stay pruned
        first.weight[old_mask == 0] = 100.0
    second_mask = masked_layers(model)[1][1].mask.clone()
    original = first.weight.detach().clone()
    records = prune_to_counts(model, {"0": 5})
    assert records[0].kept == 5 and int(first.mask.sum()) == 5
    assert torch.all(first.mask <= old_mask)
    alive_magnitudes = original[old_mask == 1].abs()
    assert torch.equal(first.weight[first.mask == 1].abs().sort().values, alive_magnitudes.sort().values[-5:])
    assert torch.all(first.weight[first.mask == 0] == 0)
    assert records[0].threshold == alive_magnitudes.sort().values[-5].item()
    assert torch.equal(masked_layers(model)[1][1].mask, second_mask)  # only layer "0" was named


@pytest.mark.parametrize("counts, error", [({"0": -1}, ValueError), ({"0": 65}, ValueError),
                                           ({"0": 2.0}, TypeError), ({"fc9": 1}, ValueError)])
def test_prune_to_counts_rejects_bad_counts(counts, error):
    with pytest.raises(error, match="counts|layers"):
        prune_to_counts(tiny_masked_mlp(), counts)


def test_prune_to_counts_zero_removes_the_whole_layer():
    model = tiny_masked_mlp()
    prune_to_counts(model, {"2": 0})
    assert torch.all(masked_layers(model)[1][1].weight == 0)


def test_round_counts_fall_geometrically_to_exactly_the_target():
    schedule = round_counts({"a": 1000, "b": 10}, {"a": 125, "b": 10}, 3)
    assert schedule == [{"a": 500, "b": 10}, {"a": 250, "b": 10}, {"a": 125, "b": 10}]
    assert round_counts({"a": 7}, {"a": 3}, 1) == [{"a": 3}]


@pytest.mark.parametrize("args", [({"a": 5}, {"a": 6}, 2), ({"a": 5}, {"b": 1}, 2), ({"a": 5}, {"a": 1}, 0)])
def test_round_counts_rejects_bad_input(args):
    with pytest.raises(ValueError, match="target|rounds|layers"):
        round_counts(*args)


def test_split_epochs_shares_every_epoch_and_gives_each_round_one():
    assert split_epochs(100, 3) == [34, 33, 33]
    assert split_epochs(1, 3) == [1, 1, 1]
    assert sum(split_epochs(7, 2)) == 7
    assert split_epochs(0, 2) == [0, 0]
    with pytest.raises(ValueError, match="rounds"):
        split_epochs(5, 0)
    with pytest.raises(ValueError, match="epochs"):
        split_epochs(-1, 2)


def test_prune_iteratively_ends_on_the_one_shot_counts():
    train_loader, test_loader = blob_loaders()
    model = tiny_masked_mlp()
    train(model, train_loader, make_optimizer(model, lr=0.01), 5, "cpu", progress=False)
    target = std_kept_counts(model, 1.0)
    history = prune_iteratively(model, 1.0, 3, train_loader, 6, device="cpu", progress=False,
                                eval_loader=test_loader)
    assert [h.epochs for h in history] == [2, 2, 2]
    assert [h.kept for h in history] == sorted((h.kept for h in history), reverse=True)
    assert history[-1].kept == sum(target.values())
    for name, layer in masked_layers(model):
        assert int(layer.mask.sum()) == target[name]
        assert torch.all(layer.weight[layer.mask == 0] == 0)
    assert history[-1].accuracy > 90.0


def test_std_mask_is_the_one_rule_behind_every_caller():
    torch.manual_seed(0)
    model = tiny_masked_mlp()
    layer = masked_layers(model)[0][1]
    weight = layer.weight.detach().clone()
    expected = (weight.abs() >= 1.0 * weight.double().std(correction=0).item()).float()
    assert torch.equal(std_mask(weight, 1.0), expected)
    half = torch.ones_like(weight)
    half[:8] = 0
    assert torch.equal(std_mask(weight, 1.0, half), expected * half)  # never revives a pruned weight
    assert torch.equal(StdPruningMethod(1.0).compute_mask(weight, torch.ones_like(weight)), expected)
    assert std_kept_counts(model, 1.0)["0"] == int(expected.sum())
    prune_by_std(model, 1.0)
    assert torch.equal(layer.mask, expected)


def test_prune_to_counts_keeps_each_units_largest_weight_when_the_count_allows():
    layer = MaskedLinear(4, 3, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[9.0, 8.0, 7.0, 6.0],
                                         [0.1, 0.3, 0.2, 0.0],
                                         [5.0, 0.5, 0.4, 0.0]]))
    model = nn.Sequential(layer)
    prune_to_counts(model, {"0": 4})
    # plain top-4 would keep 9, 8, 7, 6 and leave units 1 and 2 without input
    assert layer.mask.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]]
    prune_to_counts(model, {"0": 2})  # fewer weights than units: the largest ones, whichever unit they feed
    assert layer.mask.tolist() == [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_keep_counts_turn_fractions_into_weights_per_layer():
    model = LeNet300100()
    assert keep_counts(model, {"fc1": 0.04, "fc2": 0.08, "fc3": 0.3}) == {"fc1": 9408, "fc2": 2400, "fc3": 300}
    assert keep_counts(model, {"fc1": 1e-9, "fc2": 1.0, "fc3": 0.5})["fc1"] == 1  # never an empty layer


@pytest.mark.parametrize("keep, error, match", [({"fc1": 0.1, "fc2": 0.1}, ValueError, "missing"),
                                                ({"fc1": 0.1, "fc2": 0.1, "fc3": 0.1, "fc4": 0.1}, ValueError, "unknown"),
                                                ({"fc1": 0.0, "fc2": 0.1, "fc3": 0.1}, ValueError, r"keep\['fc1'\]"),
                                                ({"fc1": 1.5, "fc2": 0.1, "fc3": 0.1}, ValueError, r"keep\['fc1'\]"),
                                                ({"fc1": "1", "fc2": 0.1, "fc3": 0.1}, TypeError, r"keep\['fc1'\]"),
                                                ([0.1, 0.1, 0.1], TypeError, "mapping")])
def test_bad_keep_fractions_are_refused(keep, error, match):
    with pytest.raises(error, match=match):
        keep_counts(LeNet300100(), keep)


def test_prune_in_rounds_reaches_exact_per_layer_targets():
    torch.manual_seed(0)
    train_loader, _ = blob_loaders()
    model = tiny_masked_mlp()
    history = prune_in_rounds(model, {"0": 10, "2": 12}, 3, train_loader, 3, "cpu", progress=False)
    assert [int(layer.mask.sum()) for _, layer in masked_layers(model)] == [10, 12]
    assert [r.kept for r in history] == sorted((r.kept for r in history), reverse=True) and history[-1].kept == 22
