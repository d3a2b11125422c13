"""API keys: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, checked in constant time, never logged.

Keys come from ``SHOPSENSE_API_KEYS`` as ``keyid:secret`` pairs; a secret written ``sha256:<hex>`` is the hash of
the key, so a deployment's configuration need not hold the keys themselves. Only the key id travels further
(audit log, admin check).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

HASH_PREFIX = "sha256:"


def digest(key: str) -> bytes:
    """SHA-256 of a key (what is kept in memory and compared)."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def hash_key(key: str) -> str:
    """The ``sha256:<hex>`` form of a key, for ``SHOPSENSE_API_KEYS`` (``python -m serving.auth KEY``)."""
    return HASH_PREFIX + digest(key).hex()


@dataclass(frozen=True)
class ApiKeys:
    """Key id -> digest of the secret, and which ids may call admin endpoints."""

    digests: dict[str, bytes]
    admins: frozenset[str]

    @classmethod
    def parse(cls, spec: str, admin_ids: str = "") -> ApiKeys:
        """Parse ``"id:secret,id2:sha256:<hex>"``; raises ValueError naming the bad entry (never the secret)."""
        digests: dict[str, bytes] = {}
        for i, entry in enumerate(part.strip() for part in spec.split(",")):
            if not entry:
                continue
            key_id, sep, secret = entry.partition(":")
            if not sep or not key_id.strip() or not secret:
                raise ValueError(f"api key entry #{i} must be 'keyid:secret'")
            if key_id in digests:
                raise ValueError(f"api key id {key_id!r} appears twice")
            if secret.startswith(HASH_PREFIX):
                raw = secret.removeprefix(HASH_PREFIX)
                if len(raw) != 64:
                    raise ValueError(f"api key {key_id!r}: sha256 hash must be 64 hex characters")
                digests[key_id.strip()] = bytes.fromhex(raw)
            else:
                digests[key_id.strip()] = digest(secret)
        admins = frozenset(a.strip() for a in admin_ids.split(",") if a.strip())
        return cls(digests, admins)

    def identify(self, key: str | None) -> str | None:
        """The key id of ``key``, or None; every configured key is compared so timing reveals nothing."""
        if not key:
            return None
        presented = digest(key)
        found = None
        for key_id, expected in self.digests.items():
            if hmac.compare_digest(presented, expected):
                found = key_id
        return found

    def is_admin(self, key_id: str | None) -> bool:
        return key_id is not None and key_id in self.admins


def presented_key(headers: dict[str, str]) -> str | None:
    """The key from ``Authorization: Bearer`` or ``X-API-Key`` (lower-case header names)."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("x-api-key") or None


if __name__ == "__main__":
    import sys

    print(hash_key(sys.argv[1]))
