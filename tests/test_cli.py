import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

import vietai_compress.pipeline as pipeline
from helpers import write_fake_mnist
from vietai_compress.cli import main
from vietai_compress.pipeline import Settings, format_table
from vietai_compress.recipe import LENET5_JITTER


def test_run_writes_everything_and_prints_one_table(tmp_path, fake_data, capsys):
    assert main(["run", "--quick", "--out", str(tmp_path), "--bits", "4", "--no-progress"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "quick" / "seed42-holdout"
    results = json.loads((folder / "results.json").read_text())
    assert {p.name for p in folder.iterdir()} == {"lenet300_base.pt", "lenet300_s2_retrained.pt",
                                                  "lenet300_s2_b4_shared.pt", "lenet300_s2_b4.vcz",
                                                  "lenet300_s2_b4.json", "results.json"}
    assert json.loads((folder / "lenet300_s2_b4.json").read_text()) == results
    stages = results["stages"]
    assert [s["stage"].split(" ")[0] for s in stages] == ["base", "pruned", "shared", "compressed"]
    assert stages[0]["bytes"] == 1_066_440 and stages[-1]["bytes"] == (folder / "lenet300_s2_b4.vcz").stat().st_size
    assert stages[-1]["accuracy"] == stages[-2]["accuracy"]   # decoding changes nothing
    assert stages[-1]["bytes"] < stages[-2]["bytes"] < stages[1]["bytes"] < stages[0]["bytes"]
    assert results["outputs_identical"] and results["decode_seconds"] > 0
    assert format_table(results) in out


def test_run_reuses_the_base_model_unless_told(tmp_path, fake_data, monkeypatch, capsys):
    main(["run", "--quick", "--out", str(tmp_path), "--no-progress"])
    base = tmp_path / "quick" / "seed42-holdout" / "lenet300_base.pt"
    first = base.stat().st_mtime_ns
    main(["run", "--quick", "--out", str(tmp_path), "--no-progress"])
    assert base.stat().st_mtime_ns == first
    main(["run", "--quick", "--out", str(tmp_path), "--no-progress", "--retrain-base"])
    assert base.stat().st_mtime_ns != first


def test_inspect_and_evaluate_a_file(tmp_path, fake_data, capsys):
    main(["run", "--quick", "--out", str(tmp_path), "--no-progress"])
    results = json.loads((tmp_path / "quick" / "seed42-holdout" / "results.json").read_text())
    capsys.readouterr()
    path = results["file"]
    assert main(["inspect", path]) == 0
    assert "smaller" in capsys.readouterr().out
    assert main(["evaluate", path]) == 0
    assert f"{results['stages'][-1]['accuracy']:.2f}%" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["inspect", "missing.vcz"], ["evaluate", "missing.vcz"]])
def test_a_missing_file_is_one_line_and_exit_1(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.vcz" in err and "Traceback" not in err


def test_a_corrupt_file_is_one_line_and_exit_1(tmp_path, capsys):
    path = tmp_path / "bad.vcz"
    path.write_bytes(b"not a model")
    assert main(["inspect", str(path)]) == 1
    assert "magic" in capsys.readouterr().err


@pytest.mark.parametrize("argv, code", [(["run", "--bits", "40"], 1), (["run", "--sensitivity", "-1"], 1),
                                        (["run", "--model", "vgg"], 1), (["run", "--bits", "five"], 2),
                                        (["run", "--fine-tune-epochs", "-1"], 1), (["run", "--rounds", "0"], 1),
                                        (["compress"], 2), ([], 2)])
def test_bad_arguments_are_one_line_and_nonzero(argv, code, capsys):
    if code == 2:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    else:
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


def test_settings_validate_their_values():
    with pytest.raises(ValueError, match="sensitivity"):
        Settings(sensitivity=float("nan"))
    assert Settings(bits=3).bits == 3
    with pytest.raises(ValueError, match="jitter"):
        Settings(jitter=9)


def test_lenet5_trains_on_jittered_images_unless_told_and_lenet300_on_plain_ones():
    assert (Settings(model="lenet5").shift, Settings().shift) == (LENET5_JITTER, 0) == (2, 0)
    assert (Settings(model="lenet5", jitter=0).shift, Settings(jitter=1).shift) == (0, 1)


def save_results(settings: Settings, done: dict) -> dict:
    """Write the JSON ``run_pipeline`` would leave for ``settings`` (with ``done`` as its resolved settings) and
    an empty compressed file beside it; returns the JSON."""
    settings.folder.mkdir(parents=True, exist_ok=True)
    compressed = settings.folder / f"{settings.stem}.vcz"
    compressed.write_bytes(b"")
    saved = {"requested": {**asdict(settings), "out": str(settings.out)}, "settings": done, "file": str(compressed)}
    (settings.folder / f"{settings.stem}.json").write_text(json.dumps(saved))
    return saved


def test_saved_lenet5_results_from_before_jitter_are_run_again(tmp_path, monkeypatch):
    settings = Settings(model="lenet5", quick=True, out=tmp_path)
    save_results(settings, {"data": "MNIST"})
    monkeypatch.setattr(pipeline, "run_pipeline", lambda s, shipped=False: "ran again")
    monkeypatch.setattr(pipeline, "expected_source", lambda quick: "MNIST")
    assert pipeline.load_or_run(settings) == "ran again"  # no jitter recorded: trained on plain images
    saved = save_results(settings, {"data": "MNIST", "jitter": 2})
    assert pipeline.load_or_run(settings) == saved


def test_a_run_asked_with_the_models_default_jitter_is_the_same_run_as_one_asked_with_it_spelled_out(tmp_path,
                                                                                                 monkeypatch):
    monkeypatch.setattr(pipeline, "run_pipeline", lambda s, shipped=False: "ran again")
    monkeypatch.setattr(pipeline, "expected_source", lambda quick: "MNIST")
    saved = save_results(Settings(quick=True, out=tmp_path, jitter=0), {"data": "MNIST", "jitter": 0})
    assert pipeline.load_or_run(Settings(quick=True, out=tmp_path)) == saved  # LeNet-300-100's default: 0 pixels
    saved = save_results(Settings(quick=True, out=tmp_path), {"data": "MNIST", "jitter": 0})
    assert pipeline.load_or_run(Settings(quick=True, out=tmp_path, jitter=0)) == saved
    assert pipeline.load_or_run(Settings(quick=True, out=tmp_path, jitter=1)) == "ran again"


def test_saved_results_of_the_other_data_source_are_run_again(tmp_path, monkeypatch):
    settings = Settings(quick=True, out=tmp_path)
    saved = save_results(settings, {"data": "MNIST", "jitter": 0})
    monkeypatch.setattr(pipeline, "run_pipeline", lambda s, shipped=False: "ran again")
    monkeypatch.setenv("VIETAI_DATA", str(tmp_path / "no-mnist"))  # quick mode will fall back to the digits
    assert pipeline.load_or_run(settings) == "ran again"
    write_fake_mnist(tmp_path / "mnist")
    monkeypatch.setenv("VIETAI_DATA", str(tmp_path / "mnist"))
    assert pipeline.load_or_run(settings) == saved


def test_saved_results_are_found_whether_the_output_folder_is_named_relative_or_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    saved = save_results(Settings(quick=True, out=Path("artifacts")), {"data": "MNIST", "jitter": 0})
    monkeypatch.setattr(pipeline, "run_pipeline", lambda s, shipped=False: "ran again")
    monkeypatch.setattr(pipeline, "expected_source", lambda quick: "MNIST")
    monkeypatch.chdir(tmp_path.parent)
    found = pipeline.load_or_run(Settings(quick=True, out=tmp_path / "artifacts"))
    assert found == {**saved, "file": str(tmp_path / "artifacts" / "quick" / "seed42-holdout" / "lenet300_s2_b5.vcz")}
    assert Path(found["file"]).is_file()


def test_runs_on_plain_and_on_jittered_images_never_share_a_file(tmp_path, fake_data):
    def run(jitter: int) -> tuple[dict, dict]:
        argv = ["run", "--quick", "--out", str(tmp_path), "--fine-tune-epochs", "1", "--no-progress"]
        assert main(argv + ["--jitter", str(jitter)]) == 0
        folder = tmp_path / "quick" / ("seed42-holdout" + (f"-jitter{jitter}" if jitter else ""))
        files = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".pt", ".vcz")}
        return json.loads((folder / "results.json").read_text()), files

    plain, plain_files = run(0)
    jittered, jittered_files = run(2)
    again, again_files = run(0)
    assert jittered["settings"]["jitter"] == 2 and plain["settings"]["jitter"] == again["settings"]["jitter"] == 0
    assert jittered_files["lenet300_base.pt"] != plain_files["lenet300_base.pt"]  # another base model was trained
    assert again["stages"] == plain["stages"]  # the third run reuses the plain base, not the jittered one
    assert again_files == plain_files and set(jittered_files) == set(plain_files)  # both sets of files survive
    assert run(2)[1] == jittered_files


def test_python_dash_m_runs_the_same_command():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "vietai_compress", "inspect", "missing.vcz"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "compressed file not found" in done.stderr


def test_run_without_fine_tuning_skips_that_stage(tmp_path, fake_data, capsys):
    assert main(["run", "--quick", "--out", str(tmp_path), "--fine-tune-epochs", "0", "--no-progress"]) == 0
    results = json.loads((tmp_path / "quick" / "seed42-holdout" / "results.json").read_text())
    assert [s["stage"].split(" ")[0] for s in results["stages"]] == ["base", "pruned", "shared", "compressed"]
    assert "fine-tuned" not in results["stages"][2]["stage"]
    assert results["settings"]["fine_tune_epochs"] == 0


def test_run_in_rounds_ends_on_the_one_shot_sparsity(tmp_path, fake_data, capsys):
    main(["run", "--quick", "--out", str(tmp_path), "--fine-tune-epochs", "0", "--no-progress"])
    one_shot = json.loads((tmp_path / "quick" / "seed42-holdout" / "results.json").read_text())
    assert main(["run", "--quick", "--out", str(tmp_path), "--fine-tune-epochs", "0", "--rounds", "3",
                 "--no-progress"]) == 0
    results = json.loads((tmp_path / "quick" / "seed42-holdout" / "results.json").read_text())
    assert [s["stage"].split(" ")[0] for s in results["stages"]] == ["base", "pruned", "shared", "compressed"]
    assert results["stages"][1]["stage"] == "pruned (s = 2) + retrained, 3 rounds, CSR"
    assert results["stages"][1]["nonzeros"] == one_shot["stages"][1]["nonzeros"]
    assert results["file"].endswith("lenet300_s2_r3_b5_ft0.vcz") and results["outputs_identical"]
    assert (tmp_path / "quick" / "seed42-holdout" / "lenet300_s2_r3_retrained.pt").exists()


def test_run_compresses_lenet5_end_to_end(tmp_path, fake_data, capsys):
    assert main(["run", "--quick", "--model", "lenet5", "--out", str(tmp_path), "--fine-tune-epochs", "1",
                 "--no-progress"]) == 0
    results = json.loads((tmp_path / "quick" / "seed42-holdout-jitter2" / "results.json").read_text())
    assert results["file"].endswith("lenet5_s2_b5_ft1.vcz") and results["outputs_identical"]
    assert results["dense_bytes"] == 1_724_320 and results["settings"]["jitter"] == 2
    assert [row["layer"] for row in results["size_report"]] == ["conv1", "conv2", "fc1", "fc2", "total"]
    capsys.readouterr()
    assert main(["evaluate", results["file"]]) == 0
    assert "lenet5" in capsys.readouterr().out


def test_run_with_keep_fractions_and_bits_per_layer(tmp_path, fake_data, capsys):
    argv = ["run", "--quick", "--out", str(tmp_path), "--keep", "fc1=0.04,fc2=0.08,fc3=0.3", "--rounds", "2",
            "--bits", "fc1=4,fc2=4,fc3=5", "--fine-tune-epochs", "0", "--no-progress"]
    assert main(argv) == 0
    results = json.loads((tmp_path / "quick" / "seed42-holdout" / "results.json").read_text())
    assert results["stages"][1]["nonzeros"] == 9408 + 2400 + 300
    assert results["stages"][1]["stage"].startswith("pruned (keep fc1 4%, fc2 8%, fc3 30%) + retrained, 2 rounds")
    assert results["file"].endswith("lenet300_keep-fc1-0.04-fc2-0.08-fc3-0.3_r2_b4-4-5_ft0.vcz")
    assert [row["weight_bits"] for row in results["size_report"][:3]] == [4, 4, 5]
    assert results["settings"]["keep"] == {"fc1": 0.04, "fc2": 0.08, "fc3": 0.3}


def test_run_with_distillation_retrains_and_fine_tunes_against_the_dense_model(tmp_path, fake_data, capsys):
    from vietai_compress.checkpoints import load_checkpoint, read_checkpoint_meta
    from vietai_compress.models import LeNet300100, masked_layers
    from vietai_compress.recipe import DISTILL_ALPHA, DISTILL_T

    common = ["run", "--quick", "--out", str(tmp_path), "--keep", "fc1=0.1,fc2=0.1,fc3=0.5", "--fine-tune-epochs", "1",
              "--no-progress"]
    assert main(common) == 0 and main([*common, "--distill"]) == 0
    results = json.loads((tmp_path / "quick" / "seed42-holdout" / "results.json").read_text())
    name = "lenet300_keep-fc1-0.1-fc2-0.1-fc3-0.5"
    assert results["settings"]["distill"] and results["file"].endswith(f"{name}_kd_b5_ft1.vcz")
    assert results["stages"][1]["stage"].endswith("+ retrained, distilled, CSR")
    assert results["outputs_identical"]
    folder = tmp_path / "quick" / "seed42-holdout"
    for file in (f"{name}_kd_retrained.pt", f"{name}_kd_b5_ft1_shared.pt"):
        assert read_checkpoint_meta(folder / file)["distill"] == {"T": DISTILL_T, "alpha": DISTILL_ALPHA}
    plain, taught = LeNet300100(), LeNet300100()
    load_checkpoint(folder / f"{name}_retrained.pt", plain)
    load_checkpoint(folder / f"{name}_kd_retrained.pt", taught)
    for (_, a), (_, b) in zip(masked_layers(plain), masked_layers(taught)):
        assert torch.equal(a.mask, b.mask)  # the same pruning ...
    assert not torch.equal(plain.fc3.weight, taught.fc3.weight)  # ... and a different loss while retraining
    assert "distill" not in read_checkpoint_meta(folder / f"{name}_retrained.pt")


@pytest.mark.parametrize("argv, code, match", [(["--keep", "fc1=0.1"], 1, "missing"),
                                               (["--keep", "fc1=0.1,fc2=0.1,fc3=2"], 1, "keep"),
                                               (["--keep", "fc1:0.1"], 2, "layer=value"),
                                               (["--bits", "fc1=4,fc2=4"], 1, "missing"),
                                               (["--bits", "fc1=4,fc2=4,fc3=x"], 2, "invalid")])
def test_bad_per_layer_options_are_one_line(argv, code, match, capsys):
    if code == 2:
        with pytest.raises(SystemExit) as exit_info:
            main(["run", *argv])
        assert exit_info.value.code == 2
    else:
        assert main(["run", *argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err


def test_a_preset_sets_the_chosen_settings_and_options_override_it():
    from vietai_compress.cli import _parse
    from vietai_compress.recipe import PRESETS

    args = _parse(["run", "--preset", "best-jitter"])
    assert {key: getattr(args, key) for key in PRESETS["best-jitter"]} == PRESETS["best-jitter"]
    assert _parse(["run", "--preset", "best-jitter", "--rounds", "2", "--seed", "7"]).rounds == 2
    assert _parse(["run", "--preset", "best-jitter", "--seed", "7"]).seed == 7
    article = _parse(["run", "--preset", "article"])
    assert vars(article) | {"preset": None} == vars(_parse(["run"]))  # the article's recipe is the default


def test_run_with_a_seed_keeps_its_files_apart_and_reports_validation(tmp_path, fake_data, capsys):
    assert main(["run", "--quick", "--out", str(tmp_path), "--fine-tune-epochs", "0", "--no-progress",
                 "--seed", "3"]) == 0
    folder = tmp_path / "quick" / "seed3-holdout"
    results = json.loads((folder / "results.json").read_text())
    assert results["settings"]["seed"] == 3 and results["settings"]["holdout"]  # the validation split by default
    assert all(stage["val_accuracy"] is not None for stage in results["stages"])
    assert "val acc" in capsys.readouterr().out  # the printed table has the validation column
    assert not (tmp_path / "quick" / "seed42-holdout").exists()  # the default seed's folder is untouched
    assert (folder / "lenet300_base.pt").exists()


def test_run_without_holdout_trains_on_every_image_in_its_own_folder(tmp_path, fake_data, capsys):
    assert main(["run", "--quick", "--out", str(tmp_path), "--fine-tune-epochs", "0", "--no-progress",
                 "--no-holdout"]) == 0
    results = json.loads((tmp_path / "quick" / "seed42-all" / "results.json").read_text())
    assert not results["settings"]["holdout"]
    assert all(stage["val_accuracy"] is None for stage in results["stages"])
    assert "val acc" not in capsys.readouterr().out


def test_predict_prints_each_image_with_its_digit_and_probability(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from test_runtime import compressed_file
    from vietai_compress.images import read_digit
    from vietai_compress.models import LeNet300100
    from vietai_compress.runtime import load

    path, _ = compressed_file(tmp_path, LeNet300100)
    images = []
    for i, width in enumerate((6, 12)):
        images.append(tmp_path / f"d{i}.png")
        Image.fromarray(np.pad(np.full((40, width), 255, np.uint8), 10)).save(images[-1])
    assert main(["predict", str(path), *map(str, images)]) == 0
    lines = capsys.readouterr().out.splitlines()
    digits, probabilities = load(path).predict(np.stack([read_digit(p) for p in images]))
    assert lines == [f"{p}: {d} ({100 * q:.1f}%)" for p, d, q in zip(images, digits, probabilities)]


@pytest.mark.parametrize("bad", ["missing", "not-an-image", "corrupt-model"])
def test_predict_with_a_bad_file_is_one_line_and_exit_1(tmp_path, capsys, bad):
    from test_runtime import compressed_file
    from vietai_compress.models import LeNet300100

    path, _ = compressed_file(tmp_path, LeNet300100)
    image = tmp_path / "x.png"
    image.write_text("text, not pixels")
    if bad == "missing":
        image = tmp_path / "missing.png"
    if bad == "corrupt-model":
        data = bytearray(path.read_bytes())
        data[40] ^= 0xFF
        path.write_bytes(bytes(data))
    assert main(["predict", str(path), str(image)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert {"missing": "image not found", "not-an-image": "not an image", "corrupt-model": "corrupt"}[bad] in err


@pytest.mark.parametrize("int8", [None, "dynamic", "static"])
def test_export_writes_an_onnx_file_that_onnx_runtime_runs(tmp_path, fake_data, capsys, int8):
    import numpy as np

    from test_runtime import compressed_file
    from vietai_compress.deploy import onnx_log_probs, onnx_session
    from vietai_compress.models import LeNet300100

    path, decoded = compressed_file(tmp_path, LeNet300100)
    assert main(["export", str(path), "--format", "onnx"] + (["--int8", int8] if int8 else [])) == 0
    out = path.with_name(path.stem + (f"_int8_{int8}.onnx" if int8 else ".onnx"))
    assert capsys.readouterr().out == f"{out}: {out.stat().st_size:,} bytes\n"
    images = torch.randn(5, 1, 28, 28)
    got = onnx_log_probs(onnx_session(out), images.numpy())
    with torch.no_grad():
        expected = decoded(images).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4 if int8 is None else 0.5)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".onnx") == [out.name]  # no file left behind


def test_run_with_units_prunes_whole_units_first_and_the_file_rebuilds_the_smaller_model(tmp_path, fake_data, capsys):
    from vietai_compress.runtime import load
    from vietai_compress.storage import load_model

    assert main(["run", "--quick", "--model", "lenet5", "--units", "conv1=0.5,conv2=0.4,fc1=0.3", "--out",
                 str(tmp_path), "--fine-tune-epochs", "1", "--no-progress", "--jitter", "0"]) == 0
    results = json.loads((tmp_path / "quick" / "seed42-holdout" / "results.json").read_text())
    assert [s["stage"].split(" ")[0] for s in results["stages"]] == ["base", "units", "pruned", "shared", "compressed"]
    assert results["stages"][1]["nonzeros"] == 10 * 25 + 20 * 10 * 25 + 20 * 16 * 150 + 150 * 10
    assert results["outputs_identical"] and results["file"].endswith("_ft1.vcz") and "units-conv1-0.5" in results["file"]
    name, model = load_model(results["file"])
    assert (name, model.conv1.out_channels, model.conv2.out_channels, model.fc1.out_features) == ("lenet5", 10, 20, 150)
    assert [layer.weight.shape[0] for layer in load(results["file"]).layers][-1] == 10
    capsys.readouterr()
    assert main(["evaluate", results["file"]]) == 0 and f"{results['stages'][-1]['accuracy']:.2f}%" in capsys.readouterr().out


def test_units_must_name_hidden_layers_with_fractions():
    with pytest.raises(ValueError, match="output layer"):
        Settings(model="lenet5", units={"fc2": 0.5})
    with pytest.raises(ValueError, match="units"):
        Settings(model="lenet5", units={"conv1": 0.0})
    assert Settings(model="lenet5", units={"conv1": 0.5}).name == "lenet5_units-conv1-0.5_s2"


def test_a_run_measured_on_fewer_images_keeps_its_files_apart_and_counts_only_those(tmp_path, fake_data):
    from vietai_compress.pipeline import run_pipeline

    settings = Settings(quick=True, out=tmp_path, eval_images=100, fine_tune_epochs=1, progress=False)
    assert settings.folder.name == "seed42-holdout-eval100"
    results = run_pipeline(settings)
    for stage in results["stages"]:  # 100 images: every accuracy a whole number of percent
        assert stage["accuracy"] == round(stage["accuracy"]) and stage["val_accuracy"] == round(stage["val_accuracy"])
    with pytest.raises(TypeError, match="eval_images"):
        Settings(eval_images=1.5)
