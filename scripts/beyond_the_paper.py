"""Notebook 09's measurements: rounds 1-3 of LeNet-300-100 and LeNet-5's frontier, chosen on the validation split.

    VIETAI_DATA=../shared/data python scripts/beyond_the_paper.py

Rounds 1 and 2 (LeNet-300-100, plain images):
1. Every row of ``beyond.ABLATION`` on the default seed, trained on 55,000 images, measured on the 5,000
   held out (and on the test set, recorded but not used to choose).
2. For each target's error bound (1.58%: Deep Compression's row; 1.65%), ``beyond.choose`` takes the most
   compressed row whose validation error is within it (round 1: the bound is the target itself; round 2:
   the target's room over the dense base model, ``beyond.relative_bound``).
3. The article's recipe and each setting chosen in round 1 on the 3 seeds of ``beyond.SEEDS``, and each
   setting chosen in round 2 on 3 fresh seeds (``beyond.FRESH_SEEDS``).
Round 3 (LeNet-300-100, shifted images): row 7 trained with each jitter of ``beyond.JITTERS``; the one with the
lowest validation error is kept; the candidates of ``beyond.ROUND3`` with it; for each target's minimum ratio,
``beyond.choose_for_ratio``; each chosen setting on the fresh seeds ``beyond.ROUND3_SEEDS``, with that jitter
and on plain images. LeNet-5: the candidates of ``beyond.LENET5_CANDIDATES`` (the recipe's jitter), the same
rule for ``beyond.LENET5_TARGET``'s ratio, the chosen one on the same fresh seeds, shifted and plain.

Writes ``vietai_compress/measured/beyond_the_paper.json`` (notebook 09 checks its runs against it), with the
seconds every run took; the models and compressed files go to ``artifacts/full/seed<N>-holdout[-jitter<J>]/``,
where notebook 09 finds them. Runs already saved there are read, not repeated.

"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from vietai_compress import measured
from vietai_compress.beyond import (FRESH_SEEDS, LENET5_CANDIDATES, LENET5_TARGET, ROUND3_SEEDS, ROUND3_TARGETS,
                                    SEEDS, choose, choose_for_ratio, choose_jitter, jitter_scan, over_seeds, plain,
                                    relative_bound, round3_candidates, run_ablation, run_candidates,
                                    settings_to_repeat, summary)
from vietai_compress.config import artifacts_dir, is_quick
from vietai_compress.fileio import atomic_write_text

BOUNDS = (1.58, 1.65)  # error bounds of targets 1 and 2 (%), applied to the validation error when choosing
OUTPUT = measured.path("beyond_the_paper")


def _row(point) -> dict:
    """A point as the JSON records it: without the compressed file's path, which is this machine's."""
    return {key: value for key, value in asdict(point).items() if key != "file"}


def _over_seeds(labels, seeds, quick: bool, out: Path, options: dict | None = None) -> dict:
    """Each setting of ``labels`` (ablation rows, or ``options[label]``) run on ``seeds``: its points and their
    summary, as the JSON records them."""
    runs = {}
    for label in labels:
        points = over_seeds(label, seeds, quick, out, options=None if options is None else options[label])
        runs[label] = {"points": [_row(p) for p in points], "summary": summary(points)}
        print(label, json.dumps(runs[label]["summary"]), flush=True)
    return runs


def rounds_1_and_2(quick: bool, out: Path) -> dict:
    ablation = run_ablation(quick, out)
    for point in ablation:
        print(f"{point.label:48} {point.ratio:6.1f}x  val {point.val_error:.2f}%  test {point.test_error:.2f}%",
              flush=True)
    chosen = {f"{bound:.2f}": choose(ablation, bound).label for bound in BOUNDS}
    print("round 1, chosen on validation:", chosen, flush=True)
    base = ablation[0]  # every row starts from the same base model, so the same base errors
    assert all((p.base_val_error, p.base_test_error) == (base.base_val_error, base.base_test_error) for p in ablation)
    relative = {f"{bound:.2f}": relative_bound(bound, base) for bound in BOUNDS}
    chosen2 = {target: choose(ablation, bound).label for target, bound in relative.items()}
    print("round 2, validation bounds:", relative, "chosen:", chosen2, flush=True)
    seeds = _over_seeds(settings_to_repeat(chosen.values()), SEEDS, quick, out)
    fresh = _over_seeds(dict.fromkeys(chosen2.values()), FRESH_SEEDS, quick, out)
    return {"seeds": list(SEEDS), "bounds": list(BOUNDS), "ablation": [_row(p) for p in ablation], "chosen": chosen,
            "over_seeds": seeds,
            "round2": {"bounds": relative, "chosen": chosen2, "seeds": list(FRESH_SEEDS), "over_seeds": fresh}}


def _frontier(candidates: list, targets: dict, quick: bool, out: Path) -> dict:
    """The candidates on the default seed, the rule for each target's ratio, then each chosen setting on the fresh
    seeds, as given and on plain images."""
    points = run_candidates(candidates, quick=quick, out=out)
    for p in points:
        print(f"{p.label:60} {p.ratio:6.1f}x  val {p.val_error:.2f}%", flush=True)
    chosen = {name: choose_for_ratio(points, ratio) for name, (ratio, _) in targets.items()}
    print("chosen on validation:", {name: p.label if p else None for name, p in chosen.items()}, flush=True)
    options = {p.label: p.settings for p in chosen.values() if p is not None}
    plain_options = {f"{label} (plain)": plain(o) for label, o in options.items()}
    return {"candidates": [_row(p) for p in points], "targets": targets,
            "chosen": {name: p.label if p else None for name, p in chosen.items()}, "seeds": list(ROUND3_SEEDS),
            "over_seeds": _over_seeds(options, ROUND3_SEEDS, quick, out, options),
            "plain_over_seeds": _over_seeds(plain_options, ROUND3_SEEDS, quick, out, plain_options)}


def round_3(quick: bool, out: Path) -> dict:
    scan = jitter_scan(quick, out)
    jitter = choose_jitter(scan)
    print("jitter scan:", [(p.settings["jitter"], p.val_error) for p in scan], "chosen:", jitter, flush=True)
    return {"jitter_scan": [_row(p) for p in scan], "jitter": jitter,
            **_frontier(round3_candidates(jitter), ROUND3_TARGETS, quick, out)}


def lenet5(quick: bool, out: Path) -> dict:
    return _frontier(LENET5_CANDIDATES, {"lenet5": LENET5_TARGET}, quick, out)


PARTS = {"rounds12": rounds_1_and_2, "round3": round_3, "lenet5": lenet5}


def total_seconds(results: dict) -> float:
    """What every run recorded in ``results`` cost, once each (a run appears in several tables)."""
    runs = {}

    def visit(value):
        if isinstance(value, dict):
            if "seconds" in value and "file_bytes" in value:
                runs[(value["label"], value["seed"], json.dumps(value["settings"], sort_keys=True))] = value["seconds"]
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(results)
    return sum(runs.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--part", choices=sorted(PARTS), action="append",
                        help="run only this part (repeatable); the others are kept from --output")
    args = parser.parse_args()
    quick = is_quick()
    out = artifacts_dir(quick).parent
    results = json.loads(args.output.read_text()) if args.part and args.output.is_file() else {}
    results["mode"] = "quick" if quick else "full"
    for name in args.part or PARTS:
        part = PARTS[name](quick, out)
        results.update(part) if name == "rounds12" else results.update({name: part})
    results["seconds"] = total_seconds(results)
    print(f"every run together: {results['seconds'] / 3600:.2f} hours", flush=True)
    atomic_write_text(args.output, json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
