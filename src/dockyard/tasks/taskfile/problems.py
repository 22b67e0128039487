"""Problems found in a task file, each with where it is, reported together as one error."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import Invalid


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    line: int  # 1-based; 0 when the problem has no place in the text
    column: int  # 1-based; 0 when unknown
    message: str

    def __str__(self) -> str:
        if self.line <= 0:
            return self.message
        return f"line {self.line}: {self.message}"


class TaskFileInvalid(Invalid):
    """The task file cannot run; every problem found is listed, in the order of the text."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        text = "; ".join(str(p) for p in self.problems)
        super().__init__(
            f"invalid task file: {text}",
            detail=[
                {"line": p.line, "column": p.column, "message": p.message} for p in self.problems
            ],
        )
