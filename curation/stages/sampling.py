"""Engagement sampling: popularity-weighted, without replacement, stratified by language × month.

Each post gets a key log(u) / w (Efraimidis–Spirakis: the top-k keys are a weighted sample
without replacement), with u a hash of (seed, post ID) — so the sample is a function of the input
and the seed, not of row order — and w = (1 + engagement score) ** power. Each stratum keeps its
quota of highest keys. Quotas are small tables computed from stratum sizes and config.

At 50M posts the work stays on a narrow table (post ID, an integer stratum code, the key); the
wide posts are touched once, to write the chosen rows (see storage/tables.py).
"""

from __future__ import annotations

import math

import polars as pl

from curation.config import SamplingConfig
from curation.hashing import uniform_from_id
from storage.exclusions import REASON

STRATUM = ("language", "month")


def month_index(ts: pl.Expr) -> pl.Expr:
    return ts.dt.year().cast(pl.Int32) * 12 + ts.dt.month().cast(pl.Int32) - 1


def _stratum_code(strata: pl.DataFrame, month_index: pl.Expr) -> pl.Expr:
    """Dense stratum code 0…n−1 (language-major), so per-stratum values are a gather away.

    The language index comes from an Enum cast: a string `replace_strict` over 50M rows costs
    gigabytes, an Enum's physical code almost nothing.
    """
    languages = pl.Enum(sorted(set(strata["language"])))
    first = int(strata["month_index"].min())  # type: ignore[arg-type]
    months = int(strata["month_index"].max()) - first + 1  # type: ignore[arg-type]
    language = pl.col("language").cast(languages).to_physical().cast(pl.Int32)
    return language * months + (month_index - first)


def stratum_counts(posts: pl.LazyFrame) -> pl.DataFrame:
    """Posts per (language, month), with the stratum code sampling uses."""
    return strata_table(
        posts.group_by("language", month_index(pl.col("created_ts")).alias("month_index"))
        .agg(pl.len().cast(pl.Int64).alias("available"))
        .collect()
    )


def strata_table(counts: pl.DataFrame) -> pl.DataFrame:
    """(language, month, available, stratum, month_index) from (language, month_index,
    available) counts, which may come in parts (they are summed)."""
    counts = (
        counts.group_by("language", "month_index")
        .agg(pl.col("available").sum().cast(pl.Int64))
        .sort("language", "month_index")
    )
    if counts.is_empty():
        return counts.with_columns(
            month=pl.lit(None, pl.String), stratum=pl.lit(None, pl.Int32)
        ).select("language", "month", "available", "stratum", "month_index")
    return counts.with_columns(
        month=(pl.col("month_index") // 12).cast(pl.String)
        + "-"
        + (pl.col("month_index") % 12 + 1).cast(pl.String).str.zfill(2),
        stratum=_stratum_code(counts, pl.col("month_index")),
    ).select("language", "month", "available", "stratum", "month_index")


def sampling_key(seed: int, power: float) -> pl.Expr:
    """log(u) / w: larger first; u from (seed, post ID), w = (1 + engagement score) ** power."""
    weight = (1.0 + pl.col("engagement_score")).pow(power)
    return uniform_from_id(pl.col("post_id"), seed).log() / weight


def sampling_keys(
    posts: pl.LazyFrame, strata: pl.DataFrame, seed: int, power: float
) -> pl.LazyFrame:
    """The narrow table sampling works on: post_id, stratum code, `sampling_key` (larger first)."""
    return posts.select(
        "post_id",
        _stratum_code(strata, month_index(pl.col("created_ts"))).alias("stratum"),
        sampling_key(seed, power).alias("sampling_key"),
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
    Quotas never exceed what a stratum has, and sum to min(pool_size, what the strata with a
    share have): a language whose share is 0 (given, or left none by the named ones) gets none.
    """
    strata = strata.sort(*STRATUM)
    available = strata["available"].to_list()
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
    # Strata with no share have no capacity: a shortfall elsewhere never spills into them.
    capacity = [n if share > 0 else 0 for n, share in zip(available, shares, strict=True)]
    total = min(pool_size, sum(capacity))
    targets = _water_fill(shares, capacity, total)
    quotas = _largest_remainder(targets, capacity, total)
    return strata.with_columns(pl.Series("quota", quotas, dtype=pl.Int64))


def choose_sampled(keys: pl.DataFrame, quotas: pl.DataFrame) -> pl.Series:
    """IDs of each stratum's `quota` highest keys (ties: lower post ID first), sorted.

    Finds each stratum's quota-th largest key with a per-group top-k, keeps the keys at or above
    it (a gather by the dense stratum code, not a join over every key), and cuts that small set
    exactly; no sort or rank over the whole key table.
    """
    wanted = quotas.filter(pl.col("quota") > 0).select("stratum", "quota")
    if wanted.is_empty():
        return pl.Series("post_id", [], dtype=pl.Int64)
    k = int(wanted["quota"].max())  # type: ignore[arg-type]
    top = (
        keys.group_by("stratum")
        .agg(pl.col("sampling_key").top_k(k).alias("top"))
        .join(wanted, on="stratum")
        .select(
            "stratum",
            pl.col("top")
            .list.sort(descending=True)
            .list.get(pl.min_horizontal(pl.col("quota"), pl.col("top").list.len()) - 1)
            .alias("threshold"),
        )
    )
    n_strata = int(quotas["stratum"].max()) + 1  # type: ignore[arg-type]
    threshold = pl.Series([float("inf")] * n_strata).scatter(top["stratum"], top["threshold"])
    quota = pl.Series([0] * n_strata).scatter(wanted["stratum"], wanted["quota"])
    return (
        keys.filter(pl.col("sampling_key") >= pl.lit(threshold).gather(pl.col("stratum")))
        .sort(["stratum", "sampling_key", "post_id"], descending=[False, True, False])
        .filter(pl.int_range(pl.len()).over("stratum") < pl.lit(quota).gather(pl.col("stratum")))
        .get_column("post_id")
        .sort()
    )


def flag_not_sampled(posts: pl.LazyFrame, chosen: pl.Series) -> pl.LazyFrame:
    """Flag every post not among `chosen` as `not_sampled` (streams over the wide table)."""
    return posts.with_columns(
        pl.when(~pl.col("post_id").is_in(chosen.implode()))
        .then(pl.lit("not_sampled"))
        .alias(REASON)
    )


def choose_sample(
    posts: pl.LazyFrame, seed: int, power: float, size: int, language_shares: dict[str, float]
) -> tuple[pl.Series, pl.DataFrame]:
    """The sampled post IDs and the quota table (language, month, available, quota)."""
    strata = stratum_counts(posts)
    quotas = allocate_quotas(strata, size, language_shares)
    if strata.is_empty():
        return pl.Series("post_id", [], dtype=pl.Int64), quotas
    keys = sampling_keys(posts, strata, seed, power).collect()
    return choose_sampled(keys, quotas), quotas


def sample_by_engagement(
    posts: pl.LazyFrame,
    cfg: SamplingConfig,
    power: float,
    seed: int | None = None,
    size: int | None = None,
) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """Flag the posts not drawn into a sample of `size` (default: the pool size)."""
    chosen, quotas = choose_sample(
        posts,
        cfg.seed if seed is None else seed,
        power,
        cfg.pool_size if size is None else size,
        cfg.language_shares,
    )
    return flag_not_sampled(posts, chosen), quotas
