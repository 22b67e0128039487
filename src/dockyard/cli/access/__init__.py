"""Access-control commands, in the spirit of `az acr`: login, the admin user's credentials,
users, role assignments, scope maps, tokens, anonymous pull, the audit log and signing keys.

They talk to a running registry over HTTP (`/oauth2/token` and the management API under
`/api/v1`, see cli/client.py), never to its database. One module a concept: login.py,
admin.py (the admin user), users.py, roles.py, scope_maps.py, tokens.py, registry.py
(anonymous pull, audit log, keys), webhooks.py and network_rules.py; common.py holds their
options and output helpers.
"""

from __future__ import annotations

import typer

from dockyard.cli.access.admin import admin_app, credential_app
from dockyard.cli.access.login import login, logout
from dockyard.cli.access.network_rules import network_rule_app
from dockyard.cli.access.registry import audit, config_app, keys_app
from dockyard.cli.access.roles import role_app
from dockyard.cli.access.scope_maps import scope_map_app
from dockyard.cli.access.tokens import token_app
from dockyard.cli.access.users import user_app
from dockyard.cli.access.webhooks import webhook_app
from dockyard.cli.conventions import aliased


def register(app: typer.Typer) -> None:
    """Add the access-control commands to the `dockyard` command."""
    app.command()(login)
    app.command()(logout)
    app.add_typer(credential_app, name="credential")
    app.add_typer(admin_app, name="admin")
    app.add_typer(user_app, name="user")
    app.add_typer(role_app, name="role")
    app.add_typer(scope_map_app, name="scope-map")
    app.add_typer(token_app, name="token")
    app.add_typer(config_app, name="config")
    app.command(cls=aliased({"--limit": "--top"}))(audit)
    app.add_typer(keys_app, name="keys")
    app.add_typer(webhook_app, name="webhook")
    app.add_typer(network_rule_app, name="network-rule")
