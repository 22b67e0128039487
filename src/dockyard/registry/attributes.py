"""ACR's metadata of repositories, tags and manifests (the `/acr/v1` data plane): single items,
listings with paging and time order, and changes of the changeable attributes (locks)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, and_, case, func, or_, select, update

from dockyard.errors import DigestInvalid, ManifestUnknown, NameUnknown, TagInvalid, Unsupported
from dockyard.registry.locks import ATTRIBUTES, Locks, listed, lock_columns
from dockyard.registry.names import check_digest, check_name, check_tag
from dockyard.spec import mediatypes
from dockyard.storage.db.database import Database, sort_key
from dockyard.storage.db.schema import blobs, manifest_blobs, manifests, repositories, tags

T = TypeVar("T")

# Dockyard's own changeable attribute of a repository: write-once tags.
TAG_IMMUTABILITY = "tagImmutability"


class Order(StrEnum):
    """ACR's `orderby`: by name (tags) or digest (manifests), or by last update time."""

    NONE = "none"
    TIME_DESC = "timedesc"
    TIME_ASC = "timeasc"

    @classmethod
    def parse(cls, text: str | None) -> Order:
        try:
            return cls(text or "none")
        except ValueError:
            raise Unsupported(
                f"invalid orderby {text!r}: use timedesc, timeasc or none",
                detail={"orderby": text},
            ) from None


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    name: str
    created_at: float
    updated_at: float
    manifest_count: int
    tag_count: int
    locks: Locks
    tag_immutability: bool


@dataclass(frozen=True, slots=True)
class TagInfo:
    name: str
    digest: str
    created_at: float
    updated_at: float
    locks: Locks


@dataclass(frozen=True, slots=True)
class PlatformReference:
    """A manifest an index lists, with the platform the index gives for it."""

    digest: str
    architecture: str | None
    os: str | None


@dataclass(frozen=True, slots=True)
class ManifestInfo:
    digest: str
    image_size: int  # the manifest and every blob it references
    created_at: float
    updated_at: float
    media_type: str
    config_media_type: str | None
    architecture: str | None
    os: str | None
    tags: tuple[str, ...]
    locks: Locks
    references: tuple[PlatformReference, ...]


@dataclass(frozen=True, slots=True)
class InfoPage(Generic[T]):
    items: list[T]
    next_last: str | None  # `last` for the next page, when there is one


@dataclass(frozen=True, slots=True)
class AttributeChange:
    """The attributes a PATCH sets (column name -> value); the others stay as they are."""

    locks: dict[str, bool]
    tag_immutability: bool | None = None

    @classmethod
    def parse(cls, body: Any, repository: bool) -> AttributeChange:
        """ACR clients send the attributes themselves or `{"changeableAttributes": {...}}`."""
        if isinstance(body, dict) and set(body) == {"changeableAttributes"}:
            body = body["changeableAttributes"]
        if not isinstance(body, dict) or not body:
            raise Unsupported('send the attributes to change, e.g. {"writeEnabled": false}')
        allowed = set(ATTRIBUTES) | ({TAG_IMMUTABILITY} if repository else set())
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise Unsupported(
                f"unknown attribute {unknown[0]!r}; changeable are {', '.join(sorted(allowed))}",
                detail={"attribute": unknown[0]},
            )
        for key, value in body.items():
            if not isinstance(value, bool):
                raise Unsupported(f"{key} must be true or false", detail={key: value})
        locks = {ATTRIBUTES[k]: v for k, v in body.items() if k in ATTRIBUTES}
        return cls(locks, body.get(TAG_IMMUTABILITY))


def _last_update() -> Any:
    """A manifest's last update: its push, or the latest tag push or move onto it."""
    last_tagged = (
        select(func.max(tags.c.updated_at))
        .where(
            tags.c.repository_id == manifests.c.repository_id,
            tags.c.manifest_digest == manifests.c.digest,
        )
        .scalar_subquery()
    )
    return case((last_tagged > manifests.c.created_at, last_tagged), else_=manifests.c.created_at)


def _image_size() -> Any:
    referenced = (
        select(func.coalesce(func.sum(blobs.c.size), 0))
        .select_from(manifest_blobs.join(blobs, blobs.c.digest == manifest_blobs.c.blob_digest))
        .where(
            manifest_blobs.c.repository_id == manifests.c.repository_id,
            manifest_blobs.c.manifest_digest == manifests.c.digest,
        )
        .scalar_subquery()
    )
    return manifests.c.size + referenced


def _after(key: Any, time: Any, order: Order, last_key: str, last_time: float | None) -> Any:
    """Rows after the `last` row in the listing's order (keyset paging)."""
    if order is Order.NONE or last_time is None:
        return key > last_key
    if order is Order.TIME_ASC:
        return or_(time > last_time, and_(time == last_time, key > last_key))
    return or_(time < last_time, and_(time == last_time, key < last_key))


def _ordered(query: Any, key: Any, time: Any, order: Order) -> Any:
    if order is Order.TIME_ASC:
        return query.order_by(time.asc(), key.asc())
    if order is Order.TIME_DESC:
        return query.order_by(time.desc(), key.desc())
    return query.order_by(key)


def _limited(rows: Sequence[Any], limit: int | None, last_of: Any) -> tuple[list[Any], str | None]:
    if limit is not None and len(rows) > limit:
        kept = list(rows[:limit])
        return kept, (last_of(kept[-1]) if kept else None)
    return list(rows), None


def _manifest_details(content: bytes, media_type: str) -> tuple[str | None, list[Any]]:
    """The config media type of an image, and the platforms an index lists."""
    try:
        document = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None, []
    if not isinstance(document, dict):
        return None, []
    config = document.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    children = document.get("manifests") if media_type in mediatypes.INDEXES else None
    return (config_type if isinstance(config_type, str) else None), (
        children if isinstance(children, list) else []
    )


def _references(children: list[Any]) -> tuple[PlatformReference, ...]:
    found: list[PlatformReference] = []
    for child in children:
        if not isinstance(child, dict) or not isinstance(child.get("digest"), str):
            continue
        platform = child.get("platform")
        platform = platform if isinstance(platform, dict) else {}
        arch, os_name = platform.get("architecture"), platform.get("os")
        found.append(
            PlatformReference(
                child["digest"],
                arch if isinstance(arch, str) else None,
                os_name if isinstance(os_name, str) else None,
            )
        )
    return tuple(found)


class AttributeService:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- repositories ---------------------------------------------------------------------

    def repository(self, name: str) -> RepositoryInfo:
        check_name(name)
        with self._db.read() as conn:
            return self._repository(conn, name)

    def _repository(self, conn: Connection, name: str) -> RepositoryInfo:
        row = conn.execute(
            select(
                repositories.c.id,
                repositories.c.created_at,
                repositories.c.updated_at,
                repositories.c.tag_immutability,
                *lock_columns(repositories),
            ).where(repositories.c.name == name)
        ).first()
        if row is None:
            raise NameUnknown(f"repository {name!r} not found", detail={"name": name})
        manifest_count = conn.execute(
            select(func.count()).select_from(manifests).where(manifests.c.repository_id == row.id)
        ).scalar_one()
        tag_count = conn.execute(
            select(func.count()).select_from(tags).where(tags.c.repository_id == row.id)
        ).scalar_one()
        created = float(row.created_at)
        return RepositoryInfo(
            name=name,
            created_at=created,
            updated_at=float(row.updated_at) if row.updated_at is not None else created,
            manifest_count=int(manifest_count),
            tag_count=int(tag_count),
            locks=Locks.of(row),
            tag_immutability=bool(row.tag_immutability),
        )

    def update_repository(self, name: str, change: AttributeChange) -> RepositoryInfo:
        check_name(name)
        values: dict[str, bool] = dict(change.locks)
        if change.tag_immutability is not None:
            values["tag_immutability"] = change.tag_immutability
        with self._db.write() as conn:
            changed = conn.execute(
                update(repositories).where(repositories.c.name == name).values(**values)
            ).rowcount
            if changed != 1:
                raise NameUnknown(f"repository {name!r} not found", detail={"name": name})
            return self._repository(conn, name)

    # --- tags -----------------------------------------------------------------------------

    def tags(
        self,
        name: str,
        limit: int | None,
        last: str | None,
        order: Order = Order.NONE,
        digest: str | None = None,
    ) -> InfoPage[TagInfo]:
        """Listed tags (`listEnabled`), by name or by last update, optionally of one digest."""
        check_name(name)
        with self._db.read() as conn:
            repo_id = self._repository_id(conn, name)
            key = sort_key(conn, tags.c.name)
            query = select(tags).where(tags.c.repository_id == repo_id, listed(tags))
            if digest:
                query = query.where(tags.c.manifest_digest == str(check_digest(digest)))
            if last:
                last_time = None
                if order is not Order.NONE:
                    last_time = conn.execute(
                        select(tags.c.updated_at).where(
                            tags.c.repository_id == repo_id, tags.c.name == last
                        )
                    ).scalar_one_or_none()
                    if last_time is None:
                        raise TagInvalid(
                            f"tag {last!r} (last) is not in {name!r}; list from the start again",
                            detail={"last": last},
                        )
                query = query.where(_after(key, tags.c.updated_at, order, last, last_time))
            query = _ordered(query, key, tags.c.updated_at, order)
            if limit is not None:
                query = query.limit(limit + 1)
            rows, next_last = _limited(conn.execute(query).all(), limit, lambda r: r.name)
        return InfoPage([_tag_info(row) for row in rows], next_last)

    def tag(self, name: str, tag: str) -> TagInfo:
        check_name(name)
        check_tag(tag)
        with self._db.read() as conn:
            return self._tag(conn, name, self._repository_id(conn, name), tag)

    def _tag(self, conn: Connection, name: str, repo_id: int, tag: str) -> TagInfo:
        row = conn.execute(
            select(tags).where(tags.c.repository_id == repo_id, tags.c.name == tag)
        ).first()
        if row is None:
            raise ManifestUnknown(f"tag {tag!r} not found in {name!r}", detail={"tag": tag})
        return _tag_info(row)

    def update_tag(self, name: str, tag: str, change: AttributeChange) -> TagInfo:
        check_name(name)
        check_tag(tag)
        with self._db.write() as conn:
            repo_id = self._repository_id(conn, name)
            conn.execute(
                update(tags)
                .where(tags.c.repository_id == repo_id, tags.c.name == tag)
                .values(**change.locks)
            )
            return self._tag(conn, name, repo_id, tag)

    # --- manifests ------------------------------------------------------------------------

    def manifests(
        self, name: str, limit: int | None, last: str | None, order: Order = Order.NONE
    ) -> InfoPage[ManifestInfo]:
        """Listed manifests (`listEnabled`), by digest or by last update."""
        check_name(name)
        with self._db.read() as conn:
            repo_id = self._repository_id(conn, name)
            key = sort_key(conn, manifests.c.digest)
            updated = _last_update()
            query = self._manifest_query(updated).where(
                manifests.c.repository_id == repo_id, listed(manifests)
            )
            if last:
                last_time = None
                if order is not Order.NONE:
                    last_time = conn.execute(
                        select(updated).where(
                            manifests.c.repository_id == repo_id, manifests.c.digest == last
                        )
                    ).scalar_one_or_none()
                    if last_time is None:
                        raise DigestInvalid(
                            f"manifest {last} (last) is not in {name!r}; list from the start again",
                            detail={"last": last},
                        )
                query = query.where(_after(key, updated, order, last, last_time))
            query = _ordered(query, key, updated, order)
            if limit is not None:
                query = query.limit(limit + 1)
            rows, next_last = _limited(conn.execute(query).all(), limit, lambda r: r.digest)
            return InfoPage(self._manifest_infos(conn, repo_id, rows), next_last)

    def manifest(self, name: str, digest: str) -> ManifestInfo:
        check_name(name)
        text = str(check_digest(digest))
        with self._db.read() as conn:
            return self._manifest(conn, name, self._repository_id(conn, name), text)

    def _manifest(self, conn: Connection, name: str, repo_id: int, digest: str) -> ManifestInfo:
        row = conn.execute(
            self._manifest_query(_last_update()).where(
                manifests.c.repository_id == repo_id, manifests.c.digest == digest
            )
        ).first()
        if row is None:
            raise ManifestUnknown(
                f"manifest {digest} not found in {name!r}", detail={"digest": digest}
            )
        return self._manifest_infos(conn, repo_id, [row])[0]

    def update_manifest(self, name: str, digest: str, change: AttributeChange) -> ManifestInfo:
        check_name(name)
        text = str(check_digest(digest))
        with self._db.write() as conn:
            repo_id = self._repository_id(conn, name)
            conn.execute(
                update(manifests)
                .where(manifests.c.repository_id == repo_id, manifests.c.digest == text)
                .values(**change.locks)
            )
            return self._manifest(conn, name, repo_id, text)

    @staticmethod
    def _manifest_query(updated: Any) -> Any:
        return select(
            manifests.c.digest,
            manifests.c.media_type,
            manifests.c.content,
            manifests.c.created_at,
            manifests.c.architecture,
            manifests.c.os,
            _image_size().label("image_size"),
            updated.label("updated_at"),
            *lock_columns(manifests),
        )

    @staticmethod
    def _manifest_infos(conn: Connection, repo_id: int, rows: list[Any]) -> list[ManifestInfo]:
        on_page: dict[str, list[str]] = {str(row.digest): [] for row in rows}
        if on_page:
            for tag_name, digest in conn.execute(
                select(tags.c.name, tags.c.manifest_digest)
                .where(
                    tags.c.repository_id == repo_id,
                    tags.c.manifest_digest.in_(list(on_page)),
                    listed(tags),
                )
                .order_by(sort_key(conn, tags.c.name))
            ):
                on_page[str(digest)].append(str(tag_name))
        infos: list[ManifestInfo] = []
        for row in rows:
            config_type, children = _manifest_details(bytes(row.content), str(row.media_type))
            infos.append(
                ManifestInfo(
                    digest=str(row.digest),
                    image_size=int(row.image_size),
                    created_at=float(row.created_at),
                    updated_at=float(row.updated_at),
                    media_type=str(row.media_type),
                    config_media_type=config_type,
                    architecture=row.architecture,
                    os=row.os,
                    tags=tuple(on_page[str(row.digest)]),
                    locks=Locks.of(row),
                    references=_references(children),
                )
            )
        return infos

    @staticmethod
    def _repository_id(conn: Connection, name: str) -> int:
        row = conn.execute(select(repositories.c.id).where(repositories.c.name == name)).first()
        if row is None:
            raise NameUnknown(f"repository {name!r} not found", detail={"name": name})
        return int(row[0])


def _tag_info(row: Any) -> TagInfo:
    updated = float(row.updated_at)
    return TagInfo(
        name=str(row.name),
        digest=str(row.manifest_digest),
        created_at=float(row.created_at) if row.created_at is not None else updated,
        updated_at=updated,
        locks=Locks.of(row),
    )
