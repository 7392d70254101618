"""Engagement sampling: popularity-weighted, without replacement, stratified by language × month.

Each post gets a key log(u) / w (Efraimidis–Spirakis: the top-k keys are a weighted sample
without replacement), with u a hash of (seed, post ID) — so the sample is a function of the input
and the seed, not of row order — and w = (1 + engagement score) ** power. Each stratum keeps its
quota of highest keys. Quotas are small tables computed from stratum sizes and config.
"""

from __future__ import annotations

import math

import polars as pl

from curation.config import SamplingConfig
from curation.exclusions import REASON
from curation.hashing import uniform_from_id

STRATUM = ("language", "month")


def sampling_keys(posts: pl.LazyFrame, seed: int, power: float) -> pl.LazyFrame:
    """The narrow table sampling works on: post_id, stratum, `sampling_key` (larger first)."""
    weight = (1.0 + pl.col("engagement_score")).pow(power)
    return posts.select(
        "post_id",
        "language",
        pl.col("created_ts").dt.strftime("%Y-%m").alias("month"),
        (uniform_from_id(pl.col("post_id"), seed).log() / weight).alias("sampling_key"),
    )


def _largest_remainder(targets: list[float], caps: list[int], total: int) -> list[int]:
    """Integers that sum to `total`, each ≤ its cap, as close as possible to `targets`."""
    out = [min(math.floor(t), c) for t, c in zip(targets, caps, strict=True)]
    order = sorted(range(len(targets)), key=lambda i: (-(targets[i] - math.floor(targets[i])), i))
    short = total - sum(out)
    while short > 0:
        progressed = False
        for i in order:
            if short == 0:
                break
            if out[i] < caps[i]:
                out[i] += 1
                short -= 1
                progressed = True
        if not progressed:
            break
    return out


def _water_fill(shares: list[float], caps: list[int], total: int) -> list[float]:
    """Split `total` in proportion to `shares`, never above a cap; what a full stratum cannot
    take goes to the others, still in proportion."""
    alloc = [0.0] * len(shares)
    open_ = [i for i, c in enumerate(caps) if c > 0 and shares[i] > 0]
    remaining = float(total)
    while open_ and remaining > 1e-9:
        weight = sum(shares[i] for i in open_)
        full = [i for i in open_ if alloc[i] + remaining * shares[i] / weight >= caps[i]]
        if not full:
            for i in open_:
                alloc[i] += remaining * shares[i] / weight
            break
        for i in full:
            remaining -= caps[i] - alloc[i]
            alloc[i] = float(caps[i])
        open_ = [i for i in open_ if i not in full]
    return alloc


def allocate_quotas(
    strata: pl.DataFrame, pool_size: int, language_shares: dict[str, float]
) -> pl.DataFrame:
    """Quota per (language, month) from `available` counts.

    Languages named in `language_shares` get that share of the pool; the others share the rest
    in proportion to their size; within a language, months get quotas in proportion to size.
    Quotas never exceed what a stratum has, and sum to min(pool_size, available).
    """
    strata = strata.sort(*STRATUM)
    available = strata["available"].to_list()
    total = min(pool_size, sum(available))
    by_lang = strata.group_by("language").agg(pl.col("available").sum()).sort("language")
    unnamed = by_lang.filter(~pl.col("language").is_in(list(language_shares)))["available"].sum()
    rest = max(0.0, 1.0 - sum(language_shares.values()))
    lang_share = {
        row["language"]: language_shares.get(
            row["language"], rest * row["available"] / unnamed if unnamed else 0.0
        )
        for row in by_lang.iter_rows(named=True)
    }
    lang_total = {row["language"]: row["available"] for row in by_lang.iter_rows(named=True)}
    shares = [
        lang_share[lang] * n / lang_total[lang] if lang_total[lang] else 0.0
        for lang, n in zip(strata["language"], available, strict=True)
    ]
    targets = _water_fill(shares, available, total)
    quotas = _largest_remainder(targets, available, total)
    return strata.with_columns(pl.Series("quota", quotas, dtype=pl.Int64))


def choose_sampled(keys: pl.LazyFrame, quotas: pl.DataFrame) -> pl.LazyFrame:
    """IDs of each stratum's `quota` highest keys (ties: lower post ID first)."""
    order = pl.struct(-pl.col("sampling_key"), "post_id")  # rank ascending = key desc, id asc
    rank = order.rank("ordinal").over(STRATUM)
    return (
        keys.join(quotas.lazy().select(*STRATUM, "quota"), on=STRATUM, how="inner")
        .filter(rank <= pl.col("quota"))
        .select("post_id")
    )


def flag_not_sampled(posts: pl.LazyFrame, chosen: pl.Series) -> pl.LazyFrame:
    """Flag every post not among `chosen` as `not_sampled` (streams over the wide table)."""
    return posts.with_columns(
        pl.when(~pl.col("post_id").is_in(chosen.implode()))
        .then(pl.lit("not_sampled"))
        .alias(REASON)
    )


def stratum_counts(keys: pl.LazyFrame) -> pl.DataFrame:
    return keys.group_by(STRATUM).agg(pl.len().cast(pl.Int64).alias("available")).collect()


def sample_by_engagement(
    posts: pl.LazyFrame,
    cfg: SamplingConfig,
    power: float,
    seed: int | None = None,
    size: int | None = None,
) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """Flag the posts not drawn into a sample of `size` (default: the pool size).

    Returns the flagged frame and the quota table (strata, available, quota). Ranking happens
    on the narrow key table only, so memory grows with rows × 4 columns, not the whole export.
    """
    keys = sampling_keys(posts, cfg.seed if seed is None else seed, power)
    quotas = allocate_quotas(
        stratum_counts(keys), cfg.pool_size if size is None else size, cfg.language_shares
    )
    chosen = choose_sampled(keys, quotas).collect()["post_id"]
    return flag_not_sampled(posts, chosen), quotas
