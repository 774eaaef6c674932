"""A real JWKS endpoint on 127.0.0.1, serving whatever key set a test puts in it."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private: Any
    jwk: dict[str, Any]

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **header}
        )


def new_key(algorithm: str, kid: str | None = None) -> SigningKey:
    """A fresh key pair and its public JWK as Better Auth publishes it (no `use` member)."""
    private: Any
    if algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
        jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif algorithm in {"ES256", "ES512"}:
        curve = ec.SECP256R1() if algorithm == "ES256" else ec.SECP521R1()
        private = ec.generate_private_key(curve)
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    kid = kid or f"{algorithm.lower()}-{id(private):x}"
    return SigningKey(kid, algorithm, private, {**jwk, "kid": kid, "alg": algorithm})


@dataclass
class JwksServer:
    base_url: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    fetches: int = 0
    delay: float = 0.0

    def publish(self, *keys: SigningKey) -> None:
        self.keys = [key.jwk for key in keys]


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server_state: JwksServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_state.fetches += 1
            if server_state.delay:
                threading.Event().wait(server_state.delay)
            body = json.dumps({"keys": server_state.keys}).encode()
            if self.path != "/api/auth/jwks":
                self.send_response(404)
                body = b"{}"
            else:
                self.send_response(server_state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state = JwksServer(base_url=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server_state
    httpd.shutdown()
    httpd.server_close()
