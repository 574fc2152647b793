"""The course's models, and the three ways a notebook runs (notebook 00).

* QUICK (``VIETAI_QUICK=1``: tests and CI): every step, on fewer epochs; everything is trained.
* Class mode (full mode with ``TRAIN = False``, the default): a step that trains loads the result of the reference
  run instead, the one shipped with the package (``reference``), unless an earlier notebook saved it in
  ``artifacts/full/``. The cheap steps run live: pruning, k-means, Huffman coding, writing and reading files,
  evaluation and timing. A notebook then takes minutes, and prints the numbers its text quotes.
* ``TRAIN = True`` (full mode): every step trains on this machine and saves its result in ``artifacts/full/``; the
  shipped files are only ever read.

``run`` is the pipeline run (``pipeline.Run``) of one of the course's models (``COURSE``); ``measurement`` is a
notebook's own training result (a table, a curve) that class mode reads instead of training again; ``headline``
prints the numbers of a course model the same way in every notebook that uses it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from . import reference
from .config import artifacts_dir
from .fileio import atomic_write_text
from .pipeline import Run, Settings
from .recipe import PRESETS

# The course's compressed models: key -> (the notebook that makes it, its pipeline settings, its name in the notebooks)
COURSE = {
    "lenet300": ("06", PRESETS["article"], "LeNet-300-100, công thức của bài viết"),
    "lenet5-a": ("08", PRESETS["lenet5-a"], "LeNet-5, cấu hình A"),
    "lenet5-b": ("08", PRESETS["lenet5-b"], "LeNet-5, cấu hình B"),
    "lenet5-c": ("08", PRESETS["lenet5-c"], "LeNet-5, cấu hình C"),
    "lenet5-structured": ("11", PRESETS["lenet5-structured"], "LeNet-5 bỏ nơ-ron + Deep Compression"),
}
MEASUREMENTS = "notebooks"  # folder of the notebooks' own results, in artifacts/<mode>/ and in the reference run


def run(key: str, quick: bool, train: bool, **shrink) -> Run:
    """The ``pipeline.Run`` of the course model ``key`` (``COURSE``): class mode (``shipped``) unless ``train``.
    ``shrink`` (``train_images``, ``epochs``, ...) makes a quick run smaller."""
    if key not in COURSE:
        raise ValueError(f"key must be one of the course's models {sorted(COURSE)}, got {key!r}")
    return Run(Settings(quick=quick, **COURSE[key][1], **shrink), shipped=not train)


def measurement(name: str, compute: Callable[[], dict | list], quick: bool, train: bool) -> dict | list:
    """A notebook's training result ``name`` (e.g. ``"07_students"``): plain JSON values.

    Computed by ``compute()`` and saved to ``artifacts/<mode>/notebooks/<name>.json`` (``{"result": ..., "seconds":
    the time compute took}``) when the notebook trains (QUICK, or ``train``); in class mode read from there when an
    earlier run saved it, else from the reference run (checked against its SHA-256, ``reference``). ``compute`` is
    the training itself: the cell shows it, and it runs whenever the notebook trains."""
    path = artifacts_dir(quick) / MEASUREMENTS / f"{name}.json"
    relative = Path(MEASUREMENTS) / f"{name}.json"
    if quick or train:
        started = time.perf_counter()
        result = compute()
        saved = {"result": result, "seconds": time.perf_counter() - started}
        atomic_write_text(path, json.dumps(saved, indent=1, ensure_ascii=False) + "\n")
        return result
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))["result"]
    print(reference.loaded_message("kết quả đã lưu", relative))
    return reference.read_json(relative)["result"]


SCOREBOARD_STAGES = ("01", "02", "03", "04", "05", "06")


def scoreboard(run: Run, upto: str) -> dict[str, tuple[float, int]]:
    """The course's LeNet-300-100 after each of notebooks 01-06, up to and including ``upto``: ``{notebook: (test
    accuracy in %, bytes)}`` for ``diagrams.pipeline_map``. Bytes: dense float32 (01), CSR with float32 values (02,
    03), CSR with shared-weight indices (04, 05: the same model, counted), the compressed file (06). Computed from
    ``run``'s stages (loaded or trained, ``pipeline.Run``); ``{}`` for ``upto="00"``."""
    from .compression import model_size_report
    from .pruning import prune_by_std
    from .storage import load_model
    from .training import evaluate

    def accuracy(model) -> float:
        return evaluate(model, run.test_loader, run.device).accuracy

    stages = [s for s in SCOREBOARD_STAGES if s <= upto]
    board = {}
    if "01" in stages:
        base = run.base()
        board["01"] = (accuracy(base), model_size_report(base).total_bytes("dense"))
    if "02" in stages:
        pruned = run.base()
        prune_by_std(pruned, run.settings.sensitivity)
        board["02"] = (accuracy(pruned), model_size_report(pruned).total_bytes("pruned"))
    if "03" in stages:
        retrained = run.retrained()
        board["03"] = (accuracy(retrained), model_size_report(retrained).total_bytes("pruned"))
    for stage in {"04", "05"} & set(stages):
        shared = run.shared()
        board[stage] = (accuracy(shared), model_size_report(shared).total_bytes("shared"))
    if "06" in stages:
        path = run.compressed()
        board["06"] = (accuracy(load_model(path)[1].to(run.device)), path.stat().st_size)
    return dict(sorted(board.items()))


def headline(key: str, file: str | Path, accuracy: float) -> str:
    """The line every notebook prints for the course model ``key``, e.g. ``Mô hình LeNet-300-100, công thức của bài
    viết (notebook 06): tệp lenet300_s2_b5.vcz, 19,925 byte, nhỏ hơn 53.5 lần, độ chính xác kiểm tra 98.09%``;
    ``accuracy`` on the 10,000 test images, in %. The same model prints the same line wherever it appears (a test
    compares the committed notebooks)."""
    from .vcz import size_report

    notebook, _, name = COURSE[key]
    report = size_report(file)
    return (f"Mô hình {name} (notebook {notebook}): tệp {Path(file).name}, {report.file_bytes:,} byte, nhỏ hơn "
            f"{report.ratio:.1f} lần, độ chính xác kiểm tra {accuracy:.2f}%")
