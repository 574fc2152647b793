"""The web page of ``web/`` inside a notebook: draw a digit, a compressed model guesses it.

``show(path)`` returns an IPython display object: an iframe whose ``srcdoc`` is the page itself, its scripts
(``vcz.js``, the format's JavaScript reader, ``digit.js``, ``page.js``) and the ``.vcz`` file's bytes (base64)
written inline, so that it runs in JupyterLab's or Colab's output with no server. ``standalone_page(path)`` is that
page as one HTML text, to save and open anywhere. Imports no torch.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from .checks import check_int
from .runtime import load

PAGE_FILES = ("index.html", "digit.js", "vcz.js", "page.js")  # page.js imports the two modules before it


def web_folder() -> Path:
    """The page's folder: ``web/`` of a checkout, or the copy an install puts in the package (``webpage/``)."""
    package = Path(__file__).resolve().parent
    for folder in (package.parent / "web", package / "webpage"):
        if all((folder / name).is_file() for name in PAGE_FILES):
            return folder
    raise FileNotFoundError(f"the web page's files {PAGE_FILES} are in neither {package.parent / 'web'} nor "
                            f"{package / 'webpage'}; reinstall vietai-compress")


def inline_script(folder: Path | None = None) -> str:
    """The page's three ES modules as one module script: the imports between them removed, and ``export``
    dropped from the declarations (each module's top-level names are distinct)."""
    folder = folder or web_folder()
    sources = [(folder / name).read_text(encoding="utf-8") for name in PAGE_FILES[1:]]
    code = "\n".join(re.sub(r"^export ", "", source, flags=re.MULTILINE) for source in sources)
    return re.sub(r"^import .*? from \"\./\w+\.js\";\n", "", code, flags=re.MULTILINE)


def standalone_page(path: str | Path) -> str:
    """``web/index.html`` as one self-contained HTML text: its scripts inline, and the model ``path`` (a
    ``.vcz`` file the runtime runs: LeNet-300-100 or LeNet-5) in base64. Raises ``ValueError`` for a bad file."""
    path = Path(path)
    load(path)  # refuses a file the page could not run, with the runtime's message
    folder = web_folder()
    model = (f'<script id="vcz-model" type="application/octet-stream" data-name="{html.escape(path.name)}">'
             f'{base64.b64encode(path.read_bytes()).decode("ascii")}</script>\n')
    script = inline_script(folder).replace("</script", "<\\/script")
    page = (folder / "index.html").read_text(encoding="utf-8")
    page = re.sub(r'<link rel="modulepreload" [^>]*>\s*', "", page)  # the files it preloads are inline here
    tag = '<script type="module" src="page.js"></script>'
    if tag not in page:
        raise ValueError(f"{folder / 'index.html'} no longer loads its script with {tag}")
    return page.replace(tag, model + f'<script type="module">\n{script}</script>')


def show(path: str | Path, height: int = 640):
    """The page with the model ``path`` in it, for a notebook cell's output (``IPython.display.HTML`` of an
    iframe ``height`` pixels high, 300 to 3000): draw a digit with the mouse or a finger, the model answers."""
    from IPython.display import HTML

    height = check_int(height, "height", 300, 3000)
    document = html.escape(standalone_page(path), quote=True)
    return HTML(f'<div><iframe srcdoc="{document}" sandbox="allow-scripts" title="vietai-compress: draw a digit" '
                f'style="width: 100%; max-width: 800px; height: {height}px; border: 0"></iframe></div>')


NODE_SCRIPT = """
import { readFileSync, writeFileSync } from "node:fs";
const [reader, model, images, out] = process.argv.slice(2);
const { load } = await import(reader);
let runtime;
try {
  runtime = load(new Uint8Array(readFileSync(model)), model);
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
const pixels = new Float32Array(readFileSync(images).buffer.slice(0));
writeFileSync(out, Buffer.from(runtime.logProbs(pixels).buffer));
process.stdout.write(String(runtime.nonzeros));
"""


def node_log_probs(path: str | Path, images, reader: str | Path | None = None) -> tuple[np.ndarray, int]:
    """Run the JavaScript reader (``web/vcz.js``, or the file ``reader``) under Node.js on the model ``path`` and
    ``images`` (N x 784 or N x 1 x 28 x 28 normalised pixels): ``(log_probs N x 10, nonzero weights it multiplies)``.
    Notebook 13 checks the second reader against the Python runtime with it. Needs ``node`` on the PATH."""
    import shutil
    import subprocess
    import tempfile

    import numpy as np

    node = shutil.which("node")
    if node is None:
        raise FileNotFoundError("node_log_probs needs Node.js (the `node` command): https://nodejs.org or "
                                "`apt-get install nodejs`")
    reader = Path(reader) if reader is not None else web_folder() / "vcz.js"
    if not reader.is_file():
        raise FileNotFoundError(f"reader {reader} is not a file")
    pixels = np.ascontiguousarray(images, dtype="<f4")
    if pixels.size == 0 or pixels.size % 784:
        raise ValueError(f"images must hold N x 784 pixels (N at least 1), got shape {pixels.shape}")
    with tempfile.TemporaryDirectory() as folder:
        files = {name: Path(folder) / name for name in ("run.mjs", "images.bin", "out.bin")}
        files["run.mjs"].write_text(NODE_SCRIPT, encoding="utf-8")
        files["images.bin"].write_bytes(pixels.tobytes())
        done = subprocess.run([node, str(files["run.mjs"]), reader.resolve().as_uri(), str(path),
                               str(files["images.bin"]), str(files["out.bin"])], capture_output=True, text=True)
        if done.returncode != 0:
            raise ValueError(f"the JavaScript reader refused {path}: {done.stderr.strip()[-500:]}")
        log_probs = np.frombuffer(files["out.bin"].read_bytes(), dtype="<f4").reshape(-1, 10)
    return log_probs, int(done.stdout)
