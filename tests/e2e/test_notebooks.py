"""The notebooks of notebooks/, executed end to end (nbclient) on the embedded default: no
PREFECT_API_URL, no server started by hand (the local server of the shared home serves them)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _execute(name: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run every cell; the text of each code cell's outputs."""
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.setenv("AUTOAGENT_HOME", str(tmp_path / "autoagent-home"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": NOTEBOOKS}}
    )
    client.execute()
    texts = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            texts.append(json.dumps(cell.get("outputs", [])))
    return texts


def test_the_quickstart_runs_a_mission_in_code_and_plots_it(embedded_home, tmp_path, monkeypatch):
    outputs = _execute("quickstart.ipynb", embedded_home, tmp_path, monkeypatch)
    ran = outputs[2]
    assert "Completed" in ran and "history of durability" in ran, ran
    table = outputs[3]
    for path in ("gather-history", "gather-practice", "count", "breathe"):
        assert path in table, table
    assert "image/png" in outputs[4]  # the plot of step timings


def test_the_spec_notebook_validates_runs_and_answers_an_approval(
    embedded_home, tmp_path, monkeypatch
):
    outputs = _execute("specs_and_approvals.ipynb", embedded_home, tmp_path, monkeypatch)
    assert "unknown agent 'shel'" in outputs[1] and "unknown step 'fech'" in outputs[1]
    assert outputs[2].count("[]") == 1  # the demo spec is valid
    assert "review" in outputs[3] and "approval" in outputs[3]
    assert "Completed" in outputs[5] and "looks good" in outputs[5]
    assert "publish" in outputs[6]
