"""Near-duplicate videos from bags of frame hashes: candidates → verified pairs → clusters.

1. Candidates (polars, `band_candidates`): an exact band join. The 64 bits are split into
   `blocks` blocks; each band keeps all but `strict_bits` of them, so every frame pair within
   `strict_bits` bits shares a band key. One close frame pair is enough to surface a video pair.
2. Verification (sql/marts/neardup_pairs.sql): each candidate's whole bags, with the looser
   `frame_bits` threshold; the share of each video's frames that match, both directions.
3. Decision (here): a pair is a near-duplicate when both shares reach `min_share`.
4. Clusters: greedy stars around the highest-engagement posts (ties: earliest, then lowest
   post ID, as in exact dedup): a post is folded only into a post it directly matches.
   `cluster_videos` (connected components) is kept for reporting.

Frames come in as (video INT, frame INT, h UBIGINT, hm UBIGINT): `video` a dense index the caller
maps to posts, `hm` the hash of the mirrored frame.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from curation.sqlrun import build_table


@dataclass(frozen=True)
class NearDupSettings:
    blocks: int = 4  # the band join's guarantee: every frame pair within strict_bits is found
    strict_bits: int = 2
    frame_bits: int = 12  # frames this close match when a candidate pair is verified
    min_share: float = 0.5  # share of each video's frames that must match
    max_bucket: int = 1_000  # keys shared by more hashes than this are skipped (flat frames …)
    memory_limit: str = "2GB"  # DuckDB's share: verification only
    threads: int = 2


@dataclass
class NearDupResult:
    candidates: int  # video pairs the band join proposed
    pairs: pl.DataFrame  # verified pairs with shares and the decision `duplicate`
    skipped_buckets: int  # band keys too common to join
    skipped_hashes: int  # hashes in those keys


def band_masks(blocks: int, strict_bits: int) -> pl.DataFrame:
    """One 64-bit mask per combination of (blocks − strict_bits) of the blocks."""
    if not 0 <= strict_bits < blocks <= 64:
        raise ValueError("need 0 ≤ strict_bits < blocks ≤ 64")
    edges = np.linspace(0, 64, blocks + 1).round().astype(int)
    block_masks = [
        ((1 << int(hi)) - 1) ^ ((1 << int(lo)) - 1) for lo, hi in itertools.pairwise(edges)
    ]
    masks = []
    for combo in itertools.combinations(range(blocks), blocks - strict_bits):
        mask = 0
        for b in combo:
            mask |= block_masks[b]
        masks.append(mask)
    return pl.DataFrame(
        {"band": range(len(masks)), "mask": masks}, schema={"band": pl.Int32, "mask": pl.UInt64}
    )


def band_candidates(
    frames: pl.LazyFrame, mask: int, settings: NearDupSettings
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Video pairs with a frame pair within `strict_bits` that agree on `mask`'s bits, and the
    band keys skipped as too common. A frame's plain hash meets the other video's plain and
    mirrored hashes (a flipped re-upload still matches); only keys seen twice are joined."""
    m = pl.lit(mask, dtype=pl.UInt64)
    keyed = pl.concat(
        [
            frames.select(
                "video", "h", (pl.col("h") & m).alias("key"), pl.lit(False).alias("mirrored")
            ),
            frames.select(
                "video",
                pl.col("hm").alias("h"),
                (pl.col("hm") & m).alias("key"),
                pl.lit(True).alias("mirrored"),
            ),
        ]
    )
    counts = (
        keyed.group_by("key")
        .agg(pl.len().alias("n"), (~pl.col("mirrored")).sum().alias("plain"))
        .filter((pl.col("n") > 1) & (pl.col("plain") > 0))
        .collect()
    )
    too_common = counts.filter(pl.col("plain") > settings.max_bucket)
    shared = counts.filter(pl.col("plain") <= settings.max_bucket).select("key")
    colliding = keyed.join(shared.lazy(), on="key", how="semi").collect()
    # Plain against plain, and either side's mirrored hash against the other's plain one, so
    # the result does not depend on which video has the lower index (mirrored against mirrored
    # is plain against plain again).
    pairs = (
        colliding.join(colliding, on="key", suffix="_b")
        .filter(
            (pl.col("video_b") > pl.col("video"))
            & ~(pl.col("mirrored") & pl.col("mirrored_b"))
            & ((pl.col("h") ^ pl.col("h_b")).bitwise_count_ones() <= settings.strict_bits)
        )
        .select(
            pl.col("video").alias("video_a"),
            "video_b",
            (pl.col("mirrored") | pl.col("mirrored_b")).alias("mirrored"),
        )
        .unique()
    )
    return pairs, too_common


def find_near_duplicates(frames: pl.DataFrame, settings: NearDupSettings) -> NearDupResult:
    """Candidate search (polars, band by band) and bag verification (DuckDB SQL)."""
    frames = frames.select(
        pl.col("video").cast(pl.Int32),
        pl.col("frame").cast(pl.Int16),
        pl.col("h").cast(pl.UInt64),
        pl.col("hm").cast(pl.UInt64),
    )
    found, skipped = [], []
    for mask in band_masks(settings.blocks, settings.strict_bits)["mask"]:
        pairs, too_common = band_candidates(frames.lazy(), int(mask), settings)
        found.append(pairs)
        skipped.append(too_common)
    candidates = pl.concat(found).unique().sort("video_a", "video_b", "mirrored")
    too_common = pl.concat(skipped)
    con = duckdb.connect(
        config={"memory_limit": settings.memory_limit, "threads": settings.threads}
    )
    con.execute("set enable_progress_bar = false").fetchall()
    try:
        con.register("frames", frames.to_arrow())
        con.register("neardup_candidates", candidates.to_arrow())
        build_table(con, "neardup_pairs", {"frame_bits": settings.frame_bits})
        pairs = con.sql("select * from neardup_pairs order by video_a, video_b, mirrored").pl()
    finally:
        con.close()
    pairs = pairs.with_columns(
        (
            (pl.col("share_a") >= settings.min_share) & (pl.col("share_b") >= settings.min_share)
        ).alias("duplicate")
    )
    return NearDupResult(
        candidates.height, pairs, too_common.height, int(too_common["plain"].sum())
    )


def cluster_videos(pairs: pl.DataFrame, n_videos: int) -> np.ndarray:
    """Cluster label per video (0…n−1) from the duplicate pairs; singletons get their own."""
    dup = pairs.filter(pl.col("duplicate"))
    a = dup["video_a"].to_numpy()
    b = dup["video_b"].to_numpy()
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n_videos, n_videos))
    _, labels = connected_components(graph, directed=False)
    return labels


def flag_near_duplicates(posts: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Given posts (video, post_id, engagement_score, created_ts) and the verified pairs, add
    `representative` and the exclusion columns ('near_duplicate', detail = the representative).

    Greedy star clustering: posts are taken by priority (highest engagement, then earliest, then
    lowest ID); each post not yet assigned becomes a representative and takes its own direct
    near-duplicates. So every excluded post matches the post it is folded into, directly: a
    short clip inside a long one, chained to a third clip, cannot remove an unrelated video.
    """
    dup = pairs.filter(pl.col("duplicate")).select("video_a", "video_b").unique()
    neighbours: dict[int, list[int]] = {}
    for a, b in dup.iter_rows():
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    order = posts.filter(pl.col("video").is_in(list(neighbours))).sort(
        ["engagement_score", "created_ts", "post_id"], descending=[True, False, False]
    )
    post_of = dict(zip(posts["video"].to_list(), posts["post_id"].to_list(), strict=True))
    representative: dict[int, int] = {}
    for video in order["video"].to_list():
        if video in representative:
            continue
        representative[video] = video
        for other in neighbours[video]:
            representative.setdefault(other, video)
    rep_post = [post_of[representative.get(v, v)] for v in posts["video"].to_list()]
    return posts.with_columns(pl.Series("representative", rep_post, dtype=pl.Int64)).with_columns(
        pl.when(pl.col("post_id") != pl.col("representative"))
        .then(pl.lit("near_duplicate"))
        .alias("exclusion_reason"),
        pl.when(pl.col("post_id") != pl.col("representative"))
        .then(pl.col("representative").cast(pl.String))
        .alias("exclusion_detail"),
    )
