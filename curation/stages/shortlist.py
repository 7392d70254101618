"""Shortlist for expert annotation and the unlabeled companion set.

The shortlist is a second engagement-weighted draw, from the candidate pool; the companion set is
the shortlisted creators' most recent other posts that passed every filter (the paper's ~100K
unlabeled videos, for creator modelling).
"""

from __future__ import annotations

import polars as pl

from curation.config import SamplingConfig, ShortlistConfig
from curation.stages.sampling import sample_by_engagement
from storage.exclusions import REASON


def draw_shortlist(
    pool: pl.LazyFrame, cfg: ShortlistConfig, sampling: SamplingConfig, power: float
) -> pl.LazyFrame:
    """The shortlisted posts: a weighted draw of `cfg.size` from the pool, same strata."""
    flagged, _ = sample_by_engagement(
        pool,
        sampling,
        power,
        seed=cfg.seed,
        size=cfg.size,
    )
    return flagged.filter(pl.col(REASON).is_null()).drop(REASON)


def select_companions(
    eligible: pl.LazyFrame, shortlist: pl.LazyFrame, cfg: ShortlistConfig
) -> pl.LazyFrame:
    """Up to `companion_per_creator` most recent posts of each shortlisted creator, not themselves
    shortlisted, capped at `companion_size` overall (most recent first, then post ID)."""
    creators = shortlist.select("creator_id").unique()
    return (
        eligible.join(creators, on="creator_id", how="semi")
        .join(shortlist.select("post_id"), on="post_id", how="anti")
        .sort(["creator_id", "created_ts", "post_id"], descending=[False, True, False])
        .filter(pl.int_range(pl.len()).over("creator_id") < cfg.companion_per_creator)
        .sort(["created_ts", "post_id"], descending=[True, False])
        .head(cfg.companion_size)
    )
