"""Train/validation/test splits: creator-disjoint and stratified by concept and language.

All of a creator's videos share one split, so no model is tested on creators it trained on.
Creators are dealt out greedily, largest first (ties by a seeded hash of the creator): each goes
to the split whose concept and language counts are furthest below their targets, weighted by the
creator's own videos (iterative stratification for grouped data). Deterministic for the same
posts and seed.

A patch release keeps every split of its parent: creators already released keep theirs
(`previous`), and only new creators are dealt out, against the counts the kept ones make.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curation.hashing import uniform_from_id

SPLITS = ("train", "validation", "test")
STRATA = ("concept", "language")


def assign_splits(
    posts: pl.DataFrame,
    ratios: tuple[float, float, float],
    seed: int,
    previous: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Add `split` to posts (creator_id, concept, language, …). `previous`: (creator_id, split)
    of creators whose split is already fixed."""
    target = np.asarray(ratios, dtype=float)
    strata = pl.concat(
        [posts.select("creator_id", (pl.lit(f"{c}=") + pl.col(c)).alias("stratum")) for c in STRATA]
    )
    names = strata["stratum"].unique().sort().to_list()
    index = {name: i for i, name in enumerate(names)}
    per_creator = (
        strata.group_by("creator_id", "stratum")
        .len()
        .with_columns(pl.col("stratum").replace_strict(index, return_dtype=pl.Int32).alias("k"))
    )
    sizes = posts.group_by("creator_id").len("videos")
    order = sizes.with_columns(tie=uniform_from_id(pl.col("creator_id"), seed)).sort(
        ["videos", "tie", "creator_id"], descending=[True, False, False]
    )
    counts: dict[int, np.ndarray] = {}
    for creator, k, n in per_creator.select("creator_id", "k", "len").iter_rows():
        counts.setdefault(creator, np.zeros(len(names)))[k] += n
    totals = np.sum(list(counts.values()), axis=0) if counts else np.zeros(len(names))
    assigned = np.zeros((len(SPLITS), len(names)))
    videos_in = np.zeros(len(SPLITS))
    fixed = dict(previous.select("creator_id", "split").iter_rows()) if previous is not None else {}
    split_of: dict[int, str] = {}
    for creator, _videos, _tie in order.iter_rows():  # kept creators count first
        if creator in fixed and fixed[creator] in SPLITS:
            s = SPLITS.index(fixed[creator])
            assigned[s] += counts[creator]
            videos_in[s] += counts[creator].sum() / len(STRATA)
            split_of[creator] = fixed[creator]
    for creator, videos, _tie in order.iter_rows():
        if creator in split_of:
            continue
        c = counts[creator]
        room = target[:, None] * totals[None, :] - assigned  # (splits, strata) below target
        need = (room * c[None, :]).sum(axis=1) / max(c.sum(), 1)
        overall = target * (videos_in.sum() + videos) - videos_in  # tie-break: overall room
        s = int(np.lexsort((-overall, -need))[0])
        assigned[s] += c
        videos_in[s] += videos
        split_of[creator] = SPLITS[s]
    return posts.with_columns(
        pl.col("creator_id").replace_strict(split_of, return_dtype=pl.String).alias("split")
    )


def split_report(posts: pl.DataFrame) -> pl.DataFrame:
    """Achieved share of each split per concept and per language (and overall): stratum, level,
    videos, train, validation, test."""
    rows = [posts.select(pl.lit("all").alias("stratum"), pl.lit("").alias("level"), "split")]
    rows += [
        posts.select(pl.lit(c).alias("stratum"), pl.col(c).alias("level"), "split") for c in STRATA
    ]
    long = pl.concat(rows)
    return (
        long.group_by("stratum", "level")
        .agg(
            pl.len().alias("videos"),
            *[(pl.col("split") == s).mean().round(4).alias(s) for s in SPLITS],
        )
        .sort("stratum", "level")
    )
