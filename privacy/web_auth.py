"""The site's secrets and checks: its signing key, CSRF tokens (an HMAC of a random cookie the
browser holds: a signed double submit) and the curator's argon2 password hash."""

from __future__ import annotations

import hashlib
import hmac
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


def password_ok(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def media_signature(secret: bytes, name: str, expires: int) -> str:
    """Signs a link to a file of a local media store (the demo's stand-in for the platform's
    presigned URLs)."""
    return hmac.new(secret, f"media:{name}:{expires}".encode(), hashlib.sha256).hexdigest()


def media_signature_ok(secret: bytes, name: str, expires: int, signature: str) -> bool:
    return hmac.compare_digest(media_signature(secret, name, expires), signature)
