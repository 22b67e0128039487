#!/usr/bin/python3
"""The helm commands the seed task runs, on Helm itself: the helm-python-sdk package, whose
native library libhelm_c is Helm v4's Go SDK (the image copies it in; no helm binary exists
for this offline base).

    helm package <chart dir> --version V --app-version A [--destination D]
    helm push <name>-<V>.tgz oci://<host:port>/<repository> [--plain-http]
    helm install <release> oci://<host:port>/<repository>/<name> --version V
        --dry-run=client [--set k=v,...] [--plain-http] [--target <url>]

The registry credentials are those of the docker config file ($DOCKER_CONFIG/config.json, else
/root/.docker/config.json), given to Helm as its registry config (the CLI's
--registry-config). `install` runs with the memory storage driver and client dry-run only:
Helm renders the release without a cluster (there is no Kubernetes here; `helm upgrade`
needs one). With --target the rendered release is handed to that deployment target by
POST <url>/releases/<release>, its manifest as the body.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import helm_python as helm


def registry_config() -> Path:
    folder = os.environ.get("DOCKER_CONFIG")
    return Path(folder) / "config.json" if folder else Path("/root/.docker/config.json")


def client(plain_http: bool) -> Any:
    return helm.RegistryClient(plain_http=plain_http, credentials_file=registry_config())


def package(args: argparse.Namespace) -> None:
    out = helm.package(
        args.chart,
        destination=args.destination,
        version=args.version,
        app_version=args.app_version,
    )
    print(f"Successfully packaged chart and saved it to: {out}", flush=True)


def push(args: argparse.Namespace) -> None:
    with helm.Chart.load(args.archive) as chart:
        name, version = chart.name, chart.version
    reference = f"{args.remote.rstrip('/')}/{name}:{version.replace('+', '_')}"
    with client(args.plain_http) as registry:
        registry.push(args.archive, args.remote, plain_http=args.plain_http)
        pushed = registry.resolve(reference)
    print(f"Pushed: {reference.removeprefix('oci://')}")
    print(f"Digest: {pushed['digest']}", flush=True)


def install(args: argparse.Namespace) -> None:
    if args.dry_run != "client":
        raise SystemExit("Error: only --dry-run=client runs here: there is no cluster")
    values = helm.parse_set_string(args.set) if args.set else None
    with client(args.plain_http) as registry, helm.Config(storage_driver="memory") as config:
        config.set_registry_client(registry)
        release = config.install(
            args.chart,
            args.release,
            values,
            dry_run="client",
            chart_version=args.version,
            plain_http=args.plain_http,
        )
        digest = registry.resolve(f"{args.chart}:{args.version.replace('+', '_')}")["digest"]
    print(f"NAME: {release['name']}")
    print(f"STATUS: {release['status']}")
    print(f"CHART: {release['chart_name']} {release['chart_version']}")
    print(f"Digest: {digest}", flush=True)
    if args.target:
        hand_over(args.target, release, digest)


def hand_over(target: str, release: dict[str, Any], digest: str) -> None:
    url = f"{target.rstrip('/')}/releases/{urllib.parse.quote(release['name'], safe='')}"
    request = urllib.request.Request(
        url,
        data=release["manifest"].encode(),
        method="POST",
        headers={
            "Content-Type": "application/yaml",
            "X-Chart-Name": release["chart_name"],
            "X-Chart-Version": release["chart_version"],
            "X-Chart-App-Version": release.get("app_version") or "",
            "X-Chart-Digest": digest,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"Error: the target refused the release: {exc.code}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"Error: the target is unreachable: {exc.reason}") from None
    print(f'Release "{release["name"]}" rendered and handed to the target ({status})', flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="helm")
    commands = parser.add_subparsers(dest="command", required=True)
    pkg = commands.add_parser("package")
    pkg.add_argument("chart")
    pkg.add_argument("--version")
    pkg.add_argument("--app-version")
    pkg.add_argument("--destination", "-d", default=".")
    pkg.set_defaults(run=package)
    psh = commands.add_parser("push")
    psh.add_argument("archive")
    psh.add_argument("remote")
    psh.add_argument("--plain-http", action="store_true")
    psh.set_defaults(run=push)
    ins = commands.add_parser("install")
    ins.add_argument("release")
    ins.add_argument("chart")
    ins.add_argument("--version", required=True)
    ins.add_argument("--dry-run", required=True)
    ins.add_argument("--set")
    ins.add_argument("--plain-http", action="store_true")
    ins.add_argument("--target")
    ins.set_defaults(run=install)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except helm.HelmError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
