"""Salted slow password hashes: make one, check one, tell when one should be made again.

New hashes are argon2id (argon2-cffi) in its standard encoded form
(``$argon2id$v=19$m=…,t=…,p=…$salt$hash``): the parameters travel inside the hash, so
raising them later only makes :func:`needs_rehash` true for older hashes, which the store
re-hashes at the user's next successful sign-in. Hashes made before argon2 (scrypt, with the
salt in a column of its own) keep working and are upgraded the same way.

A stored hash is ``(salt, digest)`` as the stores keep it: for argon2 the salt column is empty
(the salt is inside the encoded digest). Checking an unknown user costs the same as checking
a known one (:func:`verify_absent`), so the answer time does not say which names exist.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2id at OWASP's recommended setting (19 MiB, 2 passes, 1 lane): ~20 ms per hash here.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1
_ARGON2_PREFIX = b"$argon2"

# The scrypt hashes of earlier hubs: verified, never made any more.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_SALT_BYTES = 16


def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                          parallelism=ARGON2_PARALLELISM, hash_len=32, salt_len=16,
                          type=Type.ID)


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )


def hash_password(password: str) -> tuple[bytes, bytes]:
    """``(salt, digest)`` of a new hash of ``password``, to store with the user (argon2id:
    an empty salt and the encoded hash)."""
    return b"", _hasher().hash(password).encode("ascii")


def verify_password(password: str, salt: bytes, digest: bytes) -> bool:
    """Whether ``password`` is the one ``(salt, digest)`` was made from (constant time)."""
    if digest.startswith(_ARGON2_PREFIX):
        try:
            return _hasher().verify(digest.decode("ascii"), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeDecodeError):
            return False
    return hmac.compare_digest(_scrypt(password, salt), digest)


@functools.cache
def _absent_hash() -> str:
    return _hasher().hash("no such user")


def verify_absent(password: str) -> None:
    """Spend what a real check costs, for a user that does not exist."""
    try:
        _hasher().verify(_absent_hash(), password)
    except VerificationError:
        pass


def needs_rehash(salt: bytes, digest: bytes) -> bool:
    """Whether a stored hash was made otherwise than today's (scrypt, or argon2 with other
    parameters): the store hashes the password again at the user's next sign-in."""
    if not digest.startswith(_ARGON2_PREFIX):
        return True
    try:
        return _hasher().check_needs_rehash(digest.decode("ascii"))
    except (InvalidHashError, UnicodeDecodeError):
        return True


def legacy_scrypt_hash(password: str, salt: bytes) -> tuple[bytes, bytes]:
    """An earlier hub's scrypt ``(salt, digest)``: for tests of the upgrade path only."""
    return salt, _scrypt(password, salt)


__all__ = [
    "ARGON2_MEMORY_KIB", "ARGON2_PARALLELISM", "ARGON2_TIME_COST", "hash_password",
    "legacy_scrypt_hash", "needs_rehash", "verify_absent", "verify_password",
]
