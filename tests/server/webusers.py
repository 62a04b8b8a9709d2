"""The basic-auth users of the web config tests: passwords, their bcrypt hashes, headers.

Shared by the plain-HTTP and the TLS tests of ``--web.config.file``, so that both log in
as the same people.
"""

from __future__ import annotations

import base64

import bcrypt

#: Cost 4 (the minimum) keeps the suite fast; the exporter treats every cost alike.
ALICE_PASSWORD = "correct horse battery staple"
ALICE_HASH = bcrypt.hashpw(ALICE_PASSWORD.encode(), bcrypt.gensalt(4)).decode()
BOB_PASSWORD = "hunter2"
BOB_HASH = bcrypt.hashpw(BOB_PASSWORD.encode(), bcrypt.gensalt(4)).decode()

#: A web config's ``basic_auth_users`` block with alice alone.
USERS = f"basic_auth_users:\n  alice: {ALICE_HASH}\n"


def basic(user: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header of HTTP basic auth for ``user`` and ``password``."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


#: alice's header, with her right password.
ALICE = basic("alice", ALICE_PASSWORD)
