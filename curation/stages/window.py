"""Scope: the collection window (Feb–Oct 2021 in the paper) and duration bounds (4.5–116 s)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import polars as pl

from curation.config import WindowConfig
from storage.exclusions import REASON


def flag_out_of_scope(posts: pl.LazyFrame, cfg: WindowConfig) -> pl.LazyFrame:
    """Flag posts created outside [start, end] (whole UTC days) or outside the duration bounds."""
    start = datetime.combine(cfg.start, time(), tzinfo=UTC)
    end = datetime.combine(cfg.end + timedelta(days=1), time(), tzinfo=UTC)
    ts, duration = pl.col("created_ts"), pl.col("duration_s")
    return posts.with_columns(
        pl.when(ts < start)
        .then(pl.lit("before_window"))
        .when(ts >= end)
        .then(pl.lit("after_window"))
        .when(duration < cfg.min_duration_s)
        .then(pl.lit("too_short"))
        .when(duration > cfg.max_duration_s)
        .then(pl.lit("too_long"))
        .alias(REASON)
    )
