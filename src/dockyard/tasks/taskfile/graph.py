"""The order of a task's steps: `when` as a graph, and which steps may start given what ended.

- `when: ["-"]` starts at once; a list of ids waits for all of them; no `when` waits for the
  step before (the first step starts at once).
- A step that failed counts as done for its dependants only if it has `ignoreErrors`;
  otherwise everything that depends on it, directly or not, is blocked and never starts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from dockyard.tasks.taskfile.model import START_AT_ONCE, Step


def dependencies(steps: Sequence[Step]) -> dict[str, tuple[str, ...]]:
    """Each step's id to the ids it waits for, in file order."""
    graph: dict[str, tuple[str, ...]] = {}
    for index, step in enumerate(steps):
        if step.when is None:
            graph[step.id] = (steps[index - 1].id,) if index > 0 else ()
        elif tuple(step.when) == (START_AT_ONCE,):
            graph[step.id] = ()
        else:
            graph[step.id] = tuple(dict.fromkeys(step.when))
    return graph


def find_cycle(steps: Sequence[Step]) -> list[str]:
    """The ids of one cycle (in waiting order), or [] when there is none."""
    graph = dependencies(steps)
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                return path[path.index(dep) :]
            if dep in graph and dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[node] = 2
        return []

    for step in steps:
        if step.id not in state and (found := visit(step.id)):
            return found
    return []


@dataclass(frozen=True, slots=True)
class Plan:
    """The steps of a valid task file and what each waits for; every answer is computed from
    the sets of steps that started and ended, which the executor keeps."""

    steps: tuple[Step, ...]
    waits_for: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, steps: Sequence[Step]) -> Plan:
        return cls(tuple(steps), dependencies(steps))

    @property
    def ignores_errors(self) -> frozenset[str]:
        return frozenset(s.id for s in self.steps if s.ignore_errors)

    def dependants(self, step_id: str) -> tuple[str, ...]:
        return tuple(s.id for s in self.steps if step_id in self.waits_for[s.id])

    def order(self) -> list[str]:
        """A topological order; among steps free at the same time, file order."""
        done: set[str] = set()
        order: list[str] = []
        while len(order) < len(self.steps):
            ready = [
                s.id for s in self.steps if s.id not in done and set(self.waits_for[s.id]) <= done
            ]
            if not ready:  # a cycle; a parsed task file has none
                raise ValueError("the steps form a cycle")
            order.extend(ready)
            done.update(ready)
        return order

    def blocked(self, failed: Collection[str]) -> frozenset[str]:
        """Steps that can never start: they wait, directly or not, on a step that failed
        without ignoreErrors."""
        stopped = {f for f in failed if f not in self.ignores_errors}
        blocked: set[str] = set()
        changed = True
        while changed:
            changed = False
            for step in self.steps:
                if step.id in blocked or step.id in failed:
                    continue
                if any(dep in stopped or dep in blocked for dep in self.waits_for[step.id]):
                    blocked.add(step.id)
                    changed = True
        return frozenset(blocked)

    def ready(
        self,
        succeeded: Collection[str],
        failed: Collection[str] = (),
        started: Collection[str] = (),
    ) -> list[str]:
        """Steps that may start now (in file order): not started or ended, and every step they
        wait for has succeeded, or failed with ignoreErrors. A detached step counts as
        succeeded once its container runs."""
        ended = set(succeeded) | set(failed)
        done = set(succeeded) | (set(failed) & self.ignores_errors)
        return [
            s.id
            for s in self.steps
            if s.id not in ended
            and s.id not in started
            and all(dep in done for dep in self.waits_for[s.id])
        ]

    def finished(
        self, succeeded: Collection[str], failed: Collection[str], started: Collection[str] = ()
    ) -> bool:
        """Nothing is running and nothing more can start."""
        ended = set(succeeded) | set(failed)
        running = set(started) - ended
        return not running and not self.ready(succeeded, failed, started)

    def outcome_failed(self, failed: Collection[str]) -> bool:
        """The run fails when a step failed that does not ignore errors."""
        return any(f not in self.ignores_errors for f in failed)
