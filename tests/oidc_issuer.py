"""A real OpenID Connect issuer for tests of `/oauth2/exchange`: it serves its discovery
document and JWKS on loopback (over HTTPS when given a certificate) and signs identity tokens."""

from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.tls import ServerCertificate

AUDIENCE = "dockyard-registry"


class Issuer:
    """A real OIDC issuer on loopback: discovery document and JWKS, over HTTPS with `tls`."""

    def __init__(self, tenant: str = "", tls: ServerCertificate | None = None) -> None:
        """With `tenant`, the issuer is `<base>/<tenant>/`, with its trailing slash, as Entra
        ID's v1 issuers (`https://sts.windows.net/<tenant>/`) are."""
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "issuer-key-1"
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                prefix = f"/{tenant}" if tenant else ""
                if self.path == f"{prefix}/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.base}{prefix}/keys"}
                elif self.path == f"{prefix}/keys":
                    body = {"keys": [jwk]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.cert, tls.key)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.base = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"{self.base}/{tenant}/" if tenant else self.base
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(
        self,
        subject: str,
        audience: str = AUDIENCE,
        ttl: int = 300,
        key: object = None,
        **claims: str,
    ) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "sub": subject, "aud": audience, "iat": now, "exp": now + ttl}
        payload.update(claims)
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
