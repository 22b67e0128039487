"""The registry's tier and the settings that change at run time: the tier table (table.py),
the `registry_settings` rows read into `Policies` in one place (settings.py), the tier's
counted limits (limits.py), changing the policies (policies.py), and request rates
(ratelimit/).

This file imports nothing: the client commands import `dockyard.tiers.table` and must not load
the database stack with it."""
