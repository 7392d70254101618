"""Opt-out requests: intake of the form's export, verification against the platform export,
and one evidence record per request.

A request names a video URL (https://<platform>/@handle/video/<post_id>) or a creator
(https://<platform>/@handle). It is
  - rejected, with a reason, when malformed (no ID, bad time, unknown scope, a target that is
    not such a URL) or when it does not verify (the video exists but the URL names another
    account: nobody may opt out someone else's video);
  - `no_match` when the video or account is not in the platform export (recorded, nothing to
    remove);
  - `matched` otherwise: its video, or every video of the creator, goes on the blocklist.
A request ID seen before is skipped: processing the same export twice changes nothing.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from privacy.blocklist import (
    Blocklist,
    add_blocked_frames,
    add_entries,
    mac,
    save_blocklist,
)
from privacy.keys import PseudonymKey
from storage.runs import OptOutFolder, PlatformExport
from storage.tables import replace_parquet

REQUEST_FIELDS = ["request_id", "received_at", "requester_email", "scope", "target"]
EVIDENCE_SCHEMA = {
    "request_id": pl.String,
    "received_at": pl.String,
    "requester_email": pl.String,  # to confirm the removal to the requester; never released
    "scope": pl.String,
    "status": pl.String,  # rejected | no_match | matched
    "reason": pl.String,  # why rejected (null otherwise)
    "verified": pl.Boolean,  # the target resolved and the URL's account owns the video
    "matched_videos": pl.Int64,  # videos of the target in the platform export
    "near_duplicates": pl.Int64,  # other videos blocked as near-duplicates of them
    "processed_at": pl.String,
    "batch": pl.Int64,  # the blocklist batch that holds its entries
    "first_version": pl.String,  # the first release version published without them
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RequestFileError(ValueError):
    """The intake file itself cannot be read (not one bad request: those are rejected)."""


def append_requests(path: Path, rows: list[dict[str, str]]) -> None:
    """Add requests to the form's export (CSV) that the daily flow reads, whole or not at all:
    writers take turns under a lock and replace the file in one rename, so the flow never
    reads half a row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        out = io.StringIO()
        writer = csv.DictWriter(out, REQUEST_FIELDS, lineterminator="\n")
        if not old:
            writer.writeheader()
        elif not old.endswith("\n"):
            out.write("\n")
        writer.writerows({f: row[f] for f in REQUEST_FIELDS} for row in rows)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(old + out.getvalue(), encoding="utf-8")
        os.replace(tmp, path)


def site_request_rows(
    status_id: str, payload: dict[str, Any], now: datetime | None = None
) -> list[dict[str, str]]:
    """A request confirmed on the site as the rows this flow reads (REQUEST_FIELDS), one per
    target; `payload`: scope, targets, email."""
    received = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        {
            "request_id": f"web-{status_id}-{i}",
            "received_at": received,
            "requester_email": payload["email"],
            "scope": payload["scope"],
            "target": target,
        }
        for i, target in enumerate(payload["targets"], start=1)
    ]


def request_outcome(evidence: pl.DataFrame, request_id: str) -> str:
    """What a request came to, in a sentence for its requester (the site's status page)."""
    row = evidence.filter(pl.col("request_id") == request_id)
    if row.is_empty():
        return "received; the next daily opt-out run processes it"
    r = row.row(0, named=True)
    if r["status"] == "matched":
        where = f" in version {r['first_version']}" if r["first_version"] else " (the next version)"
        return f"applied: the video is removed{where}; it will not come back"
    if r["status"] == "no_match":
        return "no video of the dataset matched this link"
    return f"could not be processed ({r['reason']})"


def read_requests(path: Path) -> pl.DataFrame:
    """The form's export as strings: CSV with a header, or JSON (a list of objects)."""
    if not path.is_file():
        raise FileNotFoundError(f"opt-out request file not found: {path}")
    try:
        if path.suffix.lower() == ".json":
            records = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise RequestFileError(f"{path}: expected a JSON list of request objects")
            frame = pl.DataFrame(
                [{f: _text(r.get(f)) for f in REQUEST_FIELDS} for r in records],
                schema=dict.fromkeys(REQUEST_FIELDS, pl.String),
            )
        else:
            frame = pl.read_csv(path, infer_schema=False)
    except (
        json.JSONDecodeError,
        pl.exceptions.ComputeError,
        pl.exceptions.NoDataError,
        UnicodeDecodeError,
    ) as exc:
        raise RequestFileError(f"{path}: not a readable CSV or JSON file ({exc})") from None
    missing = [f for f in REQUEST_FIELDS if f not in frame.columns]
    if missing:
        raise RequestFileError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame.select(pl.col(f).cast(pl.String).str.strip_chars() for f in REQUEST_FIELDS)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


RECEIVED_FORMATS = [  # ISO 8601 as forms export it; a time without a zone is taken as UTC
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
]


def _received(text: pl.Expr) -> pl.Expr:
    return pl.coalesce(
        [
            text.str.to_datetime(f, time_unit="us", strict=False)
            .dt.replace_time_zone(None)
            .dt.replace_time_zone("UTC")
            if "%#z" not in f
            else text.str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False)
            for f in RECEIVED_FORMATS
        ]
    )


def post_of_link(link: str, platform_url: str) -> int | None:
    """The post ID of a link to a video on the platform, read as `parse_requests` reads one."""
    one = {"request_id": "link", "received_at": "2026-01-01T00:00:00Z", "scope": "video"}
    frame = pl.DataFrame([one | {"requester_email": "link@example.org", "target": link}])
    parsed = parse_requests(frame, platform_url)
    return None if parsed["reason"][0] is not None else int(parsed["post_id"][0])


def parse_requests(raw: pl.DataFrame, platform_url: str) -> pl.DataFrame:
    """Add handle (lower case), post_id and `reason` (null when well-formed) to each request.

    Targets are read as people paste them: http or https, any case, `www.` or `m.` before the
    platform's host, a query or fragment after the path (dropped)."""
    host = re.escape(re.sub(r"^https?://(www\.|m\.)?", "", platform_url.rstrip("/"), flags=re.I))
    site = rf"(?i)^https?://(?:www\.|m\.)?{host}"
    path = (
        pl.col("target")
        .fill_null("")
        .str.strip_chars()
        .str.extract(rf"{site}(/[^?#\s]*)(?:[?#]\S*)?$", 1)
        .fill_null("")
    )
    video = r"^/@([^/\s]+)/video/(\d{1,19})/?$"
    creator = r"^/@([^/\s]+)/?$"
    parsed = raw.with_columns(
        pl.when(pl.col("scope") == "video")
        .then(path.str.extract(video, 1))
        .when(pl.col("scope") == "creator")
        .then(path.str.extract(creator, 1))
        .str.to_lowercase()
        .alias("handle"),
        pl.when(pl.col("scope") == "video")
        .then(path.str.extract(video, 2))
        .cast(pl.Int64, strict=False)
        .alias("post_id"),
        _received(pl.col("received_at")).alias("_received"),
    )
    return parsed.with_columns(
        pl.when(pl.col("request_id").fill_null("") == "")
        .then(pl.lit("missing_request_id"))
        .when(pl.col("_received").is_null())
        .then(pl.lit("bad_received_at"))
        .when(~pl.col("requester_email").fill_null("").str.contains(EMAIL.pattern))
        .then(pl.lit("bad_requester_email"))
        .when(~pl.col("scope").fill_null("").is_in(["video", "creator"]))
        .then(pl.lit("bad_scope"))
        .when(
            pl.col("handle").is_null()
            | ((pl.col("scope") == "video") & pl.col("post_id").is_null())
        )
        .then(pl.lit("bad_target"))
        .alias("reason")
    ).drop("_received")


def resolve_requests(
    requests: pl.DataFrame, posts: pl.LazyFrame, creators: pl.LazyFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Match well-formed requests to the platform export.

    Returns (requests with status, reason, verified, matched_videos) and the matched posts
    (request_id, post_id, creator_id, media_sha256) — every video of a creator for scope
    creator."""
    ok = requests.filter(pl.col("reason").is_null())
    # Handles are matched without regard to case, as platforms treat them.
    handles = creators.select("creator_id", pl.col("handle").str.to_lowercase()).collect()
    by_video = (
        ok.filter(pl.col("scope") == "video")
        .select("request_id", "post_id", pl.col("handle").alias("url_handle"))
        .join(
            posts.select("post_id", "creator_id", "media_sha256")
            .join(ok.lazy().select("post_id").drop_nulls(), on="post_id", how="semi")
            .collect()
            .unique("post_id"),
            on="post_id",
        )
        .join(handles, on="creator_id", how="left")
    )
    mismatch = by_video.filter(pl.col("handle") != pl.col("url_handle"))["request_id"]
    by_video = by_video.filter(pl.col("handle") == pl.col("url_handle"))
    creator_ids = ok.filter(pl.col("scope") == "creator").join(handles, on="handle")
    by_creator = creator_ids.select("request_id", "creator_id").join(
        posts.select("post_id", "creator_id", "media_sha256")
        .join(creator_ids.lazy().select("creator_id"), on="creator_id", how="semi")
        .collect()
        .unique("post_id"),
        on="creator_id",
        how="left",
    )
    matched = pl.concat(
        [
            by_video.select("request_id", "post_id", "creator_id", "media_sha256"),
            by_creator.select("request_id", "post_id", "creator_id", "media_sha256"),
        ]
    )
    counts = matched.group_by("request_id").agg(
        pl.col("post_id").drop_nulls().n_unique().alias("matched_videos")
    )
    resolved = (
        requests.join(counts, on="request_id", how="left")
        .with_columns(
            pl.when(pl.col("request_id").is_in(mismatch.implode()))
            .then(pl.lit("handle_mismatch"))
            .otherwise(pl.col("reason"))
            .alias("reason")
        )
        .with_columns(
            pl.when(pl.col("reason").is_not_null())
            .then(pl.lit("rejected"))
            .when(pl.col("matched_videos").is_null())
            .then(pl.lit("no_match"))
            .otherwise(pl.lit("matched"))
            .alias("status"),
            pl.col("matched_videos").fill_null(0),
        )
        .with_columns((pl.col("status") == "matched").alias("verified"))
    )
    return resolved, matched


FINAL = ("matched",)  # other outcomes are looked at again each run (the export may catch up)


def merge_evidence(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """One row per request: a re-examined request's row is replaced only when its outcome
    changed (a no_match that now matches), so running again on the same data changes nothing."""
    outcome = ["request_id", "status", "reason", "matched_videos", "near_duplicates"]
    unchanged = new.join(old.select(outcome), on=outcome, how="semi", nulls_equal=True)[
        "request_id"
    ]
    kept = old.filter(
        ~pl.col("request_id").is_in(new["request_id"].implode())
        | pl.col("request_id").is_in(unchanged.implode())
    )
    changed = new.filter(~pl.col("request_id").is_in(unchanged.implode()))
    return pl.concat([kept, changed]).sort("request_id")


def load_evidence(folder: Path) -> pl.DataFrame:
    path = OptOutFolder(folder).evidence
    if not path.is_file():
        return pl.DataFrame(schema=EVIDENCE_SCHEMA)
    return pl.read_parquet(path).cast(EVIDENCE_SCHEMA)  # type: ignore[arg-type]


def save_evidence(folder: Path, evidence: pl.DataFrame) -> None:
    replace_parquet(
        evidence.select(list(EVIDENCE_SCHEMA)).sort("request_id"), OptOutFolder(folder).evidence
    )


def stamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def evidence_rows(
    resolved: pl.DataFrame, near_duplicates: pl.DataFrame, batch: int, now: datetime | None = None
) -> pl.DataFrame:
    """One evidence row per request; near_duplicates is (request_id, near_duplicates)."""
    processed = stamp(now)
    return (
        resolved.join(near_duplicates, on="request_id", how="left")
        .with_columns(
            pl.col("near_duplicates").fill_null(0),
            pl.lit(processed).alias("processed_at"),
            pl.when(pl.col("status") == "matched").then(pl.lit(batch)).alias("batch"),
            pl.lit(None, pl.String).alias("first_version"),
        )
        .select(list(EVIDENCE_SCHEMA))
        .cast(EVIDENCE_SCHEMA)  # type: ignore[arg-type]
    )


def with_stable_ids(raw: pl.DataFrame) -> pl.DataFrame:
    """A request without an ID gets one from its content, so re-reading the same export
    rejects it once, not on every run."""
    digest = pl.concat_str(pl.all().fill_null(""), separator="\x1f").hash().cast(pl.String)
    return raw.with_columns(
        pl.when(pl.col("request_id").fill_null("") == "")
        .then(pl.lit("no-id-") + digest)
        .otherwise(pl.col("request_id"))
        .alias("request_id"),
        pl.col("request_id").fill_null("").alias("_given_id"),
    )


def same_media(export: PlatformExport, matched: pl.DataFrame) -> pl.DataFrame:
    """(request_id, post_id) of the other posts in the platform export with the very file of a
    matched video: exact re-uploads, removed with it."""
    videos = matched.drop_nulls("post_id").select("request_id", "post_id", "media_sha256")
    if videos.is_empty():
        return pl.DataFrame(schema={"request_id": pl.String, "post_id": pl.Int64})
    return (
        pl.scan_parquet(export.posts)
        .select("post_id", "media_sha256")
        .join(videos.lazy().select("media_sha256").unique(), on="media_sha256", how="semi")
        .collect()
        .join(videos.rename({"post_id": "of"}), on="media_sha256")
        .filter(pl.col("post_id") != pl.col("of"))
        .join(videos.select("post_id"), on="post_id", how="anti")  # opted out themselves
        .select("request_id", "post_id")
        .unique()
    )


def new_entries(
    resolved: pl.DataFrame, matched: pl.DataFrame, copies: pl.DataFrame, key: PseudonymKey
) -> pl.DataFrame:
    """(kind, mac, reason) for the matched requests: the video, or the creator; copies too."""
    ok = matched.join(
        resolved.filter(pl.col("status") == "matched").select("request_id", "scope"),
        on="request_id",
    )
    videos = ok.filter(pl.col("scope") == "video").drop_nulls("post_id")["post_id"].unique()
    creators = ok.filter(pl.col("scope") == "creator")["creator_id"].unique()
    media = ok.drop_nulls("media_sha256")["media_sha256"].unique()
    return pl.DataFrame(
        [
            *(("video", mac(key, "video", v), "opt_out_video") for v in videos.sort().to_list()),
            *(
                ("creator", mac(key, "creator", c), "opt_out_creator")
                for c in creators.sort().to_list()
            ),
            *(
                ("video", mac(key, "video", v), "near_duplicate")
                for v in copies["post_id"].unique().sort().to_list()
            ),
            *(("media", mac(key, "media", m), "opt_out_media") for m in media.sort().to_list()),
        ],
        schema={"kind": pl.String, "mac": pl.String, "reason": pl.String},
        orient="row",
    )


@dataclass(frozen=True)
class Intake:
    resolved: pl.DataFrame  # the new requests, each with its status
    matched: pl.DataFrame  # (request_id, post_id, creator_id, media_sha256) they matched

    @property
    def accepted(self) -> pl.DataFrame:
        """The matched rows of requests that stand (status matched)."""
        ok = self.resolved.filter(pl.col("status") == "matched").select("request_id")
        return self.matched.join(ok, on="request_id")


def intake(
    requests: Path, export: PlatformExport, platform_url: str, evidence: pl.DataFrame
) -> Intake:
    """The requests not decided before, resolved against the export — a request already
    matched is skipped; one that was rejected or had no match is looked at again (the platform
    export may have caught up)."""
    raw = with_stable_ids(read_requests(requests))
    done = evidence.filter(pl.col("status").is_in(FINAL))["request_id"]
    fresh = raw.filter(~pl.col("request_id").is_in(done.implode()))
    fresh = fresh.unique("request_id", keep="first", maintain_order=True)
    parsed = parse_requests(
        fresh.with_columns(pl.col("_given_id").alias("request_id")), platform_url
    )
    parsed = parsed.with_columns(fresh["request_id"])  # the stable IDs, after the ID check
    posts, creators = pl.scan_parquet(export.posts), pl.scan_parquet(export.creators)
    return Intake(*resolve_requests(parsed, posts, creators))


def with_same_media(
    near: pl.DataFrame, export: PlatformExport, accepted: pl.DataFrame
) -> pl.DataFrame:
    """(request_id, post_id): the near-duplicates found, and the exact re-uploads."""
    return pl.concat([near, same_media(export, accepted)]).unique()


def block_requests(
    folder: Path,
    blocklist: Blocklist,
    requests: Intake,
    copies: pl.DataFrame,
    frames: pl.DataFrame,
    key: PseudonymKey,
    evidence: pl.DataFrame,
    now: datetime,
    before_save: Callable[[int], None] | None = None,
) -> tuple[Blocklist, int, pl.DataFrame]:
    """Put the matched videos, creators and copies on the blocklist (with the videos' frame
    hashes), then record the evidence; returns the blocklist, the entries added and the
    evidence. Blocklist first, evidence after: a crash in between re-processes the requests,
    which adds nothing twice. `before_save(batch)` runs before a new batch is saved (the flow
    has the store require it, so no version unchecked against it is served)."""
    new = new_entries(requests.resolved, requests.matched, copies, key)
    blocklist, added = add_entries(blocklist, new, key)
    add_blocked_frames(folder, frames)
    if added and before_save is not None:
        before_save(blocklist.batch)
    save_blocklist(folder, blocklist)
    per_request = copies.group_by("request_id").agg(
        pl.col("post_id").n_unique().cast(pl.Int64).alias("near_duplicates")
    )
    rows = evidence_rows(requests.resolved, per_request, blocklist.batch, now)
    evidence = merge_evidence(evidence, rows)
    save_evidence(folder, evidence)
    return blocklist, added, evidence


def outcomes(folder: Path, now: datetime) -> dict[str, int]:
    """The requests this run (`now`) decided, by status."""
    seen = load_evidence(folder).filter(pl.col("processed_at") == stamp(now))
    return dict(sorted(seen["status"].value_counts().iter_rows()))
