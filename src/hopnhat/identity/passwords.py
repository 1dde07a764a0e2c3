"""Password hashing and policy.

Argon2id through argon2-cffi at OWASP's recommended minimum (m = 19 MiB, t = 2, p = 1; the Password Storage Cheat
Sheet, 2025). A hash made at another cost, or an scrypt hash from before identity existed, is verified and then
replaced at the next successful sign-in (:func:`needs_rehash`).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import hmac
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hopnhat.errors import InvalidInput

MIN_LENGTH = 12
"""NIST SP 800-63B asks at least 8, and 15 when the password is the only factor; 12 with the common-password list
and the throttle is what an officer can type at a counter."""
MAX_LENGTH = 256
"""Bounds the work of hashing an input (a megabyte of password must not cost a megabyte of Argon2 input)."""

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@functools.cache
def _common() -> frozenset[str]:
    data = resources.files("hopnhat.identity").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode().splitlines() if line.strip())


def check_policy(password: str, username: str = "") -> None:
    """Refuse a password that is too short, too long, one of the 20,000 most common, or the username."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"password: at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"password: at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in _common():
        raise InvalidInput("password: it is one of the most common passwords; choose another")
    if username and username.lower() in lowered:
        raise InvalidInput("password: it must not contain the username")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual.hex(), digest)


def verify_password(password: str, stored: str) -> bool:
    if len(password) > MAX_LENGTH or not stored:
        return False
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return stored.startswith("scrypt$") or HASHER.check_needs_rehash(stored)


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against for unknown accounts, so their answer takes as long as a wrong password's."""
    return HASHER.hash("not-a-password-of-anyone")


__all__ = ["MAX_LENGTH", "MIN_LENGTH", "check_policy", "dummy_hash", "hash_password", "needs_rehash", "verify_password"]
