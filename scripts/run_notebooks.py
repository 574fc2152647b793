"""Execute notebooks in place, top to bottom, and save their outputs.

    python scripts/run_notebooks.py                 # every notebook, full mode (the outputs we commit)
    python scripts/run_notebooks.py notebooks/02_pruning.ipynb
    python scripts/run_notebooks.py --quick         # quick mode, to try things out (do not commit)

Kernels start in notebooks/ and inherit this environment (VIETAI_DATA, VIETAI_ARTIFACTS).
"""
from __future__ import annotations

import argparse
import html
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vietai_compress.fileio import atomic_write_text  # noqa: E402


def _bar_text(state: dict, model_id: str) -> str | None:
    """The final text of a tqdm widget (an HBox of description, progress bar, postfix), or None."""
    model = state.get(model_id, {}).get("state", {})
    children = [state.get(child.removeprefix("IPY_MODEL_"), {}).get("state", {}) for child in model.get("children", [])]
    if len(children) != 3:
        return None
    left, bar, right = children  # "desc: 100%", the bar, " n/total [time, rate, postfix]"
    filled = round(10 * bar.get("value", 0) / (bar.get("max") or 1))
    text = f"{left.get('value', '')}|{'█' * filled}{' ' * (10 - filled)}|{right.get('value', '')}"
    return html.unescape(text).replace("\u2007", " ")


def show_final_progress(notebook) -> None:
    """Give each progress-bar widget output the bar's final text, for viewers that cannot render widgets."""
    state = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            text = _bar_text(state, view["model_id"]) if view else None
            if text:
                output["data"]["text/plain"] = text


def run(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=None, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    show_final_progress(notebook)
    atomic_write_text(path, nbformat.writes(notebook) + "\n")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--quick", action="store_true", help="quick mode (VIETAI_QUICK=1)")
    args = parser.parse_args()
    os.environ["VIETAI_QUICK"] = "1" if args.quick else "0"
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: running in {'quick' if args.quick else 'full'} mode ...", flush=True)
        print(f"{path.name}: {run(path.resolve()):.0f} s", flush=True)


if __name__ == "__main__":
    main()
