"""The tiers wing: the settings rows read into Policies, each tier's counted limits and offered
features held against a registry's use, and the rows written back, on a real database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import insert

from dockyard.errors import Denied
from dockyard.spec.ip_ranges import DefaultAction
from dockyard.storage.db.database import Database
from dockyard.storage.db.migrate import upgrade
from dockyard.storage.db.schema import webhooks
from dockyard.storage.db.settings import read_settings, write_setting
from dockyard.tiers.limits import check_tier_room, room_for_one_more, tier_counts, violations
from dockyard.tiers.settings import (
    DEFAULT_RETENTION_DAYS,
    Policies,
    load_policies,
    mark_retention_since,
    retention_since,
    write_policies,
)
from dockyard.tiers.table import DEFAULT_SKU, TIERS, Sku
from tests.conftest import fresh_database_url

COUNTED = ("webhooks", "scope_maps", "tokens", "ip_rules")
NOTHING = dict.fromkeys(COUNTED, 0)


def _policies(sku: Sku, **changes: object) -> Policies:
    return replace(Policies.from_settings({"sku": sku.value}), **changes)  # type: ignore[arg-type]


def test_no_rows_read_as_the_default_tier_with_every_policy_off() -> None:
    policies = Policies.from_settings({})
    assert policies.sku == DEFAULT_SKU
    assert policies.limits == TIERS[DEFAULT_SKU]
    assert not policies.anonymous_pull
    assert not policies.immutable_tags
    assert not policies.quarantine_enabled
    assert policies.retention_days == DEFAULT_RETENTION_DAYS
    assert policies.network_default_action == DefaultAction.ALLOW


def test_unknown_values_read_as_the_defaults() -> None:
    policies = Policies.from_settings({"sku": "Gold", "network_default_action": "Maybe"})
    assert policies.sku == DEFAULT_SKU
    assert policies.network_default_action == DefaultAction.ALLOW


@pytest.mark.parametrize("sku", list(Sku))
@pytest.mark.parametrize("item", ["webhooks", "scope_maps", "tokens"])
def test_one_more_item_is_refused_at_the_tier_limit_and_allowed_below(sku: Sku, item: str) -> None:
    limit: int = getattr(TIERS[sku], item)
    policies = _policies(sku)
    room_for_one_more(policies, item, limit - 1)
    with pytest.raises(Denied) as refused:
        room_for_one_more(policies, item, limit)
    assert refused.value.detail == {"sku": sku.value, "limit": limit, "current": limit}


def test_an_empty_registry_fits_every_tier() -> None:
    for sku in Sku:
        assert violations(_policies(sku), NOTHING) == []


def test_a_tier_change_below_the_use_names_every_reason() -> None:
    basic = TIERS[Sku.BASIC]
    counts = {**NOTHING, "webhooks": basic.webhooks + 1, "ip_rules": 1}
    policies = _policies(
        Sku.BASIC,
        anonymous_pull=True,
        retention_enabled=True,
        network_default_action=DefaultAction.DENY,
    )
    reasons = violations(policies, counts)
    assert reasons == [
        f"{basic.webhooks + 1} webhooks exist and Basic allows {basic.webhooks}",
        "1 IP network rules exist and Basic allows 0",
        "anonymous pull is on and Basic does not offer it",
        "a retention policy is on and Basic does not offer it",
        "the network default action is Deny and Basic does not offer network rules "
        "(set it to Allow first)",
    ]
    assert violations(replace(policies, sku=Sku.PREMIUM), counts) == []


@pytest.fixture
def db(tmp_path: Path) -> Database:
    url = fresh_database_url(tmp_path)
    upgrade(url)
    return Database(url)


def test_policies_written_are_read_back_from_their_rows(db: Database) -> None:
    with db.write() as conn:
        write_policies(
            conn,
            {
                "sku": Sku.PREMIUM,
                "retention_enabled": True,
                "retention_days": 30,
                "network_default_action": DefaultAction.DENY,
            },
        )
    with db.read() as conn:
        rows = read_settings(conn)
        policies = load_policies(conn)
    assert rows["sku"] == "Premium"
    assert rows["retention_enabled"] == "true"
    assert rows["network_default_action"] == "Deny"
    assert (policies.sku, policies.retention_enabled, policies.retention_days) == (
        Sku.PREMIUM,
        True,
        30,
    )
    assert policies.network_default_action == DefaultAction.DENY


def test_retention_since_is_unset_until_marked(db: Database) -> None:
    with db.read() as conn:
        assert retention_since(conn) is None
    with db.write() as conn:
        mark_retention_since(conn, 1234.5)
    with db.read() as conn:
        assert retention_since(conn) == 1234.5


def test_the_room_check_counts_the_rows_in_its_transaction(db: Database) -> None:
    allowed = TIERS[Sku.BASIC].webhooks
    with db.write() as conn:
        write_setting(conn, "sku", Sku.BASIC.value)
        for number in range(allowed):
            check_tier_room(conn, "webhooks")
            conn.execute(insert(webhooks).values(_webhook_row(f"hook{number}")))
    with db.read() as conn:
        assert tier_counts(conn) == {**NOTHING, "webhooks": allowed}
    with db.write() as conn, pytest.raises(Denied, match=f"Basic tier allows {allowed} webhooks"):
        check_tier_room(conn, "webhooks")


def _webhook_row(name: str) -> dict[str, object]:
    return {
        "name": name,
        "uri": "https://hooks.example/",
        "actions": "[]",
        "scope": "",
        "headers": "{}",
        "status": "enabled",
        "secret": "s",
        "created_at": 0.0,
    }
