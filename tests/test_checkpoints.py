import pickle

import pytest
import torch

import vietai_compress.stages as stages
from helpers import fake_mnist_loaders, tiny_masked_mlp
from vietai_compress.checkpoints import load_checkpoint, read_checkpoint_meta, read_log, save_checkpoint, save_log
from vietai_compress.models import LeNet300100
from vietai_compress.pruning import prune_by_std
from vietai_compress.quantization import weight_layers
from vietai_compress.training import make_optimizer


def test_checkpoint_round_trip_keeps_masks_meta_and_optimizer(tmp_path):
    model = tiny_masked_mlp(seed=1)
    prune_by_std(model, 1.0)
    optimizer = make_optimizer(model)
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    path = save_checkpoint(model, tmp_path / "sub" / "m.pt", optimizer, mode="quick", epochs=1)
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temp file left behind

    fresh = tiny_masked_mlp(seed=2)
    fresh_opt = make_optimizer(fresh)
    meta = load_checkpoint(path, fresh, fresh_opt)
    assert meta == {"mode": "quick", "epochs": 1}
    for key, value in model.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[key])
    assert fresh_opt.state_dict()["state"][0]["step"] == 1


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        load_checkpoint(tmp_path / "nowhere.pt", tiny_masked_mlp())


class Evil:
    """Any class: weights_only loading must refuse to build it."""


def test_loading_never_unpickles_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "meta": Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(path, tiny_masked_mlp())


def test_meta_must_be_plain_values(tmp_path):
    with pytest.raises(TypeError, match="meta"):
        save_checkpoint(tiny_masked_mlp(), tmp_path / "m.pt", when=object())


def test_overwrite_is_atomic(tmp_path, monkeypatch):
    path = save_checkpoint(tiny_masked_mlp(), tmp_path / "m.pt", version=1)

    def broken_save(obj, f):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(tiny_masked_mlp(), path, version=2)
    monkeypatch.undo()
    assert read_checkpoint_meta(path) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_teacher_is_trained_once_on_jittered_images_then_loaded_and_never_across_modes(tmp_path, monkeypatch,
                                                                                      capsys):
    from vietai_compress.models import MLP
    from vietai_compress.recipe import TEACHER_DROPOUT
    from vietai_compress.stages import load_or_train_teacher

    monkeypatch.setenv("VIETAI_ARTIFACTS", str(tmp_path))
    monkeypatch.setattr(stages, "hinton_teacher", lambda dropout: MLP((8,), dropout=dropout))  # small: the logic
    seen = []
    real_train = stages.train

    def recording_train(model, loader, *args, **kwargs):
        seen.append((model, loader))
        return real_train(model, loader, *args, **kwargs)

    monkeypatch.setattr(stages, "train", recording_train)
    train_loader, _ = fake_mnist_loaders(n=32)
    teacher = load_or_train_teacher(train_loader, quick=True, device="cpu", progress=False)
    model, loader = seen[0]
    assert not teacher.training and isinstance(loader, stages.Jittered) and loader.max_shift == 2
    assert model.dropout.p == TEACHER_DROPOUT
    path = tmp_path / "quick" / f"teacher_1200-1200_d{TEACHER_DROPOUT:g}.pt"
    meta = read_checkpoint_meta(path)
    assert meta["mode"] == "quick" and meta["train_images"] == 32 and meta["jitter"] == 2
    assert meta["dropout"] == TEACHER_DROPOUT
    again = load_or_train_teacher(train_loader, quick=True, device="cpu", progress=False)
    assert len(seen) == 1  # loaded, not trained again
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in teacher.state_dict().items())
    other = load_or_train_teacher(train_loader, quick=True, device="cpu", progress=False, dropout=0.5)
    assert len(seen) == 2 and other.dropout.p == 0.5  # another dropout: its own file, trained anew
    assert read_checkpoint_meta(tmp_path / "quick" / "teacher_1200-1200_d0.5.pt")["dropout"] == 0.5
    load_or_train_teacher(train_loader, quick=False, device="cpu", progress=False, path=path)
    assert "Không dùng" in capsys.readouterr().out and len(seen) == 3
    assert read_checkpoint_meta(path)["epochs"] == 40
    with pytest.raises(ValueError, match="dropout"):
        load_or_train_teacher(train_loader, quick=True, device="cpu", progress=False, dropout=1.0)


def test_results_log_appends_json_lines(tmp_path):
    path = tmp_path / "log" / "results.jsonl"
    save_log(path, "base", accuracy=98.2, nonzeros=266610)
    save_log(path, "pruned", accuracy=60.0)
    records = read_log(path)
    assert [r["stage"] for r in records] == ["base", "pruned"]
    assert records[0]["accuracy"] == 98.2 and "time" in records[0]
    assert read_log(tmp_path / "missing.jsonl") == []


def test_a_shared_checkpoint_loads_into_a_fresh_model(tmp_path):
    from vietai_compress.quantization import share_weights

    model = tiny_masked_mlp(seed=1)
    prune_by_std(model, 0.5)
    share_weights(model, bits=2)
    path = save_checkpoint(model, tmp_path / "shared.pt")
    fresh = tiny_masked_mlp(seed=2)
    load_checkpoint(path, fresh)
    x = torch.randn(5, 4)
    assert torch.equal(model(x), fresh(x))
    assert [type(layer).__name__ for _, layer in weight_layers(fresh)] == ["SharedLinear", "SharedLinear"]


def test_lenet5_trains_for_its_own_epochs_and_other_models_for_the_articles():
    from vietai_compress.models import LeNet5, LeNet300100, MLP, model_name
    from vietai_compress.recipe import EPOCHS, LENET5_EPOCHS, model_epochs

    assert [model_name(m) for m in (LeNet5(), LeNet300100(), MLP((8,)))] == ["lenet5", "lenet300", "lenet300"]
    assert (model_epochs("lenet5", False), model_epochs("lenet300", False)) == (LENET5_EPOCHS, EPOCHS) == (12, 100)
    assert model_epochs("lenet5", True) == model_epochs("lenet300", True) == 1
    assert stages.base_meta(False, fake_mnist_loaders()[0], "lenet5")["epochs"] == 12


def test_distilling_on_jittered_images_runs_the_teacher_on_every_shifted_batch():
    from vietai_compress.data import Jittered
    from vietai_compress.distillation import distillation_loss
    from vietai_compress.recipe import DISTILL_ALPHA, DISTILL_T

    train_loader, _ = fake_mnist_loaders(n=32)
    teacher, student = LeNet300100().eval(), LeNet300100()
    loader, loss_fn = stages.taught_by(teacher, Jittered(train_loader, max_shift=2))
    assert isinstance(loader, Jittered)
    images, labels = next(iter(loader))
    with torch.no_grad():
        expected = distillation_loss(student(images), teacher(images), labels, DISTILL_T, DISTILL_ALPHA)
        assert torch.equal(loss_fn(student, images, labels), expected)


def test_a_structurally_pruned_model_loads_back_with_its_own_widths(tmp_path):
    from vietai_compress.checkpoints import load_checkpoint_model
    from vietai_compress.models import LeNet5
    from vietai_compress.structured import prune_units

    torch.manual_seed(0)
    model = LeNet5()
    prune_units(model, {"conv1": 0.5, "fc1": 0.3})
    loaded = load_checkpoint_model(save_checkpoint(model, tmp_path / "smaller.pt"), "lenet5")
    assert (loaded.conv1.weight.shape[0], loaded.fc1.weight.shape[0]) == (10, 150)
    x = torch.randn(3, 1, 28, 28)
    assert torch.equal(loaded(x), model(x))


def test_a_checkpoint_records_the_settings_it_was_made_with_and_another_request_does_not_use_it(tmp_path, capsys):
    from vietai_compress.data import Jittered

    train_loader, _ = fake_mnist_loaders(n=32)
    path = save_checkpoint(tiny_masked_mlp(), tmp_path / "base.pt", **stages.base_meta(True, train_loader, epochs=1))
    assert stages.matches(path, stages.base_meta(True, train_loader, epochs=1))
    assert stages.base_meta(True, Jittered(train_loader, max_shift=0), epochs=1)["jitter"] == 0
    for other in (stages.base_meta(False, train_loader, epochs=1),  # another mode
                  stages.base_meta(True, train_loader, epochs=2),  # other epochs
                  stages.base_meta(True, train_loader.subset(torch.arange(32) < 16), epochs=1),  # other images
                  stages.base_meta(True, Jittered(train_loader, max_shift=2), epochs=1)):  # shifted images
        assert not stages.matches(path, other)
        assert "Không dùng" in capsys.readouterr().out
    payload = torch.load(path, weights_only=True)
    del payload["meta"]["jitter"]  # a checkpoint written before jitter existed was trained on plain images
    torch.save(payload, path)
    assert stages.matches(path, stages.base_meta(True, train_loader, epochs=1))
    assert not stages.matches(tmp_path / "missing.pt", {})


def test_a_fingerprint_changes_with_any_weight_and_not_with_the_device_or_a_copy():
    import copy

    from vietai_compress.checkpoints import fingerprint

    model = tiny_masked_mlp(seed=1)
    assert fingerprint(model) == fingerprint(copy.deepcopy(model)) and len(fingerprint(model)) == 16
    with torch.no_grad():
        model[0].weight[0, 0] += 1e-6
    assert fingerprint(model) != fingerprint(tiny_masked_mlp(seed=1))


def test_a_state_dicts_fingerprint_is_its_models_and_tells_the_signs_of_zero_apart():
    from vietai_compress.checkpoints import fingerprint, fingerprint_state

    model = tiny_masked_mlp(seed=1)
    assert fingerprint_state(model.state_dict()) == fingerprint(model)
    assert fingerprint_state({"w": torch.tensor([0.0])}) != fingerprint_state({"w": torch.tensor([-0.0])})
