"""Annotations: onboarding gate, validation, vote (strict majority, experts for the rest, hold
back the unsettled), and Krippendorff's alpha per taxonomy, label and language.

Runs the SQL in sql/staging and sql/marts in DuckDB over tables handed in by the flow (which read
each input file once). The delivered row order of the annotations is their delivery order.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from curation.annotations.taxonomy import ANNOTATED_TASKS, taxonomy_table
from curation.sql import build_table


class AnnotationMismatchError(ValueError):
    """The annotations were made for other posts than this shortlist."""


@dataclass
class VoteResult:
    labels: pl.DataFrame  # one row per fully labeled post: post_id + one column per task
    held_back: pl.DataFrame  # post_id, reason ('needs_expert' | 'needs_annotation')
    resolutions: dict[str, int]  # (post, task) items by resolution
    rejected: dict[str, int]  # annotation rows by rejection reason
    delivered: int  # annotation rows delivered
    gate: pl.DataFrame  # annotator_id, task, gold_items, correct, accuracy, passed
    agreement: pl.DataFrame  # scope, task, level, units, pairable_labels, alpha


@dataclass(frozen=True)
class GoldSet:
    """The onboarding test: reference labels and the candidates' answers."""

    labels: pl.DataFrame  # post_id, task, label
    answers: pl.DataFrame  # annotator_id, post_id, task, label
    min_accuracy: float = 0.5
    min_items: int = 20


GOLD_SCHEMA = {"post_id": pl.Int64, "task": pl.String, "label": pl.String}


def vote_labels(
    shortlist: pl.DataFrame,
    annotations: pl.DataFrame,
    experts: pl.DataFrame,
    gold: GoldSet | None = None,
) -> VoteResult:
    """Resolve one label per shortlisted post and task; posts missing any label are held back.

    With a gold set, annotators below its bar for a task have all their labels of that task
    set aside before voting. `shortlist` has post_id and language (for alpha per language).
    """
    gate_on = gold is not None
    gold = gold or GoldSet(
        pl.DataFrame(schema=GOLD_SCHEMA),
        pl.DataFrame(schema={"annotator_id": pl.String, **GOLD_SCHEMA}),
    )
    con = duckdb.connect()
    try:
        con.register("taxonomy_labels", taxonomy_table().to_arrow())
        con.register("tasks", pl.DataFrame({"task": list(ANNOTATED_TASKS)}).to_arrow())
        language = (
            pl.col("language")
            if "language" in shortlist.columns
            else pl.lit(None, pl.String).alias("language")
        )
        con.register("shortlist", shortlist.select("post_id", language).to_arrow())
        con.register("raw_annotations", annotations.with_row_index("delivery_order").to_arrow())
        con.register("raw_expert_resolutions", experts.to_arrow())
        con.register("raw_gold_labels", gold.labels.to_arrow())
        con.register("raw_gold_annotations", gold.answers.to_arrow())
        for table, params in (
            ("stg_annotations", {}),
            ("stg_expert_resolutions", {}),
            ("stg_gold_labels", {}),
            ("stg_gold_annotations", {}),
            (
                "annotator_gate",
                {"min_gold_accuracy": gold.min_accuracy, "min_gold_items": gold.min_items},
            ),
            ("annotations_checked", {"gate": gate_on}),
            ("labels_voted", {}),
            ("agreement", {}),
        ):
            build_table(con, table, params)
        voted = con.sql("select * from labels_voted").pl()
        gate = con.sql("select * from annotator_gate").pl()
        agreement = con.sql("select * from agreement").pl()
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
    return VoteResult(labels, held_back, resolutions, rejected, annotations.height, gate, agreement)


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


def nominal_alpha(labels: pl.DataFrame, unit: str = "unit", value: str = "label") -> float:
    """Krippendorff's nominal alpha of (unit, label) rows, one row per coder's label, through the
    same SQL mart as releases (sql/marts/agreement.sql); NaN when no unit has two labels or
    every label is the same."""
    rows = labels.drop_nulls(value).select(
        pl.col(unit).cast(pl.Int64).alias("post_id"),
        pl.lit("t").alias("task"),
        pl.col(value).cast(pl.String).alias("label"),
        pl.lit(None, pl.String).alias("reason"),
    )
    con = duckdb.connect()
    try:
        con.register("annotations_checked", rows.to_arrow())
        con.register(
            "shortlist",
            rows.select("post_id", pl.lit("").alias("language")).unique().to_arrow(),
        )
        con.register(
            "taxonomy_labels",
            rows.select(pl.col("task").alias("taxonomy"), "label").unique().to_arrow(),
        )
        build_table(con, "agreement")
        found = con.execute(
            "select alpha from agreement where scope = 'taxonomy' and alpha is not null"
        ).fetchall()
    finally:
        con.close()
    return float(found[0][0]) if found else float("nan")
