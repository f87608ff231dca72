"""Salted slow password hashes: make one, check one, tell when one should be made again.

A stored hash is ``(salt, digest)``: the salt is random per user, the digest scrypt's. Checking
an unknown user costs the same as checking a known one (:func:`verify_absent`), so the answer
time does not say which names exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# scrypt parameters: ~50 ms and 16 MiB per hash on this class of machine.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )


def hash_password(password: str) -> tuple[bytes, bytes]:
    """``(salt, digest)`` of a new hash of ``password``, to store with the user."""
    salt = secrets.token_bytes(_SALT_BYTES)
    return salt, _scrypt(password, salt)


def verify_password(password: str, salt: bytes, digest: bytes) -> bool:
    """Whether ``password`` is the one ``(salt, digest)`` was made from (constant time)."""
    return hmac.compare_digest(_scrypt(password, salt), digest)


def verify_absent(password: str) -> None:
    """Spend what a real check costs, for a user that does not exist."""
    _scrypt(password, b"\0" * _SALT_BYTES)


def needs_rehash(salt: bytes, digest: bytes) -> bool:
    """Whether a stored hash was made with other parameters than today's (rehash at login)."""
    return len(salt) != _SALT_BYTES or len(digest) != 32
