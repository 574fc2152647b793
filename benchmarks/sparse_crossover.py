"""Where a sparse (CSR) fully connected layer starts to beat a dense one, in numpy and scipy (the runtime's choice).

    python benchmarks/sparse_crossover.py [--seconds 0.3]

For three layer shapes (LeNet-300-100's fc1 after its dead units are removed, fc1 whole, LeNet-5's fc1) and
fractions of nonzero weights from 2% to 30%: one layer's product with a batch of 1 and of 256 inputs, as a scipy
CSR matrix and as a dense numpy matrix, timed side by side (``timing.compare``). Prints p50 of each and the
ratio dense / CSR (above 1: CSR is faster). ``runtime.SPARSE_BELOW`` is the crossover this prints.
"""
from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse

from vietai_compress.timing import compare

SHAPES = ((131, 469), (300, 784), (500, 800))
DENSITIES = (0.02, 0.05, 0.08, 0.1, 0.2, 0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="time spent on each form and batch size")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'layer':>9} {'nonzero':>8} {'batch':>6} {'CSR us':>9} {'dense us':>9} {'dense/CSR':>10}")
    for rows, cols in SHAPES:
        for density in DENSITIES:
            weight = (rng.standard_normal((rows, cols)) * (rng.random((rows, cols)) < density)).astype(np.float32)
            csr = scipy.sparse.csr_matrix(weight)
            for batch in (1, 256):
                x = rng.standard_normal((cols, batch)).astype(np.float32)  # (features, batch), as the runtime keeps
                t = compare({"csr": lambda: csr @ x, "dense": lambda: weight @ x}, args.seconds)
                print(f"{rows:>4}x{cols:<4} {100 * density:>7g}% {batch:>6} {1e6 * t['csr'].p50:>9.1f} "
                      f"{1e6 * t['dense'].p50:>9.1f} {t['dense'].p50 / t['csr'].p50:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()
