"""Flow `release`: shortlist + annotations → voted labels → splits → masking → published bundle.

Reads the curation run folder (shortlist, companion) and the annotations folder, each file once
(the manifest's digests are of the very bytes used); writes <store>/<dataset>/<version>/ (see
curation/release/bundle.py), staged and then published atomically.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE

from curation.annotations.splits import assign_splits
from curation.annotations.taxonomy import ANNOTATED_TASKS, TAXONOMY_PATH, taxonomy_version
from curation.annotations.vote import GoldSet, VoteResult, check_annotations_match, vote_labels
from curation.config import ReleaseConfig, config_hash
from curation.release import bundle
from curation.release.build import (
    bump_version,
    changelog_entry,
    prepend_changelog,
    publish_release,
)
from flows.common import code_version, record_events
from privacy.access_log import load_signing_key
from privacy.blocklist import (
    Blocklist,
    blocklist_lock,
    flag_blocked,
    load_blocklist,
    macs,
    removal_reasons,
)
from privacy.kanon import DEFAULT_LADDER, KAnonReport, k_anonymize
from privacy.keys import KeyMismatchError, PseudonymKey, load_key
from privacy.leak_gate import needles_from_source
from privacy.masking import PERIOD_FORMAT, RELEASED_POST_COLUMNS, mask_posts
from privacy.pseudonyms import pseudonymize
from storage.exclusions import DETAIL, REASON
from storage.local import LocalStore, VersionExistsError
from storage.s3 import S3Store
from storage.tables import read_parquet_once

PERIODS = list(PERIOD_FORMAT)  # finest first
LABEL_COLUMNS = [t for t in ANNOTATED_TASKS if t not in RELEASED_POST_COLUMNS]


@dataclass
class ReleaseResult:
    path: Path
    manifest_sha256: str
    counts: dict[str, int]


@dataclass
class ReleaseInputs:
    shortlist: pl.DataFrame
    companion: pl.DataFrame
    annotations: pl.DataFrame
    experts: pl.DataFrame
    digests: dict[str, str]
    gold: GoldSet | None = None
    funnel: list[dict[str, Any]] = field(default_factory=list)  # curation stages, for figures


def release_inputs(config: ReleaseConfig) -> dict[str, Path]:
    # The curation folder is a link to the latest run; resolving it once means a curation run
    # that finishes meanwhile cannot mix its files into this release.
    curation = config.curation_dir.resolve()
    gold = (
        {
            "gold_labels": config.annotations_dir / "gold_labels.parquet",
            "gold_annotations": config.annotations_dir / "gold_annotations.parquet",
        }
        if config.min_gold_accuracy is not None
        else {}
    )
    return {
        "shortlist": curation / "shortlist.parquet",
        "companion": curation / "companion.parquet",
        "annotations": config.annotations_dir / "annotations.parquet",
        "expert_resolutions": config.annotations_dir / "expert_resolutions.parquet",
        "funnel": curation / "funnel.json",
        **gold,
        "taxonomy": TAXONOMY_PATH,
    }


def resolve_version(config: ReleaseConfig) -> ReleaseConfig:
    """The config with `bump` turned into a version (and a default parent); unchanged
    without `bump`."""
    if config.bump is None:
        return config
    store = LocalStore(config.store)
    published = set(store.versions(config.dataset))
    if config.s3_url:
        published |= set(S3Store(config.s3_url).versions(config.dataset))
    ordered = sorted(published, key=lambda v: tuple(int(x) for x in v.split(".")))
    newest = ordered[-1] if ordered else None
    parent = config.parent
    if parent is None:
        with_files = [
            v for v in ordered if (store.version_dir(config.dataset, v) / "labeled").is_dir()
        ]
        parent = with_files[-1] if with_files else None
    return config.model_copy(
        update={"version": bump_version(newest, config.bump), "parent": parent, "bump": None}
    )


def preflight(config: ReleaseConfig) -> None:
    """Check key, inputs and version before any work starts (raises with one clear line)."""
    load_key(config.key_file, config.key_version)
    missing = [str(p) for p in release_inputs(config).values() if not p.is_file()]
    if missing:
        gold_hint = (
            " (the gold files feed the onboarding gate; min_gold_accuracy: null turns it off)"
            if any("gold_" in m for m in missing)
            else ""
        )
        raise FileNotFoundError(f"release input missing: {', '.join(missing)}{gold_hint}")
    store = LocalStore(config.store)
    store.check_unpublished(config.dataset, config.version)
    if config.s3_url and config.version in S3Store(config.s3_url).versions(config.dataset):
        raise VersionExistsError(
            f"{config.dataset} {config.version} is already published in {config.s3_url}; "
            "published versions are immutable: release a new version instead"
        )
    if config.parent and not store.version_dir(config.dataset, config.parent).is_dir():
        raise FileNotFoundError(f"parent version {config.parent} not found in {config.store}")


@task(cache_policy=NONE)
def read_inputs(config: ReleaseConfig) -> ReleaseInputs:
    paths = release_inputs(config)
    tables, digests = {}, {}
    funnel: list[dict[str, Any]] = []
    for name, path in paths.items():
        if path.suffix == ".parquet":
            tables[name], digests[name] = read_parquet_once(path)
        elif name == "funnel":  # read once: the digest is of the bytes the figures use
            raw = path.read_bytes()
            digests[name] = hashlib.sha256(raw).hexdigest()
            funnel = json.loads(raw)["stages"]
        else:
            digests[name] = bundle.sha256_file(path)
    gold = (
        GoldSet(
            tables["gold_labels"],
            tables["gold_annotations"],
            config.min_gold_accuracy,
            config.min_gold_items,
        )
        if config.min_gold_accuracy is not None
        else None
    )
    return ReleaseInputs(
        tables["shortlist"],
        tables["companion"],
        tables["annotations"],
        tables["expert_resolutions"],
        digests,
        gold,
        funnel,
    )


@task(cache_policy=NONE)
def vote(config: ReleaseConfig, inputs: ReleaseInputs) -> VoteResult:
    result = vote_labels(inputs.shortlist, inputs.annotations, inputs.experts, inputs.gold)
    check_annotations_match(result, config.max_unknown_annotation_share)
    failed = result.gate.filter(~pl.col("passed"))
    alphas = result.agreement.filter(pl.col("scope") == "taxonomy").select("task", "alpha")
    print(
        f"onboarding: {failed['annotator_id'].n_unique()} annotators failed the gold set for "
        f"{failed.height} tasks; alpha "
        + ", ".join(f"{t} {a:.3f}" for t, a in alphas.iter_rows() if a is not None)
    )
    return result


def parent_splits(
    config: ReleaseConfig, creators: pl.Series, key: PseudonymKey
) -> pl.DataFrame | None:
    """(creator_id, split) of the creators the parent version already placed: a patch release
    must not move a creator between train and test. The parent holds pseudonyms only, so the
    current creators are pseudonymized with the same key and matched."""
    if not config.parent:
        return None
    parent = LocalStore(config.store).version_dir(config.dataset, config.parent) / "labeled"
    placed = pl.concat(
        [
            pl.read_parquet(f, columns=["creator_id"]).with_columns(
                split=pl.lit(f.name.split("-")[0])
            )
            for f in sorted(parent.glob("*.parquet"))
        ]
    ).unique("creator_id")
    mine = pl.DataFrame(
        {
            "creator_id": creators,
            "pseudonym": pseudonymize(creators, key, "creator", config.masking.pseudonym_chars),
        }
    )
    return mine.join(placed.rename({"creator_id": "pseudonym"}), on="pseudonym").select(
        "creator_id", "split"
    )


@dataclass
class MaskedTables:
    labeled: pl.DataFrame  # released columns + labels + split
    unlabeled: pl.DataFrame
    kanon: KAnonReport
    removals: dict[str, int]  # videos left out of the release, by reason (blocklist, k-anon)


def drop_blocklisted(
    posts: pl.DataFrame, blocklist: Blocklist, key: PseudonymKey
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Posts the blocklist names (opted-out videos and creators, their near-duplicates) leave
    before anything else is decided; returns the rest and the count per blocklist reason."""
    flagged = flag_blocked(posts.lazy(), blocklist, key).collect()
    gone = flagged.filter(pl.col(REASON).is_not_null())
    reasons = removal_reasons(
        gone.select(
            macs(gone["post_id"], key, "video").alias("video_id"),
            macs(gone["creator_id"], key, "creator").alias("creator_id"),
        ),
        blocklist,
    )
    return (
        flagged.filter(pl.col(REASON).is_null()).drop(REASON, DETAIL),
        dict(sorted(reasons.value_counts().iter_rows())),
    )


@task(cache_policy=NONE)
def mask_tables(
    config: ReleaseConfig,
    inputs: ReleaseInputs,
    votes: VoteResult,
    key: PseudonymKey,
    blocklist: Blocklist,
) -> MaskedTables:
    # The annotators' language label replaces the platform's tag.
    voted = inputs.shortlist.drop("language").join(votes.labels, on="post_id", how="inner")
    # Both tables are masked together, so the pseudonym collision check spans the release.
    both = pl.concat(
        [
            voted.with_columns(table=pl.lit("labeled")),
            inputs.companion.with_columns(table=pl.lit("unlabeled")),
        ],
        how="diagonal_relaxed",
    )
    both, removals = drop_blocklisted(both, blocklist, key)
    labeled = assign_splits(
        both.filter(pl.col("table") == "labeled"),
        config.bundle.split_ratios,
        config.bundle.split_seed,
        parent_splits(config, voted["creator_id"].unique(), key),
    )
    both = pl.concat([labeled, both.filter(pl.col("table") == "unlabeled")], how="diagonal_relaxed")
    m = config.masking
    masked = mask_posts(both, key, m, [*LABEL_COLUMNS, "split", "table", "created_ts"])
    ladder = [
        g for g in DEFAULT_LADDER if PERIODS.index(g.period) >= PERIODS.index(m.date_granularity)
    ]
    released, kanon = k_anonymize(masked, m.k, ladder, m.max_suppressed_share)
    if kanon.rows_suppressed:
        removals["k_anonymity"] = kanon.rows_suppressed
    released = released.drop("created_ts")
    return MaskedTables(
        released.filter(pl.col("table") == "labeled").drop("table"),
        released.filter(pl.col("table") == "unlabeled").select(RELEASED_POST_COLUMNS),
        kanon,
        removals,
    )


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


@task(cache_policy=NONE)
def build_bundle(
    config: ReleaseConfig,
    tables: MaskedTables,
    votes: VoteResult,
    inputs: dict[str, str],
    key: PseudonymKey,
    funnel: list[dict[str, Any]],
    source: pl.DataFrame,
    blocklist: Blocklist,
) -> ReleaseResult:
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
        "inputs": inputs,
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
        funnel,
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
    )
    return ReleaseResult(path, digest, counts)


@flow(name="release", log_prints=True)
def release(
    config: ReleaseConfig = ReleaseConfig(), blocklist_batch: int | None = None
) -> ReleaseResult:
    """Build and publish one version of the dataset; refuses to overwrite a published one.

    `blocklist_batch`: apply the blocklist only up to this batch (a rebuild of an old version);
    default: all of it."""
    requested, config = config, resolve_version(config)
    preflight(config)
    if config.access is not None:  # the log's key must be there before anything is published
        load_signing_key(config.access.signing_key)
    key = load_key(config.key_file, config.key_version)
    inputs = read_inputs(config)
    votes = vote(config, inputs)
    with blocklist_lock(config.optout_dir):  # no opt-out run may add entries until published
        if requested.bump is not None:  # an opt-out patch may have been published meanwhile
            config = resolve_version(requested)
            preflight(config)
        store = LocalStore(config.store)
        # What a crashed run changed and did not log yet is logged first.
        record_events(config.access, store, config.dataset, config.optout_dir, late=True)
        blocklist = load_blocklist(config.optout_dir)
        if blocklist_batch is not None:
            blocklist = blocklist.upto(blocklist_batch)
        blocklist.check_key(key)
        tables = mask_tables(config, inputs, votes, key, blocklist)
        source = pl.concat([inputs.shortlist, inputs.companion], how="diagonal_relaxed")
        result = build_bundle(
            config, tables, votes, inputs.digests, key, inputs.funnel, source, blocklist
        )
        record_events(config.access, store, config.dataset)
        # The local version is complete; S3 gets the same bytes, manifest last. Under the lock,
        # which the opt-out run's garbage collection of the bucket also holds.
        if config.s3_url:
            S3Store(config.s3_url).publish(result.path, config.dataset, config.version)
            print(f"published to {config.s3_url}")
    print(
        f"release {config.dataset} {config.version}: {result.counts['labeled']:,} labeled, "
        f"{result.counts['unlabeled']:,} unlabeled → {result.path} (manifest sha256 "
        f"{result.manifest_sha256[:16]}…)"
    )
    return result
