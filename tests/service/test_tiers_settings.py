"""The tiers wing is the one place that knows what the rows of `registry_settings` mean: the
access wing asks it for anonymous pull and the admin user's switch and generation."""

from __future__ import annotations

import ast
from pathlib import Path

from dockyard.storage.db.database import Database
from dockyard.tiers.settings import (
    AdminStatus,
    admin_enabled,
    admin_status,
    anonymous_pull_enabled,
    bump_admin_generation,
    load_policies,
    set_admin_enabled,
    set_anonymous_pull,
)

SOURCE = Path(__file__).parents[2] / "src" / "dockyard"
OWNERS = ("tiers", "storage")  # the wing that gives the rows meaning; the table itself


def _names_the_table(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(
            alias.name == "registry_settings" for alias in node.names
        ):
            return True
        if isinstance(node, ast.Name | ast.Attribute) and "registry_settings" in (
            node.id if isinstance(node, ast.Name) else node.attr
        ):
            return True
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "registry_settings" in node.value
        ):
            return True
    return False


def test_no_module_outside_tiers_and_storage_names_registry_settings() -> None:
    outside = [
        str(path.relative_to(SOURCE))
        for path in sorted(SOURCE.rglob("*.py"))
        if path.relative_to(SOURCE).parts[0] not in OWNERS
        and _names_the_table(ast.parse(path.read_text()))
    ]
    assert outside == [], f"ask dockyard.tiers.settings for these rows instead: {outside}"


def test_anonymous_pull_is_read_as_policies_read_it(database: Database) -> None:
    with database.read() as conn:
        assert anonymous_pull_enabled(conn) is False
    with database.write() as conn:
        set_anonymous_pull(conn, True)
    with database.read() as conn:
        assert anonymous_pull_enabled(conn) is True
        assert load_policies(conn).anonymous_pull is True
    with database.write() as conn:
        set_anonymous_pull(conn, False)
    with database.read() as conn:
        assert anonymous_pull_enabled(conn) is False


def test_admin_switch_and_generation(database: Database) -> None:
    with database.read() as conn:
        assert admin_status(conn) == AdminStatus(enabled=False, generation=0)
    with database.write() as conn:
        set_admin_enabled(conn, True)
        bump_admin_generation(conn)
        bump_admin_generation(conn)
    with database.read() as conn:
        assert admin_enabled(conn) is True
        assert admin_status(conn) == AdminStatus(enabled=True, generation=2)
    with database.write() as conn:
        set_admin_enabled(conn, False)
    with database.read() as conn:
        assert admin_enabled(conn) is False
        assert admin_status(conn) == AdminStatus(enabled=False, generation=2)
