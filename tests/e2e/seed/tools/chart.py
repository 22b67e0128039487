"""A small stand-in for the helm CLI, on the Python standard library alone.

    chart.py package <chart dir> --version V --app-version A [--destination D]
    chart.py push <name>-<V>.tgz oci://<host:port>/<repository>
    chart.py upgrade <release> oci://<host:port>/<repository>/<name> --version V --target <url>

`package` writes the archive helm package writes: a gzip tar with one top folder named after
the chart, Chart.yaml first (its version and appVersion set), values.yaml next, then the other
files. `push` stores it as a Helm OCI artifact in `<repository>/<chart name>`, tagged with the
chart version; `upgrade` pulls it back, checks it and hands it to a deployment target by
POST <url>/releases/<release>. Registries are spoken to over plain HTTP with the Docker token
flow, using the credentials of /root/.docker/config.json (or $DOCKER_CONFIG/config.json).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_TOP_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9_]*):(?:\s+(.*?))?\s*$")
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class Failure(Exception):
    """A problem to report on stderr with exit status 1."""


# --- Chart.yaml ------------------------------------------------------------------------------


def _scalar(raw: str) -> str:
    raw = raw.split(" #", 1)[0].strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw


def read_chart_metadata(text: str) -> dict[str, str]:
    """The top-level scalar fields of a Chart.yaml (nested fields are not read)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or line[0] in " -\t":
            continue
        match = _TOP_FIELD.match(line)
        if match is None:
            raise Failure(f"Chart.yaml: cannot read line {line!r}")
        if match.group(2):
            fields[match.group(1)] = _scalar(match.group(2))
    for required in ("apiVersion", "name", "version"):
        if not fields.get(required):
            raise Failure(f"Chart.yaml has no {required}")
    return fields


def with_fields(text: str, updates: dict[str, str]) -> str:
    """Chart.yaml text with the given top-level fields set (added at the end if absent)."""
    lines = text.splitlines()
    left = dict(updates)
    for i, line in enumerate(lines):
        match = _TOP_FIELD.match(line)
        if match and match.group(1) in left:
            lines[i] = f"{match.group(1)}: {json.dumps(left.pop(match.group(1)))}"
    lines.extend(f"{key}: {json.dumps(value)}" for key, value in left.items())
    return "\n".join(lines) + "\n"


# --- package ---------------------------------------------------------------------------------


def _tar_file(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = int(mtime)
    tar.addfile(info, io.BytesIO(data))


def package(chart_dir: Path, version: str, app_version: str | None, destination: Path) -> Path:
    chart_yaml = chart_dir / "Chart.yaml"
    if not chart_yaml.is_file():
        raise Failure(f"{chart_dir} holds no Chart.yaml")
    updates = {"version": version}
    if app_version is not None:
        updates["appVersion"] = app_version
    chart_text = with_fields(chart_yaml.read_text(), updates)
    name = read_chart_metadata(chart_text)["name"]
    others = sorted(
        p
        for p in chart_dir.rglob("*")
        if p.is_file() and p.name not in ("Chart.yaml", "values.yaml")
    )
    now = time.time()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _tar_file(tar, f"{name}/Chart.yaml", chart_text.encode(), now)
        if (chart_dir / "values.yaml").is_file():
            _tar_file(tar, f"{name}/values.yaml", (chart_dir / "values.yaml").read_bytes(), now)
        for path in others:
            relative = path.relative_to(chart_dir).as_posix()
            _tar_file(tar, f"{name}/{relative}", path.read_bytes(), now)
    destination.mkdir(parents=True, exist_ok=True)
    out = destination / f"{name}-{version}.tgz"
    out.write_bytes(gzip.compress(raw.getvalue(), mtime=int(now)))
    return out


def chart_of(archive: bytes) -> tuple[dict[str, str], str]:
    """(Chart.yaml fields, top folder name) of a packaged chart."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            tops = {m.name.split("/", 1)[0] for m in members}
            if len(tops) != 1:
                raise Failure(f"a chart archive holds one top folder, this one {sorted(tops)}")
            (top,) = tops
            member = tar.extractfile(f"{top}/Chart.yaml")
            if member is None:
                raise Failure("the chart archive holds no Chart.yaml")
            return read_chart_metadata(member.read().decode()), top
    except (tarfile.TarError, OSError, KeyError) as exc:
        raise Failure(f"not a chart archive: {exc}") from None


# --- registry client -------------------------------------------------------------------------


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def docker_auth(host: str) -> str | None:
    """The base64 user:password stored for `host` in the docker config file, if any."""
    folder = Path(os.environ.get("DOCKER_CONFIG", str(Path.home() / ".docker")))
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    entry = config.get("auths", {}).get(host) or config.get("auths", {}).get(f"http://{host}")
    if not entry:
        return None
    if entry.get("auth"):
        return str(entry["auth"])
    if entry.get("username") and entry.get("password"):
        return base64.b64encode(f"{entry['username']}:{entry['password']}".encode()).decode()
    return None


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Response:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return Response(resp.status, _lower(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, _lower(exc.headers.items()), exc.read())
    except urllib.error.URLError as exc:
        raise Failure(f"{method} {url}: {exc.reason}") from None


def _lower(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in items}


@dataclass
class Registry:
    """One registry host spoken to over plain HTTP, following its auth challenges."""

    host: str
    authorization: str | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        url = path if path.startswith("http") else f"http://{self.host}{path}"
        headers = dict(headers or {})
        if self.authorization:
            headers["Authorization"] = self.authorization
        resp = http(method, url, body, headers)
        if resp.status != 401:
            return resp
        self.authorization = self._answer(resp.header("www-authenticate"))
        headers["Authorization"] = self.authorization
        return http(method, url, body, headers)

    def _answer(self, challenge: str) -> str:
        scheme, _, rest = challenge.partition(" ")
        basic = docker_auth(self.host)
        if scheme.lower() == "basic":
            if basic is None:
                raise Failure(f"{self.host} asks for credentials and the docker config has none")
            return f"Basic {basic}"
        if scheme.lower() != "bearer":
            raise Failure(f"{self.host} answered 401 with an unknown challenge {challenge!r}")
        params = dict(_CHALLENGE_PARAM.findall(rest))
        if "realm" not in params:
            raise Failure(f"the Bearer challenge of {self.host} names no realm")
        query = [(k, params[k]) for k in ("service", "scope") if k in params]
        url = f"{params['realm']}?{urllib.parse.urlencode(query)}"
        headers = {"Authorization": f"Basic {basic}"} if basic else {}
        resp = http("GET", url, headers=headers)
        if resp.status != 200:
            raise Failure(f"the token service refused: {resp.status} {resp.body[:300]!r}")
        answer = json.loads(resp.body)
        token = answer.get("token") or answer.get("access_token")
        if not token:
            raise Failure("the token service answered no token")
        return f"Bearer {token}"

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = sha256_digest(data)
        if self.call("HEAD", f"/v2/{repository}/blobs/{digest}").status == 200:
            return digest
        start = self.call("POST", f"/v2/{repository}/blobs/uploads/", b"")
        if start.status != 202 or not start.header("location"):
            raise Failure(f"starting an upload to {repository}: {start.status} {start.body!r}")
        location = urllib.parse.urljoin(f"http://{self.host}/", start.header("location"))
        sep = "&" if "?" in location else "?"
        done = self.call(
            "PUT",
            f"{location}{sep}digest={digest}",
            data,
            {"Content-Type": "application/octet-stream"},
        )
        if done.status != 201:
            raise Failure(f"uploading {digest} to {repository}: {done.status} {done.body!r}")
        return digest

    def put_manifest(self, repository: str, tag: str, body: bytes) -> str:
        resp = self.call(
            "PUT", f"/v2/{repository}/manifests/{tag}", body, {"Content-Type": OCI_MANIFEST}
        )
        if resp.status != 201:
            raise Failure(f"storing the manifest {repository}:{tag}: {resp.status} {resp.body!r}")
        return resp.header("docker-content-digest") or sha256_digest(body)

    def get(self, repository: str, kind: str, reference: str, accept: str = "*/*") -> Response:
        resp = self.call("GET", f"/v2/{repository}/{kind}/{reference}", headers={"Accept": accept})
        if resp.status != 200:
            raise Failure(f"GET {repository} {kind} {reference}: {resp.status} {resp.body!r}")
        return resp


def parse_oci(ref: str) -> tuple[str, str]:
    """oci://host:port/repository -> (host:port, repository)."""
    if not ref.startswith("oci://"):
        raise Failure(f"{ref!r} is not an oci:// reference")
    host, _, repository = ref[len("oci://") :].partition("/")
    if not host or not repository:
        raise Failure(f"{ref!r} names no repository")
    return host, repository.strip("/")


def tag_of(version: str) -> str:
    return version.replace("+", "_")  # OCI tags allow no '+'


# --- push and upgrade ------------------------------------------------------------------------


def push(archive_path: Path, remote: str) -> str:
    archive = archive_path.read_bytes()
    metadata, _ = chart_of(archive)
    host, base = parse_oci(remote)
    repository = f"{base}/{metadata['name']}"
    config = json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()
    registry = Registry(host)
    registry.push_blob(repository, config)
    registry.push_blob(repository, archive)
    annotations = {
        "org.opencontainers.image.title": metadata["name"],
        "org.opencontainers.image.version": metadata["version"],
    }
    if metadata.get("description"):
        annotations["org.opencontainers.image.description"] = metadata["description"]
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": HELM_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [
            {"mediaType": HELM_CHART, "digest": sha256_digest(archive), "size": len(archive)}
        ],
        "annotations": annotations,
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    tag = tag_of(metadata["version"])
    digest = registry.put_manifest(repository, tag, body)
    if digest != sha256_digest(body):
        raise Failure(f"the registry stored the manifest as {digest}, not {sha256_digest(body)}")
    print(f"Pushed: {host}/{repository}:{tag}")
    print(f"Digest: {digest}", flush=True)
    return digest


def upgrade(release: str, remote: str, version: str, target: str) -> None:
    host, repository = parse_oci(remote)
    registry = Registry(host)
    resp = registry.get(repository, "manifests", tag_of(version), accept=OCI_MANIFEST)
    digest = sha256_digest(resp.body)
    served = resp.header("docker-content-digest")
    if served and served != digest:
        raise Failure(f"the manifest's digest is {digest}, the registry says {served}")
    manifest = json.loads(resp.body)
    if manifest.get("config", {}).get("mediaType") != HELM_CONFIG:
        raise Failure(f"{repository}:{version} is not a Helm chart")
    layers = [layer for layer in manifest.get("layers", []) if layer["mediaType"] == HELM_CHART]
    if len(layers) != 1:
        raise Failure(f"{repository}:{version} holds {len(layers)} chart layers, not 1")
    archive = registry.get(repository, "blobs", layers[0]["digest"]).body
    if sha256_digest(archive) != layers[0]["digest"]:
        raise Failure(f"the chart layer does not match its digest {layers[0]['digest']}")
    metadata, _ = chart_of(archive)
    if metadata["version"] != version:
        raise Failure(f"the chart tagged {version} says it is version {metadata['version']}")
    print(f"Pulled: {host}/{repository}:{version}")
    print(f"Digest: {digest}", flush=True)
    answer = http(
        "POST",
        f"{target.rstrip('/')}/releases/{urllib.parse.quote(release, safe='')}",
        archive,
        {
            "Content-Type": "application/gzip",
            "X-Chart-Name": metadata["name"],
            "X-Chart-Version": metadata["version"],
            "X-Chart-App-Version": metadata.get("appVersion", ""),
            "X-Chart-Digest": digest,
        },
    )
    if not 200 <= answer.status < 300:
        raise Failure(f"the target refused the upgrade: {answer.status} {answer.body[:300]!r}")
    print(f'Release "{release}" has been upgraded to {metadata["name"]} {version}', flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="chart.py", description="a small helm stand-in")
    commands = parser.add_subparsers(dest="command", required=True)
    pkg = commands.add_parser("package")
    pkg.add_argument("chart")
    pkg.add_argument("--version", required=True)
    pkg.add_argument("--app-version")
    pkg.add_argument("--destination", "-d", default=".")
    psh = commands.add_parser("push")
    psh.add_argument("archive")
    psh.add_argument("remote")
    upg = commands.add_parser("upgrade")
    upg.add_argument("release")
    upg.add_argument("chart")
    upg.add_argument("--version", required=True)
    upg.add_argument("--target", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "package":
            out = package(Path(args.chart), args.version, args.app_version, Path(args.destination))
            print(f"Successfully packaged chart and saved it to: {out}", flush=True)
        elif args.command == "push":
            push(Path(args.archive), args.remote)
        else:
            upgrade(args.release, args.chart, args.version, args.target)
    except Failure as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
