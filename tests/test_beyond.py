"""The validation-first protocol of notebook 09: choosing, summaries over seeds, cached runs."""
import json
from pathlib import Path

import numpy as np
import pytest

import vietai_compress.pipeline
from vietai_compress.beyond import ABLATION, Point, run_point, summary
from vietai_compress import measured
from vietai_compress.pipeline import Settings
from vietai_compress.recipe import PRESETS


def point(ratio: float, val_error: float, test_error: float = 0.0, seed: int = 42, base_val_error: float = 0.0,
          base_test_error: float = 0.0) -> Point:
    return Point(f"{ratio}x", {}, seed, "f.vcz", 100, ratio, val_error, test_error, base_val_error, base_test_error)


def test_choosing_by_the_test_error_is_the_same_rule_on_the_other_column():
    from vietai_compress.beyond import choose_by_test, choose_for_ratio

    points = [point(81, 1.0, test_error=1.5), point(90, 1.2, test_error=1.3), point(120, 0.9, test_error=2.0)]
    assert choose_for_ratio(points, 80).ratio == 120 and choose_by_test(points, 80).ratio == 90
    assert choose_by_test(points, 200) is None


def test_the_lowest_of_equally_good_measurements_is_too_good_on_average():
    from vietai_compress.beyond import optimism

    one = optimism(1, 1.5, trials=20_000)
    seven = optimism(7, 1.5, trials=20_000)
    assert one.shape == (20_000,) and abs(one.mean() - 1.5) < 0.01  # one candidate: no bias
    assert seven.mean() < 1.5 - 0.1  # the best of seven looks better than any of them is
    assert np.allclose(seven * 100, np.round(seven * 100))  # whole images out of 10,000
    assert (optimism(7, 1.5, trials=10, seed=1) == optimism(7, 1.5, trials=10, seed=1)).all()
    with pytest.raises(ValueError, match="candidates"):
        optimism(0, 1.5)


def test_summary_gives_median_and_spread_over_seeds():
    s = summary([point(60, 1.5, 1.7, seed=1), point(70, 1.4, 1.6, seed=2), point(65, 1.6, 1.9, seed=3)])
    assert s["ratio"] == {"median": 65, "min": 60, "max": 70}
    assert s["test_error"] == {"median": 1.7, "min": 1.6, "max": 1.9}
    assert s["seeds"] == [1, 2, 3]


def test_settings_folder_keeps_seeds_and_holdout_apart(tmp_path):
    assert Settings(out=tmp_path, quick=True).folder == tmp_path / "quick" / "seed42-holdout"
    assert Settings(out=tmp_path, quick=True, seed=43, holdout=False).folder == tmp_path / "quick" / "seed43-all"
    assert Settings(out=tmp_path, quick=False, seed=44).folder == tmp_path / "full" / "seed44-holdout"
    assert Settings(out=tmp_path, model="lenet5").folder == tmp_path / "full" / "seed42-holdout-jitter2"
    assert Settings(out=tmp_path, model="lenet5", jitter=0).folder == tmp_path / "full" / "seed42-holdout"
    shrunk = Settings(out=tmp_path, jitter=1, train_images=500, epochs=3)
    assert shrunk.folder == tmp_path / "full" / "seed42-holdout-jitter1-images500-epochs3"
    assert Settings(fine_tune_epochs=0).stem == "lenet300_s2_b5_ft0" and Settings().stem == "lenet300_s2_b5"
    with pytest.raises(ValueError, match="seed"):
        Settings(seed=-1)


def test_run_point_measures_the_file_and_a_second_call_reads_the_results(tmp_path, fake_data, monkeypatch):
    options = {"keep": {"fc1": 0.1, "fc2": 0.1, "fc3": 0.5}, "rounds": 2}
    shrink = {"train_images": 200, "epochs": 1, "fine_tune_epochs": 0}
    first = run_point("row", options, seed=5, quick=True, out=tmp_path, progress=False, shrink=shrink)
    assert Path(first.file).stat().st_size == first.file_bytes and first.ratio == 1_066_440 / first.file_bytes
    assert first.seed == 5 and 0 <= first.val_error <= 100 and first.test_error == first.val_error  # same images
    results = json.loads(Path(first.file).with_suffix(".json").read_text())
    assert first.base_test_error == first.base_val_error == round(100 - results["stages"][0]["accuracy"], 2)
    assert results["settings"]["train_images"] == 200 and results["settings"]["epochs"] == 1
    assert results["requested"]["seed"] == 5 and results["requested"]["keep"] == options["keep"]

    def must_not_run(settings, shipped=False):
        raise AssertionError("load_or_run ran the pipeline again")

    monkeypatch.setattr(vietai_compress.pipeline, "run_pipeline", must_not_run)
    assert run_point("row", options, seed=5, quick=True, out=tmp_path, progress=False, shrink=shrink) == first
    with pytest.raises(AssertionError, match="again"):  # other settings are not read from that file
        run_point("row", options, seed=5, quick=True, out=tmp_path, progress=False, shrink={**shrink, "epochs": 2})
    with pytest.raises(AssertionError, match="again"):  # nor results trained with another jitter
        run_point("row", options, seed=5, quick=True, out=tmp_path, progress=False, shrink={**shrink, "jitter": 1})
    del results["settings"]["jitter"]  # written before jitter existed: plain images, still read
    Path(first.file).with_suffix(".json").write_text(json.dumps(results))
    assert run_point("row", options, seed=5, quick=True, out=tmp_path, progress=False, shrink=shrink) == first


def test_every_ablation_row_has_its_vietnamese_label():
    from vietai_compress.beyond import LABELS_VI

    assert list(LABELS_VI) == [label for label, _ in ABLATION] and len(set(LABELS_VI.values())) == len(ABLATION)


def test_choose_for_ratio_takes_the_lowest_validation_error_among_files_small_enough():
    from vietai_compress.beyond import choose_for_ratio

    points = [point(79.9, 0.5, test_error=0.1), point(81, 1.1, test_error=9.0), point(100, 1.0, test_error=9.0),
              point(120, 1.0)]
    assert choose_for_ratio(points, 80).ratio == 120  # 1.0% twice: the tie goes to the smaller file
    assert choose_for_ratio(points[:2], 80).ratio == 81  # the test error is never looked at
    assert choose_for_ratio(points, 200) is None
    with pytest.raises(ValueError, match="min_ratio"):
        choose_for_ratio(points, 0.5)


def test_choose_jitter_takes_the_lowest_validation_error_and_the_smaller_shift_on_a_tie():
    from vietai_compress.beyond import choose_jitter

    points = [Point(str(j), {"jitter": j}, 42, "f", 1, 80, e, 0, 0, 0) for j, e in [(0, 1.4), (1, 0.9), (2, 0.9)]]
    assert choose_jitter(points) == 1
    with pytest.raises(ValueError, match="points"):
        choose_jitter([])


def test_the_candidates_are_valid_settings_and_plain_drops_only_the_shift(tmp_path):
    from vietai_compress.beyond import LENET5_CANDIDATES, candidates, describe, describe_vi, plain

    for label, options in candidates(1) + LENET5_CANDIDATES:
        assert label == describe(options) and "jitter" in label and "dịch" in describe_vi(options)
        Settings(out=tmp_path, holdout=True, **options)  # every option is one the pipeline accepts
        assert plain(options) == {**options, "jitter": 0}
    assert all(o["model"] == "lenet5" and o["jitter"] == 2 for _, o in LENET5_CANDIDATES)
    assert all(o["distill"] and o["jitter"] == 3 for _, o in candidates(3))


def test_the_presets_are_the_settings_the_scripts_chose_on_validation():
    from vietai_compress.beyond import LENET5_CANDIDATES, candidates, choose_for_ratio

    recorded = measured.load("beyond_the_paper")
    assert recorded["mode"] == "full"
    lenet300 = recorded["lenet300"]
    options = dict(candidates(lenet300["jitter"]))
    for preset, target in (("best-jitter", "1"), ("smallest-jitter", "stretch")):
        assert Settings(**PRESETS[preset]) == Settings(**options[lenet300["chosen"][target]])
    points = [Point(**row, file="") for row in lenet300["candidates"]]  # the JSON leaves out local paths
    for target, (ratio, _) in lenet300["targets"].items():  # the rule, applied again to the numbers
        chosen = choose_for_ratio(points, ratio)
        assert (chosen.label if chosen else None) == lenet300["chosen"][target]
    lenet5 = recorded["lenet5"]
    assert Settings(**PRESETS["lenet5-best"]) == Settings(**dict(LENET5_CANDIDATES)[lenet5["chosen"]["lenet5"]])
    points = [Point(**row, file="") for row in lenet5["candidates"]]
    assert choose_for_ratio(points, lenet5["targets"]["lenet5"][0]).label == lenet5["chosen"]["lenet5"]


def test_the_structured_presets_are_the_settings_the_script_chose_on_validation():
    from vietai_compress.beyond import choose_for_ratio

    structured = measured.load("structured_and_int8")
    chosen = next(p for p in structured["candidates"] if p["label"] == structured["chosen"])
    assert Settings(**PRESETS["lenet5-structured"]) == Settings(**chosen["settings"])
    assert PRESETS["lenet5-structured"]["units"] == structured["units"]
    frontier = structured["frontier"]
    chosen = next(p for p in structured["candidates"] + frontier["candidates"] if p["label"] == frontier["chosen"])
    assert Settings(**PRESETS["lenet5-structured-160"]) == Settings(**chosen["settings"])
    points = [Point(**row, file="") for row in structured["candidates"] + frontier["candidates"]]
    assert choose_for_ratio(points, frontier["target"][0]).label == frontier["chosen"]
