"""Every exercise has a hint and a collapsed solution; the solutions' code is found (and run by nbval)."""
import json
from pathlib import Path

import pytest

from notebook_solutions import exercise_items, solution_code

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

MARKDOWN = """## Bài tập

1. **One.** Do this.

   *Gợi ý:* a hint.

   <details><summary>Lời giải</summary>

   ```python
   x = 1
   if x:
       print(x)
   ```
   Text after.
   </details>

2. **Two.** Prose only.

   *Gợi ý:* another.

   <details><summary>Lời giải</summary>

   ```bash
   vietai-compress run
   ```
   </details>
"""


def test_solution_code_is_the_dedented_python_inside_details_only():
    outside = "```python\nnot_a_solution()\n```\n"
    assert solution_code(outside + MARKDOWN) == ["x = 1\nif x:\n    print(x)\n"]


def test_exercise_items_are_the_numbered_items_after_the_heading():
    items = exercise_items("# Title\n\n1. not an exercise\n\n" + MARKDOWN)
    assert len(items) == 2 and items[0].startswith("**One.**") and items[1].startswith("**Two.**")
    assert exercise_items("no exercises here") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_a_hint_and_a_collapsed_solution(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    items = exercise_items(markdown)
    assert len(items) >= 2
    for item in items:
        assert "*Gợi ý:*" in item, item[:60]
        assert item.count("<details><summary>Lời giải</summary>") == 1 and "</details>" in item, item[:60]
    assert solution_code(markdown), "at least one exercise asks for code that the tests run"
