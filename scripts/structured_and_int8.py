"""Notebook 11's runs: LeNet-5 with whole units removed, then Deep Compression on top, chosen on validation.

    VIETAI_DATA=../shared/data python scripts/structured_and_int8.py

1. The dense LeNet-5 of seed 42 (images shifted by 2 pixels, as notebook 08) and its validation error.
2. ``structured_scan.load_or_scan``: each hidden layer alone cut to each fraction of its units, fine-tuned one
   epoch, validation error; ``choose_units``, the rule fixed before the scan, gives the units each layer keeps.
3. Deep Compression's candidates on that smaller model (``dc_candidates``), seed 42; ``beyond.choose_for_ratio``
   takes, among those at least ``STRUCTURED_TARGET``'s ratio smaller than dense float32, the lowest validation
   error.
4. The chosen setting on the fresh seeds 43-45 (``beyond.FRESH_SEEDS``), with the test error of both the smaller
   model before weight pruning and the compressed file.

Writes ``vietai_compress/measured/structured_and_int8.json``; the models go to ``artifacts/<mode>/seed<N>-holdout-
jitter2/``, where notebook 11 and ``benchmarks/inference_speed.py`` find them. Runs already saved are read.
In quick mode (``VIETAI_QUICK=1``) every step runs on 2,000 training images for 1 epoch.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from vietai_compress import measured
from vietai_compress.beyond import FRESH_SEEDS, choose_for_ratio, over_seeds, run_candidates, summary, total_seconds
from vietai_compress.config import artifacts_root, is_quick
from vietai_compress.fileio import atomic_write_text
from vietai_compress.structured_scan import STRUCTURED_TARGET, choose_units, dc_candidates, scan_base

OUTPUT = measured.path("structured_and_int8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    quick = is_quick()
    out = artifacts_root()
    shrink = {"train_images": 2_000, "epochs": 1, "fine_tune_epochs": 1} if quick else None
    base_val_error, scan = scan_base(quick, out, shrink)
    units = choose_units(scan, base_val_error)
    print(f"base validation error {base_val_error:.2f}%; units kept: {units}", flush=True)
    points = run_candidates(dc_candidates(units), quick=quick, out=out, shrink=shrink)
    for p in points:
        print(f"{p.label:60} {p.ratio:6.1f}x  val {p.val_error:.2f}%", flush=True)
    chosen = choose_for_ratio(points, STRUCTURED_TARGET[0])
    print("chosen on validation:", chosen.label if chosen else None, flush=True)
    seeds = over_seeds(chosen.label, chosen.settings, FRESH_SEEDS, quick, out, shrink=shrink) if chosen else []
    results = {
        "mode": "quick" if quick else "full", "target": list(STRUCTURED_TARGET), "base_val_error": base_val_error,
        "scan": [asdict(p) for p in scan], "units": units,
        "candidates": [_row(p) for p in points],
        "chosen": chosen.label if chosen else None, "seeds": list(FRESH_SEEDS),
        "over_seeds": [_row(p) for p in seeds],
        "summary": summary(seeds) if seeds else None,
    }
    print(json.dumps(results["summary"]), flush=True)
    results["seconds"] = total_seconds(results)
    atomic_write_text(args.output, json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def _row(point) -> dict:
    """A run as the JSON records it: every field but the machine-specific file path."""
    return {key: value for key, value in asdict(point).items() if key != "file"}


if __name__ == "__main__":
    main()
