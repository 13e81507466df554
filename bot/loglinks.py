"""Signed, expiring links to the log page (``GET {PUBLIC_URL}/logs/...``).

The key is derived from ``SLACK_SIGNING_SECRET`` so that operators have no extra secret to
manage; the signature covers the run and the expiry, so a link cannot be retargeted or
extended.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote, urlencode

DEFAULT_TTL_SECONDS = 7 * 24 * 3600


def derive_key(signing_secret: str) -> bytes:
    return hmac.new(
        signing_secret.encode(), b"aicore-chatops log links v1", hashlib.sha256
    ).digest()


class LogLinks:
    def __init__(
        self,
        *,
        public_url: str,
        key: bytes,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base = public_url.rstrip("/")
        self._key = key
        self._ttl = ttl_seconds
        self._clock = clock

    def _signature(self, provider: str, scope: str, run_id: str, expires: int) -> str:
        message = f"{provider}\n{scope}\n{run_id}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def path_for(self, provider: str, scope: str, run_id: str) -> str:
        expires = int(self._clock()) + self._ttl
        query = urlencode(
            {"exp": expires, "sig": self._signature(provider, scope, run_id, expires)}
        )
        parts = "/".join(quote(part, safe="") for part in (provider, scope, run_id))
        return f"/logs/{parts}?{query}"

    def url_for(self, provider: str, scope: str, run_id: str) -> str:
        return self._base + self.path_for(provider, scope, run_id)

    def verify(
        self, provider: str, scope: str, run_id: str, exp: str | None, sig: str | None
    ) -> bool:
        """True only for an unexpired link that this service signed for exactly this run."""
        if not exp or not sig or not exp.isdigit():
            return False
        if int(exp) < self._clock():
            return False
        expected = self._signature(provider, scope, run_id, int(exp))
        return hmac.compare_digest(expected, sig)
