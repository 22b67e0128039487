"""A task file from its text to a checked, planned TaskFile: templates, then aliases (v1.1.0),
then YAML; every problem on the way is reported together."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.tasks.taskfile.aliases import apply_aliases, declared_aliases, predefined_aliases
from dockyard.tasks.taskfile.graph import Plan
from dockyard.tasks.taskfile.model import V1_1_0, TaskFile
from dockyard.tasks.taskfile.parse import parse_task_file
from dockyard.tasks.taskfile.problems import Problem, TaskFileInvalid
from dockyard.tasks.taskfile.secrets import SecretMasker
from dockyard.tasks.taskfile.templates import RunContext, render_templates


@dataclass(frozen=True, slots=True)
class RenderedTaskFile:
    task: TaskFile
    text: str  # after templates and aliases; holds secret values, so never log it unmasked
    plan: Plan
    masker: SecretMasker

    def mask(self, text: str) -> str:
        """`text` with every secret value of the run replaced by ***."""
        return self.masker.mask(text)


def load_task_file(
    text: str,
    run: RunContext,
    *,
    values: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    alias_sources: Mapping[str, str] | None = None,
) -> RenderedTaskFile:
    """`values` come from --set/--values, `secrets` from --secret-set, `alias_sources` hold the
    text of each file the task's `alias.src` names. Raises TaskFileInvalid."""
    secrets = dict(secrets or {})
    masker = SecretMasker(secrets.values())
    try:
        return _load(text, run, values, secrets, alias_sources, masker)
    except TaskFileInvalid as exc:
        # A secret rendered into a field that is wrong would otherwise show in the message.
        masked = [Problem(p.line, p.column, masker.mask(p.message)) for p in exc.problems]
        raise TaskFileInvalid(masked) from None


def _load(
    text: str,
    run: RunContext,
    values: Mapping[str, str] | None,
    secrets: dict[str, str],
    alias_sources: Mapping[str, str] | None,
    masker: SecretMasker,
) -> RenderedTaskFile:
    rendered, problems = render_templates(text, run, values, secrets)
    if problems:
        raise TaskFileInvalid(problems)
    version, aliases, problems = declared_aliases(rendered, alias_sources)
    if version == V1_1_0:
        known = predefined_aliases(run)
        known.update({name: apply_aliases(value, known) for name, value in aliases.items()})
        rendered = apply_aliases(rendered, known)
    try:
        task = parse_task_file(rendered)
    except TaskFileInvalid as exc:
        raise TaskFileInvalid([*problems, *exc.problems]) from None
    for secret in task.secrets:
        if secret.id not in secrets:
            problems.append(
                Problem(0, 0, f"secret '{secret.id}' has no value (give it with --secret-set)")
            )
    if problems:
        raise TaskFileInvalid(problems)
    return RenderedTaskFile(task, rendered, Plan.of(task.steps), masker)
