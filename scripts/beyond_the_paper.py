"""Notebook 09's measurements: settings chosen by rules fixed before the runs, on the validation split, then
run on fresh seeds.

    VIETAI_DATA=../shared/data python scripts/beyond_the_paper.py                # both parts
    VIETAI_DATA=../shared/data python scripts/beyond_the_paper.py --part lenet5  # one part; the other is kept

LeNet-300-100 (``--part lenet300``), on the default seed:
1. every row of ``beyond.ABLATION`` (one ingredient at a time), trained on 55,000 images and measured on the 5,000
   held out (and on the test set, recorded but not used to choose);
2. the ablation's last row with each shift of ``beyond.JITTERS``; ``beyond.choose_jitter`` keeps one;
3. the candidates of ``beyond.candidates`` with that shift; for each target of ``beyond.TARGETS``,
   ``beyond.choose_for_ratio`` takes one;
then each chosen setting on ``beyond.FRESH_SEEDS``, on shifted and on plain images, and the article's recipe on the
same seeds. LeNet-5 (``--part lenet5``): ``beyond.LENET5_CANDIDATES`` on the default seed, the same rule for
``beyond.LENET5_TARGET``'s ratio, the chosen setting on the fresh seeds, shifted and plain.

Writes ``vietai_compress/measured/beyond_the_paper.json`` (notebook 09 reads it) with the seconds every run took;
the models and compressed files go to ``artifacts/full/seed<N>-holdout[-jitter<J>]/``. Runs already saved there are
read, not repeated, so the two parts can run at the same time in two processes.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from vietai_compress import measured
from vietai_compress.beyond import (ABLATION, FRESH_SEEDS, LENET5_CANDIDATES, LENET5_TARGET, TARGETS, candidates,
                                    choose_for_ratio, choose_jitter, jitter_scan, over_seeds, plain, run_ablation,
                                    run_candidates, summary, total_seconds)
from vietai_compress.config import artifacts_root, is_quick
from vietai_compress.fileio import atomic_write_text

OUTPUT = measured.path("beyond_the_paper")


def _row(point) -> dict:
    """A point as the JSON records it: without the compressed file's path, which is this machine's."""
    return {key: value for key, value in asdict(point).items() if key != "file"}


def _seeds(label: str, options: dict, quick: bool, out: Path) -> dict:
    points = over_seeds(label, options, FRESH_SEEDS, quick, out)
    result = {"options": options, "points": [_row(p) for p in points], "summary": summary(points)}
    print(label, json.dumps(result["summary"]), flush=True)
    return result


def _chosen_on_fresh_seeds(points: list, targets: dict, quick: bool, out: Path) -> dict:
    """The rule for each target's ratio, then each chosen setting on the fresh seeds, shifted and on plain images."""
    chosen = {name: choose_for_ratio(points, ratio) for name, (ratio, _) in targets.items()}
    print("chosen on validation:", {name: p.label if p else None for name, p in chosen.items()}, flush=True)
    settings = {p.label: p.settings for p in chosen.values() if p is not None}
    return {"candidates": [_row(p) for p in points], "targets": targets,
            "chosen": {name: p.label if p else None for name, p in chosen.items()}, "seeds": list(FRESH_SEEDS),
            "over_seeds": {label: {"shifted": _seeds(label, options, quick, out),
                                   "plain": _seeds(f"{label} (plain)", plain(options), quick, out)}
                           for label, options in settings.items()}}


def lenet300(quick: bool, out: Path) -> dict:
    ablation = run_ablation(quick, out)
    for point in ablation:
        print(f"{point.label:48} {point.ratio:6.1f}x  val {point.val_error:.2f}%  test {point.test_error:.2f}%",
              flush=True)
    scan = jitter_scan(quick, out)
    jitter = choose_jitter(scan)
    print("jitter scan:", [(p.settings["jitter"], p.val_error) for p in scan], "chosen:", jitter, flush=True)
    points = run_candidates(candidates(jitter), quick=quick, out=out)
    for p in points:
        print(f"{p.label:60} {p.ratio:6.1f}x  val {p.val_error:.2f}%", flush=True)
    article_label, article = ABLATION[0]
    return {"ablation": [_row(p) for p in ablation], "jitter_scan": [_row(p) for p in scan], "jitter": jitter,
            **_chosen_on_fresh_seeds(points, TARGETS, quick, out),
            "article_over_seeds": _seeds(article_label, article, quick, out)}


def lenet5(quick: bool, out: Path) -> dict:
    points = run_candidates(LENET5_CANDIDATES, quick=quick, out=out)
    for p in points:
        print(f"{p.label:60} {p.ratio:6.1f}x  val {p.val_error:.2f}%", flush=True)
    return _chosen_on_fresh_seeds(points, {"lenet5": LENET5_TARGET}, quick, out)


PARTS = {"lenet300": lenet300, "lenet5": lenet5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--part", choices=sorted(PARTS), action="append",
                        help="run only this part (repeatable); the others are kept from --output")
    args = parser.parse_args()
    quick = is_quick()
    parts = {name: PARTS[name](quick, artifacts_root()) for name in args.part or PARTS}
    # read what is there only now: another process may have written the other part meanwhile
    earlier = json.loads(args.output.read_text()) if args.part and args.output.is_file() else {}
    results = {name: earlier[name] for name in PARTS if name in earlier}  # nothing of an older structure
    results.update({"mode": "quick" if quick else "full", **parts})
    results["seconds"] = total_seconds(results)
    print(f"every run together: {results['seconds'] / 3600:.2f} hours", flush=True)
    atomic_write_text(args.output, json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
