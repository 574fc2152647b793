"""How much of the gap between the base model and its compressed versions is seed noise.

    VIETAI_DATA=../shared/data python scripts/seed_spread.py --seeds 1 2 3

For each seed (weight init and shuffling order): train a base LeNet-300-100 with the article's
recipe, then, each from a copy of it, (a) prune once with s = 1.5 and retrain, (b) prune in 3 rounds
with s = 1.75 (``prune_iteratively``); share both with 4 bits (no centroid fine-tuning) and print
test accuracies. Full mode: about 4.5 minutes per seed on 2 CPU cores. Nothing is saved.
"""
from __future__ import annotations

import argparse
import copy

from vietai_compress.config import get_device, seed_everything
from vietai_compress.data import mnist_loaders
from vietai_compress.models import LeNet300100
from vietai_compress.pruning import prune_by_std, prune_iteratively
from vietai_compress.quantization import share_weights
from vietai_compress.training import ARTICLE_EPOCHS, evaluate, make_optimizer, train

SETTINGS = [(1.5, 1), (1.75, 3)]  # (s, rounds)
BITS = 4


def one_seed(seed: int, epochs: int, device) -> list[float]:
    """[base, then retrained and shared accuracy for each of SETTINGS], in %."""
    seed_everything(seed)
    train_loader, test_loader = mnist_loaders(seed=seed, device=device)
    base = LeNet300100()
    train(base, train_loader, make_optimizer(base), epochs, device, progress=False)
    row = [evaluate(base, test_loader, device).accuracy]
    for s, rounds in SETTINGS:
        model = copy.deepcopy(base)
        if rounds == 1:
            prune_by_std(model, s)
            train(model, train_loader, make_optimizer(model), epochs, device, progress=False)
        else:
            prune_iteratively(model, s, rounds, train_loader, epochs, device, progress=False)
        row.append(evaluate(model, test_loader, device).accuracy)
        share_weights(model, BITS)
        row.append(evaluate(model, test_loader, device).accuracy)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=ARTICLE_EPOCHS)
    args = parser.parse_args()
    device = get_device()
    columns = ["base"] + [f"s{s} r{r} {stage}" for s, r in SETTINGS for stage in ("retrained", f"{BITS}-bit")]
    print(f"{'seed':>5} " + " ".join(f"{c:>18}" for c in columns), flush=True)
    for seed in args.seeds:
        row = one_seed(seed, args.epochs, device)
        print(f"{seed:>5} " + " ".join(f"{a:>17.2f}%" for a in row), flush=True)


if __name__ == "__main__":
    main()
