"""Seconds per training batch: base training against retraining the pruned model, and against the article's loop.

    VIETAI_DATA=../shared/data python benchmarks/train_speed.py [--epochs 6] [--repeats 2]

Everything runs side by side in this process, on the same CPU, with the same Adam settings:

1. base training of a fresh LeNet-300-100 against retraining the s = 2 pruned model (a trained base model:
   ``artifacts/full/lenet300_base.pt`` when notebook 01 wrote it, else one trained here for
   ``--base-epochs``), one epoch of each in turn for ``--epochs`` epochs. The last half of the epochs counts:
   the slow-down this measures built up over the first epochs, when dead units' weights decayed into denormal
   floats (``vietai_compress.config`` now flushes them to zero; ``--keep-denormals`` turns that off again).
2. ``vietai_compress.training.train`` against the article's loop: ``torchvision`` ``DataLoader`` with a
   per-sample ``ToTensor`` + ``Normalize`` transform, and the gradients of pruned weights zeroed through a
   numpy round trip on every batch; each timed ``--repeats`` times (alternating), the best epoch counts.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import datasets, transforms

from vietai_compress.checkpoints import base_checkpoint_path, load_checkpoint, read_checkpoint_meta
from vietai_compress.config import data_root, seed_everything
from vietai_compress.data import MNIST_MEAN, MNIST_STD, mnist_loaders
from vietai_compress.models import LeNet300100
from vietai_compress.pruning import prune_by_std
from vietai_compress.recipe import BATCH_SIZE
from vietai_compress.training import make_optimizer, train


def article_epoch(model, loader, optimizer, device) -> None:
    """One epoch written the way the article's code does it."""
    model.train()
    for data, target in loader:
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        for _, p in model.named_parameters():  # zero the gradients of pruned weights, via numpy
            tensor = p.data.cpu().numpy()
            grad = p.grad.data.cpu().numpy()
            p.grad.data = torch.from_numpy(np.where(tensor == 0, 0, grad)).to(device)
        optimizer.step()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def trained_base_model(loader, epochs: int, device) -> LeNet300100:
    """Notebook 01's full-mode base model if it is on disk, else a base model trained here."""
    seed_everything()
    model = LeNet300100().to(device)
    path = base_checkpoint_path(quick=False)
    if path.is_file() and read_checkpoint_meta(path).get("data") == "MNIST":
        load_checkpoint(path, model)
        print(f"retraining starts from {path}")
    else:
        train(model, loader, make_optimizer(model), epochs, device, progress=False)
        print(f"retraining starts from a base model trained here for {epochs} epochs")
    return model


def one_epoch(model, optimizer, loader, device) -> float:
    """Seconds per batch of one epoch of ``train`` (constant lr)."""
    return timed(lambda: train(model, loader, optimizer, 1, device, progress=False, cosine=False)) / len(loader)


def base_vs_retraining(loader, epochs: int, base_epochs: int, device) -> dict[str, float]:
    seed_everything()
    fresh = LeNet300100().to(device)
    pruned = trained_base_model(loader, base_epochs, device)
    prune_by_std(pruned, 2.0)
    runs = {"base training": fresh, "retraining (s = 2)": pruned}
    optimizers = {name: make_optimizer(model) for name, model in runs.items()}
    times = {name: [] for name in runs}
    for _ in range(epochs):
        for name, model in runs.items():
            times[name].append(one_epoch(model, optimizers[name], loader, device))
    return {name: statistics.median(t[epochs // 2:]) for name, t in times.items()}


def article_vs_ours(loader, repeats: int, device) -> tuple[float, float]:
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
    article_loader = torch.utils.data.DataLoader(
        datasets.MNIST(str(data_root()), train=True, download=True, transform=transform),
        batch_size=BATCH_SIZE, shuffle=True)
    models = {}
    for name in ("article", "ours"):
        seed_everything()
        model = LeNet300100().to(device)
        prune_by_std(model, 2.0)  # the retraining setting: a pruned model whose zeros must stay zero
        models[name] = (model, make_optimizer(model))
    times = {"article": [], "ours": []}
    for _ in range(repeats):
        model, optimizer = models["article"]
        times["article"].append(timed(lambda: article_epoch(model, article_loader, optimizer, device)))
        model, optimizer = models["ours"]
        times["ours"].append(timed(lambda: train(model, loader, optimizer, 1, device, progress=False)))
    return min(times["article"]), min(times["ours"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6, help="epochs of each, base and retraining (default: 6)")
    parser.add_argument("--base-epochs", type=int, default=10,
                        help="epochs to train the base model when none is saved (default: 10)")
    parser.add_argument("--repeats", type=int, default=2, help="epochs of the article loop and ours (default: 2)")
    parser.add_argument("--keep-denormals", action="store_true",
                        help="do not flush denormal floats to zero (how training ran before the fix)")
    args = parser.parse_args()
    torch.set_flush_denormal(not args.keep_denormals)  # before any worker thread starts: they copy it
    device = torch.device("cpu")
    loader, _ = mnist_loaders(BATCH_SIZE, device=device, quick=False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch {BATCH_SIZE}")

    per_batch = base_vs_retraining(loader, args.epochs, args.base_epochs, device)
    base = per_batch["base training"]
    print(f"median of the last {args.epochs - args.epochs // 2} of {args.epochs} epochs each, in turn:")
    for name, seconds in per_batch.items():
        print(f"  {name:28} {seconds * 1000:6.2f} ms / batch ({1 / seconds:5.0f} batches/s), "
              f"{seconds / base:.2f}x base training")

    article, ours = article_vs_ours(loader, args.repeats, device)
    print(f"best of {args.repeats} epochs each:")
    print(f"  article loop (DataLoader + numpy gradient mask): {article:7.2f} s / epoch")
    print(f"  vietai_compress.training.train:                   {ours:7.2f} s / epoch")
    print(f"  speed-up: {article / ours:.1f}x")


if __name__ == "__main__":
    main()
