"""The tabular stages at platform scale: partition-parallel passes over narrow working tables.

A 50M-post export is never held whole, and only one narrow copy of it is written:
  1. `split_partition`, per slice of an export file (any number of slices, any worker): the
     row rules of ingest, the engagement score, the window, the post's own sensitive signal.
     Rows that break a rule go to a quarantine part, whole; the rest to a narrow ledger
     (post, creator, language, time, score, a 128-bit media key, window reason, signal),
     split into buckets by media key; every (post_id, ordinal) into buckets by post ID.
  2. `find_duplicates`, per post-ID bucket: later rows of a repeated post ID.
  3. `screen_bucket`, per media bucket: window, sensitive (copies of flagged media are in the
     same bucket) and exact dedup, the stages' own functions; writes exclusions and the
     eligible posts with their sampling keys.
  4. `top_in_bucket`, `creator_posts_in_bucket`, `write_not_sampled`: candidate draws and the
     sampling exclusions, merged exactly by the caller.
Every row carries its `ordinal` (its place in the export), so a result never depends on how
the export was cut into partitions: buckets are a function of keys alone, and a bucket's rows
are read in export order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import polars as pl

from curation.config import EngagementConfig, SensitiveConfig, WindowConfig
from curation.stages import engagement, window
from curation.stages.dedup import flag_exact_duplicates
from curation.stages.ingest import flag_broken_rows, scan_file
from curation.stages.sampling import month_index, sampling_key
from curation.stages.sensitive import SIGNAL, flag_signalled, sensitive_signal
from storage.exclusions import DETAIL, EXCLUSION_SCHEMA, REASON, excluded_rows
from storage.location import join, list_files, sink_parquet, write_parquet

T = TypeVar("T")
R = TypeVar("R")

# The checksum as two seeded 64-bit hashes in one 128-bit integer: joins and groups on one
# integer column run 3-4× as fast as on the string or on two columns.
MEDIA_KEY = "media_key"
STRATUM_KEY = ["language", "month_index"]


# Exclusion rows while they are still in parts: the ordinal keeps export order.
class Runner(Protocol):
    """Where the passes run (the flows give a Dask cluster; curation never imports Dask)."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """fn over items, maybe in parallel; results in the items' order."""
        ...

    def stage(self, name: str, rows: int) -> AbstractContextManager[None]:
        """Brackets a stage's passes over `rows` rows (for progress and timings)."""
        ...


@dataclass(frozen=True)
class Partition:
    index: int
    file: str
    offset: int  # first row in the file
    length: int
    first: int  # ordinal of that row in the whole export


def plan_partitions(files: list[str], rows_per_partition: int) -> list[Partition]:
    """Slices of at most `rows_per_partition` rows, from the files' footers."""
    parts: list[Partition] = []
    first = 0
    for file in files:
        rows = int(pl.scan_parquet(file).select(pl.len()).collect().item())
        for offset in range(0, rows, rows_per_partition):
            length = min(rows_per_partition, rows - offset)
            parts.append(Partition(len(parts), str(file), offset, length, first + offset))
        first += rows
    return parts


def bucket_count(rows: int) -> int:
    """Buckets for `rows` export rows: about 4M rows each, a power of two. A function of the
    export alone (never of workers or partitions), so outputs are too."""
    buckets = 1
    while rows / buckets > 4_000_000:
        buckets *= 2
    return buckets


@dataclass(frozen=True)
class Work:
    """The run's working folder (deleted when the run ends) and what every pass needs."""

    root: str  # a folder every worker reaches: local (shared) or s3://
    buckets: int
    languages: tuple[str, ...]
    window: WindowConfig
    engagement: EngagementConfig
    sensitive: SensitiveConfig
    seed: int
    power: float

    def part(self, kind: str, bucket: int, partition: int) -> str:
        return join(self.root, kind, f"b{bucket:04d}", f"p{partition:06d}.parquet")

    def bucket_files(self, kind: str, bucket: int) -> list[str]:
        return list_files(join(self.root, kind, f"b{bucket:04d}"))

    def quarantine(self, partition: int) -> str:
        return join(self.root, "quarantine", f"p{partition:06d}.parquet")

    def excluded(self, stage: str, bucket: int) -> str:
        return join(self.root, "excluded", stage, f"b{bucket:04d}.parquet")

    def eligible(self, bucket: int) -> str:
        return join(self.root, "eligible", f"b{bucket:04d}.parquet")

    @property
    def duplicates(self) -> str:
        return join(self.root, "duplicates.parquet")

    def candidates(self, bucket: int) -> str:
        return join(self.root, "candidates", f"b{bucket:04d}.parquet")


def media_key(checksum: pl.Expr) -> pl.Expr:
    high = checksum.hash(seed=1).cast(pl.UInt128) * (1 << 64)
    return high + checksum.hash(seed=2).cast(pl.UInt128)


def _bucket_of(column: str | pl.Expr, buckets: int) -> pl.Expr:
    expr = pl.col(column) if isinstance(column, str) else column
    return (expr.hash(seed=17) % buckets).cast(pl.Int32)


def _write_buckets(frame: pl.DataFrame, by: pl.Expr, work: Work, kind: str, part: int) -> None:
    for (bucket,), rows in (
        frame.with_columns(by.alias("_bucket")).partition_by("_bucket", as_dict=True).items()
    ):
        write_parquet(rows.drop("_bucket"), work.part(kind, int(bucket), part))


def split_partition(part: Partition, work: Work) -> dict[str, int]:
    """Pass 1 over one slice; returns its row counts (rows, broken, valid)."""
    raw = (
        scan_file(part.file)
        .slice(part.offset, part.length)
        .with_row_index("ordinal", offset=part.first)
        .with_columns(pl.col("ordinal").cast(pl.Int64))
    )
    # Once, not once per output below (collect_all would run the scan and the rules three times).
    flagged = flag_broken_rows(raw, list(work.languages)).collect().lazy()
    broken = flagged.filter(pl.col(REASON).is_not_null())
    ids = flagged.filter(pl.col("post_id").is_not_null()).select("post_id", "ordinal")
    valid = flagged.filter(pl.col(REASON).is_null()).drop(REASON)
    narrow = window.flag_out_of_scope(
        engagement.score_engagement(valid, work.engagement), work.window
    ).select(
        "ordinal",
        "post_id",
        "creator_id",
        "language",
        "created_ts",
        "engagement_score",
        media_key(pl.col("media_sha256")).alias(MEDIA_KEY),
        pl.col(REASON).alias("window"),
        sensitive_signal(work.sensitive).alias(SIGNAL),
    )
    quarantined, id_rows, ledger = pl.collect_all([broken, ids, narrow])
    if quarantined.height:
        write_parquet(quarantined, work.quarantine(part.index))
    _write_buckets(id_rows, _bucket_of("post_id", work.buckets), work, "ids", part.index)
    _write_buckets(ledger, _bucket_of(MEDIA_KEY, work.buckets), work, "ledger", part.index)
    return {"rows": part.length, "broken": quarantined.height, "valid": ledger.height}


def find_duplicates(bucket: int, work: Work) -> pl.DataFrame:
    """(ordinal, post_id, first) of every row whose post ID more than one row carries; the
    earliest row of each is the `first`, the others are duplicates."""
    files = work.bucket_files("ids", bucket)
    if not files:
        return pl.DataFrame(schema={"ordinal": pl.Int64, "post_id": pl.Int64, "first": pl.Boolean})
    return (
        pl.scan_parquet(files)
        .filter(pl.len().over("post_id") > 1)
        .select(
            "ordinal",
            "post_id",
            (pl.col("ordinal") == pl.col("ordinal").min().over("post_id")).alias("first"),
        )
        .collect()
    )


def screen_bucket(bucket: int, work: Work) -> dict[str, Any]:
    """Window, sensitive and dedup over one media bucket. Returns the stage counts and the
    eligible posts per stratum (language, month_index, available)."""
    files = work.bucket_files("ledger", bucket)
    stages = ("window", "sensitive", "dedup")
    if not files:
        for stage in stages:
            sink_parquet(
                pl.LazyFrame(schema={"ordinal": pl.Int64, **EXCLUSION_SCHEMA}),
                work.excluded(stage, bucket),
            )
        sink_parquet(pl.LazyFrame(schema=_eligible_schema()), work.eligible(bucket))
        return {"counts": dict.fromkeys(stages, 0), "strata": _no_strata()}
    # Each stage's frame is computed once (the outputs below share them; a lazy plan would run
    # the shared part once per output).
    ledger = (
        pl.scan_parquet(files)
        .join(pl.scan_parquet(work.duplicates).select("ordinal"), on="ordinal", how="anti")
        .collect()
        .lazy()
    )
    in_scope = ledger.filter(pl.col("window").is_null())
    sensitive = flag_signalled(in_scope, ledger, [MEDIA_KEY]).collect().lazy()
    safe = sensitive.filter(pl.col(REASON).is_null()).drop(REASON, DETAIL)
    dedup = flag_exact_duplicates(safe, (MEDIA_KEY,)).collect().lazy()
    eligible = dedup.filter(pl.col(REASON).is_null()).select(
        "ordinal",
        "post_id",
        "creator_id",
        "language",
        month_index(pl.col("created_ts")).alias("month_index"),
        "created_ts",
        "engagement_score",
        sampling_key(work.seed, work.power).alias("sampling_key"),
    )
    parts = {
        "window": excluded_rows(ledger.rename({"window": REASON}), "window", ("ordinal",)),
        "sensitive": excluded_rows(sensitive, "sensitive", ("ordinal",)),
        "dedup": excluded_rows(dedup, "dedup", ("ordinal",)),
    }
    inputs = [ledger.select(pl.len()), in_scope.select(pl.len()), safe.select(pl.len())]
    frames = pl.collect_all([*parts.values(), eligible, *inputs])
    # Joins do not keep row order: export order is restored, so no result depends on partitions.
    for stage, frame in zip(stages, frames, strict=False):
        _write(frame.sort("ordinal"), work.excluded(stage, bucket))
    kept = frames[3].sort("ordinal")
    _write(kept, work.eligible(bucket))
    strata = kept.group_by(STRATUM_KEY).agg(pl.len().cast(pl.Int64).alias("available"))
    counts = {stage: int(f.item()) for stage, f in zip(stages, frames[4:], strict=True)}
    return {"counts": counts, "strata": strata}


def _eligible_schema() -> dict[str, pl.DataType]:
    return {
        "ordinal": pl.Int64(),
        "post_id": pl.Int64(),
        "creator_id": pl.Int64(),
        "language": pl.String(),
        "month_index": pl.Int32(),
        "created_ts": pl.Datetime("ms", "UTC"),
        "engagement_score": pl.Float64(),
        "sampling_key": pl.Float64(),
    }


def _no_strata() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"language": pl.String, "month_index": pl.Int32, "available": pl.Int64}
    )


def _write(frame: pl.DataFrame, location: str) -> None:
    """One chunk, so the file's row groups do not follow how many parts the rows came from."""
    write_parquet(frame.rechunk(), location)


BY_KEY = (["sampling_key", "post_id"], [True, False])  # highest key first; ties: lower ID
BY_RECENCY = (["created_ts", "post_id"], [True, False])  # newest first; ties: lower ID
Order = tuple[list[str], list[bool]]


def ordered(frame: pl.DataFrame, order: Order) -> pl.DataFrame:
    return frame.sort(order[0], descending=order[1])


def first_m(rows: pl.LazyFrame, order: Order, group: list[str]) -> pl.LazyFrame:
    """The first `m` rows of each group in `order` (`m`: a column of the rows, dropped)."""
    return (
        rows.sort(order[0], descending=order[1])
        .filter(pl.int_range(pl.len()).over(group) < pl.col("m"))
        .drop("m")
    )


def top_in_bucket(bucket: int, wanted: pl.DataFrame, work: Work) -> pl.DataFrame:
    """The bucket's eligible posts among the `m` highest sampling keys of their stratum
    (wanted: language, month_index, m), as in the merge."""
    # A selection of the largest `m` of any stratum first (linear), then the exact order of
    # what it left: sorting the whole bucket took twice as long.
    columns = ["ordinal", "post_id", "sampling_key"]
    rows = (
        pl.scan_parquet(work.eligible(bucket))
        .join(wanted.lazy().select(STRATUM_KEY), on=STRATUM_KEY, how="semi")
        .group_by(STRATUM_KEY)
        .agg(
            pl.col(columns).top_k_by(
                ["sampling_key", "post_id"],
                int(wanted.select(pl.col("m").max()).item() or 0),
                reverse=[False, True],
            )
        )
        .explode(columns)
        .join(wanted.lazy(), on=STRATUM_KEY)
    )
    return (
        first_m(rows, BY_KEY, STRATUM_KEY)
        .collect()
        .with_columns(pl.lit(bucket, pl.Int32).alias("bucket"))
    )


def merge_top(parts: list[pl.DataFrame], wanted: pl.DataFrame) -> pl.DataFrame:
    """The exact top `m` per stratum from per-bucket tops, sorted by post ID."""
    rows = pl.concat(parts).lazy().join(wanted.lazy(), on=STRATUM_KEY)
    return first_m(rows, BY_KEY, STRATUM_KEY).collect().sort("post_id")


def unsure_strata(
    parts: list[pl.DataFrame], top: pl.DataFrame, limits: pl.DataFrame
) -> pl.DataFrame:
    """Strata whose merged top may miss posts: a bucket that returned its whole `limit` (less
    than `m`) may hold more, and they could rank above the stratum's last kept post.
    limits: language, month_index, m, limit."""
    last = (
        ordered(top, BY_KEY)
        .group_by(STRATUM_KEY, maintain_order=True)
        .agg(
            pl.col("sampling_key").last().alias("t_key"),
            pl.col("post_id").last().alias("t_post"),
            pl.len().alias("n"),
        )
    )
    lowest = (
        ordered(pl.concat(parts), BY_KEY)
        .group_by("bucket", *STRATUM_KEY, maintain_order=True)
        .agg(
            pl.col("sampling_key").last().alias("l_key"),
            pl.col("post_id").last().alias("l_post"),
            pl.len().alias("count"),
        )
    )
    above = (pl.col("l_key") > pl.col("t_key")) | (
        (pl.col("l_key") == pl.col("t_key")) & (pl.col("l_post") < pl.col("t_post"))
    )
    return (
        lowest.join(limits, on=STRATUM_KEY)
        .join(last, on=STRATUM_KEY, how="left")
        .filter(
            (pl.col("count") >= pl.col("limit"))
            & (pl.col("limit") < pl.col("m"))
            & (pl.col("n").is_null() | (pl.col("n") < pl.col("m")) | above)
        )
        .select(STRATUM_KEY)
        .unique()
    )


def creator_posts_in_bucket(bucket: int, wanted: pl.DataFrame, work: Work) -> pl.DataFrame:
    """The bucket's eligible posts among the `m` most recent of their creator (wanted:
    creator_id, m), as in the merge."""
    rows = pl.scan_parquet(work.eligible(bucket)).join(wanted.lazy(), on="creator_id")
    return first_m(rows, BY_RECENCY, ["creator_id"]).collect()


def merge_recent(parts: list[pl.DataFrame], wanted: pl.DataFrame) -> pl.DataFrame:
    rows = pl.concat(parts).lazy().join(wanted.lazy(), on="creator_id")
    return first_m(rows, BY_RECENCY, ["creator_id"]).collect().sort("post_id")


def eligible_by_creator(bucket: int, creators: pl.DataFrame, work: Work) -> pl.DataFrame:
    """(creator_id, posts): eligible posts per creator among `creators`, in this bucket."""
    return (
        pl.scan_parquet(work.eligible(bucket))
        .join(creators.lazy(), on="creator_id", how="semi")
        .group_by("creator_id")
        .agg(pl.len().cast(pl.Int64).alias("posts"))
        .collect()
    )


def write_not_sampled(bucket: int, work: Work) -> int:
    """The sampling exclusions of one bucket: its eligible posts that are not candidates."""
    path = work.excluded("sampling", bucket)
    sink_parquet(
        pl.scan_parquet(work.eligible(bucket))
        .join(pl.scan_parquet(work.candidates(bucket)), on="ordinal", how="anti")
        .sort("ordinal")
        .select(
            "ordinal",
            "post_id",
            pl.lit("sampling").alias("stage"),
            pl.lit("not_sampled").alias("reason"),
            pl.lit(None, pl.String).alias("detail"),
        ),
        path,
    )
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())
