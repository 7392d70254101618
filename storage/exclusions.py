"""The exclusion table: every row a stage drops, with the stage and the reason.

A flagging stage adds `exclusion_reason` (null = the row stays) and, optionally,
`exclusion_detail` (e.g. the representative a duplicate was folded into). `split_flagged` turns
that into the kept rows and the exclusion rows; the funnel check proves kept + excluded = input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

REASON = "exclusion_reason"
DETAIL = "exclusion_detail"
EXCLUSION_SCHEMA = {
    "post_id": pl.Int64,
    "stage": pl.String,
    "reason": pl.String,
    "detail": pl.String,
}


def excluded_rows(flagged: pl.LazyFrame, stage: str, leading: tuple[str, ...] = ()) -> pl.LazyFrame:
    """The exclusion rows (`leading` columns, then post_id, stage, reason, detail) of a
    flagged table."""
    names = flagged.collect_schema().names()
    detail = pl.col(DETAIL).cast(pl.String) if DETAIL in names else pl.lit(None, pl.String)
    return flagged.filter(pl.col(REASON).is_not_null()).select(
        *leading,
        pl.col("post_id").cast(pl.Int64),
        pl.lit(stage).alias("stage"),
        pl.col(REASON).alias("reason"),
        detail.alias("detail"),
    )


def split_flagged(flagged: pl.LazyFrame, stage: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Kept rows (flag columns dropped) and exclusion rows (post_id, stage, reason, detail)."""
    kept = flagged.filter(pl.col(REASON).is_null()).drop(REASON, DETAIL, strict=False)
    return kept, excluded_rows(flagged, stage)


@dataclass
class StageCount:
    """Rows into and out of one stage, with the exclusions by reason."""

    stage: str
    input: int
    kept: int
    excluded: int
    by_reason: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, stage: str, input_rows: int, kept: int, excluded: pl.DataFrame) -> StageCount:
        """Counts from a stage's exclusion rows (with a `reason` column)."""
        by_reason = dict(excluded.group_by("reason").len().sort("reason").iter_rows())
        return cls(stage, input_rows, kept, excluded.height, by_reason)

    @property
    def balanced(self) -> bool:
        return self.input == self.kept + self.excluded

    def top_reasons(self, n: int = 3) -> str:
        top = sorted(self.by_reason.items(), key=lambda kv: -kv[1])[:n]
        return ", ".join(f"{reason} {count:,}" for reason, count in top)

    def summary(self) -> str:
        reasons = self.top_reasons()
        return (
            f"{self.stage}: {self.input:,} in → {self.kept:,} kept, {self.excluded:,} excluded"
            + (f" ({reasons})" if reasons else "")
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "input": self.input,
            "kept": self.kept,
            "excluded": self.excluded,
            "balanced": self.balanced,
            "by_reason": dict(sorted(self.by_reason.items())),
        }


class FunnelError(RuntimeError):
    """A stage's counts do not add up: rows were lost or invented."""


def check_balanced(counts: list[StageCount]) -> None:
    broken = [c for c in counts if not c.balanced]
    if broken:
        desc = ", ".join(
            f"{c.stage}: {c.input} in, {c.kept} kept + {c.excluded} excluded" for c in broken
        )
        raise FunnelError(f"funnel does not add up: {desc}")


@dataclass
class Funnel:
    """The stages of one run, in order: their counts, and the rows each dropped."""

    stages: list[StageCount] = field(default_factory=list)
    excluded: dict[str, pl.DataFrame] = field(default_factory=dict)

    def add(self, stage: str, input_rows: int, kept_rows: int, excluded: pl.DataFrame) -> None:
        """Record a stage from its own counts; `excluded` is (post_id, stage, reason, detail)."""
        self.stages.append(StageCount.of(stage, input_rows, kept_rows, excluded))
        self.excluded[stage] = excluded

    def as_dict(self) -> dict[str, object]:
        return {"stages": [c.as_dict() for c in self.stages]}


def exclusion_rows(dropped: pl.DataFrame, stage: str) -> pl.DataFrame:
    """(id, stage, reason, detail) from dropped rows with a `reason` (and maybe `detail`); the id
    is `post_id` where the rows have it, else the released `video_id`."""
    id_column = "post_id" if "post_id" in dropped.columns else "video_id"
    detail = pl.col("detail").cast(pl.String) if "detail" in dropped.columns else None
    return dropped.select(
        id_column,
        pl.lit(stage).alias("stage"),
        pl.col("reason").cast(pl.String),
        (detail if detail is not None else pl.lit(None, pl.String)).alias("detail"),
    )
