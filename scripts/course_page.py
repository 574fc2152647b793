"""Write the measured parts of the course page and of the notebooks' headers from their one source.

    python scripts/course_page.py            # rewrite notebooks/README.md's tables and the notebooks' time lines
    python scripts/course_page.py --check    # exit 1 if any of them is not what the sources give

Running times come from ``vietai_compress/measured/class_mode.json`` (``benchmarks/class_mode.py``: each notebook
opened alone, class mode and QUICK); ``TRAIN = True`` adds to class mode the training seconds the reference run
recorded in the shipped files' manifest (``vietai_compress/reference/manifest.json``), and for 09, 11 and 12 the
search scripts whose runs they read. The
table of the course's models comes from the headline lines (``course.headline``) the committed notebooks printed.
``tests/test_course_page.py`` runs ``--check``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vietai_compress import measured  # noqa: E402
from vietai_compress.fileio import write_or_check  # noqa: E402
from vietai_compress.reference import vi_duration  # noqa: E402

PAGE = ROOT / "notebooks" / "README.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIME_LINE = re.compile(r"\*\*Thời gian chạy\*\* \([^)]*\): .*?\.(?=\s|$)")  # up to a sentence's end, not ".py"
HEADLINE = re.compile(r"^Mô hình (.*) \(notebook (\d\d)\): tệp (\S+), ([\d,]+) byte, nhỏ hơn ([\d.]+) lần, "
                      r"độ chính xác kiểm tra ([\d.]+)%$", re.MULTILINE)
# the searches whose saved runs a notebook reads in class mode: TRAIN = True alone does not redo them
SEARCHES = {"09": ("beyond_the_paper", "scripts/beyond_the_paper.py"),
            "11": ("structured_and_int8", "scripts/structured_and_int8.py"),
            "12": ("structured_and_int8", "scripts/structured_and_int8.py")}


def training_seconds(own_measurements_only: bool = False) -> dict[str, float]:
    """The seconds the reference run spent training the shipped files, by the notebook that reads each first; with
    ``own_measurements_only``, only the files under ``notebooks/`` (measurements a notebook makes itself when
    ``TRAIN = True``, e.g. notebook 12's k-means against linear fine-tuning)."""
    files = json.loads((ROOT / "vietai_compress" / "reference" / "manifest.json").read_text())["files"]
    seconds: dict[str, float] = {}
    for relative, entry in files.items():
        if own_measurements_only and not relative.startswith("notebooks/"):
            continue
        seconds[entry["notebook"]] = seconds.get(entry["notebook"], 0.0) + (entry["seconds"] or 0.0)
    return seconds


def times() -> dict[str, dict[str, float]]:
    """``{notebook stem: {"class", "quick", "train"}}`` in seconds. Class mode and QUICK are measured
    (``class_mode.json``); ``TRAIN = True`` is class mode plus the training the reference run recorded for the files
    the notebook is the first to load (for 09, 11 and 12, only their own measurements; the search's runs are in
    ``search_note``)."""
    alone, trained, own = measured.load("class_mode"), training_seconds(), training_seconds(own_measurements_only=True)
    return {path.stem: {"class": alone["class"][path.stem], "quick": alone["quick"][path.stem],
                        "train": alone["class"][path.stem] + (own if path.stem[:2] in SEARCHES
                                                              else trained).get(path.stem[:2], 0.0)}
            for path in NOTEBOOKS}


def search_note(stem: str) -> str:
    """For a notebook that reads a search's saved runs: what redoing that search takes."""
    if stem[:2] not in SEARCHES:
        return ""
    name, script = SEARCHES[stem[:2]]
    seconds = measured.load(name).get("seconds")
    return f", cộng `{script}` ({vi_duration(seconds)})" if seconds else f", cộng `{script}`"


def time_line(stem: str, seconds: dict[str, float]) -> str:
    """The header line of a notebook: its three measured running times."""
    return (f"**Thời gian chạy** (CPU 2 nhân): lớp học {vi_duration(seconds['class'])}, QUICK "
            f"{vi_duration(seconds['quick'])}, `TRAIN = True` ~{vi_duration(seconds['train'])}{search_note(stem)}.")


def times_table(measured_times: dict[str, dict[str, float]]) -> str:
    lines = ["| notebook | chế độ lớp học (mở một mình) | QUICK (mở một mình) | `TRAIN = True` (ước tính, sau các notebook trước) |",
             "| --- | ---: | ---: | ---: |"]
    for stem, seconds in measured_times.items():
        lines.append(f"| `{stem}` | {vi_duration(seconds['class'])} | {vi_duration(seconds['quick'])} | "
                     f"{vi_duration(seconds['train'])}{search_note(stem)} |")
    return "\n".join(lines)


def output_text(path: Path) -> str:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            parts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(parts)


def models_table() -> str:
    """One row per course model, from the headline lines of the committed notebooks (first notebook that prints it)."""
    rows = {}
    for path in NOTEBOOKS:
        for name, notebook, file, size, ratio, accuracy in HEADLINE.findall(output_text(path)):
            rows.setdefault(name, f"| {name} | {notebook} | `{file}` | {size} | {ratio} | "
                                  f"{100 - float(accuracy):.2f}% |")
    if not rows:
        raise SystemExit("no headline line in the committed notebooks: run them first (scripts/run_notebooks.py)")
    header = ["| mô hình | notebook làm ra | tệp | byte | tỉ lệ nén (lần) | lỗi kiểm tra |",
              "| --- | --- | --- | ---: | ---: | ---: |"]
    return "\n".join(header + sorted(rows.values(), key=lambda row: row.split(" | ")[1]))


def replace_between(text: str, name: str, body: str) -> str:
    """``text`` with what lies between ``<!-- name -->`` and ``<!-- /name -->`` replaced by ``body``."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    if start not in text or end not in text:
        raise SystemExit(f"{PAGE} has no {start} ... {end} block")
    before, rest = text.split(start, 1)
    return f"{before}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"


def updated() -> dict[Path, str]:
    """Every file this script writes, with the text it should hold."""
    measured_times = times()
    page = PAGE.read_text(encoding="utf-8")
    page = replace_between(page, "course-times", times_table(measured_times))
    files = {PAGE: replace_between(page, "course-models", models_table())}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        header = notebook.cells[0]
        if not TIME_LINE.search(header.source):
            raise SystemExit(f"{path.name}: its first cell has no '**Thời gian chạy** (...): ....' line")
        line = time_line(path.stem, measured_times[path.stem])
        header.source = TIME_LINE.sub(lambda _: line, header.source, count=1)
        files[path] = nbformat.writes(notebook) + "\n"
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is not what the sources give")
    args = parser.parse_args()
    write_or_check(updated(), args.check, "python scripts/course_page.py")


if __name__ == "__main__":
    main()
