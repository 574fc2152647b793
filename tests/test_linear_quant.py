"""Linear quantization, checked against the math and against PyTorch's fake-quantization kernels."""
import math

import pytest
import torch
import torch.nn as nn

from helpers import blob_loaders, tiny_masked_mlp
from vietai_compress.linear_quant import (IntegerLinear, QParams, calibrate, dequantize, fake_quantize,
                                          fake_quantized, fixed_point, int_range, kmeans_vs_linear, qparams, quantize,
                                          requantize, strip_fake_quantization, tensor_qparams)
from vietai_compress.training import make_optimizer, train


def test_known_answers_for_scale_and_zero_point():
    q = qparams(torch.tensor(-1.0), torch.tensor(3.0), 8)
    assert q.scale.item() == pytest.approx(4 / 255) and q.zero_point.item() == -64  # round(-128 + 63.75)
    assert int_range(8) == (-128, 127) and int_range(4) == (-8, 7)
    symmetric = qparams(torch.tensor(-0.5), torch.tensor(2.54), 8, symmetric=True)
    assert symmetric.scale.item() == pytest.approx(2.54 / 127) and symmetric.zero_point.item() == 0
    positive = qparams(torch.tensor(1.0), torch.tensor(2.0), 8)  # the range is widened to contain 0
    assert dequantize(quantize(torch.tensor(0.0), positive), positive).item() == 0.0
    with pytest.raises(ValueError, match="bits"):
        int_range(1)


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_quantization_error_is_at_most_half_a_step_inside_the_range_and_zero_is_exact(bits):
    x = torch.linspace(-2.0, 1.0, 1001)
    q = tensor_qparams(x, bits)
    back = dequantize(quantize(x, q), q)
    assert (back - x).abs().max() <= q.scale / 2 + 1e-6
    assert dequantize(quantize(torch.zeros(3), q), q).eq(0).all()
    assert quantize(x, q).unique().numel() <= 2 ** bits


def test_fake_quantize_matches_pytorch_per_channel_and_per_tensor_values_and_gradients():
    torch.manual_seed(0)
    weight = torch.randn(6, 5, requires_grad=True)
    q = tensor_qparams(weight, 8, per_channel=True, symmetric=True)
    q = QParams(q.scale * 0.8, q.zero_point)  # a tighter range, so that some values are clamped
    ours = fake_quantize(weight, q)
    ours.sum().backward()
    ours_grad, weight.grad = weight.grad.clone(), None
    reference = torch.fake_quantize_per_channel_affine(weight, q.scale, q.zero_point.to(torch.int32), 0, -128, 127)
    reference.sum().backward()
    assert torch.equal(ours, reference) and torch.equal(ours_grad, weight.grad)
    assert 0 < ours_grad.sum() < weight.numel()  # the straight-through estimator stopped at the clamped values
    x = torch.randn(100) * 3
    q = qparams(torch.tensor(-2.0), torch.tensor(2.0), 8)
    reference = torch.fake_quantize_per_tensor_affine(x, float(q.scale), int(q.zero_point), -128, 127)
    assert torch.equal(fake_quantize(x, q), reference)


@pytest.mark.parametrize("multiplier", [0.9, 0.5, 0.123, 3.3e-4, 1e-7])
def test_a_fixed_point_multiplier_stands_for_the_real_one(multiplier):
    m0, shift = fixed_point(multiplier)
    assert 2 ** 30 <= m0 < 2 ** 31
    assert m0 * 2.0 ** -(31 + shift) == pytest.approx(multiplier, rel=2 ** -30)
    acc = torch.tensor([[1000, -1000, 123456]])
    out = requantize(acc, torch.tensor([m0] * 3), torch.tensor([shift] * 3), 0, 16)
    assert torch.equal(out, torch.round(acc * multiplier).clamp(-2 ** 15, 2 ** 15 - 1).to(torch.int64))
    with pytest.raises(ValueError, match="multiplier"):
        fixed_point(1.5)


def test_the_integer_only_layer_is_within_one_output_step_of_float_arithmetic_on_the_same_integers():
    torch.manual_seed(1)
    layer = nn.Linear(64, 16)
    x = torch.randn(200, 64).relu()
    x_q = tensor_qparams(x, 8)
    y = layer(x)
    y_q = tensor_qparams(y, 8)
    integer = IntegerLinear.from_float(layer, x_q, y_q)
    xi = quantize(x, x_q)
    assert xi.dtype == torch.int64 and xi.min() >= -128 and xi.max() <= 127
    out = integer(xi)
    w_q = tensor_qparams(layer.weight, 8, per_channel=True, symmetric=True)
    float_same_integers = nn.functional.linear(dequantize(xi, x_q), dequantize(quantize(layer.weight, w_q), w_q),
                                               layer.bias)
    assert (dequantize(out, y_q) - float_same_integers).abs().max() <= y_q.scale * 1.0001
    assert (dequantize(out, y_q) - y.detach()).abs().max() < 0.05 * y.abs().max()  # and close to the float layer


def test_calibration_records_every_layer_input_range_and_ptq_stays_close_to_float():
    torch.manual_seed(0)
    train_loader, test_loader = blob_loaders()
    model = tiny_masked_mlp()
    train(model, train_loader, make_optimizer(model, lr=0.02), 20, "cpu", progress=False)
    ranges = calibrate(model, train_loader, batches=3)
    assert list(ranges) == ["0", "2"] and all(low <= high for low, high in ranges.values())
    assert ranges["2"][0] == 0.0  # the input of the second layer comes out of a ReLU
    ptq = fake_quantized(model, ranges, 8)
    x = test_loader.images
    with torch.no_grad():
        assert (model(x).argmax(1) == test_loader.labels).float().mean() > 0.95  # the float model learned
        assert (ptq(x).argmax(1) == model(x).argmax(1)).float().mean() > 0.97
        assert (ptq(x).exp() - model(x).exp()).abs().max() < 0.02  # probabilities within 2 points
    assert isinstance(model[0], nn.Linear) and not hasattr(model[0], "input_q")  # the model is not changed


def test_qat_trains_through_the_rounding_and_stripping_leaves_few_values_and_zeros():
    torch.manual_seed(0)
    train_loader, _ = blob_loaders()
    model = tiny_masked_mlp()
    with torch.no_grad():
        model[0].mask[:, :2] = 0
        model[0].weight.mul_(model[0].mask)
    qat = fake_quantized(model, calibrate(model, train_loader), bits=3)
    before = qat[0].layer.weight.detach().clone()
    train(qat, train_loader, make_optimizer(qat), 2, "cpu", progress=False)
    assert not torch.equal(before, qat[0].layer.weight)  # the float weights moved, through fake_quantize
    strip_fake_quantization(qat)
    assert isinstance(qat[0], nn.Linear)
    weight = qat[0].weight.detach()
    assert torch.all(weight[:, :2] == 0)
    assert all(row.unique().numel() <= 2 ** 3 for row in weight)
    assert math.isfinite(float(weight.sum()))


def test_weight_only_fake_quantization_needs_no_ranges_and_full_quantization_does():
    model = tiny_masked_mlp()
    x = torch.randn(5, 4)
    with torch.no_grad():
        weight_only = fake_quantized(model, None, 8, weight_only=True)
        assert (weight_only(x) - model(x)).abs().max() < 0.05
    with pytest.raises(ValueError, match="ranges"):
        fake_quantized(model, None, 8)


def test_kmeans_against_linear_gives_four_points_per_bit_width_and_leaves_the_model_alone():
    torch.manual_seed(0)
    train_loader, test_loader = blob_loaders()
    model = tiny_masked_mlp()
    train(model, train_loader, make_optimizer(model, lr=0.02), 20, "cpu", progress=False)
    before = [p.detach().clone() for p in model.parameters()]
    points = kmeans_vs_linear(model, train_loader, test_loader, bits=(8, 2), epochs=1, device="cpu", progress=False)
    assert [(p.method, p.bits, p.fine_tuned) for p in points] == [
        (method, bits, tuned) for bits in (8, 2) for method in ("k-means", "linear") for tuned in (False, True)]
    assert all(p.val_accuracy > 90 for p in points if p.bits == 8)  # 256 levels lose nothing on blobs
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_the_points_before_fine_tuning_are_kmeans_vs_linears_without_any_training():
    from vietai_compress.linear_quant import kmeans_vs_linear_before

    torch.manual_seed(0)
    train_loader, test_loader = blob_loaders()
    model = tiny_masked_mlp()
    train(model, train_loader, make_optimizer(model, lr=0.02), 20, "cpu", progress=False)
    before = [p.detach().clone() for p in model.parameters()]
    full = kmeans_vs_linear(model, train_loader, test_loader, bits=(4, 2), epochs=1, device="cpu", progress=False)
    quick = kmeans_vs_linear_before(model, test_loader, bits=(4, 2), device="cpu")
    assert quick == [p for p in full if not p.fine_tuned]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_the_bits_figure_keeps_the_axis_for_three_bits_and_up_and_labels_what_it_clips():
    import matplotlib.pyplot as plt

    from vietai_compress.quant_plots import axis_top, plot_kmeans_vs_linear

    rows = [{"method": m, "bits": b, "fine_tuned": t, "val_accuracy": 99.0 - (20.0 if (m, b, t) == ("linear", 2, False)
                                                                                   else 0.1 * (9 - b))}
            for m in ("k-means", "linear") for b in (8, 4, 3, 2) for t in (False, True)]
    assert axis_top(rows) == pytest.approx(1.25 * (1.0 + 0.6))  # the worst of 3 bits and up: 1.6%
    fig = plot_kmeans_vs_linear({"A": rows, "B": rows})
    assert len(fig.axes) == 2
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["tuyến tính, trước: 21.00%"]  # only the 2-bit linear point before fine-tuning is off the axis
    assert fig.axes[0].get_ylim()[1] == pytest.approx(axis_top(rows))
    with pytest.raises(ValueError, match="results"):
        plot_kmeans_vs_linear({})
    plt.close("all")


def test_clipped_points_are_drawn_side_by_side_and_others_where_they_are():
    from vietai_compress.quant_plots import _spread

    row = [("k-means", False), ("linear", True)]
    assert _spread(3, row, ("k-means", False)) < 3 < _spread(3, row, ("linear", True))
    assert _spread(3, row, ("linear", False)) == 3
