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
    points = [Point(**row, file="") for row in structured["candidates"]]
    assert choose_for_ratio(points, structured["target"][0]).label == structured["chosen"]


# ---------------------------------------------------------------- notebook 09's worked example, in every mode
def _fake_run_point(label, options, seed=42, quick=False, out=None, progress=True, shrink=None, shipped=False):
    """A run without training: numbers that depend only on the setting and the seed."""
    import zlib

    from vietai_compress.beyond import Point

    keep = sum((options.get("keep") or {"fc1": 0.5}).values())
    noise = zlib.crc32(f"{label}|{seed}|{sorted(options.items())}".encode()) % 100 / 100
    return Point(label, options, seed, f"{seed}.vcz", round(1_066_440 * keep / 3), 3 / keep, 1 + noise,
                 1.2 + noise, 1.1, 1.3, 1.0)


def _script():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "beyond_the_paper.py"
    spec = importlib.util.spec_from_file_location("beyond_the_paper_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_notebooks_protocol_records_what_the_script_records(monkeypatch, tmp_path):
    import vietai_compress.beyond as beyond

    monkeypatch.setattr(beyond, "run_point", _fake_run_point)
    script = _script()
    for part in beyond.PROTOCOL_PARTS:
        ours = getattr(beyond, f"protocol_{part}")(False, tmp_path, progress=False)
        theirs = getattr(script, part)(False, tmp_path)
        assert json.loads(json.dumps(ours)) == json.loads(json.dumps(theirs))
    lenet300 = beyond.protocol_lenet300(False, tmp_path, progress=False)
    assert set(lenet300) == {"ablation", "jitter_scan", "jitter", "candidates", "targets", "chosen", "seeds",
                             "over_seeds", "article_over_seeds"}
    assert set(lenet300["chosen"]) == set(beyond.TARGETS) and lenet300["seeds"] == list(beyond.FRESH_SEEDS)
    for label, runs in lenet300["over_seeds"].items():
        assert set(runs) == {"shifted", "plain"} and runs["plain"]["options"]["jitter"] == 0
        assert [p["seed"] for p in runs["shifted"]["points"]] == list(beyond.FRESH_SEEDS)
        assert all("file" not in p for p in runs["shifted"]["points"])


def test_recorded_points_are_the_rows_as_points_without_a_file():
    from vietai_compress.beyond import _row, recorded_points

    points = [point(81, 1.0, 1.2, seed=43), point(90, 1.1, 1.3, seed=44)]
    rows = json.loads(json.dumps([_row(p) for p in points]))
    assert recorded_points(rows) == [Point(**{**vars(p), "file": ""}) for p in points]
    assert recorded_points([{**rows[0], "file": "a.vcz"}])[0].file == "a.vcz"


def test_worked_example_reads_the_measurement_in_class_mode_and_runs_otherwise(monkeypatch):
    import vietai_compress.beyond as beyond

    part = {"candidates": [], "chosen": {}}
    monkeypatch.setattr(beyond.measured, "load", lambda name: {"mode": "full", "lenet300": part})
    assert beyond.worked_example("lenet300", quick=False, train=False) is part
    with pytest.raises(ValueError, match="lenet5"):
        beyond.worked_example("lenet5", quick=False, train=False)  # not recorded
    calls = []
    monkeypatch.setattr(beyond, "protocol_lenet300", lambda *args: calls.append(args) or {"ran": True})
    assert beyond.worked_example("lenet300", quick=True, train=False, shrink={"epochs": 1}) == {"ran": True}
    assert beyond.worked_example("lenet300", quick=False, train=True) == {"ran": True}
    assert calls[0] == (True, None, True, {"epochs": 1}) and calls[1][0] is False
    monkeypatch.setattr(beyond.measured, "load", lambda name: {"mode": "quick", "lenet300": part})
    with pytest.raises(ValueError, match="full-mode"):
        beyond.worked_example("lenet300", quick=False, train=False)
    with pytest.raises(ValueError, match="part"):
        beyond.worked_example("lenet", quick=True, train=False)


def test_fresh_seed_files_never_train_in_class_mode(monkeypatch, tmp_path):
    import vietai_compress.beyond as beyond

    options = {"keep": {"fc1": 0.03, "fc2": 0.06, "fc3": 0.25}, "rounds": 10, "distill": True, "jitter": 1}
    shipped_flags = []

    def run_point(label, options, seed, quick, out, progress, shrink, shipped):
        shipped_flags.append(shipped)
        return _fake_run_point(label, options, seed)

    monkeypatch.setattr(beyond, "run_point", run_point)
    monkeypatch.setattr(beyond.reference, "has", lambda relative: False)
    with pytest.raises(FileNotFoundError, match="seed43-holdout-jitter1"):
        beyond.fresh_seed_files("x", options, out=tmp_path)
    assert shipped_flags == []  # nothing ran
    shipped = {f"seed{s}-holdout-jitter1/{Settings(**options).stem}.{ext}" for s in beyond.FRESH_SEEDS
               for ext in ("json", "vcz")}
    monkeypatch.setattr(beyond.reference, "has", lambda relative: Path(relative).as_posix() in shipped)
    points = beyond.fresh_seed_files("x", options, out=tmp_path, progress=False)
    assert [p.seed for p in points] == list(beyond.FRESH_SEEDS) and shipped_flags == [True] * 3
    beyond.fresh_seed_files("x", options, seeds=[7], quick=True, out=tmp_path, progress=False)
    beyond.fresh_seed_files("x", options, seeds=[7], train=True, out=tmp_path, progress=False)
    assert shipped_flags[3:] == [False, False]  # quick mode and TRAIN = True run (or read back) as they would


def test_remeasure_decodes_the_file_and_finds_the_recorded_numbers(tmp_path, fake_data):
    from vietai_compress.beyond import remeasure, run_test_images

    shrink = {"train_images": 200, "epochs": 1, "fine_tune_epochs": 0}
    p = run_point("row", {"rounds": 1}, seed=3, quick=True, out=tmp_path, progress=False, shrink=shrink)
    size, error = remeasure(p.file, run_test_images(3, quick=True))
    assert (size, error) == (p.file_bytes, p.test_error)
    assert len(run_test_images(3, quick=True, eval_images=10).labels) == 10


def test_meets_compares_the_medians_with_the_target():
    from vietai_compress.beyond import meets

    s = summary([point(80, 1.0, 1.1, seed=1), point(82, 1.0, 1.3, seed=2), point(81, 1.0, 1.2, seed=3)])
    assert meets(s, (81, 1.2)) and not meets(s, (81.5, 1.2)) and not meets(s, (81, 1.19))


def test_every_target_has_a_name_and_a_published_origin():
    from vietai_compress.beyond import LENET5_TARGET, TARGET_NAMES_VI, TARGET_ORIGINS_VI, TARGETS
    from vietai_compress.references import DEEP_COMPRESSION_LENET300, DEEP_COMPRESSION_LENET5, LATER_LENET5

    assert set(TARGET_NAMES_VI) == set(TARGET_ORIGINS_VI) == set(TARGETS) | {"lenet5"}
    dc = DEEP_COMPRESSION_LENET300
    assert TARGETS["2"] == (2.5 * dc["ratio"], dc["error"]) and TARGETS["stretch"] == (3 * dc["ratio"], dc["error"])
    assert TARGETS["1"][0] == 2 * dc["ratio"] and TARGETS["1"][1] == round(0.75 * dc["error"], 1)
    assert LENET5_TARGET[1] == DEEP_COMPRESSION_LENET5["base_error"]
    assert LENET5_TARGET[0] <= LATER_LENET5["Soft weight-sharing (Ullrich et al. 2017)"][0]


def test_plot_optimism_draws_the_histograms_and_the_mean_against_k():
    import matplotlib.pyplot as plt

    from vietai_compress.beyond import optimism
    from vietai_compress.protocol_plots import plot_optimism

    kept = {k: optimism(k, 1.5, trials=500) for k in (1, 3, 7)}
    fig = plot_optimism(kept, 1.5, shown=(1, 7))
    left, right = fig.axes
    assert "K" in left.get_title() and right.get_xlabel().startswith("số ứng viên")
    assert list(right.lines[0].get_xdata()) == [1, 3, 7]
    assert np.allclose(right.lines[0].get_ydata(), [kept[k].mean() for k in (1, 3, 7)])
    plt.close(fig)


def test_label_below_moves_only_the_named_published_labels():
    import matplotlib.pyplot as plt

    from vietai_compress.plots import plot_ratio_vs_error
    from vietai_compress.protocol_plots import label_below
    from vietai_compress.references import LATER_LENET300

    fig = plot_ratio_vs_error({"a": [(80.0, 1.2)]}, LATER_LENET300)
    lower = min(LATER_LENET300, key=lambda name: LATER_LENET300[name][1])
    right = fig.axes[0].get_xlim()[1]
    label_below(fig, lower)
    assert fig.axes[0].get_xlim()[1] == pytest.approx(1.25 * right)
    offsets = {note.get_text(): note.xyann for note in fig.axes[0].texts}
    assert offsets[lower] == (6, -12) and all(offsets[name] == (6, 4) for name in LATER_LENET300 if name != lower)
    plt.close(fig)


def test_total_seconds_counts_each_run_once_however_many_tables_show_it():
    from vietai_compress.beyond import total_seconds

    run = {"label": "a", "seed": 42, "settings": {"rounds": 3}, "file_bytes": 100, "seconds": 60.0}
    other = {**run, "seed": 43, "seconds": 30.0}
    results = {"candidates": [run], "over_seeds": {"a": {"points": [run, other]}}, "scan": [{"seconds": 5.0}]}
    assert total_seconds(results) == 90.0
