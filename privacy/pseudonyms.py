"""Keyed pseudonyms: HMAC-SHA256(key, kind ‖ id), truncated, with a collision check.

A plain hash of an enumerable ID space can be reversed by hashing every ID; an HMAC cannot be
without the key. The kind ("creator", "video") is part of the message, so a creator and a video
with the same platform number get unrelated pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac

import polars as pl

from privacy.keys import PseudonymKey


class PseudonymCollisionError(RuntimeError):
    """Two different IDs got the same truncated pseudonym; use more characters."""


def pseudonym(key: PseudonymKey, kind: str, value: int | str, chars: int) -> str:
    mac = hmac.new(key.secret, f"{kind}:{value}".encode(), hashlib.sha256)
    return mac.hexdigest()[:chars]


def pseudonymize(ids: pl.Series, key: PseudonymKey, kind: str, chars: int) -> pl.Series:
    """Map each ID to its pseudonym; raise if two distinct IDs collide."""
    if ids.is_empty():  # replace_strict would keep the input's integer type
        return pl.Series(ids.name, [], dtype=pl.String)
    unique = ids.unique().drop_nulls()
    mapping = {v: pseudonym(key, kind, v, chars) for v in unique.to_list()}
    if len(set(mapping.values())) != len(mapping):
        raise PseudonymCollisionError(f"{kind} pseudonyms collide at {chars} hex characters")
    return ids.replace_strict(mapping, return_dtype=pl.String)
