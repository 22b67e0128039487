"""Hostile input never gets a 500 (issue #11, point 12): numbers too large for the database or
for Python's int parsing, strings the database or UTF-8 cannot hold, and a seeded fuzz run over
every endpoint family that fails on any 5xx or any traceback in the server's log. The token
endpoints' fuzz and NUL in credentials run in process (tests/protocol/test_hostile_input.py)."""

from __future__ import annotations

import json
import os
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.helpers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    assert_error,
    assert_status,
    canonical,
    describe,
    location,
    push_image,
    sha256,
    start_upload,
    upload_blob,
)

HUGE_DIGITS = "9" * 5000  # past Python's int-from-text limit (4300 digits)


def _log_problems(server: ServerProcess, since: int) -> list[str]:
    text = server.log()[since:]
    return [
        line
        for line in text.splitlines()
        if "Traceback" in line or "unhandled error" in line or "Logging error" in line
    ]


# --- listing `n` ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [str(2**63), str(2**64 + 5), HUGE_DIGITS, "-1", "1e3", "0x10"])
@pytest.mark.parametrize(
    "path",
    [
        "/v2/{repo}/tags/list",
        "/v2/_catalog",
        "/acr/v1/_catalog",
        "/acr/v1/{repo}/_tags",
        "/acr/v1/{repo}/_manifests",
    ],
)
def test_listing_n_out_of_range_is_400(
    client: httpx.Client, server: ServerProcess, repo: str, path: str, n: str
) -> None:
    push_image(client, repo, "v1")
    resp = client.get(path.format(repo=repo), params={"n": n})
    assert_error(resp, 400, "PAGINATION_NUMBER_INVALID")


def test_listing_n_at_the_largest_integer_works(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    for path in (f"/v2/{repo}/tags/list", f"/acr/v1/{repo}/_tags", f"/acr/v1/{repo}/_manifests"):
        resp = client.get(path, params={"n": str(2**63 - 1)})
        assert_status(resp, 200)
    resp = client.get("/v2/_catalog", params={"n": str(2**63 - 1)})
    assert_status(resp, 200)


# --- Range and Content-Range ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={HUGE_DIGITS}-",
        f"bytes=0-{HUGE_DIGITS}",
        f"bytes=-{HUGE_DIGITS}",
        f"bytes={HUGE_DIGITS}-{HUGE_DIGITS}",
        "bytes=0-1,2-3",
        "bytes=abc",
        "lines=0-1",
    ],
)
def test_unusable_range_is_ignored(client: httpx.Client, repo: str, header: str) -> None:
    data = b"0123456789" * 10
    digest = upload_blob(client, repo, data)
    resp = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": header})
    assert_status(resp, 200)
    assert resp.content == data, describe(resp)


def test_range_with_leading_zeros_still_works(client: httpx.Client, repo: str) -> None:
    data = b"0123456789" * 10
    digest = upload_blob(client, repo, data)
    resp = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": f"bytes={'0' * 40}5-9"})
    assert_status(resp, 206)
    assert resp.content == b"56789", describe(resp)


@pytest.mark.parametrize(
    "header", [f"0-{HUGE_DIGITS}", f"{HUGE_DIGITS}-{HUGE_DIGITS}", f"bytes 0-{HUGE_DIGITS}/*"]
)
def test_huge_content_range_is_refused_in_the_envelope(
    client: httpx.Client, repo: str, header: str
) -> None:
    started = start_upload(client, repo)
    resp = client.patch(location(started), content=b"0123456789", headers={"Content-Range": header})
    assert_error(resp, 416, "RANGE_INVALID")
    # The session is intact: a good chunk still goes in.
    resp = client.patch(location(started), content=b"0123456789", headers={"Content-Range": "0-9"})
    assert_status(resp, 202)


# --- strings the database or UTF-8 cannot hold -------------------------------------------------


def _manifest_with(client: httpx.Client, repo: str, **fields: Any) -> dict[str, Any]:
    config = canonical({"architecture": "amd64", "os": "linux"})
    layer = b"layer-" + repo.encode()
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": upload_blob(client, repo, config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": OCI_LAYER, "digest": upload_blob(client, repo, layer), "size": len(layer)}
        ],
    }
    manifest.update(fields)
    return manifest


BAD_TEXT = ["\ud800", "a\udfffb", "nul\u0000byte"]


def _put_raw(
    client: httpx.Client, repo: str, reference: str, document: dict[str, Any]
) -> httpx.Response:
    # ensure_ascii keeps the lone surrogate a `\ud800` escape: exactly what a hostile client sends
    body = json.dumps(document, ensure_ascii=True).encode()
    return client.put(
        f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )


@pytest.mark.parametrize("text", BAD_TEXT)
@pytest.mark.parametrize(
    "where", ["artifactType", "configMediaType", "annotationValue", "annotationKey", "layerUrl"]
)
def test_unstorable_text_in_a_manifest_is_manifest_invalid(
    client: httpx.Client, server: ServerProcess, repo: str, where: str, text: str
) -> None:
    since = len(server.log())
    manifest = _manifest_with(client, repo)
    if where == "artifactType":
        manifest["artifactType"] = f"application/x{text}"
    elif where == "configMediaType":
        manifest["config"]["mediaType"] = f"application/x{text}"
    elif where == "annotationValue":
        manifest["annotations"] = {"org.example": text}
    elif where == "annotationKey":
        manifest["annotations"] = {text: "value"}
    else:
        manifest["layers"][0]["urls"] = [f"https://example.com/{text}"]
    resp = _put_raw(client, repo, "v1", manifest)
    assert_error(resp, 400, "MANIFEST_INVALID")
    assert not _log_problems(server, since), server.log()[since:]


@pytest.mark.parametrize("where", ["artifactType", "config"])
def test_media_type_longer_than_the_column_is_manifest_invalid(
    client: httpx.Client, server: ServerProcess, repo: str, where: str
) -> None:
    """Found by the fuzz on PostgreSQL (seed 4): a 4096-character config mediaType, stored as
    the referrers' artifact type in a 255-character column, was a 500."""
    manifest = _manifest_with(client, repo)
    long_type = "application/" + "x" * 4096
    if where == "artifactType":
        manifest["artifactType"] = long_type
    else:
        manifest["config"]["mediaType"] = long_type
    assert_error(_put_raw(client, repo, "v1", manifest), 400, "MANIFEST_INVALID")


@pytest.mark.parametrize("text", BAD_TEXT)
def test_unstorable_architecture_in_the_config_is_not_a_500(
    client: httpx.Client, repo: str, text: str
) -> None:
    config = json.dumps({"architecture": text, "os": text}, ensure_ascii=True).encode()
    manifest = _manifest_with(client, repo)
    manifest["config"] = {
        "mediaType": OCI_CONFIG,
        "digest": upload_blob(client, repo, config),
        "size": len(config),
    }
    resp = _put_raw(client, repo, "v1", manifest)
    assert_status(resp, 201)
    resp = client.get(f"/acr/v1/{repo}/_manifests")
    assert_status(resp, 200)


def test_huge_number_in_a_manifest_is_manifest_invalid(client: httpx.Client, repo: str) -> None:
    manifest = _manifest_with(client, repo)
    body = canonical(manifest).replace(
        b'"schemaVersion":2', f'"schemaVersion":{HUGE_DIGITS}'.encode()
    )
    resp = client.put(
        f"/v2/{repo}/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_error(resp, 400, "MANIFEST_INVALID")


@pytest.mark.parametrize(
    "body",
    [
        b'{"\\ud800": true}',
        b'{"writeEnabled": ' + HUGE_DIGITS.encode() + b"}",
        b'{"changeableAttributes": {"\\u0000": false}}',
        b'{"writeEnabled": "\\udc00"}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_hostile_acr_patch_body_is_400(
    client: httpx.Client, server: ServerProcess, repo: str, body: bytes
) -> None:
    since = len(server.log())
    push_image(client, repo, "v1")
    for path in (f"/acr/v1/{repo}", f"/acr/v1/{repo}/_tags/v1"):
        resp = client.patch(path, content=body, headers={"Content-Type": "application/json"})
        assert_error(resp, 400)
    assert not _log_problems(server, since), server.log()[since:]


@pytest.mark.parametrize(
    "query",
    [
        "last=a%00b",
        "last=%ED%A0%80",  # a UTF-8-encoded lone surrogate
        "last=%FF%FE",
        "artifactType=x%00",
        "artifactType=%ED%B0%80",
        "digest=sha256:%00",
        "orderby=%00",
        "n=%00",
    ],
)
def test_unstorable_query_text_is_not_a_500(
    client: httpx.Client, server: ServerProcess, repo: str, query: str
) -> None:
    since = len(server.log())
    pushed = push_image(client, repo, "v1")
    paths = [
        f"/v2/{repo}/tags/list",
        "/v2/_catalog",
        "/acr/v1/_catalog",
        f"/acr/v1/{repo}/_tags",
        f"/acr/v1/{repo}/_manifests",
        f"/v2/{repo}/referrers/{pushed.digest}",
    ]
    for path in paths:
        resp = client.get(f"{path}?{query}")
        assert resp.status_code < 500, describe(resp)
        if resp.status_code >= 400:
            assert_error(resp, resp.status_code)
    assert not _log_problems(server, since), server.log()[since:]


# --- the fuzz run -------------------------------------------------------------------------------
#
# A bounded, seeded generator (the same requests on every run): names, tags, digests, Range and
# Content-Range, listing parameters, mutated manifests and ACR PATCH bodies, against one server.
# It fails on any 5xx, on an error of the registry APIs that is not the OCI envelope, and on any
# traceback or unhandled error in the server's log.

T = TypeVar("T")
# CI runs one fixed seed; another one explores (DOCKYARD_FUZZ_SEED=<n> pytest -k fuzz).
FUZZ_SEED = int(os.environ.get("DOCKYARD_FUZZ_SEED", "20261203"))
FUZZ_REQUESTS = 3000
BASE_REPO = "fuzz/base"
ENABLED_ATTRIBUTES = ("deleteEnabled", "writeEnabled", "readEnabled", "listEnabled")

ODD_TEXT = [
    "",
    " ",
    "%00",
    "%ED%A0%80",  # a UTF-8-encoded lone surrogate
    "%FF%FE",
    "%C0%AF",  # overlong '/'
    "%2F",
    "%2e%2e",
    "..",
    "é",
    "\u202e",
    "😀",
    "a" * 300,
    "-" * 5,
    "_x",
    "x" * 4096,
    "1" * 5000,
]


class Fuzzer:
    def __init__(self, rng: random.Random, base_digests: list[str], manifest: dict[str, Any]):
        self.rng = rng
        self.base_digests = base_digests
        self.manifest = manifest

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def text(self) -> str:
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            return self.pick(ODD_TEXT)
        if kind == 1:
            alphabet = string.ascii_letters + string.digits + "._-/:@%+~ "
            return "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
        if kind == 2:
            return "".join(
                chr(rng.choice([rng.randrange(32, 127), rng.randrange(160, 0x3000)]))
                for _ in range(rng.randrange(1, 12))
            )
        return self.pick(ODD_TEXT) + self.pick(["a", "/b", ":c", "@d"]) + self.pick(ODD_TEXT)

    def name(self) -> str:
        if self.rng.random() < 0.4:
            return self.pick([BASE_REPO, "fuzz/other", "fuzz/new-" + str(self.rng.randrange(50))])
        return self.text() or "x"

    def tag(self) -> str:
        if self.rng.random() < 0.3:
            return self.pick(["v1", "v2", "latest", "a" * 128, "a" * 129])
        return self.text() or "t"

    def digest(self) -> str:
        rng = self.rng
        choices = [
            lambda: self.pick(self.base_digests),
            lambda: f"sha256:{rng.getrandbits(256):064x}",
            lambda: f"sha512:{rng.getrandbits(512):0128x}",
            lambda: f"sha256:{rng.getrandbits(250):063x}",
            lambda: "sha256:" + "G" * 64,
            lambda: "SHA256:" + "a" * 64,
            lambda: "md5:" + "a" * 32,
            lambda: "sha256:" + "a" * 5000,
            lambda: "sha256:",
            lambda: self.text(),
        ]
        return self.pick(choices)()

    def number(self) -> str:
        return self.pick(
            [
                "0",
                "1",
                "2",
                "-1",
                "1.5",
                "1e3",
                " 5",
                "0x10",
                "+3",
                "٣",
                str(2**31),
                str(2**63 - 1),
                str(2**63),
                str(2**64),
                "9" * 30,
                "9" * 5000,
                "0" * 50 + "7",
                "",
                "%00",
                "abc",
            ]
        )

    def range_header(self) -> str:
        n = self.number
        return self.pick(
            [
                lambda: f"bytes={n()}-{n()}",
                lambda: f"bytes=-{n()}",
                lambda: f"bytes={n()}-",
                lambda: f"bytes={n()}-{n()},{n()}-{n()}",
                lambda: f"items={n()}-{n()}",
                lambda: "bytes=" + " " * 3000 + "x",
                lambda: self.text(),
            ]
        )()

    def content_range(self) -> str:
        n = self.number
        return self.pick(
            [
                lambda: f"{n()}-{n()}",
                lambda: f"bytes {n()}-{n()}/{n()}",
                lambda: f"bytes={n()}-{n()}",
                lambda: f"bytes {n()}-{n()}/*",
                lambda: self.text(),
            ]
        )()

    def json_value(self, depth: int = 0) -> Any:
        rng = self.rng
        kind = rng.randrange(12 if depth < 3 else 8)
        if kind == 0:
            return None
        if kind == 1:
            return rng.choice([True, False])
        if kind == 2:
            return rng.choice([0, -1, 2**63, 2**64, -(2**70), 1.5, 1e308])
        if kind in (3, 4):
            return self.text()
        if kind == 5:
            return self.pick(["\ud800", "a\udfff", "\u0000", "\uffff", "\U0010ffff"])
        if kind == 6:
            return self.pick(self.base_digests)
        if kind == 7:
            return self.pick(
                [
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/json",
                ]
            )
        if kind in (8, 9):
            return [self.json_value(depth + 1) for _ in range(rng.randrange(4))]
        return {self.text(): self.json_value(depth + 1) for _ in range(rng.randrange(4))}

    def mutate(self, document: Any) -> Any:
        """One random change somewhere in a copy of the document."""
        document = json.loads(json.dumps(document))
        paths: list[tuple[Any, Any]] = []
        pending: list[Any] = [document]
        while pending:
            node = pending.pop()
            keys = (
                list(node)
                if isinstance(node, dict)
                else range(len(node))
                if isinstance(node, list)
                else []
            )
            for key in keys:
                paths.append((node, key))
                pending.append(node[key])
        if not paths:
            return self.json_value()
        node, key = self.pick(paths)
        action = self.rng.randrange(4)
        if action == 0 and isinstance(node, dict):
            del node[key]
        elif action == 1 and isinstance(node, dict):
            node[self.text()] = self.json_value()
        else:
            node[key] = self.json_value()
        return document

    def manifest_body(self) -> bytes:
        rng = self.rng
        kind = rng.randrange(12)
        if kind == 0:
            return b"[" * 3000 + b"]" * 3000
        if kind == 1:
            return self.text().encode("utf-8", "surrogatepass")
        if kind == 2:
            return json.dumps(self.json_value()).encode()
        document = self.manifest
        if kind < 6:
            # Valid in shape, odd in text: what the registry stores and serves back.
            document = json.loads(json.dumps(document))
            texts = [self.text(), self.pick(["\ud800", "a\udfff", "\u0000", "ok", "\U0010ffff"])]
            document["annotations"] = {self.pick(texts): self.pick(texts)}
            if rng.random() < 0.5:
                document["artifactType"] = self.pick(texts)
            if rng.random() < 0.3:
                document["config"]["mediaType"] = self.pick(texts)
        else:
            for _ in range(rng.randrange(1, 4)):
                document = self.mutate(document)
        body = json.dumps(document, ensure_ascii=rng.random() < 0.7).encode(
            "utf-8", "surrogatepass"
        )
        if kind == 6 and body:
            cut = rng.randrange(len(body))
            body = (
                body[:cut] + self.pick([b"\xff", b"\xed\xa0\x80", b"\x00", b'"', b"}"]) + body[cut:]
            )
        return body

    def acr_body(self) -> bytes:
        rng = self.rng
        attributes = [
            "deleteEnabled",
            "writeEnabled",
            "readEnabled",
            "listEnabled",
            "tagImmutability",
        ]
        kind = rng.randrange(6)
        if kind == 0:
            return json.dumps({self.pick(attributes): self.json_value()}).encode(
                "utf-8", "surrogatepass"
            )
        if kind == 1:
            inner = {self.pick([*attributes, self.text()]): True}
            return json.dumps({"changeableAttributes": inner}, ensure_ascii=False).encode(
                "utf-8", "surrogatepass"
            )
        if kind == 2:
            return json.dumps(self.json_value()).encode()
        if kind == 3:
            return b'{"writeEnabled": ' + self.number().encode() + b"}"
        if kind == 4:
            return self.text().encode("utf-8", "surrogatepass")
        # Only changes that keep the base repository usable: everything stays enabled.
        return json.dumps({self.pick(attributes[:4]): True}).encode()


def _fuzz_requests(fuzz: Fuzzer) -> Iterator[tuple[str, str, dict[str, str], bytes]]:
    """(method, target, headers, body) of each request, endlessly."""
    rng = fuzz.rng
    while True:
        family = rng.randrange(8)
        name, tag, digest = fuzz.name(), fuzz.tag(), fuzz.digest()
        params = "&".join(
            f"{key}={value}"
            for key, value in (
                ("n", fuzz.number()),
                ("last", fuzz.pick([fuzz.text(), fuzz.tag(), fuzz.digest()])),
                ("orderby", fuzz.pick(["timedesc", "timeasc", "none", fuzz.text()])),
                ("digest", fuzz.digest()),
                ("artifactType", fuzz.text()),
            )
            if rng.random() < 0.5
        )
        if family == 0:
            # Mostly stored blobs, so that ranges are read, not refused before.
            if rng.random() < 0.6:
                name, digest = BASE_REPO, fuzz.pick(fuzz.base_digests[1:])
            method = fuzz.pick(["GET", "HEAD", "GET", "GET"])
            headers = {"Range": fuzz.range_header()} if rng.random() < 0.7 else {}
            yield method, f"/v2/{name}/blobs/{digest}", headers, b""
        elif family == 1:
            method = fuzz.pick(["GET", "HEAD", "PUT", "PUT", "DELETE"])
            reference = fuzz.pick([tag, digest])
            if method == "PUT":
                body = fuzz.manifest_body()
                if rng.random() < 0.5:  # so that some pushes are accepted
                    reference = fuzz.pick([f"v{rng.randrange(20)}", sha256(body)])
                content_type = fuzz.pick(
                    [
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.oci.image.index.v1+json",
                        "application/vnd.docker.distribution.manifest.v1+prettyjws",
                        fuzz.text(),
                    ]
                )
                target = f"/v2/{fuzz.pick([BASE_REPO, BASE_REPO, name])}/manifests/{reference}"
                if rng.random() < 0.3:
                    target += f"?tag={fuzz.tag()}"
                yield "PUT", target, {"Content-Type": content_type}, body
            else:
                yield method, f"/v2/{name}/manifests/{reference}", {}, b""
        elif family == 2:
            path = fuzz.pick(
                [
                    f"/v2/{name}/tags/list",
                    "/v2/_catalog",
                    "/acr/v1/_catalog",
                    f"/v2/{name}/referrers/{digest}",
                    f"/acr/v1/{name}/_tags",
                    f"/acr/v1/{name}/_manifests",
                ]
            )
            yield "GET", f"{path}?{params}", {}, b""
        elif family == 3:
            path = fuzz.pick(
                [
                    f"/acr/v1/{name}",
                    f"/acr/v1/{name}/_tags/{tag}",
                    f"/acr/v1/{name}/_manifests/{digest}",
                ]
            )
            method = fuzz.pick(["GET", "PATCH", "PATCH"])
            yield (
                method,
                path,
                {"Content-Type": "application/json"},
                fuzz.acr_body() if method == "PATCH" else b"",
            )
        elif family == 4:
            query = fuzz.pick(
                ["", f"digest={digest}", f"mount={digest}&from={fuzz.name()}", f"mount={digest}"]
            )
            body = rng.randbytes(rng.randrange(0, 300))
            yield "POST", f"/v2/{name}/blobs/uploads/?{query}", {}, body
        elif family == 5:
            # A chunk to an upload of the base repository (the session is made just before).
            headers = {"Content-Range": fuzz.content_range()} if rng.random() < 0.8 else {}
            yield "PATCH", "{upload}", headers, rng.randbytes(rng.randrange(0, 200))
        elif family == 6:
            method = fuzz.pick(["PUT", "GET", "DELETE", "PATCH"])
            upload_id = fuzz.pick(
                ["{upload-id}", fuzz.text(), "00000000-0000-0000-0000-000000000000"]
            )
            yield (
                method,
                f"/v2/{name}/blobs/uploads/{upload_id}?digest={digest}",
                {},
                rng.randbytes(rng.randrange(0, 50)),
            )
        else:
            method = fuzz.pick(["DELETE", "GET", "OPTIONS", "TRACE", "PUT"])
            yield method, f"/v2/{name}/{fuzz.text()}", {}, b""


def _is_registry_api(target: str) -> bool:
    return target.startswith(("/v2/", "/acr/"))


def test_fuzz_finds_no_5xx_and_no_traceback(server_factory: Callable[..., ServerProcess]) -> None:
    srv = server_factory(workers=2)
    rng = random.Random(FUZZ_SEED)
    failures: list[str] = []
    answered: Counter[tuple[str, int]] = Counter()
    unsendable = 0
    with httpx.Client(base_url=srv.url, timeout=60) as client:
        base = push_image(client, BASE_REPO, "v1", layers=2)
        blobs = list(base.blobs)
        fuzz = Fuzzer(rng, [base.digest, *blobs], base.json)
        requests = _fuzz_requests(fuzz)
        for sent in range(FUZZ_REQUESTS):
            if sent % 100 == 0:  # undo locks the run set on the base repository
                unlocked = dict.fromkeys(ENABLED_ATTRIBUTES, True)
                assert_status(client.patch(f"/acr/v1/{BASE_REPO}", json=unlocked), 200)
            method, target, headers, body = next(requests)
            if "{upload" in target:
                started = client.post(f"/v2/{BASE_REPO}/blobs/uploads/")
                upload_url = location(started)
                target = target.replace("{upload}", upload_url)
                target = target.replace("{upload-id}", upload_url.rsplit("/", 1)[-1])
            try:
                resp = client.request(method, target, headers=headers, content=body)
            except (httpx.InvalidURL, UnicodeEncodeError, httpx.LocalProtocolError):
                unsendable += 1  # the client cannot send it; nothing reached the server
                continue
            answered[(method, resp.status_code)] += 1
            problem = ""
            if resp.status_code >= 500:
                problem = "5xx"
            elif resp.status_code >= 400 and method != "HEAD" and _is_registry_api(target):
                try:
                    envelope = resp.json()
                    assert isinstance(envelope["errors"][0]["code"], str)
                except (ValueError, KeyError, IndexError, TypeError, AssertionError):
                    problem = "not the OCI error envelope"
            if problem:
                failures.append(f"{problem}: {body[:200]!r}{describe(resp, 400)}")
    log = srv.log()
    broken = [
        line
        for line in log.splitlines()
        if "Traceback" in line
        or "unhandled error" in line
        or "Logging error" in line
        or re.search(r'" 5\d\d ', line)
    ]
    # The run reached the code behind validation too, not only the refusals.
    reached = set(answered)
    wanted = {("PUT", 201), ("GET", 206), ("PATCH", 202), ("PATCH", 416), ("GET", 400)}
    assert wanted <= reached, answered
    assert unsendable < FUZZ_REQUESTS // 20, f"{unsendable} requests could not be sent"
    assert not failures, f"{len(failures)} bad answers; the first ones:\n" + "\n".join(
        failures[:15]
    )
    assert not broken, "server log:\n" + "\n".join(broken[:30])
