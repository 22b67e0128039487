"""`dockyard purge`: delete old tags (and the manifests they leave untagged) with the rules of
ACR's `acr purge`. The registry does the work; the command first asks it for the plan (a dry
run), then purges one repository per request, showing progress, and prints what went."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from dockyard.cli.access.common import Columns, print_json, when
from dockyard.cli.content_api import ContentApi, content_api
from dockyard.cli.output import err, out
from dockyard.cli.remote import Login, Output, remote
from dockyard.spec.purge import PurgeArgumentError, PurgeFilter, parse_ago, parse_filter

if TYPE_CHECKING:
    from dockyard.wire.purge import PurgeResult

# One `/purge` call: the API, the filters, and whether it is a dry run.
_Request = Callable[[ContentApi, list[str], bool], "PurgeResult"]


def _parse(filters: list[str], ago: str) -> list[PurgeFilter]:
    try:
        parse_ago(ago)
        return [parse_filter(f) for f in filters]
    except PurgeArgumentError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _narrowed(filters: list[PurgeFilter], repository: str) -> list[str]:
    """The filters that apply to `repository`, narrowed to it alone."""
    return [
        f"{re.escape(repository)}:{f.tag.pattern}"
        for f in filters
        if f.matches_repository(repository)
    ]


def _affected(plan: PurgeResult) -> list[str]:
    names = {tag.repository for tag in plan.tags} | {m.repository for m in plan.manifests}
    return [r for r in plan.repositories if r in names]


TAGS_VIEW = Columns("tags", ("repository", "tag", "digest", "last_update"), {"last_update": when})
MANIFESTS_VIEW = Columns(
    "manifests", ("repository", "digest", "media_type", "created"), {"created": when}
)
KEPT_VIEW = Columns(
    "kept",
    ("repository", "reference", "reason"),
    {"reference": lambda reference: reference or "*"},
)


def _show(answer: PurgeResult) -> None:
    from dockyard.wire.purge import PurgedManifest, PurgedTag, PurgeSkip

    verb = "to delete" if answer.dry_run else "deleted"
    replace(TAGS_VIEW, title=f"tags {verb}").print_models(PurgedTag, answer.tags)
    replace(MANIFESTS_VIEW, title=f"manifests {verb}").print_models(
        PurgedManifest, answer.manifests
    )
    if answer.skipped:
        KEPT_VIEW.print_models(PurgeSkip, answer.skipped)
    prefix = "DRY RUN: would delete" if answer.dry_run else "deleted"
    out.print(
        f"{prefix} {len(answer.tags)} tags and {len(answer.manifests)} manifests "
        f"in {len(answer.repositories)} matching repositories",
        highlight=False,
    )


def _purge_each(
    api: ContentApi, request: _Request, filters: list[PurgeFilter], plan: PurgeResult
) -> PurgeResult:
    from dockyard.wire.purge import PurgeResult

    done = PurgeResult(
        dry_run=False, repositories=plan.repositories, tags=[], manifests=[], skipped=[]
    )
    affected = _affected(plan)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_interactive) as bar:
        task = bar.add_task("purging", total=len(affected))
        for repository in affected:
            bar.update(task, description=f"purging {repository}")
            part = request(api, _narrowed(filters, repository), False)
            done.tags += part.tags
            done.manifests += part.manifests
            done.skipped += part.skipped
            bar.advance(task)
    # What stays in the repositories with nothing to delete is only in the plan.
    done.skipped += [s for s in plan.skipped if s.repository not in affected]
    return done


@remote
def purge(
    filters: Annotated[
        list[str],
        typer.Option(
            "--filter",
            "-f",
            help="<repository-regex>:<tag-regex>, e.g. 'hello-world:^v1\\.' (repeatable)",
            show_default=False,
        ),
    ],
    ago: Annotated[
        str,
        typer.Option(
            "--ago", help="Delete what was last updated longer ago than this: 2d3h6m, 7d, 30m"
        ),
    ],
    untagged: Annotated[
        bool, typer.Option("--untagged", help="Also delete manifests left without tags")
    ] = False,
    keep: Annotated[
        int, typer.Option("--keep", min=0, help="Keep the newest N matching tags per repository")
    ] = 0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be deleted")
    ] = False,
    include_locked: Annotated[
        bool,
        typer.Option("--include-locked", help="Unlock locked tags and manifests, then delete"),
    ] = False,
    *,
    login: Login,
    output: Output,
) -> None:
    """Delete old tags, and untagged manifests, with the rules of `acr purge`.

    Tags that match a filter and were last updated before --ago go (but the newest --keep);
    with --untagged also the manifests left without tags, never one that an index lists or a
    referrer whose subject stays. Locked items stay unless --include-locked."""
    parsed = _parse(filters, ago)

    def request(api: ContentApi, chosen: list[str], dry: bool) -> PurgeResult:
        return api.purge(
            chosen, ago, keep=keep, untagged=untagged, include_locked=include_locked, dry_run=dry
        )

    with content_api(login) as api:
        with err.status("finding what to purge"):
            plan = request(api, filters, True)
        answer = plan if dry_run else _purge_each(api, request, parsed, plan)
    if output == Output.json:
        print_json(answer)
    else:
        _show(answer)
