"""The worked solutions of the notebooks' exercises, as code the tests can run.

A solution is a collapsed ``<details>`` block in a markdown cell; the Python in its ```python fences is run by
nbval right after the notebook's own cells, in the same kernel (see the root ``conftest.py``), so a solution
that stops working fails the tests.
"""
from __future__ import annotations

import re
import textwrap

DETAILS = re.compile(r"<details>(.*?)</details>", re.S)
PYTHON = re.compile(r"^[ \t]*```python[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.S | re.M)
EXERCISES = re.compile(r"^## Bài tập\s*$", re.M)
ITEM = re.compile(r"^\d+\. ", re.M)


def solution_code(markdown: str) -> list[str]:
    """The code of every ```python block inside a ``<details>`` block of ``markdown``, dedented."""
    return [textwrap.dedent(code) for details in DETAILS.findall(markdown) for code in PYTHON.findall(details)]


def exercise_items(markdown: str) -> list[str]:
    """The numbered items after the '## Bài tập' heading of ``markdown`` (empty when there is none)."""
    parts = EXERCISES.split(markdown, maxsplit=1)
    if len(parts) < 2:
        return []
    return [item for item in ITEM.split(parts[1])[1:]]
