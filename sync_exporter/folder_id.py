"""The fleet-wide ``folder_id`` label: one value for one shared folder on every node.

Each node addresses a folder by the secret *it* holds, and those differ: read-write on
one node, read-only on another, the encryption secret on an encrypted peer. Sync can
always derive a weaker secret from a stronger one (read-write -> read-only -> encryption)
and ``get_secrets&secret=S`` answers with every secret S can share. So the *weakest*
secret every holder can learn names the folder for everyone:

1. ``encryption`` when the node returns one: the folder is encryption-capable, and every
   holder, the encrypted peer included, can derive it;
2. else ``read_only``: a plain folder, known to read-write and read-only holders alike;
3. else the held secret itself (get_secrets failed or said nothing useful).

The first design hashed only the read-only secret, which splits an encrypted peer
(which cannot learn it) off from the rest of its folder; preferring the encryption
secret keeps the whole folder under one id. The label is a short hash, never a secret:
12 hex digits of SHA-256 cannot be turned back into a 160-bit secret, and are plenty to
tell a fleet's folders apart.
"""

from __future__ import annotations

import hashlib

from sync_exporter.model import SharedSecrets

#: Hex digits kept from the SHA-256 of the chosen secret.
FOLDER_ID_LENGTH = 12

_CACHE_DOMAIN = b"sync-exporter folder secret cache key\x00"


def folder_id(held: str, shared: SharedSecrets | None) -> str:
    """Return the ``folder_id`` of a folder held under ``held``, given its get_secrets answer.

    ``shared`` is None when get_secrets failed: the held secret is hashed instead, which is
    stable for this node but may not match other nodes holding the folder differently.
    """
    chosen = held
    if shared is not None:
        chosen = shared.encryption or shared.read_only or held
    return hashlib.sha256(chosen.encode("utf-8")).hexdigest()[:FOLDER_ID_LENGTH]


def cache_key(held: str) -> str:
    """Return the key under which a folder's id is cached: a hash, so no secret is kept.

    Domain-separated from :func:`folder_id`, so a cache key never equals a published label.
    """
    return hashlib.sha256(_CACHE_DOMAIN + held.encode("utf-8")).hexdigest()
