import pickle

import pytest
import torch

import vietai_compress.stages as stages
from helpers import fake_mnist_loaders, tiny_masked_mlp
from vietai_compress.checkpoints import load_checkpoint, read_checkpoint_meta, read_log, save_checkpoint, save_log
from vietai_compress.models import LeNet300100, masked_layers
from vietai_compress.pruning import prune_by_std
from vietai_compress.quantization import shared_layers, weight_layers
from vietai_compress.stages import load_or_retrain_pruned_model, load_or_share_model, load_or_train_base_model
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


def test_base_model_is_trained_once_then_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("VIETAI_ARTIFACTS", str(tmp_path))
    loaders = fake_mnist_loaders()
    model = load_or_train_base_model(quick=True, loaders=loaders, device="cpu", progress=False)
    assert read_checkpoint_meta(tmp_path / "quick" / "lenet300_base.pt")["mode"] == "quick"

    def no_training(*args, **kwargs):
        raise AssertionError("should have loaded the checkpoint")

    monkeypatch.setattr(stages, "train", no_training)
    again = load_or_train_base_model(quick=True, loaders=loaders, device="cpu", progress=False)
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])


def test_a_quick_checkpoint_is_never_used_in_full_mode(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIETAI_ARTIFACTS", str(tmp_path))
    path = tmp_path / "base.pt"
    loaders = fake_mnist_loaders(n=32)
    load_or_train_base_model(quick=True, path=path, loaders=loaders, device="cpu", progress=False)
    load_or_train_base_model(quick=False, path=path, loaders=loaders, device="cpu", progress=False)
    assert "Ignoring" in capsys.readouterr().out
    assert read_checkpoint_meta(path)["mode"] == "full" and read_checkpoint_meta(path)["epochs"] == 100


def test_a_checkpoint_of_other_data_is_not_used(tmp_path, capsys):
    path = tmp_path / "base.pt"
    loaders = fake_mnist_loaders(n=32)
    load_or_train_base_model(quick=True, path=path, loaders=loaders, device="cpu", progress=False)
    loaders[0].source = "digits"
    load_or_train_base_model(quick=True, path=path, loaders=loaders, device="cpu", progress=False)
    assert "Ignoring" in capsys.readouterr().out
    assert read_checkpoint_meta(path)["data"] == "digits"


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
    assert "Ignoring" in capsys.readouterr().out and len(seen) == 3
    assert read_checkpoint_meta(path)["epochs"] == 40
    with pytest.raises(ValueError, match="dropout"):
        load_or_train_teacher(train_loader, quick=True, device="cpu", progress=False, dropout=1.0)


def test_retrained_model_keeps_pruned_weights_at_zero(tmp_path, monkeypatch):
    monkeypatch.setenv("VIETAI_ARTIFACTS", str(tmp_path))
    model = load_or_retrain_pruned_model(1.0, quick=True, loaders=fake_mnist_loaders(), device="cpu",
                                         progress=False)
    meta = read_checkpoint_meta(tmp_path / "quick" / "lenet300_s1_retrained.pt")
    assert meta["s"] == 1.0 and meta["rounds"] == 1 and meta["mode"] == "quick"
    for _, layer in masked_layers(model):
        assert 0 < layer.mask.sum() < layer.mask.numel()
        assert torch.all(layer.weight[layer.mask == 0] == 0)


def test_results_log_appends_json_lines(tmp_path):
    path = tmp_path / "log" / "results.jsonl"
    save_log(path, "base", accuracy=98.2, nonzeros=266610)
    save_log(path, "pruned", accuracy=60.0)
    records = read_log(path)
    assert [r["stage"] for r in records] == ["base", "pruned"]
    assert records[0]["accuracy"] == 98.2 and "time" in records[0]
    assert read_log(tmp_path / "missing.jsonl") == []


def test_shared_model_is_computed_once_then_loaded_without_clustering_again(tmp_path, monkeypatch):
    from helpers import pattern_mnist_loaders
    from vietai_compress.quantization import distinct_values

    monkeypatch.setenv("VIETAI_ARTIFACTS", str(tmp_path))
    loaders = pattern_mnist_loaders()
    model = load_or_share_model(1.0, 3, quick=True, loaders=loaders, device="cpu", progress=False)
    assert all(v <= 8 for v in distinct_values(model).values())
    meta = read_checkpoint_meta(tmp_path / "quick" / "lenet300_s1_b3_shared.pt")
    assert (meta["bits"], meta["s"], meta["rounds"]) == (3, 1.0, 1)

    def refuse(*args, **kwargs):
        raise AssertionError("a saved shared model must be loaded, not computed again")

    monkeypatch.setattr(stages, "share_and_fine_tune", refuse)
    monkeypatch.setattr("vietai_compress.quantization.cluster_values", refuse)
    again = load_or_share_model(1.0, 3, quick=True, loaders=loaders, device="cpu", progress=False)
    assert len(shared_layers(again)) == 3
    for (name, a), (_, b) in zip(weight_layers(model), weight_layers(again)):
        assert torch.equal(a.weight, b.weight) and torch.equal(a.labels, b.labels)


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


def test_epochs_can_be_overridden_and_a_base_of_other_training_images_is_not_used(tmp_path, capsys):
    from vietai_compress.stages import prune_and_retrain

    path = tmp_path / "base.pt"
    loaders = fake_mnist_loaders(n=32)
    model = load_or_train_base_model(quick=True, path=path, loaders=loaders, device="cpu", progress=False, epochs=2)
    assert read_checkpoint_meta(path)["epochs"] == 2 and read_checkpoint_meta(path)["train_images"] == 32
    prune_and_retrain(model, loaders[0], True, s=0.5, device="cpu", progress=False, path=tmp_path / "r.pt", epochs=3)
    assert read_checkpoint_meta(tmp_path / "r.pt")["epochs"] == 3
    fewer = (loaders[0].subset(torch.arange(32) < 16), loaders[1])
    load_or_train_base_model(quick=True, path=path, loaders=fewer, device="cpu", progress=False, epochs=2)
    assert "Ignoring" in capsys.readouterr().out and read_checkpoint_meta(path)["train_images"] == 16


def test_a_base_checkpoint_matches_only_a_request_for_the_same_jitter(tmp_path):
    from vietai_compress.data import Jittered

    path = tmp_path / "base.pt"
    train_loader, test_loader = fake_mnist_loaders(n=32)
    plain, shifted = (train_loader, test_loader), (Jittered(train_loader, max_shift=2), test_loader)

    def loaded(loaders) -> bool:
        """Ask for a base model; True when the checkpoint was loaded, False when it was trained (and rewritten)."""
        before = path.stat().st_mtime_ns if path.exists() else None
        load_or_train_base_model(quick=True, path=path, loaders=loaders, device="cpu", progress=False, epochs=1)
        return path.stat().st_mtime_ns == before

    assert not loaded(plain) and read_checkpoint_meta(path)["jitter"] == 0  # plain images: jitter 0 recorded
    assert stages.base_meta(True, Jittered(train_loader, max_shift=0), epochs=1)["jitter"] == 0
    assert not loaded(shifted) and read_checkpoint_meta(path)["jitter"] == 2  # the plain base is not used
    assert loaded(shifted)
    assert not loaded(plain)  # a jittered base is not used for plain images either
    payload = torch.load(path, weights_only=True)
    del payload["meta"]["jitter"]  # a checkpoint written before jitter existed was trained on plain images
    torch.save(payload, path)
    assert loaded(plain)
    assert not loaded(shifted)


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


def test_training_a_base_model_leaves_the_callers_shuffling_alone(tmp_path):
    loaders = fake_mnist_loaders(n=64)
    first_order = [y.tolist() for _, y in loaders[0].copy()]
    load_or_train_base_model(quick=True, path=tmp_path / "b.pt", loaders=loaders, device="cpu", progress=False,
                             epochs=2)
    assert [y.tolist() for _, y in loaders[0]] == first_order  # as if the model had been loaded from disk


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
