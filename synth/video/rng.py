"""Random generators keyed by tuples of ints and strings."""

from __future__ import annotations

import hashlib

import numpy as np


def keyed_rng(*keys: int | str) -> np.random.Generator:
    """A generator keyed by a tuple; Python's salted hash() would break run-to-run determinism."""
    digest = hashlib.blake2b(repr(keys).encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def subseed(*keys: int | str) -> int:
    return int(keyed_rng(*keys).integers(0, 2**62))
