"""Answers sent before the request body was read (issue #12, point 3).

A 401 to an unauthenticated PATCH of a 4 MiB chunk, or a 404 for an unknown upload, must
reach a client that sends the whole body before it reads the answer (requests/urllib3, which
the Azure SDK uses), over TLS as over plain HTTP: the server reads and discards the rest of
the body first. Before, over TLS, the client got `SSLEOFError` instead of the answer.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import requests

from tests.integration.auth_helpers import AuthServer, auth_server
from tests.tls import CertificateAuthority

CHUNK = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("early-answers-ca"))


@pytest.fixture(scope="module", params=["tls", "plain"])
def srv(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    ca: CertificateAuthority,
) -> Iterator[AuthServer]:
    folder = tmp_path_factory.mktemp(f"early-answers-{request.param}")
    tls = ca.issue(folder, "server") if request.param == "tls" else None
    with auth_server(
        folder / "data",
        tls=tls,
        ca_file=ca.ca_file if tls else None,
        DOCKYARD_UNREAD_BODY_DRAIN_BYTES=str(8 * 1024 * 1024),
    ) as server:
        yield server


@pytest.fixture
def session(ca: CertificateAuthority) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.verify = str(ca.ca_file)
        http.trust_env = False  # else REQUESTS_CA_BUNDLE would replace `verify`
        yield http


def start_upload(srv: AuthServer, session: requests.Session, repo: str) -> str:
    resp = session.post(
        f"{srv.url}/v2/{repo}/blobs/uploads/", auth=("owner", srv.owner_password), timeout=30
    )
    assert resp.status_code == 202, resp.text
    return str(resp.headers["Location"])


@pytest.mark.parametrize("body", ["bytes", "stream"])
def test_unauthenticated_chunk_gets_its_401(
    srv: AuthServer, session: requests.Session, body: str
) -> None:
    data = b"a" * CHUNK
    location = start_upload(srv, session, "early/unauth")
    for attempt in range(3):
        resp = session.patch(
            f"{srv.url}{location}",
            data=data if body == "bytes" else io.BytesIO(data),
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        assert resp.status_code == 401, f"attempt {attempt}: {resp.status_code} {resp.text}"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer "), resp.headers
        assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED"
        # The body was read: the connection carries the next request.
        assert resp.headers.get("Connection", "").lower() != "close", resp.headers
    # The refused chunks wrote nothing: the owner's chunk is the first.
    done = session.patch(
        f"{srv.url}{location}",
        data=data,
        auth=("owner", srv.owner_password),
        timeout=60,
    )
    assert done.status_code == 202, done.text
    assert done.headers["Range"] == f"0-{CHUNK - 1}"


def test_unknown_upload_gets_its_404(srv: AuthServer, session: requests.Session) -> None:
    resp = session.patch(
        f"{srv.url}/v2/early/unknown/blobs/uploads/no-such-session",
        data=io.BytesIO(b"b" * CHUNK),
        auth=("owner", srv.owner_password),
        timeout=60,
    )
    assert resp.status_code == 404, resp.text
    assert resp.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    again = session.get(f"{srv.url}/v2/", auth=("owner", srv.owner_password), timeout=30)
    assert again.status_code == 200
