"""Copies of opted-out videos among what may be released: the posts curation found to be their
near-duplicates (its saved clusters), and a near-duplicate search only for the opted-out videos
a run did not see (dropped before its video stage, or newer than it).

Reads the fingerprint store and each candidate run's shortlist, companion and
neardup_clusters; writes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from curation.config import CurateConfig, OptOutConfig
from curation.release.versions import patch_base
from curation.video.fingerprint import FingerprintSettings
from curation.video.fingerprint_store import scan_store, store_version
from curation.video.neardup import NearDupSettings, match_references
from curation.video.screen import explode_frames
from curation.video.settings import neardup_settings, settings_of
from privacy.blocklist import macs
from privacy.keys import PseudonymKey
from storage.local import LocalStore
from storage.runs import CurationRun

NO_COPIES = pl.DataFrame(schema={"request_id": pl.String, "post_id": pl.Int64})


@dataclass(frozen=True)
class FingerprintSource:
    store: Path
    version: str
    settings: NearDupSettings
    fingerprint: FingerprintSettings  # to fingerprint a new video the same way


def fingerprint_source(curation_dir: Path) -> FingerprintSource | None:
    """The fingerprint store and matcher of the latest curation run, if it used video."""
    run = CurationRun(curation_dir)
    if not run.complete:
        return None
    curate = CurateConfig.model_validate(json.loads(run.marker.read_text())["config"])
    if not curate.video.enabled:
        return None
    store = curate.video.store or CurationRun.fingerprint_store(curation_dir)
    fingerprint = settings_of(curate.video)
    return FingerprintSource(
        store, store_version(fingerprint), neardup_settings(curate.video), fingerprint
    )


def stored_frames(posts: pl.DataFrame, store: Path, version: str) -> pl.DataFrame:
    """(post_id, frames) of `posts` (post_id, media_sha256) from the fingerprint store, found
    by the media file: a post that lost exact dedup to another upload of the same file was
    never fingerprinted itself, but its file was."""
    return (
        scan_store(store, version)
        .filter(pl.col("status") == "ok")
        .select("media_sha256", "frames")
        .join(posts.lazy().select("post_id", "media_sha256"), on="media_sha256")
        .select("post_id", "frames")
        .collect()
        .unique("post_id", keep="last")
        .sort("post_id")
    )


def candidate_runs(config: OptOutConfig) -> list[CurationRun]:
    """The curation runs whose shortlist and companion may be released: the one the newest
    version was built from (found through the build records) and the latest one."""
    runs = [config.curation_dir.resolve()]
    store = LocalStore(config.store)
    version = patch_base(store, config.dataset)
    try:
        while version is not None:
            record = store.build_record(config.dataset, version)
            if record["kind"] == "release":
                runs.append(Path(record["config"]["curation_dir"]).resolve())
                break
            version = record["parent"]
    except FileNotFoundError:
        pass
    found = [CurationRun(r) for r in dict.fromkeys(runs)]
    return [r for r in found if r.table("shortlist").is_file()]


def released_candidates(run: CurationRun) -> pl.DataFrame:
    """(post_id, media_sha256) of the posts a release may take from `run`."""
    return pl.concat(
        [
            pl.read_parquet(run.table(t), columns=["post_id", "media_sha256"])
            for t in ("shortlist", "companion")
        ]
    )


def saved_matches(run: CurationRun, videos: pl.Series) -> pl.DataFrame | None:
    """(post_id, matches) of those `videos` that `run`'s near-duplicate search saw, from its
    saved clusters; None when it saved none (then every video counts as unseen)."""
    if not run.neardup_clusters.is_file():
        return None
    try:
        return (
            pl.scan_parquet(run.neardup_clusters)
            .filter(pl.col("post_id").is_in(videos.implode()))
            .select("post_id", "matches")
            .collect()
        )
    except (OSError, pl.exceptions.PolarsError) as exc:  # damaged: search instead, never skip
        print(f"{run.neardup_clusters} unreadable ({exc}); searching for copies instead")
        return None


def clustered_copies(saved: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """(post_id, of): the candidates a run verified as near-duplicates of the `saved` videos."""
    return (
        saved.select(pl.col("post_id").alias("of"), pl.col("matches").alias("post_id"))
        .explode("post_id")
        .drop_nulls("post_id")
        .join(candidates.select("post_id"), on="post_id", how="semi")
        .select("post_id", "of")
    )


def searched_copies(
    blocked: pl.DataFrame, candidates: pl.DataFrame, source: FingerprintSource
) -> pl.DataFrame:
    """(post_id, of): the candidates a near-duplicate search matches to `blocked` (post_id,
    frames)."""
    cand = stored_frames(candidates, source.store, source.version).with_row_index("video")
    refs = blocked.with_row_index("video")
    hits = match_references(explode_frames(cand), explode_frames(refs), source.settings)
    return (
        hits.join(cand.select(pl.col("video").cast(pl.Int32), "post_id"), on="video")
        .join(
            refs.select(
                pl.col("video").cast(pl.Int32).alias("reference"), pl.col("post_id").alias("of")
            ),
            on="reference",
        )
        .select("post_id", "of")
    )


def copies_of(
    config: OptOutConfig, matched: pl.DataFrame, source: FingerprintSource, blocked: pl.DataFrame
) -> pl.DataFrame:
    """(request_id, post_id): near-duplicates of the matched videos among the candidate runs'
    posts. `blocked`: (post_id, frames) of the matched videos that were fingerprinted."""
    videos = matched.drop_nulls("post_id")["post_id"].unique()
    found = []
    for run in candidate_runs(config):
        candidates = released_candidates(run).join(
            matched.select("post_id"), on="post_id", how="anti"
        )
        saved = saved_matches(run, videos)
        unseen = blocked
        if saved is not None:
            found.append(clustered_copies(saved, candidates))
            unseen = blocked.join(saved.select("post_id"), on="post_id", how="anti")
        if not unseen.is_empty():
            found.append(searched_copies(unseen, candidates, source))
    if not found:
        return NO_COPIES
    return (
        pl.concat(found)
        .join(matched.select("request_id", pl.col("post_id").alias("of")), on="of")
        .select("request_id", "post_id")
        .unique()
    )


def near_duplicates_of(
    config: OptOutConfig, matched: pl.DataFrame, key: PseudonymKey
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(blocked frames: mac, frames) of the matched videos, and their near-duplicates among
    the candidate runs' shortlist and companion posts: (request_id, post_id)."""
    source = fingerprint_source(config.curation_dir)
    videos = matched.drop_nulls("post_id").unique("post_id")
    if source is None or videos.is_empty():
        return pl.DataFrame(schema={"mac": pl.String}), NO_COPIES
    blocked = stored_frames(videos, source.store, source.version)
    if blocked.height < videos.height:
        print(
            f"{videos.height - blocked.height} of {videos.height} opted-out videos were never "
            "fingerprinted (dropped before the video stage): their copies are blocked by ID only"
        )
    copies = copies_of(config, matched, source, blocked)
    frames = blocked.select(macs(blocked["post_id"], key, "video").alias("mac"), "frames")
    return frames, copies
