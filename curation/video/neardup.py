"""Near-duplicate videos from bags of frame hashes: candidates → verified pairs → clusters.

1. Candidates (polars, `band_candidates`): an exact band join. The 64 bits are split into
   `blocks` blocks; each band keeps all but `strict_bits` of them, so every pair of hashes
   within `strict_bits` bits shares a band key. A frame's plain hash meets the other video's
   plain hash, its mirrored hash, and the region hashes (crop windows, insets) of up to
   `probe_frames` of its frames, spread over the video. One close pair surfaces a video pair.
   Insets get a second, wider key (`inset_strict_bits`, default 4) between the same probe
   frames' plain and inset hashes: few hashes, and an inset copy is often 4 bits off at best.
2. Verification (sql/marts/neardup_pairs.sql): each candidate's whole bags, with the looser
   `frame_bits` threshold, every frame against every frame of the other video (plain, mirrored,
   and each side's regions against the other's plain hash); the share of each video's frames
   that match, both directions.
3. Decision (here): a pair is a near-duplicate when both shares reach `min_share` and, in both
   directions, `min_aligned` of the frames match along one time line (speed 0.6–1.7×, any
   offset): copies keep time, look-alikes of one static spot do not.
4. Clusters: greedy stars around the highest-engagement posts (ties: earliest, then lowest
   post ID, as in exact dedup): a post is folded only into a post it directly matches.
   `cluster_videos` (connected components) is kept for reporting.

Frames come in as (video INT, frame INT, t DOUBLE, h UBIGINT, hm UBIGINT, p UBIGINT[]): `video`
a dense index the caller maps to posts, `t` seconds (optional: else the frame index), `hm` the
hash of the mirrored frame, `p` the region hashes (optional: without it, no region matching).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from curation.sql import build_table


@dataclass(frozen=True)
class NearDupSettings:
    blocks: int = 4  # the band join's guarantee: every hash pair within strict_bits is found
    strict_bits: int = 2
    frame_bits: int = 12  # frames this close match when a candidate pair is verified
    min_share: float = 0.5  # share of each video's frames that must match
    min_aligned: float = 0.4  # … and share whose matches lie on one time line (speed, offset)
    offset_bin_s: float = 1.5  # offsets of one line agree within this many seconds
    max_bucket: int = 1_000  # keys shared by more hashes than this are skipped (flat frames …)
    probe_frames: int = 6  # frames per video whose region hashes take part in the band join
    # Insets (the regions after the first crop_windows) get a wider key of their own: a video
    # shown inside another is often 4 bits off at best. Few hashes, so 35 bands stay cheap.
    crop_windows: int = 9
    inset_blocks: int = 7
    inset_strict_bits: int = 4
    inset_probe_frames: int = 4  # frames per video on both sides of the inset key (0: off)
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


def with_regions(frames: pl.LazyFrame) -> pl.LazyFrame:
    """Frames with a `p` column (an empty list when the caller had no region hashes) and a `t`
    column (the frame index when the caller had no times: one frame per second)."""
    names = frames.collect_schema().names()
    if "p" not in names:
        frames = frames.with_columns(pl.lit([], dtype=pl.List(pl.UInt64)).alias("p"))
    if "t" not in names:
        frames = frames.with_columns(pl.col("frame").cast(pl.Float64).alias("t"))
    return frames


@dataclass
class JoinSides:
    plain: pl.DataFrame  # (video, h): every frame's plain hash
    others: pl.DataFrame  # mirrored hashes of all frames, regions of the probe frames
    probe_plain: pl.DataFrame  # plain hashes of the probe frames …
    probe_insets: pl.DataFrame  # … and their insets, for the inset key


def first_of_slices(k: int) -> pl.Expr:
    """True for the first frame of each of k equal slices of a video's frames."""
    n = pl.len().over("video")
    return ((pl.col("frame") * k // n) != ((pl.col("frame") - 1) * k // n)) | (pl.col("frame") == 0)


def join_sides(frames: pl.LazyFrame, settings: NearDupSettings) -> JoinSides:
    """The band joins' sides, as (video, h). Probe frames: `probe_frames` per video (and
    `inset_probe_frames` for the inset key), the first frame of each of that many slices."""
    frames = with_regions(frames)
    probe = frames.filter(first_of_slices(settings.probe_frames))
    # No inset key: no inset frames to select (an always-false filter keeps the schema).
    inset_probe = frames.filter(
        first_of_slices(settings.inset_probe_frames)
        if settings.inset_probe_frames > 0
        else pl.lit(False)
    )
    return JoinSides(
        plain=frames.select("video", "h").collect(),
        others=pl.concat(
            [
                frames.select("video", pl.col("hm").alias("h")),
                probe.select("video", pl.col("p").alias("h")).explode("h").drop_nulls(),
            ]
        ).collect(),
        probe_plain=inset_probe.select("video", "h").collect(),
        probe_insets=inset_probe.select(
            "video", pl.col("p").list.slice(settings.crop_windows).alias("h")
        )
        .explode("h")
        .drop_nulls()
        .collect(),
    )


def band_candidates(
    plain: pl.DataFrame,
    others: pl.DataFrame,
    mask: int,
    strict_bits: int,
    max_bucket: int,
    plain_pairs: bool = True,
    focus: int | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Video pairs (video_a < video_b) with a plain hash within `strict_bits` of the other
    video's plain (if `plain_pairs`), mirrored or region hash, among those agreeing on
    `mask`'s bits; and the band keys skipped as too common. Only keys that occur on both sides
    are joined. With `focus`, only the pairs with a video ≥ focus: the same pairs as without
    it, found among the rows that share a key with a focus video (the skipped keys are then
    only those)."""
    m = pl.lit(mask, dtype=pl.UInt64)
    left = plain.lazy().with_columns((pl.col("h") & m).alias("key"))
    others_keyed = others.lazy().with_columns((pl.col("h") & m).alias("key"))
    if focus is not None:  # a pair with a focus video shares one of its keys: keep only those
        mine = pl.col("video") >= focus
        keys = pl.concat([left.filter(mine), others_keyed.filter(mine)]).select("key").unique()
        keys = keys.collect().lazy()
        left = left.join(keys, on="key", how="semi")
        others_keyed = others_keyed.join(keys, on="key", how="semi")
    counts = left.group_by("key").agg(pl.len().alias("n")).collect()  # whole, for those keys
    too_common = counts.filter(pl.col("n") > max_bucket)
    usable = counts.filter(pl.col("n") <= max_bucket)
    right_others = others_keyed.join(usable.lazy().select("key"), on="key", how="semi").collect()
    busy = right_others.group_by("key").agg(pl.len().alias("n")).filter(pl.col("n") > max_bucket)
    right_others = right_others.join(busy, on="key", how="anti")
    shared = [right_others.select("key").unique()]
    if plain_pairs:
        shared.append(usable.filter(pl.col("n") > 1).select("key"))
    left_rows = left.join(pl.concat(shared).unique().lazy(), on="key", how="semi").collect()
    right = pl.concat([left_rows, right_others]) if plain_pairs else right_others
    if focus is None:
        joined = left_rows.join(right, on="key", suffix="_b")
    else:
        mine = pl.col("video") >= focus
        joined = pl.concat(
            [
                left_rows.filter(mine).join(right, on="key", suffix="_b"),
                left_rows.filter(~mine).join(right.filter(mine), on="key", suffix="_b"),
            ]
        )
    pairs = (
        joined.filter(
            (pl.col("video") != pl.col("video_b"))
            & ((pl.col("h") ^ pl.col("h_b")).bitwise_count_ones() <= strict_bits)
        )
        .select(
            pl.min_horizontal("video", "video_b").alias("video_a"),
            pl.max_horizontal("video", "video_b").alias("video_b"),
        )
        .unique()
    )
    return pairs, pl.concat([too_common, busy])


def find_near_duplicates(
    frames: pl.DataFrame | pl.LazyFrame, settings: NearDupSettings, focus: int | None = None
) -> NearDupResult:
    """Candidate search (polars, band by band) and bag verification (DuckDB SQL); with
    `focus`, only the pairs with a video ≥ focus (see band_candidates)."""
    frames = with_regions(frames.lazy()).select(
        pl.col("video").cast(pl.Int32),
        pl.col("frame").cast(pl.Int16),
        pl.col("t").cast(pl.Float64),
        pl.col("h").cast(pl.UInt64),
        pl.col("hm").cast(pl.UInt64),
        pl.col("p").cast(pl.List(pl.UInt64)),
    )
    sides = join_sides(frames, settings)
    found, skipped = [], []
    for mask in band_masks(settings.blocks, settings.strict_bits)["mask"]:
        pairs, too_common = band_candidates(
            sides.plain,
            sides.others,
            int(mask),
            settings.strict_bits,
            settings.max_bucket,
            focus=focus,
        )
        found.append(pairs)
        skipped.append(too_common)
    if not sides.probe_insets.is_empty():
        for mask in band_masks(settings.inset_blocks, settings.inset_strict_bits)["mask"]:
            pairs, too_common = band_candidates(
                sides.probe_plain,
                sides.probe_insets,
                int(mask),
                settings.inset_strict_bits,
                settings.max_bucket,
                plain_pairs=False,
                focus=focus,
            )
            found.append(pairs)
            skipped.append(too_common)
    del sides
    candidates = pl.concat(found).unique().sort("video_a", "video_b")
    too_common = pl.concat(skipped)
    involved = pl.concat(
        [candidates.select(pl.col("video_a").alias("video")), candidates.select(video="video_b")]
    ).unique()
    bags = frames.join(involved.lazy(), on="video", how="semi").collect()
    con = duckdb.connect(
        config={"memory_limit": settings.memory_limit, "threads": settings.threads}
    )
    con.execute("set enable_progress_bar = false").fetchall()
    try:
        con.register("frames", bags.to_arrow())
        con.register("neardup_candidates", candidates.to_arrow())
        build_table(
            con,
            "neardup_pairs",
            {"frame_bits": settings.frame_bits, "offset_bin": settings.offset_bin_s},
        )
        pairs = con.sql("select * from neardup_pairs order by video_a, video_b").pl()
    finally:
        con.close()
    pairs = pairs.with_columns(
        (
            (pl.col("share_a") >= settings.min_share)
            & (pl.col("share_b") >= settings.min_share)
            & (pl.col("aligned_a") >= settings.min_aligned)
            & (pl.col("aligned_b") >= settings.min_aligned)
        ).alias("duplicate")
    )
    return NearDupResult(candidates.height, pairs, too_common.height, int(too_common["n"].sum()))


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

    Greedy star clustering: posts are taken by priority (lowest `precedence` if the column is
    there, then highest engagement, then earliest, then lowest ID); each post not yet assigned
    becomes a representative and takes its own direct near-duplicates. So every excluded post
    matches the post it is folded into, directly: a short clip inside a long one, chained to a
    third clip, cannot remove an unrelated video.
    """
    dup = pairs.filter(pl.col("duplicate")).select("video_a", "video_b").unique()
    neighbours: dict[int, list[int]] = {}
    for a, b in dup.iter_rows():
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    by, descending = ["engagement_score", "created_ts", "post_id"], [True, False, False]
    if "precedence" in posts.columns:  # lower first, before any of the above
        by, descending = ["precedence", *by], [False, *descending]
    order = posts.filter(pl.col("video").is_in(list(neighbours))).sort(by, descending=descending)
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


def with_references(frames: pl.DataFrame, references: pl.DataFrame, n: int) -> pl.DataFrame:
    """`frames` (videos 0…n−1) plus the frames of reference videos (e.g. opted-out ones):
    reference video i becomes video n + i."""
    return pl.concat(
        [frames, references.with_columns((pl.col("video") + n).cast(frames["video"].dtype))],
        how="diagonal_relaxed",
    )


def split_reference_pairs(pairs: pl.DataFrame, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pairs among the first n videos, without the videos that duplicate a reference (index
    ≥ n), and those (video, reference) matches: a copy of an opted-out video is removed, never
    kept as anyone's representative."""
    dup = pairs.filter(pl.col("duplicate"))
    lo, hi = pl.min_horizontal("video_a", "video_b"), pl.max_horizontal("video_a", "video_b")
    matched = (
        dup.filter((lo < n) & (hi >= n))
        .select(lo.alias("video"), (hi - n).alias("reference"))
        .unique()
        .sort("video", "reference")
    )
    gone = matched["video"].implode()
    inner = pairs.filter(
        (pl.col("video_a") < n)
        & (pl.col("video_b") < n)
        & ~pl.col("video_a").is_in(gone)
        & ~pl.col("video_b").is_in(gone)
    )
    return inner, matched


def match_references(
    frames: pl.DataFrame, references: pl.DataFrame, settings: NearDupSettings
) -> pl.DataFrame:
    """(video, reference) for each video of `frames` that near-duplicates a reference video."""
    if frames.is_empty() or references.is_empty():
        return pl.DataFrame(schema={"video": pl.Int32, "reference": pl.Int32})
    n = int(frames["video"].max()) + 1  # type: ignore[arg-type]
    # Only pairs with a reference are asked for: the others are never joined or verified.
    result = find_near_duplicates(with_references(frames, references, n), settings, focus=n)
    return split_reference_pairs(result.pairs, n)[1]
