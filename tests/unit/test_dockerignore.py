""".dockerignore reading and matching (cli/tasks/dockerignore.py), case by case as Docker
behaves."""

from __future__ import annotations

import pytest

from dockyard.cli.tasks.dockerignore import (
    DockerIgnore,
    IgnoreFileError,
    Pattern,
    clean_path,
    read_patterns,
)


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("a", "a"),
        ("./a", "a"),
        ("a/", "a"),
        ("a//b", "a/b"),
        ("a/./b/", "a/b"),
        ("a/b/../c", "a/c"),
        ("../a", "../a"),
        ("a/../../b", "../b"),
        ("/a/b", "/a/b"),
        ("/../a", "/a"),
        ("", "."),
        ("./", "."),
        ("/", "/"),
    ],
)
def test_clean_path_is_gos_filepath_clean(raw: str, cleaned: str) -> None:
    assert clean_path(raw) == cleaned


def test_reading_skips_comments_and_blank_lines_and_cleans_patterns() -> None:
    text = (
        "\ufeff# a comment\n"
        "\n"
        "   \n"
        "  ./build/  \n"
        "!  keep.txt\n"
        "/abs//path/../file\n"
        " # not a comment once indented\n"
        "**/*.log\n"
        "/\n"
    )
    assert read_patterns(text) == [
        "build",
        "!keep.txt",
        "abs/file",
        "# not a comment once indented",
        "**/*.log",
        "/",
    ]


def test_a_bom_only_counts_on_the_first_line() -> None:
    assert read_patterns("\ufeffa\n") == ["a"]
    assert read_patterns("a\n\ufeffb\n") == ["a", "\ufeffb"]


def excludes(patterns: str, path: str) -> bool:
    return DockerIgnore.from_text(patterns).excludes(path)


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        # A plain name matches at the root only (unlike .gitignore).
        ("secret.txt", "secret.txt", True),
        ("secret.txt", "sub/secret.txt", False),
        # `*` and `?` stay within one component.
        ("*.md", "README.md", True),
        ("*.md", "docs/a.md", False),
        ("*/*.md", "docs/a.md", True),
        ("*/*.md", "docs/deep/a.md", False),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file10.txt", False),
        ("a?b", "a/b", False),
        # `**` spans any number of components, zero included.
        ("**/*.log", "x.log", True),
        ("**/*.log", "a/b/c/x.log", True),
        ("**/*.log", "a/b/c/x.txt", False),
        ("a/**/z", "a/z", True),
        ("a/**/z", "a/b/c/z", True),
        ("a/**/z", "b/a/z", False),
        ("a/**", "a/anything/at/all", True),
        ("a/**", "ab", False),
        ("**", "anything/at/all", True),
        # Character classes, ranges and negation; escapes make characters literal.
        ("[a-c]x", "bx", True),
        ("[a-c]x", "dx", False),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "ax", False),
        ("\\*.txt", "*.txt", True),
        ("\\*.txt", "a.txt", False),
        ("a\\?", "a?", True),
        ("a\\?", "ab", False),
        # Characters that mean something to regular expressions mean nothing here.
        ("a.b", "axb", False),
        ("a+b", "a+b", True),
        ("(x)|{y}$", "(x)|{y}$", True),
        ("^x", "^x", True),
        # Cleaned patterns: a leading ./ or /, a trailing slash.
        ("./build", "build/out.bin", True),
        ("/build/", "build/out.bin", True),
        ("build/", "build", True),
    ],
)
def test_single_patterns(patterns: str, path: str, excluded: bool) -> None:
    assert excludes(patterns, path) is excluded


def test_an_excluded_directory_excludes_everything_under_it() -> None:
    rules = DockerIgnore.from_text("node_modules\n")
    assert rules.excludes("node_modules")
    assert rules.excludes("node_modules/a/b/c.js")
    assert not rules.excludes("src/node_modules.txt")
    assert not rules.may_include_under("node_modules")


def test_an_exception_takes_back_part_of_an_excluded_directory() -> None:
    rules = DockerIgnore.from_text("build\n!build/keep.txt\n")
    assert rules.excludes("build")
    assert rules.excludes("build/other.txt")
    assert not rules.excludes("build/keep.txt")
    assert rules.may_include_under("build")
    assert not rules.may_include_under("elsewhere")


def test_the_last_matching_pattern_wins() -> None:
    assert not excludes("*.md\n!README.md\n", "README.md")
    assert excludes("*.md\n!README.md\n", "CHANGES.md")
    # An exception before the exclusion is overruled by it.
    assert excludes("!README.md\n*.md\n", "README.md")
    # Excluded, taken back, excluded again.
    assert excludes("docs\n!docs/api\ndocs/api/private\n", "docs/api/private/x")
    assert not excludes("docs\n!docs/api\ndocs/api/private\n", "docs/api/public/x")


def test_an_exception_for_a_directory_takes_back_what_is_under_it() -> None:
    rules = DockerIgnore.from_text("*\n!src\n")
    assert rules.excludes("README.md")
    assert not rules.excludes("src")
    assert not rules.excludes("src/deep/file.py")


def test_exceptions_with_wildcards_may_apply_under_excluded_directories() -> None:
    rules = DockerIgnore.from_text("vendor\n!vendor/*/LICENSE\n!**/KEEP\n")
    assert rules.may_include_under("vendor")
    assert rules.may_include_under("vendor/lib")
    assert not rules.excludes("vendor/lib/LICENSE")
    assert rules.excludes("vendor/lib/code.go")
    assert not rules.excludes("vendor/lib/deep/KEEP")
    only_named = DockerIgnore.from_text("vendor\nother\n!vendor/*/LICENSE\n")
    assert not only_named.may_include_under("other")
    assert only_named.may_include_under("vendor/x")
    assert not only_named.may_include_under("vendor/x/y")


def test_keeping_adds_exceptions_at_the_end() -> None:
    rules = DockerIgnore.from_text("Dockerfile\n.dockerignore\n*\n").keeping(
        [".dockerignore", "./Dockerfile"]
    )
    assert not rules.excludes("Dockerfile")
    assert not rules.excludes(".dockerignore")
    assert rules.excludes("other")


def test_pattern_parsing() -> None:
    assert Pattern.parse("!a/") == Pattern("a", exception=True)
    assert Pattern.parse("a/./b") == Pattern("a/b", exception=False)


@pytest.mark.parametrize("bad", ["!\n", "a[b\n", "[]\n", "trailing\\\n"])
def test_patterns_docker_refuses_are_refused(bad: str) -> None:
    with pytest.raises(IgnoreFileError):
        DockerIgnore.from_text(bad)


def test_no_patterns_exclude_nothing() -> None:
    rules = DockerIgnore.from_text("# only a comment\n\n")
    assert rules.patterns == ()
    assert not rules.excludes("anything/at/all")
