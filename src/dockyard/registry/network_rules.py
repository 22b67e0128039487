"""Network rules, as ACR's: a default action (Allow, or Deny but for the IP addresses and
CIDR ranges that a rule allows), offered by the tiers that include IP rules (Premium).

Every request the rules guard asks `current()`, which reads one row (the generation, by
primary key, outside any SQLAlchemy transaction) and answers the rule set this process
cached for that generation, reading the rules again only when a change (in any process) has
replaced it: a change applies to the next request everywhere, and the rules are parsed once
per change, not per request."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from dockyard.errors import Denied, NotFound, Unsupported
from dockyard.spec.ip_ranges import (
    AddressSet,
    DefaultAction,
    IpAddress,
    parse_ip_range,
    range_text,
    stored_ranges,
)
from dockyard.storage.db.database import Database
from dockyard.storage.db.network_rules import (
    add_range,
    count_ranges,
    new_generation,
    read_generation,
    read_ranges,
    remove_range,
)
from dockyard.tiers.policies import refuse_lockout
from dockyard.tiers.settings import load_policies


@dataclass(frozen=True, slots=True)
class NetworkRuleSet:
    default_action: DefaultAction
    allowed: AddressSet

    def allows(self, address: IpAddress | None) -> bool:
        """Whether a client at `address` (None: unknown) may reach the guarded endpoints."""
        return self.default_action == DefaultAction.ALLOW or address in self.allowed

    @property
    def ranges(self) -> list[str]:
        return [range_text(network) for network in self.allowed.ranges]


OPEN = NetworkRuleSet(DefaultAction.ALLOW, AddressSet())


def parse_rule(text: str) -> str:
    """The canonical text of an IP rule; UNSUPPORTED (400) saying what is wrong."""
    try:
        return range_text(parse_ip_range(text))
    except ValueError as exc:
        raise Unsupported(f"invalid IP rule: {exc}") from None


class NetworkRuleService:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Replaced whole (one assignment), so threads never see a generation with other rules.
        self._cached: tuple[str, NetworkRuleSet] = ("", OPEN)

    def current(self) -> NetworkRuleSet:
        """The rules in force (blocking: one primary-key read, more after a change)."""
        generation = read_generation(self._db)
        cached_generation, rules = self._cached
        if generation == cached_generation:
            return rules
        # The rules are read after the generation, so they are at least as new as it: a
        # change between the two reads only makes the next request read them again.
        with self._db.read() as conn:
            rules = self._load(conn)
        self._cached = (generation, rules)
        return rules

    def show(self) -> NetworkRuleSet:
        with self._db.read() as conn:
            return self._load(conn)

    @staticmethod
    def _load(conn: Connection) -> NetworkRuleSet:
        action = load_policies(conn).network_default_action
        ranges = AddressSet.of(stored_ranges(read_ranges(conn)))
        return NetworkRuleSet(action, ranges)

    def add(self, text: str) -> tuple[NetworkRuleSet, bool]:
        """Allow a range (idempotent); answers the rules and whether the range was new.
        Refused (DENIED) when the tier offers no network rules or no more of them."""
        ip_range = parse_rule(text)
        with self._db.write() as conn:
            # First: the generation row's lock lines up this change with other rule and tier
            # changes, so none of them counts the rules before another's insert (PostgreSQL).
            new_generation(conn)
            policies = load_policies(conn)
            allowed = policies.limits.ip_rules
            if not allowed:
                raise Denied(
                    f"network rules are a Premium feature; the {policies.sku} tier does not "
                    "offer them (dockyard registry update --sku Premium)",
                    detail={"sku": policies.sku.value},
                )
            added = add_range(conn, ip_range)
            if added:
                used = count_ranges(conn)
                if used > allowed:
                    raise Denied(
                        f"the {policies.sku} tier allows {allowed} IP network rules and "
                        f"{used - 1} exist; remove one first",
                        detail={"sku": policies.sku.value, "limit": allowed, "current": used - 1},
                    )
            return self._load(conn), added

    def remove(self, text: str, keep_allowed: IpAddress | None = None) -> NetworkRuleSet:
        """Remove the rule for a range (NOT_FOUND when there is none). With
        `keep_allowed`, refused when the rules would then refuse that address (a caller the
        rules govern, locking itself out)."""
        ip_range = parse_rule(text)
        with self._db.write() as conn:
            if not remove_range(conn, ip_range):
                raise NotFound(f"no network rule for {ip_range}")
            after = self._load(conn)
            if keep_allowed is not None and not after.allows(keep_allowed):
                refuse_lockout(keep_allowed, after.ranges)
            new_generation(conn)
            return after
