"""Each notebook opened alone, as a class opens it: wall time in class mode (or QUICK), written to a JSON.

    VIETAI_DATA=../shared/data python benchmarks/class_mode.py [notebooks ...] [--quick] [--jobs 2]
                                    [--json vietai_compress/measured/class_mode.json]

The Colab situation: the package installed from the repository (``pip install``, not editable) into a fresh virtual
environment that sees this Python's libraries (``--system-site-packages``), and each notebook copied alone into an
empty folder, with no artifacts of earlier notebooks. Class mode: full mode with the notebook's ``TRAIN = False``,
so its training steps load the reference run's shipped results (``vietai_compress.reference``) and its cheap steps run
live. ``--quick`` times the same notebooks in quick mode instead (``VIETAI_QUICK=1``, which trains). MNIST comes from
``VIETAI_DATA``. ``--jobs`` notebooks at a time (each computes on one thread, ``config.THREADS``), on this machine's
CPU; the JSON keeps the machine, its load, the jobs and each notebook's seconds under ``class`` or ``quick``, and the
target (3 minutes per notebook in class mode). ``scripts/run_notebooks.py --rebuild`` uses ``run_alone`` for the
committed outputs: the notebooks a class opens are the ones these times measure.
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
from concurrent.futures import ThreadPoolExecutor
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
seconds = time.perf_counter() - start
if len(sys.argv) > 2:  # the executed notebook, outputs and all
    nbformat.write(notebook, sys.argv[2])
print(seconds)
"""


def install(into: Path) -> Path:
    """A virtual environment with this Python's libraries and the package installed from the repository (a copy,
    not an editable link): its python."""
    venv.create(into, system_site_packages=True, with_pip=True)
    python = into / "bin" / "python"
    source = into / "source"  # a copy, so that no build/ folder left from an older build can slip into the wheel
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "artifacts", "build", "dist", "data",
                                                                "node_modules", "__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(into / "wheel"), str(source)], check=True)
    wheel = next((into / "wheel").glob("vietai_compress-*.whl"))
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    return python


def run_alone(python: Path, notebook: Path, quick: bool, save: Path | None = None) -> float:
    """Copy ``notebook`` alone into an empty folder and run it there with ``python``: its seconds. The executed
    notebook is written to ``save`` if given."""
    with tempfile.TemporaryDirectory(prefix="alone-") as folder:
        copy = Path(folder) / notebook.name
        shutil.copy(notebook, copy)
        (Path(folder) / "runner.py").write_text(RUNNER, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("VIETAI_ARTIFACTS", "VIETAI_REFERENCE")}
        env.update(VIETAI_QUICK="1" if quick else "0")  # artifacts: ./artifacts in the folder, as in Colab
        command = [str(python), "runner.py", copy.name] + ([str(save.resolve())] if save else [])
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{notebook.name} failed:\n{done.stderr[-3000:]}")
        return float(done.stdout.strip().splitlines()[-1])


def run_all(python: Path, paths: list[Path], quick: bool, jobs: int = 1,
            save: dict[Path, Path] | None = None) -> dict[str, float]:
    """``run_alone`` for every notebook, ``jobs`` at a time: ``{stem: seconds}``, printed as each ends."""
    def one(path: Path) -> tuple[str, float]:
        seconds = run_alone(python, path, quick, (save or {}).get(path))
        flag = "" if quick or seconds <= TARGET_SECONDS else f"  over {TARGET_SECONDS} s"
        print(f"{path.name}: {seconds:.0f} s{flag}", flush=True)
        return path.stem, round(seconds, 1)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(sorted(pool.map(one, paths)))


def record(json_path: Path, mode: str, seconds: dict[str, float], machine_info: dict) -> None:
    """Merge ``seconds`` into ``json_path`` under ``mode``, with the machine and the target."""
    result = json.loads(json_path.read_text(encoding="utf-8")) if json_path.is_file() else {}
    result.update(target_seconds=TARGET_SECONDS, reasons=REASONS)
    result.setdefault(mode, {}).update(seconds)
    result[f"machine_{mode}"] = machine_info
    atomic_write_text(json_path, json.dumps(result, indent=1, sort_keys=True) + "\n")


def machine(jobs: int = 1) -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average": list(os.getloadavg()), "notebooks_at_a_time": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--quick", action="store_true", help="time quick mode instead of class mode")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at the same time (default: 1)")
    parser.add_argument("--json", type=Path, default=ROOT / "vietai_compress" / "measured" / "class_mode.json")
    args = parser.parse_args()
    if not os.environ.get("VIETAI_DATA"):
        parser.error("set VIETAI_DATA to the folder that holds MNIST/raw/ (no download here)")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="class-mode-venv-") as folder:
        info = machine(args.jobs)
        seconds = run_all(install(Path(folder)), paths, args.quick, args.jobs)
        info["load_average_at_end"] = list(os.getloadavg())
    record(args.json, "quick" if args.quick else "class", seconds, info)


if __name__ == "__main__":
    main()
