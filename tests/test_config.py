import pytest
import torch

from vietai_compress import config


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False), ("no", False)])
def test_is_quick_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("VIETAI_QUICK", value)
    assert config.is_quick() is expected


def test_is_quick_is_false_when_unset(monkeypatch):
    monkeypatch.delenv("VIETAI_QUICK", raising=False)
    assert config.is_quick() is False


def test_is_quick_rejects_garbage(monkeypatch):
    monkeypatch.setenv("VIETAI_QUICK", "maybe")
    with pytest.raises(ValueError, match="VIETAI_QUICK"):
        config.is_quick()


def test_data_root_follows_vietai_data(monkeypatch, tmp_path):
    monkeypatch.setenv("VIETAI_DATA", str(tmp_path))
    assert config.data_root() == tmp_path.resolve()
    monkeypatch.delenv("VIETAI_DATA")
    assert config.data_root().name == "data"


def test_artifacts_are_kept_apart_per_mode(monkeypatch, tmp_path):
    monkeypatch.setenv("VIETAI_ARTIFACTS", str(tmp_path))
    assert config.artifacts_dir(quick=True) == tmp_path.resolve() / "quick"
    assert config.artifacts_dir(quick=False) == tmp_path.resolve() / "full"
    monkeypatch.setenv("VIETAI_QUICK", "1")
    assert config.artifacts_dir() == config.artifacts_dir(quick=True)


def test_get_device_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.get_device() == torch.device("cuda")


def test_seed_everything_repeats_random_draws():
    config.seed_everything(7)
    a = torch.rand(5)
    config.seed_everything(7)
    assert torch.equal(a, torch.rand(5))


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (1.5, TypeError), ("42", TypeError), (True, TypeError)])
def test_seed_everything_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match="seed must be an int"):
        config.seed_everything(seed)


def test_mode_banner():
    assert config.mode_banner(False, 100) == "Chế độ: FULL (100 epoch)"
    assert config.mode_banner(True, 1) == "Chế độ: QUICK (1 epoch)"


def test_shown_path_is_relative_inside_the_working_directory_and_whole_outside(tmp_path, monkeypatch):
    from vietai_compress.config import shown_path

    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "artifacts" / "full") == "artifacts/full"
    outside = tmp_path.parent / "elsewhere"
    assert shown_path(outside) == str(outside)


def test_numpy_matrix_products_run_on_the_chosen_threads():
    from threadpoolctl import threadpool_info

    from vietai_compress.config import THREADS, use_threads

    use_threads()
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert blas and all(lib["num_threads"] == THREADS for lib in blas)
