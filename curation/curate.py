"""The steps of a curation run (flows/curate.py gives their order).

The tabular stages run once over the whole export, partition-parallel, on narrow working
tables (curation/partitions.py); the video stage sees only the drawn candidates (curation/pool.py).
Reads the platform export and the fingerprint store; writes every file `CurationRun` names.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from curation import partitions
from curation.annotations.taxonomy import languages
from curation.config import CurateConfig, VideoConfig, config_hash
from curation.partitions import Partition, Runner, Work
from curation.stages import ingest
from curation.stages.engagement import score_engagement
from curation.stages.sampling import strata_table
from privacy.blocklist import Blocklist, load_blocklist
from privacy.keys import PseudonymKey, load_key
from storage import location
from storage.exclusions import EXCLUSION_SCHEMA, REASON, StageCount, excluded_rows
from storage.location import Location
from storage.runs import CurationRun


def preflight(config: CurateConfig) -> None:
    """Check what a user can get wrong before any work starts (raises with one clear line)."""
    for file in ingest.export_files(config.export_dir):
        ingest.scan_file(file)
    blocklist_key(config)


def blocklist_key(config: CurateConfig) -> tuple[Blocklist, PseudonymKey | None]:
    """The blocklist and, when it has entries, the key its MACs were made with."""
    blocklist = load_blocklist(config.opt_out_dir)
    if blocklist.entries.is_empty():
        return blocklist, None
    key = load_key(config.key_file, config.key_version)
    blocklist.check_key(key)
    return blocklist, key


def video_config(config: CurateConfig) -> VideoConfig:
    """The video config with its defaults filled in from the export and output folders."""
    video = config.video
    return video.model_copy(
        update={
            "media_root": video.media_root or location.join(config.export_dir, "media"),
            "store": video.store or CurationRun.fingerprint_store(config.output_dir),
        }
    )


@dataclass
class Tabular:
    """A run's partitions, working folder and mapper, and what the tabular stages found."""

    config: CurateConfig
    run: CurationRun
    runner: Runner
    partitions: list[Partition]
    work: Work
    strata: pl.DataFrame = field(default_factory=pl.DataFrame)  # eligible per stratum

    @classmethod
    def start(cls, config: CurateConfig, run: CurationRun, runner: Runner) -> Tabular:
        files = ingest.export_files(config.export_dir)
        parts = partitions.plan_partitions(files, config.partition_rows)
        rows = sum(p.length for p in parts)
        work = Work(
            root=run.work,
            buckets=config.buckets or partitions.bucket_count(rows),
            languages=tuple(languages()),
            window=config.window,
            engagement=config.engagement,
            sensitive=config.sensitive,
            seed=config.sampling.seed,
            power=config.engagement.power,
        )
        return cls(config, run, runner, parts, work)

    @property
    def rows(self) -> int:
        return sum(p.length for p in self.partitions)

    def each_bucket(self, fn: Callable[..., Any], *args: Any) -> list[Any]:
        task = functools.partial(_bucket_task, fn, args, self.work)
        return self.runner.map(task, list(range(self.work.buckets)))

    def cleanup(self) -> None:
        location.remove_tree(self.work.root)


def _bucket_task(fn: Callable[..., Any], args: tuple[Any, ...], work: Work, bucket: int) -> Any:
    return fn(bucket, *args, work)


def ingest_export(tab: Tabular) -> StageCount:
    """Validate the export's posts, partition by partition; rejected rows (broken rules, later
    rows of a repeated post ID) go to the quarantine, whole."""
    split = functools.partial(partitions.split_partition, work=tab.work)
    with tab.runner.stage("ingest", tab.rows):
        counts = tab.runner.map(split, tab.partitions)
        repeated = pl.concat(tab.each_bucket(partitions.find_duplicates)).sort("ordinal")
    dups = repeated.filter(~pl.col("first")).drop("first")
    location.write_parquet(dups, tab.work.duplicates)
    quarantine, valid_repeats = _quarantine(tab, dups, repeated)
    write_exclusions(excluded_rows(quarantine.lazy(), "ingest"), "ingest", tab.run)
    quarantine.drop("ordinal").write_parquet(tab.run.quarantine)
    kept = sum(c["valid"] for c in counts) - valid_repeats
    return _count("ingest", tab.rows, kept, tab.run)


def _quarantine(
    tab: Tabular, dups: pl.DataFrame, repeated: pl.DataFrame
) -> tuple[pl.DataFrame, int]:
    """Whole rows that break a rule, and later rows of a repeated post ID, in export order;
    and how many of the latter broke no rule (they left the ledger)."""
    parts = location.list_files(location.join(tab.work.root, "quarantine"))
    broken = pl.read_parquet(parts) if parts else None
    fetched = dups.select("ordinal")
    if broken is not None:
        fetched = fetched.join(broken.select("ordinal"), on="ordinal", how="anti")
    rows = [] if broken is None else [broken]
    if fetched.height:
        rows.append(fetch_repeated(tab, fetched["ordinal"], repeated))
    if not rows:
        empty = ingest.flag_broken_rows(
            ingest.scan_file(tab.partitions[0].file).head(0), list(tab.work.languages)
        )
        ordinal = pl.col("ordinal").cast(pl.Int64)
        return empty.with_row_index("ordinal").with_columns(ordinal).collect(), 0
    is_repeat = pl.col("ordinal").is_in(dups["ordinal"].implode())
    quarantine = (
        pl.concat(rows)
        .with_columns(
            pl.when(is_repeat)
            .then(ingest.duplicate_reason(pl.col(REASON)))
            .otherwise(pl.col(REASON))
            .alias(REASON)
        )
        .sort("ordinal")
    )
    return quarantine, fetched.height


def fetch_repeated(tab: Tabular, ordinals: pl.Series, repeated: pl.DataFrame) -> pl.DataFrame:
    """Whole export rows of repeated post IDs by ordinal (with created_ts and their broken
    rules). Read by post ID, which the Parquet reader filters as it decodes: a post ID's rows
    come in export order, so the k-th is the one at its k-th smallest ordinal."""
    wanted = repeated.filter(
        pl.col("post_id").is_in(
            repeated.filter(pl.col("ordinal").is_in(ordinals.implode()))["post_id"].implode()
        )
    )
    rank = pl.int_range(pl.len()).over("post_id").alias("_rank")
    where = wanted.sort("ordinal").with_columns(rank).select("post_id", "_rank", "ordinal")
    raw = (
        ingest.scan_posts(tab.config.export_dir)
        .filter(pl.col("post_id").is_in(wanted["post_id"].unique().implode()))
        .collect(engine="streaming")
        .with_columns(rank)
        .join(where, on=["post_id", "_rank"], maintain_order="left")
        .filter(pl.col("ordinal").is_in(ordinals.implode()))
        .drop("_rank")
    )
    columns = ["ordinal", *[c for c in raw.columns if c != "ordinal"]]
    return ingest.flag_broken_rows(raw.select(columns).lazy(), list(tab.work.languages)).collect()


def screen_buckets(tab: Tabular) -> list[dict[str, Any]]:
    """One pass by media key over every valid post for window, sensitive and exact dedup:
    their exclusions, and the eligible posts per stratum."""
    with tab.runner.stage("window, sensitive, dedup", tab.rows):
        found = tab.each_bucket(partitions.screen_bucket)
    tab.strata = strata_table(pl.concat([f["strata"] for f in found]))
    return found


def tabular_stage(tab: Tabular, found: list[dict[str, Any]], stage: str) -> StageCount:
    """One of the stages `screen_buckets` ran: its exclusions in one file, and its counts."""
    parts = [tab.work.excluded(stage, b) for b in range(tab.work.buckets)]
    write_exclusions(pl.scan_parquet(parts), stage, tab.run)
    following = {"window": "sensitive", "sensitive": "dedup"}
    if stage in following:  # what the next stage took in, counted there
        kept = sum(f["counts"][following[stage]] for f in found)
    else:
        kept = int(tab.strata["available"].sum())
    return _count(stage, sum(f["counts"][stage] for f in found), kept, tab.run)


def write_exclusions(rows: pl.LazyFrame, stage: str, run: CurationRun) -> None:
    """A stage's exclusion rows (any extra columns, such as the ordinal, left out) in one file."""
    rows.select(list(EXCLUSION_SCHEMA)).sink_parquet(run.exclusions(stage))


def _count(stage: str, inputs: int, kept: int, run: CurationRun) -> StageCount:
    """A stage's counts, its exclusions counted from the file written."""
    by_reason = dict(
        pl.scan_parquet(run.exclusions(stage)).group_by("reason").len().collect().iter_rows()
    )
    return StageCount(stage, inputs, kept, sum(by_reason.values()), by_reason)


def fetch_posts(export_dir: Location, post_ids: pl.Series, engagement: Any) -> pl.DataFrame:
    """The export rows of eligible posts (their first row: later ones were duplicates), with
    created_ts, age_days and engagement_score as the stages computed them; by post ID."""
    rows = (
        ingest.scan_posts(export_dir)
        .filter(pl.col("post_id").is_in(post_ids.implode()))
        .unique("post_id", keep="first", maintain_order=True)
        .with_columns(ingest.parse_created_ts().alias("created_ts"))
    )
    return score_engagement(rows, engagement).collect(engine="streaming").sort("post_id")


def record_run(
    config: CurateConfig,
    run: CurationRun,
    funnel: list[StageCount],
    sizes: tuple[int, int],
    extra: dict[str, Any],
) -> None:
    """funnel.json, then run.json last: a run folder with its marker is complete."""
    n_short, n_comp = sizes
    doc = {
        "stages": [c.as_dict() for c in funnel],
        "shortlist": n_short,
        "companion": n_comp,
        **extra,
    }
    run.funnel.write_text(json.dumps(doc, indent=2) + "\n")
    marker = {
        "config": config.model_dump(mode="json"),
        "config_sha256": config_hash(config),
        "run": run.root.name,
        "inputs": _checksums(ingest.export_files(config.export_dir)),
    }
    run.marker.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")


def _checksums(files: list[str]) -> dict[str, str]:
    """sha256 of each export file, named `posts/<file>`; hashlib releases the GIL, so threads
    hash files side by side."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        digests = list(pool.map(location.sha256, files))
    return {f"posts/{f.rsplit('/', 1)[-1]}": d for f, d in zip(files, digests, strict=True)}
