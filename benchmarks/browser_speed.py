"""The web page's reader (web/vcz.js) against ONNX Runtime Web, side by side in one headless Chromium, and Pyodide.

    python benchmarks/browser_speed.py [--lenet300 web/lenet300.vcz] [--lenet5 web/lenet5.vcz] [--rounds 10]
                                       [--ort FOLDER] [--pyodide FOLDER]
                                       [--json vietai_compress/measured/browser_speed.json]

For each model file: one tab runs web/index.html with the file (the page as a visitor gets it), another runs the
same model exported to ONNX (``deploy.export_onnx`` of ``deploy.small_model``: notebook 10's small model, dead units
removed, fp32) in ONNX Runtime Web (wasm backend, one thread, no proxy worker). Measured, in rounds that take turns
between the tabs: page load to first prediction, decode time (ours) and session creation (ORT), time per
prediction at batch 1 (each call timed on its own, p50 and p99; the pages are cross-origin isolated, so the clock
ticks every 5 us) and the floor (an empty call timed the same way), and the bytes each page loaded.

Once, for no model: Pyodide (CPython compiled to WebAssembly), what a visitor would need to run our Python runtime
in a browser instead. A minimal page loads it and runs ``1 + 1``; measured: page load to that first result and the
bytes the page loaded, as above. Only the core interpreter: numpy and scipy are not in Pyodide's npm package (Pyodide
fetches them from its CDN) and are not loaded, so the figures are a lower bound for a page running our runtime.

ONNX Runtime Web and Pyodide are installed with npm into a temporary folder (or taken from ``--ort`` and
``--pyodide``, folders holding node_modules/onnxruntime-web and node_modules/pyodide); this benchmark is not run in
CI. Needs Chromium, chromedriver and Selenium (``vietai_compress.browser``), torch for the export, Node's npm.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from vietai_compress import browser, measured
from vietai_compress.web import PAGE_FILES
from vietai_compress.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
DEFINITIONS = {
    "first_prediction_ms": "from the start of navigation to the end of the page's first prediction (a blank image), "
                           "median of the loads; no HTTP cache",
    "decode_ms": "web/vcz.js's load(): decode, rebuild the weights, remove dead units (in the page's first load)",
    "session_ms": "ort.InferenceSession.create: the wasm module and the .onnx file fetched and compiled",
    "predict": "one image (batch 1) per call, each call timed on its own with performance.now(), which ticks every "
               "5 us in these cross-origin isolated pages; p50 and p99 over rounds x calls",
    "floor": "an empty call timed the same way (an empty function; for ONNX Runtime Web, an awaited resolved promise)",
    "page_bytes": "decoded bytes of the document and every resource it loaded (Resource Timing)",
    "pyodide": "Pyodide (CPython compiled to WebAssembly; npm package, files served locally) in a minimal page: "
               "loadPyodide() then runPython('1 + 1'). first_result_ms: from the start of navigation to that first "
               "result, median of the loads, no HTTP cache; page_bytes as above. The core interpreter only: numpy "
               "and scipy, which our Python runtime needs, are not in the npm package and were not loaded, so both "
               "figures are a lower bound for a page that runs our Python runtime with Pyodide",
}
TARGETS = {"page_bytes_at_most": 60_000, "first_prediction_ms_at_most": 100, "p50_ratio_to_ort_web_at_most": 2.0}
ORT_PAGE = """<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>ONNX Runtime Web</title>
<script type="module">
import * as ort from "./ort/ort.wasm.min.mjs";
Object.assign(ort.env.wasm, { numThreads: 1, proxy: false, wasmPaths: new URL("ort/", location.href).href });
try {
  const start = performance.now();
  const session = await ort.InferenceSession.create(new URLSearchParams(location.search).get("model"),
                                                    { executionProviders: ["wasm"] });
  const sessionTime = performance.now() - start;
  await session.run({ images: new ort.Tensor("float32", new Float32Array(784), [1, 1, 28, 28]) });
  window.ortPage = { ort, session, sessionTime, firstPrediction: performance.now() };
} catch (err) {
  window.ortPage = { error: String(err) };
}
</script>
"""
PYODIDE_PAGE = """<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>Pyodide</title>
<script type="module">
import { loadPyodide } from "./pyodide/pyodide.mjs";
try {
  const pyodide = await loadPyodide({ indexURL: new URL("pyodide/", location.href).href });
  const result = pyodide.runPython("1 + 1"), firstResult = performance.now();
  window.pyodidePage = result === 2 ? { firstResult } : { error: `1 + 1 gave ${result}` };
} catch (err) {
  window.pyodidePage = { error: String(err) };
}
</script>
"""
# Each call timed on its own (awaited when it returns a promise); CALL is one prediction in that page, on x.
TIMING = """
const [count, input, done] = arguments, times = [], x = new Float32Array(input);
const call = CALL;
(async () => {
  for (let i = 0; i < count; i++) {
    const start = performance.now(), result = call();
    if (result instanceof Promise) await result;
    times.push(performance.now() - start);
  }
  done(times);
})();"""
CALLS = {
    "ours": "() => window.vczPage.runtime.logProbs(x)",
    "ours_floor": "() => {}",
    "ort": "() => window.ortPage.session.run({ images: new window.ortPage.ort.Tensor('float32', x, [1, 1, 28, 28]) })",
    "ort_floor": "() => Promise.resolve()",
}


def install_npm(package: str, folder: Path | None, into: Path) -> Path:
    """The folder of an npm package: node_modules/``package`` in ``folder``, or installed with npm into ``into``."""
    if folder is None:
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(into), package],
                       check=True)
        folder = into
    return Path(folder) / "node_modules" / package


def package_version(package: Path) -> str:
    """The version in an npm package's package.json."""
    return json.loads((package / "package.json").read_text())["version"]


def export_small_onnx(path: Path, target: Path) -> Path:
    """Notebook 10's ONNX file of a .vcz model: the decoded model in inference form, dead units removed, fp32."""
    from vietai_compress.deploy import export_onnx, small_model
    from vietai_compress.storage import load_model

    name, model = load_model(path)
    return export_onnx(small_model(model, name), target)


def copy_files(source: Path, names: tuple[str, ...], target: Path) -> None:
    target.mkdir()
    for name in names:
        shutil.copy(source / name, target / name)


def build_site(site: Path, models: dict[str, Path], dist: Path, pyodide: Path) -> None:
    """The page's files, the .vcz and .onnx models, ONNX Runtime Web's files and Pyodide's, in one folder."""
    for name in PAGE_FILES:
        shutil.copy(ROOT / "web" / name, site / name)
    copy_files(dist, ORT_FILES, site / "ort")
    (site / "ort.html").write_text(ORT_PAGE, encoding="utf-8")
    copy_files(pyodide, PYODIDE_FILES, site / "pyodide")
    (site / "pyodide.html").write_text(PYODIDE_PAGE, encoding="utf-8")
    for model, path in models.items():
        shutil.copy(path, site / f"{model}.vcz")
        export_small_onnx(path, site / f"{model}.onnx")


def wait_for(chrome, expression: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while (value := chrome.execute_script(f"return {expression}")) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression} is still unset after {seconds} s on {chrome.current_url}")
        time.sleep(0.01)
    return value


LOADED_BYTES = ("return [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]"
                ".reduce((sum, e) => sum + e.decodedBodySize, 0)")


def wait_for_page(chrome, page: str, key: str, name: str) -> float:
    """``window[page][key]`` once the page has set it; raises when the page set ``error`` instead."""
    first = wait_for(chrome, f"window.{page}?.{key} ?? window.{page}?.error ?? null")
    if isinstance(first, str):
        raise RuntimeError(f"{name} failed in {chrome.current_url}: {first}")
    return first


def load_page(chrome, url: str, runtime: str) -> dict:
    """Open a page and wait for its first prediction (for Pyodide, its first result): ms from the start of
    navigation, and what it loaded."""
    chrome.get(url)
    if runtime == "ours":
        first = wait_for(chrome, "window.vczPage?.firstPrediction ?? null")
        return {"first_prediction_ms": first, "decode_ms": chrome.execute_script("return window.vczPage.decodeTime"),
                "page_bytes": chrome.execute_script("return window.vczPage.pageBytes")}
    if runtime == "pyodide":
        first = wait_for_page(chrome, "pyodidePage", "firstResult", "Pyodide")
        return {"first_result_ms": first, "page_bytes": chrome.execute_script(LOADED_BYTES)}
    first = wait_for_page(chrome, "ortPage", "firstPrediction", "ONNX Runtime Web")
    return {"first_prediction_ms": first, "session_ms": chrome.execute_script("return window.ortPage.sessionTime"),
            "page_bytes": chrome.execute_script(LOADED_BYTES)}


def time_calls(chrome, call: str, count: int, image: list[float]) -> list[float]:
    return chrome.execute_async_script(TIMING.replace("CALL", CALLS[call]), count, image)


def percentiles(times: list[float]) -> dict:
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)), "calls": len(times)}


OUTPUT = {  # one prediction's log-probabilities in each page, to check that both runtimes agree
    "ours": "done(Array.from(window.vczPage.runtime.logProbs(x)));",
    "ort": "window.ortPage.session.run({ images: new window.ortPage.ort.Tensor('float32', x, [1, 1, 28, 28]) })"
           ".then((out) => done(Array.from(out.log_probs.data)));",
}


def open_tabs(chrome, urls: dict[str, str], loads: int) -> tuple[dict[str, str], dict[str, dict]]:
    """One tab per runtime; each page loaded ``loads`` times, the runtimes taking turns. Returns the tabs and the
    median of every load figure per runtime."""
    tabs, loaded = {}, {runtime: [] for runtime in urls}
    for _ in range(loads):
        for runtime, page in urls.items():
            if runtime not in tabs:
                chrome.switch_to.new_window("tab")
                tabs[runtime] = chrome.current_window_handle
            chrome.switch_to.window(tabs[runtime])
            loaded[runtime].append(load_page(chrome, page, runtime))
    return tabs, {runtime: {key: statistics.median(row[key] for row in rows) for key in rows[0]}
                  for runtime, rows in loaded.items()}


def time_in_turns(chrome, tabs: dict[str, str], image: list[float], rounds: int, calls: int) -> dict[str, list]:
    """Every runtime's prediction and floor, ``calls`` timed calls each per round, the tabs taking turns."""
    times = {call: [] for call in CALLS}
    for warmup in [True] + [False] * rounds:
        for runtime, tab in tabs.items():
            chrome.switch_to.window(tab)
            for call in (runtime, f"{runtime}_floor"):
                timed = time_calls(chrome, call, calls, image)
                if not warmup:
                    times[call] += timed
    return times


def measure_model(chrome, url: str, model: str, image: list[float], rounds: int, calls: int, loads: int) -> dict:
    """Both runtimes on one model, each in its own tab, taking turns."""
    urls = {"ours": f"{url}/index.html?model={model}.vcz", "ort": f"{url}/ort.html?model={model}.onnx"}
    tabs, loaded = open_tabs(chrome, urls, loads)
    outputs = {}
    for runtime, tab in tabs.items():
        chrome.switch_to.window(tab)
        outputs[runtime] = chrome.execute_async_script(
            "const [input, done] = arguments, x = new Float32Array(input);" + OUTPUT[runtime], image)
    times = time_in_turns(chrome, tabs, image, rounds, calls)
    close_tabs(chrome, tabs)
    result = {name: {**loaded[runtime], "predict": percentiles(times[runtime]),
                     "floor": percentiles(times[f"{runtime}_floor"])}
              for name, runtime in (("ours", "ours"), ("ort_web", "ort"))}
    result["max_log_prob_difference"] = float(np.abs(np.subtract(outputs["ours"], outputs["ort"])).max())
    for p in ("p50", "p99"):
        result[f"ratio_{p}"] = result["ours"]["predict"][f"{p}_ms"] / result["ort_web"]["predict"][f"{p}_ms"]
    return result


def close_tabs(chrome, tabs: dict[str, str]) -> None:
    for tab in tabs.values():
        chrome.switch_to.window(tab)
        chrome.close()
    chrome.switch_to.window(chrome.window_handles[0])


def measure_pyodide(chrome, url: str, package: Path, loads: int) -> dict:
    """Pyodide's minimal page, loaded ``loads`` times in its own tab: its version and the median load figures."""
    tabs, loaded = open_tabs(chrome, {"pyodide": f"{url}/pyodide.html"}, loads)
    close_tabs(chrome, tabs)
    return {"version": package_version(package), **loaded["pyodide"]}


def sample_image() -> list[float]:
    """One normalised MNIST test image when MNIST is on disk, else a fixed random one (speed hardly depends on it)."""
    try:
        from vietai_compress.data import load_mnist, mnist_on_disk

        if mnist_on_disk():
            return load_mnist(False, download=False)[0][0].flatten().tolist()
    except ImportError:
        pass
    return np.random.default_rng(0).normal(0, 1, 784).astype(np.float32).tolist()


def machine() -> dict:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "system": platform.platform(), "python": platform.python_version(),
            "load_average_at_start": os.getloadavg()}


def verdicts(results: dict) -> dict:
    first = results["models"]["lenet300"]
    return {
        "page_bytes": first["ours"]["page_bytes"] <= TARGETS["page_bytes_at_most"],
        "first_prediction": first["ours"]["first_prediction_ms"] <= TARGETS["first_prediction_ms_at_most"],
        "prediction_p50_vs_ort_web": first["ratio_p50"] <= TARGETS["p50_ratio_to_ort_web_at_most"],
    }


def summary(results: dict) -> str:
    lines = [f"Chromium {results['browser']}, ONNX Runtime Web {results['ort_web_version']} (wasm, 1 thread); "
             f"{results['machine']['cpu']}, load average {results['machine']['load_average_at_start'][0]:.2f}",
             f"{'model':9} {'runtime':9} {'page bytes':>11} {'1st pred':>9} {'decode':>8} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'floor p50':>9} {'x ORT p50':>9} {'x ORT p99':>9}"]
    for model, result in results["models"].items():
        for runtime in ("ours", "ort_web"):
            row = result[runtime]
            setup = row.get("decode_ms", row.get("session_ms"))
            ratios = (result["ratio_p50"], result["ratio_p99"]) if runtime == "ours" else (1.0, 1.0)
            lines.append(f"{model:9} {runtime:9} {row['page_bytes']:>11,} {row['first_prediction_ms']:>7.0f}ms "
                         f"{setup:>6.1f}ms {row['predict']['p50_ms']:>8.3f} {row['predict']['p99_ms']:>8.3f} "
                         f"{row['floor']['p50_ms']:>9.3f} {ratios[0]:>9.2f} {ratios[1]:>9.2f}")
    pyodide = results["pyodide"]
    lines.append(f"Pyodide {pyodide['version']} (core interpreter only, no numpy/scipy: a lower bound): page bytes "
                 f"{pyodide['page_bytes']:,}, first result (1 + 1) {pyodide['first_result_ms']:.0f}ms")
    lines.append("targets (LeNet-300-100): " + ", ".join(f"{name} {'met' if ok else 'NOT met'}"
                                                          for name, ok in results["verdicts"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lenet300", type=Path, default=ROOT / "web" / "lenet300.vcz")
    parser.add_argument("--lenet5", type=Path, default=ROOT / "web" / "lenet5.vcz")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=200, help="timed calls per runtime and round")
    parser.add_argument("--loads", type=int, default=5, help="page loads per runtime")
    parser.add_argument("--ort", type=Path, default=None, help="a folder holding node_modules/onnxruntime-web")
    parser.add_argument("--pyodide", type=Path, default=None, help="a folder holding node_modules/pyodide")
    parser.add_argument("--json", type=Path, default=measured.path("browser_speed"))
    args = parser.parse_args(argv)
    models = {"lenet300": args.lenet300, **({"lenet5": args.lenet5} if args.lenet5 else {})}
    for path in models.values():
        if not path.is_file():
            parser.error(f"{path} does not exist: give a .vcz file (--lenet300 / --lenet5)")
    if browser.missing():
        parser.error(f"headless Chromium {browser.missing()}")
    with tempfile.TemporaryDirectory() as folder:
        site, profile = Path(folder) / "site", Path(folder) / "profile"
        site.mkdir()
        dist = install_npm("onnxruntime-web", args.ort, Path(folder) / "npm") / "dist"
        pyodide = install_npm("pyodide", args.pyodide, Path(folder) / "npm")
        build_site(site, models, dist, pyodide)
        image = sample_image()
        chrome = browser.chromium(profile)
        try:
            with browser.serve(site, isolated=True) as url:
                results = {"browser": chrome.capabilities.get("browserVersion"),
                           "ort_web_version": package_version(dist.parent),
                           "machine": machine(), "files": {m: {"path": str(p), "bytes": p.stat().st_size,
                                                               "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                                                           for m, p in models.items()},
                           "onnx_export": "deploy.export_onnx(deploy.small_model(storage.load_model(file)[1], name)): "
                                          "notebook 10's small model (inference form, dead units removed), fp32",
                           "settings": {"rounds": args.rounds, "calls": args.calls, "loads": args.loads,
                                        "ort_web": "wasm backend, numThreads 1, proxy false"},
                           "definitions": DEFINITIONS,
                           "targets": TARGETS,
                           "models": {m: measure_model(chrome, url, m, image, args.rounds, args.calls, args.loads)
                                      for m in models},
                           "pyodide": measure_pyodide(chrome, url, pyodide, args.loads)}
        finally:
            chrome.quit()
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["verdicts"] = verdicts(results)
    atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
    print(summary(results))
    return results


if __name__ == "__main__":
    main()
