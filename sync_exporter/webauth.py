"""Basic auth against the web config's bcrypt hashes, and the guard every request passes.

bcrypt is slow on purpose (about 50-100 ms at cost 10), far too slow to pay on every
scrape. As in exporter-toolkit, the outcome of each check is cached under the presented
credentials, here an HMAC of user, stored hash and password with a per-process random
key, so the cache never holds a password (nor anything that could be tested offline
without that key). The stored hash is part of the key, so a reload that changes a user's
hash can never be answered from the old entry. Wrong credentials are cached too: a
client retrying a bad password costs one bcrypt, not one per request. An unknown user
is checked against a fixed hash, so it costs the same time as a known user with a wrong
password and user names cannot be told apart by timing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping

import bcrypt
from aiohttp import web

from sync_exporter.webconfig import WebConfig

#: Checked when the user name is unknown: a bcrypt hash (cost 10, like the hashes users
#: make) of a random password nobody knows.
_UNKNOWN_USER_HASH = b"$2b$10$RV72eIybv2eKzPwr43CNzutTZGZrGMR0ExKQoRzEC5p1EmNMFtx1a"
#: bcrypt only reads the first 72 bytes; longer passwords are refused, never truncated.
MAX_PASSWORD_BYTES = 72
#: Outcomes kept (oldest dropped first): a few users, a few scrapers each.
CACHE_SIZE = 100

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_basic_auth(header: str | None) -> tuple[str, bytes] | None:
    """Return ``(user, password)`` from an ``Authorization: Basic`` header, or None."""
    if header is None:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
        user_bytes, colon, password = decoded.partition(b":")
        user = user_bytes.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not colon:
        return None
    return user, password


def _bcrypt_matches(password: bytes, hashed: bytes) -> bool:
    if len(password) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a hash bcrypt cannot read; the web config check should prevent it
        return False


class BasicAuth:
    """Checks credentials against bcrypt hashes, with a bounded cache of outcomes."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self._cache_size = cache_size
        #: One bcrypt at a time: it is CPU-bound, and a flood of wrong passwords must not
        #: take every core (cached credentials never wait for it).
        self._lock = asyncio.Lock()
        #: How many bcrypt comparisons ran (the cost the cache saves; tests read it).
        self.bcrypt_checks = 0

    async def check(self, users: Mapping[str, bytes], header: str | None) -> bool:
        """Whether ``header`` carries the password of one of ``users``."""
        credentials = parse_basic_auth(header)
        if credentials is None:
            return False
        user, password = credentials
        stored = users.get(user)
        hashed = stored if stored is not None else _UNKNOWN_USER_HASH
        key = hmac.new(
            self._key,
            b"\0".join((hashlib.sha256(user.encode("utf-8")).digest(), hashed, password)),
            hashlib.sha256,
        ).digest()
        matches = self._cache.get(key)
        if matches is None:
            async with self._lock:
                matches = self._cache.get(key)  # checked while this request waited?
                if matches is None:
                    self.bcrypt_checks += 1
                    matches = await asyncio.to_thread(_bcrypt_matches, password, hashed)
                    self._remember(key, matches)
        return matches and stored is not None

    def _remember(self, key: bytes, matches: bool) -> None:
        self._cache[key] = matches
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


#: The challenge a browser or curl answers with credentials.
CHALLENGE = 'Basic realm="sync-exporter", charset="UTF-8"'


async def guard(
    request: web.Request, handler: Handler, config: WebConfig, auth: BasicAuth
) -> web.StreamResponse:
    """Serve ``request`` as the web config says: basic auth first, its headers on any answer.

    Every path needs credentials when users are configured, unknown paths included (so a
    404 tells nothing), except ``auth_excluded_paths`` (``/-/healthy`` by default).
    """
    try:
        if config.basic_auth_users and request.path not in config.auth_excluded_paths:
            header = request.headers.get("Authorization")
            if not await auth.check(config.basic_auth_users, header):
                raise web.HTTPUnauthorized(
                    text="Unauthorized\n", headers={"WWW-Authenticate": CHALLENGE}
                )
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(config.headers)
        raise
    response.headers.update(config.headers)
    return response
