"""Annotations: validate, vote (strict majority, experts for the rest, hold back the unsettled).

Runs the SQL in sql/staging and sql/marts in DuckDB over tables handed in by the flow (which read
each input file once). The delivered row order of the annotations is their delivery order.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from curation.sqlrun import build_table
from curation.taxonomy import ANNOTATED_TASKS, taxonomy_table


class AnnotationMismatchError(ValueError):
    """The annotations were made for other posts than this shortlist."""


@dataclass
class VoteResult:
    labels: pl.DataFrame  # one row per fully labeled post: post_id + one column per task
    held_back: pl.DataFrame  # post_id, reason ('needs_expert' | 'needs_annotation')
    resolutions: dict[str, int]  # (post, task) items by resolution
    rejected: dict[str, int]  # annotation rows by rejection reason
    delivered: int  # annotation rows delivered


def vote_labels(
    shortlist: pl.DataFrame, annotations: pl.DataFrame, experts: pl.DataFrame
) -> VoteResult:
    """Resolve one label per shortlisted post and task; posts missing any label are held back."""
    con = duckdb.connect()
    try:
        con.register("taxonomy_labels", taxonomy_table().to_arrow())
        con.register("tasks", pl.DataFrame({"task": list(ANNOTATED_TASKS)}).to_arrow())
        con.register("shortlist", shortlist.select("post_id").to_arrow())
        con.register("raw_annotations", annotations.with_row_index("delivery_order").to_arrow())
        con.register("raw_expert_resolutions", experts.to_arrow())
        for table in (
            "stg_annotations",
            "stg_expert_resolutions",
            "annotations_checked",
            "labels_voted",
        ):
            build_table(con, table)
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
        else complete.pivot(on="task", index="post_id", values="label")
        .select("post_id", *ANNOTATED_TASKS)
        .sort("post_id")
    )
    return VoteResult(labels, held_back, resolutions, rejected, annotations.height)


def check_annotations_match(result: VoteResult, max_unknown_share: float) -> None:
    """Fail when too many annotation rows name posts outside the shortlist: the annotations
    were most likely made for another curation run, and voting would quietly drop them."""
    unknown = result.rejected.get("unknown_post", 0)
    if result.delivered and unknown / result.delivered > max_unknown_share:
        raise AnnotationMismatchError(
            f"annotations do not match this shortlist: {unknown:,} of {result.delivered:,} rows "
            f"name posts that are not in it (more than {max_unknown_share:.0%}); were they made "
            "for another curation run?"
        )
