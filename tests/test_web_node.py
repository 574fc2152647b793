"""The JavaScript reader's own tests (tests/js, run by Node) on the files and answers the Python reader writes."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vcz_fixtures import write_node_fixtures

NODE = shutil.which("node")
JS_TESTS = sorted((Path(__file__).parent / "js").glob("*.test.mjs"))


@pytest.mark.skipif(NODE is None, reason="install Node.js 20 to run the JavaScript reader's tests (tests/js)")
def test_the_javascript_reader_passes_its_node_tests(tmp_path):
    write_node_fixtures(tmp_path)
    done = subprocess.run([NODE, "--test", *map(str, JS_TESTS)], env={**os.environ, "VCZ_FIXTURES": str(tmp_path)},
                          capture_output=True, text=True, timeout=300)
    summary = dict(re.findall(r"^# (pass|fail|skipped|cancelled) (\d+)$", done.stdout, flags=re.MULTILINE))
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert int(summary["pass"]) >= 40 and summary["fail"] == summary["skipped"] == summary["cancelled"] == "0"
