"""examples/notebook.ipynb, executed cell by cell in a real IPython kernel (nbclient)
against the built-in emulator: rhbatch.run where an event loop already runs, run_async
awaited at the top level, InvalidSpec, rhbatch.open and to_pandas."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import ROOT


def test_the_example_notebook_runs_in_a_kernel(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed")
    notebook = nbformat.read(ROOT / "examples" / "notebook.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    client.execute()  # a cell that raises fails the test with the cell and its traceback
    text = "\n".join(
        str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "{'succeeded': 3}" in text
    assert "fox succeeded a paper fox, studio light" in text
    assert "'submitted'" in text
    assert "did you mean" in text or "promt" in text
    assert (tmp_path / "out" / "notebook" / "manifest.jsonl").is_file()
    assert (tmp_path / "out" / "events" / "manifest.jsonl").is_file()
