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
    fig = plots.plot_training_curve({"loss": [1.0, 0.5, 0.2], "eval_accuracy": [90, 95, 97]})
    assert len(fig.axes) == 2 and _labelled(fig.axes[0]) and fig.axes[1].get_ylabel()
    assert len(fig.axes[0].lines[0].get_xdata()) == 3


def test_training_curve_baseline_joins_the_one_legend():
    fig = plots.plot_training_curve({"loss": [1.0, 0.5], "eval_accuracy": [90, 95]}, baseline=96.0)
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()][-1] == "mô hình gốc"


def test_weight_histograms_use_a_log_count_axis_unless_asked_not_to():
    before, after = torch.tensor([-1.0, -0.1, 0.1, 1.0]), torch.tensor([-1.0, 0.0, 0.0, 1.0])
    assert all(ax.get_yscale() == "log" for ax in plots.plot_weight_histograms(before, after, "fc1").axes)
    assert all(ax.get_yscale() == "linear" for ax in plots.plot_weight_histograms(before, after, "fc1", log=False).axes)


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
    zoomed = plots.plot_accuracy_vs_bits([1, 2, 3], {"a": [50, 90, 95]}, baseline=97, zoom=(85, 98))
    assert zoomed.axes[0].get_ylim() == (85, 98) and [t.get_text() for t in zoomed.axes[0].texts] == ["↓ 50.0%"]
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


def test_iterative_pruning_plot_draws_one_shot_pruning_as_a_line_that_hides_no_round():
    fig = plots.plot_iterative_pruning([1000, 300, 100], [98.5, 98.4, 98.3], 98.1, baseline=98.6)
    ax = fig.axes[0]
    assert _labelled(ax) and ax.get_xscale() == "log" and ax.xaxis_inverted()
    assert list(ax.lines[0].get_ydata()) == [98.5, 98.4, 98.3]
    one_shot = [line for line in ax.lines if "một lần" in line.get_label()]
    assert len(one_shot) == 1 and set(one_shot[0].get_ydata()) == {98.1}
    low, high = ax.get_ylim()
    assert low < 98.1 and high > 98.6  # no line on the frame
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1,000", "300", "100"]


def test_soft_targets_draw_one_row_per_digit_and_one_column_per_temperature():
    probs = {T: torch.softmax(torch.randn(3, 10) / T, 1) for T in (1.0, 4.0, 20.0)}
    fig = plots.plot_soft_targets(torch.randn(3, 1, 28, 28), torch.tensor([3, 5, 8]), probs)
    assert len(fig.axes) == 3 * 4
    assert [fig.axes[i].get_title() for i in (1, 2, 3)] == ["T = 1", "T = 4", "T = 20"]
    assert fig.axes[0].get_title() == "nhãn: 3" and len(fig.axes[1].patches) == 10


def test_lines_plot_one_line_per_series_with_labelled_axes():
    fig = plots.plot_lines([1, 4, 20], {"a": [3, 2, 1], "b": [1, 2, 3]}, "t", "T", "lỗi", logx=True, logy=True)
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and _labelled(ax) and ax.get_xscale() == "log" and ax.get_yscale() == "log"


def test_filters_draw_one_grid_per_stage_with_pruned_weights_masked():
    w = torch.randn(20, 1, 5, 5)
    fig = plots.plot_filters({"trước": w, "sau": w * (w.abs() > 1)})
    assert len(fig.axes) == 2 * 20 and [panel._suptitle.get_text() for panel in fig.subfigs] == ["trước", "sau"]
    after = fig.axes[20].images[0].get_array()
    assert after.mask.sum() == int((w[0, 0].abs() <= 1).sum())  # zeros are masked (drawn grey)


def test_ratio_vs_error_draws_series_with_their_spread_and_labelled_references():
    fig = plots.plot_ratio_vs_error({"ours": [(40.0, 0.7), (70.0, 0.8)], "3 seeds": [(80.0, 0.9, (0.8, 1.1), (78, 83))]},
                                    {"paper": (39.0, 0.74)})
    ax = fig.axes[0]
    assert len(ax.collections) == 2 + 2 + 1  # two points, one error bar (its two line collections), one star
    assert [t.get_text() for t in ax.texts] == ["paper"] and ax.get_xscale() == "log"
    assert _labelled(ax) and [t.get_text() for t in ax.get_legend().get_texts()] == ["ours", "3 seeds"]




def test_plain_log_axis_labels_powers_of_ten_and_their_2_and_5_multiples_as_plain_numbers():
    fig, ax = plt.subplots()
    ax.set_yscale("log")
    plots.plain_log_axis(ax.yaxis)
    major, minor = ax.yaxis.get_major_formatter(), ax.yaxis.get_minor_formatter()
    assert [major(v) for v in (1, 10, 0.1)] == ["1", "10", "0.1"]
    assert [minor(v) for v in (2, 3, 20, 50, 70)] == ["2", "", "20", "50", ""]
    plt.close(fig)


def test_kilobyte_ticks_use_the_series_number_format():
    assert plots._kilobytes(1_000_000) == "1,000 KB"
