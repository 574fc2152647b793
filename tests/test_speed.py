"""The timing helper and the variants of a compressed model the benchmark and notebook 10 measure."""
import time

import numpy as np
import pytest
import torch

from test_runtime import compressed_file
from vietai_compress.models import LeNet300100
from vietai_compress.speed import NAMES_VI, build_variants, floors, measure
from vietai_compress.timing import compare, time_calls


def test_compare_times_each_variant_and_orders_them_by_their_cost():
    timings = compare({"short": lambda: time.sleep(0.0005), "long": lambda: time.sleep(0.002)}, seconds=0.2)
    assert timings["short"].p50 < timings["long"].p50
    for t in timings.values():
        assert t.calls >= 5 and t.p50 <= t.p99
    assert 0.0005 <= timings["short"].p50 and 0.002 <= timings["long"].p50
    assert time_calls(lambda: None, seconds=0.05).per_second(256) > 256


def test_compare_rejects_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        compare({})
    with pytest.raises(ValueError, match="seconds"):
        compare({"f": lambda: None}, seconds=0)
    with pytest.raises(TypeError, match="rounds"):
        compare({"f": lambda: None}, rounds=1.5)


def test_every_variant_gives_the_decoded_models_predictions(tmp_path):
    path, decoded = compressed_file(tmp_path, LeNet300100)
    dense = LeNet300100()
    images = torch.randn(40, 1, 28, 28).numpy()
    variants = build_variants(path, dense, images[:20], tmp_path / "files", threads=1)
    assert list(variants) == [name for name in NAMES_VI if not name.startswith("structured")]
    with torch.no_grad():
        expected = decoded(torch.from_numpy(images)).numpy()
        reference = dense(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(variants["dense"].log_probs(images), reference, atol=1e-5)
    for name in ("shared", "inference", "small", "onnx", "runtime"):
        np.testing.assert_allclose(variants[name].log_probs(images), expected, atol=1e-4)
    assert variants["runtime"].bytes == variants["shared"].bytes == path.stat().st_size  # the .vcz itself
    assert variants["onnx_int8_dynamic"].bytes < variants["onnx"].bytes < variants["dense"].bytes


def test_measure_gives_one_row_per_variant_and_batch_with_the_reference_at_1x(tmp_path):
    path, _ = compressed_file(tmp_path, LeNet300100)
    images = torch.randn(30, 1, 28, 28).numpy()
    labels = np.arange(30) % 10
    variants = build_variants(path, LeNet300100(), images[:10], tmp_path / "files", threads=1)
    rows = measure({k: variants[k] for k in ("dense", "runtime")}, images, labels, batches=(1, 8), seconds=0.05)
    assert [(r.name, r.batch) for r in rows] == [("dense", 1), ("runtime", 1), ("dense", 8), ("runtime", 8)]
    assert all(r.speedup == 1.0 for r in rows if r.name == "dense")
    runtime_accuracy = 100 * np.mean(variants["runtime"].log_probs(images).argmax(1) == labels)
    assert rows[1].accuracy == pytest.approx(runtime_accuracy)
    assert set(compare(floors(1, tmp_path), seconds=0.05)) == {"onnx_empty", "torch_empty"}


def test_a_plain_model_runs_the_same_in_pytorch_and_onnx_runtime(tmp_path):
    from vietai_compress.models import LeNet5
    from vietai_compress.speed import model_variants
    from vietai_compress.structured import prune_units

    torch.manual_seed(0)
    model = LeNet5()
    prune_units(model, {"conv1": 0.5, "fc1": 0.5})
    images = torch.randn(12, 1, 28, 28).numpy()
    variants = model_variants(model, images, tmp_path, threads=1)
    assert list(variants) == ["structured", "structured_onnx", "structured_onnx_int8_static"]
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(images)).numpy()
    for name in ("structured", "structured_onnx"):
        np.testing.assert_allclose(variants[name].log_probs(images), expected, atol=1e-4)
    assert variants["structured_onnx_int8_static"].bytes < variants["structured_onnx"].bytes


def test_plain_variants_add_int8_files_that_are_smaller_and_say_what_they_hold(tmp_path):
    from vietai_compress.models import LeNet5
    from vietai_compress.speed import dense_variant, onnx_ops, onnx_tensors, op_times, plain_variants, tensor_bytes
    from vietai_compress.structured import prune_units

    torch.manual_seed(0)
    model = LeNet5()
    prune_units(model, {"conv1": 0.5, "conv2": 0.5, "fc1": 0.25})
    images = torch.randn(16, 1, 28, 28).numpy()
    assert list(plain_variants(model, tmp_path / "float", threads=1)) == ["structured", "structured_onnx"]
    variants = {"dense": dense_variant(LeNet5(), tmp_path), **plain_variants(model, tmp_path, 1, images)}
    assert set(variants) <= set(NAMES_VI)
    fp32, dynamic, static = (variants[f"structured_onnx{s}"].file for s in ("", "_int8_dynamic", "_int8_static"))
    assert tensor_bytes(fp32)["float32"] == 4 * sum(p.numel() for p in model.parameters())
    for path in (dynamic, static):
        assert tensor_bytes(path)["int8"] >= sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
        assert path.stat().st_size < fp32.stat().st_size / 2
    assert ("fc1.weight", "float32", 4 * model.fc1.weight.numel()) in onnx_tensors(fp32)
    assert onnx_ops(static)["QuantizeLinear"] >= 1 and onnx_ops(static)["DequantizeLinear"] >= 1
    assert "QuantizeLinear" not in onnx_ops(fp32)
    times = op_times(static, images, threads=1, calls=3)
    assert "QLinearConv" in times and all(t > 0 for t in times.values())
    assert list(times.values()) == sorted(times.values(), reverse=True)
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(variants["structured_onnx"].log_probs(images), expected, atol=1e-4)
