"""Stable 64-bit hashing (splitmix64) for draws that must not depend on row order.

Random draws for sampling keys and synthetic labels are a hash of (seed, id): the same post gets
the same draw wherever it sits in the input, however the input is partitioned.
"""

from __future__ import annotations

import numpy as np
import polars as pl

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64_np(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser over uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + _GAMMA
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def uniform_np(ids: np.ndarray, seed: int) -> np.ndarray:
    """A uniform draw in (0, 1) per ID, a function of (id, seed) only."""
    salt = splitmix64_np(np.array([seed % 2**64], dtype=np.uint64))[0]
    bits = splitmix64_np(ids.astype(np.int64).view(np.uint64) ^ salt)
    # 53 high bits, offset by half a step so 0 never occurs and log(u) stays finite.
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) / float(2**53)


def uniform_from_id(ids: pl.Expr, seed: int) -> pl.Expr:
    """`uniform_np` as an elementwise polars expression (streams; nulls stay null)."""

    def draw(s: pl.Series) -> pl.Series:
        return (
            pl.Series(s.name, uniform_np(s.fill_null(0).cast(pl.Int64).to_numpy(), seed)).scatter(
                s.is_null().arg_true(), None
            )
            if s.null_count()
            else pl.Series(s.name, uniform_np(s.cast(pl.Int64).to_numpy(), seed))
        )

    return ids.map_batches(draw, return_dtype=pl.Float64, is_elementwise=True)
