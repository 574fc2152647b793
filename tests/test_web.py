"""web.show: the page with its scripts and a model inline, for a notebook's output."""
import base64
import html
import re
import shutil
import subprocess
import sys

import pytest

from vcz_fixtures import fixture_files
from vietai_compress import web

NODE = shutil.which("node")


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "lenet300.vcz"
    path.write_bytes(fixture_files()["lenet300_narrow.vcz"])
    return path


def test_the_page_carries_the_models_bytes(model):
    page = web.standalone_page(model)
    found = re.search(r'<script id="vcz-model" type="application/octet-stream" data-name="lenet300.vcz">'
                      r'([^<]*)</script>', page)
    assert base64.b64decode(found.group(1)) == model.read_bytes()


def test_the_page_carries_every_script_inline_and_loads_no_file(model):
    page = web.standalone_page(model)
    for name in ("vcz.js", "digit.js", "page.js"):
        body = (web.web_folder() / name).read_text(encoding="utf-8")
        declarations = re.findall(r"^export (?:function|class|const) \w+", body, flags=re.MULTILINE)
        assert all(d.removeprefix("export ") in page for d in declarations) and "function " in body
    assert 'src="' not in page and "preload" not in page
    assert "import " not in web.inline_script() and "export " not in web.inline_script()
    assert page.count("<script") == 2


def test_show_is_an_iframe_whose_document_is_the_page(model):
    shown = web.show(model, height=500)
    source = re.fullmatch(r'<div><iframe srcdoc="([^"]*)" sandbox="allow-scripts" .*height: 500px; border: 0">'
                          r'</iframe></div>', shown.data)
    assert html.unescape(source.group(1)) == web.standalone_page(model)


def test_show_refuses_a_file_the_page_cannot_run_and_a_bad_height(tmp_path, model):
    bad = tmp_path / "bad.vcz"
    bad.write_bytes(b"PK" + model.read_bytes()[2:])
    with pytest.raises(ValueError, match="wrong magic"):
        web.show(bad)
    with pytest.raises(ValueError, match="height"):
        web.show(model, height=100)
    with pytest.raises(TypeError, match="height"):
        web.show(model, height="640")


@pytest.mark.skipif(NODE is None, reason="install Node.js 20 to check the inline script (tests/js)")
def test_the_inline_script_is_one_valid_module(tmp_path):
    script = tmp_path / "page.mjs"
    script.write_text(web.inline_script(), encoding="utf-8")
    done = subprocess.run([NODE, "--check", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_web_module_imports_no_torch(model):
    code = (f"import sys; from vietai_compress import web; web.standalone_page({str(model)!r}); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(NODE is None, reason="install Node.js 20 to run the JavaScript reader")
def test_node_log_probs_match_the_python_runtime(model):
    import numpy as np

    from vietai_compress import runtime

    images = np.random.default_rng(0).normal(size=(7, 1, 28, 28)).astype(np.float32)
    log_probs, nonzeros = web.node_log_probs(model, images)
    assert log_probs.shape == (7, 10)
    assert np.abs(log_probs - runtime.load(model).log_probs(images)).max() < 1e-4
    assert nonzeros == sum(int(np.count_nonzero(layer.weight)) for layer in runtime.load(model).layers)


@pytest.mark.skipif(NODE is None, reason="install Node.js 20 to run the JavaScript reader")
def test_node_log_probs_refuse_a_corrupt_file_and_bad_images(tmp_path, model):
    import numpy as np

    bad = tmp_path / "bad.vcz"
    bad.write_bytes(model.read_bytes()[:-3])
    with pytest.raises(ValueError, match="refused"):
        web.node_log_probs(bad, np.zeros((1, 784), np.float32))
    with pytest.raises(ValueError, match="784"):
        web.node_log_probs(model, np.zeros((1, 700), np.float32))
