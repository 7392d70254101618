"""What a release reads: the curation run's shortlist, companion and funnel, the annotations,
the gold set and the taxonomy, each file once; and the checks made before any work starts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curation.annotations.taxonomy import TAXONOMY_PATH
from curation.annotations.vote import GoldSet
from curation.config import ReleaseConfig
from curation.release import bundle
from privacy.keys import load_key
from storage.local import LocalStore, VersionExistsError
from storage.runs import AnnotationsFolder, CurationRun
from storage.s3 import S3Store
from storage.tables import read_parquet_once


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
    """Every file the release reads, by the name the manifest records its digest under."""
    run = CurationRun.latest(config.curation_dir)
    labels = AnnotationsFolder(config.annotations_dir)
    gold = (
        {"gold_labels": labels.gold_labels, "gold_annotations": labels.gold_annotations}
        if config.min_gold_accuracy is not None
        else {}
    )
    return {
        "shortlist": run.table("shortlist"),
        "companion": run.table("companion"),
        "annotations": labels.annotations,
        "expert_resolutions": labels.expert_resolutions,
        "funnel": run.funnel,
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
    if config.s3_url and config.version in S3Store(config.s3_url).versions(config.dataset):
        raise VersionExistsError(
            f"{config.dataset} {config.version} is already published in {config.s3_url}; "
            "published versions are immutable: release a new version instead"
        )
    if config.parent and not store.version_dir(config.dataset, config.parent).is_dir():
        raise FileNotFoundError(f"parent version {config.parent} not found in {config.store}")


def read_inputs(config: ReleaseConfig) -> ReleaseInputs:
    """Each input read once: the manifest's digests are of the very bytes used."""
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
