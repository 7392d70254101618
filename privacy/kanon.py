"""k-anonymity for released rows: global recoding of the quasi-identifiers, then suppression.

Quasi-identifiers (QI) are released columns that are not IDs but that an attacker can know from
outside the dataset. Someone who saw a video on the platform knows its language, roughly when it
was posted and how long it is, and can see how many videos its creator posted; together these
can single out a row and so link the pseudonymous `video_id`/`creator_id` to a real account.
The QIs here are `language` × `published` × `duration_s` × the creator's video-count bucket, all
as released. A release is k-anonymous when every QI class (rows sharing all four values) holds at
least k rows.

Global recoding: one generalisation level (period of `published`, step of `duration_s`) applies
to every row of a release, so each column means the same thing throughout and researchers can
group and compare without per-row granularity. Levels are tried finest first (`DEFAULT_LADDER`);
the first whose suppression stays within `max_suppressed_share` is used, else the coarsest. Rows
still in classes below k are then suppressed (removed). Removing rows lowers some creators' video
counts, which can move their other rows into new, small classes, so suppression repeats until
every class holds at least k rows.

`duration_s` is released as the middle of its `duration_step_s`-wide bin: with step 5, 4.7 → 2.5
and 12.3 → 12.5, i.e. a value d means [d − step/2, d + step/2). The middle, not an edge, so
sums and means over the release (hours of video, mean duration) stay unbiased.
Null values of a QI form a class of their own, like any other value.

Out of scope here, but also quasi-identifying: the exact engagement counts (views, likes,
shares, comments) are visible on the platform and can single out a video on their own; they need
their own coarsening before they are treated as safe.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import polars as pl

from privacy.masking import PERIOD_FORMAT

Period = Literal["day", "week", "month"]
QI_COLUMNS = ["language", "published", "duration_s", "creator_videos"]
CREATOR_BUCKET = "creator_videos"  # internal: never part of the returned frame


@dataclass(frozen=True)
class Generalisation:
    """One global recoding level: the period of `published` and the bin width of `duration_s`."""

    period: Period
    duration_step_s: int

    def __post_init__(self) -> None:
        if self.period not in PERIOD_FORMAT:
            raise ValueError(f"unknown period {self.period!r}; use one of {list(PERIOD_FORMAT)}")
        if self.duration_step_s < 1:
            raise ValueError(f"duration_step_s must be ≥ 1, got {self.duration_step_s}")

    def __str__(self) -> str:
        return f"{self.period}/{self.duration_step_s}s"


DEFAULT_LADDER: tuple[Generalisation, ...] = (
    Generalisation("week", 5),
    Generalisation("week", 15),
    Generalisation("month", 15),
    Generalisation("month", 30),
    # Only small releases get here (a 3K-row demo: ~16% suppressed; 155K rows stop at
    # month/15 s with ~1%): one more rung halves what a small release loses.
    Generalisation("month", 60),
)


@dataclass(frozen=True)
class LevelTried:
    """Outcome of one level: rows in classes below k at first, and rows suppressed in the end."""

    period: Period
    duration_step_s: int
    small_class_rows: int
    suppressed_rows: int


@dataclass(frozen=True)
class KAnonReport:
    """Aggregates only (counts and class sizes), never an ID, so it can go into the release."""

    k: int
    level: Generalisation
    levels_tried: tuple[LevelTried, ...]
    rows_in: int
    rows_suppressed: int
    suppression_rounds: int
    classes: int
    smallest_class: int | None  # None when nothing is left
    class_sizes: dict[str, int]  # histogram of class sizes, bucket label → number of classes

    @property
    def rows_kept(self) -> int:
        return self.rows_in - self.rows_suppressed

    @property
    def suppressed_share(self) -> float:
        return self.rows_suppressed / self.rows_in if self.rows_in else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["levels_tried"] = [asdict(t) for t in self.levels_tried]
        out["rows_kept"] = self.rows_kept
        out["suppressed_share"] = round(self.suppressed_share, 6)
        return out


def creator_bucket(n: pl.Expr) -> pl.Expr:
    """Bucket of a creator's number of videos in the release: "1", "2-3", "4-7" or "8+"."""
    # Exact counts would identify prolific creators; doubling buckets keep the signal coarse.
    return (
        pl.when(n <= 1)
        .then(pl.lit("1"))
        .when(n <= 3)
        .then(pl.lit("2-3"))
        .when(n <= 7)
        .then(pl.lit("4-7"))
        .otherwise(pl.lit("8+"))
    )


def _with_creator_bucket(frame: pl.DataFrame) -> pl.DataFrame:
    # Counted within this frame: the bucket must describe what the release itself shows.
    return frame.with_columns(creator_bucket(pl.len().over("creator_id")).alias(CREATOR_BUCKET))


def generalise(frame: pl.DataFrame, level: Generalisation) -> pl.DataFrame:
    """Set `published` and `duration_s` to `level` (from `created_ts` and exact `duration_s`)
    and add the internal `creator_videos` bucket; `created_ts` is kept for the caller to drop."""
    step = float(level.duration_step_s)
    return _with_creator_bucket(
        frame.with_columns(
            pl.col("created_ts").dt.strftime(PERIOD_FORMAT[level.period]).alias("published"),
            ((pl.col("duration_s").cast(pl.Float64) / step).floor() * step + step / 2).alias(
                "duration_s"
            ),
        )
    )


def _small(k: int) -> pl.Expr:
    return pl.len().over(QI_COLUMNS) < k


def check_k_anonymous(frame: pl.DataFrame, k: int) -> int:
    """Rows of a released frame in QI classes smaller than k (0 means k-anonymous)."""
    return _with_creator_bucket(frame).select(_small(k).sum()).item()


def _suppress(frame: pl.DataFrame, k: int) -> tuple[pl.DataFrame, int, int]:
    """Kept rows, rows suppressed and rounds, iterating until every class holds ≥ k rows."""
    # Iterate on the key columns only, and pick the kept rows of the full frame once at the end.
    # Creators as dense integers: counting per creator is the costly step of each round.
    keys = frame.select(pl.col("creator_id").rank("dense"), *QI_COLUMNS[:3]).with_row_index("_row")
    rounds = 0
    while True:
        small = _with_creator_bucket(keys).select(_small(k).alias("small"))["small"]
        if not small.any():
            break
        # Terminates: every round removes at least one row.
        keys = keys.filter(~small)
        rounds += 1
    return frame[keys["_row"]], frame.height - keys.height, rounds


def suppress_small_classes(frame: pl.DataFrame, k: int) -> tuple[pl.DataFrame, int]:
    """Remove rows in QI classes below k from a released frame (creator buckets recomputed after
    each removal, until stable); returns the kept rows, without `creator_videos`, and the number
    removed. `published` and `duration_s` are taken as already generalised."""
    _check_k(k)
    kept, suppressed, _ = _suppress(frame.drop(CREATOR_BUCKET, strict=False), k)
    return kept, suppressed


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")


def _size_bucket(size: int, k: int) -> str:
    # Edges scale with k (for k=5: 5-9, 10-19, 20-49, 50+), so no bucket can hold a small class.
    for lo, hi in ((k, 2 * k - 1), (2 * k, 4 * k - 1), (4 * k, 10 * k - 1)):
        if lo <= size <= hi:
            return f"{lo}-{hi}"
    return f"{10 * k}+" if size >= 10 * k else f"<{k}"


def _class_sizes(frame: pl.DataFrame, k: int) -> tuple[int, int | None, dict[str, int]]:
    sizes = _with_creator_bucket(frame).group_by(QI_COLUMNS).len()["len"].to_list()
    labels = [f"{k}-{2 * k - 1}", f"{2 * k}-{4 * k - 1}", f"{4 * k}-{10 * k - 1}", f"{10 * k}+"]
    histogram = dict.fromkeys(labels, 0)
    for size in sizes:
        label = _size_bucket(size, k)
        histogram[label] = histogram.get(label, 0) + 1
    return len(sizes), (min(sizes) if sizes else None), histogram


def k_anonymize(
    frame: pl.DataFrame,
    k: int = 5,
    ladder: tuple[Generalisation, ...] | list[Generalisation] = DEFAULT_LADDER,
    max_suppressed_share: float = 0.02,
) -> tuple[pl.DataFrame, KAnonReport]:
    """Generalise globally at the finest level of `ladder` whose suppression stays within
    `max_suppressed_share` (else the last level), then suppress classes below k.

    `frame` needs `creator_id`, `language`, `created_ts` and exact `duration_s`. Returns the kept
    rows in input order (with `published` and binned `duration_s`; `created_ts` untouched) and
    the report.
    """
    _check_k(k)
    if not ladder:
        raise ValueError("ladder must hold at least one level")
    if not 0.0 <= max_suppressed_share <= 1.0:
        raise ValueError(f"max_suppressed_share must be in [0, 1], got {max_suppressed_share}")
    rows_in = frame.height
    tried: list[LevelTried] = []
    for level in ladder:
        generalised = generalise(frame, level)
        small_rows = generalised.select(_small(k).sum()).item()
        # Judge a level by what suppression really removes: the creator-bucket cascade can
        # remove more than the first count.
        kept, suppressed, rounds = _suppress(generalised.drop(CREATOR_BUCKET), k)
        tried.append(LevelTried(level.period, level.duration_step_s, small_rows, suppressed))
        if suppressed <= max_suppressed_share * rows_in:
            break
    classes, smallest, histogram = _class_sizes(kept, k)
    report = KAnonReport(
        k=k,
        level=level,
        levels_tried=tuple(tried),
        rows_in=rows_in,
        rows_suppressed=suppressed,
        suppression_rounds=rounds,
        classes=classes,
        smallest_class=smallest,
        class_sizes=histogram,
    )
    return kept, report
