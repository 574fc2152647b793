"""Time to load and decode a compressed file, against loading the dense state_dict of the same model.

    python benchmarks/decode_speed.py [FILE] [--repeats 20]

FILE defaults to the newest ``*.vcz`` under ``artifacts/full`` (else ``artifacts/quick``), written by
notebook 06 or ``vietai-compress run``. The reference is ``torch.load(weights_only=True)`` +
``load_state_dict`` of the same weights stored dense, measured side by side in this process.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from vietai_compress.config import artifacts_dir
from vietai_compress.models import build_model
from vietai_compress.quantization import strip_sharing
from vietai_compress.storage import load_compressed
from vietai_compress.vcz import read_file


def newest_file() -> Path | None:
    for quick in (False, True):
        files = sorted(artifacts_dir(quick).glob("*.vcz"), key=lambda p: p.stat().st_mtime)
        if files:
            return files[-1]
    return None


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, nargs="?")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    path = args.file or newest_file()
    if path is None:
        sys.exit("no compressed file found: run notebook 06 or `vietai-compress run` first")
    model_name, _ = read_file(path)

    def decode():
        load_compressed(path, build_model(model_name))

    with tempfile.TemporaryDirectory() as tmp:
        dense_path = Path(tmp) / "dense.pt"
        model = build_model(model_name)
        load_compressed(path, model)
        torch.save(strip_sharing(model).state_dict(), dense_path)  # the same weights as plain masked layers

        def load_dense():
            build_model(model_name).load_state_dict(torch.load(dense_path, weights_only=True))

        decode(), load_dense()  # warm up
        compressed = median_seconds(decode, args.repeats)
        dense = median_seconds(load_dense, args.repeats)
        dense_bytes = dense_path.stat().st_size
    print(f"{path}: {path.stat().st_size:,} bytes; dense state_dict: {dense_bytes:,} bytes")
    print(f"load + decode compressed file: {compressed * 1000:8.2f} ms (median of {args.repeats})")
    print(f"torch.load dense state_dict:   {dense * 1000:8.2f} ms")
    print(f"ratio compressed / dense: {compressed / dense:.2f}")


if __name__ == "__main__":
    main()
