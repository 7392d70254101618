"""Flow `opt_out` (daily): opt-out requests → blocklist → patch release → withdrawal → purge.

1. New requests of the form's export (a request ID seen before is skipped) are checked and
   matched against the platform export; each gets an evidence record (optout/evidence.parquet).
2. Matched videos and creators go on the permanent blocklist as keyed MACs, with the frame
   hashes of the matched videos; their near-duplicates among the latest curation run's
   shortlist and companion posts go on it too (reason near_duplicate).
3. If the latest published version holds anything now blocked, a patch release (x.y.z+1) is
   built from it and the blocklist alone, and every version holding blocked rows is withdrawn.
4. Withdrawn versions past their retention are purged (logged in the store).
Each step is idempotent, so a run that crashed is completed by the next one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE

from curation.config import CurateConfig, OptOutConfig
from curation.release.build import blocked_count, needles_path, next_patch, patch_release
from curation.release.bundle import read_manifest
from curation.video.fingerprint_store import scan_store, store_version
from curation.video.neardup import match_references
from curation.video.screen import explode_frames
from flows.common import RUN_MARKER, code_version, record_events
from flows.fingerprint import neardup_settings, settings_of
from privacy.access_log import load_signing_key
from privacy.blocklist import (
    Blocklist,
    add_blocked_frames,
    add_entries,
    blocklist_lock,
    load_blocklist,
    mac,
    macs,
    save_blocklist,
)
from privacy.keys import PseudonymKey, load_key
from privacy.leak_gate import KeyedNeedles
from privacy.opt_out import (
    FINAL,
    evidence_rows,
    load_evidence,
    merge_evidence,
    parse_requests,
    read_requests,
    resolve_requests,
    save_evidence,
    stamp,
)
from storage.local import LocalStore, newest_live
from storage.s3 import S3Store


@dataclass
class OptOutResult:
    requests: dict[str, int]  # new requests by status
    new_entries: int
    near_duplicates: int
    patch: str | None = None  # the version published, if any
    withdrawn: list[str] = field(default_factory=list)
    purged: list[dict[str, Any]] = field(default_factory=list)


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


def fingerprint_source(config: OptOutConfig) -> tuple[Path, str, Any] | None:
    """(store, store version, near-dup settings) of the latest curation run, if it used video."""
    marker = config.curation_dir / RUN_MARKER
    if not marker.is_file():
        return None
    curate = CurateConfig.model_validate(json.loads(marker.read_text())["config"])
    if not curate.video.enabled:
        return None
    store = curate.video.store or config.curation_dir.with_name(
        config.curation_dir.name + ".fingerprints"
    )
    video = curate.video
    return store, store_version(settings_of(video)), neardup_settings(video)


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


def candidate_runs(config: OptOutConfig) -> list[Path]:
    """The curation runs whose shortlist and companion may be released: the one the newest
    version was built from (found through the build records) and the latest one."""
    runs = [config.curation_dir.resolve()]
    store = LocalStore(config.store)
    version = (
        patch_base(store, config.dataset) if (config.store / config.dataset).is_dir() else None
    )
    try:
        while version is not None:
            record = store.build_record(config.dataset, version)
            if record["kind"] == "release":
                runs.append(Path(record["config"]["curation_dir"]).resolve())
                break
            version = record["parent"]
    except FileNotFoundError:
        pass
    return [r for r in dict.fromkeys(runs) if (r / "shortlist.parquet").is_file()]


def same_media(config: OptOutConfig, matched: pl.DataFrame) -> pl.DataFrame:
    """(request_id, post_id) of the other posts in the platform export with the very file of a
    matched video: exact re-uploads, removed with it."""
    videos = matched.drop_nulls("post_id").select("request_id", "post_id", "media_sha256")
    if videos.is_empty():
        return pl.DataFrame(schema={"request_id": pl.String, "post_id": pl.Int64})
    return (
        pl.scan_parquet(sorted((config.export_dir / "posts").glob("*.parquet")))
        .select("post_id", "media_sha256")
        .join(videos.lazy().select("media_sha256").unique(), on="media_sha256", how="semi")
        .collect()
        .join(videos.rename({"post_id": "of"}), on="media_sha256")
        .filter(pl.col("post_id") != pl.col("of"))
        .join(videos.select("post_id"), on="post_id", how="anti")  # opted out themselves
        .select("request_id", "post_id")
        .unique()
    )


@task(cache_policy=NONE)
def intake(config: OptOutConfig, evidence: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(requests resolved, matched posts) — a request already matched is skipped; one that was
    rejected or had no match is looked at again (the platform export may have caught up)."""
    raw = with_stable_ids(read_requests(config.requests))
    done = evidence.filter(pl.col("status").is_in(FINAL))["request_id"]
    fresh = raw.filter(~pl.col("request_id").is_in(done.implode()))
    fresh = fresh.unique("request_id", keep="first", maintain_order=True)
    parsed = parse_requests(
        fresh.with_columns(pl.col("_given_id").alias("request_id")), config.platform_url
    )
    parsed = parsed.with_columns(fresh["request_id"])  # the stable IDs, after the ID check
    posts = pl.scan_parquet(sorted((config.export_dir / "posts").glob("*.parquet")))
    creators = pl.scan_parquet(sorted((config.export_dir / "creators").glob("*.parquet")))
    return resolve_requests(parsed, posts, creators)


@task(cache_policy=NONE)
def near_duplicates_of(
    config: OptOutConfig, matched: pl.DataFrame, key: PseudonymKey
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(blocked frames: mac, frames) of the matched videos, and their near-duplicates among
    the latest curation run's shortlist and companion posts: (request_id, post_id)."""
    none = pl.DataFrame(schema={"request_id": pl.String, "post_id": pl.Int64})
    source = fingerprint_source(config)
    videos = matched.drop_nulls("post_id").unique("post_id")
    if source is None or videos.is_empty():
        return pl.DataFrame(schema={"mac": pl.String}), none
    store, version, settings = source
    blocked = stored_frames(videos, store, version)
    if blocked.height < videos.height:
        print(
            f"{videos.height - blocked.height} of {videos.height} opted-out videos were never "
            "fingerprinted (dropped before the video stage): their copies are blocked by ID only"
        )
    blocked = blocked.with_columns(macs(blocked["post_id"], key, "video").alias("mac"))
    candidates = (
        pl.concat(
            [
                pl.read_parquet(run / f"{t}.parquet", columns=["post_id", "media_sha256"])
                for run in candidate_runs(config)
                for t in ("shortlist", "companion")
            ]
        )
        .unique("post_id")
        .join(videos.select("post_id"), on="post_id", how="anti")
    )
    cand = stored_frames(candidates, store, version).with_row_index("video")
    refs = blocked.with_row_index("video")
    hits = match_references(explode_frames(cand), explode_frames(refs), settings)
    copies = (
        hits.join(cand.select(pl.col("video").cast(pl.Int32), "post_id"), on="video")
        .join(
            refs.select(
                pl.col("video").cast(pl.Int32).alias("reference"), pl.col("post_id").alias("of")
            ),
            on="reference",
        )
        .join(matched.select("request_id", pl.col("post_id").alias("of")), on="of")
        .select("request_id", "post_id")
        .unique()
    )
    return blocked.select("mac", "frames"), copies


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


def patch_base(store: LocalStore, dataset: str) -> str | None:
    """The newest version whose files are still there, withdrawn or not: a patch whose run
    failed left its parent withdrawn, and the next run must still patch it."""
    withdrawn = store.withdrawn(dataset)
    kept = [v for v in store.versions(dataset) if not withdrawn.get(v, {}).get("purged_at")]
    return kept[-1] if kept else None


def latest_version(store: LocalStore, dataset: str) -> str | None:
    """The newest version researchers may use (not withdrawn)."""
    return newest_live(store.versions(dataset), store.withdrawn(dataset))


def parent_needles(
    store: LocalStore, dataset: str, version: str, key: PseudonymKey
) -> KeyedNeedles:
    """The keyed needles kept with `version` (from the source rows of the release it descends
    from). Missing needles stop the patch: a patch is never published unscanned."""
    path = needles_path(store, dataset, version)
    if not path.is_file():
        raise FileNotFoundError(
            f"no leak-gate needles for {dataset} {version} at {path}: a patch of it cannot be "
            "scanned; rebuild it with `massiv release` from its curation run"
        )
    return KeyedNeedles.load(path, key)


def withdraw_blocked(
    config: OptOutConfig,
    store: LocalStore,
    blocklist: Blocklist,
    successor: str | None,
    now: datetime,
) -> list[str]:
    """Withdraw every live version that holds a blocked row."""
    withdrawn = []
    already = store.withdrawn(config.dataset)
    for version in store.versions(config.dataset):
        if version in already or version == successor:
            continue
        if blocked_count(store.version_dir(config.dataset, version), blocklist):
            reason = f"holds opted-out content; superseded by {successor or 'none yet'}"
            store.withdraw(config.dataset, version, reason, config.retention_days, now)
            withdrawn.append(version)
    record_events(config.access, store, config.dataset)
    if withdrawn and config.s3_url:  # stop serving them there too, before anything else fails
        S3Store(config.s3_url).mirror_withdrawn(config.dataset, store.withdrawn(config.dataset))
    return withdrawn


@task(cache_policy=NONE)
def publish_patch(
    config: OptOutConfig, blocklist: Blocklist, now: datetime, key: PseudonymKey
) -> tuple[str | None, list[str]]:
    """Patch the latest version if it holds blocked rows; withdraw every version that does,
    also when the patch fails (then until a later run publishes one)."""
    store = LocalStore(config.store)
    latest = patch_base(store, config.dataset)
    if latest is None or blocklist.entries.is_empty():
        return None, []
    patch = None
    if config.patch_release and blocked_count(store.version_dir(config.dataset, latest), blocklist):
        patch = next_patch(latest)
        while patch in store.versions(config.dataset):
            patch = next_patch(patch)
        try:
            path, _, built = patch_release(
                store,
                config.dataset,
                latest,
                patch,
                blocklist,
                code_version(),
                parent_needles(store, config.dataset, latest, key),
                {
                    "kind": "patch",
                    "parent": latest,
                    "optout_dir": str(config.optout_dir.resolve()),
                    "blocklist_batch": blocklist.batch,
                },
            )
        except BaseException:
            withdraw_blocked(config, store, blocklist, None, now)
            raise
        record_events(config.access, store, config.dataset)
        print(
            f"patch {patch}: removed {sum(built.removals.values()):,} videos "
            f"({built.removals}), stored {built.bytes_stored:,} new bytes → {path}"
        )
    return patch, withdraw_blocked(config, store, blocklist, patch, now)


def mirror_to_s3(config: OptOutConfig, store: LocalStore, now: datetime) -> None:
    """Publish to S3 what is published locally and not there yet (a patch, or what a failed
    run left behind), and mirror the withdrawal marks."""
    if not config.s3_url:
        return
    remote = S3Store(config.s3_url)
    remote.mirror_withdrawn(config.dataset, store.withdrawn(config.dataset))
    there = set(remote.versions(config.dataset))
    local_marks = store.withdrawn(config.dataset)
    for version in store.versions(config.dataset):
        purged = local_marks.get(version, {}).get("purged_at")
        if version not in there and not purged:
            remote.publish(store.version_dir(config.dataset, version), config.dataset, version)
    # A version purged here is purged there: its objects no kept version shares go.
    deleted = remote.collect_garbage(config.dataset, now)
    if deleted:
        print(f"S3: deleted {deleted} objects of purged versions or failed publishes")


def first_versions(evidence: pl.DataFrame, store: LocalStore, dataset: str) -> pl.DataFrame:
    """Fill `first_version`: the earliest published version whose blocklist commitment covers
    the request's batch."""
    committed = []
    for version in store.versions(dataset):
        batch = read_manifest(store.version_dir(dataset, version)).get("blocklist", {}).get("batch")
        if batch is not None:
            committed.append((version, batch))
    result = evidence
    for version, batch in committed:  # versions ascend, so the first one to cover a row wins
        result = result.with_columns(
            pl.when(
                pl.col("first_version").is_null()
                & (pl.col("status") == "matched")
                & (pl.col("batch") <= batch)
            )
            .then(pl.lit(version))
            .otherwise(pl.col("first_version"))
            .alias("first_version")
        )
    return result


@flow(name="opt_out", log_prints=True)
def opt_out(config: OptOutConfig = OptOutConfig(), now: datetime | None = None) -> OptOutResult:
    """Process the opt-out requests not seen before; see the module docstring."""
    now = now or datetime.now(UTC)
    key = load_key(config.key_file, config.key_version)
    if config.access is not None:  # the log's key must be there before any state changes
        load_signing_key(config.access.signing_key)
    with blocklist_lock(config.optout_dir):
        # What a crashed run changed and did not log yet is logged first.
        record_events(
            config.access, LocalStore(config.store), config.dataset, config.optout_dir, late=True
        )
        blocklist = load_blocklist(config.optout_dir)
        blocklist.check_key(key)
        evidence = load_evidence(config.optout_dir)
        resolved, matched = intake(config, evidence)
        accepted = matched.join(
            resolved.filter(pl.col("status") == "matched").select("request_id"), on="request_id"
        )
        frames, near = near_duplicates_of(config, accepted, key)
        copies = pl.concat([near, same_media(config, accepted)]).unique()
        blocklist, added = add_entries(blocklist, new_entries(resolved, matched, copies, key), key)
        # Blocklist first, evidence after: a crash in between re-processes the requests, which
        # adds nothing twice.
        add_blocked_frames(config.optout_dir, frames)
        save_blocklist(config.optout_dir, blocklist)
        per_request = copies.group_by("request_id").agg(
            pl.col("post_id").n_unique().cast(pl.Int64).alias("near_duplicates")
        )
        evidence = merge_evidence(
            evidence, evidence_rows(resolved, per_request, blocklist.batch, now)
        )
        save_evidence(config.optout_dir, evidence)
        record_events(config.access, LocalStore(config.store), config.dataset, config.optout_dir)
        try:
            patch, withdrawn = publish_patch(config, blocklist, now, key)
        except BaseException:
            mirror_to_s3(config, LocalStore(config.store), now)  # the withdrawals, at least
            raise
        store = LocalStore(config.store)
        save_evidence(config.optout_dir, first_versions(evidence, store, config.dataset))
        purged = (
            store.purge_due(config.dataset, now) if (config.store / config.dataset).is_dir() else []
        )
        record_events(config.access, store, config.dataset)  # the purges
        mirror_to_s3(config, store, now)
        seen = load_evidence(config.optout_dir)  # what changed this run, by new outcome
    counts = dict(
        sorted(
            seen.filter(pl.col("processed_at") == stamp(now))["status"].value_counts().iter_rows()
        )
    )
    print(
        f"opt-out: {resolved.height} new requests {counts}; {added} blocklist entries added "
        f"({copies['post_id'].n_unique()} near-duplicates); patch {patch or 'none'}; "
        f"withdrawn {withdrawn or 'none'}; purged {[p['version'] for p in purged] or 'none'}"
    )
    return OptOutResult(counts, added, copies["post_id"].n_unique(), patch, withdrawn, purged)
