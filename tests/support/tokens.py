"""Access tokens signed as identity signs them, for tests and benchmarks of token consumers."""

from __future__ import annotations

import uuid


class TokenMint:
    """Signs RS256 access tokens the way identity does, for tests of token consumers."""

    def __init__(self, issuer: str = "shopfleet", audience: str = "shopfleet") -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:12]
        self.issuer, self.audience = issuer, audience

    def jwks(self) -> dict:
        import json

        import jwt

        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(
        self,
        *,
        shop: str,
        roles: list[str] | None = None,
        sub: str = "user-1",
        ttl_s: int = 900,
        session_version: int | None = None,
    ) -> str:
        import time

        import jwt

        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "shop": shop,
            "roles": roles or ["User"],
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + ttl_s,
        }
        if session_version is not None:
            claims["sv"] = session_version
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def verifier(self, sessions=None):  # -> TokenVerifier; sessions: a kit.sessions.SessionView
        from shopfleet.kit.auth import TokenVerifier

        async def fetch() -> dict:
            return self.jwks()

        return TokenVerifier(fetch, issuer=self.issuer, audience=self.audience, sessions=sessions)
