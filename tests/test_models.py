import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vietai_compress.models import LeNet, LeNet300100, MaskedConv2d, MaskedLinear, build_model, masked_layers


def test_masked_linear_mask_is_a_buffer_not_a_parameter():
    layer = MaskedLinear(5, 3)
    assert "mask" in layer.state_dict()
    assert "mask" not in dict(layer.named_parameters())
    assert layer.mask.shape == layer.weight.shape and torch.all(layer.mask == 1)


def test_masked_linear_forward_uses_weight_times_mask_and_blocks_gradients():
    torch.manual_seed(0)
    layer = MaskedLinear(5, 3)
    layer.mask[0, :2] = 0
    x = torch.randn(4, 5)
    out = layer(x)
    assert torch.allclose(out, F.linear(x, layer.weight * layer.mask, layer.bias))
    out.sum().backward()
    assert torch.all(layer.weight.grad[0, :2] == 0)
    assert torch.all(layer.weight.grad[1:] != 0)


def test_masked_conv_forward_matches_conv_with_masked_weight():
    torch.manual_seed(0)
    conv = MaskedConv2d(2, 4, 3, padding=1)
    conv.mask[1] = 0
    x = torch.randn(2, 2, 8, 8)
    expected = F.conv2d(x, conv.weight * conv.mask, conv.bias, padding=1)
    assert torch.allclose(conv(x), expected)
    assert torch.all(conv(x)[:, 1] == conv.bias[1])


def test_lenet_shapes_and_parameter_count():
    model = LeNet300100()
    out = model(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10)
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(3))
    assert sum(p.numel() for p in model.parameters()) == 266_610
    assert LeNet is LeNet300100


def test_lenet_without_masks_uses_plain_linear():
    model = LeNet300100(mask=False)
    assert masked_layers(model) == []
    assert all(type(m) is nn.Linear for m in (model.fc1, model.fc2, model.fc3))


def test_masked_layers_are_found_by_type_whatever_their_names():
    model = nn.Sequential(MaskedLinear(3, 3), nn.ReLU(), nn.Sequential(MaskedConv2d(1, 1, 3)), nn.Linear(2, 2))
    assert [name for name, _ in masked_layers(model)] == ["0", "2.0"]


def test_build_model():
    assert isinstance(build_model("lenet300"), LeNet300100)
    with pytest.raises(ValueError, match="model must be one of"):
        build_model("resnet")
