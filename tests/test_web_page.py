"""The web page in headless Chromium: the same answers as the Python runtime, drawings prepared as
``images.read_digit`` prepares them, corrupt files refused in the page, and the notebook's embedded copy."""
import base64
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from vcz_fixtures import flipped, python_verdict
from vietai_compress import browser, runtime, web
from vietai_compress.images import MNIST_MEAN, MNIST_STD, read_digit

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=f"headless Chromium {browser.missing()}")

WEB = Path(__file__).resolve().parents[1] / "web"
PAGE_FILES = web.PAGE_FILES
DIGITS = {  # strokes in canvas pixels (the canvas is 280 x 280)
    "seven": [[(80, 70), (200, 70), (160, 140), (120, 225)]],
    "one": [[(130, 80), (150, 50), (150, 230)]],
    "zero": [[(140 + 55 * np.sin(t), 140 - 85 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 25)]],
    "four": [[(170, 60), (80, 170), (205, 170)], [(170, 60), (170, 235)]],
}


def course_vcz_files() -> dict[str, Path]:
    """The course's LeNet-300-100 and LeNet-5 ``.vcz`` files (notebooks 06 and 08), the models the page opens."""
    return {"lenet300": WEB / "lenet300.vcz", "lenet5": WEB / "lenet5.vcz"}


@pytest.fixture(scope="session")
def models():
    return course_vcz_files()


@pytest.fixture(scope="session")
def site(tmp_path_factory, models):
    """The page's files and the models in one folder, served on 127.0.0.1: (folder, base URL)."""
    folder = tmp_path_factory.mktemp("site")
    for name in PAGE_FILES:
        shutil.copy(WEB / name, folder / name)
    for model, path in models.items():
        shutil.copy(path, folder / f"{model}.vcz")
    with browser.serve(folder) as url:
        yield folder, url


@pytest.fixture(scope="session")
def chrome(tmp_path_factory):
    driver = browser.chromium(tmp_path_factory.mktemp("profile"))
    yield driver
    driver.quit()


def open_page(chrome, url: str) -> None:
    chrome.get(url)
    wait_for(lambda: chrome.execute_script("return document.body.dataset.state") != "loading")


def wait_for(condition, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the page did not get there in time"
        time.sleep(0.05)


def draw(chrome, strokes, touch: bool = False) -> None:
    """Draw on the canvas with real pointer input: a mouse, or a finger with ``touch``."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.common.by import By

    pad = chrome.find_element(By.ID, "pad")
    for stroke in strokes:
        kind = interaction.POINTER_TOUCH if touch else interaction.POINTER_MOUSE
        actions = ActionBuilder(chrome, mouse=PointerInput(kind, "finger" if touch else "mouse"), duration=20)
        at = [(round(x) - 140, round(y) - 140) for x, y in stroke]  # offsets from the canvas's centre
        actions.pointer_action.move_to(pad, *at[0]).pointer_down()
        for point in at[1:]:
            actions.pointer_action.move_to(pad, *point)
        actions.pointer_action.pointer_up()
        actions.perform()


def page_state(chrome) -> dict:
    return chrome.execute_script("""
        const page = window.vczPage, text = (id) => document.getElementById(id).textContent;
        return {png: document.getElementById('pad').toDataURL('image/png'), input: page.input && Array.from(page.input),
                logProbs: page.logProbs && Array.from(page.logProbs), state: document.body.dataset.state,
                top3: [...document.querySelectorAll('#top3 b')].map((b) => Number(b.textContent)),
                error: document.getElementById('error').hidden ? null : text('error'),
                modelBytes: text('model-bytes'), pageBytes: text('page-bytes'), predictTime: text('predict-time')};""")


def page_log_probs(chrome, model: str, images: str) -> np.ndarray:
    """web/vcz.js in the page: the model file's log-probabilities for the images file (float32 (N, 784))."""
    answer = chrome.execute_async_script("""
        const [modelUrl, imagesUrl, done] = arguments;
        const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
        import('./vcz.js').then(async ({ load }) => {
          const images = new Float32Array((await bytes(imagesUrl)).buffer);
          const logProbs = load(await bytes(modelUrl), modelUrl).logProbs(images);
          const raw = new Uint8Array(logProbs.buffer);
          let text = '';
          for (let i = 0; i < raw.length; i += 0x8000) text += String.fromCharCode(...raw.subarray(i, i + 0x8000));
          done(btoa(text));
        }).catch((err) => done('error: ' + err.message));""", model, images)
    assert not answer.startswith("error"), answer
    return np.frombuffer(base64.b64decode(answer), dtype=np.float32).reshape(-1, 10)


def test_the_page_gives_the_python_runtimes_answers_on_the_mnist_test_set(chrome, site, models):
    from vietai_compress.data import load_mnist, mnist_on_disk

    if not mnist_on_disk():
        pytest.skip("needs MNIST on disk (VIETAI_DATA=<folder holding MNIST/raw/>) for the 10,000 test images")
    folder, url = site
    images = load_mnist(False, download=False)[0].numpy().reshape(-1, 784)
    (folder / "mnist_test.bin").write_bytes(images.astype(np.float32).tobytes())
    open_page(chrome, f"{url}/index.html")
    for model, path in models.items():
        got, want = page_log_probs(chrome, f"{model}.vcz", "mnist_test.bin"), runtime.load(path).log_probs(images)
        assert got.shape == (10_000, 10) and np.abs(got - want).max() < 1e-4, model
        differ = got.argmax(axis=1) != want.argmax(axis=1)
        top2 = np.sort(want, axis=1)[:, -2:]
        assert np.all(top2[differ, 1] - top2[differ, 0] < 2e-4), f"{model}: {differ.sum()} digits differ"


@pytest.mark.parametrize("model", ["lenet300", "lenet5"])
def test_a_drawing_is_prepared_and_answered_as_python_does(chrome, site, models, tmp_path, model):
    from selenium.webdriver.common.by import By

    folder, url = site
    open_page(chrome, f"{url}/index.html?model={model}.vcz")
    python_runtime = runtime.load(models[model])
    for i, (name, strokes) in enumerate(DIGITS.items()):
        chrome.find_element(By.ID, "clear").click()
        draw(chrome, strokes, touch=i == 1)
        state = page_state(chrome)
        png = tmp_path / f"{name}.png"
        png.write_bytes(base64.b64decode(state["png"].split(",", 1)[1]))
        expected = read_digit(png)
        assert np.abs(np.float32(state["input"]) - expected.ravel()).max() * MNIST_STD <= 1 / 255, name
        digit = int(python_runtime.predict(expected[None])[0][0])
        assert int(np.argmax(state["logProbs"])) == digit == state["top3"][0], name
        assert len(state["top3"]) == 3 and state["predictTime"].endswith(" ms") and state["error"] is None


@pytest.mark.parametrize("model", ["lenet300", "lenet5"])
def test_the_page_states_the_bytes_it_loaded_and_fetches_only_its_model(chrome, site, model):
    folder, url = site
    open_page(chrome, f"{url}/index.html?model={model}.vcz")
    state = page_state(chrome)
    model_bytes = (folder / f"{model}.vcz").stat().st_size
    assert int("".join(filter(str.isdigit, state["modelBytes"]))) == model_bytes
    assert int("".join(filter(str.isdigit, state["pageBytes"]))) == \
        model_bytes + sum((folder / name).stat().st_size for name in PAGE_FILES)


def test_a_bad_file_from_the_file_picker_is_an_error_in_vietnamese_and_the_page_goes_on(chrome, site, tmp_path):
    from selenium.webdriver.common.by import By

    folder, url = site
    open_page(chrome, f"{url}/index.html?model=lenet300.vcz")
    bad = tmp_path / "hỏng.vcz"
    data = bytearray((folder / "lenet300.vcz").read_bytes())
    data[-1] ^= 0x01
    bad.write_bytes(bytes(data))
    chrome.find_element(By.ID, "file").send_keys(str(bad))
    wait_for(lambda: page_state(chrome)["error"] is not None)
    assert page_state(chrome)["error"].startswith("Không đọc được tệp mô hình «hỏng.vcz». Trang vẫn dùng mô hình")
    assert "Lý do kỹ thuật: hỏng.vcz is corrupt (checksum mismatch)" in page_state(chrome)["error"]
    draw(chrome, DIGITS["one"])
    assert len(page_state(chrome)["top3"]) == 3  # the model before it still answers
    chrome.find_element(By.ID, "file").send_keys(str(folder / "lenet5.vcz"))
    wait_for(lambda: page_state(chrome)["state"] == "ready")
    assert "LeNet-5" in chrome.find_element(By.ID, "model").text and page_state(chrome)["error"] is None


def test_corrupt_files_give_an_error_or_a_finite_answer_and_the_page_stays_responsive(chrome, site, models):
    folder, url = site
    open_page(chrome, f"{url}/index.html?model=lenet300.vcz")
    draw(chrome, DIGITS["seven"])
    data = models["lenet300"].read_bytes()
    rng = np.random.default_rng(0)
    positions = sorted({*range(0, 60, 3), *rng.choice(np.arange(60, len(data)), 30, replace=False).tolist()})
    for position in positions:
        changed = flipped(data, position)
        start = time.perf_counter()
        ok = chrome.execute_script("return window.vczPage.useModel(Uint8Array.from(atob(arguments[0]), "
                                   "(c) => c.charCodeAt(0)), 'changed.vcz')", base64.b64encode(changed).decode())
        assert time.perf_counter() - start < 5, f"byte {position}"
        state = page_state(chrome)
        if ok:
            assert np.isfinite(state["logProbs"]).all() or state["error"].startswith("Mô hình không tính được")
        else:
            assert state["error"].startswith("Không đọc được tệp mô hình «changed.vcz»"), state["error"]
        blank = python_verdict(changed, np.full((1, 784), -MNIST_MEAN / MNIST_STD, np.float32))  # the page's first call
        assert ok == (blank is not None and np.isfinite(blank).all()), f"byte {position}"
        assert chrome.execute_script("return 1 + 1") == 2


def test_the_notebooks_embedded_page_runs_without_a_server(chrome, site, models):
    from selenium.webdriver.common.by import By

    folder, url = site
    notebook = "<!doctype html><meta charset='utf-8'><body>" + web.show(models["lenet300"]).data
    (folder / "notebook.html").write_text(notebook, encoding="utf-8")
    chrome.get(f"{url}/notebook.html")
    chrome.switch_to.frame(chrome.find_element(By.TAG_NAME, "iframe"))
    try:
        wait_for(lambda: chrome.execute_script("return document.body.dataset.state") == "ready")
        draw(chrome, DIGITS["zero"])
        state = page_state(chrome)
        assert len(state["top3"]) == 3 and state["error"] is None
        assert int("".join(filter(str.isdigit, state["modelBytes"]))) == models["lenet300"].stat().st_size
    finally:
        chrome.switch_to.default_content()
