"""Each notebook opened alone, as a class opens it: wall time in class mode (or QUICK), written to a JSON.

    VIETAI_DATA=../shared/data python benchmarks/class_mode.py [notebooks ...] [--quick]
                                    [--json vietai_compress/measured/class_mode.json]

The Colab situation: the package installed from the repository (``pip install``, not editable) into a fresh virtual
environment that sees this Python's libraries (``--system-site-packages``), and each notebook copied alone into an
empty folder, with no artifacts of earlier notebooks. Class mode: full mode with the notebook's ``TRAIN = False``,
so its training steps load the reference run's shipped results (``vietai_compress.reference``) and its cheap steps run
live. ``--quick`` times the same notebooks in quick mode instead (``VIETAI_QUICK=1``, which trains). MNIST comes from
``VIETAI_DATA``. One notebook at a time, on this machine's CPU; the JSON keeps the machine, its load and each
notebook's seconds under ``class`` or ``quick``, and the target (3 minutes per notebook in class mode).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from vietai_compress.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 180
# notebooks whose live steps cannot fit in the target, and why (none so far)
REASONS: dict[str, str] = {}
RUNNER = """
import sys, time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import vietai_compress

path = Path(sys.argv[1])
assert "site-packages" in vietai_compress.__file__, f"not the installed package: {vietai_compress.__file__}"
notebook = nbformat.read(path, as_version=4)
start = time.perf_counter()
NotebookClient(notebook, timeout=None, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
print(time.perf_counter() - start)
"""


def install(into: Path) -> Path:
    """A virtual environment with this Python's libraries and the package installed from the repository (a copy,
    not an editable link): its python."""
    venv.create(into, system_site_packages=True, with_pip=True)
    python = into / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(into / "wheel"), str(ROOT)], check=True)
    wheel = next((into / "wheel").glob("vietai_compress-*.whl"))
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    return python


def time_alone(python: Path, notebook: Path, quick: bool) -> float:
    """Copy ``notebook`` alone into an empty folder and run it there with ``python``: its seconds."""
    with tempfile.TemporaryDirectory(prefix="alone-") as folder:
        copy = Path(folder) / notebook.name
        shutil.copy(notebook, copy)
        (Path(folder) / "runner.py").write_text(RUNNER, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("VIETAI_ARTIFACTS", "VIETAI_REFERENCE")}
        env.update(VIETAI_QUICK="1" if quick else "0", VIETAI_ARTIFACTS=str(Path(folder) / "artifacts"))
        done = subprocess.run([str(python), "runner.py", copy.name], cwd=folder, env=env, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{notebook.name} failed:\n{done.stderr[-3000:]}")
        return float(done.stdout.strip().splitlines()[-1])


def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average": list(os.getloadavg())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--quick", action="store_true", help="time quick mode instead of class mode")
    parser.add_argument("--json", type=Path, default=ROOT / "vietai_compress" / "measured" / "class_mode.json")
    args = parser.parse_args()
    if not os.environ.get("VIETAI_DATA"):
        parser.error("set VIETAI_DATA to the folder that holds MNIST/raw/ (no download here)")
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    mode = "quick" if args.quick else "class"
    result = json.loads(args.json.read_text(encoding="utf-8")) if args.json.is_file() else {}
    result.update(target_seconds=TARGET_SECONDS, reasons=REASONS)
    result.setdefault(mode, {})
    with tempfile.TemporaryDirectory(prefix="class-mode-venv-") as folder:
        python = install(Path(folder))
        result[f"machine_{mode}"] = machine()
        for path in paths:
            seconds = time_alone(python, path, args.quick)
            result[mode][path.stem] = round(seconds, 1)
            flag = "" if args.quick or seconds <= TARGET_SECONDS else f"  over {TARGET_SECONDS} s"
            print(f"{path.name}: {seconds:.0f} s{flag}", flush=True)
        result[f"machine_{mode}"]["load_average_at_end"] = list(os.getloadavg())
    atomic_write_text(args.json, json.dumps(result, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
