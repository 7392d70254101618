"""Moving tables between stages: Parquet files in a run folder, counted from their metadata."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import polars as pl

from storage.exclusions import (
    REASON,
    Funnel,
    StageCount,
    check_balanced,
    split_flagged,
)
from storage.files import fsync_dir


def count_rows(path: Path | list[Path]) -> int:
    """Rows in Parquet file(s), from the footers only."""
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def write_flagged(
    flagged: pl.LazyFrame,
    stage: str,
    kept_path: Path,
    excluded_path: Path,
    input_rows: int,
    quarantine_path: Path | None = None,
) -> StageCount:
    """Write a flagging stage's kept rows and exclusions in one streaming pass; count them.

    `quarantine_path`, if given, also receives the excluded rows whole (with the reason), so a
    rejected input row can be inspected and replayed.
    """
    kept, excluded = split_flagged(flagged, stage)
    sinks = [
        kept.sink_parquet(kept_path, lazy=True),
        excluded.sink_parquet(excluded_path, lazy=True),
    ]
    if quarantine_path is not None:
        whole = flagged.filter(pl.col(REASON).is_not_null())
        sinks.append(whole.sink_parquet(quarantine_path, lazy=True))
    pl.collect_all(sinks)
    by_reason = (
        pl.scan_parquet(excluded_path).group_by("reason").len().collect().to_dict(as_series=False)
    )
    return StageCount(
        stage=stage,
        input=input_rows,
        kept=count_rows(kept_path),
        excluded=count_rows(excluded_path),
        by_reason=dict(zip(by_reason["reason"], by_reason["len"], strict=True)),
    )


def read_parquet_once(path: Path) -> tuple[pl.DataFrame, str]:
    """The table in `path` and the sha256 of the very bytes it was parsed from."""
    data = path.read_bytes()
    return pl.read_parquet(io.BytesIO(data)), hashlib.sha256(data).hexdigest()


def write_selection(
    source: Path, chosen: pl.Series, stage: str, reason: str, kept_path: Path, excluded_path: Path
) -> StageCount:
    """Write the rows of `source` whose post_id is in `chosen`, and exclusions for the rest.

    Two queries, not one shared plan: the exclusions need only the post_id column, so they do
    not decode the wide columns of millions of rows that are not kept.
    """
    wanted = chosen.implode()
    pl.scan_parquet(source).filter(pl.col("post_id").is_in(wanted)).sink_parquet(kept_path)
    (
        pl.scan_parquet(source)
        .select("post_id")
        .filter(~pl.col("post_id").is_in(wanted))
        .select(
            "post_id",
            pl.lit(stage).alias("stage"),
            pl.lit(reason).alias("reason"),
            pl.lit(None, pl.String).alias("detail"),
        )
        .sink_parquet(excluded_path)
    )
    excluded = count_rows(excluded_path)
    return StageCount(
        stage=stage,
        input=count_rows(source),
        kept=count_rows(kept_path),
        excluded=excluded,
        by_reason={reason: excluded} if excluded else {},
    )


def replace_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write `path` atomically: aside, fsync, rename over the old file; a crash keeps the old."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")  # writers never share one
    frame.write_parquet(tmp)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)  # the rename itself survives a power loss


def write_funnel(funnel: Funnel, exclusions: Callable[[str], Path], funnel_path: Path) -> None:
    """Check that every stage balances (else FunnelError, nothing written), then write each
    stage's dropped rows to `exclusions(stage)` and the counts to `funnel_path`. The rows name
    posts by `post_id` (raw: the files stay private) or, in a patch, by released `video_id`."""
    check_balanced(funnel.stages)
    for stage, rows in funnel.excluded.items():
        replace_parquet(rows.sort(rows.columns[0]), exclusions(stage))
    funnel_path.write_text(json.dumps(funnel.as_dict(), indent=2) + "\n")
