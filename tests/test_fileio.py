"""fileio: the generators' write-or-check step."""
import pytest


def test_write_or_check_writes_what_differs_and_check_exits_naming_it(tmp_path, capsys):
    from vietai_compress.fileio import write_or_check

    same, other = tmp_path / "same.md", tmp_path / "other.md"
    same.write_text("a")
    other.write_text("old")
    with pytest.raises(SystemExit, match="other.md not what the sources give: run make it"):
        write_or_check({same: "a", other: "new"}, True, "make it")
    assert other.read_text() == "old"
    assert write_or_check({same: "a", other: "new"}, False, "make it") == [other]
    assert other.read_text() == "new" and write_or_check({same: "a", other: "new"}, True, "make it") == []
