"""Writing a release version into a staging folder and publishing it: data shards, the
documents derived from them (splits, changelog, stats, licence, card, figures), Croissant and
the manifest last. A patch (patch.py) reuses the document writers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curation.annotations.splits import SPLITS, split_report
from curation.annotations.taxonomy import taxonomy_table, taxonomy_version
from curation.annotations.vote import VoteResult
from curation.config import ReleaseConfig, config_hash
from curation.release import bundle
from curation.release.assemble import PERIODS, MaskedTables
from curation.release.card import (
    LICENSE_NAME,
    dataset_card,
    dataset_stats,
    license_text,
    stats_json,
)
from curation.release.croissant import croissant
from curation.release.figures import release_figures
from curation.release.inputs import ReleaseInputs
from curation.release.verify import blocked_count
from curation.release.versions import code_version
from privacy.blocklist import Blocklist
from privacy.kanon import KAnonReport
from privacy.keys import KeyMismatchError, PseudonymKey
from privacy.leak_gate import KeyedNeedles, Needles, check_bundle, needles_from_source
from privacy.pseudonyms import pseudonymize
from storage.exclusions import Funnel
from storage.local import LocalStore
from storage.tables import write_funnel

DESCRIPTION = (
    "Short social-media videos with expert labels for concept, affect, audio type, video type "
    "and language, and an unlabeled companion set."
)
# Croissant's responsible-AI fields (the card's datasheet sections say the same at length).
RAI = {
    "collection": "Posts sampled from a short-video platform by engagement, stratified by language"
    " and month, after removing invalid, out-of-window, reported, sensitive and duplicate posts.",
    "annotation_protocol": "Candidate annotators pass a gold-set test per taxonomy; three label"
    " each video; a strict majority decides, an expert settles three-way splits, and unsettled"
    " videos are held back.",
    "annotations_per_item": "3",
    "personal_information": "Creator and video IDs are keyed pseudonyms, publication dates and"
    " durations are coarsened to k-anonymous classes, captions and hashtags are scrubbed of"
    " mentions, e-mails, phone numbers and URLs, and no media or handles are included.",
    "maintenance": "Creators can opt out; each opt-out batch yields a patch release without their"
    " videos, the superseded versions are withdrawn, and holders are notified.",
}


@dataclass
class BuiltRelease:
    files: list[bundle.WrittenFile]
    counts: dict[str, int]
    bytes_written: int = 0  # bytes of files written into the staging folder (not linked)
    bytes_stored: int = 0  # … of which new to the store (identical files are kept once)
    removals: dict[str, int] = field(default_factory=dict)


def data_counts(labeled: pl.DataFrame, unlabeled: pl.DataFrame) -> dict[str, int]:
    counts = {"labeled": labeled.height, "unlabeled": unlabeled.height}
    counts |= {s: int((labeled["split"] == s).sum()) for s in SPLITS}
    return counts


def write_data(
    staging: Path, labeled: pl.DataFrame, unlabeled: pl.DataFrame, shard_rows: int, rg_rows: int
) -> list[bundle.WrittenFile]:
    """labeled/<split>-… and unlabeled/unlabeled-… shards (rows already in release order)."""
    files: list[bundle.WrittenFile] = []
    for split in SPLITS:
        part = labeled.filter(pl.col("split") == split).drop("split")
        files += bundle.write_shards(
            staging, "labeled", split, part, bundle.SCHEMAS["labeled"], shard_rows, rg_rows
        )
    files += bundle.write_shards(
        staging,
        "unlabeled",
        "unlabeled",
        unlabeled,
        bundle.SCHEMAS["unlabeled"],
        shard_rows,
        rg_rows,
    )
    return files


def changelog_entry(
    version: str, parent: str | None, counts: dict[str, int], notes: list[str]
) -> str:
    lines = [
        f"- {'patch of ' + parent if parent else 'new release'}; {counts['labeled']} labeled "
        f"videos (train {counts['train']}, validation {counts['validation']}, test "
        f"{counts['test']}), {counts['unlabeled']} unlabeled.",
        *(f"- {n}" for n in notes),
    ]
    return f"## {version}\n\n" + "\n".join(lines) + "\n"


def prepend_changelog(entry: str, parent_log: str) -> str:
    header = "# Changelog\n\n"
    previous = parent_log.removeprefix(header)
    return header + entry + ("\n" + previous if previous else "")


def write_documents(
    staging: Path,
    dataset: str,
    version: str,
    labeled: pl.DataFrame,
    unlabeled: pl.DataFrame,
    agreement: pl.DataFrame,
    annotators: int,
    funnel: list[dict[str, Any]],
    kanon: dict[str, Any],
    log: str,
    rg_rows: int,
) -> list[bundle.WrittenFile]:
    """splits.parquet, CHANGELOG.md, stats.json, LICENSE.md, README.md (card) and figures/,
    all derived from the released tables."""
    shares = split_report(labeled)
    files = [
        bundle.write_table(staging, "splits.parquet", shares, bundle.SCHEMAS["splits"], rg_rows),
        bundle.write_text(staging, "CHANGELOG.md", log),
    ]
    stats = dataset_stats(labeled, unlabeled, annotators, agreement)
    languages = sorted(set(labeled["language"].to_list()) | set(unlabeled["language"].to_list()))
    files.append(bundle.write_text(staging, "stats.json", stats_json(stats)))
    files.append(bundle.write_text(staging, "LICENSE.md", license_text(dataset)))
    card = dataset_card(dataset, version, stats, languages, agreement, shares, kanon, log)
    files.append(bundle.write_text(staging, "README.md", card))
    files += bundle.record_files(staging, release_figures(labeled, funnel, staging / "figures"))
    return files


def finish(
    staging: Path,
    dataset: str,
    version: str,
    files: list[bundle.WrittenFile],
    header: dict[str, Any],
) -> str:
    """croissant.json over every file, then manifest.json (returns its sha256)."""
    entries = [f.as_dict() for f in sorted(files, key=lambda f: f.path)]
    doc = croissant(dataset, version, DESCRIPTION, LICENSE_NAME, entries, bundle.SCHEMAS, RAI)
    files.append(bundle.write_text(staging, "croissant.json", doc))
    return bundle.write_manifest(staging, header, files)


def publish_release(
    store: LocalStore,
    header: dict[str, Any],
    labeled: pl.DataFrame,
    unlabeled: pl.DataFrame,
    agreement: pl.DataFrame,
    funnel: list[dict[str, Any]],
    changelog: Callable[[dict[str, int]], str],
    blocklist: Blocklist,
    needles: Needles | None,
    shard_rows: int,
    rg_rows: int,
    record: dict[str, Any] | None = None,
    key: PseudonymKey | None = None,
    accounts: Funnel | None = None,
    media: pl.DataFrame | None = None,
) -> tuple[Path, str, dict[str, int]]:
    """Write a whole version (masked tables in, header with dataset, version, key,
    date_granularity and annotations.annotators_passed) into staging, attest that no row is on
    the blocklist, run the leak gate when `needles` are given, and publish it. Before the
    rename, the build `record`, (with `key`) the needles as HMACs, and the `accounts` of the
    rows left out are kept, for rebuilds, leak-scanning later patches and the curator."""
    dataset, version = header["dataset"], header["version"]
    staging = store.stage(dataset, version)
    try:
        files = write_data(staging, labeled, unlabeled, shard_rows, rg_rows)
        counts = data_counts(labeled, unlabeled)
        files += [
            bundle.write_table(
                staging, "taxonomy.parquet", taxonomy_table(), bundle.SCHEMAS["taxonomy"], rg_rows
            ),
            bundle.write_table(
                staging, "agreement.parquet", agreement, bundle.SCHEMAS["agreement"], rg_rows
            ),
        ]
        files += write_documents(
            staging,
            dataset,
            version,
            labeled,
            unlabeled,
            agreement,
            header["annotations"]["annotators_passed"],
            funnel,
            header["k_anonymity"],
            changelog(counts),
            rg_rows,
        )
        blocked = blocked_count(staging, blocklist)
        if blocked:
            raise RuntimeError(f"{blocked} rows are on the blocklist; nothing published")
        header = header | {
            "counts": counts,
            "bundle": {"shard_rows": shard_rows, "row_group_rows": rg_rows},
            "funnel": funnel,
            "blocklist": blocklist.commitment() | {"released_rows_blocked": blocked},
        }
        digest = finish(staging, dataset, version, files, header)
        if needles is not None:
            check_bundle(staging, needles)
        keyed = needles.keyed(key) if needles and key else None
        keep_build(store, dataset, version, record, keyed, accounts, media)
        path = store.publish(staging, dataset, version)
    except BaseException:
        store.discard(staging)
        raise
    return path, digest, counts


def keep_build(
    store: LocalStore,
    dataset: str,
    version: str,
    record: dict[str, Any] | None,
    needles: KeyedNeedles | None,
    accounts: Funnel | None = None,
    media: pl.DataFrame | None = None,
) -> None:
    """The private records of a version, kept before it is published: the build record, the
    keyed needles, the rows each stage left out (checked to balance first), and where each
    released video's media is (for the media gateway)."""
    build = store.build(dataset, version)
    if media is not None:
        build.media.parent.mkdir(parents=True, exist_ok=True)
        media.select("video_id", "media_sha256").sort("video_id").write_parquet(build.media)
    if accounts is not None:
        write_funnel(accounts, build.exclusions, build.funnel)
    if record is not None:
        store.record_build(dataset, version, record)
    if needles is not None:
        needles.save(build.needles)


@dataclass
class ReleaseResult:
    path: Path
    manifest_sha256: str
    counts: dict[str, int]


def changelog(
    config: ReleaseConfig,
    counts: dict[str, int],
    votes: VoteResult,
    removals: dict[str, int],
    parent_log: str,
) -> str:
    held = dict(votes.held_back.group_by("reason").len().iter_rows())
    held_text = ", ".join(f"{k}: {v}" for k, v in sorted(held.items())) or "none"
    removed = ", ".join(f"{k}: {v}" for k, v in sorted(removals.items())) or "none"
    entry = changelog_entry(
        config.version,
        config.parent,
        counts,
        [f"held back for annotation: {held_text}.", f"removed videos by reason: {removed}."],
    )
    return prepend_changelog(entry, parent_log)


def check_parent_key(parent: dict[str, Any], key: PseudonymKey) -> None:
    """The same key version must mean the same key, or every pseudonym would silently change."""
    if (
        parent.get("key_version") == key.version
        and parent.get("key_fingerprint") != key.fingerprint
    ):
        raise KeyMismatchError(
            f"key version {key.version} is not the key that parent {parent.get('version')} used;"
            " give the parent's key, or a new key version to re-key on purpose"
        )


def finest_period(config: ReleaseConfig, kanon: KAnonReport) -> str:
    """The period the release shows (k-anonymity may coarsen the configured one): dates finer
    than it are leaks."""
    return max(config.masking.date_granularity, kanon.level.period, key=PERIODS.index)


def build_bundle(
    config: ReleaseConfig,
    tables: MaskedTables,
    votes: VoteResult,
    inputs: ReleaseInputs,
    key: PseudonymKey,
    blocklist: Blocklist,
) -> ReleaseResult:
    """Write, check (blocklist, leak gate) and publish the version; its build records and the
    rows left out are kept before the rename."""
    source = pl.concat([inputs.shortlist, inputs.companion], how="diagonal_relaxed")
    store = LocalStore(config.store)
    parent_log = ""
    if config.parent:
        parent_dir = store.version_dir(config.dataset, config.parent)
        check_parent_key(bundle.read_manifest(parent_dir), key)
        parent_log = (parent_dir / "CHANGELOG.md").read_text(encoding="utf-8")
    b = config.bundle
    annotators = int(votes.gate.filter(pl.col("passed"))["annotator_id"].n_unique())
    header: dict[str, Any] = {
        "dataset": config.dataset,
        "version": config.version,
        "parent": config.parent,
        "code_version": code_version(),
        "config_sha256": config_hash(config),
        "key_version": key.version,
        "key_fingerprint": key.fingerprint,
        "taxonomy_version": taxonomy_version(),
        "date_granularity": tables.kanon.level.period,
        "k_anonymity": tables.kanon.as_dict(),
        "inputs": inputs.digests,
        "removals": tables.removals,
        "annotations": {
            "resolutions": dict(sorted(votes.resolutions.items())),
            "rejected_rows": dict(sorted(votes.rejected.items())),
            "annotators_passed": annotators,
            "annotators_failing_gold": int(
                votes.gate.filter(~pl.col("passed"))["annotator_id"].n_unique()
            ),
        },
    }
    path, digest, counts = publish_release(
        store,
        header,
        tables.labeled,
        tables.unlabeled,
        votes.agreement.sort("scope", "task", "level"),
        inputs.funnel,
        lambda counts: changelog(config, counts, votes, tables.removals, parent_log),
        blocklist,
        # Last look before anyone can see it: no identifying value of the source in any byte.
        needles_from_source(source, finest_period(config, tables.kanon)),
        b.shard_rows,
        b.row_group_rows,
        {
            "kind": "release",
            # the run folder itself, not the link to the latest run, which moves on
            "config": config.model_copy(
                update={"curation_dir": config.curation_dir.resolve()}
            ).model_dump(mode="json"),
            "blocklist_batch": blocklist.batch,
        },
        key,
        tables.accounts,
        released_media(source, tables, key, config.masking.pseudonym_chars),
    )
    return ReleaseResult(path, digest, counts)


def released_media(
    source: pl.DataFrame, tables: MaskedTables, key: PseudonymKey, chars: int
) -> pl.DataFrame:
    """(video_id, media_sha256) of the released videos."""
    released = pl.concat([tables.labeled.select("video_id"), tables.unlabeled.select("video_id")])
    return (
        source.select(
            pseudonymize(source["post_id"], key, "video", chars).alias("video_id"),
            "media_sha256",
        )
        .unique("video_id")
        .join(released, on="video_id", how="semi")
    )
