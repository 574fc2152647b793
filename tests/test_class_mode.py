"""Class mode reproduces the committed outputs: notebooks 06, 08 and 10 run in full mode with TRAIN = False and no
artifacts, load the reference run's shipped models, and print the committed headline lines (bytes, ratio, test
accuracy). Needs MNIST on disk (VIETAI_DATA) and takes a few minutes; CI runs it."""
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from vietai_compress import reference
from vietai_compress.data import mnist_on_disk

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
HEADLINE = re.compile(r"^Mô hình .* \(notebook \d\d\): tệp .*$", re.MULTILINE)


def headlines(notebook) -> list[str]:
    text = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            value = output.get("text", "")
            text.append("".join(value) if isinstance(value, list) else value)
    return HEADLINE.findall("\n".join(text))


@pytest.mark.skipif(not mnist_on_disk(), reason="class mode needs MNIST on disk: set VIETAI_DATA to the folder of MNIST/raw")
@pytest.mark.skipif(not reference.manifest(), reason="the reference run's files are not in vietai_compress/reference")
@pytest.mark.parametrize("name", ["06_huffman_and_storage", "08_lenet5_conv", "10_deployment_and_speed"])
def test_class_mode_prints_the_committed_headlines(name, tmp_path, monkeypatch):
    path = NOTEBOOKS / f"{name}.ipynb"
    committed = headlines(json.loads(path.read_text(encoding="utf-8")))
    assert committed, f"{path.name} has no committed headline line"
    monkeypatch.setenv("VIETAI_QUICK", "0")
    monkeypatch.setenv("VIETAI_ARTIFACTS", str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    assert headlines(notebook) == committed
