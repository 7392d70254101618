"""Annotations: validate, vote (majority, expert for three-way ties, hold back the rest).

Runs the SQL in sql/staging and sql/marts in DuckDB over Parquet inputs. Reads:
annotations.parquet, expert_resolutions.parquet (in the annotations folder), the shortlist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from curation.sqlrun import build_table
from curation.taxonomy import ANNOTATED_TASKS, taxonomy_table


@dataclass
class VoteResult:
    labels: pl.DataFrame  # one row per shortlisted post: post_id + one column per task
    held_back: pl.DataFrame  # post_id, reason ('needs_expert' | 'needs_annotation')
    resolutions: dict[str, int]  # (post, task) items by resolution
    rejected: dict[str, int]  # annotation rows by rejection reason


def vote_labels(annotations_dir: Path, shortlist_path: Path) -> VoteResult:
    """Resolve one label per shortlisted post and task; posts missing any label are held back."""
    for name in ("annotations.parquet", "expert_resolutions.parquet"):
        if not (annotations_dir / name).is_file():
            raise FileNotFoundError(f"annotations input missing: {annotations_dir / name}")
    con = duckdb.connect()
    try:
        con.register("taxonomy_labels", taxonomy_table().to_arrow())
        con.register("tasks", pl.DataFrame({"task": list(ANNOTATED_TASKS)}).to_arrow())
        con.execute(
            "create table shortlist as select post_id from read_parquet($p)",
            {"p": str(shortlist_path)},
        ).fetchall()
        build_table(
            con,
            "stg_annotations",
            {"annotations_path": str(annotations_dir / "annotations.parquet")},
        )
        build_table(
            con,
            "stg_expert_resolutions",
            {"expert_path": str(annotations_dir / "expert_resolutions.parquet")},
        )
        build_table(con, "annotations_checked")
        build_table(con, "labels_voted")
        voted = con.sql("select * from labels_voted").pl()
        rejected = dict(
            con.execute(
                "select reason, count(*) from annotations_checked"
                " where reason is not null group by 1"
            ).fetchall()
        )
    finally:
        con.close()
    resolutions = dict(voted.group_by("resolution").len().iter_rows())
    # A post is held back for its most serious open item: annotation first, then expert.
    open_items = voted.filter(pl.col("label").is_null())
    held_back = (
        open_items.group_by("post_id")
        .agg(pl.col("resolution").min().alias("reason"))
        .sort("post_id")
    )
    complete = voted.join(held_back, on="post_id", how="anti")
    labels = (
        pl.DataFrame(
            {
                "post_id": pl.Series([], dtype=pl.Int64),
                **{t: pl.Series([], dtype=pl.String) for t in ANNOTATED_TASKS},
            }
        )
        if complete.is_empty()
        else (
            complete.pivot(on="task", index="post_id", values="label")
            .select("post_id", *ANNOTATED_TASKS)
            .sort("post_id")
        )
    )
    return VoteResult(labels, held_back, resolutions, rejected)
