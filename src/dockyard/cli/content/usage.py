"""`dockyard show-usage`: storage used by the registry and each repository, and the tier's
limited quantities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dockyard.cli.access.common import ModelTable, print_answer, print_table
from dockyard.cli.remote import Login, Output, remote
from dockyard.spec.sizes import human_bytes

if TYPE_CHECKING:
    from dockyard.wire.usage import Usage


def _show(answer: Usage) -> None:
    storage = answer.storage
    print_table(
        f"registry usage ({answer.sku})",
        ("quantity", "used", "limit"),
        [
            (
                "storage",
                human_bytes(storage.used_bytes),
                f"{human_bytes(storage.included_bytes)} included, "
                f"{human_bytes(storage.limit_bytes)} hard limit",
            ),
            ("  overage", human_bytes(storage.overage_bytes), ""),
            ("  blobs (each once)", human_bytes(storage.blob_bytes), ""),
            ("  manifests", human_bytes(storage.manifest_bytes), ""),
            ("  sum of repositories", human_bytes(storage.repositories_bytes), ""),
            ("repositories", answer.repository_count, ""),
            ("manifests", answer.manifest_count, ""),
            ("tags", answer.tag_count, ""),
            ("blobs", answer.blob_count, ""),
            *(
                (item.name, item.current_value, item.limit)
                for item in answer.value
                if item.unit == "Count"
            ),
        ],
    )
    from dockyard.wire.usage import RepositoryUsage

    REPOSITORIES_TABLE.print_models(RepositoryUsage, answer.repositories)


REPOSITORIES_TABLE = ModelTable("repositories", {"size_bytes": human_bytes})


@remote
def show_usage(
    repository: Annotated[
        str | None, typer.Option("--repository", help="Only this repository's row")
    ] = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """Show the storage used and the counts of repositories, manifests, tags and blobs.

    Storage is counted with each blob once, and as the sum of the repositories; the tier's
    included storage and limits are shown next to it."""
    with login.api() as api:
        answer = api.get_usage(repository)
    print_answer(answer, output, _show)
