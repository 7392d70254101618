"""Ingest and validate the platform export.

Reads: <export>/posts/*.parquet. Writes (via the flow): posts_valid, quarantine (the whole raw
row plus the reason, so nothing is lost), and the `ingest` exclusions.
"""

from __future__ import annotations

import polars as pl

from storage.exclusions import REASON
from storage.location import Location, join, list_files

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


def scan_file(file: Location) -> pl.LazyFrame:
    """Lazily read one export file, checking every expected column's presence and type."""
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
    return pl.scan_parquet(file).select(
        _contract_column(name, dtype, schema[name]) for name, dtype in EXPORT_COLUMNS.items()
    )


def export_files(export_dir: Location) -> list[str]:
    """The export's post files: `<export>/posts/*.parquet`, in a folder or on S3."""
    posts = join(export_dir, "posts")
    try:
        files = list_files(posts)
    except Exception as exc:  # botocore's errors: no bucket, no access, no endpoint
        raise ExportError(
            f"{posts}: cannot list the export ({type(exc).__name__}: {exc})"
        ) from None
    if not files:
        raise ExportError(f"no posts in the export: {posts}/*.parquet not found")
    return files


def scan_posts(export_dir: Location) -> pl.LazyFrame:
    """Lazily read the export's posts, every file checked (see scan_file)."""
    return pl.concat([scan_file(f) for f in export_files(export_dir)], how="vertical")


def parse_created_ts() -> pl.Expr:
    """`created_at` as a UTC datetime (null when it does not parse)."""
    return pl.col("created_at").str.to_datetime(
        TIMESTAMP_FORMAT, strict=False, time_unit="ms", time_zone="UTC"
    )


DUPLICATE = "duplicate_post_id"


def _rules(languages: list[str], created_ts: pl.Expr) -> list[tuple[str, pl.Expr]]:
    """Every rule but `duplicate_post_id`, which needs all rows at once (see duplicate_reason)."""
    duration = pl.col("duration_s")
    return [
        ("missing_post_id", pl.col("post_id").is_null()),
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


def _joined(rules: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """The `;`-joined names of the broken rules, or null. Built as a bit mask and looked up:
    joining strings row by row took 2.5× as long as reading the export."""
    mask = pl.sum_horizontal(
        broken.fill_null(False).cast(pl.UInt16) * (1 << bit)
        for bit, (_, broken) in enumerate(rules)
    )
    names = {
        m: ";".join(name for bit, (name, _) in enumerate(rules) if m >> bit & 1)
        for m in range(1, 1 << len(rules))
    }
    return mask.replace_strict(names, default=None, return_dtype=pl.String)


def flag_broken_rows(raw: pl.LazyFrame, languages: list[str]) -> pl.LazyFrame:
    """Row by row: add `created_ts` and `exclusion_reason` (every broken rule but duplicates).

    Needs no other row, so it runs on any slice of the export."""
    created_ts = parse_created_ts()
    return raw.with_columns(
        created_ts.alias("created_ts"), _joined(_rules(languages, created_ts)).alias(REASON)
    )


def duplicate_reason(reason: pl.Expr) -> pl.Expr:
    """The reason of a repeated post ID's row, given its other broken rules (or null): a row
    with a post ID breaks no rule before this one, so it comes first."""
    return pl.concat_str([pl.lit(DUPLICATE), reason], separator=";", ignore_nulls=True)


def flag_invalid_posts(raw: pl.LazyFrame, languages: list[str]) -> pl.LazyFrame:
    """Parse timestamps and flag every row that breaks the export contract.

    Adds `created_ts` (UTC datetime) and `exclusion_reason`: every broken rule, `;`-joined.
    The first row with a post ID wins; later rows with the same ID are duplicates.
    """
    repeated = pl.col("post_id").is_not_null() & ~pl.col("post_id").is_first_distinct()
    return flag_broken_rows(raw, languages).with_columns(
        pl.when(repeated)
        .then(duplicate_reason(pl.col(REASON)))
        .otherwise(pl.col(REASON))
        .alias(REASON)
    )
