"""The management routes take their services from the typed `Services` holder that
`management_app` provides once (api/management/deps.py), never from the app's state."""

from __future__ import annotations

import ast
from pathlib import Path

MANAGEMENT = Path(__file__).parents[2] / "src" / "dockyard" / "api" / "management"


def _reads_app_state(tree: ast.AST) -> bool:
    """`<anything>.app.state`; `request.state` (per request, the gate's findings) is fine."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "state"
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "app"
        ):
            return True
    return False


def test_no_management_module_reads_the_app_state() -> None:
    reading = [
        path.name
        for path in sorted(MANAGEMENT.glob("*.py"))
        if _reads_app_state(ast.parse(path.read_text()))
    ]
    assert reading == [], f"take the services from deps.ServicesDep instead: {reading}"


def test_management_app_provides_its_services_once() -> None:
    tree = ast.parse((MANAGEMENT / "app.py").read_text())
    assigned_to_state = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Attribute)
        and target.value.attr == "state"
    ]
    assert assigned_to_state == [], "management_app must not put services in app.state"
