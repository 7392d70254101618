"""Engagement score: weighted interactions per day of age, so old posts do not win by age."""

from __future__ import annotations

from datetime import datetime, time

import polars as pl

from curation.config import EngagementConfig


def score_engagement(posts: pl.LazyFrame, cfg: EngagementConfig) -> pl.LazyFrame:
    """Add `age_days` (≥ 1) and `engagement_score` (interactions per day)."""
    snapshot = datetime.combine(cfg.snapshot, time()).replace(tzinfo=None)
    age_days = (
        (pl.lit(snapshot).dt.replace_time_zone("UTC") - pl.col("created_ts")).dt.total_seconds()
        / 86_400
    ).clip(lower_bound=1.0)
    interactions = (
        cfg.view_weight * pl.col("view_count")
        + cfg.like_weight * pl.col("like_count")
        + cfg.share_weight * pl.col("share_count")
        + cfg.comment_weight * pl.col("comment_count")
    )
    return posts.with_columns(age_days.alias("age_days")).with_columns(
        (interactions / pl.col("age_days")).alias("engagement_score")
    )
