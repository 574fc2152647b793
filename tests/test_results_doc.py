"""docs/results.md and README.md's Results figures are printed from the measurement files and the committed
notebooks (scripts/results_tables.py), so they cannot drift; the table functions, on tiny synthetic measurements."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "results_tables.py"
spec = importlib.util.spec_from_file_location("results_tables", SCRIPT)
results_tables = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = results_tables  # its dataclass looks its module up
spec.loader.exec_module(results_tables)


def test_the_results_document_is_what_its_sources_give():
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_readme_is_short_and_points_to_the_details():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme) < 10_000
    assert "docs/results.md" in readme and "CHANGELOG.md" in readme and (ROOT / "CHANGELOG.md").is_file()
    assert readme.count(results_tables.START) == 1 and readme.count(results_tables.END) == 1


# ---------------------------------------------------------------- tiny synthetic measurements
def point(label: str, seed: int, ratio: float, val: float, test: float, jitter: int = 1) -> dict:
    return {"label": label, "settings": {"keep": {"fc1": 0.03, "fc2": 0.06, "fc3": 0.25}, "jitter": jitter},
            "seed": seed, "file_bytes": 1000, "ratio": ratio, "val_error": val, "test_error": test,
            "base_val_error": 1.0, "base_test_error": 1.1, "seconds": 1.0}


def on_seeds(label: str, errors: list[float], jitter: int) -> dict:
    points = [point(label, seed, 90.0 + i, 1.0, e, jitter) for i, (seed, e) in enumerate(zip((43, 44, 45), errors))]
    spread = lambda values: {"median": sorted(values)[1], "min": min(values), "max": max(values)}  # noqa: E731
    return {"options": {"jitter": jitter}, "points": points,
            "summary": {"ratio": spread([p["ratio"] for p in points]), "test_error": spread(errors),
                        "val_error": spread([1.0] * 3), "seeds": [43, 44, 45]}}


def part() -> dict:
    return {"candidates": [point("a", 42, 85.0, 1.1, 1.2), point("b", 42, 110.0, 1.3, 1.4)],
            "targets": {"1": [80.0, 1.2], "2": [100.0, 1.58]}, "chosen": {"1": "a", "2": "b"}, "seeds": [43, 44, 45],
            "over_seeds": {"a": {"shifted": on_seeds("a", [1.1, 1.15, 1.3], 1),
                                 "plain": on_seeds("a", [1.3, 1.4, 1.5], 0)},
                           "b": {"shifted": on_seeds("b", [1.5, 1.6, 1.7], 1),
                                 "plain": on_seeds("b", [1.6, 1.7, 1.8], 0)}}}


def test_seed_rows_give_median_spread_and_every_seed():
    rows = results_tables.chosen_rows(part()["over_seeds"])
    assert rows[0] == ("a", "shifted by up to 1", "43-45", "91.0x [90.0, 92.0]", "1.15% [1.10, 1.30]",
                       "43: 1.10%, 44: 1.15%, 45: 1.30%")
    assert rows[1][1] == "plain" and rows[1][4] == "1.40% [1.30, 1.50]"
    lines = results_tables.seeds_table(rows)
    assert lines[0].startswith("| setting | images | seeds |") and len(lines) == 2 + 4


def test_targets_and_candidates_say_what_the_rule_chose_and_whether_the_median_meets_it():
    data = part()
    targets = "\n".join(results_tables.targets_table(data))
    assert "| target 1 (>= 80x) | >= 80x at <= 1.20% | a | 91.0x at 1.15% (met) | 91.0x at 1.40% (not met) |" in targets
    assert "| target 2 (>= 100x) | >= 100x at <= 1.58% | b | 91.0x at 1.60% (not met) |" in targets
    candidates = results_tables.candidates_table(data["candidates"], results_tables.chosen_by_name(data))
    assert candidates[2].endswith("| 85.0x | 1.10% | target 1 (>= 80x) |")
    assert results_tables.chosen_cell(data, "shifted") == "**91.0x at 1.15%**; 91.0x at 1.60%"


def test_small_formats():
    assert results_tables.seeds_text([43, 44, 45]) == "43-45"
    assert results_tables.seeds_text([43, 47]) == "43, 47"
    assert results_tables.table(["", "x"], "lr", [("a", "")]) == ["| | x |", "| --- | ---: |", "| a | |"]
    readme = "intro\n<!-- results:start -->\nold\n<!-- results:end -->\nrest\n"
    new = results_tables.with_block(readme, "new")
    assert new == "intro\n<!-- results:start -->\nnew\n<!-- results:end -->\nrest\n"


def test_an_old_structure_stops_with_one_line_naming_the_missing_key(tmp_path):
    (tmp_path / "beyond_the_paper.json").write_text(json.dumps({"mode": "full", "ablation": [], "round2": {}}))
    sources = results_tables.Sources.read(tmp_path, tmp_path)
    with pytest.raises(results_tables.SchemaError, match="beyond_the_paper.json has no key 'lenet300'"):
        results_tables.document(sources)
    readme = tmp_path / "README.md"
    readme.write_text(f"{results_tables.START}\n{results_tables.END}\n")
    done = subprocess.run([sys.executable, str(SCRIPT), "--check", "--measured", str(tmp_path), "--notebooks",
                           str(tmp_path), "--output", str(tmp_path / "results.md"), "--readme", str(readme)],
                          capture_output=True, text=True)
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1 and "'lenet300'" in done.stderr


def notebook(path: Path, cells: list[tuple[str, str]]) -> None:
    """A notebook of code cells (source, printed text)."""
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": [s], "outputs": [
        {"output_type": "stream", "name": "stdout", "text": [t]}] if t else []} for s, t in cells]}), encoding="utf-8")


def test_setting_b_and_distillation_are_read_from_full_mode_notebooks_only(tmp_path):
    notebook(tmp_path / "08_lenet5_conv.ipynb", [
        ("print(mode_banner(...))", "Chế độ: FULL (20 epoch)\n"),
        ("print(course.headline(...))",
         "Mô hình LeNet-5, cấu hình B (notebook 08): tệp b.vcz, 22,117 byte, nhỏ hơn 78.0 lần, "
         "độ chính xác kiểm tra 99.43%\n")])
    notebook(tmp_path / "07_knowledge_distillation.ipynb", [
        ("print(mode_banner(...))", "Chế độ: FULL (60 epoch)\n"),
        ('test = {"thầy 1200-1200 (dropout, dịch ảnh)": 1}', "mô hình   lỗi / 10,000   bài báo\n"
                                                            "800-800 một mình             136       146\n"
                                                            "800-800 chưng cất (T = 20)    80        74\n")])
    assert results_tables.setting_b(tmp_path) == (78.0, 0.57)
    assert results_tables.distillation(tmp_path) == (136, 80)
    assert results_tables.setting_b_rows(tmp_path)[0][2] == "78.0x at 0.57%"
    row = results_tables.distillation_rows(tmp_path)[0]
    assert row[1] == "136 -> 80 test errors" and "paper: 146 -> 74" in row[0]
    notebook(tmp_path / "08_lenet5_conv.ipynb", [("print(mode_banner(...))", "Chế độ: QUICK (3 epoch)\n")])
    assert results_tables.setting_b(tmp_path) is None
