"""Choosing the units each layer keeps on the validation split, and Deep Compression's candidates on top."""
import pytest
import torch

from helpers import pattern_mnist_loaders
from vietai_compress.models import LeNet5
from vietai_compress.pipeline import Settings
from vietai_compress.structured_scan import (DC_KEEP, ScanPoint, choose_units, dc_candidates, load_or_scan,
                                             unit_sensitivity)


def test_the_scan_cuts_each_hidden_layer_alone_to_each_fraction_and_leaves_the_model_whole():
    torch.manual_seed(0)
    model = LeNet5()
    train_loader, val_loader = pattern_mnist_loaders(n=128)
    points = unit_sensitivity(model, train_loader, val_loader, fractions=(0.5, 0.25), epochs=1, device="cpu",
                              progress=False)
    assert [(p.layer, p.keep, p.units) for p in points] == [
        ("conv1", 0.5, 10), ("conv1", 0.25, 5), ("conv2", 0.5, 25), ("conv2", 0.25, 12), ("fc1", 0.5, 250),
        ("fc1", 0.25, 125)]
    dense_macs = 500 * 24 * 24 + 25_000 * 8 * 8 + 400_000 + 5_000
    assert all(p.macs < dense_macs for p in points) and all(0 <= p.val_error <= 100 for p in points)
    assert model.conv1.weight.shape[0] == 20  # the model itself keeps all its units


def test_the_rule_takes_each_layers_smallest_fraction_within_the_tolerance_and_skips_a_layer_with_none():
    points = [ScanPoint("conv1", 0.5, 10, 0.60, 0), ScanPoint("conv1", 0.25, 5, 0.71, 0),
              ScanPoint("fc1", 0.5, 250, 0.55, 0), ScanPoint("fc1", 0.25, 125, 0.62, 0),
              ScanPoint("conv2", 0.5, 25, 0.90, 0)]
    assert choose_units(points, base_val_error=0.52, tolerance=0.10) == {"conv1": 0.5, "fc1": 0.25}
    assert choose_units(points, base_val_error=0.52, tolerance=0.0) == {}
    with pytest.raises(ValueError, match="tolerance"):
        choose_units(points, 0.5, tolerance=-1)


def test_an_error_exactly_at_the_bound_is_within_it():
    # 0.48 + 0.20 is 0.6799... in floats; the rule must still accept an error of 0.68.
    points = [ScanPoint("conv2", 0.75, 38, 0.52, 0), ScanPoint("conv2", 0.5, 25, 0.68, 0),
              ScanPoint("conv2", 0.35, 18, 0.70, 0)]
    assert choose_units(points, base_val_error=0.48, tolerance=0.20) == {"conv2": 0.5}


def test_a_saved_scan_is_read_back_only_for_the_same_question(tmp_path, monkeypatch):
    import vietai_compress.structured_scan as scan

    calls = []
    monkeypatch.setattr(scan, "unit_sensitivity", lambda *a, **k: calls.append(1) or [ScanPoint("fc1", 0.5, 2, 1.0, 3)])
    path = tmp_path / "scan.json"
    first = load_or_scan(path, None, None, None, fractions=(0.5,), about={"seed": 42})
    assert load_or_scan(path, None, None, None, fractions=(0.5,), about={"seed": 42}) == first and len(calls) == 1
    load_or_scan(path, None, None, None, fractions=(0.5,), about={"seed": 43})
    load_or_scan(path, None, None, None, fractions=(0.25,), about={"seed": 43})
    assert len(calls) == 3


def test_every_candidate_is_a_valid_pipeline_setting_on_the_smaller_model():
    units = {"conv1": 0.5, "conv2": 0.35, "fc1": 0.25}
    candidates = dc_candidates(units)
    assert [o["keep"] for _, o in candidates] == DC_KEEP
    for label, options in candidates:
        settings = Settings(quick=True, **options)
        assert settings.units == units and settings.shift == 2 and label.endswith("jitter 2")


# ---------------------------------------------------------------- class mode of notebooks 11 and 12
def _row(label, ratio, val_error, seed=42):
    return {"label": label, "settings": {"model": "lenet5", "jitter": 2, "units": {"conv1": 0.5}, "keep": {"fc1": 0.1},
                                         "bits": 4, "rounds": 3},
            "seed": seed, "file_bytes": 1000, "ratio": ratio, "val_error": val_error, "test_error": 0.7,
            "base_val_error": 0.5, "base_test_error": 0.55, "seconds": 12.0}


def test_saved_rows_become_points_without_a_file_and_the_scan_its_points():
    from vietai_compress.beyond import Point
    from vietai_compress.structured_scan import saved_points, saved_scan

    points = saved_points([_row("a", 70.0, 0.6), _row("b", 90.0, 0.7)])
    assert all(isinstance(p, Point) and p.file == "" for p in points) and [p.label for p in points] == ["a", "b"]
    saved = {"scan": [{"layer": "conv1", "keep": 0.5, "units": 10, "val_error": 0.6, "macs": 123}]}
    assert saved_scan(saved) == [ScanPoint("conv1", 0.5, 10, 0.6, 123)]


def test_the_rule_or_in_quick_mode_the_most_compressed_point():
    from vietai_compress.structured_scan import choose_or_largest, saved_points

    points = saved_points([_row("a", 70.0, 0.6), _row("b", 90.0, 0.7), _row("c", 50.0, 0.4)])
    assert [(p.label, reached) for p, reached in [choose_or_largest(points, 64)]] == [("a", True)]
    assert [(p.label, reached) for p, reached in [choose_or_largest(points, 160)]] == [("b", False)]


def test_class_mode_reads_notebook_11s_choice_from_the_saved_measurement(monkeypatch):
    import vietai_compress.measured
    import vietai_compress.structured_scan as scan

    saved = {"candidates": [_row("a", 70.0, 0.6), _row("b", 90.0, 0.5)], "chosen": "b"}
    monkeypatch.setattr(vietai_compress.measured, "load", lambda name: saved if name == scan.MEASUREMENT else None)
    monkeypatch.setattr(scan, "scan_base", lambda *a, **k: pytest.fail("class mode must not scan"))
    chosen = scan.chosen_structured(quick=False, train=False)
    assert chosen.label == "b" and chosen.ratio == 90.0 and chosen.file == ""


def test_the_targets_of_the_smaller_model_name_what_notebook_11_measures():
    from vietai_compress.references import DEEP_COMPRESSION_LENET5
    from vietai_compress.structured_scan import LI_2017_VGG16_REMOVED, STRUCTURED_TARGET, UNITS_TARGET

    assert set(UNITS_TARGET) == {"error", "macs", "speed_256", "speed_1"}
    assert UNITS_TARGET["error"] == STRUCTURED_TARGET[1] == DEEP_COMPRESSION_LENET5["base_error"]
    assert UNITS_TARGET["macs"] > 1 / (1 - LI_2017_VGG16_REMOVED)  # beyond Li et al.'s 1.5x
