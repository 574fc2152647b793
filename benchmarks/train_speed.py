"""Seconds per training epoch: the article's loop against ``vietai_compress.training.train``.

    VIETAI_DATA=../shared/data python benchmarks/train_speed.py [--repeats 2]

Both train the same masked LeNet-300-100 with the same Adam settings on the same CPU, side by side in
this process; each is timed ``--repeats`` times (alternating) and the best epoch counts.

* article: ``torchvision`` ``DataLoader`` with a per-sample ``ToTensor`` + ``Normalize`` transform, and the
  gradients of pruned weights zeroed through a numpy round trip on every batch;
* ours: MNIST decoded once into tensors, batches sliced from them, pruned weights re-masked on the device.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import datasets, transforms

from vietai_compress.config import data_root, seed_everything
from vietai_compress.data import MNIST_MEAN, MNIST_STD, mnist_loaders
from vietai_compress.models import LeNet300100
from vietai_compress.pruning import prune_by_std
from vietai_compress.training import ARTICLE_BATCH_SIZE, make_optimizer, train


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    device = torch.device("cpu")
    seed_everything()
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
    article_loader = torch.utils.data.DataLoader(
        datasets.MNIST(str(data_root()), train=True, download=True, transform=transform),
        batch_size=ARTICLE_BATCH_SIZE, shuffle=True)
    our_loader, _ = mnist_loaders(ARTICLE_BATCH_SIZE, device=device, quick=False)

    models = {}
    for name in ("article", "ours"):
        seed_everything()
        model = LeNet300100().to(device)
        prune_by_std(model, 2.0)  # the retraining setting: a pruned model whose zeros must stay zero
        models[name] = (model, make_optimizer(model))

    times = {"article": [], "ours": []}
    for _ in range(args.repeats):
        model, optimizer = models["article"]
        times["article"].append(timed(lambda: article_epoch(model, article_loader, optimizer, device)))
        model, optimizer = models["ours"]
        times["ours"].append(timed(lambda: train(model, our_loader, optimizer, 1, device, progress=False)))

    article, ours = min(times["article"]), min(times["ours"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch {ARTICLE_BATCH_SIZE}, "
          f"best of {args.repeats} epochs each")
    print(f"article loop (DataLoader + numpy gradient mask): {article:7.2f} s / epoch")
    print(f"vietai_compress.training.train:                   {ours:7.2f} s / epoch")
    print(f"speed-up: {article / ours:.1f}x")


if __name__ == "__main__":
    main()
