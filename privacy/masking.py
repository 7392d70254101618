"""Masking for release: pseudonymous IDs, coarse dates, and only the columns a release may carry.

Raw creator and post IDs, handles, exact timestamps, platform media URLs (a template with the
pseudonymous video ID replaces them) and platform safety signals never reach a release table;
captions and hashtags are released scrubbed of mentions, e-mails, phone numbers and URLs
(privacy/scrub.py). Released rows are ordered by pseudonym, so row order carries no time.
"""

from __future__ import annotations

import polars as pl

from privacy.config import MaskingConfig
from privacy.keys import PseudonymKey
from privacy.pseudonyms import pseudonymize
from privacy.scrub import scrub_text

RELEASED_POST_COLUMNS = [
    "video_id",
    "creator_id",
    "language",
    "published",
    "duration_s",
    "view_count",
    "like_count",
    "share_count",
    "comment_count",
    "media_url",
    "caption",
    "hashtags",
]
PERIOD_FORMAT = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}


def coarsen_dates(ts: pl.Expr, granularity: str) -> pl.Expr:
    """ISO week (2021-W09) by default; day or month on request."""
    return ts.dt.strftime(PERIOD_FORMAT[granularity])


def media_url_expr(template: str) -> pl.Expr:
    """The released media URL: the template with the pseudonymous video ID, nothing else."""
    before, after = template.split("{video_id}", 1)
    return pl.concat_str(pl.lit(before), pl.col("video_id"), pl.lit(after)).alias("media_url")


def mask_posts(
    posts: pl.DataFrame,
    key: PseudonymKey,
    cfg: MaskingConfig,
    extra_columns: list[str] | None = None,
) -> pl.DataFrame:
    """Released form of posts: pseudonyms, coarsened date, allow-listed columns, sorted."""
    masked = posts.with_columns(
        pseudonymize(posts["post_id"], key, "video", cfg.pseudonym_chars).alias("video_id"),
        pseudonymize(posts["creator_id"], key, "creator", cfg.pseudonym_chars).alias("creator_id"),
        coarsen_dates(pl.col("created_ts"), cfg.date_granularity).alias("published"),
    ).with_columns(
        media_url_expr(cfg.media_url_template),
        scrub_text(pl.col("caption")).alias("caption"),
        scrub_text(pl.col("hashtags")).alias("hashtags"),
    )
    return masked.select([*RELEASED_POST_COLUMNS, *(extra_columns or [])]).sort("video_id")
