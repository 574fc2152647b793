"""Beyond the paper, honestly (notebook 09): settings chosen on the validation split, 3 seeds, one test.

The ablation adds one ingredient at a time to the article's recipe; every run trains on the first 55,000
training images and is measured on the 5,000 held out (``Settings(holdout=True)``). ``choose`` picks, for
an error bound, the most compressed setting whose *validation* error is within it; only then are the
chosen settings run on more seeds and their test errors reported (``scripts/beyond_the_paper.py``).
Round 1 used the targets as bounds; round 2 a bound relative to the dense base model (``relative_bound``).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from tqdm.auto import tqdm

from .checks import check_real
from .config import SEED
from .pipeline import Settings, load_or_run

PAPER_KEEP = {"fc1": 0.08, "fc2": 0.09, "fc3": 0.26}  # Deep Compression's LeNet-300-100 (Table 2)
FEWER_KEEP = {"fc1": 0.04, "fc2": 0.08, "fc3": 0.30}
FEWEST_KEEP = {"fc1": 0.03, "fc2": 0.06, "fc3": 0.25}
FC_BITS = {"fc1": 4, "fc2": 4, "fc3": 5}
SEEDS = (SEED, SEED + 1, SEED + 2)  # the repository's default seed and the next two; none picked for its result
FRESH_SEEDS = (SEED + 3, SEED + 4, SEED + 5)  # round 2: seeds whose test errors no choice has seen

# Each row adds one ingredient to the row before it: (label, settings).
ABLATION: list[tuple[str, dict]] = [
    ("article: s = 2, one shot, 5 bits", {}),
    ("+ the paper's per-layer fractions (8/9/26%)", {"keep": PAPER_KEEP}),
    ("+ 5 prune/retrain rounds", {"keep": PAPER_KEEP, "rounds": 5}),
    ("+ distillation from the dense model", {"keep": PAPER_KEEP, "rounds": 5, "distill": True}),
    ("+ fewer weights (4/8/30%)", {"keep": FEWER_KEEP, "rounds": 5, "distill": True}),
    ("+ 4 bits for fc1 and fc2", {"keep": FEWER_KEEP, "rounds": 5, "distill": True, "bits": FC_BITS}),
    ("+ fewer weights still (3/6/25%)", {"keep": FEWEST_KEEP, "rounds": 5, "distill": True, "bits": FC_BITS}),
]

# The rows as notebook 09 prints them.
LABELS_VI = dict(zip([label for label, _ in ABLATION], [
    "bài viết: s = 2, cắt một lần, 5 bit",
    "+ tỉ lệ giữ lại từng lớp của bài báo (8/9/26%)",
    "+ cắt dần 5 vòng",
    "+ chưng cất từ mô hình dày đặc",
    "+ giữ ít trọng số hơn (4/8/30%)",
    "+ 4 bit cho fc1 và fc2",
    "+ giữ ít hơn nữa (3/6/25%)",
]))


@dataclass
class Point:
    """One compressed file: its settings, its ratio (dense float32 bytes / file bytes) and its errors in %."""

    label: str
    settings: dict
    seed: int
    file: str
    file_bytes: int
    ratio: float
    val_error: float
    test_error: float
    base_val_error: float  # the dense base model it was compressed from, on the same images
    base_test_error: float


def run_point(label: str, options: dict, seed: int = SEED, quick: bool = False, out: Path = Path("artifacts"),
              progress: bool = True, shrink: dict | None = None) -> Point:
    """Run (or load, ``load_or_run``) one setting of LeNet-300-100 with the validation split held out.

    ``shrink`` (e.g. ``{"train_images": 5000, "epochs": 1, "fine_tune_epochs": 1}``) makes quick runs smaller;
    it is part of the settings a saved run is matched on, not of the point's label and options."""
    settings = Settings(quick=quick, out=out, seed=seed, holdout=True, progress=progress, **options, **(shrink or {}))
    results = load_or_run(settings)
    base, final = results["stages"][0], results["stages"][-1]
    return Point(label, options, seed, results["file"], results["file_bytes"], final["ratio"],
                 round(100 - final["val_accuracy"], 2), round(100 - final["accuracy"], 2),
                 round(100 - base["val_accuracy"], 2), round(100 - base["accuracy"], 2))


def run_ablation(quick: bool = False, out: Path = Path("artifacts"), seed: int = SEED, progress: bool = True,
                 desc: str = "ablation", shrink: dict | None = None) -> list[Point]:
    """Every row of ``ABLATION`` on one seed (one shared base model), with one progress bar over the rows."""
    rows = tqdm(ABLATION, desc=desc, disable=not progress)
    return [run_point(label, options, seed, quick, out, False, shrink) for label, options in rows]


def choose(points: Sequence[Point], max_val_error: float) -> Point:
    """The most compressed point whose validation error (%) is at most ``max_val_error``, or, when none is
    within it (quick mode), the point with the lowest validation error. The test error is not looked at."""
    bound = check_real(max_val_error, "max_val_error", 0.0)
    if not points:
        raise ValueError("points is empty: nothing to choose from")
    within = [p for p in points if p.val_error <= bound]
    if not within:
        return min(points, key=lambda p: (p.val_error, -p.ratio))
    return max(within, key=lambda p: p.ratio)


def relative_bound(target_error: float, base: Point) -> float:
    """Round 2's validation bound for a target test error (%): the room the target leaves over the dense base
    model (``target_error - base.base_test_error``) added to the base's validation error, rounded to 0.01, and
    never below 0 (a short quick-mode run can leave no room at all: then ``choose`` falls back).

    Round 1 compared the validation error with the target itself; but the 5,000 validation images are
    easier than the test set (the base model errs less on them), so that bound let through settings that
    lose more than the target allows. Here a setting may lose on validation only what the target lets the
    base model lose on the test set."""
    target_error = check_real(target_error, "target_error", 0.0)
    return max(0.0, round(base.base_val_error + target_error - base.base_test_error, 2))


def settings_to_repeat(chosen: Iterable[str]) -> list[str]:
    """The ablation rows run on every seed: the article's, then each chosen row once."""
    return list(dict.fromkeys([ABLATION[0][0], *chosen]))


def over_seeds(label: str, seeds: Sequence[int] = SEEDS, quick: bool = False, out: Path = Path("artifacts"),
               progress: bool = True, desc: str = "seeds", shrink: dict | None = None) -> list[Point]:
    """The ablation row ``label`` run on each seed (base model and compression seeded together), one progress bar."""
    options = dict(ABLATION)[label]
    return [run_point(label, options, seed, quick, out, False, shrink)
            for seed in tqdm(seeds, desc=desc, disable=not progress)]


def summary(points: Sequence[Point]) -> dict:
    """Median, min and max over seeds of the ratio and of the test and validation errors."""
    def spread(values: list[float]) -> dict:
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    return {"ratio": spread([p.ratio for p in points]), "test_error": spread([p.test_error for p in points]),
            "val_error": spread([p.val_error for p in points]), "seeds": [p.seed for p in points]}
