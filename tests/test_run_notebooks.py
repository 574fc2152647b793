"""scripts/run_notebooks.py: the TRAIN switch, the headline lines it compares, the packed checkpoints it ships."""
import importlib.util
from pathlib import Path

import nbformat
import torch

from vietai_compress import reference
from vietai_compress.checkpoints import save_checkpoint
from vietai_compress.models import LeNet300100

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run_notebooks.py"
spec = importlib.util.spec_from_file_location("run_notebooks", SCRIPT)
run_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_notebooks)


def test_the_train_switch_turns_on_only_the_settings_cells_train():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("TRAIN = False"),
                                               nbformat.v4.new_code_cell("QUICK = 1\nTRAIN = False  # note"),
                                               nbformat.v4.new_code_cell("TRAIN = False")])
    switched = run_notebooks.with_train_switch(notebook, train=True)
    assert [c.source for c in switched.cells] == ["TRAIN = False", "QUICK = 1\nTRAIN = True  # note", "TRAIN = False"]


def test_solutions_run_after_the_cells_and_a_slow_one_is_interrupted_not_fatal():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell("<details>\n\n```python\nprint(x + 1)\n```\n\n</details>")])
    cells = run_notebooks.with_solutions(notebook).cells
    assert [c.source for c in cells[2:]] == ["print(x + 1)\n"]
    assert run_notebooks._timeout(cells[2]) == run_notebooks.SOLUTION_SECONDS
    assert run_notebooks._timeout(cells[0]) is None and "raises-exception" in cells[2].metadata["tags"]


def test_headlines_are_found_among_other_outputs():
    line = ("Mô hình LeNet-300-100, công thức của bài viết (notebook 06): tệp a.vcz, 19,925 byte, nhỏ hơn 53.5 lần, "
            "độ chính xác kiểm tra 98.09%")
    drift = "Adam (trạng thái cũ)       : 1,234 trọng số đã cắt bị đẩy khỏi 0"
    assert run_notebooks.headlines(f"xin chào\n{line}\nMô hình khác\n{drift}\n") == [line, drift]


def test_a_shipped_checkpoint_unpacks_to_the_same_tensors(tmp_path):
    model = LeNet300100()
    with torch.no_grad():
        model.fc1.mask[:, ::3] = 0
        model.fc1.weight.mul_(model.fc1.mask)
    path = save_checkpoint(model, tmp_path / "m.pt", seconds=12.5)
    data = run_notebooks.packed_bytes(path)
    assert len(data) < path.stat().st_size
    (tmp_path / "packed.pt").write_bytes(data)
    back = reference.unpack(torch.load(tmp_path / "packed.pt", weights_only=True))["state_dict"]
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())
    assert run_notebooks.training_seconds(path) == 12.5


def test_an_optimizer_state_is_shipped_only_when_asked(tmp_path):
    model = LeNet300100()
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 1, 28, 28)).sum().backward()
    optimizer.step()
    path = save_checkpoint(model, tmp_path / "m.pt", optimizer)
    (tmp_path / "with.pt").write_bytes(run_notebooks.packed_bytes(path, optimizer=True))
    (tmp_path / "without.pt").write_bytes(run_notebooks.packed_bytes(path, optimizer=False))
    assert "optimizer" in torch.load(tmp_path / "with.pt", weights_only=True)
    assert "optimizer" not in torch.load(tmp_path / "without.pt", weights_only=True)
