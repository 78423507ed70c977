"""The design rules that can be checked by reading the code (DESIGN.md, "How data flows")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from server.events import KINDS

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_server_domain_never_imports_realtime_or_jobs():
    offenders = []
    for path in (ROOT / "server").rglob("*.py"):
        if path.name == "app.py" and path.parent.name == "server":
            continue  # the composition root wires them together
        for name in imported_modules(path):
            if name.split(".")[0] in ("realtime", "jobs"):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_routes_write_no_sql_of_their_own():
    sql = re.compile(
        r"(?<![.\w])(?<!def )(select|update|delete|insert|text)\(|session\.(add|execute|delete)\("
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "server" / "routes").glob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if sql.search(line)
    ]
    assert offenders == []


def test_every_activity_kind_written_is_documented():
    written = set()
    for path in (ROOT / "server").rglob("*.py"):
        written.update(re.findall(r'"((?:visit|favorite|comment|download|cart|order)[a-z_]*)"',
                                  path.read_text()))
    recorded = {k for k in written if k in KINDS or "_" in k}
    undocumented = sorted(k for k in recorded if k not in KINDS and k.endswith(
        ("_added", "_removed", "_single", "_bulk", "_changed", "_placed")))
    assert undocumented == []
    assert all(description.strip() for description in KINDS.values())


def test_jobs_never_import_the_composition_root():
    """jobs/ holds job functions over server services; server/app.py wires the worker. An
    import of server.app from jobs/ would make the two a cycle again."""
    offenders = []
    for path in (ROOT / "jobs").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            offenders += [f"{path.relative_to(ROOT)} imports {name}" for name in names
                          if name == "server.app" or name.startswith("server.app.")]
    assert offenders == []
