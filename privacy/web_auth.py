"""The site's secrets and checks: its signing key, CSRF tokens (an HMAC of a random cookie the
browser holds: a signed double submit) and the curator's argon2 password hash."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def site_secret(path: Path) -> bytes:
    """The site's key, made on first use (a file only the site's account reads)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return bytes.fromhex(path.read_text().strip())


def csrf_token(secret: bytes, nonce: str) -> str:
    return hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, nonce: str | None, token: str) -> bool:
    return bool(nonce) and hmac.compare_digest(csrf_token(secret, nonce or ""), token)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


MIN_PASSWORD = 12


def password_problem(password: str, again: str) -> str | None:
    """Why a new password will not do (None: it will)."""
    if len(password) < MIN_PASSWORD or password != again:
        return f"a password needs {MIN_PASSWORD} characters or more, typed the same twice"
    return None


def password_ok(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash stored, False after checking a dummy one, so
    an address without a password answers as slowly as a wrong password."""
    try:
        return _hasher.verify(stored_hash or _no_password(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _no_password() -> str:
    return _hasher.hash("no password is set for this address")


def media_signature(secret: bytes, name: str, expires: int) -> str:
    """Signs a link to a file of a local media store (the demo's stand-in for the platform's
    presigned URLs)."""
    return hmac.new(secret, f"media:{name}:{expires}".encode(), hashlib.sha256).hexdigest()


def media_signature_ok(secret: bytes, name: str, expires: int, signature: str) -> bool:
    return hmac.compare_digest(media_signature(secret, name, expires), signature)


# Path segments after these are capabilities (confirmation tokens, status-page IDs, signed media
# names); query values are tokens or signatures. Neither reaches a log line.
CAPABILITY = re.compile(r"/(confirm|status|platform-media)/[^?]*")


def loggable_path(path: str, query: bytes) -> str:
    """A request's path as a log may keep it: capabilities and query values cut out."""
    kept = CAPABILITY.sub(lambda m: f"/{m[1]}/…", path)
    keys = [part.split("=", 1)[0] for part in query.decode("latin-1").split("&") if part]
    return kept + ("?" + "&".join(f"{k}=…" for k in keys) if keys else "")
