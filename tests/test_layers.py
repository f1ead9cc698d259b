"""The layer rules of DESIGN.md that can be checked mechanically.

The sandbox and the client side meet only over HTTPS: ``toolkit.sandbox`` imports nothing from the client side,
and the client side never imports ``toolkit.sandbox`` (it starts it as a process).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLKIT = ROOT / "toolkit"
SANDBOX = TOOLKIT / "sandbox"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = ".".join(path.relative_to(ROOT).with_suffix("").parts[: -node.level])
                found.add(f"{package}.{node.module}" if node.module else package)
            elif node.module:
                found.add(node.module)
    return found


def test_sandbox_imports_nothing_from_the_client_side() -> None:
    offenders = {}
    for path in SANDBOX.rglob("*.py"):
        bad = {m for m in imported_modules(path)
               if (m == "toolkit" or m.startswith("toolkit."))
               and not (m == "toolkit.sandbox" or m.startswith("toolkit.sandbox."))}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_client_side_never_imports_the_sandbox() -> None:
    offenders = {}
    for path in TOOLKIT.rglob("*.py"):
        if SANDBOX in path.parents:
            continue
        bad = {m for m in imported_modules(path) if m == "toolkit.sandbox" or m.startswith("toolkit.sandbox.")}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_the_checks_see_real_imports() -> None:
    """Guard against a vacuous pass: the walker does find the sandbox's own imports."""
    assert "toolkit.sandbox.app" in imported_modules(SANDBOX / "server.py")
    assert "toolkit.sandbox_process" in imported_modules(TOOLKIT / "launch.py")
