"""The package's layout: layers, no import circle, short functions and modules, public API.

The layers are declared once, as an import-linter contract in ``pyproject.toml``; these
tests run it and check what it cannot: circles inside a layer, sizes, and that the
benchmarks use nothing private of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dos_estimators"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 450


def test_the_layers_contract_holds_and_lists_no_exception():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for contract in contracts["contracts"]:
        assert "ignore_imports" not in contract, contract["name"]
        assert not contract.get("unmatched_ignore_imports_alerting"), contract["name"]
    from importlinter.cli import lint_imports

    exit_code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    assert exit_code == 0, "lint-imports found an import against the layers (its report above)"


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_through_others():
    # Imports inside functions and under TYPE_CHECKING count: grimp reads them all.
    graph = grimp.build_graph("dos_estimators")
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _circles(edges) == []


def test_no_module_imports_the_package_root():
    # The root's __init__ re-exports every layer: importing it from inside is an upward
    # arrow that the layers contract (whose container is the root) does not see.
    graph = grimp.build_graph("dos_estimators")
    importers = sorted(graph.find_modules_that_directly_import("dos_estimators"))
    assert importers == []


def test_circle_finder_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _code_lines(source_lines: list[str], node: ast.AST) -> int:
    """Lines of code of a function: no docstring, blank or comment-only line."""
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    lines = set()
    for statement in body:
        lines.update(range(statement.lineno, statement.end_lineno + 1))
    return sum(
        1
        for n in lines
        if source_lines[n - 1].strip() and not source_lines[n - 1].strip().startswith("#")
    )


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_no_function_is_longer_than_60_lines_of_code():
    long = []
    for path in _modules():
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = _code_lines(lines, node)
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n})")
    assert long == []


def test_no_module_is_longer_than_450_lines():
    long = [
        f"{path.relative_to(ROOT)} ({n})"
        for path in _modules()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []


def _private_uses(source: str) -> list[str]:
    """Private names of dos_estimators that ``source`` imports, and ``._name`` attributes."""
    uses = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dos_estimators"):
            parts = node.module.split(".") + [alias.name for alias in node.names]
            if any(part.startswith("_") and not part.startswith("__") for part in parts):
                uses.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dos_estimators") and any(
                    part.startswith("_") for part in alias.name.split(".")
                ):
                    uses.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                uses.append(f"line {node.lineno}: .{node.attr}")
    return uses


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks").rglob("*.py")), ids=lambda p: p.name)
def test_benchmarks_use_only_the_public_api(path):
    assert _private_uses(path.read_text()) == []


def test_the_private_name_check_sees_imports_and_attributes():
    source = (
        "from dos_estimators.datasets._phonon import X\n"
        "from dos_estimators import _cpu\n"
        "model._inputs(x)\n"
        "from dos_estimators import load_model\n"
    )
    assert len(_private_uses(source)) == 3
