"""Checks on the committed example notebooks that need no kernel (nbval runs them separately).

The notebooks themselves run under nbval (see example_notebooks/README.md); these tests keep
what nbval cannot see in shape: the committed files are small, carry no widget state or timing
metadata, were executed top to bottom without errors, explain every ignored output, print
nothing on stderr where nbval compares, and write their studies to a temporary directory.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "example_notebooks"
EXPECTED = [
    "01_quickstart.ipynb",
    "02_optuna_objectives_on_spark.ipynb",
    "03_pruning_pytorch.ipynb",
    "04_multi_objective.ipynb",
    "05_resume_and_failures.ipynb",
    "06_spark_cluster.ipynb",
    "07_spark_on_kubernetes.ipynb",
]
MAX_BYTES = 200_000
IGNORE = "NBVAL_IGNORE_OUTPUT"


def _ignored(cell: nbformat.NotebookNode) -> bool:
    """nbval's own rule: a comment line that is exactly the marker."""
    return any(line.strip().lstrip("#").strip() == IGNORE for line in cell.source.splitlines())


def _code_cells(path: Path) -> list[nbformat.NotebookNode]:
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_expected_notebooks_exist_and_the_readme_lists_them() -> None:
    found = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))
    assert found == EXPECTED
    readme = (NOTEBOOK_DIR / "README.md").read_text()
    for name in EXPECTED:
        assert name in readme, f"example_notebooks/README.md does not mention {name}"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_small_valid_and_clean(name: str) -> None:
    path = NOTEBOOK_DIR / name
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{name} is {size} bytes; keep committed outputs small"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb.metadata, "strip widget state before committing"
    for cell in nb.cells:
        assert "execution" not in cell.metadata, "strip per-cell timing metadata"
        assert "widgets" not in cell.metadata


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_was_executed_in_order_without_errors(name: str) -> None:
    counts = [c.execution_count for c in _code_cells(NOTEBOOK_DIR / name)]
    assert None not in counts, f"{name}: some cells were not executed"
    assert counts == sorted(counts), f"{name}: cells were not executed top to bottom"
    for cell in _code_cells(NOTEBOOK_DIR / name):
        assert all(o.output_type != "error" for o in cell.outputs), cell.source[:80]


@pytest.mark.parametrize("name", EXPECTED)
def test_ignored_outputs_are_explained_and_checks_are_real(name: str) -> None:
    cells = _code_cells(NOTEBOOK_DIR / name)
    compared_asserts = 0
    for cell in cells:
        lines = cell.source.splitlines()
        if _ignored(cell):
            i = next(
                i for i, line in enumerate(lines) if line.strip().lstrip("#").strip() == IGNORE
            )
            reason = lines[i + 1].strip() if i + 1 < len(lines) else ""
            assert reason.startswith("#") and len(reason) > 10, (
                f"{name}: say why under '# {IGNORE}' in:\n{cell.source[:200]}"
            )
        else:
            compared_asserts += sum(1 for line in lines if line.lstrip().startswith("assert "))
            for out in cell.outputs:
                assert not (out.output_type == "stream" and out.name == "stderr"), (
                    f"{name}: stderr in a compared cell makes nbval flaky: {out.text[:200]!r}"
                )
    assert compared_asserts >= 2, f"{name}: assert what matters in cells nbval compares"


@pytest.mark.parametrize("name", EXPECTED)
def test_outputs_hold_no_plotly_bundle_or_widget_state(name: str) -> None:
    for cell in _code_cells(NOTEBOOK_DIR / name):
        for out in cell.outputs:
            data = out.get("data", {})
            assert "application/vnd.jupyter.widget-state+json" not in data
            html = data.get("text/html", "")
            assert len(html) < 20_000, f"{name}: a large HTML output (embedded plotly.js?)"


@pytest.mark.parametrize("name", EXPECTED)
def test_studies_go_to_a_temporary_directory(name: str) -> None:
    source = "\n".join(c.source for c in _code_cells(NOTEBOOK_DIR / name))
    assert "tempfile.mkdtemp(" in source and "shutil.rmtree(workdir)" in source
    # No study storage in the working directory (the package default is ./hpo_studies.journal).
    calls = [_call_args(source, m.end()) for m in re.finditer(r"\b(?:StudyRunner|Panel)\(", source)]
    assert calls, f"{name}: no StudyRunner(...) or Panel(...) found"
    for args in calls:
        assert "storage=" in args, f"{name}: pass storage= (a file in workdir): {args[:120]}"


def _call_args(source: str, start: int) -> str:
    """The text between the parenthesis opened just before ``start`` and its match."""
    depth = 1
    for i in range(start, len(source)):
        depth += {"(": 1, ")": -1}.get(source[i], 0)
        if depth == 0:
            return source[start:i]
    raise AssertionError("unbalanced parentheses")


def test_sanitize_file_has_valid_patterns() -> None:
    text = (NOTEBOOK_DIR / "nbval_sanitize.cfg").read_text()
    # nbval's own parser (nbval.plugin.get_sanitize_patterns).
    pairs = re.findall(r"^regex: (.*)$\n^replace: (.*)$", text, flags=re.M)
    assert len(pairs) >= 5
    for regex, _ in pairs:
        re.compile(regex)
    sample = '  File "/tmp/ipykernel_4242/272152574.py", line 9, in objective'
    for regex, replace in pairs:
        sample = re.sub(regex, replace, sample)
    assert sample == '  File "<notebook cell>", line 9, in objective'
