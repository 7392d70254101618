"""The video stage of curation: decisions that need pixels.

For the posts that survived exact dedup, given their fingerprint store rows:
  - a video that could not be fingerprinted is excluded as `video:<reason>` (corrupt, truncated,
    empty, audio-only, unsupported…);
  - a video with a frame within `known_bits` bits of a known sensitive media hash (the lists
    platforms share), plain, mirrored or a region (cropped, inside a split screen), is excluded
    as `sensitive_media_hash`; the media themselves are never copied anywhere;
  - with the optional NudeNet detector on, a video whose score reaches `nudity_threshold` is
    excluded as `sensitive_nudity` (detail: label and score);
  - a near-duplicate of an opted-out video (the blocklist keeps their frame hashes) is excluded
    as `opted_out_near_duplicate`: a re-upload must not bring back what a creator withdrew;
  - near-duplicates are clustered and all but the representative are excluded as
    `near_duplicate` (detail: the representative's post ID);
  - posts without a media file are kept and counted (`no_media`), unless the config requires media.
Reads nothing itself: the flow hands in the posts, the store rows and the known hash list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from curation.video.neardup import (
    NearDupSettings,
    band_masks,
    cluster_videos,
    find_near_duplicates,
    flag_near_duplicates,
    split_reference_pairs,
    with_references,
)
from storage.exclusions import DETAIL, REASON


@dataclass
class VideoScreenStats:
    fingerprinted: int
    no_media: int
    unusable: int
    known_matches: int
    nudity_matches: int
    candidates: int
    duplicate_pairs: int
    clusters: int
    opted_out_copies: int = 0


def match_known_media(frames: pl.DataFrame, known: pl.DataFrame, max_bits: int) -> pl.DataFrame:
    """(video, distance) of videos with a frame (plain, mirrored or a region) within `max_bits` of
    a known hash. Exact by the same pigeonhole as the near-duplicate join: 6 blocks, each band
    keeps all but `max_bits` of them (so max_bits ≤ 5)."""
    if known.is_empty() or frames.is_empty():
        return pl.DataFrame(schema={"video": pl.Int32, "distance": pl.UInt32})
    hashes = known["hash"]
    # Lists often store 64-bit hashes as signed BIGINT: same bits, reinterpreted.
    known_h = pl.DataFrame(
        {
            "k": hashes.reinterpret(signed=False)
            if hashes.dtype == pl.Int64
            else hashes.cast(pl.UInt64)
        }
    )
    views = [frames.select("video", pl.col("h")), frames.select("video", pl.col("hm").alias("h"))]
    if "p" in frames.columns:  # crop windows and insets: known media shown inside another video
        views.append(frames.select("video", pl.col("p").alias("h")).explode("h").drop_nulls())
    both = pl.concat(views)
    hits = []
    for mask in band_masks(6, max_bits)["mask"]:
        m = pl.lit(int(mask), dtype=pl.UInt64)
        hits.append(
            both.with_columns((pl.col("h") & m).alias("key"))
            .join(known_h.with_columns((pl.col("k") & m).alias("key")), on="key")
            .with_columns((pl.col("h") ^ pl.col("k")).bitwise_count_ones().alias("distance"))
            .filter(pl.col("distance") <= max_bits)
            .select("video", "distance")
        )
    return pl.concat(hits).group_by("video").agg(pl.col("distance").min()).sort("video")


def explode_frames(videos: pl.DataFrame) -> pl.DataFrame:
    """(video, frame, t, h, hm, p) from rows of (video, frames) as the store keeps them."""
    return (
        videos.select(pl.col("video").cast(pl.Int32), "frames")
        .explode("frames")
        .drop_nulls("frames")
        .with_columns(pl.int_range(pl.len()).over("video").cast(pl.Int32).alias("frame"))
        .unnest("frames")
        .select("video", "frame", "t", "h", "hm", "p")
    )


def screen_videos(
    posts: pl.DataFrame,
    stored: pl.DataFrame,
    known: pl.DataFrame,
    settings: NearDupSettings,
    known_bits: int,
    require_media: bool,
    nudity_threshold: float | None = None,
    opted_out: pl.DataFrame | None = None,
    first: pl.Series | None = None,
) -> tuple[pl.DataFrame, VideoScreenStats, pl.DataFrame]:
    """Flag `posts` (post_id, media_sha256, engagement_score, created_ts, …) from their store
    rows (post_id, media_sha256, status, detail, frames). `opted_out`: (frames) of opted-out
    videos. `first`: post IDs that stay representatives ahead of any other (the pool, when its
    creators' companions are screened beside it). Returns posts + exclusion columns, the stats,
    and the near-duplicate clusters."""
    latest = stored.unique(["post_id", "media_sha256"], keep="last")
    with_status = posts.join(
        latest.select(
            "post_id",
            "media_sha256",
            "status",
            "frames",
            pl.col("detail").alias("_store_detail"),
            "nudity_score",
            "nudity_label",
        ),
        on=["post_id", "media_sha256"],
        how="left",
    )
    usable = (
        with_status.filter(pl.col("status") == "ok")
        .with_row_index("video")
        .with_columns(pl.col("video").cast(pl.Int32))
    )
    frames = explode_frames(usable)
    known_hits = match_known_media(frames, known, known_bits)
    nudity_hits = (
        usable.filter(pl.col("nudity_score") >= nudity_threshold).select(
            "video",
            (
                pl.col("nudity_label")
                + pl.lit(" ")
                + pl.col("nudity_score").round(2).cast(pl.String)
            ).alias("_nudity"),
        )
        if nudity_threshold is not None
        else pl.DataFrame(schema={"video": pl.Int32, "_nudity": pl.String})
    )
    # Sensitive videos leave before near-duplicate search: none can be a kept representative.
    screened = frames.join(known_hits.select("video"), on="video", how="anti").join(
        nudity_hits, on="video", how="anti"
    )
    references = (
        explode_frames(opted_out.with_row_index("video"))
        if opted_out is not None and opted_out.height
        else screened.clear()
    )
    result = find_near_duplicates(with_references(screened, references, usable.height), settings)
    pairs, copies = split_reference_pairs(result.pairs, usable.height)
    withdrawn = copies["video"].unique()
    labels = cluster_videos(pairs, usable.height)
    ranked = usable.select("video", "post_id", "engagement_score", "created_ts")
    if first is not None:
        ranked = ranked.with_columns(
            (~pl.col("post_id").is_in(first.implode())).cast(pl.Int8).alias("precedence")
        )
    flagged = flag_near_duplicates(ranked, pairs)
    seen = screened.select("video").unique().join(withdrawn.to_frame(), on="video", how="anti")
    clusters = neardup_clusters(flagged, pairs, labels, seen)
    decided = (
        flagged.join(known_hits, on="video", how="left")
        .join(nudity_hits, on="video", how="left")
        .select(
            "post_id",
            pl.when(pl.col("distance").is_not_null())
            .then(pl.lit("sensitive_media_hash"))
            .when(pl.col("_nudity").is_not_null())
            .then(pl.lit("sensitive_nudity"))
            .when(pl.col("video").is_in(withdrawn.implode()))
            .then(pl.lit("opted_out_near_duplicate"))
            .otherwise(pl.col(REASON))
            .alias("_reason"),
            pl.when(pl.col("distance").is_not_null())
            .then(pl.lit("distance ") + pl.col("distance").cast(pl.String))
            .when(pl.col("_nudity").is_not_null())
            .then(pl.col("_nudity"))
            .otherwise(pl.col(DETAIL))
            .alias("_detail"),
        )
    )
    out = (
        with_status.drop("frames")
        .join(decided, on="post_id", how="left")
        .with_columns(
            pl.when(pl.col("status").is_null() & require_media)
            .then(pl.lit("video:missing_media"))
            .when(pl.col("status").is_not_null() & (pl.col("status") != "ok"))
            .then(pl.lit("video:") + pl.col("status"))
            .otherwise(pl.col("_reason"))
            .alias(REASON),
            pl.when(pl.col("status").is_not_null() & (pl.col("status") != "ok"))
            .then(pl.col("_store_detail"))
            .otherwise(pl.col("_detail"))
            .alias(DETAIL),
        )
        .drop("_reason", "_detail", "_store_detail", "status", "nudity_score", "nudity_label")
    )
    dup = pairs.filter(pl.col("duplicate"))
    stats = VideoScreenStats(
        fingerprinted=usable.height,
        no_media=int(with_status["status"].is_null().sum()),
        unusable=int(((with_status["status"] != "ok") & with_status["status"].is_not_null()).sum()),
        known_matches=known_hits.height,
        nudity_matches=nudity_hits.height,
        candidates=result.candidates,
        duplicate_pairs=dup.height,
        clusters=int(np.sum(np.bincount(labels) > 1)) if len(labels) else 0,
        opted_out_copies=withdrawn.len(),
    )
    return out, stats, clusters


def neardup_clusters(
    flagged: pl.DataFrame, pairs: pl.DataFrame, labels: np.ndarray, seen: pl.DataFrame
) -> pl.DataFrame:
    """(post_id, cluster, representative, matches) of the videos the search saw: the connected
    component, the post it was folded into (itself if kept), and the posts it was verified to
    near-duplicate directly. Saved by curate, so an opt-out finds a video's copies without
    searching again."""
    dup = pairs.filter(pl.col("duplicate")).select("video_a", "video_b")
    both_ways = pl.concat(
        [dup, dup.select(pl.col("video_b").alias("video_a"), pl.col("video_a").alias("video_b"))]
    )
    post = flagged.select("video", "post_id")
    component = pl.DataFrame(
        {"video": np.arange(len(labels), dtype=np.int32), "cluster": labels.astype(np.int64)}
    )
    matches = (
        both_ways.join(post.rename({"video": "video_b", "post_id": "match"}), on="video_b")
        .group_by("video_a")
        .agg(pl.col("match").unique().sort().alias("matches"))
        .rename({"video_a": "video"})
    )
    return (
        flagged.join(seen, on="video", how="semi")
        .join(component, on="video")
        .join(matches, on="video", how="left")
        .select(
            "post_id",
            "cluster",
            "representative",
            pl.col("matches").fill_null(pl.lit([], dtype=pl.List(pl.Int64))),
        )
        .sort("post_id")
    )
