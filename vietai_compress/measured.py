"""Measurements that took hours to make, shipped inside the package so that a notebook opened alone (Colab,
``pip install`` without the repository) can read them: ``measured/<name>.json``.

Written by ``scripts/choose_teacher.py`` (notebook 07) and ``scripts/beyond_the_paper.py`` (notebook 09).
"""
from __future__ import annotations

import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "measured"


def path(name: str) -> Path:
    """Where the measurement ``name`` (e.g. ``"beyond_the_paper"``) lives: ``vietai_compress/measured/<name>.json``."""
    return FOLDER / f"{name}.json"


def load(name: str) -> dict:
    """The recorded measurement ``name``; ``FileNotFoundError`` when it has not been recorded yet."""
    file = path(name)
    if not file.is_file():
        raise FileNotFoundError(f"no recorded measurement {name!r} at {file}; run scripts/{name}.py first")
    return json.loads(file.read_text(encoding="utf-8"))
