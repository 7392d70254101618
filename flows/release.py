"""Flow `release`: shortlist + annotations → voted labels → splits → masking → published bundle.

Reads the curation run folder (shortlist, companion) and the annotations folder, each file once
(the manifest's digests are of the very bytes used); writes <store>/<dataset>/<version>/ (see
curation/bundle.py), staged and then published atomically.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE

from curation import bundle
from curation.annotations import GoldSet, VoteResult, check_annotations_match, vote_labels
from curation.card import LICENSE_NAME, dataset_card, dataset_stats, license_text, stats_json
from curation.config import ReleaseConfig, config_hash
from curation.croissant import croissant
from curation.figures import release_figures
from curation.splits import SPLITS, assign_splits, split_report
from curation.store import LocalStore
from curation.tables import read_parquet_once
from curation.taxonomy import ANNOTATED_TASKS, TAXONOMY_PATH, taxonomy_table, taxonomy_version
from flows.common import git_commit
from privacy.keys import KeyMismatchError, PseudonymKey, load_key
from privacy.leak_gate import check_bundle, needles_from_source
from privacy.masking import RELEASED_POST_COLUMNS, mask_posts
from privacy.pseudonyms import pseudonymize

LABEL_COLUMNS = [t for t in ANNOTATED_TASKS if t not in RELEASED_POST_COLUMNS]


@dataclass
class ReleaseResult:
    path: Path
    manifest_sha256: str
    counts: dict[str, int]


# Croissant's responsible-AI fields (the card's datasheet sections say the same at length).
RAI = {
    "collection": "Posts sampled from a short-video platform by engagement, stratified by language"
    " and month, after removing invalid, out-of-window, reported, sensitive and duplicate posts.",
    "annotation_protocol": "Candidate annotators pass a gold-set test per taxonomy; three label"
    " each video; a strict majority decides, an expert settles three-way splits, and unsettled"
    " videos are held back.",
    "annotations_per_item": "3",
    "personal_information": "Creator and video IDs are keyed pseudonyms, publication dates are"
    " coarsened, and no media, captions, handles or URLs are included.",
    "maintenance": "Creators can opt out; each opt-out batch yields a patch release without their"
    " videos, the superseded versions are withdrawn, and holders are notified.",
}


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


@task(cache_policy=NONE)
def mask_tables(
    config: ReleaseConfig, inputs: ReleaseInputs, votes: VoteResult, key: PseudonymKey
) -> dict[str, pl.DataFrame]:
    # The annotators' language label replaces the platform's tag.
    voted = inputs.shortlist.drop("language").join(votes.labels, on="post_id", how="inner")
    labeled = assign_splits(
        voted,
        config.bundle.split_ratios,
        config.bundle.split_seed,
        parent_splits(config, voted["creator_id"].unique(), key),
    )
    # Both tables are masked together, so the pseudonym collision check spans the release.
    both = pl.concat(
        [
            labeled.with_columns(table=pl.lit("labeled")),
            inputs.companion.with_columns(table=pl.lit("unlabeled")),
        ],
        how="diagonal_relaxed",
    )
    masked = mask_posts(both, key, config.masking, [*LABEL_COLUMNS, "split", "table"])
    return {
        "labeled": masked.filter(pl.col("table") == "labeled").drop("table"),
        "unlabeled": masked.filter(pl.col("table") == "unlabeled").select(RELEASED_POST_COLUMNS),
    }


def changelog(
    config: ReleaseConfig, counts: dict[str, int], votes: VoteResult, parent_log: str
) -> str:
    held = dict(votes.held_back.group_by("reason").len().iter_rows())
    held_text = ", ".join(f"{k}: {v}" for k, v in sorted(held.items())) or "none"
    entry = (
        f"## {config.version}\n\n"
        f"- {'patch of ' + config.parent if config.parent else 'new release'}; "
        f"{counts['labeled']} labeled videos (train {counts['train']}, validation "
        f"{counts['validation']}, test {counts['test']}), {counts['unlabeled']} unlabeled.\n"
        f"- held back for annotation: {held_text}.\n"
    )
    header = "# Changelog\n\n"
    previous = parent_log.removeprefix(header)
    return header + entry + ("\n" + previous if previous else "")


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


@task(cache_policy=NONE)
def build_bundle(
    config: ReleaseConfig,
    tables: dict[str, pl.DataFrame],
    votes: VoteResult,
    inputs: dict[str, str],
    key: PseudonymKey,
    funnel: list[dict[str, Any]],
    source: pl.DataFrame,
) -> ReleaseResult:
    store = LocalStore(config.store)
    parent_log = ""
    if config.parent:
        parent_dir = store.version_dir(config.dataset, config.parent)
        check_parent_key(bundle.read_manifest(parent_dir), key)
        parent_log = (parent_dir / "CHANGELOG.md").read_text(encoding="utf-8")
    staging = store.stage(config.dataset, config.version)
    try:
        b = config.bundle
        files: list[bundle.WrittenFile] = []
        labeled = tables["labeled"]
        counts = {"labeled": labeled.height, "unlabeled": tables["unlabeled"].height}
        for split in SPLITS:
            part = labeled.filter(pl.col("split") == split).drop("split")
            counts[split] = part.height
            files += bundle.write_shards(
                staging,
                "labeled",
                split,
                part,
                bundle.SCHEMAS["labeled"],
                b.shard_rows,
                b.row_group_rows,
            )
        files += bundle.write_shards(
            staging,
            "unlabeled",
            "unlabeled",
            tables["unlabeled"],
            bundle.SCHEMAS["unlabeled"],
            b.shard_rows,
            b.row_group_rows,
        )
        files.append(
            bundle.write_table(
                staging,
                "taxonomy.parquet",
                taxonomy_table(),
                bundle.SCHEMAS["taxonomy"],
                b.row_group_rows,
            )
        )
        shares = split_report(labeled)  # splits.parquet and the card
        files.append(
            bundle.write_table(
                staging,
                "splits.parquet",
                shares,
                bundle.SCHEMAS["splits"],
                b.row_group_rows,
            )
        )
        files.append(
            bundle.write_table(
                staging,
                "agreement.parquet",
                votes.agreement.sort("scope", "task", "level"),
                bundle.SCHEMAS["agreement"],
                b.row_group_rows,
            )
        )
        log = changelog(config, counts, votes, parent_log)
        files.append(bundle.write_text(staging, "CHANGELOG.md", log))
        stats = dataset_stats(
            labeled,
            tables["unlabeled"],
            int(votes.gate.filter(pl.col("passed"))["annotator_id"].n_unique()),
            votes.agreement,
        )
        languages = sorted(
            set(labeled["language"].to_list()) | set(tables["unlabeled"]["language"].to_list())
        )
        files.append(bundle.write_text(staging, "stats.json", stats_json(stats)))
        files.append(bundle.write_text(staging, "LICENSE.md", license_text(config.dataset)))
        card = dataset_card(
            config.dataset,
            config.version,
            stats,
            languages,
            votes.agreement,
            shares,
            config.masking.date_granularity,
            log,
        )
        files.append(bundle.write_text(staging, "README.md", card))
        files += bundle.record_files(staging, release_figures(labeled, funnel, staging / "figures"))
        files.append(
            bundle.write_text(
                staging,
                "croissant.json",
                croissant(
                    config.dataset,
                    config.version,
                    "Short social-media videos with expert labels for concept, affect, audio "
                    "type, video type and language, and an unlabeled companion set.",
                    LICENSE_NAME,
                    [f.as_dict() for f in sorted(files, key=lambda f: f.path)],
                    bundle.SCHEMAS,
                    RAI,
                ),
            )
        )
        header: dict[str, Any] = {
            "dataset": config.dataset,
            "version": config.version,
            "parent": config.parent,
            "code_version": {"massiv": package_version("massiv"), "git_commit": git_commit()},
            "config_sha256": config_hash(config),
            "key_version": key.version,
            "key_fingerprint": key.fingerprint,
            "taxonomy_version": taxonomy_version(),
            "date_granularity": config.masking.date_granularity,
            "inputs": inputs,
            "counts": counts,
            "annotations": {
                "resolutions": dict(sorted(votes.resolutions.items())),
                "rejected_rows": dict(sorted(votes.rejected.items())),
                "annotators_failing_gold": int(
                    votes.gate.filter(~pl.col("passed"))["annotator_id"].n_unique()
                ),
            },
        }
        digest = bundle.write_manifest(staging, header, files)
        # Last look before anyone can see it: no identifying value of the source in any byte.
        check_bundle(staging, needles_from_source(source, config.masking.date_granularity))
        path = store.publish(staging, config.dataset, config.version)
    except BaseException:
        store.discard(staging)
        raise
    return ReleaseResult(path, digest, counts)


@flow(name="release", log_prints=True)
def release(config: ReleaseConfig = ReleaseConfig()) -> ReleaseResult:
    """Build and publish one version of the dataset; refuses to overwrite a published one."""
    preflight(config)
    key = load_key(config.key_file, config.key_version)
    inputs = read_inputs(config)
    votes = vote(config, inputs)
    tables = mask_tables(config, inputs, votes, key)
    source = pl.concat([inputs.shortlist, inputs.companion], how="diagonal_relaxed")
    result = build_bundle(config, tables, votes, inputs.digests, key, inputs.funnel, source)
    print(
        f"release {config.dataset} {config.version}: {result.counts['labeled']:,} labeled, "
        f"{result.counts['unlabeled']:,} unlabeled → {result.path} (manifest sha256 "
        f"{result.manifest_sha256[:16]}…)"
    )
    return result
