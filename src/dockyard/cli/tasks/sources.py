"""Where a run's files come from: a local folder (packed here and uploaded), a local tar
archive (uploaded as it is), or a URL the registry fetches itself (a tarball, or a git
repository with an optional `#branch:subfolder`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from dockyard.cli.client import CliError
from dockyard.cli.output import err, note
from dockyard.cli.tasks.context import ContextError, PackReport, pack_context
from dockyard.cli.tasks.dockerignore import clean_path
from dockyard.spec.sizes import human_bytes

if TYPE_CHECKING:
    from dockyard.cli.api_client import DockyardApi

UPLOAD_CHUNK = 1024 * 1024
# Below this an upload is over before a bar could say anything.
PROGRESS_BAR_FROM = 4 * 1024 * 1024
# How often (in entries) the packing status line is redrawn.
STATUS_EVERY = 500
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
# `az acr run` takes /dev/null for "no source at all".
NO_CONTEXT = "/dev/null"


@dataclass(frozen=True, slots=True)
class RunSource:
    """Where a run's files are: an uploaded context (its digest), or a URL; neither for none."""

    source: str | None = None
    context_url: str | None = None


def is_remote(context: str) -> bool:
    return "://" in context or context.startswith("git@")


def dockerfile_in_context(root: Path, dockerfile: str) -> str:
    """The Dockerfile as a path inside the context: given relative to the context (as `az acr
    build -f` takes it), or as a path from here that lies inside the context."""
    inside = root / dockerfile
    given = Path(dockerfile)
    if not given.is_absolute() and inside.is_file():
        relative = clean_path(given.as_posix())
        if relative == ".." or relative.startswith("../"):
            raise CliError(f"the Dockerfile {dockerfile} is outside the context {root}")
        return relative
    if given.is_file():
        try:
            return Path(os.path.abspath(given)).relative_to(os.path.abspath(root)).as_posix()
        except ValueError:
            raise CliError(
                f"the Dockerfile {dockerfile} is outside the context {root}",
                "move it into the context folder, or pass its path relative to the context",
            ) from None
    raise CliError(f"no Dockerfile {dockerfile} in the context {root}")


def _progress(size: int) -> Progress:
    return Progress(
        TextColumn("uploading context"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_interactive or size < PROGRESS_BAR_FROM,
    )


def upload_archive(api: DockyardApi, archive: BinaryIO, size: int) -> str:
    """Stream a tar (or tar.gz) to the registry; the source's digest."""
    note(f"Uploading context ({human_bytes(size)}) to {escape(api.registry)}")
    archive.seek(0)
    with _progress(size) as progress:
        task = progress.add_task("upload", total=size)

        def chunks() -> Iterator[bytes]:
            while block := archive.read(UPLOAD_CHUNK):
                progress.advance(task, len(block))
                yield block

        digest = api.upload_source(chunks(), size).source
    note(f"Uploaded source {escape(digest)}")
    return digest


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _describe(root: str, report: PackReport) -> str:
    parts = [_count(report.files, "file"), _count(report.directories, "folder")]
    if report.links:
        parts.append(_count(report.links, "link"))
    what = f"{', '.join(parts)} ({human_bytes(report.content_bytes)})"
    if report.excluded:
        what += f"; {report.excluded} left out by .dockerignore"
    return f"Packed {escape(root)}: {what}"


def upload_folder(api: DockyardApi, root: Path, dockerfile: str | None) -> str:
    """Pack a local folder (honouring its .dockerignore) and upload it; the digest."""
    with tempfile.TemporaryFile(prefix="dockyard-context-") as archive:
        try:
            with err.status(f"packing {escape(str(root))}...") as status:
                counted = 0

                def seen(_: str) -> None:
                    nonlocal counted
                    counted += 1
                    if counted % STATUS_EVERY == 0:
                        status.update(f"packing {escape(str(root))}: {counted} entries...")

                report = pack_context(root, archive, dockerfile=dockerfile, on_file=seen)
        except ContextError as exc:
            raise CliError(str(exc)) from exc
        for warning in report.warnings:
            note(f"[yellow]warning:[/yellow] {escape(warning)}")
        note(_describe(str(root), report))
        return upload_archive(api, archive, archive.tell())


def resolve_source(api: DockyardApi, context: str | None, dockerfile: str | None) -> RunSource:
    """Upload a local context (or take a URL as it is) for a run request."""
    if context is None or context == NO_CONTEXT:
        return RunSource()
    if is_remote(context):
        return RunSource(context_url=context)
    path = Path(context)
    if path.is_dir():
        return RunSource(source=upload_folder(api, path, dockerfile))
    if path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES):
        with path.open("rb") as archive:
            return RunSource(source=upload_archive(api, archive, path.stat().st_size))
    if path.exists():
        raise CliError(
            f"{context} is neither a folder nor a .tar/.tar.gz archive",
            "pass a folder, an archive, a tarball URL or a git URL",
        )
    raise CliError(f"no such folder: {context}")
