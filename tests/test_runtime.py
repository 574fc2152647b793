"""The torch-free runtime: it reads a .vcz file itself and gives the decoded torch model's outputs."""
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse
import torch

from vietai_compress.models import LeNet5, LeNet300100, masked_layers
from vietai_compress.pruning import prune_by_std
from vietai_compress.quantization import share_weights
from vietai_compress.runtime import SPARSE_BELOW, Layer, load, read_layers, remove_dead_units
from vietai_compress.storage import load_compressed, save_compressed
from vietai_compress.vcz import read_file
from vcz_fixtures import fixture_files, flipped, python_verdict, random_images, refused_files


def compressed_file(tmp_path, cls, dead: int = 5, seed: int = 0):
    """A pruned, shared model of ``cls`` whose first layer has ``dead`` units with no weights in (but a bias),
    written to a .vcz file; returns (path, the decoded torch model)."""
    torch.manual_seed(seed)
    model = cls()
    prune_by_std(model, 1.5)  # default init is uniform: 1.5 std keeps about 13% of the weights
    first = masked_layers(model)[0][1]
    with torch.no_grad():
        first.mask[:dead] = 0
        first.weight[:dead] = 0
        first.bias[:dead] = torch.linspace(-0.5, 0.5, dead)  # constant units, some positive after ReLU
    share_weights(model, 4)
    path = save_compressed(model, tmp_path / f"{cls.__name__}.vcz")
    decoded = cls()
    load_compressed(path, decoded)
    return path, decoded.eval()


@pytest.mark.parametrize("cls", [LeNet300100, LeNet5])
def test_the_runtime_gives_the_decoded_models_log_probabilities(tmp_path, cls):
    path, decoded = compressed_file(tmp_path, cls)
    images = torch.randn(33, 1, 28, 28)
    with torch.no_grad():
        expected = decoded(images).numpy()
    runtime = load(path)
    got = runtime.log_probs(images.numpy())
    assert got.shape == (33, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-4)
    digits, probabilities = runtime.predict(images.numpy())
    assert np.array_equal(digits, expected.argmax(axis=1))
    np.testing.assert_allclose(probabilities, np.exp(expected.max(axis=1)), rtol=1e-4)
    units = masked_layers(cls())[0][1].weight.shape[0]
    assert runtime.layers[0].weight.shape[0] <= units - 5  # the 5 units with no weights in are gone


def test_a_layer_runs_as_csr_below_the_crossover_density_and_dense_above_it(tmp_path):
    torch.manual_seed(0)
    model = LeNet300100()
    prune_by_std(model, 1.5)  # every layer about 13% nonzero
    with torch.no_grad():  # fc2 about 2%
        model.fc2.mask *= (torch.rand_like(model.fc2.mask) < 0.15).float()
        model.fc2.weight *= model.fc2.mask
    share_weights(model, 4)
    runtime = load(save_compressed(model, tmp_path / "model.vcz"))
    density = [np.count_nonzero(layer.weight) / layer.weight.size for layer in runtime.layers]
    kinds = [scipy.sparse.issparse(matrix) for matrix in runtime.matrices]
    assert kinds == [d < SPARSE_BELOW for d in density] and any(kinds) and not all(kinds)
    images = torch.randn(7, 1, 28, 28)
    with torch.no_grad():
        np.testing.assert_allclose(runtime.log_probs(images.numpy()), model.eval()(images).numpy(), atol=1e-4)


def test_read_layers_rebuilds_every_weight_from_positions_and_centroids(tmp_path):
    path, decoded = compressed_file(tmp_path, LeNet300100)
    name, layers = read_layers(path)
    assert name == "lenet300" and [layer.after for layer in layers] == [("relu",), ("relu",), ()]
    for layer, (_, torch_layer) in zip(layers, [(n, m) for n, m in decoded.named_modules() if hasattr(m, "centroids")]):
        assert np.array_equal(layer.weight, torch_layer.weight.detach().numpy())


def test_dead_units_are_removed_and_constant_ones_folded_into_the_next_bias():
    # hidden unit 0 has no weights in (a constant relu(0.5) = 0.5); unit 1 has no weights out; unit 2 lives
    fc1 = Layer("fc1", np.array([[0, 0], [1, 2], [3, -1]], np.float32), np.array([0.5, 0.1, 0.2], np.float32), ("relu",))
    fc2 = Layer("fc2", np.array([[2, 0, 1], [-1, 0, 4]], np.float32), np.array([0.0, 1.0], np.float32))
    small, inputs = remove_dead_units([fc1, fc2])
    assert [layer.weight.shape for layer in small] == [(1, 2), (2, 1)]
    assert np.array_equal(small[0].weight, [[3, -1]]) and np.array_equal(small[1].weight, [[1], [4]])
    np.testing.assert_allclose(small[1].bias, [0.0 + 2 * 0.5, 1.0 - 1 * 0.5])
    assert inputs.tolist() == [0, 1] and fc1.weight.shape == (3, 2)  # the layers given are not changed


def test_a_unit_that_only_fed_dead_units_is_removed_too():
    fc1 = Layer("fc1", np.array([[1, 1], [2, 2]], np.float32), np.zeros(2, np.float32), ("relu",))
    fc2 = Layer("fc2", np.array([[1, 0], [0, 0]], np.float32), np.zeros(2, np.float32), ("relu",))  # unit 1: no inputs
    fc3 = Layer("fc3", np.array([[0, 1]], np.float32), np.zeros(1, np.float32))  # reads only fc2's dead unit 1
    small, _ = remove_dead_units([fc1, fc2, fc3])
    # fc2 unit 0 is read by nobody, fc2 unit 1 is the constant 0: nothing is left between fc1 and fc3 but one unit
    # per layer that does nothing (no layer is empty)
    assert [layer.weight.shape for layer in small] == [(1, 1), (1, 1), (1, 1)]
    assert not any(layer.weight.any() for layer in small) and small[2].bias.tolist() == [0.0]


def test_input_pixels_no_weight_reads_are_dropped(tmp_path):
    path, decoded = compressed_file(tmp_path, LeNet300100, dead=0)
    reads = decoded.fc1.weight.detach().numpy().any(axis=0)
    assert np.array_equal(load(path).inputs, np.flatnonzero(reads))


def test_a_model_the_runtime_does_not_know_is_a_clear_error(tmp_path):
    import torch.nn as nn

    from vietai_compress.models import MaskedLinear

    model = nn.Sequential(MaskedLinear(4, 3))
    share_weights(model, 2)
    path = save_compressed(model, tmp_path / "custom.vcz")
    with pytest.raises(ValueError, match="'custom' model"):
        load(path)
    assert read_file(path)[0] == "custom"


def test_the_runtime_the_formats_reader_and_predict_import_no_torch(tmp_path):
    path, _ = compressed_file(tmp_path, LeNet300100)
    from PIL import Image

    Image.fromarray(np.pad(np.full((20, 8), 255, np.uint8), 4)).save(tmp_path / "one.png")
    script = ("import sys\n"
              "from vietai_compress.cli import main\n"
              f"code = main(['predict', {str(path)!r}, {str(tmp_path / 'one.png')!r}])\n"
              "assert 'torch' not in sys.modules, 'torch was imported'\n"
              "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{tmp_path / 'one.png'}: ")


@pytest.mark.parametrize("what", sorted(refused_files()))
def test_a_file_that_does_not_fit_the_models_architecture_is_a_clear_error(tmp_path, what):
    data, error = refused_files()[what]
    path = tmp_path / "model.vcz"
    path.write_bytes(data)
    with pytest.raises(ValueError) as raised:
        load(path)
    assert error in str(raised.value)


@pytest.mark.parametrize("name", ["lenet300_narrow.vcz", "lenet5_narrow.vcz"])
def test_every_single_byte_change_is_refused_with_a_value_error_or_runs_to_finite_outputs(name):
    # every byte inverted in turn, the CRC recomputed so that the checks behind it are reached (web/vcz.js is held
    # to the same answers by tests/js/vcz.test.mjs)
    data, images = fixture_files()[name], random_images(2)
    outcomes = []
    for position in range(len(data)):
        start = time.perf_counter()
        log_probs = python_verdict(flipped(data, position), images)  # any exception but ValueError fails here
        assert time.perf_counter() - start < 1.0, f"byte {position} took {time.perf_counter() - start:.1f} s"
        assert log_probs is None or np.isfinite(log_probs).all(), f"byte {position}"
        outcomes.append(log_probs is None)
    assert any(outcomes) and not all(outcomes)  # some changes are refused, some (a weight's value) run
