"""Opt-out requests: reading the form's export, parsing, verifying against the platform
export, and the evidence records."""

import csv
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from privacy.opt_out import (
    EVIDENCE_SCHEMA,
    REQUEST_FIELDS,
    RequestFileError,
    evidence_rows,
    load_evidence,
    parse_requests,
    read_requests,
    resolve_requests,
    save_evidence,
)
from synth.export import synthesize_export

PLATFORM = "https://sharevideo.example"
BASE_REQUEST: dict[str, Any] = {
    "request_id": "req-1",
    "received_at": "2021-12-01T10:00:00Z",
    "requester_email": "someone@mail.example",
    "scope": "video",
    "target": f"{PLATFORM}/@alice/video/1",
}


def requests(*rows: dict[str, Any]) -> pl.DataFrame:
    """Request rows (strings, as read_requests gives them): BASE_REQUEST with fields changed."""
    return pl.DataFrame(
        [{**BASE_REQUEST, **row} for row in rows], schema=dict.fromkeys(REQUEST_FIELDS, pl.String)
    )


def write_csv(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


# --- reading the form's export -------------------------------------------------------------


FORM_ROWS = [
    {**BASE_REQUEST, "request_id": "a1", "note": "extra columns are dropped"},
    {
        **BASE_REQUEST,
        "request_id": "a2",
        "scope": " creator ",  # surrounding blanks are stripped
        "target": f"{PLATFORM}/@bob",
        "requester_email": "bob@mail.example",
    },
]


def test_csv_and_json_exports_read_to_the_same_frame(tmp_path: Path) -> None:
    # The CSV has its columns in another order and one more column.
    fields = ["target", "note", *reversed(REQUEST_FIELDS[:-1])]
    from_csv = read_requests(write_csv(tmp_path / "form.csv", FORM_ROWS, fields))
    (tmp_path / "form.json").write_text(json.dumps(FORM_ROWS), encoding="utf-8")
    from_json = read_requests(tmp_path / "form.json")
    assert_frame_equal(from_csv, from_json)
    assert from_csv.columns == REQUEST_FIELDS
    assert dict(from_csv.schema) == dict.fromkeys(REQUEST_FIELDS, pl.String)
    assert from_csv["request_id"].to_list() == ["a1", "a2"]
    assert from_csv["scope"].to_list() == ["video", "creator"]


def test_json_values_are_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "form.JSON"  # the suffix is matched case-insensitively
    path.write_text(json.dumps([{**BASE_REQUEST, "request_id": 17, "scope": None}]))
    frame = read_requests(path)
    assert frame["request_id"].to_list() == ["17"]
    assert frame["scope"].to_list() == [None]


@pytest.mark.parametrize(
    "content",
    [
        json.dumps({"requests": [BASE_REQUEST]}),  # an object, not a list
        json.dumps([BASE_REQUEST, "not an object"]),
        "[{not json",
    ],
)
def test_a_json_file_that_is_not_a_list_of_objects_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "form-export.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RequestFileError, match=r"form-export\.json"):
        read_requests(path)


def test_a_csv_missing_a_column_names_it(tmp_path: Path) -> None:
    fields = [f for f in REQUEST_FIELDS if f != "scope"]
    path = write_csv(tmp_path / "form-export.csv", [BASE_REQUEST], fields)
    with pytest.raises(RequestFileError) as info:
        read_requests(path)
    assert "form-export.csv" in str(info.value)
    assert str(info.value).endswith("missing column(s) scope")  # only the missing one


def test_a_json_missing_a_key_reads_it_as_null(tmp_path: Path) -> None:
    # A JSON object without a field is one bad request (rejected later), not a bad file.
    path = tmp_path / "form.json"
    path.write_text(json.dumps([{k: v for k, v in BASE_REQUEST.items() if k != "scope"}]))
    assert read_requests(path)["scope"].to_list() == [None]


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.csv"):
        read_requests(tmp_path / "nothing.csv")


def test_an_empty_csv_file_is_a_request_file_error(tmp_path: Path) -> None:
    path = tmp_path / "form.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(RequestFileError, match=r"form\.csv"):
        read_requests(path)


# --- parsing -------------------------------------------------------------------------------


def reason_of(row: dict[str, Any], platform_url: str = PLATFORM) -> str | None:
    out = parse_requests(requests(row), platform_url)
    value: str | None = out["reason"].item()
    return value


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"request_id": None}, "missing_request_id"),
        ({"request_id": ""}, "missing_request_id"),
        ({"received_at": None}, "bad_received_at"),
        ({"received_at": "yesterday"}, "bad_received_at"),
        ({"received_at": "2021-13-01T10:00:00Z"}, "bad_received_at"),
        ({"received_at": "2021-12-01"}, "bad_received_at"),
        ({"requester_email": None}, "bad_requester_email"),
        ({"requester_email": "someone"}, "bad_requester_email"),
        ({"requester_email": "someone@example"}, "bad_requester_email"),
        ({"requester_email": "some one@mail.example"}, "bad_requester_email"),
        ({"scope": None}, "bad_scope"),
        ({"scope": ""}, "bad_scope"),
        ({"scope": "everything"}, "bad_scope"),
        ({"scope": "Video"}, "bad_scope"),
        # the first problem is the one reported
        ({"request_id": "", "requester_email": "x", "scope": "all"}, "missing_request_id"),
        ({"requester_email": "x", "scope": "all"}, "bad_requester_email"),
    ],
)
def test_malformed_requests_are_rejected_with_their_reason(
    row: dict[str, Any], reason: str
) -> None:
    assert reason_of(row) == reason


@pytest.mark.parametrize(
    ("scope", "target"),
    [
        ("video", f"{PLATFORM}/@alice"),  # a creator URL for a video request
        ("creator", f"{PLATFORM}/@alice/video/1"),  # a video URL for a creator request
        ("video", None),
        ("video", ""),
        ("creator", "not a url"),
        ("video", "ftp://sharevideo.example/@alice/video/1"),
        ("creator", "ftp://x"),
        ("video", "https://othervideo.example/@alice/video/1"),  # another host
        ("creator", "https://sharevideo.example.evil.example/@alice"),
        ("creator", "https://evil.example/https://sharevideo.example/@alice"),
        ("video", f"{PLATFORM}/@alice/video/1abc"),  # trailing junk
        ("video", f"{PLATFORM}/@alice/video/1/extra"),
        ("creator", f"{PLATFORM}/@alice/extra"),
        ("creator", f"{PLATFORM}/alice"),  # no @
        ("creator", f"{PLATFORM}/@"),  # no handle
        ("video", f"{PLATFORM}/@/video/1"),
        ("video", f"{PLATFORM}/@alice/video/"),  # no post ID
        ("video", f"{PLATFORM}/@alice/video/12345678901234567890"),  # 20 digits
        ("video", f"{PLATFORM}/@alice/video/9999999999999999999"),  # beyond int64
    ],
)
def test_a_target_that_is_not_a_platform_url_of_its_scope_is_rejected(
    scope: str, target: str | None
) -> None:
    assert reason_of({"scope": scope, "target": target}) == "bad_target"


@pytest.mark.parametrize("platform_url", [PLATFORM, PLATFORM + "/"])
def test_well_formed_urls_give_handle_and_post_id(platform_url: str) -> None:
    out = parse_requests(
        requests(
            {"request_id": "v", "target": f"{PLATFORM}/@alice/video/1425282043478016000"},
            {"request_id": "v/", "target": f"{PLATFORM}/@alice.b_2/video/42/"},
            {"request_id": "c", "scope": "creator", "target": f"{PLATFORM}/@bob"},
            {"request_id": "c/", "scope": "creator", "target": f"{PLATFORM}/@bob_9/"},
            {"request_id": "tz", "received_at": "2021-12-01T15:30:00+05:30"},
            {"request_id": "max", "target": f"{PLATFORM}/@alice/video/{2**63 - 1}"},
        ),
        platform_url,
    )
    assert out.columns == [*REQUEST_FIELDS, "handle", "post_id", "reason"]
    assert out["reason"].to_list() == [None] * 6
    assert out["handle"].to_list() == ["alice", "alice.b_2", "bob", "bob_9", "alice", "alice"]
    assert out.schema["post_id"] == pl.Int64
    assert out["post_id"].to_list() == [1425282043478016000, 42, None, None, 1, 2**63 - 1]


@pytest.mark.parametrize(
    "target",
    [
        "http://sharevideo.example/@Alice/video/7",
        "HTTPS://WWW.sharevideo.example/@alice/video/7?is_from_webapp=1&lang=en",
        "https://m.sharevideo.example/@ALICE/video/7/#comments",
        "  https://sharevideo.example/@alice/video/7  ",
    ],
)
def test_urls_are_read_as_people_paste_them(target: str) -> None:
    out = parse_requests(requests({"request_id": "p", "target": target}), PLATFORM)
    assert out.select("handle", "post_id", "reason").row(0) == ("alice", 7, None)


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        ("2022-01-05T10:00:00.123Z", datetime(2022, 1, 5, 10, 0, 0, 123000, tzinfo=UTC)),
        ("2022-01-05T15:30:00+05:30", datetime(2022, 1, 5, 10, 0, tzinfo=UTC)),
        ("2022-01-05T10:00:00", datetime(2022, 1, 5, 10, 0, tzinfo=UTC)),  # no zone: UTC
        ("2022-01-05 10:00:00", datetime(2022, 1, 5, 10, 0, tzinfo=UTC)),
    ],
)
def test_received_times_in_the_usual_iso_forms_are_accepted(
    received: str, expected: datetime
) -> None:
    from privacy.opt_out import _received

    parsed = pl.DataFrame({"t": [received]}).select(_received(pl.col("t")))["t"][0]
    assert parsed == expected


# --- verifying against the platform export -------------------------------------------------


def platform() -> tuple[pl.LazyFrame, pl.LazyFrame]:
    posts = pl.LazyFrame(
        {
            "post_id": [1, 2, 3, 4, 1],  # post 1 twice, as when it is in two export chunks
            "creator_id": [100, 100, 100, 200, 100],
            "media_sha256": ["a1", "a2", "a3", "b4", "a1"],
        },
        schema={"post_id": pl.Int64, "creator_id": pl.Int64, "media_sha256": pl.String},
    )
    creators = pl.LazyFrame(
        {"creator_id": [100, 200, 300], "handle": ["alice", "bob", "carol"]},
        schema={"creator_id": pl.Int64, "handle": pl.String},
    )
    return posts, creators


def resolve(*rows: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame]:
    return resolve_requests(parse_requests(requests(*rows), PLATFORM), *platform())


def by_id(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["request_id"]: r for r in frame.iter_rows(named=True)}


REQUESTS = [
    {"request_id": "own-video", "target": f"{PLATFORM}/@alice/video/1"},
    {"request_id": "other-video", "target": f"{PLATFORM}/@bob/video/2"},  # alice's video
    {"request_id": "unknown-video", "target": f"{PLATFORM}/@alice/video/999"},
    {"request_id": "creator", "scope": "creator", "target": f"{PLATFORM}/@alice"},
    {"request_id": "unknown-creator", "scope": "creator", "target": f"{PLATFORM}/@nobody"},
    {"request_id": "no-posts", "scope": "creator", "target": f"{PLATFORM}/@carol/"},
    {"request_id": "malformed", "scope": "all"},
]


def test_requests_resolve_to_their_status() -> None:
    resolved, _ = resolve(*REQUESTS)
    assert resolved["request_id"].to_list() == [r["request_id"] for r in REQUESTS]
    got = {
        k: (r["status"], r["reason"], r["verified"], r["matched_videos"])
        for k, r in by_id(resolved).items()
    }
    assert got == {
        "own-video": ("matched", None, True, 1),
        "other-video": ("rejected", "handle_mismatch", False, 0),
        "unknown-video": ("no_match", None, False, 0),
        "creator": ("matched", None, True, 3),  # post 1 counted once
        "unknown-creator": ("no_match", None, False, 0),
        "no-posts": ("matched", None, True, 0),
        "malformed": ("rejected", "bad_scope", False, 0),
    }


def test_matched_posts_are_the_requested_video_or_all_of_the_creators() -> None:
    _, matched = resolve(*REQUESTS)
    assert matched.columns == ["request_id", "post_id", "creator_id", "media_sha256"]
    assert sorted(matched.rows(), key=repr) == sorted(
        [
            ("own-video", 1, 100, "a1"),
            ("creator", 1, 100, "a1"),
            ("creator", 2, 100, "a2"),
            ("creator", 3, 100, "a3"),
            # A creator without posts still has one row (no post): the creator is blocked.
            ("no-posts", None, 300, None),
        ],
        key=repr,
    )


def test_a_mismatched_handle_does_not_block_the_video() -> None:
    # Two requests for the same video: only the owner's URL verifies.
    resolved, matched = resolve(
        {"request_id": "owner", "target": f"{PLATFORM}/@alice/video/2"},
        {"request_id": "stranger", "target": f"{PLATFORM}/@bob/video/2"},
    )
    assert by_id(resolved)["owner"]["status"] == "matched"
    assert by_id(resolved)["stranger"]["reason"] == "handle_mismatch"
    assert matched["request_id"].to_list() == ["owner"]


# --- evidence ------------------------------------------------------------------------------


NOW = datetime(2022, 1, 2, 3, 4, 5, tzinfo=UTC)


def evidence() -> pl.DataFrame:
    resolved, _ = resolve(*REQUESTS)
    near = pl.DataFrame(
        {"request_id": ["creator"], "near_duplicates": [2]},
        schema={"request_id": pl.String, "near_duplicates": pl.Int64},
    )
    return evidence_rows(resolved, near, batch=7, now=NOW)


def test_evidence_has_one_row_per_request_in_the_evidence_schema() -> None:
    rows = evidence()
    assert dict(rows.schema) == EVIDENCE_SCHEMA
    assert rows.height == len(REQUESTS)
    got = by_id(rows)
    for request_id, row in got.items():
        assert row["batch"] == (7 if row["status"] == "matched" else None), request_id
        assert row["first_version"] is None
        assert row["processed_at"] == "2022-01-02T03:04:05Z"
        assert row["near_duplicates"] == (2 if request_id == "creator" else 0)
    assert got["other-video"]["reason"] == "handle_mismatch"
    assert got["creator"]["matched_videos"] == 3
    assert got["own-video"]["requester_email"] == BASE_REQUEST["requester_email"]


def test_evidence_round_trips(tmp_path: Path) -> None:
    assert_frame_equal(load_evidence(tmp_path), pl.DataFrame(schema=EVIDENCE_SCHEMA))
    rows = evidence()
    save_evidence(tmp_path / "optout", rows)
    loaded = load_evidence(tmp_path / "optout")
    assert dict(loaded.schema) == EVIDENCE_SCHEMA
    assert_frame_equal(loaded, rows.sort("request_id"))


def test_processed_at_is_utc_whatever_the_time_zone_of_now() -> None:
    resolved, _ = resolve(REQUESTS[0])
    india = NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))
    none = pl.DataFrame(schema={"request_id": pl.String, "near_duplicates": pl.Int64})
    rows = evidence_rows(resolved, none, batch=1, now=india)
    assert rows["processed_at"].to_list() == ["2022-01-02T03:04:05Z"]


# --- the synthetic export ------------------------------------------------------------------


def test_the_synthetic_exports_requests_resolve(tmp_path: Path) -> None:
    # 100,000 posts give 50 requests (5,000 posts give only 10, too few for every status).
    summary = synthesize_export(tmp_path, 100_000, seed=3)
    raw = read_requests(tmp_path / "opt_out_requests.csv")
    assert raw.height == summary.opt_out_requests
    parsed = parse_requests(raw, PLATFORM)
    posts = pl.scan_parquet(tmp_path / "posts")
    creators = pl.scan_parquet(tmp_path / "creators")
    resolved, matched = resolve_requests(parsed, posts, creators)

    assert resolved.height == raw.height
    assert resolved["request_id"].to_list() == raw["request_id"].to_list()
    counts = dict(resolved["status"].value_counts().iter_rows())
    assert set(counts) == {"matched", "no_match", "rejected"}
    assert sum(counts.values()) == raw.height
    rejected = resolved.filter(pl.col("status") == "rejected")
    assert rejected["reason"].null_count() == 0
    assert resolved.filter(pl.col("status") != "rejected")["reason"].null_count() == (
        raw.height - rejected.height
    )
    assert resolved["verified"].to_list() == (resolved["status"] == "matched").to_list()
    # Requests for made-up accounts find nothing; matched videos are their owners'.
    nobody = resolved.filter(pl.col("target").str.contains("/@nobody_"))
    assert nobody.height and set(nobody["status"]) == {"no_match"}
    owners = (
        matched.join(resolved.select("request_id", "scope", "handle"), on="request_id")
        .filter(pl.col("scope") == "video")
        .join(creators.collect(), on="creator_id", suffix="_owner")
    )
    assert owners.height == counts_of(resolved, "video") > 0
    assert (owners["handle"] == owners["handle_owner"]).all()
    # matched_videos agrees with the matched posts table.
    per_request = matched.group_by("request_id").agg(pl.col("post_id").drop_nulls().n_unique())
    expected = dict(per_request.iter_rows())
    for row in resolved.filter(pl.col("status") == "matched").iter_rows(named=True):
        assert row["matched_videos"] == expected[row["request_id"]]


def counts_of(resolved: pl.DataFrame, scope: str) -> int:
    return resolved.filter((pl.col("status") == "matched") & (pl.col("scope") == scope)).height


def test_a_request_without_a_match_is_matched_once_the_export_catches_up() -> None:
    from privacy.opt_out import merge_evidence

    day1, day2 = datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 1, 2, tzinfo=UTC)
    request = {"request_id": "late", "target": f"{PLATFORM}/@alice/video/1"}
    empty = pl.LazyFrame(
        schema={"post_id": pl.Int64, "creator_id": pl.Int64, "media_sha256": pl.String}
    )
    none_yet, _ = resolve_requests(
        parse_requests(requests(request), PLATFORM), empty, platform()[1]
    )
    near = pl.DataFrame(schema={"request_id": pl.String, "near_duplicates": pl.Int64})
    first = merge_evidence(
        load_evidence(Path("/nonexistent")), evidence_rows(none_yet, near, 1, day1)
    )
    assert first.select("status", "processed_at").row(0) == ("no_match", "2022-01-01T00:00:00Z")
    # The same outcome again changes nothing, not even the time it was processed.
    again = merge_evidence(first, evidence_rows(none_yet, near, 1, day2))
    assert again.equals(first)
    # The export now holds the video: the request is matched, and its row says so.
    found, _ = resolve(request)
    later = merge_evidence(again, evidence_rows(found, near, 2, day2))
    assert later.height == 1
    assert later.select("status", "batch", "processed_at").row(0) == (
        "matched",
        2,
        "2022-01-02T00:00:00Z",
    )
