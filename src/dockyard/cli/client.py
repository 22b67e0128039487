"""The CLI's side of the wire: registry URLs, the stored logins, the token service, the
docker credential store, and the management API client.

Like `az acr login`, `dockyard login` trades a username and password for a refresh token at
`/oauth2/token`, hands it to `docker login` with the null-GUID username, and keeps it in the
CLI's own file (`~/.config/dockyard/credentials.json`, mode 0600, or `$DOCKYARD_CLI_CONFIG`)
for later commands, which send it as Basic credentials with that same username.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from dockyard.cli.output import note
from dockyard.spec.challenge import ChallengeInvalid, find, parse_challenges

# The username that marks the password as a refresh token (ACR's convention).
REFRESH_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"
CONFIG_ENV = "DOCKYARD_CLI_CONFIG"
REGISTRY_ENV = "DOCKYARD_REGISTRY"
API_PREFIX = "/api/v1"
TIMEOUT_SECONDS = 30.0
STREAM_READ_TIMEOUT_SECONDS = 600.0
DOCKER_TIMEOUT_SECONDS = 120.0
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")
# Where `bash scripts/start.sh` (`dockyard serve` with its defaults) serves: the registry the
# commands use when no other is named and no login is stored. Written out rather than read
# from the settings, which the client commands do not import (they start faster without the
# server stack); tests/integration/test_cli_conventions.py holds it to serve's defaults.
QUICK_START_REGISTRY = "http://127.0.0.1:5000"


class CliError(Exception):
    """A failure to report to the user: a message, and maybe what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# --- registry URLs ---------------------------------------------------------------------------


def normalize_registry(text: str) -> str:
    """`scheme://host[:port]`; without a scheme, http for loopback hosts and https otherwise."""
    text = text.strip().rstrip("/")
    if not text:
        raise CliError("empty registry URL")
    if "://" not in text:
        host = text.split("/", 1)[0]
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        scheme = "http" if hostname in _LOOPBACK or hostname.startswith("127.") else "https"
        text = f"{scheme}://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(f"invalid registry URL {text!r}", "use e.g. https://registry.example.com")
    return f"{parts.scheme}://{parts.netloc}"


def registry_host(url: str) -> str:
    """What docker calls the registry: host[:port]."""
    return urlsplit(url).netloc


# --- stored logins ---------------------------------------------------------------------------


@dataclass
class StoredLogin:
    service: str | None = None
    username: str | None = None
    refresh_token: str | None = None
    expires_at: float | None = None

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at < time.time()


def config_path() -> Path:
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "dockyard" / "credentials.json"


class CredentialStore:
    """`{"current": url, "registries": {url: {service, username, refresh_token, ...}}}`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_path()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"registries": {}}
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read {self.path}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("registries"), dict):
            raise CliError(f"{self.path} is not a dockyard credentials file")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(prefix=".credentials-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, indent=2)
                handle.write("\n")
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    def get(self, registry: str) -> StoredLogin | None:
        entry = self._load()["registries"].get(registry)
        if not isinstance(entry, dict):
            return None
        fields = StoredLogin.__dataclass_fields__
        return StoredLogin(**{k: v for k, v in entry.items() if k in fields})

    def save(self, registry: str, login: StoredLogin) -> None:
        data = self._load()
        data["registries"][registry] = asdict(login)
        data["current"] = registry
        self._write(data)

    def remove(self, registry: str) -> bool:
        data = self._load()
        found = data["registries"].pop(registry, None) is not None
        if data.get("current") == registry:
            data.pop("current")
        if found:
            self._write(data)
        return found

    def default_registry(self) -> str | None:
        """The last registry logged in to, or the only one stored."""
        data = self._load()
        current = data.get("current")
        if isinstance(current, str) and current in data["registries"]:
            return current
        registries = list(data["registries"])
        return registries[0] if len(registries) == 1 else None


def resolve_registry(explicit: str | None, store: CredentialStore) -> str:
    """-r, else $DOCKYARD_REGISTRY, else the stored login's registry, else the local quick
    start (saying so on stderr)."""
    chosen = explicit or os.environ.get(REGISTRY_ENV) or store.default_registry()
    if not chosen:
        note(
            f"using the local quick-start registry {QUICK_START_REGISTRY} (no -r/--registry, "
            f"no ${REGISTRY_ENV}, no stored login)"
        )
        return QUICK_START_REGISTRY
    return normalize_registry(chosen)


# --- the token service -----------------------------------------------------------------------


def token_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without checking it (the registry checks it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        return None


class ConnectionLost(CliError):
    """A streamed answer broke off (or went quiet too long); asking again may work."""


def _connection_error(url: str, exc: httpx.HTTPError) -> CliError:
    if url == QUICK_START_REGISTRY:
        hint = (
            "is the local quick start running (`bash scripts/start.sh`)? For another "
            f"registry pass -r URL, set {REGISTRY_ENV}, or run `dockyard login -r URL`"
        )
    else:
        hint = "is the registry URL right and is it running?"
    return CliError(f"cannot reach {url}: {exc}", hint)


def discover_service(http: httpx.Client, registry: str) -> str | None:
    """The token service's `service` name from the `/v2/` challenge; None when the registry
    lets everyone in."""
    try:
        resp = http.get(f"{registry}/v2/")
    except httpx.HTTPError as exc:
        raise _connection_error(registry, exc) from exc
    if resp.status_code == 200:
        return None
    if resp.status_code != 401:
        raise CliError(f"{registry}/v2/ answered {resp.status_code}; is this a registry?")
    header = ", ".join(resp.headers.get_list("www-authenticate"))
    try:
        bearer = find(parse_challenges(header), "bearer") if header.strip() else None
    except ChallengeInvalid as exc:
        raise CliError(
            f"{registry}/v2/ answered 401 with a malformed WWW-Authenticate header: {exc}",
            "is this a Dockyard (or ACR-compatible) registry?",
        ) from None
    service = bearer.params.get("service") if bearer is not None else None
    return service or registry_host(registry)


def request_refresh_token(
    http: httpx.Client, registry: str, service: str, username: str, password: str
) -> str:
    try:
        resp = http.post(
            f"{registry}/oauth2/token",
            data={
                "grant_type": "password",
                "service": service,
                "username": username,
                "password": password,
            },
        )
    except httpx.HTTPError as exc:
        raise _connection_error(registry, exc) from exc
    if resp.status_code != 200:
        raise CliError(f"login failed: {error_message(resp)}")
    token = resp.json().get("refresh_token")
    if not isinstance(token, str):
        raise CliError("login failed: the token service answered no refresh token")
    return token


def error_message(resp: httpx.Response) -> str:
    """`STATUS CODE: message` from an OCI error envelope, or the raw body."""
    try:
        errors = resp.json()["errors"]
        first = errors[0]
        return f"{resp.status_code} {first['code']}: {first['message']}"
    except (ValueError, KeyError, IndexError, TypeError):
        return f"{resp.status_code} {resp.text.strip()[:300]}"


# --- the docker credential store -------------------------------------------------------------


def docker_login(host: str, refresh_token: str) -> tuple[bool, str]:
    """`docker login HOST -u <null GUID> --password-stdin`, as `az acr login` does."""
    docker = shutil.which("docker")
    if docker is None:
        return False, "the docker CLI is not installed; skipped `docker login`"
    try:
        done = subprocess.run(
            [docker, "login", host, "--username", REFRESH_TOKEN_USERNAME, "--password-stdin"],
            input=refresh_token,
            capture_output=True,
            text=True,
            timeout=DOCKER_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"`docker login {host}` failed: {exc}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        return False, f"`docker login {host}` failed: {detail}"
    return True, f"docker is logged in to {host}"


def docker_logout(host: str) -> tuple[bool, str]:
    docker = shutil.which("docker")
    if docker is None:
        return False, "the docker CLI is not installed; skipped `docker logout`"
    try:
        done = subprocess.run(
            [docker, "logout", host],
            capture_output=True,
            text=True,
            timeout=DOCKER_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"`docker logout {host}` failed: {exc}"
    if done.returncode != 0:
        return False, f"`docker logout {host}` failed: {(done.stderr or done.stdout).strip()}"
    return True, f"docker is logged out of {host}"


# --- the management API ----------------------------------------------------------------------


class ManagementClient:
    """Calls to `/api/v1` with Basic credentials (a password, or the stored refresh token)."""

    def __init__(
        self, registry: str, auth: tuple[str, str] | None, relogin_hint: str | None = None
    ) -> None:
        self.registry = registry
        self._relogin_hint = relogin_hint
        self._http = httpx.Client(
            base_url=registry + API_PREFIX,
            auth=httpx.BasicAuth(*auth) if auth else None,
            timeout=TIMEOUT_SECONDS,
        )

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        try:
            resp = self._http.request(method, path, json=body, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise _connection_error(self.registry, exc) from exc
        if resp.status_code >= 400:
            raise self._failure(resp)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def _failure(self, resp: httpx.Response) -> CliError:
        message = error_message(resp)
        hint = None
        if resp.status_code == 401:
            hint = self._relogin_hint or f"run `dockyard login -r {self.registry}`"
        elif resp.status_code == 403 and " may not " in message:
            hint = "managing needs the Owner or Contributor role (Reader may look)"
        elif message.endswith("no such endpoint"):
            hint = "does this registry serve the management API (/api/v1)?"
        return CliError(message, hint)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body)

    def stream_lines(self, path: str, body: Any = None) -> Iterator[Any]:
        """POST and read an NDJSON answer line by line, as the server sends it. Lines may be
        far apart (a large blob on its way), hence the long read timeout."""
        timeout = httpx.Timeout(TIMEOUT_SECONDS, read=STREAM_READ_TIMEOUT_SECONDS)
        try:
            with self._http.stream("POST", path, json=body, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._failure(resp)
                for line in resp.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.HTTPError as exc:
            raise _connection_error(self.registry, exc) from exc
        except ValueError as exc:
            raise CliError(f"the registry sent a line that is not JSON: {exc}") from exc

    def upload(self, path: str, chunks: Iterable[bytes], size: int) -> Any:
        """POST a body of `size` bytes as `chunks` yields it (never all in memory) and answer
        the JSON reply."""
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        timeout = httpx.Timeout(TIMEOUT_SECONDS, read=STREAM_READ_TIMEOUT_SECONDS)
        try:
            resp = self._http.post(path, content=chunks, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise _connection_error(self.registry, exc) from exc
        if resp.status_code >= 400:
            raise self._failure(resp)
        return resp.json()

    def stream_bytes(self, path: str, params: dict[str, Any] | None = None) -> Iterator[bytes]:
        """GET and yield the raw body as it arrives (a log that a running job is writing).
        A connection that breaks or stays silent past the read timeout raises ConnectionLost."""
        timeout = httpx.Timeout(TIMEOUT_SECONDS, read=STREAM_READ_TIMEOUT_SECONDS)
        try:
            with self._http.stream("GET", path, params=params, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._failure(resp)
                yield from resp.iter_bytes()
        except httpx.TransportError as exc:
            raise ConnectionLost(f"the connection to {self.registry} broke off: {exc}") from exc
        except httpx.HTTPError as exc:
            raise _connection_error(self.registry, exc) from exc


@contextlib.contextmanager
def connect(
    registry: str | None, username: str | None, password: str | None
) -> Iterator[ManagementClient]:
    """A management client for the chosen registry, with explicit or stored credentials."""
    store = CredentialStore()
    url = resolve_registry(registry, store)
    auth: tuple[str, str] | None = None
    hint: str | None = None
    if username:
        if password is None:
            raise CliError("--username needs --password")
        auth = (username, password)
    else:
        stored = store.get(url)
        if stored is not None and stored.refresh_token:
            if stored.expired:
                raise CliError(
                    f"the login to {url} has expired", f"run `dockyard login -r {url}` again"
                )
            auth = (REFRESH_TOKEN_USERNAME, stored.refresh_token)
            hint = f"the stored login may be stale: run `dockyard login -r {url}` again"
    client = ManagementClient(url, auth, hint)
    try:
        yield client
    finally:
        client.close()
