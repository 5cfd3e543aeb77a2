"""The floors of the code (README "Package map"): a lower package never imports a higher one, not
even inside a function, and a function-level import says why it is one."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import grimp

from tests.conftest import ROOT


def test_each_floor_imports_only_the_floors_below_it():
    """The import-linter contract in pyproject.toml; grimp sees imports inside functions too."""
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", str(ROOT / "pyproject.toml")]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_worker_imports_the_app_factory():
    """``lms`` itself (create_app) sits above every floor: a package that imported it would depend on
    all of them. The job worker's entry point builds the app; nothing else in lms imports it."""
    graph = grimp.build_graph("lms", cache_dir=None)
    assert graph.find_modules_that_directly_import("lms") == {"lms.worker"}


def _function_level_imports(tree: ast.AST) -> set[ast.stmt]:
    return {inner for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for inner in ast.walk(node) if isinstance(inner, ast.Import | ast.ImportFrom)}


def test_every_function_level_import_gives_its_reason():
    """Imports inside functions only break a real cycle or defer a heavy module, and say which: a
    comment on the import's line, or on the line above the run of imports it belongs to."""
    missing = []
    for path in sorted((ROOT / "lms").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        nodes = sorted(_function_level_imports(ast.parse("\n".join(lines), str(path))), key=lambda n: n.lineno)
        starts = {}  # an import's line → the first line of the run of imports it belongs to
        ends = {node.end_lineno: node for node in nodes}
        for node in nodes:
            before = ends.get(node.lineno - 1)
            starts[node.lineno] = starts[before.lineno] if before is not None else node.lineno
        for node in nodes:
            own = _reason(lines[node.lineno - 1].partition("#")[2])
            above = lines[starts[node.lineno] - 2].strip() if starts[node.lineno] > 1 else ""
            if own or (above.startswith("#") and _reason(above[1:])):
                continue
            missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not missing, "function-level imports without a reason:\n" + "\n".join(missing)


def _reason(comment: str) -> bool:
    """A comment that says something besides silencing the linter."""
    return bool(re.sub(r"noqa(:\s*[A-Z0-9, ]+)?", "", comment).strip(" #()"))
