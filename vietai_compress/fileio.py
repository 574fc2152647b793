"""Atomic file writes: a temp file in the same folder, then ``os.replace``.

Used by every helper that saves something (checkpoints, compressed files, results), so that a crash
or a full disk never leaves a half-written file where a good one was.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)``, then move the temp file onto ``path`` in one step. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_or_check(texts: dict[Path, str], check: bool, command: str) -> list[Path]:
    """The generators' last step (``scripts/course_page.py``, ``scripts/results_tables.py``): write every file of
    ``texts`` whose content differs, or with ``check`` exit with one line naming them and ``command``. Returns the
    files that differed."""
    stale = [path for path, text in texts.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if check and stale:
        sys.exit(f"{', '.join(p.name for p in stale)} not what the sources give: run {command}")
    if not check:
        for path in stale:
            atomic_write_text(path, texts[path])
            print(f"wrote {path}")
    return stale
