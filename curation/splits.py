"""Train/validation/test splits, creator-disjoint: all of a creator's videos share one split.

A creator's split is a seeded hash of the creator, so it is stable across versions and does not
depend on which other creators are in the release.
"""

from __future__ import annotations

import polars as pl

from curation.hashing import uniform_from_id

SPLITS = ("train", "validation", "test")


def assign_splits(
    posts: pl.DataFrame, ratios: tuple[float, float, float], seed: int
) -> pl.DataFrame:
    """Add `split` from the creator's hash bucket."""
    u = uniform_from_id(pl.col("creator_id"), seed)
    return posts.with_columns(
        pl.when(u < ratios[0])
        .then(pl.lit(SPLITS[0]))
        .when(u < ratios[0] + ratios[1])
        .then(pl.lit(SPLITS[1]))
        .otherwise(pl.lit(SPLITS[2]))
        .alias("split")
    )
