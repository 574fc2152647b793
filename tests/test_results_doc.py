"""docs/results.md is printed from the measurement files and the committed notebooks, so it cannot drift."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_results_document_is_what_its_sources_give():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "results_tables.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_readme_is_short_and_points_to_the_details():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme) < 10_000
    assert "docs/results.md" in readme and "CHANGELOG.md" in readme and (ROOT / "CHANGELOG.md").is_file()
