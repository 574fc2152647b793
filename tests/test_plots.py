import matplotlib.pyplot as plt
import pytest
import torch

from vietai_compress import plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _labelled(ax):
    return ax.get_xlabel() and ax.get_ylabel()


def test_digit_grid_titles_every_image():
    fig = plots.plot_digit_grid(torch.randn(8, 1, 28, 28), torch.arange(8), rows=2, cols=4)
    assert [ax.get_title() for ax in fig.axes] == [str(i) for i in range(8)]


def test_training_curve_has_both_axes():
    fig = plots.plot_training_curve({"loss": [1.0, 0.5, 0.2], "test_accuracy": [90, 95, 97]})
    assert len(fig.axes) == 2 and _labelled(fig.axes[0]) and fig.axes[1].get_ylabel()
    assert len(fig.axes[0].lines[0].get_xdata()) == 3


def test_weight_histograms_show_only_survivors_after_pruning():
    before = torch.tensor([-1.0, -0.1, 0.1, 1.0])
    after = torch.tensor([-1.0, 0.0, 0.0, 1.0])
    fig = plots.plot_weight_histograms(before, after, "fc1", threshold=0.5)
    assert "4" in fig.axes[0].get_title() and "2" in fig.axes[1].get_title()
    assert all(_labelled(ax) for ax in fig.axes)


def test_sensitivity_plot_has_one_line_per_layer():
    fig = plots.plot_sensitivity({"fc1": [98, 90], "fc2": [98, 95]}, [0, 1], baseline=98)
    assert len(fig.axes[0].lines) == 3 and _labelled(fig.axes[0])


def test_bars_are_labelled():
    fig = plots.plot_bars(["a", "b"], [3, 4.5], "title", "count")
    assert fig.axes[0].get_title() == "title" and len(fig.axes[0].patches) == 2


def test_accuracy_vs_bits_has_a_tick_per_bit():
    fig = plots.plot_accuracy_vs_bits([1, 2, 3], {"a": [50, 90, 95], "b": [60, 92, 96]}, baseline=97)
    assert list(fig.axes[0].get_xticks()) == [1, 2, 3] and len(fig.axes[0].lines) == 3


def test_other_figures_draw_without_error():
    import numpy as np

    plots.plot_centroids(torch.tensor([0.0, 0.5, -0.5, 0.6]), torch.tensor([-0.5, 0.55]), "fc1")
    plots.plot_grouped_bars(["2 bit", "3 bit"], {"linear": [90, 95], "random": [91, 94]}, "t", "acc")
    plots.plot_cluster_example(np.arange(16.0).reshape(4, 4), np.arange(16).reshape(4, 4) % 4, np.arange(4.0))
    fig = plots.plot_size_breakdown({"dense": {"values": 100.0, "bias": 1.0}, "pruned": {"values": 10.0}})
    assert len(fig.axes) == 2
    plots.plot_symbol_histograms({"a": np.array([3, 1]), "b": np.array([1, 1, 2])})


def test_iterative_pruning_plot_marks_the_one_shot_point_at_the_final_count():
    fig = plots.plot_iterative_pruning([1000, 300, 100], [98.5, 98.4, 98.3], 98.1, baseline=98.4)
    ax = fig.axes[0]
    assert _labelled(ax) and ax.get_xscale() == "log" and ax.xaxis_inverted()
    assert list(ax.lines[0].get_ydata()) == [98.5, 98.4, 98.3]
    assert ax.collections[0].get_offsets().tolist() == [[100, 98.1]]
