"""Sensitive content on platform signals: user reports, moderation labels, caption terms."""

from __future__ import annotations

import re

import polars as pl

from curation.config import SensitiveConfig
from curation.exclusions import REASON


def term_pattern(terms: list[str]) -> str | None:
    """A case-insensitive regex matching any term as a whole word (space, #, @ or punctuation
    around it); `\\b` is not used because it misreads combining marks in Indic scripts."""
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return rf"(?i)(?:^|[\s#@(])(?:{alternatives})(?:$|[\s.,!?:;)])"


def flag_sensitive(posts: pl.LazyFrame, cfg: SensitiveConfig) -> pl.LazyFrame:
    """Flag posts with too many reports, a blocked moderation label, or a listed term."""
    pattern = term_pattern(cfg.caption_terms)
    text = pl.concat_str([pl.col("caption"), pl.col("hashtags")], separator=" ", ignore_nulls=True)
    has_term = text.str.contains(pattern) if pattern else pl.lit(False)
    return posts.with_columns(
        pl.when(pl.col("report_count") > cfg.max_report_count)
        .then(pl.lit("reported"))
        .when(pl.col("moderation_label").is_in(cfg.blocked_moderation_labels))
        .then(pl.lit("moderation:") + pl.col("moderation_label"))
        .when(has_term)
        .then(pl.lit("sensitive_term"))
        .alias(REASON)
    )
