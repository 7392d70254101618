"""Patch releases: a published version minus what the opt-out blocklist now names, built without
re-running curation; then the withdrawal of every version that holds a blocked row, its mirror
on S3, and the purge of what is past retention.

A patch reads the parent's shards, drops the rows the blocklist names (and rows whose
k-anonymity class fell below k), rewrites only the shards that lost rows, links every other
shard and table to its stored object, and regenerates the small documents (card, stats,
splits, figures, changelog). Shard names and boundaries stay, so unchanged shards are
byte-identical and shared between versions. The rows it drops go to the patch's build folder.
"""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from curation.config import OptOutConfig
from curation.release import bundle
from curation.release.build import (
    BuiltRelease,
    changelog_entry,
    data_counts,
    finish,
    keep_build,
    prepend_changelog,
    write_documents,
)
from curation.release.verify import blocked_count, read_data
from curation.release.versions import code_version, next_patch, patch_base
from privacy.audit import record_events
from privacy.blocklist import Blocklist, removal_reasons
from privacy.kanon import suppress_small_classes
from privacy.keys import PseudonymKey
from privacy.leak_gate import KeyedNeedles, check_bundle
from privacy.opt_out import save_evidence
from storage.exclusions import Funnel, exclusion_rows
from storage.local import LocalStore
from storage.s3 import S3Store


def patch_release(
    store: LocalStore,
    dataset: str,
    parent: str,
    version: str,
    blocklist: Blocklist,
    code_version: dict[str, Any] | None = None,
    needles: KeyedNeedles | None = None,
    record: dict[str, Any] | None = None,
) -> tuple[Path, str, BuiltRelease]:
    """Publish `version`: `parent` minus what the blocklist names, sharing unchanged files.

    Needs no key: the released pseudonyms are prefixes of the blocklist's MACs. The manifest
    keeps the parent's inputs and settings (the data came from them) and says what the patch
    did: its parent's manifest digest, removals, the k-anonymity suppression it added, and the
    code that built it (`code_version`). With `needles` (the parent's keyed needles) the leak
    gate scans the patch before it is published, and they are kept for the next patch."""
    parent_dir = store.version_dir(dataset, parent)
    manifest = bundle.read_manifest(parent_dir)
    if store.withdrawn(dataset).get(parent, {}).get("purged_at"):
        raise FileNotFoundError(f"{dataset} {parent} was purged; patch the latest version instead")
    fingerprints = set(blocklist.entries["key_fingerprint"].to_list())
    if fingerprints - {manifest["key_fingerprint"]}:
        raise ValueError(
            f"the blocklist was made under another key than {dataset} {parent} (key version "
            f"{manifest['key_version']}): its entries cannot match that version's pseudonyms"
        )
    data = read_data(parent_dir)
    reasons = removal_reasons(data, blocklist)
    keep = data.filter(reasons.is_null())
    removals = dict(reasons.drop_nulls().value_counts().iter_rows())
    accounts = Funnel()  # rows by released video_id: a patch never sees raw IDs
    gone = data.with_columns(reasons).filter(pl.col("reason").is_not_null())
    accounts.add("blocklist", data.height, keep.height, exclusion_rows(gone, "blocklist"))
    k = manifest.get("k_anonymity", {}).get("k")
    if k:  # removing rows can leave a quasi-identifier class below k: suppress it too
        before = keep
        keep, suppressed = suppress_small_classes(keep, k)
        if suppressed:
            removals["k_anonymity"] = suppressed
        small = before.join(keep.select("video_id"), on="video_id", how="anti")
        accounts.add(
            "k_anonymity",
            before.height,
            keep.height,
            exclusion_rows(small.with_columns(reason=pl.lit(f"class_below_k{k}")), "k_anonymity"),
        )
    sizes = manifest["bundle"]
    files_by_path = {f["path"]: f for f in manifest["files"]}
    staging = store.stage(dataset, version)
    try:
        built = BuiltRelease([], {}, removals={k: int(v) for k, v in sorted(removals.items())})
        kept_by_file = keep.partition_by("_file", as_dict=True)
        for rel, entry in sorted(files_by_path.items()):
            folder = rel.split("/", 1)[0]
            rows = kept_by_file.get((rel,))
            n_rows = rows.height if rows is not None else 0
            if folder in bundle.DATA_FOLDERS and n_rows != entry["rows"]:  # lost rows: rewrite
                schema = bundle.SCHEMAS[folder]
                frame = rows if rows is not None else pl.DataFrame(schema.empty_table())
                written = bundle.write_table(staging, rel, frame, schema, sizes["row_group_rows"])
                built.files.append(written)
                built.bytes_written += written.bytes
            elif folder in bundle.DATA_FOLDERS or rel in ("taxonomy.parquet", "agreement.parquet"):
                store.link_object(dataset, entry["sha256"], staging / rel)
                built.files.append(
                    bundle.WrittenFile(rel, entry["sha256"], entry["bytes"], entry["rows"])
                )
        labeled = keep.filter(pl.col("_file").str.starts_with("labeled/")).drop("_file")
        unlabeled = keep.filter(pl.col("_file").str.starts_with("unlabeled/")).drop("_file")
        built.counts = data_counts(labeled, unlabeled)
        removed = ", ".join(f"{r}: {n}" for r, n in built.removals.items()) or "none"
        log = prepend_changelog(
            changelog_entry(
                version, parent, built.counts, [f"removed videos by reason: {removed}."]
            ),
            (parent_dir / "CHANGELOG.md").read_text(encoding="utf-8"),
        )
        inherited = manifest.get("k_anonymity", {})
        kanon = {
            "k": k,
            "level": inherited.get("level"),
            "rows_suppressed": inherited.get("rows_suppressed", 0)
            + built.removals.get("k_anonymity", 0),
            "rows_suppressed_by_patch": built.removals.get("k_anonymity", 0),
            "note": "the parent's generalisation level; classes rechecked after the removals",
        }
        docs = write_documents(
            staging,
            dataset,
            version,
            labeled,
            unlabeled,
            pl.read_parquet(parent_dir / "agreement.parquet"),
            manifest["annotations"]["annotators_passed"],
            manifest["funnel"],
            kanon,
            log,
            sizes["row_group_rows"],
        )
        built.files += docs
        header = copy.deepcopy(
            {k: v for k, v in manifest.items() if k not in ("files", "schema", "format")}
        )
        header |= {
            "version": version,
            "parent": parent,
            "parent_manifest_sha256": bundle.sha256_file(parent_dir / bundle.MANIFEST),
            "code_version": code_version or manifest.get("code_version"),
            "k_anonymity": kanon,
            "counts": built.counts,
            "removals": built.removals,
            "blocklist": blocklist.commitment()
            | {"released_rows_blocked": blocked_count(staging, blocklist)},
        }
        if header["blocklist"]["released_rows_blocked"]:
            raise RuntimeError("patch still holds blocklisted rows; nothing published")
        digest = finish(staging, dataset, version, built.files, header)
        built.bytes_written += sum(f.bytes for f in [*docs, built.files[-1]])  # + croissant
        built.bytes_written += (staging / bundle.MANIFEST).stat().st_size
        built.bytes_stored = (staging / bundle.MANIFEST).stat().st_size + sum(
            f.bytes
            for f in {f.sha256: f for f in built.files}.values()
            if not store.object_path(dataset, f.sha256).exists()
        )
        if needles is not None:
            # The data files hold only rows of the parent's, which passed the gate, under the
            # same schema: what is new, and scanned, is every document the patch wrote.
            inherited = frozenset(
                rel for rel in files_by_path if rel.split("/", 1)[0] in bundle.DATA_FOLDERS
            ) | {"taxonomy.parquet", "agreement.parquet"}
            check_bundle(staging, needles, inherited)
        parent_media = store.build(dataset, parent).media
        media = (
            pl.read_parquet(parent_media).join(keep.select("video_id"), on="video_id", how="semi")
            if parent_media.is_file()
            else None
        )
        keep_build(store, dataset, version, record, needles, accounts, media)
        path = store.publish(staging, dataset, version)
    except BaseException:
        store.discard(staging)
        raise
    return path, digest, built


def parent_needles(
    store: LocalStore, dataset: str, version: str, key: PseudonymKey
) -> KeyedNeedles:
    """The keyed needles kept with `version` (from the source rows of the release it descends
    from). Missing needles stop the patch: a patch is never published unscanned."""
    path = store.build(dataset, version).needles
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
    withdrawn, clean = [], []
    already = store.withdrawn(config.dataset)
    for version in store.versions(config.dataset):
        if version in already or version == successor:
            continue
        if blocked_count(store.version_dir(config.dataset, version), blocklist):
            reason = f"holds opted-out content; superseded by {successor or 'none yet'}"
            store.withdraw(config.dataset, version, reason, config.retention_days, now)
            withdrawn.append(version)
        else:
            clean.append(version)
    store.mark_checked(config.dataset, clean, blocklist.batch)  # the desk may serve them again
    record_events(config.access, store, config.dataset)
    if config.s3_url:  # stop serving withdrawn versions there too, before anything else fails
        remote = S3Store(config.s3_url)
        remote.mirror_withdrawn(config.dataset, store.withdrawn(config.dataset))
        remote.mirror_coverage(config.dataset, store.coverage(config.dataset))
    return withdrawn


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
                    "opt_out_dir": str(config.opt_out_dir.resolve()),
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
    remote.mirror_coverage(config.dataset, store.coverage(config.dataset))
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
        manifest = bundle.read_manifest(store.version_dir(dataset, version))
        batch = manifest.get("blocklist", {}).get("batch")
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


def purge_expired(
    config: OptOutConfig, evidence: pl.DataFrame, now: datetime
) -> list[dict[str, Any]]:
    """Note in the evidence which version first honoured each request, then delete the files of
    withdrawn versions past their retention (logged in the store)."""
    store = LocalStore(config.store)
    save_evidence(config.opt_out_dir, first_versions(evidence, store, config.dataset))
    if not (config.store / config.dataset).is_dir():
        return []
    purged = store.purge_due(config.dataset, now)
    record_events(config.access, store, config.dataset)
    return purged
