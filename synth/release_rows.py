"""A synthetic masked release, for tests and benchmarks: the rows, agreement table and
manifest header of a small dataset "d" pseudonymised with a fixed key."""

from __future__ import annotations

import hashlib
from typing import Any

import polars as pl

from curation.release import bundle
from privacy.keys import PseudonymKey
from privacy.pseudonyms import pseudonym

KEY = PseudonymKey("k1", bytes(range(32)))  # fixed: the same pseudonyms every run; never a real key
AGREEMENT = pl.DataFrame(bundle.SCHEMAS["agreement"].empty_table())


def rows(ids: range, creators: int, table: str) -> pl.DataFrame:
    """Released rows for raw post IDs `ids`, spread over `creators` raw creator IDs."""
    frame = pl.DataFrame(
        {
            "video_id": [pseudonym(KEY, "video", i, 16) for i in ids],
            "creator_id": [pseudonym(KEY, "creator", 1000 + i % creators, 16) for i in ids],
            "language": "hi",
            "published": "2021-03",
            "duration_s": 22.5,
            "view_count": 10,
            "like_count": 1,
            "share_count": 0,
            "comment_count": 0,
            "caption": "गाना @user",
            "hashtags": "#dance",
        }
    ).with_columns(
        pl.concat_str(pl.lit("https://m.example/v/"), "video_id", pl.lit(".mp4")).alias("media_url")
    )
    if table == "labeled":
        frame = frame.with_columns(
            concept=pl.lit("dance"),
            affect=pl.lit("happy"),
            audio_type=pl.lit("music"),
            video_type=pl.lit("single"),
            split=pl.col("creator_id").map_elements(
                lambda c: ["train", "validation", "test"][int(c, 16) % 3], return_dtype=pl.String
            ),
        )
    return frame.sort("video_id")


def release_header(version: str, granularity: str = "month") -> dict[str, Any]:
    """The manifest header of a release of these rows (dataset "d", key KEY)."""
    return {
        "dataset": "d",
        "version": version,
        "parent": None,
        "key_version": KEY.version,
        "key_fingerprint": KEY.fingerprint,
        "date_granularity": granularity,
        "k_anonymity": {"k": 1},
        "annotations": {"annotators_passed": 3},
    }


def media_index(*tables: pl.DataFrame) -> pl.DataFrame:
    """A made-up platform media object (sha256 of the video ID) for each released video."""
    ids = pl.concat([t.select("video_id") for t in tables])
    return ids.with_columns(
        media_sha256=pl.col("video_id").map_elements(
            lambda v: hashlib.sha256(v.encode()).hexdigest(), return_dtype=pl.String
        )
    )
