"""Folder secrets in the formats real BitTorrent Sync nodes use, and their derivations.

Formats observed on real 1.3/1.4 nodes (docs/sync-api.md, "Secret formats"):

====================  =======  ==========================
kind                  prefix   length (incl. prefix)
====================  =======  ==========================
read-write            ``A``    33
read-only             ``B``    33
read-write (enc.)     ``D``    33
read-only  (enc.)     ``E``    59
encryption            ``F``    33
====================  =======  ==========================

A node can always derive the "weaker" secrets from the one it holds (rw -> ro ->
encryption), never the other way. That is what makes ``get_secrets`` answer the
read-only secret from a read-write or read-only node, and what the exporter uses to
derive a fleet-wide ``folder_id``. Derivation here is a keyed hash, so it is
deterministic and one-way like the real thing.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass
from typing import Literal

FolderType = Literal["read_write", "read_only", "encrypted"]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _body(seed: bytes, length: int) -> str:
    """Return ``length`` base32 characters derived from ``seed`` (one-way)."""
    out = ""
    counter = 0
    while len(out) < length:
        digest = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        out += base64.b32encode(digest).decode("ascii").rstrip("=")
        counter += 1
    return out[:length]


@dataclass(frozen=True, slots=True)
class SecretSet:
    """The secrets available for sharing under one held secret (``get_secrets`` answer)."""

    read_write: str | None
    read_only: str | None
    encryption: str | None

    def as_api(self) -> dict[str, str]:
        """Return the JSON object ``get_secrets`` sends: only the keys that are known."""
        out: dict[str, str] = {}
        if self.read_only is not None:
            out["read_only"] = self.read_only
        if self.read_write is not None:
            out["read_write"] = self.read_write
        if self.encryption is not None:
            out["encryption"] = self.encryption
        return out


def is_valid(secret: str) -> bool:
    """Return True if ``secret`` has one of the real formats."""
    if not secret or any(c not in _ALPHABET for c in secret):
        return False
    prefix, n = secret[0], len(secret)
    return (prefix in "ABDF" and n == 33) or (prefix == "E" and n == 59)


def folder_type(secret: str) -> FolderType:
    """Return the folder type a node reports when it holds ``secret``."""
    prefix = secret[:1]
    if prefix in ("A", "D"):
        return "read_write"
    if prefix in ("B", "E"):
        return "read_only"
    if prefix == "F":
        return "encrypted"
    raise ValueError("not a folder secret")


def derive(secret: str) -> SecretSet:
    """Return every secret that can be shared under ``secret``.

    Raises ValueError when ``secret`` is not in a real format.
    """
    if not is_valid(secret):
        raise ValueError("invalid secret")
    prefix = secret[0]
    if prefix == "A":
        return SecretSet(secret, "B" + _body(b"ro:" + secret.encode(), 32), None)
    if prefix == "B":
        return SecretSet(None, secret, None)
    if prefix == "D":
        ro = "E" + _body(b"ro:" + secret.encode(), 58)
        return SecretSet(secret, ro, derive(ro).encryption)
    if prefix == "E":
        return SecretSet(None, secret, "F" + _body(b"enc:" + secret.encode(), 32))
    return SecretSet(None, None, secret)  # "F": an encrypted peer can only pass it on


def generate(rng: random.Random, *, encryption: bool = False) -> SecretSet:
    """Generate a fresh read-write secret (``get_secrets`` without ``secret``) and its kin."""
    body = "".join(rng.choice(_ALPHABET) for _ in range(32))
    return derive(("D" if encryption else "A") + body)


def peer_id(rng: random.Random) -> str:
    """Return a peer id as real nodes show it: URL-safe base64 of 20 bytes (28 chars)."""
    return base64.urlsafe_b64encode(rng.randbytes(20)).decode("ascii")
