"""A small pull-only client for another registry: the source of an import.

It speaks the OCI distribution API with the three ways registries let clients in: anonymous,
Basic credentials, and the Docker token flow (a 401 with a Bearer challenge sends the client
to the challenge's realm, with Basic credentials when it has them, for a token to retry
with). Unless private sources are allowed, every connection, redirects and token realms
included, goes through the `guard`'s transport, which connects only to public addresses.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from dockyard import __version__
from dockyard.errors import (
    Denied,
    DigestInvalid,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    SizeInvalid,
    TagInvalid,
    UpstreamUnavailable,
)
from dockyard.netguard import Guard, outbound_client
from dockyard.spec import mediatypes
from dockyard.spec.challenge import ChallengeInvalid, parse_challenges
from dockyard.spec.digest import Digest, InvalidDigest, digest_of
from dockyard.spec.names import is_valid_name, is_valid_tag

CHUNK_BYTES = 1024 * 1024
MAX_REFERRER_PAGES = 100
ERROR_BODY_BYTES = 64 * 1024  # what is read of an error answer, for its message
TOKEN_ANSWER_BYTES = 1024 * 1024
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_NEXT_LINK = re.compile(r'<([^>]*)>\s*;[^,]*rel="?next"?')
_MANIFEST_ACCEPT = ", ".join(sorted(mediatypes.MANIFESTS))
# Docker Hub's registry is not at the name people write.
_ALIASES = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}


class SourceUnavailable(UpstreamUnavailable):
    """The source registry could not be reached or answered something unusable."""


@dataclass(frozen=True, slots=True)
class SourceReference:
    """`[scheme://]host[:port]/repository[:tag][@digest]`."""

    base_url: str
    host: str
    repository: str
    tag: str | None
    digest: Digest | None

    @property
    def reference(self) -> str:
        return str(self.digest) if self.digest else self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.host}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_source(text: str) -> SourceReference:
    """The registry, repository and tag or digest of an import's source.

    Without a scheme a loopback host is spoken to over http and any other over https; a
    reference with neither tag nor digest means `latest`.
    """
    raw = text.strip()
    scheme = None
    if "://" in raw:
        scheme, raw = raw.split("://", 1)
        if scheme not in ("http", "https"):
            raise NameInvalid(f"source {text!r}: the scheme must be http or https")
    host, slash, rest = raw.partition("/")
    if not slash or not host or not rest:
        raise NameInvalid(
            f"source {text!r} must name a registry and a repository: "
            "registry.example.com/repository:tag or .../repository@sha256:...",
            detail={"source": text},
        )
    if "." not in host and ":" not in host and host != "localhost":
        raise NameInvalid(
            f"source {text!r} must start with a registry host (such as docker.io)",
            detail={"source": text},
        )
    digest = None
    if "@" in rest:
        rest, digest_text = rest.split("@", 1)
        try:
            digest = Digest.parse(digest_text)
        except InvalidDigest as exc:
            raise DigestInvalid(f"source {text!r}: {exc}", detail={"source": text}) from None
    repository, tag = rest, None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = rest.rsplit(":", 1)
        if not is_valid_tag(tag):
            raise TagInvalid(f"source {text!r}: invalid tag {tag!r}", detail={"source": text})
    if not is_valid_name(repository):
        raise NameInvalid(
            f"source {text!r}: invalid repository name {repository!r}", detail={"source": text}
        )
    endpoint = _ALIASES.get(host.lower(), host)
    if endpoint != host and "/" not in repository:
        repository = f"library/{repository}"
    if scheme is None:
        hostname = endpoint.rsplit(":", 1)[0] if not endpoint.endswith("]") else endpoint
        loopback = hostname in _LOOPBACK_HOSTS or hostname.startswith("127.")
        scheme = "http" if loopback else "https"
    if tag is None and digest is None:
        tag = "latest"
    return SourceReference(f"{scheme}://{endpoint}", host, repository, tag, digest)


@dataclass(frozen=True, slots=True)
class RemoteManifest:
    digest: str
    media_type: str  # the Content-Type it was served with, when that is a manifest type
    body: bytes


def _excerpt(resp: httpx.Response, limit: int = ERROR_BODY_BYTES) -> bytes:
    """At most `limit` bytes of the body: an error answer may be endless."""
    if resp.is_stream_consumed:
        try:
            return resp.content[:limit]
        except httpx.ResponseNotRead:
            return b""
    data = b""
    try:
        for chunk in resp.iter_bytes():
            data += chunk
            if len(data) >= limit:
                break
    except httpx.HTTPError:
        pass
    return data[:limit]


def _source_errors(resp: httpx.Response) -> str:
    """`CODE: message` of the source's OCI error envelope, or the start of its body (of
    which at most ERROR_BODY_BYTES are read)."""
    body = _excerpt(resp)
    try:
        first = json.loads(body)["errors"][0]
        return f"{first['code']}: {first.get('message', '')}".strip()
    except (ValueError, KeyError, IndexError, TypeError):
        return body.decode("utf-8", "replace").strip()[:200] or resp.reason_phrase


class RemoteRegistry:
    """Reads one repository of a source registry."""

    def __init__(
        self,
        source: SourceReference,
        credentials: tuple[str, str] | None,
        guard: Guard | None,
        timeout_seconds: float = 60.0,
    ) -> None:
        """`guard`: None when private sources are allowed."""
        self.source = source
        self._credentials = credentials
        self._authorization: str | None = None
        self._http = outbound_client(
            guard,
            timeout=timeout_seconds,
            follow_redirects=True,
            base_url=source.base_url,
            headers={"User-Agent": f"dockyard/{__version__} (import)"},
        )

    def close(self) -> None:
        self._http.close()

    # --- requests and credentials -----------------------------------------------------------

    def _send(
        self, method: str, url: str, headers: dict[str, str] | None = None, stream: bool = False
    ) -> httpx.Response:
        """One request; a 401 is answered once by (re)authenticating and trying again."""
        resp = self._attempt(method, url, headers, stream)
        if resp.status_code == 401:
            challenges = ", ".join(resp.headers.get_list("www-authenticate"))
            resp.close()
            self._authenticate(challenges)
            resp = self._attempt(method, url, headers, stream)
        if resp.status_code in (401, 403):
            reason = _source_errors(resp)
            resp.close()
            hint = "" if self._credentials else "; give the source's username and password"
            raise Denied(
                f"the source registry refused access to {self.source.repository} "
                f"({resp.status_code} {reason}){hint}",
                detail={"source": str(self.source)},
            )
        return resp

    def _attempt(
        self, method: str, url: str, headers: dict[str, str] | None, stream: bool
    ) -> httpx.Response:
        sent = dict(headers or {})
        if self._authorization:
            sent["Authorization"] = self._authorization
        try:
            request = self._http.build_request(method, url, headers=sent)
            return self._http.send(request, stream=stream)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise SourceUnavailable(f"cannot reach the source registry: {exc}") from None

    def _basic(self) -> str:
        assert self._credentials is not None
        raw = f"{self._credentials[0]}:{self._credentials[1]}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _authenticate(self, header: str) -> None:
        """Credentials for the challenge of a 401: Basic ones, or a token from the realm of
        a Bearer challenge (with the Basic credentials when there are some)."""
        try:
            challenges = parse_challenges(header) if header.strip() else []
        except ChallengeInvalid as exc:
            raise SourceUnavailable(
                f"the source registry answered 401 with a malformed WWW-Authenticate: {exc}"
            ) from None
        usable = next((c for c in challenges if c.scheme in ("basic", "bearer")), None)
        if usable is None or usable.scheme == "basic":
            self._authorization = self._basic() if self._credentials else None
            return
        params = usable.params
        realm = params.get("realm")
        if not realm:
            raise SourceUnavailable("the source registry's Bearer challenge names no realm")
        if not realm.lower().startswith(("http://", "https://")):
            raise SourceUnavailable(
                f"the realm of the source registry's Bearer challenge is not an http(s) URL: "
                f"{realm[:200]!r}"
            )
        query = {"scope": params.get("scope") or f"repository:{self.source.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {"Authorization": self._basic()} if self._credentials else {}
        try:
            request = self._http.build_request("GET", realm, params=query, headers=headers)
            resp = self._http.send(request, stream=True)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise SourceUnavailable(f"cannot reach the source's token service: {exc}") from None
        try:
            self._take_token(resp)
        finally:
            resp.close()

    def _take_token(self, resp: httpx.Response) -> None:
        if resp.status_code in (401, 403):
            raise Denied(
                f"the source's token service refused the credentials ({resp.status_code} "
                f"{_source_errors(resp)})",
                detail={"source": str(self.source)},
            )
        if resp.status_code != 200:
            raise SourceUnavailable(
                f"the source's token service answered {resp.status_code} {_source_errors(resp)}"
            )
        body = _excerpt(resp, TOKEN_ANSWER_BYTES + 1)
        if len(body) > TOKEN_ANSWER_BYTES:
            raise SourceUnavailable(
                f"the source's token service answered more than {TOKEN_ANSWER_BYTES} bytes"
            )
        try:
            answer = json.loads(body)
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise SourceUnavailable("the source's token service answered no token")
        self._authorization = f"Bearer {token}"

    # --- content ----------------------------------------------------------------------------

    def manifest(self, reference: str, max_bytes: int) -> RemoteManifest:
        """The manifest's exact bytes, checked against the digest asked for or announced."""
        url = f"/v2/{self.source.repository}/manifests/{reference}"
        resp = self._send("GET", url, {"Accept": _MANIFEST_ACCEPT}, stream=True)
        try:
            if resp.status_code == 404:
                raise ManifestUnknown(
                    f"the source has no manifest {reference} in {self.source.repository} "
                    f"({_source_errors(resp)})",
                    detail={"source": str(self.source), "reference": reference},
                )
            if resp.status_code != 200:
                raise SourceUnavailable(
                    f"the source answered {resp.status_code} for manifest {reference}: "
                    f"{_source_errors(resp)}"
                )
            body = self._read_limited(resp, max_bytes, f"manifest {reference}")
        finally:
            resp.close()
        media_type = resp.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in mediatypes.MANIFESTS | mediatypes.SCHEMA1:
            media_type = ""  # such as application/json: the body's mediaType says it
        return RemoteManifest(_check_manifest_digest(reference, body, resp), media_type, body)

    def manifest_digest(self, reference: str, max_bytes: int = 4 * 1024 * 1024) -> str | None:
        """The digest `reference` names (a HEAD; a GET when the source announces no digest),
        None when the source has no such manifest."""
        url = f"/v2/{self.source.repository}/manifests/{reference}"
        resp = self._send("HEAD", url, {"Accept": _MANIFEST_ACCEPT})
        resp.close()
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise SourceUnavailable(
                f"the source answered {resp.status_code} for manifest {reference}"
            )
        announced = resp.headers.get("docker-content-digest")
        if announced:
            try:
                return str(Digest.parse(announced))
            except InvalidDigest:
                raise SourceUnavailable(
                    f"the source announced an invalid digest {announced!r} for {reference}"
                ) from None
        return self.manifest(reference, max_bytes).digest

    @staticmethod
    def _read_limited(resp: httpx.Response, limit: int, what: str) -> bytes:
        parts: list[bytes] = []
        received = 0
        try:
            for data in resp.iter_bytes():
                received += len(data)
                if received > limit:
                    raise SizeInvalid(f"the source's {what} exceeds the limit of {limit} bytes")
                parts.append(data)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"reading {what} from the source failed: {exc}") from None
        return b"".join(parts)

    @contextmanager
    def blob(self, digest: str) -> Iterator[Iterator[bytes]]:
        """The blob's bytes as they arrive (not checked here: the upload verifies them)."""
        url = f"/v2/{self.source.repository}/blobs/{digest}"
        resp = self._send("GET", url, {"Accept-Encoding": "identity"}, stream=True)
        try:
            if resp.status_code != 200:
                raise SourceUnavailable(
                    f"the source answered {resp.status_code} for blob {digest}: "
                    f"{_source_errors(resp)}",
                    detail={"digest": digest},
                )
            yield self._chunks(resp, digest)
        finally:
            resp.close()

    @staticmethod
    def _chunks(resp: httpx.Response, digest: str) -> Iterator[bytes]:
        try:
            yield from resp.iter_bytes(CHUNK_BYTES)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                f"reading blob {digest} from the source failed: {exc}", detail={"digest": digest}
            ) from None

    def referrers(self, digest: str, max_bytes: int) -> list[str]:
        """Digests of the manifests whose subject is `digest`: from the referrers API, or
        from the referrers tag (`<alg>-<hex>`) where the source has no such API."""
        url: str | None = f"/v2/{self.source.repository}/referrers/{digest}"
        found: list[str] = []
        for _ in range(MAX_REFERRER_PAGES):
            if url is None:
                return found
            resp = self._send("GET", url, {"Accept": mediatypes.OCI_INDEX}, stream=True)
            try:
                if resp.status_code != 200:
                    if url.startswith("/v2/") and resp.status_code in (400, 404, 405, 501):
                        return self._referrers_tag(digest, max_bytes)
                    raise SourceUnavailable(
                        f"the source answered {resp.status_code} listing referrers of {digest}: "
                        f"{_source_errors(resp)}"
                    )
                body = self._read_limited(resp, max_bytes, f"referrers of {digest}")
            finally:
                resp.close()
            found += _index_digests(body, f"the referrers of {digest}")
            url = _next_page(resp)
        return found

    def _referrers_tag(self, digest: str, max_bytes: int) -> list[str]:
        algorithm, _, hex_part = digest.partition(":")
        try:
            index = self.manifest(f"{algorithm}-{hex_part}", max_bytes)
        except ManifestUnknown:
            return []
        return _index_digests(index.body, f"the referrers tag of {digest}")


def _next_page(resp: httpx.Response) -> str | None:
    for value in resp.headers.get_list("link"):
        match = _NEXT_LINK.search(value)
        if match:
            target: str = urljoin(str(resp.request.url), match.group(1))
            if urlsplit(target).netloc != urlsplit(str(resp.request.url)).netloc:
                raise SourceUnavailable("the source's referrers listing links to another host")
            return target
    return None


def _index_digests(body: bytes, what: str) -> list[str]:
    try:
        document = json.loads(body)
        entries = document["manifests"]
        if not isinstance(entries, list):
            raise TypeError
        digests = [str(Digest.parse(entry["digest"])) for entry in entries]
    except (ValueError, KeyError, TypeError, InvalidDigest) as exc:
        raise ManifestInvalid(f"{what} is not a valid index: {exc}") from None
    return list(dict.fromkeys(digests))


def _check_manifest_digest(reference: str, body: bytes, resp: httpx.Response) -> str:
    """The digest of `body`, which must be the one asked for or the one the source named."""
    wanted_text = reference if ":" in reference else resp.headers.get("docker-content-digest")
    if not wanted_text:
        return str(digest_of(body))
    try:
        wanted = Digest.parse(wanted_text)
    except InvalidDigest:
        raise SourceUnavailable(
            f"the source announced an invalid digest {wanted_text!r} for {reference}"
        ) from None
    actual = digest_of(body, wanted.algorithm)
    if actual != wanted:
        raise DigestInvalid(
            f"the source's manifest {reference} has digest {actual}, not {wanted}",
            detail={"reference": reference},
        )
    return str(actual)
