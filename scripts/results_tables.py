"""Write docs/results.md and the figures of README.md's Results section from the measurement files and notebooks.

    python scripts/results_tables.py                         # rewrite docs/results.md and README.md's block
    python scripts/results_tables.py --check                 # exit 1 if either is not what the sources give
    python scripts/results_tables.py --measured DIR --output /tmp/results.md --readme /tmp/README.md

Nothing here is typed by hand: every figure comes from ``vietai_compress/measured/*.json`` (written by
``scripts/beyond_the_paper.py``, ``scripts/structured_and_int8.py``, ``scripts/choose_teacher.py``,
``benchmarks/inference_speed.py`` and ``benchmarks/browser_speed.py``), from ``vietai_compress/references.py``
(the published points) or from the text a committed full-mode notebook printed. README.md's block lies between
``<!-- results:start -->`` and ``<!-- results:end -->``. A measurement file that lacks a key this script reads (one
written by an older script) stops it with one line naming the file and the key. ``tests/test_results_doc.py`` runs
``--check``, so neither document can drift from its sources.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vietai_compress import measured, references  # noqa: E402
from vietai_compress.beyond import describe, meets  # noqa: E402
from vietai_compress.course import COURSE  # noqa: E402
from vietai_compress.fileio import write_or_check  # noqa: E402
from vietai_compress.structured_scan import SCAN_EPOCHS, UNIT_TOLERANCE  # noqa: E402

OUTPUT = ROOT / "docs" / "results.md"
README = ROOT / "README.md"
NOTEBOOKS = ROOT / "notebooks"
START, END = "<!-- results:start -->", "<!-- results:end -->"
# the measurements read, each with what writes it
SOURCES = {"beyond_the_paper": "scripts/beyond_the_paper.py", "structured_and_int8": "scripts/structured_and_int8.py",
           "inference_speed": "benchmarks/inference_speed.py --json", "browser_speed": "benchmarks/browser_speed.py",
           "choose_teacher": "scripts/choose_teacher.py"}
FULL_BANNER = "Chế độ: FULL"  # config.mode_banner in full mode: only full-mode notebook outputs are read

# benchmarks/inference_speed.py's variants (``speed.NAMES_VI``), in English
VARIANTS = {
    "dense": "dense PyTorch eager", "shared": "decoded file, shared layers",
    "inference": "decoded file, inference form",
    "small": "dead units removed, PyTorch", "onnx": "dead units removed, ONNX Runtime fp32",
    "onnx_int8_dynamic": "ONNX Runtime int8 (dynamic)", "onnx_int8_static": "ONNX Runtime int8 (static QDQ)",
    "runtime": "torch-free runtime reading the `.vcz`", "structured": "units removed (structured), PyTorch",
    "structured_onnx": "units removed, ONNX Runtime fp32",
    "structured_onnx_int8_static": "units removed, ONNX Runtime int8 (static QDQ)",
    "structured_onnx_int8_dynamic": "units removed, ONNX Runtime int8 (dynamic)",
}
# the README's columns: a few variants, shorter names
README_VARIANTS = {"dense": "dense PyTorch eager, ms", "inference": "decoded file, inference form",
                   "onnx": "dead units removed, ONNX Runtime fp32", "onnx_int8_static": "ONNX Runtime int8 static",
                   "runtime": "torch-free runtime", "structured_onnx": "units removed, ONNX Runtime fp32"}
TARGET_NAMES = {"1": "target 1", "2": "target 2", "stretch": "stretch target", "lenet5": "target"}  # notebook 09's
MODELS = {"lenet300": "LeNet-300-100", "lenet5": "LeNet-5"}


# ---------------------------------------------------------------- reading the sources
class SchemaError(Exception):
    """A source without what this script reads: a measurement file written by an older version of its script, or a
    README without its markers."""


class Node(dict):
    """A JSON object that names its place in its file, and what writes that file, when a key it lacks is read."""

    def __init__(self, items: dict, where: str, writer: str):
        super().__init__(items)
        self.where, self.writer = where, writer

    def __missing__(self, key: Any) -> Any:
        raise SchemaError(f"{self.where} has no key {key!r}: an older structure; rerun {self.writer}")


def tree(value: Any, where: str, writer: str) -> Any:
    """``value`` (parsed JSON) with every object a ``Node`` that knows where it is (``where``) and what wrote it."""
    if isinstance(value, dict):
        return Node({k: tree(v, f"{where}[{k!r}]", writer) for k, v in value.items()}, where, writer)
    if isinstance(value, list):
        return [tree(v, f"{where}[{i}]", writer) for i, v in enumerate(value)]
    return value


def load(folder: Path, name: str) -> Node | None:
    """The measurement ``folder/<name>.json`` as a ``Node``, or None when it has not been recorded."""
    path = folder / f"{name}.json"
    if not path.is_file():
        return None
    return tree(json.loads(path.read_text(encoding="utf-8")), f"{name}.json", SOURCES[name])


def output_text(cell: dict) -> str:
    """What a notebook code cell printed on stdout."""
    texts = [o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout"]
    return "".join("".join(t) if isinstance(t, list) else t for t in texts)


def notebook_cells(folder: Path, name: str) -> list[tuple[str, str]] | None:
    """(source, printed text) of each code cell of a committed full-mode notebook, or None when the notebook has
    no full-mode outputs (outputs cleared, or a quick-mode run)."""
    path = folder / name
    if not path.is_file():
        return None
    cells = [("".join(c["source"]), output_text(c)) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
             if c["cell_type"] == "code"]
    return cells if any(FULL_BANNER in text for _, text in cells) else None


def cell_output(cells: list[tuple[str, str]] | None, marker: str) -> str | None:
    """The text printed by the first cell whose source contains ``marker``; None without outputs or cell."""
    return next((text for source, text in cells or [] if marker in source), None)


@dataclass
class Sources:
    """Everything the two documents are printed from; a measurement not recorded yet is None."""

    beyond: Node | None
    structured: Node | None
    speed: Node | None
    browser: Node | None
    teacher: Node | None
    folder: Path
    notebooks: Path

    @classmethod
    def read(cls, folder: Path, notebooks: Path) -> "Sources":
        return cls(*(load(folder, name) for name in SOURCES), folder, notebooks)


# ---------------------------------------------------------------- small formats
def seeds_text(seeds: Sequence[int]) -> str:
    """``43-45`` for consecutive seeds, else ``43, 47``."""
    seeds = list(seeds)
    consecutive = len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds)))
    return f"{seeds[0]}-{seeds[-1]}" if consecutive else ", ".join(map(str, seeds))


def spread(summary: dict, key: str, unit: str = "%", digits: int = 2) -> str:
    """``1.14% [1.10, 1.20]``: the median and range of ``summary[key]`` (``beyond.summary``)."""
    s = summary[key]
    return f"{s['median']:.{digits}f}{unit} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"


def at(summary: dict) -> str:
    """``91.8x at 1.14%``: the medians of a ``beyond.summary``."""
    return f"{summary['ratio']['median']:.1f}x at {summary['test_error']['median']:.2f}%"


def bold_if(text: str, condition: bool) -> str:
    return f"**{text}**" if condition else text


def table(header: Sequence[str], align: str, rows: Iterable[Sequence[Any]]) -> list[str]:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r``."""
    def line(cells: Iterable[Any]) -> str:
        return "|" + "|".join(f" {c} " if c != "" else " " for c in cells) + "|"

    return [line(header), line("---:" if a == "r" else "---" for a in align)] + [line(row) for row in rows]


def target_text(target: Sequence[float]) -> str:
    """``>= 80x at <= 1.20%``: a target (minimum ratio, maximum median test error %)."""
    return f">= {target[0]:g}x at <= {target[1]:.2f}%"


def target_name(name: str, target: Sequence[float]) -> str:
    """``target 1 (>= 80x)``: notebook 09's name of a target, with its ratio."""
    return f"{TARGET_NAMES.get(name, name)} (>= {target[0]:g}x)"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def images_text(options: dict) -> str:
    """How a run's training images were shifted: ``plain`` or ``shifted by up to 2``."""
    jitter = options.get("jitter", 0)
    return f"shifted by up to {jitter}" if jitter else "plain"


# ---------------------------------------------------------------- notebook 09: the tables
def ablation_table(rows: list[dict]) -> list[str]:
    """The ablation (``beyond.ABLATION``): each row adds one ingredient to the row before it."""
    return table(["#", "setting", "file bytes", "ratio", "validation error", "test error"], "rlrrrr",
                 [(i, p["label"], f"{p['file_bytes']:,}", f"{p['ratio']:.1f}x", f"{p['val_error']:.2f}%",
                   f"{p['test_error']:.2f}%") for i, p in enumerate(rows, start=1)])


def jitter_table(scan: list[dict], chosen: int) -> list[str]:
    """The jitter scan (``beyond.jitter_scan``), the chosen shift marked."""
    return table(["shift (pixels)", "base validation error", "file validation error", "ratio", "test error"], "rrrrr",
                 [(bold_if(str(p["settings"]["jitter"]), p["settings"]["jitter"] == chosen),
                   f"{p['base_val_error']:.2f}%", f"{p['val_error']:.2f}%", f"{p['ratio']:.1f}x",
                   f"{p['test_error']:.2f}%") for p in scan])


def candidates_table(points: list[dict], chosen: dict[str, str | None]) -> list[str]:
    """Every candidate with its file and validation error, and the targets (``{name: label chosen}``) whose rule
    chose it."""

    def chosen_for(label: str) -> str:
        return ", ".join(name for name, c in chosen.items() if c == label)

    return table(["candidate", "file bytes", "ratio", "validation error", "chosen for"], "lrrrl",
                 [(describe(p["settings"]), f"{p['file_bytes']:,}", f"{p['ratio']:.1f}x", f"{p['val_error']:.2f}%",
                   chosen_for(p["label"])) for p in points])


def chosen_by_name(part: dict) -> dict[str, str | None]:
    """``{target_name: label chosen}`` of a part of notebook 09's measurement."""
    return {target_name(name, part["targets"][name]): label for name, label in part["chosen"].items()}


def targets_table(part: dict) -> list[str]:
    """Each target (fixed before the runs), what the rule chose for it on validation, and the medians of that
    choice on the fresh seeds, shifted and plain images."""
    rows = []
    for name, target in part["targets"].items():
        label = part["chosen"][name]
        runs = part["over_seeds"][label] if label is not None else None
        cells = [at(runs[k]["summary"]) + (" (met)" if meets(runs[k]["summary"], target) else " (not met)")
                 for k in ("shifted", "plain")] if runs else ["", ""]
        rows.append((target_name(name, target), target_text(target),
                     label if label is not None else f"none reaches {target[0]:g}x", *cells))
    return table(["target", "required of the medians", "chosen on validation", "shifted images", "plain images"],
                 "lllll", rows)


def seed_row(label: str, images: str, run: dict) -> tuple:
    """One setting on the fresh seeds (``{"options", "points", "summary"}``): spread and each seed."""
    s = run["summary"]
    each = ", ".join(f"{p['seed']}: {p['test_error']:.2f}%" for p in run["points"])
    return label, images, seeds_text(s["seeds"]), spread(s, "ratio", "x", 1), spread(s, "test_error"), each


def seeds_table(rows: list[tuple]) -> list[str]:
    return table(["setting", "images", "seeds", "ratio, median [min, max]", "test error, median [min, max]",
                  "each seed's test error"], "lllrrl", rows)


def chosen_rows(over_seeds: dict) -> list[tuple]:
    """``seed_row`` of each chosen setting on shifted images, then on plain images."""
    rows = []
    for label, runs in over_seeds.items():
        rows += [seed_row(label, images_text(runs[k]["options"]), runs[k]) for k in ("shifted", "plain")]
    return rows


def published_table() -> list[str]:
    """The published points of ``references`` on both nets."""
    rows = [("Deep Compression (Han et al. 2016)", *(f"{d['ratio']:g}x at {d['error']:.2f}%" for d in
                                                    (references.DEEP_COMPRESSION_LENET300,
                                                     references.DEEP_COMPRESSION_LENET5)), "bytes")]
    for label in references.LATER_LENET300:
        name, parameters = published(label)
        rows.append((name, *(f"{r:g}x at {e:.2f}%" for r, e in (references.LATER_LENET300[label],
                                                               references.LATER_LENET5[label])),
                     "parameters" if parameters else "bytes"))
    return table(["method", "LeNet-300-100", "LeNet-5", "ratio counts"], "lrrl", rows)


def published(label: str) -> tuple[str, bool]:
    """A label of ``references.LATER_*`` (written for the Vietnamese figures): the method's name, and True when its
    ratio counts parameters rather than bytes (``theo số tham số``)."""
    parameters = ", theo số tham số" in label
    return label.replace(", theo số tham số", ""), parameters


# ---------------------------------------------------------------- notebook 09: the sections
PROTOCOL = ("Every run trains on the first 55,000 training images; every choice reads the 5,000 held out "
            "(validation) by a rule fixed before the runs; the chosen settings then run on seeds no choice has seen, "
            "on images shifted as in training and on plain images (as the published methods trained).")


def lenet300_section(part: dict) -> list[str]:
    """LeNet-300-100 in notebook 09: ablation, jitter scan, candidates, targets, fresh seeds, the article's recipe."""
    seed = part["ablation"][0]["seed"]
    article = part["article_over_seeds"]
    return (["## LeNet-300-100 beyond the paper (notebook 09, `scripts/beyond_the_paper.py`)", "", PROTOCOL, "",
             f"### Ablation (seed {seed}; each row adds one ingredient to the row before it)", ""]
            + ablation_table(part["ablation"])
            + ["", f"### How far to shift the training images (the ablation's last row, seed {seed})", "",
               "The rule keeps the lowest validation error (a tie goes to the smaller shift); the test error is "
               f"recorded, not used. Chosen: **{part['jitter']}**.", ""]
            + jitter_table(part["jitter_scan"], part["jitter"])
            + ["", f"### Candidates (seed {seed}), and what each target's rule chose", "",
               "For each target, among the candidates at least its ratio smaller than dense float32, the lowest "
               "validation error.", ""]
            + candidates_table(part["candidates"], chosen_by_name(part)) + [""] + targets_table(part)
            + ["", f"### On fresh seeds {seeds_text(part['seeds'])}", ""]
            + seeds_table(chosen_rows(part["over_seeds"])
                          + [seed_row(article["points"][0]["label"], images_text(article["options"]), article)])
            + ["", "The last row is the article's recipe (s = 2, one shot, 5 bits) on the same seeds."])


def lenet5_section(part: dict) -> list[str]:
    """LeNet-5 in notebook 09: candidates, the target, fresh seeds."""
    seed = part["candidates"][0]["seed"]
    return (["## LeNet-5 beyond the paper (notebook 09)", "", f"### Candidates (seed {seed})", ""]
            + candidates_table(part["candidates"], chosen_by_name(part)) + [""] + targets_table(part)
            + ["", f"### On fresh seeds {seeds_text(part['seeds'])}", ""]
            + seeds_table(chosen_rows(part["over_seeds"])))


def published_section(beyond: dict) -> list[str]:
    """The published points beside this course's choices on plain images (medians over fresh seeds)."""
    lines = ["## Published points, for comparison (`vietai_compress/references.py`)", ""] + published_table()
    ours = [f"{MODELS[key]}: " + "; ".join(f"{target_name(t, beyond[key]['targets'][t])} "
                                           f"{at(beyond[key]['over_seeds'][label]['plain']['summary'])}"
                                           for t, label in beyond[key]["chosen"].items() if label is not None)
            for key in MODELS]
    return lines + ["", "They trained on plain images; this course's choices on plain images, median over fresh "
                        "seeds: " + ". ".join(ours) + "."]


# ---------------------------------------------------------------- notebook 11
def macs_ratio(units: dict[str, float]) -> float:
    """Dense LeNet-5's multiply-accumulates per image over those of LeNet-5 with ``units`` (fractions of each
    layer's units) kept: the model built and cut as the pipeline cuts it (``structured.prune_units``)."""
    from vietai_compress.models import LeNet5
    from vietai_compress.structured import macs_per_image, prune_units

    model = LeNet5()
    dense = macs_per_image(model)
    prune_units(model, units)
    return dense / macs_per_image(model)


def fresh_seed_lines(result: dict, target: Sequence[float]) -> list[str]:
    """The chosen setting's row per fresh seed and their medians, against ``target``."""
    lines = table(["seed", "smaller model's test error", "file ratio", "file test error"], "rrrr",
                  [(p["seed"], f"{p['base_test_error']:.2f}%", f"{p['ratio']:.1f}x", f"{p['test_error']:.2f}%")
                   for p in result["over_seeds"]])
    s = result["summary"]
    if s:
        lines += ["", f"Median: {s['ratio']['median']:.1f}x at {spread(s, 'test_error')} test error; target "
                      f"{target_text(target)} {'met' if meets(s, target) else 'not met'}."]
    return lines


def structured_section(result: dict) -> list[str]:
    """Notebook 11: the unit scan, the units kept, Deep Compression on the smaller model, its frontier."""
    seed = result["candidates"][0]["seed"]
    lines = ["## LeNet-5 with whole units removed (notebook 11, `scripts/structured_and_int8.py`)", "",
             f"Unit scan on validation (seed {seed}; each hidden layer alone, fine-tuned "
             f"{plural(SCAN_EPOCHS, 'epoch')}; base model {result['base_val_error']:.2f}%). The rule keeps, per layer, the smallest fraction within "
             f"{UNIT_TOLERANCE:g} points of the base model's validation error:", ""]
    lines += table(["layer", "kept", "units", "validation error", "MACs per image"], "lrrrr",
                   [(p["layer"], f"{100 * p['keep']:g}%", p["units"], f"{p['val_error']:.2f}%", f"{p['macs']:,}")
                    for p in result["scan"]])
    units = ", ".join(f"{name} {100 * f:g}%" for name, f in result["units"].items())
    lines += ["", f"Units kept: {units} ({macs_ratio(result['units']):.1f}x fewer multiply-accumulates per image than "
                  f"the dense LeNet-5). Deep Compression on the smaller model (seed {seed}):", ""]
    lines += candidates_table(result["candidates"], {f">= {result['target'][0]:g}x": result["chosen"]})
    lines += ["", f"Chosen for >= {result['target'][0]:g}x: {result['chosen']}. On fresh seeds "
                  f"{seeds_text(result['seeds'])}:", ""] + fresh_seed_lines(result, result["target"])
    return lines + ([""] + frontier_lines(result["frontier"]) if result.get("frontier") else [])


def frontier_lines(frontier: dict) -> list[str]:
    """Notebook 11 toward 160x: more candidates, the rule over them and the first ones, fresh seeds."""
    lines = [f"Toward {frontier['target'][0]:g}x, more candidates on the same smaller model:", ""]
    lines += candidates_table(frontier["candidates"], {f">= {frontier['target'][0]:g}x": frontier["chosen"]})
    lines += ["", f"Chosen for >= {frontier['target'][0]:g}x among these and the candidates above: "
                  f"{frontier['chosen']}. On fresh seeds {seeds_text(frontier['seeds'])}:", ""]
    return lines + fresh_seed_lines(frontier, frontier["target"])


# ---------------------------------------------------------------- speed
def speed_rows(rows: list[dict]) -> list[tuple]:
    """Each variant and batch of one model: p50 and p99 per call, speed-up, bytes, test accuracy."""
    return [(VARIANTS.get(r["name"], r["name"]), r["batch"], f"{1000 * r['timing']['p50']:.4f}",
             f"{1000 * r['timing']['p99']:.4f}", f"{r['speedup']:.2f}x", f"{r['bytes']:,}", f"{r['accuracy']:.2f}%")
            for r in rows]


def speed_section(speed: dict) -> list[str]:
    """Every variant of ``benchmarks/inference_speed.py``, per model."""
    lines = ["## Inference speed (`benchmarks/inference_speed.py`; notebooks 10 and 11)", "",
             f"One process, {plural(speed['threads'], 'thread')}, every variant timed side by side; speed-up = dense "
             "PyTorch eager p50 / variant p50.", ""]
    for title, model in speed["models"].items():
        lines += [f"**{title}** (`{model['file']}`)", ""]
        lines += table(["variant", "batch", "p50 ms", "p99 ms", "speed-up", "bytes on disk", "test accuracy"],
                       "lrrrrrr", speed_rows(model["rows"])) + [""]
    floor = ", ".join(f"{name} {1e6 * t['p50']:.1f} us (p99 {1e6 * t['p99']:.1f})"
                      for name, t in speed["floor"].items())
    return lines + [f"Floor (an empty call): {floor}."]


def browser_rows(model: dict, pyodide: dict) -> list[tuple]:
    """Our page and ONNX Runtime Web for one model (bytes, first prediction, set-up, p50 and p99 per prediction,
    the floor), then Pyodide (bytes, first result)."""
    ours, ort = model["ours"], model["ort_web"]
    return [(name, f"{r['page_bytes']:,}", f"{r['first_prediction_ms']:.0f}", f"{r[setup]:.1f} ({what})",
             f"{r['predict']['p50_ms']:.3f}", f"{r['predict']['p99_ms']:.3f}", f"{r['floor']['p50_ms']:.3f}")
            for name, r, setup, what in (("our page (`web/vcz.js`)", ours, "decode_ms", "decode"),
                                         ("ONNX Runtime Web", ort, "session_ms", "session"))] + [
        (f"Pyodide {pyodide['version']}, `1 + 1` (a lower bound)", f"{pyodide['page_bytes']:,}",
         f"{pyodide['first_result_ms']:.0f}", "", "", "", "")]


def browser_section(browser: dict) -> list[str]:
    """``benchmarks/browser_speed.py``: our page against ONNX Runtime Web, and Pyodide, in one headless Chromium."""
    machine, settings = browser["machine"], browser["settings"]
    lines = ["## In the browser (`benchmarks/browser_speed.py`; notebook 13)", "",
             f"Headless Chromium {browser['browser']}, ONNX Runtime Web {browser['ort_web_version']} "
             f"({settings['ort_web']}); {machine['cpu']}, {machine['cores']} cores, load average "
             f"{machine['load_average_at_start'][0]:.2f} at the start; {settings['loads']} page loads, "
             f"{settings['rounds']} rounds of {settings['calls']} calls. The model ONNX Runtime Web runs: "
             f"{browser['onnx_export']}.", ""]
    for name, model in browser["models"].items():
        file = browser["files"][name]
        lines += [f"**{MODELS.get(name, name)}** (`{Path(file['path']).name}`, {file['bytes']:,} bytes; p50 ours / "
                  f"ONNX Runtime Web {model['ratio_p50']:.2f}, p99 {model['ratio_p99']:.2f}; largest difference of "
                  f"their log-probabilities {model['max_log_prob_difference']:.1e})", ""]
        lines += table(["runtime", "page bytes", "first prediction ms", "set-up ms", "p50 ms", "p99 ms",
                        "floor p50 ms"], "lrrrrrr", browser_rows(model, browser["pyodide"])) + [""]
    return lines + browser_targets(browser) + ["", "Definitions:", ""] + [
        f"- `{k}`: {v}" for k, v in browser["definitions"].items()]


# benchmarks/browser_speed.py's targets: name -> (its verdict, LeNet-300-100's measured figure)
BROWSER_TARGETS = {
    "page_bytes_at_most": ("page_bytes", lambda m: f"{m['ours']['page_bytes']:,}"),
    "first_prediction_ms_at_most": ("first_prediction", lambda m: f"{m['ours']['first_prediction_ms']:.0f}"),
    "p50_ratio_to_ort_web_at_most": ("prediction_p50_vs_ort_web", lambda m: f"{m['ratio_p50']:.2f}"),
}


def browser_targets(browser: dict) -> list[str]:
    """The page's targets (fixed in the benchmark), LeNet-300-100's figures and the benchmark's verdicts."""
    model = browser["models"]["lenet300"]
    rows = [(name.removesuffix("_at_most"), f"{browser['targets'][name]:,g}", figure(model),
             "yes" if browser["verdicts"][verdict] else "no") for name, (verdict, figure) in BROWSER_TARGETS.items()]
    return table(["target (LeNet-300-100)", "at most", "measured", "met"], "lrrl", rows)


def teacher_section(teacher: dict) -> list[str]:
    """``scripts/choose_teacher.py``: the teacher's dropout chosen on validation."""
    lines = ["## The teacher of notebook 07 (`scripts/choose_teacher.py`)", "",
             f"Hidden-unit dropout chosen on {teacher['validation_images']:,} validation images:", ""]
    return lines + table(["dropout", "teacher validation errors", "distilled 800-800 student validation errors"], "rrr",
                         [(f"{r['dropout']:g}{' (chosen)' if r['dropout'] == teacher['chosen'] else ''}",
                           r["teacher_val_errors"], r["student_val_errors"]) for r in teacher["runs"]])


# ---------------------------------------------------------------- committed notebooks
NOTEBOOK_TABLES = (("The article's recipe, stage by stage", "03_retraining.ipynb",
                    "# Tập kiểm tra: đọc một lần, cho bốn mô hình"),
                   ("Knowledge distillation", "07_knowledge_distillation.ipynb",
                    'test = {"thầy 1200-1200 (dropout, dịch ảnh)"'),
                   ("LeNet-5, three settings", "08_lenet5_conv.ipynb", "dense_bytes = size_report"))


def notebook_section(folder: Path, title: str, name: str, marker: str) -> list[str]:
    """The text a committed full-mode notebook printed, verbatim (Vietnamese), or a note that it has none."""
    text = cell_output(notebook_cells(folder, name), marker)
    head = f"## {title} (`notebooks/{name}`, printed by its full-mode run)"
    if not text:
        return [head, "", "Not printed yet: the committed notebook has no full-mode outputs."]
    return [head, "", "```", text.rstrip("\n"), "```"]


def setting_b(folder: Path) -> tuple[float, float] | None:
    """Notebook 08's setting B (``course.headline``): (ratio, test error %), or None without full-mode outputs."""
    notebook, _, name = COURSE["lenet5-b"]
    paths = sorted(folder.glob(f"{notebook}_*.ipynb"))
    cells = notebook_cells(folder, paths[0].name) if paths else None
    pattern = re.compile(rf"^Mô hình {re.escape(name)} \(notebook {notebook}\): .*, nhỏ hơn ([\d.]+) lần, "
                         r"độ chính xác kiểm tra ([\d.]+)%$", re.MULTILINE)
    found = next((m for _, text in cells or [] for m in [pattern.search(text)] if m), None)
    return (float(found[1]), round(100 - float(found[2]), 2)) if found else None


def distillation(folder: Path) -> tuple[int, int] | None:
    """Notebook 07's 800-800 student: test errors (alone, distilled at the paper's T), or None without outputs."""
    text = cell_output(notebook_cells(folder, NOTEBOOK_TABLES[1][1]), NOTEBOOK_TABLES[1][2]) or ""
    alone = re.search(r"^800-800 một mình\s+([\d,]+)", text, re.MULTILINE)
    taught = re.search(rf"^800-800 chưng cất \(T = {references.HINTON_DISTILL_T:g}\)\s+([\d,]+)", text, re.MULTILINE)
    return (int(alone[1].replace(",", "")), int(taught[1].replace(",", ""))) if alone and taught else None


# ---------------------------------------------------------------- docs/results.md
def shown(path: Path) -> str:
    """``path`` relative to the repository when inside it."""
    path = path.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def header(sources: Sources) -> list[str]:
    """The document's title and what it was printed from."""
    recorded = []
    for name, data in zip(SOURCES, (sources.beyond, sources.structured, sources.speed, sources.browser,
                                    sources.teacher)):
        mode = f", {data['mode']} mode" if data is not None and data.get("mode") else ""
        hours = f", {data['seconds'] / 3600:.1f} hours of runs" if data is not None and data.get("seconds") else ""
        recorded.append(f"`{name}.json` ({'not recorded yet' if data is None else 'recorded'}{mode}{hours})")
    return ["# Detailed results", "",
            "Generated by `python scripts/results_tables.py`; do not edit by hand. 2-core CPU, no GPU. Sources: "
            + ", ".join(recorded) + f" in `{shown(sources.folder)}/`; `vietai_compress/references.py`; the committed "
            "full-mode notebooks. Ratios are file bytes against dense float32 weights and biases; errors are on the "
            "10,000 MNIST test images unless named validation. The README summarises them."]


def document(sources: Sources) -> str:
    """docs/results.md."""
    parts = [header(sources)]
    beyond = sources.beyond
    if beyond is not None:
        parts += [lenet300_section(beyond["lenet300"]), lenet5_section(beyond["lenet5"]), published_section(beyond)]
    if sources.structured is not None:
        parts.append(structured_section(sources.structured))
    if sources.speed is not None:
        parts.append(speed_section(sources.speed))
    if sources.browser is not None:
        parts.append(browser_section(sources.browser))
    if sources.teacher is not None:
        parts.append(teacher_section(sources.teacher))
    parts += [notebook_section(sources.notebooks, *t) for t in NOTEBOOK_TABLES]
    return "\n\n".join("\n".join(part).rstrip("\n") for part in parts) + "\n"


# ---------------------------------------------------------------- README.md's block
def chosen_cell(part: dict, images: str) -> str:
    """``91.8x at 1.14%; 103.4x at 1.13%``: each target's choice on ``images``, bold when it meets its target."""
    cells = []
    for name, label in part["chosen"].items():
        if label is None:
            cells.append(f"none reaches {part['targets'][name][0]:g}x")
            continue
        summary = part["over_seeds"][label][images]["summary"]
        cells.append(bold_if(at(summary), meets(summary, part["targets"][name])))
    return "; ".join(cells)


def shift(part: dict) -> int:
    """The shift (pixels) the chosen settings of ``part`` trained with (its candidates', when none was chosen)."""
    runs = list(part["over_seeds"].values())
    return (runs[0]["shifted"]["options"] if runs else part["candidates"][0]["settings"]).get("jitter", 0)


def beyond_rows(beyond: dict) -> list[tuple[str, str, str]]:
    """The README's rows of notebook 09: the article's recipe, then the choices on plain and shifted images."""
    l300, l5 = beyond["lenet300"], beyond["lenet5"]
    article = l300["article_over_seeds"]["summary"]
    ratios = " / ".join(f"{t[0]:g}x" for t in l300["targets"].values())
    l5_ratios = " / ".join(f"{t[0]:g}x" for t in l5["targets"].values())
    return [("the article's recipe (s = 2, 5 bits) in a real file; median of fresh seeds "
             f"{seeds_text(article['seeds'])}", at(article), ""),
            (f"chosen on validation for >= {ratios} (LeNet-5: {l5_ratios}), plain images (notebook 09; median of "
             f"fresh seeds {seeds_text(l300['seeds'])})", chosen_cell(l300, "plain"), chosen_cell(l5, "plain")),
            (f"the same settings, images shifted by up to {plural(shift(l300), 'pixel')} (LeNet-5: {shift(l5)}) in "
             "training",
             chosen_cell(l300, "shifted"), chosen_cell(l5, "shifted"))]


def structured_rows(result: dict) -> list[tuple[str, str, str]]:
    """The README's rows of notebook 11."""
    rows = []
    if result["summary"]:
        s = result["summary"]
        rows.append((f"whole units removed, then Deep Compression (notebook 11; median of fresh seeds "
                     f"{seeds_text(s['seeds'])})", "",
                     f"{bold_if(at(s), meets(s, result['target']))}, {macs_ratio(result['units']):.1f}x fewer "
                     "multiply-accumulates"))
    frontier = result.get("frontier")
    if frontier and frontier["summary"]:
        s = frontier["summary"]
        rows.append((f"the same toward {frontier['target'][0]:g}x, chosen on validation (notebook 11; median of fresh "
                     f"seeds {seeds_text(s['seeds'])})", "", bold_if(at(s), meets(s, frontier["target"]))))
    return rows


def setting_b_rows(folder: Path) -> list[tuple[str, str, str]]:
    """The README's row of notebook 08's setting B, when its committed full-mode run printed it."""
    b = setting_b(folder)
    return [("setting B of notebook 08 (seed 42, the one that chose it)", "", f"{b[0]:.1f}x at {b[1]:.2f}%")] \
        if b else []


def distillation_rows(folder: Path) -> list[tuple[str, str, str]]:
    """The README's row of notebook 07's distilled student, when its committed full-mode run printed it."""
    kd, paper = distillation(folder), references.HINTON_MNIST_ERRORS
    return [(f"knowledge distillation, Hinton's 800-800 student (notebook 07; paper: {paper['student_alone']} -> "
             f"{paper['student_distilled']})", f"{kd[0]} -> {kd[1]} test errors", "")] if kd else []


def summary_table(sources: Sources) -> list[str]:
    """The README's first table: published rows, then this course's, every figure from its source."""
    dc300, dc5 = references.DEEP_COMPRESSION_LENET300, references.DEEP_COMPRESSION_LENET5
    rows = [("Deep Compression (Han et al. 2016), one run", f"{dc300['ratio']:g}x at {dc300['error']:.2f}% error",
             f"{dc5['ratio']:g}x at {dc5['error']:.2f}%")]
    rows += beyond_rows(sources.beyond) if sources.beyond is not None else []
    rows += setting_b_rows(sources.notebooks)
    rows += structured_rows(sources.structured) if sources.structured is not None else []
    rows += distillation_rows(sources.notebooks)
    return table(["", "LeNet-300-100", "LeNet-5"], "lll", rows)


def published_sentence() -> str:
    """The later published points on both nets, from ``references``."""
    parts = []
    for label in references.LATER_LENET300:
        name, parameters = published(label)
        (r3, e3), (r5, e5) = references.LATER_LENET300[label], references.LATER_LENET5[label]
        parts.append(f"{name} {r3:g}x at {e3:.2f}% (LeNet-300-100) and {r5:g}x at {e5:.2f}% (LeNet-5)"
                     + (", counted in parameters rather than bytes" if parameters else ""))
    return ("Published points on the same nets: " + "; ".join(parts) + ". They trained on plain images: compare them "
            "with the plain-image row. Bold: the median meets the target fixed before the runs.")


def speed_table(speed: dict) -> list[str]:
    """The README's speed table: per file, dense PyTorch eager's p50 and a few variants' speed-ups, at each batch."""
    columns = [n for n in README_VARIANTS if any(r["name"] == n for m in speed["models"].values() for r in m["rows"])]
    rows = []
    for title, model in speed["models"].items():
        by = {(r["name"], r["batch"]): r for r in model["rows"]}
        batches = sorted({r["batch"] for r in model["rows"]})
        cells = [" / ".join(f"{1000 * by[n, b]['timing']['p50']:.3g}" if n == "dense" else f"{by[n, b]['speedup']:.1f}x"
                            for b in batches) if (n, batches[0]) in by else "" for n in columns]
        rows.append((f"{title}, {by['inference', batches[0]]['accuracy']:.2f}%", *cells))
    header = ["file, test accuracy", *(README_VARIANTS[n] for n in columns)]
    return table(header, "l" + "r" * len(columns), rows)


def batches_text(speed: dict) -> str:
    """``batch 1 / batch 256``: the batch sizes of the speed measurement."""
    return " / ".join(f"batch {b}" for b in sorted({r["batch"] for m in speed["models"].values() for r in m["rows"]}))


def prose(text: str) -> str:
    """``text`` wrapped at 120 columns, as README.md's prose is."""
    return textwrap.fill(text, 120, break_long_words=False, break_on_hyphens=False)


def readme_block(sources: Sources) -> str:
    """What README.md holds between its markers."""
    lines = summary_table(sources) + ["", prose(published_sentence())]
    speed = sources.speed
    if speed is not None:
        lines += ["", prose(f"Speed (`benchmarks/inference_speed.py`; notebooks 10 and 11 measure the same): dense "
                            "PyTorch eager time / variant time, median per call, each cell "
                            f"{batches_text(speed)}; {plural(speed['threads'], 'thread')}, every variant side by side "
                            "in one process; the accuracy is the decoded file's:"), ""] + speed_table(speed)
    return "\n".join(lines)


def with_block(readme: str, block: str) -> str:
    """``readme`` with the text between its markers replaced by ``block``."""
    if readme.count(START) != 1 or readme.count(END) != 1 or readme.index(START) > readme.index(END):
        raise SchemaError(f"README.md must hold {START} then {END} once each, around its Results figures")
    head, rest = readme.split(START)
    return f"{head}{START}\n{block}\n{END}{rest.split(END, 1)[1]}"


# ---------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a document differs from its sources")
    parser.add_argument("--measured", type=Path, default=measured.FOLDER, help="folder of the measurement JSONs")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="folder of the committed notebooks")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the detailed document (docs/results.md)")
    parser.add_argument("--readme", type=Path, default=README, help="the README whose block is rewritten")
    args = parser.parse_args()
    try:
        sources = Sources.read(args.measured, args.notebooks)
        texts = {args.output: document(sources),
                 args.readme: with_block(args.readme.read_text(encoding="utf-8"), readme_block(sources))}
    except SchemaError as error:
        sys.exit(f"results_tables.py: {error}")
    write_or_check(texts, args.check, "python scripts/results_tables.py")


if __name__ == "__main__":
    main()
