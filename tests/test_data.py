import pytest
import torch

from helpers import write_fake_mnist
from vietai_compress.data import (MNIST_MEAN, MNIST_STD, Jittered, TensorLoader, expected_source, jitter,
                                  load_digits_as_mnist, mnist_loaders, mnist_on_disk, normalize, validation_size)


def test_loader_visits_every_sample_once_per_epoch():
    x = torch.arange(10).float().view(10, 1)
    loader = TensorLoader(x, torch.arange(10), batch_size=3, shuffle=True, seed=1)
    assert len(loader) == 4
    seen = torch.cat([labels for _, labels in loader])
    assert sorted(seen.tolist()) == list(range(10))
    assert [len(b) for b, _ in loader] == [3, 3, 3, 1]


def test_loader_shuffle_is_seeded_and_changes_every_epoch():
    x = torch.arange(100).float().view(100, 1)
    first = TensorLoader(x, torch.arange(100), 100, shuffle=True, seed=3)
    second = TensorLoader(x, torch.arange(100), 100, shuffle=True, seed=3)
    epoch1 = next(iter(first))[1]
    assert torch.equal(epoch1, next(iter(second))[1])
    assert not torch.equal(epoch1, next(iter(first))[1])


def test_loader_keeps_images_and_labels_paired():
    x = torch.arange(50).float().view(50, 1)
    for images, labels in TensorLoader(x, torch.arange(50), 7, shuffle=True):
        assert torch.equal(images[:, 0].long(), labels)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)])
def test_loader_rejects_bad_batch_size(bad, error):
    with pytest.raises(error, match="batch_size must be an int"):
        TensorLoader(torch.zeros(4, 1), torch.zeros(4), bad)


def test_normalize_uses_mnist_mean_and_std():
    pixels = torch.tensor([[[0, 255]]], dtype=torch.uint8)
    out = normalize(pixels)
    assert out.shape == (1, 1, 1, 2) and out.dtype == torch.float32
    assert torch.allclose(out.flatten(), torch.tensor([-MNIST_MEAN / MNIST_STD, (1 - MNIST_MEAN) / MNIST_STD]))


def test_mnist_loaders_read_idx_files(tmp_path):
    (train_pixels, train_labels), (test_pixels, _) = write_fake_mnist(tmp_path, 20, 10)
    train, test = mnist_loaders(batch_size=8, root=tmp_path, device="cpu", download=False, quick=False)
    assert len(train.dataset) == 20 and len(test.dataset) == 10
    assert train.source == test.source == "MNIST"
    images, labels = next(iter(test))
    assert images.shape == (10, 1, 28, 28) and labels.dtype == torch.int64
    expected = (torch.from_numpy(test_pixels).float() / 255 - MNIST_MEAN) / MNIST_STD
    assert torch.allclose(images[:, 0], expected)
    assert sorted(torch.cat([y for _, y in train]).tolist()) == sorted(train_labels.tolist())


def test_missing_mnist_in_full_mode_names_vietai_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="VIETAI_DATA"):
        mnist_loaders(root=tmp_path, download=False, quick=False)


def test_missing_mnist_in_quick_mode_falls_back_to_digits(tmp_path, capsys):
    train, test = mnist_loaders(root=tmp_path, device="cpu", download=False, quick=True)
    warning = capsys.readouterr().err
    assert "WARNING" in warning and "digits" in warning and warning.count("\n") == 1
    assert len(train.dataset) + len(test.dataset) == 1797
    assert train.source == test.source == "digits"
    images, _ = next(iter(test))
    assert images.shape[1:] == (1, 28, 28)


def test_digits_fallback_is_normalised_like_mnist():
    train_x, train_y, test_x, test_y = load_digits_as_mnist()
    assert train_x.shape[1:] == (1, 28, 28)
    assert torch.isclose(train_x.min(), torch.tensor(-MNIST_MEAN / MNIST_STD))
    assert train_x.max() <= (1 - MNIST_MEAN) / MNIST_STD + 1e-5
    assert set(test_y.tolist()) == set(range(10))


def test_validation_split_is_held_out_disjoint_and_repeatable(tmp_path):
    write_fake_mnist(tmp_path, 24, 10)
    full_train, _ = mnist_loaders(root=tmp_path, device="cpu", download=False, quick=False)
    train, val, test = mnist_loaders(root=tmp_path, device="cpu", download=False, quick=False, validation=True)
    assert validation_size(24) == 2 and validation_size(60_000) == 5_000
    assert (len(train.dataset), len(val.dataset), len(test.dataset)) == (22, 2, 10)
    assert torch.equal(val.images, full_train.images[-2:])  # the last training images
    assert torch.equal(train.images, full_train.images[:-2])
    all_images = torch.cat([train.images, val.images, test.images]).flatten(1)
    assert len(torch.unique(all_images, dim=0)) == 34  # no image in two splits
    again = mnist_loaders(root=tmp_path, device="cpu", download=False, quick=False, validation=True)
    assert all(torch.equal(a.images, b.images) for a, b in zip((train, val, test), again))
    assert not val.shuffle and train.shuffle


def test_the_digits_fallback_splits_the_same_way(tmp_path, capsys):
    train, val, test = mnist_loaders(root=tmp_path, device="cpu", download=False, quick=True, validation=True)
    full_train, _ = mnist_loaders(root=tmp_path, device="cpu", download=False, quick=True)
    assert val.source == "digits" and len(val.dataset) == validation_size(len(full_train.dataset)) == 112
    assert torch.equal(val.images, full_train.images[-112:]) and len(train.dataset) == 1347 - 112
    assert set(val.labels.tolist()) == set(range(10))


def test_jitter_shifts_each_image_by_at_most_max_shift_and_fills_background():
    images = torch.full((50, 1, 28, 28), -MNIST_MEAN / MNIST_STD)
    images[:, 0, 14, 14] = 3.0  # one bright pixel in the middle
    moved = jitter(images, 2, torch.Generator().manual_seed(0))
    assert moved.shape == images.shape
    where = (moved[:, 0] == 3.0).nonzero()
    assert len(where) == 50  # the pixel survives in every image
    assert where[:, 1:].sub(14).abs().max() <= 2
    assert len({tuple(w) for w in where[:, 1:].tolist()}) > 10  # and lands in many places
    assert torch.equal(jitter(images, 0), images)
    assert torch.equal(jitter(images, 2, torch.Generator().manual_seed(0)), moved)  # seeded


def test_jittered_loader_changes_images_not_labels():
    x = torch.randn(16, 1, 28, 28)
    loader = Jittered(TensorLoader(x, torch.arange(16), 8), max_shift=2, seed=1)
    assert len(loader) == 2
    batches = list(loader)
    assert torch.equal(torch.cat([y for _, y in batches]), torch.arange(16))
    assert not torch.equal(torch.cat([b for b, _ in batches]), x)
    with pytest.raises(ValueError, match="max_shift"):
        jitter(x, 9)


def test_jittered_copy_replays_the_same_shifts_and_batches_and_logits_are_refused():
    x = torch.randn(24, 1, 28, 28)
    loader = Jittered(TensorLoader(x, torch.arange(24), 8, shuffle=True, seed=3, source="MNIST"), max_shift=2, seed=1)
    first = [(b.clone(), y.clone()) for b, y in loader.copy()]
    again = list(loader.copy())
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(first, again))
    assert loader.source == "MNIST" and torch.equal(loader.labels, torch.arange(24)) and loader.copy().max_shift == 2
    with pytest.raises(ValueError, match="logits"):
        Jittered(TensorLoader(x, torch.arange(24), 8).with_logits(torch.randn(24, 10)))


def test_expected_source_is_mnist_when_its_files_are_on_disk_and_digits_only_in_quick_mode(tmp_path):
    assert not mnist_on_disk(tmp_path)
    assert (expected_source(True, tmp_path), expected_source(False, tmp_path)) == ("digits", "MNIST")
    write_fake_mnist(tmp_path)
    assert mnist_on_disk(tmp_path) and expected_source(True, tmp_path) == "MNIST"


def test_loader_with_logits_yields_them_and_subset_keeps_them_aligned():
    images, labels = torch.randn(10, 1, 28, 28), torch.arange(10) % 5
    logits = torch.randn(10, 5)
    loader = TensorLoader(images, labels, 4, shuffle=True).with_logits(logits)
    seen = torch.cat([batch[1] for batch in loader])
    assert sorted(seen.tolist()) == sorted(labels.tolist())
    for x, y, z in loader:  # each batch's logits belong to its images
        rows = [int((images == xi).flatten(1).all(1).nonzero()) for xi in x]
        assert torch.equal(z, logits[rows]) and torch.equal(y, labels[rows])
    no_threes = loader.subset(labels != 3)
    assert len(no_threes.labels) == 8 and 3 not in no_threes.labels
    assert torch.equal(no_threes.logits, logits[labels != 3])
    with pytest.raises(ValueError, match="keep"):
        loader.subset((labels != 3).float())
    with pytest.raises(ValueError, match="logits"):
        TensorLoader(images, labels, 4, logits=logits[:3])


def test_a_copy_shuffles_like_a_fresh_loader_and_leaves_the_original_alone():
    images, labels = torch.randn(12, 1, 28, 28), torch.arange(12)
    loader = TensorLoader(images, labels, 4, shuffle=True, seed=3)
    fresh = [y.tolist() for _, y in TensorLoader(images, labels, 4, shuffle=True, seed=3)]
    assert [y.tolist() for _, y in loader.copy()] == fresh
    assert [y.tolist() for _, y in loader] == fresh  # the copy did not advance the original's generator
