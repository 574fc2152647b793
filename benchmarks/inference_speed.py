"""Inference speed of every form of a compressed model, against dense PyTorch eager, side by side in one process.

    VIETAI_DATA=../shared/data python benchmarks/inference_speed.py [--threads 1] [--seconds 1] [--json FILE]

Three files, each run through the pipeline first when it is not saved yet (``load_or_run``; full mode):
LeNet-300-100 as ``vietai-compress run`` makes it (the article's recipe: notebook 06's file), LeNet-5 with
notebook 08's setting B (``--preset lenet5-b``) and LeNet-5 with notebook 11's units removed and Deep Compression on top
(``--preset lenet5-structured``). For each: the variants of ``vietai_compress.speed`` (dense PyTorch eager, the
reference; the decoded model with shared layers and in its inference form; dead units removed; ONNX Runtime
fp32, int8 dynamic and int8 static; the torch-free runtime reading the file; for notebook 11's file also the
smaller model before weight pruning, in PyTorch and ONNX Runtime fp32 and int8), at batch 1 and 256: p50 and p99
ms per call, images per second, the ratio to dense eager at p50, bytes on disk and test accuracy. Then the
floor: an empty ONNX Runtime call and a no-op PyTorch call. About 8 minutes when the files are saved.

One thread by default, for PyTorch and ONNX Runtime alike. On the 2-core machine these figures were measured on,
two threads per call made the same variant run up to 2x slower in one process than in the next (at batch 256,
ONNX Runtime took 0.28 or 0.58 ms for LeNet-300-100, depending on whether the scheduler put its two threads on
one core); one thread gave the same figures run after run. ``--threads 2`` measures the other setting.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from vietai_compress.checkpoints import load_checkpoint, load_checkpoint_model
from vietai_compress.config import artifacts_dir, seed_everything
from vietai_compress.data import mnist_loaders
from vietai_compress.fileio import atomic_write_text
from vietai_compress.models import build_model
from vietai_compress.pipeline import Settings, load_or_run
from vietai_compress.recipe import PRESETS
from vietai_compress.speed import build_variants, floors, measure, model_variants
from vietai_compress.timing import compare

MODELS = {"LeNet-300-100 (notebook 06, the article's recipe)": {},
          "LeNet-5 (notebook 08, setting B)": PRESETS["lenet5-b"],
          "LeNet-5 (notebook 11, units removed + Deep Compression)": PRESETS["lenet5-structured"]}


def compressed(options: dict, out: Path) -> tuple[Path, torch.nn.Module, dict, torch.nn.Module | None]:
    """The pipeline's file for ``options`` (run when missing), its dense base model, its results, and, for a run
    that removed whole units first, the smaller model before weight pruning (else None)."""
    settings = Settings(out=out, **options)
    results = load_or_run(settings)
    dense = build_model(settings.model)
    load_checkpoint(settings.folder / f"{settings.model}_base.pt", dense)
    smaller = load_checkpoint_model(settings.folder / f"{settings.name}_units.pt", settings.model) if settings.units \
        else None
    return Path(results["file"]), dense, results, smaller


def table(title: str, rows) -> str:
    lines = [title, f"{'variant':28} {'batch':>5} {'p50 ms':>9} {'p99 ms':>9} {'images/s':>10} {'speedup':>8} "
                    f"{'bytes':>11} {'test acc':>9}"]
    for r in rows:
        lines.append(f"{r.name:28} {r.batch:>5} {1000 * r.timing.p50:>9.4f} {1000 * r.timing.p99:>9.4f} "
                     f"{r.timing.per_second(r.batch):>10,.0f} {r.speedup:>7.2f}x {r.bytes:>11,} {r.accuracy:>8.2f}%")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="PyTorch and ONNX Runtime threads (default: 1)")
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent on each variant and batch size")
    parser.add_argument("--json", type=Path, default=None, help="also write every row to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed_everything()
    train_loader, test_loader = mnist_loaders(quick=False)
    images, labels = test_loader.images.cpu().numpy(), test_loader.labels.cpu().numpy()
    calibration = train_loader.images[:1000].cpu().numpy()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {args.threads} threads, "
          f"torch {torch.__version__}")
    report = {"threads": args.threads, "models": {}}
    with tempfile.TemporaryDirectory() as folder:
        for i, (title, options) in enumerate(MODELS.items()):
            path, dense, results, smaller = compressed(options, artifacts_dir(False).parent)
            variants = build_variants(path, dense, calibration, Path(folder) / f"model{i}", args.threads)
            if smaller is not None:
                structured = Path(folder) / f"model{i}-structured"
                variants.update(model_variants(smaller, calibration, structured, args.threads))
            rows = measure(variants, images, labels, seconds=args.seconds)
            print(table(f"\n{title}: {path.name}, {results['file_bytes']:,} bytes", rows), flush=True)
            report["models"][title] = {"file": path.name, "rows": [{**asdict(r), "timing": asdict(r.timing)}
                                                                   for r in rows]}
        empty = compare(floors(args.threads, folder), args.seconds)
    print("\nfloor: " + ", ".join(f"{name} p50 {1e6 * t.p50:.1f} us, p99 {1e6 * t.p99:.1f} us"
                                  for name, t in empty.items()))
    report["floor"] = {name: asdict(t) for name, t in empty.items()}
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
