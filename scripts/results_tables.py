"""Write docs/results.md: the detailed result tables, printed from the measurement files and the committed notebooks.

    python scripts/results_tables.py            # rewrite docs/results.md
    python scripts/results_tables.py --check    # exit 1 if docs/results.md is not what the files give

Nothing here is typed by hand: every figure comes from ``vietai_compress/measured/*.json`` (written by the scripts
and the inference benchmark) or from the text a committed full-mode notebook printed. ``tests/test_results_doc.py``
runs ``--check``, so the document cannot drift from its sources.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vietai_compress import measured  # noqa: E402
from vietai_compress.beyond import describe  # noqa: E402
from vietai_compress.fileio import atomic_write_text  # noqa: E402

OUTPUT = ROOT / "docs" / "results.md"
NOTEBOOKS = ROOT / "notebooks"


def notebook_output(name: str, marker: str) -> str:
    """The text printed by the code cell of notebook ``name`` whose source contains ``marker``."""
    notebook = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and marker in "".join(cell["source"]):
            return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("name") == "stdout")
    raise ValueError(f"{name}: no code cell contains {marker!r}")


def spread(s: dict, key: str, unit: str = "%") -> str:
    return f"{s[key]['median']:.2f}{unit} [{s[key]['min']:.2f}, {s[key]['max']:.2f}]"


def seed_table(runs: dict) -> list[str]:
    """Median and spread over seeds of each setting of ``runs`` ({label: {"points", "summary"}})."""
    lines = ["| setting | seeds | ratio, median [min, max] | test error, median [min, max] | each seed |",
             "| --- | --- | ---: | ---: | --- |"]
    for label, run in runs.items():
        s = run["summary"]
        each = " / ".join(f"{p['test_error']:.2f}%" for p in run["points"])
        lines.append(f"| {label} | {', '.join(map(str, s['seeds']))} | {s['ratio']['median']:.1f}x "
                     f"[{s['ratio']['min']:.1f}, {s['ratio']['max']:.1f}] | {spread(s, 'test_error')} | {each} |")
    return lines


def candidates_table(points: list[dict]) -> list[str]:
    lines = ["| candidate | file bytes | ratio | validation error |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {describe(p['settings'])} | {p['file_bytes']:,} | {p['ratio']:.1f}x | {p['val_error']:.2f}% |"
              for p in points]
    return lines


def lenet300_section(beyond: dict) -> list[str]:
    lines = ["## LeNet-300-100 beyond the paper (notebook 09, `scripts/beyond_the_paper.py`)", "",
             "Every run trains on the first 55,000 training images; every choice reads the 5,000 held out; chosen "
             "settings are run on seeds that no choice has seen, and their test errors reported as medians.", "",
             "Ablation, seed 42 (each row adds one ingredient):", "",
             "| # | setting | file bytes | ratio | validation error | test error |",
             "| ---: | --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {i} | {p['label']} | {p['file_bytes']:,} | {p['ratio']:.1f}x | {p['val_error']:.2f}% | "
              f"{p['test_error']:.2f}% |" for i, p in enumerate(beyond["ablation"], start=1)]
    lines += ["", f"Round 1 (bound = the target error on validation) chose {beyond['chosen']}; on seeds "
                  f"{', '.join(map(str, beyond['seeds']))}:", ""] + seed_table(beyond["over_seeds"])
    round2 = beyond["round2"]
    lines += ["", f"Round 2 (bound relative to the dense base model: {round2['bounds']}) chose {round2['chosen']}; on "
                  f"fresh seeds {', '.join(map(str, round2['seeds']))}:", ""] + seed_table(round2["over_seeds"])
    if "round3" in beyond:
        r3 = beyond["round3"]
        lines += ["", "Round 3, images shifted by up to J pixels (row 7's setting, seed 42; the lowest validation "
                      "error is kept):", "", "| jitter | base validation error | file validation error | ratio |",
                  "| ---: | ---: | ---: | ---: |"]
        lines += [f"| {p['settings'].get('jitter', 0)} | {p['base_val_error']:.2f}% | {p['val_error']:.2f}% | "
                  f"{p['ratio']:.1f}x |" for p in r3["jitter_scan"]]
        lines += ["", f"Chosen jitter: {r3['jitter']}. Candidates (seed 42):", ""] + candidates_table(r3["candidates"])
        targets = ", ".join(f"{name}: >= {ratio:g}x at <= {error:.2f}%" for name, (ratio, error) in r3["targets"].items())
        lines += ["", f"Targets ({targets}); chosen by the lowest validation error among candidates reaching each "
                      f"ratio: {r3['chosen']}. On fresh seeds {', '.join(map(str, r3['seeds']))}, shifted images:",
                  ""] + seed_table(r3["over_seeds"]) + ["", "The same settings on plain images (as the published "
                                                           "methods trained):", ""] + seed_table(r3["plain_over_seeds"])
    return lines


def lenet5_section(beyond: dict) -> list[str]:
    if "lenet5" not in beyond:
        return []
    r = beyond["lenet5"]
    lines = ["## LeNet-5 toward 160x (notebook 09)", "", "Candidates (seed 42, images shifted by 2 pixels):", ""]
    lines += candidates_table(r["candidates"])
    lines += ["", f"Chosen for >= {r['targets']['lenet5'][0]:g}x: {r['chosen']['lenet5']}. On fresh seeds "
                  f"{', '.join(map(str, r['seeds']))}:", ""] + seed_table(r["over_seeds"])
    lines += ["", "Plain images:", ""] + seed_table(r["plain_over_seeds"])
    return lines


def structured_section(result: dict) -> list[str]:
    lines = ["## LeNet-5 with whole units removed (notebook 11, `scripts/structured_and_int8.py`)", "",
             f"Unit scan on validation (seed 42; each hidden layer alone, fine-tuned one epoch; base model "
             f"{result['base_val_error']:.2f}%):", "", "| layer | kept | units | validation error | MACs per image |",
             "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {p['layer']} | {100 * p['keep']:g}% | {p['units']} | {p['val_error']:.2f}% | {p['macs']:,} |"
              for p in result["scan"]]
    lines += ["", f"Units kept: {result['units']}. Deep Compression on the smaller model (seed 42):", ""]
    lines += candidates_table(result["candidates"])
    lines += ["", f"Chosen for >= {result['target'][0]:g}x: {result['chosen']}. On fresh seeds "
                  f"{', '.join(map(str, result['seeds']))}:", ""] + fresh_seed_lines(result)
    if result.get("frontier"):
        lines += [""] + frontier_lines(result["frontier"])
    return lines


def frontier_lines(frontier: dict) -> list[str]:
    lines = [f"Toward {frontier['target'][0]:g}x, more candidates on the same smaller model (seed 42):", ""]
    lines += candidates_table(frontier["candidates"])
    lines += ["", f"Chosen for >= {frontier['target'][0]:g}x among these and the candidates above: "
                  f"{frontier['chosen']}. On fresh seeds {', '.join(map(str, frontier['seeds']))}:", ""]
    return lines + fresh_seed_lines(frontier)


def fresh_seed_lines(result: dict) -> list[str]:
    """The chosen setting's row per fresh seed (``result["over_seeds"]``) and their median."""
    lines = ["| seed | base test error | file ratio | file test error |", "| ---: | ---: | ---: | ---: |"]
    lines += [f"| {p['seed']} | {p['base_test_error']:.2f}% | {p['ratio']:.1f}x | {p['test_error']:.2f}% |"
              for p in result["over_seeds"]]
    if result.get("summary"):
        s = result["summary"]
        lines += ["", f"Median: {s['ratio']['median']:.1f}x at {spread(s, 'test_error')} test error."]
    return lines


def speed_section(speed: dict) -> list[str]:
    lines = ["## Inference speed (`benchmarks/inference_speed.py`)", "",
             f"One process, {speed['threads']} thread(s), every variant timed side by side; speed-up = dense PyTorch "
             "eager p50 / variant p50.", ""]
    for title, model in speed["models"].items():
        lines += [f"**{title}** (`{model['file']}`)", "",
                  "| variant | batch | p50 ms | p99 ms | speed-up | bytes on disk | test accuracy |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['name']} | {r['batch']} | {1000 * r['timing']['p50']:.4f} | {1000 * r['timing']['p99']:.4f} | "
                  f"{r['speedup']:.2f}x | {r['bytes']:,} | {r['accuracy']:.2f}% |" for r in model["rows"]]
        lines.append("")
    floor = ", ".join(f"{name} {1e6 * t['p50']:.1f} us (p99 {1e6 * t['p99']:.1f})" for name, t in speed["floor"].items())
    return lines + [f"Floor (an empty call): {floor}."]


def teacher_section(teacher: dict) -> list[str]:
    lines = ["## The teacher of notebook 07 (`scripts/choose_teacher.py`)", "",
             f"Hidden-unit dropout chosen on {teacher['validation_images']:,} validation images:", "",
             "| dropout | teacher validation errors | distilled 800-800 student validation errors |",
             "| ---: | ---: | ---: |"]
    lines += [f"| {r['dropout']:g}{' (chosen)' if r['dropout'] == teacher['chosen'] else ''} | "
              f"{r['teacher_val_errors']} | {r['student_val_errors']} |" for r in teacher["runs"]]
    return lines


def notebook_section(title: str, name: str, marker: str) -> list[str]:
    return [f"## {title} (`notebooks/{name}`, printed by its full-mode run)", "", "```",
            notebook_output(name, marker).rstrip("\n"), "```"]


def document() -> str:
    parts = [["# Detailed results", "",
              "Generated by `python scripts/results_tables.py` from `vietai_compress/measured/*.json` and the "
              "committed full-mode notebooks; do not edit by hand. 2-core CPU, no GPU. The README summarises them."]]
    parts.append(notebook_section("The article's recipe, stage by stage", "03_retraining.ipynb",
                                  "# Tập kiểm tra: đọc một lần, cho bốn mô hình"))
    parts.append(notebook_section("Knowledge distillation", "07_knowledge_distillation.ipynb",
                                  "test = {\"thầy 1200-1200 (dropout, dịch ảnh)\""))
    parts.append(teacher_section(measured.load("choose_teacher")))
    parts.append(notebook_section("LeNet-5, three settings", "08_lenet5_conv.ipynb", "dense_bytes = size_report"))
    beyond = measured.load("beyond_the_paper")
    parts.append(lenet300_section(beyond))
    parts.append(lenet5_section(beyond))
    if measured.path("structured_and_int8").is_file():
        parts.append(structured_section(measured.load("structured_and_int8")))
    if measured.path("inference_speed").is_file():
        parts.append(speed_section(measured.load("inference_speed")))
    return "\n\n".join("\n".join(part) for part in parts if part) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/results.md differs from the sources")
    args = parser.parse_args()
    text = document()
    if args.check:
        if not OUTPUT.is_file() or OUTPUT.read_text(encoding="utf-8") != text:
            print("docs/results.md is out of date: run python scripts/results_tables.py", file=sys.stderr)
            sys.exit(1)
        return
    OUTPUT.parent.mkdir(exist_ok=True)
    atomic_write_text(OUTPUT, text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
