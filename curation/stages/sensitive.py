"""Sensitive content on platform signals: user reports, moderation labels, caption terms.

A signal marks the media, not only the post: every post that carries the same media bytes as a
flagged post is flagged too, so a clean-captioned re-upload of a flagged video cannot slip
through (near-duplicates of flagged media are the near-duplicate stage's job).
"""

from __future__ import annotations

import re

import polars as pl

from curation.config import SensitiveConfig
from storage.exclusions import DETAIL, REASON

# A term matches as a whole word: no letter, combining mark or digit on either side. The regex
# engine has no look-behind, so the boundary characters are matched (and consumed) instead;
# `\b` is not used because it misreads combining marks in Indic scripts.
_EDGE = r"[^\p{L}\p{M}\p{N}]"


def term_pattern(terms: list[str]) -> str | None:
    """A case-insensitive regex matching any term as a whole word."""
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return rf"(?i)(?:^|{_EDGE})(?:{alternatives})(?:$|{_EDGE})"


def sensitive_signal(cfg: SensitiveConfig) -> pl.Expr:
    """The first platform signal that marks a post sensitive, or null."""
    pattern = term_pattern(cfg.caption_terms)
    text = pl.concat_str([pl.col("caption"), pl.col("hashtags")], separator=" ", ignore_nulls=True)
    has_term = text.str.contains(pattern) if pattern else pl.lit(False)
    return (
        pl.when(pl.col("report_count") > cfg.max_report_count)
        .then(pl.lit("reported"))
        .when(pl.col("moderation_label").is_in(cfg.blocked_moderation_labels))
        .then(pl.lit("moderation:") + pl.col("moderation_label"))
        .when(has_term)
        .then(pl.lit("sensitive_term"))
    )


SIGNAL = "sensitive_signal"


def flag_sensitive(
    posts: pl.LazyFrame, cfg: SensitiveConfig, reference: pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """Flag posts with a sensitive signal, and posts whose media a flagged post carries.

    `reference` is where flagged media are looked for (default: `posts`); the flow passes every
    valid post, so an out-of-window flagged copy still marks its in-window twins. A copy is
    flagged `sensitive_media_copy` with the flagged post's ID as detail.
    """
    signal = sensitive_signal(cfg).alias(SIGNAL)
    ref = posts if reference is None else reference
    return flag_signalled(
        posts.with_columns(signal), ref.with_columns(signal), ["media_sha256"]
    ).drop(SIGNAL)


def flag_signalled(posts: pl.LazyFrame, reference: pl.LazyFrame, media: list[str]) -> pl.LazyFrame:
    """flag_sensitive over rows whose signal is already in the `sensitive_signal` column;
    `media` names the column(s) that identify the media bytes."""
    flagged_media = (
        reference.filter(pl.col(SIGNAL).is_not_null())
        .group_by(media)
        .agg(pl.col("post_id").min().alias("_flagged_post"))
    )
    own = pl.col(SIGNAL)
    return (
        posts.join(flagged_media, on=media, how="left", maintain_order="left")
        .with_columns(
            pl.coalesce(
                own,
                pl.when(pl.col("_flagged_post").is_not_null()).then(pl.lit("sensitive_media_copy")),
            ).alias(REASON),
            pl.when(own.is_null()).then(pl.col("_flagged_post").cast(pl.String)).alias(DETAIL),
        )
        .drop("_flagged_post")
    )
