"""The package's shape: its layers run one way, its imports sit at the top of its modules (but
for a short list, each with its reason), and the wheel holds ``autoagent`` and nothing else."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "autoagent"

DEFERRED = {
    # (importer, imported): why the import waits for the function that needs it
    ("autoagent.spec", "autoagent.spec.validate"): "status needs the models, not Jinja2",
    ("autoagent.agents.llm", "autoagent.agents.provider"): "a spec with an llm step validates"
    " without Prefect (2.5 s); a request loads it",
    ("autoagent.cli.missions", "autoagent.spec.validate"): "CLI latency: --help",
    ("autoagent.cli.missions", "autoagent.cli.running"): "CLI latency: Prefect, after connect",
    ("autoagent.cli.missions", "autoagent.cli.showing"): "CLI latency: status, Prefect-free",
    ("autoagent.cli.missions", "autoagent.cli.listing"): "CLI latency: list, no spec models",
    ("autoagent.cli.missions", "autoagent.server.tags"): "CLI latency: --help",
    ("autoagent.cli.server", "autoagent.server.exporter"): "CLI latency: --help",
    ("autoagent.cli.output", "autoagent.server.connection"): "CLI latency: --help, validate",
    ("autoagent.cli.output", "autoagent.server.records"): "CLI latency: --help",
    ("autoagent.cli.output", "autoagent.spec.loader"): "CLI latency: --help",
    ("autoagent.cli.server", "autoagent.server.connection"): "CLI latency: --help",
    ("autoagent.cli.server", "autoagent.server.local"): "CLI latency: --help",
    ("autoagent.cli.server", "autoagent.engine.automations"): "Prefect, after connect",
}
"""Every import of AutoAgent's own modules inside a function. The CLI's keep ``--help``,
``validate``, ``status`` and ``list`` from importing Prefect (bench/cli_latency.py measures them);
none of them dodges an import cycle: the layers contract holds with them counted."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _deferred_imports() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module + "." + a.name for a in node.names]
                    names = [n if _is_module(n) else node.module for n in names]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                importer = _module_name(path)
                found |= {(importer, n) for n in names if n.split(".")[0] == "autoagent"}
    return found


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (ROOT / relative).with_suffix(".py").is_file() or (ROOT / relative).is_dir()


def test_the_layers_run_one_way_and_no_package_has_an_import_cycle():
    """design.md section 3, as pyproject.toml's import-linter contracts state it."""
    linter = Path(sys.executable).with_name("lint-imports")
    ran = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "2 kept, 0 broken" in ran.stdout, ran.stdout


def test_imports_inside_functions_are_only_the_listed_ones():
    assert _deferred_imports() == set(DEFERRED)


@pytest.mark.slow
def test_the_wheel_holds_only_autoagent(tmp_path: Path):
    """Built from a copy of the sources (a checkout's other folders beside it, as in a clone)."""
    source = tmp_path / "source"
    junk = (".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", ".build", "results")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*junk))
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    [wheel] = tmp_path.glob("autoagent-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"autoagent"}, sorted(tops)
