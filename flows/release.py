"""Flow `release`: shortlist + annotations → voted labels → splits → masking → published bundle.

Reads the curation run folder (shortlist, companion) and the annotations folder; writes
<store>/<dataset>/<version>/ (see curation/bundle.py), staged and then published atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE

from curation import bundle
from curation.annotations import VoteResult, vote_labels
from curation.config import ReleaseConfig, config_hash
from curation.splits import SPLITS, assign_splits
from curation.store import LocalStore, VersionExistsError
from curation.taxonomy import ANNOTATED_TASKS, TAXONOMY_PATH, taxonomy_table, taxonomy_version
from flows.common import file_digests, git_commit
from privacy.keys import load_key
from privacy.masking import RELEASED_POST_COLUMNS, mask_posts

LABEL_COLUMNS = [t for t in ANNOTATED_TASKS if t not in RELEASED_POST_COLUMNS]


@dataclass
class ReleaseResult:
    path: Path
    manifest_sha256: str
    counts: dict[str, int]


def release_inputs(config: ReleaseConfig) -> dict[str, Path]:
    return {
        "shortlist": config.curation_dir / "shortlist.parquet",
        "companion": config.curation_dir / "companion.parquet",
        "annotations": config.annotations_dir / "annotations.parquet",
        "expert_resolutions": config.annotations_dir / "expert_resolutions.parquet",
        "taxonomy": TAXONOMY_PATH,
    }


def preflight(config: ReleaseConfig) -> None:
    """Check key, inputs and version before any work starts (raises with one clear line)."""
    load_key(config.key_file, config.key_version)
    missing = [str(p) for p in release_inputs(config).values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"release input missing: {', '.join(missing)}")
    store = LocalStore(config.store)
    if store.version_dir(config.dataset, config.version).exists():
        raise VersionExistsError(
            f"{config.dataset} {config.version} is already published at "
            f"{store.version_dir(config.dataset, config.version)}; published versions are "
            "immutable: release a new version instead"
        )
    if config.parent and not store.version_dir(config.dataset, config.parent).is_dir():
        raise FileNotFoundError(f"parent version {config.parent} not found in {config.store}")


@task(cache_policy=NONE)
def vote(config: ReleaseConfig) -> VoteResult:
    return vote_labels(config.annotations_dir, config.curation_dir / "shortlist.parquet")


@task(cache_policy=NONE)
def mask_tables(config: ReleaseConfig, votes: VoteResult) -> dict[str, pl.DataFrame]:
    key = load_key(config.key_file, config.key_version)
    shortlist = pl.read_parquet(config.curation_dir / "shortlist.parquet")
    # The annotators' language label replaces the platform's tag.
    labeled = assign_splits(
        shortlist.drop("language").join(votes.labels, on="post_id", how="inner"),
        config.bundle.split_ratios,
        config.bundle.split_seed,
    )
    companion = pl.read_parquet(config.curation_dir / "companion.parquet")
    return {
        "labeled": mask_posts(labeled, key, config.masking, [*LABEL_COLUMNS, "split"]),
        "unlabeled": mask_posts(companion, key, config.masking),
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


@task(cache_policy=NONE)
def build_bundle(
    config: ReleaseConfig,
    tables: dict[str, pl.DataFrame],
    votes: VoteResult,
    inputs: dict[str, str],
) -> ReleaseResult:
    store = LocalStore(config.store)
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
        parent_log = ""
        if config.parent:
            parent_dir = store.version_dir(config.dataset, config.parent)
            if not (parent_dir / "CHANGELOG.md").is_file():
                raise FileNotFoundError(
                    f"parent version {config.parent} not found in {config.store}"
                )
            parent_log = (parent_dir / "CHANGELOG.md").read_text(encoding="utf-8")
        files.append(
            bundle.write_text(staging, "CHANGELOG.md", changelog(config, counts, votes, parent_log))
        )
        header: dict[str, Any] = {
            "dataset": config.dataset,
            "version": config.version,
            "parent": config.parent,
            "code_version": {"massiv": package_version("massiv"), "git_commit": git_commit()},
            "config_sha256": config_hash(config),
            "key_version": config.key_version,
            "taxonomy_version": taxonomy_version(),
            "date_granularity": config.masking.date_granularity,
            "inputs": inputs,
            "counts": counts,
            "annotations": {
                "resolutions": dict(sorted(votes.resolutions.items())),
                "rejected_rows": dict(sorted(votes.rejected.items())),
            },
        }
        digest = bundle.write_manifest(staging, header, files)
        path = store.publish(staging, config.dataset, config.version)
    except BaseException:
        store.discard(staging)
        raise
    return ReleaseResult(path, digest, counts)


@flow(name="release", log_prints=True)
def release(config: ReleaseConfig = ReleaseConfig()) -> ReleaseResult:
    """Build and publish one version of the dataset; refuses to overwrite a published one."""
    preflight(config)
    inputs = file_digests(release_inputs(config))
    votes = vote(config)
    tables = mask_tables(config, votes)
    result = build_bundle(config, tables, votes, inputs)
    print(
        f"release {config.dataset} {config.version}: {result.counts['labeled']:,} labeled, "
        f"{result.counts['unlabeled']:,} unlabeled → {result.path} (manifest sha256 "
        f"{result.manifest_sha256[:16]}…)"
    )
    return result
