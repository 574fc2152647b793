"""The course page's tables and the notebooks' time lines are what the measurements and committed outputs give."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_course_page_and_time_lines_follow_their_sources():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "course_page.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_course_page_cites_the_article_by_its_title():
    page = (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")
    assert "Ông Toằn Vi Lốc - Bí kíp võ công để tạo mô hình siêu siêu nhỏ li ti với độ chính xác khổng lồ" in page
    assert "VietAI" not in page and "Nén mạng nơ-ron" not in page
