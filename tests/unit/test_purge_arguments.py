"""`acr purge`'s arguments: filters split at the right colon, anchored as ACR anchors them,
and Go-style durations with days."""

from __future__ import annotations

import pytest

from dockyard.spec.purge import MAX_AGO_SECONDS, PurgeArgumentError, parse_ago, parse_filter


@pytest.mark.parametrize(
    ("text", "repository", "tag"),
    [
        ("hello-world:.*", "hello-world", ".*"),
        (".*/cache:^v1", ".*/cache", "^v1"),
        ("(?:a|b)/app:(?i:latest)", "(?:a|b)/app", "(?i:latest)"),
        ("app:[:]x", "app", "[:]x"),
    ],
)
def test_a_filter_splits_at_the_separating_colon(text: str, repository: str, tag: str) -> None:
    parsed = parse_filter(text)
    assert (parsed.repository.pattern, parsed.tag.pattern) == (repository, tag)


def test_repository_expressions_match_whole_names_and_tag_expressions_anywhere() -> None:
    parsed = parse_filter("team/app:rc")
    assert parsed.matches_repository("team/app")
    assert not parsed.matches_repository("team/app-other")
    assert not parsed.matches_repository("x/team/app")
    assert parsed.matches_tag("1.0-rc2")
    assert not parsed.matches_tag("1.0")
    assert not parse_filter("team/app:^rc$").matches_tag("1.0-rc")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app", "one separating colon"),
        ("a:b:c", "one separating colon"),
        (":v1", "no repository expression"),
        ("app:", "no tag expression"),
        ("app:(", "invalid tag expression"),
        ("[:v1", "one separating colon"),
        ("a(:v1", "invalid repository expression"),
    ],
)
def test_bad_filters_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(PurgeArgumentError, match=message):
        parse_filter(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2d3h6m", 2 * 86400 + 3 * 3600 + 6 * 60),
        ("7d", 7 * 86400),
        ("0d", 0),
        ("0", 0),
        ("30m", 1800),
        ("1.5h", 5400),
        ("1h30m10s", 5410),
        ("250ms", 0.25),
        ("3d0", 3 * 86400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_ago(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "d", "10", "3x", "1d-2h", "-1h", "1h 30m", "h1"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(PurgeArgumentError):
        parse_ago(text)


def test_durations_are_capped_at_150_years() -> None:
    assert parse_ago("999999d") == MAX_AGO_SECONDS
    assert parse_ago("99999999h") == MAX_AGO_SECONDS
