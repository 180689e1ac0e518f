"""Bearer-token authentication: resolve a token to its seeded user and tier, and refuse a disagreeing X-User-Tier."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

from .monitor import RECORD_KEY


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    plan: str
    tier: str
    token_hash: str


class TokenIndex:
    """sha256(token) -> User, built once at start-up from the users table; tokens themselves are never kept."""

    def __init__(self, users: Iterable[User] = ()) -> None:
        self._by_hash: dict[str, User] = {}
        self.replace(users)

    def replace(self, users: Iterable[User]) -> None:
        self._by_hash = {user.token_hash: user for user in users}

    def __len__(self) -> int:
        return len(self._by_hash)

    def resolve(self, authorization: bytes | None) -> User | None:
        """The user of an `Authorization: Bearer <token>` header value, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(b" ")
        token = token.strip()
        if scheme.lower() != b"bearer" or not token:
            return None
        digest = hashlib.sha256(token).hexdigest()
        user = self._by_hash.get(digest)
        if user is None or not hmac.compare_digest(user.token_hash, digest):
            return None
        return user


class AuthMiddleware:
    """Pure ASGI middleware guarding paths under `prefix`: 401 without a valid token, 403 on a tier mismatch.

    Runs inside MonitorMiddleware and records the user and tier on the request record, so that even refused
    validation (422) is counted under the right tier, and authentication is decided before any validation.
    """

    def __init__(self, app, index: TokenIndex, prefix: str = "/api/") -> None:
        self.app = app
        self.index = index
        self.prefix = prefix

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        authorizations, claims = [], []
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorizations.append(value)
            elif name == b"x-user-tier":
                claims.append(value)
        # Two Authorization headers are ambiguous (whose request is it?): refused like a bad token.
        user = self.index.resolve(authorizations[0]) if len(authorizations) == 1 else None
        if user is None:
            await _refuse(send, 401, "missing or invalid bearer token", [(b"www-authenticate", b"Bearer")])
            return
        rec = scope[RECORD_KEY]
        rec.user, rec.tier = user, user.tier
        for claimed in claims:  # every X-User-Tier must agree: a repeated header cannot smuggle another tier
            if claimed.strip().lower().decode("latin-1") != user.tier:
                detail = f"X-User-Tier {claimed.decode('latin-1')!r} disagrees with the token's tier {user.tier!r}"
                await _refuse(send, 403, detail)
                return
        await self.app(scope, receive, send)


async def _refuse(send, status: int, detail: str, extra_headers: list | None = None) -> None:
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), *(extra_headers or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
