"""Fast forms of a decoded model: weights built once, dead units removed, ONNX fp32 and int8."""
import subprocess

import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import pattern_mnist_loaders
from test_runtime import compressed_file
from vietai_compress.deploy import (SmallNet, export_onnx, inference_form, onnx_log_probs, onnx_session,
                                    quantize_dynamic, quantize_static, small_model, torch_free_python)
from vietai_compress.models import LeNet5, LeNet300100, MASKED_LAYER_TYPES
from vietai_compress.quantization import SHARED_LAYER_TYPES, fine_tune_centroids
from vietai_compress.runtime import load
from vietai_compress.storage import load_model


@pytest.mark.parametrize("cls", [LeNet300100, LeNet5])
def test_the_inference_form_has_plain_layers_and_the_same_outputs(tmp_path, cls):
    _, decoded = compressed_file(tmp_path, cls)
    fast = inference_form(decoded)
    kinds = {type(m) for m in fast.modules()}
    assert not kinds & set(SHARED_LAYER_TYPES + MASKED_LAYER_TYPES) and kinds & {nn.Linear, nn.Conv2d}
    images = torch.randn(9, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(fast(images), decoded(images))
    assert any(isinstance(m, SHARED_LAYER_TYPES) for m in decoded.modules())  # the original is unchanged


def test_load_model_gives_the_inference_form_unless_asked_for_training(tmp_path):
    path, decoded = compressed_file(tmp_path, LeNet300100)
    name, model = load_model(path)
    assert name == "lenet300" and isinstance(model.fc1, nn.Linear) and not model.training
    images = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(images), decoded(images))
    _, trainable = load_model(path, training=True)
    fine_tune_centroids(trainable, [(images, torch.arange(4))], 1, progress=False)  # centroids still train


@pytest.mark.parametrize("cls, name", [(LeNet300100, "lenet300"), (LeNet5, "lenet5")])
def test_the_small_model_drops_dead_units_and_keeps_the_outputs(tmp_path, cls, name):
    path, decoded = compressed_file(tmp_path, cls)
    small = small_model(decoded, name)
    assert isinstance(small, SmallNet)
    assert [tuple(m.weight.shape) for m in small.layers] == [l.weight.shape for l in load(path).layers]
    images = torch.randn(17, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(small(images), decoded(images), atol=1e-5, rtol=0)
        assert torch.equal(small(images).argmax(1), decoded(images).argmax(1))
    with pytest.raises(ValueError, match="model_name"):
        small_model(decoded, "resnet")


@pytest.mark.parametrize("cls, name", [(LeNet300100, "lenet300"), (LeNet5, "lenet5")])
def test_onnx_export_runs_in_onnx_runtime_at_any_batch_size(tmp_path, cls, name):
    _, decoded = compressed_file(tmp_path, cls)
    path = export_onnx(small_model(decoded, name), tmp_path / "model.onnx")
    session = onnx_session(path, threads=1)
    for batch in (1, 7):
        images = torch.randn(batch, 1, 28, 28)
        with torch.no_grad():
            expected = decoded(images).numpy()
        np.testing.assert_allclose(onnx_log_probs(session, images.numpy()), expected, atol=1e-4)


def trained_lenet300(tmp_path):
    """A LeNet-300-100 that learned the synthetic pattern classes, pruned and shared: (path, model, images)."""
    from vietai_compress.pruning import prune_by_std
    from vietai_compress.quantization import share_weights
    from vietai_compress.storage import save_compressed
    from vietai_compress.training import make_optimizer, train

    torch.manual_seed(0)
    train_loader, test_loader = pattern_mnist_loaders()
    model = LeNet300100()
    train(model, train_loader, make_optimizer(model), 2, "cpu", progress=False)
    prune_by_std(model, 1.0)
    share_weights(model, 5)
    path = save_compressed(model, tmp_path / "trained.vcz")
    return path, model.eval(), test_loader.images


def test_int8_models_agree_with_float_on_a_trained_network(tmp_path):
    _, model, images = trained_lenet300(tmp_path)
    fp32 = export_onnx(small_model(model, "lenet300"), tmp_path / "fp32.onnx")
    with torch.no_grad():
        expected = model(images).argmax(1).numpy()
    assert (expected == torch.arange(len(images)) % 10).float().mean() > 0.9  # the network learned something
    for int8 in (quantize_dynamic(fp32, tmp_path / "dyn.onnx"),
                 quantize_static(fp32, tmp_path / "static.onnx", images[:64].numpy())):
        got = onnx_log_probs(onnx_session(int8), images.numpy()).argmax(1)
        assert (got == expected).mean() >= 0.97
        assert int8.stat().st_size < fp32.stat().st_size
    with pytest.raises(ValueError, match="calibration"):
        quantize_static(fp32, tmp_path / "none.onnx", images[:0].numpy())
    assert (torch.tensor([1e-39]) * 1.0).item() == 0.0  # ONNX Runtime reset the thread's flags; deploy set them back


def test_predict_runs_in_a_virtual_environment_without_torch(tmp_path):
    from PIL import Image

    path, model, images = trained_lenet300(tmp_path)
    pixels = (images[:3, 0].numpy() * 0.3081 + 0.1307).clip(0, 1)
    files = []
    for i, digit in enumerate(pixels):
        files.append(tmp_path / f"digit{i}.png")
        Image.fromarray((255 * (1 - digit)).astype(np.uint8)).resize((112, 112)).save(files[-1])  # dark on white
    python = torch_free_python(tmp_path / "env")
    assert subprocess.run([str(python), "-c", "import torch"], capture_output=True, cwd=tmp_path).returncode != 0
    done = subprocess.run([str(python), "-m", "vietai_compress", "predict", str(path), *map(str, files)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(f) for f in files]
    digits = [int(line.split(": ")[1].split(" ")[0]) for line in lines]
    from vietai_compress.images import read_digit
    expected = load(path).predict(np.stack([read_digit(f) for f in files]))[0]
    assert digits == expected.tolist()


def test_initializer_bytes_count_an_onnx_files_tensors_by_type(tmp_path):
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from vietai_compress.deploy import initializer_bytes

    weights = [numpy_helper.from_array(np.zeros((3, 4), np.float32), "w"),
               numpy_helper.from_array(np.zeros(5, np.int8), "q")]
    graph = helper.make_graph([], "g", [], [], initializer=weights)
    onnx.save(helper.make_model(graph), tmp_path / "m.onnx")
    assert initializer_bytes(tmp_path / "m.onnx") == {"float32": 48, "int8": 5}
