"""Incremental fingerprint store: each video is decoded once per algorithm version.

Layout: <store>/<algorithm version>/part-<id>.parquet, one row per (post_id, media_sha256):
status ('ok' or the quarantine reason), detail, duration, size, frames sampled, and the kept
frames as a list of (t, h, hm, p). A scheduled run looks up which (post, checksum) pairs the
current version already holds and fingerprints only the rest; a post whose media changed has a
new checksum, so it is fingerprinted again. A new algorithm version starts an empty folder,
which invalidates every older row without touching it. Parts are written to a temporary name
and renamed, so a crash leaves no half part.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import uuid
from pathlib import Path

import polars as pl

from curation.video.fingerprint import (
    ALGORITHM_VERSION,
    FingerprintSettings,
    VideoError,
    fingerprint_video,
    frame_rows,
)
from curation.video.nudity import nudity_score
from storage.media import MediaOpener

# h: the frame's pHash, hm: its mirror image's, p: region hashes (crop windows, then insets)
FRAME = pl.Struct({"t": pl.Float64, "h": pl.UInt64, "hm": pl.UInt64, "p": pl.List(pl.UInt64)})
STORE_SCHEMA: dict[str, pl.DataType] = {
    "post_id": pl.Int64(),
    "media_sha256": pl.String(),
    "status": pl.String(),
    "detail": pl.String(),
    "duration_s": pl.Float64(),
    "width": pl.Int32(),
    "height": pl.Int32(),
    "sampled": pl.Int32(),
    "frames": pl.List(FRAME),
    # NudeNet's highest exposed-body score and label (null when the detector was not run)
    "nudity_score": pl.Float64(),
    "nudity_label": pl.String(),
}


# Outcomes worth trying again next run (the file may arrive, the store may answer): not stored.
TRANSIENT = {"media_unavailable", "missing_file"}


def store_version(settings: FingerprintSettings) -> str:
    """The store folder for fingerprints made by this algorithm with these settings: changing
    the sampling (rate, cap, mode…) must not reuse bags sampled another way."""
    canonical = json.dumps(dataclasses.asdict(settings), sort_keys=True)
    return f"{ALGORITHM_VERSION}-{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"


def version_dir(store: Path, version: str = ALGORITHM_VERSION) -> Path:
    return store / version


def scan_store(store: Path, version: str = ALGORITHM_VERSION) -> pl.LazyFrame:
    """All rows of one algorithm version (an empty frame when there are none)."""
    parts = sorted(version_dir(store, version).glob("part-*.parquet"))
    if not parts:
        return pl.LazyFrame(schema=STORE_SCHEMA)
    return pl.scan_parquet(parts)


def missing_items(
    items: pl.DataFrame, store: Path, version: str = ALGORITHM_VERSION
) -> pl.DataFrame:
    """The (post_id, media_sha256, …) rows of `items` the store does not hold yet."""
    known = scan_store(store, version).select("post_id", "media_sha256").unique().collect()
    return items.join(known, on=["post_id", "media_sha256"], how="anti")


Item = tuple[int, str, str]  # (post_id, media_sha256, media location)


def batches_to_do(
    items: pl.DataFrame, store: Path, version: str, batch_size: int
) -> list[list[Item]]:
    """The items the store does not hold yet, in batches of `batch_size`."""
    todo = missing_items(items, store, version).select("post_id", "media_sha256", "location")
    work = todo.rows()
    return [work[i : i + batch_size] for i in range(0, len(work), batch_size)]


def status_counts(rows: pl.DataFrame) -> dict[str, int]:
    """Store rows by status (ok, corrupt, audio_only, …)."""
    return dict(rows.group_by("status").len().iter_rows())


def fingerprint_batch(
    items: list[tuple[int, str, str]], open_media: MediaOpener, settings: FingerprintSettings
) -> pl.DataFrame:
    """Fingerprint (post_id, media_sha256, media location) items; one store row each.

    A file that cannot be read or fingerprinted becomes a row with its reason, never an
    exception: one bad video must not stop a batch. Runs on any worker (no framework imports).
    """
    rows = []
    for post_id, checksum, location in items:
        row: dict[str, object] = {"post_id": post_id, "media_sha256": checksum}
        try:
            fp = fingerprint_video(open_media(location), settings)
        except VideoError as exc:
            row |= {"status": exc.reason, "detail": str(exc), "frames": []}
        except OSError as exc:  # the media store could not give the file (maybe for now)
            row |= {"status": "media_unavailable", "detail": str(exc)[:300], "frames": []}
        else:
            if settings.colour_frames > 0:
                score, label = nudity_score(fp.colour)
                row |= {"nudity_score": score, "nudity_label": label}
            row |= {
                "status": "ok",
                "detail": None,
                "duration_s": fp.duration_s,
                "width": fp.width,
                "height": fp.height,
                "sampled": fp.sampled,
                "frames": frame_rows(fp),
            }
        rows.append(row)
    return pl.DataFrame(rows, schema=STORE_SCHEMA)


def write_part(store: Path, rows: pl.DataFrame, version: str = ALGORITHM_VERSION) -> Path | None:
    """Add rows to the store as one new part (atomically); None when there is nothing to add."""
    rows = rows.filter(~pl.col("status").is_in(list(TRANSIENT)))
    if rows.is_empty():
        return None
    folder = version_dir(store, version)
    folder.mkdir(parents=True, exist_ok=True)
    # Named by write time first, so "the latest row wins" means the latest written.
    name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = folder / f".{name}.tmp"
    rows.sort("post_id", "media_sha256").write_parquet(tmp)
    os.replace(tmp, folder / name)
    return folder / name


def frames_for(posts: pl.DataFrame, store: Path, version: str = ALGORITHM_VERSION) -> pl.DataFrame:
    """Long frame table (video, frame, t, h, hm, p) for `posts` (with a dense `video` index column),
    from the store's 'ok' rows; the latest row wins when a pair was stored twice."""
    stored = (
        scan_store(store, version)
        .filter(pl.col("status") == "ok")
        .select("post_id", "media_sha256", "frames")
        .collect()
        .unique(["post_id", "media_sha256"], keep="last")
    )
    return (
        posts.select("video", "post_id", "media_sha256")
        .join(stored, on=["post_id", "media_sha256"])
        .explode("frames")
        .with_columns(pl.int_range(pl.len()).over("video").alias("frame"))
        .unnest("frames")
        .select("video", "frame", "t", "h", "hm", "p")
        .sort("video", "frame")
    )
