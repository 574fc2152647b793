"""The committed notebooks carry an honest full-mode run, top to bottom (CI re-runs them in quick mode)."""
import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        text = output.get("text", "")
        parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def test_notebooks_are_numbered_in_article_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(len(NOTEBOOKS))) and len(NOTEBOOKS) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom_in_full_mode_without_errors(path):
    code = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.get("outputs", []) if o["output_type"] == "error"]
    banner = "".join(_text(c) for c in code)
    assert "Chế độ: FULL" in banner and "Chế độ: QUICK" not in banner


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_setup_uses_the_one_repository_url(path):
    cells = _load(path)["cells"]
    title = "".join(cells[0]["source"])
    repo = REPO_URL.removeprefix("https://github.com/")
    assert f"colab.research.google.com/github/{repo}/blob/main/notebooks/{path.name}" in title
    setup = "".join(cells[1]["source"])
    assert re.search(r'REPO_URL = os.environ.get\("VIETAI_REPO_URL", "([^"]+)"\)', setup).group(1) == REPO_URL
    assert 'if "google.colab" in sys.modules' in setup


# What the package's progress bars and tables printed in English before they spoke Vietnamese (tqdm's default
# "it/s", the postfix "loss=", stage names). A committed output holding one was run before that change.
ENGLISH_OUTPUT = re.compile(r"it/s|batch/s|loss=|base training|retraining|round \d+/\d+|Table \d")
# Notebooks whose committed full-mode run predates the Vietnamese progress bars: each leaves this set when it is
# re-run in full mode, and must then be clean.
RUN_BEFORE_VIETNAMESE_BARS: set[str] = set()


def _all_output_text(path) -> str:
    parts = []
    for cell in _load(path)["cells"]:
        parts.append(_text(cell))
        for output in cell.get("outputs", []):
            plain = output.get("data", {}).get("text/plain", "")
            parts.append("".join(plain) if isinstance(plain, list) else plain)
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_speak_vietnamese(path):
    found = sorted(set(ENGLISH_OUTPUT.findall(_all_output_text(path))))
    if path.name in RUN_BEFORE_VIETNAMESE_BARS:
        assert found, f"{path.name} is clean now: take it out of RUN_BEFORE_VIETNAMESE_BARS"
    else:
        assert not found, f"{path.name}: English in committed outputs: {found}"


LESSON_WORDS = 2_000


def _lesson_words(path) -> int:
    """Words of markdown the reader sees without opening anything: collapsed <details> blocks and code excluded."""
    text = "\n".join("".join(c["source"]) for c in _load(path)["cells"] if c["cell_type"] == "markdown")
    text = re.sub(r"<details>.*?</details>", "", text, flags=re.S)
    return len(re.sub(r"```.*?```", "", text, flags=re.S).split())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_prose_fits_a_class(path):
    assert _lesson_words(path) <= LESSON_WORDS, f"{path.name}: move depth into 'Đọc thêm' <details> blocks"


HEADLINE = re.compile(r"^(Mô hình .* \(notebook \d\d\)): tệp .*$", re.MULTILINE)


def test_a_course_model_prints_the_same_headline_in_every_notebook():
    """course.headline: one model, one file: its bytes, ratio and test accuracy are the same wherever it appears."""
    lines: dict[str, set[str]] = {}
    for path in NOTEBOOKS:
        for match in HEADLINE.finditer(_all_output_text(path)):
            lines.setdefault(match.group(1), set()).add(match.group(0))
    assert len(lines) >= 3
    assert all(len(found) == 1 for found in lines.values()), {m: f for m, f in lines.items() if len(f) > 1}
