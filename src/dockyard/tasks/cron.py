"""Timer schedules: 5-field cron expressions in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter

from dockyard.errors import Invalid


def check_schedule(schedule: str) -> str:
    """A 5-field cron expression in UTC, normalized to single spaces."""
    fields = schedule.split()
    if len(fields) != 5 or not croniter.is_valid(" ".join(fields)):
        raise Invalid(
            f"schedule {schedule!r} is not a 5-field cron expression "
            "(minute hour day-of-month month day-of-week, UTC)"
        )
    return " ".join(fields)


def next_slot(schedule: str, after: float) -> float:
    """The first slot of `schedule` strictly after `after` (epoch seconds, UTC)."""
    start = datetime.fromtimestamp(after, UTC)
    found = croniter(schedule, start).get_next(datetime)
    assert isinstance(found, datetime)
    return found.timestamp()
