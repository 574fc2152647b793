import pytest
import torch

from helpers import blob_loaders, tiny_masked_mlp
from vietai_compress.models import masked_layers
from vietai_compress.pruning import prune_by_std
from vietai_compress.recipe import article_epochs
from vietai_compress.training import apply_masks_, cosine_factor, evaluate, make_optimizer, train


def test_train_learns_an_easy_problem():
    torch.manual_seed(0)
    train_loader, test_loader = blob_loaders()
    model = tiny_masked_mlp()
    before = evaluate(model, test_loader, "cpu")
    history = train(model, train_loader, make_optimizer(model, lr=0.01), 5, "cpu", progress=False,
                    eval_loader=test_loader)
    after = evaluate(model, test_loader, "cpu")
    assert len(history["loss"]) == 5 and len(history["eval_accuracy"]) == 5
    assert history["loss"][-1] < history["loss"][0]
    assert after.accuracy > max(90.0, before.accuracy)
    assert history["eval_accuracy"][-1] == after.accuracy


def _warm_pruned_model():
    """A trained model whose Adam state still carries momentum, then pruned (the article's situation)."""
    torch.manual_seed(0)
    train_loader, _ = blob_loaders()
    model = tiny_masked_mlp()
    optimizer = make_optimizer(model, lr=0.01)
    train(model, train_loader, optimizer, 2, "cpu", progress=False)
    prune_by_std(model, 1.0)
    return model, optimizer, train_loader


def test_pruned_weights_stay_exactly_zero_with_a_warm_optimizer():
    model, optimizer, loader = _warm_pruned_model()
    train(model, loader, optimizer, 2, "cpu", progress=False)
    for _, layer in masked_layers(model):
        assert torch.all(layer.weight[layer.mask == 0] == 0)


def test_without_remasking_momentum_moves_pruned_weights():
    model, optimizer, loader = _warm_pruned_model()
    train(model, loader, optimizer, 1, "cpu", progress=False, remask=False)
    drifted = sum(int((layer.weight[layer.mask == 0] != 0).sum()) for _, layer in masked_layers(model))
    assert drifted > 0
    apply_masks_(model)
    assert all(torch.all(layer.weight[layer.mask == 0] == 0) for _, layer in masked_layers(model))


def test_evaluate_counts_correct_predictions():
    _, test_loader = blob_loaders(n=90)
    model = tiny_masked_mlp()
    result = evaluate(model, test_loader, "cpu")
    x, y = test_loader.images, test_loader.labels
    with torch.no_grad():
        expected = int((model(x).argmax(1) == y).sum())
    assert (result.correct, result.total, result.errors) == (expected, 90, 90 - expected)
    assert result.accuracy == pytest.approx(100 * expected / 90)
    assert result.seconds >= 0 and result.loss > 0


@pytest.mark.parametrize("epochs, error", [(-1, ValueError), (1.5, TypeError), ("3", TypeError)])
def test_train_rejects_bad_epochs(epochs, error):
    model = tiny_masked_mlp()
    with pytest.raises(error, match="epochs must be an int"):
        train(model, blob_loaders()[0], make_optimizer(model), epochs, "cpu", progress=False)


def test_article_epochs():
    assert article_epochs(quick=False) == 100 and article_epochs(quick=True) == 1
    assert article_epochs(quick=False, batches_per_epoch=11) == 100
    assert article_epochs(quick=True, batches_per_epoch=11) == 43  # the digits fallback: same steps


def test_cosine_schedule_lowers_the_lr_each_epoch_and_restores_it():
    model = tiny_masked_mlp()
    optimizer = make_optimizer(model, lr=0.01)
    seen = []
    original_step = optimizer.step

    def recording_step(*args, **kwargs):
        seen.append(optimizer.param_groups[0]["lr"])
        return original_step(*args, **kwargs)

    optimizer.step = recording_step
    loader = [next(iter(blob_loaders()[0]))]  # one batch per epoch
    train(model, loader, optimizer, 4, "cpu", progress=False)
    assert seen == pytest.approx([0.01 * cosine_factor(e, 4) for e in range(4)])
    assert seen[0] == 0.01 and all(a > b for a, b in zip(seen, seen[1:]))
    assert optimizer.param_groups[0]["lr"] == 0.01
    seen.clear()
    train(model, loader, optimizer, 2, "cpu", progress=False, cosine=False)
    assert seen == [0.01, 0.01]


def test_an_interrupted_run_restores_the_lr():
    model = tiny_masked_mlp()
    optimizer = make_optimizer(model, lr=0.01)
    batch = next(iter(blob_loaders()[0]))

    class InterruptedInThirdEpoch:  # by then the cosine schedule has lowered the lr
        passes = 0

        def __len__(self):
            return 1

        def __iter__(self):
            self.passes += 1
            if self.passes == 3:
                assert optimizer.param_groups[0]["lr"] < 0.01
                raise KeyboardInterrupt
            return iter([batch])

    with pytest.raises(KeyboardInterrupt):
        train(model, InterruptedInThirdEpoch(), optimizer, 4, "cpu", progress=False)
    assert optimizer.param_groups[0]["lr"] == 0.01


def test_denormals_are_flushed_once_the_package_is_imported():
    tiny = torch.tensor([1e-39])  # a denormal float32
    assert (tiny * 1.0).item() == 0.0


def test_weights_of_a_unit_without_gradient_do_not_stay_denormal():
    # a hidden unit whose outgoing weights are all pruned gets no gradient; weight decay alone shrinks
    # its incoming weights, down to denormals that slow the CPU (benchmarks/train_speed.py)
    torch.manual_seed(0)
    train_loader, _ = blob_loaders()
    model = tiny_masked_mlp()
    with torch.no_grad():
        model[2].mask[:, 0] = 0  # unit 0 of the hidden layer feeds nothing
        model[2].weight[:, 0] = 0
        model[0].weight[0] = 1e-39  # already denormal: without flushing it stays exactly 1e-39
    train(model, train_loader, make_optimizer(model), 3, "cpu", progress=False)
    assert torch.all(model[0].weight[0] == 0)
