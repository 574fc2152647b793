"""The pipeline's stages loaded or computed (``pipeline.Run``), the reference run's store (``reference``), class mode
(``course``)."""
import json
import shutil

import pytest
import torch

import vietai_compress.pipeline as pipeline
from vietai_compress import course, reference
from vietai_compress.checkpoints import fingerprint, read_checkpoint_meta
from vietai_compress.data import Jittered, TensorLoader
from vietai_compress.models import LeNet5, LeNet300100
from vietai_compress.pipeline import Run, Settings, run_pipeline
from vietai_compress.pruning import prune_by_std
from vietai_compress.quantization import share_weights
from vietai_compress.training import make_optimizer


def settings(tmp_path, **options) -> Settings:
    """A quick run on ``fake_data``'s small set, one epoch per stage unless told."""
    return Settings(quick=True, out=tmp_path, progress=False, **{"epochs": 1, "fine_tune_epochs": 1, **options})


def same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return fingerprint(a) == fingerprint(b)


# ---------------------------------------------------------------- the loaders skip what a loaded stage would draw
@pytest.mark.parametrize("jittered", [False, True])
def test_skipping_passes_leaves_a_loader_where_training_would_have(jittered):
    x, y = torch.randn(70, 1, 28, 28), torch.arange(70) % 10

    def make():
        loader = TensorLoader(x, y, 32, shuffle=True, seed=3)
        return Jittered(loader, 2, seed=5) if jittered else loader

    trained, skipped = make(), make()
    for _ in range(3):
        for _ in trained:
            pass
    skipped.skip(3)
    for (xa, ya), (xb, yb) in zip(trained, skipped):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert TensorLoader(x, y, 32).batch_sizes() == [32, 32, 6]
    with pytest.raises(ValueError, match="passes"):
        make().skip(-1)


# ---------------------------------------------------------------- one file per stage, loaded or computed
def test_a_run_trains_each_stage_once_and_then_loads_it(tmp_path, fake_data, monkeypatch):
    run = Run(settings(tmp_path))
    shared = run.shared()
    for stage in ("base", "retrained", "shared"):
        assert run.path(stage).is_file() and read_checkpoint_meta(run.path(stage))["mode"] == "quick"
    assert read_checkpoint_meta(run.path("retrained"))["parent"] == fingerprint(run.base())

    def refuse(*args, **kwargs):
        raise AssertionError("a saved stage must be loaded, not computed again")

    for name in ("train_base", "prune_and_retrain", "share_and_fine_tune"):
        monkeypatch.setattr(pipeline, name, refuse)
    again = Run(settings(tmp_path))
    assert same_state(again.shared(), shared) and same_state(again.base(), run.base())
    assert again.meta("base")["history"]["loss"]  # the training history comes with the checkpoint


@pytest.mark.parametrize("options", [
    {}, {"rounds": 3, "keep": {"fc1": 0.05, "fc2": 0.1, "fc3": 0.3}}, {"distill": True},
    {"jitter": 1, "distill": True, "rounds": 2},
    {"model": "lenet5", "units": {"conv1": 0.5, "conv2": 0.5, "fc1": 0.5},
     "keep": {"conv1": 0.5, "conv2": 0.3, "fc1": 0.1, "fc2": 0.3}, "rounds": 2, "bits": 4},
])
def test_a_stage_loaded_instead_of_trained_gives_the_next_stage_the_same_batches(tmp_path, fake_data, options):
    first = run_pipeline(settings(tmp_path / "a", **options))
    run_a, run_b = Run(settings(tmp_path / "a", **options)), Run(settings(tmp_path / "b", **options))
    run_b.settings.folder.mkdir(parents=True)
    for stage in ("base", "units", "retrained"):  # the next run loads these and fine-tunes where they left off
        if run_a.path(stage).exists():
            shutil.copy(run_a.path(stage), run_b.path(stage))
    second = run_pipeline(settings(tmp_path / "b", **options))
    assert run_a.path("file").read_bytes() == run_b.path("file").read_bytes()
    assert [s["accuracy"] for s in first["stages"]] == [s["accuracy"] for s in second["stages"]]


def test_a_later_stage_is_redone_when_the_model_it_started_from_changed(tmp_path, fake_data):
    Run(settings(tmp_path)).retrained()
    old = read_checkpoint_meta(Run(settings(tmp_path)).path("retrained"))["parent"]
    run_pipeline(settings(tmp_path, reuse_base=False))  # the base is trained again...
    run = Run(settings(tmp_path))
    assert read_checkpoint_meta(run.path("retrained"))["parent"] == fingerprint(run.base())
    if fingerprint(run.base()) != old:  # ...and when it differs, the stages after it are redone
        assert read_checkpoint_meta(run.path("retrained"))["parent"] != old


def test_the_loader_of_a_stage_continues_after_the_passes_of_the_stages_before_it(tmp_path, fake_data):
    run = Run(settings(tmp_path, rounds=2))
    fresh = [y.tolist() for _, y in run.train_loader("base")]
    assert [y.tolist() for _, y in run.train_loader("retrained")] == fresh  # no units: retraining starts fresh
    after = run.train_loader("base").skip(2)  # 2 rounds share the 1 epoch: at least one pass each
    assert [y.tolist() for _, y in run.train_loader("shared")] == [y.tolist() for _, y in after]


# ---------------------------------------------------------------- the reference run's store
@pytest.mark.parametrize("make", [LeNet300100, LeNet5])
def test_packing_a_checkpoint_for_the_package_changes_no_weight(make):
    model = make()
    for step in ("dense", "pruned", "shared"):
        if step == "pruned":
            prune_by_std(model, 1.0)
        if step == "shared":
            share_weights(model, 5)
        state = model.state_dict()
        back = reference.unpack(reference.pack({"state_dict": state, "meta": {}}))["state_dict"]
        assert set(back) == set(state)
        assert all(torch.equal(back[k], v) and back[k].dtype == v.dtype for k, v in state.items())


def test_packing_keeps_only_the_kept_weights_and_adams_averages_as_they_are():
    model = LeNet300100()
    prune_by_std(model, 1.0)
    optimizer = make_optimizer(model)
    model(torch.randn(4, 1, 28, 28)).sum().backward()
    optimizer.step()
    packed = reference.pack({"state_dict": model.state_dict(), "meta": {}, "optimizer": optimizer.state_dict()})
    kept = int(model.fc1.mask.sum())
    assert packed["state_dict"]["fc1.weight@kept"].numel() == kept and "fc1.weight" not in packed["state_dict"]
    back = reference.unpack(packed)["optimizer"]["state"][0]["exp_avg"]
    assert torch.equal(back, optimizer.state_dict()["state"][0]["exp_avg"])  # notebook 03 counts what they push


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty reference store in a temporary folder; ``add(relative, payload or dict)`` ships a file."""
    folder = tmp_path / "reference"
    folder.mkdir()
    monkeypatch.setenv("VIETAI_REFERENCE", str(folder))
    files = {}

    def add(relative, content, notebook="01", seconds=12.0):
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict) and "state_dict" in content:
            torch.save(reference.pack(content), path)
        else:
            path.write_text(json.dumps(content))
        files[str(relative)] = {"sha256": reference.sha256(path.read_bytes()), "bytes": path.stat().st_size,
                                "notebook": notebook, "seconds": seconds}
        (folder / reference.MANIFEST).write_text(json.dumps({"files": files}))
        reference._manifest.cache_clear()
        return path

    yield add
    reference._manifest.cache_clear()


def test_class_mode_loads_the_shipped_base_model_says_so_and_a_training_run_does_not(tmp_path, fake_data, store,
                                                                                    capsys, monkeypatch):
    trained = Run(settings(tmp_path / "ref"))
    base = trained.base()
    payload = torch.load(trained.path("base"), weights_only=True)
    relative = trained.path("base").relative_to(tmp_path / "ref" / "quick")
    store(relative, payload, notebook="01", seconds=130)

    class_run = Run(settings(tmp_path / "class"), shipped=True)
    class_run.shipped = True  # the store holds a quick-mode checkpoint here; real class mode is full mode only
    assert same_state(class_run.base(), base)
    out = capsys.readouterr().out
    assert "Đã nạp mô hình gốc" in out and "notebook 01" in out and "2 phút 10 giây" in out
    assert not class_run.path("base").exists()  # nothing was written into the artifacts folder

    def refuse(*args, **kwargs):
        raise AssertionError("class mode must load the shipped base model")

    monkeypatch.setattr(pipeline, "train_base", refuse)
    quick_run = Run(settings(tmp_path / "class2"), shipped=True)
    assert not quick_run.shipped  # the reference run is a full-mode run: quick mode trains
    with pytest.raises(AssertionError, match="class mode"):
        quick_run.base()


def test_a_shipped_file_that_was_edited_is_refused_with_one_clear_error(store):
    path = store("notebooks/07_students.json", {"errors": 80})
    assert reference.read_json("notebooks/07_students.json") == {"errors": 80}
    path.write_text(json.dumps({"errors": 79}))
    with pytest.raises(ValueError, match="SHA-256"):
        reference.read_json("notebooks/07_students.json")
    with pytest.raises(KeyError, match="not among"):
        reference.read_json("notebooks/missing.json")


def test_the_package_ships_every_file_its_manifest_names_with_the_recorded_bytes():
    for relative, record in reference.manifest().items():
        data = reference.read_bytes(relative)  # raises on a SHA-256 mismatch
        assert len(data) == record["bytes"] and record["notebook"]


def test_every_shipped_checkpoint_loads_with_weights_only_onto_the_cpu():
    checkpoints = [r for r in reference.manifest() if r.endswith(".pt")]
    for relative in checkpoints:
        payload = reference.read_payload(relative, "cpu")
        assert set(payload) >= {"state_dict", "meta"} and payload["meta"]["mode"] == "full"
        assert all(t.device.type == "cpu" for t in payload["state_dict"].values())


# ---------------------------------------------------------------- a notebook's own training results
def test_a_measurement_is_computed_when_training_and_read_back_in_class_mode(tmp_path, monkeypatch, store):
    monkeypatch.setenv("VIETAI_ARTIFACTS", str(tmp_path / "artifacts"))
    calls = []

    def compute():
        calls.append(1)
        return {"errors": 80}

    assert course.measurement("07_x", compute, quick=True, train=False) == {"errors": 80} and len(calls) == 1
    assert course.measurement("07_x", compute, quick=False, train=True) == {"errors": 80} and len(calls) == 2
    assert course.measurement("07_x", compute, quick=False, train=False) == {"errors": 80} and len(calls) == 2
    saved = json.loads((tmp_path / "artifacts" / "full" / "notebooks" / "07_x.json").read_text())
    assert saved["result"] == {"errors": 80} and saved["seconds"] >= 0
    store("notebooks/07_y.json", {"result": {"errors": 81}, "seconds": 3.0}, notebook="07")
    assert course.measurement("07_y", compute, quick=False, train=False) == {"errors": 81} and len(calls) == 2


def test_course_runs_name_the_models_and_refuse_an_unknown_one(tmp_path):
    assert course.run("lenet5-b", quick=True, train=True).settings.model == "lenet5"
    with pytest.raises(ValueError, match="course"):
        course.run("lenet7", quick=True, train=True)


def test_the_scoreboard_follows_the_model_through_notebooks_01_to_06(tmp_path, fake_data):
    run = Run(settings(tmp_path, sensitivity=1.0))  # s = 1 keeps enough of the short run's weights to compare
    board = course.scoreboard(run, "06")
    assert list(board) == ["01", "02", "03", "04", "05", "06"] and course.scoreboard(run, "00") == {}
    sizes = [size for _, size in board.values()]
    assert sizes[0] == 1_066_440 and sizes[0] > sizes[1] == sizes[2] > sizes[3] == sizes[4] > sizes[5]
    assert board["06"][0] == board["05"][0]  # the file decodes to the shared model, bit for bit


def test_durations_read_as_the_notebooks_write_them():
    assert [reference.vi_duration(s) for s in (45, 130, 3600, 3900)] == [
        "45 giây", "2 phút 10 giây", "1 giờ", "1 giờ 5 phút"]


def test_the_headline_of_a_course_model_names_its_notebook_file_bytes_ratio_and_accuracy(tmp_path):
    from vietai_compress.storage import save_compressed

    net = LeNet300100()
    prune_by_std(net, 1.0)
    share_weights(net, 3)
    path = save_compressed(net, tmp_path / "lenet300_s2_b5.vcz")
    line = course.headline("lenet300", path, 98.1234)
    assert line.startswith("Mô hình LeNet-300-100") and "(notebook 06)" in line and f"{path.stat().st_size:,} byte" in line
    assert line.endswith("98.12%")


def test_class_mode_reads_a_shipped_runs_results_and_file_checked_and_copied_into_the_artifacts(tmp_path, store,
                                                                                               monkeypatch):
    settings = Settings(out=tmp_path / "artifacts", progress=False)  # full mode: what class mode is
    relative = settings.folder.relative_to(tmp_path / "artifacts" / "full")
    results = {"requested": {**pipeline.asdict(settings), "out": str(settings.out)},
               "settings": {"jitter": 0, "data": "MNIST"}, "file": f"/elsewhere/{settings.stem}.vcz", "file_bytes": 3}
    store(relative / f"{settings.stem}.json", results, notebook="09")
    vcz = store(relative / f"{settings.stem}.vcz", {"not": "read here"}, notebook="09")
    monkeypatch.setattr(pipeline, "expected_source", lambda quick: "MNIST")
    monkeypatch.setattr(pipeline, "run_pipeline", lambda s, shipped=False: "ran")
    assert pipeline.load_or_run(settings) == "ran"  # without class mode the shipped results are not read
    found = pipeline.load_or_run(settings, shipped=True)
    assert found["file"] == str(settings.folder / f"{settings.stem}.vcz")
    assert (settings.folder / f"{settings.stem}.vcz").read_bytes() == vcz.read_bytes()


def test_reading_a_shipped_file_is_logged_when_asked(tmp_path, store, monkeypatch):
    store("notebooks/07_students.json", {"errors": 1})
    log = tmp_path / "read.log"
    monkeypatch.setenv("VIETAI_REFERENCE_LOG", str(log))
    assert reference.read_json("notebooks/07_students.json") == {"errors": 1}
    assert log.read_text().splitlines() == ["notebooks/07_students.json"]


def test_packing_keeps_the_sign_of_every_pruned_zero_so_fingerprints_match():
    from vietai_compress import reference
    from vietai_compress.checkpoints import fingerprint

    model = LeNet300100()
    for layer in (model.fc1, model.fc2, model.fc3):
        layer.mask.copy_((layer.weight.abs() > 0.03).float())
        layer.weight.data.mul_(layer.mask)  # as pruning does: negative weights become -0.0
    state = model.state_dict()
    assert bool(torch.signbit(state["fc1.weight"][state["fc1.mask"] == 0]).any())
    back = reference.unpack(reference.pack({"state_dict": state, "meta": {}}))["state_dict"]
    restored = LeNet300100()
    restored.load_state_dict(back)
    assert fingerprint(restored) == fingerprint(model)
