"""Execute notebooks in place, top to bottom, and save their outputs; or rebuild the reference run from scratch.

    python scripts/run_notebooks.py                 # every notebook, full mode, class mode (the outputs we commit)
    python scripts/run_notebooks.py notebooks/02_pruning.ipynb
    python scripts/run_notebooks.py --quick         # quick mode, to try things out (do not commit)
    python scripts/run_notebooks.py --rebuild       # the reference run, from scratch: hours on a 2-core CPU

``--rebuild`` runs five steps (``--steps`` picks some of them, in this order):

1. ``scripts``: ``choose_teacher.py``, ``beyond_the_paper.py`` and ``structured_and_int8.py``, whose measurements
   ship in ``vietai_compress/measured/`` (notebooks 07, 09, 11);
2. ``train``: every notebook in full mode with ``TRAIN = True``, writing ``artifacts/full/``; its seconds are saved;
3. ``select``: every notebook in class mode, then its exercises' solutions, with empty artifacts, against a store
   of everything in ``artifacts/full/``, logging which files they read (``VIETAI_REFERENCE``,
   ``VIETAI_REFERENCE_LOG``); the executed notebooks (``artifacts/rebuild/select_*.ipynb``) give the exercises'
   expected results;
4. ``ship``: those files, packed (``reference.pack``), into ``vietai_compress/reference/`` with ``manifest.json``
   (SHA-256, bytes, the first notebook that reads each file, the seconds its training took); at most 20 MB; the
   course's LeNet-300-100 and LeNet-5 files (notebooks 06 and 08), compressed from the shipped files, copied into
   ``web/``, the page's models (run ``benchmarks/browser_speed.py`` on them before the class step);
5. ``class``: every notebook in class mode as a class opens it (``benchmarks/class_mode.py``: the package installed,
   the notebook alone in an empty folder, the shipped files), outputs saved in place: the committed outputs, and
   their wall times in ``measured/class_mode.json``. The headline lines (``course.headline``) and notebook 03's
   drift counts must equal the ``train`` step's.

Kernels start in notebooks/ and inherit this environment (set ``VIETAI_DATA`` to the MNIST folder).
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # notebook_solutions: the exercises' solutions, as the tests run them
from vietai_compress import measured, reference  # noqa: E402
from vietai_compress.checkpoints import fingerprint_state  # noqa: E402
from vietai_compress.fileio import atomic_write_bytes, atomic_write_text  # noqa: E402

STEPS = ("scripts", "train", "select", "ship", "class")
SCRIPTS = ("choose_teacher.py", "beyond_the_paper.py", "structured_and_int8.py")
BUDGET_BYTES = 20_000_000
TIMES = "notebook_times"  # measured/notebook_times.json: seconds per notebook, per mode
WEB_MODELS = {"lenet300": "lenet300.vcz", "lenet5-b": "lenet5.vcz"}  # course model -> its file in web/
# lines class mode must print exactly as training did: the headline lines (course.headline) and notebook 03's counts
# of pruned weights an old Adam average pushes away from 0 (the shipped averages are bfloat16)
HEADLINE = re.compile(r"^(?:Mô hình .* \(notebook \d\d\): tệp .*|.*trọng số đã cắt bị đẩy khỏi 0)$", re.MULTILINE)


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


def with_train_switch(notebook, train: bool):
    """The notebook with its settings cell's ``TRAIN = False`` turned into ``TRAIN = True`` when ``train``."""
    if train:
        for cell in notebook.cells:
            if cell.cell_type == "code" and re.search(r"^TRAIN = False", cell.source, re.MULTILINE):
                cell.source = re.sub(r"^TRAIN = False", "TRAIN = True", cell.source, count=1, flags=re.MULTILINE)
                break
    return notebook


SOLUTION_SECONDS = 120  # a solution still running after this is interrupted: its exercise says how long it takes


def with_solutions(notebook):
    """The notebook with the code of its exercises' worked solutions appended as code cells (as the tests run them),
    each tagged so that its error or interruption is recorded instead of stopping the run."""
    from notebook_solutions import solution_code

    for code in [code for cell in notebook.cells if cell.cell_type == "markdown" for code in solution_code(cell.source)]:
        notebook.cells.append(nbformat.v4.new_code_cell(code, metadata={"tags": ["raises-exception", "solution"]}))
    return notebook


def _timeout(cell, seconds: int = SOLUTION_SECONDS) -> int | None:
    return seconds if "solution" in cell.get("metadata", {}).get("tags", []) else None


def execute(path: Path, train: bool = False, save: Path | None = None,
            solutions: int | None = None) -> tuple[float, str]:
    """Run a notebook top to bottom in its folder: (seconds, the text of its outputs). Saved to ``save`` if given;
    with ``solutions`` (the seconds each may take), its exercises' worked solutions run after its cells (their
    results, for the exercises)."""
    notebook = with_train_switch(nbformat.read(path, as_version=4), train)
    if solutions:
        notebook = with_solutions(notebook)
    client = NotebookClient(notebook, timeout=None, timeout_func=lambda cell: _timeout(cell, solutions),
                            interrupt_on_timeout=True, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    show_final_progress(notebook)
    if save is not None:
        atomic_write_text(save, nbformat.writes(notebook) + "\n")
    return seconds, output_text(notebook)


def output_text(notebook) -> str:
    """Every stream and text/plain output of a notebook, in order."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def headlines(text: str) -> list[str]:
    """The ``course.headline`` lines of a notebook's outputs."""
    return HEADLINE.findall(text)


def notebooks(names: list[Path]) -> list[Path]:
    return [p.resolve() for p in names] or sorted((ROOT / "notebooks").glob("*.ipynb"))


def save_times(mode: str, seconds: dict[str, float]) -> None:
    """Record notebooks' wall times under ``mode`` in ``measured/notebook_times.json``."""
    try:
        times = measured.load(TIMES)
    except FileNotFoundError:
        times = {}
    times.setdefault(mode, {}).update({name: round(s, 1) for name, s in seconds.items()})
    atomic_write_text(measured.path(TIMES), json.dumps(times, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------- the rebuild's steps
def run_scripts() -> None:
    for script in SCRIPTS:
        print(f"== scripts/{script}", flush=True)
        subprocess.run([sys.executable, str(ROOT / "scripts" / script)], check=True, cwd=ROOT)


def train_all(paths: list[Path], work: Path) -> dict[str, list[str]]:
    """Every notebook with ``TRAIN = True``, in full mode, writing ``artifacts/full``: their headline lines, saved
    after each notebook (a run on some notebooks keeps the others')."""
    os.environ.pop("VIETAI_ARTIFACTS", None)
    saved = work / "train_headlines.json"
    found = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else {}
    for path in paths:
        print(f"== {path.name}: TRAIN = True ...", flush=True)
        seconds, text = execute(path, train=True, save=work / f"train_{path.name}")
        found[path.stem] = headlines(text)
        atomic_write_text(saved, json.dumps(found, indent=1, ensure_ascii=False))
        save_times("train", {path.stem: seconds})
        print(f"   {seconds:.0f} s", flush=True)
    return found


def candidate_store(store: Path) -> Path:
    """A reference store holding everything in ``artifacts/full`` (linked, not copied), with its manifest."""
    full = ROOT / "artifacts" / "full"
    files = {}
    for path in sorted(p for p in full.rglob("*") if p.is_file()):
        relative = path.relative_to(full).as_posix()
        files[relative] = {"sha256": reference.sha256(path.read_bytes()), "bytes": path.stat().st_size,
                           "notebook": "?", "seconds": None}
        (store / relative).parent.mkdir(parents=True, exist_ok=True)
        (store / relative).symlink_to(path)
    (store / reference.MANIFEST).write_text(json.dumps({"files": files}), encoding="utf-8")
    return store


def select(paths: list[Path], work: Path, solution_seconds: int = SOLUTION_SECONDS) -> dict[str, list[str]]:
    """Class mode against every file of ``artifacts/full``: which files each notebook reads, in order, saved after
    each notebook (a run on some notebooks keeps the others')."""
    store = candidate_store(Path(tempfile.mkdtemp(prefix="candidates-", dir=work)))
    saved = work / "reads.json"
    reads = json.loads(saved.read_text()) if saved.is_file() else {}
    for path in paths:
        log = work / f"reads_{path.stem}.log"
        log.unlink(missing_ok=True)
        os.environ.update(VIETAI_REFERENCE=str(store), VIETAI_REFERENCE_LOG=str(log),
                          VIETAI_ARTIFACTS=tempfile.mkdtemp(prefix=f"select-{path.stem[:2]}-", dir=work))
        print(f"== {path.name}: class mode, logging what it reads ...", flush=True)
        execute(path, save=work / f"select_{path.name}", solutions=solution_seconds)
        reads[path.stem] = list(dict.fromkeys(log.read_text().splitlines())) if log.is_file() else []
        atomic_write_text(saved, json.dumps(dict(sorted(reads.items())), indent=1))
        print(f"   {len(reads[path.stem])} files", flush=True)
    for name in ("VIETAI_REFERENCE", "VIETAI_REFERENCE_LOG", "VIETAI_ARTIFACTS"):
        os.environ.pop(name)
    return reads


def training_seconds(path: Path) -> float | None:
    """The seconds the training behind an artifact took, as it recorded them (checkpoint meta, JSON)."""
    import torch

    if path.suffix == ".pt":
        return torch.load(path, map_location="cpu", weights_only=True).get("meta", {}).get("seconds")
    if path.suffix == ".json":
        value = json.loads(path.read_text(encoding="utf-8"))
        return value.get("seconds") if isinstance(value, dict) else None
    return None


def packed_bytes(path: Path, optimizer: bool = True) -> bytes:
    """A checkpoint in the compact form of ``reference.pack`` (its optimizer state dropped unless ``optimizer``),
    checked to unpack to the same tensors; other files as they are."""
    import io

    import torch

    if path.suffix != ".pt":
        return path.read_bytes()
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not optimizer:
        payload.pop("optimizer", None)
    buffer = io.BytesIO()
    torch.save(reference.pack(payload), buffer)
    back = reference.unpack(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    state = payload["state_dict"]
    if fingerprint_state(back["state_dict"]) != fingerprint_state(state):  # bytes, so -0.0 and 0.0 differ
        raise ValueError(f"{path}: packing changed its state_dict")
    return buffer.getvalue()


def ship(reads: dict[str, list[str]]) -> None:
    """Pack every file class mode reads (``select``'s log lines: a path, and ``optimizer`` where its optimizer state
    was read) into ``vietai_compress/reference/`` with its manifest; at most 20 MB."""
    full, folder = ROOT / "artifacts" / "full", reference.FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    lines = [line.split() for relatives in reads.values() for line in relatives]
    with_optimizer = {words[0] for words in lines if words[1:] == ["optimizer"]}
    files = {}
    for notebook, relatives in reads.items():
        for relative in (line.split()[0] for line in relatives):
            if relative in files:
                continue
            data = packed_bytes(full / relative, optimizer=relative in with_optimizer)
            atomic_write_bytes(folder / relative, data)
            files[relative] = {"sha256": reference.sha256(data), "bytes": len(data), "notebook": notebook[:2],
                               "seconds": training_seconds(full / relative)}
    manifest = json.dumps({"files": dict(sorted(files.items()))}, indent=1) + "\n"
    atomic_write_text(folder / reference.MANIFEST, manifest)
    total = sum(f["bytes"] for f in files.values()) + len(manifest.encode())
    print(f"shipped {len(files)} files, {total:,} bytes (budget {BUDGET_BYTES:,})", flush=True)
    if total > BUDGET_BYTES:
        raise SystemExit(f"the reference run's files take {total:,} bytes, over the budget of {BUDGET_BYTES:,}")


def class_mode(paths: list[Path], work: Path, expected: dict[str, list[str]] | None, jobs: int = 1) -> None:
    """Every notebook in class mode as a class opens it (``benchmarks/class_mode.py``: the installed package, the
    notebook alone in an empty folder), ``jobs`` at a time; outputs saved in place, wall times recorded in
    ``measured/class_mode.json``; headlines compared with the ``train`` step's."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import class_mode as bench

    executed = {path: work / f"class_{path.name}" for path in paths}
    with tempfile.TemporaryDirectory(prefix="class-venv-", dir=work) as folder:
        info = bench.machine(jobs)
        seconds = bench.run_all(bench.install(Path(folder)), paths, quick=False, jobs=jobs, save=executed)
        info["load_average_at_end"] = list(os.getloadavg())
    bench.record(measured.path("class_mode"), "class", seconds, info)
    differ = []
    for path, done in executed.items():
        notebook = nbformat.read(done, as_version=4)
        show_final_progress(notebook)
        atomic_write_text(path, nbformat.writes(notebook) + "\n")
        if expected is not None and headlines(output_text(notebook)) != expected.get(path.stem, []):
            differ.append(f"{path.name}: class mode {headlines(output_text(notebook))} != TRAIN "
                          f"{expected.get(path.stem)}")
    if differ:
        raise SystemExit("headline lines differ between class mode and training:\n" + "\n".join(differ))


def copy_web_models() -> None:
    """The course's files, as class mode wrote them, into ``web/``: the models the page opens."""
    from vietai_compress import course

    for key, name in WEB_MODELS.items():
        shutil.copy(course.run(key, quick=False, train=False).compressed(), ROOT / "web" / name)


def rebuild(paths: list[Path], steps: list[str], jobs: int = 1, solution_seconds: int = SOLUTION_SECONDS) -> None:
    """The reference run from scratch: the ``steps`` of this module's docstring, in order."""
    os.environ["VIETAI_QUICK"] = "0"
    work = ROOT / "artifacts" / "rebuild"
    work.mkdir(parents=True, exist_ok=True)
    if "scripts" in steps:
        run_scripts()
    expected = train_all(paths, work) if "train" in steps else None
    if expected is None and (work / "train_headlines.json").is_file():
        expected = json.loads((work / "train_headlines.json").read_text(encoding="utf-8"))
    if "select" in steps:
        select(paths, work, solution_seconds)
    if "ship" in steps:
        ship(json.loads((work / "reads.json").read_text()))
        os.environ["VIETAI_ARTIFACTS"] = tempfile.mkdtemp(prefix="web-", dir=work)
        copy_web_models()  # before the class step: notebook 13 and benchmarks/browser_speed.py read them
    if "class" in steps:
        class_mode(paths, work, expected, jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--quick", action="store_true", help="quick mode (VIETAI_QUICK=1)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the reference run (see above)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"with --rebuild: some of {','.join(STEPS)}")
    parser.add_argument("--jobs", type=int, default=1, help="with --rebuild: notebooks run at once in the class step")
    parser.add_argument("--solution-seconds", type=int, default=SOLUTION_SECONDS,
                        help="with --rebuild: a solution still running after this is interrupted (select step)")
    args = parser.parse_args()
    paths = notebooks(args.notebooks)
    if args.rebuild:
        steps = args.steps.split(",")
        if not set(steps) <= set(STEPS):
            parser.error(f"--steps must be among {','.join(STEPS)}, got {args.steps}")
        rebuild(paths, steps, args.jobs, args.solution_seconds)
        return
    os.environ["VIETAI_QUICK"] = "1" if args.quick else "0"
    for path in paths:
        print(f"{path.name}: running in {'quick' if args.quick else 'full'} mode ...", flush=True)
        print(f"{path.name}: {execute(path, save=path)[0]:.0f} s", flush=True)


if __name__ == "__main__":
    main()
