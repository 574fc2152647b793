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
    seconds: float = 0.0  # what the run cost when it ran (``run_pipeline``), 0 for results saved without it


def run_point(label: str, options: dict, seed: int = SEED, quick: bool = False, out: Path = Path("artifacts"),
              progress: bool = True, shrink: dict | None = None) -> Point:
    """Run (or load, ``load_or_run``) one setting with the validation split held out: LeNet-300-100 unless
    ``options`` name another ``model``.

    ``shrink`` (e.g. ``{"train_images": 5000, "epochs": 1, "fine_tune_epochs": 1}``) makes quick runs smaller;
    it is part of the settings a saved run is matched on, not of the point's label and options."""
    settings = Settings(quick=quick, out=out, seed=seed, holdout=True, progress=progress, **options, **(shrink or {}))
    results = load_or_run(settings)
    base, final = results["stages"][0], results["stages"][-1]
    return Point(label, options, seed, results["file"], results["file_bytes"], final["ratio"],
                 round(100 - final["val_accuracy"], 2), round(100 - final["accuracy"], 2),
                 round(100 - base["val_accuracy"], 2), round(100 - base["accuracy"], 2), results.get("seconds", 0.0))


def run_ablation(quick: bool = False, out: Path = Path("artifacts"), seed: int = SEED, progress: bool = True,
                 desc: str = "các thiết lập", shrink: dict | None = None) -> list[Point]:
    """Every row of ``ABLATION`` on one seed (one shared base model), with one progress bar over the rows."""
    rows = tqdm(ABLATION, desc=desc, disable=not progress, unit=" lần chạy")
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
               progress: bool = True, desc: str = "các seed", shrink: dict | None = None,
               options: dict | None = None) -> list[Point]:
    """The setting ``label`` (an ablation row, or any ``options``) run on each seed (base model and compression
    seeded together), one progress bar."""
    options = dict(ABLATION)[label] if options is None else options
    return [run_point(label, options, seed, quick, out, False, shrink)
            for seed in tqdm(seeds, desc=desc, disable=not progress, unit=" lần chạy")]


def summary(points: Sequence[Point]) -> dict:
    """Median, min and max over seeds of the ratio and of the test and validation errors."""
    def spread(values: list[float]) -> dict:
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    return {"ratio": spread([p.ratio for p in points]), "test_error": spread([p.test_error for p in points]),
            "val_error": spread([p.val_error for p in points]), "seeds": [p.seed for p in points]}


# ---------------------------------------------------------------- round 3: shifted images and a new frontier
JITTERS = (0, 1, 2, 3)  # pixels of random shift tried as an ingredient, on row 7's setting (``ABLATION[-1]``)
ROUND3_SEEDS = (SEED + 6, SEED + 7, SEED + 8)  # 48-50: seeds that no choice of rounds 1-3 has seen


def jitter_scan(quick: bool = False, out: Path = Path("artifacts"), progress: bool = True, desc: str = "dịch ảnh",
                shrink: dict | None = None) -> list[Point]:
    """Row 7's setting trained on images shifted by each of ``JITTERS`` pixels (seed 42), one point each."""
    label, options = ABLATION[-1]
    return [run_point(f"{label}, jitter {j}", {**options, "jitter": j}, SEED, quick, out, False, shrink)
            for j in tqdm(JITTERS, desc=desc, disable=not progress, unit=" lần chạy")]


def choose_jitter(points: Sequence[Point]) -> int:
    """The jitter of the point with the lowest validation error; a tie goes to the smaller shift."""
    if not points:
        raise ValueError("points is empty: nothing to choose from")
    return min(points, key=lambda p: (p.val_error, p.settings.get("jitter", 0))).settings.get("jitter", 0)


def choose_for_ratio(points: Sequence[Point], min_ratio: float) -> Point | None:
    """The rule of notebooks 08 and 09 (round 3), fixed before the runs: among the points whose file is at least
    ``min_ratio`` times smaller than dense float32, the one with the lowest validation error; a tie goes to the
    larger ratio. None when no point reaches ``min_ratio``. The test error is not looked at."""
    min_ratio = check_real(min_ratio, "min_ratio", 1.0)
    reaching = [p for p in points if p.ratio >= min_ratio]
    return min(reaching, key=lambda p: (p.val_error, -p.ratio)) if reaching else None


def _setting_parts(options: dict) -> tuple[str | None, str, int, bool, int]:
    keep = "/".join(f"{100 * f:g}" for f in options["keep"].values()) + "%" if options.get("keep") else None
    bits = options.get("bits", 5)
    bits = "/".join(str(b) for b in bits.values()) if isinstance(bits, dict) else str(bits)
    return keep, bits, options.get("rounds", 1), bool(options.get("distill")), options.get("jitter", 0)


def describe(options: dict) -> str:
    """A short name of a setting: ``keep 2/5/20%, 4/4/5 bits, 10 rounds, distilled, jitter 1``."""
    keep, bits, rounds, distill, jitter = _setting_parts(options)
    parts = [f"keep {keep}"] * (keep is not None) + [f"{bits} bits", f"{rounds} rounds"] + ["distilled"] * distill
    return ", ".join(parts + [f"jitter {jitter}"])


def describe_vi(options: dict) -> str:
    """``describe`` in Vietnamese, for the notebooks' tables: ``giữ 2/5/20%, 4/4/5 bit, 10 vòng, chưng cất, dịch 1``."""
    keep, bits, rounds, distill, jitter = _setting_parts(options)
    parts = [f"giữ {keep}"] * (keep is not None) + [f"{bits} bit", f"{rounds} vòng"] + ["chưng cất"] * distill
    return ", ".join(parts + [f"dịch {jitter}"])


def _keep(fc1: float, fc2: float, fc3: float) -> dict[str, float]:
    return {"fc1": fc1, "fc2": fc2, "fc3": fc3}


# Round 3's candidates for LeNet-300-100, set after a few runs on the validation split only (seed 42): each
# distilled, pruned in 10 rounds within the same 100 epochs, on images shifted by the chosen jitter (added by
# ``round3_candidates``). From row 7's 3/6/25% down to 1.2/3/20%, with 4 or 3 bits for fc1 and fc2.
ROUND3: list[dict] = [
    {"keep": _keep(0.03, 0.06, 0.25), "bits": FC_BITS},
    {"keep": _keep(0.025, 0.05, 0.25), "bits": FC_BITS},
    {"keep": _keep(0.02, 0.05, 0.2), "bits": FC_BITS},
    {"keep": _keep(0.02, 0.05, 0.2), "bits": {"fc1": 3, "fc2": 3, "fc3": 5}},
    {"keep": _keep(0.015, 0.04, 0.2), "bits": FC_BITS},
    {"keep": _keep(0.015, 0.04, 0.2), "bits": {"fc1": 3, "fc2": 3, "fc3": 5}},
    {"keep": _keep(0.012, 0.03, 0.2), "bits": {"fc1": 3, "fc2": 3, "fc3": 5}},
]
ROUND3_ROUNDS = 10
# Minimum ratios of round 3's targets (test error bounds in ``ROUND3_TARGETS``), each a comparison with published
# LeNet-300-100 results (``references``): 1. twice Deep Compression's 40x at an error below every published point
# (1.58%, 1.94%, 1.99%) by a third; 2. 2.5 times its ratio at its error, 1.58%; stretch: 3 times its ratio.
ROUND3_TARGETS = {"1": (80.0, 1.20), "2": (100.0, 1.58), "stretch": (120.0, 1.58)}


def round3_candidates(jitter: int) -> list[tuple[str, dict]]:
    """``ROUND3`` as (label, options), distilled, in ``ROUND3_ROUNDS`` rounds, on images shifted by ``jitter``."""
    options = [{**o, "rounds": ROUND3_ROUNDS, "distill": True, "jitter": jitter} for o in ROUND3]
    return [(describe(o), o) for o in options]


def run_candidates(candidates: Sequence[tuple[str, dict]], seed: int = SEED, quick: bool = False,
                   out: Path = Path("artifacts"), progress: bool = True, desc: str = "các ứng viên",
                   shrink: dict | None = None) -> list[Point]:
    """Every (label, options) candidate on one seed, one progress bar over them."""
    return [run_point(label, options, seed, quick, out, False, shrink)
            for label, options in tqdm(candidates, desc=desc, disable=not progress, unit=" lần chạy")]


def plain(options: dict) -> dict:
    """The same setting on plain images (jitter 0), as the published methods trained."""
    return {**options, "jitter": 0}


def _lenet5_keep(conv1: float, conv2: float, fc1: float, fc2: float) -> dict[str, float]:
    return {"conv1": conv1, "conv2": conv2, "fc1": fc1, "fc2": fc2}


# LeNet-5 toward soft weight-sharing's 162x at 0.97% (Ullrich et al. 2017, ``references``): the target asks for
# about its ratio at a lower error. Candidates fixed before any of them ran: notebook 08's recipe (images shifted
# by up to 2 pixels) with harder pruning of conv2 and fc1 and fewer bits, from one try that gave 144x on seed 42
# (the first row) to about 30% fewer weights and bits; 3 or 5 prune/retrain rounds; not distilled, since distillation
# raised LeNet-5's validation error in notebook 08.
LENET5_TARGET = (160.0, 0.80)
_LENET5_FEWER_BITS = {"conv1": 4, "conv2": 4, "fc1": 3, "fc2": 3}
_LENET5_FEWEST_BITS = {"conv1": 4, "conv2": 3, "fc1": 3, "fc2": 3}
LENET5_CANDIDATES: list[tuple[str, dict]] = [
    (describe(o), o) for o in [{"model": "lenet5", "jitter": 2, **setting} for setting in [
        {"keep": _lenet5_keep(0.4, 0.05, 0.012, 0.1), "bits": _LENET5_FEWER_BITS, "rounds": 3},
        {"keep": _lenet5_keep(0.4, 0.04, 0.01, 0.1), "bits": _LENET5_FEWER_BITS, "rounds": 3},
        {"keep": _lenet5_keep(0.4, 0.04, 0.01, 0.1), "bits": _LENET5_FEWEST_BITS, "rounds": 3},
        {"keep": _lenet5_keep(0.4, 0.04, 0.01, 0.1), "bits": _LENET5_FEWEST_BITS, "rounds": 5},
        {"keep": _lenet5_keep(0.4, 0.035, 0.008, 0.08), "bits": _LENET5_FEWEST_BITS, "rounds": 5},
    ]]]
