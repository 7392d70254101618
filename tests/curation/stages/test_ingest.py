from pathlib import Path

import polars as pl
import pytest

from curation.annotations.taxonomy import languages
from curation.stages.ingest import ExportError, flag_invalid_posts, scan_posts
from storage.exclusions import REASON, split_flagged
from tests.conftest import BASE_POST, raw_posts


def reasons(frame: pl.DataFrame) -> list[str | None]:
    return flag_invalid_posts(frame.lazy(), languages()).collect()[REASON].to_list()


def test_a_good_row_passes_and_gets_a_parsed_timestamp() -> None:
    out = flag_invalid_posts(raw_posts({}).lazy(), languages()).collect()
    assert out[REASON].to_list() == [None]
    assert out["created_ts"].dt.month().to_list() == [5]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"post_id": None}, "missing_post_id"),
        ({"creator_id": None}, "missing_creator_id"),
        ({"language": None}, "missing_language"),
        ({"language": "en-US"}, "unknown_language"),
        ({"created_at": "2021-13-45T99:00:00Z"}, "unparseable_created_at"),
        ({"created_at": "yesterday"}, "unparseable_created_at"),
        ({"duration_s": -3.0}, "invalid_duration"),
        ({"duration_s": 0.0}, "invalid_duration"),
        ({"duration_s": float("nan")}, "invalid_duration"),
        ({"duration_s": 7200.0}, "invalid_duration"),
        ({"view_count": -1}, "negative_count"),
        ({"report_count": None}, "missing_count"),
        ({"media_sha256": ""}, "missing_media_sha256"),
    ],
)
def test_each_broken_rule_is_named(change: dict, reason: str) -> None:
    assert reasons(raw_posts(change)) == [reason]


def test_every_broken_rule_is_listed_not_only_the_first() -> None:
    assert reasons(raw_posts({"language": "xx", "view_count": -5})) == [
        "unknown_language;negative_count"
    ]


def test_a_repeated_post_id_keeps_the_first_row() -> None:
    out = reasons(raw_posts({"post_id": 7}, {"post_id": 8}, {"post_id": 7, "caption": "again"}))
    assert out == [None, None, "duplicate_post_id"]


def test_quarantine_keeps_rejected_rows_whole() -> None:
    flagged = flag_invalid_posts(
        raw_posts({}, {"language": "zz", "post_id": 2}).lazy(), languages()
    )
    kept, excluded = split_flagged(flagged, "ingest")
    assert kept.collect()["post_id"].to_list() == [1]
    assert excluded.collect().to_dicts() == [
        {"post_id": 2, "stage": "ingest", "reason": "unknown_language", "detail": None}
    ]


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    raw_posts({}).drop("language").write_parquet(tmp_path / "posts" / "part-0.parquet")
    with pytest.raises(ExportError, match=r"part-0\.parquet: missing column\(s\) language"):
        scan_posts(tmp_path)


def test_missing_export_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no posts in the export"):
        scan_posts(tmp_path / "nowhere")


def test_scan_casts_to_the_contract(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    raw_posts({}).with_columns(pl.col("report_count").cast(pl.Int32)).write_parquet(
        tmp_path / "posts" / "p.parquet"
    )
    assert scan_posts(tmp_path).collect()["report_count"].dtype == pl.Int64
    assert set(scan_posts(tmp_path).collect_schema().names()) == set(BASE_POST)


def test_a_corrupt_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / "part-1.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ExportError, match=r"part-1\.parquet: not a readable Parquet file"):
        scan_posts(tmp_path)


def test_a_wrong_column_type_is_named(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    raw_posts({}).with_columns(pl.col("view_count").cast(pl.String)).write_parquet(
        tmp_path / "posts" / "p.parquet"
    )
    with pytest.raises(
        ExportError,
        match=r"p\.parquet: wrong column type\(s\): view_count is String, expected Int64",
    ):
        scan_posts(tmp_path)


def test_a_timestamp_column_is_taken_as_is(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    frame = raw_posts({}).with_columns(
        pl.col("created_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC")
    )
    frame.write_parquet(tmp_path / "posts" / "p.parquet")
    out = flag_invalid_posts(scan_posts(tmp_path), languages()).collect()
    assert out[REASON].to_list() == [None]
    assert out["created_at"].to_list() == [BASE_POST["created_at"]]
