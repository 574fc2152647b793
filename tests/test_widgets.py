import copy
import importlib
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from helpers import fake_mnist_loaders
from vietai_compress import widgets
from vietai_compress.data import TensorLoader
from vietai_compress.models import LeNet300100
from vietai_compress.pruning import layer_std, prune_by_std, std_kept_counts
from vietai_compress.quantization import cluster_values, layer_codebook
from vietai_compress.training import evaluate


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def model():
    torch.manual_seed(0)
    return LeNet300100()


@pytest.fixture
def pruned_model(model):
    prune_by_std(model, 1.0)  # fewer weights to cluster: the k-means tests stay fast
    return model


@pytest.fixture
def val_loader():
    return fake_mnist_loaders(n=64)[1]


def _state(model):
    return {name: t.clone() for name, t in model.state_dict().items()}


def _unchanged(model, before):
    return all(torch.equal(t, before[name]) for name, t in model.state_dict().items()) and model.training


def _spy(monkeypatch, name):
    """Record every call of widgets.<name> (the callbacks), still running it."""
    calls, real = [], getattr(widgets, name)

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(widgets, name, spy)
    return calls


# ---------------------------------------------------------------- notebook 02: pruning
def test_pruning_view_computes_the_rule_on_a_copy(model, val_loader):
    before = _state(model)
    view = widgets.pruning_view(model, val_loader, 1.0)
    assert _unchanged(model, before)
    assert view.kept == std_kept_counts(model, 1.0)
    assert view.weights == {"fc1": 235_200, "fc2": 30_000, "fc3": 1_000}
    assert view.thresholds == {name: pytest.approx(1.0 * layer_std(getattr(model, name).weight))
                               for name in ("fc1", "fc2", "fc3")}
    pruned = copy.deepcopy(model)
    prune_by_std(pruned, 1.0)
    assert view.val_accuracy == evaluate(pruned, val_loader).accuracy
    assert view.kept_share("fc1") == view.kept["fc1"] / 235_200
    assert view.kept_share() == sum(view.kept.values()) / 266_200


def test_pruning_figure_shows_the_views_numbers(model, val_loader):
    view = widgets.pruning_view(model, val_loader, 2.0)
    fig = widgets.draw_pruning_view(model, view, "fc1")
    ax = fig.axes[0]
    title = ax.get_title()
    assert f"s = 2.00: ngưỡng ±{view.thresholds['fc1']:.4f}" in title
    assert f"giữ {100 * view.kept_share('fc1'):.2f}% trọng số của fc1, {100 * view.kept_share():.2f}%" in title
    assert f"độ chính xác trên tập validation: {view.val_accuracy:.2f}%" in title
    assert sorted(line.get_xdata()[0] for line in ax.lines) == pytest.approx(
        [-view.thresholds["fc1"], view.thresholds["fc1"]])
    pruned_bars, kept_bars = ax.containers  # the stacked histogram: pruned below, kept on top
    kept_heights = [bar.get_height() for bar in kept_bars]
    assert round(sum(kept_heights)) == view.kept["fc1"]
    assert round(sum(bar.get_height() for bar in pruned_bars)) == 235_200 - view.kept["fc1"]


def test_pruning_slider_shows_the_callbacks_view_and_leaves_the_model_alone(model, val_loader):
    before = _state(model)
    slider = widgets.pruning_slider(model, val_loader)
    control = slider.children[0]
    assert (control.min, control.max, control.step, control.value) == (0.0, 3.0, 0.25, 2.0)
    assert slider.result == widgets.pruning_view(model, val_loader, 2.0)
    control.value = 0.75
    assert slider.result == widgets.pruning_view(model, val_loader, 0.75)
    assert _unchanged(model, before)


def test_pruning_panels_draw_the_callbacks_views(monkeypatch, model, val_loader):
    calls = _spy(monkeypatch, "pruning_view")
    fig = widgets.pruning_panels(model, val_loader, s_values=(1.0, 2.0, 3.0))
    assert [args[2] for args in calls] == [1.0, 2.0, 3.0]
    titles = [ax.get_title() for ax in fig.axes]
    for title, s in zip(titles, (1.0, 2.0, 3.0)):
        view = widgets.pruning_view(model, val_loader, s)
        assert title.startswith(f"s = {s:.2f}") and f"{view.val_accuracy:.2f}%" in title


def test_pruning_view_is_fast_enough_for_a_slider(model):
    loader = TensorLoader(torch.randn(5_000, 1, 28, 28), torch.randint(0, 10, (5_000,)), 1_000)
    widgets.pruning_view(model, loader, 2.0, device="cpu")  # warm up
    seconds = min(_timed(lambda: widgets.pruning_view(model, loader, 2.0, device="cpu")) for _ in range(3))
    assert seconds < 0.5  # the brief of a slider; about 0.05 s on a 2-core CPU, so a busy machine still passes


def _timed(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


@pytest.mark.parametrize("call, error, words", [
    (lambda m, v: widgets.pruning_view(m, v, -1.0), ValueError, "s must be a finite number >= 0"),
    (lambda m, v: widgets.pruning_view(m, v, "2"), TypeError, "s must be a real number"),
    (lambda m, v: widgets.pruning_slider(m, v, s_values=(1.0,)), ValueError, "s_values must be at least 2"),
    (lambda m, v: widgets.pruning_slider(m, v, s_values=(0.0, 1.0, 3.0)), ValueError, "evenly spaced"),
    (lambda m, v: widgets.pruning_slider(m, v, s_values=(-1.0, 0.0)), ValueError, "s_values must be a finite"),
    (lambda m, v: widgets.pruning_slider(m, v, layer="fc9"), ValueError, r"layer must be one of .*'fc1'"),
    (lambda m, v: widgets.pruning_panels(m, v, s_values=[1.0] * 7), ValueError, "between 1 and 6 values"),
    (lambda m, v: widgets.pruning_panels(m, v, s_values=[]), ValueError, "between 1 and 6 values"),
    (lambda m, v: widgets.pruning_slider("model", v), TypeError, "model must be a torch.nn.Module"),
])
def test_pruning_widgets_reject_bad_input(model, val_loader, call, error, words):
    with pytest.raises(error, match=words):
        call(model, val_loader)


# ---------------------------------------------------------------- notebook 04: weight sharing
@pytest.mark.parametrize("bits", [1, 3])
def test_sharing_view_is_the_packages_k_means(pruned_model, bits):
    before = _state(pruned_model)
    view = widgets.sharing_view(pruned_model, "fc2", bits)
    assert _unchanged(pruned_model, before)
    weight = pruned_model.fc2.weight.detach()
    values = weight[weight != 0].double().numpy()
    centroids, labels = cluster_values(values, bits, init="linear")
    assert np.array_equal(view.centroids, centroids) and view.k == 2 ** bits
    assert np.array_equal(view.counts, np.bincount(labels, minlength=view.k)) and view.n == values.size
    assert np.array_equal(view.centroids, layer_codebook(weight, bits).centroids.numpy())  # what share_weights stores


def test_sharing_figure_shows_each_centroid_at_the_height_of_its_count(pruned_model):
    view = widgets.sharing_view(pruned_model, "fc3", 2)
    ax = widgets.draw_sharing_view(pruned_model, view).axes[0]
    stems = next(c for c in ax.collections if c.get_gid() == "sharing-centroids")
    assert np.asarray(stems.get_offsets()).tolist() == [[float(c), int(n)] for c, n in zip(view.centroids, view.counts)]
    assert f"fc3, 2 bit: {view.n:,} trọng số khác 0 → 4 tâm cụm" in ax.get_title()
    assert f"đông nhất giữ {view.counts.max():,} trọng số, ít nhất {view.counts.min():,}" in ax.get_title()


def test_bits_slider_shows_the_callbacks_view(pruned_model):
    before = _state(pruned_model)
    slider = widgets.bits_slider(pruned_model, "fc3")
    control = slider.children[0]
    assert (control.min, control.max, control.step, control.value) == (1, 8, 1, 5)
    assert slider.result.bits == 5
    control.value = 2
    expected = widgets.sharing_view(pruned_model, "fc3", 2)
    assert np.array_equal(slider.result.centroids, expected.centroids)
    assert np.array_equal(slider.result.counts, expected.counts)
    assert _unchanged(pruned_model, before)


def test_sharing_panels_draw_the_callbacks_views(monkeypatch, pruned_model):
    calls = _spy(monkeypatch, "sharing_view")
    fig = widgets.sharing_panels(pruned_model, "fc3", bits_values=(1, 2, 3))
    assert [args[1:] for args in calls] == [("fc3", 1), ("fc3", 2), ("fc3", 3)]
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["fc3, 1 bit", "fc3, 2 bit", "fc3, 3 bit"]


@pytest.mark.parametrize("call, error, words", [
    (lambda m: widgets.sharing_view(m, "fc2", 0), ValueError, r"bits must be an int in \[1, 16\]"),
    (lambda m: widgets.sharing_view(m, "fc2", 2.0), TypeError, "bits must be an int"),
    (lambda m: widgets.sharing_view(m, "conv1", 2), ValueError, r"layer must be one of .*\['fc1', 'fc2', 'fc3'\]"),
    (lambda m: widgets.bits_slider(m, bits_values=range(1, 20)), ValueError, r"bits must be an int in \[1, 16\]"),
    (lambda m: widgets.bits_slider(m, bits_values=[2, 3, 5]), ValueError, "bits_values must be .*evenly spaced"),
    (lambda m: widgets.sharing_panels(m, bits_values=range(1, 8)), ValueError, "between 1 and 6 values"),
])
def test_sharing_widgets_reject_bad_input(pruned_model, call, error, words):
    with pytest.raises(error, match=words):
        call(pruned_model)


def test_sharing_view_of_an_all_zero_layer_says_so(model):
    prune_by_std(model, 100.0)
    with pytest.raises(ValueError, match="layer 'fc1' has no nonzero weight"):
        widgets.sharing_view(model, "fc1", 2)


def test_the_module_imports_without_ipywidgets(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # any import of ipywidgets now fails
    importlib.reload(widgets)
    with pytest.raises(ImportError):
        widgets.bits_slider(LeNet300100())
