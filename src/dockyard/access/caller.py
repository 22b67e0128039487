"""The authenticated caller of one request, and what it may do."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.access.decisions import Requirement, claims_allow
from dockyard.access.principals import Principal
from dockyard.access.rights import PULL, Rights


@dataclass
class Caller:
    principal: Principal
    via: str  # "bearer", "basic" or "none"
    rights: Rights | None = None  # Basic and anonymous callers
    access: list[dict[str, object]] = field(default_factory=list)  # Bearer callers

    def may(self, need: Requirement) -> bool:
        if self.via == "bearer":
            # Any valid access token opens /v2/ (that is how clients check a login).
            return need.kind == "base" or claims_allow(self.access, need)
        assert self.rights is not None
        if need.kind == "catalog":
            return self.rights.can_list_catalog
        if need.kind == "base":
            return self.principal.kind != "anonymous"
        assert need.repository is not None
        return all(self.rights.allows(need.repository, a) for a in need.actions)

    def can_read(self, repository: str) -> bool:
        return self.may(Requirement("repository", repository, (PULL,)))

    def reads_everything(self) -> bool:
        if self.rights is None:
            return False
        return any(g.pattern == "*" and PULL in g.actions for g in self.rights.grants)
