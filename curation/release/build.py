"""Writing a release version into a staging folder: data shards, the documents derived from
them, Croissant and the manifest; and patch releases built from a published version plus the
opt-out blocklist, without re-running curation.

A fresh release (flows/release.py) writes every file. A patch release reads the parent's
shards, drops the rows the blocklist now names (and rows whose k-anonymity class fell below k),
rewrites only the shards that lost rows, links every other shard and table to its stored object,
and regenerates the small documents (card, stats, splits, figures, changelog). Shard names and
boundaries stay, so unchanged shards are byte-identical and shared between versions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curation.annotations.splits import SPLITS, split_report
from curation.annotations.taxonomy import taxonomy_table
from curation.release import bundle
from curation.release.card import (
    LICENSE_NAME,
    dataset_card,
    dataset_stats,
    license_text,
    stats_json,
)
from curation.release.croissant import croissant
from curation.release.figures import release_figures
from privacy.blocklist import Blocklist, removal_reasons
from privacy.kanon import suppress_small_classes
from privacy.keys import PseudonymKey
from privacy.leak_gate import KeyedNeedles, Needles, check_bundle
from storage.local import LocalStore

DATA_FOLDERS = ("labeled", "unlabeled")
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
) -> tuple[Path, str, dict[str, int]]:
    """Write a whole version (masked tables in, header with dataset, version, key,
    date_granularity and annotations.annotators_passed) into staging, attest that no row is on
    the blocklist, run the leak gate when `needles` are given, and publish it. Before the
    rename, the build `record` and (with `key`) the needles as HMACs are kept for rebuilds and
    for leak-scanning later patches."""
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
        keep_build(store, dataset, version, record, needles.keyed(key) if needles and key else None)
        path = store.publish(staging, dataset, version)
    except BaseException:
        store.discard(staging)
        raise
    return path, digest, counts


def read_data(folder: Path) -> pl.DataFrame:
    """Every data row of a published version, with `_file` (its shard) and `split`."""
    parts = []
    for sub in DATA_FOLDERS:
        for path in sorted((folder / sub).glob("*.parquet")):
            rel = path.relative_to(folder).as_posix()
            split = path.name.split("-")[0]
            parts.append(
                pl.read_parquet(path).with_columns(
                    pl.lit(rel).alias("_file"), pl.lit(split).alias("split")
                )
            )
    return pl.concat(parts, how="diagonal_relaxed")


def blocked_count(folder: Path, blocklist: Blocklist) -> int:
    """Rows of a (staged or published) version that the blocklist names; a release publishes
    only with 0, and a published version with more has content opted out since."""
    data = read_data(folder)
    return int(removal_reasons(data, blocklist).is_not_null().sum()) if data.height else 0


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
    k = manifest.get("k_anonymity", {}).get("k")
    if k:  # removing rows can leave a quasi-identifier class below k: suppress it too
        keep, suppressed = suppress_small_classes(keep, k)
        if suppressed:
            removals["k_anonymity"] = suppressed
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
            if folder in DATA_FOLDERS and n_rows != entry["rows"]:  # lost rows: rewrite
                schema = bundle.SCHEMAS[folder]
                frame = rows if rows is not None else pl.DataFrame(schema.empty_table())
                written = bundle.write_table(staging, rel, frame, schema, sizes["row_group_rows"])
                built.files.append(written)
                built.bytes_written += written.bytes
            elif folder in DATA_FOLDERS or rel in ("taxonomy.parquet", "agreement.parquet"):
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
                rel for rel in files_by_path if rel.split("/", 1)[0] in DATA_FOLDERS
            ) | {"taxonomy.parquet", "agreement.parquet"}
            check_bundle(staging, needles, inherited)
        keep_build(store, dataset, version, record, needles)
        path = store.publish(staging, dataset, version)
    except BaseException:
        store.discard(staging)
        raise
    return path, digest, built


def needles_path(store: LocalStore, dataset: str, version: str) -> Path:
    return store.builds_dir(dataset) / f"{version}.needles.parquet"


def keep_build(
    store: LocalStore,
    dataset: str,
    version: str,
    record: dict[str, Any] | None,
    needles: KeyedNeedles | None,
) -> None:
    if record is not None:
        store.record_build(dataset, version, record)
    if needles is not None:
        needles.save(needles_path(store, dataset, version))


def next_patch(version: str) -> str:
    return bump_version(version, "patch")


def bump_version(version: str | None, part: str) -> str:
    """The version after `version` (None: nothing published yet → 1.0.0)."""
    if version is None:
        return "1.0.0"
    major, minor, patch = (int(x) for x in version.split("."))
    return {
        "major": f"{major + 1}.0.0",
        "minor": f"{major}.{minor + 1}.0",
        "patch": f"{major}.{minor}.{patch + 1}",
    }[part]


def verify_release(folder: Path, blocklist: Blocklist | None) -> list[str]:
    """Problems with a published version: its files against the manifest, and — with the
    blocklist — the manifest's commitment (the entries up to its batch hash to the committed
    sha256) and its attestation (none of its rows is on the blocklist up to that batch)."""
    problems = bundle.verify_bundle(folder)
    if problems or blocklist is None:
        return problems
    manifest = bundle.read_manifest(folder)
    committed = manifest.get("blocklist")
    if committed is None:
        return ["the manifest commits to no blocklist (built before opt-out processing)"]
    upto = blocklist.upto(committed["batch"])
    if upto.commitment()["sha256"] != committed["sha256"]:
        problems.append(
            f"blocklist commitment differs: the blocklist's entries up to batch "
            f"{committed['batch']} do not hash to the manifest's sha256 (entries lost or changed)"
        )
    blocked = blocked_count(folder, upto)
    if blocked or committed.get("released_rows_blocked") != 0:
        problems.append(
            f"attestation fails: {blocked} released rows are on the blocklist it commits to"
        )
    return problems
