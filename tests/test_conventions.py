"""Conventions of the test suite itself that a reader relies on.

Shared helpers live in ``conftest.py`` files or in helper modules (``tests/waiting.py``,
``tests/prometheus_api.py``, ``tests/server/webusers.py``...), never in a ``test_*.py``
file: a test module imported by another one runs its module-level code twice under two
names, and moving or deleting a test silently breaks an unrelated one.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_test_module_imports_another_test_module() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for module in sorted(_imported_modules(path))
        if module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_")
    ]
    assert offenders == [], "move the shared helper into a helper module: " + "; ".join(offenders)
