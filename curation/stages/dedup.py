"""Exact duplicates: posts that carry the same media bytes (checksum); one representative stays.

The near-duplicate stage (perceptual hashes over decoded frames) extends this; the rule for the
representative is the same: highest engagement, then earliest, then lowest post ID.
"""

from __future__ import annotations

import polars as pl

from storage.exclusions import DETAIL, REASON

REPRESENTATIVE_ORDER = (["engagement_score", "created_ts", "post_id"], [True, False, False])


def flag_exact_duplicates(
    posts: pl.LazyFrame, media: tuple[str, ...] = ("media_sha256",)
) -> pl.LazyFrame:
    """Flag every post whose media (checksum, or the `media` columns that stand for it)
    repeats, except the group's representative."""
    by, descending = REPRESENTATIVE_ORDER
    # The representative of each repeated media only: most media occur once.
    kept = (
        posts.filter(pl.len().over(list(media)) > 1)
        .group_by(list(media))
        .agg(pl.col("post_id").sort_by(by, descending=descending).first().alias("_kept"))
    )
    duplicate = pl.col("_kept").is_not_null() & (pl.col("post_id") != pl.col("_kept"))
    return (
        posts.join(kept, on=list(media), how="left", maintain_order="left", nulls_equal=True)
        .with_columns(
            pl.when(duplicate).then(pl.lit("duplicate_media")).alias(REASON),
            pl.when(duplicate).then(pl.col("_kept").cast(pl.String)).alias(DETAIL),
        )
        .drop("_kept")
    )
