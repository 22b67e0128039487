"""The HEAD of another registry's manifest, through netguard: what base-image lookups (at
build time, and the base-image polls) ask registries other than this one. It lives here
because `tasks` does not import `registry`: the task worker hands it to `tasks`."""

from __future__ import annotations

from dockyard.netguard import guard_for
from dockyard.registry.remote import RemoteRegistry, parse_source
from dockyard.tasks.base_images import ImageSource, RemoteDigest

REMOTE_TIMEOUT_SECONDS = 15.0


def remote_digests(allow_private: bool) -> RemoteDigest:
    """A HEAD of another registry's manifest; its hosts (redirects and token realms too)
    must resolve to public addresses unless `allow_private`."""
    guard = guard_for("task_allow_private_sources", allow_private)

    def digest(source: ImageSource, credentials: tuple[str, str] | None) -> str | None:
        reference = parse_source(f"{source.registry}/{source.repository}:{source.tag}")
        client = RemoteRegistry(reference, credentials, guard, REMOTE_TIMEOUT_SECONDS)
        try:
            return client.manifest_digest(reference.reference)
        finally:
            client.close()

    return digest
