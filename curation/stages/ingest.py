"""Ingest and validate the platform export.

Reads: <export>/posts/*.parquet. Writes (via the flow): posts_valid, quarantine (the whole raw
row plus the reason, so nothing is lost), and the `ingest` exclusions.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from storage.exclusions import REASON
from storage.runs import PlatformExport

EXPORT_COLUMNS: dict[str, pl.DataType] = {
    "post_id": pl.Int64(),
    "creator_id": pl.Int64(),
    "created_at": pl.String(),
    "language": pl.String(),
    "duration_s": pl.Float64(),
    "view_count": pl.Int64(),
    "like_count": pl.Int64(),
    "share_count": pl.Int64(),
    "comment_count": pl.Int64(),
    "media_url": pl.String(),
    "media_sha256": pl.String(),
    "caption": pl.String(),
    "hashtags": pl.String(),
    "report_count": pl.Int64(),
    "moderation_label": pl.String(),
}
COUNT_COLUMNS = ("view_count", "like_count", "share_count", "comment_count", "report_count")
MAX_DURATION_S = 3_600.0  # longer than any short video; beyond this the field is corrupt
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"


class ExportError(ValueError):
    """The export is missing or not shaped as expected; the message names file and column."""


def _fits(found: pl.DataType, expected: pl.DataType, column: str) -> bool:
    """Whether a file's column type can stand for the contract's type without losing meaning."""
    if column == "created_at" and isinstance(found, pl.Datetime):
        return True  # a real timestamp is better than the string the contract asks for
    if expected == pl.Int64():
        return found.is_integer()
    if expected == pl.Float64():
        return found.is_numeric()
    return found == expected or (expected == pl.String() and found == pl.Categorical())


def _contract_column(name: str, dtype: pl.DataType, found: pl.DataType) -> pl.Expr:
    if name == "created_at" and isinstance(found, pl.Datetime):
        utc = pl.col(name).dt.replace_time_zone("UTC") if found.time_zone is None else pl.col(name)
        return utc.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").alias(name)
    return pl.col(name).cast(dtype)


def scan_posts(export_dir: Path) -> pl.LazyFrame:
    """Lazily read the export's posts, checking every expected column's presence and type."""
    files = PlatformExport(export_dir).posts
    if not files:
        raise ExportError(f"no posts in the export: {export_dir / 'posts'}/*.parquet not found")
    scans = []
    for file in files:
        try:
            schema = pl.read_parquet_schema(file)
        except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
            raise ExportError(f"{file}: not a readable Parquet file ({exc})") from None
        missing = [c for c in EXPORT_COLUMNS if c not in schema]
        if missing:
            raise ExportError(f"{file}: missing column(s) {', '.join(missing)}")
        wrong = [
            f"{c} is {schema[c]}, expected {t}"
            for c, t in EXPORT_COLUMNS.items()
            if not _fits(schema[c], t, c)
        ]
        if wrong:
            raise ExportError(f"{file}: wrong column type(s): {'; '.join(wrong)}")
        scans.append(
            pl.scan_parquet(file).select(
                _contract_column(name, dtype, schema[name])
                for name, dtype in EXPORT_COLUMNS.items()
            )
        )
    return pl.concat(scans, how="vertical")


def flag_invalid_posts(raw: pl.LazyFrame, languages: list[str]) -> pl.LazyFrame:
    """Parse timestamps and flag every row that breaks the export contract.

    Adds `created_ts` (UTC datetime) and `exclusion_reason`: every broken rule, `;`-joined.
    The first row with a post ID wins; later rows with the same ID are duplicates.
    """
    created_ts = pl.col("created_at").str.to_datetime(
        TIMESTAMP_FORMAT, strict=False, time_unit="ms", time_zone="UTC"
    )
    duration = pl.col("duration_s")
    rules: list[tuple[str, pl.Expr]] = [
        ("missing_post_id", pl.col("post_id").is_null()),
        (
            "duplicate_post_id",
            pl.col("post_id").is_not_null() & ~pl.col("post_id").is_first_distinct(),
        ),
        ("missing_creator_id", pl.col("creator_id").is_null()),
        ("missing_language", pl.col("language").is_null()),
        (
            "unknown_language",
            pl.col("language").is_not_null() & ~pl.col("language").is_in(languages),
        ),
        ("unparseable_created_at", created_ts.is_null()),
        (
            "invalid_duration",
            duration.is_null() | duration.is_nan() | (duration <= 0) | (duration > MAX_DURATION_S),
        ),
        ("negative_count", pl.any_horizontal(pl.col(c) < 0 for c in COUNT_COLUMNS)),
        ("missing_count", pl.any_horizontal(pl.col(c).is_null() for c in COUNT_COLUMNS)),
        ("missing_media_sha256", pl.col("media_sha256").is_null() | (pl.col("media_sha256") == "")),
    ]
    reason = pl.concat_str(
        [pl.when(broken.fill_null(False)).then(pl.lit(name)) for name, broken in rules],
        separator=";",
        ignore_nulls=True,
    )
    return raw.with_columns(
        created_ts.alias("created_ts"),
        pl.when(reason != "").then(reason).alias(REASON),
    )
