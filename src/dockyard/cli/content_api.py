"""The content commands' calls as typed methods: the recycle bin, purge, quarantine and import
of the management API (`/api/v1`, models in `dockyard.wire`), and ACR's data plane
(`/acr/v1`, models in `dockyard.wire.acr`).

Kept apart from cli/api_client.py (the access and task calls); the same rules: requests are
`dockyard.wire` models, answers are read into them, and the models are imported inside the
methods (tests/unit/test_cli_startup.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from dockyard.cli.api_client import DockyardApi, Listing, body, read
from dockyard.cli.client import CliError, ManagementClient

if TYPE_CHECKING:
    from pydantic import BaseModel

    from dockyard.cli.remote import Login
    from dockyard.wire.acr import (
        ArtifactManifestProperties,
        ArtifactTagProperties,
        ContainerRepositoryProperties,
        DeleteRepositoryResult,
        ManifestAttributes,
        RepositoryWriteableProperties,
        TagAttributes,
        WriteableProperties,
    )
    from dockyard.wire.imports import ImportEvent
    from dockyard.wire.purge import PurgeResult
    from dockyard.wire.quarantine import QuarantinedManifest, State
    from dockyard.wire.recycle_bin import DeletedManifests, DeletedTags, Restored

M = TypeVar("M", bound="BaseModel")
I = TypeVar("I")  # noqa: E741 (an item of a paged listing)

# How many items the CLI asks for per page of an `/acr/v1` listing.
PAGE_SIZE = 100


def _repository(name: str) -> str:
    """A repository name as path segments (its slashes stay)."""
    return quote(name, safe="/")


def shape_json(answer: BaseModel) -> dict[str, Any]:
    """An answer read from the server as the JSON it came in: by ACR's names, and without
    the fields the server left out (so that `-o json` prints what the server sent)."""
    return answer.model_dump(mode="json", by_alias=True, exclude_unset=True)


class ContentApi(DockyardApi):
    """The management API's content calls (recycle bin, purge, quarantine, import)."""

    # --- the recycle bin ---------------------------------------------------------------------

    def list_deleted_manifests(self, repository: str) -> DeletedManifests:
        from dockyard.wire.recycle_bin import DeletedManifests

        path = f"/repositories/{_repository(repository)}/deleted-manifests"
        return self._one(DeletedManifests, "GET", path)

    def list_deleted_tags(self, repository: str, tag: str | None = None) -> DeletedTags:
        from dockyard.wire.recycle_bin import DeletedTags

        path = f"/repositories/{_repository(repository)}/deleted-tags"
        return self._read(DeletedTags, self.http.get(path, {"tag": tag} if tag else None))

    def restore(
        self, repository: str, digest: str | None, tag: str | None, force: bool
    ) -> Restored:
        from dockyard.wire.recycle_bin import Restored, RestoreRequest

        request = RestoreRequest.model_construct(digest=digest, tag=tag, force=force)
        path = f"/repositories/{_repository(repository)}/restore"
        return self._one(Restored, "POST", path, request)

    # --- purge -------------------------------------------------------------------------------

    def purge(
        self,
        filters: list[str],
        ago: str,
        *,
        keep: int,
        untagged: bool,
        include_locked: bool,
        dry_run: bool,
    ) -> PurgeResult:
        from dockyard.wire.purge import PurgeRequest, PurgeResult

        request = PurgeRequest.model_construct(
            filters=filters,
            ago=ago,
            keep=keep,
            untagged=untagged,
            include_locked=include_locked,
            dry_run=dry_run,
        )
        return self._one(PurgeResult, "POST", "/purge", request)

    # --- quarantine --------------------------------------------------------------------------

    def list_quarantine(
        self, repository: str | None = None, state: State | None = None
    ) -> Listing[QuarantinedManifest]:
        from dockyard.wire.quarantine import QuarantinedManifest

        params: dict[str, str] = {}
        if repository is not None:
            params["repository"] = repository
        if state is not None:
            params["state"] = state
        return self._many(QuarantinedManifest, "/quarantine", params or None)

    def set_quarantine_state(
        self, repository: str, digest: str, state: State
    ) -> QuarantinedManifest:
        from dockyard.wire.quarantine import QuarantinedManifest, Verdict

        path = f"/quarantine/{_repository(repository)}/manifests/{quote(digest, safe=':')}"
        request = Verdict.model_construct(state=state)
        return self._one(QuarantinedManifest, "PUT", path, request)

    # --- import ------------------------------------------------------------------------------

    def import_image(
        self,
        source: str,
        images: list[str],
        *,
        force: bool,
        username: str | None = None,
        password: str | None = None,
    ) -> Iterator[ImportEvent]:
        """The import's progress events as the server sends them, the last a result (or a
        failure)."""
        from pydantic import TypeAdapter, ValidationError

        from dockyard.wire.imports import ImportEvent, ImportRequest

        request = ImportRequest.model_construct(
            source=source, images=images, force=force, username=username, password=password
        )
        events: TypeAdapter[ImportEvent] = TypeAdapter(ImportEvent)
        for line in self.http.stream_lines("/imports", body(request)):
            try:
                yield events.validate_python(line)
            except ValidationError as exc:
                raise CliError(
                    f"the registry sent an import event this CLI cannot read: {exc}",
                    "is the CLI the same version as the registry?",
                ) from None


class AcrApi:
    """Typed calls to the registry's ACR data plane (`/acr/v1`) over a `ManagementClient`."""

    def __init__(self, http: ManagementClient) -> None:
        self.http = http

    @property
    def registry(self) -> str:
        return self.http.registry

    def _call(self, method: str, path: str, request: BaseModel | None = None, **params: Any) -> Any:
        url = f"{self.http.registry}/acr/v1/{path}"
        return self.http.call(method, url, body(request) if request else None, params or None)

    def _pages(
        self,
        path: str,
        items_of: Callable[[Any], list[I]],
        last_of: Callable[[I], str],
        top: int | None,
        **params: Any,
    ) -> list[I]:
        """Every item of a paged listing (or the first `top`), page by page: each page asks
        for the items after the last one of the page before."""
        items: list[I] = []
        last: str | None = None
        while top is None or len(items) < top:
            size = PAGE_SIZE if top is None else min(PAGE_SIZE, top - len(items))
            query = {**params, "n": size}
            if last is not None:
                query["last"] = last
            page = items_of(self._call("GET", path, **query))
            items.extend(page)
            if len(page) < size:
                break
            last = last_of(page[-1])
        return items

    # --- repositories ------------------------------------------------------------------------

    def list_repositories(self, top: int | None = None) -> list[str]:
        from dockyard.wire.acr import Repositories

        return self._pages("_catalog", lambda page: read(Repositories, page).repositories, str, top)

    def get_repository(self, name: str) -> ContainerRepositoryProperties:
        from dockyard.wire.acr import ContainerRepositoryProperties

        return read(ContainerRepositoryProperties, self._call("GET", _repository(name)))

    def update_repository(
        self, name: str, changes: RepositoryWriteableProperties
    ) -> ContainerRepositoryProperties:
        from dockyard.wire.acr import ContainerRepositoryProperties

        answer = self._call("PATCH", _repository(name), changes)
        return read(ContainerRepositoryProperties, answer)

    def delete_repository(self, name: str) -> DeleteRepositoryResult:
        from dockyard.wire.acr import DeleteRepositoryResult

        return read(DeleteRepositoryResult, self._call("DELETE", _repository(name)))

    # --- tags --------------------------------------------------------------------------------

    def list_tags(
        self, repository: str, top: int | None = None, orderby: str | None = None
    ) -> list[TagAttributes]:
        from dockyard.wire.acr import TagList

        order = {"orderby": orderby} if orderby else {}
        path = f"{_repository(repository)}/_tags"
        return self._pages(
            path, lambda page: read(TagList, page).tags, lambda tag: tag.name, top, **order
        )

    def get_tag(self, repository: str, tag: str) -> ArtifactTagProperties:
        from dockyard.wire.acr import ArtifactTagProperties

        path = f"{_repository(repository)}/_tags/{tag}"
        return read(ArtifactTagProperties, self._call("GET", path))

    def update_tag(
        self, repository: str, tag: str, changes: WriteableProperties
    ) -> ArtifactTagProperties:
        from dockyard.wire.acr import ArtifactTagProperties

        path = f"{_repository(repository)}/_tags/{tag}"
        return read(ArtifactTagProperties, self._call("PATCH", path, changes))

    def delete_tag(self, repository: str, tag: str) -> None:
        self._call("DELETE", f"{_repository(repository)}/_tags/{tag}")

    # --- manifests ---------------------------------------------------------------------------

    def list_manifests(
        self, repository: str, top: int | None = None, orderby: str | None = None
    ) -> list[ManifestAttributes]:
        from dockyard.wire.acr import AcrManifests

        order = {"orderby": orderby} if orderby else {}
        path = f"{_repository(repository)}/_manifests"
        return self._pages(
            path,
            lambda page: read(AcrManifests, page).manifests,
            lambda manifest: manifest.digest,
            top,
            **order,
        )

    def get_manifest(self, repository: str, digest: str) -> ArtifactManifestProperties:
        from dockyard.wire.acr import ArtifactManifestProperties

        path = f"{_repository(repository)}/_manifests/{digest}"
        return read(ArtifactManifestProperties, self._call("GET", path))

    def update_manifest(
        self, repository: str, digest: str, changes: WriteableProperties
    ) -> ArtifactManifestProperties:
        from dockyard.wire.acr import ArtifactManifestProperties

        path = f"{_repository(repository)}/_manifests/{digest}"
        return read(ArtifactManifestProperties, self._call("PATCH", path, changes))

    def delete_manifest(self, repository: str, digest: str) -> None:
        self._call("DELETE", f"{_repository(repository)}/_manifests/{digest}")


@contextmanager
def content_api(login: Login) -> Iterator[ContentApi]:
    """The typed management API client with the content calls, for a command's login."""
    with login.connect() as http:
        yield ContentApi(http)


@contextmanager
def acr_api(login: Login) -> Iterator[AcrApi]:
    """The typed `/acr/v1` client, for a command's login."""
    with login.connect() as http:
        yield AcrApi(http)
