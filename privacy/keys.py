"""The pseudonym key: from a key file or $MASSIV_PSEUDONYM_KEY, never from the repo or a release.

The key is a secret of at least 32 bytes (64 hex characters in the file or variable). Errors say
where the key was looked for, never what it is.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

KEY_ENV = "MASSIV_PSEUDONYM_KEY"
MIN_KEY_BYTES = 32


class KeyUnavailableError(ValueError):
    """No usable pseudonym key."""


class KeyMismatchError(ValueError):
    """The key given is not the one its key version named before."""


@dataclass(frozen=True)
class PseudonymKey:
    version: str
    secret: bytes = field(repr=False)  # never printed, never logged

    def __str__(self) -> str:
        return f"PseudonymKey(version={self.version})"

    @property
    def fingerprint(self) -> str:
        """Identifies the key without revealing it (an HMAC of a fixed message), so a manifest
        can record which key made its pseudonyms."""
        return hmac.new(self.secret, b"massiv key fingerprint v1", hashlib.sha256).hexdigest()[:16]


def _parse(text: str, source: str) -> bytes:
    text = text.strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise KeyUnavailableError(f"pseudonym key in {source} is not hex") from None
    if len(raw) < MIN_KEY_BYTES:
        raise KeyUnavailableError(
            f"pseudonym key in {source} is shorter than {MIN_KEY_BYTES} bytes"
        )
    return raw


def load_key(key_file: Path | None, version: str) -> PseudonymKey:
    """Read the key from `key_file` if given, else from $MASSIV_PSEUDONYM_KEY."""
    if key_file is not None:
        if not key_file.is_file():
            raise KeyUnavailableError(f"pseudonym key file not found: {key_file}")
        return PseudonymKey(version, _parse(key_file.read_text(encoding="ascii"), str(key_file)))
    value = os.environ.get(KEY_ENV)
    if not value:
        raise KeyUnavailableError(
            f"no pseudonym key: set {KEY_ENV} (64 hex characters) or give key_file"
        )
    return PseudonymKey(version, _parse(value, f"${KEY_ENV}"))


def create_key_file(path: Path) -> bool:
    """Create a new random key file (mode 600) unless one exists; True if created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(MIN_KEY_BYTES) + "\n")
    return True
