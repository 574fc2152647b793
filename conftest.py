"""Root pytest configuration.

Kernels started by nbval inherit this process's environment, so quick mode is
switched on here, before any notebook runs (see ../shared/NOTEBOOKS.md).

nbval runs each notebook's cells; here each notebook also runs the code of its exercises' worked
solutions afterwards, in the same kernel, so a solution cannot rot (tests/notebook_solutions.py).
"""
import os
import sys
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import IPyNbCell, IPyNbFile

sys.path.insert(0, str(Path(__file__).parent / "tests"))
from notebook_solutions import solution_code  # noqa: E402

os.environ.setdefault("VIETAI_QUICK", "1")


class NotebookWithSolutions(IPyNbFile):
    """nbval's notebook collector, plus one item per code solution, run after the notebook's own cells."""

    def collect(self):
        cells = list(super().collect())
        solutions = [code for cell in self.nb.cells if cell.cell_type == "markdown" for code in solution_code(cell.source)]
        cells += [IPyNbCell.from_parent(self, name=f"Solution {i}", cell_num=len(cells) + i - 1,
                                        cell=nbformat.v4.new_code_cell(code), options=defaultdict(bool, check=False))
                  for i, code in enumerate(solutions, start=1)]
        for cell in cells:  # pytest-xdist (--dist loadgroup): a notebook's cells run in order, in one kernel
            cell.add_marker(pytest.mark.xdist_group(self.path.name))
        yield from cells


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    collected = yield
    return [NotebookWithSolutions.from_parent(parent, path=file_path) if type(c) is IPyNbFile else c for c in collected]
