"""Bearer tokens: how one is made and the hash it is stored and looked up by (every backend)."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "sdh_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
