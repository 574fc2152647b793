"""The first cell of every notebook, run as on Google Colab: it installs the package, or says what to do."""
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _setup_cell(path: Path) -> str:
    return "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][1]["source"])


def _run_as_on_colab(tmp_path: Path, repo_url: str) -> subprocess.CompletedProcess:
    """Run the setup cell in a Python where vietai_compress is not importable and google.colab is loaded.

    ``-S`` skips site-packages' .pth files (the editable install of this checkout); site-packages itself
    stays on the path, for pip. pip installs into a target folder, without dependencies (torch is not needed
    to import the package) and without build isolation (no download).
    """
    target = tmp_path / "colab-site"
    script = ("import sys, types\n"
              "sys.modules['google.colab'] = types.ModuleType('google.colab')  # what Colab has loaded\n"
              "import importlib.util\n"
              "assert importlib.util.find_spec('vietai_compress') is None, 'the package must not be importable yet'\n"
              + _setup_cell(NOTEBOOKS[0])
              + "\nimport vietai_compress\nprint('imported from', vietai_compress.__file__)\n")
    env = {**os.environ, "VIETAI_REPO_URL": repo_url, "PIP_TARGET": str(target), "PIP_NO_DEPS": "1",
           "PIP_NO_BUILD_ISOLATION": "0",  # pip reads this as --no-build-isolation
           "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]])}
    return subprocess.run([sys.executable, "-S", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def test_every_notebook_has_the_same_setup_cell():
    assert len({_setup_cell(path) for path in NOTEBOOKS}) == 1


@pytest.mark.skipif(subprocess.run(["git", "-C", str(ROOT), "rev-parse"], capture_output=True).returncode != 0,
                    reason="needs a git checkout to install from")
def test_on_colab_the_setup_cell_installs_the_package_from_the_repository(tmp_path):
    done = _run_as_on_colab(tmp_path, f"file://{ROOT}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"imported from {tmp_path / 'colab-site'}" in done.stdout


def test_when_the_install_fails_the_reader_gets_vietnamese_guidance_and_a_clean_stop(tmp_path):
    done = _run_as_on_colab(tmp_path, f"file://{tmp_path / 'no-such-repository'}")
    assert done.returncode == 1
    assert "Không cài được gói vietai_compress" in done.stdout
    assert ".zip" in done.stdout and "drive.mount" in done.stdout
    assert "Traceback" not in done.stderr


def test_no_notebook_reads_a_file_that_only_the_repository_holds():
    # pip install git+... brings the package, not scripts/ or the repository root: measurements ship in the package
    for path in NOTEBOOKS:
        code = "".join("".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
                       if c["cell_type"] == "code")
        assert "repo_root" not in code and '"scripts"' not in code, path.name


@pytest.mark.skipif(subprocess.run(["git", "-C", str(ROOT), "rev-parse"], capture_output=True).returncode != 0,
                    reason="needs a git checkout to install from")
def test_an_installed_package_without_the_repository_finds_every_measurement(tmp_path):
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(target), f"git+file://{ROOT}"], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    script = ("import vietai_compress, vietai_compress.measured as m\n"
              "assert vietai_compress.__file__.startswith(sys.argv[1]), vietai_compress.__file__\n"
              "for name in ('beyond_the_paper', 'choose_teacher'):\n"
              "    assert m.load(name), name\n")
    done = subprocess.run([sys.executable, "-S", "-c", "import sys\n" + script, str(target)], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
