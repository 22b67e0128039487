"""`WWW-Authenticate` parsing (spec/challenge.py): what registries send, and hostile values
from a server the user named, which must end in ChallengeInvalid and nothing else."""

from __future__ import annotations

import random

import pytest

from dockyard.spec.challenge import (
    MAX_HEADER_CHARS,
    Challenge,
    ChallengeInvalid,
    find,
    parse_challenges,
)


def test_a_registry_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull,push"'
    )
    assert parse_challenges(header) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/alpine:pull,push",
            },
        )
    ]


def test_basic_with_and_without_a_realm() -> None:
    assert parse_challenges('Basic realm="Registry Realm"') == [
        Challenge("basic", {"realm": "Registry Realm"})
    ]
    assert parse_challenges("basic") == [Challenge("basic")]


def test_escapes_commas_and_spaces_inside_quotes() -> None:
    header = r'Bearer realm = "https://a.example/t\"o,k\\en" , service=reg.example , error=x'
    [bearer] = parse_challenges(header)
    assert bearer.params == {
        "realm": 'https://a.example/t"o,k\\en',
        "service": "reg.example",
        "error": "x",
    }


def test_several_challenges_in_one_header() -> None:
    header = (
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple", '
        "Negotiate abc+/de==, Bearer realm=x"
    )
    challenges = parse_challenges(header)
    assert [c.scheme for c in challenges] == ["newauth", "basic", "negotiate", "bearer"]
    assert challenges[0].params == {"realm": "apps", "type": "1", "title": 'Login to "apps"'}
    assert challenges[2].token68 == "abc+/de=="
    bearer = find(challenges, "BEARER")
    assert bearer is not None
    assert bearer.realm == "x"
    assert find(challenges, "digest") is None


def test_names_are_case_insensitive_and_empty_elements_allowed() -> None:
    assert parse_challenges(' , BEARER REALM="r",, SERVICE=s ,') == [
        Challenge("bearer", {"realm": "r", "service": "s"})
    ]
    assert parse_challenges('Bearer realm=""') == [Challenge("bearer", {"realm": ""})]


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ,  ",
        '"Bearer"',
        'Bearer realm="unterminated',
        'Bearer realm="ends in a backslash\\',
        "Bearer realm=",
        "Bearer realm=,service=x",
        'Bearer realm="a" service="b"',  # a missing comma
        'Bearer realm="a",realm="b"',
        'Bearer realm="x\x00y"',
        'Bearer realm="x\ny"',
        "Bearer realm=<x>",
        'Bearer"realm"',
        "Bearer =x",
        "Negotiate abc==x",
        "Negotiate abc== x",
        "Bearer " + ",".join(f"p{i}=v" for i in range(100)),
        "Bearer realm=" + "x" * MAX_HEADER_CHARS,
        "\u00e9t\u00e9 realm=x",
    ],
)
def test_malformed_values_are_challenge_invalid(header: str) -> None:
    with pytest.raises(ChallengeInvalid):
        parse_challenges(header)


def test_challenge_invalid_is_a_value_error_that_says_where() -> None:
    with pytest.raises(ValueError, match=r"unterminated quoted string at character \d+"):
        parse_challenges('Bearer realm="x')


def test_random_bytes_raise_nothing_but_challenge_invalid() -> None:
    alphabet = 'Bearer Basic realm service scope = , " \\ \t\x00\x7f\u00ff=+/abc'
    seeded = random.Random(13)
    for _ in range(5000):
        header = "".join(seeded.choice(alphabet) for _ in range(seeded.randint(0, 60)))
        try:
            challenges = parse_challenges(header)
        except ChallengeInvalid:
            continue
        assert challenges, header
        assert all(c.scheme for c in challenges), header
