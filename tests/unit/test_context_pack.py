"""Packing a local build context (cli/tasks/context.py): what goes in, what stays out, links,
and the same bytes for the same tree."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.cli.tasks.context import (
    ContextError,
    PackReport,
    link_leaves_context,
    pack_context,
)

MTIME = 1_700_000_000


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def pack(root: Path, dockerfile: str | None = "Dockerfile") -> tuple[bytes, PackReport]:
    buffer = io.BytesIO()
    report = pack_context(root, buffer, dockerfile=dockerfile)
    return buffer.getvalue(), report


def members(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive)), mode="r:") as tar:
        return {member.name: member for member in tar.getmembers()}


def contents(archive: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive)), mode="r:") as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read()


def test_dockerignore_patterns_decide_what_is_sent(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Dockerfile": "FROM x\n",
            ".dockerignore": (
                "# build output and secrets\n./build/\n!build/keep.txt\n*.secret\n**/*.log\ndocs\n"
            ),
            "app/main.py": "print('hi')\n",
            "app/debug.log": "noise\n",
            "app/deep/er/trace.log": "noise\n",
            "top.log": "noise\n",
            "api.secret": "s3cr3t\n",
            "app/nested.secret": "kept: * stays in one folder\n",
            "build/out.bin": "binary\n",
            "build/keep.txt": "kept\n",
            "build/sub/x.txt": "gone\n",
            "docs/index.md": "gone\n",
        },
    )
    archive, report = pack(tmp_path)
    assert sorted(members(archive)) == [
        ".dockerignore",
        "Dockerfile",
        "app",
        "app/deep",
        "app/deep/er",
        "app/main.py",
        "app/nested.secret",
        "build/keep.txt",
    ]
    assert contents(archive, "app/main.py") == b"print('hi')\n"
    assert report.files == 5
    assert report.directories == 3
    assert report.content_bytes == sum(
        len(contents(archive, n)) for n in members(archive) if members(archive)[n].isfile()
    )
    # docs/ skipped whole; build/out.bin and build/sub (build/ was looked into for keep.txt);
    # the secret and the three logs.
    assert report.excluded == 7


def test_an_excluded_dockerfile_and_ignore_file_are_still_sent(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Dockerfile": "FROM x\n",
            ".dockerignore": "Dockerfile\n.dockerignore\n*\n",
            "other.txt": "gone\n",
        },
    )
    archive, _ = pack(tmp_path)
    assert sorted(members(archive)) == [".dockerignore", "Dockerfile"]


def test_a_dockerfile_in_an_excluded_folder_is_still_sent(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "ci/build.Dockerfile": "FROM x\n",
            "ci/script.sh": "gone\n",
            ".dockerignore": "ci\n",
            "src/a.txt": "kept\n",
        },
    )
    archive, _ = pack(tmp_path, dockerfile="./ci/build.Dockerfile")
    assert sorted(members(archive)) == [
        ".dockerignore",
        "ci/build.Dockerfile",
        "src",
        "src/a.txt",
    ]


def test_a_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Dockerfile": "FROM x\n",
            "app.Dockerfile": "FROM y\n",
            "app.Dockerfile.dockerignore": "b.txt\n",
            ".dockerignore": "a.txt\n",
            "a.txt": "a\n",
            "b.txt": "b\n",
        },
    )
    archive, _ = pack(tmp_path, dockerfile="app.Dockerfile")
    names = set(members(archive))
    assert "a.txt" in names
    assert "b.txt" not in names
    assert "app.Dockerfile.dockerignore" in names
    archive, _ = pack(tmp_path, dockerfile="Dockerfile")
    names = set(members(archive))
    assert "a.txt" not in names
    assert "b.txt" in names


def test_symbolic_links_are_stored_as_links_and_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0\n")
    root = tmp_path / "ctx"
    write(root, {"Dockerfile": "FROM x\n", "data/real.txt": "real\n"})
    (root / "to-file").symlink_to("data/real.txt")
    (root / "to-dir").symlink_to("data")
    (root / "data" / "up-and-in").symlink_to("../data/real.txt")
    (root / "dangling").symlink_to("not/there")
    (root / "absolute").symlink_to(outside / "passwd")
    (root / "climbs-out").symlink_to("../outside/passwd")
    (root / "data" / "climbs-out-too").symlink_to("../../outside")
    archive, report = pack(root)
    found = members(archive)
    assert found["to-file"].issym()
    assert found["to-file"].linkname == "data/real.txt"
    assert found["to-dir"].issym()
    assert found["data/up-and-in"].linkname == "../data/real.txt"
    assert found["dangling"].issym()
    assert not any(name.startswith("to-dir/") for name in found), "a link was followed"
    for name in ("absolute", "climbs-out", "data/climbs-out-too"):
        assert name not in found
    assert b"root:x" not in gzip.decompress(archive)
    assert report.links == 4
    assert len(report.warnings) == 3
    assert all("outside the context" in warning for warning in report.warnings)


@pytest.mark.parametrize(
    ("name", "target", "leaves"),
    [
        ("a", "b", False),
        ("a", "./b/../c", False),
        ("d/a", "../b", False),
        ("d/e/a", "../../b", False),
        ("a", "..", True),
        ("a", "../b", True),
        ("d/a", "../../b", True),
        ("d/a", "x/../../../b", True),
        ("a", "/etc/passwd", True),
    ],
)
def test_which_links_leave_the_context(name: str, target: str, leaves: bool) -> None:
    assert link_leaves_context(name, target) is leaves


def test_special_files_are_left_out(tmp_path: Path) -> None:
    write(tmp_path, {"Dockerfile": "FROM x\n"})
    os.mkfifo(tmp_path / "pipe")
    archive, report = pack(tmp_path)
    assert set(members(archive)) == {"Dockerfile"}
    assert report.warnings == ["left out pipe: not a file, directory or symbolic link"]


def test_metadata_is_normalised_but_modes_are_kept(tmp_path: Path) -> None:
    write(tmp_path, {"Dockerfile": "FROM x\n", "run.sh": "#!/bin/sh\n"})
    (tmp_path / "run.sh").chmod(0o755)
    (tmp_path / "Dockerfile").chmod(0o600)
    os.utime(tmp_path / "run.sh", (MTIME + 0.75, MTIME + 0.75))
    archive, _ = pack(tmp_path)
    found = members(archive)
    assert found["run.sh"].mode == 0o755
    assert found["Dockerfile"].mode == 0o600
    assert found["run.sh"].mtime == MTIME
    for member in found.values():
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
    # The gzip header holds no time and no file name.
    assert archive[4:8] == b"\0\0\0\0"
    assert archive[3] & 0x08 == 0


def make_tree(root: Path, order: list[str]) -> None:
    files = {
        "Dockerfile": "FROM x\n",
        "b/2.txt": "two\n",
        "a/1.txt": "one\n",
        "a/Z.txt": "zed\n",
        "c.txt": "see\n",
    }
    for name in order:
        write(root, {name: files[name]})
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (MTIME, MTIME), follow_symlinks=False)
    os.utime(root, (MTIME, MTIME))


def test_the_same_tree_packs_to_the_same_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    make_tree(first, ["Dockerfile", "b/2.txt", "a/1.txt", "a/Z.txt", "c.txt"])
    make_tree(second, ["c.txt", "a/Z.txt", "a/1.txt", "b/2.txt", "Dockerfile"])
    archive, _ = pack(first)
    assert pack(first)[0] == archive
    assert pack(second)[0] == archive
    # Depth first, names in byte order ("Z" before "a" before "b").
    assert list(members(archive)) == [
        "Dockerfile",
        "a",
        "a/1.txt",
        "a/Z.txt",
        "b",
        "b/2.txt",
        "c.txt",
    ]
    (second / "c.txt").write_text("changed\n")
    os.utime(second / "c.txt", (MTIME, MTIME))
    assert pack(second)[0] != archive


def test_a_bad_ignore_file_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path, {"Dockerfile": "FROM x\n", ".dockerignore": "ok\n[unclosed\n"})
    with pytest.raises(ContextError, match=r"\.dockerignore: .*unclosed"):
        pack(tmp_path)


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="is not a directory"):
        pack(tmp_path / "nope")


def test_every_sent_name_is_reported(tmp_path: Path) -> None:
    write(tmp_path, {"Dockerfile": "FROM x\n", "d/f": "x\n"})
    seen: list[str] = []
    buffer = io.BytesIO()
    report = pack_context(tmp_path, buffer, dockerfile="Dockerfile", on_file=seen.append)
    assert seen == report.names == ["Dockerfile", "d", "d/f"]
